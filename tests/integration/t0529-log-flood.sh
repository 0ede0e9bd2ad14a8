#!/bin/bash
# Issue 15.10, log flood: a client with no rights must not be able to fill
# the log.  The promise: connection logging is rate-limited per source and
# summarised ("... and N more in the last 10 s").  Broken behaviour: every
# HELLO logged an info line, 5,000 HELLOs on one connection gave 5,000
# lines (the issue: 45,000 lines, 11.9 MB, in 0.1 s); and once that was
# limited, every session's end still logged its line ("client N said BYE,
# forgotten"): 2,000 sessions begun and ended, 2,000 lines.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"

N=5000
start_broker
log0=$(wc -l < brokerd.log)
$HOSTILE logflood "$PUBSUB_BROKER" $N > flood.out 2> flood.err || fail "hostile.py logflood: $(cat flood.err)"
"$BUILD/pctl" ping > /dev/null || fail "pctl ping exited $?"
lines=$(($(wc -l < brokerd.log) - log0)) bytes=$(wc -c < brokerd.log)
[ "$lines" -le 50 ] || problem "$lines log lines ($bytes bytes of log) for $N HELLOs"
grep -Eq "and [0-9,]+ more" brokerd.log || problem "no summary line for the connections not logged"

B=2000
log0=$(wc -l < brokerd.log)
$HOSTILE byeflood "$PUBSUB_BROKER" $B > bye.out 2> bye.err || fail "hostile.py byeflood: $(cat bye.err)"
"$BUILD/pctl" ping > /dev/null || fail "pctl ping exited $?"
byes=$(($(wc -l < brokerd.log) - log0))
[ "$byes" -le 50 ] || problem "$byes log lines for $B sessions begun and ended"
verdict "$N HELLOs: $lines log lines; $B sessions begun and ended: $byes"
