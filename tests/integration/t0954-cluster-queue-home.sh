#!/bin/bash
# A queue with a home: "jobs" is held by node a.  Messages published to it
# on node b go to a's queue and its consumers, each exactly once;
# `pctl channels` names the home; a consumer on b is told to attach at a;
# with a down, a publisher on b is refused at once with "unavailable" and
# exit 4, and once a is back, publishing on b works again.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster_local.sh"
P=$BUILD/ppub S=$BUILD/psub C=$BUILD/pctl

lc_setup a b
for n in a b; do lc_conf $n; done
for n in a b; do lc_start $n; done
wait_until 20 "the link up" eval 'lc_complete a && lc_complete b'
expect_eq "$(lc_on b "$C" --json channels | jq -r '.[] | select(.name == "jobs") | .home')" a \
    "jobs' home seen from b"

lc_on a "$S" -F '%p' -c jobs -n 200 --timeout 10000 > q1.out 2> q1.err &
q1=$!
lc_on a "$S" -F '%p' -c jobs -n 200 --timeout 10000 > q2.out 2> q2.err &
q2=$!
wait_until 10 "two consumers on a" eval '[ "$(lc_on a "$C" --json channels | jq ".[] | select(.name == \"jobs\") | .subscribers")" = 2 ]'
lc_on b "$P" -c jobs -n 400 --size 16 --confirm || fail "ppub -c jobs on b exited $?"
wait $q1 || fail "consumer 1 on a exited $?"
wait $q2 || fail "consumer 2 on a exited $?"
expect_eq "$(cat q1.out q2.out | sort | uniq | wc -l)" 400 "distinct messages consumed on a"
expect_eq "$(cat q1.out q2.out | wc -l)" 400 "messages consumed on a, each once"

expect_run 4 "held by node a: its consumers attach there" lc_on b "$S" -c jobs -n 1 --timeout 2000

lc_kill a
wait_until 10 "b's link to a down" eval '[ "$(lc_field b a state)" = down ]'
t0=$(date +%s%N)
expect_run 4 "unavailable: its home node a is not reachable" lc_on b "$P" -c jobs "lost?"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 2000 ] || fail "the refusal took $ms ms"
lc_start a
wait_until 20 "the link up again" eval 'lc_complete a && lc_complete b'
lc_on b "$P" -c jobs "after" || fail "ppub -c jobs on b after a came back exited $?"
lc_on a "$S" -F '%p' -c jobs -n 1 --timeout 5000 > q3.out || fail "consumer on a after the restart exited $?"
expect_eq "$(cat q3.out)" after "the message published on b after a came back"
echo "ok: 400 messages published on b consumed on a once each; home down refused in $ms ms"
