/*
 * handoff.c - many threads on two shared clients, so that the socket's
 * input changes hands all the time between the I/O thread and the
 * application threads that wait as its reader.
 *
 * Client A: REQUESTERS threads each send REQUESTS sync requests (ps_request)
 * and check every reply, while one more thread receives FEED messages
 * (ps_recv, which confirms them).  Client B: RESPONDERS threads answer the
 * requests (ps_recv and ps_reply), while one more thread publishes the FEED
 * messages as sync messages (PS_SYNC) with a ps_flush after every
 * thousand, which waits for a thousand receipts arriving in many frames.
 * Every reply must be the right one, every feed message must arrive once
 * and in order and be confirmed, and no request or flush may take STALL_MS
 * or more: a wake-up lost in a hand-over shows as a stall of a heartbeat
 * interval (the I/O thread's next look), not as a failure.
 *
 * Then client Q (quiet): one thread sends LONE_REQUESTS requests one at a time
 * while another publishes without pause to a channel nobody reads, so Q's
 * I/O thread is busy with the socket while the requester waits as its
 * reader, and nothing else arrives on Q: when the I/O thread reads a
 * reply, only its kick can wake the requester, and a forgotten kick
 * leaves the request hanging until its timeout.  A lone request also
 * waits behind everything its own client queued before it (one ordered
 * pipe, up to the library's send queue and libzmq's of one-byte
 * publishes: seconds of the broker's work on a loaded machine), so what
 * it must not exceed is measured from the moment its reply arrived (a
 * trace function on Q): the wake-up, HANDOFF_MS at most.
 * Usage: handoff (broker from $PUBSUB_BROKER; channels rpc (queue), feed).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pubsub.h"

#define REQUESTERS 4
#define REQUESTS 2000
#define RESPONDERS 2
#define FEED 20000
#define STALL_MS 900
#define LONE_REQUESTS 300
#define HANDOFF_MS 500 /* a lone requester's wake-up after its reply arrived */

static ps_client *a, *b;
static long slow[REQUESTERS];     /* requests of each requester that took STALL_MS or more */
static double worst[REQUESTERS];  /* its slowest request, ms */
static long wrong[REQUESTERS];    /* replies that failed or were not its own */
static long feed_got, feed_bad;   /* feed messages received, out of order */
static int feed_flush_failed;     /* a ps_flush of the feed failed */
static long feed_slow;            /* flushes that took STALL_MS or more */
static ps_client *quiet;          /* the second phase's client */
static volatile int lone_done;    /* the lone requester has finished */
static long lone_slow, lone_wrong;/* its stalled and failed requests */
static double lone_worst;         /* its slowest request, ms */
static double lone_worst_wake;    /* its slowest wake-up after the reply arrived, ms */
static volatile double reply_at;  /* when Q's last REPLY arrived, ms (0: none yet) */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *requester(void *arg)
{
    long t = (long)arg;
    char q[32];
    for (int i = 0; i < REQUESTS; i++) {
        int n = snprintf(q, sizeof q, "%ld:%d", t, i);
        ps_msg *r = NULL;
        double t0 = now_ms();
        int rc = ps_request(a, "rpc", NULL, q, (size_t)n, 5000, &r);
        double took = now_ms() - t0;
        if (took > worst[t])
            worst[t] = took;
        if (took >= STALL_MS)
            slow[t]++;
        if (rc < 0 || ps_msg_size(r) != (size_t)n || memcmp(ps_msg_data(r), q, (size_t)n))
            wrong[t]++;
        ps_msg_destroy(&r);
    }
    return NULL;
}

static void *responder(void *arg)
{
    (void)arg;
    for (;;) {
        ps_msg *m = ps_recv(b, 3000);
        if (!m)
            return NULL; /* idle: the requesters are done */
        ps_reply(b, m, ps_msg_data(m), ps_msg_size(m), 0);
        ps_msg_destroy(&m);
    }
}

static void *feed_reader(void *arg)
{
    (void)arg;
    while (feed_got < FEED) {
        ps_msg *m = ps_recv(a, 5000);
        if (!m)
            break;
        if (atol(ps_msg_data(m)) != feed_got)
            feed_bad++;
        feed_got++;
        ps_msg_destroy(&m);
    }
    return NULL;
}

static void *feed_writer(void *arg)
{
    (void)arg;
    char buf[24];
    for (int i = 0; i < FEED; i++) {
        int n = snprintf(buf, sizeof buf, "%d", i);
        ps_publish(b, "feed", "f", buf, (size_t)n, PS_SYNC);
        if ((i + 1) % 1000 == 0) {
            double t0 = now_ms();
            if (ps_flush(b, 5000) < 0)
                feed_flush_failed = 1;
            if (now_ms() - t0 >= STALL_MS)
                feed_slow++;
        }
    }
    return NULL;
}

