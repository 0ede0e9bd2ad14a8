#!/bin/bash
# Issue 15.12, what refusals leak and what reaches a terminal.  The
# promise: a client without rights is told the same for a queue, a pubsub
# channel and a channel that does not exist (nothing says which is which);
# control characters (ESC, BEL, DEL) in names and topics are escaped
# wherever a person reads them: the log, and psub -v.  Broken behaviour:
# the refusal named the queue right ('send:jobs') where a pubsub channel
# got 'publish:X', so the reply told a client which channels are queues;
# a pattern with ESC reached the log raw, and psub -v printed topics raw,
# OSC/CSI sequences included; pctl's tables (clients, subscriptions,
# retained) showed patterns and topics raw.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"
[ "$(id -u)" = 0 ] || { echo "ok: skipped: the uid rule is written for root"; exit 0; }

cat > b.conf << EOF2
broker = { endpoints = [ "ipc://$SCRATCH/b.sock" ]; data_dir = "$SCRATCH/data"; auto_create = "none"; };
channels = ( { name = "jobs"; type = "queue"; }, { name = "logs"; type = "pubsub"; },
             { name = "news"; type = "pubsub"; } );
security = { clients = ( { name = "root"; uid = 0; allow = [ "subscribe:logs", "publish:logs", "admin" ]; } ); };
EOF2
# ipc only (uid rules need SO_PEERCRED), so not start_broker's tcp ping.
export PUBSUB_BROKER=ipc://$SCRATCH/b.sock
"$BUILD/brokerd" -c b.conf >> brokerd.log 2>&1 &
BROKER_PID=$!
wait_for_log "ready"
for c in jobs news nosuch; do
    "$BUILD/ppub" -c $c -t t x > /dev/null 2> "$c.err"
    echo "$?" >> "$c.err"
done
norm() { sed "s/$1/CHANNEL/g" "$1.err"; }
[ "$(norm jobs)" = "$(norm news)" ] || problem "the refusal for a queue ('$(head -1 jobs.err)') differs from a pubsub channel's ('$(head -1 news.err)')"
[ "$(norm nosuch)" = "$(norm news)" ] || problem "the refusal for a missing channel ('$(head -1 nosuch.err)') differs from a forbidden one's ('$(head -1 news.err)')"
# UNSUBSCRIBE needs no right, so its answer must not tell either.
for c in jobs news nosuch; do
    unsub=$($HOSTILE unsub "$PUBSUB_BROKER" $c) || fail "hostile.py unsub $c failed"
    [ "$unsub" = ok ] || problem "UNSUBSCRIBE of '$c' without rights answered '$unsub', of 'news' ok"
done

# ESC, BEL, DEL and U+009B (CSI in one character, for a UTF-8 terminal).
esc=$'\e]0;owned\a\e[2J\x7f\xc2\x9b1m'
raw() { LC_ALL=C grep -c $'[\e\a\x7f\x80-\xff]' "$@"; }
"$BUILD/psub" -v -c logs -t '#' -n 1 --timeout 5000 > got 2> sub.err &
sub=$!
wait_for_file_lines sub.err 1
"$BUILD/ppub" -c logs -t "a${esc}b" payload || fail "ppub exited $?"
wait "$sub" || fail "psub exited $?"
[ "$(raw got)" = 0 ] || problem "psub -v printed a topic's control characters raw: $(od -c got | head -2 | tr -s ' ' | tr '\n' ' ')"
"$BUILD/psub" -c logs -t "x${esc}/#" -n 1 --timeout 300 > /dev/null 2>&1
"$BUILD/psub" -c news -t "x${esc}/#" -n 1 --timeout 300 > /dev/null 2>&1
"$BUILD/pctl" ping > /dev/null 2>&1
[ "$(raw brokerd.log)" = 0 ] || problem "control characters reached brokerd.log raw ($(raw brokerd.log) lines)"
# What pctl shows a person: a retained topic, a live pattern, its client.
"$BUILD/ppub" -c logs -t "r${esc}" --retain value || fail "ppub --retain exited $?"
"$BUILD/psub" -c logs -t "y${esc}/#" --timeout 10000 > /dev/null 2>&1 &
wait_until 5 "psub's subscription" sh -c '"$BUILD/pctl" subscriptions --json | grep -q "\"y"'
for v in clients subscriptions "retained logs"; do
    "$BUILD/pctl" $v > "pctl.out" || fail "pctl $v exited $?"
    [ "$(raw pctl.out)" = 0 ] || problem "pctl $v printed control characters raw: $(od -c pctl.out | grep -m1 '033')"
done
verdict "refusals alike for a queue, a pubsub channel and none ('$(head -1 news.err)'); control characters escaped in psub -v, the log and pctl's tables"
