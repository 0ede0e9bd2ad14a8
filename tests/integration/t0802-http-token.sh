#!/bin/bash
# The HTTP endpoint's bearer token (broker.http.token_file): with one,
# every request but the page itself needs "Authorization: Bearer TOKEN"
# (401 without or with a wrong one); a listen address beyond loopback
# without a token is refused by --check and at start with one line; the
# token file must belong to the broker's user and be closed to others.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port) HTTP=$(free_port)
conf() { # LISTEN [TOKEN_FILE]: b.conf with that http group
    local tf=${2:+"token_file = \"$2\";"}
    cat > b.conf << EOF2
broker = {
  endpoints = [ "tcp://127.0.0.1:$PORT" ];
  data_dir = "$SCRATCH/data";
  http = { listen = "$1"; $tf };
};
EOF2
}

# ---- beyond loopback without a token: refused, in one line ------------------
conf "0.0.0.0:$HTTP"
expect_run 1 "b.conf:4: http listen \"0.0.0.0:$HTTP\": not a loopback address.*token_file" \
    "$BUILD/brokerd" --check -c b.conf
expect_run 1 "http listen \"0.0.0.0:$HTTP\": not a loopback address" "$BUILD/brokerd" -c b.conf
conf "[::]:$HTTP"
expect_run 1 "not a loopback address" "$BUILD/brokerd" --check -c b.conf
conf "localhost:$HTTP"
expect_run 1 "the host must be an IPv4 address" "$BUILD/brokerd" --check -c b.conf

# ---- the token file is a secret ---------------------------------------------
head -c 24 /dev/urandom | base64 | tr -d '=+/' > token
chmod 644 token
conf "0.0.0.0:$HTTP" token
expect_run 1 "token_file \".*token\" \(owner uid 0, mode 0644\) must belong to uid 0 and be closed" \
    "$BUILD/brokerd" --check -c b.conf
chmod 600 token
"$BUILD/brokerd" --check -c b.conf > /dev/null || fail "--check refused a good token file beyond loopback"
if [ "$(id -u)" = 0 ]; then
    chown 65534 token
    expect_run 1 "owner uid 65534" "$BUILD/brokerd" --check -c b.conf
    chown 0 token
fi
echo short > short
chmod 600 short
conf "127.0.0.1:$HTTP" short
expect_run 1 "must hold one line of 16 to 1024 printable characters" "$BUILD/brokerd" --check -c b.conf

# ---- enforced (on loopback: tests reach 127.0.0.0/8 only) -------------------
conf "127.0.0.1:$HTTP" token
start_broker -c b.conf
U=http://127.0.0.1:$HTTP
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
for p in /metrics /status /channels /clients "/tail?channel=logs"; do
    expect_eq "$(code "$U$p")" 401 "GET $p without a token"
    expect_eq "$(code -H "Authorization: Bearer wrong$(cat token)" "$U$p")" 401 "GET $p with a wrong token"
done
expect_eq "$(code -H "Authorization: Bearer $(cut -c2- token)" "$U/status")" 401 "a token one character short"
expect_eq "$(code -H "Authorization: Basic $(cat token)" "$U/status")" 401 "another scheme"
curl -s -D headers -o /dev/null "$U/metrics"
grep -qi '^www-authenticate: Bearer' headers || fail "no WWW-Authenticate on a 401"
for p in /metrics /status /channels /clients; do
    expect_eq "$(code -H "Authorization: Bearer $(cat token)" "$U$p")" 200 "GET $p with the token"
done
# The page holds no figure and a browser cannot send the header: it is served.
expect_eq "$(code "$U/")" 200 "GET / without a token"
stop_broker || fail "brokerd exited $?"
echo "ok: non-loopback without token refused; token file checked; 401 without, 200 with"
