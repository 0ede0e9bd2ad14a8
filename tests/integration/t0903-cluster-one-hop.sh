#!/bin/bash
# Issue 20, experiment 3: no loops.  1,000 messages published on A with a
# subscriber on every node cross A-B and A-C once each and B-C never
# (`pctl cluster --json` msgs_out/msgs_in of every link), each subscriber
# gets each once.  Then A-C is cut: a chain A-B-C.  `pctl cluster` on A and
# on C says the mesh is incomplete within 5 s; 1,000 more published on A
# reach B and none reach C (B does not pass them on: one hop), while B's
# own messages still do.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
N=${CLUSTER_MSGS:-1000}
cluster_start
msgs() { peer_field "$1" "$2" "$3"; } # NODE PEER msgs_in|msgs_out
declare -A before
for x in a b c; do for y in a b c; do
    [ "$x" = "$y" ] || before[$x$y]=$(msgs "$x" "$y" msgs_out)
done; done
subs=()
for n in a b c; do
    spawn "$n" "$BUILD/psub" -v -t 'logs:#' -F '%t %p' > "sub-$n.out" 2> "sub-$n.err"
    subs+=("$SPAWNED")
    wait_for_file_lines "sub-$n.err" 1
done
on a "$BUILD/ppub" -t logs:pa -n "$N" --size 32 || fail "ppub on a exited $?"
for n in a b c; do wait_for_file_lines "sub-$n.out" "$N"; done
for n in a b c; do
    expect_eq "$(stream_check "sub-$n.out")" "$N $N 0 0" "node $n: lines, distinct, duplicates, out of order"
done
crossed() { echo $(($(msgs "$1" "$2" msgs_out) - ${before[$1$2]})); }
expect_eq "$(crossed a b)/$(crossed a c)" "$N/$N" "messages A sent to B / to C"
for l in "b a" "b c" "c a" "c b"; do
    expect_eq "$(crossed $l)" 0 "messages sent over ${l/ /->} (one hop: none)"
done
expect_eq "$(msgs b a msgs_in)/$(msgs c a msgs_in)" "$(msgs a b msgs_out)/$(msgs a c msgs_out)" \
    "messages B and C counted in from A"

# The chain: A-C cut.
cut a c
t0=$(ms)
wait_until 10 "A and C to say the mesh is incomplete" \
    eval '[ "$(cluster_json a | jq -r .complete)/$(cluster_json c | jq -r .complete)" = false/false ]'
incomplete=$(($(ms) - t0))
[ "$incomplete" -le 5000 ] || fail "the mesh was said incomplete after $incomplete ms (want <= 5000)"
link_up a b && link_up b c || fail "the A-B or B-C link went down with A-C"
on a "$BUILD/ppub" -t logs:pa2 -n "$N" --size 32 || fail "ppub on a exited $? during the cut"
wait_until 20 "B to get A's second $N" eval "[ \$(grep -c '^pa2 ' sub-b.out) -ge $N ]"
# B's own message after A's, on the B-C link: when it reached C, anything B
# had passed on from A would have too.
on b "$BUILD/ppub" -t logs:mark "from b" || fail "ppub on b exited $?"
wait_until 10 "B's message on C" grep -q '^mark ' sub-c.out
expect_eq "$(grep -c '^pa2 ' sub-c.out)" 0 "A's messages that reached C through B"
expect_eq "$(stream_check sub-b.out | awk '{print $3}')" 0 "duplicates on B"
echo "ok: $N messages crossed A-B and A-C once each, B-C and back 0; A-C cut: incomplete said in" \
    "$incomplete ms, C got 0 of A's $N (B got them all), B's own reached C"
