#!/bin/bash
# lecture.sh - the lecture on inter-process communication, live (`make demo`).
#
# The lecture (Inter-Prozess-Kommunikation) sorts communication by three
# properties: the model (Punkt-zu-Punkt, Broadcast, Publish-Subscribe), the
# direction (simplex: a Nachricht; duplex: an Auftrag, answered by a reply)
# and the synchrony (asynchron: the sender only waits until the message is
# in a buffer; synchron: it waits until the receiver has it).  brokerd makes
# all twelve combinations real: a queue channel is Punkt-zu-Punkt, a
# broadcast channel Broadcast, a pubsub channel Publish-Subscribe.  This
# script runs each of them with the real tools (ppub sends, psub receives)
# on a private broker of its own, says before each step what it shows, and
# after it what happened: who received what, who waited and how long,
# measured.  Then it routes the lecture's syslog sample by program name.
#
# It exits 0 only when every step behaved as described.  Where a receiver
# has to be busy or late to show who waits for whom, the script makes it so
# on purpose (a sleep in its reply command, a late start, a SIGSTOP).
#
#   demo/lecture.sh          (make demo builds first and runs this)
#
# The broker, its port and its files are private to the run (the test
# library's scratch directory, removed at the end with every process).

. "$(dirname "$0")/../tests/integration/lib.sh"
PPUB=$BUILD/ppub PSUB=$BUILD/psub
SAMPLE=$TESTS/data/syslog.sample
for tool in "$BUILD/brokerd" "$PPUB" "$PSUB" "$BUILD/pctl"; do
    [ -x "$tool" ] || fail "$tool is missing: run make first (or make demo)"
done

steps=0 good=0
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# step TITLE WHAT: the heading of a step and the one line on what it shows.
step() {
    steps=$((steps + 1))
    printf '\n[%2d/12] %s\n        %s\n' "$steps" "$1" "$2"
}
# Shows a command as the student would type it (without the build path).
show() { printf '        $ %s\n' "$*"; }
# observed TEXT CONDITION...: prints what happened and whether that is what
# the step said would happen (CONDITION is a shell command).
observed() {
    local text=$1
    shift
    if "$@"; then
        good=$((good + 1))
        printf '        observed: %s  [as described]\n' "$text"
    else
        printf '        observed: %s  [NOT AS DESCRIBED]\n' "$text"
    fi
}
# receiver NAME PSUB-ARGS...: starts psub in the background (output in
# NAME.out) and waits until its subscription is active.
receiver() {
    local name=$1
    shift
    "$PSUB" -v "$@" > "$name.out" 2> "$name.err" &
    eval "pid_$name=\$!"
    wait_until 10 "receiver $name to subscribe" grep -qs "subscribed to" "$name.err"
}
# The payloads receiver NAME printed, as 'a', 'b' (or "nothing").
got() {
    local list
    list=$(sed -E "s/^\[[^]]*\] (.*)/'\1'/" "$1.out" | paste -sd, - | sed 's/,/, /g')
    echo "${list:-nothing}"
}
finish() { eval "wait \$pid_$1"; } # waits for receiver NAME to end by itself
# timed VAR CMD...: runs CMD, stores its exit status in rc and its
# duration in ms in VAR.
timed() {
    local var=$1 t0
    shift
    t0=$(now_ms)
    "$@"
    rc=$?
    eval "$var=$(($(now_ms) - t0))"
}
# From the --explain trace in FILE: how long the first line matching REGEX
# says it took ("... after 0.061 ms ..."), in ms.
explained_after() { grep -m1 -E "$2" "$1" | sed -nE 's/.* after ([0-9]+\.[0-9]+) ms.*/\1/p'; }
# True when the ticket came at once (under 100 ms) and the reply after at least MS ms.
# The replies in what `ppub --request --async` prints ("ticket 1 issued",
# then "ticket 1: REPLY" for each reply).
replies_of_tickets() { sed -n 's/^ticket [0-9]*: //p'; }
ticket_then_reply() { awk -v t="$1" -v r="$2" -v ms="$3" 'BEGIN { exit !(t != "" && r != "" && t < 100 && r >= ms) }'; }

start_broker
cat << EOF
The lecture, live: inter-process communication through a message broker
========================================================================
A private brokerd runs on $PUBSUB_BROKER with three channels:
  jobs    queue      Punkt-zu-Punkt: each message to exactly one receiver
  alerts  broadcast  Broadcast: each message to every receiver attached
  logs    pubsub     Publish-Subscribe: to every subscriber whose topic
                     pattern matches ('+' one level, '#' the rest)
ppub sends (a Nachricht, or with --request an Auftrag), psub receives.
EOF

