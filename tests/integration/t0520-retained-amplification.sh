#!/bin/bash
# Issue 15.1, retained amplification: one client's one frame must not take
# the broker's memory.  The promise: re-subscribing a pattern already
# subscribed sends nothing new, and output is charged to a client as it is
# queued, so a client that never reads costs at most its client_buffer.
# Broken behaviour: each SUBSCRIBE, even of an existing subscription,
# queued every retained value again, and the per-client cap was checked
# only at the end of a loop turn, so one 27 KB frame of 1,000 SUBSCRIBE
# logs '#' against one 100 KiB retained value took the broker to a peak
# of 110 MB (the issue: 436 MB from a 108 KB frame).
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"

N=1000                 # SUBSCRIBEs in the attacker's one frame
BUFFER=1048576         # client_buffer: what the attacker may hold
LIMIT_KB=$((40960 * RSS_SCALE)) # baseline + BUFFER + libzmq's pipe, with room

PORT=$(free_port)
cat > b.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data";
           client_buffer = $BUFFER; };
channels = ( { name = "logs"; type = "pubsub"; retain = true; } );
EOF2
start_broker -c b.conf
head -c 102400 /dev/urandom > value
"$BUILD/ppub" -c logs -t big --retain --raw < value || fail "ppub --retain exited $?"
base_kb=$(rss_kb)

# A second SUBSCRIBE of the same pattern: the retained value once, not twice.
resent=$($HOSTILE resub "$PUBSUB_BROKER") || fail "hostile.py resub failed"
[ "$resent" = 1 ] || problem "SUBSCRIBE logs '#' twice delivered the retained value $resent times, want 1"

$HOSTILE amplify "$PUBSUB_BROKER" $N > amp.out 2> amp.err &
wait_for_file_lines amp.out 1
# The broker handles a client's records in order: once another client's
# ping is answered the frame has been handled by the loop turn before.
"$BUILD/pctl" ping > /dev/null || fail "pctl ping after the attack exited $?"
"$BUILD/pctl" ping > /dev/null || fail "pctl ping after the attack exited $?"
peak=$(peak_kb) now=$(rss_kb)
[ "$peak" -lt "$LIMIT_KB" ] ||
    problem "broker peak ${peak} KiB (limit ${LIMIT_KB}) from one frame of $N SUBSCRIBEs (baseline ${base_kb} KiB, now ${now} KiB)"
verdict "retained value sent once per re-subscription; one frame of $N SUBSCRIBEs: peak ${peak} KiB (baseline ${base_kb}, limit ${LIMIT_KB})"
