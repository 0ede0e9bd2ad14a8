#!/bin/bash
# SIGINT and SIGTERM end the broker cleanly: exit 0, the ipc socket file
# removed, and what durable queues hold on disk first.  Messages published
# without --confirm are written but not yet synced (nothing asked for a
# sync), so strace must show the broker's fdatasync of the queue's segment
# after the signal and before it exits; after a restart all of them are
# recovered and consumed, in order.
. "$(dirname "$0")/lib.sh"
command -v strace > /dev/null || fail "strace is not installed"

PORT=$(free_port)
cat > s.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT", "ipc://$SCRATCH/s.sock" ];
  data_dir = "$SCRATCH/data";
};
channels = ( { name = "jobs"; type = "queue"; durable = true; } );
EOF

# Starts brokerd under strace (syscalls that reach the disk, and the exit)
# and sets BROKER_PID to brokerd itself, not to strace.  LeakSanitizer
# (sanitizer builds) cannot work under ptrace; the untraced run 3 has it.
start_traced() { # TRACE_FILE
    ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" BROKER_WRAPPER="strace -f -qq -e trace=fdatasync,fsync,exit_group -o $SCRATCH/$1" start_broker -c s.conf
    STRACE_PID=$BROKER_PID
    BROKER_PID=$(cat "/proc/$STRACE_PID/task/$STRACE_PID/children")
    [ -n "$BROKER_PID" ] || fail "no brokerd under strace"
}
# Sends SIGNAL and waits; returns brokerd's exit status.  The lines the
# trace got from then on go to TRACE_FILE.stop.
stop_traced() { # SIGNAL TRACE_FILE
    local before
    before=$(wc -l < "$2")
    kill "-$1" "$BROKER_PID"
    wait "$STRACE_PID"
    local rc=$?
    BROKER_PID=
    tail -n "+$((before + 1))" "$2" > "$2.stop"
    return $rc
}
# The broker synced after the signal, and exited 0 after that.
synced_at_exit() { # TRACE_FILE
    grep -q 'fdatasync(' "$1.stop" && tail -n 1 "$1.stop" | grep -q 'exit_group(0)'
}

# Run 1: 500 messages without confirms, then SIGINT.
start_traced trace1
seq -f "job-%g" 1 500 | "$BUILD/ppub" -c jobs || fail "ppub exited $?"
grep -q 'fdatasync(' trace1 && fail "a sync before the stop: the test would prove nothing"
expect_eq "$(chan_stat jobs queued)" 500 "messages queued"
stop_traced INT trace1
expect_eq "$?" 0 "brokerd's exit status after SIGINT"
grep -q "SIGINT received, shutting down" brokerd.log || fail "no SIGINT line in the log"
synced_at_exit trace1 || { cat trace1.stop; fail "no fdatasync between SIGINT and the exit"; }
[ -e s.sock ] && fail "the ipc socket file is left after SIGINT"
size=$(cat data/queues/jobs/*.seg | wc -c)
[ "$size" -gt 5000 ] || fail "the segment holds $size bytes for 500 messages"

# Run 2: everything is back; consume half, then SIGTERM.
start_traced trace2
wait_for_log "recovered 500 messages"
"$BUILD/psub" -c jobs -n 250 --timeout 5000 > first.out || fail "psub exited $?"
stop_traced TERM trace2
expect_eq "$?" 0 "brokerd's exit status after SIGTERM"
synced_at_exit trace2 || { cat trace2.stop; fail "no fdatasync between SIGTERM and the exit"; }
[ -e s.sock ] && fail "the ipc socket file is left after SIGTERM"

# Run 3: the acknowledgements were durable too: exactly the other 250.
start_broker -c s.conf
wait_for_log "recovered 250 messages"
"$BUILD/psub" -c jobs -n 250 --timeout 5000 > second.out || fail "psub exited $?"
cat first.out second.out | cmp -s - <(seq -f "job-%g" 1 500) || fail "messages lost, repeated or reordered across the stops"
stop_broker || fail "brokerd exited $? on SIGTERM"
echo "ok: SIGINT and SIGTERM exit 0 after fdatasync of the durable queue, ipc socket removed; 500 recovered, 250 acked ones stay gone"
