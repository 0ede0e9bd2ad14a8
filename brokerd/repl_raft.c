/*
 * repl_raft.c - repl.h over canonical's libraft (0.15) and libuv.
 *
 * Each replica owns a libuv loop that runs in a thread of its own with
 * libraft's disk and TCP I/O (raft_uv_init, raft_uv_tcp_init).  The
 * caller's thread never touches that loop: it puts proposals into a
 * bounded queue and writes an eventfd the loop polls; the loop hands
 * results back through a second bounded queue and an eventfd the caller
 * polls.  Changes of leader or term are noticed by looking after every
 * event and on a timer (this libraft has no callback for them) and are
 * reported once, coalesced, so they need no queue of their own.  Setup
 * (init, bootstrap, start) runs in the caller's thread before the thread
 * exists, so its errors are logged and returned like any setup's.
 */
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "brokerd.h"
#include "repl.h"
#include "repl_tcp.h"

/* How often the replication thread looks at leader and term when nothing
 * else happens (ms): the bound on how late a change is reported. */
#define REPL_LOOK_MS 10

/* Every entry is handed to libraft framed: an 8-byte header (the
 * caller's length and a magic word, little-endian), the caller's bytes,
 * then zeros up to a multiple of 8.  libraft 0.15 gives a follower that
 * catches up with a batch of entries in one message each entry after one
 * whose length is not a multiple of 8 shifted by that entry's padding
 * (t0923: a rejoining node got index 103 three bytes late, refused it and
 * never applied again); with lengths in multiples of 8 there is no
 * padding to get wrong, and the header catches any other damage. */
#define FRAME_HEAD 8
#define FRAME_MAGIC 0x70735231u /* "psR1" */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A proposal waiting in the request queue. */
struct repl_req {
    void *data;      /* the entry, allocated with raft_malloc (libraft takes it) */
    size_t len;      /* its length */
    uint64_t token;  /* the caller's token, handed back in the result */
};

/* A proposal handed to libraft, until its callback. */
struct repl_prop {
    struct raft_apply req; /* libraft's request; must live until the callback */
    struct repl *r;        /* the replica, for the callback */
    uint64_t token;        /* the caller's token */
};

struct repl {
    struct repl_config cfg;    /* the configuration, data_dir copied below */
    char *dir;                 /* our copy of data_dir */
    pthread_t thread;          /* the replication thread (runs loop) */
    uv_loop_t loop;            /* libuv's loop: only the thread touches it once started */
    struct raft_uv_transport transport; /* the TCP transport (repl_tcp.c) */
    struct raft_io io;         /* libraft's disk and network I/O over loop */
    struct raft raft;          /* the Raft server */
    struct raft_fsm fsm;       /* adapters from libraft's FSM to cfg.fsm */
    uv_poll_t req_watch;       /* the loop's watch of req_efd */
    uv_timer_t look;           /* the periodic look at leader and term */
    int watching;              /* req_watch and look were initialised (after raft_start) */
    int req_efd;               /* eventfd: requests (or close) for the thread */
    int res_efd;               /* eventfd: results for the caller */
    pthread_mutex_t mu;        /* guards everything below */
    struct repl_req reqs[REPL_INFLIGHT_MAX]; /* request ring */
    size_t req_head, req_n;    /* its first entry and count */
    struct repl_result res[REPL_INFLIGHT_MAX]; /* result ring */
    size_t res_head, res_n;    /* its first entry and count */
    size_t inflight;           /* proposals submitted whose result is not yet polled */
    int role_news;             /* leader or term changed since the last repl_poll */
    int closing;               /* repl_close asked the thread to stop */
    int handover;              /* repl_handover: 1 asked, 2 under way, 3 finished */
    pthread_cond_t handed;     /* signalled when handover becomes 3 */
    struct raft_transfer xfer; /* libraft's transfer request (the thread's) */
    struct repl_info info;     /* the thread's last look at the group */
    uint64_t stored;           /* the thread's: libraft's last_stored at the last look */
    uint64_t stored_since;     /* the thread's: loop ms it last moved, or entries
                                  stopped waiting for the disk */
    int (*io_append)(struct raft_io *, struct raft_io_append *, const struct raft_entry[],
                     unsigned, raft_io_append_cb); /* libraft's own append (append_guard) */
    int (*io_put)(struct raft_io *, unsigned, struct raft_io_snapshot_put *,
                  const struct raft_snapshot *, raft_io_snapshot_put_cb); /* and snapshot put */
    int write_failed;          /* the thread's: a disk write failed, writes refused since */
};

