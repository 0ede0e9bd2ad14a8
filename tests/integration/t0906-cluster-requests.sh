#!/bin/bash
# Issue 20, experiment 6: requests across nodes.  A request on A for a
# responder on C is answered (forwarded); 1,000 requests ($CLUSTER_ROUNDS)
# on A to a topic no node answers get "no responders" at once, p99 <= 2 ms
# (tests/tools/cluster_driver.py noresp); a responder on C killed (-9)
# while it works on a request from A is heard by the requester (exit 3)
# within one heartbeat timeout (1,500 ms), not at its 20 s timeout.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
R=${CLUSTER_ROUNDS:-1000}
cluster_start
spawn c "$BUILD/psub" -v -t 'logs:svc/echo' --echo 2> echo.err
wait_for_file_lines echo.err 1
expect_eq "$(on a "$BUILD/ppub" -t logs:svc/echo --request --timeout 5000 "hello")" hello "reply from C's responder"
# A survey on broadcast 'alerts' collects the replies of every node.
spawn b "$BUILD/psub" -v -c alerts --reply 'echo from-b' 2> surv-b.err
wait_for_file_lines surv-b.err 1
spawn c "$BUILD/psub" -v -c alerts --reply 'echo from-c' 2> surv-c.err
wait_for_file_lines surv-c.err 1
survey=$(on a "$BUILD/ppub" -c alerts --request --timeout 5000 "who is there?" | sort | tr '\n' ' ')
expect_eq "$survey" "from-b from-c " "the replies of a survey from A to responders on B and C"

cluster_driver a noresp "$R" > lat || fail "the driver exited $?: $(cat lat)"
read -r p50 p99 max _ wrong < lat
expect_eq "$wrong" 0 "requests not answered \"no responders\""
# Under the sanitizers (the broker, and libasan preloaded into the Python
# driver) the figure measures the instrumentation: 2.3 ms seen for 1.1
# ms; the promise is judged on the plain build.
bound=2
case "$BUILD" in *build-asan) bound=10 ;; esac
awk "BEGIN { exit !($p99 <= $bound) }" || fail "no responders: p99 $p99 ms (want <= $bound ms; p50 $p50, max $max)"

# The responder killed mid-request.
spawn c "$BUILD/psub" -v -t 'logs:svc/slow' --reply 'echo $$ > worker.pid; exec sleep 60' 2> resp.err
RESP=$SPAWNED
wait_for_file_lines resp.err 1
spawn a "$BUILD/ppub" -t logs:svc/slow --request --timeout 20000 "question" > req.out 2> req.err
REQ=$SPAWNED
wait_for_file_lines worker.pid 1
t0=$(ms)
kill -KILL "$RESP" "$(cat worker.pid)"
wait "$REQ"
rc=$?
took=$(($(ms) - t0))
expect_eq "$rc" 3 "ppub --request exit status when the remote responder died (stderr: $(cat req.err))"
[ "$took" -le 1500 ] || fail "the requester on A heard of the killed responder on C after $took ms (want <= 1500)"
echo "ok: forwarded request answered; no responders: p50 $p50 ms, p99 $p99 ms, max $max ms;" \
    "remote responder killed: requester told in $took ms ($(cat req.err))"
