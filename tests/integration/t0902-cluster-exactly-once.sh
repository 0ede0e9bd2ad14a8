#!/bin/bash
# Issue 20, experiment 2: three publishers, one on each node, 100,000
# messages each ($CLUSTER_MSGS) on a block pubsub channel, a subscriber of
# '#' on every node: each subscriber receives exactly 300,000 distinct
# messages, no duplicate, each publisher's in its order, no gap reported.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
N=${CLUSTER_MSGS:-100000}
cluster_start
all_to_all "$N" "no fault"
took=$TOOK
echo "ok: 3 x $N messages, each of 3 subscribers got $((3 * N)) distinct, 0 duplicates, in order," \
    "in $took ms ($((3 * N * 1000 / (took + 1))) msg/s per subscriber)"