# ---- Punkt-zu-Punkt: the queue ------------------------------------------------------
step "queue, message, async" \
    "asynchrone Nachricht, Punkt-zu-Punkt: the sender hands the message over and goes on; the queue keeps it until a receiver comes (sender and receiver decoupled)."
show "ppub -c jobs 'job 1'          # nobody is receiving yet"
timed took "$PPUB" -c jobs "job 1"
queued=$("$BUILD/pctl" channels --json | sed -nE 's/.*"name":"jobs"[^}]*"queued":([0-9]+).*/\1/p')
show "psub -c jobs -n 1             # a receiver, started afterwards"
"$PSUB" -c jobs -n 1 --timeout 3000 > late.out 2> late.err
late=$(cat late.out)
observed "ppub returned after $took ms with no receiver attached; the queue held $queued message; the receiver started afterwards got '$late'." \
    test "$rc" = 0 -a "${queued:-?}" = 1 -a "$late" = "job 1"

step "queue, message, sync" \
    "synchrone Nachricht, Punkt-zu-Punkt: the sender waits until the receiver has the message and has acknowledged it (its Quittung)."
show "psub -c jobs -n 1             # busy for the first 0.5 s, then it receives"
(sleep 0.5 && exec "$PSUB" -c jobs -n 1 --timeout 5000 > busy.out 2> busy.err) &
pid_busy=$!
show "ppub -c jobs --sync 'job 2'"
timed took "$PPUB" -c jobs --sync "job 2"
finish busy
observed "ppub waited $took ms, until the receiver that started 0.5 s late had acknowledged 'job 2' (it got '$(cat busy.out)')." \
    test "$rc" = 0 -a "$took" -ge 450 -a "$(cat busy.out)" = "job 2"

step "queue, request, async" \
    "asynchroner Auftrag, Punkt-zu-Punkt: the call returns a ticket at once; the sender picks the reply up later, one responder answers (here it takes 0.3 s)."
receiver worker -c jobs --reply 'sleep 0.3; tr a-z A-Z' -n 2 --timeout 10000
show "psub -c jobs --reply 'sleep 0.3; tr a-z A-Z'   # the responder"
show "ppub -c jobs --request --async --explain 'compute'"
reply=$("$PPUB" -c jobs --request --async --explain "compute" 2> ask.err | replies_of_tickets)
t_ticket=$(explained_after ask.err 'ps_request_async\(\) returned')
t_reply=$(explained_after ask.err 'REPLY for #1')
observed "ps_request_async() returned after ${t_ticket:-?} ms with a ticket; the reply '$reply' came ${t_reply:-?} ms after the request was handed over." \
    ticket_then_reply "$t_ticket" "$t_reply" 250

step "queue, request, sync" \
    "synchroner Auftrag (RPC), Punkt-zu-Punkt: the sender waits until the reply is there, not just a receipt."
show "ppub -c jobs --request 'compute again'"
timed took eval 'reply=$("$PPUB" -c jobs --request "compute again")'
finish worker
observed "ppub waited $took ms and printed the reply '$reply'." \
    test "$rc" = 0 -a "$took" -ge 290 -a "$reply" = "COMPUTE AGAIN"

# ---- Broadcast -----------------------------------------------------------------------------
step "broadcast, message, async" \
    "asynchrone Nachricht, Broadcast: one sender, every receiver attached gets the message; the sender does not wait for them."
receiver radio1 -c alerts -n 2 --timeout 10000
receiver radio2 -c alerts -n 2 --timeout 10000
receiver radio3 -c alerts -n 2 --timeout 10000
show "psub -c alerts   (three of them)"
show "ppub -c alerts 'disk full'"
timed took "$PPUB" -c alerts "disk full"
wait_until 10 "the receivers to get 'disk full'" eval 'grep -q "disk full" radio1.out && grep -q "disk full" radio2.out && grep -q "disk full" radio3.out'
observed "ppub returned after $took ms; receivers 1, 2 and 3 got $(got radio1), $(got radio2), $(got radio3)." \
    test "$rc" = 0

step "broadcast, message, sync" \
    "synchrone Nachricht, Broadcast: the broker reports how many receivers confirmed; a receiver that does not answer in time is a negative Quittung (timeout)."
