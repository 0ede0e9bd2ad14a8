#!/bin/bash
# A cluster of three brokerd nodes on 127.0.0.1 (tests/integration/
# cluster_local.sh), started in the order c, a, b: every link is up soon
# after the last node starts; a message published on any node reaches the
# matching subscribers of every node exactly once, in its publisher's
# order, and crosses a link only to a node with a matching subscriber;
# broadcast channels too; `pctl cluster` and `pctl channels` show the
# links and remote subscribers; a subscriber's OK waits until the peers
# know of it, so a message published on another node right after it is
# never missed.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster_local.sh"
P=$BUILD/ppub S=$BUILD/psub C=$BUILD/pctl

lc_setup a b c
for n in a b c; do lc_conf $n; done
for n in c a; do lc_start $n; done
t0=$(date +%s%N)
lc_start b
wait_until 20 "every link up" eval 'lc_complete a && lc_complete b && lc_complete c'
up_ms=$((($(date +%s%N) - t0) / 1000000))
for n in a b c; do
    grep -q "cluster: link to" $n.log || fail "node $n logged no link up: $(cat $n.log)"
done
lc_on a "$C" --json cluster > a.json || fail "pctl cluster --json exited $?"
expect_eq "$(jq -r '[.cluster, .node, .complete, (.peers | map(.node + ":" + .state) | join(","))] | join(" ")' a.json)" \
    "site a true b:up,c:up" "pctl cluster --json on a"
expect_eq "$(jq -r '.peers[0] | [has("rtt_us"), has("interest_in"), has("interest_out"), has("msgs_in"), has("msgs_out"), has("bytes_in"), has("bytes_out"), has("drops"), has("gaps")] | all' a.json)" \
    true "every field of a peer"
lc_on a "$C" cluster > a.txt || fail "pctl cluster exited $?"
grep -Eq '^b +tcp://127.0.0.1:[0-9]+ +up' a.txt || fail "pctl cluster's table: $(cat a.txt)"

# Subscribers: amd64 on a, everything on b, arm on c.
lc_on a "$S" -v -F '%p' -t 'logs:amd64/#' --timeout 10000 > sub_a.out 2> sub_a.err &
lc_on b "$S" -v -F '%p' -c logs --timeout 10000 > sub_b.out 2> sub_b.err &
lc_on b "$S" -v -F '%p' -t 'logs:amd64/#' --timeout 10000 > sub_b2.out 2> sub_b2.err &
lc_on c "$S" -v -F '%p' -t 'logs:arm/#' --timeout 10000 > sub_c.out 2> sub_c.err &
for n in a b b2 c; do wait_for_file_lines sub_$n.err 1; done
expect_eq "$(lc_on a "$C" --json channels | jq '.[] | select(.name == "logs") | .remote_subscribers')" 2 \
    "remote subscribers of logs seen from a"
expect_eq "$(lc_on b "$C" --json channels | jq -r '.[] | select(.name == "jobs") | .home')" a \
    "the home of queue jobs"

# 2000 amd64 messages from a, 1000 arm messages from b, at once.
lc_on a "$P" -t logs:amd64/sshd -n 2000 --size 32 &
pa=$!
lc_on b "$P" -t logs:arm/cron -n 1000 --size 32 &
pb=$!
wait $pa || fail "ppub on a exited $?"
wait $pb || fail "ppub on b exited $?"
wait_for_file_lines sub_a.out 2000 20
wait_for_file_lines sub_b.out 3000 20
wait_for_file_lines sub_c.out 1000 20
# One more message from c, after all of them on its link to a and b: once
# it arrived, nothing else is on the way.
lc_on c "$P" -t logs:amd64/end last 2> last.err || fail "ppub on c exited $?: $(cat last.err)"
# Its only subscribers are on other nodes: that is not "nobody".
[ -s last.err ] && fail "ppub on c, with subscribers on a and b only: $(cat last.err)"
wait_until 10 "c's last message on a and b" eval 'grep -qx last sub_a.out && grep -qx last sub_b.out'
expect_eq "$(wc -l < sub_a.out)" 2001 "messages on a (its own amd64 ones and c's last)"
expect_eq "$(wc -l < sub_b.out)" 3001 "messages on b (all)"
expect_eq "$(wc -l < sub_c.out)" 1000 "messages on c (b's arm ones)"
expect_eq "$(sort sub_b2.out | uniq -d | wc -l)" 0 "duplicates of a's messages on b"
# ppub --size begins each message with its index: a's messages on b and
# b's on c, each in its publisher's order.
order() { awk '$0 != "last" { i = $1 + 0; if (i != n) { print "index " i " after " n - 1; exit 1 } n++ }'; }
order < sub_b2.out || fail "a's messages on b out of order"
order < sub_c.out || fail "b's messages on c out of order"
lc_on b "$C" --json cluster > b.json
expect_eq "$(jq -r '.peers[] | select(.node == "a") | .msgs_in' b.json)" 2000 "messages b took from a"
expect_eq "$(lc_field a c msgs_out)" 0 "messages a sent to c (nobody there wants amd64)"
expect_eq "$(lc_field b c msgs_out)" 1000 "messages b sent to c (its arm ones)"
expect_eq "$(lc_field c a msgs_out)" 1 "messages c sent to a (amd64/end: a wants amd64)"
expect_eq "$(lc_field c b msgs_out)" 1 "messages c sent to b (b wants all)"
bytes=$(lc_field a b bytes_out)

# Broadcast crosses too.
lc_on c "$S" -v -F '%p' -c alerts -n 1 --timeout 5000 > bc.out 2> bc.err &
pc=$!
wait_for_file_lines bc.err 1
lc_on a "$P" -c alerts "fire" || fail "ppub on alerts exited $?"
wait $pc || fail "psub on c's alerts exited $?"
expect_eq "$(cat bc.out)" fire "a broadcast message from a on c"

# Subscribe on b, publish on a at once: the OK waited for a's ack.
rounds=30
for i in $(seq $rounds); do
    lc_on b "$S" -v -F '%p' -t "logs:round/$i" -n 1 --timeout 3000 > r$i.out 2> r$i.err &
    pr=$!
    wait_for_file_lines r$i.err 1
    lc_on a "$P" -t "logs:round/$i" "r$i" || fail "ppub round $i exited $?"
    wait $pr || fail "round $i: the message published on a right after the OK on b was missed"
    expect_eq "$(cat r$i.out)" "r$i" "round $i"
done
# The OK really waits: with a frozen (its link still up until the
# timeout), b's subscriber is not told it is subscribed until a took the
# interest; then a's message right after reaches it.
kill -STOP "${LC_PID[a]}"
lc_on b "$S" -v -F '%p' -t "logs:frozen/x" -n 1 --timeout 5000 > fz.out 2> fz.err &
pf=$!
read -r -t 0.5 <> <(:) || true
[ -s fz.err ] && { kill -CONT "${LC_PID[a]}"; fail "b's subscriber got its OK while a could not know of it: $(cat fz.err)"; }
kill -CONT "${LC_PID[a]}"
wait_for_file_lines fz.err 1
lc_on a "$P" -t "logs:frozen/x" thawed || fail "ppub after the thaw exited $?"
wait $pf || fail "the message published on a after the delayed OK was missed"
expect_eq "$(cat fz.out)" thawed "the message after the delayed OK"
echo "ok: links up ${up_ms} ms after the last node started; 3000 messages to 3 nodes exactly once; $rounds/$rounds subscribe-then-publish rounds; $bytes link bytes a->b"
