#!/bin/bash
# Issue 15.4, silent connections: connections that never say anything must
# not lock real clients out.  The promise: pre-HELLO connections are
# counted, timed out within broker.handshake_timeout_ms, and a real client
# is served meanwhile.  Broken behaviour: with the broker's descriptors
# limited to 256, 300 TCP connections that never sent a byte filled the
# table; the broker spun, pctl got no answer, nothing was logged, and the
# connections stayed open for libzmq's 30 s handshake window.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"

HANDSHAKE_KEY=handshake_timeout_ms
HANDSHAKE_MS=1000
N=300

PORT=$(free_port)
broker_key "$HANDSHAKE_KEY" "$HANDSHAKE_MS"
cat > b.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; $KEYS };
EOF2
BROKER_WRAPPER="prlimit --nofile=256:256" start_broker -c b.conf
$HOSTILE silent "$PUBSUB_BROKER" $N 8 > silent.out 2> silent.err &
wait_for_file_lines silent.out 1
"$BUILD/pctl" --timeout 3000 ping > /dev/null 2> ping.err || problem "pctl ping beside $N silent connections: $(cat ping.err)"
wait_for_file_lines silent.out 2 20
closed=$(sed -n 2p silent.out)
case "$closed" in "$N of $N closed"*) ;; *) problem "silent connections not timed out after ${HANDSHAKE_MS} ms: $closed" ;; esac
grep -Eqi "handshake|silent|pre-HELLO" brokerd.log || problem "nothing logged about the silent connections"
verdict "pctl served beside $N silent connections; $closed"
