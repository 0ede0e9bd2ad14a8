#!/bin/bash
# Issue 17.7, administration at run time: pctl create (with the options of
# a declared channel), delete (subscribers detached, messages, retained
# values and a durable queue's files gone), purge (a queue's waiting
# messages), retained NAME [PATTERN] (list, --clear), subscriptions, and
# clients with each one's address, channels and patterns; a publisher
# connected across the deletion of its channel.  A reload
# (SIGHUP) keeps channels made at run time and does not bring back a
# declared channel deleted on purpose.  Every one of these needs the
# admin right.
. "$(dirname "$0")/lib.sh"
P=$BUILD/ppub S=$BUILD/psub C=$BUILD/pctl

start_broker # jobs (queue), alerts (broadcast), logs (pubsub)

# create, and its refusals.
expect_run 0 "" "$C" create work --type queue --durable --max-queued 5
expect_eq "$(chan_stat work type)/$(chan_stat work durable)" "queue/true" "the queue pctl created"
expect_run 4 "^pctl: channel 'work' exists already \\(queue\\)$" "$C" create work --type queue
expect_run 4 "^pctl: 'durable' is for queues; 'x' would be a pubsub$" "$C" create x --type pubsub --durable
expect_usage "create needs --type" "$C" create x
expect_usage "go with create" "$C" channels --durable
expect_run 4 "max_queued" "$C" create y --type queue --max-queued 0
"$P" -c work 1 2 3 4 5 2> /dev/null || fail "ppub to work exited $?"
expect_run 4 "queue 'work' is full" "$P" -c work 6
[ -d data/queues/work ] || fail "no store of the durable queue pctl created"

# purge: the waiting messages go.
expect_run 0 "" "$C" --json purge work
expect_eq "$(jq -c . out)" '{"channel":"work","purged":5,"unacked":0}' "pctl purge's answer"
expect_eq "$(chan_stat work queued)" 0 "messages in work after purge"
expect_run 4 "^pctl: purge is for queue channels; 'logs' is a pubsub$" "$C" purge logs

# retained: list, with a pattern, clear.
for t in a/b a/c z; do "$P" -c logs -t "$t" -r "value of $t" || fail "ppub -r exited $?"; done
expect_run 0 "" "$C" retained logs
grep -Eq '^TOPIC +BYTES +SEQ$' out || fail "no table of retained topics: $(cat out)"
expect_eq "$(grep -c '^[az]' out)" 3 "retained topics listed"
expect_run 0 "" "$C" --json retained logs 'a/#'
expect_eq "$(jq -r '[.[].topic] | sort | join(",")' out)" "a/b,a/c" "retained topics under a/#"
expect_run 0 "" "$C" --json retained logs 'a/#' --clear
expect_eq "$(jq -r .cleared out)" 2 "retained values cleared"
expect_eq "$("$C" --json retained logs | jq -r '[.[].topic] | join(",")')" z "retained topics left"
expect_run 0 "" "$C" retained logs nothing/+
expect_eq "$(cat out)" "no retained values" "an empty list"

# subscriptions and clients: who listens where, from where.
"$S" -i watcher -c logs -t 'a/#' -t 'b/+' > /dev/null 2>&1 &
"$S" -i worker -c jobs > /dev/null 2>&1 &
wait_until 10 "the two subscribers" eval '[ "$("$C" --json subscriptions | jq length)" = 3 ]'
expect_run 0 "" "$C" --json subscriptions
expect_eq "$(jq -r '[.[] | "\(.name) \(.channel) \(.type) \(.pattern)"] | sort | join(",")' out)" \
    "watcher logs pubsub a/#,watcher logs pubsub b/+,worker jobs queue " "subscriptions"
expect_run 0 "" "$C" --json clients
expect_eq "$(jq -r '.[] | select(.name == "watcher") | "\(.address) \(.channels | join(" ")) \(.patterns | join(" "))"' out)" \
    "127.0.0.1 logs logs:a/# logs:b/+" "the watcher in pctl clients"
