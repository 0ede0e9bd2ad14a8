"""pswire - the pubsub wire format in Python, for tests that speak to brokerd
over a raw ZeroMQ socket.  It mirrors docs/protocol.md; keep them in step."""
import struct

HELLO, WELCOME, BYE, HEARTBEAT, PING, PONG, ERROR, OK = 1, 2, 3, 4, 5, 6, 7, 8
PUBLISH, RESULT, SUBSCRIBE, UNSUBSCRIBE = 0x10, 0x11, 0x12, 0x13
DELIVER, GAP, ACK, REQUEST, REPLY, DONE, ADMIN, ADMIN_REPLY = 0x20, 0x21, 0x22, 0x30, 0x31, 0x32, 0x40, 0x41
PUBLISH_BATCH, DELIVER_BATCH = 0x14, 0x23  # protocol 1.2
ERR_NAMES = {1: "PROTOCOL", 2: "VERSION", 3: "NOCHANNEL", 4: "WRONGTYPE", 5: "TOOLARGE",
             6: "DENIED", 7: "NORESP", 8: "FULL", 9: "SESSION", 10: "LIMIT", 11: "INVALID"}


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(b)) + b


def b(data):
    return struct.pack(">I", len(data)) + data


def record(cmd, body=b""):
    return struct.pack(">IB", len(body) + 1, cmd) + body


def hello(name="test", major=1, minor=0, hb=1000, magic=0x5053):
    return record(HELLO, struct.pack(">HBBI", magic, major, minor, hb) + s(name))


def ping(corr):
    return record(PING, struct.pack(">Q", corr))


def publish(corr, channel, topic, data, flags=0, timeout=0):
    return record(PUBLISH, struct.pack(">QBI", corr, flags, timeout) + s(channel) + s(topic) + b(data))


def publish_batch(channel, topic, payloads, flags=0, count=None):
    """PUBLISH_BATCH of payloads; count, when given, is written instead of theirs."""
    n = len(payloads) if count is None else count
    return record(PUBLISH_BATCH, struct.pack(">B", flags) + s(channel) + s(topic) +
                  struct.pack(">I", n) + b"".join(b(p) for p in payloads))


def subscribe(corr, channel, pattern="#", flags=0, window=100):
    return record(SUBSCRIBE, struct.pack(">QBI", corr, flags, window) + s(channel) + s(pattern))


def unsubscribe(corr, channel, pattern="#"):
    return record(UNSUBSCRIBE, struct.pack(">Q", corr) + s(channel) + s(pattern))


def ack(tag):
    return record(ACK, struct.pack(">Q", tag))


def request(corr, channel, topic, data, timeout=1000):
    return record(REQUEST, struct.pack(">QI", corr, timeout) + s(channel) + s(topic) + b(data))


def reply(tag, status, data):
    return record(REPLY, struct.pack(">QB", tag, status) + b(data))


def admin(corr, verb):
    return record(ADMIN, struct.pack(">Q", corr) + s(verb))


def records(frame):
    """Splits a frame from the broker into (cmd, body) pairs; raises on damage."""
    out, pos = [], 0
    while pos < len(frame):
        if pos + 5 > len(frame):
            raise ValueError("truncated record head")
        n, cmd = struct.unpack_from(">IB", frame, pos)
        if n < 1 or pos + 4 + n > len(frame):
            raise ValueError("record runs past the frame")
        out.append((cmd, frame[pos + 5:pos + 4 + n]))
        pos += 4 + n
    return out


def error_of(body):
    """(corr, code name, text) of an ERROR body."""
    corr, code, tlen = struct.unpack_from(">QHH", body)
    return corr, ERR_NAMES.get(code, str(code)), body[12:12 + tlen].decode(errors="replace")
