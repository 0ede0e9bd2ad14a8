#!/bin/bash
# make bench: the throughput of a durable queue with publisher confirms,
# replicated by Raft on three nodes (issue 21), beside the same queue on a
# single node.  pbench's "durable" scenario (one publisher, a window of
# confirms, one consumer acknowledging; every message must arrive) runs
# against: a single brokerd with fsync = "always" and with "batch"; a
# cluster of three nodes in network namespaces (tests/integration/
# cluster.sh, so it needs root and prints a note without) whose durable
# queue is one Raft group (fsync on: libraft writes with O_DSYNC), pbench
# on the leader's node, then on a follower's (its publishes, confirms,
# deliveries and acks forwarded to the leader).  RAFT_BENCH_N messages a
# round (20,000), three rounds a figure: median (min-max).
. "$(dirname "$0")/../integration/lib.sh"
N=${RAFT_BENCH_N:-20000}
CH='{ name = "bench.durable"; type = "queue"; durable = true; max_queued = 100000000; }'
rate() { # PBENCH OUTPUT: the durable row's brokerd cell
    awk -F'|' '/^[|] durable queue/ { gsub(/^ +| +$/, "", $3); print $3 }' "$1"
}
row() { # TITLE OUTPUT
    local r
    r=$(rate "$2")
    echo "| $1 | ${r:-failed: $(tail -n 1 "$2")} |"
}

echo "| durable queue, confirms (window 1000), $N messages of 64 B, consumer acking | msg/s, median (min–max) of 3 |"
echo "|---|---:|"
for f in always batch; do
    durable_conf "fsync = \"$f\";"
    sed -i 's/name = "jobs"/name = "bench.durable"; max_queued = 100000000/' b.conf
    start_broker -c b.conf
    "$BUILD/pbench" -n "$N" -r 3 --durable-window 1000 durable > "single-$f.out" 2>&1
    row "single node, fsync = \"$f\"" "single-$f.out"
    stop_broker
    rm -rf "$SCRATCH/data" b.conf # node b of the cluster writes its own b.conf
done

. "$TESTS/integration/cluster.sh"
. "$TESTS/integration/raft.sh"
RAFT_CHANNELS=$CH
raft_start
L=$(raft_leader)
read -r F _ <<< "$(others "$L")"
on "$L" "$BUILD/pbench" -n "$N" -r 3 --durable-window 1000 durable > leader.out 2>&1
row "3 nodes (Raft), publisher and consumer on the leader" leader.out
on "$F" "$BUILD/pbench" -n "$N" -r 3 --durable-window 1000 durable > follower.out 2>&1
row "3 nodes (Raft), publisher and consumer on a follower" follower.out
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
