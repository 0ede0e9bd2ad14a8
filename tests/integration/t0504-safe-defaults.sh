#!/bin/bash
# Safe defaults: without a security section the broker says so at start
# and binds plain tcp on loopback only; a non-loopback endpoint is refused
# with one clear line (from the file or from -e), or bound with a warning
# under broker.insecure = true; ipc socket files are 0660 by default;
# --check reports security mistakes as FILE:LINE; the documented example
# of conf/brokerd.conf, its security part uncommented, passes --check; and
# a SIGHUP cannot switch security on behind the clients' backs.
. "$(dirname "$0")/lib.sh"
C=$BUILD/pctl

# Built-in defaults (endpoints from -e): the notice, loopback, a 0660 socket.
PORT=$(free_port)
export PUBSUB_BROKER=tcp://127.0.0.1:$PORT
"$BUILD/brokerd" -e "$PUBSUB_BROKER" -e "ipc://$SCRATCH/d.sock" >> brokerd.log 2>&1 &
BROKER_PID=$!
wait_until 20 "the broker to answer" eval '"$C" --timeout 300 ping > /dev/null 2>&1'
grep -q "no security section: clients are neither authenticated nor encrypted" brokerd.log ||
    fail "the broker does not say it runs without security"
expect_eq "$(stat -c %a d.sock)" 660 "mode of a default ipc socket"
stop_broker

# A non-loopback endpoint: refused at once, one line, nothing bound.
OTHER=$(free_port)
timeout 10 "$BUILD/brokerd" -e "tcp://0.0.0.0:$OTHER" > open.log 2>&1
expect_eq "$?" 1 "exit status of brokerd -e tcp://0.0.0.0:$OTHER"
expect_eq "$(grep -c 'error' open.log)" 1 "error lines"
grep -q "refusing to listen on tcp://0.0.0.0:$OTHER: not a loopback address.*broker.insecure = true" open.log ||
    fail "no clear refusal: $(cat open.log)"

# broker.insecure = true: bound, with a warning; reachable on 127.0.0.1.
cat > insecure.conf << EOF
broker = {
  endpoints = [ "tcp://0.0.0.0:$PORT" ];
  data_dir = "$SCRATCH/data";
  insecure = true;
};
EOF
start_broker -c insecure.conf
grep -q "warning: tcp://0.0.0.0:$PORT is plain tcp beyond loopback" brokerd.log ||
    fail "no warning about plain tcp beyond loopback"
"$BUILD/ppub" -c logs -t a "still works" || fail "ppub to the insecure broker exited $?"

# Security cannot be switched on by a reload: the sockets carry it.
"$C" keygen server > /dev/null && "$C" keygen admin > admin.z85 || fail "pctl keygen exited $?"
cat >> insecure.conf << EOF
security = { clients = ( { name = "admin"; public_key = "$(cat admin.z85)"; allow = [ "admin" ]; } ); };
EOF
sed -i "s|insecure = true;|insecure = true; curve = { secret_key_file = \"$SCRATCH/server.key\"; };|" insecure.conf
"$BUILD/brokerd" --check -c insecure.conf > /dev/null || fail "the secure file does not pass --check"
kill -HUP "$BROKER_PID"
wait_for_log "reload refused: adding or removing the security section needs a restart"
"$C" ping > /dev/null || fail "the broker stopped answering plain clients after the refused reload"
stop_broker

# --check: each security mistake with its line.
cat > bad.conf << EOF
broker = {
  endpoints = [ "tcp://192.0.2.1:$PORT", "tcp://127.0.0.1:$PORT" ];
  curve = { secret_key_file = "server.pub"; };
};
EOF
"$BUILD/brokerd" --check -c bad.conf > out 2>&1
expect_eq "$?" 1 "--check of bad.conf"
grep -q "^bad.conf:2: endpoint \"tcp://192.0.2.1:$PORT\": not a loopback address" out || fail "line 2: $(cat out)"
grep -q "^bad.conf:3: secret_key_file \"server.pub\" is readable by everyone" out ||
    fail "line 3, a key file anyone can read: $(cat out)"
cat > bad2.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT", "ipc://$SCRATCH/x.sock" ];
};
security = {
  clients = ( { name = "a"; uid = 0; } );
};
EOF
"$BUILD/brokerd" --check -c bad2.conf > out 2>&1
expect_eq "$?" 1 "--check of bad2.conf"
grep -q "^bad2.conf:2: endpoint \"tcp://127.0.0.1:$PORT\": without broker.curve a tcp client cannot be identified" out ||
    fail "line 2 of bad2.conf: $(cat out)"
expect_eq "$(wc -l < out)" 1 "error lines for bad2.conf"

# The documented example, its security part uncommented.
cp server.key broker.key
sed -e 's|^  # curve = |  curve = |' -e 's|^  # ipc_mode|  ipc_mode|' \
    -e '/^# security = {/,/^# };/s|^# ||' -e "s|/etc/pubsub/broker.key|$SCRATCH/broker.key|" \
    -e 's|gid = "pubsub-workers"|gid = 4244|' \
    -e "s|\"/var/lib/pubsub\"|\"$SCRATCH/data\"|" "$ROOT/conf/brokerd.conf" > example.conf
grep -q '^security = {' example.conf && grep -q '^  curve = ' example.conf ||
    fail "the example's security part was not found to uncomment"
"$BUILD/brokerd" --check -c example.conf > out 2>&1 || fail "the example's security part: $(cat out)"
echo "ok: loopback-only default said at start, non-loopback refused or warned (insecure), 0660 ipc, --check lines, the documented example, no security by reload"
