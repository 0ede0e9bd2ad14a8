#!/bin/bash
# Protocol 1.3's ACK_BATCH: a consumer that handles a burst of queue
# messages sends their acknowledgements together, in few ACK_BATCH
# records instead of one ACK (and one frame) per message, and the broker
# takes every one of them: the queue ends empty, nothing unacknowledged,
# nothing redelivered.  A client that speaks 1.2
# (PUBSUB_PROTOCOL_MINOR=2) sends ACK records and is served as before.
# On the code before ACK_BATCH every acknowledgement left alone.
. "$(dirname "$0")/lib.sh"

N=${N:-20000}
start_broker
# The queue "jobs" of the test broker, as pctl shows it: QUEUED UNACKED REDELIVERED.
queue_state() {
    "$BUILD/pctl" channels | awk '$1 == "jobs" { print $4, $5, $10 }'
}

round() { # ROUND ENV...
    local r=$1
    shift
    seq 1 "$N" | "$BUILD/ppub" -c jobs || fail "$r: ppub exited $?"
    env "$@" "$BUILD/psub" -c jobs -n "$N" --timeout 30000 --explain > "$r.out" 2> "$r.explain" \
        || fail "$r: psub exited $?: $(grep -v ' -> ' "$r.explain" | head -3)"
    expect_eq "$(wc -l < "$r.out")" "$N" "$r: messages consumed"
    expect_eq "$(sort -n "$r.out" | uniq | wc -l)" "$N" "$r: distinct messages"
    # psub's --explain runs to its end before it exits: its acknowledgements were sent.
    wait_until 10 "$r: every acknowledgement taken" test "$(queue_state)" = "0 0 0"
}

round new
batches=$(grep -c "ACKs sent in one ACK_BATCH$" new.explain)
packed=$(sed -n 's/.* \([0-9]*\) ACKs sent in one ACK_BATCH$/\1/p' new.explain | awk '{ s += $1 } END { print s + 0 }')
singles=$(grep -c "ACK of .* sent$" new.explain)
expect_eq "$((packed + singles))" "$N" "acknowledgements sent in ACK_BATCH records ($packed in $batches) and alone"
[ "$((batches + singles))" -le "$((N / 10))" ] ||
    fail "$batches ACK_BATCH and $singles ACK records for $N messages: the acknowledgements were not packed"

round old PUBSUB_PROTOCOL_MINOR=2
grep -q "ACK_BATCH" old.explain && fail "a client of protocol 1.2 sent an ACK_BATCH"
expect_eq "$(grep -c "ACK of .* sent$" old.explain)" "$N" "ACK records of the 1.2 client"
echo "ok: $N acknowledgements in $((batches + singles)) records ($batches ACK_BATCH) from a 1.3 consumer, $N ACK records from a 1.2 one; the queue ends empty both times"
