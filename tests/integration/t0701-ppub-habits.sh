#!/bin/bash
# ppub as users of mosquitto_pub and nats know it: -m MESSAGE, -f FILE, -l,
# -r (retain), -t CHANNEL:TOPIC and $PUBSUB_CHANNEL for the channel, -H/-p
# for the broker, -i NAME as `pctl clients` shows it; -v says what the
# broker did ("2/2 confirmed in N ms"); --request --async shows each ticket
# as it is issued and each reply with its ticket; a message without a
# topic on a pubsub channel reaches only '#' subscribers, as the help says;
# a second -c or -t is refused; at a terminal ppub says it reads stdin.
. "$(dirname "$0")/lib.sh"

start_broker # jobs (queue), alerts (broadcast), logs (pubsub)
P=$BUILD/ppub S=$BUILD/psub
PORT=${PUBSUB_BROKER##*:}

recv_start() { # NAME PSUB-ARGS...: a psub in the background, subscribed
    local name=$1
    shift
    "$S" -v "$@" > "$name.out" 2> "$name.err" &
    eval "pid_$name=$!"
    wait_for_file_lines "$name.err" 1
}
recv_wait() { # NAME...: each ends by itself
    local n pid
    for n in "$@"; do
        eval "pid=\$pid_$n"
        wait "$pid" || fail "psub $n exited $?: $(cat "$n.err")"
    done
}
payloads() { sed 's/^\[[^]]*\] //' "$1.out" | tr '\n' ' '; }

# -m, -f, -l and -t CHANNEL:TOPIC (no -c), in one subscriber's view.
recv_start all -c logs -n 5 --timeout 5000
printf 'from a file\nsecond line' > msg.txt
expect_run 0 "" "$P" -t logs:a/b -m one -m two
expect_run 0 "" "$P" -t logs:a/b -f msg.txt
printf 'l1\nl2\n' | expect_run 0 "" "$P" -t logs:a/b -l
recv_wait all
expect_eq "$(sed 's/^\[[^]]*\] //' all.out | tr '\n' '|')" "one|two|from a file|second line|l1|l2|" \
    "-m, -f (the whole file one message) and -l"
expect_eq "$(grep -c 'a/b' all.out)" 5 "messages with topic a/b on logs"

# $PUBSUB_CHANNEL, -H and -p, -r.
PUBSUB_CHANNEL=logs expect_run 0 "" "$P" -H 127.0.0.1 -p "$PORT" -t room/temp -r 21.5
expect_eq "$("$S" -c logs -t room/temp -n 1 --timeout 3000 -F '%t %p %r')" "room/temp 21.5 1" \
    "-r retained the value, published to \$PUBSUB_CHANNEL through -H/-p"
expect_run 0 "" "$P" -t logs:room/temp -r -m "" # an empty retained message clears it

# A topic-less message on a pubsub channel: '#' subscribers get it, others do not.
recv_start hash -c logs -n 1 --timeout 3000
recv_start other -c logs -t 'x/#' --timeout 1500
expect_run 0 "" "$P" -c logs "no topic"
recv_wait hash other
expect_eq "$(payloads hash)" "no topic " "a '#' subscriber got the topic-less message"
expect_eq "$(payloads other)" "" "an 'x/#' subscriber got nothing"

# -v: the broker's answer, and the receipts of --sync.
expect_run 0 "" "$P" -v -c logs -t a "quiet"
grep -Eq '^ppub: 1 message taken by the broker in [0-9]+ ms$' err || fail "ppub -v: $(cat err)"
recv_start r1 -c alerts -n 2 --timeout 5000
recv_start r2 -c alerts -n 2 --timeout 5000
expect_run 0 "" "$P" -v -c alerts --sync a b
expect_eq "$(grep -Ec '^ppub: 2/2 confirmed in [0-9]+ ms$' err)" 2 "a '2/2 confirmed' line for each --sync message ($(cat err))"
grep -Eq '^ppub: 2 messages confirmed by their receivers in [0-9]+ ms$' err || fail "ppub -v --sync summary: $(cat err)"
recv_wait r1 r2

# --request --async: tickets as issued, replies as picked up.
recv_start resp -c jobs --reply 'wc -c' -n 3 --timeout 5000
expect_run 0 "" "$P" -c jobs --request --async a bb ccc
expect_eq "$(tr '\n' '|' < out)" "ticket 1 issued|ticket 2 issued|ticket 3 issued|ticket 1: 1|ticket 2: 2|ticket 3: 3|" \
    "ppub --request --async"
recv_wait resp
# The synchronous form prints the replies alone.
recv_start resp2 -c jobs --reply 'wc -c' -n 1 --timeout 5000
expect_eq "$("$P" -c jobs --request abcd)" "4" "ppub --request"
recv_wait resp2

# -i NAME is the client name the broker shows.
"$P" -i my-feeder -c logs -t a -l < <(sleep 30) &
feeder=$!
wait_until 10 "the client my-feeder" eval '"$BUILD/pctl" clients --json | jq -e "any(.[]; .name == \"my-feeder\")" > /dev/null'
kill "$feeder"

# Refused: two channels, two topics, two sources, an empty name.
expect_usage "one channel per run" "$P" -c logs -c alerts x
expect_usage "one topic per run" "$P" -c logs -t a -t b x
expect_usage "one source per run" "$P" -c logs -f msg.txt x
expect_usage "no channel given" env -u PUBSUB_CHANNEL "$P" -t nochannel x
expect_usage "did you mean --retain" "$P" -c logs --retian x

# At a terminal ppub says that it reads stdin (and reads it).
/usr/bin/python3 - "$P" > tty.out << 'PY'
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "-c", "logs", "-t", "tty/x"])
out = b""
while b"Ctrl-D" not in out:
    chunk = os.read(fd, 1024)
    if not chunk:
        break
    out += chunk
os.write(fd, b"typed\n\x04")
_, status = os.waitpid(pid, 0)
print(out.decode().strip(), os.waitstatus_to_exitcode(status))
PY
expect_eq "$(cat tty.out)" "ppub: reading messages from stdin, one a line; end with Ctrl-D 0" "ppub at a terminal"
echo "ok: -m, -f, -l, -r, CHANNEL:TOPIC, \$PUBSUB_CHANNEL, -H/-p, -i, -v, async tickets, topic-less pubsub, terminal notice"
