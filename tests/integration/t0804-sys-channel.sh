#!/bin/bash
# The broker's own channel "$broker": with broker.stats_interval_ms the
# broker publishes its counters and rates as JSON on stats/broker and
# stats/channels/NAME; nobody else may publish there; with security only a
# right that names "$broker" lets a client subscribe ("subscribe:*" does
# not).  psub reads it like any channel; the checks of what the broker
# refuses speak the wire directly (tests/tools/sys_sub.py).
. "$(dirname "$0")/lib.sh"
SUB="/usr/bin/python3 $TESTS/tools/sys_sub.py"
PORT=$(free_port)
cat > b.conf << EOF2
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT" ];
  data_dir = "$SCRATCH/data";
  stats_interval_ms = 50;
};
EOF2
expect_run 1 "'stats_interval_ms' is 50; it must be 0 \(off\) or at least 100" \
    "$BUILD/brokerd" --check -c b.conf

# ---- off by default -----------------------------------------------------------
start_broker
$SUB "$PUBSUB_BROKER" '$broker' 'stats/#' 1 1500 > off.out && fail "stats without stats_interval_ms: $(cat off.out)"
expect_eq "$(chan_stat '$broker' messages)" 0 "messages on \$broker without stats_interval_ms"
stop_broker || fail "brokerd exited $?"

# ---- on -------------------------------------------------------------------------
cat > b.conf << EOF2
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT" ];
  data_dir = "$SCRATCH/data";
  stats_interval_ms = 200;
};
EOF2
start_broker -c b.conf
"$BUILD/ppub" -c logs -t a/b -n 1000000 --size 10 --rate 200 2> ppub.err &
$SUB "$PUBSUB_BROKER" '$broker' 'stats/#' 12 5000 > stats.out || fail "stats: $(cat stats.out)"
grep '^DELIVER stats/broker ' stats.out | tail -1 | cut -d' ' -f3- > broker.json
jq -e '(.broker_id | test("^[0-9a-f]{16}$")) and .clients >= 2 and (.in_per_s | type) == "number"' \
    broker.json > /dev/null || fail "stats/broker: $(cat broker.json)"
grep '^DELIVER stats/channels/logs ' stats.out | tail -1 | cut -d' ' -f3- > logs.json
jq -e '.name == "logs" and .type == "pubsub" and .in_per_s > 0 and .messages > 0' logs.json \
    > /dev/null || fail "stats/channels/logs: $(cat logs.json)"
grep -q 'stats/channels/\$broker' stats.out && fail "the stats channel reports on itself"
# A pattern narrows it like any pubsub subscription.
$SUB "$PUBSUB_BROKER" '$broker' 'stats/channels/+' 3 5000 > chans.out || fail "$(cat chans.out)"
grep -q 'stats/broker' chans.out && fail "stats/channels/+ got stats/broker"
# psub, through the library, reads it too.
"$BUILD/psub" -c '$broker' -t 'stats/broker' -n 1 --timeout 3000 -F json > psub.json ||
    fail "psub -c '\$broker': $(cat psub.json)"
jq -e '.topic == "stats/broker"' psub.json > /dev/null || fail "psub -c '\$broker' printed $(cat psub.json)"
# Nobody publishes there.
$SUB "$PUBSUB_BROKER" '$broker' 'stats/broker' --publish '{"fake":1}' > pub.out
grep -q "^ERROR DENIED channel '\$broker' is the broker's own" pub.out || fail "a publish to \$broker: $(cat pub.out)"
expect_run 4 "invalid channel" "$BUILD/ppub" -c 'bad$name' -t x y
stop_broker || fail "brokerd exited $?"

# ---- with security: only a right naming $broker ---------------------------------
[ "$(id -u)" = 0 ] || { echo "ok: (security part skipped: becoming another user needs root)"; exit 0; }
chmod 711 "$SCRATCH"
"$BUILD/pctl" keygen server > /dev/null && "$BUILD/pctl" keygen admin > /dev/null || fail "keygen"
IPC=ipc://$SCRATCH/b.sock
cat > b.conf << EOF2
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT", "$IPC" ];
  data_dir = "$SCRATCH/data";
  curve = { secret_key_file = "$SCRATCH/server.key"; };
  ipc_mode = "0666";
  stats_interval_ms = 200;
};
security = { clients = (
  { name = "admin"; public_key = "$(sed -n 's/^public_key = "\(.*\)";/\1/p' admin.pub)"; allow = [ "admin" ]; },
  { name = "root"; uid = 0; allow = [ "subscribe:\$broker" ]; },
  { name = "nobody"; uid = 65534; allow = [ "subscribe:*", "publish:*" ]; }
); };
EOF2
"$BUILD/brokerd" --check -c b.conf > /dev/null || fail "--check: $("$BUILD/brokerd" --check -c b.conf 2>&1)"
export PUBSUB_CURVE_SERVER_KEY=$SCRATCH/server.pub PUBSUB_CURVE_KEY=$SCRATCH/admin.key
start_broker -c b.conf
setpriv --reuid 65534 --regid 65534 --clear-groups -- $SUB "$IPC" '$broker' 'stats/#' 1 3000 > nobody.out
grep -q "^ERROR DENIED" nobody.out || fail "subscribe:* reached \$broker: $(cat nobody.out)"
setpriv --reuid 65534 --regid 65534 --clear-groups -- $SUB "$IPC" '$broker' 'x' --publish y > nobody.out
grep -q "^ERROR DENIED" nobody.out || fail "publish:* published to \$broker: $(cat nobody.out)"
$SUB "$IPC" '$broker' 'stats/#' 1 3000 > root.out || fail "subscribe:\$broker: $(cat root.out)"
grep -q "^DELIVER stats/" root.out || fail "root got: $(cat root.out)"
$SUB "$IPC" '$broker' 'x' --publish y > root.out
grep -q "^ERROR DENIED" root.out || fail "root published to \$broker: $(cat root.out)"
stop_broker || fail "brokerd exited $?"
echo "ok: stats on \$broker every stats_interval_ms, rates above zero; no publishing there; subscribe:* does not reach it, subscribe:\$broker does"
