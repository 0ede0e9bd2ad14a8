#!/bin/bash
# Exactly-once counting on a queue with competing consumers: 3,000 messages,
# three consumers, every message consumed once over their union; and one
# publisher's messages reach a single consumer in the order sent.
. "$(dirname "$0")/lib.sh"
start_broker

N=3000
pids=()
for i in 1 2 3; do
    "$BUILD/psub" -v -c jobs --timeout 2000 > "c$i.out" 2> "c$i.err" &
    pids+=($!)
    wait_for_file_lines "c$i.err" 1
done
seq -f "job-%g" 1 $N | "$BUILD/ppub" -c jobs || fail "ppub exited $?"
wait "${pids[@]}"
cat c1.out c2.out c3.out | sed 's/^\[[^]]*\] //' > all
expect_eq "$(wc -l < all)" "$N" "messages consumed"
expect_eq "$(sort -u all | wc -l)" "$N" "distinct messages consumed"
for i in 1 2 3; do
    [ -s "c$i.out" ] || fail "consumer $i got nothing (no competition)"
done
seq -f "o-%g" 1 500 | "$BUILD/ppub" -c jobs || fail "ppub exited $?"
"$BUILD/psub" -c jobs -n 500 --timeout 3000 > ordered || fail "psub exited $?"
seq -f "o-%g" 1 500 | cmp -s - ordered || fail "a single consumer got them out of order"
echo "ok: $N messages once each over 3 consumers ($(wc -l < c1.out)/$(wc -l < c2.out)/$(wc -l < c3.out)); order kept"
