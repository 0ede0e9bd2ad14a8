#!/bin/bash
# Issue 15, the soak: several hostile clients at once beside an honest
# publisher and subscriber.  The promise: under all of them together the
# broker stays under the memory bound its configuration states
# (brokerd.conf(5), MEMORY), and the honest pair gets every message with a
# round-trip p99 under a bound.  The attackers: retained amplification
# (15.1), a taken routing id (15.2), unanswered waits (15.3), silent
# connections (15.4), a channel flood (15.5), subscribers that never read
# (15.7), a HELLO flood (15.10).  Broken behaviour: each of them alone
# took the broker past the bound (see t0520-t0529), and with all of them
# the broker reached 138 MB against 64 MiB, mostly pipes libzmq parked for
# a taken routing id and never freed (t0521).
#
# In make test the attack is one wave of ten seconds.  `make fuzz` runs it
# for SOAK_SECONDS (default 300): the same attackers again every
# WAVE_SECONDS, each wave's killed before the next, with the RSS sampled
# all along, so that what a wave leaves behind shows as growth.
#
# The honest pair's round-trip p99 is asserted under P99_MS.  The
# attackers run at nice 19: in real life they are on other machines, and
# here their own CPU (Python building and sending 400 MB) would otherwise
# be taken from the broker and the honest pair on the same two cores, a
# delay no broker can prevent.  What is judged is what the broker does
# with their frames.  Broken behaviour: every frame or retained value above
# 128 KiB was a fresh mmap, so the broker spent 1.6 s of CPU and 53,000-
# 66,000 page faults on one wave, and the honest pair's p99 was 64-275 ms
# with the machine loaded by others (load 10-16) and 0.67-3.8 s with the
# attackers not niced; now 0.8 s, 6,000-10,000 faults, p99 58-196 ms.
# The page faults are asserted too (FAULTS_MAX a wave): they do not depend
# on the machine's load as the p99 does.  Not under the sanitizers: there
# the allocator is libasan's, which brokerd's mallopt settings do not
# reach (125,000 faults a wave measured), so the figure is printed only.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"

HANDSHAKE_KEY=handshake_timeout_ms CHANNELS_KEY=max_channels RETAINED_KEY=max_retained_bytes
BUDGET_KEY=output_budget PENDING_KEY=max_pending
LIMIT_KB=$((65536 * RSS_SCALE)) # the bound on the broker's RSS
FAULTS_MAX=$((25000 * RSS_SCALE)) # the bound on the broker's page faults per wave
case "$BUILD" in *build-asan) FAULTS_MAX= ;; esac # libasan's allocator: not judged
P99_MS=250 SECONDS_HONEST=${SOAK_SECONDS:-10} WAVE_SECONDS=${WAVE_SECONDS:-30}
LOAD=$(cut -d' ' -f1 /proc/loadavg) CORES=$(nproc)

PORT=$(free_port)
broker_key "$HANDSHAKE_KEY" 1000
broker_key "$CHANNELS_KEY" 100
broker_key "$RETAINED_KEY" 8388608
broker_key "$BUDGET_KEY" 16777216
broker_key "$PENDING_KEY" 1000
cat > b.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data";
           client_buffer = 1048576; $KEYS };
channels = ( { name = "logs"; type = "pubsub"; retain = true; },
             { name = "rpc"; type = "pubsub"; },
             { name = "firehose"; type = "pubsub"; slow_subscriber = "drop"; },
             { name = "honest"; type = "pubsub"; } );
EOF2
BROKER_WRAPPER="prlimit --nofile=512:512" start_broker -c b.conf
head -c 102400 /dev/urandom | "$BUILD/ppub" -c logs -t big --retain --raw || fail "ppub --retain exited $?"
$HOSTILE victim "$PUBSUB_BROKER" victim never > victim.out 2> victim.err &
wait_for_file_lines victim.out 1

# Sampled every 100 ms while the attack lasts; the largest is the figure.
( while kill -0 "$BROKER_PID" 2> /dev/null; do rss_kb; read -r -t 0.1 <> <(:); done ) > rss.samples 2> /dev/null &

