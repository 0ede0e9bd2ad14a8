#!/bin/bash
# psub -v says when its session to the broker was lost and when it came
# back (the library reconnects and subscribes again by itself): one line
# each on stderr, and messages flow again after the return.  Without -v
# the loss stays quiet as before.
. "$(dirname "$0")/lib.sh"

start_broker # writes b.conf on $PORT
"$BUILD/psub" -v -c logs -F %p > v.out 2> v.err &
vpid=$!
"$BUILD/psub" -c logs -F %p > q.out 2> q.err &
wait_for_file_lines v.err 1
wait_until 10 "two subscribers" eval '[ "$(chan_stat logs subscribers)" = 2 ]'
"$BUILD/ppub" -c logs -t a "before" || fail "ppub exited $?"
wait_for_file_lines v.out 1

kill_broker
wait_until 15 "psub -v to notice the loss" grep -q "session lost" v.err
start_broker -c b.conf
wait_until 15 "psub -v to be back" grep -q "session back" v.err
# Both subscribed again: a message now reaches them.
wait_until 10 "both subscribed again" eval '[ "$(chan_stat logs subscribers)" = 2 ]'
"$BUILD/ppub" -c logs -t a "after" || fail "ppub exited $?"
wait_for_file_lines v.out 2
wait_for_file_lines q.out 2
expect_eq "$(tr '\n' ' ' < v.out)" "before after " "what psub -v received"
grep -Eq "^psub: session lost at [0-9]{2}:[0-9]{2}:[0-9]{2} \(.+\); reconnecting$" v.err || fail "the loss line: $(cat v.err)"
grep -Eq "^psub: session back after [0-9]+\.[0-9] s; what was published meanwhile was not received$" v.err ||
    fail "the return line: $(cat v.err)"
expect_eq "$(wc -l < v.err)" 3 "lines of psub -v (subscribed, lost, back)"
expect_eq "$(cat q.err)" "" "psub without -v on stderr"
kill -TERM "$vpid"
wait "$vpid" || fail "psub -v exited $? on SIGTERM"
echo "ok: psub -v said when the session was lost and when it was back; messages flowed again"
