#!/bin/bash
# The lecture's race: 100 threads share one ps_client and publish 10,000
# messages each; all 1,000,000 arrive exactly once, in each thread's order.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
cat > b.conf <<EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; };
channels = ( { name = "race"; type = "pubsub"; slow_subscriber = "block"; } );
EOF2
start_broker -c b.conf
"$BUILD/tests/race" race > out 2>&1
rc=$?
cat out
expect_eq "$rc" 0 "race exit status"
echo "ok: $(cat out)"
