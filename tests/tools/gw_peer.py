#!/usr/bin/python3
"""A plain ZeroMQ peer of brokerd's gateway, written with pyzmq alone (no
libpubsub, no pubsub protocol): what any ZeroMQ program would do.

  gw_peer.py sub ENDPOINT PREFIX [PREFIX...] [--count N] [--timeout MS] [--extra N]
      connects a SUB socket to the gateway's XPUB, subscribes to each
      PREFIX ("" is everything) and prints each message it receives as one
      JSON line {"subject": first frame as text, "frames": [hex, ...]}; exits 0 after N messages, 3 when
      MS pass without one (default 10000), 0 at that point without --count.
      --extra N subscribes to N more prefixes "unused/1/" ... "unused/N/".

  gw_peer.py pub ENDPOINT --ready CMD [--probe SUBJECT] MESSAGE...
      connects a PUB socket to the gateway's XSUB.  A PUB drops what it
      sends before a subscription has reached it, and nothing tells it when
      that happened: so it sends [SUBJECT, "probe"] every 20 ms until the
      shell command CMD succeeds (say, the broker counts an accepted gateway
      message), for at most 10 s (exit 3).  Then it sends each MESSAGE, a
      JSON array of frames; a frame is a string (UTF-8), {"hex": "00ff"} or
      {"repeat": "x", "n": 5000}.
"""
import json
import subprocess
import sys
import time

import zmq


def frame_bytes(f):
    if isinstance(f, str):
        return f.encode()
    if "hex" in f:
        return bytes.fromhex(f["hex"])
    return (f["repeat"] * f["n"]).encode()


def option(args, name, default):
    if name in args:
        i = args.index(name)
        value = args[i + 1]
        del args[i:i + 2]
        return value
    return default


def sub(args):
    count = int(option(args, "--count", "0"))
    timeout = int(option(args, "--timeout", "10000"))
    extra = int(option(args, "--extra", "0"))
    endpoint = args[0]
    prefixes = args[1:] + [f"unused/{i}/" for i in range(1, extra + 1)]
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    # Subscriptions travel through the send pipe too: beyond its high-water
    # mark a SUB drops them without a word.
    s.setsockopt(zmq.SNDHWM, max(1000, 2 * len(prefixes)))
    s.connect(endpoint)
    for p in prefixes:
        s.setsockopt(zmq.SUBSCRIBE, p.encode())
    got = 0
    while count == 0 or got < count:
        if not s.poll(timeout):
            if count:
                print(f"gw_peer sub: only {got} of {count} messages in {timeout} ms",
                      file=sys.stderr)
                return 3
            break
        frames = s.recv_multipart()
        print(json.dumps({"subject": frames[0].decode(errors="replace"),
                          "frames": [f.hex() for f in frames]}), flush=True)
        got += 1
    s.close()
    ctx.term()
    return 0


def pub(args):
    ready = option(args, "--ready", None)
    probe = option(args, "--probe", "logs/probe").encode()
    endpoint, messages = args[0], [json.loads(a) for a in args[1:]]
    if ready is None:
        print("gw_peer pub: --ready CMD is required", file=sys.stderr)
        return 1
    ctx = zmq.Context()
    p = ctx.socket(zmq.PUB)
    p.setsockopt(zmq.LINGER, 5000)
    p.connect(endpoint)
    deadline = time.monotonic() + 10
    while True:
        p.send_multipart([probe, b"probe"])
        if subprocess.run(ready, shell=True, stdout=subprocess.DEVNULL).returncode == 0:
            break
        if time.monotonic() > deadline:
            print("gw_peer pub: the gateway never took a probe", file=sys.stderr)
            return 3
        time.sleep(0.02)
    for m in messages:
        p.send_multipart([frame_bytes(f) for f in m])
    p.close()  # the linger lets the messages leave first
    ctx.term()
    return 0


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("sub", "pub"):
        print(__doc__, file=sys.stderr)
        return 1
    return (sub if sys.argv[1] == "sub" else pub)(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
