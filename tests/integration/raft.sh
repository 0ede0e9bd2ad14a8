# raft.sh - the fault tests of replicated durable queues (issue 21): three
# nodes of cluster.sh whose durable queue 'jobs' is one Raft group; sourced
# after cluster.sh.
#
# raft_conf writes a node's configuration with a cluster.raft section (its
# Raft transport on its own address, port 6300, voters a b c, election
# timeout $RAFT_ELECTION_MS) and the one channel 'jobs', durable, with
# fsync = "always".  The helpers read `pctl cluster --json`'s "raft" object
# (state, term, leader, commit, applied, last, voters), find the leader the
# nodes agree on, and run the publishers whose confirms the tests count: a
# message id is written down only after the ppub that sent it exited 0,
# which with --confirm means every message it sent was committed on a
# majority.

RAFT_PORT=6300
RAFT_ELECTION_MS=${RAFT_ELECTION_MS:-500}
RAFT_CHANNELS='{ name = "jobs"; type = "queue"; durable = true; }'

# Writes NODE.conf for the group: MORE_RAFT are more settings of the raft
# section (data_dir = "...";), MORE_BROKER of the broker section.
raft_conf() { # NODE [MORE_RAFT [MORE_BROKER]]
    local n=$1
    node_conf "$n" "$RAFT_CHANNELS" "heartbeat_ms = 500;  heartbeat_timeout_ms = 1500;  link_buffer = 67108864;
  raft = { listen = \"tcp://${NODE_IP[$n]}:$RAFT_PORT\"; voters = [ \"a\", \"b\", \"c\" ];
           election_ms = $RAFT_ELECTION_MS; ${2:-} };" "fsync = \"always\"; ${3:-}"
}

# Writes the three configurations (unless a test wrote its own), starts the
# nodes and waits for a complete mesh and a leader all three agree on.
raft_start() {
    local n
    for n in "${CLUSTER_NODES[@]}"; do [ -f "$SCRATCH/$n.conf" ] || raft_conf "$n"; done
    cluster_start
    wait_raft 20 "a leader the three nodes agree on" has_leader
}

# NODE's "raft" object of `pctl cluster --json`, one line ("" when the node
# does not answer or has no group).
raft_json() { # NODE
    cluster_json "$1" | jq -c '.raft // empty' 2> /dev/null
}

# One field of NODE's raft object (state, term, leader, commit, applied, last).
raft_field() { # NODE FIELD
    cluster_json "$1" | jq -r --arg f "$2" '.raft[$f] // empty' 2> /dev/null
}

# Prints the leader every NODE given (default all) agrees on: one of them
# says it leads, and each of the others names it as its leader, in the
# same term.  Returns 1 (printing nothing) while there is none.  Also sets
# RAFT_LEADER, RAFT_TERM and RAFT_COMMIT (the leader's commit index) when
# not run in a subshell (has_leader), which saves asking the nodes again.
raft_leader() { # [NODE...]
    [ $# -gt 0 ] || set -- "${CLUSTER_NODES[@]}"
    local n j state leader term commit lead="" lterm="" lcommit="" views=() pids=()
    # Every node is asked at once: one poll costs one pctl, not one a node
    # (a few hundred ms each on a loaded machine, which the times measured
    # by the callers would include).
    for n in "$@"; do
        raft_json "$n" > "view.$n" &
        pids+=($!)
    done
    wait "${pids[@]}"
    for n in "$@"; do
        j=$(cat "view.$n")
        [ -n "$j" ] || return 1
        read -r state leader term commit <<< "$(jq -r '"\(.state) \(.leader // "-") \(.term) \(.commit)"' <<< "$j")"
        [ "$state" = leader ] && { [ -z "$lead" ] || return 1; lead=$n; lterm=$term; lcommit=$commit; }
        views+=("$n $state $leader $term")
    done
    [ -n "$lead" ] || return 1
    for j in "${views[@]}"; do
        read -r n state leader term <<< "$j"
        [ "$n" = "$lead" ] && continue
        [ "$state" = follower ] && [ "$leader" = "$lead" ] && [ "$term" = "$lterm" ] || return 1
    done
    RAFT_LEADER=$lead RAFT_TERM=$lterm RAFT_COMMIT=$lcommit
    echo "$lead"
}

# Every node's view of the group, one line: for a failure's message.
raft_views() {
    local n
    for n in "${CLUSTER_NODES[@]}"; do
        printf '%s: %s; ' "$n" "$(raft_json "$n" | jq -c '{state, term, leader, commit, applied, last}' 2> /dev/null)"
    done
}

# wait_until, but a timeout also shows every node's view of the group.
wait_raft() { # TIMEOUT_S WHAT COND...
    WAIT_CONTEXT=raft_views wait_until "$@"
}

# True when the NODEs given (default all) agree on a leader.
has_leader() { # [NODE...]
    raft_leader "$@" > /dev/null
}

# "commit applied last" of NODE.
raft_indexes() { # NODE
    raft_json "$1" | jq -r '"\(.commit) \(.applied) \(.last)"' 2> /dev/null
}

# True when every NODE given (default all) has the same commit, applied and
# last index, and has applied all it committed.
raft_agree() { # [NODE...]
    [ $# -gt 0 ] || set -- "${CLUSTER_NODES[@]}"
    local n first="" x
    for n in "$@"; do
        x=$(raft_indexes "$n")
        [ -n "$x" ] && [ "$x" != "null null null" ] || return 1
        [ -z "$first" ] && first=$x
        [ "$x" = "$first" ] || return 1
    done
    read -r c a _ <<< "$first"
    [ "$c" = "$a" ]
}

# True once NODE has applied at least INDEX.
raft_applied() { # NODE INDEX
    local a
    a=$(raft_field "$1" applied)
    [ -n "$a" ] && [ "$a" -ge "$2" ]
}

# The messages of jobs the group's state holds on NODE (pctl channels'
# replicated_held: published and committed, their ack not committed).
raft_held() { # NODE
    on "$1" "$BUILD/pctl" --timeout 1000 channels --json 2> /dev/null |
        jq -r '.[] | select(.name == "jobs") | .replicated_held'
}

# The other nodes than those given, space-separated.
others() { # NODE...
    local n x out=()
    for n in "${CLUSTER_NODES[@]}"; do
        for x in "$@"; do [ "$n" = "$x" ] && continue 2; done
        out+=("$n")
    done
    echo "${out[@]}"
}

# A publisher that never gives up until the file ./stop exists: batches of
# BATCH messages "NAME-SEQ" with `ppub --confirm`, first to node START, to
# the next node (a b c in turn) after a failure, the same batch again until
# it is confirmed.  Once a ppub exited 0, each of its ids is appended to
# confirmed-NAME as "MS ID" (MS: when ppub exited); each failure to
# failed-NAME as "MS NODE STATUS reason".  A batch sent again after a
# failure may be delivered twice (at-least-once), never lost.
confirm_publisher() { # NAME START BATCH
    local name=$1 k=$3 i=0 ni n ids rc
    case $2 in a) ni=0 ;; b) ni=1 ;; *) ni=2 ;; esac
    while [ ! -e stop ]; do
        ids=$(seq -f "$name-%.0f" $((i + 1)) $((i + k)))
        n=${CLUSTER_NODES[ni % 3]}
        # shellcheck disable=SC2086 # one argument an id
        ip netns exec "$(ns_of "$n")" "$BUILD/ppub" -b "tcp://127.0.0.1:$CLIENT_PORT" -c jobs \
            --confirm --timeout 2000 $ids > /dev/null 2> "pub-$name.err"
        rc=$?
        if [ "$rc" = 0 ]; then
            printf "$(ms) %s\n" $ids >> "confirmed-$name"
            i=$((i + k))
        else
            echo "$(ms) $n $rc $(head -n 1 "pub-$name.err")" >> "failed-$name"
            ni=$((ni + 1))
        fi
    done
}

