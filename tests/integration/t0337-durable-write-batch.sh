#!/bin/bash
# A durable queue writes the publishes of one client's frame with one
# write(2) (channel.c's stage, store.c's store_write), not one write a
# message: N confirmed publishes (ppub --confirm, which sends them in
# frames of many) cost brokerd far fewer write calls than messages, as
# /proc/PID/io's syscw counts them, and every message is still confirmed,
# then consumed once, in order, with consecutive sequence numbers, also
# after a restart reads them back from the store.  On the code that wrote
# each message on its own this counted more writes than messages.
. "$(dirname "$0")/lib.sh"

N=${N:-20000}
MAX_WRITES=${MAX_WRITES:-2000}
durable_conf 'fsync = "batch";' 'max_queued = 1000000;'
start_broker -c b.conf

writes() { sed -n 's/^syscw: //p' "/proc/$BROKER_PID/io"; }
before=$(writes)
[ -n "$before" ] || fail "cannot read brokerd's write count from /proc/$BROKER_PID/io"
# ppub exits 0 only once every message was confirmed.
seq 1 "$N" | "$BUILD/ppub" -c jobs --confirm --timeout 30000 2> ppub.err ||
    fail "ppub --confirm exited $?: $(head -3 ppub.err)"
after=$(writes)
used=$((after - before))
[ "$used" -lt "$MAX_WRITES" ] ||
    fail "$used write calls for $N durable publishes (want fewer than $MAX_WRITES: one a frame, not one a message)"
expect_eq "$(chan_stat jobs queued)" "$N" "messages queued"

# Half now, the rest from the store after a restart: each once, in order.
"$BUILD/psub" -c jobs -n $((N / 2)) -F '%s %p' --timeout 10000 > first || fail "psub exited $?"
stop_broker || fail "brokerd did not stop cleanly"
start_broker -c b.conf
"$BUILD/psub" -c jobs -n $((N - N / 2)) -F '%s %p' --timeout 10000 > second || fail "psub after restart exited $?"
cat first second > got
bad=$(check_order got "$N")
[ -z "$bad" ] || fail "consumed: $bad"
expect_eq "$(chan_stat jobs queued)" 0 "messages left in the queue"
echo "ok: $N confirmed durable publishes took $used write calls of brokerd; all $N consumed once, in order, half of them after a restart"
