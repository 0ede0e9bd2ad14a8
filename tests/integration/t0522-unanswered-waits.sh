#!/bin/bash
# Issue 15.3, unanswered waits: a client must not be able to make the
# broker remember without bound what it waits for.  The promise: pending
# receipts, tickets and requests are bounded per client by a limit in
# brokerd.conf, past which the broker refuses (ERROR LIMIT, exit 4 in the
# tools).  Broken behaviour: 50,000 requests and 50,000 sync publishes
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
verdict "$(cat waits.out); broker ${base_kb} -> ${now_kb} KiB"
