#!/bin/bash
# Issue 15.4, silent connections: connections that never say anything must
# not lock real clients out.  The promise: pre-HELLO connections are
# counted, timed out within broker.handshake_timeout_ms, and a real client
# is served meanwhile.  Broken behaviour: with the broker's descriptors
# limited to 256, 300 TCP connections that never sent a byte filled the
# table; the broker spun, pctl got no answer, nothing was logged, and the
# connections stayed open for libzmq's 30 s handshake window; on a CURVE
# endpoint, the same for raw TCP that never finishes the handshake.
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

# The same on a CURVE endpoint, where a connection that never finishes
# the handshake is held by libzmq before the broker sees a message.
stop_broker
"$BUILD/pctl" keygen broker > /dev/null && cpub=$("$BUILD/pctl" keygen client) || fail "pctl keygen failed"
cat > c.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; $KEYS
           curve = { secret_key_file = "$SCRATCH/broker.key"; }; };
security = { clients = ( { name = "c"; public_key = "$cpub"; allow = [ "admin" ]; } ); };
EOF2
export PUBSUB_CURVE_SERVER_KEY=$SCRATCH/broker.pub PUBSUB_CURVE_KEY=$SCRATCH/client.key
BROKER_WRAPPER="prlimit --nofile=256:256" start_broker -c c.conf
$HOSTILE silent "$PUBSUB_BROKER" $N 8 > curve.out 2> curve.err &
wait_for_file_lines curve.out 1
"$BUILD/pctl" --timeout 3000 ping > /dev/null 2> ping.err || problem "pctl ping beside $N silent CURVE connections: $(cat ping.err)"
wait_for_file_lines curve.out 2 20
cclosed=$(sed -n 2p curve.out)
case "$cclosed" in "$N of $N closed"*) ;; *) problem "silent CURVE connections not timed out after ${HANDSHAKE_MS} ms: $cclosed" ;; esac
verdict "pctl served beside $N silent connections; $closed; on CURVE: $cclosed"
