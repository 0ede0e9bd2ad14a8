#!/usr/bin/env python3
"""BoundedSemaphore ("Synchronisation mit Python (4)/(5)") as a token
queue: a semaphore of value N is the queue 'jobs' holding N tokens.
acquire() is a wait operation: it takes a token, waiting while none is
there; the token stays unacknowledged, so it is held, not gone.  release()
is the signal operation: it ends the holder's session, and the broker hands
the unacknowledged token to the next waiting process at once.  No process
can put back a token it does not hold, so the value never exceeds N: the
semaphore is bounded by construction.

Worker processes enter a critical section guarded by the semaphore and
report "enter" and "leave" on the pubsub channel 'logs'; the program counts
how many are inside at once.

    semaphore.py [--value 2] [--workers 5]
"""

import argparse
import os
import subprocess
import sys
import time

import pubsub

CHANNEL = "jobs"


class TokenSemaphore:
    """threading.BoundedSemaphore's acquire/release over a token queue."""

    def __init__(self, run_id, channel=CHANNEL):
        self._run, self._channel, self._holder = run_id, channel, None

    def acquire(self, timeout=None):
        if self._holder is not None:
            raise RuntimeError("this process holds the token already")
        c = pubsub.connect(name="semaphore", window=1)  # at most one token at a time
        c.subscribe(self._channel)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                m = c.recv(left)
            except pubsub.Timeout:
                c.close()
                return False
            if m.data.startswith(self._run.encode() + b" token"):
                self._holder = c
                return True
            m.ack()  # a leftover of an earlier run in the durable queue

    def release(self):
        if self._holder is None:
            raise ValueError("Semaphore released too many times")
        self._holder.close()  # the unacknowledged token goes to the next waiter
        self._holder = None

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()


def worker(run_id, n):
    sem = TokenSemaphore(run_id)
    with pubsub.connect(name="worker-%d" % n) as log:
        with sem:
            log.publish("logs", "sem/" + run_id, "enter %d" % n)
            log.flush()
            time.sleep(0.2)  # the work in the critical section
            log.publish("logs", "sem/" + run_id, "leave %d" % n)
            log.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--value", type=int, default=2, help="the semaphore's initial value")
    ap.add_argument("--workers", type=int, default=5)
    ap.add_argument("--worker", nargs=2, metavar=("RUN", "N"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker[0], int(a.worker[1]))

    run_id = os.urandom(4).hex()
    with pubsub.connect(name="semaphore-main") as c:
        c.subscribe("logs", "sem/" + run_id)
        for k in range(a.value):  # BoundedSemaphore(value)
            c.publish(CHANNEL, None, "%s token %d" % (run_id, k + 1), confirm=True)
        c.flush()
        print("BoundedSemaphore(%d): %d tokens in the queue '%s'" % (a.value, a.value, CHANNEL))
        procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", run_id,
                                   str(n)]) for n in range(1, a.workers + 1)]
        inside = most = entered = 0
        while entered < a.workers or inside:
            what = c.recv(timeout=30).text.split()[0]
            inside += 1 if what == "enter" else -1
            entered += what == "enter"
            most = max(most, inside)
        failed = sum(p.wait() != 0 for p in procs)
        print("%d workers passed the critical section, at most %d inside at once" % (
            entered, most))
        try:
            TokenSemaphore(run_id).release()
        except ValueError as e:
            print("release() without acquire(): ValueError: %s" % e)
        # Take the tokens back: all of them must be there again.
        back = 0
        with pubsub.connect(name="semaphore-drain") as drain:
            drain.subscribe(CHANNEL)
            for m in drain.messages(timeout=5):
                m.ack()
                back += m.data.startswith(run_id.encode() + b" token")
                if back == a.value:
                    break
        print("%d of %d tokens back in the queue" % (back, a.value))
    return 0 if 1 <= most <= a.value and back == a.value and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
