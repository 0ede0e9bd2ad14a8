#!/bin/bash
# A plain program's heap stays steady under a stream: a publisher calling
# ps_publish in a loop and a subscriber calling ps_recv in a loop (pbench's
# brokerd clients, which set no malloc options of their own) take far
# fewer page faults than 4 KiB pages of messages.  Before the library
# bounded its buffers and kept its heap (session.h, PS_LIB_HEAP_KEEP),
# glibc gave the top of the heap back after every burst and faulted it in
# again: ~100,000 faults for a million 64-byte messages and rounds at a
# third of the speed.  The faults are counted over pbench and every
# process it waited for (getrusage RUSAGE_CHILDREN).
. "$(dirname "$0")/lib.sh"

glibc_malloc_only

start_bench_broker
N=1000000
steady=$(PUBSUB_HEAP=library pbench_faults -n "$N" pubsub)
[ "$steady" != failed ] || fail "pbench did not carry every message"
echo "page faults of publisher and subscriber for $N messages: $steady"
# A million 64-byte messages are ~24,000 pages of payload alone; the
# steady heap faults about 4,000 times in all (start-up and first
# touches of the bounded buffers), the breathing one 22,000 (bounded
# buffers, malloc left alone) to 62,000 (the code before).
[ "$steady" -lt 25000 ] || fail "$steady page faults for $N messages: the heap breathes"
# PUBSUB_HEAP=system leaves malloc as the program set it (here: glibc's
# defaults), and the faults come back.
system=$(PUBSUB_HEAP=system pbench_faults -n "$N" pubsub)
[ "$system" != failed ] || fail "pbench did not carry every message with PUBSUB_HEAP=system"
echo "with PUBSUB_HEAP=system: $system"
[ "$system" -gt $((steady * 3 / 2)) ] || fail "PUBSUB_HEAP=system changed nothing ($system against $steady faults)"
echo "ok: the heap stays steady ($steady page faults for $N messages; $system with malloc left alone)"
