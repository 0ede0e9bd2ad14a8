#!/bin/bash
# The plain ZeroMQ gateway (brokerd.conf(5), broker.gateway), with a client
# nobody here wrote: Debian's pyzmq.  A pyzmq SUB on the XPUB receives [CHANNEL/TOPIC,
# payload] for what ppub publishes on pubsub channels, by prefix, binary-safe,
# and nothing of broadcast or queue channels or of retained values from
# before it came; a pyzmq PUB on the XSUB publishes into pubsub channels,
# seen by psub and by another pyzmq SUB, with the channel's rules: queue and
# broadcast channels, bad subjects, wildcards, oversized payloads and
# messages of the wrong number of frames are dropped, counted and logged
# once per kind; unknown channels are created as auto_create says.  A
# reload that moves the gateway's endpoints says they wait for a restart.
. "$(dirname "$0")/lib.sh"
P=$BUILD/ppub S=$BUILD/psub
GW="/usr/bin/python3 $TESTS/tools/gw_peer.py"
/usr/bin/python3 -c 'import zmq' 2> /dev/null || fail "python3-zmq (pyzmq) is not installed"

PORT=$(free_port) XPUB=$(free_port) XSUB=$(free_port)
conf() { # AUTO_CREATE
    cat > g.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT" ];
  gateway = { xpub = "tcp://127.0.0.1:$XPUB"; xsub = "tcp://127.0.0.1:$XSUB";
              max_subscriptions = 2000; };
  data_dir = "$SCRATCH/data";
  auto_create = "$1";
  max_message_size = 4096;
};
channels = (
  { name = "jobs"; type = "queue"; },
  { name = "alerts"; type = "broadcast"; },
  { name = "logs"; type = "pubsub"; }
);
EOF
}
conf pubsub
start_broker -c g.conf
gw() { "$BUILD/pctl" status --json | jq -r ".gateway.$1"; }
subs_are() { [ "$(gw subscriptions)" = "$1" ]; }
hex_of() { od -An -v -tx1 | tr -d ' \n'; }
# Message N of a gw_peer sub output FILE as "subject|frames after it, in hex".
frames() { sed -n "$2p" "$1" | jq -r '"\(.subject)|\(.frames[1:] | join(","))"'; }

expect_eq "$(gw xpub)" "tcp://127.0.0.1:$XPUB" "gateway xpub endpoint in pctl status"
expect_eq "$(gw xsub)" "tcp://127.0.0.1:$XSUB" "gateway xsub endpoint in pctl status"
expect_eq "$(gw subscriptions)" 0 "gateway subscriptions before any SUB"

# ---- ppub -> pubsub -> plain ZeroMQ SUB --------------------------------------
# A retained value from before: a plain SUB does not get it (gateway.c says why).
$P -c logs -t amd64/sshd --retain "old retained value" || fail "ppub --retain exited $?"
$GW sub "tcp://127.0.0.1:$XPUB" logs/amd64/ --count 3 > amd64.out 2> amd64.err &
pid_amd64=$!
$GW sub "tcp://127.0.0.1:$XPUB" "" --count 4 > all.out 2> all.err &
pid_all=$!
wait_until 10 "the two SUB sockets' subscriptions" subs_are 2
printf 'bin\000\377\nary' > bin
$P -c logs -t amd64/sshd "Accepted rsa for esser" || fail "ppub exited $?"
$P -c logs -t amd64/cron --raw < bin || fail "ppub --raw exited $?"
$P -c logs -t other/x "not under amd64" || fail "ppub exited $?"
$P -c alerts "broadcast: not for the gateway" || fail "ppub exited $?"
$P -c jobs "queue: not for the gateway" || fail "ppub exited $?"
$P -c logs -t amd64/kernel "" || fail "ppub of an empty message exited $?"
wait $pid_amd64 || fail "SUB of logs/amd64/ exited $?: $(cat amd64.err)"
wait $pid_all || fail "SUB of everything exited $?: $(cat all.err)"
expect_eq "$(jq -r '.frames | length' amd64.out all.out | sort -u)" 2 "frames per gateway message"
expect_eq "$(frames amd64.out 1)" "logs/amd64/sshd|$(printf 'Accepted rsa for esser' | hex_of)" \
    "first message of logs/amd64/ (the live one, not the retained value)"
expect_eq "$(frames amd64.out 2)" "logs/amd64/cron|$(hex_of < bin)" "a binary payload, byte for byte"
expect_eq "$(frames amd64.out 3)" "logs/amd64/kernel|" "an empty payload"
expect_eq "$(jq -r .subject all.out | tr '\n' ' ')" \
    "logs/amd64/sshd logs/amd64/cron logs/other/x logs/amd64/kernel " \
    "subjects for the SUB of everything (pubsub only, in order)"
# The SUB sockets went away: the XPUB said so and the gateway forgot them.
wait_until 10 "the subscriptions to go" subs_are 0

# More distinct prefixes than the gateway keeps (1024): everything goes to
# the XPUB, whose own matching still serves each subscriber what it asked for.
$GW sub "tcp://127.0.0.1:$XPUB" --extra 1100 logs/many/ --count 1 > many.out 2> many.err &
pid_many=$!
wait_until 10 "1101 subscriptions" subs_are 1101
expect_eq "$(gw forward_all)" true "forward_all with 1101 prefixes"
$P -c logs -t other/not-for-many "x" || fail "ppub exited $?"
$P -c logs -t many/one "for many" || fail "ppub exited $?"
wait $pid_many || fail "SUB of 1101 prefixes exited $?: $(cat many.err)"
expect_eq "$(frames many.out 1)" "logs/many/one|$(printf 'for many' | hex_of)" "what the SUB of 1101 prefixes got"
wait_until 10 "the 1101 subscriptions to go" subs_are 0
expect_eq "$(gw forward_all)" false "forward_all once nobody is subscribed"

