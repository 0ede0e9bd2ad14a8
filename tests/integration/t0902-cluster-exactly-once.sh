#!/bin/bash
# Issue 20, experiment 2: three publishers, one on each node, 100,000
# messages each ($CLUSTER_MSGS) on a block pubsub channel, a subscriber of
# '#' on every node: each subscriber receives exactly 300,000 distinct
# messages, no duplicate, each publisher's in its order, no gap reported.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
N=${CLUSTER_MSGS:-100000}
cluster_start
subs=()
for n in a b c; do
    spawn "$n" "$BUILD/psub" -v -t 'logs:#' -F '%t %p' -n $((3 * N)) --timeout 20000 > "sub-$n.out" 2> "sub-$n.err"
    subs+=("$SPAWNED")
    wait_for_file_lines "sub-$n.err" 1
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
for n in a b c; do
    expect_eq "$(stream_check "sub-$n.out")" "$((3 * N)) $((3 * N)) 0 0" \
        "node $n: lines, distinct, duplicates, out of order"
    grep -q "missed" "sub-$n.err" && fail "node $n's subscriber reported a gap: $(cat "sub-$n.err")"
done
echo "ok: 3 x $N messages, each of 3 subscribers got $((3 * N)) distinct, 0 duplicates, in order," \
    "in $took ms ($((3 * N * 1000 / (took + 1))) msg/s per subscriber)"
