# hostile.sh - what the security tests of issue 15 (t0520-t0549) share,
# sourced after lib.sh: the attackers of tests/tools/hostile.py, the
# broker's memory from /proc, and configuration keys the broker may not
# know yet.  A key the broker refuses is left out of the file (so that the
# test still shows the unbounded behaviour) and named again at the end by
# verdict, so that a test cannot pass while its limit is not configured.

HOSTILE="/usr/bin/python3 $TESTS/tools/hostile.py"
/usr/bin/python3 -c 'import zmq' 2> /dev/null || fail "python3-zmq (pyzmq) is not installed"
PROBLEMS=() UNKNOWN_KEYS=()

# AddressSanitizer adds shadow memory and keeps a quarantine: the bounds of
# these tests double there and the quarantine is kept small.
RSS_SCALE=1
case "$BUILD" in *asan*) export ASAN_OPTIONS=quarantine_size_mb=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}; RSS_SCALE=2 ;; esac

rss_kb() { awk '/^VmRSS:/ { print $2 }' /proc/"$BROKER_PID"/status; }
peak_kb() { awk '/^VmHWM:/ { print $2 }' /proc/"$BROKER_PID"/status; }

# broker_key NAME VALUE: adds "NAME = VALUE;" to $KEYS (for the broker
# group of the test's file) if brokerd accepts that key, else notes it for
# verdict.
KEYS=
broker_key() {
    printf 'broker = { data_dir = "%s/probe"; %s = %s; };\n' "$SCRATCH" "$1" "$2" > probe.conf
    if "$BUILD/brokerd" --check -c probe.conf > probe.out 2>&1; then
        KEYS="$KEYS $1 = $2;"
    else
        UNKNOWN_KEYS+=("broker.$1")
        echo "# $1 left out: $(head -1 probe.out)" >&2
    fi
}

problem() { # WHAT: one broken promise, reported with the others by verdict
    echo "problem: $*" >&2
    PROBLEMS+=("$*")
}

# Fails with every problem found, or if a limit the test relies on is not
# a key the broker knows; else prints the ok line given.
verdict() { # OK-LINE
    [ "${#UNKNOWN_KEYS[@]}" = 0 ] || problem "brokerd does not know ${UNKNOWN_KEYS[*]} (adjust the key name at the top of the test)"
    # (Not IFS: the EXIT trap of lib.sh splits on it after fail.)
    [ "${#PROBLEMS[@]}" = 0 ] || fail "${#PROBLEMS[@]} problem(s): $(printf '%s; ' "${PROBLEMS[@]}")"
    echo "ok: $*"
}
