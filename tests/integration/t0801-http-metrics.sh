#!/bin/bash
# /metrics: Prometheus's text format 0.0.4, accepted by promtool; per
# channel (labels channel and type) the messages in and out, bytes,
# queued, unacked, dropped, redelivered, subscribers and retained topics;
# per broker the clients, refusals by reason, the fsync and loop-turn
# histograms and the resident memory.
. "$(dirname "$0")/lib.sh"
command -v promtool > /dev/null || fail "promtool (Debian's prometheus) is not installed"
http_conf '{ name = "jobs"; type = "queue"; durable = true; }, { name = "logs"; type = "pubsub"; }' \
    'fsync = "always";'
start_broker -c b.conf
U=http://127.0.0.1:$HTTP
"$BUILD/ppub" --confirm -c jobs one two three || fail "ppub exited $?"
"$BUILD/ppub" -c logs -t a/b --retain -n 2 hello || fail "ppub exited $?"
# A client of another protocol version is refused, and counted by reason.
/usr/bin/python3 - "$PUBSUB_BROKER" << 'PY' || fail "the HELLO of version 9 was not refused"
import os, sys, zmq
sys.path.insert(0, os.environ["TESTS"] + "/tools")
import pswire as w
s = zmq.Context().socket(zmq.DEALER); s.setsockopt(zmq.LINGER, 0); s.connect(sys.argv[1])
s.send(w.hello(major=9))
assert s.poll(5000), "no answer"
cmd, body = w.records(s.recv())[0]
sys.exit(0 if cmd == w.ERROR and w.error_of(body)[1] == "VERSION" else 1)
PY

curl -sf -D headers "$U/metrics" > metrics.txt || fail "GET /metrics failed"
grep -qi '^content-type: text/plain; version=0.0.4' headers || fail "Content-Type: $(grep -i content-type headers)"
promtool check metrics < metrics.txt > promtool.out 2>&1 || fail "promtool: $(head -5 promtool.out)"

m() { # the value of a sample, its name and labels as written
    awk -v k="$1" '$1 == k { print $2 }' metrics.txt
}
expect_eq "$(m 'pubsub_channel_messages_in_total{channel="jobs",type="queue"}')" 3 "messages in on jobs"
expect_eq "$(m 'pubsub_channel_queued_messages{channel="jobs",type="queue"}')" 3 "queued on jobs"
expect_eq "$(m 'pubsub_channel_in_bytes_total{channel="jobs",type="queue"}')" 11 "bytes in on jobs"
expect_eq "$(m 'pubsub_channel_messages_in_total{channel="logs",type="pubsub"}')" 2 "messages in on logs"
expect_eq "$(m 'pubsub_channel_retained_topics{channel="logs",type="pubsub"}')" 1 "retained on logs"
expect_eq "$(m 'pubsub_connections_refused_total{reason="version"}')" 1 "refusals for the version"
expect_eq "$(m 'pubsub_connections_refused_total{reason="max_clients"}')" 0 "refusals for max_clients"
for f in messages_out_total out_bytes_total unacked_messages dropped_total redelivered_total subscribers; do
    [ -n "$(m "pubsub_channel_${f}{channel=\"logs\",type=\"pubsub\"}")" ] || fail "no pubsub_channel_$f for logs"
done
# Three confirmed messages on a durable queue with fsync "always": synced.
fsyncs=$(m pubsub_store_fsync_duration_seconds_count)
[ "${fsyncs:-0}" -ge 1 ] || fail "fsyncs counted: '$fsyncs'"
expect_eq "$(m 'pubsub_store_fsync_duration_seconds_bucket{le="+Inf"}')" "$fsyncs" "the +Inf bucket"
turns=$(m pubsub_loop_turn_duration_seconds_count)
[ "${turns:-0}" -ge 10 ] || fail "loop turns counted: '$turns'"
rss=$(m process_resident_memory_bytes)
[ "${rss:-0}" -gt 1000000 ] || fail "resident memory: '$rss'"

# A consumer that says BYE holding a message unacked: the queue counts the
# redelivery.
/usr/bin/python3 - "$PUBSUB_BROKER" << 'PY' || fail "no delivery on jobs"
import os, sys, zmq
sys.path.insert(0, os.environ["TESTS"] + "/tools")
import pswire as w
s = zmq.Context().socket(zmq.DEALER); s.setsockopt(zmq.LINGER, 1000); s.connect(sys.argv[1])
s.send(w.hello()); s.send(w.subscribe(1, "jobs", "", window=1))
while s.poll(5000):
    if any(cmd == w.DELIVER for cmd, _ in w.records(s.recv())):
        s.send(w.record(w.BYE)); s.close(); sys.exit(0)
sys.exit(1)
PY
wait_until 10 "a redelivery on jobs" eval \
    "curl -sf '$U/metrics' | grep -q '^pubsub_channel_redelivered_total{channel=\"jobs\",type=\"queue\"} [1-9]'"
stop_broker || fail "brokerd exited $?"
echo "ok: promtool accepts /metrics; channel, refusal, fsync, loop and memory figures"
