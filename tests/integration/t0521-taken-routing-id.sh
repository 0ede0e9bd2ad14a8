#!/bin/bash
# Issue 15.2, a taken routing id: a connection with no rights and no HELLO
# that sets the ZMQ_ROUTING_ID of a live session must neither cost the
# broker memory that stays nor act in that session.  The promise: what a
# connection sent is freed when it goes, also under a live session's id,
# and the session is its own connection's: the newcomer is a stranger that
# must say HELLO (the session it took the id from ends).  Broken
# behaviour: libzmq parked the newcomer on a pipe the broker never read,
# and that pipe, with all it held, outlived the connection: closed at the
# handshake timeout, the attacker's socket reconnected and filled another,
# so here 200 frames of 1 MB under a 1 s timeout grew the broker by
# ~190 MB for good, and the thief's PING was never answered at all.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"

FRAMES=200 SIZE=1000000
GROWTH_KB=$((32768 * RSS_SCALE)) # what the attack may add to the broker

PORT=$(free_port)
cat > b.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data";
           handshake_timeout_ms = 1000; };
EOF2
start_broker -c b.conf
$HOSTILE victim "$PUBSUB_BROKER" victim never > victim.out 2> victim.err &
wait_for_file_lines victim.out 1
base_kb=$(rss_kb)
$HOSTILE taken-id "$PUBSUB_BROKER" victim $FRAMES $SIZE > taken.out 2> taken.err ||
    fail "hostile.py taken-id: $(cat taken.err)"
# pctl ping is answered after all the broker had read by then.
"$BUILD/pctl" ping > /dev/null || fail "pctl ping after the attack exited $?"
now_kb=$(rss_kb)
grep -q "client 2 lost its routing id to another connection" brokerd.log ||
    problem "the victim's session did not end when another connection took its routing id"
[ $((now_kb - base_kb)) -lt "$GROWTH_KB" ] ||
    problem "broker grew $((now_kb - base_kb)) KiB (limit $GROWTH_KB) from $(cat taken.out) under a taken routing id"
# A thief speaking under a session's id is a stranger, whoever it took the id from.
$HOSTILE victim "$PUBSUB_BROKER" victim2 never > victim2.out 2> victim2.err &
wait_for_file_lines victim2.out 1
thief=$($HOSTILE thief "$PUBSUB_BROKER" victim2 2>&1)
[ "$thief" = "error SESSION" ] || problem "a PING under a live session's routing id got: $thief (want error SESSION)"
verdict "$(cat taken.out) under the victim's routing id: broker ${base_kb} -> ${now_kb} KiB; the thief's PING: $thief"
