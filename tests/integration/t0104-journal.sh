#!/bin/bash
# Logging: when JOURNAL_STREAM names stderr's device and inode (stderr is
# the journal), every line starts with a "<N>" syslog priority; without it,
# or when it names another file, lines carry a timestamp and no prefix.
# -v adds debug lines ("<7>").
. "$(dirname "$0")/lib.sh"

# stderr is brokerd.log (start_broker); create it to learn its dev:ino.
: > brokerd.log
JOURNAL_STREAM=$(stat -c '%d:%i' brokerd.log) start_broker -v
"$BUILD/ppub" -c logs -t a/b --retain "hello" || fail "ppub exited $?"
# A subscription is logged at debug level.
"$BUILD/psub" -c logs -t 'a/#' -n 1 --timeout 5000 > got || fail "psub exited $?"
expect_eq "$(cat got)" hello "the retained message"
stop_broker || fail "brokerd exited $? on SIGTERM"
grep -q '^<5>notice: brokerd .* ready' brokerd.log || fail "no <5> notice line: $(head -3 brokerd.log)"
grep -q '^<6>info: ' brokerd.log || fail "no <6> info line"
grep -q '^<7>debug: ' brokerd.log || fail "no <7> debug line with -v"
bad=$(grep -cv '^<[0-7]>' brokerd.log)
expect_eq "$bad" 0 "lines without a priority prefix under the journal"
mv brokerd.log journal.log

# JOURNAL_STREAM naming another file (inherited by a child, say): no prefixes.
JOURNAL_STREAM=$(stat -c '%d:%i' journal.log) start_broker
stop_broker || fail "brokerd exited $? on SIGTERM"
grep -q '^<[0-9]>' brokerd.log && fail "<N> prefixes although stderr is not the journal"
grep -q '^[0-9-]* [0-9:.]* brokerd info: ' brokerd.log || fail "no timestamped info line: $(head -3 brokerd.log)"
grep -q 'debug: ' brokerd.log && fail "debug lines without -v"
mv brokerd.log other.log

# No JOURNAL_STREAM at all: no prefixes either.
start_broker
stop_broker || fail "brokerd exited $? on SIGTERM"
grep -q '^<[0-9]>' brokerd.log && fail "<N> prefixes without JOURNAL_STREAM"
grep -q 'brokerd notice: brokerd .* ready' brokerd.log || fail "no ready line: $(head -3 brokerd.log)"
echo "ok: <N> prefixes exactly when stderr is the journal; -v adds <7> debug lines"
