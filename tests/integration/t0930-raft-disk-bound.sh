#!/bin/bash
# Issue 21: snapshots and log compaction keep each node's Raft directory
# bounded by what is unacknowledged plus a stated slack (docs/replication.md,
# "Snapshots and the bound on disk"):
#
#   bound(U) = 4 x 8 MB (libraft's open segments, preallocated in full:
#                        three, and a fourth until the one a snapshot
#                        closed is truncated)
#            + (2 x 1024 + 128) entries of log (snapshot_every, trailing)
#            + 3 x U (two snapshots kept, a third being written)
#
# where U is the most bytes unacknowledged when a snapshot was taken.
# First 25 batches of 400 messages of 4 KB (40 MB) go through the queue
# jobs, each confirmed, then consumed and acknowledged while the next one
# is published, so at most two batches are unacknowledged (more after a
# refusal or an election: in_flight says how many); du of each node's Raft
# directory, sampled every 200 ms and at the end, must stay under
# bound(U).  Without compaction the log alone would pass it (40 MB of
# entries beside 24 MB of open segments, where the bound is 52 MB).  Then
# 2,000 messages (8 MB) are left unacknowledged on the queue held and 6
# batches more go through jobs: the directory must grow by about twice
# that (the two snapshots hold them) and stay under bound(U + 8 MB).  The payloads are random
# bytes, so libraft's lz4 compression of the snapshots cannot shrink them.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
# The election timeout is not what this test measures: a long one keeps
# the leader through the fsync load of the pushes.
RAFT_ELECTION_MS=2000
. "$TESTS/integration/raft.sh"
RAFT_CHANNELS='{ name = "jobs"; type = "queue"; durable = true; },
  { name = "held"; type = "queue"; durable = true; }'
SIZE=4096     # bytes a message
BATCH=400     # messages confirmed, then consumed, at a time
BATCHES=25    # batches pushed through the queue first
HELD=2000     # messages left unacknowledged in the second part
AFTER=6       # batches pushed after them: 4,800 entries, past two snapshots

# The bound in KB for U bytes unacknowledged: libraft 0.15's open
# segments (UV__MAX_SEGMENT_SIZE: one written, UV__TARGET_POOL_SIZE
# prepared or being made, and the one a snapshot closed, full size until
# libraft truncates it), the log a snapshot leaves (entries since the snapshot before
# the last, and its trailing ones; an entry is at most the message and
# 128 bytes of headers), three snapshots, and 64 KB of small files.
bound_kb() { # U
    echo $(((4 * 8388608 + (2 * 1024 + 128) * (SIZE + 128) + 3 * $1) / 1024 + 64))
}
MSG=$((SIZE + 64)) # a message in a snapshot: its bytes, id, queue and topic

raft_start
# Random lines of SIZE bytes (no newline in them).
payloads() { # N
    head -c $(($1 * SIZE)) /dev/urandom | tr '\n' x | fold -b -w "$SIZE"
    echo
}
payloads "$BATCH" > batch
payloads "$HELD" > held
expect_eq "$(wc -l < batch) $(wc -l < held)" "$BATCH $HELD" "lines of the payload files"

# Every 200 ms: "MS NODE KB" of each node's Raft directory, in du.log.
sampler() {
    while [ ! -e stop ]; do
        for n in a b c; do echo "$(ms) $n $(du -sk "$SCRATCH/data-$n/raft" | cut -f1)"; done
        sleep 0.2
    done
}
sampler > du.log 2> /dev/null &
SAMPLER=$!

# The leader, found again only when a publish fails.
LEAD=
RETRIES=0
# Confirms FILE's lines on CHANNEL through the leader; a batch refused (an
# election under load) is sent again (it may then be queued twice).
push() { # CHANNEL FILE
    local tries=0
    while :; do
        [ -n "$LEAD" ] || LEAD=$(raft_leader) || LEAD=
        [ -n "$LEAD" ] && on "$LEAD" "$BUILD/ppub" -c "$1" --confirm --timeout 20000 < "$2" 2> push.err &&
            return 0
        LEAD=
        RETRIES=$((RETRIES + 1))
        tries=$((tries + 1))
        [ "$tries" -lt 5 ] || fail "pushing $2 to $1 failed 5 times: $(cat push.err)"
    done
}

# How many batches may be unacknowledged at most: two (one published, one
# consumed), one more for each batch sent again, and two more for each
# election since the start (a consumer counts the messages whose acks
# the failover lost as its batch's, and leaves as many on the queue until
# the end of the pipeline).
in_flight() {
    has_leader || fail "no leader agreed: $(raft_views)"
    echo $((2 + RETRIES + 2 * (RAFT_TERM - TERM0)))
}

# Pushes N batches through jobs: batch i is published while batch i - 1
# is consumed (and acknowledged) through the leader.
pipeline() { # N
    local i consumer=""
    for i in $(seq "$1"); do
        push jobs batch
        [ -z "$consumer" ] || wait "$consumer" || fail "consuming batch $((i - 1)) exited $?: $(cat consume.err)"
        spawn "$LEAD" "$BUILD/psub" -c jobs -n "$BATCH" -F '%l' --timeout 20000 > /dev/null 2> consume.err
        consumer=$SPAWNED
    done
    wait "$consumer" || fail "consuming the last batch exited $?: $(cat consume.err)"
    # A batch published twice left its copies: taken too.
    on "$LEAD" "$BUILD/psub" -c jobs -F '%l' --timeout 1000 > /dev/null 2> consume.err
    wait_raft 20 "every ack committed" eval '[ "$(raft_held "$(raft_leader)")" = 0 ]'
}

