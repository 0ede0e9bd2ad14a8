#!/bin/bash
# Output for scripts: every pctl command with --json prints JSON that jq
# reads, of the documented shape (status, channels, clients, ping a line per
# round trip, keygen); a failure prints nothing on stdout, so a script never
# parses half a document.  psub --format json -v on a queue: one object a
# line with the receive time.
. "$(dirname "$0")/lib.sh"
start_broker
C=$BUILD/pctl

# ---- status -------------------------------------------------------------------
$C status --json > status.json || fail "pctl status --json exited $?"
expect_eq "$(wc -l < status.json)" 1 "lines of pctl status --json"
jq -e '(.version | type) == "string" and (.broker_id | test("^[0-9a-f]{16}$"))
       and (.uptime_s | type) == "number" and (.endpoints | index("tcp://127.0.0.1:'"$PORT"'"))
       and (.channels == 3) and (.messages_in | type) == "number" and (has("gateway") | not)' \
    status.json > /dev/null || fail "pctl status --json: $(cat status.json)"

# ---- channels -------------------------------------------------------------------
"$BUILD/ppub" -c jobs "one" "two" || fail "ppub exited $?"
$C channels --json > channels.json || fail "pctl channels --json exited $?"
expect_eq "$(jq -r '.[] | "\(.name):\(.type):\(.queued)"' channels.json | sort | tr '\n' ' ')" \
    "alerts:broadcast:0 jobs:queue:2 logs:pubsub:0 " "pctl channels --json"
jq -e 'all(.[]; (.subscribers | type) == "number" and (.durable | type) == "boolean")' channels.json \
    > /dev/null || fail "channel fields: $(cat channels.json)"

# ---- clients --------------------------------------------------------------------
"$BUILD/psub" -v -c logs -t 'a/#' -t 'b/#' --timeout 10000 > /dev/null 2> sub.err &
pid=$!
wait_for_file_lines sub.err 1
$C clients --json > clients.json || fail "pctl clients --json exited $?"
jq -e 'any(.[]; .name == "psub" and .subscriptions == 2) and any(.[]; .name == "pctl")' clients.json \
    > /dev/null || fail "pctl clients --json: $(cat clients.json)"
kill $pid
wait $pid

# ---- ping: one object a round trip ----------------------------------------------
$C ping --json -n 3 > ping.json || fail "pctl ping --json exited $?"
jq -se 'length == 3 and all(.[]; .endpoint == "tcp://127.0.0.1:'"$PORT"'" and .rtt_ms > 0)' ping.json \
    > /dev/null || fail "pctl ping --json -n 3: $(cat ping.json)"

# ---- keygen --------------------------------------------------------------------
$C keygen --json node > key.json || fail "pctl keygen --json exited $?"
jq -e '(.public_key | length) == 40 and .key_file == "node.key" and .pub_file == "node.pub"' key.json \
    > /dev/null || fail "pctl keygen --json: $(cat key.json)"
grep -qF "public_key = \"$(jq -r .public_key key.json)\";" node.pub ||
    fail "the public key printed is not the one in node.pub"
expect_eq "$(stat -c %a node.key)" 600 "mode of node.key"

# ---- failures print no JSON -------------------------------------------------------
expect_exit 2 $C --json --timeout 300 -b "tcp://127.0.0.1:$(free_port)" status > none.json 2> none.err
[ -s none.json ] && fail "pctl --json printed something for an unreachable broker: $(cat none.json)"
grep -q "cannot reach broker" none.err || fail "no error line: $(cat none.err)"
expect_exit 1 $C --json keygen node > again.json 2> /dev/null
[ -s again.json ] && fail "pctl keygen --json printed something when it refused: $(cat again.json)"

# ---- psub --format json -v on a queue ------------------------------------------
"$BUILD/psub" -v -c jobs -n 2 --format json --timeout 3000 > q.json 2> /dev/null || fail "psub exited $?"
jq -se 'map(.payload) == ["one", "two"] and all(.[]; (.time | type) == "number" and .redelivered == false
        and .channel == "jobs" and (.seq | type) == "number")' q.json > /dev/null ||
    fail "psub --format json -v on a queue: $(cat q.json)"
echo "ok: pctl status, channels, clients, ping and keygen --json read by jq; failures print none; psub json -v"
