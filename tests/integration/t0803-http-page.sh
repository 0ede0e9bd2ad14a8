#!/bin/bash
# The live page at / in a real browser: headless Chromium loads it from a
# running broker while messages flow on "logs"; the page's DOM must show
# the channel with an input rate above zero and the live tail must show
# the messages of the pattern it was given.  The endpoint has a token, as
# beyond loopback: the browser is given it as #token=... and must get
# through the login form (which trades it for the login cookie and loads
# / again) before the page and its requests are let through.  The
# screenshot is left in the test's log directory (t0803-http-page.png)
# for a person to look at.
. "$(dirname "$0")/lib.sh"
command -v chromium > /dev/null || fail "chromium is not installed"
http_conf
head -c 24 /dev/urandom | base64 | tr -d '=+/' > token
chmod 600 token
sed -i "s|listen = \"127.0.0.1:$HTTP\";|& token_file = \"$SCRATCH/token\";|" b.conf
grep -q token_file b.conf || fail "no token_file in b.conf"
start_broker -c b.conf
# Messages flow at a gentle pace for as long as the browser looks.
"$BUILD/ppub" -c logs -t app/web -n 1000000 --size 16 --rate 400 2> ppub.err &
"$BUILD/ppub" -c logs -t db/main -n 1000000 --size 16 --rate 50 2> ppub2.err &
wait_until 10 "messages on logs" eval '[ "$(chan_stat logs messages)" -gt 0 ] 2> /dev/null'

shot=${TEST_LOGS:-$SCRATCH}/t0803-http-page.png
rm -f "$shot"
# Virtual time runs the page's one-second refreshes without waiting them
# out in real time; the rates are taken over five of them.
timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$SCRATCH/chromium" --virtual-time-budget=4000 --window-size=1200,800 \
    --screenshot="$shot" --dump-dom "http://127.0.0.1:$HTTP/?channel=logs&pattern=app/%23#token=$(cat token)" \
    > dom.html 2> chromium.err || fail "chromium exited $?: $(grep -v dbus chromium.err | tail -3)"

/usr/bin/python3 - dom.html << 'PY' || fail "the page's DOM: $(head -c 3000 dom.html)"
import html.parser, sys

class Page(html.parser.HTMLParser):
    """Collects the rate cell of each channel row and the tail's lines."""
    def __init__(self):
        super().__init__()
        self.row, self.rates, self.in_tail, self.tail = None, {}, 0, ""
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-channel" in a:
            self.row = a["data-channel"]
        if tag == "td" and a.get("class") == "rate" and self.row:
            self.rates[self.row] = float(a["data-rate"])
        if a.get("id") == "tail":
            self.in_tail = 1
    def handle_data(self, data):
        if self.in_tail:
            self.tail += data

p = Page()
p.feed(open(sys.argv[1]).read())
print("rates:", p.rates, file=sys.stderr)
assert "logs" in p.rates and "jobs" in p.rates, "channel rows"
assert p.rates["logs"] > 0, "logs' rate is %s" % p.rates["logs"]
assert p.rates["jobs"] == 0, "jobs' rate is %s" % p.rates["jobs"]
assert "app/web" in p.tail, "no app/web line in the tail"
assert "db/main" not in p.tail, "the tail ignored its pattern"
PY
[ -s "$shot" ] || fail "no screenshot"
echo "ok: Chromium logged in with the token, shows logs with a rate above zero and a live tail of app/#; screenshot $shot"
