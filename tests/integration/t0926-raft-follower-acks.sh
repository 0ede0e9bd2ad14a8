#!/bin/bash
# Issue 21, fault test 5: a consumer on a follower acknowledges, the leader
# is killed: no acknowledged message is delivered again.  10,000 messages
# are confirmed; a consumer (psub -v -c jobs -F json, which acknowledges
# each message after writing it out) runs on follower F.  Once it has
# written 500 it is stopped (SIGSTOP); the messages the group's state on
# the leader no longer holds (pctl channels' replicated_held) are those
# whose ack is committed, K of them, the first K the consumer wrote (psub acknowledges
# in order, and one link carries the acks in order).  The leader is then
# killed (-9) and the consumer continued; a second consumer runs on the
# third node.  Between them they consume all 10,000; none of the K comes
# again; a message consumed twice only flagged redelivered the second time.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
. "$TESTS/integration/raft.sh"
N=10000
raft_start
L=$(raft_leader)
read -r F O <<< "$(others "$L")"
seq -f "m-%.0f" 1 "$N" | on "$L" "$BUILD/ppub" -c jobs --confirm --timeout 10000 || fail "publishing exited $?"

spawn "$F" "$BUILD/psub" -v -c jobs -F json > f.json 2> f.err
C=$SPAWNED
wait_until 30 "500 messages consumed on $F" eval '[ "$(wc -l < f.json)" -ge 500 ]'
kill -STOP "$C"
[ "$(wc -l < f.json)" -lt "$N" ] || fail "the consumer on $F took all $N before it could be stopped"
# psub acknowledges each message after writing it out, in order, and the
# acks are committed in that order; some may still sit in the stopped
# psub's socket.  What the group's state on the leader no longer holds
# (pctl channels' replicated_held), read just before the kill, K, is
# acknowledged and committed: the first K lines written.
written=$(wc -l < f.json)
held_now() { echo "the leader $L holds $(raft_held "$L") of $N, $F holds $(raft_held "$F")"; }
WAIT_CONTEXT=held_now wait_until 10 "the leader to drop acknowledged messages" \
    eval '[ "$(raft_held "$L")" -lt '"$N"' ]'
K=$((N - $(raft_held "$L")))
[ "$K" -ge 1 ] && [ "$K" -le "$written" ] ||
    fail "the leader's group state dropped $K messages, the consumer on $F wrote $written"
head -n "$K" f.json | ids_of /dev/stdin | sort > acked.ids

node_kill "$L"
t_kill=$(ms)
kill -CONT "$C"
spawn "$O" "$BUILD/psub" -v -c jobs -F json > o.json 2> o.err
O_PID=$SPAWNED
node_start "$L"
wait_raft 20 "a leader after the kill" has_leader
# What a timeout shows: how many were consumed, each node's view of the
# group and what the group's state holds on each.
stuck_context() {
    local n
    printf '%s consumed; %s' "$(ids_of f.json o.json | sort -u | wc -l)" "$(raft_views)"
    for n in "${CLUSTER_NODES[@]}"; do
        printf '%s holds %s; ' "$n" "$(raft_held "$n")"
    done
}
WAIT_CONTEXT=stuck_context wait_until 60 "all $N consumed" eval '[ "$(ids_of f.json o.json | sort -u | wc -l)" -ge '"$N"' ]'
took=$(($(ms) - t_kill))
kill -TERM "$C" "$O_PID"
wait "$C" "$O_PID"

seq -f "m-%.0f" 1 "$N" | sort > want.ids
read -r lost dups flagged <<< "$(check_delivered want.ids f.json o.json)"
expect_eq "$lost" 0 "messages lost"
again=$(ids_of f.json o.json | sort | uniq -d | comm -12 - acked.ids | wc -l)
expect_eq "$again" 0 "messages whose ack was committed delivered again"
echo "ok: consumer on follower $F, $written written and $K acks committed when the leader $L was killed:" \
    "all $N consumed $took ms after the kill, 0 of the $K again, $dups twice (all flagged redelivered," \
    "$flagged flagged), new leader $(raft_leader)"
