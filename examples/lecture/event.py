#!/usr/bin/env python3
"""Event ("Synchronisation mit Python (8)"): threads block in ev.wait()
until another sets the event.  Over the broker the event is the broadcast
channel 'alerts': each waiter is a process that subscribed and blocks in
recv(); set() publishes "set" as a sync message, which every waiter
attached receives and confirms, so the setter knows how many it woke;
clear() publishes "clear".  is_set() is what a waiter last heard.

    event.py [--waiters 3]
"""

import argparse
import os
import subprocess
import sys
import time

import pubsub

CHANNEL = "alerts"


class BrokerEvent:
    """threading.Event's interface over a broadcast channel."""

    def __init__(self, client, channel=CHANNEL):
        self._c, self._channel, self._set = client, channel, False

    def listen(self):
        """Attach as a waiter (before the event may be set)."""
        self._c.subscribe(self._channel)

    def set(self):
        """Sets the event; returns how many waiters confirmed they woke."""
        self._set = True
        try:
            return self._c.publish_sync(self._channel, None, "set").confirmed
        except pubsub.NoResponders:
            return 0

    def clear(self):
        self._set = False
        self._c.publish(self._channel, None, "clear")

    def is_set(self):
        return self._set

    def wait(self, timeout=None):
        """Blocks until the event is set; False after timeout seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._set:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                m = self._c.recv(left)
            except pubsub.Timeout:
                return False
            self._set = m.data == b"set"
        return True


def waiter(n):
    with pubsub.connect(name="waiter-%d" % n) as c:
        ev = BrokerEvent(c)
        ev.listen()
        print("ready", flush=True)
        start = time.monotonic()
        woke = ev.wait(timeout=30)
        print("waiter %d: %s after %.0f ms" % (n, "woke, the event is set" if woke else "gave up",
                                               (time.monotonic() - start) * 1000), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--waiters", type=int, default=3)
    ap.add_argument("--waiter", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.waiter:
        return waiter(a.waiter)
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--waiter", str(n)],
                              stdout=subprocess.PIPE, text=True) for n in range(1, a.waiters + 1)]
    for p in procs:
        p.stdout.readline()  # "ready": it is attached and waits
    print("%d waiters block in ev.wait()" % a.waiters)
    with pubsub.connect(name="setter") as c:
        ev = BrokerEvent(c)
        time.sleep(0.2)  # not for synchronisation: so the waiters visibly wait
        woke = ev.set()
        print("ev.set(): %d of %d waiters confirmed" % (woke, a.waiters))
    lines = sorted(p.communicate()[0].strip() for p in procs)
    for line in lines:
        print(line)
    ok = woke == a.waiters and all("woke" in line for line in lines) \
        and all(p.returncode == 0 for p in procs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
