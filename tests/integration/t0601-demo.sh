#!/bin/bash
# make demo's script (demo/lecture.sh) on its own private broker: it
# finishes by itself, exits 0, and reports each of the twelve combinations
# and the syslog routing as behaving as described, with measured times.
. "$(dirname "$0")/lib.sh"
bash "$ROOT/demo/lecture.sh" > demo.out 2> demo.err || fail "the demo exited $?: $(grep -B3 'NOT AS' demo.out | head -20) $(tail -5 demo.err)"
expect_eq "$(grep -c '^\[[ 0-9]*/12\] ' demo.out)" 12 "steps announced"
expect_eq "$(grep -c '^        observed: .*\[as described\]$' demo.out)" 13 "steps observed as described (12 and syslog)"
grep -q 'NOT AS DESCRIBED' demo.out && fail "a step misbehaved: $(grep 'NOT AS' demo.out)"
for words in "asynchrone Nachricht, Punkt-zu-Punkt" "synchrone Nachricht, Broadcast" \
    "asynchroner Auftrag, Publish-Subscribe" "synchroner Auftrag (RPC), Punkt-zu-Punkt"; do
    grep -qF "$words" demo.out || fail "no step says '$words'"
done
grep -qE 'observed: ppub waited [0-9]+ ms, until the receiver' demo.out || fail "no measured wait of a sync message"
grep -qE 'amd64/sshd 67, amd64/cron 36, amd64/syslog-ng 82, amd64/kernel 6 lines \(191 in all\)' demo.out ||
    fail "syslog routing line: $(grep -A1 '^\[syslog\]' demo.out | tail -1; grep 'sent 191' demo.out)"
tail -2 demo.out | grep -q '^All 12 combinations and the syslog routing behaved as described.$' ||
    fail "last lines: $(tail -2 demo.out)"
[ -s demo.err ] && fail "the demo wrote to stderr: $(head -5 demo.err)"
echo "ok: make demo's twelve steps and the syslog routing, all as described, measured"
