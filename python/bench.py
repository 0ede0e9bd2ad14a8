#!/usr/bin/env python3
"""Measures the Python package beside C and beside pyzmq, in one run on one
broker of its own: messages per second published and received from Python
(one thread, and four threads sharing each client), request/reply latency
from Python, the same figures from C (build/pbench) and pyzmq publishing
and subscribing through the broker's plain ZeroMQ gateway.  Prints a
markdown table.

    PYTHONPATH=python python3 python/bench.py [-n 200000] [--requests 5000]

Every client runs in a process of its own; payloads are 64 bytes; the
pubsub channel blocks slow subscribers (slow_subscriber = "block"), so
libpubsub subscribers lose nothing, while the plain gateway drops what a
slow SUB socket cannot take: the table says how many were lost.  One run,
not a median: a noisy machine gives noisy figures.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import pubsub

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAYLOAD = b"x" * 64
CHANNEL = "bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def split(n, parts):
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


# -- the roles, each run in a process of its own ------------------------------
def role_subscriber(endpoint, n, threads):
    """Receives n messages with `threads` threads on one client; prints the
    monotonic time of the last one, or how many were missing."""
    with pubsub.connect(endpoint) as c:
        c.subscribe(CHANNEL)
        print("ready", flush=True)
        counts = [0] * threads

        def run(i, quota):
            for _ in c.messages(timeout=10):
                counts[i] += 1
                if counts[i] == quota:
                    return

        # Threads share the client: whoever asks first gets the next message,
        # so each takes messages until the total is in.
        ts = [threading.Thread(target=run, args=(i, q)) for i, q in enumerate(split(n, threads))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        print("%r %d" % (time.monotonic(), sum(counts)), flush=True)


def role_responder(endpoint):
    with pubsub.connect(endpoint) as c:
        c.subscribe("bench.rpc", responder=True)
        print("ready", flush=True)
        for m in c.messages():
            if m.data == b"stop":
                return
            m.reply(m.data)


def role_zmq_sub(xpub, n):
    import zmq
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.RCVHWM, 0)
    s.connect(xpub)
    s.setsockopt(zmq.SUBSCRIBE, b"%s/" % CHANNEL.encode())
    print("ready", flush=True)
    got, last = 0, time.monotonic()
    s.setsockopt(zmq.RCVTIMEO, 10000)
    try:
        while got < n:
            s.recv_multipart()
            got += 1
            last = time.monotonic()
    except zmq.Again:  # the XPUB dropped the rest at its high-water mark
        pass
    print("%r %d" % (last, got), flush=True)


def spawn(*args):
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__)] + [str(a) for a in args],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def finish(p, n, start):
    """The receiving rate: messages received per second from the start of
    publishing to the last one, and how many never came."""
    last, got = p.communicate(timeout=300)[0].split()
    got = int(got)
    return got / (float(last) - start), n - got


# -- the figures ----------------------------------------------------------------
def python_pubsub(endpoint, n, threads):
    sub = spawn("--role", "subscriber", endpoint, n, threads)
    with pubsub.connect(endpoint) as c:
        def run(quota):
            for _ in range(quota):
                c.publish(CHANNEL, "t", PAYLOAD)

        ts = [threading.Thread(target=run, args=(q,)) for q in split(n, threads)]
        start = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        c.flush(timeout=60)
        published = n / (time.monotonic() - start)
    return published, finish(sub, n, start)


def python_reqrep(endpoint, requests):
    resp = spawn("--role", "responder", endpoint)
    times = []
    with pubsub.connect(endpoint) as c:
        for _ in range(requests):
            t = time.perf_counter()
            c.request("bench.rpc", "t", PAYLOAD)
            times.append(time.perf_counter() - t)
        c.publish("bench.rpc", "t", "stop")
        c.flush()
    resp.wait(10)
    q = statistics.quantiles(times, n=100)
    return q[49] * 1e6, q[89] * 1e6


def zmq_pubsub(xsub, xpub, n):
    import zmq
    sub = spawn("--role", "zmq-sub", xpub, n)
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.connect(xsub)
    # The slow joiner: probe until a message makes it through the broker.
    probe = ctx.socket(zmq.SUB)
    probe.connect(xpub)
    probe.setsockopt(zmq.SUBSCRIBE, b"probe/")
    probe.setsockopt(zmq.RCVTIMEO, 100)
    for _ in range(100):
        pub.send_multipart([b"probe/t", b"?"])
        try:
            probe.recv_multipart()
            break
        except zmq.Again:
            pass
    subject = b"%s/t" % CHANNEL.encode()
    start = time.monotonic()
    for _ in range(n):
        pub.send_multipart([subject, PAYLOAD])
    published = n / (time.monotonic() - start)
    result = finish(sub, n, start)
    pub.close(linger=5000)
    return published, result


def c_figures(endpoint, n, requests):
    out = subprocess.run([os.path.join(ROOT, "build", "pbench"), "-b", endpoint, "-n", str(n),
                          "-r", "1", "--requests", str(requests), "--pubs", "4",
                          "pubsub", "many", "reqrep"],
                         capture_output=True, text=True, timeout=600).stdout
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 1:
            rows[cells[0]] = cells[1]
    return rows, out


def rate(v):
    """A rate, or a (rate, lost) pair as "150 k/s" or "80 k/s, 1107 lost"."""
    if isinstance(v, tuple):
        return rate(v[0]) + (", %d lost" % v[1] if v[1] else "")
    return "%.0f k/s" % (v / 1000) if v < 1e6 else "%.2f M/s" % (v / 1e6)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--count", type=int, default=200000)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--role", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.role:
        role, args = a.role[0], a.role[1:]
        if role == "subscriber":
            return role_subscriber(args[0], int(args[1]), int(args[2]))
        if role == "responder":
            return role_responder(args[0])
        return role_zmq_sub(args[0], int(args[1]))

    d = tempfile.mkdtemp(prefix="pubsub-pybench.")
    port, xpub, xsub = free_port(), free_port(), free_port()
    endpoint = "tcp://127.0.0.1:%d" % port
    with open(os.path.join(d, "b.conf"), "w") as f:
        f.write('broker = { endpoints = [ "%s" ]; data_dir = "%s/data";\n'
                '  gateway = { xpub = "tcp://127.0.0.1:%d"; xsub = "tcp://127.0.0.1:%d"; }; };\n'
                'channels = ( { name = "%s"; type = "pubsub"; slow_subscriber = "block"; },\n'
                '             { name = "bench.queue"; type = "queue"; } );\n'
                % (endpoint, d, xpub, xsub, CHANNEL))
    broker = subprocess.Popen([os.path.join(ROOT, "build", "brokerd"), "-c",
                               os.path.join(d, "b.conf")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                pubsub.connect(endpoint, timeout=0.2).close()
                break
            except pubsub.Unreachable:
                continue
        n = a.count
        py1 = python_pubsub(endpoint, n, 1)
        py4 = python_pubsub(endpoint, n, 4)
        py_rr = python_reqrep(endpoint, a.requests)
        zq = zmq_pubsub("tcp://127.0.0.1:%d" % xsub, "tcp://127.0.0.1:%d" % xpub, n)
        c_rows, c_out = c_figures(endpoint, n, a.requests)
    finally:
        broker.terminate()
        broker.wait()
    c_p50 = next((v for k, v in c_rows.items() if k.startswith("request/reply p50")), "?")
    c_p90 = next((v for k, v in c_rows.items() if k.startswith("request/reply p90")), "?")
    c_1 = next((v for k, v in c_rows.items() if k.startswith("pubsub 1")), "?")
    c_4 = next((v for k, v in c_rows.items() if k.startswith("4")), "?")
    print("| figure | Python (libpubsub) | C (pbench) | pyzmq through the gateway |")
    print("|---|---:|---:|---:|")
    print("| pubsub, 1 publishing thread → 1 receiving, published/s | %s | | %s |"
          % (rate(py1[0]), rate(zq[0])))
    print("| pubsub, 1 publishing thread → 1 receiving, received/s | %s | %s | %s |"
          % (rate(py1[1]), c_1, rate(zq[1])))
    print("| pubsub, 4 threads on one client → 4 threads on one client, published/s | %s | | |"
          % rate(py4[0]))
    print("| pubsub, 4 threads → 4 threads, received/s | %s | %s (4 publisher processes → 1) | |"
          % (rate(py4[1]), c_4))
    print("| request/reply p50, µs | %.0f | %s | — |" % (py_rr[0], c_p50))
    print("| request/reply p90, µs | %.0f | %s | — |" % (py_rr[1], c_p90))
    print("\n%d messages of %d bytes per figure, %d requests; pbench said:\n%s"
          % (n, len(PAYLOAD), a.requests, c_out))


if __name__ == "__main__":
    sys.exit(main())
