#!/bin/bash
# Issue 20, experiment 9: 10 % packet loss on every link (nftables numgen
# on every node's veth).  A publisher on each node, 10,000 messages each
# ($CLUSTER_MSGS), a subscriber of '#' on each node: every subscriber gets
# every message exactly once, each publisher's in order, no gap reported.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
N=${CLUSTER_MSGS:-10000}
cluster_start
loss 10
subs=()
for n in a b c; do
    spawn "$n" "$BUILD/psub" -v -t 'logs:#' -F '%t %p' -n $((3 * N)) --timeout 30000 > "sub-$n.out" 2> "sub-$n.err"
    subs+=("$SPAWNED")
    wait_for_file_lines "sub-$n.err" 1 20
done
t0=$(ms)
pubs=()
for n in a b c; do
    spawn "$n" "$BUILD/ppub" -t "logs:p$n" -n "$N" --size 64
    pubs+=("$SPAWNED")
done
for p in "${pubs[@]}"; do wait "$p" || fail "a publisher exited $?"; done
for p in "${subs[@]}"; do wait "$p" || fail "a subscriber exited $? (3: fewer than $((3 * N)) in time)"; done
took=$(($(ms) - t0))
dropped=0
for n in a b c; do
    expect_eq "$(stream_check "sub-$n.out")" "$((3 * N)) $((3 * N)) 0 0" \
        "node $n under 10 % loss: lines, distinct, duplicates, out of order"
    grep -q "missed" "sub-$n.err" && fail "node $n's subscriber reported a gap: $(cat "sub-$n.err")"
    d=$(ip netns exec "$(ns_of "$n")" nft -j list table ip psloss |
        jq '[.nftables[] | .rule? | select(. != null) | .expr[] | .counter? | select(. != null) | .packets] | add')
    dropped=$((dropped + d))
done
[ "$dropped" -gt 0 ] || fail "the loss rules dropped no packet"
echo "ok: 10 % loss on every link ($dropped packets dropped): 3 x $N messages, each subscriber" \
    "got all $((3 * N)) exactly once, in order, in $took ms"
