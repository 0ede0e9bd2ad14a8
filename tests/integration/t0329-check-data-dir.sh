#!/bin/bash
# The data directory is checked, and the broker creates only its last
# level: `brokerd --check` refuses a data_dir that cannot be (under a
# regular file, or whose parent does not exist) with one line naming it and
# exit 1; the broker itself, run as root with data_dir = .../no/such/dir,
# creates nothing (it refuses to start, or refuses the durable queue), and
# with a data_dir whose parent exists it creates that last level and works.
# The broken behaviour (issue 14, "also seen"): --check accepted an
# impossible data_dir, and the broker created /nonexistent/dir/x whole.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
conf() { # FILE DATA_DIR
    cat > "$1" <<EOF2
broker = { endpoints = [ "tcp://127.0.0.1:$PORT" ]; data_dir = "$2"; };
channels = ( { name = "jobs"; type = "queue"; durable = true; } );
EOF2
}
touch afile
problems=
for dd in "$SCRATCH/afile/data" "$SCRATCH/no/such/dir"; do
    conf c.conf "$dd"
    "$BUILD/brokerd" --check -c c.conf > out 2> err
    rc=$?
    if [ "$rc" = 0 ]; then
        problems+="--check accepted data_dir $dd; "
    elif [ "$(wc -l < err)" != 1 ] || ! grep -q "data_dir" err; then
        problems+="--check of data_dir $dd: exit $rc, '$(cat err)' (want one line naming data_dir); "
    fi
done

# Run for real, as root: nothing above the last level is created.
conf b.conf "$SCRATCH/no/such/dir"
"$BUILD/brokerd" -c b.conf >> brokerd.log 2>&1 &
BROKER_PID=$!
settled() { ! kill -0 "$BROKER_PID" 2> /dev/null || "$BUILD/pctl" --timeout 300 ping > /dev/null 2>&1; }
export PUBSUB_BROKER="tcp://127.0.0.1:$PORT"
wait_until 20 "brokerd to start or give up" settled
[ -e "$SCRATCH/no" ] && problems+="the broker created $(find "$SCRATCH/no" | tail -1) whole; "
kill_broker

conf b.conf "$SCRATCH/newdata"
start_broker -c b.conf
"$BUILD/ppub" -c jobs --confirm "kept" || fail "ppub --confirm with a creatable data_dir exited $?"
[ -d "$SCRATCH/newdata" ] || fail "data_dir $SCRATCH/newdata was not created"
[ -z "$problems" ] || fail "$problems"
echo "ok: --check refused impossible data_dirs; nothing created above the last level"
