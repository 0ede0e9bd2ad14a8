#!/usr/bin/env python3
"""Producer and consumer ("Synchronisation mit Python (7)", Condition):
the lecture guards a shared buffer with a Condition, consumers wait() while
it is empty and producers notify() when they added an item.  Over the
broker the buffer is the queue 'jobs': a consumer waits in recv() until an
item is there, a producer's publish() is its notify(), and the producers
and consumers are processes of their own, which share no memory at all.
Each item reaches exactly one consumer, which acknowledges it once handled.

    producer_consumer.py [--producers 3] [--consumers 2] [--items 20]
"""

import argparse
import collections
import os
import subprocess
import sys

import pubsub

CHANNEL = "jobs"


def produce(run_id, n, items):
    """Producer n: makes `items` items available (cv.notify)."""
    with pubsub.connect(name="producer-%d" % n) as c:
        for i in range(items):
            c.publish(CHANNEL, None, "%s item p%d-%d" % (run_id, n, i), confirm=True)
        c.flush()  # every item is in the queue
    print("producer %d: made %d items" % (n, items))


def consume(run_id, n):
    """Consumer n: waits for an item while none is there (cv.wait), until it
    gets a stop.  Prints each item it got, one a line."""
    got = []
    with pubsub.connect(name="consumer-%d" % n, window=1) as c:
        c.subscribe(CHANNEL)
        print("consumer %d: ready" % n, flush=True)
        while True:
            m = c.recv(timeout=30)
            m.ack()
            tag, _, what = m.text.partition(" ")
            if tag != run_id:  # a leftover of an earlier run in the durable queue
                continue
            if what == "stop":
                break
            got.append(what.split(" ", 1)[1])
    for item in got:
        print(item)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--producers", type=int, default=3)
    ap.add_argument("--consumers", type=int, default=2)
    ap.add_argument("--items", type=int, default=20, help="items per producer")
    ap.add_argument("--role", nargs=2, metavar=("ROLE", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--run", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.role:
        role, n = a.role[0], int(a.role[1])
        return produce(a.run, n, a.items) if role == "producer" else consume(a.run, n)

    run_id = os.urandom(4).hex()
    me = [sys.executable, os.path.abspath(__file__), "--run", run_id, "--items", str(a.items)]
    consumers = [subprocess.Popen(me + ["--role", "consumer", str(n)], stdout=subprocess.PIPE,
                                  text=True) for n in range(1, a.consumers + 1)]
    for p in consumers:  # each says "ready" once subscribed
        p.stdout.readline()
    producers = [subprocess.Popen(me + ["--role", "producer", str(n)])
                 for n in range(1, a.producers + 1)]
    if any(p.wait() != 0 for p in producers):
        sys.exit("producer_consumer.py: a producer failed")
    with pubsub.connect(name="producer-stop") as c:  # one stop per consumer, after every item
        for _ in consumers:
            c.publish(CHANNEL, None, "%s stop" % run_id)
        c.flush()
    per_consumer = []
    for p in consumers:
        out, _ = p.communicate()
        if p.returncode != 0:
            sys.exit("producer_consumer.py: a consumer failed")
        per_consumer.append(out.split())
    counts = collections.Counter(item for items in per_consumer for item in items)
    want = {"p%d-%d" % (n, i) for n in range(1, a.producers + 1) for i in range(a.items)}
    for n, items in enumerate(per_consumer, 1):
        print("consumer %d: consumed %d items" % (n, len(items)))
    twice = sorted(i for i, k in counts.items() if k > 1)
    missing = sorted(want - set(counts))
    print("%d items from %d producers, %d consumed, %d missing, %d twice" % (
        len(want), a.producers, sum(counts.values()), len(missing), len(twice)))
    return 0 if not twice and not missing and set(counts) == want else 1


if __name__ == "__main__":
    sys.exit(main())
