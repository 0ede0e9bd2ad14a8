# cluster.sh - three brokerd nodes in network namespaces of their own, for
# the cluster tests (issue 20); sourced after lib.sh.
#
# cluster_up makes namespaces ps$$a, ps$$b, ps$$c (the nodes, 10.77.0.1-3/24
# on their eth0) and ps$$br (bridge br0 joining the veth pairs), so nothing
# of the test appears in the machine's own namespace and two runs never
# share a name.  The EXIT trap stops the nodes and deletes the namespaces
# (their veths go with them) also when the test fails or is interrupted; a
# run killed without its trap leaves namespaces that the next cluster_up
# deletes, but only those whose run ($$ in the name) is gone.  Links are cut
# and made lossy with nftables inside the node namespaces; per-peer byte
# counters live there too.  Skips (ok: skipped) only without root or netns.

# The nodes, their addresses and ports: each namespace has its own port
# space, so the ports are fixed; clients reach a node on 127.0.0.1 inside
# its namespace (`on`), or on its address from another namespace.
CLUSTER_NODES=(a b c)
declare -A NODE_IP=([a]=10.77.0.1 [b]=10.77.0.2 [c]=10.77.0.3)
declare -A NODE_PID=()
CLIENT_PORT=5242
LINK_PORT=6242
RAFT_PORT=6300
NS_PREFIX=ps$$

ns_of() { echo "$NS_PREFIX$1"; } # NODE: its namespace name

# The node logs in fail's output, not lib.sh's brokerd.log.
fail() {
    echo "FAIL: $*" >&2
    local n
    for n in "${CLUSTER_NODES[@]}"; do
        if [ -s "$SCRATCH/$n.log" ]; then
            echo "--- last lines of $n.log:" >&2
            tail -n 12 "$SCRATCH/$n.log" >&2
        fi
    done
    exit 1
}

# Deletes every namespace of this run: first every process in them (the
# nodes, and what `on` started in the background: a namespace lives on
# while a process is in it), then the names.
cluster_down() {
    local ns pids
    for ns in "${CLUSTER_NODES[@]/#/$NS_PREFIX}" "${NS_PREFIX}br"; do
        [ -e "/run/netns/$ns" ] || continue
        pids=$(ip netns pids "$ns" 2> /dev/null)
        [ -n "$pids" ] && kill -KILL $pids 2> /dev/null && wait $pids 2> /dev/null
    done
    NODE_PID=()
    for ns in "${CLUSTER_NODES[@]/#/$NS_PREFIX}" "${NS_PREFIX}br"; do
        [ -e "/run/netns/$ns" ] && ip netns del "$ns" 2> /dev/null
    done
    return 0
}

# lib.sh's cleanup (every process, the scratch directory) keeps the exit
# status it finds in $?, so the namespaces go first and the status is kept.
cluster_exit() {
    local rc=$?
    exec 2> /dev/null
    cluster_down
    (exit $rc)
    cleanup
}
trap cluster_exit EXIT

# Namespaces ps<PID><node> of runs whose PID is gone (killed without their
# trap): deleted.  A live run's namespaces are never touched.
cluster_sweep() {
    local ns pid
    for ns in $(ip netns list 2> /dev/null | awk '{print $1}'); do
        [[ "$ns" =~ ^ps([0-9]+)(a|b|c|br)$ ]] || continue
        pid=${BASH_REMATCH[1]}
        [ "$pid" = $$ ] && continue
        kill -0 "$pid" 2> /dev/null && continue
        ip netns del "$ns" 2> /dev/null
    done
}

