#!/bin/bash
# The lecture's example: a syslog file published line by line with
# `ppub --topic-from syslog` (topic HOST/PROGRAM) reaches a subscriber of
# 'amd64/sshd' as exactly the sshd lines, same bytes, same order; the other
# programs' subscribers get theirs (cron from "/usr/sbin/cron[pid]:"), and
# '#' gets the whole file.
. "$(dirname "$0")/lib.sh"
start_broker
SAMPLE=$TESTS/data/syslog.sample
[ -r "$SAMPLE" ] || fail "missing $SAMPLE"

# Each subscriber expects exactly its count, so it ends by itself.
want_sshd=$(grep -cE '^[A-Z][a-z]{2} +[0-9]+ [0-9:]{8} amd64 sshd\[[0-9]+\]:' "$SAMPLE")
expect_eq "$want_sshd" 67 "sshd lines in the sample"
grep -E '^[A-Z][a-z]{2} +[0-9]+ [0-9:]{8} amd64 sshd\[[0-9]+\]:' "$SAMPLE" > want.sshd
grep -E '^[A-Z][a-z]{2} +[0-9]+ [0-9:]{8} amd64 [^ ]*/cron\[[0-9]+\]:' "$SAMPLE" > want.cron
grep -E '^[A-Z][a-z]{2} +[0-9]+ [0-9:]{8} amd64 kernel:' "$SAMPLE" > want.kernel
total=$(wc -l < "$SAMPLE")

sub() { # NAME COUNT PATTERN...
    local name=$1 n=$2 args=() p
    shift 2
    for p in "$@"; do args+=(-t "$p"); done
    "$BUILD/psub" -v -c logs "${args[@]}" -n "$n" --timeout 5000 > "$name.raw" 2> "$name.err" &
    pids+=($!)
    wait_for_file_lines "$name.err" 1
}
pids=()
sub sshd "$want_sshd" 'amd64/sshd'
sub cron "$(wc -l < want.cron)" 'amd64/cron'
sub kernel "$(wc -l < want.kernel)" '+/kernel'
sub all "$total" '#'
"$BUILD/ppub" -c logs --topic-from syslog < "$SAMPLE" 2> pub.err || fail "ppub exited $?: $(cat pub.err)"
[ -s pub.err ] && fail "ppub warned about a well-formed syslog file: $(cat pub.err)"
for p in "${pids[@]}"; do
    wait "$p" || fail "a subscriber exited $?"
done
# -v put "[TOPIC #SEQ HH:MM:SS.mmm] " before each payload: check and strip it.
for name in sshd cron kernel all; do
    bad=$(grep -cvE '^\[[^] ]+ #[0-9]+ [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}\] ' "$name.raw")
    expect_eq "$bad" 0 "lines of $name without the -v prefix"
    sed -E 's/^\[[^] ]+ #[0-9]+ [0-9:.]+\] //' "$name.raw" > "$name.out"
done
expect_eq "$(sed -E 's/^\[([^] ]+) .*/\1/' sshd.raw | sort -u)" "amd64/sshd" "the topic of the sshd lines"
cmp -s want.sshd sshd.out || fail "amd64/sshd got something else: $(diff want.sshd sshd.out | head -5)"
cmp -s want.cron cron.out || fail "amd64/cron got something else: $(diff want.cron cron.out | head -5)"
cmp -s want.kernel kernel.out || fail "+/kernel got something else: $(diff want.kernel kernel.out | head -5)"
cmp -s "$SAMPLE" all.out || fail "'#' did not get the file as it is: $(diff "$SAMPLE" all.out | head -5)"

# The topics themselves, as json shows them.
"$BUILD/psub" -v -c logs -t '#' --format json -n 4 --timeout 5000 > topics.json 2> topics.err &
pid=$!
wait_for_file_lines topics.err 1
grep -m1 ' sshd\[' "$SAMPLE" > four
grep -m1 'cron\[' "$SAMPLE" >> four
grep -m1 'syslog-ng\[' "$SAMPLE" >> four
grep -m1 ' kernel:' "$SAMPLE" >> four
"$BUILD/ppub" -c logs --topic-from syslog < four || fail "ppub exited $?"
wait $pid || fail "psub exited $?"
expect_eq "$(jq -r .topic topics.json | tr '\n' ' ')" "amd64/sshd amd64/cron amd64/syslog-ng amd64/kernel " \
    "topics taken from the syslog lines"
# A line that is no syslog line gets -t's topic, with one warning.
"$BUILD/psub" -v -c logs -t 'fallback/x' -n 1 --timeout 5000 > fb.out 2> fb.err &
pid=$!
wait_for_file_lines fb.err 1
echo "not a syslog line" | "$BUILD/ppub" -c logs -t fallback/x --topic-from syslog 2> warn || fail "ppub exited $?"
wait $pid || fail "psub for the fallback topic exited $?"
expect_eq "$(sed -E 's/^\[fallback\/x #[0-9]+ [0-9:.]+\] //' fb.out)" "not a syslog line" "a non-syslog line under the -t topic"
expect_eq "$(wc -l < warn)" 1 "warnings for a non-syslog line"
echo "ok: $want_sshd sshd lines of $total, exact and in order; cron, kernel and '#' too"
