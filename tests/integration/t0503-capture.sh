#!/bin/bash
# What travels on the wire with CURVE: a raw packet capture on the
# loopback interface (AF_PACKET, from python3, as root) of a CURVE session
# holds none of the payload, topic or channel name that went through it.
# The same capture of a plain broker shows them, so the capture itself
# is known to see the traffic.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "ok: skipped: a raw capture needs root"; exit 0; }
P=$BUILD/ppub S=$BUILD/psub C=$BUILD/pctl

cat > capture.py << 'EOF'
# capture.py OUT STOPFILE PORT: appends the TCP payload of every packet to
# or from PORT on lo to OUT until STOPFILE exists and the packets queued
# by then are read; prints the packet count.  A kernel filter keeps only
# those packets, so other traffic on lo cannot overflow the buffer.
import ctypes, os, socket, struct, sys, time
out, stop, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3))  # ETH_P_ALL
# Classic BPF for "ip and tcp and not a fragment and (src port or dst port is PORT)".
prog = [(0x28, 0, 0, 12), (0x15, 0, 10, 0x800), (0x30, 0, 0, 23), (0x15, 0, 8, 6),
        (0x28, 0, 0, 20), (0x45, 6, 0, 0x1FFF), (0xB1, 0, 0, 14), (0x48, 0, 0, 14),
        (0x15, 2, 0, port), (0x48, 0, 0, 16), (0x15, 0, 1, port), (0x06, 0, 0, 262144),
        (0x06, 0, 0, 0)]
code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))
s.setsockopt(socket.SOL_SOCKET, 26, struct.pack("HL", len(prog), ctypes.addressof(code)))  # SO_ATTACH_FILTER
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
s.bind(("lo", 0))
s.settimeout(0.05)
open(stop + ".ready", "w").close()
n = 0
with open(out, "wb") as f:
    stopping = 0
    while True:
        if not stopping and os.path.exists(stop):
            stopping = time.monotonic()
            s.setblocking(False)  # from now on, only what is queued already
        if stopping and time.monotonic() - stopping > 2:
            break
        try:
            pkt, addr = s.recvfrom(262144)
        except (socket.timeout, BlockingIOError):
            if stopping:
                break
            continue
        if addr[2] == socket.PACKET_OUTGOING:  # lo shows each packet twice
            continue
        tcp = pkt[14 + (pkt[14] & 0x0F) * 4:]
        f.write(tcp[(tcp[12] >> 4) * 4:])
        n += 1
print(n)
EOF

# session NAME: a capture of one publish and delivery on the broker at $PORT.
SECRET="payload-$RANDOM$RANDOM-that-must-not-be-seen"
session() {
    local name=$1
    rm -f "$name.stop" "$name.stop.ready"
    /usr/bin/python3 capture.py "$name.bin" "$name.stop" "$PORT" > "$name.count" 2> "$name.err" &
    local cap=$!
    wait_until 10 "the capture to start" test -e "$name.stop.ready"
    "$S" -v -c hidden-channel -t hidden/topic -n 1 --timeout 5000 > "$name.got" 2> "$name.sub" &
    local sub=$!
    wait_for_file_lines "$name.sub" 1
    "$P" -c hidden-channel -t hidden/topic "$SECRET" || fail "$name: ppub exited $?"
    wait $sub || fail "$name: psub exited $?"
    grep -q "$SECRET" "$name.got" || fail "$name: the message did not arrive"
    touch "$name.stop"
    wait $cap || fail "$name: the capture failed: $(cat "$name.err")"
    [ "$(cat "$name.count")" -ge 6 ] || fail "$name: only $(cat "$name.count") packets captured"
}

# The control: a plain broker's traffic is readable.
start_broker
session plain
grep -qa "$SECRET" plain.bin || fail "the plain capture does not show the payload: it sees nothing"
grep -qa "hidden/topic" plain.bin || fail "the plain capture does not show the topic"
stop_broker

"$C" keygen server > /dev/null && "$C" keygen client > client.z85 || fail "pctl keygen exited $?"
PORT=$(free_port)
cat > b.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT" ];
  data_dir = "$SCRATCH/data";
  curve = { secret_key_file = "$SCRATCH/server.key"; };
};
security = { clients = (
  { name = "client"; public_key = "$(cat client.z85)"; allow = [ "publish:*", "subscribe:*" ]; }
); };
EOF
export PUBSUB_CURVE_SERVER_KEY=$SCRATCH/server.pub PUBSUB_CURVE_KEY=$SCRATCH/client.key
start_broker -c b.conf
session curve
grep -qa "CURVE" curve.bin || fail "the CURVE capture does not show the CURVE greeting: wrong port?"
for word in "$SECRET" hidden/topic hidden-channel; do
    grep -qa "$word" curve.bin && fail "'$word' is readable in the capture of a CURVE session"
done
echo "ok: a CURVE session on loopback shows no payload, topic or channel ($(cat curve.count) packets); a plain one shows them ($(cat plain.count))"
