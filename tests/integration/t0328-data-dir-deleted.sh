#!/bin/bash
# A durable queue whose store was deleted under the running broker refuses
# publishes instead of confirming what it cannot keep: the data directory
# is removed (rm -rf) while the broker runs; then `ppub --confirm` must be
# refused (exit 4, one line) and the broker must log the loss of its store
# (the expected wording, one grep below: the log names the queue and says
# its store was deleted or removed).  Should ppub be confirmed anyway, the
# test counts what survives a restart.  The broken behaviour (issue 14,
# "also seen"): 200 messages were confirmed after the deletion, none
# survived a restart, and nothing was logged.
. "$(dirname "$0")/lib.sh"

durable_conf
start_broker -c b.conf
seq -f "before %g" 1 10 | "$BUILD/ppub" -c jobs --confirm || fail "ppub --confirm before the deletion exited $?"
rm -rf data
seq -f "after %g" 1 200 | "$BUILD/ppub" -c jobs --confirm --timeout 5000 > out 2> err
rc=$?
if [ "$rc" = 0 ]; then
    stop_broker
    start_broker -c b.conf
    "$BUILD/psub" -c jobs --timeout 1000 > got 2> /dev/null
    fail "200 messages confirmed after the data directory was deleted; $(grep -c '^after' got) survived a restart; log lines about it: $(grep -ci "deleted\|removed" brokerd.log)"
fi
[ "$rc" = 4 ] || fail "ppub --confirm exited $rc, want 4 (stderr: $(cat err))"
[ "$(wc -l < err)" = 1 ] || fail "want one line on stderr, got: $(cat err)"
grep -Eqi "'jobs'.*(deleted|removed)" brokerd.log || fail "the broker did not log that the store of 'jobs' was deleted"
echo "ok: after rm -rf of the data directory, --confirm was refused: $(cat err)"