# ---- plain ZeroMQ PUB -> pubsub -> psub and a plain SUB ------------------------
$S -v -c logs -t 'gw/#' -n 3 --format json --timeout 10000 > psub.json 2> psub.err &
pid_psub=$!
wait_for_file_lines psub.err 1
$GW sub "tcp://127.0.0.1:$XPUB" logs/gw/ --count 3 > gwsub.out 2> gwsub.err &
pid_gwsub=$!
wait_until 10 "the SUB's subscription" subs_are 1
refused0=$(gw refused)
$GW pub "tcp://127.0.0.1:$XSUB" --probe logs/probe \
    --ready "'$BUILD/pctl' status --json | jq -e '.gateway.accepted >= 1' > /dev/null" \
    '["logs/gw/a", "hello from pyzmq"]' \
    '["jobs/x", "a queue refuses"]' \
    '["alerts/x", "a broadcast channel refuses"]' \
    '["logs/gw/single-frame"]' \
    '["logs/gw/three", "frames", "are too many"]' \
    '["no-slash", "x"]' \
    '["bad name!/x", "x"]' \
    '["logs/gw/+", "a wildcard is no topic"]' \
    '["logs/gw/big", {"repeat": "x", "n": 4097}]' \
    '["logs/gw/bin", {"hex": "00ff0a41"}]' \
    '["fresh/t", "a new channel, created on first use"]' \
    '["logs/gw/last", {"repeat": "y", "n": 4096}]' || fail "pyzmq PUB exited $?"
wait $pid_psub || fail "psub exited $?: $(cat psub.err)"
wait $pid_gwsub || fail "SUB of logs/gw/ exited $?: $(cat gwsub.err)"
expect_eq "$(jq -c '[.channel, .topic, .encoding]' psub.json | tr '\n' ' ')" \
    '["logs","gw/a",null] ["logs","gw/bin","base64"] ["logs","gw/last",null] ' "what psub got from the PUB"
expect_eq "$(jq -r 'select(.topic == "gw/a") | .payload' psub.json)" "hello from pyzmq" "a text payload via the XSUB"
expect_eq "$(jq -r 'select(.topic == "gw/bin") | .payload' psub.json | base64 -d | hex_of)" "00ff0a41" \
    "a binary payload via the XSUB"
expect_eq "$(jq -r 'select(.topic == "gw/last") | .payload | length' psub.json)" 4096 \
    "a payload of exactly max_message_size"
s1=$(jq -r .seq psub.json | head -1)
[ "$(jq -r .seq psub.json | tail -1)" -gt "$s1" ] || fail "gateway messages are not numbered: $(jq -c .seq psub.json)"
expect_eq "$(jq -r .subject gwsub.out | tr '\n' ' ')" \
    "logs/gw/a logs/gw/bin logs/gw/last " "PUB -> broker -> SUB, plain ZeroMQ on both ends"
# psub got the last message, so the broker has handled all of them (one PUB's order is kept).
expect_eq "$(($(gw refused) - refused0))" 8 "messages refused and counted"
"$BUILD/pctl" channels --json | jq -e '.[] | select(.name == "fresh" and .type == "pubsub")' > /dev/null ||
    fail "channel 'fresh' was not created on first use"
# Logged once per kind: two wrong channel types, two bad frame counts, one line each.
expect_eq "$(grep -c 'gateway: dropped .* not pubsub' brokerd.log)" 1 "log lines for wrong channel types"
expect_eq "$(grep -c 'gateway: dropped .* frame' brokerd.log)" 1 "log lines for bad frame counts"
grep -q "gateway: dropped .*exceeds max_message_size 4096" brokerd.log || fail "no log line for the oversized message"
grep -q "gateway: dropped .*subject 'no-slash' is not CHANNEL/TOPIC" brokerd.log || fail "no log line for a bad subject"

# ---- auto_create = "none": a PUB cannot make channels ------------------------
stop_broker || fail "brokerd exited $? on SIGTERM"
conf none
start_broker -c g.conf
$GW pub "tcp://127.0.0.1:$XSUB" --probe logs/probe \
    --ready "'$BUILD/pctl' status --json | jq -e '.gateway.accepted >= 1' > /dev/null" \
    '["newchan/t", "nobody made this channel"]' || fail "pyzmq PUB exited $?"
wait_until 10 "the refusal of an unknown channel" eval '[ "$(gw refused)" = 1 ]'
grep -q "gateway: dropped .*unknown channel 'newchan'" brokerd.log || fail "no log line for an unknown channel"
"$BUILD/pctl" channels --json | jq -e 'all(.[]; .name != "newchan")' > /dev/null ||
    fail "channel 'newchan' exists with auto_create none"
# A reload cannot move the gateway: it says so and keeps its sockets.
OLD_XPUB=$XPUB XPUB=$(free_port)
conf none
kill -HUP "$BROKER_PID"
wait_for_log "gateway endpoint changes take effect when the broker restarts"
expect_eq "$(gw xpub)" "tcp://127.0.0.1:$OLD_XPUB" "gateway xpub after a reload with another endpoint"
# A clean exit (under the sanitizers: nothing leaked, nothing touched after free).
stop_broker || fail "brokerd exited $? on SIGTERM"
echo "ok: pyzmq SUB and PUB through the gateway, both directions with ppub/psub; 8 bad messages dropped, counted, logged once per kind"
