# lib.sh - what every integration test script sources.
#
# Gives the script a scratch directory of its own (its working directory,
# removed at exit with every process the script started), the build
# directory in $BUILD, the source tree in $ROOT (tests in $TESTS), and helpers to start a real brokerd on a free port
# and to wait for events (a line in a file, a log entry) instead of sleeping.
# KEEP_SCRATCH=1 keeps the scratch directory for a look afterwards; pending
# (below) skips a test of an open issue unless RUN_PENDING=1.

set -u

# The source tree, found before we leave for the scratch directory.
TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(dirname "$TESTS")
export TESTS ROOT
# Sanitizer builds: leaks of libraries we use are suppressed, ours are not.
export LSAN_OPTIONS="suppressions=$TESTS/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
BUILD=${BUILD:-$ROOT/build}
case "$BUILD" in /*) ;; *) BUILD="$(pwd)/$BUILD" ;; esac
export BUILD
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/pubsub-test.XXXXXX")
export SCRATCH
cd "$SCRATCH" || exit 1
BROKER_PID=
PORT=${PORT:-}
MOUNTS=() # file systems the test mounted (mount_tmpfs), unmounted at exit
unset PUBSUB_BROKER PUBSUB_CURVE_SERVER_KEY PUBSUB_CURVE_KEY

cleanup() {
    local rc=$?
    exec 2> /dev/null # no "Killed" notices for the processes ended below
    # Every process of this test: the broker and whatever ran in the background.
    [ -n "$BROKER_PID" ] && kill -KILL "$BROKER_PID" 2> /dev/null
    local kids
    kids=$(jobs -p)
    [ -n "$kids" ] && kill -KILL $kids 2> /dev/null
    wait 2> /dev/null
    local m
    for m in "${MOUNTS[@]}"; do umount -l "$m"; done
    [ -n "${KEEP_SCRATCH:-}" ] || { cd / && rm -rf "$SCRATCH"; }
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAIL: $*" >&2
    if [ -s "$SCRATCH/brokerd.log" ]; then
        echo "--- last lines of brokerd.log:" >&2
        tail -n 15 "$SCRATCH/brokerd.log" >&2
    fi
    exit 1
}

expect_eq() { # GOT WANT WHAT
    [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

expect_exit() { # CODE CMD...: CMD must exit CODE
    local want=$1
    shift
    "$@"
    local rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, want $want"
}

# Runs CMD with its stdout in ./out and its stderr in ./err: CMD must exit
# CODE, and err match PATTERN (an extended regex, "" for anything).  A
# failure (CODE above 0) must be said in exactly one line, as every tool
# promises (bad input gets a clear one-line error).
expect_run() { # CODE PATTERN CMD...
    local want=$1 pattern=$2
    shift 2
    "$@" > out 2> err
    local rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, want $want (stderr: $(head -c 300 err))"
    [ "$want" = 0 ] || [ "$(wc -l < err)" = 1 ] || fail "'$*': $(wc -l < err) lines on stderr, want one: $(cat err)"
    [ -z "$pattern" ] || grep -Eq -- "$pattern" err || fail "'$*': stderr '$(cat err)' does not match /$pattern/"
}

# Runs CMD, which must fail as a usage error: exit 1, its first stderr line
# matching PATTERN, at most the "Try '... --help'" hint after it.
expect_usage() { # PATTERN CMD...
    local pattern=$1
    shift
    "$@" > out 2> err
    local rc=$?
    [ "$rc" = 1 ] || fail "'$*' exited $rc, want 1 (stderr: $(head -c 300 err))"
    [ "$(wc -l < err)" -le 2 ] || fail "'$*': $(wc -l < err) lines on stderr: $(cat err)"
    head -n 1 err | grep -Eq -- "$pattern" || fail "'$*': stderr '$(head -n 1 err)' does not match /$pattern/"
}

# A loopback tcp port nobody listens on, below the kernel's ephemeral
# range: a port the kernel picked from that range could be taken, before
# the broker binds it, as the local port of some outgoing connection (a
# node's link dialling another; CI once saw "cannot bind ...: Address
# already in use").  Ports handed out in this test are not handed out
# again (SCRATCH/ports), since nothing holds them until they are bound.
free_port() {
    /usr/bin/python3 - "$SCRATCH/ports" << 'PY'
import random, socket, sys
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
try:
    used = set(open(sys.argv[1]).read().split())
except OSError:
    used = set()
for _ in range(1000):
    port = random.randrange(10000, max(low, 10001))
    if str(port) in used:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    open(sys.argv[1], "a").write(f"{port}\n")
    print(port)
    break
else:
    sys.exit("no free port below the ephemeral range")
PY
}

# Polls every 50 ms until COND (a shell command) succeeds; fails after
# TIMEOUT_S, adding to the message what the command $WAIT_CONTEXT prints.
wait_until() { # TIMEOUT_S WHAT COND...
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] ||
            fail "timed out after ${timeout}s waiting for $what${WAIT_CONTEXT:+; $($WAIT_CONTEXT)}"
        read -r -t 0.05 <> <(:) || true
    done
}

wait_for_file_lines() { # FILE N [TIMEOUT_S]
    local file=$1 n=$2
    wait_until "${3:-10}" "$n lines in $file" \
        eval "[ -f '$file' ] && [ \$(wc -l < '$file') -ge $n ]"
}

wait_for_log() { # REGEX [TIMEOUT_S]
    wait_until "${2:-10}" "/$1/ in brokerd.log" grep -Eq "$1" "$SCRATCH/brokerd.log"
}

# Starts brokerd in the scratch directory.  Without -c among ARGS it writes
# b.conf on a free port with a queue "jobs", a broadcast "alerts" and a
# pubsub "logs"; with -c the file must use tcp port $PORT.  Waits until the
# broker answers a ping.  $BROKER_WRAPPER (valgrind, say) runs in front.
start_broker() {
    local has_conf=0 a
    for a in "$@"; do [ "$a" = "-c" ] && has_conf=1; done
    if [ "$has_conf" = 0 ]; then
        PORT=$(free_port)
        cat > b.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT", "ipc://$SCRATCH/b.sock" ];
  data_dir = "$SCRATCH/data";
  auto_create = "pubsub";
};
channels = (
  { name = "jobs"; type = "queue"; },
  { name = "alerts"; type = "broadcast"; },
  { name = "logs"; type = "pubsub"; }
);
EOF
        set -- -c b.conf "$@"
    fi
    [ -n "$PORT" ] || fail "start_broker -c FILE needs \$PORT"
    export PUBSUB_BROKER="tcp://127.0.0.1:$PORT"
    ${BROKER_WRAPPER:-} "$BUILD/brokerd" "$@" >> "$SCRATCH/brokerd.log" 2>&1 &
    BROKER_PID=$!
    local deadline=$((SECONDS + 20))
    until "$BUILD/pctl" --timeout 300 ping > /dev/null 2>&1; do
        kill -0 "$BROKER_PID" 2> /dev/null || fail "brokerd exited at start"
        [ "$SECONDS" -lt "$deadline" ] || fail "brokerd did not answer within 20 s"
    done
}

stop_broker() { # SIGTERM, wait; returns brokerd's exit status
    [ -n "$BROKER_PID" ] || return 0
    kill -TERM "$BROKER_PID" 2> /dev/null
    wait "$BROKER_PID"
    local rc=$?
    BROKER_PID=
    return $rc
}

# Runs make in the source tree on the build tree under test ($BUILD), with
# the sanitizer flags when that is the sanitizer tree, so that `make
# install` installs what was built rather than building it again.
make_tree() { # ARGS...
    local san=()
    case "$BUILD" in *build-asan) san=(SANITIZE=1) ;; esac
    (
        unset MAKEFLAGS MFLAGS MAKELEVEL
        make -C "$ROOT" --no-print-directory "${san[@]}" O="$BUILD" "$@"
    )
}

# Every line of FILE is "SEQ PAYLOAD": payloads 1..N in order, each
# sequence number one more than the last.  Prints what is wrong.
check_order() { # FILE N (psub -F '%s %p' of a ppub of `seq 1 N`)
    awk -v n="$2" '
        { if ($2 != NR) { print "line " NR " has payload " $2; exit }
          if (NR > 1 && $1 != last + 1) { print "line " NR " has seq " $1 " after " last; exit }
          last = $1 }
        END { if (NR != n) print NR " lines of " n }' "$1"
}

chan_stat() { # CHANNEL FIELD: that field of `pctl channels --json` ("" if unreachable)
    "$BUILD/pctl" --timeout 1000 channels --json 2> /dev/null |
        jq -r --arg n "$1" --arg f "$2" '.[] | select(.name == $n) | .[$f]'
}

kill_broker() { # SIGKILL (a crash: nothing flushed, nothing said), then wait
    [ -n "$BROKER_PID" ] || return 0
    {
        kill -KILL "$BROKER_PID"
        wait "$BROKER_PID"
    } 2> /dev/null
    BROKER_PID=
    return 0
}

# Starts brokerd with conf/lecture.conf as it is, but on a free port and
# with its data in the scratch directory (the lecture's port may be taken).
start_lecture_broker() {
    PORT=$(free_port)
    sed -e "s|^broker = {|broker = {\n  endpoints = [ \"tcp://127.0.0.1:$PORT\" ];|" \
        -e "s|data_dir = \"pubsub-data\";|data_dir = \"$SCRATCH/data\";|" \
        "$ROOT/conf/lecture.conf" > lecture.conf
    grep -q "tcp://127.0.0.1:$PORT" lecture.conf || fail "cannot set the port in lecture.conf"
    start_broker -c lecture.conf
}

# Runs Python (Debian's, or $PYTHON) with ARGS; under the sanitizer tree
# libasan is loaded first, as its libpubsub.so needs, and Python's own
# leaks are not reported.
run_python() { # ARGS...
    local env=()
    case "$BUILD" in *build-asan)
        env+=(LD_PRELOAD="$(cc -print-file-name=libasan.so)" ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}") ;;
    esac
    env "${env[@]}" PYTHONDONTWRITEBYTECODE=1 "${PYTHON:-/usr/bin/python3}" "$@"
}

# Runs pytest on tests/python/FILE... with the package from the source tree
# and the library of the build tree under test; fails unless tests ran and
# all passed (pytest exits 5 when it collected none), and prints their
# count on an "ok:" line after WHAT.
run_pytest() { # WHAT FILE...
    local what=$1 rc passed
    shift
    run_python -c 'import pytest' 2> /dev/null || fail "python3-pytest is not installed"
    (cd "$TESTS/python" && PYTHONPATH="$ROOT/python" PUBSUB_LIBRARY="$BUILD/libpubsub.so.1" \
        run_python -m pytest -q -p no:cacheprovider --basetemp="$SCRATCH/pytest" "$@") > pytest.out 2>&1
    rc=$?
    cat pytest.out
    [ "$rc" = 0 ] || fail "pytest exited $rc (5: no tests collected)"
    passed=$(sed -n 's/^\([0-9][0-9]*\) passed.*/\1/p' pytest.out | tail -1)
    [ -n "$passed" ] && [ "$passed" -gt 0 ] || fail "pytest ran no tests"
    echo "ok: $passed Python tests passed: $what"
}

