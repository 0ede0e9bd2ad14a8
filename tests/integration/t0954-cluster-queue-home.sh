#!/bin/bash
# A queue with a home: "jobs" is held by node a.  Messages published to it
# on node b go to a's queue and its consumers, each exactly once;
# `pctl channels` names the home; a consumer on b is served through b,
# which attaches to a's queue as one consumer (a counts one subscriber);
# that consumer stopped and killed (-9) with messages in hand, they come
# back at a and are consumed there, each flagged redelivered; with a
# down, a publisher and a consumer on b are refused at once with
# "unavailable" and exit 4, and once a is back, publishing on b works
# again.
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

subscribers_on_a() {
    lc_on a "$C" --json channels | jq '.[] | select(.name == "jobs") | .subscribers'
}
# psub itself, not a subshell running it: it is stopped and killed below.
PUBSUB_BROKER=tcp://127.0.0.1:${LC_PORT[b]} "$S" -v -F json -c jobs > kb.out 2> kb.err &
kb=$!
wait_until 10 "b's consumer active" eval 'grep -q . kb.err'
wait_until 10 "b attached to a's queue" eval '[ "$(subscribers_on_a)" = 1 ]'
kill -STOP $kb
seq 1 300 | sed 's/^/m-/' | lc_on b "$P" -c jobs || fail "ppub -c jobs on b exited $?"
# psub's window is 100 (psub(1)): b holds that many of a's, in psub's hands.
unacked() { # NODE
    lc_on "$1" "$C" --json channels | jq '.[] | select(.name == "jobs") | .unacked'
}
wait_until 10 "100 messages held through b" eval '[ "$(unacked a)" = 100 ] && [ "$(unacked b)" = 100 ]'
held=$(unacked a)
kill -KILL $kb
wait $kb 2> /dev/null
wait_until 10 "b detached from a's queue" eval '[ "$(subscribers_on_a)" = 0 ]'
lc_on a "$S" -v -F json -c jobs -n 300 --timeout 5000 > ka.out 2> ka.err ||
    fail "the consumer on a exited $?: $(cat ka.err)"
expect_eq "$(cat kb.out ka.out | jq -r .payload | sort -u | wc -l)" 300 "distinct messages consumed"
flagged=$(jq -r 'select(.redelivered) | .payload' ka.out | wc -l)
# Stopped before the first message, it consumed none of what it held.
expect_eq "$(wc -l < kb.out)" 0 "messages consumed by the stopped consumer"
expect_eq "$flagged" "$held" "messages b held that came back to a flagged redelivered"

lc_kill a
wait_until 10 "b's link to a down" eval '[ "$(lc_field b a state)" = down ]'
t0=$(date +%s%N)
expect_run 4 "unavailable: its home node a is not reachable" lc_on b "$P" -c jobs "lost?"
ms=$((($(date +%s%N) - t0) / 1000000))
expect_run 4 "unavailable: its home node a is not reachable" lc_on b "$S" -c jobs -n 1 --timeout 2000
[ "$ms" -lt 2000 ] || fail "the refusal took $ms ms"
lc_start a
wait_until 20 "the link up again" eval 'lc_complete a && lc_complete b'
lc_on b "$P" -c jobs "after" || fail "ppub -c jobs on b after a came back exited $?"
lc_on a "$S" -F '%p' -c jobs -n 1 --timeout 5000 > q3.out || fail "consumer on a after the restart exited $?"
expect_eq "$(cat q3.out)" after "the message published on b after a came back"
echo "ok: 400 messages published on b consumed on a once each; a consumer on b killed" \
    "holding $held: $flagged came back to a flagged redelivered; home down refused in $ms ms"
