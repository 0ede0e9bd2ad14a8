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
silent_round() { # CONF OUT WHAT: a broker on CONF beside $N silent connections; closed in $closed
    BROKER_WRAPPER="prlimit --nofile=256:256" start_broker -c "$1"
    $HOSTILE silent "$PUBSUB_BROKER" $N 8 > "$2" 2> "${2%.out}.err" &
    wait_for_file_lines "$2" 1
    "$BUILD/pctl" --timeout 3000 ping > /dev/null 2> ping.err || problem "pctl ping beside $N $3: $(cat ping.err)"
    wait_for_file_lines "$2" 2 20
    closed=$(sed -n 2p "$2")
    case "$closed" in "$N of $N closed"*) ;; *) problem "$3 not timed out after ${HANDSHAKE_MS} ms: $closed" ;; esac
}
silent_round b.conf silent.out "silent connections"
plain=$closed
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
silent_round c.conf curve.out "silent CURVE connections"
verdict "pctl served beside $N silent connections; $plain; on CURVE: $closed"
