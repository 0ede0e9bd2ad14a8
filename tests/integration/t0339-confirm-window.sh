#!/bin/bash
# PS_OPT_CONFIRM_WINDOW, the sliding window of confirmed publishes: with a
# window of W, ps_publish waits while W PS_CONFIRM publishes are
# unanswered, so the library never has more than W outstanding (the
# library's own trace counts them, confirm_window.c), yet fills it (a
# publisher faster than a durable queue's syncs finds it full), and every
# message is confirmed, then consumed once and in order.  A window is
# tried at 1 (stop-and-wait, the smallest) and at 64.  Then, the broker
# stopped (SIGSTOP) behind a full window: the waiting publish returns once
# the heartbeat timeout has lost the session, not later, with 0 on a client
# that reconnects (the message goes to the next session) and EHOSTUNREACH
# on one that does not.  Without the wait every publish returned at once
# and thousands were outstanding.
. "$(dirname "$0")/lib.sh"

N=${N:-20000}
PORT=$(free_port)
cat > b.conf << CONF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; fsync = "batch"; };
channels = ( { name = "jobs"; type = "queue"; durable = true; max_queued = 1000000; },
             { name = "stall"; type = "queue"; durable = true; } );
CONF
start_broker -c b.conf
said=
EP="tcp://127.0.0.1:$PORT"

for W in 1 64; do
    n=$N
    [ "$W" = 1 ] && n=$((N / 10)) # one sync a message: a tenth is enough
    "$BUILD/tests/confirm_window" "$EP" jobs "$n" "$W" > out 2> err ||
        fail "window $W: confirm_window exited $?: $(head -3 err)"
    max=$(sed -n 's/^max //p' out)
    waited=$(sed -n 's/^waited //p' out)
    [ -n "$max" ] || fail "window $W: no count: $(head -3 out err)"
    [ "$max" -le "$W" ] || fail "window $W: $max confirmations were outstanding at once"
    [ "$max" = "$W" ] && [ "$waited" -gt 0 ] ||
        fail "window $W: the window never filled (at most $max outstanding): not a test of it"
    "$BUILD/psub" -c jobs -n "$n" -F '%s %p' --timeout 10000 > got || fail "psub exited $?"
    bad=$(check_order got "$n")
    [ -z "$bad" ] || fail "window $W: consumed: $bad"
    # The sequence numbers go on from the first round: compare payloads only.
    echo "ok: window $W: $n confirmed publishes, at most $max outstanding, the window full $waited times; all consumed once, in order"
    said="$said window $W: at most $max of $n outstanding, full $waited times;"
    stop_broker || fail "brokerd did not stop cleanly"
    start_broker -c b.conf
done
expect_eq "$(chan_stat jobs queued)" 0 "messages left in the queue"

"$BUILD/tests/confirm_window" "$EP" stall 8 stall "$BROKER_PID" > out 2> err ||
    fail "broker stopped behind a full window: $(head -3 err)"
echo "ok:$said a full window of a broker that stopped answering ends with the session (0.3 s), reconnecting or not"
