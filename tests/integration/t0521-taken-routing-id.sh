#!/bin/bash
# Issue 15.2, a taken routing id: a connection with no rights and no HELLO
# that sets the ZMQ_ROUTING_ID of a live session must neither cost the
# broker memory nor disturb that session.  The promise: the broker does not
# trust routing ids clients choose, and what an unread pipe can hold is
# bounded.  Broken behaviour: libzmq parked the second connection on an
# anonymous pipe the broker never read, so everything it sent (here 200
# frames of 1 MB) stayed in the broker's memory for good.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"

FRAMES=200 SIZE=1000000
GROWTH_KB=$((32768 * RSS_SCALE)) # what the attack may add to the broker

start_broker
$HOSTILE victim "$PUBSUB_BROKER" victim go > victim.out 2> victim.err &
wait_for_file_lines victim.out 1
base_kb=$(rss_kb)
$HOSTILE taken-id "$PUBSUB_BROKER" victim $FRAMES $SIZE > taken.out 2> taken.err ||
    fail "hostile.py taken-id: $(cat taken.err)"
# The attacker's last frames may still be in the kernel: the victim's PING
# and a pctl ping are answered after what the broker had read by then.
touch go
wait_for_file_lines victim.out 2
"$BUILD/pctl" ping > /dev/null || fail "pctl ping after the attack exited $?"
now_kb=$(rss_kb)
expect_eq "$(sed -n 2p victim.out)" pong "the victim session's PING after the attack"
[ $((now_kb - base_kb)) -lt "$GROWTH_KB" ] ||
    problem "broker grew $((now_kb - base_kb)) KiB (limit $GROWTH_KB) from $(cat taken.out) under a taken routing id"
verdict "$(cat taken.out) under the victim's routing id: broker ${base_kb} -> ${now_kb} KiB, victim still served"
