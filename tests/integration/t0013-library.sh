#!/bin/bash
# The library's documented return values and errno codes, from C, against a
# real broker: connect failures, binary payloads, ps_fd, refusals reported
# at ps_flush, sync messages (all, none, part confirmed), surveys, RPC with
# error replies and timeouts, queue windows, acks and redelivery, and the
# trace events of ps_opts_set_trace in the order things happen.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
cat > b.conf <<EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; };
channels = ( { name = "bc"; type = "broadcast"; }, { name = "q"; type = "queue"; } );
EOF
start_broker -c b.conf
"$BUILD/tests/libtest" > out.txt 2>&1
rc=$?
grep "^not ok" out.txt
tail -1 out.txt
[ "$rc" = 0 ] || fail "libtest exited $rc"
