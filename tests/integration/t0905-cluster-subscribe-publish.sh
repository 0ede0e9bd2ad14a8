#!/bin/bash
# Issue 20, experiment 5: a subscriber's OK waits until every peer has its
# interest, so nothing published after the OK is missed cluster-wide: 1,000
# rounds ($CLUSTER_ROUNDS) of subscribing on B to a topic of the round and
# publishing on A at once (tests/tools/cluster_driver.py rounds, one client
# on each node): 1,000/1,000 delivered.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
R=${CLUSTER_ROUNDS:-1000}
cluster_start
t0=$(ms)
cluster_driver b rounds "$R" "tcp://${NODE_IP[a]}:$CLIENT_PORT" > out || fail "the driver exited $?: $(cat out)"
expect_eq "$(cat out)" "delivered $R/$R" "subscribe on B, publish on A at once"
echo "ok: subscribe on B then publish on A at once: $(cat out) in $(($(ms) - t0)) ms"
