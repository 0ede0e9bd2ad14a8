/*
 * loop.c - the event loop: sources, timers and the end of each turn, in
 * the manner of Redis's ae or CZMQ's zloop.  It knows nothing of clients,
 * channels or stores; main registers what the broker needs.
 *
 * A source is a ZeroMQ socket or a file descriptor, watched for input,
 * with a handler; a source may be held (not polled) while an int the
 * registrant names is non-zero, which is how the "block" slow-subscriber
 * policy stops reading publishers without the loop knowing why.  A timer
 * runs when due and says when it wants to run next.  Turn jobs run at the
 * end of every turn, in the order they were added, and each says how long
 * the loop may wait for the next event; the shortest of those waits and
 * of the timers' is the poll timeout.  One turn thus polls once, runs the
 * handlers of every source that has input (in the order added), then the
 * timers that are due and the turn jobs.  The clock the owner gave is set
 * at the start of the turn and again before the timers and turn jobs.
 * How long each turn took goes into a histogram (for /metrics), which
 * is also where the histogram type lives, being the bottom of the broker.
 */
#include "brokerd.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define LOOP_SOURCES_MAX 16 /* sources watched at most: a poll array on the stack */

/* A watched socket or fd. */
typedef struct source {
    void *sock;            /* the ZeroMQ socket, or NULL */
    int fd;                /* the fd when sock is NULL, else the socket's ZMQ_FD */
    loop_fn *fn;           /* its handler */
    void *ctx;             /* the handler's argument */
    const int *hold;       /* not polled while *hold (NULL: always polled) */
    int own;               /* a socket only its handler uses (loop_own) */
    int asked;             /* own: found empty, and untouched since */
} source;

/* A timer or a turn job. */
typedef struct job {
    loop_timer_fn *fn;     /* what runs (a turn job's type is the same) */
    void *ctx;             /* its argument */
    int every_turn;        /* a turn job: runs at the end of each turn */
    int64_t due;           /* a timer: monotonic ms it runs next, -1 never */
    struct job *next;      /* next job, in the order added */
} job;

struct loop {
    int64_t *clock;        /* the owner's clock, set at every turn */
    source src[LOOP_SOURCES_MAX]; /* watched sources, in the order added */
    int n_src;             /* entries in src */
    job *jobs, **jobs_tail;/* timers and turn jobs, in the order added */
    int stop;              /* leave loop_run after this turn */
    histo turns;           /* how long each turn took, poll excluded */
};

const double histo_bounds[HISTO_BUCKETS] = {0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005,
                                            0.01,    0.05,    0.1,    0.5,    1};

void histo_add(histo *h, int64_t ns)
{
    double s = (double)ns / 1e9;
    int i = 0;
    while (i < HISTO_BUCKETS && s > histo_bounds[i])
        i++;
    h->in[i]++;
    h->count++;
    h->sum_ns += ns > 0 ? (uint64_t)ns : 0;
}

const histo *loop_turns(const loop *l)
{
    return &l->turns;
}

int64_t loop_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t loop_now(void)
{
    return loop_now_ns() / 1000000;
}

loop *loop_new(int64_t *clock)
{
    loop *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->clock = clock;
    l->jobs_tail = &l->jobs;
    *clock = loop_now();
    return l;
}

void loop_free(loop **lp)
{
    if (!lp || !*lp)
        return;
    job *j, *next;
    for (j = (*lp)->jobs; j; j = next) {
        next = j->next;
        free(j);
    }
    free(*lp);
    *lp = NULL;
}

int loop_watch(loop *l, void *sock, int fd, loop_fn *fn, void *ctx, const int *hold)
{
    if (l->n_src == LOOP_SOURCES_MAX) {
        errno = ENOSPC;
        return -1;
    }
    size_t len = sizeof fd;
    if (sock && zmq_getsockopt(sock, ZMQ_FD, &fd, &len) < 0)
        return -1;
    l->src[l->n_src++] = (source){.sock = sock, .fd = fd, .fn = fn, .ctx = ctx, .hold = hold};
    return 0;
}

/* Whether a ZeroMQ socket has a message to read.  Asking is also what
 * rearms its ZMQ_FD, which signals only a change of state, and only
 * once: every socket call may take that signal, so the loop asks each
 * socket before it sleeps rather than trusting the descriptor alone. */
