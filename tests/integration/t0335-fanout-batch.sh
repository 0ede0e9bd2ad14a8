#!/bin/bash
# A publisher's batch fanned out to several subscribers: each subscriber
# of protocol 1.2 gets the run in DELIVER_BATCH records, a subscriber of
# 1.1 (PUBSUB_PROTOCOL_MINOR=1) gets a DELIVER a message, and every one
# sees every message once, in order, with the same consecutive sequence
# numbers.  The code before runs sent DELIVER_BATCH only to a channel's
# lone receiver, so the first round fails there.
# The second round is a "drop" channel with one subscriber that does not
# read and one that does: what each misses is told as a gap, the
# sequence numbers each sees add up with its gaps to what was published,
# and the gaps add up to the drops the broker counts.
. "$(dirname "$0")/lib.sh"

# A block channel and a drop channel, each client's output bounded at 64 KiB.
PORT=$(free_port)
cat > b.conf << EOF2
channels = ( { name = "f"; type = "pubsub"; slow_subscriber = "block"; },
             { name = "d"; type = "pubsub"; slow_subscriber = "drop"; } );
broker = { client_buffer = 65536; data_dir = "$SCRATCH/data";
           endpoints = [ "tcp://127.0.0.1:$PORT" ]; };
EOF2
start_broker -c b.conf -v
N=${N:-20000}

subs=()
for s in a b old; do
    env=()
    [ "$s" = old ] && env=(PUBSUB_PROTOCOL_MINOR=1)
    env "${env[@]}" "$BUILD/psub" -v --explain -c f -t x -n "$N" -F '%s %p' --timeout 60000 \
        > "$s.out" 2> "$s.sub" &
    subs+=($!)
    wait_until 10 "subscription $s" grep -q "subscribed to" "$s.sub"
done
seq 1 "$N" | "$BUILD/ppub" -c f -t x 2> pub.err || fail "ppub failed: $(head -3 pub.err)"
for i in 0 1 2; do
    wait "${subs[$i]}" || fail "psub $i exited $?"
done
for s in a b old; do
    bad=$(check_order "$s.out" "$N")
    [ -z "$bad" ] || fail "$s: $bad"
done
expect_eq "$(head -1 b.out | cut -d' ' -f1)" "$(head -1 a.out | cut -d' ' -f1)" "first seq of b and a"
expect_eq "$(head -1 old.out | cut -d' ' -f1)" "$(head -1 a.out | cut -d' ' -f1)" "first seq of old and a"
for s in a b; do
    grep -q "DELIVER_BATCH, deliveries" "$s.sub" ||
        fail "no DELIVER_BATCH reached 1.2 subscriber $s of three: $(grep -o 'DELIVER[A-Z_]*, deliver' "$s.sub" | sort | uniq -c)"
done
grep -q "DELIVER_BATCH" old.sub && fail "a subscriber of protocol 1.1 got a DELIVER_BATCH"
expect_eq "$(grep -c "DELIVER, delivery #" old.sub)" "$N" "DELIVER records to the 1.1 subscriber"

# The drop round: "stopped" writes into a FIFO nobody reads, so it stops
# reading once the pipe is full, and its deliveries are dropped.
M=${M:-20000}
pad=$(printf '%0200d' 0)
mkfifo stopped.fifo
exec 3<> stopped.fifo
"$BUILD/psub" -v -c d -t x -F '%s %p' --timeout 60000 > stopped.fifo 2> stopped.err &
stopped=$!
"$BUILD/psub" -v -c d -t x -F '%s %p' --timeout 60000 > live.out 2> live.err &
live=$!
wait_until 10 "the drop subscriptions" sh -c 'grep -q "subscribed to" stopped.err && grep -q "subscribed to" live.err'
seq -f "%.0f $pad" 1 "$M" | "$BUILD/ppub" -c d -t x 2> pub2.err || fail "ppub failed: $(head -3 pub2.err)"
cat <&3 > stopped.out &
reader=$!
# A gap is told before the next delivery: one "end" reaches each in the end.
wait_until 30 "an end message reaching both subscribers" sh -c \
    "'$BUILD/ppub' -c d -t x end; grep -q ' end\$' stopped.out && grep -q ' end\$' live.out"
kill "$stopped" "$live"
wait "$stopped" "$live" 2> /dev/null
kill "$reader"
missed_sum() { sed -n "s/.*missed \([0-9]*\) messages on 'd'.*/\1/p" "$1" | awk '{ s += $1 } END { print s + 0 }'; }
total=0
for s in stopped live; do
    missed=$(missed_sum "$s.err")
    lines=$(wc -l < "$s.out")
    span=$(awk 'NR == 1 { f = $1 } { l = $1 } END { print l - f + 1 }' "$s.out")
    expect_eq "$((lines + missed))" "$span" "$s: $lines deliveries and $missed told missing, of seq span"
    total=$((total + missed))
done
[ "$(missed_sum stopped.err)" -gt 0 ] || fail "nothing was dropped for the subscriber that did not read"
expect_eq "$(chan_stat d dropped)" "$total" "drops the broker counted against gaps told"
echo "ok: $N messages fanned out in order to two 1.2 subscribers in DELIVER_BATCH records and a 1.1 one in DELIVER; on a drop channel $total drops, each told as a gap"