# In every node namespace: table ip pscount counts the bytes to and from
# each peer (link_bytes NODE PEER); cut and loss add tables of their own.
nft_counters() { # NODE
    local n=$1 p rules=""
    for p in "${CLUSTER_NODES[@]}"; do
        [ "$p" = "$n" ] && continue
        rules+="  counter from_$p { }
  counter to_$p { }
"
    done
    {
        echo "table ip pscount {"
        echo "$rules"
        echo "  chain input { type filter hook input priority -10;"
        for p in "${CLUSTER_NODES[@]}"; do
            [ "$p" = "$n" ] || echo "    ip saddr ${NODE_IP[$p]} counter name from_$p"
        done
        echo "  }"
        echo "  chain output { type filter hook output priority -10;"
        for p in "${CLUSTER_NODES[@]}"; do
            [ "$p" = "$n" ] || echo "    ip daddr ${NODE_IP[$p]} counter name to_$p"
        done
        echo "  }"
        echo "}"
    } | ip netns exec "$(ns_of "$n")" nft -f - || fail "nft: cannot add the byte counters in node $n"
}

# Makes the namespaces, the bridge and the veth pairs, the addresses.
cluster_up() {
    if [ "$(id -u)" != 0 ]; then
        echo "ok: skipped (the cluster tests need root for ip netns)"
        exit 0
    fi
    if ! ip netns add "${NS_PREFIX}br" 2> netns.err; then
        echo "ok: skipped (ip netns impossible here: $(head -n 1 netns.err))"
        exit 0
    fi
    command -v nft > /dev/null || fail "nft is missing (make test installs nftables)"
    cluster_sweep
    local br n ns
    br=${NS_PREFIX}br
    ip -n "$br" link add br0 type bridge && ip -n "$br" link set br0 up &&
        ip -n "$br" link set lo up || fail "cannot make the bridge in $br"
    for n in "${CLUSTER_NODES[@]}"; do
        ns=$(ns_of "$n")
        ip netns add "$ns" || fail "cannot add namespace $ns"
        # Both ends are made in their namespaces: nothing in the machine's own.
        ip -n "$ns" link add eth0 type veth peer name "v$n" netns "$br" &&
            ip -n "$br" link set "v$n" master br0 up &&
            ip -n "$ns" addr add "${NODE_IP[$n]}/24" dev eth0 &&
            ip -n "$ns" link set eth0 up &&
            ip -n "$ns" link set lo up || fail "cannot connect namespace $ns to the bridge"
        nft_counters "$n"
    done
}

# Runs CMD in NODE's namespace with PUBSUB_BROKER set to the node; CMD may
# be a shell function of the script (run_python, say).
on() { # NODE CMD...
    local n=$1
    shift
    if [ "$(type -t "$1")" = function ]; then
        ip netns exec "$(ns_of "$n")" env PUBSUB_BROKER="tcp://127.0.0.1:$CLIENT_PORT" \
            bash -c "$(declare -f "$1"); \"\$@\"" on "$@"
    else
        ip netns exec "$(ns_of "$n")" env PUBSUB_BROKER="tcp://127.0.0.1:$CLIENT_PORT" "$@"
    fi
}

# Starts CMD in NODE's namespace in the background, as `on` does, with its
# own pid in $SPAWNED (for kill -STOP, kill -9, wait): `on ... &` would
# give the pid of a subshell.  Redirections of the call apply to CMD.
spawn() { # NODE CMD...
    local n=$1
    shift
    ip netns exec "$(ns_of "$n")" env PUBSUB_BROKER="tcp://127.0.0.1:$CLIENT_PORT" "$@" &
    SPAWNED=$!
}

# The key pairs of the nodes, made once by `pctl keygen` in keys/.
cluster_keys() {
    [ -d "$SCRATCH/keys" ] && return 0
    mkdir -p "$SCRATCH/keys" && (
        cd "$SCRATCH/keys" || exit 1
        for k in "${CLUSTER_NODES[@]}" stranger; do
            "$BUILD/pctl" keygen "$k" > "$k.z85" || exit 1
        done
    ) || fail "pctl keygen failed"
}

# The channels every node declares unless a test gives its own.
CLUSTER_CHANNELS='{ name = "jobs"; type = "queue"; home = "a"; },
  { name = "alerts"; type = "broadcast"; },
  { name = "logs"; type = "pubsub"; slow_subscriber = "block"; },
  { name = "feed"; type = "pubsub"; slow_subscriber = "drop"; }'

