#!/bin/bash
# systemd notification protocol, with a datagram socket standing in for
# systemd: READY=1 once the endpoints are bound (the listener connects to
# the tcp endpoint and looks for the ipc socket the moment READY=1 comes;
# a broker whose endpoint cannot be bound exits 1 and never says READY=1),
# STATUS= with live counts,
# WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1 with MONOTONIC_USEC and
# then READY=1 around SIGHUP, STOPPING=1 on SIGTERM, exit 0; in that order.
. "$(dirname "$0")/lib.sh"

# One line per datagram (newlines inside one become spaces).  At the first
# READY=1 it checks, before anything else, that the endpoints of b.conf
# (start_broker's) take connections, and writes what it found to ready.log.
/usr/bin/python3 - "$SCRATCH/notify.sock" "$SCRATCH/notify.log" "$SCRATCH" << 'PY' &
import os, re, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
def probe():
    conf = open(os.path.join(sys.argv[3], "b.conf")).read()
    port = int(re.search(r"tcp://127\.0\.0\.1:(\d+)", conf).group(1))
    ipc = re.search(r'"ipc://([^"]+)"', conf).group(1)
    found = []
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        found.append("tcp bound")
    except OSError as e:
        found.append("tcp not bound: %s" % e)
    found.append("ipc bound" if os.path.exists(ipc) else "ipc not bound")
    with open(os.path.join(sys.argv[3], "ready.log"), "w") as f:
        f.write(", ".join(found) + "\n")
with open(sys.argv[2], "w") as out:
    while True:
        data = s.recv(4096).decode(errors="replace")
        if data == "READY=1" and not os.path.exists(os.path.join(sys.argv[3], "ready.log")):
            probe()
        out.write(data.replace("\n", " ") + "\n")
        out.flush()
PY
wait_until 10 "the notify socket" test -S "$SCRATCH/notify.sock"

NOTIFY_SOCKET=$SCRATCH/notify.sock WATCHDOG_USEC=400000 start_broker
n() { grep -c -- "$1" notify.log; }
first() { grep -n -m1 -- "$1" notify.log | cut -d: -f1; }

wait_for_file_lines notify.log 1
expect_eq "$(head -n 1 notify.log)" "READY=1" "first notification"
expect_eq "$(cat ready.log)" "tcp bound, ipc bound" "the endpoints when READY=1 came"
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

# A second broker on the same endpoints cannot bind them: exit 1, and no
# READY=1 from it.
readies=$(n "^READY=1")
NOTIFY_SOCKET=$SCRATCH/notify.sock "$BUILD/brokerd" -c b.conf > second.log 2>&1
expect_eq "$?" 1 "exit status of a broker whose endpoints are taken"
grep -qE "cannot bind|another broker" second.log || fail "no reason from the second broker: $(cat second.log)"
expect_eq "$(n "^READY=1")" "$readies" "READY=1 notifications after the failed start"

stop_broker
expect_eq "$?" 0 "brokerd's exit status after SIGTERM"
wait_until 10 "STOPPING=1" grep -q '^STOPPING=1' notify.log
expect_eq "$(grep -v '^WATCHDOG=1$' notify.log | tail -n 1)" "STOPPING=1" "last notification"
[ "$(first '^STOPPING=1')" -gt "$ready2" ] || fail "STOPPING=1 before the reload's READY=1"
echo "ok: READY (endpoints bound by then; none from a broker that cannot bind), STATUS, $(n WATCHDOG=1) WATCHDOG, RELOADING+MONOTONIC_USEC, READY, STOPPING; exit 0"
