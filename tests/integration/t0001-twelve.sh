#!/bin/bash
# The twelve combinations of the lecture's taxonomy, from the command line:
# queue / broadcast / pubsub  x  message / request  x  async / sync.
. "$(dirname "$0")/lib.sh"

start_broker # channels: jobs (queue), alerts (broadcast), logs (pubsub)
P="$BUILD/ppub"

# Starts a psub in the background as NAME (output in NAME.out) and waits
# until its subscription is active.
recv_start() {
    local name=$1
    shift
    "$BUILD/psub" -v "$@" > "$name.out" 2> "$name.err" &
    eval "pid_$name=$!"
    wait_for_file_lines "$name.err" 1
}
recv_wait() { # NAME: waits for it to end by itself, fails unless exit 0
    local pid
    eval "pid=\$pid_$1"
    wait "$pid" || fail "receiver $1 exited $?: $(cat "$1.err")"
}
payloads() { sed 's/^\[[^]]*\] //' "$1.out" | tr '\n' ' '; }

# ---- queue (point-to-point) -------------------------------------------------
# (1) async message: returns once the broker has it; it waits for a receiver.
$P -c jobs "q-async" || fail "queue async message exited $?"
recv_start qa -c jobs -n 1 --timeout 5000
recv_wait qa
expect_eq "$(payloads qa)" "q-async " "queue, async message, consumed later"
# Competing consumers: each message to exactly one of them.
recv_start qc1 -c jobs -n 2 --timeout 5000
recv_start qc2 -c jobs -n 2 --timeout 5000
$P -c jobs q1 q2 q3 q4 || fail "ppub exited $?"
recv_wait qc1
recv_wait qc2
expect_eq "$( (sed 's/^\[[^]]*\] //' qc1.out qc2.out) | sort | tr '\n' ' ')" "q1 q2 q3 q4 " \
    "queue messages split between two consumers"
# (2) sync message: returns once a consumer acknowledged it...
recv_start qs -c jobs -n 1 --timeout 5000
$P -c jobs --sync "q-sync" || fail "queue sync message with a consumer exited $?"
recv_wait qs
# ... and with no consumer it times out (exit 3), the message staying queued.
expect_exit 3 $P -c jobs --sync --timeout 500 "q-sync-late"
queued=$(chan_stat jobs queued)
expect_eq "$queued" 1 "queue sync message kept after the timeout"
expect_eq "$("$BUILD/psub" -c jobs -n 1 --timeout 3000)" "q-sync-late" "the kept message"
# (4) sync request: one responder answers.
recv_start qr -c jobs --reply 'tr a-z A-Z' -n 2 --timeout 5000
expect_eq "$($P -c jobs --request hello)" "HELLO" "queue, sync request (RPC)"
# (3) async request: the ticket first, the reply later.
expect_eq "$($P -c jobs --request --async world | tr '\n' ' ')" "ticket 1 issued ticket 1: WORLD " "queue, async request"
recv_wait qr
expect_exit 3 $P -c jobs --request --timeout 500 "nobody home"

# ---- broadcast ----------------------------------------------------------------
# (1) async message: every attached receiver gets it.
recv_start b1 -c alerts -n 2 --timeout 5000
recv_start b2 -c alerts -n 2 --timeout 5000
$P -c alerts "b-async" || fail "broadcast async message exited $?"
# (2) sync message: confirmed by both receivers.
$P -c alerts --sync "b-sync" || fail "broadcast sync message exited $?"
recv_wait b1
recv_wait b2
expect_eq "$(payloads b1)" "b-async b-sync " "broadcast, receiver 1"
expect_eq "$(payloads b2)" "b-async b-sync " "broadcast, receiver 2"
# Nobody attached: a sync message fails at once with exit 3.
$P -c alerts --sync "b-nobody" 2> err
expect_eq "$?" 3 "broadcast sync message with no receiver"
grep -q "no receivers" err || fail "no 'no receivers' line: $(cat err)"
# (4)/(3) requests on broadcast are surveys: every responder answers.
recv_start br1 -c alerts --reply 'echo one' -n 2 --timeout 5000
recv_start br2 -c alerts --reply 'echo two' -n 2 --timeout 5000
expect_eq "$($P -c alerts --request ask | sort | tr '\n' ' ')" "one two " "broadcast survey, sync"
expect_eq "$($P -c alerts --request --async ask | sort | tr '\n' ' ')" "ticket 1 issued ticket 1: one ticket 1: two " "broadcast survey, async"
recv_wait br1
recv_wait br2

# ---- pubsub ---------------------------------------------------------------------
recv_start p1 -c logs -t 'amd64/+' -n 2 --timeout 5000
recv_start p2 -c logs -t 'other/#' -n 1 --timeout 5000
# (1) async message to the matching subscriber only.
$P -c logs -t amd64/sshd "p-async" || fail "pubsub async message exited $?"
# (2) sync message: confirmed by the one subscriber it matched.
$P -c logs -t amd64/cron --sync "p-sync" || fail "pubsub sync message exited $?"
$P -c logs -t other/x "p-other" || fail "ppub exited $?"
recv_wait p1
recv_wait p2
expect_eq "$(payloads p1)" "p-async p-sync " "pubsub subscriber of amd64/+"
expect_eq "$(payloads p2)" "p-other " "pubsub subscriber of other/#"
expect_exit 3 $P -c logs -t nobody/here --sync "p-nobody"
# (4)/(3) requests go to responders whose pattern matches.
recv_start pr -c logs -t 'svc/#' --echo -n 2 --timeout 5000
expect_eq "$($P -c logs -t svc/time --request ping)" "ping" "pubsub, sync request"
expect_eq "$($P -c logs -t svc/time --request --async pong | tr '\n' ' ')" "ticket 1 issued ticket 1: pong " "pubsub, async request"
recv_wait pr
# The README's row: a topic outside every responder's pattern (svc/# above).
expect_exit 3 $P -c logs -t nobody/here --request --timeout 500 x
echo "ok: all twelve combinations behave as the lecture describes"