# Writes NODE.conf: clients on 127.0.0.1 and the node's address (port
# $CLIENT_PORT), the cluster section (peers: the other nodes), CHANNELS
# (default $CLUSTER_CHANNELS), MORE_CLUSTER and MORE_BROKER settings.
# $CLUSTER_NAME (default "site") and $NODE_KEY (the key pair under keys/,
# default the node's own) change what this node says of itself.  With
# $NODE_RAFT set (an election_ms) the cluster section has a raft group of
# every node, its transport on the node's address, port $RAFT_PORT.
node_conf() { # NODE [CHANNELS [MORE_CLUSTER [MORE_BROKER]]]
    local n=$1 channels=${2:-$CLUSTER_CHANNELS} p peers="" raft="" voters=""
    cluster_keys
    if [ -n "${NODE_RAFT:-}" ]; then
        for p in "${CLUSTER_NODES[@]}"; do voters+="${voters:+, }\"$p\""; done
        raft="raft = { listen = \"tcp://${NODE_IP[$n]}:$RAFT_PORT\"; voters = [ $voters ]; election_ms = $NODE_RAFT; };"
    fi
    for p in "${CLUSTER_NODES[@]}"; do
        [ "$p" = "$n" ] && continue
        [ -n "$peers" ] && peers+=",
            "
        peers+="{ node = \"$p\"; endpoint = \"tcp://${NODE_IP[$p]}:$LINK_PORT\"; public_key = \"$(cat "$SCRATCH/keys/$p.z85")\"; }"
    done
    cat > "$SCRATCH/$n.conf" << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$CLIENT_PORT", "tcp://${NODE_IP[$n]}:$CLIENT_PORT" ];
  insecure = true;  # plain clients on the node's address: only this test's namespaces reach it
  data_dir = "$SCRATCH/data-$n";
  ${4:-}
};
cluster = {
  name = "${CLUSTER_NAME:-site}";  node = "$n";  listen = "tcp://${NODE_IP[$n]}:$LINK_PORT";
  secret_key_file = "$SCRATCH/keys/${NODE_KEY:-$n}.key";
  peers = ( $peers );
  ${3:-heartbeat_ms = 500;  heartbeat_timeout_ms = 1500;  link_buffer = 67108864;}
  $raft
};
channels = ( $channels );
EOF
}

# Starts brokerd in NODE's namespace with CONF (default NODE.conf), its
# output in NODE.log; waits until it answers a ping on its client endpoint.
node_start() { # NODE [CONF]
    local n=$1 conf=${2:-$SCRATCH/$1.conf}
    [ -z "${NODE_PID[$n]:-}" ] || fail "node $n is already running"
    ip netns exec "$(ns_of "$n")" ${BROKER_WRAPPER:-} "$BUILD/brokerd" -c "$conf" >> "$SCRATCH/$n.log" 2>&1 &
    NODE_PID[$n]=$!
    local deadline=$((SECONDS + 20))
    until on "$n" "$BUILD/pctl" --timeout 300 ping > /dev/null 2>&1; do
        if ! kill -0 "${NODE_PID[$n]}" 2> /dev/null; then
            unset "NODE_PID[$n]"
            fail "brokerd of node $n exited at start: $(tail -n 3 "$SCRATCH/$n.log" | tr '\n' ' ')"
        fi
        [ "$SECONDS" -lt "$deadline" ] || fail "node $n did not answer within 20 s"
    done
}

node_stop() { # NODE: SIGTERM, wait; returns brokerd's exit status
    local n=$1 pid=${NODE_PID[$1]:-}
    [ -n "$pid" ] || return 0
    unset "NODE_PID[$n]"
    kill -TERM "$pid" 2> /dev/null
    wait "$pid"
}

node_kill() { # NODE: SIGKILL (a crash), wait
    local n=$1 pid=${NODE_PID[$1]:-}
    [ -n "$pid" ] || return 0
    unset "NODE_PID[$n]"
    { kill -KILL "$pid"; wait "$pid"; } 2> /dev/null
    return 0
}

