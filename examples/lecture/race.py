#!/usr/bin/env python3
"""The lecture's race ("Synchronisation mit Python (1)"): 100 threads, each
adding to one global counter 99,999 times.

In one process the threads read the counter, add and write it back; a
thread switch between the read and the write loses the other threads'
updates, so the result is different every run and too small.  (Python 3.10
and later switch threads only at calls and at the end of a loop turn, so
the lecture's `globalcount += 100` no longer shows it; an increment that
calls a function between the read and the write, as real code does, does.)

Over the broker the threads share one client and publish each increment as
a message to the queue 'jobs'; one consumer, a process of its own, keeps
the count.  Messages of one client stay in order and a queue hands each to
exactly one consumer, which applies them one after the other: the result
is exact, every run, with no lock in the program.

    race.py [--threads 100] [--increments 99999]
"""

import argparse
import os
import subprocess
import sys
import threading

import pubsub

CHANNEL = "jobs"
# Each thread waits for its messages to be counted after this many.
WINDOW = 200


def increment(value):
    return value + 1


def in_process(threads, increments):
    """The lecture's program: threads updating a global variable."""
    count = 0

    def run():
        nonlocal count
        for _ in range(increments):
            count = increment(count)  # read, call, write: not atomic

    # CPython switches threads every 5 ms by default, long enough for a
    # thread to finish many increments undisturbed, so whether updates are
    # lost depends on the machine's load.  Switching far more often shows
    # the race every time, as the lecture's slide does.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        ts = [threading.Thread(target=run) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    return count


def over_broker(threads, increments):
    """The same threads, each increment a message to one counting consumer."""
    run_id = os.urandom(4).hex()  # tells this run's messages from leftovers in the durable queue
    consumer = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--consumer", run_id],
                                stdout=subprocess.PIPE, text=True)
    with pubsub.connect(name="race-threads") as client:
        inc = ("%s +1" % run_id).encode()

        def run():
            # Sync messages, confirmed once the consumer acknowledged them,
            # and a flush every WINDOW: the threads wait for the consumer
            # instead of overfilling the queue (its limit is 100,000).
            for i in range(increments):
                client.publish(CHANNEL, None, inc, sync=True)
                if i % WINDOW == WINDOW - 1:
                    client.flush(timeout=30)

        ts = [threading.Thread(target=run) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        client.publish(CHANNEL, None, "%s end" % run_id)
        client.flush(timeout=30)
    out, _ = consumer.communicate()
    if consumer.returncode != 0:
        sys.exit("race.py: the consumer exited %d" % consumer.returncode)
    return int(out)


def consume(run_id):
    """The consumer: counts this run's increments until its end message."""
    count = 0
    inc, end = ("%s +1" % run_id).encode(), ("%s end" % run_id).encode()
    with pubsub.connect(name="race-counter", window=1000) as client:
        client.subscribe(CHANNEL)
        for m in client.messages():
            m.ack()
            if m.data == inc:
                count += 1
            elif m.data == end:
                break
    print(count)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=100)
    ap.add_argument("--increments", type=int, default=99999)
    ap.add_argument("--consumer", metavar="RUN_ID", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.consumer:
        return consume(a.consumer)
    want = a.threads * a.increments
    print("%d threads x %d increments, want %d" % (a.threads, a.increments, want))
    got = in_process(a.threads, a.increments)
    print("in one process:  Ergebnis: %d (%s)" % (got, "exact" if got == want else
                                                  "%d updates lost" % (want - got)))
    got = over_broker(a.threads, a.increments)
    print("over the broker: Ergebnis: %d (%s)" % (got, "exact" if got == want else
                                                  "%d updates lost" % (want - got)))
    return 0 if got == want else 1


if __name__ == "__main__":
    sys.exit(main())
