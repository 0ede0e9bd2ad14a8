#!/bin/bash
# A broker killed under two waiting clients: the one that may not
# reconnect fails within its heartbeat timeout; the other reconnects,
# sends its subscription again at once after WELCOME (seen in the trace)
# and receives from the new broker.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
cat > b.conf <<EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; };
EOF2
"$BUILD/tests/reconnect" "$BUILD/brokerd" b.conf "tcp://127.0.0.1:$PORT" > out 2> brokerd.log
rc=$?
cat out
expect_eq "$rc" 0 "reconnect exit status"
echo "ok: $(cat out)"
