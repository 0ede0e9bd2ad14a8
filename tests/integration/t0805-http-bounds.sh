#!/bin/bash
# The HTTP endpoint's bounds, and that none of them stalls the broker: of
# 100 idle connections from one address at most 32 are kept (the rest are
# closed at once) while `pctl ping` stays fast and another address is still
# served; a request larger than the connection's memory is refused; a
# live tail whose reader does not read is cut off, not waited for; the
# next tail, opened after the last one closed, still gets its messages.
. "$(dirname "$0")/lib.sh"
http_conf '{ name = "logs"; type = "pubsub"; }'
start_broker -c b.conf
U=http://127.0.0.1:$HTTP

fast_pings() { # every round trip of five pings under 250 ms
    "$BUILD/pctl" ping --json -n 5 > ping.json || fail "pctl ping exited $?"
    jq -se 'length == 5 and all(.[]; .rtt_ms < 250)' ping.json > /dev/null ||
        fail "slow pings $1: $(jq -c -s 'map(.rtt_ms)' ping.json)"
}

# ---- 100 idle connections ---------------------------------------------------------
mkfifo go
/usr/bin/python3 - "$HTTP" > idle.out << 'PY' &
import socket, sys, time
socks = []
for _ in range(100):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    socks.append(s)
time.sleep(1)
open_ = 0
for s in socks:
    s.setblocking(False)
    try:
        open_ += s.recv(1) != b""   # data: unexpected, but open
    except BlockingIOError:
        open_ += 1                  # nothing to read: still open
    except OSError:
        pass                        # reset: closed by the server
print(open_, flush=True)
open("go").read()                   # hold them until the test is done
PY
idle=$!
wait_for_file_lines idle.out 1
kept=$(cat idle.out)
[ "$kept" -le 32 ] || fail "$kept of 100 idle connections from one address kept (at most 32)"
[ "$kept" -ge 1 ] || fail "no idle connection kept at all"
fast_pings "with 100 idle HTTP connections"
# Another address (127.0.0.2 is loopback too) is still served.
expect_eq "$(curl -s --interface 127.0.0.2 -o /dev/null -w '%{http_code}' --max-time 5 "$U/status")" 200 \
    "GET /status from 127.0.0.2 while 127.0.0.1 holds its limit"
echo > go
wait $idle

# ---- a request too large for a connection's memory ----------------------------
big=$(head -c 40000 /dev/zero | tr '\0' x)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Big: $big" "$U/status")
case "$code" in 413 | 431 | 000) ;; *) fail "a 40 kB header got $code" ;; esac
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/status")" 200 "GET /status after it"

# ---- a tail nobody reads ----------------------------------------------------------
/usr/bin/python3 - "$HTTP" > tail.out << 'PY' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /tail?channel=logs HTTP/1.1\r\nHost: x\r\n\r\n")
print("asked", flush=True)
open("go").read()                   # never reads the stream
PY
reader=$!
wait_for_file_lines tail.out 1
wait_until 10 "the tail to open" eval "curl -s '$U/metrics' | grep -q '^pubsub_http_tails 1'"
"$BUILD/ppub" -c logs -t a/b -n 20000 --size 1000 || fail "ppub exited $?"
wait_until 10 "the tail to be cut" eval "curl -s '$U/metrics' | grep -q '^pubsub_http_tails_cut_total 1'"
fast_pings "after a tail was cut"
wait_for_log "a live tail of 'logs' fell behind by 262144 bytes and was cut off"
echo > go
wait $reader

# ---- a tail after the last one closed ----------------------------------------------
# The tails' fan-out hook is there only while a tail is open: it must come
# back for the next one.
wait_until 10 "the cut tail to close" eval "curl -s '$U/metrics' | grep -q '^pubsub_http_tails 0'"
curl -sN --max-time 20 "$U/tail?channel=logs&pattern=x/%23" > tail2.out &
follower=$!
wait_until 10 "the second tail to open" eval "curl -s '$U/metrics' | grep -q '^pubsub_http_tails 1'"
"$BUILD/ppub" -c logs -t x/y "again" || fail "ppub exited $?"
wait_until 10 "the message in the second tail" grep -q '"payload":"again"' tail2.out
kill "$follower" 2> /dev/null
wait "$follower" 2> /dev/null
stop_broker || fail "brokerd exited $?"
echo "ok: $kept of 100 idle connections kept, pings fast, others served; big request refused; a stuck tail cut off, the next tail served"
