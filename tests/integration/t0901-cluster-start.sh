#!/bin/bash
# Issue 20, experiment 1: nodes started in any order form a complete mesh,
# every link up within 2 s of the last node's start (orders b c a, then c a
# b after all stopped), each link logged ("cluster: link to b up"); without
# a cluster section `pctl cluster --json` says {"cluster":null}.  A peer
# with the wrong cluster name, an unknown CURVE key or other channel
# declarations is refused with a log line naming the reason (CLUSTER.md's
# wording: `cluster: peer refused: cluster name "x" is not "site"`,
# `cluster: peer refused: unknown key`, `cluster: peer c refused: channel
# declarations differ (alerts)`), never counted up; put right, it joins.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"

# No cluster section: pctl cluster says so and exits 0.
cat > plain.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$CLIENT_PORT" ]; data_dir = "$SCRATCH/data-plain"; };
EOF2
node_start a plain.conf
expect_eq "$(on a "$BUILD/pctl" cluster --json | jq -c .)" '{"cluster":null}' "pctl cluster without a cluster"
node_stop a || fail "node a (plain) exited $?"

# Two orders: the time from the last start to a complete mesh.
for n in a b c; do node_conf "$n"; done
up_ms=()
# The time is read from the nodes' logs (the last "link to P up" of each),
# not from polling pctl, whose own latency a loaded machine makes long.
log_ms() { date -d "$(cut -c1-23 <<< "$1")" +%s%3N; } # LOG LINE: its time, ms
for order in "b c a" "c a b"; do
    set -- $order
    node_start "$1"
    node_start "$2"
    t0=$(ms)
    node_start "$3"
    wait_until 10 "a complete mesh after starting $order" mesh_complete
    last=0
    for n in a b c; do for p in a b c; do
        [ "$n" = "$p" ] && continue
        t=$(log_ms "$(grep "cluster: link to $p up" "$n.log" | tail -1)")
        [ "$t" -gt "$last" ] && last=$t
    done; done
    took=$((last - t0))
    [ "$took" -le 2000 ] || fail "order $order: the mesh took $took ms to complete (want <= 2000)"
    up_ms+=("$took")
    for n in a b c; do
        j=$(cluster_json "$n")
        expect_eq "$(jq -r '[.cluster, .node, (.peers | length), ([.peers[].state] | unique | join(","))] | join(" ")' <<< "$j")" \
            "site $n 2 up" "pctl cluster of node $n"
        expect_eq "$(jq -r '[.peers[].rtt_us | type] | unique | join(",")' <<< "$j")" number "rtt_us of node $n"
    done
    on a "$BUILD/pctl" cluster > table || fail "pctl cluster (table) exited $?"
    grep -q "b.*up" table && grep -q "c.*up" table || fail "pctl cluster's table: $(cat table)"
    for p in b c; do wait_for_node_log a "cluster: link to $p up"; done
    for n in a b c; do node_stop "$n" || fail "node $n exited $? at SIGTERM"; done
done

# Refusals, each with node c wrong and a and b running.
node_start a
node_start b
wait_until 10 "the a-b link" link_up a b
refused() { # WHAT REGEX: c is refused for WHAT, a or c says REGEX, c's link never up
    local from=$(($(wc -l < a.log) + 1))
    node_start c
    # Either side may be the one to refuse: a (or b) refusing c, or c them.
    wait_until 10 "/$2/ in a.log or c.log" grep -Eq "$2" a.log c.log
    for n in a b; do
        [ "$(peer_field "$n" c state)" = up ] && fail "node $n counts c up despite $1"
        [ "$(cluster_json "$n" | jq -r .complete)" = false ] || fail "node $n says its mesh is complete despite $1"
    done
    link_up a b || fail "the a-b link is not up while c is refused for $1"
    tail -n "+$from" a.log | grep -q "cluster: link to c up" && fail "a logged its link to c up despite $1"
    node_stop c
}
CLUSTER_NAME=other node_conf c
refused "its cluster name" 'cluster: peer (c )?refused: cluster name "other" is not "site"'
NODE_KEY=stranger node_conf c
refused "an unknown key" 'cluster: peer (c )?refused: unknown key'
node_conf c "$(sed 's/name = "alerts"; type = "broadcast"/name = "alerts"; type = "pubsub"/' <<< "$CLUSTER_CHANNELS")"
refused "other channel declarations" 'cluster: peer [ac] refused: channel declarations differ \(alerts\)'
# Put right, c joins.
node_conf c
node_start c
t0=$(ms)
wait_until 10 "c joining after its configuration was put right" mesh_complete
echo "ok: every link up ${up_ms[0]} ms after the last start (order b c a), ${up_ms[1]} ms (c a b)," \
    "in $(($(ms) - t0)) ms after the refusals; refused with a log line: cluster name, unknown key, channel declarations"
