#!/bin/bash
# Issue 20, experiment 7: sync messages count receivers on every node.
# With 2 + 2 + 1 receivers of broadcast 'alerts' on A, B and C, `ppub
# --sync -v` on A says "5/5 confirmed" (exit 0).  One receiver on B
# stopped (SIGSTOP: attached, never confirming; for a 1 s timeout, less
# than the client heartbeat timeout): "4/5", exit 3.  Node C
# cut off from A (and B), at once and again once A counts the link down:
# "4/5", exit 3, never 5/5 and never 4/4.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
cluster_start
declare -A recv
i=0
for n in a a b b c; do
    i=$((i + 1))
    spawn "$n" "$BUILD/psub" -v -c alerts > "r$i.out" 2> "r$i.err"
    recv[$i]=$SPAWNED
    wait_for_file_lines "r$i.err" 1
done
sync_pub() { # WHAT [TIMEOUT_MS]: ppub --sync on A, output in sync.err, status in $rc
    on a "$BUILD/ppub" -c alerts --sync -v --timeout "${2:-3000}" "$1" > /dev/null 2> sync.err
    rc=$?
}
sync_pub all
expect_eq "$rc" 0 "ppub --sync with 5 receivers (stderr: $(cat sync.err))"
grep -q "5/5 confirmed" sync.err || fail "ppub --sync said: $(cat sync.err)"
all=$(grep -o "5/5 confirmed in [0-9]* ms" sync.err)

# Stopped for less than the nodes' client heartbeat timeout (3 s), so
# that its node keeps its session and it gets the message once resumed.
kill -STOP "${recv[3]}"
sync_pub stopped 1000
expect_eq "$rc" 3 "ppub --sync with a receiver on B stopped (stderr: $(cat sync.err))"
grep -q "4/5" sync.err || fail "with a receiver on B stopped ppub --sync said: $(cat sync.err)"
kill -CONT "${recv[3]}"
wait_until 10 "the stopped receiver to catch up" grep -q stopped r3.out

cut a c
cut b c
sync_pub "cut at once"
expect_eq "$rc" 3 "ppub --sync just after C was cut off (stderr: $(cat sync.err))"
grep -q "4/5" sync.err || fail "just after C was cut off ppub --sync said: $(cat sync.err)"
wait_until 10 "A to count its link to C down" eval '! link_up a c'
for k in 1 2 3; do
    sync_pub "cut $k"
    expect_eq "$rc" 3 "ppub --sync with C unreachable, try $k (stderr: $(cat sync.err))"
    grep -q "4/5" sync.err || fail "with C unreachable ppub --sync said: $(cat sync.err)"
done
echo "ok: 2+2+1 receivers: $all; one stopped: 4/5 exit 3; C cut off: 4/5 exit 3 at once and 3 times after the link went down"
