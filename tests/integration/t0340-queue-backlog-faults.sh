#!/bin/bash
# A queue's backlog grows brokerd's heap in huge pages (main.c's
# heap_advise), not a page fault every 4 KiB: N short messages waiting in
# a queue (some 200 bytes each in brokerd with their bookkeeping, 40 MB
# for 200,000) cost brokerd far fewer page faults than 4 KiB pages of
# backlog, as /proc/PID/stat's minflt counts them; then every message is
# consumed once, in order.  The build before the heap was advised took
# 7,071 faults for 200,000 messages (a quarter of the pages is the bound
# here, 2,441); the advised heap 886.
. "$(dirname "$0")/lib.sh"

glibc_malloc_only
# Without transparent huge pages there is no huge page to fault in.
grep -qs '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled ||
    [ ! -e /sys/kernel/mm/transparent_hugepage/enabled ] && {
    echo "ok: not measured: this kernel gives no transparent huge pages"
    exit 0
}

N=${N:-200000}
queue_conf 'max_queued = 1000000;'
start_broker -c b.conf

before=$(broker_faults)
[ -n "$before" ] || fail "cannot read brokerd's page faults from /proc/$BROKER_PID/stat"
seq 1 "$N" | "$BUILD/ppub" -c jobs --confirm --timeout 30000 2> ppub.err ||
    fail "ppub --confirm exited $?: $(head -3 ppub.err)"
expect_eq "$(chan_stat jobs queued)" "$N" "messages queued"
after=$(broker_faults)
used=$((after - before))
pages=$((N * 200 / 4096))
echo "page faults of brokerd for a backlog of $N messages (~$pages pages): $used"
[ "$used" -lt $((pages / 4)) ] ||
    fail "$used page faults for a backlog of $N messages, ~$pages pages: the heap grows a 4 KiB page at a time"

"$BUILD/psub" -c jobs -n "$N" -F '%s %p' --timeout 20000 > got || fail "psub exited $?"
bad=$(check_order got "$N")
[ -z "$bad" ] || fail "consumed: $bad"
expect_eq "$(chan_stat jobs queued)" 0 "messages left in the queue"
echo "ok: a backlog of $N messages took $used page faults of brokerd (~$pages pages); all consumed once, in order"
