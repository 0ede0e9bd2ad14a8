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
all_to_all "$N" "10 % loss"
took=$TOOK
dropped=0
for n in a b c; do
    d=$(ip netns exec "$(ns_of "$n")" nft -j list table ip psloss |
        jq '[.nftables[] | .rule? | select(. != null) | .expr[] | .counter? | select(. != null) | .packets] | add')
    dropped=$((dropped + d))
done
[ "$dropped" -gt 0 ] || fail "the loss rules dropped no packet"
echo "ok: 10 % loss on every link ($dropped packets dropped): 3 x $N messages, each subscriber" \
    "got all $((3 * N)) exactly once, in order, in $took ms"
