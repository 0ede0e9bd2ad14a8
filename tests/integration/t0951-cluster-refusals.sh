#!/bin/bash
# Who may join a cluster: a node of another cluster name is refused with
# the log line naming both names, a node whose key is not among the
# peers' is refused at the CURVE handshake ("unknown key"), and a node
# whose channel declarations differ is refused with the channels named;
# none of their links comes up, and `pctl cluster` says so.  A broker
# without a cluster section answers {"cluster":null}.  Bad cluster
# sections are refused by --check with one line each.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster_local.sh"
C=$BUILD/pctl

lc_setup a b c d
lc_conf a "b c d"
# b believes it is in another cluster.
lc_conf b "a"
sed -i 's/name = "site"/name = "other"/' b.conf
# c's declarations differ: jobs is a pubsub channel there.
lc_conf c "a" "" '{ name = "logs"; type = "pubsub"; }, { name = "alerts"; type = "broadcast"; }, { name = "jobs"; type = "pubsub"; }'
# d has a key a does not know: a lists d with b's public key.
lc_conf d "a"
sed -i "s|{ node = \"d\"; endpoint = \"\(.*\)\"; public_key = \"$(lc_pub d | sed 's/[][\.*^$/|]/\\&/g')\"; }|{ node = \"d\"; endpoint = \"\1\"; public_key = \"$(lc_pub b | sed 's/[&|]/\\&/g')\"; }|" a.conf
grep -q "$(lc_pub d)" a.conf && fail "a.conf still has d's key"
for n in a b c d; do lc_start $n; done
wait_until 10 "a's refusal of b" grep -q 'cluster: peer refused: cluster name "other" is not "site" (node b)' a.log
wait_until 10 "a's refusal of c" grep -q 'cluster: peer c refused: channel declarations differ (jobs)' a.log
wait_until 10 "a's refusal of d's key" grep -q 'cluster: peer refused: unknown key' a.log
wait_until 10 "c's refusal of a" grep -q 'cluster: peer a refused: channel declarations differ (jobs)' c.log
expect_eq "$(lc_field a b state)" refused "b's state on a"
expect_eq "$(lc_field a c state)" refused "c's state on a"
expect_eq "$(lc_field a d state)" connecting "d's state on a (its handshake fails)"
expect_eq "$(lc_on a "$C" --json cluster | jq .complete)" false "a's mesh is incomplete"
expect_eq "$(grep -c 'cluster: peer refused: cluster name' a.log)" 1 "the refusal of b logged once"
grep -q "link to" a.log && fail "a link came up: $(grep 'link to' a.log)"

# Without a cluster section.
start_broker
expect_eq "$("$C" --json cluster)" '{"cluster":null}' "pctl cluster without a cluster"

# --check: one line for each mistake.
cat > bad.conf << EOF
cluster = { name = "site"; node = "a"; listen = "tcp://127.0.0.1:1";
  secret_key_file = "a.key";
  peers = ( { node = "a"; endpoint = "tcp://127.0.0.1:2"; public_key = "$(lc_pub b)"; },
            { node = "b"; endpoint = "ipc:///x"; public_key = "$(lc_pub b)"; },
            { node = "c"; endpoint = "tcp://127.0.0.1:3"; public_key = "short"; } );
  heartbeat_ms = 500; heartbeat_timeout_ms = 400; };
channels = ( { name = "jobs"; type = "queue"; home = "z"; }, { name = "logs"; type = "pubsub"; home = "a"; } );
EOF
"$BUILD/brokerd" --check -c bad.conf > out 2> err && fail "--check took bad.conf"
for want in 'peer "a" is this node itself' 'links speak tcp' 'public_key of peer "c" must be 40' \
    "'heartbeat_timeout_ms' \\(400\\) must be longer" 'home "z" is not a node of the cluster' \
    "'home' is for queues"; do
    grep -Eq "$want" err || fail "--check did not say /$want/: $(cat err)"
done
echo "ok: another cluster name, other declarations and an unknown key refused, each logged once; 6 mistakes found by --check"
