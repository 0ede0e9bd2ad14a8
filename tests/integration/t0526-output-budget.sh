#!/bin/bash
# Issue 15.7, per-client caps multiply: clients that never read must not
# together take the broker's memory.  The promise: a broker-wide output
# budget bounds what all clients' queued output holds; past it, the
# clients furthest behind are cut off first.  Broken behaviour: each
# non-reading subscriber held its client_buffer plus libzmq's pipe, so
# six of them on a "drop" channel took the broker to an 86 MB peak, past one
# budget (the issue: ~115 MB each, 466 MB for four).
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"

BUDGET_KEY=output_budget # bytes of queued output across all clients
BUDGET=8388608 BUFFER=4194304
LIMIT_KB=$((49152 * RSS_SCALE))

PORT=$(free_port)
broker_key "$BUDGET_KEY" "$BUDGET"
cat > b.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data";
           client_buffer = $BUFFER; $KEYS };
channels = ( { name = "firehose"; type = "pubsub"; slow_subscriber = "drop"; } );
EOF2
start_broker -c b.conf
for i in 1 2 3 4 5 6; do
    $HOSTILE nonreader "$PUBSUB_BROKER" firehose > "nr$i.out" 2> "nr$i.err" &
    wait_for_file_lines "nr$i.out" 1
done
# 256 MiB in 4,096 messages of 64 KiB.
"$BUILD/ppub" -c firehose -t big --size 65536 -n 4096 || fail "ppub exited $?"
"$BUILD/pctl" ping > /dev/null || fail "pctl ping exited $?"
peak=$(peak_kb)
[ "$peak" -lt "$LIMIT_KB" ] || problem "broker peak ${peak} KiB (limit ${LIMIT_KB}) with six non-reading subscribers, output budget $BUDGET"
verdict "six non-reading subscribers, 256 MiB published: peak ${peak} KiB (limit ${LIMIT_KB})"
