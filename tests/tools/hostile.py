#!/usr/bin/python3
"""hostile - the clients of the security tests (tests/integration/t052x,
t0540): each subcommand plays one attacker of issue 15 against a running
brokerd over raw ZeroMQ (or raw TCP), or the honest pair whose service the
attackers must not spoil.  A subcommand prints one line when its attack is
in place (so that a test can wait for that line instead of sleeping), then
one line of figures; attackers that must stay connected keep the session
alive with HEARTBEATs until they are killed.

  hostile.py amplify EP N            one frame of N SUBSCRIBE logs '#', never read
  hostile.py resub EP                SUBSCRIBE logs '#' twice: retained deliveries
  hostile.py victim EP ID FILE       a session with routing id ID; PINGs once FILE exists
  hostile.py taken-id EP ID N SIZE   N frames of SIZE bytes under routing id ID
  hostile.py thief EP ID             a PING under routing id ID, without HELLO: the answer
  hostile.py unsub EP CHANNEL        UNSUBSCRIBE CHANNEL '#' (no right needed): the answer
  hostile.py waits EP N              N requests and N sync publishes never answered
  hostile.py longwait EP             a request with the longest timeout, a responder that
                                     never answers: seconds until the broker ends it
  hostile.py silent EP N SECONDS     N TCP connections that never say anything
  hostile.py chanflood EP N SIZE     N new channels, each with a retained value of SIZE
  hostile.py logflood EP N           N HELLOs on one connection
  hostile.py byeflood EP N           N sessions one after another, each HELLO then BYE
  hostile.py nonreader EP CHANNEL    subscribes to CHANNEL and never reads
  hostile.py honest EP SECONDS       a publisher and a subscriber on 'honest', timed"""
import ctypes
import os
import signal
import socket
import struct
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pswire as w  # noqa: E402

# An attacker left behind would spoil the next test: it dies with the test.
ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
FOREVER = 0xFFFFFFFF  # the longest timeout_ms the wire can say: 49.7 days
CTX = zmq.Context()


def say(*args):
    print(*args, flush=True)


def dealer(ep, ident=None, reader=True):
    """A DEALER on ep; one that does not read takes in as little as it can,
    so that what the broker sends piles up in the broker, not here."""
    s = CTX.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if ident is not None:
        s.setsockopt(zmq.ROUTING_ID, ident)
    if not reader:
        s.setsockopt(zmq.RCVHWM, 1)
        s.setsockopt(zmq.RCVBUF, 4096)
    s.connect(ep)
    return s


def until(s, want, timeout_ms=5000, sink=None):
    """Reads until a record of command want arrives; returns its body, or
    None on timeout.  Other records go to sink(cmd, body)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0 or not s.poll(left):
            return None
        for cmd, body in w.records(s.recv()):
            if cmd == want:
                return body
            if sink:
                sink(cmd, body)


def session(ep, name, ident=None, reader=True):
    s = dealer(ep, ident, reader)
    s.send(w.hello(name))
    if until(s, w.WELCOME) is None:
        sys.exit(f"FAIL: no WELCOME for {name}")
    return s


def hold(s, seconds=3600):
    """Stays alive without reading: a HEARTBEAT every 500 ms."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            s.send(w.record(w.HEARTBEAT), zmq.NOBLOCK)
        except zmq.Again:
            pass
        time.sleep(0.5)


def count_errors(errors):
    """A sink for until() that counts ERROR records by code in errors."""
    def sink(cmd, body):
        if cmd == w.ERROR:
            code = w.error_of(body)[1]
            errors[code] = errors.get(code, 0) + 1
    return sink


def send_reading(s, frame, sink):
    """Sends frame, then hands what already came back to sink, so that the
    broker's answers do not pile up while a flood is sent."""
    s.send(frame)
    while s.poll(0):
        for cmd, body in w.records(s.recv()):
            sink(cmd, body)


def finish(s, errors, sink):
    """Waits until everything sent was handled (PONG); returns the errors
    counted, as text."""
    s.send(w.ping(1))
    if until(s, w.PONG, 30000, sink) is None:
        sys.exit("FAIL: no PONG after the flood")
    return ", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "none"


def amplify(ep, n):
    s = session(ep, "amplify", reader=False)
    s.send(b"".join(w.subscribe(i + 1, "logs", "#") for i in range(int(n))))
    say(f"sent one frame of {n} SUBSCRIBE logs '#'")
    hold(s)


