#!/bin/bash
# Protocol 1.2's batches: plain publishes that wait together in
# libpubsub's send queue leave as one PUBLISH_BATCH per channel and topic,
# the broker sends a subscriber its run of a channel's messages as
# DELIVER_BATCH records, and every message still reaches the subscriber
# once, in order, with its own consecutive sequence number.  A client
# that speaks 1.1 (PUBSUB_PROTOCOL_MINOR=1) sends PUBLISH records, gets
# DELIVER records and is served as before.
# The last round stops the subscriber on a "block" channel with a small
# client_buffer, so that the broker makes the publisher wait, in the
# middle of a batch, and what is left of the batch is published later.
# On the code before batches no batch is ever sent.
. "$(dirname "$0")/lib.sh"

N=${N:-20000}
PORT=$(free_port)
cat > b.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data";
           client_buffer = 65536; };
channels = ( { name = "b"; type = "pubsub"; slow_subscriber = "block"; } );
EOF2
start_broker -c b.conf -v

# One round: a psub (in the environment ENV) of N messages, then a ppub of
# the lines 1..N with --explain; ROUND names the files.
round() { # ROUND ENV...
    local r=$1
    shift
    env "$@" "$BUILD/psub" -v --explain -c b -t x -n "$N" -F '%s %p' --timeout 60000 \
        > "$r.out" 2> "$r.sub" &
    local sub=$!
    wait_until 10 "the $r subscription" grep -q "subscribed to" "$r.sub"
    seq 1 "$N" | env "$@" "$BUILD/ppub" -c b -t x --explain 2> "$r.explain" \
        || fail "$r: ppub failed: $(grep -v ' -> ' "$r.explain" | head -3)"
    wait "$sub" || fail "$r: psub exited $?: $(cat "$r.sub")"
    local bad
    bad=$(check_order "$r.out" "$N")
    [ -z "$bad" ] || fail "$r: $bad"
}

round new
batches=$(grep -c "PUBLISH_BATCH of [0-9]*$" new.explain)
packed=$(sed -n 's/.*PUBLISH_BATCH of \([0-9]*\)$/\1/p' new.explain | awk '{ s += $1 } END { print s + 0 }')
[ "$batches" -ge 1 ] || fail "no PUBLISH_BATCH left the new client: $(grep ' -> broker' new.explain | sort | uniq -c | head -3)"
[ "$batches" -lt "$N" ] || fail "$batches batches for $N messages: nothing was packed"
singles=$(grep -c "PUBLISH #[0-9]* sent$" new.explain)
expect_eq "$((packed + singles))" "$N" "messages sent in batches ($packed in $batches) and alone"
grep -q "DELIVER_BATCH, deliveries" new.sub || fail "no DELIVER_BATCH reached the 1.2 subscriber"

round old PUBSUB_PROTOCOL_MINOR=1
grep -q "PUBLISH_BATCH" old.explain && fail "a client of protocol 1.1 sent a PUBLISH_BATCH"
expect_eq "$(grep -c "PUBLISH #[0-9]* sent$" old.explain)" "$N" "PUBLISH records of the 1.1 client"
grep -q "DELIVER_BATCH" old.sub && fail "a subscriber of protocol 1.1 got a DELIVER_BATCH"
expect_eq "$(grep -c "DELIVER, delivery #" old.sub)" "$N" "DELIVER records to the 1.1 subscriber"

# A stopped subscriber on the block channel: psub is stopped (SIGSTOP)
# once messages flow, the broker's buffer for it fills and the publisher
# waits, parked in the middle of a batch; once that is in the log psub
# goes on, and what was left of the batch is published after the rest.
M=${M:-300000}
pad=$(printf '%0200d' 0)
"$BUILD/psub" -v -c b -t x -n "$M" -F '%s %p' --timeout 60000 > slow.out 2> slow.sub &
sub=$!
wait_until 10 "the stopped subscription" grep -q "subscribed to" slow.sub
seq -f "%.0f $pad" 1 "$M" | "$BUILD/ppub" -c b -t x --timeout 60000 --explain 2> slow.explain &
pub=$!
wait_for_file_lines slow.out 1000 30
kill -STOP "$sub"
wait_for_log "publisher slowed" 20
kill -CONT "$sub"
wait "$pub" || fail "stopped: ppub failed: $(grep -v ' -> ' slow.explain | head -3)"
wait "$sub" || fail "stopped: psub exited $?"
bad=$(check_order slow.out "$M")
[ -z "$bad" ] || fail "stopped: $bad"
grep -q "sent in one PUBLISH_BATCH" slow.explain || fail "stopped: no batch of several was sent"
echo "ok: $N messages in order with consecutive sequence numbers from a 1.2 client ($packed in $batches batches, delivered in DELIVER_BATCH records) and a 1.1 client; $M from a publisher parked by a stopped block receiver"
