#!/bin/bash
# Issue 15.5, channel flood: with auto-create (the default) a client must
# not be able to create channels, or retained values across them, without
# bound.  The promise: broker.max_channels and a broker-wide retained-bytes
# budget refuse what is past them, with one log line per kind of refusal.
# Broken behaviour: 20,000 publishes to new names made 20,000 channels and
# 20,000 log lines; 200 channels of 256 KiB retained each held 50 MB.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"

CHANNELS_KEY=max_channels
RETAINED_KEY=max_retained_bytes # the budget of retained bytes across channels
CHANNELS=100 RETAINED=8388608
N=20000
GROWTH_KB=$((24576 * RSS_SCALE))

PORT=$(free_port)
broker_key "$CHANNELS_KEY" "$CHANNELS"
broker_key "$RETAINED_KEY" "$RETAINED"
cat > b.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; $KEYS };
EOF2
start_broker -c b.conf
base_kb=$(rss_kb) log0=$(wc -l < brokerd.log)
$HOSTILE chanflood "$PUBSUB_BROKER" $N 0 > flood.out 2> flood.err || fail "hostile.py chanflood: $(cat flood.err)"
channels=$("$BUILD/pctl" channels --json | jq length)
lines=$(($(wc -l < brokerd.log) - log0))
[ "$channels" -le "$CHANNELS" ] || problem "$channels channels after $N publishes to new names (limit $CHANNELS)"
[ "$lines" -le 20 ] || problem "$lines log lines for $N publishes to new names"
# Retained values across channels: 200 channels of 256 KiB would be 50 MB.
$HOSTILE chanflood "$PUBSUB_BROKER" 200 262144 > retain.out 2> retain.err || fail "hostile.py chanflood: $(cat retain.err)"
now_kb=$(rss_kb)
[ $((now_kb - base_kb)) -lt "$GROWTH_KB" ] ||
    problem "broker grew $((now_kb - base_kb)) KiB (limit $GROWTH_KB) with retained values across new channels"
verdict "$channels channels and $lines log lines from $N new names ($(cat flood.out)); retained flood: ${base_kb} -> ${now_kb} KiB"
