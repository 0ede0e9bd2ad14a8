#!/bin/bash
# The cluster harness itself (cluster.sh, issue 20), on today's broker:
# it makes three node namespaces joined by a bridge in a fourth, with
# 10.77.0.1-3 on their veths and nothing in the machine's own namespace;
# TCP gets from every node to every other; `cut a b` stops a-b traffic in
# both directions and nothing else, `heal a b` brings it back; `loss 100`
# stops all of it and `loss 0` ends that; link_bytes counts a veth's bytes,
# and a link's alone with a peer; node_start, on and node_kill run a real
# brokerd in a namespace.  A run that fails, and one interrupted by SIGINT
# with a broker running, leave no namespace behind; a second run beside
# this one gets namespaces of its own; a run's sweep deletes the namespaces
# of a dead run and not those of a live one.
. "$(dirname "$0")/lib.sh"
links_before=$(ip -o link show | awk -F': ' '{print $2}' | sort | tr '\n' ' ')
. "$TESTS/integration/cluster.sh"

# Created: four namespaces, the addresses on the nodes' eth0, the bridge.
for n in a b c br; do
    [ -e "/run/netns/ps$$$n" ] || fail "no namespace ps$$$n"
done
for n in a b c; do
    expect_eq "$(ip -n "ps$$$n" -j addr show dev eth0 | jq -r '.[0].addr_info[] | select(.family == "inet") | .local')" \
        "${NODE_IP[$n]}" "address of node $n"
done
expect_eq "$(ip -n "ps$$br" -j link show master br0 | jq -r '[.[].ifname] | sort | join(" ")')" "va vb vc" \
    "ports of the bridge"
links_now=$(ip -o link show | awk -F': ' '{print $2}' | sort | tr '\n' ' ')
expect_eq "$links_now" "$links_before" "links in the machine's own namespace"

# Connected: a TCP echo server on each node, a client from each other node.
cat > echo.py << 'EOF'
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7007))
s.listen(16)
open(sys.argv[2], "w").close()
def serve(c):
    with c:
        while True:
            b = c.recv(65536)
            if not b:
                return
            c.sendall(b)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
EOF
cat > client.py << 'EOF'
import socket, sys
size = int(sys.argv[2]) if len(sys.argv) > 2 else 5
try:
    s = socket.create_connection((sys.argv[1], 7007), timeout=1.0)
    data = b"x" * size
    s.sendall(data)
    got = b""
    while len(got) < size:
        b = s.recv(65536)
        if not b:
            break
        got += b
    sys.exit(0 if got == data else 1)
except OSError:
    sys.exit(1)
EOF
for n in a b c; do
    spawn "$n" /usr/bin/python3 echo.py "${NODE_IP[$n]}" "echo-$n.ready"
    wait_until 10 "the echo server of node $n" test -e "echo-$n.ready"
done
reach() { on "$1" /usr/bin/python3 client.py "${NODE_IP[$2]}" "${3:-5}"; } # FROM TO [BYTES]
for x in a b c; do
    for y in a b c; do
        [ "$x" = "$y" ] || reach "$x" "$y" || fail "node $x cannot reach node $y"
    done
done

# link_bytes: 100 kB echoed a-b shows on a's veth and on the a-b counters,
# not on the a-c ones.
v0=$(link_bytes a) ab0=$(link_bytes a b) ac0=$(link_bytes a c)
reach a b 100000 || fail "100 kB a-b"
v1=$(link_bytes a) ab1=$(link_bytes a b) ac1=$(link_bytes a c)
[ $((v1 - v0)) -ge 200000 ] || fail "a's veth counted $((v1 - v0)) bytes for 100 kB each way"
[ $((ab1 - ab0)) -ge 200000 ] || fail "the a-b counters saw $((ab1 - ab0)) bytes for 100 kB each way"
[ $((ac1 - ac0)) -lt 2000 ] || fail "the a-c counters saw $((ac1 - ac0)) bytes of a-b traffic"

# Cut: a-b dead both ways, a-c and b-c alive; heal brings a-b back.
cut a b
reach a b && fail "a reached b across the cut"
reach b a && fail "b reached a across the cut"
reach a c || fail "a cannot reach c while a-b is cut"
reach c b || fail "c cannot reach b while a-b is cut"
dropped=$(ip netns exec "$(ns_of a)" nft -j list table ip cut_b | jq '[.nftables[] | .rule? | select(. != null) | .expr[] | .counter? | select(. != null) | .packets] | add')
[ "${dropped:-0}" -gt 0 ] || fail "the cut's counters dropped nothing"
heal a b
reach a b || fail "a cannot reach b after heal"
reach b a || fail "b cannot reach a after heal"
ip netns exec "ps$$a" nft list tables | grep -q cut_ && fail "heal left a cut table"

