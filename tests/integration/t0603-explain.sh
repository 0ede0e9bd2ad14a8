#!/bin/bash
# --explain shows the four kinds of communication apart, with times: an
# async message returns before the broker even answered; a sync message
# returns with the broker's count of receipts ("2/3 receivers confirmed"
# when one receiver is stopped); an async request returns a ticket at once
# and its reply comes later; a sync request returns with its reply.  On
# the receiving side: the receipt of a sync message, the reply to a
# request, and a queue message acknowledged only after it was written.
. "$(dirname "$0")/lib.sh"
start_broker
P=$BUILD/ppub S=$BUILD/psub

# The time in ms of the first line of FILE matching REGEX.
at() {
    local t
    t=$(grep -m1 -E "$2" "$1" | sed -nE 's/^[a-z]+: \[ *([0-9]+\.[0-9]+) ms\].*/\1/p')
    [ -n "$t" ] || fail "no line /$2/ in $1: $(cat "$1")"
    echo "$t"
}
has() { grep -qE "$2" "$1" || fail "no line /$2/ in $1: $(cat "$1")"; }
before() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }' || fail "$3: $1 ms is not before $2 ms"; }
# Starts psub --explain as NAME and waits until it is subscribed.
recv() {
    local name=$1
    shift
    "$S" -v --explain "$@" > "$name.out" 2> "$name.err" &
    eval "pid_$name=$!"
    wait_until 10 "$name to subscribe" grep -qs "subscribed to" "$name.err"
}

# ---- (1) async message: returns from the library before the broker answered ----
$P --explain -c jobs "for later" 2> async.err || fail "ppub exited $?"
for step in "ppub connects to tcp://127.0.0.1:$PORT" "ppub -> broker  HELLO" "broker -> ppub  WELCOME" \
    "ppub -> lib     PUBLISH #1 to 'jobs', 9 bytes: in libpubsub's send buffer" \
    "#1: ps_publish\(\) returned after [0-9.]+ ms: kind \(1\)" "ppub -> broker  PUBLISH #1 sent" \
    "broker -> ppub  PONG" "ppub -> broker  BYE"; do
    has async.err "$step"
done
before "$(at async.err 'ps_publish\(\) returned')" "$(at async.err 'PONG')" \
    "an async message returns before the broker answered anything"
grep -q RESULT async.err && fail "an async message got a RESULT: $(cat async.err)"

# ---- a queue message is acknowledged after it was written -----------------------
"$S" --explain -c jobs -n 1 --timeout 3000 > q.out 2> q.err || fail "psub exited $?"
has q.err "broker -> psub  DELIVER, delivery #1: 'jobs', 9 bytes, seq [0-9]+, a queue message: to acknowledge"
before "$(at q.err 'delivery #1 written to stdout')" "$(at q.err 'ACK of delivery #1: done with it')" \
    "a queue message is written out before it is acknowledged"
expect_eq "$(cat q.out)" "for later" "the queue message"

# ---- publisher confirm -------------------------------------------------------------
$P --explain --confirm -c jobs "confirmed" 2> confirm.err || fail "ppub --confirm exited $?"
has confirm.err "broker -> ppub  OK for #1 after [0-9.]+ ms: the broker has taken it \(publisher confirm\)"

# ---- (2) sync message: the broker counts the receipts ----------------------------------
recv b1 -c alerts -n 2 --timeout 10000
recv b2 -c alerts -n 2 --timeout 10000
recv b3 -c alerts -n 2 --timeout 10000
$P --explain --sync -c alerts "all of you" 2> sync.err || fail "ppub --sync exited $?"
has sync.err "broker -> ppub  RESULT for #1 after [0-9.]+ ms: 3/3 receivers confirmed, every receiver has it"
has sync.err "#1: ps_publish_sync\(\) returned after [0-9.]+ ms: kind \(2\), synchronous message: ppub waited for 3/3 receipts"
before "$(at sync.err 'RESULT for #1')" "$(at sync.err 'ps_publish_sync\(\) returned')" \
    "a sync message returns only after the receipts"
for b in b1 b2 b3; do
    wait_until 10 "$b's receipt" grep -q "ACK of delivery #1: the receipt its sender waits for" "$b.err"
    has "$b.err" "DELIVER, delivery #1: 'alerts', 10 bytes, seq [0-9]+, a sync message: its sender waits for our receipt"
done
# A stopped receiver cannot confirm: 2/3, a negative acknowledgement after the timeout.
kill -STOP "$pid_b3"
$P --explain --sync --timeout 1000 -c alerts "anyone asleep?" 2> partial.err
rc=$?
kill -CONT "$pid_b3"
expect_eq "$rc" 3 "exit status of a sync message 2 of 3 receivers confirmed"
has partial.err "RESULT for #1 after (9[5-9][0-9]|1[0-9]{3})\.[0-9]+ ms: 2/3 receivers confirmed, not all of them"
has partial.err "ppub: 2/3 confirmed on 'alerts'"
for b in b1 b2 b3; do
    eval "wait \$pid_$b" || fail "receiver $b exited $?"
done

# ---- (3) async request and (4) sync request (RPC) ---------------------------------------
recv rr -c logs -t 'svc/#' --reply 'sleep 0.3; tr a-z A-Z' -n 2 --timeout 10000
expect_eq "$($P --explain --request --async -c logs -t svc/up "ticket" 2> req3.err | tr '\n' ' ')" "ticket 1 issued ticket 1: TICKET " "async request"
has req3.err "#1: ps_request_async\(\) returned after [0-9.]+ ms with a ticket: kind \(3\)"
has req3.err "broker -> ppub  REPLY for #1 after [0-9.]+ ms: 6 bytes"
has req3.err "broker -> ppub  DONE for #1 after [0-9.]+ ms: 1/1 responders replied"
t_ret=$(at req3.err 'ps_request_async\(\) returned')
t_reply=$(at req3.err 'REPLY for #1')
before "$(awk -v t="$t_ret" 'BEGIN { print t + 250 }')" "$t_reply" \
    "the ticket comes at once, the reply of a 0.3 s responder later"
expect_eq "$($P --explain --request -c logs -t svc/up "rpc" 2> req4.err)" "RPC" "sync request"
has req4.err "kind \(4\), synchronous request \(RPC\): ppub waits for the reply now"
has req4.err "#1: the request is answered, [0-9.]+ ms after it was made"
waited=$(sed -nE 's/.*the request is answered, ([0-9]+)\.[0-9]+ ms after.*/\1/p' req4.err)
[ "$waited" -ge 290 ] || fail "an RPC to a 0.3 s responder waited only $waited ms"
wait "$pid_rr" || fail "responder exited $?"
has rr.err "DELIVER, delivery #1: 'logs' topic svc/up, 6 bytes, seq [0-9]+, a request: its sender waits for our reply"
has rr.err "psub -> lib     REPLY of delivery #1 \(6 bytes\)"
echo "ok: --explain tells the four kinds apart: returned at once, 3/3 and 2/3 receipts, ticket then reply, RPC"
