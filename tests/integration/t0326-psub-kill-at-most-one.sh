#!/bin/bash
# psub on a queue, killed (-9) at any moment, loses nothing and leaves at
# most its window (100) of messages to be seen again (README, Guarantees):
# a consumer writing a queue into a file is killed in mid-stream; a second
# consumer takes the rest; none is in neither file, and at most 100 per
# kill in both.  Twelve kills.  The promise was "at most one" (issue 14,
# item 7); it cannot hold without a round trip per message, since an ACK
# handed to the socket may still be lost with the process: ps_ack now
# sends at once (506 seen again before, 60-525 after, on a loaded
# machine) and the promise is what is measured.  This test fails when an
# acknowledgement is lost for good (psub stalls after its window) or a
# message is lost.  Each psub writes into a pipe that is read only after
# its kill, so it is killed waiting on the full pipe in mid-stream, however
# fast it consumes (with acknowledgements sent in batches it took the
# whole queue before a kill found it, once).
. "$(dirname "$0")/lib.sh"

queue_conf "max_queued = 1000000;"
start_broker -c b.conf
# Each round takes what fills a pipe (64 KiB, some 11,000 lines) and
# psub's buffer: the queue is far from empty at every kill.
N=400000
seq 1 $N | "$BUILD/ppub" -c jobs || fail "ppub exited $?"
KILLS=${KILLS:-12} # 5 kills let 0 through in some runs on the broken code; 12 failed 6 of 6
mkfifo out.pipe
for round in $(seq $KILLS); do
    exec 3<> out.pipe # open for psub, not read until it is killed
    "$BUILD/psub" -c jobs > out.pipe &
    victim=$!
    wait_until 20 "psub waiting on its full pipe" grep -q pipe_write "/proc/$victim/wchan"
    { kill -KILL "$victim"; wait "$victim"; } 2> /dev/null
    # What it wrote before it died, to the end of the pipe (nobody writes
    # now); a line it was cut off in the middle of was not acknowledged
    # (its write had not returned), so it comes again and is left out here.
    dd iflag=nonblock bs=65536 <&3 > raw 2> /dev/null
    exec 3<&-
    if [ -z "$(tail -c 1 raw)" ]; then mv raw got1; else sed '$d' raw > got1; fi
    [ -s got1 ] || fail "psub wrote nothing before its kill"
    cat got1 >> seen
    dup=$(sort got1 | uniq -d | wc -l)
    [ "$dup" = 0 ] || fail "one psub got $dup messages twice"
    # The next consumer (the next round's, or the last) picks up from here;
    # the overlap is counted against the whole history below.
done
"$BUILD/psub" -c jobs --timeout 1000 >> seen || fail "the last psub exited $?"
again=$(sort seen | uniq -d | wc -l)
missing=$(comm -23 <(seq 1 $N | sort) <(sort -u seen) | wc -l)
expect_eq "$missing" 0 "messages nobody got"
WINDOW=100 # psub's messages in flight, the library's default
[ "$again" -le $((KILLS * WINDOW)) ] || fail "after $KILLS kills of psub, $again messages were seen again (at most $WINDOW per kill promised)"
echo "ok: $KILLS kills of psub in mid-stream: $again messages seen again, none missing"
