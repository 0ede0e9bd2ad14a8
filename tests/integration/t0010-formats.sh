#!/bin/bash
# psub's output formats (psub(1), --format): plain is each payload and a
# newline; json is one object a line with channel, topic, seq and payload
# (a string when it is UTF-8, else base64 with "encoding":"base64"), and -v
# adds time, retained and redelivered; raw is the payload bytes and nothing
# else.  Every json line is parsed with jq.
. "$(dirname "$0")/lib.sh"
start_broker
P=$BUILD/ppub S=$BUILD/psub

# ---- plain ------------------------------------------------------------------
$P -c jobs "one" "two words" "" "tab	inside" || fail "ppub exited $?"
$S -c jobs -n 4 --timeout 3000 > plain.out || fail "psub plain exited $?"
printf 'one\ntwo words\n\ntab\tinside\n' > plain.want
cmp -s plain.want plain.out || fail "plain output differs: $(od -c plain.out | head -5)"

# ---- json -------------------------------------------------------------------
printf '\xff\xfe\x00binary' > bin
$P -c jobs 'quote " and \ backslash' 'ünïcödé ✓' "" || fail "ppub exited $?"
$P -c jobs --raw < bin || fail "ppub --raw exited $?"
$S -c jobs -n 4 --format json --timeout 3000 > q.json || fail "psub json exited $?"
expect_eq "$(wc -l < q.json)" 4 "json lines"
jq -e . q.json > /dev/null || fail "psub's json does not parse: $(head -3 q.json)"
expect_eq "$(jq -c '[.channel, .topic, (.seq | type)]' q.json | sort -u)" '["jobs","","number"]' \
    "channel, topic and seq of queue messages"
expect_eq "$(jq -r 'keys_unsorted | join(",")' q.json | head -1)" "channel,topic,seq,payload" "json keys"
expect_eq "$(jq -r '.payload' q.json | head -1)" 'quote " and \ backslash' "a payload with quotes"
expect_eq "$(jq -r '.payload' q.json | sed -n 2p)" 'ünïcödé ✓' "a UTF-8 payload"
expect_eq "$(jq -c '[.payload, .encoding]' q.json | sed -n 3p)" '["",null]' "an empty payload"
expect_eq "$(jq -r '.encoding' q.json | sed -n 4p)" base64 "encoding of a binary payload"
jq -r 'select(.encoding == "base64") | .payload' q.json | base64 -d > bin.back
cmp -s bin bin.back || fail "the base64 payload does not decode to the bytes sent"
s1=$(jq -r .seq q.json | head -1)
expect_eq "$(jq -r .seq q.json | tr '\n' ' ')" "$s1 $((s1 + 1)) $((s1 + 2)) $((s1 + 3)) " "seq numbers in order"

# json on pubsub, with -v: topic, the retained flag and the receive time.
$P -c logs -t sensors/t1 --retain "21.5" || fail "ppub --retain exited $?"
$S -v -c logs -t 'sensors/#' -n 2 --format json --timeout 5000 > p.json 2> p.err &
pid=$!
wait_for_file_lines p.err 1
$P -c logs -t sensors/t2 "live" || fail "ppub exited $?"
wait $pid || fail "psub json -v exited $?"
jq -e . p.json > /dev/null || fail "psub's json -v does not parse"
expect_eq "$(jq -c '[.channel, .topic, .payload, .retained, .redelivered]' p.json | tr '\n' ' ')" \
    '["logs","sensors/t1","21.5",true,false] ["logs","sensors/t2","live",false,false] ' "json -v on pubsub"
now=$(date +%s)
jq -e --argjson now "$now" '(.time | type) == "number" and .time > $now - 60 and .time < $now + 60' \
    p.json > /dev/null || fail "json -v time is not the receive time: $(jq -c .time p.json)"

# ---- raw --------------------------------------------------------------------
# Several messages in raw are their bytes back to back, nothing added.
printf 'abc' > m1
printf '\n\x00\n' > m2
$P -c jobs --raw < m1 || fail "ppub exited $?"
$P -c jobs --raw < m2 || fail "ppub exited $?"
$P -c jobs --raw < bin || fail "ppub exited $?"
$S -c jobs -n 3 --format raw --timeout 3000 > raw.out || fail "psub raw exited $?"
cat m1 m2 bin > raw.want
cmp -s raw.want raw.out || fail "raw output differs: $(od -c raw.out | head -5)"
# Plain with -v: "[TOPIC #SEQ HH:MM:SS.mmm retained] payload".
$S -v -c logs -t sensors/t1 -n 1 --timeout 3000 > v.out 2> /dev/null || fail "psub -v exited $?"
grep -Eq '^\[sensors/t1 #[0-9]+ [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} retained\] 21\.5$' v.out ||
    fail "plain -v line: $(cat v.out)"
echo "ok: plain, json (text, UTF-8, empty, base64, -v fields) and raw"
