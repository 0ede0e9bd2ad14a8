#!/bin/bash
# A link that cannot carry what it should: node b is frozen (SIGSTOP) for
# 1.7 seconds, longer than heartbeat_timeout_ms, while a publishes 500
# messages a second, then one more once the link is back.  a counts what it could not send to b as drops, the
# link comes back up by itself, and b's subscriber hears of the messages
# it missed the way it hears of any loss ("psub: missed N messages"):
# received + missed = published, exactly.  A subscriber on c, whose link
# stayed up, gets every message.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster_local.sh"
P=$BUILD/ppub S=$BUILD/psub C=$BUILD/pctl

lc_mesh a b c
lc_on b "$S" -v -F '%p' -c logs --timeout 4000 > sub_b.out 2> sub_b.err &
sb=$!
lc_on c "$S" -v -F '%p' -c logs --timeout 4000 > sub_c.out 2> sub_c.err &
sc=$!
wait_for_file_lines sub_b.err 1
wait_for_file_lines sub_c.err 1

N=2000
lc_on a "$P" -t logs:t -n $N --size 16 --rate 500 &
pa=$!
wait_for_file_lines sub_b.out 300 10
# b frozen for 1.7 s: past the links' heartbeat_timeout_ms (1 s), short of
# the 3 s after which b's own subscriber would give its session up.
kill -STOP "${LC_PID[b]}"
read -r -t 1.7 <> <(:) || true
kill -CONT "${LC_PID[b]}"
wait $pa || fail "ppub exited $?"
# One more once the link is up: a loss at the end is told before it.
wait_until 10 "a's link to b up" eval '[ "$(lc_field a b state)" = up ]'
lc_on a "$P" -t logs:t end || fail "the last ppub exited $?"
N=$((N + 1))
wait $sb
wait $sc
grep -q "session lost" sub_b.err && fail "b's subscriber lost its session (a loaded machine?): $(cat sub_b.err)"
got=$(wc -l < sub_b.out)
missed=$(sed -n "s/^psub: missed \([0-9]*\) messages.*/\1/p" sub_b.err | awk '{ s += $1 } END { print s + 0 }')
drops=$(lc_field a b drops)
gaps=$(lc_field b a gaps)
[ "$missed" -gt 0 ] || fail "b's subscriber was told of no missed message (got $got): $(cat sub_b.err)"
expect_eq "$((got + missed))" $N "received + missed on b"
expect_eq "$gaps" "$missed" "gaps counted on b's link from a"
[ "$drops" -gt 0 ] && [ "$drops" -le "$missed" ] || fail "a's drops to b: $drops, missed: $missed"
expect_eq "$(wc -l < sub_c.out)" $N "messages on c, whose link stayed up"
grep -q "cluster: link to b down" a.log || fail "a did not log the link down"
echo "ok: $got received + $missed missed = $N on b (a dropped $drops); c got all $N"