/* An append on its way through append_guard to libraft's disk I/O. */
struct repl_append {
    struct raft_io_append inner;  /* the request libraft's I/O carries out */
    struct raft_io_append *outer; /* libraft's core's request, answered with inner's status */
    struct repl *r;               /* the replica */
};

/* A snapshot on its way through put_guard to libraft's disk I/O. */
struct repl_put {
    struct raft_io_snapshot_put inner;  /* the request libraft's I/O carries out */
    struct raft_io_snapshot_put *outer; /* libraft's core's request */
    struct repl *r;                     /* the replica */
};

/* Wakes the reader of an eventfd. */
static void efd_kick(int fd)
{
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    (void)n; /* EAGAIN means the counter is already non-zero: woken anyway */
}

static void efd_drain(int fd)
{
    uint64_t v;
    ssize_t n = read(fd, &v, sizeof v);
    (void)n;
}

/* Replication thread: refreshes r->info from libraft; a change of leader
 * or term is flagged for the caller. */
static void look(struct repl *r)
{
    struct repl_info in = { 0 };
    raft_id leader = 0;
    const char *addr = NULL;
    raft_leader(&r->raft, &leader, &addr);
    int st = raft_state(&r->raft);
    in.is_leader = st == RAFT_LEADER;
    in.role = st == RAFT_LEADER      ? REPL_LEADER
              : st == RAFT_CANDIDATE ? REPL_CANDIDATE
                                     : REPL_FOLLOWER;
    in.leader = (unsigned)leader;
    in.term = r->raft.current_term;
    in.commit = r->raft.commit_index;
    in.applied = raft_last_applied(&r->raft);
    in.last = raft_last_index(&r->raft);
    /* A disk that stores nothing while entries wait for it has failed:
     * libraft marks its I/O errored (ENOSPC, EIO) and never writes again,
     * without telling us, so only this shows it. */
    uint64_t now = uv_now(&r->loop);
    if (r->raft.last_stored != r->stored || r->raft.last_stored >= in.last) {
        r->stored = r->raft.last_stored;
        r->stored_since = now;
    }
    unsigned election = r->cfg.election_ms ? r->cfg.election_ms : 1000;
    in.write_failed = r->write_failed;
    in.stalled = r->write_failed || now - r->stored_since > (uint64_t)REPL_STALL_TIMEOUTS * election;
    /* The leader's progress array (public in libraft's struct raft) has an
     * entry per server of the configuration, in its order.  While a leader
     * steps down libraft frees it before the state changes, and the
     * callbacks it fails on the way (applied) look here: NULL then. */
    const struct raft_progress *progress = in.is_leader ? r->raft.leader_state.progress : NULL;
    for (unsigned i = 0; i < r->raft.configuration.n && in.n_voters < REPL_VOTERS_MAX; i++)
        if (r->raft.configuration.servers[i].role == RAFT_VOTER) {
            raft_id id = r->raft.configuration.servers[i].id;
            if (progress)
                in.match[in.n_voters] = id == r->raft.id ? in.last
                                        : progress[i].match_index;
            in.voters[in.n_voters++] = (unsigned)id;
        }
    pthread_mutex_lock(&r->mu);
    int news = in.leader != r->info.leader || in.term != r->info.term ||
               in.is_leader != r->info.is_leader || in.stalled != r->info.stalled;
    r->info = in;
    if (news)
        r->role_news = 1;
    pthread_mutex_unlock(&r->mu);
    if (news)
        efd_kick(r->res_efd);
}

