#!/bin/bash
# pbench runs end to end (a short smoke run, not a timed test): brokerd and
# the raw libzmq proxy on every scenario, no message lost, a full table.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
cat > b.conf <<EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data";
           max_subscriptions = 100000; };
channels = ( { name = "bench"; type = "pubsub"; slow_subscriber = "block"; },
             { name = "bench.drop"; type = "pubsub"; slow_subscriber = "drop"; },
             { name = "bench.queue"; type = "queue"; },
             { name = "bench.durable"; type = "queue"; durable = true; } );
EOF
start_broker -c b.conf
"$BUILD/pbench" --zmq --broker-pid "$BROKER_PID" -n 5000 -r 1 --subs 3 --requests 300 \
    --idle 2000 --slow-mib 16 > table 2> log
rc=$?
cat table
expect_eq "$rc" 0 "pbench exit status (3 = lost messages)"
expect_eq "$(grep -c "^| " table)" 21 "table lines (header and 20 figures)"
grep -q "^| pubsub 1→1, slow_subscriber = drop.*dropped" table || fail "no figure for the drop policy"
grep -q "^| fan-out 1→3, slow_subscriber = drop.*dropped" table || fail "no drop figure for the fan-out"
grep -q "^| 4→1, slow_subscriber = drop.*dropped" table || fail "no drop figure for many to one"
grep -q "lost\|failed" table && fail "a figure lost messages or failed"
echo "ok: pbench smoke run: every scenario, no loss"
