#!/bin/bash
# make bench-http (and the last step of make bench): what the HTTP
# monitoring endpoint costs pubsub 1->1, measured so that a loaded, shared
# machine cannot fake the answer either way.  Two figures:
#
# 1. Throughput, interleaved: two brokers on the same configuration, A
#    without broker.http and B with it and a scraper fetching /metrics
#    every second while B is measured.  ROUNDS pairs of `pbench -r 1
#    pubsub` rounds of COUNT messages run A, B, A, B, ... so that a change
#    of the machine's load hits both alike; printed: each side's median
#    (min-max), the ratio of the medians and the median of the pairs'
#    ratios.  Every other pair runs B first, so that going first or second
#    favours neither.  On a machine others use, single rounds vary by tens of per
#    cent; only many pairs say something about 2 %.
# 2. Instructions, which the load cannot change: brokerd under callgrind,
#    counted from the moment the subscriber is attached (callgrind_control
#    --zero) to the end of a CG_COUNT-message 1->1 run (--dump), CG_RUNS
#    times without the endpoint and as often with it (interleaved): the
#    instructions a message, and how much the endpoint adds to them.  The
#    count is exact, but how messages fall into the loop's turns (and so
#    memcpy's share) still varies from run to run: mostly by about 1 %,
#    and now and then a run costs 5 % more (405-430 instructions a message
#    on 2026-12-03, with and without the endpoint alike), which one run in
#    three turned into a difference of medians of 4.5 %: hence seven runs
#    of each, whose median a lone outlier cannot move, and valgrind's
#    fair scheduling of threads (--fair-sched=yes), with which the broker
#    with the endpoint (one thread more) had such runs far less often.  Then SCRAPES scrapes of /metrics on the
#    idle broker with the endpoint, less an idle stretch as long: the
#    instructions one scrape costs; and, natively, the CPU time of SCRAPES
#    scrapes from the broker's own per-thread counters (schedstat): the
#    microseconds a scrape takes, which a scrape every second takes from
#    each second of the broker's time.
#
# ROUNDS=0 skips 1, CG_COUNT=0 skips 2.  Defaults: ROUNDS=10, COUNT=1000000,
# CG_COUNT=200000, CG_RUNS=7, SCRAPES=200.  KEEP_SCRATCH=1 keeps the scratch
# directory, whose callgrind.out.* files callgrind_annotate reads.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
ROUNDS=${ROUNDS:-10} COUNT=${COUNT:-1000000} CG_COUNT=${CG_COUNT:-200000} CG_RUNS=${CG_RUNS:-7}
SCRAPES=${SCRAPES:-200}
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/pubsub-bench-http.XXXXXX")
pids=()
trap 'kill "${pids[@]}" 2> /dev/null; wait 2> /dev/null
      if [ -n "${KEEP_SCRATCH:-}" ]; then echo "kept: $SCRATCH" >&2; else rm -rf "$SCRATCH"; fi' EXIT
cd "$SCRATCH" || exit 1

