#!/bin/bash
# What the monitoring endpoint costs a message: nothing while no live
# tail is open, because the tails' fan-out hook is there only while one
# is (the README's "What it costs").  `make bench-http`
# (tests/bench/http-cost.sh) runs end to end on tiny counts (a smoke run,
# not a timed test: its throughput and instruction tables and the cost of
# a scrape come out), and in the callgrind dump of the messages through
# the broker with the endpoint on, deliver_fan_out ran and http_tap did
# not, not once.
. "$(dirname "$0")/lib.sh"
case "$BUILD" in
*asan*)
    echo "ok: skipped, valgrind cannot run AddressSanitizer binaries"
    exit 0
    ;;
esac
command -v callgrind_control > /dev/null || fail "valgrind is not installed (make test installs it)"
# Its scratch directory is kept in ours, which goes when the test ends.
KEEP_SCRATCH=1 TMPDIR=$SCRATCH ROUNDS=1 COUNT=20000 CG_COUNT=5000 CG_RUNS=1 SCRAPES=5 BUILD=$BUILD \
    bash "$ROOT/tests/bench/http-cost.sh" > out 2>&1
rc=$?
cat out
kept=$(sed -n 's/^kept: //p' out)
[ -n "$kept" ] && [ -d "$kept" ] || fail "http-cost.sh kept no scratch directory"
expect_eq "$rc" 0 "http-cost.sh's exit status"
for row in '| A: no monitoring endpoint | ' '| B: endpoint on, /metrics scraped every second' \
    '| B ÷ A, medians | ' '| a message, no endpoint | ' '| a message, endpoint on (not scraped) | ' \
    '| one scrape of /metrics (' 'One scrape takes brokerd '; do
    grep -qF "$row" out || fail "no line '$row' in the output"
done
grep -qE '^\| a message, endpoint on \(not scraped\) \| [0-9]+\.[0-9] \(' out || fail "no instructions a message"
grep -qE '^One scrape takes brokerd [0-9]+ µs' out || fail "no CPU time of a scrape"
dump=$(grep -l '^cmd: .*-c cg-b.conf' "$kept"/callgrind.out.*.1 2> /dev/null | head -1)
[ -n "$dump" ] || dump=$(grep -l 'cg-b.conf' "$kept"/callgrind.out.*.1 | head -1)
[ -n "$dump" ] || fail "no callgrind dump of the broker with the endpoint: $(ls "$kept")"
callgrind_annotate --inclusive=no --threshold=100 "$dump" > annotated 2>&1
grep -q 'deliver_fan_out' annotated || fail "deliver_fan_out is not in the dump: $(head -30 annotated)"
grep 'http_tap' annotated && fail "http_tap ran for messages while no tail was open"
echo "ok: make bench-http's tables and scrape cost come out; with the endpoint on and no tail, http_tap never ran"
