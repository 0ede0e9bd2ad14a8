#!/bin/bash
# A broker restart under running clients: a pubsub subscriber and a queue
# consumer stay up while brokerd is killed (-9) and started again on the
# same port; both reconnect and subscribe again by themselves and receive
# what is published after the restart.  A clean SIGTERM stop exits 0, and
# the clients carry on across that too.
. "$(dirname "$0")/lib.sh"
start_broker
C=$BUILD/pctl

has_subscribers() { [ "$(chan_stat "$1" subscribers)" = "$2" ]; }

"$BUILD/psub" -v -c logs -t 'news/#' -n 4 > sub.out 2> sub.err &
SUB=$!
"$BUILD/psub" -v -c jobs -n 2 > q.out 2> q.err &
CONSUMER=$!
wait_for_file_lines sub.err 1
wait_for_file_lines q.err 1
"$BUILD/ppub" -c logs -t news/a --sync "before" || fail "sync publish before the restart exited $?"
"$BUILD/ppub" -c jobs --sync "job before" || fail "sync job before the restart exited $?"
wait_for_file_lines sub.out 1
wait_for_file_lines q.out 1

# kill -9: nothing said goodbye; the clients notice the silence.
kill_broker
"$C" --timeout 300 ping > /dev/null 2>&1 && fail "the broker still answers after kill -9"
kill -0 "$SUB" 2> /dev/null || fail "psub died with the broker: $(cat sub.err)"
start_broker -c b.conf
# The broker is new and empty: wait until both clients are back.
wait_until 15 "the subscriber to come back" has_subscribers logs 1
wait_until 15 "the consumer to come back" has_subscribers jobs 1
"$BUILD/ppub" -c logs -t news/b --sync "after kill" || fail "sync publish after the restart exited $?"
"$BUILD/ppub" -c jobs --sync "job after" || fail "sync job after the restart exited $?"

# A clean stop (exit 0) and a start again.
stop_broker || fail "brokerd exited $? on SIGTERM"
start_broker -c b.conf
wait_until 15 "the subscriber to come back after SIGTERM" has_subscribers logs 1
"$BUILD/ppub" -c logs -t news/c "after term 1" "after term 2" || fail "publish after the second restart"

wait "$SUB" || fail "psub exited $?: $(cat sub.err)"
wait "$CONSUMER" || fail "consumer exited $?: $(cat q.err)"
got=$(sed 's/^\[[^]]*\] //' sub.out | tr '\n' ' ')
expect_eq "$got" "before after kill after term 1 after term 2 " "what the subscriber got across two restarts"
expect_eq "$(sed 's/^\[[^]]*\] //' q.out | tr '\n' ' ')" "job before job after " "what the consumer got"
echo "ok: a subscriber and a consumer carried on across kill -9 and SIGTERM restarts"
