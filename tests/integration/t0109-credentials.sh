#!/bin/bash
# Key and token files as systemd's LoadCredential= hands them to the
# DynamicUser= service of conf/brokerd.service: in $CREDENTIALS_DIRECTORY,
# owned by root, read-only, readable by the service alone (an ACL for its
# uid, whose mask shows as the group's bits: mode 0440; here the group is
# the broker's, which lets it read the same way).  brokerd, run as another
# user, accepts such files for broker.curve.secret_key_file and
# broker.http.token_file and serves with them; the same files outside that
# directory, or without it set, are refused as before (they belong to
# root), and so are files in it that others may read, anyone may write,
# another user owns, or a symlink that leads out of it.
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ]; then
    echo "ok: skipped: running brokerd as another user needs root"
    exit 0
fi
command -v setpriv > /dev/null || fail "setpriv is not installed"
U=65534 # the broker's user, as a dynamic uid would be
as_broker() { setpriv --reuid=$U --regid=$U --clear-groups "$@"; }
chmod 755 "$SCRATCH"

"$BUILD/pctl" keygen server > /dev/null && "$BUILD/pctl" keygen admin > admin.z85 ||
    fail "pctl keygen exited $?"
head -c 24 /dev/urandom | base64 | tr -d '=+/' > token
mkdir creds
cp server.key creds/curve.key
cp token creds/http.token
chown -R 0:$U creds
chmod 0550 creds
chmod 0440 creds/curve.key creds/http.token
mkdir data
chown $U data
chmod 700 data
PORT=$(free_port) HTTP=$(free_port)
conf() { # KEY_FILE TOKEN_FILE: b.conf with both
    cat > b.conf << EOF
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT" ];
  data_dir = "$SCRATCH/data";
  curve = { secret_key_file = "$1"; };
  http = { listen = "127.0.0.1:$HTTP"; token_file = "$2"; };
};
security = { clients = ( { name = "admin"; public_key = "$(cat admin.z85)"; allow = [ "admin" ]; } ); };
EOF
    chmod 644 b.conf
}
conf "$SCRATCH/creds/curve.key" "$SCRATCH/creds/http.token"

# ---- without CREDENTIALS_DIRECTORY: root's files are refused -----------------
as_broker env -u CREDENTIALS_DIRECTORY "$BUILD/brokerd" --check -c b.conf > out 2>&1
expect_eq "$?" 1 "--check of root's files without CREDENTIALS_DIRECTORY"
grep -q "secret_key_file \"$SCRATCH/creds/curve.key\" is owned by uid 0, not by the broker's ($U)" out ||
    fail "the key file was not refused: $(cat out)"
grep -q "token_file \"$SCRATCH/creds/http.token\" (owner uid 0, mode 0440) must belong to uid $U" out ||
    fail "the token file was not refused: $(cat out)"

# ---- with it: accepted, and the broker serves with them -------------------
as_broker env CREDENTIALS_DIRECTORY="$SCRATCH/creds" "$BUILD/brokerd" --check -c b.conf > out 2>&1 ||
    fail "--check refused systemd's credentials: $(cat out)"
export PUBSUB_CURVE_SERVER_KEY=$SCRATCH/server.pub PUBSUB_CURVE_KEY=$SCRATCH/admin.key
BROKER_WRAPPER="setpriv --reuid=$U --regid=$U --clear-groups env CREDENTIALS_DIRECTORY=$SCRATCH/creds" \
    start_broker -c b.conf
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
expect_eq "$(code -H "Authorization: Bearer $(cat token)" "http://127.0.0.1:$HTTP/status")" 200 \
    "GET /status with the token from the credential"
expect_eq "$(code "http://127.0.0.1:$HTTP/status")" 401 "GET /status without it"
expect_eq "$(awk '/^Uid:/ { print $3 }' "/proc/$BROKER_PID/status")" $U "the broker's uid"
grep -q "listening on tcp://127.0.0.1:$PORT (CURVE)" brokerd.log || fail "the broker does not speak CURVE"
stop_broker || fail "brokerd exited $?"

# ---- what the directory does not make good ----------------------------------
refused() { # FILE WHAT: that token file is refused even with CREDENTIALS_DIRECTORY
    conf "$SCRATCH/creds/curve.key" "$1"
    as_broker env CREDENTIALS_DIRECTORY="$SCRATCH/creds" "$BUILD/brokerd" --check -c b.conf > out 2>&1
    expect_eq "$?" 1 "--check of a token file $2"
    grep -q "token_file \"$1\" (owner uid" out || fail "a token file $2 was not refused: $(cat out)"
}
chmod u+w creds
cp token creds/everyone && chmod 0444 creds/everyone
refused "$SCRATCH/creds/everyone" "others may read"
cp token creds/writable && chgrp $U creds/writable && chmod 0640 creds/writable
refused "$SCRATCH/creds/writable" "its owner may write"
cp token creds/other && chown 1234:$U creds/other && chmod 0440 creds/other
refused "$SCRATCH/creds/other" "another user owns"
cp token outside && chown 0:$U outside && chmod 0440 outside
ln -s "$SCRATCH/outside" creds/link
refused "$SCRATCH/creds/link" "that is a symlink out of the directory"
refused "$SCRATCH/outside" "outside the directory"
echo "ok: root's read-only files in CREDENTIALS_DIRECTORY accepted for the key and the token, the broker serves with them; refused without the directory, outside it, or when others may read, anyone may write, another user owns"
