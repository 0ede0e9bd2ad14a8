#!/bin/bash
# Issue 21: a durable queue replicated by the Raft group of three nodes
# (cluster.raft), what it does when nothing fails and when its leader is
# killed.  Every node agrees on the queue's home, the group's leader
# (`pctl channels --json`).  $N confirmed publishes on the leader and $N on
# a follower (ppub --confirm exits 0 only once each is committed); a
# consumer on the other follower takes $M of them and exits (each acked);
# the leader's state then holds exactly the rest (the acks are committed).
# The leader is killed (-9): the other two elect a new one within 5 s,
# every node names it as home, and a consumer on the follower left gets
# every message not acknowledged, each exactly once and each flagged
# redelivered (the new leader flags all it inherits), and none of the $M
# acknowledged (which, delivered before any failover, came unflagged).  A publish with the group down to one node (the second
# leader killed too) is refused with "unavailable" within 3 s, nonzero
# exit.  Figures: confirmed messages/s on the leader, on a follower, and
# on one broker without a cluster (a durable queue, fsync batch).
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
N=${RAFT_MSGS:-1000}
M=$((N / 2))
CHANNELS='{ name = "jobs"; type = "queue"; durable = true; },
  { name = "alerts"; type = "broadcast"; }'
NODE_RAFT=500 # election_ms
for n in "${CLUSTER_NODES[@]}"; do node_conf "$n" "$CHANNELS"; done
cluster_start

home_of() { # NODE: the home of jobs as NODE sees it ("null" while none is known)
    on "$1" "$BUILD/pctl" --timeout 1000 channels --json 2> /dev/null |
        jq -r '.[] | select(.name == "jobs") | .home'
}
held_on() { # NODE: the messages of jobs the group's state holds there
    on "$1" "$BUILD/pctl" --timeout 1000 channels --json 2> /dev/null |
        jq -r '.[] | select(.name == "jobs") | .replicated_held'
}
agreed_home() { # NODE...: true once every NODE names the same home; it goes in $HOME_NODE
    local n h first=""
    for n in "$@"; do
        h=$(home_of "$n")
        case "$h" in a | b | c) ;; *) return 1 ;; esac
        [ -z "$first" ] && first=$h
        [ "$h" = "$first" ] || return 1
    done
    HOME_NODE=$first
}
wait_until 15 "a leader named as the queue's home on every node" agreed_home a b c
L=$HOME_NODE
F1= F2=
for n in "${CLUSTER_NODES[@]}"; do
    [ "$n" = "$L" ] && continue
    if [ -z "$F1" ]; then F1=$n; else F2=$n; fi
done

t0=$(ms)
seq 1 "$N" | sed 's/^/l-/' | on "$L" "$BUILD/ppub" -c jobs --confirm 2> pub-l.err ||
    fail "confirmed publishes on the leader $L exited $?: $(cat pub-l.err)"
t_leader=$(($(ms) - t0))
t0=$(ms)
seq 1 "$N" | sed 's/^/f-/' | on "$F1" "$BUILD/ppub" -c jobs --confirm 2> pub-f.err ||
    fail "confirmed publishes on the follower $F1 exited $?: $(cat pub-f.err)"
t_follower=$(($(ms) - t0))
wait_until 10 "$((2 * N)) messages held by the group on $L" eval '[ "$(held_on "$L")" = $((2 * N)) ]'

# A consumer on the other follower: its acks are committed.
on "$F2" "$BUILD/psub" -v -c jobs -n "$M" -F json --timeout 10000 > first.out 2> first.err ||
    fail "the consumer on $F2 exited $?: $(cat first.err)"
expect_eq "$(wc -l < first.out)" "$M" "messages consumed on $F2"
flagged=$(jq -r 'select(.redelivered) | .payload' first.out | head -n 3)
[ -z "$flagged" ] || fail "messages of the leader's own term flagged redelivered before any failover: $flagged"
acked() { [ "$(held_on "$L")" = $((2 * N - M)) ] && [ "$(held_on "$F1")" = $((2 * N - M)) ]; }
for _ in $(seq 1 200); do acked && break; read -r -t 0.05 <> <(:) || true; done
acked || fail "after $M acks the group's state holds $(held_on "$L") on $L and $(held_on "$F1") on $F1, want $((2 * N - M))"

# The leader killed: a new one, and everything not acknowledged comes back.
node_kill "$L"
t0=$(ms)
new_home() { agreed_home "$F1" "$F2" && [ "$HOME_NODE" != "$L" ]; }
wait_until 5 "a new leader named as home by $F1 and $F2" new_home
t_failover=$(($(ms) - t0))
L2=$HOME_NODE
on "$F2" "$BUILD/psub" -v -c jobs -n "$((2 * N - M))" -F json --timeout 10000 > second.out 2> second.err ||
    fail "the consumer on $F2 after the failover exited $? after $(wc -l < second.out) messages: $(cat second.err)"
expect_eq "$(jq -r .payload second.out | sort -u | wc -l)" "$((2 * N - M))" "distinct messages after the failover"
expect_eq "$(cat first.out second.out | jq -r .payload | sort -u | wc -l)" "$((2 * N))" "distinct messages in all"
again=$(cat first.out second.out | jq -r .payload | sort | uniq -d | head -n 3)
[ -z "$again" ] || fail "acknowledged messages delivered again after the failover: $again"
unflagged=$(jq -r 'select(.redelivered | not) | .payload' second.out | head -n 3)
[ -z "$unflagged" ] || fail "messages inherited by the new leader not flagged redelivered: $unflagged"

# The group down to one node: no commit, "unavailable", no confirm.  The
# new leader may be either follower: the one left is the other.
node_kill "$L2"
S=$F1 # the node left
[ "$L2" = "$F1" ] && S=$F2
t0=$(ms)
on "$S" "$BUILD/ppub" -c jobs --confirm --timeout 10000 "alone" > /dev/null 2> alone.err
rc=$?
took=$(($(ms) - t0))
[ "$rc" != 0 ] || fail "a confirmed publish with one node of three left exited 0"
grep -q unavailable alone.err || fail "a publish with one node of three left said: $(cat alone.err)"
[ "$took" -le 3000 ] || fail "the publish with one node of three left took $took ms to fail"
node_stop "$S" || fail "node $S exited $? when stopped (SIGTERM) with the group down to it"
cluster_down

# The same publishes on one broker without a cluster, a durable queue.
PORT=$(free_port)
cat > single.conf << EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/single"; };
channels = ( { name = "jobs"; type = "queue"; durable = true; } );
EOF
start_broker -c single.conf
t0=$(ms)
seq 1 "$N" | "$BUILD/ppub" -c jobs --confirm ||
    fail "confirmed publishes on one broker exited $?"
t_single=$(($(ms) - t0))
rate() { echo $(($1 * 1000 / ($2 > 0 ? $2 : 1))); }
echo "ok: $N confirmed on the leader $L ($(rate "$N" "$t_leader") msgs/s), $N on the follower" \
    "$F1 ($(rate "$N" "$t_follower") msgs/s; one broker, durable: $(rate "$N" "$t_single") msgs/s);" \
    "$M consumed on $F2 and acked; $L killed: $L2 home in $t_failover ms, the other" \
    "$((2 * N - M)) all back flagged redelivered, no acked one again; one node left: refused in $took ms"
