#!/usr/bin/python3
"""Sends every case of a malformed-command corpus (tests/data/malformed.txt)
to a running brokerd over a raw ZeroMQ DEALER socket, checks the ERROR it
answers with, and after each case checks that a second, well-behaved client
still gets PONG for PING.  Usage: malformed.py ENDPOINT CORPUS.  Prints one
line per mismatch and a summary; exits 1 on any mismatch or a dead broker."""
import os
import sys

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pswire as w  # noqa: E402

TIMEOUT_MS = 3000


def recv_records(sock, timeout_ms):
    if not sock.poll(timeout_ms):
        return None
    return w.records(sock.recv())


def session(ctx, endpoint, name):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    s.send(w.hello(name))
    while True:
        recs = recv_records(s, TIMEOUT_MS)
        if recs is None:
            sys.exit(f"FAIL: no WELCOME from {endpoint}")
        if any(cmd == w.WELCOME for cmd, _ in recs):
            return s


def wait_error(sock, want):
    """Reads until an ERROR arrives; returns its code name or None on timeout."""
    while True:
        recs = recv_records(sock, TIMEOUT_MS)
        if recs is None:
            return None
        for cmd, body in recs:
            if cmd == w.ERROR:
                return w.error_of(body)[1]


def main():
    endpoint, corpus = sys.argv[1], sys.argv[2]
    ctx = zmq.Context()
    bad = session(ctx, endpoint, "malformed")
    good = session(ctx, endpoint, "healthy")
    failures = n = 0
    for line in open(corpus):
        expect, name, hexdata = line.split()
        n += 1
        bad.send(bytes.fromhex(hexdata))
        got = wait_error(bad, expect) if expect != "NONE" else "NONE"
        if got != expect:
            failures += 1
            print(f"mismatch: {name}: expected ERROR {expect}, got {got}")
        if got == "VERSION" or got is None:
            bad.close()
            bad = session(ctx, endpoint, "malformed")
        good.send(w.ping(n))
        while True:
            recs = recv_records(good, TIMEOUT_MS)
            if recs is None:
                print(f"FAIL: broker stopped answering after case {name}")
                sys.exit(1)
            if any(cmd == w.PONG for cmd, _ in recs):
                break
    print(f"{n} malformed cases, {failures} mismatches, broker still serving")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