/*
 * libraft 0.15's disk I/O marks itself errored when a write fails (a full
 * disk, EIO) but goes on writing what comes after it, and a failed write
 * leaves its count of the next index wrong (rolled back past a snapshot's
 * barrier, say); once the disk has room again those writes succeed, and
 * the log on disk has a gap or a segment named for entries it does not
 * hold, which libraft refuses to load at the next start ("unexpected
 * closed segment ...: first index should have been ..."): a node that
 * cannot start.  libraft 0.18 cancels what follows a failed write
 * ("uv_append: Also cancel pending writes in case of write failure");
 * until Debian has it, every append and snapshot passes through a guard
 * here, which refuses them all after the first failure and has the
 * replica reported stalled at once, so that the group reopens it from
 * the consistent log on disk.
 */
static struct repl *repl_of(struct raft_io *io)
{
    return (struct repl *)((char *)io - offsetof(struct repl, io));
}

/* A write ended: a failure (not a cancel at close) stops all writes. */
static void write_done(struct repl *r, int status)
{
    if (status != 0 && status != RAFT_CANCELED && !r->write_failed) {
        r->write_failed = 1;
        look(r);
    }
}

static int write_refused(struct raft_io *io)
{
    snprintf(io->errmsg, RAFT_ERRMSG_BUF_SIZE,
             "a disk write failed: no more until the replica reopens");
    return RAFT_IOERR;
}

static void append_done(struct raft_io_append *req, int status)
{
    struct repl_append *a = req->data;
    struct raft_io_append *outer = a->outer;
    struct repl *r = a->r;
    free(a);
    write_done(r, status);
    outer->cb(outer, status);
}

static int append_guard(struct raft_io *io, struct raft_io_append *req,
                        const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    struct repl *r = repl_of(io);
    if (r->write_failed)
        return write_refused(io);
    struct repl_append *a = malloc(sizeof *a);
    if (!a)
        return RAFT_NOMEM;
    *a = (struct repl_append){.inner = {.data = a}, .outer = req, .r = r};
    req->cb = cb;
    int rv = r->io_append(io, &a->inner, entries, n, append_done);
    if (rv != 0)
        free(a);
    return rv;
}

static void put_done(struct raft_io_snapshot_put *req, int status)
{
    struct repl_put *p = req->data;
    struct raft_io_snapshot_put *outer = p->outer;
    struct repl *r = p->r;
    free(p);
    write_done(r, status);
    outer->cb(outer, status);
}

static int put_guard(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                     const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
    struct repl *r = repl_of(io);
    if (r->write_failed)
        return write_refused(io);
    struct repl_put *p = malloc(sizeof *p);
    if (!p)
        return RAFT_NOMEM;
    *p = (struct repl_put){.inner = {.data = p}, .outer = req, .r = r};
    req->cb = cb;
    int rv = r->io_put(io, trailing, &p->inner, snapshot, put_done);
    if (rv != 0)
        free(p);
    return rv;
}

/* Replication thread: queues the fate of one proposal for the caller.  The
 * ring cannot be full: inflight counts every proposal until its result is
 * polled, and repl_propose admits at most REPL_INFLIGHT_MAX. */
static void result(struct repl *r, uint64_t token, int status, uint64_t index)
{
    raft_id leader = 0;
    const char *addr = NULL;
    raft_leader(&r->raft, &leader, &addr);
    pthread_mutex_lock(&r->mu);
    struct repl_result *x = &r->res[(r->res_head + r->res_n++) % REPL_INFLIGHT_MAX];
    *x = (struct repl_result){ .kind = REPL_DONE, .token = token, .status = status,
                               .index = index, .term = r->raft.current_term,
                               .leader = (unsigned)leader };
    pthread_mutex_unlock(&r->mu);
    efd_kick(r->res_efd);
}