def resub(ep):
    s = session(ep, "resub")
    s.send(w.subscribe(1, "logs", "#") + w.subscribe(2, "logs", "#") + w.ping(3))
    got = []
    until(s, w.PONG, sink=lambda cmd, body: got.append(cmd) if cmd == w.DELIVER and body[0] & 1 else None)
    say(len(got))


def victim(ep, ident, trigger):
    """A session under routing id ident that PINGs once the file trigger
    exists, and says whether PONG came; HEARTBEATs keep it meanwhile."""
    s = session(ep, "victim", ident.encode())
    say("ready")
    while not os.path.exists(trigger):
        s.send(w.record(w.HEARTBEAT))
        time.sleep(0.2)
    s.send(w.ping(7))
    say("pong" if until(s, w.PONG, 3000) is not None else "no pong")


def taken_id(ep, ident, n, size):
    s = dealer(ep, ident.encode())
    s.setsockopt(zmq.SNDHWM, 1)
    s.setsockopt(zmq.SNDTIMEO, 3000)
    frame = b"\0" * int(size)
    sent = 0
    for _ in range(int(n)):
        try:
            s.send(frame, copy=False)
        except zmq.Again:
            break
        sent += 1
    say(f"sent {sent} of {n} frames of {size} bytes")
    hold(s, 1)


def thief(ep, ident):
    """Speaks under another's routing id without HELLO: says what came back
    for its PING (pong, or the error code)."""
    s = dealer(ep, ident.encode())
    s.send(w.ping(9))
    got = []
    pong = until(s, w.PONG, 3000, sink=lambda cmd, body: got.append(w.error_of(body)[1])
                 if cmd == w.ERROR else None)
    say("pong" if pong is not None else f"error {got[0]}" if got else "no answer")


def unsub(ep, channel):
    """UNSUBSCRIBE needs no right: says what came back for it (ok, or the
    error code), which must not tell whether channel exists."""
    s = session(ep, "unsub")
    s.send(w.unsubscribe(5, channel, "#"))
    got = []
    ok = until(s, w.OK, 3000, sink=lambda cmd, body: got.append(w.error_of(body)[1])
               if cmd == w.ERROR else None)
    say("ok" if ok is not None else f"error {got[0]}" if got else "no answer")


def waits(ep, n):
    n = int(n)
    s = session(ep, "waits")
    s.send(w.subscribe(1, "rpc", "#", flags=1) + w.subscribe(2, "logs", "#") + w.ping(3))
    if until(s, w.PONG) is None:
        sys.exit("FAIL: no PONG after subscribing")
    errors = {}
    sink = count_errors(errors)
    corr = 10
    for start in range(0, n, 500):
        frame = []
        for _ in range(min(500, n - start)):
            frame.append(w.request(corr, "rpc", "t", b"q", timeout=FOREVER))
            frame.append(w.publish(corr + 1, "logs", "t", b"p", flags=4, timeout=FOREVER))
            corr += 2
        send_reading(s, b"".join(frame), sink)
    say(f"{n} requests and {n} sync publishes sent; errors: {finish(s, errors, sink)}")
    hold(s)


def longwait(ep):
    s = session(ep, "longwait")
    r = session(ep, "mute-responder")
    r.send(w.subscribe(1, "rpc", "#", flags=1) + w.ping(2))
    if until(r, w.PONG) is None:
        sys.exit("FAIL: no PONG for the responder")
    t0 = time.monotonic()
    s.send(w.request(5, "rpc", "t", b"q", timeout=FOREVER))
    keep = lambda cmd, body: s.send(w.record(w.HEARTBEAT)) if cmd == w.HEARTBEAT else None
    done = until(s, w.DONE, 30000, sink=keep)
    say(f"{time.monotonic() - t0:.1f}" if done is not None else "none in 30 s")


def silent(ep, n, seconds):
    host, port = ep.rsplit("/", 1)[1].rsplit(":", 1)
    socks = []
    for _ in range(int(n)):
        c = socket.socket()
        c.connect((host, int(port)))
        c.setblocking(False)
        socks.append(c)
    say(f"{n} silent connections open")
    t0 = time.monotonic()
    closed = set()
    while time.monotonic() - t0 < float(seconds) and len(closed) < len(socks):
        for i, c in enumerate(socks):
            if i in closed:
                continue
            try:
                if c.recv(4096) == b"":
                    closed.add(i)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
        time.sleep(0.1)
    say(f"{len(closed)} of {n} closed by the broker within {time.monotonic() - t0:.1f} s")


