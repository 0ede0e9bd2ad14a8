#!/bin/bash
# Message boundaries and binary payloads are kept exactly: 0, 1, 255 bytes,
# 64 KiB and max_message_size, on a queue and on pubsub; one byte more is
# refused with exit 4.  Two messages never merge (the lecture's
# send(170)+send(230) must not become recv(400)).
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
MAX=300000
cat > b.conf <<EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data";
           max_message_size = $MAX; };
channels = ( { name = "jobs"; type = "queue"; } );
EOF2
start_broker -c b.conf

for size in 0 1 255 65536 $MAX; do
    head -c "$size" /dev/urandom > "in.$size"
    "$BUILD/ppub" -c jobs --raw < "in.$size" || fail "ppub of $size bytes exited $?"
    "$BUILD/psub" -c jobs -n 1 --format raw --timeout 3000 > "out.$size" || fail "psub of $size bytes"
    cmp -s "in.$size" "out.$size" || fail "$size bytes on a queue: payload differs"
    # A file of its own for each psub: the previous one's line must not
    # be taken for this one's; and its pid now, since waiting starts
    # processes of its own.
    "$BUILD/psub" -v -c bin -t b --format raw -n 1 --timeout 3000 > "pout.$size" 2> "sub.$size" &
    sub=$!
    wait_for_file_lines "sub.$size" 1
    "$BUILD/ppub" -c bin -t b --raw < "in.$size" || fail "pubsub ppub of $size bytes"
    wait $sub || fail "pubsub psub of $size bytes"
    cmp -s "in.$size" "pout.$size" || fail "$size bytes on pubsub: payload differs"
done
head -c $((MAX + 1)) /dev/zero > in.over
"$BUILD/ppub" -c jobs --raw < in.over 2> err
expect_eq "$?" 4 "exit code for max_message_size + 1"
expect_eq "$(wc -l < err)" 1 "one error line"
# Boundaries: 170 and 230 bytes stay two messages.
head -c 170 /dev/zero | tr '\0' a > m170
head -c 230 /dev/zero | tr '\0' b > m230
"$BUILD/ppub" -c jobs "$(cat m170)" "$(cat m230)" || fail "ppub"
sizes=$("$BUILD/psub" -c jobs -n 2 --format json --timeout 3000 | jq -r '.payload | length' | tr '\n' ' ')
expect_eq "$sizes" "170 230 " "message boundaries"
echo "ok: 0, 1, 255, 65536 and $MAX bytes kept exactly; $((MAX + 1)) refused; boundaries kept"
