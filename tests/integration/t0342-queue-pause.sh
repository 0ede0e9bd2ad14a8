#!/bin/bash
# A full queue with overflow = "block" pauses its publisher (protocol 1.4):
# the broker sends PAUSE when it first parks the publisher's records, the
# library then holds its publishes (ps_publish blocks once its send queue
# is full) while ACKs still go, and RESUME lets them go once the queue
# has room (ppub waits past the library's default 5 s, as a tool should).
# So the broker keeps only what was under way: a publisher of
# 200,000 messages of 100 bytes (20 MB) to a queue of 100, with
# client_buffer at 1 MiB, waits without one refusal until a consumer
# comes, and every message arrives once and in order.  Before PAUSE the
# broker parked up to client_buffer and refused the rest, as it still
# does for a client that speaks 1.3 (shown next).  Last, a raw client of
# 1.4 that ignores PAUSE: it may park client_buffer and 16 MiB more (what
# a library that obeys has under way), and past that it is refused.
. "$(dirname "$0")/lib.sh"

N=200000
PORT=$(free_port)
cat > b.conf << CONF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data";
           client_buffer = 1048576; };
channels = ( { name = "jobs"; type = "queue"; max_queued = 100; overflow = "block"; } );
CONF
start_broker -c b.conf

seq -f '%0100.0f' 1 "$N" > msgs
"$BUILD/ppub" -c jobs -i pauser < msgs 2> ppub.err &
pub=$!
paused() {
    "$BUILD/pctl" --timeout 1000 clients --json 2> /dev/null |
        jq -e '.[] | select(.name == "pauser" and .paused == true)' > /dev/null
}
wait_until 20 "the publisher is paused" paused
pauses=$("$BUILD/pctl" status --json | jq -r .pauses)
[ "$pauses" -ge 1 ] || fail "status counts $pauses pauses"
kill -0 "$pub" 2> /dev/null || fail "ppub did not wait for the full queue: $(head -3 ppub.err)"
# The library gives up a paused publish after 5 s by default; ppub, which
# consumes nothing, waits without bound unless --timeout says otherwise.
# No event says "still waiting", so the wait is a measured one.
read -r -t 6 <> <(:) || true
kill -0 "$pub" 2> /dev/null || fail "ppub gave up waiting for the full queue: $(head -3 ppub.err)"
expect_eq "$(chan_stat jobs queued)" 100 "messages queued while the publisher waits"
echo "paused: the queue holds 100, brokerd's RSS $(awk '/VmRSS/ { print $2 }' /proc/$BROKER_PID/status) kB"

"$BUILD/psub" -c jobs -n "$N" -F '%s %p' --timeout 20000 > got 2> psub.err ||
    fail "psub exited $?: $(head -3 psub.err)"
wait "$pub" || fail "ppub exited $?: $(head -3 ppub.err)"
bad=$(check_order got "$N")
[ -z "$bad" ] || fail "consumed: $bad"
paused && fail "the publisher is still marked paused after the queue drained"
echo "ok: a publisher of $N to a queue of 100 waited ($pauses pause(s)), nothing refused, all consumed in order"

# A 1.3 client is never sent PAUSE: past client_buffer it is refused,
# and what was refused is not in the queue.
PUBSUB_PROTOCOL_MINOR=3 "$BUILD/ppub" -c jobs < msgs > /dev/null 2> old.err &&
    fail "a 1.3 publisher was never refused"
"$BUILD/psub" -c jobs --timeout 2000 -F '%p' > old.got 2> /dev/null
got=$(wc -l < old.got)
[ "$got" -lt "$N" ] || fail "the 1.3 publisher's $N messages all arrived: it was paused too"
echo "ok: a 1.3 publisher is refused past client_buffer as before ($got of $N queued): $(head -1 old.err)"

# A raw 1.4 client that ignores PAUSE: 400 publishes of 64,000 bytes
# (25.6 MB) and a PING, heartbeats while it waits, every answer counted
# until the PONG, which comes once a consumer has drained the queue.
cat > raw.py << 'PY'
import struct, sys, zmq
def rec(cmd, body): return struct.pack(">IB", 1 + len(body), cmd) + body
def s(b): return struct.pack(">H", len(b)) + b
sock = zmq.Context().socket(zmq.DEALER)
sock.setsockopt(zmq.RCVTIMEO, 500)
sock.connect(sys.argv[1])
sock.send(rec(0x01, struct.pack(">HBBI", 0x5053, 1, 4, 1000) + s(b"ignorer")))
assert sock.recv()[4] == 0x02, "no WELCOME"
pub = rec(0x10, struct.pack(">QBI", 0, 0, 0) + s(b"jobs") + s(b"") + struct.pack(">I", 64000) + b"x" * 64000)
for i in range(400):
    sock.send(pub)
sock.send(rec(0x05, struct.pack(">Q", 7)))
count, first, waits = {}, None, 0
while 0x06 not in count and waits < 120:
    try:
        f = sock.recv()
    except zmq.Again:
        sock.send(rec(0x04, b""))  # a heartbeat passes what is parked
        waits += 1
        continue
    while f:
        n, cmd = struct.unpack(">IB", f[:5])
        if cmd == 0x07 and first is None:
            first = f[5 + 10 + 2:4 + n].decode()
        count[cmd] = count.get(cmd, 0) + 1
        f = f[4 + n:]
print(count.get(0x0a, 0), count.get(0x0b, 0), count.get(0x07, 0), count.get(0x06, 0), first)
PY
/usr/bin/python3 raw.py "$PUBSUB_BROKER" > raw.out 2>&1 &
raw=$!
# The consumer starts once brokerd has parked what the bound allows (17
# MiB less a record): before, it would make room while the rest arrived.
wait_until 20 "the raw client's backlog at its bound" eval \
    "'$BUILD/pctl' clients --json | jq -e '.[] | select(.name == \"ignorer\" and .paused and .parked_bytes > 17760000)' > /dev/null"
"$BUILD/psub" -c jobs --timeout 3000 -F '%s' > raw.got 2> /dev/null
wait "$raw" || fail "the raw client: $(cat raw.out)"
read -r pauses resumes errors pongs first < raw.out
got=$(wc -l < raw.got)
echo "raw 1.4 client ignoring PAUSE: PAUSE $pauses, RESUME $resumes, refused $errors of 400, queued $got: $first"
[ "$pongs" = 1 ] || fail "the raw client got no PONG: $(cat raw.out)"
[ "$pauses" -ge 1 ] && [ "$resumes" -ge 1 ] || fail "PAUSE $pauses, RESUME $resumes"
expect_eq "$((got + errors))" 400 "publishes queued and refused"
# 1 MiB + 16 MiB parked is some 278 publishes, besides the queue's 100.
[ "$errors" -ge 1 ] || fail "nothing was refused: a client that ignores PAUSE has no bound"
[ "$errors" -le 38 ] || fail "$errors refused: fewer than client_buffer + 16 MiB were parked"
case $first in *"so is this publisher's backlog"*) ;; *) fail "the refusal said: $first" ;; esac
echo "ok: a 1.4 client that ignores PAUSE parked client_buffer + 16 MiB and was refused past it ($errors of 400)"
