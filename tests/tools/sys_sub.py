#!/usr/bin/python3
"""sys_sub - subscribes to a channel over a raw ZeroMQ socket, for tests of
names the client library does not take (the broker's own "$broker").
Prints one line per answer: "OK", "ERROR CODE text", or "DELIVER TOPIC
PAYLOAD" until COUNT deliveries came or TIMEOUT_MS passed without any
(exit 0 when COUNT came, 1 otherwise); it sends heartbeats meanwhile.  With --publish it publishes
PAYLOAD to CHANNEL/PATTERN instead and prints the answer.
Usage: sys_sub.py ENDPOINT CHANNEL PATTERN [COUNT [TIMEOUT_MS]] [--publish PAYLOAD]"""
import os
import struct
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pswire as w  # noqa: E402


def deliver_of(body):
    """(topic, payload) of a DELIVER body."""
    pos = 1 + 8 + 8
    (clen,) = struct.unpack_from(">H", body, pos)
    pos += 2 + clen
    (tlen,) = struct.unpack_from(">H", body, pos)
    topic = body[pos + 2:pos + 2 + tlen].decode(errors="replace")
    pos += 2 + tlen
    (dlen,) = struct.unpack_from(">I", body, pos)
    return topic, body[pos + 4:pos + 4 + dlen].decode(errors="replace")


def main():
    args = sys.argv[1:]
    payload = None
    if "--publish" in args:
        i = args.index("--publish")
        payload = args[i + 1].encode()
        del args[i:i + 2]
    endpoint, channel, pattern = args[:3]
    count = int(args[3]) if len(args) > 3 else 1
    timeout = int(args[4]) if len(args) > 4 else 5000
    sock = zmq.Context().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sock.send(w.hello("sys_sub"))
    if payload is not None:
        sock.send(w.publish(1, channel, pattern, payload, flags=0x02))  # CONFIRM: an answer comes
    else:
        sock.send(w.subscribe(1, channel, pattern))
    got, deadline = 0, time.monotonic() + timeout / 1000
    while got < count:
        if time.monotonic() > deadline:
            return 1
        if not sock.poll(500):
            # Silence is death to the broker: a heartbeat every half second.
            sock.send(w.record(w.HEARTBEAT))
            continue
        for cmd, body in w.records(sock.recv()):
            if cmd == w.OK:
                print("OK", flush=True)
                if payload is not None:
                    return 0
            elif cmd == w.ERROR:
                _, code, text = w.error_of(body)
                print("ERROR", code, text, flush=True)
                return 1
            elif cmd == w.DELIVER:
                topic, data = deliver_of(body)
                print("DELIVER", topic, data, flush=True)
                got += 1
                deadline = time.monotonic() + timeout / 1000
    return 0


if __name__ == "__main__":
    sys.exit(main())