show "ppub -c alerts --sync 'disk really full'"
"$PPUB" -c alerts --sync --explain "disk really full" 2> all3.err
rc_all=$?
count=$(sed -nE 's/.*RESULT for #1 after [0-9.]+ ms: ([0-9]+\/[0-9]+) receivers confirmed.*/\1/p' all3.err)
for r in radio1 radio2 radio3; do finish $r; done
receiver radio4 -c alerts -n 1 --timeout 10000
receiver radio5 -c alerts -n 1 --timeout 10000
receiver radio6 -c alerts -n 1 --timeout 10000
kill -STOP "$pid_radio6"
show "kill -STOP <one of three new receivers>; ppub -c alerts --sync --timeout 1000 'anyone?'"
timed took "$PPUB" -c alerts --sync --timeout 1000 "anyone?" 2> partial.err
kill -CONT "$pid_radio6"
for r in radio4 radio5 radio6; do finish $r; done
observed "with three live receivers: $count confirmed, exit $rc_all; with one of three stopped: ppub waited $took ms, then \"$(sed 's/^ppub: //' partial.err)\", exit $rc." \
    test "$rc_all" = 0 -a "$count" = "3/3" -a "$rc" = 3 -a "$took" -ge 950 -a "$(cat partial.err)" = "ppub: 2/3 confirmed on 'alerts'"

step "broadcast, request, async" \
    "asynchroner Auftrag, Broadcast: a survey, every responder answers; the sender gets its ticket at once and collects all replies later."
receiver poll1 -c alerts --reply 'sleep 0.2; echo one' -n 2 --timeout 10000
receiver poll2 -c alerts --reply 'sleep 0.2; echo two' -n 2 --timeout 10000
show "psub -c alerts --reply 'sleep 0.2; echo one'  and  psub -c alerts --reply 'sleep 0.2; echo two'"
show "ppub -c alerts --request --async --explain 'who is there?'"
replies=$("$PPUB" -c alerts --request --async --explain "who is there?" 2> survey.err | replies_of_tickets | sort | paste -sd' ' -)
t_ticket=$(explained_after survey.err 'ps_request_async\(\) returned')
t_done=$(explained_after survey.err 'DONE for #1')
observed "ps_request_async() returned after ${t_ticket:-?} ms with a ticket; the replies '$replies' were complete ${t_done:-?} ms after the request ($(sed -nE 's/.*DONE for #1 after [0-9.]+ ms: (.*)/\1/p' survey.err))." \
    ticket_then_reply "$t_ticket" "$t_done" 150

step "broadcast, request, sync" \
    "synchroner Auftrag, Broadcast: the sender waits until every responder has replied."
show "ppub -c alerts --request 'who is there now?'"
timed took eval 'replies=$("$PPUB" -c alerts --request "who is there now?" | sort | paste -sd" " -)'
finish poll1
finish poll2
observed "ppub waited $took ms for the replies '$replies'." \
    test "$rc" = 0 -a "$replies" = "one two" -a "$took" -ge 190

# ---- Publish-Subscribe ----------------------------------------------------------------------
step "pubsub, message, async" \
    "asynchrone Nachricht, Publish-Subscribe: the message goes to the subscribers whose pattern matches its topic, and to nobody else."
receiver host -c logs -t 'amd64/+' -n 2 --timeout 10000
receiver other -c logs -t 'other/#' -n 1 --timeout 10000
show "psub -c logs -t 'amd64/+'   and   psub -c logs -t 'other/#'"
show "ppub -c logs -t amd64/sshd 'Accepted rsa for esser'"
timed took "$PPUB" -c logs -t amd64/sshd "Accepted rsa for esser"
wait_until 10 "the amd64/+ subscriber" grep -q "Accepted" host.out
observed "ppub returned after $took ms; 'amd64/+' got $(got host), 'other/#' got $(got other)." \
    test "$rc" = 0 -a "$(got other)" = nothing

step "pubsub, message, sync" \
    "synchrone Nachricht, Publish-Subscribe: only the matching subscribers are asked to confirm; when nobody matches the answer is at once and explicit."
show "ppub -c logs -t amd64/cron --sync 'CMD (evlogmgr)'"
timed took "$PPUB" -c logs -t amd64/cron --sync "CMD (evlogmgr)"
rc_match=$rc took_match=$took
show "ppub -c logs -t nobody/here --sync 'hello?'"
timed took "$PPUB" -c logs -t nobody/here --sync "hello?" 2> nobody.err
finish host
observed "the amd64/cron message was confirmed after $took_match ms by the one subscriber that matches ('amd64/+' now has $(got host)); for nobody/here ppub said \"$(sed 's/^ppub: //' nobody.err)\" after $took ms, exit $rc." \
    test "$rc_match" = 0 -a "$rc" = 3 -a "$(cat nobody.err)" = "ppub: no receivers on 'logs'"
"$PPUB" -c logs -t other/x "to end the other/# receiver" && finish other

