#!/bin/bash
# Issue 17.1, a mistyped channel: a publish that creates its channel or
# reaches nobody is told to the publisher (a NOTICE before the PONG of its
# sync point, protocol 1.1), and ppub says it in one line on stderr;
# --strict makes either a refusal with nothing published and no channel
# created; auto_create = "none" refuses an undeclared channel with a clear
# message.  A retained value and a queue message reach somebody later and
# are not noted.  A client of protocol 1.0 never gets a NOTICE (its
# decoder would drop the whole frame): the broker still answers it as
# before.
. "$(dirname "$0")/lib.sh"

start_broker # jobs (queue), alerts (broadcast), logs (pubsub), auto_create pubsub
P=$BUILD/ppub

# The mistyped name: created, nobody there; exit 0, one line.
expect_run 0 "" "$P" -c job 'build 9'
expect_eq "$(cat err)" "ppub: 'job' did not exist and was created as a pubsub channel; nobody was subscribed" \
    "ppub's line for a channel it created"
expect_eq "$(chan_stat job type)" pubsub "the channel ppub's message created"
expect_run 0 "" "$P" -c job 'build 10'
expect_eq "$(cat err)" "ppub: nobody was subscribed to 'job'" "ppub's line for a message nobody got"
expect_run 0 "" "$P" -c logs -t a/b -n 3 'x'
expect_eq "$(cat err)" "ppub: nobody was subscribed to 'logs' for topic 'a/b'" "one line for three messages"

# Nothing to say: a receiver, a retained value, a queue.
"$BUILD/psub" -v -F "%p" -c logs -t 'a/#' > sub.out 2> sub.err &
wait_for_file_lines sub.err 1
expect_run 0 "" "$P" -c logs -t a/b 'got it'
expect_eq "$(cat err)" "" "stderr of a publish that reached a subscriber"
expect_run 0 "" "$P" -c logs -t other -r 'kept'
expect_eq "$(cat err)" "" "stderr of a retained publish nobody got yet"
expect_run 0 "" "$P" -c jobs 'queued'
expect_eq "$(cat err)" "" "stderr of a queue publish without consumer"

# --strict: refusals, nothing published, no channel made.
expect_run 4 "^ppub: unknown channel 'jobz' \\(a strict publish creates none\\)$" "$P" --strict -c jobz 'x'
expect_eq "$(chan_stat jobz type)" "" "a channel created by a strict publish"
before=$(chan_stat logs messages)
expect_run 3 "^ppub: nobody is subscribed to 'logs' for topic 'b/c'$" "$P" --strict -c logs -t b/c 'x'
expect_run 3 "" "$P" --strict --sync -c logs -t b/c 'x'
expect_run 3 "" "$P" --strict --confirm -c alerts 'x'
expect_eq "$(chan_stat logs messages)" "$before" "messages accepted on logs by refused strict publishes"
expect_run 0 "" "$P" --strict -c logs -t a/strict 'strict and heard'
expect_eq "$(cat err)" "" "stderr of a strict publish that reached a subscriber"
wait_for_file_lines sub.out 2
expect_eq "$(tail -1 sub.out)" "strict and heard" "what the subscriber got"

# A client of protocol 1.0 (a raw one) gets its PONG and no NOTICE; one of
# 1.1 gets NOTICE(corr, CREATED|NOBODY, channel) before it.
cat > raw.py << 'PY'
import struct, sys, zmq
minor, channel = int(sys.argv[2]), sys.argv[3].encode()
def rec(cmd, body): return struct.pack(">IB", 1 + len(body), cmd) + body
def s(b): return struct.pack(">H", len(b)) + b
sock = zmq.Context().socket(zmq.DEALER)
sock.setsockopt(zmq.RCVTIMEO, 5000)
sock.connect(sys.argv[1])
sock.send(rec(0x01, struct.pack(">HBBI", 0x5053, 1, minor, 1000) + s(b"raw")))
assert sock.recv()[4] == 0x02, "no WELCOME"
sock.send(rec(0x10, struct.pack(">QBI", 0, 0, 0) + s(channel) + s(b"t") + struct.pack(">I", 1) + b"x")
          + rec(0x05, struct.pack(">Q", 7)))
seen = []
while 0x06 not in [c for c, _ in seen]:
    f = sock.recv()
    while f:
        n, cmd = struct.unpack(">IB", f[:5])
        seen.append((cmd, f[5:4 + n]))
        f = f[4 + n:]
for cmd, body in seen:
    if cmd == 0x09:
        corr, notes, n = struct.unpack(">QBH", body[:11])
        print("NOTICE", corr, notes, body[11:11 + n].decode())
    else:
        print("cmd", cmd)
PY
/usr/bin/python3 raw.py "$PUBSUB_BROKER" 0 fresh10 > raw10.out || fail "the 1.0 client: $(cat raw10.out)"
expect_eq "$(cat raw10.out)" "cmd 6" "what a 1.0 client got for a publish that created a channel"
/usr/bin/python3 raw.py "$PUBSUB_BROKER" 1 fresh11 > raw11.out || fail "the 1.1 client: $(cat raw11.out)"
expect_eq "$(paste -sd, raw11.out)" "NOTICE 7 3 fresh11,cmd 6" "what a 1.1 client got"
stop_broker

# auto_create = "none": an undeclared channel is refused, and says why.
PORT=$(free_port)
cat > none.conf << EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; auto_create = "none"; };
channels = ( { name = "logs"; type = "pubsub"; } );
EOF
start_broker -c none.conf
expect_run 4 "^ppub: unknown channel 'job' \\(auto_create is \"none\": only declared channels exist\\)$" \
    "$P" -c job 'build 9'
echo "ok: a created channel and nobody subscribed said in one line, --strict refuses both, 1.0 clients get no NOTICE, auto_create none says why"
