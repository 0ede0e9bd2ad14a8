/*
 * reconnect.c - what a client does when its broker dies under it, seen
 * from inside the library with the trace API.
 *
 * The program runs the broker itself (BROKERD -c CONF, twice), because it
 * must kill and restart it at known moments.  Two clients wait in
 * ps_recv() while the broker is killed with SIGKILL, each the socket's
 * reader (the only thread waiting on its client):
 *   - one with PS_OPT_RECONNECT 0 must fail within the heartbeat timeout
 *     and a margin (EHOSTUNREACH), not sleep until its own 20 s timeout;
 *   - one that reconnects (the default) must, once a new broker runs,
 *     say HELLO, get WELCOME and send its subscription again at once
 *     (the trace shows SUBSCRIBE leaving within 200 ms of WELCOME; a
 *     forgotten wake-up would hold it back for a heartbeat interval), and
 *     then receive what is published on the new broker.
 * Usage: reconnect BROKERD CONF ENDPOINT
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pubsub.h"

#define TIMEOUT_MS 20000 /* the waiting clients' own timeout */
#define HB_MS 300        /* heartbeat interval of both clients */
#define HBT_MS 900       /* and the silence after which the broker is dead */

static const char *brokerd, *conf, *ep;

/* What the tracing client saw (its lock held while we are called). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int welcomes;                /* WELCOMEs received */
static int64_t last_welcome_us;     /* when the last one came */
static int64_t resub_after_us = -1; /* SUBSCRIBE sent after the second WELCOME, how long after */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void trace(const ps_event *ev, void *arg)
{
    (void)arg;
    if (!ev->command)
        return;
    pthread_mutex_lock(&mu);
    if (ev->type == PS_EV_RECEIVED && !strcmp(ev->command, "WELCOME")) {
        welcomes++;
        last_welcome_us = ev->time_us;
    } else if (ev->type == PS_EV_SENT && !strcmp(ev->command, "SUBSCRIBE") && welcomes >= 2 &&
               resub_after_us < 0) {
        resub_after_us = ev->time_us - last_welcome_us;
    }
    pthread_mutex_unlock(&mu);
}

static pid_t start_broker(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl(brokerd, brokerd, "-c", conf, (char *)NULL);
        _exit(127);
    }
    /* Ready when it answers a ping. */
    for (int i = 0; i < 200; i++) {
        ps_opts *o = ps_opts_new();
        ps_opts_set_int(o, PS_OPT_TIMEOUT_MS, 200);
        ps_client *c = ps_connect(ep, o);
        ps_opts_destroy(&o);
        if (c) {
            ps_close(&c);
            return pid;
        }
    }
    fprintf(stderr, "reconnect: brokerd did not answer\n");
    exit(2);
}

static ps_client *client(int reconnect, int traced)
{
    ps_opts *o = ps_opts_new();
    ps_opts_set_int(o, PS_OPT_HEARTBEAT_MS, HB_MS);
    ps_opts_set_int(o, PS_OPT_HEARTBEAT_TIMEOUT_MS, HBT_MS);
    ps_opts_set_int(o, PS_OPT_RECONNECT, reconnect);
    if (traced)
        ps_opts_set_trace(o, trace, NULL);
    ps_client *c = ps_connect(ep, o);
    ps_opts_destroy(&o);
    if (!c || ps_subscribe(c, "news", "#", 0) < 0) {
        fprintf(stderr, "reconnect: set-up: %s\n", ps_strerror(errno));
        exit(2);
    }
    return c;
}

/* A waiting receiver: ps_recv until the first message or a failure. */
struct waiter {
    ps_client *c;     /* its client */
    int64_t ended_us; /* when ps_recv returned */
    int err;          /* its errno, 0 when a message came */
    char got[64];     /* the message */
};

static void *wait_recv(void *arg)
{
    struct waiter *w = arg;
    ps_msg *m = ps_recv(w->c, TIMEOUT_MS);
    w->ended_us = now_us();
    w->err = m ? 0 : errno;
    if (m)
        snprintf(w->got, sizeof w->got, "%.*s", (int)ps_msg_size(m), (const char *)ps_msg_data(m));
    ps_msg_destroy(&m);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: reconnect BROKERD CONF ENDPOINT\n");
        return 1;
    }
    brokerd = argv[1];
    conf = argv[2];
    ep = argv[3];
    signal(SIGPIPE, SIG_IGN);
    pid_t broker = start_broker();
    struct waiter once = {.c = client(0, 0)}, again = {.c = client(1, 1)};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, wait_recv, &once);
    pthread_create(&t2, NULL, wait_recv, &again);
    usleep(100000); /* let both settle into ps_recv as the socket's readers */

    int64_t killed = now_us();
    kill(broker, SIGKILL);
    waitpid(broker, NULL, 0);
    pthread_join(t1, NULL);
    double failed_after = (double)(once.ended_us - killed) / 1000.0;
    int ok = 1;
    if (once.err != EHOSTUNREACH || failed_after > HBT_MS + 1500) {
        printf("the client without reconnect: %s after %.0f ms (want EHOSTUNREACH within %d ms)\n",
               once.err ? ps_strerror(once.err) : "a message", failed_after, HBT_MS + 1500);
        ok = 0;
    }

    broker = start_broker();
    /* Publish until the reconnected client has one (or its timeout ends). */
    ps_client *pub = ps_connect(ep, NULL);
    for (int i = 0; pub && i < 400 && !again.ended_us; i++) {
        ps_publish(pub, "news", "n", "after", 5, 0);
        ps_flush(pub, 1000);
        usleep(25000);
    }
    pthread_join(t2, NULL);
    ps_close(&pub);
    pthread_mutex_lock(&mu);
    int64_t resub = resub_after_us;
    int w = welcomes;
    pthread_mutex_unlock(&mu);
    if (again.err || strcmp(again.got, "after") != 0) {
        printf("the reconnecting client got %s\n", again.err ? ps_strerror(again.err) : again.got);
        ok = 0;
    }
    if (w < 2 || resub < 0 || resub > 200000) {
        printf("the reconnecting client: %d WELCOMEs, subscription sent %.1f ms after the last\n",
               w, (double)resub / 1000.0);
        ok = 0;
    }
    if (ok)
        printf("without reconnect: failed after %.0f ms; reconnected: subscription again %.1f ms "
               "after WELCOME, then the new broker's message\n",
               failed_after, (double)resub / 1000.0);
    ps_close(&once.c);
    ps_close(&again.c);
    kill(broker, SIGTERM);
    waitpid(broker, NULL, 0);
    return ok ? 0 : 1;
}
