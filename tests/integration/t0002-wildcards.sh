#!/bin/bash
# MQTT wildcards on a pubsub channel: '+' is one level, '#' the rest (also
# none), several -t patterns on one psub, and a message matching two of
# them arrives once.
. "$(dirname "$0")/lib.sh"
start_broker

sub() { # NAME PATTERN... : a psub that ends after 5 s without messages (its idle
    # clock starts when it subscribed, before the other psubs, so it has room
    # for a slow start of the rest on a loaded machine or a sanitizer build)
    local name=$1 args=() p
    shift
    for p in "$@"; do args+=(-t "$p"); done
    "$BUILD/psub" -v -c logs "${args[@]}" --timeout 5000 > "$name.out" 2> "$name.err" &
    pids+=($!)
    wait_for_file_lines "$name.err" 1
}
pids=()
sub plus 'amd64/+'
sub hash 'amd64/#'
sub mid '+/sshd'
sub two 'amd64/sshd' '+/sshd'
sub all '#'
for t in amd64 amd64/sshd amd64/cron amd64/sshd/extra i386/sshd; do
    "$BUILD/ppub" -c logs -t "$t" "$t" || fail "ppub -t $t"
done
wait "${pids[@]}"
got() { sed 's/^\[[^]]*\] //' "$1.out" | tr '\n' ' '; }
expect_eq "$(got plus)" "amd64/sshd amd64/cron " "amd64/+"
expect_eq "$(got hash)" "amd64 amd64/sshd amd64/cron amd64/sshd/extra " "amd64/# (parent level included)"
expect_eq "$(got mid)" "amd64/sshd i386/sshd " "+/sshd"
expect_eq "$(got two)" "amd64/sshd i386/sshd " "two overlapping patterns deliver once"
expect_eq "$(got all)" "amd64 amd64/sshd amd64/cron amd64/sshd/extra i386/sshd " "#"
expect_exit 4 "$BUILD/psub" -c logs -t 'a/#/b' -n 1 --timeout 500
expect_exit 4 "$BUILD/ppub" -c logs -t 'a/+' "a wildcard in a topic name"
echo "ok: +, # and overlapping patterns"