# Writes b.conf on a free port ($PORT) with the monitoring endpoint on
# $HTTP (a free port too, unless set) and CHANNELS (libconfig list items,
# default a queue "jobs" and a pubsub "logs"); BROKER is more settings.
http_conf() { # [CHANNELS [BROKER]]
    local channels=${1:-'{ name = "jobs"; type = "queue"; }, { name = "logs"; type = "pubsub"; }'}
    PORT=$(free_port)
    HTTP=${HTTP:-$(free_port)}
    cat > b.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT" ];
  data_dir = "$SCRATCH/data";
  ${2:-}
  http = { listen = "127.0.0.1:$HTTP"; };
};
channels = ( $channels );
EOF
}

# Writes b.conf on a free port ($PORT) with one durable queue "jobs" in
# $SCRATCH/data; BROKER and CHANNEL are more settings of each ("fsync =
# \"always\";").
# b.conf on a free port with a queue "jobs" (not durable) and the
# channel's further settings CHANNEL, for start_broker -c b.conf.
queue_conf() { # [CHANNEL]
    PORT=$(free_port)
    cat > b.conf << EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; };
channels = ( { name = "jobs"; type = "queue"; ${1:-} } );
EOF
}

durable_conf() { # [BROKER [CHANNEL]]
    PORT=$(free_port)
    cat > b.conf << EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; ${1:-} };
