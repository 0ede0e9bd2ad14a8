#!/bin/bash
# make bench: starts brokerd and each installed peer (NATS, Redis,
# Mosquitto) on free loopback ports in a scratch directory, runs pbench on
# every scenario and prints its markdown table.  The runs are sustained:
# 3,000,000 messages a round 1->1 (Mosquitto, some fifty times slower,
# 30,000), three rounds a figure, each shown as median (min-max), and a
# round below 0.75x its median is named under the table.  A second table
# times the command line: ppub to a psub writing a file, CLI_N (1,000,000)
# messages, three rounds.  PBENCH_ARGS adds
# options (-n, -r, scenarios, ...), which override these.  Peers that are
# not installed are left out with a note.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SCRATCH=$(mktemp -d /tmp/pubsub-bench.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2> /dev/null; wait 2> /dev/null; rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH" || exit 1

port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Waits until something accepts connections on 127.0.0.1:PORT (10 s at most).
listening() {
    local i
    for i in $(seq 1 100); do
        (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0
        read -r -t 0.1 <> <(:) || true
    done
    return 1
}

BP=$(port)
# bench.queue is bounded like the raw streamer (libzmq's HWM of 1,000 on
# each side): it holds the broker's default of 100,000 messages and,
# with overflow = "block", pauses pbench's publisher when full (protocol
# 1.4's PAUSE), as the streamer's full pipe blocks its PUSH.  Before the
# pause existed a full queue could only park what brokerd had read, up
# to client_buffer, and refuse the rest (a round of 1,000,000 lost
# 749,905 with max_queued = 5000), so the queue took the whole backlog:
# 550 MB for 3 M messages, whose first touch made the first round the
# slowest (docs/performance.md, "The queue's first round").
{
    echo "broker = { endpoints = [ \"tcp://127.0.0.1:$BP\" ]; data_dir = \"$SCRATCH/data\";"
    echo "           max_subscriptions = 1000000; fsync = \"batch\"; };"
    echo "channels = ( { name = \"bench\"; type = \"pubsub\"; slow_subscriber = \"block\"; },"
    echo "             { name = \"bench.drop\"; type = \"pubsub\"; slow_subscriber = \"drop\"; },"
    echo "             { name = \"bench.queue\"; type = \"queue\"; max_queued = 100000; overflow = \"block\"; },"
    echo "             { name = \"bench.durable\"; type = \"queue\"; durable = true; max_queued = 100000000; } );"
} > brokerd.conf
"$BUILD/brokerd" -c brokerd.conf > brokerd.log 2>&1 &
broker_pid=$!
pids+=("$broker_pid")
args=(-b "tcp://127.0.0.1:$BP" --broker-pid "$broker_pid" --zmq)
listening "$BP" || { echo "brokerd did not start:" >&2; cat brokerd.log >&2; exit 1; }

if command -v nats-server > /dev/null; then
    NP=$(port)
    nats-server -a 127.0.0.1 -p "$NP" > nats.log 2>&1 &
    pids+=($!)
    listening "$NP" && args+=(--nats "nats://127.0.0.1:$NP")
else
    echo "pbench: nats-server not installed: NATS left out" >&2
fi
if command -v redis-server > /dev/null; then
    RP=$(port)
    # No output-buffer limit for pubsub clients: Redis would otherwise cut
    # off a subscriber that falls behind, and the run would count losses.
    redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no \
        --client-output-buffer-limit "pubsub 0 0 0" > redis.log 2>&1 &
    pids+=($!)
    listening "$RP" && args+=(--redis "127.0.0.1:$RP")
else
    echo "pbench: redis-server not installed: Redis left out" >&2
fi
if command -v mosquitto > /dev/null; then
    MP=$(port)
    # Unbounded queues: with its defaults Mosquitto drops QoS 1 messages it
    # has acknowledged once 1,000 are queued for one subscriber.
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 1000\n' \
        "$MP" > mosquitto.conf
    mosquitto -c mosquitto.conf > mosquitto.log 2>&1 &
    pids+=($!)
    listening "$MP" && args+=(--mosquitto "127.0.0.1:$MP")
else
    echo "pbench: mosquitto not installed: Mosquitto left out" >&2
fi

cpu=$(lscpu 2> /dev/null | sed -n 's/^Model name: *//p; s/^CPU family: */family /p; s/^Model: */model /p' | paste -sd' ')
echo "Machine: $(nproc) cores, ${cpu:-$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')}, $(uname -sr), Debian $(cat /etc/debian_version 2> /dev/null), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo
# shellcheck disable=SC2086 # PBENCH_ARGS is a list of options
"$BUILD/pbench" "${args[@]}" -n 3000000 -r 3 --mosquitto-count 30000 ${PBENCH_ARGS:-}
rc=$?

# The durable queue again with the window of the other confirmed figures:
# its confirms wait for the disk's syncs, and the window bounds the rate.
echo
"$BUILD/pbench" -b "tcp://127.0.0.1:$BP" --broker-pid "$broker_pid" -n 3000000 -r 3 \
    --durable-window 1000 durable || rc=$?

# The command-line path, in the same run: 1,000,000 messages from ppub to a
# psub writing a file, timed from ppub's start to psub's exit, three rounds.
CLI_N=${CLI_N:-1000000}
export PUBSUB_BROKER="tcp://127.0.0.1:$BP"
subscribed() { # psub is attached to channel bench
    "$BUILD/pctl" channels 2> /dev/null | awk '$1 == "bench" { exit !($3 >= 1) }'
}
cli_round() { # how ppub is fed: "size" (--size 64) or "lines" (seq on stdin); prints msg/s
    "$BUILD/psub" -c bench -n "$CLI_N" > cli.out &
    local sub=$! i
    for i in $(seq 1 200); do subscribed && break; read -r -t 0.05 <> <(:) || true; done
    local t0=$EPOCHREALTIME
    if [ "$1" = size ]; then
        "$BUILD/ppub" -c bench -t cli -n "$CLI_N" --size 64
    else
        seq "$CLI_N" | "$BUILD/ppub" -c bench -t cli
    fi
    wait "$sub" || { echo failed; return; }
    local t1=$EPOCHREALTIME
    [ "$(wc -l < cli.out)" = "$CLI_N" ] || { echo "lost $((CLI_N - $(wc -l < cli.out)))"; return; }
    awk -v n="$CLI_N" -v a="${t0/,/.}" -v b="${t1/,/.}" 'BEGIN { printf "%.0f\n", n / (b - a) }'
}
echo
echo "| command line, $CLI_N messages | msg/s, median (min–max) of 3 |"
echo "|---|---:|"
for how in size lines; do
    rates=$(for k in 1 2 3; do cli_round "$how"; done | sort -n | paste -sd' ')
    case $how in
        size) title="\`ppub -n $CLI_N --size 64\` → brokerd → \`psub > file\`" ;;
        *) title="\`seq $CLI_N \\| ppub\` → brokerd → \`psub > file\`" ;;
    esac
    echo "| $title | $(awk '{ if ($1 + 0 == 0 || NF != 3) print "failed: " $0; else printf "%.2f M/s (%.2f–%.2f)\n", $2 / 1e6, $1 / 1e6, $3 / 1e6 }' <<< "$rates") |"
done
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
