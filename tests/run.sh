#!/bin/bash
# run.sh - runs every unit test binary and every integration script, each
# with a time limit, prints PASS/FAIL per test (with the tail of a failing
# test's output) and ends with "N passed, N failed".  Exit 1 on any failure.
#
#   tests/run.sh [PATTERN]    only tests whose name contains PATTERN
#
# $BUILD (exported by the Makefile) names the build tree; default build/.

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
export BUILD=${BUILD:-$ROOT/build}
filter=${1:-}
limit=${TEST_TIMEOUT:-300}
passed=0 failed=0 failures=()
logdir=$BUILD/test-logs
rm -rf "$logdir" && mkdir -p "$logdir"
# Where a test may leave what a person should look at (a screenshot).
export TEST_LOGS=$logdir

run_one() { # NAME CMD...
    local name=$1 start=$SECONDS
    shift
    case "$name" in *"$filter"*) ;; *) return ;; esac
    mkdir -p "$(dirname "$logdir/$name.log")" # unit/NAME logs go in a folder of their own
    timeout --kill-after=10 "$limit" "$@" < /dev/null > "$logdir/$name.log" 2>&1
    local rc=$?
    local took=$((SECONDS - start))
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        printf 'PASS %-36s %3ss  %s\n' "$name" "$took" "$(grep '^ok: ' "$logdir/$name.log" | tail -1 | cut -c5-)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        [ "$rc" = 124 ] && echo "(killed after ${limit}s)" >> "$logdir/$name.log"
        printf 'FAIL %-36s %3ss  exit %s\n' "$name" "$took" "$rc"
        # The reason first when the tail is all node logs (cluster tests).
        tail -n 25 "$logdir/$name.log" | grep -q '^FAIL: ' ||
            grep '^FAIL: ' "$logdir/$name.log" | tail -n 3 | sed 's/^/     | /'
        tail -n 25 "$logdir/$name.log" | sed 's/^/     | /'
    fi
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
done
for t in tests/integration/t[0-9][0-9][0-9][0-9]-*.sh; do
    run_one "$(basename "$t" .sh)" bash "$t"
done

echo
[ "$failed" = 0 ] || echo "failed: ${failures[*]} (logs in $logdir)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