/* Q's trace function: notes when a REPLY arrives (one request at a time). */
static void on_quiet_event(const ps_event *ev, void *arg)
{
    (void)arg;
    if (ev->type == PS_EV_RECEIVED && strcmp(ev->command, "REPLY") == 0)
        reply_at = ev->time_us / 1e3;
}

static void *lone_requester(void *arg)
{
    (void)arg;
    char qs[32];
    for (int i = 0; i < LONE_REQUESTS; i++) {
        int n = snprintf(qs, sizeof qs, "lone:%d", i);
        ps_msg *r = NULL;
        reply_at = 0;
        double t0 = now_ms();
        int rc = ps_request(quiet, "rpc", NULL, qs, (size_t)n, 5000, &r);
        double t1 = now_ms(), took = t1 - t0;
        /* Without a REPLY (a failure, counted below) the whole wait counts. */
        double wake = reply_at > 0 ? t1 - reply_at : took;
        if (took > lone_worst)
            lone_worst = took;
        if (wake > lone_worst_wake)
            lone_worst_wake = wake;
        if (wake >= HANDOFF_MS)
            lone_slow++;
        if (rc < 0 || ps_msg_size(r) != (size_t)n || memcmp(ps_msg_data(r), qs, (size_t)n))
            lone_wrong++;
        ps_msg_destroy(&r);
    }
    lone_done = 1;
    return NULL;
}

static void *noise(void *arg)
{
    (void)arg;
    while (!lone_done)
        ps_publish(quiet, "noise", "n", "x", 1, 0);
    return NULL;
}

int main(void)
{
    const char *ep = getenv("PUBSUB_BROKER");
    a = ps_connect(ep, NULL);
    b = ps_connect(ep, NULL);
    if (!a || !b || ps_subscribe(b, "rpc", NULL, PS_RESPONDER) < 0 ||
        ps_subscribe(a, "feed", "#", 0) < 0) {
        fprintf(stderr, "set-up: %s\n", ps_strerror(errno));
        return 2;
    }
    pthread_t req[REQUESTERS], rsp[RESPONDERS], fr, fw;
    for (long t = 0; t < RESPONDERS; t++)
        pthread_create(&rsp[t], NULL, responder, NULL);
    pthread_create(&fr, NULL, feed_reader, NULL);
    for (long t = 0; t < REQUESTERS; t++)
        pthread_create(&req[t], NULL, requester, (void *)t);
    pthread_create(&fw, NULL, feed_writer, NULL);
    for (int t = 0; t < REQUESTERS; t++)
        pthread_join(req[t], NULL);
    pthread_join(fw, NULL);
    pthread_join(fr, NULL);

    pthread_t lr, nz;
    ps_opts *qo = ps_opts_new();
    if (!qo || ps_opts_set_trace(qo, on_quiet_event, NULL) < 0 || !(quiet = ps_connect(ep, qo))) {
        fprintf(stderr, "set-up: %s\n", ps_strerror(errno));
        return 2;
    }
    ps_opts_destroy(&qo);
    pthread_create(&lr, NULL, lone_requester, NULL);
    pthread_create(&nz, NULL, noise, NULL);
    pthread_join(lr, NULL);
    pthread_join(nz, NULL);
    for (int t = 0; t < RESPONDERS; t++)
        pthread_join(rsp[t], NULL);

    long n_slow = 0, n_wrong = 0;
    double w = 0;
    for (int t = 0; t < REQUESTERS; t++) {
        n_slow += slow[t];
        n_wrong += wrong[t];
        if (worst[t] > w)
            w = worst[t];
    }
    printf("%d requests: %ld wrong, %ld of %d ms or more (slowest %.1f ms); "
           "feed %ld of %d, %ld out of order, %ld flushes stalled%s; "
           "%d lone requests beside a publisher: %ld wrong, %ld woken %d ms or more after "
           "their reply (slowest wake-up %.1f ms, slowest request %.1f ms)\n",
           REQUESTERS * REQUESTS, n_wrong, n_slow, STALL_MS, w, feed_got, FEED, feed_bad,
           feed_slow, feed_flush_failed ? ", a flush failed" : "", LONE_REQUESTS, lone_wrong,
           lone_slow, HANDOFF_MS, lone_worst_wake, lone_worst);
    ps_close(&a);
    ps_close(&b);
    ps_close(&quiet);
    return n_wrong || n_slow || feed_got != FEED || feed_bad || feed_slow || feed_flush_failed ||
           lone_wrong || lone_slow;
}
