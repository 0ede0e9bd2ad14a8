#!/bin/bash
# Threads of two shared clients request, answer, publish and receive at
# once, so the socket's input changes hands between the library's I/O
# thread and the waiting application threads all the time: every reply is
# the right one, every message arrives once and in order, and no request
# stalls (a lost wake-up would cost a heartbeat interval); a lone request
# beside a flooding publisher of its own client is woken at once when its
# reply arrives.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
cat > b.conf <<EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; };
channels = ( { name = "rpc"; type = "queue"; },
             { name = "feed"; type = "pubsub"; slow_subscriber = "block"; } );
EOF2
start_broker -c b.conf
"$BUILD/tests/handoff" > out 2>&1
rc=$?
cat out
expect_eq "$rc" 0 "handoff exit status"
echo "ok: $(cat out)"
