#!/bin/bash
# A queue consumer killed in the middle of a stream loses nothing: what it
# held unacknowledged goes to the other consumers.  Duplicates may appear
# only for messages the killed consumer wrote out but had not acknowledged.
. "$(dirname "$0")/lib.sh"

queue_conf "max_queued = 1000000;"
start_broker -c b.conf

# Enough messages that the stream is still flowing when the victim is
# killed (psub takes a burst at hundreds of thousands a second).
N=200000

# Two consumers share the stream; one is killed with messages in flight.
"$BUILD/psub" -c jobs --timeout 10000 > victim &
victim=$!
"$BUILD/psub" -c jobs --timeout 2500 > survivor1 &
s1=$!
wait_until 10 "two consumers" eval '[ "$(chan_stat jobs subscribers)" = 2 ]'
seq -f "job-%g" 1 $N | "$BUILD/ppub" -c jobs &
pub=$!
wait_for_file_lines victim 200
kill -9 "$victim"
wait "$victim" 2>/dev/null
wait "$pub" || fail "ppub exited $?"
# A consumer that comes later picks up what is left, redeliveries included.
"$BUILD/psub" -c jobs --timeout 5000 > survivor2 || fail "second consumer exited $?"
wait "$s1" || fail "first consumer exited $?"

cat victim survivor1 survivor2 | sort -u > union
expect_eq "$(wc -l < union)" "$N" "distinct messages consumed"
seq -f "job-%g" 1 $N | sort | cmp -s - union || fail "consumed messages differ from those sent"
dups=$(cat victim survivor1 survivor2 | sort | uniq -d | wc -l)
[ "$dups" -le 100 ] || fail "$dups duplicates, more than the killed consumer's window of 100"
queued=$("$BUILD/pctl" channels --json | jq '.[] | select(.name == "jobs") | .queued + .unacked')
expect_eq "$queued" 0 "messages left in the queue"
echo "ok: $N messages consumed exactly once or, after the kill, at most twice ($dups duplicates)"
