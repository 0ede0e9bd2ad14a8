#!/bin/bash
# A damaged store is never served as a different history: a flipped bit at
# many offsets of a segment, and a truncation at many offsets, each give
# exactly the intact messages before the damage, in order, and a report.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
cat > b.conf <<EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; };
channels = ( { name = "jobs"; type = "queue"; durable = true; } );
EOF
start_broker -c b.conf
seq -f "m%03g" 1 100 > sent
"$BUILD/ppub" -c jobs --confirm < sent || fail "ppub --confirm exited $?"
stop_broker || fail "broker did not stop cleanly"
seg=$(echo data/queues/jobs/*.seg)
[ -f "$seg" ] || fail "no segment file"
size=$(stat -c %s "$seg")
rec=$((size / 100)) # every record has the same size here
expect_eq $((rec * 100)) "$size" "segment size (100 equal records)"
cp -a data pristine

# Starts the broker on the damaged copy and consumes everything into got.
consume() {
    : > brokerd.log
    start_broker -c b.conf
    "$BUILD/psub" -c jobs --timeout 800 > got || fail "psub exited $? ($1)"
    stop_broker || fail "broker did not stop cleanly ($1)"
}

checked=0
for off in 0 1 3 4 7 8 9 12 16 17 18 19 20 21 $((rec + 5)) $((rec * 7 + 9)) $((rec * 50)) \
           $((rec * 50 + 13)) $((rec * 99 + 2)) $((size - 1)) \
           $(awk -v s="$size" 'BEGIN { srand(5242); for (i = 0; i < 8; i++) print int(rand() * s) }'); do
    rm -rf data && cp -a pristine data
    /usr/bin/python3 -c '
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x10]))
' "$seg" "$off"
    consume "bit flip at $off"
    n=$(wc -l < got)
    expect_eq "$n" $((off / rec)) "messages delivered after a bit flip at offset $off"
    head -n "$n" sent | cmp -s - got || fail "bit flip at $off: delivered messages differ from those sent"
    grep -q "damaged record\|torn write" brokerd.log || fail "bit flip at $off not reported"
    checked=$((checked + 1))
done

for cut in 1 5 17 $((rec - 1)) "$rec" $((rec * 10 + 3)) $((rec * 99)) $((size - 1)); do
    rm -rf data && cp -a pristine data
    truncate -s "$cut" "$seg"
    consume "truncation at $cut"
    n=$(wc -l < got)
    expect_eq "$n" $((cut / rec)) "messages delivered after truncation at $cut"
    head -n "$n" sent | cmp -s - got || fail "truncation at $cut: delivered messages differ"
    checked=$((checked + 1))
done
echo "ok: $checked damaged stores, each served exactly its intact prefix"
