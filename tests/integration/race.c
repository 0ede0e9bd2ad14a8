/*
 * race.c - the lecture's race on a shared connection: 100 threads publish
 * 10,000 messages each through ONE ps_client while a second client
 * receives.  Every message must arrive exactly once: 1,000,000 in all, no
 * duplicate, none missing, and each thread's messages in the order sent.
 * Usage: race CHANNEL (broker from $PUBSUB_BROKER).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pubsub.h"

#define THREADS 100
#define PER_THREAD 10000

static ps_client *shared;
static const char *channel;

static void *publisher(void *arg)
{
    long t = (long)arg;
    char buf[32];
    for (int i = 0; i < PER_THREAD; i++) {
        int n = snprintf(buf, sizeof buf, "%ld:%d", t, i);
        if (ps_publish(shared, channel, "race", buf, (size_t)n, 0) < 0) {
            fprintf(stderr, "thread %ld: ps_publish: %s\n", t, ps_strerror(errno));
            exit(2);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *ep = getenv("PUBSUB_BROKER");
    channel = argc > 1 ? argv[1] : "race";
    ps_client *sub = ps_connect(ep, NULL);
    shared = ps_connect(ep, NULL);
    if (!sub || !shared) {
        fprintf(stderr, "connect: %s\n", ps_strerror(errno));
        return 2;
    }
    if (ps_subscribe(sub, channel, "#", 0) < 0) {
        fprintf(stderr, "subscribe: %s\n", ps_strerror(errno));
        return 2;
    }
    static int next[THREADS];   /* the next index expected from each thread */
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, publisher, (void *)t);

    long got = 0, dup_or_order = 0, bad = 0;
    while (got < (long)THREADS * PER_THREAD) {
        ps_msg *m = ps_recv(sub, 10000);
        if (!m)
            break;
        long t;
        int i;
        if (sscanf(ps_msg_data(m), "%ld:%d", &t, &i) != 2 || t < 0 || t >= THREADS) {
            bad++;
        } else if (i != next[t]) {
            dup_or_order++; /* a duplicate, a loss or a reordering */
        } else {
            next[t]++;
        }
        got++;
        ps_msg_destroy(&m);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    int flushed = ps_flush(shared, 10000);
    uint64_t dropped = ps_dropped(sub);
    long complete = 0;
    for (int t = 0; t < THREADS; t++)
        complete += next[t] == PER_THREAD;
    printf("%ld messages received, %ld out of sequence, %ld unreadable, %ld of %d threads "
           "complete, %llu dropped, flush %s\n",
           got, dup_or_order, bad, complete, THREADS, (unsigned long long)dropped,
           flushed == 0 ? "ok" : ps_strerror(errno));
    ps_close(&shared);
    ps_close(&sub);
    return got == (long)THREADS * PER_THREAD && !dup_or_order && !bad && complete == THREADS &&
                   flushed == 0
               ? 0
               : 1;
}