static int status_of(int rv)
{
    switch (rv) {
    case 0: return REPL_OK;
    case RAFT_NOTLEADER: return REPL_NOTLEADER;
    case RAFT_LEADERSHIPLOST: return REPL_LOST;
    default: return REPL_FAILED;
    }
}

static void applied(struct raft_apply *req, int status, void *res)
{
    struct repl_prop *p = req->data;
    struct repl *r = p->r;
    (void)res;
    result(r, p->token, status_of(status), status == 0 ? req->index : 0);
    free(p);
    look(r);
}

/* libraft's FSM callbacks, adapted to the caller's.  During apply,
 * libraft has applied everything before this entry, so its index is
 * last_applied + 1. */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **res)
{
    struct repl *r = fsm->data;
    *res = NULL;
    uint64_t index = raft_last_applied(&r->raft) + 1;
    const unsigned char *f = buf->base;
    uint32_t len = buf->len >= FRAME_HEAD ? get32(f) : 0;
    if (buf->len < FRAME_HEAD || buf->len % 8 || get32(f + 4) != FRAME_MAGIC ||
        buf->len - FRAME_HEAD < len || buf->len - FRAME_HEAD - len >= 8) {
        log_err("replication: entry %llu is damaged (%zu bytes, not one framed entry): not applied",
                (unsigned long long)index, buf->len);
        return RAFT_INVALID;
    }
    return r->cfg.fsm.apply(r->cfg.fsm.ctx, index, f + FRAME_HEAD, len) == 0 ? 0 : RAFT_INVALID;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct repl *r = fsm->data;
    void *data = NULL;
    size_t len = 0;
    if (r->cfg.fsm.snapshot(r->cfg.fsm.ctx, &data, &len) != 0)
        return RAFT_INVALID;
    /* libraft owns (and frees with raft_free) both the array and the data. */
    *bufs = raft_malloc(sizeof **bufs);
    void *copy = raft_malloc(len ? len : 1);
    if (!*bufs || !copy) {
        raft_free(*bufs);
        raft_free(copy);
        free(data);
        return RAFT_NOMEM;
    }
    memcpy(copy, data, len);
    free(data);
    (*bufs)[0] = (struct raft_buffer){ .base = copy, .len = len };
    *n_bufs = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct repl *r = fsm->data;
    if (r->cfg.fsm.restore(r->cfg.fsm.ctx, buf->base, buf->len) != 0)
        return RAFT_MALFORMED;
    raft_free(buf->base); /* on success the FSM owns the snapshot's data */
    return 0;
}

static void closed_handle(uv_handle_t *h)
{
    (void)h;
}

/* The last step of closing: libraft is done, release its I/O and our
 * handles; uv_run then returns as the loop has nothing left. */
static void raft_closed(struct raft *raft)
{
    struct repl *r = raft->data;
    raft_uv_close(&r->io);
    repl_tcp_close(&r->transport);
    /* A replica whose start failed never made them. */
    if (r->watching && !uv_is_closing((uv_handle_t *)&r->req_watch))
        uv_close((uv_handle_t *)&r->req_watch, closed_handle);
    if (r->watching && !uv_is_closing((uv_handle_t *)&r->look))
        uv_close((uv_handle_t *)&r->look, closed_handle);
}

/* Replication thread: libraft ended the transfer (the target leads, or
 * an election timeout passed); repl_handover is waiting. */
static void transferred(struct raft_transfer *req)
{
    struct repl *r = req->data;
    look(r);
    pthread_mutex_lock(&r->mu);
    r->handover = 3;
    pthread_cond_signal(&r->handed);
    pthread_mutex_unlock(&r->mu);
}

/* Replication thread: starts repl_handover's transfer, to the voter that
 * heard from us within the election timeout with the most of the log (a
 * follower that is down would take the whole timeout to fail). */
