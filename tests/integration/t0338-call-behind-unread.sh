#!/bin/bash
# A call that waits for an answer gets it while unread messages pile up
# in front of it.  The library stops reading the socket once 512 KiB of
# received messages wait for ps_recv (PS_LIB_RQ_HIGH); the answer to a
# ps_flush or a confirmed publish may be behind them, and the thread that
# waits for it may be the one that would call ps_recv.  While a call
# waits, reading goes on up to 64 MiB: here 4 MiB of messages wait unread
# and ps_flush must still return at once.
. "$(dirname "$0")/lib.sh"

start_channel_broker 'name = "busy"; type = "pubsub"; slow_subscriber = "block";'
cat > behind.py <<'PY'
import subprocess, sys, time
import pubsub
ppub, broker = sys.argv[1:]
c = pubsub.connect(broker)
c.subscribe("busy")
# 20,000 messages of 200 bytes, about 5 MiB, none of them read.
subprocess.run([ppub, "-b", broker, "-c", "busy", "-t", "x", "-n", "20000", "--size", "200"],
               check=True)
t0 = time.monotonic()
c.flush(timeout=5.0)
ms = (time.monotonic() - t0) * 1000
got = 0
try:
    while got < 20000:
        c.recv(timeout=2.0)
        got += 1
except pubsub.Timeout:
    pass
print("flush behind %d unread messages took %.0f ms" % (got, ms))
sys.exit(0 if got == 20000 and ms < 2000 else 1)
PY
PYTHONPATH="$ROOT/python" PUBSUB_LIBRARY="$BUILD/libpubsub.so.1" \
    run_python behind.py "$BUILD/ppub" "tcp://127.0.0.1:$PORT" > out 2>&1
rc=$?
cat out
[ "$rc" = 0 ] || fail "a flush behind unread messages did not return in time, or messages were lost"
echo "ok: $(tail -1 out)"