def chanflood(ep, n, size):
    n, size = int(n), int(size)
    s = session(ep, "chanflood")
    errors = {}
    sink = count_errors(errors)
    data = b"r" * size
    per_frame = max(1, min(1000, (1 << 20) // max(size, 1)))
    for start in range(0, n, per_frame):
        frame = b"".join(w.publish(0, f"flood{i}", "t", data, flags=1 if size else 0)
                         for i in range(start, min(n, start + per_frame)))
        send_reading(s, frame, sink)
    say(f"{n} channels published to; errors: {finish(s, errors, sink)}")


def logflood(ep, n):
    s = dealer(ep)
    for start in range(0, int(n), 1000):
        s.send(b"".join(w.hello(f"h{i}") for i in range(start, min(int(n), start + 1000))))
    s.send(w.ping(1))
    if until(s, w.PONG, 30000) is None:
        sys.exit("FAIL: no PONG after the HELLOs")
    say(f"{n} HELLOs sent")


def byeflood(ep, n):
    """Sessions begun and ended as fast as the broker answers: each is a
    connection, a HELLO, its WELCOME and a BYE."""
    for i in range(int(n)):
        s = session(ep, f"b{i}")
        s.send(w.record(w.BYE))
        s.close()
    say(f"{n} sessions begun and ended")


def nonreader(ep, channel):
    s = session(ep, "nonreader", reader=False)
    s.send(w.subscribe(1, channel, "#") + w.ping(2))
    if until(s, w.PONG) is None:
        sys.exit("FAIL: no PONG after SUBSCRIBE")
    say(f"subscribed to {channel}, not reading")
    hold(s)


def honest(ep, seconds):
    """Publishes a timestamped message every 10 ms on 'honest' and PINGs
    beside it; the subscriber's delivery latency and the PING round trip
    are the figures."""
    pub, sub = session(ep, "honest-pub"), session(ep, "honest-sub")
    sub.send(w.subscribe(1, "honest", "#") + w.ping(2))
    if until(sub, w.PONG) is None:
        sys.exit("FAIL: the honest subscriber got no PONG")
    say("honest pair ready")
    lat, rtt, sent, got = [], [], 0, 0
    end = time.monotonic() + float(seconds)
    pings = {}
    corr = 10
    while time.monotonic() < end:
        now = time.monotonic()
        pub.send(w.publish(0, "honest", "t", struct.pack(">d", now)))
        pub.send(w.ping(corr))
        if sent % 50 == 0:  # the subscriber only reads: this keeps its session
            sub.send(w.record(w.HEARTBEAT))
        pings[corr] = now
        corr += 1
        sent += 1
        poller = zmq.Poller()
        poller.register(pub, zmq.POLLIN)
        poller.register(sub, zmq.POLLIN)
        deadline = now + 0.01
        while True:
            left = deadline - time.monotonic()
            ev = dict(poller.poll(max(0, int(left * 1000))))
            for sock in ev:
                for cmd, body in w.records(sock.recv()):
                    t = time.monotonic()
                    if cmd == w.DELIVER:
                        got += 1
                        lat.append(t - struct.unpack(">d", body[-8:])[0])
                    elif cmd == w.PONG:
                        c = struct.unpack(">Q", body[:8])[0]
                        if c in pings:
                            rtt.append(t - pings.pop(c))
            if left <= 0:
                break
    t_end = time.monotonic() + 15  # what is still on its way (late is not lost)
    while got < sent and time.monotonic() < t_end:
        if sub.poll(100):
            for cmd, body in w.records(sub.recv()):
                if cmd == w.DELIVER:
                    got += 1
                    lat.append(time.monotonic() - struct.unpack(">d", body[-8:])[0])

    def p99(v):
        return sorted(v)[int(len(v) * 0.99)] * 1000 if v else float("inf")
    say(f"sent {sent} received {got} latency_p99_ms {p99(lat):.1f} "
        f"ping_p99_ms {p99(rtt):.1f} ping_max_ms {max(rtt) * 1000 if rtt else float('inf'):.1f} "
        f"pings_unanswered {len(pings)}")


if __name__ == "__main__":
    cmds = {"amplify": amplify, "resub": resub, "victim": victim, "taken-id": taken_id,
            "thief": thief, "unsub": unsub,
            "waits": waits, "longwait": longwait, "silent": silent, "chanflood": chanflood, "logflood": logflood, "byeflood": byeflood,
            "nonreader": nonreader, "honest": honest}
    if len(sys.argv) < 3 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
