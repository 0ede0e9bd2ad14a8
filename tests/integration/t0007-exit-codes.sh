#!/bin/bash
# Every exit code of the tools (EXIT STATUS in their manual pages), each
# with its one-line reason on stderr: 0 done; 1 usage (bad option, missing -c, bad
# value); 2 no broker there; 3 no receivers, too few messages, no
# responder; 4 wrong channel type, unknown channel with auto_create =
# "none", message too large.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
cat > b.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT" ];
  data_dir = "$SCRATCH/data";
  auto_create = "none";
  max_message_size = 4096;
};
channels = (
  { name = "jobs"; type = "queue"; },
  { name = "alerts"; type = "broadcast"; },
  { name = "logs"; type = "pubsub"; }
);
EOF
start_broker -c b.conf

# check CODE PATTERN CMD...: CMD exits CODE and says on stderr, on its first
# line, something matching PATTERN (an extended regex) after its own name.
# Runtime errors are exactly one line; usage errors may add the usual
# "Try '... --help'" hint as a second line.
check() {
    local want=$1 pattern=$2 tool
    shift 2
    tool=$(basename "$1")
    "$@" > out 2> err
    local rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, want $want (stderr: $(head -c 300 err))"
    local first lines
    first=$(head -n 1 err)
    lines=$(wc -l < err)
    [ "$want" = 0 ] && { [ "$lines" = 0 ] || fail "'$*' succeeded but wrote to stderr: $first"; return 0; }
    [[ "$first" =~ ^(.*/)?$tool:\ .*($pattern) ]] || fail "'$*': stderr '$first' does not name the problem (/$pattern/)"
    if [ "$want" = 1 ]; then
        [ "$lines" -le 2 ] || fail "'$*': $lines lines on stderr"
    else
        [ "$lines" = 1 ] || fail "'$*': $lines lines on stderr, want one: $(cat err)"
    fi
}
P=$BUILD/ppub S=$BUILD/psub C=$BUILD/pctl

# 0: done.  (A message nobody receives is exit 0 too, with a line saying
# so: t0708; this one is retained, so it reaches somebody later.)
check 0 '' $P -c logs -t a/b -r "hello"
"$P" -c logs -t a/b -r "" 2> /dev/null || fail "clearing the retained value exited $?"
check 0 '' $P -c jobs "a job"
check 0 '' $S -c jobs -n 1 --timeout 3000
expect_eq "$(cat out)" "a job" "the queued message"
check 0 '' $S -c logs --timeout 200 # idle timeout without -n is a normal end
check 0 '' $C ping

# 1: usage and configuration errors; nothing is sent.
check 1 'unknown option --bogus' $P --bogus -c logs x
check 1 'no channel' $P "a message without a channel"
check 1 'no channel' $S -n 1
check 1 'format' $S -c logs --format xml
check 1 'count' $P -c logs -t a -n abc x
check 1 'count' $S -c logs -n -3
check 1 'command' $C frobnicate
check 1 'command' $C
check 1 'reply.*echo|echo.*reply' $S -c jobs --reply cat --echo
check 1 'broker|endpoint' $P -b "not-an-endpoint" -c logs -t a x

# 2: nobody on that port (nor on that ipc path).
NOBODY=tcp://127.0.0.1:$(free_port)
check 2 'cannot reach' $P -b "$NOBODY" --timeout 1000 -c logs -t a x
check 2 'cannot reach' $S -b "$NOBODY" --timeout 1000 -c logs -n 1
check 2 'cannot reach' $C -b "$NOBODY" --timeout 1000 status
check 2 'cannot reach' $P -b "ipc://$SCRATCH/nobody.sock" --timeout 1000 -c logs -t a x

# 3: nobody there to confirm, fewer messages than asked for, no responder.
check 3 'no receivers' $P -c logs -t a --sync "nobody listens"
check 3 'no receivers' $P -c alerts --sync "nobody listens"
check 3 'confirm|time' $P -c jobs --sync --timeout 300 "no consumer"
check 3 'only 0 of 5' $S -c logs -n 5 --timeout 300
$P -c jobs one two || fail "ppub exited $?"
check 3 'only [0-9] of 5' $S -c jobs -n 5 --timeout 300
check 3 'no responders' $P -c jobs --request --timeout 300 "anyone?"
check 3 'no responders' $P -c alerts --request "anyone?"
check 3 'no responders' $P -c logs -t svc/x --request "anyone?"

# 4: refused by the broker.
check 4 'wrong channel type' $P -c alerts --retain "retain on a broadcast"
check 4 'wrong channel type' $P -c jobs --retain "retain on a queue"
check 4 'unknown channel' $P -c nosuch -t a "to nowhere"
check 4 'unknown channel' $S -c nosuch -n 1 --timeout 500
check 4 'unknown channel' $P -c nosuch --request "to nowhere"
head -c 4097 /dev/zero > big
check 4 'too large' $P -c logs -t a --raw < big
check 4 'too large' $P -c jobs "$(head -c 5000 /dev/zero | tr '\0' x)"
# The refused message did not reach the queue.
expect_eq "$(chan_stat jobs queued)" 0 "queued after refusals"
# A responder whose command fails: exit 4 with the command's error line.
"$S" -v -c jobs --reply 'echo "broken responder" >&2; exit 1' -n 1 --timeout 5000 > r.out 2> r.err &
responder=$! # now: waiting starts processes of its own
wait_for_file_lines r.err 1
check 4 'broken responder' $P -c jobs --request "fail please"
wait $responder || fail "responder exited $?"
echo "ok: exit codes 0 to 4, each with one line naming the problem"
