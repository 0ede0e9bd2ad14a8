/*
 * confirm_window.c - PS_OPT_CONFIRM_WINDOW against a real broker, for
 * t0339-confirm-window.sh.  The library's own trace (ps_opts_set_trace)
 * counts the confirmations outstanding: a PS_CONFIRM publish handed over
 * adds one, an answer of the broker without a call's correlation bit (OK,
 * ERROR or RESULT) takes one (an OK whose value is above 1, as many), a
 * lost session clears them, as the session
 * does.  Both events are reported under the client's lock, so the count
 * is the library's own at every step, and its largest value is what the
 * window must bound.
 *
 *   confirm_window ENDPOINT CHANNEL N W
 *       publishes the payloads 1..N with PS_CONFIRM and a window of W,
 *       flushes, and prints "max M" (M: the most confirmations ever
 *       outstanding) and "waited K" (publishes that found the window full).
 *   confirm_window ENDPOINT CHANNEL W stall BROKER_PID
 *       on a client that reconnects and on one that does not (heartbeat
 *       timeout 300 ms), stops the broker (SIGSTOP), fills the window and
 *       checks that the next publish returns once the session is lost
 *       (0, or EHOSTUNREACH without reconnect), not later; then lets the
 *       broker go on.
 *
 * Exits 0 when every call returned what it should, 1 when not, 2 when it
 * could not start.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pubsub.h"

#define OP_BIT (UINT64_C(1) << 62) /* libpubsub's correlation bit of a waiting call */

/* The confirmations outstanding, as the trace shows them. */
static struct {
    pthread_mutex_t lock; /* events come from two threads */
    long outstanding;     /* handed over and not answered */
    long max;             /* the most ever outstanding */
    long full;            /* publishes handed over with W - 1 outstanding before them */
    long window;          /* W, to count full */
} tr = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_event(const ps_event *ev, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&tr.lock);
    if (ev->type == PS_EV_HANDED && !strcmp(ev->command, "PUBLISH") &&
        (ev->flags & (PS_EVF_CONFIRM | PS_EVF_SYNC))) {
        if (++tr.outstanding > tr.max)
            tr.max = tr.outstanding;
        tr.full += tr.outstanding == tr.window;
    } else if (ev->type == PS_EV_RECEIVED && ev->corr && !(ev->corr & OP_BIT) &&
               (!strcmp(ev->command, "OK") || !strcmp(ev->command, "ERROR") ||
                !strcmp(ev->command, "RESULT"))) {
        /* Protocol 1.4: an OK's value counts the confirms it carries. */
        tr.outstanding -= !strcmp(ev->command, "OK") && ev->count > 1 ? (long)ev->count : 1;
    } else if (ev->type == PS_EV_LOST) {
        tr.outstanding = 0;
    }
    pthread_mutex_unlock(&tr.lock);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static ps_client *connect_window(const char *ep, int window, int heartbeat_timeout_ms,
                                 int reconnect)
{
    ps_opts *o = ps_opts_new();
    if (!o || ps_opts_set_int(o, PS_OPT_CONFIRM_WINDOW, window) < 0 ||
        ps_opts_set_int(o, PS_OPT_RECONNECT, reconnect) < 0 ||
        ps_opts_set_trace(o, on_event, NULL) < 0 ||
        (heartbeat_timeout_ms &&
         (ps_opts_set_int(o, PS_OPT_HEARTBEAT_MS, heartbeat_timeout_ms / 3) < 0 ||
          ps_opts_set_int(o, PS_OPT_HEARTBEAT_TIMEOUT_MS, heartbeat_timeout_ms) < 0))) {
        fprintf(stderr, "confirm_window: cannot set the options: %s\n", ps_strerror(errno));
        exit(2);
    }
    ps_client *c = ps_connect(ep, o);
    ps_opts_destroy(&o);
    if (!c) {
        fprintf(stderr, "confirm_window: cannot connect to %s: %s\n", ep, ps_strerror(errno));
        exit(2);
    }
    tr.window = window;
    return c;
}

/* Publishes 1..n with a window of w and flushes. */
static int stream(const char *ep, const char *channel, long n, int w)
{
    ps_client *c = connect_window(ep, w, 0, 1);
    char buf[32];
    for (long i = 1; i <= n; i++) {
        int len = snprintf(buf, sizeof buf, "%ld", i);
        if (ps_publish(c, channel, NULL, buf, (size_t)len, PS_CONFIRM) < 0) {
            fprintf(stderr, "confirm_window: publish %ld: %s\n", i, ps_strerror(errno));
            return 1;
        }
    }
    int rc = ps_flush(c, 30000);
    if (rc < 0)
        fprintf(stderr, "confirm_window: flush: %s (%s)\n", ps_strerror(errno), ps_errmsg(c));
    ps_close(&c);
    printf("max %ld\nwaited %ld\n", tr.max, tr.full);
    return rc < 0;
}

/* One publish of the stall mode: its errno (0 when it went) and how long it took in *took. */
static int publish_timed(ps_client *c, const char *channel, double *took)
{
    double t0 = now_s();
    int rc = ps_publish(c, channel, NULL, "x", 1, PS_CONFIRM);
    *took = now_s() - t0;
    return rc < 0 ? errno : 0;
}

/* Stops the broker (SIGSTOP), and fills a window of w on a client that
 * reconnects or not (its heartbeat timeout 300 ms): the next publish must
 * end with the session, returning 0 (it goes to the next session) or
 * EHOSTUNREACH (no reconnect), after the heartbeat timeout and not much
 * later.  Lets the broker go on (SIGCONT) and returns 0 when it did. */
static int stall_one(const char *ep, const char *channel, int w, int reconnect, pid_t broker)
{
    ps_client *c = connect_window(ep, w, 300, reconnect);
    int bad = 0;
    kill(broker, SIGSTOP);
    double took = 0;
    for (int i = 0; i < w && !bad; i++)
        if ((bad = publish_timed(c, channel, &took)) != 0 || took > 1.0) {
            fprintf(stderr, "confirm_window: publish %d of a window not full: %s in %.3f s\n",
                    i + 1, ps_strerror(bad), took);
            bad = 1;
        }
    int want = reconnect ? 0 : EHOSTUNREACH;
    int err = bad ? 0 : publish_timed(c, channel, &took);
    if (!bad && (err != want || took < 0.1 || took > 3.0)) {
        fprintf(stderr, "confirm_window: %s: the publish behind a full window of a lost session "
                        "returned %s after %.3f s (want %s after the heartbeat timeout, 0.3 s)\n",
                reconnect ? "reconnecting" : "no reconnect", err ? ps_strerror(err) : "0", took,
                want ? ps_strerror(want) : "0");
        bad = 1;
    }
    kill(broker, SIGCONT);
    ps_close(&c);
    return bad;
}

/* The window full and the broker stopped: a lost session ends the wait. */
static int stall(const char *ep, const char *channel, int w, pid_t broker)
{
    int bad = stall_one(ep, channel, w, 1, broker) || stall_one(ep, channel, w, 0, broker);
    if (!bad)
        printf("stall ok\n");
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 5)
        return stream(argv[1], argv[2], atol(argv[3]), atoi(argv[4]));
    if (argc == 6 && !strcmp(argv[4], "stall"))
        return stall(argv[1], argv[2], atoi(argv[3]), (pid_t)atol(argv[5]));
    fprintf(stderr, "usage: confirm_window ENDPOINT CHANNEL N W\n"
                    "       confirm_window ENDPOINT CHANNEL W stall BROKER_PID\n");
    return 2;
}
