#!/bin/bash
# A queue declared durable never quietly runs in memory: a reload (SIGHUP)
# declares a durable queue whose directory cannot be created (its file
# system, a small tmpfs, has no inodes left); then `ppub --confirm` to it
# must be refused (exit 4, one line saying why), never confirmed.  The
# broken behaviour (issue 14, item 4): the channel was created anyway as
# non-durable, --confirm gave exit 0, and after kill -9 none of the
# confirmed messages survived.  (Should ppub be confirmed, the test also
# counts what survives a kill -9 once inodes are free again.)
. "$(dirname "$0")/lib.sh"

mount_tmpfs "$SCRATCH/data" size=4m,nr_inodes=64
PORT=$(free_port)
write_conf() { # CHANNELS...
    {
        echo "broker = { endpoints = [ \"tcp://127.0.0.1:$PORT\" ]; data_dir = \"$SCRATCH/data\"; };"
        echo "channels = ( { name = \"jobs\"; type = \"queue\"; durable = true; }"
        for c in "$@"; do echo ", { name = \"$c\"; type = \"queue\"; durable = true; }"; done
        echo ");"
    } > b.conf
}
write_conf
start_broker -c b.conf
"$BUILD/ppub" -c jobs --confirm "first" || fail "ppub --confirm to the first durable queue exited $?"
# Use up every inode left.
i=0
while touch "data/filler.$i" 2> /dev/null; do i=$((i + 1)); done
write_conf more
kill -HUP "$BROKER_PID"
wait_for_log "configuration reloaded|reload (failed|refused)"
seq -f "m%g" 1 10 > sent
"$BUILD/ppub" -c more --confirm < sent > out 2> err
rc=$?
if [ "$rc" = 0 ]; then
    durable=$(chan_stat more durable)
    kill_broker
    rm -f data/filler.*
    start_broker -c b.conf
    "$BUILD/psub" -c more --timeout 1000 > got 2> /dev/null
    fail "ppub --confirm to a durable queue without a store exited 0; after kill -9, $(grep -c . got) of 10 confirmed messages survived; pctl said durable=$durable before the kill; log: $(grep -m1 "durable queue .more." brokerd.log | cut -d" " -f3-)"
fi
[ "$rc" = 4 ] || fail "ppub --confirm exited $rc, want 4 (stderr: $(cat err))"
[ "$(wc -l < err)" = 1 ] || fail "want one line on stderr, got: $(cat err)"
grep -q "'more'" err || fail "the refusal does not name the channel: $(cat err)"
echo "ok: a durable queue without a store refused --confirm: $(cat err)"
