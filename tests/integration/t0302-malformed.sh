#!/bin/bash
# Hostile input: every case of the malformed-command corpus gets the ERROR
# it deserves and a well-behaved client is served after each; then a flood
# of thousands of malformed ZeroMQ messages leaves the broker serving the
# real tools.
. "$(dirname "$0")/lib.sh"

start_broker
/usr/bin/python3 "$TESTS/tools/malformed.py" "$PUBSUB_BROKER" "$TESTS/data/malformed.txt" || fail "malformed corpus"
/usr/bin/python3 "$TESTS/tools/flood.py" "$PUBSUB_BROKER" 5000 || fail "flood"
kill -0 "$BROKER_PID" || fail "broker died"

# The real tools still work end to end.
"$BUILD/psub" -v -c after -n 1 --timeout 5000 > got 2> sub.err &
sub=$!
wait_for_file_lines sub.err 1
"$BUILD/ppub" -c after --sync -t t "still here" || fail "ppub --sync after the flood exited $?"
wait "$sub" || fail "psub exited $?"
expect_eq "$(sed 's/^\[.*\] //' got)" "still here" "message after the flood"
malformed=$("$BUILD/pctl" status --json | jq .malformed)
[ "$malformed" -ge 1000 ] || fail "broker counted only $malformed malformed frames"
