#!/bin/bash
# A broker restart under a running `ppub --confirm`: the broker is killed
# (-9) while the stream is under way and started again; ppub notices,
# sends again what was not yet confirmed, and exits 0 once everything is
# confirmed.  Then every message is in the durable queue at least once
# (at-least-once: a message confirmed just before the kill may be twice).
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
cat > b.conf <<EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; };
channels = ( { name = "jobs"; type = "queue"; durable = true; max_queued = 1000000; } );
EOF2
start_broker -c b.conf
at_least() { local n; n=$(chan_stat jobs queued); [ -n "$n" ] && [ "$n" -ge "$1" ]; }

N=20000
seq 1 $N | "$BUILD/ppub" -c jobs --confirm --rate 5000 --timeout 10000 > pub.out 2> pub.err &
PUB=$!
wait_until 15 "a quarter of the stream to be queued" at_least $((N / 4))
kill_broker
start_broker -c b.conf
wait "$PUB"
rc=$?
expect_eq "$rc" 0 "ppub --confirm across the restart (stderr: $(tr '\n' ' ' < pub.err))"
grep -q "unconfirmed messages again" pub.err || fail "ppub did not say it sent again: $(cat pub.err)"

"$BUILD/psub" -c jobs --timeout 2000 > got || fail "psub exited $?"
missing=$(comm -23 <(seq 1 $N | sort) <(sort -u got) | wc -l)
expect_eq "$missing" 0 "messages missing after the restart"
expect_eq "$(grep -cv '^[0-9]*$' got)" 0 "messages that were never sent"
echo "ok: ppub --confirm carried on across kill -9: $(grep -o 'sending [0-9]* unconfirmed' pub.err | head -1), all $N there ($(($(wc -l < got) - N)) twice)"
