#!/bin/bash
# A requester whose responder was killed is told the responder went away:
# `ppub --request` on a queue, taken by a `psub --reply` that is killed
# (-9) while it works on the answer, ends with exit 3 within 5 s and one
# line on stderr that says the responder went away (the expected wording,
# one grep below: "responder" with "went away", "gone" or "lost"), not that
# no reply came within the timeout.  The broken behaviour (issue 14, "also
# seen"): it returned in 65-250 ms with exit 3 but said "no reply within
# 20000 ms".
. "$(dirname "$0")/lib.sh"

start_broker
# The responder's command notes its shell's pid, then becomes a long sleep.
"$BUILD/psub" -v -c jobs --reply 'echo $$ > worker.pid; exec sleep 60' 2> resp.err &
RESP=$!
wait_for_file_lines resp.err 1
ms() { date +%s%3N; }
"$BUILD/ppub" -c jobs --request --timeout 20000 "question" > out 2> err &
REQ=$!
wait_for_file_lines worker.pid 1
t0=$(ms)
kill -KILL "$RESP" "$(cat worker.pid)"
{
    wait "$REQ"
    rc=$?
    wait "$RESP"
} 2> /dev/null # no "Killed" notice
took=$(($(ms) - t0))
expect_eq "$rc" 3 "ppub --request exit status (stderr: $(cat err))"
[ "$took" -le 5000 ] || fail "ppub --request took $took ms to give up after its responder was killed"
[ "$(wc -l < err)" = 1 ] || fail "want one line on stderr, got: $(cat err)"
grep -Eqi "responder.*(went away|gone|lost)" err || fail "after its responder was killed, ppub --request said '$(cat err)' (after $took ms)"
echo "ok: a requester whose responder was killed gave up in $took ms: $(cat err)"
