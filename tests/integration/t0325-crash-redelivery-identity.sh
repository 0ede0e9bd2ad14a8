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
# not flagged redelivered, and id and epoch reached no API.  Last, a store
# written before messages kept their number (MSG records, no sequence
# number) is still read: its messages are numbered afresh, flagged
# redelivered.
. "$(dirname "$0")/lib.sh"

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
# A store of the older format: three MSG records (type 1) as brokers wrote
# them before, made here byte for byte (len crc type id topic_len topic data),
# the checksum zlib's CRC-32.  The third is long: brokerd checks records
# of 32 bytes and more with ISA-L's CRC, which must give zlib's value.
stop_broker || fail "brokerd exited $? on SIGTERM"
mkdir -p data/queues/old
python3 - data/queues/old/0000000000000001.seg << 'EOF'
import struct, sys, zlib
out = b""
for rid, data in ((1, b"old1"), (2, b"old2"), (3, bytes(range(97, 123)) * 40)):
    body = struct.pack(">BQH", 1, rid, 0) + data
    out += struct.pack(">II", len(body), zlib.crc32(body)) + body
open(sys.argv[1], "wb").write(out)
EOF
sed -i 's/durable = true; *}/durable = true; }, { name = "old"; type = "queue"; durable = true; }/' b.conf
start_broker -c b.conf
"$BUILD/psub" -v --format json -c old -n 3 --timeout 2000 > old.json 2> /dev/null || fail "psub on the older store exited $?"
expect_eq "$(jq -c '[(.payload | if length > 4 then [length, .[0:3]] else . end), .seq, .redelivered]' old.json | tr '\n' ' ')" \
    '["old1",1,true] ["old2",2,true] [[1040,"abc"],3,true] ' "messages of an older store"
grep -q "durable queue 'old': recovered 3 messages" "$SCRATCH/brokerd.log" || fail "the older store was not recovered whole: $(grep "'old'" "$SCRATCH/brokerd.log" | tail -2)"
echo "ok: 10 recovered messages kept seq $((last + 1))..$((last + 10)), the $n_unacked delivered before the crash flagged redelivered, epoch and broker shown; an older store read"
