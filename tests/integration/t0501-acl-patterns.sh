#!/bin/bash
# Access rules with '*' patterns in channel names: each pattern covers the
# names it should and no others, on pubsub, broadcast and queue channels;
# a channel a client may not use is not created on first use by it; and
# SIGHUP changes the rules of clients already connected: a right given is
# usable at once, a right withdrawn ends the subscription it allowed and
# refuses the next publish of a live session, a client taken out of
# security.clients is forgotten and refused.
. "$(dirname "$0")/lib.sh"
P=$BUILD/ppub S=$BUILD/psub C=$BUILD/pctl

"$C" keygen server > /dev/null && "$C" keygen admin > admin.z85 && "$C" keygen ops > ops.z85 ||
    fail "pctl keygen exited $?"
PORT=$(free_port)
# write_conf OPS_RIGHTS: the file, with the rights of "ops" (and without
# "ops" at all when OPS_RIGHTS is "none").
write_conf() {
    local ops="{ name = \"ops\"; public_key = \"$(cat ops.z85)\"; allow = [ $1 ]; },"
    [ "$1" = none ] && ops=
    cat > b.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT" ];
  data_dir = "$SCRATCH/data";
  curve = { secret_key_file = "$SCRATCH/server.key"; };
};
channels = (
  { name = "build-x"; type = "queue"; },
  { name = "alerts.disk"; type = "broadcast"; },
  { name = "alerts"; type = "broadcast"; }
);
security = { clients = (
  $ops
  { name = "admin"; public_key = "$(cat admin.z85)"; allow = [ "admin", "publish:*", "subscribe:*" ]; }
); };
EOF
}
write_conf '"publish:logs.*", "subscribe:*.audit", "send:build-*", "consume:build-*", "subscribe:alerts.*"'
export PUBSUB_CURVE_SERVER_KEY=$SCRATCH/server.pub PUBSUB_CURVE_KEY=$SCRATCH/admin.key
start_broker -c b.conf
OPS="env PUBSUB_CURVE_KEY=$SCRATCH/ops.key"

# may CODE CMD...: CMD exits CODE, 4 with the broker's "among the rights" refusal.
may() {
    local want=$1
    shift
    expect_run "$want" "$([ "$want" = 4 ] && echo "among the rights of ops")" "$@"
}
may 0 $OPS "$P" -c logs.amd64 -t sshd "allowed"
may 0 $OPS "$P" -c logs.a.b -t x "allowed"
may 4 $OPS "$P" -c logs -t x "'logs.*' needs the dot"
may 4 $OPS "$P" -c xlogs.a -t x "'logs.*' is anchored at the start"
may 4 $OPS "$P" -c logs.amd64x -t x --request "request is another right"
may 0 $OPS "$S" -c sec.audit --timeout 100
may 0 $OPS "$S" -c .audit --timeout 100
may 4 $OPS "$S" -c audit -n 1 --timeout 100
may 4 $OPS "$S" -c sec.audit.old -n 1 --timeout 100
may 4 $OPS "$S" -c logs.amd64 -n 1 --timeout 100
may 0 $OPS "$P" -c build-x "a build"
may 4 $OPS "$P" -c build "no dash"
may 0 $OPS "$S" -c build-x -n 1 --timeout 3000
expect_eq "$(cat out)" "a build" "the build job, consumed"
may 4 $OPS "$P" -c alerts.disk "publish is not subscribe"
may 0 $OPS "$S" -c alerts.disk --timeout 100
may 4 $OPS "$S" -c alerts -n 1 --timeout 100

# A refused name is not created on first use; an allowed one is.
"$C" channels --json > ch.json || fail "pctl channels exited $?"
expect_eq "$(jq -r '[.[].name] | map(select(. == "xlogs.a" or . == "audit" or . == "build")) | length' ch.json)" 0 \
    "channels created by refused commands"
expect_eq "$(jq -r '[.[].name] | map(select(. == "logs.amd64" or . == "sec.audit")) | length' ch.json)" 2 \
    "channels created by allowed commands"

# SIGHUP: "publish:alerts.*" is given, "subscribe:*.audit" and
# "publish:logs.*" withdrawn.  A publisher that keeps its session across
# the reload is judged by the new rules at its next message, though the
# broker let its last one through to the same channel.
$OPS "$S" -v -c sec.audit --timeout 20000 > audit.out 2> audit.err &
audit=$!
"$S" -v -c logs.live --timeout 20000 > live.out 2> live.err &
live=$!
wait_for_file_lines audit.err 1
wait_for_file_lines live.err 1
mkfifo live.in
$OPS "$P" -c logs.live < live.in > live.pub.out 2> live.pub.err &
live_pub=$!
exec 7> live.in
echo "before the reload" >&7
wait_for_file_lines live.out 1
write_conf '"publish:alerts.*", "send:build-*", "consume:build-*", "subscribe:alerts.*"'
kill -HUP "$BROKER_PID"
wait_for_log "configuration reloaded"
wait_for_log "subscription to 'sec.audit' removed, its right was withdrawn"
echo "after the reload" >&7
exec 7>&-
wait "$live_pub"
rc=$?
[ "$rc" = 4 ] || fail "the publisher whose right was withdrawn exited $rc, want 4: $(cat live.pub.err)"
grep -q "among the rights of ops" live.pub.err || fail "the withdrawn publisher says: $(cat live.pub.err)"
kill "$live"
wait "$live" 2> /dev/null
grep -q "after the reload" live.out && fail "a publish right withdrawn by a reload still let a message through"
may 0 $OPS "$P" -c alerts.disk "allowed since the reload"
"$P" -c sec.audit "after the withdrawal" || fail "admin's publish exited $?"
grep -q "after the withdrawal" audit.out && fail "a withdrawn subscription still delivered"
kill "$audit"

# ops is taken out: its session is forgotten, a new one refused at the handshake.
$OPS "$S" -c alerts.disk --timeout 20000 > gone.out 2> gone.err &
gone=$!
wait_until 10 "ops subscribed" eval "\"$C\" clients --json | jq -e '.[] | select(.user == \"ops\" and .subscriptions == 1)' > /dev/null"
write_conf none
kill -HUP "$BROKER_PID"
wait_for_log "client [0-9]+ is no longer in security.clients, forgotten"
wait $gone
rc=$?
[ "$rc" = 4 ] || fail "the subscriber taken out of security.clients exited $rc, want 4: $(cat gone.err)"
grep -q "not allowed" gone.err || fail "the forgotten subscriber says: $(cat gone.err)"
echo "ok: '*' patterns per verb and channel type, refused names not created, rules reloaded for live clients"
