#!/bin/bash
# brokerd --check: the documented example and the README's lecture.conf
# pass (exit 0, one "ok" line);
# files with mistakes planted on known lines give exit 1 and one
# "FILE:LINE: message" per mistake, all of them, in the order of the file.
. "$(dirname "$0")/lib.sh"

"$BUILD/brokerd" --check -c "$ROOT/conf/brokerd.conf" > out 2>&1 || {
    cat out
    fail "the example conf/brokerd.conf is refused"
}
grep -q "brokerd.conf: configuration OK" out || fail "no OK line for the example: $(cat out)"
# The README's configuration: valid, and it declares the lecture's channels.
"$BUILD/brokerd" --check -c "$ROOT/conf/lecture.conf" > out 2>&1 || fail "conf/lecture.conf refused: $(cat out)"
for ch in 'jobs.*queue' 'alerts.*broadcast' 'logs.*pubsub'; do
    grep -Eq "name = \"${ch%%.*}\"; +type = \"${ch##*\*}\"" "$ROOT/conf/lecture.conf" ||
        fail "conf/lecture.conf does not declare $ch"
done

# Runs --check on FILE; it must exit 1 and every line must be FILE:LINE: ...
check_bad() { # FILE
    "$BUILD/brokerd" --check -c "$1" > out 2>&1
    local rc=$?
    [ "$rc" = 1 ] || { cat out; fail "$1: --check exited $rc, want 1"; }
    if grep -v "^$1:[0-9][0-9]*: " out | grep -q .; then
        cat out
        fail "$1: an error line without FILE:LINE"
    fi
}

# Requires a line "FILE:LINE: ...TEXT..." in out.
expect_error() { # FILE LINE TEXT
    grep -F "$1:$2: " out | grep -qF -- "$3" || { cat out; fail "no '$1:$2: ...$3...'"; }
}

# A syntax error names its line.
cat > syntax.conf << 'EOF'
broker = {
  max_clients = 10;
  endpoints = [ "tcp://127.0.0.1:5242" ;
};
EOF
check_bad syntax.conf
expect_error syntax.conf 3 "syntax error"

# Every kind of mistake at once, each on a line of its own.
cat > bad.conf << 'EOF'
broker = {
  endpoints = [ "tcp://127.0.0.1:5242", "udp://127.0.0.1:9" ];
  colour = "blue";
  max_clients = "many";
  max_message_size = -1;
  auto_create = "everything";
  gateway = { xpub = "tcp://127.0.0.1"; };
};
channels = (
  { name = "jobs"; type = "queue"; max_queued = 10; },
  { name = "jobs"; type = "pubsub"; },
  { name = "no spaces"; type = "broadcast"; },
  { name = "news"; type = "pubsub"; durable = true; },
  { name = "work"; type = "queue"; speed = 3; },
  { name = "tasks"; type = "topic"; },
  { name = "feed"; type = "broadcast"; slow_subscriber = "sometimes"; },
  { name = "q2"; type = "queue"; retain = 1; }
);
EOF
check_bad bad.conf
expect_error bad.conf 2 'bad endpoint "udp://127.0.0.1:9"'
expect_error bad.conf 3 "unknown key 'colour'"
expect_error bad.conf 4 "'max_clients' must be an integer"
expect_error bad.conf 5 "'max_message_size' is -1"
expect_error bad.conf 6 '"everything"'
expect_error bad.conf 7 "bad gateway endpoint"
expect_error bad.conf 11 'channel "jobs" declared twice'
expect_error bad.conf 12 'invalid channel name "no spaces"'
expect_error bad.conf 13 "'durable' is for queues"
expect_error bad.conf 14 "unknown key 'speed'"
expect_error bad.conf 15 '"topic"'
expect_error bad.conf 16 '"sometimes"'
expect_error bad.conf 17 "'retain' must be true or false"
expect_eq "$(wc -l < out)" 13 "error lines for 13 mistakes"
# In the order of the file.
sed 's/^bad.conf:\([0-9]*\):.*/\1/' out | sort -n -c 2> /dev/null || { cat out; fail "errors not in line order"; }

# A key given twice, and a file that cannot be read.
printf 'broker = {\n  heartbeat_ms = 500;\n  heartbeat_ms = 600;\n};\n' > twice.conf
check_bad twice.conf
expect_error twice.conf 3 "duplicate"
"$BUILD/brokerd" --check -c missing.conf > out 2>&1
expect_eq "$?" 1 "--check of a missing file"
grep -q "^missing.conf:.*cannot read" out || fail "missing file: $(cat out)"

# An integer libconfig would cut to 32 bits, and errors in an included file.
printf 'broker = {\n  client_buffer = 4294967296;\n};\n@include "chan.conf"\n' > wide.conf
printf 'channels = (\n  { name = "a"; type = "queue"; hue = 1; }\n);\n' > chan.conf
"$BUILD/brokerd" --check -c wide.conf > out 2>&1
expect_eq "$?" 1 "--check of a file with a 33-bit integer"
expect_error wide.conf 2 "4294967296 does not fit"
grep -q "^chan.conf:2: unknown key 'hue'" out || fail "included file's error: $(cat out)"
sed -i 's/4294967296/4294967296L/' wide.conf
sed -i 's/ hue = 1;//' chan.conf
"$BUILD/brokerd" --check -c wide.conf > out 2>&1 || fail "with L and fixed include: $(cat out)"

# A broken file keeps a broker from starting at all, with the same lines.
"$BUILD/brokerd" -c bad.conf > out 2>&1
expect_eq "$?" 1 "brokerd -c bad.conf"
grep -q "^bad.conf:11: channel \"jobs\" declared twice" out || fail "brokerd start: $(cat out)"
echo "ok: example accepted; syntax, 13 kinds of mistakes, repeated key, cut integer, included file and missing file reported as FILE:LINE"
