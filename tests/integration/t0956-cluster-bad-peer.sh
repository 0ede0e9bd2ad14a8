#!/bin/bash
# A listed peer that misbehaves (tests/integration/cluster_peer.py holds
# b's key pair and talks to a's cluster.listen): malformed frames, then a
# valid HELLO followed by more interest entries than max_interest, three
# times over.  a drops the link each time, logs it once, counts it as
# malformed, and keeps serving its clients.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster_local.sh"
run_python -c 'import zmq' 2> /dev/null || fail "python3-zmq is not installed"
P=$BUILD/ppub C=$BUILD/pctl

lc_setup a b
lc_conf a "b" "max_interest = 3;"
lc_start a
ep="tcp://127.0.0.1:${LC_LINK[a]}"
run_python "$TESTS/integration/cluster_peer.py" "$ep" "$(lc_pub a)" b b.key garbage ||
    fail "the hostile peer exited $?"
wait_until 5 "a's log of the malformed frames" grep -q "cluster: peer b sent a malformed frame; link dropped" a.log
expect_eq "$(grep -c 'cluster: peer b sent' a.log)" 1 "lines logged for the bad frames"
bad=$(lc_on a "$C" --json status | jq .malformed)
[ "$bad" -ge 6 ] || fail "malformed in pctl status after 6 bad frames: $bad"
run_python "$TESTS/integration/cluster_peer.py" "$ep" "$(lc_pub a)" b b.key flood ||
    fail "the hostile peer exited $?"
expect_eq "$(grep -c 'cluster: peer b sent' a.log)" 1 "lines logged after the interest floods too"
wait_until 5 "three floods counted" eval '[ "$(lc_on a "$C" --json status | jq .malformed)" -ge $((bad + 3)) ]'
[ "$(lc_field a b interest_in)" -le 3 ] || fail "a holds $(lc_field a b interest_in) entries of b's, over max_interest 3"
lc_on a "$P" -t logs:x still-serving || fail "a does not serve its clients any more"
kill -0 "${LC_PID[a]}" || fail "a died"
echo "ok: malformed frames and interest floods from a listed peer: link dropped, one log line, a still serves"
