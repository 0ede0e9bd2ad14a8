#!/bin/bash
# ipc peers judged by the uid and groups the kernel reports (SO_PEERCRED),
# beside tcp with CURVE on the same broker (two ROUTERs, each client's
# answers on its own): the socket file gets broker.ipc_mode and
# broker.ipc_group, so a user outside the group cannot even connect; a
# uid rule, a gid rule matched by the primary group and one matched by a
# supplementary group give their rights; an unknown uid is refused at the
# handshake (exit 4) and logged; messages cross between ipc and tcp.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "ok: skipped: becoming other users needs root"; exit 0; }
command -v setpriv > /dev/null || fail "setpriv (util-linux) is not installed"
P=$BUILD/ppub S=$BUILD/psub C=$BUILD/pctl

# Other users must reach the socket in the scratch directory.
chmod 711 "$SCRATCH"
"$C" keygen server > /dev/null && "$C" keygen admin > admin.z85 || fail "pctl keygen exited $?"
PORT=$(free_port)
IPC=ipc://$SCRATCH/b.sock
# Group 4242 may open the socket file; group 4243 has rights.
cat > b.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT", "$IPC" ];
  data_dir = "$SCRATCH/data";
  curve = { secret_key_file = "$SCRATCH/server.key"; };
  ipc_mode = "0660";
  ipc_group = 4242;
};
security = { clients = (
  { name = "admin"; public_key = "$(cat admin.z85)"; allow = [ "admin", "publish:*", "subscribe:*" ]; },
  { name = "root"; uid = 0; allow = [ "admin", "publish:logs", "subscribe:logs" ]; },
  { name = "nobody"; uid = 65534; allow = [ "subscribe:logs" ]; },
  { name = "crew"; gid = 4243; allow = [ "publish:logs" ]; }
); };
EOF
export PUBSUB_CURVE_SERVER_KEY=$SCRATCH/server.pub PUBSUB_CURVE_KEY=$SCRATCH/admin.key
start_broker -c b.conf
expect_eq "$(stat -c '%a %g' b.sock)" "660 4242" "mode and group of the ipc socket"

# as UID GID GROUPS CMD...: CMD as that user (GROUPS: comma-separated, or "-" for none).
as() {
    local uid=$1 gid=$2 groups=$3
    shift 3
    if [ "$groups" = - ]; then
        setpriv --reuid "$uid" --regid "$gid" --clear-groups -- "$@"
    else
        setpriv --reuid "$uid" --regid "$gid" --groups "$groups" -- "$@"
    fi
}
unset PUBSUB_CURVE_SERVER_KEY PUBSUB_CURVE_KEY

# Outside group 4242 the file's mode keeps nobody out.
expect_run 2 'cannot reach' as 65534 65534 - "$P" -b "$IPC" --timeout 1000 -c logs -t a "no access"

# nobody, allowed into the file by group 4242: subscribes, may not publish.
as 65534 65534 4242 "$S" -v -b "$IPC" -c logs -n 3 --timeout 8000 > got 2> sub.err &
sub=$!
wait_for_file_lines sub.err 1
expect_run 4 "neither 'publish:logs' nor 'send:logs' is among the rights of nobody \(uid 65534\)" \
    as 65534 65534 4242 "$P" -b "$IPC" -c logs -t a "nobody publishes"
# crew by a supplementary group, crew by the primary group, root by uid, admin over tcp.
expect_run 0 '' as 23456 23456 4242,4243 "$P" -b "$IPC" -c logs -t a "from a supplementary group"
expect_run 0 '' as 23457 4243 4242 "$P" -b "$IPC" -c logs -t a "from the primary group"
expect_run 0 '' "$P" -b "$IPC" -c logs -t a "from root"
wait $sub || fail "nobody's psub exited $?"
expect_eq "$(sed 's/^\[[^]]*\] //' got | tr '\n' '|')" \
    "from a supplementary group|from the primary group|from root|" "what nobody received over ipc"
PUBSUB_CURVE_SERVER_KEY=server.pub PUBSUB_CURVE_KEY=admin.key \
    "$S" -v -c logs -n 1 --timeout 8000 > tcp.got 2> tcp.err &
sub=$!
wait_for_file_lines tcp.err 1
expect_run 0 '' "$P" -b "$IPC" -c logs -t a "from ipc to tcp"
wait $sub || fail "the tcp subscriber exited $?"
expect_eq "$(sed 's/^\[[^]]*\] //' tcp.got)" "from ipc to tcp" "what the CURVE subscriber received"

# Rights by uid: root may run pctl over ipc, crew may not; an unknown uid is refused.
expect_run 0 '' "$C" -b "$IPC" status
expect_run 4 "'admin' is not among the rights of crew" as 23457 4243 4242 "$C" -b "$IPC" status
expect_run 4 "refused this client" as 23458 23458 4242 "$P" -b "$IPC" -c logs -t a "stranger"
wait_for_log "refused a client from .*:23458:23458:[0-9]+ at the handshake: uid 23458 \(gid 23458 and more groups\) matches no uid or gid"
"$C" -b "$IPC" clients --json > clients.json || fail "pctl clients exited $?"
expect_eq "$(jq -r '.[] | select(.name == "pctl") | .user' clients.json)" "root (uid 0)" "who pctl is"
echo "ok: ipc socket mode and group, uid, primary and supplementary gid rules, unknown uid refused, ipc and tcp ROUTERs side by side"