static void start_transfer(struct repl *r)
{
    raft_id to = 0;
    raft_index best = 0;
    if (raft_state(&r->raft) == RAFT_LEADER)
        for (unsigned i = 0; i < r->raft.configuration.n; i++) {
            const struct raft_server *sv = &r->raft.configuration.servers[i];
            const struct raft_progress *pr = &r->raft.leader_state.progress[i];
            if (sv->id != r->raft.id && sv->role == RAFT_VOTER && pr->recent_recv &&
                (!to || pr->match_index > best)) {
                to = sv->id;
                best = pr->match_index;
            }
        }
    r->xfer.data = r;
    if (raft_state(&r->raft) != RAFT_LEADER ||
        raft_transfer(&r->raft, &r->xfer, to, transferred) != 0) {
        pthread_mutex_lock(&r->mu);
        r->handover = 3;
        pthread_cond_signal(&r->handed);
        pthread_mutex_unlock(&r->mu);
    }
}

/* Replication thread: takes the queued proposals to libraft, or closes. */
static void on_requests(uv_poll_t *w, int status, int events)
{
    struct repl *r = w->data;
    (void)status, (void)events;
    efd_drain(r->req_efd);
    for (;;) {
        pthread_mutex_lock(&r->mu);
        if (r->closing) {
            pthread_mutex_unlock(&r->mu);
            uv_poll_stop(&r->req_watch);
            uv_timer_stop(&r->look);
            raft_close(&r->raft, raft_closed);
            return;
        }
        if (r->handover == 1) {
            r->handover = 2;
            pthread_mutex_unlock(&r->mu);
            start_transfer(r);
            continue;
        }
        if (r->req_n == 0) {
            pthread_mutex_unlock(&r->mu);
            break;
        }
        struct repl_req q = r->reqs[r->req_head];
        r->req_head = (r->req_head + 1) % REPL_INFLIGHT_MAX;
        r->req_n--;
        pthread_mutex_unlock(&r->mu);

        struct repl_prop *p = malloc(sizeof *p);
        if (!p) {
            raft_free(q.data);
            result(r, q.token, REPL_FAILED, 0);
            continue;
        }
        p->r = r;
        p->token = q.token;
        p->req.data = p;
        struct raft_buffer buf = { .base = q.data, .len = q.len };
        int rv = raft_apply(&r->raft, &p->req, &buf, 1, applied);
        if (rv != 0) {
            raft_free(q.data);
            free(p);
            result(r, q.token, status_of(rv), 0);
        }
    }
    look(r);
}

/* Replication thread: the connection this replica made to id, the leader
 * it follows, ended (repl_tcp.c, asked at every periodic look).  The
 * leader's process has most likely died (its kernel closes its
 * connections at once, kill -9 included), and waiting a whole election
 * timeout for that costs publishers a stall of one to two seconds:
 * - libraft's follower refuses every vote while it still names a leader,
 *   so no survivor could win before the last of them timed out too (and a
 *   candidate whose pre-vote was refused waits yet another timeout); the
 *   leader is forgotten here (libraft keeps it in the public struct raft;
 *   it names it again at its next heartbeat, should it be alive after
 *   all), and the broker hears "no leader" at once;
 * - the election timer is brought forward to a heartbeat from now plus
 *   half an election timeout per surviving voter of a lower id, so the
 *   survivors stand one after the other instead of together (which would
 *   split the vote).  The first whose log is complete wins (pre-vote
 *   refuses one that is behind, and the next stands).  A live leader's
 *   next heartbeat resets the timer as ever.
 * This changes no rule of Raft's safety: a vote is still granted only to
 * a candidate whose log is complete, once per term. */
