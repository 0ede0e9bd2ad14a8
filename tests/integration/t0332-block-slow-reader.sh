#!/bin/bash
# slow_subscriber = "block": a subscriber that reads, however slowly, is
# never forgotten and loses nothing.  The subscriber here is slowed inside
# its library's receiving thread: psub --explain writes a line on stderr
# for each record as the library reads it, and stderr goes to a pipe read
# in bursts with pauses far shorter than the broker's heartbeat timeout,
# so the library reads steadily but takes many seconds over what arrived.
# The broken behaviour: the library's I/O thread handled a whole burst of
# up to 512 frames (hundreds of records each) before its next heartbeat,
# which on a loaded machine took longer than heartbeat_timeout_ms (3 s);
# brokerd logged "client N timed out, forgotten" and the rest of the
# stream was lost to a subscriber that was reading all along.  A small
# heartbeat_timeout_ms makes the test quick and independent of the load.
. "$(dirname "$0")/lib.sh"

N=${N:-3000}
PORT=$(free_port)
cat > b.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data";
           client_buffer = 65536; heartbeat_ms = 500; heartbeat_timeout_ms = 2500; };
channels = ( { name = "b"; type = "pubsub"; slow_subscriber = "block"; } );
EOF2
start_broker -c b.conf
# The slow reader: 16 KiB, then a pause of 0.1 s, until the end.  A
# frame from the broker (64 KiB) carries 64 messages of 1000 bytes, whose
# lines take about one such read; all 3,000 take several seconds.
slow_reader() {
    while dd bs=16384 count=1 status=none > chunk && [ -s chunk ]; do
        cat chunk >> explain.out
        read -r -t 0.1 <> <(:) || true
    done
}
: > explain.out
mkfifo explain.fifo
slow_reader < explain.fifo &
reader=$!
"$BUILD/psub" -v --explain -c b -n "$N" -W 60 2> explain.fifo > got.out &
sub=$!
wait_until 30 "psub to subscribe" grep -q "subscribed to 'b'" explain.out
"$BUILD/ppub" -c b -n "$N" --size 1000 --timeout 60000 2> pub.err || fail "ppub: $(head -1 pub.err)"
wait "$sub"
wait "$reader" # every line psub wrote is in explain.out
got=$(wc -l < got.out)
problems=
grep -q "timed out, forgotten" brokerd.log && problems+="brokerd: $(grep -m1 'timed out, forgotten' brokerd.log | cut -d' ' -f4-); "
grep -q "session lost" explain.out && problems+="psub: $(grep -m1 'session lost' explain.out); "
[ "$got" = "$N" ] || problems+="psub got $got of $N; "
[ -z "$problems" ] || fail "a subscriber reading slowly on a block channel: $problems"
echo "ok: a subscriber slowed in its library's reading got all $N messages, never forgotten"