# The ids of every confirmed-* file, sorted, one a line.
confirmed_ids() {
    cat confirmed-* 2> /dev/null | awk '{ print $2 }' | sort
}

# Takes every message off the queue through NODE (psub -v -F json, until
# none came for 3 s) into FILE; prints how many it took.
drain() { # NODE FILE
    on "$1" "$BUILD/psub" -v -c jobs -F json --timeout 3000 > "$2" 2> "$2.err" ||
        fail "draining the queue on $1 exited $?: $(tail -n 2 "$2.err")"
    wc -l < "$2"
}

# Confirmed messages so far, all publishers.
confirms() {
    cat confirmed-* 2> /dev/null | wc -l
}

# The longest stall of publishing around each kill: the times of the
# confirms (all publishers) and the kills (file KILLS, "MS WHAT" a line);
# for each kill, the longest gap between two consecutive confirms from the
# last one before it to the last one before the next kill.  Prints one
# figure in ms a kill, in order; -1 where no confirm came after it.
stalls() { # KILLS
    cat confirmed-* | awk '{ print $1 }' | sort -n -u > confirm.times
    awk 'NR == FNR { k[++nk] = $1; next }
         { t[++nt] = $1 }
         END {
             for (i = 1; i <= nk; i++) {
                 end = i < nk ? k[i + 1] : t[nt] + 1; prev = -1; worst = 0; seen = 0
                 for (j = 1; j <= nt; j++) {
                     if (t[j] <= k[i]) { prev = t[j]; continue }
                     if (t[j] > end) break
                     if (prev >= 0 && t[j] - prev > worst) worst = t[j] - prev
                     prev = t[j]; seen = 1
                 }
                 printf "%d\n", seen ? worst : -1
             }
         }' "$1" confirm.times
}

# The id of each message of the psub -F json outputs FILE...: its
# payload's first word (a payload may be padded after a space).
ids_of() { # FILE...
    cat "$@" | jq -r '.payload | split(" ")[0]'
}

# Checks that every id in WANT (sorted, one a line) is among the messages
# of the psub -F json outputs FILE..., and that a message seen twice was
# flagged redelivered the second time, unless its id is in the file
# $RESENT (ids the test published twice: a batch refused "unavailable"
# may have been committed all the same); prints "lost duplicates flagged".
check_delivered() { # WANT FILE...
    local want=$1 lost dups flagged p
    shift
    ids_of "$@" | sort > got.ids
    lost=$(comm -23 "$want" <(sort -u got.ids) | wc -l)
    dups=$(uniq -d got.ids | wc -l)
    flagged=$(cat "$@" | jq -r 'select(.redelivered) | .payload | split(" ")[0]' | sort -u)
    for p in $(uniq -d got.ids); do
        [ -n "${RESENT:-}" ] && grep -qx -- "$p" "$RESENT" && continue
        grep -qx -- "$p" <<< "$flagged" || fail "message $p delivered twice, the second time not flagged redelivered"
    done
    echo "$lost $dups $(grep -c . <<< "$flagged")"
}
