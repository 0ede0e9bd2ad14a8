"""fake_home.py - stands in, on one node's cluster link, for the leader of
its Raft group, for t0929 (the term as a fencing token).

The node under test (X) lists the leader L as a peer whose endpoint is
this tool's ROUTER (its configuration was rewritten so), and the real L
cannot reach X's cluster.listen (the test drops it with nftables), so
everything X hears from "L" over the link comes from here, while L still
leads the group over the Raft transport.  The tool holds L's key pair and
speaks the link protocol of docs/protocol.md: it answers X's HELLO with
one of its own (X's declarations and voters, L's Raft address), keeps the
link up with heartbeats that acknowledge X's epoch and interest, and then
plays the home of queue CHANNEL in three steps, printing one line each:

1. When X attaches to the queue and the file TERMFILE holds the group's
   term (the test writes it once X follows L, so that an election before
   cannot make it stale): DELIVER "current-1" with TERM, "stale-1" with
   TERM - 1, "current-2" with TERM (prints "delivered GEN"); the first one
   makes sure X has seen TERM before the stale one comes.
2. Each ACK X sends: "ack TAG" (tags 1, 2, 3 are the three messages).
3. When X forwards a publish to the queue: ANSWER "not committed" with
   TERM - 1, then "committed" with TERM, for the same tag (prints
   "answered TAG").

It runs until the file STOP exists, at most 120 s.

Usage: fake_home.py LISTEN CONNECT NODE KEYFILE SERVER_PUBLIC CLUSTER
                    RAFT_ADDR CHANNEL TERMFILE STOP
"""
import os
import random
import re
import struct
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pswire import b, record, records, s  # noqa: E402

LINK_HELLO, LINK_HEARTBEAT, LINK_INTEREST, LINK_QUEUE = 0x50, 0x51, 0x52, 0x55
ECHO = 0x01
RAFT, RAFT_GROUP = 0x01, 0x02
LQ_ATTACH, LQ_DELIVER, LQ_ACK, LQ_PUBLISH, LQ_ANSWER = 1, 2, 3, 6, 7


def str_at(body, pos):
    n, = struct.unpack_from(">H", body, pos)
    return body[pos + 2:pos + 2 + n], pos + 2 + n


def bin_at(body, pos):
    n, = struct.unpack_from(">I", body, pos)
    return body[pos + 4:pos + 4 + n], pos + 4 + n


def parse_hello(body):
    """The fields of X's LINK_HELLO this tool echoes: epoch, hash, decls, voters."""
    _, _, _, _, epoch, dhash = struct.unpack_from(">HBBIQQ", body, 0)
    pos = struct.calcsize(">HBBIQQ")
    _, pos = str_at(body, pos)  # cluster
    _, pos = str_at(body, pos)  # node
    decls, pos = bin_at(body, pos)
    pos += 1  # raft flags
    _, pos = str_at(body, pos)  # raft_addr
    voters, pos = str_at(body, pos)
    return epoch, dhash, decls, voters


def parse_queue(body):
    """op, attach_gen, tag, window, channel of a LINK_QUEUE."""
    op, _, gen, tag, window = struct.unpack_from(">BBQQI", body, 0)
    channel, _ = str_at(body, struct.calcsize(">BBQQI"))
    return op, gen, tag, window, channel.decode()


def queue_rec(op, gen, tag, window, channel, topic, data, term):
    return record(LINK_QUEUE, struct.pack(">BBQQI", op, 0, gen, tag, window) + s(channel) +
                  s(topic) + b(data) + struct.pack(">Q", term))


def main():
    (listen, connect, node, keyfile, server_pub, cluster, raft_addr, channel, termfile,
     stop) = sys.argv[1:11]
    term = None
    text = open(keyfile).read()
    pub = re.search(r'public_key = "(.*)";', text).group(1).encode()
    sec = re.search(r'secret_key = "(.*)";', text).group(1).encode()
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)  # what X sends to "L"
    router.curve_server = True
    router.curve_secretkey = sec
    router.bind(listen)
    dealer = ctx.socket(zmq.DEALER)  # what "L" sends to X
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.ROUTING_ID, node.encode())
    dealer.curve_serverkey = server_pub.encode()
    dealer.curve_publickey = pub
    dealer.curve_secretkey = sec
    dealer.connect(connect)
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)

    epoch = random.getrandbits(63) | 1
    x_hello = None      # (epoch, hash, decls, voters) of X's last HELLO
    x_seen = 0          # the epoch of ours X's heartbeats say it accepted
    iack = 0            # the last interest record of X's
    gen = None          # X's attachment to the queue
    delivered = answered = False
    last_hb = last_hello = 0.0
    deadline = time.monotonic() + 120

    def say(line):
        print(line, flush=True)

    while not os.path.exists(stop) and time.monotonic() < deadline:
        out = []
        for sock, _ in poller.poll(50):
            while True:
                try:
                    _, frame = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                for cmd, body in records(frame):
                    if cmd == LINK_HELLO:
                        x_hello = parse_hello(body)
                    elif cmd == LINK_INTEREST:
                        iack = max(iack, struct.unpack_from(">Q", body, 0)[0])
                    elif cmd == LINK_HEARTBEAT:
                        flags, stamp, _, seen, _ = struct.unpack_from(">BQQQQ", body, 0)
                        x_seen = seen
                        if flags & ECHO and x_hello:
                            out.append(record(LINK_HEARTBEAT, struct.pack(
                                ">BQQQQ", 0, int(time.time() * 1e6), stamp, x_hello[0], iack)))
                    elif cmd == LINK_QUEUE:
                        op, g, tag, window, ch = parse_queue(body)
                        if ch != channel:
                            continue
                        if op == LQ_ATTACH:
                            gen = g if window else None
                        elif op == LQ_ACK:
                            say("ack %d" % tag)
                        elif op == LQ_PUBLISH and tag and delivered and not answered:
                            out.append(queue_rec(LQ_ANSWER, 0, tag, 0, channel, b"", b"",
                                                 term - 1))
                            out.append(queue_rec(LQ_ANSWER, 0, tag, 1, channel, b"", b"", term))
                            answered = True
                            say("answered %d" % tag)
        now = time.monotonic()
        if x_hello and x_seen != epoch and now - last_hello >= 0.1:
            e, dhash, decls, voters = x_hello
            out.append(record(LINK_HELLO, struct.pack(">HBBIQQ", 0x5053, 1, 3, 100, epoch, dhash) +
                              s(cluster) + s(node) + b(decls) +
                              struct.pack(">B", RAFT | RAFT_GROUP) + s(raft_addr) + s(voters)))
            last_hello = now
        if x_hello and now - last_hb >= 0.1:
            out.append(record(LINK_HEARTBEAT, struct.pack(
                ">BQQQQ", 0, int(time.time() * 1e6), 0, x_hello[0], iack)))
            last_hb = now
        if term is None and os.path.exists(termfile):
            term = int(open(termfile).read())
            if term < 2:
                sys.exit("fake_home: term %d leaves no older term to send (0 is no term)" % term)
        if gen is not None and term is not None and not delivered:
            out.append(queue_rec(LQ_DELIVER, gen, 1, 0, channel, b"t", b"current-1", term))
            out.append(queue_rec(LQ_DELIVER, gen, 2, 0, channel, b"t", b"stale-1", term - 1))
            out.append(queue_rec(LQ_DELIVER, gen, 3, 0, channel, b"t", b"current-2", term))
            delivered = True
            say("delivered %d" % gen)
        if out:
            dealer.send(b"".join(out))
    dealer.close()
    router.close()
    ctx.term()


main()
