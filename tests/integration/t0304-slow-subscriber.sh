#!/bin/bash
# A subscriber that stops reading never grows the broker past its bound:
# 1 GB is published to a pubsub channel while one subscriber is stopped;
# the broker's peak memory stays bounded, the drops are counted in
# `pctl channels`, and psub reports the gap on stderr once it reads again.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
cat > b.conf <<EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data";
           client_buffer = 4194304; };
channels = ( { name = "firehose"; type = "pubsub"; slow_subscriber = "drop"; } );
EOF
# AddressSanitizer keeps freed memory in quarantine and adds shadow memory:
# there, keep the quarantine small and allow for the shadow.
limit_kb=98304
case "$BUILD" in *asan*) export ASAN_OPTIONS=quarantine_size_mb=1; limit_kb=196608 ;; esac
start_broker -c b.conf

# psub writes into a FIFO nobody reads yet: once the pipe is full it
# blocks, its library stops reading, and the broker has to cope.
mkfifo out.fifo
exec 3<> out.fifo
"$BUILD/psub" -v -c firehose -t '#' --timeout 30000 > out.fifo 2> slow.err &
slow=$!
wait_for_file_lines slow.err 1
# 1 GiB in 16,384 messages of 64 KiB.
"$BUILD/ppub" -c firehose -t big --size 65536 -n 16384 || fail "ppub exited $?"
peak_kb=$(awk '/^VmHWM:/ { print $2 }' /proc/"$BROKER_PID"/status)
dropped=$(chan_stat firehose dropped)
[ "$dropped" -gt 0 ] || fail "nothing counted as dropped for the stopped subscriber"
# The bound: client_buffer (4 MiB) plus libzmq's pipe (32 frames) per client,
# plus the broker's own baseline; 1 GiB went through.
[ "$peak_kb" -lt "$limit_kb" ] || fail "broker peak memory ${peak_kb} KiB while a subscriber was stopped"

cat <&3 > /dev/null & # now read again
"$BUILD/ppub" -c firehose -t after "after the flood" || fail "ppub exited $?"
wait_for_file_lines slow.err 2 20
grep -q "missed [0-9]* messages on 'firehose'" slow.err || fail "psub did not report the gap: $(tail -1 slow.err)"
kill "$slow"
echo "ok: peak ${peak_kb} KiB for 1 GiB published, $dropped deliveries dropped, gap reported"
