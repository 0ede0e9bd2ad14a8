#!/bin/bash
# Socket activation: systemd-socket-activate owns the listening tcp socket
# and starts brokerd on the first connection; brokerd takes the passed
# socket for its matching endpoint (ZMQ_USE_FD), binds the others itself,
# warns about a passed socket no endpoint claims, and clients get through;
# a passed ipc socket is taken by its path and left to systemd at exit.
. "$(dirname "$0")/lib.sh"
command -v systemd-socket-activate > /dev/null || fail "systemd-socket-activate is not installed"

PORT=$(free_port)
EXTRA=$(free_port)
cat > sa.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT", "ipc://$SCRATCH/sa.sock" ];
  data_dir = "$SCRATCH/data";
};
channels = ( { name = "jobs"; type = "queue"; } );
EOF
systemd-socket-activate -l "127.0.0.1:$PORT" -l "127.0.0.1:$EXTRA" \
    "$BUILD/brokerd" -c sa.conf >> brokerd.log 2>&1 &
BROKER_PID=$! # socket-activate execs brokerd: the same process
export PUBSUB_BROKER="tcp://127.0.0.1:$PORT"
wait_for_log "Listening on 127.0.0.1:$PORT"
[ -S sa.sock ] && fail "brokerd started before any connection"

# The first connection starts the broker; the ping waits for it.
"$BUILD/pctl" --timeout 10000 ping > ping.out || fail "pctl ping through the passed socket exited $?"
grep -q "^pong from" ping.out || fail "ping: $(cat ping.out)"
wait_for_log "tcp://127.0.0.1:$PORT: using the socket passed by systemd"
wait_for_log "1 socket passed by systemd match(es)? no endpoint"
[ -S sa.sock ] || fail "the ipc endpoint was not bound next to the passed socket"

# Real traffic over the passed socket and the ipc endpoint alike.
echo "via-tcp" | "$BUILD/ppub" -c jobs || fail "ppub over tcp exited $?"
echo "via-ipc" | "$BUILD/ppub" -b "ipc://$SCRATCH/sa.sock" -c jobs || fail "ppub over ipc exited $?"
"$BUILD/psub" -c jobs -n 2 --timeout 5000 > got || fail "psub exited $?"
expect_eq "$(tr '\n' ' ' < got)" "via-tcp via-ipc " "messages through the activated broker"

stop_broker
expect_eq "$?" 0 "brokerd's exit status"

# brokerd.socket passes an ipc socket too: the broker takes it by its path
# and leaves the file, which is systemd's, in place when it stops.
mv brokerd.log tcp.log
systemd-socket-activate -l "$SCRATCH/sa.sock" "$BUILD/brokerd" -c sa.conf >> brokerd.log 2>&1 &
BROKER_PID=$!
wait_for_log "Listening on $SCRATCH/sa.sock"
"$BUILD/pctl" -b "ipc://$SCRATCH/sa.sock" --timeout 10000 ping > ping.out || fail "pctl ping through the passed ipc socket exited $?"
wait_for_log "ipc://$SCRATCH/sa.sock: using the socket passed by systemd"
echo "via-passed-ipc" | "$BUILD/ppub" -b "ipc://$SCRATCH/sa.sock" -c jobs || fail "ppub over the passed ipc socket exited $?"
"$BUILD/psub" -c jobs -n 1 --timeout 5000 > got || fail "psub over tcp exited $?"
expect_eq "$(cat got)" via-passed-ipc "the message through the passed ipc socket"
stop_broker
expect_eq "$?" 0 "brokerd's exit status"
[ -S sa.sock ] || fail "brokerd removed the ipc socket systemd passed to it"
echo "ok: started on the first connection, passed tcp and ipc sockets used, unclaimed one warned about, messages through"