static int zmq_readable(void *sock)
{
    int events = 0;
    size_t len = sizeof events;
    return zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN);
}

int loop_own(loop *l, void *sock)
{
    for (int i = 0; i < l->n_src; i++)
        if (l->src[i].sock == sock) {
            l->src[i].own = 1;
            return 0;
        }
    errno = ENOENT;
    return -1;
}

int loop_unwatch(loop *l, int fd)
{
    for (int i = 0; i < l->n_src; i++)
        if (!l->src[i].sock && l->src[i].fd == fd) {
            memmove(&l->src[i], &l->src[i + 1], (size_t)(l->n_src - i - 1) * sizeof l->src[0]);
            l->n_src--;
            return 0;
        }
    errno = ENOENT;
    return -1;
}

static int add_job(loop *l, loop_timer_fn *fn, void *ctx, int every_turn, int64_t due)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    *j = (job){.fn = fn, .ctx = ctx, .every_turn = every_turn, .due = due};
    *l->jobs_tail = j;
    l->jobs_tail = &j->next;
    return 0;
}

int loop_timer(loop *l, long delay_ms, loop_timer_fn *fn, void *ctx)
{
    return add_job(l, fn, ctx, 0, *l->clock + delay_ms);
}

int loop_on_turn(loop *l, loop_turn_fn *fn, void *ctx)
{
    return add_job(l, fn, ctx, 1, 0);
}

void loop_stop(loop *l)
{
    l->stop = 1;
}

/* Runs the due timers and every turn job; returns the poll timeout. */
static long run_jobs(loop *l)
{
    long timeout = -1;
    for (job *j = l->jobs; j; j = j->next) {
        long wait;
        if (j->every_turn) {
            wait = j->fn(j->ctx);
        } else {
            if (j->due < 0)
                continue;
            if (*l->clock >= j->due) {
                long next = j->fn(j->ctx);
                j->due = next < 0 ? -1 : *l->clock + next;
            }
            if (j->due < 0)
                continue;
            wait = j->due > *l->clock ? (long)(j->due - *l->clock) : 0;
        }
        if (wait >= 0 && (timeout < 0 || wait < timeout))
            timeout = wait;
    }
    return timeout;
}

/*
 * One poll(2) over the descriptors, the ZeroMQ sockets' included, instead
 * of zmq_poll: zmq_poll asks every socket for its events twice a call
 * (each ask is a getpid and a poll of the socket's mailbox) and polls
 * twice, about a dozen system calls a turn with two sockets, on the path
 * of every request.  Here a socket is asked once before the loop sleeps
 * (when one has input the poll does not wait), a socket that only its
 * own handler uses only when the handler ran since, and once more when
 * its descriptor fired.
 */
int loop_run(loop *l)
{
    *l->clock = loop_now();
    long timeout = run_jobs(l);
    while (!l->stop) {
        struct pollfd pfd[LOOP_SOURCES_MAX];
        int ready[LOOP_SOURCES_MAX], any = 0;
        for (int i = 0; i < l->n_src; i++) {
            source *s = &l->src[i];
            int held = s->hold && *s->hold;
            pfd[i] = (struct pollfd){.fd = s->fd, .events = held ? 0 : POLLIN};
            ready[i] = 0;
            if (s->sock && !held && !s->asked) {
                ready[i] = zmq_readable(s->sock);
                s->asked = s->own && !ready[i];
            }
            any |= ready[i];
        }
        int n = poll(pfd, (nfds_t)l->n_src, any ? 0 : (int)timeout);
        if (n < 0 && errno != EINTR) {
            log_err("poll: %s", strerror(errno));
            return -1;
        }
        int64_t start = loop_now_ns();
        *l->clock = start / 1000000;
        for (int i = 0; i < l->n_src; i++) {
            source *s = &l->src[i];
            if (!ready[i] && n > 0 && pfd[i].events && (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
                ready[i] = s->sock ? zmq_readable(s->sock) : 1;
            if (ready[i]) {
                s->asked = 0;
                s->fn(s->ctx);
            }
        }
        *l->clock = loop_now();
        timeout = run_jobs(l);
        histo_add(&l->turns, loop_now_ns() - start);
    }
    return 0;
}
