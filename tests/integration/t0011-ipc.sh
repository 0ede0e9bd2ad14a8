#!/bin/bash
# tcp and ipc endpoints bound at once by one broker: a message published
# on one arrives on the other, in both directions and for every channel
# type, requests included; a second broker on the same ipc path is refused
# while the first one lives, and a stale socket file left by a killed
# broker does not stop the next one.
. "$(dirname "$0")/lib.sh"
start_broker # tcp://127.0.0.1:$PORT and ipc://$SCRATCH/b.sock
TCP=$PUBSUB_BROKER
IPC=ipc://$SCRATCH/b.sock
[ -S "$SCRATCH/b.sock" ] || fail "no ipc socket at $SCRATCH/b.sock"
"$BUILD/pctl" -b "$IPC" ping > /dev/null || fail "pctl ping over ipc exited $?"
expect_eq "$("$BUILD/pctl" -b "$IPC" status --json | jq -r '.endpoints | length')" 2 "endpoints in pctl status"

# FROM TO CHANNEL [TOPIC]: one message from FROM's side to TO's side.
across() {
    local from=$1 to=$2 ch=$3 topic=${4:-}
    local targs=() msg="$ch via $from to $to" n=$((++nacross))
    [ -n "$topic" ] && targs=(-t "$topic")
    "$BUILD/psub" -v -b "$to" -c "$ch" "${targs[@]}" -n 1 --timeout 5000 > "got.$n" 2> "err.$n" &
    local pid=$!
    wait_for_file_lines "err.$n" 1
    "$BUILD/ppub" -b "$from" -c "$ch" "${targs[@]}" --sync "$msg" || fail "ppub $msg exited $?"
    wait $pid || fail "psub for $msg exited $?"
    expect_eq "$(sed 's/^\[[^]]*\] //' "got.$n")" "$msg" "message $msg"
}
nacross=0
across "$TCP" "$IPC" logs news/x
across "$IPC" "$TCP" logs news/x
across "$TCP" "$IPC" alerts
across "$IPC" "$TCP" alerts
across "$TCP" "$IPC" jobs
across "$IPC" "$TCP" jobs

# A request over ipc answered by a responder on tcp, and the other way.
"$BUILD/psub" -v -b "$TCP" -c jobs --reply 'tr a-z A-Z' -n 2 --timeout 5000 > r.out 2> r.err &
pid=$!
wait_for_file_lines r.err 1
expect_eq "$("$BUILD/ppub" -b "$IPC" -c jobs --request "over ipc")" "OVER IPC" "request from ipc to tcp"
expect_eq "$("$BUILD/ppub" -b "$TCP" -c jobs --request "over tcp")" "OVER TCP" "request from tcp to tcp"
wait $pid || fail "responder exited $?"

# A second broker on the same ipc path must not steal the live socket.
PORT2=$(free_port)
cat > b2.conf << EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT2", "$IPC" ]; data_dir = "$SCRATCH/data2"; };
EOF
timeout 10 "$BUILD/brokerd" -c b2.conf > b2.log 2>&1
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "a second broker on a live ipc path exited $rc: $(tail -2 b2.log)"
grep -q "b.sock" b2.log || fail "the second broker did not name the ipc path: $(tail -2 b2.log)"
"$BUILD/pctl" -b "$IPC" ping > /dev/null || fail "the first broker lost its ipc socket"

# kill -9 leaves the socket file behind; the next broker takes the path.
kill_broker
[ -S "$SCRATCH/b.sock" ] || fail "no stale socket file to test with"
start_broker -c b.conf
"$BUILD/pctl" -b "$IPC" ping > /dev/null || fail "no ipc after a restart over a stale socket file"
echo "ok: tcp and ipc at once, both directions, all channel types, requests; ipc path guarded"
