#!/bin/bash
# run-unit.sh - runs the unit test binaries (`make unit`): each prints TAP
# lines and exits non-zero on a failed check.  Arguments: the binaries;
# without any, every build/tests/test_* (or $BUILD/tests/test_*).
# Ends with "N passed, N failed" and exits 1 when any binary failed.

cd "$(dirname "$0")/.." || exit 1
[ $# -gt 0 ] || set -- "${BUILD:-build}"/tests/test_*
passed=0 failed=0
for t in "$@"; do
    [ -x "$t" ] || continue
    if out=$("$t" 2>&1); then
        passed=$((passed + 1))
        echo "PASS $(basename "$t"): $(tail -n 1 <<< "$out")"
    else
        failed=$((failed + 1))
        echo "FAIL $(basename "$t")"
        grep -v '^ok ' <<< "$out" | sed 's/^/     | /'
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
