#!/bin/bash
# brokerd under valgrind: start, traffic of every kind (pubsub, broadcast,
# queue with acks, durable queue with confirms, requests, admin, a
# malformed frame), clean stop: no invalid access and no leak.
. "$(dirname "$0")/lib.sh"

case "$BUILD" in
*asan*)
    echo "ok: skipped, valgrind cannot run AddressSanitizer binaries (LeakSanitizer covers leaks there)"
    exit 0
    ;;
esac
command -v valgrind > /dev/null || fail "valgrind is not installed (make test installs it)"

PORT=$(free_port)
cat > b.conf <<EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT", "ipc://$SCRATCH/b.sock" ];
           data_dir = "$SCRATCH/data"; };
channels = ( { name = "jobs"; type = "queue"; durable = true; },
             { name = "bc"; type = "broadcast"; },
             { name = "logs"; type = "pubsub"; } );
EOF
BROKER_WRAPPER="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 --log-file=$SCRATCH/vg.log"
export BROKER_WRAPPER
start_broker -c b.conf

"$BUILD/psub" -v -c logs -t 'a/#' -n 2 --timeout 20000 > sub.out 2> sub.err &
sub=$!
wait_for_file_lines sub.err 1
"$BUILD/ppub" -c logs -t a/b one || fail "publish"
"$BUILD/ppub" -c logs -t a/c --retain two || fail "retained publish"
wait "$sub" || fail "psub exited $?"
seq 1 50 | "$BUILD/ppub" -c jobs --confirm || fail "durable publish"
"$BUILD/psub" -c jobs -n 50 --timeout 5000 > /dev/null || fail "consume"
"$BUILD/psub" -v -c bc --echo -n 1 --timeout 20000 > /dev/null 2> resp.err &
resp=$!
wait_for_file_lines resp.err 1
"$BUILD/ppub" -c bc --request hello > reply.out || fail "request"
wait "$resp"
"$BUILD/pctl" status > /dev/null && "$BUILD/pctl" channels > /dev/null && "$BUILD/pctl" clients > /dev/null ||
    fail "pctl"
printf '\0\0\0\1\x99' | /usr/bin/python3 -c '
import sys, zmq
s = zmq.Context().socket(zmq.DEALER); s.setsockopt(zmq.LINGER, 1000)
s.connect(sys.argv[1]); s.send(sys.stdin.buffer.read()); s.close()' "$PUBSUB_BROKER"
"$BUILD/ppub" -b "ipc://$SCRATCH/b.sock" -c logs -t x over-ipc || fail "publish over ipc"

stop_broker
rc=$?
cat vg.log
expect_eq "$rc" 0 "exit status of brokerd under valgrind (99 = errors or leaks)"
[ ! -s vg.log ] || fail "valgrind reported problems"
echo "ok: brokerd under valgrind: no invalid access, no leak, exit 0"
