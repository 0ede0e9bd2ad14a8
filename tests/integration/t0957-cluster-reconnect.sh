#!/bin/bash
# A link that went down comes back as one connection.  b is stopped
# (SIGSTOP) until a sees its link to b go down and has connected to b
# again (the kernel takes the connection; b's handshake waits), then
# continued; four times.  Afterwards a holds exactly one TCP connection to
# b's link port, and 2000 messages published on a all reach a subscriber
# on b, each counted once on both sides of the link.  Before, each round
# left one more connection (a's zmq_disconnect and zmq_connect at the
# link's down did not end the old one); a link's DEALER spreads its sends
# over every connection it has, and b's ROUTER hands the node's name to
# the newest, so records sent over an older one were lost (in t0922 a
# confirmed publish forwarded to the Raft leader waited for an answer
# that never came, stalling publishers 2 s at a failover).
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster_local.sh"
P=$BUILD/ppub S=$BUILD/psub

lc_mesh a b
ROUNDS=4

# a's established connections to b's link port: a's local ports, one a line.
conns() {
    ss -tnpH state established "( dport = :${LC_LINK[b]} )" |
        awk -v pid="pid=${LC_PID[a]}," 'index($0, pid) { n = split($3, x, ":"); print x[n] }'
}

for r in $(seq 1 $ROUNDS); do
    conns > before.ports
    kill -STOP "${LC_PID[b]}"
    wait_until 10 "a to log its link to b down (round $r)" \
        eval '[ "$(grep -c "link to b down" a.log)" -ge $r ]'
    wait_until 10 "a's new connection to the stopped b (round $r)" \
        eval 'conns | grep -qvxFf before.ports'
    kill -CONT "${LC_PID[b]}"
    wait_until 10 "the links up again (round $r)" lc_all_complete
done

n=$(conns | wc -l)
expect_eq "$n" 1 "a's connections to b's link port after $ROUNDS rounds"

lc_on b "$S" -v -F '%p' -c logs --timeout 3000 > sub.out 2> sub.err &
wait_for_file_lines sub.err 1
wait_until 10 "b's subscription known on a" eval '[ "$(lc_field a b interest_in)" -ge 1 ]'
N=2000
lc_on a "$P" -t logs:x -n $N --size 16 || fail "ppub exited $?"
wait_for_file_lines sub.out $N
expect_eq "$(lc_field a b msgs_out)" $N "messages a sent to b"
expect_eq "$(lc_field b a msgs_in)" $N "messages b took from a"
echo "ok: after $ROUNDS rounds of b stopped until a reconnected, a has $n connection to b's link port; $N messages a->b all arrived"
