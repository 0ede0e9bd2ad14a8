#!/bin/bash
# SIGHUP reload: a channel added to the file appears, a changed limit takes
# effect, and nothing is lost: messages waiting in a queue (in memory and
# durable), a retained value and a connected subscriber all survive.  A
# broken file is refused with FILE:LINE in the log and the configuration in
# use keeps serving.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
write_conf() { # EXTRA_BROKER_LINE EXTRA_CHANNEL_LINE
    cat > r.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT" ];
  data_dir = "$SCRATCH/data";
  auto_create = "none";
  $1
};
channels = (
  { name = "jobs"; type = "queue"; },
  { name = "disk"; type = "queue"; durable = true; },
  { name = "logs"; type = "pubsub"; },
  { name = "alerts"; type = "broadcast"; }$2
);
EOF
}
write_conf "" ""
start_broker -c r.conf

# State that must survive: 200 queued, 50 durable queued, a retained
# value, and a subscriber attached to a broadcast channel.
seq -f "job-%g" 1 200 | "$BUILD/ppub" -c jobs || fail "ppub jobs exited $?"
seq -f "disk-%g" 1 50 | "$BUILD/ppub" -c disk --confirm || fail "ppub disk exited $?"
"$BUILD/ppub" -c logs -t host/app --retain "kept" || fail "ppub --retain exited $?"
"$BUILD/psub" -v -c alerts > alerts.out 2> alerts.err &
SUB_PID=$!
wait_for_file_lines alerts.err 1
"$BUILD/ppub" -c extra "x" 2> /dev/null
expect_eq "$?" 4 "ppub to a channel not declared yet (auto_create none)"
head -c 3000 /dev/zero | tr '\0' 'a' > big
"$BUILD/ppub" -c alerts --raw < big || fail "a 3000-byte message refused before the reload"

# Add a channel and lower a limit, then reload.
write_conf "max_message_size = 2048;" ',
  { name = "extra"; type = "broadcast"; }'
kill -HUP "$BROKER_PID"
wait_for_log "configuration reloaded"
chans=$("$BUILD/pctl" channels --json) || fail "pctl channels exited $?"
expect_eq "$(jq -r '.[] | select(.name == "extra") | .type' <<< "$chans")" broadcast "the new channel"
expect_eq "$(jq -r '.[] | select(.name == "jobs") | .queued' <<< "$chans")" 200 "jobs queued after the reload"
expect_eq "$(jq -r '.[] | select(.name == "disk") | .queued' <<< "$chans")" 50 "disk queued after the reload"
"$BUILD/ppub" -c extra "hello" || fail "ppub to the new channel exited $?"
"$BUILD/ppub" -c alerts --raw < big 2> big.err
expect_eq "$?" 4 "a 3000-byte message after max_message_size became 2048"
"$BUILD/ppub" -c alerts "after-reload" || fail "ppub alerts exited $?"
wait_for_file_lines alerts.out 2
expect_eq "$(tail -n 1 alerts.out | sed 's/^\[[^]]*\] //')" "after-reload" \
    "the subscriber connected before the reload"

# A broken file: refused with its line, the old configuration serves on.
write_conf "max_message_size = 2048;
  colour = \"blue\";" ',
  { name = "extra"; type = "broadcast"; },
  { name = "extra"; type = "queue"; }'
kill -HUP "$BROKER_PID"
wait_for_log "reload failed"
grep -q "r.conf:6: unknown key 'colour'" brokerd.log || fail "no r.conf:6 error in the log"
grep -q "r.conf:14: channel \"extra\" declared twice" brokerd.log || fail "no r.conf:14 error in the log"
"$BUILD/ppub" -c extra "still" || fail "the channel of the configuration in use is gone"
"$BUILD/ppub" -c alerts --raw < big 2> /dev/null
expect_eq "$?" 4 "the limit of the configuration in use"

# Everything queued before the reloads is still there, in order.
"$BUILD/psub" -c jobs -n 200 --timeout 5000 > jobs.out || fail "psub jobs exited $?"
seq -f "job-%g" 1 200 | cmp -s - jobs.out || fail "queued messages lost or reordered by the reload"
"$BUILD/psub" -c disk -n 50 --timeout 5000 > disk.out || fail "psub disk exited $?"
seq -f "disk-%g" 1 50 | cmp -s - disk.out || fail "durable messages lost by the reload"
"$BUILD/psub" -c logs -t 'host/#' -n 1 --timeout 5000 > ret.out || fail "retained value lost"
expect_eq "$(cat ret.out)" "kept" "the retained value"
kill -0 "$BROKER_PID" || fail "brokerd died"
kill "$SUB_PID"
wait "$SUB_PID" || fail "the alerts subscriber exited $? on SIGTERM"
stop_broker
expect_eq "$?" 0 "brokerd's exit status after two reloads"
echo "ok: channel added, limit lowered, 250 queued + retained + subscriber kept; broken file refused with FILE:LINE"
