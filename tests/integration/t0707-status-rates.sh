#!/bin/bash
# Issue 17.8: `pctl status` shows the broker's rates over the last 1 s,
# 10 s and 60 s (messages in, out and dropped per second), in its list of
# fields and in --json; a publisher at 100 msg/s shows as about 100 in
# each window (the longer ones span the broker's life while it is younger
# than them), and once it stops the 1 s window falls to 0 while the 60 s
# one still remembers it.  pctl top, which computes its rates itself from
# two looks, reads about the same.
. "$(dirname "$0")/lib.sh"

start_broker
C=$BUILD/pctl

"$BUILD/psub" -v -c logs > /dev/null 2> sub.err &
wait_for_file_lines sub.err 1
"$BUILD/ppub" -c logs -t rate/x --rate 100 -n 100000 "tick" &
FEEDER=$!
# Three seconds of feeding, seen by the broker's own counter.
wait_until 20 "300 messages in" eval '[ "$(chan_stat logs messages)" -ge 300 ]'

# about RATE WHAT: RATE is 100 msg/s, give or take what a loaded machine does.
about() {
    awk -v r="$1" 'BEGIN { exit !(r >= 40 && r <= 200) }' || fail "$2 is $1, want about 100"
}
"$C" status --json > st.json || fail "pctl status --json exited $?"
for w in 1s 10s 60s; do
    about "$(jq -r ".rates[\"$w\"].in" st.json)" "rates.$w.in"
    about "$(jq -r ".rates[\"$w\"].out" st.json)" "rates.$w.out"
    expect_eq "$(jq -r ".rates[\"$w\"].dropped" st.json)" 0 "rates.$w.dropped"
done
"$C" top --json -n 1 -d 1 > top.json || fail "pctl top exited $?"
about "$(jq -r .in_per_s top.json)" "top's in_per_s"

# Without --json: a group of fields per window.
"$C" status > st.txt || fail "pctl status exited $?"
grep -Eq '^rates:$' st.txt || fail "no rates in pctl status: $(cat st.txt)"
for w in 1s 10s 60s; do
    grep -A 4 "^  $w:" st.txt | grep -Eq '^    in +[0-9]+$' || fail "no $w in rate: $(cat st.txt)"
done

# The feeder stops: the last second is quiet, the last minute is not.
kill "$FEEDER"
wait "$FEEDER" 2> /dev/null
wait_until 10 "rates.1s.in to fall to 0" \
    eval '[ "$("$C" status --json | jq -r ".rates[\"1s\"].in")" = 0 ]'
"$C" status --json > st.json || fail "pctl status --json exited $?"
jq -e '.rates["60s"].in > 0' st.json > /dev/null || fail "60 s window forgot the feeder: $(jq -c .rates st.json)"
echo "ok: status rates over 1/10/60 s, about 100 msg/s while fed, 1 s window back to 0 after"
