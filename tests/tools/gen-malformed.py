#!/usr/bin/env python3
"""Writes tests/data/malformed.txt: byte-level malformed commands for brokerd,
one per line as `EXPECT NAME HEX`, in the manner of Mosquitto's test/broker
data files.  EXPECT is the ERROR code the broker must answer with inside a
session (PROTOCOL for damaged frames, INVALID for well-formed nonsense), or
NONE where no answer is due.  The output is deterministic: regenerate with
`python3 tests/tools/gen-malformed.py > tests/data/malformed.txt`."""
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pswire as w  # noqa: E402

rng = random.Random(5242)
cases = []


def add(expect, name, data):
    cases.append((expect, name, data))


valid = {
    "ping": w.ping(7),
    "publish": w.publish(0, "mal", "a/b", b"payload"),
    "publish-confirm": w.publish(9, "mal", "a/b", b"x" * 40, flags=2),
    "subscribe": w.subscribe(11, "mal", "a/#"),
    "unsubscribe": w.unsubscribe(12, "mal", "a/#"),
    "ack": w.ack(99),
    "request": w.request(13, "mal", "t", b"q"),
    "reply": w.reply(5, 0, b"r"),
    "admin": w.admin(14, "status"),
    "heartbeat": w.record(w.HEARTBEAT),
}

# 1. Every record cut short at every offset: the length field promises more
#    bytes than the frame holds, or the head itself is incomplete.
for name, rec in valid.items():
    for cut in range(1, len(rec)):
        add("PROTOCOL", f"truncated-{name}-{cut}", rec[:cut])

# 2. The length field says less than the fields need (the body ends early).
for name, rec in valid.items():
    n = struct.unpack(">I", rec[:4])[0]
    for short in range(1, min(n, 12)):
        add("PROTOCOL", f"short-len-{name}-{short}", struct.pack(">I", n - short) + rec[4:4 + n - short])

# 3. The length field says more than the fields use (trailing garbage in a record).
for name, rec in valid.items():
    for extra in (1, 2, 7):
        n = struct.unpack(">I", rec[:4])[0]
        add("PROTOCOL", f"long-len-{name}-{extra}", struct.pack(">I", n + extra) + rec[4:] + b"\0" * extra)

# 4. Unknown command bytes.
known = {1, 2, 3, 4, 5, 6, 7, 8, 0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x22, 0x30, 0x31, 0x32, 0x40, 0x41}
for cmd in range(256):
    if cmd not in known:
        add("PROTOCOL", f"unknown-cmd-{cmd:02x}", w.record(cmd, b"\0" * 8))

# 5. Strings over their limits and string lengths running past the record.
add("PROTOCOL", "channel-256", w.publish(0, "c" * 256, "t", b""))
add("PROTOCOL", "topic-1025", w.publish(0, "mal", "t" * 1025, b""))
add("PROTOCOL", "pattern-1025", w.subscribe(1, "mal", "p" * 1025))
add("PROTOCOL", "admin-verb-1025", w.admin(1, "v" * 1025))
for n in (2, 100, 65535):
    body = struct.pack(">QBI", 0, 0, 0) + struct.pack(">H", n) + b"ab"
    add("PROTOCOL", f"channel-len-past-end-{n}", w.record(w.PUBLISH, body))
for n in (5, 1 << 20, 0xFFFFFFFF):
    body = struct.pack(">QBI", 0, 0, 0) + w.s("mal") + w.s("t") + struct.pack(">I", n) + b"abcd"
    add("PROTOCOL", f"data-len-past-end-{n}", w.record(w.PUBLISH, body))

# 6. A good record followed by a damaged one in the same frame.
for name, rec in valid.items():
    add("PROTOCOL", f"good-then-bad-{name}", w.ping(3) + rec[:-1])

# 7. Well-formed but invalid: bad channel names, wildcard topics, bad patterns.
for bad in ["", "a b", "a/b", "ä", "$x", "a\0b", "tab\t", "semi;colon", "*", "#", "+"]:
    add("INVALID", f"bad-channel-{bad.encode().hex() or 'empty'}", w.publish(21, bad, "t", b"x", flags=2))
for bad in ["a/+", "#", "a/#", "+", "a\0b"]:
    add("INVALID", f"wildcard-topic-{bad.encode().hex()}", w.publish(22, "mal", bad, b"x", flags=2))
for bad in ["a/#/b", "a#", "a+/b", "#/x", "a/b+"]:
    add("INVALID", f"bad-pattern-{bad.encode().hex()}", w.subscribe(23, "mal", bad))
add("INVALID", "admin-unknown-verb", w.admin(24, "shutdown"))

# 8. Random bytes, and random mutations of valid records.
for i in range(300):
    data = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
    n = struct.unpack(">I", (data + b"\0\0\0\0")[:4])[0]
    if len(data) >= 5 and n + 4 == len(data):
        continue  # a random length that happens to fit is not certainly malformed
    add("PROTOCOL", f"random-{i}", data)
for i in range(200):
    name = rng.choice(sorted(valid))
    rec = bytearray(valid[name])
    pos = rng.randrange(0, 4)  # damage the length field: the record no longer fits the frame
    rec[pos] ^= 1 << rng.randrange(0, 8)
    if struct.unpack(">I", bytes(rec[:4]))[0] + 4 == len(rec):
        continue
    add("PROTOCOL", f"flip-len-{name}-{i}", bytes(rec))

# 9. A second HELLO of another major version or with a wrong magic.
add("VERSION", "hello-major-2", w.hello(major=2))
add("PROTOCOL", "hello-bad-magic", w.hello(magic=0x1234))

# 10. Protocol 1.2's PUBLISH_BATCH: a count or a payload length that does
#     not match the record, too many payloads, and a flag a batch cannot
#     carry; a wildcard topic is refused for its message like a PUBLISH's.
add("PROTOCOL", "batch-count-0", w.publish_batch("mal", "a", []))
add("PROTOCOL", "batch-count-over", w.publish_batch("mal", "a", [b"x", b"y"], count=3))
add("PROTOCOL", "batch-count-under", w.publish_batch("mal", "a", [b"x", b"y"], count=1))
add("PROTOCOL", "batch-count-4g", w.publish_batch("mal", "a", [b"x"], count=0xFFFFFFFF))
add("PROTOCOL", "batch-1025", w.publish_batch("mal", "a", [b""] * 1025))
add("PROTOCOL", "batch-len-past-end",
    w.record(w.PUBLISH_BATCH, b"\0" + w.s("mal") + w.s("a") + struct.pack(">II", 1, 9) + b"x"))
add("PROTOCOL", "batch-flag-sync", w.publish_batch("mal", "a", [b"x"], flags=4))
add("INVALID", "batch-wildcard-topic", w.publish_batch("mal", "a/#", [b"x"]))

for expect, name, data in cases:
    print(expect, name, data.hex())
print(f"{len(cases)} cases", file=sys.stderr)
