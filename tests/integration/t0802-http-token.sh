#!/bin/bash
# The HTTP endpoint's bearer token (broker.http.token_file): with one,
# every request, the page at / included, needs "Authorization: Bearer
# TOKEN" or the login cookie (401 without or with a wrong one); / answers
# a browser without either with the login form; /login takes the token as
# the header and answers with an HttpOnly, SameSite=Strict cookie that is
# not the token and opens everything (the page's fetch and server-sent
# events included); a listen address beyond loopback without a token is
# refused by --check and at start with one line; the token file must
# belong to the broker's user and be closed to others.
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
for p in / /metrics /status /channels /clients "/tail?channel=logs"; do
    expect_eq "$(code "$U$p")" 401 "GET $p without a token"
    expect_eq "$(code -H "Authorization: Bearer wrong$(cat token)" "$U$p")" 401 "GET $p with a wrong token"
done
expect_eq "$(code -H "Authorization: Bearer $(cut -c2- token)" "$U/status")" 401 "a token one character short"
expect_eq "$(code -H "Authorization: Basic $(cat token)" "$U/status")" 401 "another scheme"
curl -s -D headers -o /dev/null "$U/metrics"
grep -qi '^www-authenticate: Bearer' headers || fail "no WWW-Authenticate on a 401"
for p in / /metrics /status /channels /clients; do
    expect_eq "$(code -H "Authorization: Bearer $(cat token)" "$U$p")" 200 "GET $p with the token"
done
# A browser without the token gets the login form, not the page.
curl -s -o page.html "$U/"
grep -q 'id="login"' page.html || fail "/ without a token did not answer the login form: $(head -c 300 page.html)"
grep -q 'id="channels"' page.html && fail "/ without a token served the live page"

# ---- the login cookie ---------------------------------------------------------
expect_eq "$(code -D login.h "$U/login")" 401 "GET /login without a token"
expect_eq "$(code -D login.h -H "Authorization: Bearer wrong$(cat token)" "$U/login")" 401 "GET /login with a wrong token"
grep -qi '^set-cookie' login.h && fail "a failed login set a cookie: $(grep -i '^set-cookie' login.h)"
expect_eq "$(code -D login.h -H "Authorization: Bearer $(cat token)" "$U/login")" 204 "GET /login with the token"
cookie=$(sed -n 's/^[Ss]et-[Cc]ookie: \(brokerd_session=[^;]*\);.*/\1/p' login.h | tr -d '\r')
[ -n "$cookie" ] || fail "/login set no cookie: $(cat login.h)"
grep -i '^set-cookie' login.h | grep -q 'HttpOnly' || fail "the cookie is not HttpOnly"
grep -i '^set-cookie' login.h | grep -q 'SameSite=Strict' || fail "the cookie is not SameSite=Strict"
grep -qF "$(cat token)" login.h && fail "the cookie carries the token itself"
for p in / /metrics /status /channels /clients; do
    expect_eq "$(code -b "$cookie" "$U$p")" 200 "GET $p with the login cookie"
done
# Server-sent events (an EventSource sends the cookie, never a header).
tail_code=$(curl -s -o tail.out -w '%{http_code}' --max-time 2 -b "$cookie" "$U/tail?channel=logs")
expect_eq "$tail_code" 200 "GET /tail with the login cookie"
grep -q '^retry:' tail.out || fail "no event stream with the login cookie: $(head -c 200 tail.out)"
expect_eq "$(code -b "${cookie%?}x" "$U/status")" 401 "GET /status with a wrong cookie"
expect_eq "$(code -b "brokerd_session=" "$U/")" 401 "GET / with an empty cookie"
# A restart draws a new cookie: the old one no longer opens anything.
stop_broker || fail "brokerd exited $?"
start_broker -c b.conf
expect_eq "$(code -b "$cookie" "$U/status")" 401 "the login cookie of a broker since restarted"
stop_broker || fail "brokerd exited $?"
echo "ok: non-loopback without token refused; token file checked; 401 without (the login form at /), 200 with the token or the login cookie"
