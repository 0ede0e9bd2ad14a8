#!/bin/bash
# systemd notification protocol, with a datagram socket standing in for
# systemd: READY=1 once the endpoints are bound, STATUS= with live counts,
# WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1 with MONOTONIC_USEC and
# then READY=1 around SIGHUP, STOPPING=1 on SIGTERM, exit 0; in that order.
. "$(dirname "$0")/lib.sh"

# One line per datagram (newlines inside one become spaces).
/usr/bin/python3 - "$SCRATCH/notify.sock" "$SCRATCH/notify.log" << 'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "w") as out:
    while True:
        data = s.recv(4096).decode(errors="replace")
        out.write(data.replace("\n", " ") + "\n")
        out.flush()
PY
wait_until 10 "the notify socket" test -S "$SCRATCH/notify.sock"

NOTIFY_SOCKET=$SCRATCH/notify.sock WATCHDOG_USEC=400000 start_broker
n() { grep -c -- "$1" notify.log; }
first() { grep -n -m1 -- "$1" notify.log | cut -d: -f1; }

wait_for_file_lines notify.log 1
expect_eq "$(head -n 1 notify.log)" "READY=1" "first notification"
wait_until 10 "STATUS=" grep -q '^STATUS=' notify.log
grep -q '^STATUS=[0-9]* clients\?, [0-9]* channels\?, [0-9]* msg/s in' notify.log ||
    fail "STATUS without live counts: $(grep -m1 STATUS= notify.log)"
wait_until 10 "two WATCHDOG=1" eval '[ "$(n WATCHDOG=1)" -ge 2 ]'

kill -HUP "$BROKER_PID"
wait_until 10 "RELOADING=1" grep -q '^RELOADING=1' notify.log
grep -q '^RELOADING=1 MONOTONIC_USEC=[0-9][0-9]*$' notify.log ||
    fail "RELOADING=1 without MONOTONIC_USEC: $(grep RELOADING notify.log)"
# The reload's READY=1 is the second one, after RELOADING=1.
wait_until 10 "READY=1 after the reload" eval '[ "$(n "^READY=1")" -ge 2 ]'
reloading=$(first '^RELOADING=1')
ready2=$(grep -n '^READY=1' notify.log | sed -n 2p | cut -d: -f1)
[ "$ready2" -gt "$reloading" ] || fail "READY=1 came before RELOADING=1: $(cat notify.log)"
"$BUILD/pctl" ping > /dev/null || fail "no answer after the reload"

stop_broker
expect_eq "$?" 0 "brokerd's exit status after SIGTERM"
wait_until 10 "STOPPING=1" grep -q '^STOPPING=1' notify.log
expect_eq "$(grep -v '^WATCHDOG=1$' notify.log | tail -n 1)" "STOPPING=1" "last notification"
[ "$(first '^STOPPING=1')" -gt "$ready2" ] || fail "STOPPING=1 before the reload's READY=1"
echo "ok: READY, STATUS, $(n WATCHDOG=1) WATCHDOG, RELOADING+MONOTONIC_USEC, READY, STOPPING; exit 0"
