#!/bin/bash
# Issue 15.6, gateway subscriptions by number: one plain SUB socket, with
# no rights and no handshake, must not take the broker's memory by the
# number of its subscriptions either.  The promise (README, "Bounded
# memory"): everything a client can make grow is under a bound.  Broken
# behaviour: each subscription is bounded in length (t0525), but not in
# number: libzmq's XPUB keeps every distinct prefix in its trie, some KB
# each for random bytes, for as long as the SUB stays connected; 200,000
# subscriptions of 200 random bytes took the broker from 10 MB to 1.2 GB.
# The fix it expects: a bound on the distinct prefixes the XPUB holds
# (with XPUB_MANUAL, or the XPUB reopened past it), said in brokerd.conf(5).
. "$(dirname "$0")/lib.sh"
pending "issue 15.6: the gateway's XPUB keeps any number of subscriptions (20,000 random ones: about 130 MB)"
. "$TESTS/integration/hostile.sh"

N=20000
LIMIT_KB=$((40960 * RSS_SCALE))

PORT=$(free_port) XPUB=$(free_port)
cat > g.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; insecure = true;
           gateway = { xpub = "tcp://127.0.0.1:$XPUB"; }; };
EOF2
start_broker -c g.conf
base=$(rss_kb)
/usr/bin/python3 - "tcp://127.0.0.1:$XPUB" $N > sub.out 2>&1 << 'PY' &
import os, sys, time, zmq
s = zmq.Context().socket(zmq.SUB)
s.setsockopt(zmq.SNDHWM, 0)
s.connect(sys.argv[1])
for _ in range(int(sys.argv[2])):
    s.setsockopt(zmq.SUBSCRIBE, os.urandom(200))
print("subscribed", flush=True)
time.sleep(120)  # until the test kills it
PY
sub=$!
wait_for_file_lines sub.out 1 60
# The broker has taken them all once the gateway counts them; a broker
# that bounds them never does, so this waits 30 s at most, not failing.
gw_subs() { "$BUILD/pctl" status --json | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["gateway"]["subscriptions"])'; }
t0=$SECONDS
until [ "$(gw_subs)" = "$N" ] || [ $((SECONDS - t0)) -ge 30 ]; do read -r -t 0.2 <> <(:) || true; done
peak=$(peak_kb)
kill "$sub"
[ "$peak" -lt "$LIMIT_KB" ] ||
    problem "broker peak ${peak} KiB (limit ${LIMIT_KB}, baseline ${base}) from one SUB's $N subscriptions"
verdict "$N subscriptions of one SUB: peak ${peak} KiB (baseline ${base}, limit ${LIMIT_KB})"
