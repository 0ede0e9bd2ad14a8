#!/bin/bash
# Issue 20, experiment 10: a queue homed on A ('jobs', home = "a").  A
# consumer on C takes the first 200 messages sent on A, then is stopped
# (SIGSTOP: it holds what its node handed it, unacknowledged); the rest of
# 2,000 ($CLUSTER_MSGS) are sent half on A, half on B; a consumer on B
# starts, and the one on C is killed (-9): every message is consumed, what
# C held comes back flagged ("redelivered" in psub -F json -v; at least
# one, since C was stopped with messages in hand), and a message consumed
# twice only as such a redelivery.  `pctl channels --json` on B says the
# queue's home is "a".  Then A is killed: a send on B fails at once
# (within 1 s) with "unavailable" and a nonzero exit.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
N=${CLUSTER_MSGS:-2000}
cluster_start
expect_eq "$(on b "$BUILD/pctl" channels --json | jq -r '.[] | select(.name == "jobs") | .home')" a "jobs' home on B"
spawn c "$BUILD/psub" -v -c jobs -F json > c.out 2> c.err
C=$SPAWNED
wait_for_file_lines c.err 1
consuming() { # PID FILE N: true once FILE has N lines; fails if PID ended first
    [ -f "$2" ] && [ "$(wc -l < "$2")" -ge "$3" ] && return 0
    kill -0 "$1" 2> /dev/null || { wait "$1"; fail "the consumer exited $? before $3 messages: $(cat "${2%.out}.err")"; }
    return 1
}
seq 1 200 | sed 's/^/a-/' | on a "$BUILD/ppub" -c jobs || fail "sending on a exited $?"
wait_until 20 "200 messages consumed on C" consuming "$C" c.out 200
kill -STOP "$C"
seq 201 $((N / 2)) | sed 's/^/a-/' | on a "$BUILD/ppub" -c jobs || fail "sending on a exited $?"
seq 1 $((N / 2)) | sed 's/^/b-/' | on b "$BUILD/ppub" -c jobs || fail "sending on b exited $?"
spawn b "$BUILD/psub" -v -c jobs -F json > b.out 2> b.err
B=$SPAWNED
wait_for_file_lines b.err 1
kill -KILL "$C"
wait "$C" 2> /dev/null
c_got=$(wc -l < c.out)
wait_until 30 "every message consumed" \
    eval '[ "$(cat b.out c.out | jq -r .payload | sort -u | wc -l)" -ge '"$N"' ]'
expect_eq "$(cat b.out c.out | jq -r .payload | sort -u | wc -l)" "$N" "distinct messages consumed"
# A message seen twice: its later copy (B's, after C died) is redelivered.
dups=$(cat c.out b.out | jq -r .payload | sort | uniq -d)
redelivered=$(jq -r 'select(.redelivered) | .payload' b.out | sort)
for p in $dups; do
    grep -qx "$p" <<< "$redelivered" || fail "message $p consumed twice, the second time not flagged redelivered"
done
[ -n "$redelivered" ] || fail "nothing came back flagged redelivered from the consumer killed on C (it consumed $(wc -l < c.out))"
kill -TERM "$B"
wait "$B"

# The home down: refused at once on B.
node_kill a
wait_until 5 "B to count A down" eval '! link_up b a'
t0=$(ms)
on b "$BUILD/ppub" -c jobs --timeout 5000 "home down" > /dev/null 2> unavail.err
rc=$?
took=$(($(ms) - t0))
[ "$rc" != 0 ] || fail "a send to the queue with its home down exited 0"
grep -q unavailable unavail.err || fail "a send with the queue's home down said: $(cat unavail.err)"
[ "$took" -le 1000 ] || fail "the send with the queue's home down took $took ms to fail"
echo "ok: queue homed on A, $N sent on A and B, C killed after $c_got: all $N consumed," \
    "$(echo "$dups" | grep -c .) consumed twice, $(echo "$redelivered" | grep -c .) flagged redelivered;" \
    "home down: refused in $took ms ($(cat unavail.err))"
