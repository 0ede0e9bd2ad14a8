#!/bin/bash
# pctl top: rates computed by pctl from two looks at the broker, -d apart.
# Its output not a terminal (or -n 1): one table, then exit; -n N: N
# tables; --json: one object a line.  A publisher at 100 msg/s shows as
# about 100 msg/s on its channel and as in/out of the broker.  And: ping
# --json to the microsecond, "did you mean" for a mistyped command.
. "$(dirname "$0")/lib.sh"

start_broker # jobs (queue), alerts (broadcast), logs (pubsub)
C=$BUILD/pctl

"$BUILD/psub" -v -c logs > /dev/null 2> sub.err &
wait_for_file_lines sub.err 1
"$BUILD/ppub" -i feeder -c logs -t rate/x --rate 100 -n 100000 "tick" &
wait_until 10 "the feeder's first messages" eval '[ "$(chan_stat logs messages)" -gt 20 ]'

# Not a terminal: one table and exit, without -n.
timeout 20 "$C" top -d 1 > top.txt || fail "pctl top exited $?"
head -1 top.txt | grep -Eq "^pctl top - $PUBSUB_BROKER, up [0-9]+ s, 3 clients, 3 channels; in [0-9.]+ msg/s" ||
    fail "top's first line: $(head -1 top.txt)"
grep -Eq '^CHANNEL +TYPE +IN_PER_S +QUEUED +UNACKED +DROPPED_PER_S +RETAINED +SUBSCRIBERS$' top.txt ||
    fail "no channel table: $(cat top.txt)"
grep -Eq '^logs +pubsub +[0-9.]+ ' top.txt || fail "no row for logs: $(cat top.txt)"
grep -Eq '^[0-9]+ +feeder ' top.txt || fail "no row for the feeder client: $(cat top.txt)"
expect_eq "$(grep -c '^pctl top' top.txt)" 1 "tables printed when stdout is not a terminal"

# --json, -n 2: two objects; the rates of the feeder's channel.
timeout 20 "$C" top --json -n 2 -d 1 > top.json || fail "pctl top --json exited $?"
expect_eq "$(wc -l < top.json)" 2 "objects from top --json -n 2"
while read -r line; do
    rate=$(jq -r '.channel_rates[] | select(.channel == "logs") | .in_per_s' <<< "$line")
    jq -e ".in_per_s > 0 and .out_per_s > 0 and .interval_s >= 0.9" <<< "$line" > /dev/null ||
        fail "broker rates: $line"
    # 100 msg/s, give or take what a loaded machine does to the two looks.
    awk -v r="$rate" 'BEGIN { exit !(r >= 40 && r <= 200) }' || fail "logs in_per_s $rate, want about 100"
done < top.json
jq -e '.channel_rates[0].channel == "logs" and (.busiest_clients | length) == 3' < <(head -1 top.json) > /dev/null ||
    fail "the busiest channel first, every client listed: $(head -1 top.json)"

# ping --json: milliseconds with at most three decimals.
"$C" ping --json > ping.json || fail "pctl ping --json exited $?"
grep -Eq '^\{"endpoint":"[^"]+","rtt_ms":[0-9]+(\.[0-9]{1,3})?\}$' ping.json || fail "ping --json: $(cat ping.json)"

# Mistyped commands and options.
expect_usage "^pctl: unknown command 'chanels'; did you mean 'channels'\\?$" "$C" chanels
expect_usage "^pctl: unknown command 'frobnicate'$" "$C" frobnicate
expect_usage "^pctl: unknown option --jsno; did you mean --json\\?$" "$C" --jsno status
expect_usage "ambiguous option --c \\(--curve-server-key, --curve-key, --count, --clear\\)" "$C" --c 3 ping
expect_usage "option -n needs a value" "$C" ping -n
expect_usage "invalid delay" "$C" top -d 0
echo "ok: top prints one table off a terminal and computes rates (about 100 msg/s seen), ping --json to the µs, did you mean"
