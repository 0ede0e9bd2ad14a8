#!/bin/bash
# Issue 21, the forwarding path: a publisher and a consumer on a follower,
# with the publisher's window of 1,000 confirms outstanding (ppub
# --confirm's, pbench durable's), lose nothing.  A follower forwards its
# publishes to the leader (LINK_QUEUE PUBLISH) and waits for the leader's
# answer, at most 256 at a time; the leader's 256 proposal slots are shared
# with the ACKs of the consumers' acknowledgements, so it must keep what
# finds them taken: it once refused it, and pbench durable on a follower
# lost 16,632 of 20,000.  A consumer (psub -v -c jobs -F json, acknowledging
# each message) runs on follower F while $N messages are published there
# with --confirm (ppub exits 0 only when every one is committed), then
# $N more without --confirm (which used to go to the leader unanswered and
# were dropped there past its slots).  Every message arrives exactly once,
# or a second time flagged redelivered; figures: the confirmed and the
# unconfirmed rate on the follower.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
. "$TESTS/integration/raft.sh"
N=${RAFT_MSGS:-5000}
raft_start
L=$(raft_leader)
read -r F _ <<< "$(others "$L")"

spawn "$F" "$BUILD/psub" -v -c jobs -F json -n $((2 * N)) > got.json 2> sub.err
SUB=$SPAWNED
wait_until 10 "the consumer on $F subscribed" grep -q "subscribed to" sub.err

t0=$(ms)
seq -f "c-%.0f" 1 "$N" | on "$F" "$BUILD/ppub" -c jobs --confirm --timeout 10000 2> pub-c.err ||
    fail "$N confirmed publishes on the follower $F exited $?: $(head -n 3 pub-c.err)"
t_confirmed=$(($(ms) - t0))
t0=$(ms)
seq -f "u-%.0f" 1 "$N" | on "$F" "$BUILD/ppub" -c jobs 2> pub-u.err ||
    fail "$N publishes without confirm on the follower $F exited $?: $(head -n 3 pub-u.err)"
t_unconfirmed=$(($(ms) - t0))

arrived() { echo "$(wc -l < got.json) of $((2 * N)) arrived on $F; $(grep -h -m 2 'refused\|dropped' "$SCRATCH"/[abc].log)"; }
WAIT_CONTEXT=arrived wait_until 30 "every message at the consumer on $F" \
    eval '[ "$(wc -l < got.json)" -ge $((2 * N)) ]'
wait "$SUB" || fail "the consumer on $F exited $?: $(tail -n 2 sub.err)"

{ seq -f "c-%.0f" 1 "$N"; seq -f "u-%.0f" 1 "$N"; } | sort > want.ids
read -r lost dups flagged <<< "$(check_delivered want.ids got.json)"
expect_eq "$lost" 0 "messages lost"
refused=$(cat "$SCRATCH"/[abc].log | grep -c 'refused\|dropped')
expect_eq "$refused" 0 "log lines of refused or dropped messages"
echo "ok: publisher and consumer on follower $F (leader $L): $N confirmed in $t_confirmed ms" \
    "($((N * 1000 / (t_confirmed > 0 ? t_confirmed : 1))) msg/s, window 1,000), $N unconfirmed in" \
    "$t_unconfirmed ms ($((N * 1000 / (t_unconfirmed > 0 ? t_unconfirmed : 1))) msg/s); all" \
    "$((2 * N)) consumed, $dups twice (flagged)"
