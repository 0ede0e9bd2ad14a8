#!/bin/bash
# A message recovered from a durable store after a crash keeps its identity
# and says it may have been seen: messages confirmed on a durable queue,
# some of them delivered to a consumer that never acknowledged them, are
# consumed again after kill -9 and a restart; each must carry the sequence
# number it had before the crash, those delivered before the crash must be
# flagged redelivered, and the receiver must see which broker and epoch
# sent it.  Expected interface (the fix decides; the checks are in one
# place, the jq filter below): psub -v --format json gives each message
# "seq" (the original channel sequence number), "redelivered": true, and
# "epoch" and "broker" as `pctl status --json` spells them.  The broken
# behaviour (issue 14, item 6): recovered messages were renumbered from 1,
# not flagged redelivered, and id and epoch reached no API.
. "$(dirname "$0")/lib.sh"
pending "issue 14.6: crash redeliveries look like first deliveries"

durable_conf
start_broker -c b.conf
# Five messages consumed and acknowledged: the sequence numbers move on.
seq -f "p%g" 1 5 | "$BUILD/ppub" -c jobs --confirm || fail "ppub --confirm exited $?"
"$BUILD/psub" -v --format json -c jobs -n 5 > first.json 2> /dev/null || fail "first psub exited $?"
last=$(jq -s 'map(.seq) | max' first.json)
# A consumer that takes deliveries but never acknowledges them.
"$BUILD/psub" -v -c jobs > stuck.out 2> stuck.err &
STUCK=$!
wait_for_file_lines stuck.err 1
kill -STOP "$STUCK"
seq -f "m%g" 1 10 | "$BUILD/ppub" -c jobs --confirm || fail "ppub --confirm exited $?"
unacked() { local n; n=$(chan_stat jobs unacked); [ -n "$n" ] && [ "$n" -ge 1 ]; }
wait_until 10 "deliveries to the stopped consumer" unacked
n_unacked=$(chan_stat jobs unacked)
kill_broker
{ kill -KILL "$STUCK"; wait "$STUCK"; } 2> /dev/null
start_broker -c b.conf
"$BUILD/psub" -v --format json -c jobs --timeout 1000 > second.json 2> /dev/null || fail "psub after the restart exited $?"
expect_eq "$(jq -r .payload second.json | sort -V | tr '\n' ' ')" "$(seq -f 'm%g' 1 10 | tr '\n' ' ')" "messages after the restart"
# Every check of the interface is here: seq as before the crash, the
# redelivered flag on those delivered before it, epoch and broker named.
bad=$(jq -c --argjson last "$last" --argjson un "$n_unacked" '
    (.payload | ltrimstr("m") | tonumber) as $k
    | select(.seq != $last + $k
             or ($k <= $un and .redelivered != true)
             or (.epoch // "") == "" or (.broker // "") == "")
    | {payload, seq, want_seq: ($last + $k), redelivered, epoch, broker}' second.json)
[ -z "$bad" ] || fail "$(echo "$bad" | wc -l) of 10 recovered messages lack their identity ($n_unacked were delivered unacknowledged before the crash; seqs before it went up to $last); first: $(echo "$bad" | head -1)"
echo "ok: 10 recovered messages kept seq $((last + 1))..$((last + 10)), the $n_unacked delivered before the crash flagged redelivered, epoch and broker shown"
