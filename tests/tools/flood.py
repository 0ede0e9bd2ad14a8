#!/usr/bin/python3
"""Floods a running brokerd with thousands of malformed ZeroMQ messages over
raw DEALER sockets: truncated records, oversized frames, HELLOs of another
version, unknown commands, multipart messages with the wrong number of
frames, random bytes, from sessions and from strangers.  Then checks that a
well-behaved client still gets PONG.  Usage: flood.py ENDPOINT [COUNT]."""
import os
import random
import struct
import sys

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pswire as w  # noqa: E402


def main():
    endpoint = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    rng = random.Random(int(os.environ.get("FLOOD_SEED", "1")))
    ctx = zmq.Context()
    socks = []
    for i in range(8):
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SNDHWM, 100000)
        s.connect(endpoint)
        if i % 2 == 0:
            s.send(w.hello(f"flood{i}"))  # half of them with a session, half strangers
        socks.append(s)
    good = w.publish(0, "flood", "a/b", b"x" * 10)
    kinds = {}
    for n in range(count):
        s = rng.choice(socks)
        kind = rng.choice(["truncated", "oversized", "version", "unknown", "frames",
                           "random", "empty", "bad-length"])
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "truncated":
            s.send(good[:rng.randrange(1, len(good))])
        elif kind == "oversized":
            # Above the broker's ZMQ_MAXMSGSIZE: libzmq drops the connection
            # (the DEALER reconnects by itself, as a stranger).
            s.send(b"\0" * (3 << 20), copy=False)
        elif kind == "version":
            s.send(w.hello(major=rng.choice([0, 2, 255])))
        elif kind == "unknown":
            s.send(w.record(rng.choice([0, 0x7f, 0x99, 0xff]), os.urandom(rng.randrange(0, 40))))
        elif kind == "frames":
            s.send_multipart([good] * rng.randrange(2, 6))
        elif kind == "random":
            s.send(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200))))
        elif kind == "empty":
            s.send(b"")
        else:
            s.send(struct.pack(">I", rng.choice([0, 0xFFFFFFFF, 1 << 31])) + good[4:])
        if rng.random() < 0.01:  # read what came back now and then, so pipes do not fill
            for t in socks:
                while t.poll(0):
                    t.recv_multipart()
    checker = ctx.socket(zmq.DEALER)
    checker.setsockopt(zmq.LINGER, 0)
    checker.connect(endpoint)
    checker.send(w.hello("checker") + w.ping(42))
    while True:
        if not checker.poll(5000):
            print("FAIL: broker does not answer after the flood")
            sys.exit(1)
        if any(cmd == w.PONG for cmd, _ in w.records(checker.recv())):
            break
    print(f"{count} malformed messages sent ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); "
          "broker still serving")


if __name__ == "__main__":
    main()
