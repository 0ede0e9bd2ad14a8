#!/bin/bash
# Issue 20, experiment 8: a partition.  A publishes 15,000 messages at
# 1,000 msg/s on the drop channel 'feed'; A-C is cut from B's 2,000th to
# its 12,000th (10 s, $CLUSTER_CUT_S), so C is cut off from A (B does not
# pass A's messages on).  On C, messages received + gaps reported ("psub:
# missed N messages") = exactly what A published, none twice; B gets all.
# During the cut each side keeps serving: retained values are set on A and
# on C (one topic on both, C later: it must win by the clock of the
# cluster, not by who reconnects), one cleared on A; within 1 s of the heal
# every node has the same retained values.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
CUT=${CLUSTER_CUT_S:-10}
RATE=1000
N=$(((CUT + 5) * RATE))
cluster_start
on a "$BUILD/ppub" -t logs:cfg/old -r "before" || fail "retain on a exited $?"
on a "$BUILD/ppub" -t logs:cfg/both -r "from a, before" || fail "retain on a exited $?"
retained() { # NODE: its retained cfg/ values, sorted
    on "$1" "$BUILD/psub" -t 'logs:cfg/#' -F '%t=%p' --timeout 300 2> /dev/null | sort
}
wait_until 5 "the retained values on C" eval '[ "$(retained c | wc -l)" = 2 ]'

for n in b c; do
    spawn "$n" "$BUILD/psub" -v -t 'feed:#' -F '%p' > "sub-$n.out" 2> "sub-$n.err"
    eval "SUB_$n=\$SPAWNED"
    wait_for_file_lines "sub-$n.err" 1
done
spawn a "$BUILD/ppub" -t feed:p -n "$N" --size 32 --rate "$RATE"
PUB=$SPAWNED
wait_for_file_lines sub-b.out $((2 * RATE)) 20
cut a c
t_cut=$(ms)
# Each side serves its clients: retained values set on both sides.
on a "$BUILD/ppub" -t logs:cfg/a -r "set on a" || fail "retain on a exited $? during the cut"
on a "$BUILD/ppub" -t logs:cfg/old -r "" || fail "clearing on a exited $? during the cut"
on a "$BUILD/ppub" -t logs:cfg/both -r "from a, during" || fail "retain on a exited $? during the cut"
on c "$BUILD/ppub" -t logs:cfg/c -r "set on c" || fail "retain on c exited $? during the cut"
on c "$BUILD/ppub" -t logs:cfg/both -r "from c, later" || fail "retain on c exited $? during the cut"
wait_for_file_lines sub-b.out $(((2 + CUT) * RATE)) $((CUT + 20))
# Asked of the broker (pctl retained answers at once, where a psub would
# wait out its idle timeout and the figure would measure the polling): a
# node's retained topics with their sizes, which tell this test's values
# apart; the values themselves are compared after.
sizes() { # NODE
    on "$1" "$BUILD/pctl" --json retained logs 'cfg/#' 2> /dev/null |
        jq -r 'sort_by(.topic) | map(.topic + "=" + (.bytes | tostring)) | join(" ")'
}
heal a c
t_heal=$(ms)
# B kept both of its links through the cut: A and C are the ones to watch.
want="cfg/a=8 cfg/both=13 cfg/c=8"
wait_until 10 "the retained topics to agree" eval '[ "$(sizes c)" = "$want" ] && [ "$(sizes a)" = "$want" ]'
agree=$(($(ms) - t_heal))
wait_until 10 "the retained values to agree" \
    eval '[ "$(retained a)" = "$(retained b)" ] && [ "$(retained b)" = "$(retained c)" ] && [ "$(retained a | wc -l)" = 3 ]'
expect_eq "$(retained c | tr '\n' ' ')" "cfg/a=set on a cfg/both=from c, later cfg/c=set on c " "retained values after the heal"
[ "$agree" -le 1000 ] || fail "the retained values agreed $agree ms after the heal (want <= 1000)"
wait "$PUB" || fail "the publisher on a exited $?"
# The end marker: after it, C has everything it will get or be told of.
on a "$BUILD/ppub" -t feed:end "end" || fail "ppub on a exited $?"
for n in b c; do wait_until 20 "the end marker on $n" grep -qx end "sub-$n.out"; done
kill -TERM "$SUB_b" "$SUB_c"
wait "$SUB_b" "$SUB_c"
got_b=$(grep -cv '^end$' sub-b.out)
expect_eq "$got_b" "$N" "messages B received"
got_c=$(grep -cv '^end$' sub-c.out)
gaps=$(sed -n 's/.*missed \([0-9]*\) messages.*/\1/p' sub-c.err | awk '{ s += $1 } END { print s + 0 }')
expect_eq "$((got_c + gaps))" "$N" "received ($got_c) + reported gaps ($gaps) on C"
expect_eq "$(grep -v '^end$' sub-c.out | sort | uniq -d | wc -l)" 0 "messages C received twice"
[ "$gaps" -gt 0 ] || fail "C reported no gap for a ${CUT} s cut"
echo "ok: A-C cut $(((t_heal - t_cut) / 1000)) s at $RATE msg/s: C received $got_c + gaps $gaps = $N published;" \
    "retained values agreed $agree ms after the heal (C's later value won)"
