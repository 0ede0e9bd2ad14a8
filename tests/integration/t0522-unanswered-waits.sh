#!/bin/bash
# Issue 15.3, unanswered waits: a client must not be able to make the
# broker remember without bound what it waits for.  The promise: pending
# receipts, tickets and requests are bounded per client by a limit in
# brokerd.conf, past which the broker refuses (ERROR LIMIT, exit 4 in the
# tools); and no wait outlives max_wait_ms, whatever timeout the client
# asked for (with max_wait_ms at its default of 10 minutes instead of the
# 1 s configured here, the second part fails).  Broken behaviour: 50,000 requests and 50,000 sync publishes
# with a 49-day timeout, to its own subscriptions that never answer, were
# all kept (the issue: 1 M each took RSS from 7.7 to 385 MB).
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"

PENDING_KEY=max_pending # the per-client limit of pending waits
PENDING=1000
N=50000
GROWTH_KB=$((8192 * RSS_SCALE))

PORT=$(free_port)
broker_key "$PENDING_KEY" "$PENDING"
cat > b.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; $KEYS };
channels = ( { name = "rpc"; type = "pubsub"; }, { name = "logs"; type = "pubsub"; } );
EOF2
start_broker -c b.conf
base_kb=$(rss_kb)
$HOSTILE waits "$PUBSUB_BROKER" $N > waits.out 2> waits.err &
wait_for_file_lines waits.out 1 60
now_kb=$(rss_kb)
grep -q "LIMIT [0-9]" waits.out || problem "no ERROR LIMIT past $PENDING pending waits: $(cat waits.out)"
[ $((now_kb - base_kb)) -lt "$GROWTH_KB" ] ||
    problem "broker grew $((now_kb - base_kb)) KiB (limit $GROWTH_KB) holding the waits of one client"
# No wait outlives max_wait_ms, whatever timeout the client asked for.
stop_broker
WAIT_KEY=max_wait_ms
KEYS=
broker_key "$WAIT_KEY" 1000
sed -i "s/data\";.*};/data\"; $KEYS };/" b.conf
start_broker -c b.conf
took=$($HOSTILE longwait "$PUBSUB_BROKER") || fail "hostile.py longwait failed"
awk -v t="$took" 'BEGIN { exit !(t + 0 == t && t < 5) }' ||
    problem "a request with a 49-day timeout nobody answers ended after: $took (max_wait_ms 1000)"
verdict "$(cat waits.out); broker ${base_kb} -> ${now_kb} KiB; a 49-day request ended after $took s"