# Writes the three configurations and starts the nodes in ORDER (default
# a b c), then waits until every node says its mesh is complete.
cluster_start() { # [ORDER...]
    local n
    for n in "${CLUSTER_NODES[@]}"; do [ -f "$SCRATCH/$n.conf" ] || node_conf "$n"; done
    [ $# -gt 0 ] || set -- "${CLUSTER_NODES[@]}"
    for n in "$@"; do node_start "$n"; done
    wait_until 10 "a complete mesh" mesh_complete "$@"
}

# `pctl cluster --json` of NODE, one line ("" when it does not answer).
cluster_json() { # NODE
    on "$1" "$BUILD/pctl" --timeout 1000 cluster --json 2> /dev/null
}

# A field of NODE's link to PEER in `pctl cluster --json` (state, rtt_us,
# msgs_in, msgs_out, bytes_in, bytes_out, drops, gaps, interest_in, ...).
peer_field() { # NODE PEER FIELD
    cluster_json "$1" | jq -r --arg p "$2" --arg f "$3" '.peers[]? | select(.node == $p) | .[$f]' 2> /dev/null
}

# True when NODE counts its link to PEER up.
link_up() { # NODE PEER
    [ "$(peer_field "$1" "$2" state)" = up ]
}

# True when every NODE (default all) says its mesh is complete.
mesh_complete() { # [NODE...]
    local n
    [ $# -gt 0 ] || set -- "${CLUSTER_NODES[@]}"
    for n in "$@"; do
        [ "$(cluster_json "$n" | jq -r .complete 2> /dev/null)" = true ] || return 1
    done
}

# Until NODE's log matches REGEX (an extended regex).
wait_for_node_log() { # NODE REGEX [TIMEOUT_S]
    wait_until "${3:-10}" "/$2/ in $1.log" grep -Eq "$2" "$SCRATCH/$1.log"
}

# Drops all traffic between nodes X and Y, both directions, in both
# namespaces (an nftables table cut_PEER in each); heal removes it.  With
# options first (cut -d, -c, -f) it is coreutils' cut, which it hides.
cut() { # X Y
    case "${1:-}" in -*) command cut "$@"; return ;; esac
    local x=$1 y=$2 n p
    for n in "$x" "$y"; do
        p=$([ "$n" = "$x" ] && echo "$y" || echo "$x")
        ip netns exec "$(ns_of "$n")" nft -f - << EOF || fail "nft: cannot cut $x-$y"
table ip cut_$p {
  chain input { type filter hook input priority -20;
    ip saddr ${NODE_IP[$p]} counter drop
  }
  chain output { type filter hook output priority -20;
    ip daddr ${NODE_IP[$p]} counter drop
  }
}
EOF
    done
}

heal() { # X Y
    ip netns exec "$(ns_of "$1")" nft delete table ip "cut_$2" || fail "nft: cannot heal $1-$2"
    ip netns exec "$(ns_of "$2")" nft delete table ip "cut_$1" || fail "nft: cannot heal $1-$2"
}

# Drops PCT % of the packets each node receives on its veth (so every link,
# each direction, loses PCT %); loss 0 ends it.  Loopback is untouched.
loss() { # PCT
    local n ns
    for n in "${CLUSTER_NODES[@]}"; do
        ns=$(ns_of "$n")
        ip netns exec "$ns" nft list table ip psloss > /dev/null 2>&1 &&
            ip netns exec "$ns" nft delete table ip psloss
        [ "$1" = 0 ] && continue
        # numgen's values are 0..99: 100 % is every packet.
        ip netns exec "$ns" nft -f - << EOF || fail "nft: cannot add $1 % loss in node $n"
table ip psloss {
  chain input { type filter hook input priority -30;
    iifname "eth0" $([ "$1" -lt 100 ] && echo "numgen random mod 100 < $1") counter drop
  }
}
EOF
    done
}

# Bytes on NODE's veth, sent and received (from /sys/class/net); with PEER,
# only the IP bytes between NODE and PEER (the nftables counters).
link_bytes() { # NODE [PEER]
    local ns
    ns=$(ns_of "$1")
    if [ $# = 1 ]; then
        ip netns exec "$ns" sh -c 'echo $(( $(cat /sys/class/net/eth0/statistics/tx_bytes) + $(cat /sys/class/net/eth0/statistics/rx_bytes) ))'
    else
        ip netns exec "$ns" nft -j list counters table ip pscount |
            jq --arg p "$2" '[.nftables[] | .counter? | select(. != null) |
                select(.name == "from_" + $p or .name == "to_" + $p) | .bytes] | add'
    fi
}

# Runs tests/tools/cluster_driver.py ARGS in NODE's namespace with the
# package of the source tree and the library of the build under test (as
# lib.sh's run_python, libasan first under the sanitizer tree).
cluster_driver() { # NODE ARGS...
    local n=$1 env=()
    shift
    case "$BUILD" in *build-asan)
        env+=(LD_PRELOAD="$(cc -print-file-name=libasan.so)" ASAN_OPTIONS="detect_leaks=0") ;;
    esac
    on "$n" env "${env[@]}" PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$ROOT/python" \
        PUBSUB_LIBRARY="$BUILD/libpubsub.so.1" "${PYTHON:-/usr/bin/python3}" \
        "$TESTS/tools/cluster_driver.py" "$@"
}