expect_eq "$(jq -r '.[] | select(.name == "worker") | .patterns | join(" ")' out)" "jobs" "the worker's"
expect_run 0 "" "$C" subscriptions
grep -Eq '^CLIENT +NAME +CHANNEL +TYPE +PATTERN +RESPONDER +UNACKED +DROPPED$' out || fail "subscriptions table: $(cat out)"

# delete: a declared channel with a subscriber, and the durable queue.
"$P" -c work "kept on disk" || fail "ppub to work exited $?"
expect_run 0 "" "$C" --json delete work
expect_eq "$(jq -c . out)" '{"deleted":"work","type":"queue","subscribers":0,"messages":1,"retained":0}' "pctl delete's answer"
[ -e data/queues/work ] && fail "the deleted queue's files are still there: $(ls -R data/queues)"
expect_run 0 "" "$C" delete logs
expect_eq "$(chan_stat logs type)" "" "logs after delete"
expect_eq "$("$C" --json subscriptions | jq -r '[.[].channel] | join(",")')" jobs "subscriptions after delete"
expect_run 4 "^pctl: unknown channel 'logs'$" "$C" delete logs

# A publisher still connected when its channel is deleted: its next
# message finds the channel gone (the broker remembers no freed channel
# for it) and makes it anew.
mkfifo feed.in
"$P" -c feed -t t < feed.in 2> feed.err &
feeder=$!
exec 7> feed.in
echo one >&7
messages_on_feed() { [ "$(chan_stat feed messages)" = "$1" ]; }
wait_until 10 "the first message on feed" messages_on_feed 1
expect_run 0 "" "$C" delete feed
echo two >&7
wait_until 10 "feed made anew by the second message" messages_on_feed 1
exec 7>&-
wait "$feeder" || fail "ppub exited $?: $(cat feed.err)"

# A reload keeps what was made at run time and what was deleted on purpose.
expect_run 0 "" "$C" create made --type broadcast
kill -HUP "$BROKER_PID"
wait_for_log "configuration reloaded"
expect_eq "$(chan_stat made type)" broadcast "a channel pctl created, after a reload"
expect_eq "$(chan_stat logs type)" "" "a declared channel deleted with pctl, after a reload"
expect_eq "$(chan_stat alerts type)" broadcast "a declared channel, after a reload"
expect_run 0 "" "$C" create logs --type pubsub --no-retain
expect_run 4 "does not retain" "$P" -c logs -t a -r "no retained values on it"
stop_broker

# The admin right: a client without it is refused each of these.
"$C" keygen server > /dev/null && "$C" keygen admin > admin.z85 && "$C" keygen ops > ops.z85 ||
    fail "pctl keygen exited $?"
PORT=$(free_port)
cat > sec.conf << EOF
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$SCRATCH/data";
           curve = { secret_key_file = "$SCRATCH/server.key"; }; };
channels = ( { name = "jobs"; type = "queue"; } );
security = { clients = (
  { name = "ops"; public_key = "$(cat ops.z85)"; allow = [ "publish:*", "send:*" ]; },
  { name = "admin"; public_key = "$(cat admin.z85)"; allow = [ "admin" ]; }
); };
EOF
export PUBSUB_CURVE_SERVER_KEY=$SCRATCH/server.pub PUBSUB_CURVE_KEY=$SCRATCH/admin.key
start_broker -c sec.conf
for cmd in "create q --type queue" "delete jobs" "purge jobs" "retained jobs" "subscriptions"; do
    # shellcheck disable=SC2086 # the words of the command
    expect_run 4 "admin" env PUBSUB_CURVE_KEY=$SCRATCH/ops.key "$C" $cmd
done
expect_eq "$(chan_stat jobs type)" queue "jobs after the refused delete"
expect_run 0 "" "$C" create q --type queue
expect_run 0 "" "$C" delete q
echo "ok: create, delete, purge, retained [--clear], subscriptions, clients' address and patterns; reload keeps run-time changes; admin right needed"
