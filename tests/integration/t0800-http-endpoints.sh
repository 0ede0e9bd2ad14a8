#!/bin/bash
# The HTTP monitoring endpoint (broker.http): off unless configured; when
# on, /status, /channels and /clients answer with the same JSON as `pctl
# status|channels|clients --json` (one builder for both), anything else is
# 404, and only GET and HEAD are taken.
. "$(dirname "$0")/lib.sh"
C=$BUILD/pctl

# ---- off by default: nothing listens on the port a file would name -------
HTTP=$(free_port)
start_broker
curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$HTTP/status" && fail "an HTTP endpoint without broker.http"
grep -q "monitoring on" brokerd.log && fail "the log speaks of monitoring without broker.http"
stop_broker || fail "brokerd exited $?"

# ---- "http = { };" listens on 127.0.0.1:8242 (checked, not bound: the port
# may be another's) ----------------------------------------------------------------
printf 'broker = { http = { }; };\n' > d.conf
"$BUILD/brokerd" --check -c d.conf > /dev/null || fail "--check refused http = { }"
printf 'broker = { http = { token_file = "nothing"; }; };\n' > d.conf
expect_run 1 'd.conf:1: token_file ".*nothing": No such file' "$BUILD/brokerd" --check -c d.conf

# ---- on ---------------------------------------------------------------------
http_conf
"$BUILD/brokerd" --check -c b.conf > /dev/null || fail "--check refused broker.http"
start_broker -c b.conf
wait_for_log "monitoring on http://127.0.0.1:$HTTP/"
U=http://127.0.0.1:$HTTP
"$BUILD/ppub" -c jobs one two || fail "ppub exited $?"
"$BUILD/ppub" -c logs -t a/b -n 3 hello || fail "ppub exited $?"

# /channels is pctl's document, byte for byte once nothing moves.
curl -sf "$U/channels" > http.json || fail "GET /channels failed"
$C channels --json > pctl.json || fail "pctl channels --json exited $?"
expect_eq "$(jq -S . http.json)" "$(jq -S . pctl.json)" "/channels against pctl channels --json"
expect_eq "$(jq -r '.[] | select(.name == "logs") | "\(.messages) \(.bytes_in)"' http.json)" "3 15" \
    "messages and bytes of logs"
expect_eq "$(jq -r '.[] | select(.name == "jobs") | .queued' http.json)" 2 "queued on jobs"

# /status: the same keys as pctl's, and the same broker.
curl -sf "$U/status" > http.json || fail "GET /status failed"
$C status --json > pctl.json || fail "pctl status --json exited $?"
expect_eq "$(jq -c 'keys' http.json)" "$(jq -c 'keys' pctl.json)" "keys of /status"
expect_eq "$(jq -r .broker_id http.json)" "$(jq -r .broker_id pctl.json)" "broker_id of /status"

# /clients: a subscriber shows, with pctl's fields.
"$BUILD/psub" -v -c logs -t 'x/#' --timeout 20000 > /dev/null 2> sub.err &
wait_for_file_lines sub.err 1
curl -sf "$U/clients" > http.json || fail "GET /clients failed"
$C clients --json > pctl.json || fail "pctl clients --json exited $?"
jq -e 'any(.[]; .name == "psub" and .subscriptions == 1)' http.json > /dev/null ||
    fail "/clients: $(cat http.json)"
expect_eq "$(jq -c '[.[0] | keys]' http.json)" "$(jq -c '[.[0] | keys]' pctl.json)" "keys of /clients"

# Headers, HEAD, 404 and 405.
curl -sfI "$U/status" | grep -qi '^content-type: application/json' || fail "Content-Type of /status"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/nothing")" 404 "GET /nothing"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$U/status")" 405 "POST /status"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/")" 200 "GET /"

# A reload that changes broker.http says it waits for a restart.
sed -i "s/127.0.0.1:$HTTP/127.0.0.1:$(free_port)/" b.conf
kill -HUP "$BROKER_PID"
wait_for_log "broker.http changes take effect when the broker restarts"
curl -sf "$U/status" > /dev/null || fail "the endpoint went away on reload"
stop_broker || fail "brokerd exited $?"
echo "ok: off by default; /status, /channels, /clients as pctl --json; 404, 405, HEAD; reload"
