#!/bin/bash
# CURVE on tcp, clients named by their public keys in security.clients.
# A plain client cannot connect (exit 2 at once, saying CURVE is needed),
# nor one with a wrong server key (exit 2); an unknown client key is
# refused at the handshake (exit 4) and logged once, however often it
# comes; an allowed client publishes and subscribes; one that may
# subscribe but not publish gets exit 4 with a one-line reason, logged
# once per client and reason, not per message; send and consume are the
# queue's rights; pctl needs "admin"; a responder with "reply" alone gets
# the requests and none of the messages.
. "$(dirname "$0")/lib.sh"
P=$BUILD/ppub S=$BUILD/psub C=$BUILD/pctl

"$C" keygen server > /dev/null || fail "pctl keygen server exited $?"
expect_eq "$(stat -c %a server.key)" 600 "mode of server.key"
for k in admin reader writer responder stranger; do
    "$C" keygen $k > $k.z85 || fail "pctl keygen $k exited $?"
done
PORT=$(free_port)
cat > b.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT" ];
  data_dir = "$SCRATCH/data";
  curve = { secret_key_file = "server.key"; };
};
channels = ( { name = "jobs"; type = "queue"; }, { name = "rpc"; type = "queue"; } );
security = { clients = (
  { name = "admin"; public_key = "$(cat admin.z85)";
    allow = [ "admin", "publish:*", "subscribe:*", "send:*", "consume:*", "request:*" ]; },
  { name = "reader"; public_key = "$(cat reader.z85)"; allow = [ "subscribe:logs" ]; },
  { name = "writer"; public_key = "$(cat writer.z85)";
    allow = [ "publish:logs", "send:jobs", "request:rpc" ]; },
  { name = "responder"; public_key = "$(cat responder.z85)"; allow = [ "reply:rpc" ]; }
); };
EOF
"$BUILD/brokerd" --check -c b.conf > check.out 2>&1 || fail "--check: $(cat check.out)"
export PUBSUB_CURVE_SERVER_KEY=$SCRATCH/server.pub PUBSUB_CURVE_KEY=$SCRATCH/admin.key
start_broker -c b.conf
grep -q "listening on tcp://127.0.0.1:$PORT (CURVE)" brokerd.log || fail "the broker does not say it speaks CURVE"

ms() { echo $(($(date +%s%N) / 1000000)); }

# Without CURVE, or with the wrong server key: exit 2 at once, not after the timeout.
t0=$(ms)
expect_run 2 'cannot connect to .*CURVE encryption' env -u PUBSUB_CURVE_SERVER_KEY -u PUBSUB_CURVE_KEY \
    "$P" --timeout 5000 -c logs -t a "in plain text"
[ $(($(ms) - t0)) -lt 4000 ] || fail "the plain client took $(($(ms) - t0)) ms to give up"
t0=$(ms)
expect_run 2 'closed the connection during the CURVE handshake' \
    env PUBSUB_CURVE_SERVER_KEY=stranger.pub "$P" --timeout 5000 -c logs -t a "wrong server key"
[ $(($(ms) - t0)) -lt 4000 ] || fail "the client with a wrong server key took $(($(ms) - t0)) ms"

# An unknown client key: refused at the handshake, logged once for both tries.
expect_run 4 "refused this client's CURVE key" env PUBSUB_CURVE_KEY=stranger.key \
    "$P" --timeout 5000 -c logs -t a "unknown key"
expect_run 4 "refused this client's CURVE key" env PUBSUB_CURVE_KEY=stranger.key "$C" ping
wait_for_log "refused a client from 127.0.0.1 at the handshake: its CURVE public key"
expect_eq "$(grep -cF "CURVE public key $(cat stranger.z85) is not in security.clients" brokerd.log)" 1 \
    "log lines for the unknown key"
grep -q "connected.*stranger" brokerd.log && fail "the unknown key got a session"

# An allowed client publishes, another one subscribes.
PUBSUB_CURVE_KEY=reader.key "$S" -v -c logs -t 'a/#' -n 2 --timeout 5000 > got 2> sub.err &
sub=$!
wait_for_file_lines sub.err 1
PUBSUB_CURVE_KEY=writer.key "$P" -c logs -t a/b first second || fail "the writer's ppub exited $?"
wait $sub || fail "the reader's psub exited $?"
expect_eq "$(sed 's/^\[[^]]*\] //' got | tr '\n' ' ')" "first second " "messages over CURVE"

# The reader may subscribe, not publish: exit 4, one line; one log line for three messages.
expect_run 4 "not allowed on 'logs': neither 'publish:logs' nor 'send:logs' is among the rights of reader" \
    env PUBSUB_CURVE_KEY=reader.key "$P" -c logs -t a/b one two three
wait_for_log "\(reader\) refused: 'publish:logs'"
expect_eq "$(grep -cF "(reader) refused: 'publish:logs'" brokerd.log)" 1 "refusals logged for one client"
expect_run 4 "neither 'subscribe:logs' nor 'consume:logs' is among the rights of writer" \
    env PUBSUB_CURVE_KEY=writer.key "$S" -c logs -n 1 --timeout 500

# Queues: send and consume.  The refusal names the rights of both kinds of
# channel, so that it does not tell which channels are queues.
PUBSUB_CURVE_KEY=writer.key "$P" -c jobs "job 1" || fail "send to jobs exited $?"
expect_run 4 "neither 'subscribe:jobs' nor 'consume:jobs' is among the rights of writer" \
    env PUBSUB_CURVE_KEY=writer.key "$S" -c jobs -n 1 --timeout 500
expect_run 4 "neither 'publish:jobs' nor 'send:jobs' is among the rights of reader" \
    env PUBSUB_CURVE_KEY=reader.key "$P" -c jobs "job 2"
expect_eq "$("$S" -c jobs -n 1 --timeout 3000)" "job 1" "the job, consumed by admin"

# Admin commands need the admin right.
expect_run 4 "not allowed: 'admin' is not among the rights of writer" \
    env PUBSUB_CURVE_KEY=writer.key "$C" status
"$C" clients --json > clients.json || fail "pctl clients as admin exited $?"
expect_eq "$(jq -r '.[] | select(.name == "pctl") | .user' clients.json)" admin "user of pctl in pctl clients"

# "reply" alone: the responder gets requests, and a message sent to the queue stays queued.
"$P" -c rpc "a plain message" || fail "send to rpc exited $?"
PUBSUB_CURVE_KEY=responder.key "$S" -v -c rpc --reply 'tr a-z A-Z' -n 1 --timeout 5000 > r.out 2> r.err &
resp=$!
wait_for_file_lines r.err 1
expect_eq "$(PUBSUB_CURVE_KEY=writer.key "$P" -c rpc --request "hello")" "HELLO" "reply to the writer's request"
wait $resp || fail "the responder exited $?"
grep -q "a plain message" r.out && fail "the responder was given the queued message"
expect_eq "$(chan_stat rpc queued)" 1 \
    "messages still queued on rpc"
expect_run 4 "'request:rpc' is not among the rights of reader" \
    env PUBSUB_CURVE_KEY=reader.key "$P" -c rpc --request "hello"
echo "ok: plain and wrong-server-key clients exit 2 at once, unknown key refused and logged once, rights per verb with exit 4, admin, requests-only responder"