static void peer_gone(struct repl *r, raft_id id)
{
    struct raft *raft = &r->raft;
    raft->follower_state.current_leader.id = 0;
    unsigned rank = 0;
    for (unsigned i = 0; i < raft->configuration.n; i++) {
        const struct raft_server *sv = &raft->configuration.servers[i];
        if (sv->role == RAFT_VOTER && sv->id != id && sv->id < raft->id)
            rank++;
    }
    raft_time left = raft->heartbeat_timeout + rank * (raft->election_timeout / 2);
    raft_time now = raft->io->time(raft->io);
    raft_time timeout = raft->follower_state.randomized_election_timeout;
    if (now >= raft->election_timer_start && now - raft->election_timer_start + left < timeout &&
        now + left >= timeout)
        raft->election_timer_start = now + left - timeout;
    raft_time elapsed = now - raft->election_timer_start;
    log_notice("raft: the leader (voter %llu) closed its connection: not following it any more, "
               "an election in at most %llu ms", (unsigned long long)id,
               (unsigned long long)(elapsed < timeout ? timeout - elapsed : 0));
}

/* The periodic look (outside libraft's callbacks, so libraft is between
 * two steps when peer_gone changes its state). */
static void on_look(uv_timer_t *t)
{
    struct repl *r = t->data;
    raft_id leader = r->raft.state == RAFT_FOLLOWER ? r->raft.follower_state.current_leader.id : 0;
    if (leader && repl_tcp_peer_closed(&r->transport, leader))
        peer_gone(r, leader);
    look(r);
}

static void *thread_main(void *arg)
{
    struct repl *r = arg;
    /* A peer that went away makes a write raise SIGPIPE in the writing
     * thread; blocked here, the write fails with EPIPE and libraft
     * reconnects, instead of the signal ending the process. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
    return NULL;
}

/* Closes a replica whose thread never started: libraft is closed and the
 * loop run here until it has let go of everything. */
static void close_unstarted(struct repl *r, int raft_inited)
{
    if (raft_inited) {
        raft_close(&r->raft, raft_closed);
    } else {
        raft_uv_close(&r->io);
        repl_tcp_close(&r->transport);
    }
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
}

static void repl_free(struct repl *r)
{
    if (r->req_efd >= 0)
        close(r->req_efd);
    if (r->res_efd >= 0)
        close(r->res_efd);
    for (size_t i = 0; i < r->req_n; i++)
        raft_free(r->reqs[(r->req_head + i) % REPL_INFLIGHT_MAX].data);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->handed);
    free(r->dir);
    free(r);
}

