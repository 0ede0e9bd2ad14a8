#!/bin/bash
# The configured limits hold, each refused with exit 4 and a one-line reason,
# and nothing accepted before the limit is lost: message size, messages per
# queue, retained topics per channel, subscriptions per client, clients.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
cat > b.conf <<EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT" ];
  data_dir = "$SCRATCH/data";
  max_message_size = 1000;
  max_subscriptions = 2;
  max_retained = 3;
  max_clients = 4;
};
channels = ( { name = "jobs"; type = "queue"; max_queued = 5; },
             { name = "state"; type = "pubsub"; retain = true; } );
EOF
start_broker -c b.conf

# One-line refusal with exit 4.
refused() { # WHAT CMD...: the command must exit 4 with one line on stderr
    local what=$1
    shift
    "$@" > /dev/null 2> err
    local rc=$?
    expect_eq "$rc" 4 "exit code when $what"
    expect_eq "$(wc -l < err)" 1 "lines on stderr when $what"
}

head -c 1000 /dev/zero > max.bin
head -c 1001 /dev/zero > over.bin
"$BUILD/ppub" -c jobs --raw < max.bin || fail "a message of exactly max_message_size was refused"
refused "a message is over max_message_size" "$BUILD/ppub" -c jobs --raw < over.bin

# max_queued = 5: one is queued already, four more fit, the sixth is refused.
seq 2 5 | "$BUILD/ppub" -c jobs --confirm || fail "messages within max_queued were refused"
refused "the queue is full" "$BUILD/ppub" -c jobs --confirm six
grep -q "full" err || fail "queue-full refusal does not say so: $(cat err)"
got=$("$BUILD/psub" -c jobs -n 5 --timeout 2000 | tail -n 4 | tr '\n' ' ')
expect_eq "$got" "2 3 4 5 " "queued messages kept when the queue was full"

# max_retained = 3 per channel.
for t in a b c; do
    "$BUILD/ppub" -c state -t "$t" --retain "value $t" || fail "retained value $t refused"
done
refused "max_retained is reached" "$BUILD/ppub" -c state -t d --retain "value d"
"$BUILD/ppub" -c state -t a --retain "new a" || fail "replacing a retained value was refused"
expect_eq "$("$BUILD/psub" -c state -t '#' -n 3 --timeout 2000 | sort | tr '\n' ' ')" \
    "new a value b value c " "retained values after the limit"

# max_subscriptions = 2 per client.
refused "max_subscriptions is reached" "$BUILD/psub" -c state -t x -t y -t z -n 1 --timeout 2000

# max_clients = 4: three idle clients, the fourth gets through, the fifth not.
for i in 1 2 3; do
    "$BUILD/psub" -v -c idle --timeout 20000 2> "idle$i.err" > /dev/null &
    wait_for_file_lines "idle$i.err" 1
done
"$BUILD/pctl" ping > /dev/null || fail "the fourth client was refused"
"$BUILD/psub" -v -c idle --timeout 20000 2> idle4.err > /dev/null &
wait_for_file_lines idle4.err 1
refused "max_clients is reached" "$BUILD/pctl" ping
grep -q "clients" err || fail "max_clients refusal does not say so: $(cat err)"
