#!/bin/bash
# cluster.raft in brokerd.conf (docs/replication.md, brokerd.conf(5)): a
# good section passes --check; a public address in raft.listen is refused
# with one line saying the transport is not encrypted, and so are an IPv6
# address, a name, a port "*", voters that are not nodes of the cluster,
# a voter twice, this node outside the voters, more than 7 voters, and a
# durable queue that names a home (its home is the group's leader).
. "$(dirname "$0")/lib.sh"

"$BUILD/pctl" keygen a > /dev/null || fail "pctl keygen failed"
"$BUILD/pctl" keygen b > /dev/null || fail "pctl keygen failed"
PUB=$(sed -n 's/^public_key = "\(.*\)";$/\1/p' b.pub)

JOBS='{ name = "jobs"; type = "queue"; durable = true; }'
raft_conf() { # FILE RAFT [CHANNELS]
    cat > "$1" << EOF
broker = { endpoints = [ "tcp://127.0.0.1:$(free_port)" ]; data_dir = "$SCRATCH/data"; };
cluster = { name = "site"; node = "a"; listen = "tcp://127.0.0.1:6242"; secret_key_file = "a.key";
  peers = ( { node = "b"; endpoint = "tcp://127.0.0.1:6243"; public_key = "$PUB"; } );
  raft = { $2 };
};
channels = ( ${3:-$JOBS} );
EOF
}

for addr in 127.0.0.1 10.77.0.1 172.16.0.9 172.31.255.1 192.168.1.1; do
    raft_conf good.conf "listen = \"tcp://$addr:6300\"; voters = [ \"a\", \"b\" ]; election_ms = 500;"
    "$BUILD/brokerd" --check -c good.conf > out 2>&1 || fail "--check refused raft.listen on $addr: $(cat out)"
done

# Each mistake alone: exactly one error line, saying WANT.
refused() { # WANT RAFT [CHANNELS]
    raft_conf bad.conf "$2" "${3:-}"
    "$BUILD/brokerd" --check -c bad.conf > out 2>&1 && fail "--check took: $2"
    [ "$(wc -l < out)" = 1 ] || fail "not one line for '$2': $(cat out)"
    grep -q -- "$1" out || fail "--check did not say /$1/ for '$2': $(cat out)"
}
refused 'cluster.raft.listen "tcp://8.8.8.8:6300" refused: not a loopback or private address (127/8, 10/8, 172.16/12, 192.168/16): the Raft transport is neither encrypted nor authenticated' \
    'listen = "tcp://8.8.8.8:6300"; voters = [ "a", "b" ];'
refused 'not a loopback or private address' 'listen = "tcp://172.32.0.1:6300"; voters = [ "a" ];'
refused 'not a loopback or private address' 'listen = "tcp://192.169.0.1:6300"; voters = [ "a" ];'
refused 'must be an IPv4 address' 'listen = "tcp://[fd00::1]:6300"; voters = [ "a" ];'
refused 'must be an IPv4 address' 'listen = "tcp://raft.example:6300"; voters = [ "a" ];'
refused 'with a port number' 'listen = "tcp://10.0.0.1:*"; voters = [ "a" ];'
refused '"z" is neither this node nor a peer' 'listen = "tcp://10.0.0.1:6300"; voters = [ "a", "z" ];'
refused '"a" listed twice' 'listen = "tcp://10.0.0.1:6300"; voters = [ "a", "a" ];'
refused 'this node "a" is not among them' 'listen = "tcp://10.0.0.1:6300"; voters = [ "b" ];'
refused '8 names; a group has 1 to 7' 'listen = "tcp://10.0.0.1:6300"; voters = [ "a", "b", "b", "b", "b", "b", "b", "b" ];'
refused "needs 'voters'" 'listen = "tcp://10.0.0.1:6300";'
refused "'home' is not for it" 'listen = "tcp://10.0.0.1:6300"; voters = [ "a", "b" ];' \
    '{ name = "jobs"; type = "queue"; durable = true; home = "b"; }'
echo "ok: private and loopback raft.listen accepted; a public address refused in one line; 11 other mistakes refused in one line each"
