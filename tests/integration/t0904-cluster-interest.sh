#!/bin/bash
# Issue 20, experiment 4: a message crosses a link only for interest.
# With no subscriber on B or C, 1,000,000 messages of 64 B ($CLUSTER_MSGS)
# published on A put at most 100 KB on A's veth (both ways: heartbeats and
# interest only).  With one subscriber to amd64/sshd on B while the
# lecture's syslog is published on A ten times ($CLUSTER_ROUNDS), the A-B
# bytes (both ways, IP) stay within 1.5 x the matching payload, and B gets
# exactly the sshd lines.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/cluster.sh"
N=${CLUSTER_MSGS:-1000000}
R=${CLUSTER_ROUNDS:-10}
SAMPLE=$TESTS/data/syslog.sample
cluster_start

# No remote interest.
v0=$(link_bytes a)
on a "$BUILD/ppub" -t logs:amd64/sshd -n "$N" --size 64 || fail "ppub on a exited $?"
idle=$(($(link_bytes a) - v0))
[ "$idle" -le 100000 ] || fail "$N messages nobody remote wanted put $idle bytes on A's links (want <= 100000)"

# One remote subscriber to amd64/sshd.
grep -E '^[A-Z][a-z]{2} +[0-9]+ [0-9:]{8} amd64 sshd\[[0-9]+\]:' "$SAMPLE" > want.one
for _ in $(seq "$R"); do cat want.one; done > want
for _ in $(seq "$R"); do cat "$SAMPLE"; done > sample.x
payload=$(($(wc -c < want) - $(wc -l < want))) # without the newlines
spawn b "$BUILD/psub" -v -t 'logs:amd64/sshd' -n "$(wc -l < want)" --timeout 10000 -F '%p' > sub.out 2> sub.err
SUB=$SPAWNED
wait_for_file_lines sub.err 1
ab0=$(link_bytes a b)
on a "$BUILD/ppub" -c logs --topic-from syslog < sample.x || fail "ppub of the syslog on a exited $?"
wait "$SUB" || fail "the sshd subscriber on b exited $?"
ab=$(($(link_bytes a b) - ab0))
cmp -s sub.out want || fail "B did not get exactly the sshd lines ($(wc -l < sub.out) of $(wc -l < want))"
[ $((ab * 2)) -le $((payload * 3)) ] ||
    fail "A-B carried $ab bytes for $payload bytes of matching payload (want <= 1.5 x)"
echo "ok: $N x 64 B with no remote interest: $idle B on A's links;" \
    "amd64/sshd on B: $ab B on A-B for $payload B of payload ($(awk "BEGIN { printf \"%.2f\", $ab / $payload }") x)"