port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Waits until the broker on PORT answers a ping (SECONDS_MAX s at most).
ready() { # PORT SECONDS_MAX
    local deadline=$((SECONDS + $2))
    until "$BUILD/pctl" -b "tcp://127.0.0.1:$1" --timeout 1000 ping > /dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
    done
}
# Writes NAME.conf: the channels of make bench, with the endpoint on HTTP_PORT if given.
conf() { # NAME PORT [HTTP_PORT]
    {
        echo "broker = { endpoints = [ \"tcp://127.0.0.1:$2\" ]; data_dir = \"$SCRATCH/data-$1\";"
        [ -n "${3:-}" ] && echo "           http = { listen = \"127.0.0.1:$3\"; };"
        echo "           max_subscriptions = 1000000; fsync = \"batch\"; };"
        echo "channels = ( { name = \"bench\"; type = \"pubsub\"; slow_subscriber = \"block\"; },"
        echo "             { name = \"bench.drop\"; type = \"pubsub\"; slow_subscriber = \"drop\"; },"
        echo "             { name = \"bench.queue\"; type = \"queue\"; max_queued = 100000000; },"
        echo "             { name = \"bench.durable\"; type = \"queue\"; durable = true; max_queued = 100000000; } );"
    } > "$1.conf"
}
# Starts brokerd (behind WRAPPER, if set) on NAME.conf; sets $started to its pid.
start() { # NAME PORT WAIT_S
    ${WRAPPER:-} "$BUILD/brokerd" -c "$1.conf" > "$1.log" 2>&1 &
    started=$!
    pids+=("$started")
    ready "$2" "$3" || { echo "brokerd $1 did not start:" >&2; cat "$1.log" >&2; exit 1; }
}
stop() { # PID
    kill -TERM "$1" 2> /dev/null
    wait "$1" 2> /dev/null
}
# Scrapes /metrics on HTTP_PORT every second until killed, one line per scrape.
scraper() { # HTTP_PORT OUT
    while :; do
        curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$1/metrics" >> "$2"
        sleep 1
    done
}
# pbench's brokerd figure of one pubsub round, in msg/s ("" if it failed).
# A round that fails says why on stderr.
round() { # PORT
    "$BUILD/pbench" -b "tcp://127.0.0.1:$1" -n "$COUNT" -r 1 pubsub > pbench.out 2>&1
    awk -F'|' '/^\| pubsub 1→1/ { v = $3; gsub(/ /, "", v)
        if (v ~ /M\/s$/) print v * 1e6; else if (v ~ /k\/s$/) print v * 1e3; exit }' pbench.out |
        grep . || { echo "pbench on port $1: $(grep -v '^$' pbench.out | tail -2 | paste -sd' ')" >&2; }
}
# "median (min–max)" of numbers on stdin, divided by SCALE, with DIGITS
# decimals and UNIT after the median.
summary() { # SCALE DIGITS [UNIT]
    sort -g | awk -v s="$1" -v d="$2" -v u="${3:+ $3}" '{ v[NR] = $1 } END {
        if (!NR) { print "no figures"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        f = "%." d "f"
        printf f u " (" f "–" f ")\n", m / s, v[1] / s, v[NR] / s }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "Machine: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo

# ---- 1. throughput, A/B interleaved -------------------------------------------
if [ "$ROUNDS" -gt 0 ]; then
    PA=$(port) PB=$(port) HB=$(port)
    conf a "$PA"
    conf b "$PB" "$HB"
    start a "$PA" 10
    pid_a=$started
    start b "$PB" 10
    pid_b=$started
    : > a.rates
    : > b.rates
    : > pairs
    : > scrapes
    # B with its scraper; sets $rb.
    round_b() {
        scraper "$HB" scrapes &
        local sp=$!
        rb=$(round "$PB")
        kill "$sp" 2> /dev/null
        wait "$sp" 2> /dev/null
    }
    for i in $(seq 1 "$ROUNDS"); do
        # A B, then B A: what goes first or second in a pair evens out.
        if [ $((i % 2)) = 1 ]; then
            ra=$(round "$PA")
            round_b
        else
            round_b
            ra=$(round "$PA")
        fi
        echo "round $i: A ${ra:-failed} msg/s, B ${rb:-failed} msg/s" >&2
        [ -n "$ra" ] && echo "$ra" >> a.rates
        [ -n "$rb" ] && echo "$rb" >> b.rates
        [ -n "$ra" ] && [ -n "$rb" ] && awk -v a="$ra" -v b="$rb" 'BEGIN { print b / a }' >> pairs
    done
    stop "$pid_a"
    stop "$pid_b"
    ok=$(grep -c '^200$' scrapes)
    echo "| pubsub 1→1, 64 B, $COUNT messages a round, $ROUNDS rounds each, interleaved A B, B A, ... | msg/s, median (min–max) |"
    echo "|---|---:|"
    echo "| A: no monitoring endpoint | $(summary 1e6 3 M/s < a.rates) |"
    echo "| B: endpoint on, /metrics scraped every second ($ok scrapes answered 200 in all) | $(summary 1e6 3 M/s < b.rates) |"
    echo "| B ÷ A, medians | $(awk -v a="$(median < a.rates)" -v b="$(median < b.rates)" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "-" }') |"
    echo "| B ÷ A, median of the $(wc -l < pairs) pairs (min–max) | $(summary 1 3 < pairs) |"
    echo
fi

# ---- 2. instructions, under callgrind ------------------------------------------
# The totals of brokerd's counters since the last --zero, dumped now.
counted() { # PID LABEL: prints the instructions
    callgrind_control -d "$2" "$1" > /dev/null 2>&1
    local f
    f=$(ls -t callgrind.out."$1".* 2> /dev/null | head -1)
    [ -n "$f" ] && sed -n 's/^totals: *\([0-9]*\).*/\1/p; s/^summary: *\([0-9]*\).*/\1/p' "$f" | head -1
}
zero() { callgrind_control -z "$1" > /dev/null 2>&1; }
# One 1->1 run of CG_COUNT messages on the broker on PORT, counted from
# the moment the subscriber is attached (the polls for it are not).
messages() { # PORT PID
    "$BUILD/psub" -b "tcp://127.0.0.1:$1" -c bench -n "$CG_COUNT" > /dev/null &
    local sub=$! i
    for i in $(seq 1 600); do
        "$BUILD/pctl" -b "tcp://127.0.0.1:$1" --timeout 5000 channels 2> /dev/null |
            awk '$1 == "bench" { exit !($3 >= 1) }' && break
    done
    zero "$2"
    # brokerd under callgrind takes its time: ppub may wait long for it.
    if ! "$BUILD/ppub" -b "tcp://127.0.0.1:$1" -c bench -t cg -n "$CG_COUNT" --size 64 --timeout 600000; then
        kill "$sub" 2> /dev/null
        echo "ppub failed: no instruction counts" >&2
        exit 1
    fi
    wait "$sub" || { echo "psub failed: no instruction counts" >&2; exit 1; }
}
scrape_n() { # HTTP_PORT: SCRAPES scrapes of /metrics over one kept-alive connection
    curl -s -o /dev/null "http://127.0.0.1:$1/metrics?[1-$SCRAPES]"
}

if [ "$CG_COUNT" -gt 0 ]; then
    command -v callgrind_control > /dev/null || { echo "valgrind is not installed: no instruction counts" >&2; exit 1; }
    WRAPPER="valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file=$SCRATCH/callgrind.out.%p"
    : > cg-a.ir
    : > cg-b.ir
    for r in $(seq 1 "$CG_RUNS"); do for side in a b; do
        P=$(port) H=
        [ "$side" = b ] && H=$(port)
        conf "cg-$side" "$P" $H
        start "cg-$side" "$P" 120
        pid=$started
        messages "$P" "$pid"
        n=$(counted "$pid" "msgs-$side")
        awk -v n="$n" -v c="$CG_COUNT" 'BEGIN { printf "%.1f\n", n / c }' >> "cg-$side.ir"
        echo "callgrind run $r, $side: $(tail -1 "cg-$side.ir") instructions a message" >&2
        if [ "$side" = b ] && [ "$r" = 1 ]; then
            zero "$pid"
            t0=$EPOCHREALTIME
            scrape_n "$H"
            t1=$EPOCHREALTIME
            scraped=$(counted "$pid" scrapes)
            # The same stretch of idleness without a scrape: the loop's own ticks.
            zero "$pid"
            read -r -t "$(awk -v a="${t0/,/.}" -v b="${t1/,/.}" 'BEGIN { printf "%.3f", b - a }')" <> <(:) || true
            idle=$(counted "$pid" idle)
            per_scrape=$(awk -v s="$scraped" -v i="$idle" -v n="$SCRAPES" 'BEGIN { printf "%.0f", (s - i) / n }')
            metrics_bytes=$(curl -s "http://127.0.0.1:$H/metrics" | wc -c)
        fi
        stop "$pid"
    done; done
    WRAPPER=
    # Natively: the broker's CPU time (all its threads) for SCRAPES scrapes.
    P=$(port) H=$(port)
    conf native "$P" "$H"
    start native "$P" 10
    pid=$started
    cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { print s }'; }
    c0=$(cpu_ns "$pid")
    scrape_n "$H"
    c1=$(cpu_ns "$pid")
    stop "$pid"
    us=$(awk -v a="$c0" -v b="$c1" -v n="$SCRAPES" 'BEGIN { printf "%.0f", (b - a) / n / 1000 }')
    grow=$(awk -v a="$(median < cg-a.ir)" -v b="$(median < cg-b.ir)" 'BEGIN { printf "%+.2f", (b - a) / a * 100 }')
    echo "| brokerd, pubsub 1→1, 64 B ($CG_COUNT messages a run under callgrind, $CG_RUNS runs each) | instructions, median (min–max) |"
    echo "|---|---:|"
    echo "| a message, no endpoint | $(summary 1 1 < cg-a.ir) |"
    echo "| a message, endpoint on (not scraped) | $(summary 1 1 < cg-b.ir); medians $grow % |"
    echo "| one scrape of /metrics ($metrics_bytes bytes, 4 channels), idle ticks subtracted | $per_scrape |"
    echo
    spread=$(cat cg-a.ir cg-b.ir | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", (v[NR] - v[1]) / v[1] * 100 }')
    echo "One scrape takes brokerd $us µs of CPU time (all its threads, natively, the mean of $SCRAPES)."
    echo "Scraped every second, the endpoint takes $(awk -v u="$us" 'BEGIN { printf "%.3f", u / 1e4 }') % of each second of the broker's time;"
    echo "with it on, a message costs $grow % instructions (all runs lie within $spread % of each other):"
    echo "together $(awk -v u="$us" -v g="$grow" 'BEGIN { printf "%+.2f", u / 1e4 + g }') %, against the promise of at most 2 %."
fi
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