$HOSTILE honest "$PUBSUB_BROKER" $SECONDS_HONEST > honest.out 2> honest.err &
honest=$!
wait_for_file_lines honest.out 1
# One wave of every attacker; their pids in $WAVE.
attack_wave() {
    WAVE=()
    local HOSTILE="nice -n 19 $HOSTILE"
    $HOSTILE amplify "$PUBSUB_BROKER" 1000 > amp.out 2>&1 & WAVE+=($!)
    $HOSTILE taken-id "$PUBSUB_BROKER" victim 200 1000000 > taken.out 2>&1 & WAVE+=($!)
    $HOSTILE waits "$PUBSUB_BROKER" 20000 > waits.out 2>&1 & WAVE+=($!)
    $HOSTILE silent "$PUBSUB_BROKER" 300 8 > silent.out 2>&1 & WAVE+=($!)
    $HOSTILE chanflood "$PUBSUB_BROKER" 200 262144 > chan.out 2>&1 & WAVE+=($!)
    $HOSTILE logflood "$PUBSUB_BROKER" 5000 > log.out 2>&1 & WAVE+=($!)
    for i in 1 2 3; do $HOSTILE nonreader "$PUBSUB_BROKER" firehose > "nr$i.out" 2>&1 & WAVE+=($!); done
    nice -n 19 "$BUILD/ppub" -c firehose -t big --size 65536 -n 2048 > /dev/null 2>&1 & WAVE+=($!)
}
faults() { awk '{ print $10 }' /proc/"$BROKER_PID"/stat; } # minor faults, all threads
faults0=$(faults)
waves=0
while kill -0 "$honest" 2> /dev/null; do
    attack_wave
    waves=$((waves + 1))
    # The wave lasts WAVE_SECONDS, or until the honest pair is done.
    for ((t = 0; t < WAVE_SECONDS * 10; t++)); do
        kill -0 "$honest" 2> /dev/null || break
        read -r -t 0.1 <> <(:)
    done
    kill -0 "$honest" 2> /dev/null || break
    kill -KILL "${WAVE[@]}" 2> /dev/null
    wait "${WAVE[@]}" 2> /dev/null
done
wait "$honest" || fail "hostile.py honest: $(cat honest.err)"
peak=$(sort -n rss.samples | tail -1) hwm=$(peak_kb)
per_wave=$((($(faults) - faults0) / waves))
echo "# broker page faults a wave: $per_wave; last wave: $(cat taken.out chan.out 2> /dev/null | tr '\n' ' ')"
read -r _ sent _ got _ lat _ ping _ pmax _ lost < <(tail -1 honest.out)
[ "$got" = "$sent" ] || problem "the honest subscriber got $got of $sent"
awk -v a="$lat" -v b="$ping" -v m="$P99_MS" 'BEGIN { exit !(a < m && b < m) }' ||
    problem "honest pair's p99 delivery ${lat} ms, ping ${ping} ms (max ${pmax}), bound $P99_MS ms (load $LOAD on $CORES cores)"
[ -z "$FAULTS_MAX" ] || [ "$per_wave" -lt "$FAULTS_MAX" ] ||
    problem "the broker took $per_wave page faults per wave, bound $FAULTS_MAX (a fresh mmap per large frame?)"
[ "$hwm" -lt "$LIMIT_KB" ] || problem "broker RSS peaked at ${hwm} KiB (sampled ${peak}), bound ${LIMIT_KB}"
# The last sample: what the waves left behind.
last=$(tail -1 rss.samples)
# At nice 19 on a loaded machine the attackers send less: say how much.
volume=$(cat taken.out chan.out 2> /dev/null | tr '\n' ' ')
verdict "$waves wave(s) of seven attacks in ${SECONDS_HONEST} s (last wave: ${volume:-the big-frame senders said nothing}): broker peak ${hwm} KiB (bound ${LIMIT_KB}), at the end ${last} KiB, $per_wave page faults a wave; honest pair $(tail -1 honest.out) (bound $P99_MS ms, load $LOAD)"
