#!/bin/bash
# A full queue with overflow = "block" pauses its publisher (protocol 1.4):
# the broker sends PAUSE when it first parks the publisher's records, the
# library then holds its publishes (ps_publish blocks once its send queue
# is full) while ACKs still go, and RESUME lets them go once the queue
# has room.  So the broker keeps only what was under way: a publisher of
# 200,000 messages of 100 bytes (20 MB) to a queue of 100, with
# client_buffer at 1 MiB, waits without one refusal until a consumer
# comes, and every message arrives once and in order.  Before PAUSE the
# broker parked up to client_buffer and refused the rest, as it still
# does for a client that speaks 1.3 (shown last).
. "$(dirname "$0")/lib.sh"

N=200000
PORT=$(free_port)
cat > b.conf << CONF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data";
           client_buffer = 1048576; };
channels = ( { name = "jobs"; type = "queue"; max_queued = 100; overflow = "block"; } );
CONF
start_broker -c b.conf

seq -f '%0100.0f' 1 "$N" > msgs
"$BUILD/ppub" -c jobs -i pauser < msgs 2> ppub.err &
pub=$!
paused() {
    "$BUILD/pctl" --timeout 1000 clients --json 2> /dev/null |
        jq -e '.[] | select(.name == "pauser" and .paused == true)' > /dev/null
}
wait_until 20 "the publisher is paused" paused
pauses=$("$BUILD/pctl" status --json | jq -r .pauses)
[ "$pauses" -ge 1 ] || fail "status counts $pauses pauses"
kill -0 "$pub" 2> /dev/null || fail "ppub did not wait for the full queue: $(head -3 ppub.err)"
expect_eq "$(chan_stat jobs queued)" 100 "messages queued while the publisher waits"
echo "paused: the queue holds 100, brokerd's RSS $(awk '/VmRSS/ { print $2 }' /proc/$BROKER_PID/status) kB"

"$BUILD/psub" -c jobs -n "$N" -F '%s %p' --timeout 20000 > got 2> psub.err ||
    fail "psub exited $?: $(head -3 psub.err)"
wait "$pub" || fail "ppub exited $?: $(head -3 ppub.err)"
bad=$(check_order got "$N")
[ -z "$bad" ] || fail "consumed: $bad"
paused && fail "the publisher is still marked paused after the queue drained"
echo "ok: a publisher of $N to a queue of 100 waited ($pauses pause(s)), nothing refused, all consumed in order"

# A 1.3 client is never sent PAUSE: past client_buffer it is refused,
# and what was refused is not in the queue.
PUBSUB_PROTOCOL_MINOR=3 "$BUILD/ppub" -c jobs < msgs > /dev/null 2> old.err &&
    fail "a 1.3 publisher was never refused"
"$BUILD/psub" -c jobs --timeout 2000 -F '%p' > old.got 2> /dev/null
got=$(wc -l < old.got)
[ "$got" -lt "$N" ] || fail "the 1.3 publisher's $N messages all arrived: it was paused too"
echo "ok: a 1.3 publisher is refused past client_buffer as before ($got of $N queued): $(head -1 old.err)"
