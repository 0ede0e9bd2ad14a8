#!/bin/bash
# Damage in an older segment of a durable queue sets aside everything after
# it, across segments: a queue whose store spans two 64 MiB segments gets
# one flipped bit in a record of the first; after a restart the consumer
# gets exactly the intact messages before the damage, in order, and the
# damage is logged.  The broken behaviour (issue 14, item 5): the records
# after the damage in the first segment were set aside, but the second
# segment was served after them, so the consumer saw messages 0-9 and then
# a later history.  (Should the fix serve later segments when they are
# provably independent, it must say so; this test expects the stop.)
. "$(dirname "$0")/lib.sh"

durable_conf 'fsync = "batch";' 'max_queued = 100000;'
# 1,100 messages of 64,000 bytes: about 70 MB, two segments.
N=1100
/usr/bin/python3 -c '
import sys
for i in range(int(sys.argv[1])):
    sys.stdout.write("m%04d " % i + "x" * 63994 + "\n")
' $N > sent
start_broker -c b.conf
"$BUILD/ppub" -c jobs --confirm < sent || fail "ppub --confirm exited $?"
stop_broker || fail "broker did not stop cleanly"
segs=(data/queues/jobs/*.seg)
[ "${#segs[@]}" -ge 2 ] || fail "want two segments, got ${#segs[@]}"
total=$(cat "${segs[@]}" | wc -c)
rec=$((total / N))
expect_eq $((rec * N)) "$total" "store size ($N equal records)"
# A bit in the middle of the payload of record 10 of the first segment.
/usr/bin/python3 -c '
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x10]))
' "${segs[0]}" $((10 * rec + rec / 2))
: > brokerd.log
start_broker -c b.conf
"$BUILD/psub" -c jobs --timeout 1000 | cut -c1-5 > got || fail "psub exited $?"
grep -q "damaged record" brokerd.log || fail "the damage was not logged"
n=$(wc -l < got)
cut -c1-5 sent | head -n 10 > want
cmp -s want got || fail "after a bit flip in record 10 of segment 1 of ${#segs[@]}: got $n messages ($(head -1 got)..$(sed -n 10p got) then $(sed -n 11p got)..$(tail -1 got)), want m0000..m0009 only"
echo "ok: a flipped bit in record 10 of the first of ${#segs[@]} segments: exactly the 10 messages before it delivered"