# Loss: 100 % stops every link, 0 % ends it; loopback is not touched.
loss 100
reach a c && fail "a reached c through 100 % loss"
spawn a /usr/bin/python3 echo.py 127.0.0.1 echo-lo.ready
wait_until 10 "the loopback echo server" test -e echo-lo.ready
on a /usr/bin/python3 -c 'import socket; socket.create_connection(("127.0.0.1", 7007), timeout=1).close()' ||
    fail "loss dropped loopback traffic"
loss 0
reach a c || fail "a cannot reach c after loss 0"

# A real broker in a namespace: node_start, on, node_kill.
cat > plain.conf << EOF
broker = { endpoints = [ "tcp://127.0.0.1:$CLIENT_PORT" ]; data_dir = "$SCRATCH/data-plain"; };
channels = ( { name = "logs"; type = "pubsub"; } );
EOF
node_start b plain.conf
spawn b "$BUILD/psub" -v -t 'logs:#' -n 1 --timeout 5000 > sub.out 2> sub.err
SUB=$SPAWNED
wait_for_file_lines sub.err 1
on b "$BUILD/ppub" -t logs:x "inside b" || fail "ppub in node b exited $?"
wait "$SUB" || fail "psub in node b exited $?"
grep -q "^\[x #1 .*\] inside b$" sub.out || fail "psub in node b got '$(cat sub.out)'"
on a "$BUILD/pctl" --timeout 300 ping > /dev/null 2>&1 && fail "node a answers on b's broker's port"
node_kill b
on b "$BUILD/pctl" --timeout 300 ping > /dev/null 2>&1 && fail "node b still answers after node_kill"

# Other runs: a child script that makes its cluster beside ours and then
# fails, one interrupted by SIGINT with a broker running in node a, and
# the sweep of a dead run's namespaces (not of a live run's).
cat > child.sh << EOF
. "$TESTS/integration/lib.sh"
. "$TESTS/integration/cluster.sh"
echo \$\$ > "$SCRATCH/child.pid"
cp "$SCRATCH/plain.conf" .
node_start a plain.conf
touch "$SCRATCH/child.up"
[ "\${1:-}" = fail ] && fail "failing on purpose"
sleep 300 &
wait \$!
EOF
left() { ip netns list | awk '{print $1}' | grep -E "^ps$1(a|b|c|br)$"; } # PID
links_gone() { # what the child left in the machine's namespace: nothing
    expect_eq "$(ip -o link show | awk -F': ' '{print $2}' | sort | tr '\n' ' ')" "$links_before" \
        "links in the machine's own namespace after a run"
}
bash child.sh fail > child1.out 2>&1
expect_eq "$?" 1 "exit status of the failing run"
grep -q "FAIL: failing on purpose" child1.out || fail "the failing run said: $(cat child1.out)"
c1=$(cat child.pid)
[ -z "$(left "$c1")" ] || fail "the failing run left namespaces: $(left "$c1")"
links_gone

rm -f child.pid child.up
set -m # a job of its own process group, so SIGINT reaches it (not ignored)
bash child.sh > child2.out 2>&1 &
CHILD=$!
set +m
wait_until 20 "the second run's broker" test -e child.up
c2=$(cat child.pid)
[ "$(left "$c2" | wc -l)" = 4 ] || fail "the second run has namespaces $(left "$c2" | tr '\n' ' ')"
broker=$(ip netns pids "ps${c2}a")
[ -n "$broker" ] || fail "no process in the second run's node a"
[ -e "/run/netns/ps$$a" ] || fail "the second run took this run's namespaces"
kill -INT "$CHILD"
wait "$CHILD"
expect_eq "$?" 130 "exit status of the interrupted run"
[ -z "$(left "$c2")" ] || fail "the interrupted run left namespaces: $(left "$c2")"
for p in $broker; do
    kill -0 "$p" 2> /dev/null && fail "the interrupted run left its broker (pid $p) running"
done
links_gone

# A dead run (a pid that has exited) and a live one (a process of ours).
bash -c 'echo $$' > dead.pid
dead=$(cat dead.pid)
kill -0 "$dead" 2> /dev/null && fail "pid $dead is alive again, cannot test the sweep"
sleep 300 &
live=$!
ip netns add "ps${dead}a" && ip netns add "ps${live}br" || fail "cannot add the test namespaces"
bash child.sh fail > child3.out 2>&1
[ -e "/run/netns/ps${dead}a" ] && fail "the sweep left the dead run's namespace"
[ -e "/run/netns/ps${live}br" ] || fail "the sweep deleted a live run's namespace"
ip netns del "ps${live}br"
[ -e "/run/netns/ps$$a" ] || fail "the other runs deleted this run's namespaces"

echo "ok: namespaces made, connected (TCP both ways between all nodes), cut and healed," \
    "lossy, counted (a-b: $((ab1 - ab0)) B, a-c: $((ac1 - ac0)) B), removed after a failure," \
    "after SIGINT with a broker running, and by the sweep of a dead run only"