struct repl *repl_open(const struct repl_config *cfg)
{
    const char *self = NULL;
    for (unsigned i = 0; i < cfg->n_voters && i < REPL_VOTERS_MAX; i++)
        if (cfg->voters[i].id == cfg->id)
            self = cfg->voters[i].addr;
    if (!self || cfg->n_voters > REPL_VOTERS_MAX) {
        log_err("replication: id %u is not one of the %u voters", cfg->id, cfg->n_voters);
        return NULL;
    }
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        log_err("replication: cannot make %s: %s", cfg->data_dir, strerror(errno));
        return NULL;
    }
    struct repl *r = calloc(1, sizeof *r);
    if (!r) {
        log_err("replication: out of memory");
        return NULL;
    }
    r->cfg = *cfg;
    r->dir = strdup(cfg->data_dir);
    r->cfg.data_dir = r->dir;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->handed, &ca);
    pthread_condattr_destroy(&ca);
    r->req_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    r->res_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!r->dir || r->req_efd < 0 || r->res_efd < 0 || uv_loop_init(&r->loop) != 0) {
        log_err("replication: cannot set up: %s", strerror(errno));
        repl_free(r);
        return NULL;
    }
    /* Outgoing connections fail after an election timeout without an
     * acknowledgement, so a healed path is dialled again at once
     * (repl_tcp.c says why). */
    int rv = repl_tcp_init(&r->transport, &r->loop, cfg->election_ms ? cfg->election_ms : 1000);
    if (rv != 0) {
        log_err("replication: cannot set up the transport: %s", raft_strerror(rv));
        uv_loop_close(&r->loop);
        repl_free(r);
        return NULL;
    }
    rv = raft_uv_init(&r->io, &r->loop, r->dir, &r->transport);
    if (rv != 0) {
        log_err("replication: cannot use %s: %s", r->dir, r->io.errmsg);
        repl_tcp_close(&r->transport);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        uv_loop_close(&r->loop);
        repl_free(r);
        return NULL;
    }
    /* libraft waits a second before it dials a peer again after a failed
     * connect; a tenth of the election timeout finds a restarted or healed
     * peer well within one. */
    raft_uv_set_connect_retry_delay(&r->io, (cfg->election_ms ? cfg->election_ms : 1000) / 10);
    r->io_append = r->io.append;
    r->io.append = append_guard;
    r->io_put = r->io.snapshot_put;
    r->io.snapshot_put = put_guard;
    r->fsm = (struct raft_fsm){ .version = 1, .data = r, .apply = fsm_apply,
                                .snapshot = fsm_snapshot, .restore = fsm_restore };
    rv = raft_init(&r->raft, &r->io, &r->fsm, cfg->id, self);
    if (rv != 0) {
        log_err("replication: cannot start Raft: %s", raft_errmsg(&r->raft));
        close_unstarted(r, 0);
        repl_free(r);
        return NULL;
    }
    r->raft.data = r;

    /* Every voter of a new group bootstraps the same configuration; on a
     * directory that already holds a log the library refuses, which is the
     * normal case of a restart.  A node that joins a running group with
     * an empty directory must not: its own first entry would stand beside
     * the group's, and as a voter it would call elections before it has
     * caught up. */
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    rv = 0;
    /* Joining, the other voters' addresses come with the leader's
     * configuration and need not be known here. */
    for (unsigned i = 0; i < cfg->n_voters && rv == 0 && !cfg->join; i++)
        rv = raft_configuration_add(&conf, cfg->voters[i].id, cfg->voters[i].addr, RAFT_VOTER);
    if (rv == 0 && !cfg->join)
        rv = raft_bootstrap(&r->raft, &conf);
    raft_configuration_close(&conf);
    if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
        log_err("replication: cannot bootstrap in %s: %s", r->dir, raft_strerror(rv));
        close_unstarted(r, 1);
        repl_free(r);
        return NULL;
    }
    raft_set_election_timeout(&r->raft, cfg->election_ms ? cfg->election_ms : 1000);
    raft_set_heartbeat_timeout(&r->raft, cfg->heartbeat_ms ? cfg->heartbeat_ms : 100);
    /* A replica that was away (restarted, cut off) asks whether it could
     * win before it raises the term, so it does not depose a leader the
     * others still follow. */
    raft_set_pre_vote(&r->raft, true);
    raft_set_snapshot_threshold(&r->raft, cfg->snapshot_every ? cfg->snapshot_every : 1024);
    raft_set_snapshot_trailing(&r->raft, cfg->snapshot_trailing ? cfg->snapshot_trailing : 128);
    /* libraft waits this long (30 s by default) before it sends a snapshot
     * again; in 0.15 a replica that was sent one while it was starting was
     * left at the snapshot's index until then (test_repl's wiped replica),
     * so retry after two election timeouts. */
    raft_set_install_snapshot_timeout(&r->raft, 2 * (cfg->election_ms ? cfg->election_ms : 1000));
    rv = raft_start(&r->raft);
    if (rv != 0) {
        log_err("replication: cannot start in %s: %s", r->dir, raft_errmsg(&r->raft));
        close_unstarted(r, 1);
        repl_free(r);
        return NULL;
    }
    uv_poll_init(&r->loop, &r->req_watch, r->req_efd);
    r->req_watch.data = r;
    uv_poll_start(&r->req_watch, UV_READABLE, on_requests);
    uv_timer_init(&r->loop, &r->look);
    r->look.data = r;
    r->stored_since = uv_now(&r->loop);
    uv_timer_start(&r->look, on_look, REPL_LOOK_MS, REPL_LOOK_MS);
    r->watching = 1;
    look(r);
    if (pthread_create(&r->thread, NULL, thread_main, r) != 0) {
        log_err("replication: cannot start its thread");
        uv_close((uv_handle_t *)&r->req_watch, closed_handle);
        uv_close((uv_handle_t *)&r->look, closed_handle);
        close_unstarted(r, 1);
        repl_free(r);
        return NULL;
    }
    return r;
}