# The largest du sampled since line FROM of du.log, KB, and its node.
peak() { # FROM
    tail -n +"$1" du.log | awk '$3 > m { m = $3; n = $2 } END { print m + 0, n }'
}

# du of each node's Raft directory now, KB: "a b c", and the same without
# the open segments (preallocated, whatever they hold: two or three of
# them, as libraft refills its pool): "a b c".
dus() {
    local n out=() rest=()
    for n in a b c; do
        read -r all part <<< "$(du -ak "$SCRATCH/data-$n/raft" |
            awk -v d="$SCRATCH/data-$n/raft" '$2 == d { all = $1; next }
                $2 !~ /\/open-[0-9]+$/ { part += $1 } END { print all, part + 0 }')"
        out+=("$all")
        rest+=("$part")
    done
    echo "${out[@]} ${rest[@]}"
}

# Part 1: 40 MB through the queue.
has_leader || fail "no leader agreed: $(raft_views)"
TERM0=$RAFT_TERM
t0=$(ms)
pipeline "$BATCHES"
took=$(($(ms) - t0))
F1=$(in_flight)
U1=$((F1 * BATCH * MSG))
B1=$(bound_kb "$U1")
read -r p1 pn1 <<< "$(peak 1)"
read -r d1a d1b d1c r1a r1b r1c <<< "$(dus)"
[ "$p1" -le "$B1" ] || fail "$pn1's Raft directory took $p1 KB during the pushes, over the bound $B1 KB"
for d in $d1a $d1b $d1c; do
    [ "$d" -le "$B1" ] || fail "a Raft directory holds $d KB after the pushes ($d1a $d1b $d1c), over the bound $B1 KB"
done
commit=$(raft_field "$LEAD" commit)

# Part 2: HELD messages left unacknowledged, then more pushes.
from=$(($(wc -l < du.log) + 1))
push held held
pipeline "$AFTER"
# As many as were published, or more when refused ones were sent again.
held_now=$(on "$LEAD" "$BUILD/pctl" channels --json | jq '.[] | select(.name == "held") | .replicated_held')
[ "$held_now" -ge "$HELD" ] || fail "the queue held holds $held_now messages, not the $HELD published"
H=$((held_now * MSG))
F2=$(in_flight)
U2=$((F2 * BATCH * MSG + H))
B2=$(bound_kb "$U2")
read -r p2 pn2 <<< "$(peak "$from")"
read -r d2a d2b d2c r2a r2b r2c <<< "$(dus)"
[ "$p2" -le "$B2" ] || fail "$pn2's Raft directory took $p2 KB with $((H / 1024)) KB held, over the bound $B2 KB"
grow="" snaps=""
for n in a b c; do
    eval "before=\$r1$n after=\$d2$n rest=\$r2$n"
    [ "$after" -le "$B2" ] || fail "$n's Raft directory holds $after KB with $((H / 1024)) KB held, over the bound $B2 KB"
    # Both snapshots kept hold the held messages (taken after they were
    # committed, 4,800 entries ago), and at most F2 batches beside them.
    for s in $(ls "$SCRATCH/data-$n/raft" | grep '^snapshot-[0-9-]*$'); do
        z=$(stat -c %s "$SCRATCH/data-$n/raft/$s")
        snaps+="${snaps:+ }$((z / 1024))"
        [ "$z" -ge $((held_now * SIZE)) ] && [ "$z" -le $((U2 * 101 / 100)) ] ||
            fail "$n's $s is $z bytes: not the $held_now held messages of $SIZE bytes (and at most $F2 batches)"
    done
    [ "$(ls "$SCRATCH/data-$n/raft" | grep -c '^snapshot-[0-9-]*$')" = 2 ] ||
        fail "$n keeps other than two snapshots: $(ls "$SCRATCH/data-$n/raft" | paste -sd' ')"
    # Without the open segments the directory grows by the two snapshots'
    # copies, give or take what else moves between two looks: the batches
    # in the snapshots (up to F2 in each at one look, none at the other)
    # and the closed log (two snapshots' worth of entries, half of them
    # ACKs: about 4 MB).
    g=$((rest - before))
    grow+="${grow:+ }$g"
    tol=$(((2 * F2 * BATCH * MSG) / 1024 + 4096))
    [ "$g" -ge $((2 * H / 1024 - tol)) ] && [ "$g" -le $((2 * H / 1024 + tol)) ] ||
        fail "$n's Raft directory grew by $g KB with $((H / 1024)) KB held, not 2 x that (+- $tol KB; without the open segments: $before -> $rest KB)"
done
touch stop
wait "$SAMPLER"
echo "ok: Raft directories bounded: $((BATCHES * BATCH)) x $SIZE B confirmed and acked in $took ms (index $commit, $RETRIES batches sent again, $((RAFT_TERM - TERM0)) elections): peak $p1 KB, end $d1a/$d1b/$d1c KB (a/b/c), bound $B1 KB; $((H / 1024)) KB left unacked and $((AFTER * BATCH)) more acked: peak $p2 KB, end $d2a/$d2b/$d2c KB, without the open segments grown by $grow KB (2 x held = $((2 * H / 1024)) KB: snapshots of $snaps KB), bound $B2 KB"
