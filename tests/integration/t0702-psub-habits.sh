#!/bin/bash
# psub as users of mosquitto_sub and nats know it: several -c at once,
# -t CHANNEL:PATTERN and $PUBSUB_CHANNEL for the channel, -C N, -W SECS
# (total time, beside the idle --timeout), -F templates (%c %t %p %l %s %j
# %r and escapes); a topic pattern on a queue or broadcast channel is
# refused with a clear message instead of being ignored.
. "$(dirname "$0")/lib.sh"

start_broker # jobs (queue), alerts (broadcast), logs (pubsub)
P=$BUILD/ppub S=$BUILD/psub

# Two -c: both channels, the channel in the template.
"$S" -v -c logs -c alerts -C 2 --timeout 5000 -F '%c|%t|%p|%l' > two.out 2> two.err &
pid=$!
wait_for_file_lines two.err 1
expect_eq "$(cat two.err)" "psub: subscribed to 'logs' and 'alerts'" "psub -v with two channels"
"$P" -c logs -t a/b "to logs" || fail "ppub exited $?"
"$P" -c alerts "to alerts" || fail "ppub exited $?"
wait "$pid" || fail "psub -c logs -c alerts exited $?"
expect_eq "$(tr '\n' ' ' < two.out)" "logs|a/b|to logs|7 alerts||to alerts|9 " "psub -c logs -c alerts"

# -t CHANNEL:PATTERN without -c, twice; the pattern filters, ':' alone takes all.
"$S" -v -t logs:'x/#' -t alerts: -C 2 --timeout 5000 -F '%c %p' > split.out 2> split.err &
pid=$!
wait_for_file_lines split.err 1
"$P" -c logs -t y/1 "not for x" && "$P" -c logs -t x/1 "for x" && "$P" -c alerts "alert" || fail "ppub exited $?"
wait "$pid" || fail "psub -t CHANNEL:PATTERN exited $?"
expect_eq "$(tr '\n' ' ' < split.out)" "logs for x alerts alert " "psub -t logs:x/# -t alerts:"

# $PUBSUB_CHANNEL; %s %r %j and the \t escape.
"$P" -c logs -t cfg/a --retain "kept" || fail "ppub exited $?"
PUBSUB_CHANNEL=logs "$S" -t 'cfg/#' -C 1 --timeout 3000 -F '%s\t%r\t%j' > env.out || fail "psub exited $?"
IFS=$'\t' read -r seq ret json < env.out
[[ "$seq" =~ ^[0-9]+$ ]] || fail "%s gave '$seq'"
expect_eq "$ret" 1 "%r of a retained value"
expect_eq "$(jq -r '.channel + " " + .topic + " " + .payload' <<< "$json")" "logs cfg/a kept" "%j"

# -W: the whole run is bounded, however busy the channel.
"$P" -c logs -t busy/x --rate 50 -n 1000 "tick" &
feeder=$!
start=$(date +%s%N)
"$S" -c logs -t 'busy/#' -W 1 --timeout 5000 > busy.out || fail "psub -W 1 exited $?"
took=$((($(date +%s%N) - start) / 1000000))
kill "$feeder" 2> /dev/null
[ "$took" -ge 900 ] && [ "$took" -lt 3000 ] || fail "psub -W 1 ran $took ms"
[ -s busy.out ] || fail "psub -W 1 received nothing from a busy channel"
expect_run 3 "only 0 of 5 messages on 'logs' within 1 s" "$S" -c logs -t none/x -C 5 -W 1

# Topics on channels without topics are refused, and nothing is consumed.
"$P" -c jobs "a job" || fail "ppub exited $?"
expect_run 1 "^psub: 'jobs' is a queue channel: topics \\(-t 'a/b'\\) apply only to pubsub channels" \
    "$S" -c jobs -t a/b -C 1 --timeout 1000
expect_run 1 "'alerts' is a broadcast channel" "$S" -c alerts -t 'x/#' -C 1 --timeout 1000
expect_eq "$(chan_stat jobs queued)" 1 "the job is still queued"
expect_eq "$("$S" -c jobs -C 1 --timeout 3000)" "a job" "the job, consumed without a topic"

# Usage errors.
expect_usage "unknown format 'jsn'" "$S" -c logs -F jsn
expect_usage "unknown %q in format" "$S" -c logs -F '%q'
expect_usage "no channel given" env -u PUBSUB_CHANNEL "$S" -t 'a/#'
expect_usage "did you mean --count" "$S" -c logs --cuont 3
echo "ok: several channels, CHANNEL:PATTERN, \$PUBSUB_CHANNEL, -C, -W, -F templates, topics refused on queue and broadcast"
