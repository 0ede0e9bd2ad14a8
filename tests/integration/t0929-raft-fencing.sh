#!/bin/bash
# Issue 21: the Raft term is the fencing token of what the home sends.  A
# node drops a LINK_QUEUE DELIVER or ANSWER whose term is lower than the
# highest it has seen, so a deposed leader that has not noticed yet cannot
# hand out a message or answer a publish.  With real nodes a deposed
# leader's records are also stopped by the attachment numbers and by the
# home moving to the new leader, so the term alone is tested with a stand-
# in: a follower X is restarted with its cluster link to the leader L
# pointed at tests/tools/fake_home.py (L's key pair, in X's namespace) and
# L's own link to X dropped (nftables), while L still leads the group over
# the Raft transport, so X's home is L and whatever "L" says over the link
# comes from the tool.  When X's consumer attaches, the tool delivers
# "current-1" in the group's term T, "stale-1" in T - 1 and "current-2" in
# T: the consumer must get the two current ones and not the stale one (X
# logs the drop).  Then a confirmed publish on X is forwarded to "L", and
# the tool answers it "not committed" in T - 1 and "committed" in T: the
# publisher must be confirmed (a stale answer taken would have refused it).
# Removing the check (replq_fenced) makes both fail.  The tool is given
# the term once X follows L; the group runs with a 1 s election timeout,
# as an election after that would make the tool's term stale too (the
# test then says so).
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
RAFT_ELECTION_MS=1000
. "$TESTS/integration/raft.sh"
/usr/bin/python3 -c 'import zmq' 2> /dev/null || fail "python3-zmq is not installed"
FAKE_PORT=7242

raft_start
has_leader || fail "no leader agreed: $(raft_views)"
L=$RAFT_LEADER
read -r X _ <<< "$(others "$L")"

# X, restarted, reaches "L" through the tool and never the real L.
node_stop "$X" || fail "stopping $X exited $?"
sed -i "s|tcp://${NODE_IP[$L]}:$LINK_PORT|tcp://127.0.0.1:$FAKE_PORT|" "$SCRATCH/$X.conf"
grep -q "127.0.0.1:$FAKE_PORT" "$SCRATCH/$X.conf" || fail "cannot point $X's link to $L at the tool"
ip netns exec "$(ns_of "$X")" nft -f - << EOF || fail "nft: cannot drop $L's link to $X"
table ip fence {
  chain input { type filter hook input priority -20;
    ip saddr ${NODE_IP[$L]} tcp dport $LINK_PORT drop
  }
}
EOF
spawn "$X" /usr/bin/python3 "$TESTS/tools/fake_home.py" "tcp://127.0.0.1:$FAKE_PORT" \
    "tcp://${NODE_IP[$X]}:$LINK_PORT" "$L" "$SCRATCH/keys/$L.key" "$(cat "$SCRATCH/keys/$X.z85")" \
    site "${NODE_IP[$L]}:$RAFT_PORT" jobs "$SCRATCH/term" "$SCRATCH/stop" > fake.out 2> fake.err
FAKE=$SPAWNED
node_start "$X"
wait_until 10 "$X's link to $L (the tool) up" link_up "$X" "$L"
wait_raft 10 "$X following $L" eval 'has_leader && [ "$RAFT_LEADER" = "$L" ]'
T=$RAFT_TERM
[ "$T" -ge 2 ] || fail "the group's term is $T: no older term to send"
echo "$T" > term
# L hears nothing from X any more (X's records go to the tool): its link
# to X goes down within heartbeat_timeout_ms, and the tool is alone on it.
wait_until 10 "$L's own link to $X down" eval '! link_up "$L" "$X"'

# Deliveries: two current, one stale between them.
on "$X" "$BUILD/psub" -c jobs -n 2 -F '%p' --timeout 10000 > got 2> got.err ||
    fail "$X's consumer exited $? ($(cat got.err)); the tool said: $(paste -sd' ' fake.out) $(tail -n 2 fake.err)"
expect_eq "$(paste -sd' ' got)" "current-1 current-2" "what $X's consumer got (stale-1 was sent in term $((T - 1)) between them)"
wait_until 10 "$X's acks of both current messages at the tool" eval 'grep -qx "ack 1" fake.out && grep -qx "ack 3" fake.out'
grep -qx "ack 2" fake.out && fail "$X acknowledged the stale delivery"
wait_for_node_log "$X" "queue 'jobs': a delivery from $L of an older term dropped" 5

# An answer: stale "not committed", then current "committed".
t0=$(ms)
on "$X" "$BUILD/ppub" -c jobs --confirm --timeout 5000 fenced-publish > pub.out 2> pub.err ||
    fail "the confirmed publish on $X exited $? ($(cat pub.err)): the stale answer (term $((T - 1))) was taken"
took=$(($(ms) - t0))
grep -q '^answered ' fake.out || fail "the publish was not answered by the tool: $(paste -sd' ' fake.out)"

now=$(raft_field "$X" term)
[ "$now" = "$T" ] || fail "an election during the test moved the term from $T to $now: the tool's current term was stale too"
touch stop
wait "$FAKE" || fail "the tool exited $?: $(tail -n 3 fake.err)"
echo "ok: the term fences a home's records: $X's group at term $T (leader $L); of DELIVERs in terms $T, $((T - 1)), $T from \"$L\" the consumer got 2 ($(paste -sd, got)), the stale one dropped and logged; a forwarded confirm ignored the stale answer (term $((T - 1)), not committed) and took the current one (confirmed in $took ms)"
