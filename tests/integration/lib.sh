# lib.sh - what every integration test script sources.
#
# Gives the script a scratch directory of its own (its working directory,
# removed at exit with every process the script started), the build
# directory in $BUILD, the source tree in $ROOT (tests in $TESTS), and helpers to start a real brokerd on a free port
# and to wait for events (a line in a file, a log entry) instead of sleeping.

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
    cd / && rm -rf "$SCRATCH"
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
# failure (CODE above 0) must be said in exactly one line, as DESIGN.md
# section 5 wants of every tool.
expect_run() { # CODE PATTERN CMD...
    local want=$1 pattern=$2
    shift 2
    "$@" > out 2> err
    local rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, want $want (stderr: $(head -c 300 err))"
    [ "$want" = 0 ] || [ "$(wc -l < err)" = 1 ] || fail "'$*': $(wc -l < err) lines on stderr, want one: $(cat err)"
    [ -z "$pattern" ] || grep -Eq -- "$pattern" err || fail "'$*': stderr '$(cat err)' does not match /$pattern/"
}

free_port() { # a loopback tcp port nobody listens on
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Polls every 50 ms until COND (a shell command) succeeds; fails after TIMEOUT_S.
wait_until() { # TIMEOUT_S WHAT COND...
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${timeout}s waiting for $what"
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

pending() { # WHY: a test of behaviour not built yet; runs only with RUN_PENDING=1
    [ "${RUN_PENDING:-0}" = 1 ] && return 0
    echo "ok: pending: $*"
    exit 0
}
