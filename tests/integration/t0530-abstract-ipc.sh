#!/bin/bash
# Issue 15.11, ipc endpoints the file mode cannot guard.  The promise: an
# abstract ipc endpoint (ipc://@NAME), which has no file and so ignores
# broker.ipc_mode, is refused unless uid/gid rules are configured, by
# --check as by a start; ipc://* is refused.  Broken behaviour: the broker
# bound ipc://@NAME with ipc_mode = "0600" (any local user got publish,
# subscribe and admin), and ipc://* deleted a file named '*' in the
# working directory.
. "$(dirname "$0")/lib.sh"
. "$TESTS/integration/hostile.sh"

PORT=$(free_port)
cat > abstract.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT", "ipc://@pubsub-t0530-$$" ];
           data_dir = "$SCRATCH/data"; ipc_mode = "0600"; };
EOF2
cat > star.conf << EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT", "ipc://*" ]; data_dir = "$SCRATCH/data"; };
EOF2
"$BUILD/brokerd" --check -c abstract.conf > check.out 2>&1 &&
    problem "--check accepts ipc://@NAME without uid/gid rules"
grep -qi "abstract" check.out || problem "--check does not say why ipc://@NAME is refused: $(head -1 check.out)"
echo "the user's file" > '*'
"$BUILD/brokerd" --check -c star.conf > check2.out 2>&1 && problem "--check accepts ipc://*"
# A start, not only --check: it must refuse before it binds anything.
timeout 5 "$BUILD/brokerd" -c abstract.conf > start.out 2>&1
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || problem "brokerd started with ipc://@NAME and ipc_mode (exit $rc)"
timeout 5 "$BUILD/brokerd" -c star.conf > start2.out 2>&1
rc2=$?
[ "$rc2" != 0 ] && [ "$rc2" != 124 ] || problem "brokerd started with ipc://* (exit $rc2)"
[ -f '*' ] || problem "the file named '*' in the working directory was deleted"
verdict "ipc://@NAME refused by --check and at start (exit $rc); ipc://* refused (exit $rc2), ./* kept"
