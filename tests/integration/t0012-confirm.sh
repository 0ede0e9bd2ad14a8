#!/bin/bash
# Publisher confirms and the broker's own view of itself: `ppub --confirm`
# exits 0 once the broker has taken every message (on a durable queue: on
# disk, so they survive kill -9), and `pctl status | channels | clients |
# ping --json` report what really happened, parsed with jq.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
cat > b.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT", "ipc://$SCRATCH/b.sock" ];
  data_dir = "$SCRATCH/data";
  auto_create = "pubsub";
};
channels = (
  { name = "jobs"; type = "queue"; },
  { name = "store"; type = "queue"; durable = true; },
  { name = "alerts"; type = "broadcast"; },
  { name = "logs"; type = "pubsub"; }
);
EOF
start_broker -c b.conf
P=$BUILD/ppub C=$BUILD/pctl

# A fresh broker: status in JSON.
"$C" status --json > status0.json || fail "pctl status exited $?"
jq -e . status0.json > /dev/null || fail "pctl status --json does not parse: $(cat status0.json)"
expect_eq "$(jq -r '.endpoints | sort | join(" ")' status0.json)" \
    "ipc://$SCRATCH/b.sock tcp://127.0.0.1:$PORT" "endpoints in pctl status"
expect_eq "$(jq -r .channels status0.json)" 4 "channels in pctl status"
expect_eq "$(jq -r '.broker_id | test("^[0-9a-f]+$")' status0.json)" true "a broker id"
expect_eq "$(jq -r '.uptime_s | type' status0.json)" number "uptime type"
in0=$(jq -r .messages_in status0.json)

# --confirm: exit 0 on every channel type, the messages counted in.
"$BUILD/psub" -v -c logs -t 'c/#' -n 5 --timeout 5000 > sub.out 2> sub.err &
SUB=$!
wait_for_file_lines sub.err 1
$P -c logs -t c/d --confirm m1 m2 m3 m4 m5 || fail "ppub --confirm on pubsub exited $?"
$P -c alerts --confirm "to nobody" || fail "ppub --confirm on broadcast exited $?"
$P -c jobs --confirm j1 j2 j3 || fail "ppub --confirm on a queue exited $?"
seq -f "s-%g" 1 200 | $P -c store --confirm || fail "ppub --confirm on a durable queue exited $?"
wait $SUB || fail "psub exited $?"
expect_eq "$(wc -l < sub.out)" 5 "messages the subscriber got"
expect_eq "$(chan_stat logs messages)" 5 "messages counted on logs"
expect_eq "$(chan_stat alerts messages)" 1 "messages counted on alerts"
expect_eq "$(chan_stat jobs queued)" 3 "messages queued on jobs"
expect_eq "$(chan_stat store queued)" 200 "messages queued on the durable queue"
expect_eq "$(chan_stat store durable)" true "the durable flag"
expect_eq "$(chan_stat jobs type)/$(chan_stat alerts type)/$(chan_stat logs type)" "queue/broadcast/pubsub" "channel types"
expect_eq "$(( $("$C" status --json | jq -r .messages_in) - in0 ))" 209 "messages_in after the confirms"
# --confirm is refused like any publish: too large, wrong type (exit 4).
expect_exit 4 $P -c alerts --confirm --retain "retain on a broadcast" 2> /dev/null

# clients: a named, subscribed client and its unacknowledged messages.
"$BUILD/psub" -v -c jobs -n 10 --timeout 5000 > q.out 2> q.err &
Q=$!
wait_for_file_lines q.out 3
"$C" clients --json > clients.json || fail "pctl clients exited $?"
jq -e . clients.json > /dev/null || fail "pctl clients --json does not parse"
expect_eq "$(jq '[.[] | select(.name == "psub" and .subscriptions == 1)] | length' clients.json)" 1 \
    "the consumer in pctl clients"
expect_eq "$(jq '[.[] | select(.name == "pctl")] | length' clients.json)" 1 "pctl itself in pctl clients"
expect_eq "$(jq -r '[.[].id | type] | unique | join(",")' clients.json)" number "client ids"
expect_eq "$(chan_stat jobs subscribers)" 1 "subscribers on jobs"
kill -TERM $Q
wait $Q || fail "psub exited $? on SIGTERM"
expect_eq "$(sed 's/^\[[^]]*\] //' q.out | tr '\n' ' ')" "j1 j2 j3 " "the queue consumer's messages"
expect_eq "$(chan_stat jobs queued)" 0 "queued on jobs after consuming"

# ping --json.
"$C" ping --json > ping.json || fail "pctl ping exited $?"
expect_eq "$(jq -r '.endpoint' ping.json)" "$PUBSUB_BROKER" "ping endpoint"
jq -e '.rtt_ms > 0 and .rtt_ms < 1000' ping.json > /dev/null || fail "ping rtt: $(cat ping.json)"
expect_eq "$("$C" ping -n 3 | grep -cE '^pong from .* in [0-9.]+ ms$')" 3 "pctl ping -n 3 lines"

# Confirmed on a durable queue = on disk: all 200 survive kill -9.
kill_broker
start_broker -c b.conf
expect_eq "$(chan_stat store queued)" 200 "durable messages after kill -9"
"$BUILD/psub" -c store -n 200 --timeout 5000 > store.out || fail "psub of the durable queue exited $?"
seq -f "s-%g" 1 200 | cmp -s - store.out || fail "the durable queue gave back something else"
echo "ok: --confirm on every channel type, 200 confirmed durable messages kept across kill -9; pctl JSON checked"
