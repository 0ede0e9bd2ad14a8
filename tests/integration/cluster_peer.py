"""cluster_peer.py - a hostile node for t0956: it holds the key pair of a
listed peer and talks to a node's cluster.listen over CURVE, sending what
a real node never would.

Usage: cluster_peer.py ENDPOINT SERVER_PUBLIC NODE KEYFILE MODE
MODE garbage: malformed frames (an unknown command, a length past the
frame); MODE flood: a valid HELLO, then more interest entries than the
node allows, three times over.
"""
import re
import struct
import sys
import time

import zmq


def s16(b):
    return struct.pack(">H", len(b)) + b


def record(cmd, body):
    return struct.pack(">IB", len(body) + 1, cmd) + body


def main():
    ep, server_pub, node, keyfile, mode = sys.argv[1:6]
    text = open(keyfile).read()
    pub = re.search(r'public_key = "(.*)";', text).group(1)
    sec = re.search(r'secret_key = "(.*)";', text).group(1)
    ctx = zmq.Context()
    d = ctx.socket(zmq.DEALER)
    d.setsockopt(zmq.LINGER, 2000)
    d.setsockopt(zmq.ROUTING_ID, node.encode())
    d.curve_serverkey = server_pub.encode()
    d.curve_publickey = pub.encode()
    d.curve_secretkey = sec.encode()
    d.connect(ep)
    if mode == "garbage":
        for _ in range(5):
            d.send(record(0x99, b"garbage"))
        d.send(struct.pack(">I", 1 << 30) + b"\x53")
    else:
        decls = (b"alerts broadcast retain=1 durable=0 slow=drop home=-\n"
                 b"jobs queue retain=1 durable=0 slow=drop home=a\n"
                 b"logs pubsub retain=1 durable=0 slow=drop home=-\n")
        for round_ in range(3):
            hello = struct.pack(">HBBIQQ", 0x5053, 1, 0, 200, 77, 0) + s16(b"site") + \
                s16(node.encode()) + struct.pack(">I", len(decls)) + decls + \
                struct.pack(">B", 0) + s16(b"") + s16(b"")  # no Raft group
            frame = record(0x50, hello) + record(0x52, struct.pack(">QB", 1, 3) + s16(b"logs") + s16(b""))
            for i in range(10):
                frame += record(0x52, struct.pack(">QB", 2 + i, 1) + s16(b"logs") + s16(b"t/%d" % i))
            d.send(frame)
            time.sleep(0.3)
    time.sleep(0.5)
    d.close()
    ctx.term()


main()