int repl_fd(const struct repl *r)
{
    return r->res_efd;
}

int repl_propose(struct repl *r, const void *data, size_t len, uint64_t token)
{
    pthread_mutex_lock(&r->mu);
    int full = r->inflight >= REPL_INFLIGHT_MAX, closing = r->closing;
    pthread_mutex_unlock(&r->mu);
    if (full || closing) {
        errno = closing ? ESHUTDOWN : EBUSY;
        return -1;
    }
    if (len > UINT32_MAX - FRAME_HEAD - 8) {
        errno = EMSGSIZE;
        return -1;
    }
    size_t flen = FRAME_HEAD + ((len + 7) & ~(size_t)7);
    unsigned char *copy = raft_malloc(flen);
    if (!copy) {
        errno = ENOMEM;
        return -1;
    }
    put32(copy, (uint32_t)len);
    put32(copy + 4, FRAME_MAGIC);
    memcpy(copy + FRAME_HEAD, data, len);
    memset(copy + FRAME_HEAD + len, 0, flen - FRAME_HEAD - len);
    pthread_mutex_lock(&r->mu);
    r->reqs[(r->req_head + r->req_n++) % REPL_INFLIGHT_MAX] =
        (struct repl_req){ .data = copy, .len = flen, .token = token };
    r->inflight++;
    pthread_mutex_unlock(&r->mu);
    efd_kick(r->req_efd);
    return 0;
}

size_t repl_poll(struct repl *r, struct repl_result *out, size_t max)
{
    size_t n = 0;
    efd_drain(r->res_efd);
    pthread_mutex_lock(&r->mu);
    if (r->role_news && n < max) {
        r->role_news = 0;
        out[n++] = (struct repl_result){ .kind = REPL_ROLE, .term = r->info.term,
                                         .leader = r->info.leader };
    }
    while (r->res_n > 0 && n < max) {
        out[n++] = r->res[r->res_head];
        r->res_head = (r->res_head + 1) % REPL_INFLIGHT_MAX;
        r->res_n--;
        r->inflight--;
    }
    int more = r->res_n > 0 || r->role_news;
    pthread_mutex_unlock(&r->mu);
    if (more)
        efd_kick(r->res_efd); /* the caller took fewer than there are */
    return n;
}

void repl_status(struct repl *r, struct repl_info *info)
{
    pthread_mutex_lock(&r->mu);
    *info = r->info;
    pthread_mutex_unlock(&r->mu);
}

int repl_handover(struct repl *r)
{
    pthread_mutex_lock(&r->mu);
    if (!r->info.is_leader || r->closing || r->handover) {
        pthread_mutex_unlock(&r->mu);
        return -1;
    }
    r->handover = 1;
    pthread_mutex_unlock(&r->mu);
    efd_kick(r->req_efd);
    /* libraft gives up after one election timeout; the margin is the hop
     * between the threads. */
    unsigned ms = (r->cfg.election_ms ? r->cfg.election_ms : 1000) + 100;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&r->mu);
    while (r->handover != 3)
        if (pthread_cond_timedwait(&r->handed, &r->mu, &until) == ETIMEDOUT)
            break;
    int ok = r->handover == 3 && !r->info.is_leader && r->info.leader;
    pthread_mutex_unlock(&r->mu);
    return ok ? 0 : -1;
}

void repl_close(struct repl *r)
{
    pthread_mutex_lock(&r->mu);
    r->closing = 1;
    pthread_mutex_unlock(&r->mu);
    efd_kick(r->req_efd);
    pthread_join(r->thread, NULL);
    repl_free(r);
}