# Milliseconds on a monotonic-enough clock, for the figures.
ms() { echo $(($(date +%s%N) / 1000000)); }

# Reads a psub output of lines "TOPIC INDEX..." (psub -F '%t %p' of ppub
# --size messages) and prints "lines distinct duplicates disordered": a
# line whose index its topic has shown before is a duplicate, one lower
# than its topic's highest so far (and not a duplicate) is out of order.
stream_check() { # FILE
    awk '{
        t = $1; i = $2 + 0
        if ((t, i) in seen) { dup++; next }
        seen[t, i] = 1; distinct++
        if (t in top && i < top[t]) disorder++
        if (!(t in top) || i > top[t]) top[t] = i
    } END { printf "%d %d %d %d\n", NR, distinct, dup, disorder }' "$1"
}

# A publisher of N messages (ppub --size 64, topic p<node>) on each node
# and a subscriber of logs:# on each, subscribed first: every subscriber
# must get all 3 x N exactly once, each publisher's in order, no gap
# reported (WHAT names the conditions in a failure).  $TOOK: the ms from
# the first publish to the last subscriber's end.
all_to_all() { # N WHAT
    local n=$1 what=$2 node p subs=() pubs=() t0
    for node in "${CLUSTER_NODES[@]}"; do
        spawn "$node" "$BUILD/psub" -v -t 'logs:#' -F '%t %p' -n $((3 * n)) --timeout 30000 \
            > "sub-$node.out" 2> "sub-$node.err"
        subs+=("$SPAWNED")
        wait_for_file_lines "sub-$node.err" 1 20
    done
    t0=$(ms)
    for node in "${CLUSTER_NODES[@]}"; do
        spawn "$node" "$BUILD/ppub" -t "logs:p$node" -n "$n" --size 64
        pubs+=("$SPAWNED")
    done
    for p in "${pubs[@]}"; do wait "$p" || fail "a publisher exited $? ($what)"; done
    for p in "${subs[@]}"; do wait "$p" || fail "a subscriber exited $? ($what; 3: fewer than $((3 * n)) in time)"; done
    TOOK=$(($(ms) - t0))
    for node in "${CLUSTER_NODES[@]}"; do
        expect_eq "$(stream_check "sub-$node.out")" "$((3 * n)) $((3 * n)) 0 0" \
            "node $node ($what): lines, distinct, duplicates, out of order"
        grep -q "missed" "sub-$node.err" && fail "node $node's subscriber reported a gap ($what): $(cat "sub-$node.err")"
    done
}

cluster_up
