#!/bin/bash
# --progress on ppub and psub: during a run of about two seconds a rate
# line appears about once a second, plain lines when stderr is a file, one
# line rewritten with \r on a terminal; a summary with the totals ends it.
# Without --progress nothing is written.
. "$(dirname "$0")/lib.sh"
start_broker
P=$BUILD/ppub S=$BUILD/psub
N=5000 RATE=2000 # 2.5 s of sending

"$S" -v --progress -c logs -t 'load/#' -n $N --timeout 10000 > /dev/null 2> sub.err &
pid=$!
wait_for_file_lines sub.err 1
"$P" --progress -c logs -t load/x -n $N --size 64 --rate $RATE 2> pub.err || fail "ppub exited $?"
wait $pid || fail "psub exited $?: $(cat sub.err)"

# Rate lines: "ppub: 2000 messages sent, 2000 msg/s, 125.0 KiB/s".
rate_re='^ppub: [0-9]+ messages sent, [0-9]+ msg/s, [0-9.]+ [KMG]?i?B/s$'
lines=$(grep -cE "$rate_re" pub.err)
[ "$lines" -ge 1 ] && [ "$lines" -le 4 ] || fail "ppub wrote $lines rate lines in 2.5 s: $(cat pub.err)"
grep -q $'\r' pub.err && fail "a \\r in ppub's progress into a file"
last=$(tail -1 pub.err)
[[ "$last" =~ ^ppub:\ $N\ messages\ sent\ \(312\.5\ KiB\)\ in\ [0-9.]+\ s:\ [0-9]+\ msg/s ]] ||
    fail "ppub's summary line: $last"
secs=$(sed -E 's/.* in ([0-9]+)\.[0-9]+ s:.*/\1/' <<< "$last")
[ "$secs" -ge 2 ] || fail "ppub --rate $RATE sent $N messages in less than 2 s: $last"
rate=$(sed -E 's/.*: ([0-9]+) msg\/s,.*/\1/' <<< "$last")
[ "$rate" -le $((RATE + 100)) ] || fail "ppub's average rate $rate is above --rate $RATE"
grep -qE '^psub: [0-9]+ messages received, [0-9]+ msg/s' sub.err || fail "no psub rate line: $(cat sub.err)"
tail -1 sub.err | grep -qE "^psub: $N messages received \(312\.5 KiB\) in [0-9.]+ s: [0-9]+ msg/s" ||
    fail "psub's summary line: $(tail -1 sub.err)"

# On a terminal: one line, rewritten.
if command -v script > /dev/null; then
    script -qc "'$P' --progress -c logs -t load/y -n 3000 --size 10 --rate $RATE" /dev/null > tty.out < /dev/null ||
        fail "ppub under script exited $?"
    grep -q $'\r\033\[K' tty.out || fail "no \\r line rewrite on a terminal: $(od -c tty.out | head -5)"
    expect_eq "$(tr '\r' '\n' < tty.out | grep -cF 'ppub: 3000 messages sent (')" 1 "summary lines on a terminal"
fi

# Without --progress: quiet.  (A queue: on logs with nobody subscribed,
# ppub would say so, as t0708 checks.)
"$P" -c jobs -n 100 --size 10 2> quiet.err || fail "ppub exited $?"
[ -s quiet.err ] && fail "ppub without --progress wrote: $(cat quiet.err)"
echo "ok: --progress rate lines about once a second, \\r on a terminal, totals at the end"
