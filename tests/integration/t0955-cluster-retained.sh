#!/bin/bash
# Retained values on every node: a value retained on a is given to a new
# subscriber on b and c, whoever subscribed before; a clear on b clears it
# everywhere.  During a partition (c frozen past the heartbeat timeout)
# a value is set on a; once c is back the nodes reconcile, c gets the
# newest value, and a value set on c while it was cut off does not
# overwrite a newer one, by the hybrid logical clock, never by arrival.
# pctl channels counts values, not the tombstones clears leave.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster_local.sh"
P=$BUILD/ppub S=$BUILD/psub C=$BUILD/pctl

lc_mesh a b c

retained_on() { # NODE TOPIC: the value a new subscriber there gets, "" for none
    lc_on "$1" "$S" -F '%p' -t "logs:$2" -n 1 --timeout 300 2> /dev/null
}
lc_on a "$P" -r -t logs:status/x "v1" || fail "ppub -r on a exited $?"
wait_until 5 "v1 on b and c" eval '[ "$(retained_on b status/x)" = v1 ] && [ "$(retained_on c status/x)" = v1 ]'
lc_on b "$P" -r -t logs:status/x "" || fail "the clear on b exited $?"
wait_until 5 "the clear on a and c" eval '[ -z "$(retained_on a status/x)" ] && [ -z "$(retained_on c status/x)" ]'
# The clear left a tombstone on each node: it is no value to count.
for n in a b c; do
    expect_eq "$(lc_on $n "$C" channels --json | jq '.[] | select(.name == "logs") | .retained')" 0 \
        "retained values pctl channels counts on $n after the clear"
done

# Partition: c frozen; a sets v2; c's own value v0 was set before, older.
lc_on c "$P" -r -t logs:status/y "old-from-c" || fail "ppub -r on c exited $?"
wait_until 5 "old-from-c on a" eval '[ "$(retained_on a status/y)" = old-from-c ]'
kill -STOP "${LC_PID[c]}"
wait_until 10 "a's link to c down" eval '[ "$(lc_field a c state)" = down ]'
lc_on a "$P" -r -t logs:status/x "v2" || fail "ppub -r on a exited $?"
lc_on a "$P" -r -t logs:status/y "new-from-a" || fail "ppub -r on a exited $?"
kill -CONT "${LC_PID[c]}"
t0=$(date +%s%N)
wait_until 10 "c agrees after healing" eval '[ "$(retained_on c status/x)" = v2 ] && [ "$(retained_on c status/y)" = new-from-a ]'
ms=$((($(date +%s%N) - t0) / 1000000))
expect_eq "$(retained_on b status/y)" new-from-a "status/y on b"
expect_eq "$(retained_on a status/y)" new-from-a "status/y on a"
echo "ok: retained values and clears on every node; after a partition c agreed within $ms ms of thawing"