channels = ( { name = "jobs"; type = "queue"; durable = true; ${2:-} } );
EOF
}

# A test of a promise the code does not keep yet (its issue is open): it is
# skipped, with an "ok: pending" line, unless RUN_PENDING=1 asks to run it,
# so that `make test` stays green while the test already exists to fail.
# Ends a test that counts what glibc's malloc does (page faults, with
# its options set): the sanitizers bring an allocator of their own, which
# those options do not reach, so there is nothing there to count.
glibc_malloc_only() {
    case "$BUILD" in *build-asan)
        echo "ok: not measured under the sanitizers' allocator"
        exit 0 ;;
    esac
}

# brokerd's page faults so far (/proc/PID/stat, field 10: minflt).
broker_faults() {
    awk '{ print $10 }' "/proc/$BROKER_PID/stat"
}

# Runs one round of pbench against the test broker with ARGS (a
# scenario, -n, ...) and prints the page faults of pbench and of every
# client process it waited for (getrusage RUSAGE_CHILDREN), or "failed"
# when pbench did not carry every message.  Its output goes to stderr.
# Variables set before the call (PUBSUB_HEAP=...) reach pbench.
pbench_faults() { # ARGS...
    /usr/bin/python3 - "$BUILD/pbench" "$PUBSUB_BROKER" "$@" <<'PY'
import resource, subprocess, sys
pbench, broker, *args = sys.argv[1:]
r = subprocess.run([pbench, "-b", broker, "-r", "1", *args],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
sys.stderr.write(r.stdout)
print("failed" if r.returncode != 0 else resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt)
PY
}

# Starts the test broker on a free port with one channel, CHANNEL being
# its fields in the configuration's syntax.
start_channel_broker() { # CHANNEL
    PORT=$(free_port)
    cat > b.conf << EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data"; };
channels = ( { $1 } );
EOF
    start_broker -c b.conf
}

# Starts the test broker with pbench's "block" channel 'bench' alone.
start_bench_broker() {
    start_channel_broker 'name = "bench"; type = "pubsub"; slow_subscriber = "block";'
}

pending() { # REASON
    [ "${RUN_PENDING:-0}" = 1 ] && return 0
    echo "ok: pending: $*"
    exit 0
}

# Mounts a fresh tmpfs on DIR (created if missing) with mount(8)'s OPTIONS
# (size=..., nr_inodes=...): a small file system to fill.  Unmounted at exit.
mount_tmpfs() { # DIR OPTIONS
    # mode=0755: a data_dir others may write is refused, and a tmpfs is 1777.
    mkdir -p "$1" && mount -t tmpfs -o "mode=0755,$2" tmpfs "$1" || fail "cannot mount a tmpfs on $1"
    MOUNTS+=("$1")
}
