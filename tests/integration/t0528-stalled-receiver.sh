#!/bin/bash
# Issue 15.9, a stalled receiver stalls everyone: a subscriber that stops
# reading on a "block" channel must not slow clients that use no channel
# of it.  The promise: no client without rights over another may slow it;
# an honest publisher and subscriber on another channel keep their round
# trip.  Broken behaviour: with one psub stalled (writing into a full
# FIFO) on a "block" channel under a publisher, an honest pair on another
# channel saw p99 round trips of 1.7 s (the issue: 3 s pings, again each
# heartbeat cycle).
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"

P99_MS=200 # the honest pair's round-trip bound

PORT=$(free_port)
cat > b.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; client_buffer = 1048576; };
channels = ( { name = "firehose"; type = "pubsub"; slow_subscriber = "block"; },
             { name = "honest"; type = "pubsub"; } );
EOF2
start_broker -c b.conf
# psub writes into a FIFO nobody reads: once the pipe is full it blocks
# and its library stops reading, as a stalled program would.
mkfifo out.fifo
exec 3<> out.fifo
"$BUILD/psub" -v -c firehose -t '#' --timeout 60000 > out.fifo 2> slow.err &
wait_for_file_lines slow.err 1
"$BUILD/ppub" -c firehose -t big --size 65536 -n 100000 > /dev/null 2>&1 &
$HOSTILE honest "$PUBSUB_BROKER" 8 > honest.out 2> honest.err || fail "hostile.py honest: $(cat honest.err)"
read -r _ sent _ got _ lat _ ping _ pmax _ lost < <(tail -1 honest.out)
[ "$got" = "$sent" ] || problem "the honest subscriber got $got of $sent"
awk -v a="$lat" -v b="$ping" -v m="$P99_MS" 'BEGIN { exit !(a < m && b < m) }' ||
    problem "honest pair's p99 delivery ${lat} ms, ping ${ping} ms (max ${pmax}, $lost unanswered), bound $P99_MS ms"
verdict "beside a stalled block subscriber: $(tail -1 honest.out)"
