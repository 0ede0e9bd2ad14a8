# cluster_local.sh - sourced after lib.sh by the t095x tests: the nodes of
# one cluster as brokerd processes on 127.0.0.1, each with its own client
# port, link port, key pair and log (NODE.log), all in the scratch
# directory.  lib.sh's cleanup kills them with the test's other jobs.
#
#   lc_setup a b c          key pairs and ports for the nodes
#   lc_conf a [PEERS [EXTRA [CHANNELS]]]
#                           writes a.conf: peers PEERS (default every other
#                           node), EXTRA more cluster settings, CHANNELS the
#                           channels list (default a pubsub "logs", a
#                           broadcast "alerts", a queue "jobs" homed on the
#                           first node)
#   lc_start a              starts node a (a.conf) and waits for its ping
#   lc_mesh a b c           lc_setup, lc_conf and lc_start of each, then
#                           waits until every link is up
#   lc_on a CMD...          runs CMD with PUBSUB_BROKER set to node a
#   lc_complete a           true when a's links to every peer are up
#   lc_field a PEER FIELD   a field of PEER in a's `pctl cluster --json`
#   lc_stop a / lc_kill a   SIGTERM and wait / SIGKILL

declare -A LC_PORT LC_LINK LC_PID
LC_NODES=()

lc_setup() { # NODE...
    local n
    LC_NODES=("$@")
    for n in "$@"; do
        "$BUILD/pctl" keygen "$n" > /dev/null || fail "pctl keygen $n failed"
        LC_PORT[$n]=$(free_port)
        LC_LINK[$n]=$(free_port)
    done
}

lc_pub() { # NODE: its public key
    sed -n 's/^public_key = "\(.*\)";$/\1/p' "$1.pub"
}

lc_conf() { # NODE [PEERS [EXTRA [CHANNELS]]]
    local me=$1 peers=${2:-} extra=${3:-} chans=${4:-} n list=""
    if [ -z "$peers" ]; then
        for n in "${LC_NODES[@]}"; do [ "$n" = "$me" ] || peers="$peers $n"; done
    fi
    for n in $peers; do
        list="$list${list:+,
    }{ node = \"$n\"; endpoint = \"tcp://127.0.0.1:${LC_LINK[$n]}\"; public_key = \"$(lc_pub "$n")\"; }"
    done
    [ -n "$chans" ] || chans="{ name = \"logs\"; type = \"pubsub\"; },
  { name = \"alerts\"; type = \"broadcast\"; },
  { name = \"jobs\"; type = \"queue\"; home = \"${LC_NODES[0]}\"; }"
    cat > "$me.conf" << EOF
broker = { endpoints = [ "tcp://127.0.0.1:${LC_PORT[$me]}" ]; data_dir = "$SCRATCH/data-$me"; };
cluster = {
  name = "site"; node = "$me"; listen = "tcp://127.0.0.1:${LC_LINK[$me]}";
  secret_key_file = "$me.key";
  peers = ( $list );
  heartbeat_ms = 200; heartbeat_timeout_ms = 1000;
  $extra
};
channels = ( $chans );
EOF
}

lc_start() { # NODE
    local n=$1
    "$BUILD/brokerd" -c "$n.conf" >> "$SCRATCH/$n.log" 2>&1 &
    LC_PID[$n]=$!
    local deadline=$((SECONDS + 20))
    until lc_on "$n" "$BUILD/pctl" --timeout 300 ping > /dev/null 2>&1; do
        kill -0 "${LC_PID[$n]}" 2> /dev/null || { cat "$SCRATCH/$n.log" >&2; fail "node $n exited at start"; }
        [ "$SECONDS" -lt "$deadline" ] || fail "node $n did not answer within 20 s"
    done
}

lc_mesh() { # NODE...
    local n
    lc_setup "$@"
    for n in "$@"; do lc_conf "$n"; done
    for n in "$@"; do lc_start "$n"; done
    wait_until 20 "every link up" lc_all_complete
}

lc_all_complete() { # true when every node's links are all up
    local n
    for n in "${LC_NODES[@]}"; do lc_complete "$n" || return 1; done
}

lc_on() { # NODE CMD...
    local n=$1
    shift
    PUBSUB_BROKER="tcp://127.0.0.1:${LC_PORT[$n]}" "$@"
}

lc_complete() { # NODE
    lc_on "$1" "$BUILD/pctl" --json cluster 2> /dev/null | jq -e '.complete' > /dev/null
}

lc_field() { # NODE PEER FIELD
    lc_on "$1" "$BUILD/pctl" --json cluster 2> /dev/null |
        jq -r --arg p "$2" --arg f "$3" '.peers[] | select(.node == $p) | .[$f]'
}

lc_stop() { # NODE
    kill -TERM "${LC_PID[$1]}" 2> /dev/null
    wait "${LC_PID[$1]}" 2> /dev/null
}

lc_kill() { # NODE
    kill -KILL "${LC_PID[$1]}" 2> /dev/null
    wait "${LC_PID[$1]}" 2> /dev/null
}