step "pubsub, request, async" \
    "asynchroner Auftrag, Publish-Subscribe: the request goes to the responders whose pattern matches; the ticket comes at once, the reply later."
receiver clock -c logs -t 'svc/#' --reply 'sleep 0.3; echo "it is $(date +%H:%M)"' -n 2 --timeout 10000
show "psub -c logs -t 'svc/#' --reply 'sleep 0.3; echo \"it is \$(date +%H:%M)\"'"
show "ppub -c logs -t svc/time --request --async --explain 'time?'"
reply=$("$PPUB" -c logs -t svc/time --request --async --explain "time?" 2> clock.err | replies_of_tickets)
t_ticket=$(explained_after clock.err 'ps_request_async\(\) returned')
t_reply=$(explained_after clock.err 'REPLY for #1')
observed "ps_request_async() returned after ${t_ticket:-?} ms with a ticket; the reply '$reply' came ${t_reply:-?} ms after the request." \
    eval 'ticket_then_reply "$t_ticket" "$t_reply" 250 && [ "${reply#it is }" != "$reply" ]'

step "pubsub, request, sync" \
    "synchroner Auftrag (RPC), Publish-Subscribe: the sender blocks until the matching responder replied; with no matching responder it fails at once."
show "ppub -c logs -t svc/time --request 'time now?'"
timed took eval 'reply=$("$PPUB" -c logs -t svc/time --request "time now?")'
rc_rpc=$rc took_rpc=$took
show "ppub -c logs -t nosvc/x --request 'anybody?'"
timed took "$PPUB" -c logs -t nosvc/x --request "anybody?" 2> noresp.err
finish clock
observed "ppub waited $took_rpc ms for '$reply'; for nosvc/x it said \"$(sed 's/^ppub: //' noresp.err)\" after $took ms, exit $rc." \
    test "$rc_rpc" = 0 -a "$took_rpc" -ge 290 -a "$rc" = 3 -a "$(cat noresp.err)" = "ppub: no responders on 'logs'"

# ---- The lecture's syslog, routed by program ------------------------------------------------------
printf '\n[syslog] The lecture'"'"'s log file, published line by line with topic HOST/PROGRAM: each\n'
printf '         subscriber gets exactly the lines of its program (Publish-Subscribe as routing).\n'
progs="sshd cron syslog-ng kernel"
declare -A want
for p in $progs; do
    # The same rule as ppub --topic-from syslog: the program's basename before "[pid]:" or ":".
    want[$p]=$(grep -cE "^[A-Z][a-z]{2} +[0-9]+ [0-9:]{8} amd64 ([^ ]*/)?$p(\[[0-9]+\])?:" "$SAMPLE")
    receiver "log_${p//-/_}" -c logs -t "amd64/$p" -n "${want[$p]}" --timeout 10000
done
total=$(wc -l < "$SAMPLE")
receiver log_all -c logs -t 'amd64/#' -n "$total" --timeout 10000
show "psub -c logs -t amd64/sshd   (and amd64/cron, amd64/syslog-ng, amd64/kernel, amd64/#)"
show "ppub -c logs --topic-from syslog < syslog.sample      # $total lines"
timed took "$PPUB" -c logs --topic-from syslog < "$SAMPLE"
routed=1 summary="" sum=0
for p in $progs all; do
    r=log_${p//-/_}
    finish "$r" || routed=0
    n=$(wc -l < "$r.out")
    # Each subscriber got as many lines as the file has for its program, all of that topic.
    if [ "$p" = all ]; then
        [ "$n" = "$total" ] || routed=0
    else
        [ "$n" = "${want[$p]}" ] || routed=0
        sum=$((sum + n))
        summary="$summary amd64/$p $n,"
    fi
    bad=$(sed -E 's/^\[([^ ]+) .*/\1/' "$r.out" | grep -vc "^amd64/${p/all/}")
    [ "$bad" = 0 ] || routed=0
done
[ "$sum" = "$total" ] || routed=0
printf '        observed: ppub sent %s lines in %s ms;%s lines (%s in all), each only its own program'"'"'s; amd64/# got all %s.  %s\n' \
    "$total" "$took" "${summary%,}" "$sum" "$(wc -l < log_all.out)" \
    "$([ "$routed" = 1 ] && echo '[as described]' || echo '[NOT AS DESCRIBED]')"

echo
if [ "$good" = 12 ] && [ "$routed" = 1 ]; then
    echo "All 12 combinations and the syslog routing behaved as described."
    echo "To see every hop of a message with its time, add --explain to any ppub or psub above."
    exit 0
fi
echo "$good of 12 steps behaved as described$([ "$routed" = 1 ] || echo ', and the syslog routing did not')."
exit 1
