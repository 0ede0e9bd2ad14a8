#!/bin/bash
# Issue 21, fault test 2: the leader cut off from the other two (nftables,
# both directions).  The other two agree on a new leader, in a higher term,
# within 2 s of the cut.  On the cut-off side `ppub --confirm` confirms
# nothing: it exits nonzero, with "unavailable" in its message, within
# about one election timeout (3 s at most is asserted).  The majority side
# keeps confirming (200 messages).  Within 2 s of the heal every node's log
# agrees: the same commit, applied and last index in `pctl cluster --json`.
# The drained queue then holds every message confirmed, and nothing sent
# on the cut-off side.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
. "$TESTS/integration/raft.sh"
raft_start
seq -f "before-%.0f" 1 100 | on a "$BUILD/ppub" -c jobs --confirm || fail "publishing before the cut exited $?"
L=$(raft_leader) || fail "no leader agreed"
read -r X Y <<< "$(others "$L")"
term=$(raft_field "$L" term)

cut "$L" "$X"
cut "$L" "$Y"
t_cut=$(ms)
new_leader() { # a leader of X and Y in a term above the old one
    local n
    n=$(raft_leader "$X" "$Y") || return 1
    [ "$(raft_field "$n" term)" -gt "$term" ]
}
wait_raft 10 "a new leader on the majority side" new_leader
elected=$(($(ms) - t_cut))
N=$(raft_leader "$X" "$Y")

# The cut-off side confirms nothing, and says so.
t0=$(ms)
on "$L" "$BUILD/ppub" -c jobs --confirm --timeout 5000 cutoff-1 cutoff-2 > /dev/null 2> cutoff.err
rc=$?
refused=$(($(ms) - t0))
[ "$rc" != 0 ] || fail "ppub --confirm on the cut-off leader $L exited 0"
grep -q unavailable cutoff.err || fail "ppub --confirm on the cut-off leader $L said: $(cat cutoff.err)"
[ "$refused" -le 3000 ] || fail "the cut-off side took $refused ms to refuse (want about one election timeout)"
# The majority side confirms.
seq -f "during-%.0f" 1 200 | on "$X" "$BUILD/ppub" -c jobs --confirm --timeout 5000 ||
    fail "publishing on the majority side ($X, leader $N) exited $?"
cut_state=$(raft_field "$L" state)

heal "$L" "$X"
heal "$L" "$Y"
t_heal=$(ms)
# The three nodes are asked at once, so a poll costs one pctl (a few
# hundred ms on a loaded machine), not three in a row; the time is taken
# when the poll that saw them agree has ended, an upper bound.
agree_at_once() {
    local n pids=()
    for n in "${CLUSTER_NODES[@]}"; do
        raft_indexes "$n" > "idx.$n" &
        pids+=($!)
    done
    wait "${pids[@]}"
    [ "$(sort -u idx.a idx.b idx.c | wc -l)" = 1 ] || return 1
    read -r c a _ < idx.a
    [ -n "$c" ] && [ "$c" != null ] && [ "$c" = "$a" ]
}
wait_raft 10 "the three logs to agree after the heal" agree_at_once
agreed=$(($(ms) - t_heal))
indexes=$(raft_indexes a)
# The issue's 2 s; under the sanitizers, where every process (pctl's
# polls included) runs two to three times slower, 4 s.
BOUND=2000
case "$BUILD" in *build-asan) BOUND=4000 ;; esac
[ "$agreed" -le "$BOUND" ] || fail "the logs agreed $agreed ms after the heal (want <= $BOUND)"
[ "$elected" -le "$BOUND" ] || fail "the new leader was agreed $elected ms after the cut (want <= $BOUND)"

{ seq -f "before-%.0f" 1 100; seq -f "during-%.0f" 1 200; } | sort > want.ids
drained=$(drain "$(raft_leader)" drained.json)
read -r lost dups flagged <<< "$(check_delivered want.ids drained.json)"
expect_eq "$lost" 0 "confirmed messages lost"
grep -q '"cutoff-' drained.json && fail "a message refused on the cut-off side was delivered"
echo "ok: leader $L (term $term) cut off: $N leads after $elected ms (term $(raft_field "$N" term));" \
    "the cut-off side refused in $refused ms ($(cat cutoff.err)), its state then '$cut_state';" \
    "after the heal the logs agreed in $agreed ms (commit applied last: $indexes); $drained drained, 0 lost"
