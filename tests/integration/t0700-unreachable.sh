#!/bin/bash
# An unreachable broker, as each tool says it: a refused tcp port and a
# missing ipc socket are known at once (well under the --timeout) and
# named ("connection refused at tcp://...", "no such file: ipc://..."); a
# peer that takes the connection but never answers the handshake is "no
# answer from ... within N ms" after the timeout.  Exit 2, one line each.
. "$(dirname "$0")/lib.sh"

P=$BUILD/ppub S=$BUILD/psub C=$BUILD/pctl
REFUSED=tcp://127.0.0.1:$(free_port)
NOFILE=ipc://$SCRATCH/none/pubsub.sock

# Runs CMD (exit 2, one line matching PATTERN) and fails when it took
# MAX_MS or more: a refusal must not wait out the 5 s timeout.
quick() { # MAX_MS PATTERN CMD...
    local max=$1 pattern=$2 t0 took
    shift 2
    t0=$(date +%s%N)
    expect_run 2 "$pattern" "$@"
    took=$((($(date +%s%N) - t0) / 1000000))
    [ "$took" -lt "$max" ] || fail "'$*' took $took ms, want under $max ms (a refusal is known at once)"
}
for tool in "$P -c logs -t a x" "$S -c logs -n 1" "$C status"; do
    quick 2500 "^[a-z]+: cannot reach broker: connection refused at $REFUSED\$" $tool -b "$REFUSED" --timeout 5000
    quick 2500 "^[a-z]+: cannot reach broker: no such file: $NOFILE\$" $tool -b "$NOFILE" --timeout 5000
done
# -H and -p make the same endpoint as -b.
port=${REFUSED##*:}
quick 2500 "connection refused at tcp://127.0.0.1:$port\$" $P -p "$port" -c logs -t a x
quick 2500 "connection refused at tcp://127.0.0.1:$port\$" $C -H 127.0.0.1 -p "$port" ping
# A stale socket file nobody listens on is refused too.
/usr/bin/python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SCRATCH/stale.sock"
quick 2500 "connection refused at ipc://$SCRATCH/stale.sock\$" $P -b "ipc://$SCRATCH/stale.sock" -c logs -t a x

# A silent peer: it accepts tcp connections and says nothing.
SILENT=$(free_port)
/usr/bin/python3 - "$SILENT" > silent.log 2>&1 << 'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
print("listening", flush=True)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
PY
wait_for_file_lines silent.log 1
expect_run 2 "^ppub: cannot reach broker: no answer from tcp://127.0.0.1:$SILENT within 500 ms\$" \
    $P -b "tcp://127.0.0.1:$SILENT" --timeout 500 -c logs -t a x
expect_run 2 "^pctl: cannot reach broker: no answer from tcp://127.0.0.1:$SILENT within 500 ms\$" \
    $C -b "tcp://127.0.0.1:$SILENT" --timeout 500 status
echo "ok: refused and missing endpoints named at once by ppub, psub and pctl; a silent peer is 'no answer'"
