#!/bin/bash
# The one-hop rule: a message that came over a link goes to local clients
# only.  In a chain a - b - c whose a - c link cannot come up (each has a
# dead endpoint for the other), c gets none of a's messages although b,
# which has them, is linked to c; `pctl cluster` on a and c says the mesh
# is incomplete, and each message crossed the a - b link exactly once.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster_local.sh"
P=$BUILD/ppub S=$BUILD/psub C=$BUILD/pctl

lc_setup a b c
for n in a b c; do lc_conf $n; done
dead=$(free_port)
sed -i "s|tcp://127.0.0.1:${LC_LINK[c]}|tcp://127.0.0.1:$dead|" a.conf
sed -i "s|tcp://127.0.0.1:${LC_LINK[a]}|tcp://127.0.0.1:$dead|" c.conf
for n in a b c; do lc_start $n; done
wait_until 10 "b's links up" lc_complete b
wait_until 5 "a's link to b up" eval '[ "$(lc_field a b state)" = up ]'
expect_eq "$(lc_on a "$C" --json cluster | jq -c '[.complete, (.peers[] | select(.node == "c") | .state)]')" \
    '[false,"connecting"]' "a's view of the mesh"
expect_eq "$(lc_on c "$C" --json cluster | jq .complete)" false "c's view of the mesh"

lc_on b "$S" -v -F '%p' -c logs --timeout 3000 > sub_b.out 2> sub_b.err &
lc_on c "$S" -v -F '%p' -c logs --timeout 3000 > sub_c.out 2> sub_c.err &
wait_for_file_lines sub_b.err 1
wait_for_file_lines sub_c.err 1
N=1000
lc_on a "$P" -t logs:x -n $N --size 16 || fail "ppub exited $?"
lc_on b "$P" -t logs:x from-b || fail "ppub on b exited $?"
wait_until 10 "b's own message on c" grep -qx from-b sub_c.out
wait_for_file_lines sub_b.out $((N + 1))
expect_eq "$(wc -l < sub_c.out)" 1 "messages on c (b's own only, none of a's)"
expect_eq "$(lc_field a b msgs_out)" $N "messages a sent to b"
expect_eq "$(lc_field b a msgs_in)" $N "messages b took from a"
expect_eq "$(lc_field b c msgs_out)" 1 "messages b sent to c (its own, none of a's)"
echo "ok: a's $N messages crossed a-b once each and never reached c; the mesh is incomplete on a and c"
