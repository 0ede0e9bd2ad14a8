/*
 * client.c - one connection to brokerd, shared by any number of threads.
 *
 * ZeroMQ sockets must not be used by two threads at once, so the DEALER
 * socket belongs to whoever holds the client's io_lock.  Application
 * threads encode their commands into one bounded buffer under the
 * client's lock and wake the I/O thread through an eventfd; the I/O
 * thread takes the whole buffer at once and sends it in frames of up to
 * 64 KiB.  That is the natural batching of the design: at low rates every
 * command leaves alone and at once, at high rates whatever piled up while
 * the previous send was in flight leaves together.  Answers are matched to
 * the waiting call by their correlation id (an "op"); deliveries go to a
 * bounded receive queue that ps_recv() takes from and ps_fd() signals.
 * The I/O thread also keeps the session: HELLO/WELCOME, heartbeats, and on
 * a lost broker a fresh socket, a new HELLO and the subscriptions again.
 * It watches the socket's handshakes too (zmq_socket_monitor): a broker
 * that refuses our CURVE key or our user, or that speaks another security
 * mechanism, is a final answer, reported at once rather than after the
 * connect timeout.
 *
 * Waking a sleeping thread costs more than anything else on a request's
 * path (tens of microseconds on a virtual machine), so a call that is
 * going to wait anyway does the I/O itself instead of handing it to the
 * I/O thread and back: it sends its own command when the socket is free
 * and nothing else is queued, and while it waits it becomes the socket's
 * reader, polling the socket's file descriptor and decoding what arrives
 * (one reader at a time).  Handing the socket's input between the I/O
 * thread and a reader must not cost wake-ups either: the I/O thread stops
 * watching the input when it finds a reader there, and takes it back only
 * READER_GRACE_MS after the last reader left (a timer, re-armed by every
 * reader that leaves, so a loop of requests never wakes it).  Whoever
 * holds io_lock reads what has arrived before letting go of it
 * (io_settle), because any socket call may consume the signal of the file
 * descriptor that the sleeping thread waits on.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "defaults.h"
#include "internal.h"

#define OUT_MAX (16u << 20)       /* bytes the application may queue before it blocks */
#define RQ_HIGH (64u << 20)       /* received bytes waiting for ps_recv before we stop reading */
#define RQ_LOW (16u << 20)        /* ... and start reading again */
#define RECV_BURST 512            /* frames handled per turn before we send again */
#define SEND_RETRY_MS 5           /* poll timeout while libzmq's pipe is full */
#define READER_GRACE_MS 2         /* the socket's input stays a reader's this long after it left */
#define LINGER_MS 1000            /* ps_close waits this long for unsent commands */
#define DEFAULT_MAX_SIZE 1048576u /* max_message_size until the broker said otherwise */
/* Correlation ids of calls that wait for their answer carry this bit. */
#define OP_BIT (UINT64_C(1) << 62)

/* Where the session stands. */
enum state {
    ST_HANDSHAKE, /* HELLO sent, waiting for WELCOME */
    ST_READY,     /* welcomed: commands flow */
    ST_DEAD       /* lost for good (no reconnect, wrong version, closed) */
};

/* Who holds io_lock, for io_settle. */
enum role {
    ROLE_IO,     /* the I/O thread */
    ROLE_READER, /* the application thread that is the socket's reader */
    ROLE_CALLER  /* an application thread that sent its own command */
};

/* What a waiting call asked for. */
enum op_kind { OP_PING, OP_SUB, OP_UNSUB, OP_SYNC, OP_REQUEST, OP_ADMIN };

/* A subscription, kept so that it can be made again after a reconnect. */
typedef struct sub {
    struct sub *next; /* next subscription of the client */
    char *channel;    /* channel name */
    char *pattern;    /* pattern as given ("#" for none) */
    uint8_t flags;    /* PS_WIRE_RESPONDER */
} sub;

/* Messages dropped for us on a channel, to report with its next message. */
typedef struct gap {
    struct gap *next;  /* next channel with a pending gap */
    uint64_t dropped;  /* messages missed */
    size_t len;        /* length of name */
    char name[];       /* channel name, not NUL-terminated */
} gap;

/* A call waiting for the broker's answer. */
typedef struct op {
    struct op *next;    /* next op of the client */
    uint64_t corr;      /* correlation id, with OP_BIT */
    enum op_kind kind;  /* what was asked */
    int done;           /* the answer is complete */
    int err;            /* errno of a failure, else 0 */
    char *errtext;      /* the broker's text for err, or NULL */
    uint32_t count;     /* OK value, RESULT confirmed, DONE replied */
    uint32_t expected;  /* RESULT and DONE expected */
    ps_msg *rhead;      /* requests: replies not yet collected */
    ps_msg *rtail;      /* ... and the last of them */
    char *json;         /* admin: the answer, NUL-terminated */
    sub *sub;           /* OP_SUB/OP_UNSUB: the subscription concerned */
} op;

struct ps_client {
    pthread_mutex_t io_lock;/* the socket's owner; taken before lock, never after */
    pthread_mutex_t lock;   /* guards everything below up to "io_lock holder only" */
    pthread_cond_t cv_op;   /* an op finished or the state changed */
    pthread_cond_t cv_recv; /* the receive queue got a message */
    pthread_cond_t cv_space;/* the send buffer has room again */
    struct ps_opts opts;    /* our copy of the options */
    char *endpoint;         /* broker endpoint */
    enum state state;       /* session state */
    int conn_err;           /* errno for ST_DEAD */
    int stopping;           /* ps_close was called */
    int welcomed;           /* a WELCOME was ever received */
    uint32_t max_size;      /* broker's max_message_size */
    ps__buf out;            /* encoded commands waiting for the I/O thread */
    uint64_t out_max_op;    /* highest op corr inside out */
    int wake_pending;       /* wake_fd was written and not yet read */
    uint64_t next_corr;     /* last correlation id handed out */
    op *ops;                /* calls waiting for an answer */
    uint64_t unconfirmed;   /* PS_CONFIRM publishes not yet answered */
    int async_err;          /* first refusal since the last ps_flush */
    char *async_text;       /* its text, or NULL */
    ps_msg *rq_head;        /* received messages for ps_recv */
    ps_msg *rq_tail;        /* ... the last of them */
    size_t rq_bytes;        /* payload bytes in the receive queue */
    int paused;             /* not reading the socket: receive queue full */
    sub *subs;              /* active subscriptions */
    gap *gaps;              /* gaps not yet attached to a message */
    uint64_t dropped;       /* messages dropped for us since ps_dropped */
    int reader;             /* an application thread waits as the socket's reader */
    int64_t reader_until;   /* ms: the I/O thread leaves the input alone until then */
    int reopen;             /* the session needs a fresh socket (no reader may poll the old one) */
    /* Set at connect, then only read: */
    void *ctx;              /* our own ZeroMQ context */
    pthread_t thread;       /* the I/O thread */
    int thread_started;     /* thread must be joined */
    int wake_fd;            /* eventfd: application -> I/O thread */
    int kick_fd;            /* eventfd: -> the application thread that is the reader */
    int grace_fd;           /* timerfd: READER_GRACE_MS after the last reader left */
    int recv_fd;            /* eventfd: readable while messages wait (ps_fd) */
    /* io_lock holder only: */
    void *sock;             /* DEALER connected to the broker */
    int sock_fd;            /* its ZMQ_FD; changed with both locks held, so lock suffices to read it */
    void *mon;              /* PAIR receiving sock's handshake failures (I/O thread only) */
    int mon_fd;             /* its ZMQ_FD */
    unsigned n_sockets;     /* sockets opened so far, naming their monitors */
    int hs_closed;          /* handshakes the broker cut off before the first WELCOME */
    ps__buf sending;        /* buffer taken from out, being sent */
    size_t sending_off;     /* bytes of sending already handed to libzmq */
    uint64_t sent_max_op;   /* highest op corr handed to libzmq */
    int64_t last_in;        /* ms: last frame from the broker */
    int64_t last_out;       /* ms: last frame to the broker */
    int64_t hello_at;       /* ms: last HELLO sent */
};

/* The application side and the socket side call each other. */
static void take_out(ps_client *c);
static int flush_sending(ps_client *c);
static int io_settle(ps_client *c, enum role role);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits on cv until deadline (ms, monotonic; -1 forever).  ETIMEDOUT or 0. */
static int cv_wait(pthread_cond_t *cv, pthread_mutex_t *m, int64_t deadline)
{
    if (deadline < 0)
        return pthread_cond_wait(cv, m);
    struct timespec ts = {.tv_sec = deadline / 1000, .tv_nsec = (deadline % 1000) * 1000000};
    return pthread_cond_timedwait(cv, m, &ts);
}

static int64_t deadline_after(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

static void eventfd_signal(int fd)
{
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    (void)n; /* a full counter is still readable, which is all we need */
}

static void eventfd_clear(int fd)
{
    uint64_t v;
    ssize_t n = read(fd, &v, sizeof v);
    (void)n; /* EAGAIN means it was clear already */
}

static char *dup_slice(const ps__slice *s)
{
    char *p = malloc(s->len + 1);
    if (p) {
        memcpy(p, s->ptr, s->len);
        p[s->len] = '\0';
    }
    return p;
}

/* Remembers the first refusal for the next ps_flush.  Lock held. */
static void note_async_error(ps_client *c, int err, const ps__slice *text)
{
    if (c->async_err)
        return;
    c->async_err = err;
    free(c->async_text);
    c->async_text = text && text->len ? dup_slice(text) : NULL;
}

static void sub_free(sub *s)
{
    if (!s)
        return;
    free(s->channel);
    free(s->pattern);
    free(s);
}

static void op_free(op *o)
{
    while (o->rhead) {
        ps_msg *m = o->rhead;
        o->rhead = m->next;
        ps_msg_destroy(&m);
    }
    sub_free(o->sub);
    free(o->errtext);
    free(o->json);
    free(o);
}

static op *op_find(ps_client *c, uint64_t corr)
{
    for (op *o = c->ops; o; o = o->next)
        if (o->corr == corr)
            return o;
    return NULL;
}

/* Unlinks o from the client.  Lock held. */
static void op_unlink(ps_client *c, op *o)
{
    for (op **pp = &c->ops; *pp; pp = &(*pp)->next)
        if (*pp == o) {
            *pp = o->next;
            return;
        }
}

static void op_fail(op *o, int err)
{
    if (o->done)
        return;
    o->err = err;
    o->done = 1;
}

/* ---------------------------------------------------------------------------
 * The application side: encode a command into the send buffer.
 */

/* Wakes the I/O thread (once until it looked).  Lock held. */
static void wake_io(ps_client *c)
{
    if (!c->wake_pending) {
        c->wake_pending = 1;
        eventfd_signal(c->wake_fd);
    }
}

/*
 * Sends what is queued from the calling thread when nobody else is using
 * the socket, sparing the I/O thread's wake-up and the calling thread's
 * own when the answer comes.  Lock held; let go of and taken again when it
 * sends.  Returns 1 when everything queued went out, else 0.
 */
static int send_direct(ps_client *c)
{
    if (c->state != ST_READY || c->reopen || pthread_mutex_trylock(&c->io_lock) != 0)
        return 0;
    take_out(c);
    pthread_mutex_unlock(&c->lock);
    int drained = flush_sending(c);
    io_settle(c, ROLE_CALLER);
    pthread_mutex_unlock(&c->io_lock);
    pthread_mutex_lock(&c->lock);
    return drained && !c->out.len;
}

/*
 * Appends cmd to the send buffer, waiting while the buffer is full.  With
 * o, cmd gets o's correlation id and o joins the waiting calls; with
 * confirm, cmd gets a plain correlation id counted as unconfirmed.  With
 * direct (a call that will wait for its answer, or a reply: batching them
 * would only add latency), the calling thread sends it itself when it can.
 * Lock held.  Returns 0, or -1 with errno.
 */
static int submit_locked(ps_client *c, ps__cmd *cmd, op *o, int confirm, int direct)
{
    size_t need = ps__wire_size(cmd);
    while (c->state != ST_DEAD && c->out.len && c->out.len + need > OUT_MAX)
        cv_wait(&c->cv_space, &c->lock, -1);
    if (c->state == ST_DEAD) {
        errno = c->conn_err ? c->conn_err : EHOSTUNREACH;
        return -1;
    }
    if (o) {
        o->corr = OP_BIT | ++c->next_corr;
        cmd->corr = o->corr;
    } else if (confirm) {
        cmd->corr = ++c->next_corr & ~OP_BIT;
    }
    if (ps__wire_put(&c->out, cmd) < 0)
        return -1;
    if (c->opts.trace)
        ps__trace_cmd(&c->opts, PS_EV_HANDED, cmd);
    if (o) {
        o->next = c->ops;
        c->ops = o;
        c->out_max_op = o->corr;
    } else if (confirm) {
        c->unconfirmed++;
    }
    if (!direct || !send_direct(c))
        wake_io(c);
    return 0;
}

static int submit(ps_client *c, ps__cmd *cmd, op *o, int confirm, int direct)
{
    pthread_mutex_lock(&c->lock);
    int rc = submit_locked(c, cmd, o, confirm, direct);
    int err = errno;
    pthread_mutex_unlock(&c->lock);
    errno = err;
    return rc;
}

static op *op_new(enum op_kind kind)
{
    op *o = calloc(1, sizeof *o);
    if (o)
        o->kind = kind;
    return o;
}

/* What a waiting call waits for; true when it is there.  Lock held. */
typedef int wait_done_fn(const ps_client *c, const void *arg);

/* True while the socket's input may be read: not dead, not about to be
 * replaced, and the receive queue has room.  Lock held. */
static int input_open(const ps_client *c)
{
    return c->state != ST_DEAD && !c->reopen && !c->paused;
}

/* True while an application thread may be the socket's reader: a session,
 * its input open, no ps_close.  Lock held. */
static int reader_may_stay(const ps_client *c)
{
    return c->state == ST_READY && input_open(c) && !c->stopping;
}

/* True when the calling thread may become the socket's reader.  Lock held. */
static int can_read(const ps_client *c)
{
    return !c->reader && c->sock_fd >= 0 && reader_may_stay(c);
}

/*
 * Waits as the socket's reader: polls its descriptor and reads what
 * arrives until done() holds, the session changes or deadline passes
 * (ETIMEDOUT).  Then hands the socket's input back to the I/O thread and
 * lets the other waiting threads look again (one of them may read next).
 * Lock held on entry and on return.
 */
static int read_as_reader(ps_client *c, int64_t deadline, wait_done_fn *done, const void *arg)
{
    int rc = 0, ev = ZMQ_POLLIN; /* look before the first sleep */
    c->reader = 1;
    while (!done(c, arg) && reader_may_stay(c)) {
        int64_t ms = deadline < 0 ? -1 : deadline - now_ms();
        if (deadline >= 0 && ms <= 0) {
            rc = ETIMEDOUT;
            break;
        }
        /* The socket stays while we are its reader: reopen_socket waits for us. */
        struct pollfd p[2] = {{c->sock_fd, POLLIN, 0}, {c->kick_fd, POLLIN, 0}};
        pthread_mutex_unlock(&c->lock);
        /* libzmq signals the descriptor only for input that follows a read
         * that found nothing, so while input is left there is no sleeping. */
        if (!(ev & ZMQ_POLLIN) && poll(p, 2, (int)ms) > 0 && (p[1].revents & POLLIN))
            eventfd_clear(c->kick_fd);
        pthread_mutex_lock(&c->io_lock);
        ev = io_settle(c, ROLE_READER);
        pthread_mutex_unlock(&c->io_lock);
        pthread_mutex_lock(&c->lock);
    }
    c->reader = 0;
    c->reader_until = now_ms() + READER_GRACE_MS;
    struct itimerspec its = {.it_value = {.tv_nsec = READER_GRACE_MS * 1000000L}};
    timerfd_settime(c->grace_fd, 0, &its, NULL);
    if (ev & ZMQ_POLLIN)
        wake_io(c); /* more has come: the I/O thread reads on meanwhile */
    pthread_cond_broadcast(&c->cv_op);
    pthread_cond_broadcast(&c->cv_recv);
    return rc;
}

/*
 * Waits until done() holds, the session is dead or deadline passes
 * (ETIMEDOUT; else 0).  The first thread to wait reads the socket itself;
 * the others wait on cv for what it reads.  Lock held.
 */
static int wait_locked(ps_client *c, pthread_cond_t *cv, int64_t deadline,
                       wait_done_fn *done, const void *arg)
{
    while (!done(c, arg) && c->state != ST_DEAD) {
        if (can_read(c)) {
            if (read_as_reader(c, deadline, done, arg) == ETIMEDOUT)
                return done(c, arg) ? 0 : ETIMEDOUT;
        } else if (cv_wait(cv, &c->lock, deadline) == ETIMEDOUT) {
            return done(c, arg) ? 0 : ETIMEDOUT;
        }
    }
    return 0;
}

static int op_answered(const ps_client *c, const void *arg)
{
    (void)c;
    return ((const op *)arg)->done;
}

static int reply_or_answered(const ps_client *c, const void *arg)
{
    (void)c;
    const op *o = arg;
    return o->rhead || o->done;
}

static int all_confirmed(const ps_client *c, const void *arg)
{
    (void)arg;
    return !c->unconfirmed;
}

static int received(const ps_client *c, const void *arg)
{
    (void)arg;
    return c->rq_head != NULL;
}

/*
 * Waits until o is answered or deadline passes, then unlinks it (unless
 * keep) and returns 0 (answered; o->err may be set) or -1 with ETIMEDOUT
 * or EHOSTUNREACH.  Lock held.
 */
static int op_wait_locked(ps_client *c, op *o, int64_t deadline)
{
    wait_locked(c, &c->cv_op, deadline, op_answered, o);
    if (o->done)
        return 0;
    errno = c->state == ST_DEAD ? (c->conn_err ? c->conn_err : EHOSTUNREACH) : ETIMEDOUT;
    return -1;
}

/*
 * Sends cmd as a call with an answer and waits up to timeout_ms.  Returns
 * the finished op (the caller frees it) or NULL with errno; a refusal by
 * the broker is NULL with its errno and the text in ps_errmsg().
 */
static op *call(ps_client *c, ps__cmd *cmd, enum op_kind kind, int timeout_ms, sub *s)
{
    op *o = op_new(kind);
    if (!o) {
        sub_free(s);
        return NULL;
    }
    o->sub = s;
    pthread_mutex_lock(&c->lock);
    if (submit_locked(c, cmd, o, 0, 1) < 0) {
        int err = errno;
        pthread_mutex_unlock(&c->lock);
        op_free(o);
        errno = err;
        return NULL;
    }
    int rc = op_wait_locked(c, o, deadline_after(timeout_ms));
    int err = errno;
    op_unlink(c, o);
    pthread_mutex_unlock(&c->lock);
    if (rc < 0 || o->err) {
        if (rc == 0) {
            err = o->err;
            ps__set_errmsg(o->errtext ? o->errtext : "", o->errtext ? strlen(o->errtext) : 0);
        }
        op_free(o);
        errno = err;
        return NULL;
    }
    return o;
}

/* ---------------------------------------------------------------------------
 * The I/O thread.
 */

static int send_raw(ps_client *c, const void *data, size_t len)
{
    int rc = zmq_send(c->sock, data, len, ZMQ_DONTWAIT);
    if (rc >= 0)
        c->last_out = now_ms();
    return rc;
}

/* Sends one command at once, outside the batch (HELLO, HEARTBEAT, BYE). */
static void send_now(ps_client *c, const ps__cmd *cmd)
{
    ps__buf b = {0};
    if (ps__wire_put(&b, cmd) == 0 && send_raw(c, b.data, b.len) >= 0 && c->opts.trace)
        ps__trace_cmd(&c->opts, PS_EV_SENT, cmd);
    ps__buf_free(&b);
}

static void send_hello(ps_client *c)
{
    ps__cmd h = {.cmd = PS_CMD_HELLO, .major = PS_WIRE_MAJOR, .minor = PS_WIRE_MINOR,
                 .heartbeat_ms = (uint32_t)c->opts.heartbeat_ms};
    if (c->opts.name) {
        h.text.ptr = c->opts.name;
        h.text.len = strlen(c->opts.name);
    }
    send_now(c, &h);
    c->hello_at = now_ms();
}

/* Tells the application thread that is the socket's reader, if any, to
 * look again at what it waits for.  Lock held. */
static void kick_reader(ps_client *c)
{
    if (c->reader)
        eventfd_signal(c->kick_fd);
}

/* Closes the DEALER and its monitor; with drop, what is still in its
 * pipe goes too, else it is sent within the linger.  No reader may be
 * polling the socket. */
static void close_socket(ps_client *c, int drop)
{
    int zero = 0;
    if (c->sock) {
        zmq_socket_monitor(c->sock, NULL, 0);
        if (drop)
            zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(c->sock);
    }
    if (c->mon)
        zmq_close(c->mon);
    c->sock = c->mon = NULL;
    c->sock_fd = c->mon_fd = -1;
}

/* Opens a fresh DEALER and connects it.  Returns 0 or -1 with errno. */
static int open_socket(ps_client *c)
{
    void *s = zmq_socket(c->ctx, ZMQ_DEALER);
    if (!s)
        return -1;
    c->sock = s;
    int linger = LINGER_MS;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (c->opts.curve_server_key) {
        char pub[41], sec[41];
        const char *p = c->opts.curve_public_key, *k = c->opts.curve_secret_key;
        if (!p || !k) { /* no key pair of our own: a fresh one for this connection */
            if (zmq_curve_keypair(pub, sec) < 0)
                goto fail;
            p = pub;
            k = sec;
        }
        int rc = zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, c->opts.curve_server_key, 40) < 0 ||
                 zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, p, 40) < 0 ||
                 zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, k, 40) < 0;
        memset(sec, 0, sizeof sec);
        if (rc)
            goto fail;
    }
    /* The monitor is connected before the DEALER, so no event is missed. */
    char name[64];
    snprintf(name, sizeof name, "inproc://pubsub-handshakes-%u", ++c->n_sockets);
    if (zmq_socket_monitor(s, name, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                        ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                        ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) < 0 ||
        !(c->mon = zmq_socket(c->ctx, ZMQ_PAIR)) || zmq_connect(c->mon, name) < 0)
        goto fail;
    size_t fdlen = sizeof(int);
    int fd = -1, mfd = -1;
    if (zmq_connect(s, c->endpoint) < 0 || zmq_getsockopt(s, ZMQ_FD, &fd, &fdlen) < 0 ||
        zmq_getsockopt(c->mon, ZMQ_FD, &mfd, &fdlen) < 0)
        goto fail;
    c->sock_fd = fd;
    c->mon_fd = mfd;
    if (c->opts.trace)
        ps__trace_note(&c->opts, PS_EV_CONNECT, c->endpoint);
    return 0;
fail:;
    int err = errno;
    close_socket(c, 1);
    errno = err;
    return -1;
}

/*
 * The session is gone (broker silent, or it no longer knows us).  Calls
 * whose commands already left fail; what the application queued since is
 * kept for the next session.  With fresh_socket the old socket and
 * everything still in its pipe are dropped.  Lock held.
 */
static void session_lost(ps_client *c, int fresh_socket)
{
    if (c->opts.trace)
        ps__trace_note(&c->opts, PS_EV_LOST, fresh_socket ? "the broker fell silent"
                                                           : "the broker no longer knows the session");
    for (op *o = c->ops; o; o = o->next)
        if (o->corr <= c->sent_max_op)
            op_fail(o, EHOSTUNREACH);
    if (c->unconfirmed) {
        ps__slice t = {"connection to the broker lost before confirmation", 50};
        note_async_error(c, EHOSTUNREACH, &t);
        c->unconfirmed = 0;
    }
    c->sending.len = 0;
    c->sending_off = 0;
    pthread_cond_broadcast(&c->cv_op);
    kick_reader(c); /* it waits in poll(), not on a condition variable */
    if (!c->opts.reconnect) {
        c->state = ST_DEAD;
        c->conn_err = EHOSTUNREACH;
        for (op *o = c->ops; o; o = o->next)
            op_fail(o, EHOSTUNREACH);
        pthread_cond_broadcast(&c->cv_recv);
        pthread_cond_broadcast(&c->cv_space);
        return;
    }
    c->state = ST_HANDSHAKE;
    c->last_in = now_ms();
    if (fresh_socket) {
        c->reopen = 1; /* by the I/O thread, once no reader polls the old socket */
        return;
    }
    send_hello(c);
}

/*
 * Replaces the socket by a fresh one and says HELLO on it: the broker is
 * not answering on the old one, and what is still in its pipe is stale.
 * Both locks held, no reader.
 */
static void reopen_socket(ps_client *c)
{
    c->reopen = 0;
    c->state = ST_HANDSHAKE; /* whatever the old socket said last */
    close_socket(c, 1);
    if (open_socket(c) < 0) {
        c->state = ST_DEAD;
        c->conn_err = errno;
        pthread_cond_broadcast(&c->cv_op);
        pthread_cond_broadcast(&c->cv_recv);
        pthread_cond_broadcast(&c->cv_space);
        return;
    }
    send_hello(c);
}

/* After a WELCOME on a new session: the subscriptions again.  Lock held. */
static void resubscribe(ps_client *c)
{
    for (sub *s = c->subs; s; s = s->next) {
        ps__cmd cmd = {.cmd = PS_CMD_SUBSCRIBE, .flags = s->flags,
                       .window = (uint32_t)c->opts.window,
                       .channel = {s->channel, strlen(s->channel)},
                       .topic = {s->pattern, strlen(s->pattern)}};
        ps__wire_put(&c->sending, &cmd);
    }
}

static int same_sub(const sub *a, const sub *b)
{
    return !strcmp(a->channel, b->channel) && !strcmp(a->pattern, b->pattern);
}

/* An op was answered positively: do what the answer means.  Lock held. */
static void op_succeeded(ps_client *c, op *o)
{
    if (o->kind == OP_SUB && o->sub) {
        for (sub *s = c->subs; s; s = s->next)
            if (same_sub(s, o->sub)) {
                s->flags = o->sub->flags;
                goto done;
            }
        o->sub->next = c->subs;
        c->subs = o->sub;
        o->sub = NULL;
    } else if (o->kind == OP_UNSUB && o->sub) {
        for (sub **pp = &c->subs; *pp; pp = &(*pp)->next)
            if (same_sub(*pp, o->sub)) {
                sub *s = *pp;
                *pp = s->next;
                sub_free(s);
                break;
            }
    }
done:
    o->done = 1;
}

static void rq_push(ps_client *c, ps_msg *m)
{
    m->next = NULL;
    if (c->rq_tail)
        c->rq_tail->next = m;
    else {
        c->rq_head = m;
        eventfd_signal(c->recv_fd);
    }
    c->rq_tail = m;
    c->rq_bytes += m->size + 64;
    if (c->rq_bytes > RQ_HIGH)
        c->paused = 1;
}

static void on_deliver(ps_client *c, const ps__cmd *cmd)
{
    ps_msg *m = ps__msg_new(&cmd->channel, &cmd->topic, &cmd->data);
    if (!m) {
        c->dropped++; /* out of memory: the same as a drop by the broker */
        return;
    }
    m->seq = cmd->seq;
    m->tag = cmd->tag;
    m->flags = cmd->flags;
    for (gap **pp = &c->gaps; *pp; pp = &(*pp)->next) {
        gap *g = *pp;
        if (g->len == cmd->channel.len && !memcmp(g->name, cmd->channel.ptr, g->len)) {
            m->gap = g->dropped;
            *pp = g->next;
            free(g);
            break;
        }
    }
    rq_push(c, m);
}

static void on_gap(ps_client *c, const ps__cmd *cmd)
{
    c->dropped += cmd->dropped;
    for (gap *g = c->gaps; g; g = g->next)
        if (g->len == cmd->channel.len && !memcmp(g->name, cmd->channel.ptr, g->len)) {
            g->dropped += cmd->dropped;
            return;
        }
    gap *g = malloc(sizeof *g + cmd->channel.len);
    if (!g)
        return; /* the count above still shows it */
    g->dropped = cmd->dropped;
    g->len = cmd->channel.len;
    memcpy(g->name, cmd->channel.ptr, g->len);
    g->next = c->gaps;
    c->gaps = g;
}

/* The broker gave a final no (err, its reason in text): the client is
 * dead, and every call fails with err.  Lock held. */
static void session_refused(ps_client *c, int err, const ps__slice *text)
{
    c->state = ST_DEAD;
    c->conn_err = err;
    for (op *p = c->ops; p; p = p->next)
        op_fail(p, err);
    note_async_error(c, err, text);
    pthread_cond_broadcast(&c->cv_op);
    pthread_cond_broadcast(&c->cv_recv);
    pthread_cond_broadcast(&c->cv_space);
    kick_reader(c);
}

/*
 * A handshake failed (a ZMQ_EVENT_HANDSHAKE_FAILED_* event with value).
 * libzmq would retry for ever; a refused key or user, or a broker of
 * another security mechanism, will not change its mind.  Lock held.
 */
static void handshake_failed(ps_client *c, uint16_t event, uint32_t value)
{
    int curve = c->opts.curve_server_key != NULL, err = ECONNREFUSED;
    const char *why = NULL;
    if (c->state == ST_DEAD)
        return;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value != 300) { /* 300: try again */
        err = EACCES;
        why = curve ? "the broker refused this client's CURVE key (not among its clients)"
                    : "the broker refused this client (its user is not among the broker's clients)";
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        if (value != ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            why = "the security handshake with the broker failed";
        else if (curve)
            why = "the broker does not speak CURVE on this endpoint";
        else
            why = "the broker requires CURVE encryption (set the broker's public key)";
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && !c->welcomed &&
               ++c->hs_closed >= 2) {
        /* A CURVE broker says nothing to a client with a wrong server key:
         * it cannot read its HELLO, and closes the connection.  A plain
         * client may see the same: the broker's greeting naming CURVE is
         * lost when it resets the connection after reading ours. */
        why = curve ? "the broker closed the connection during the CURVE handshake (is the "
                      "server key the broker's public key?)"
                    : "the broker closed the connection during the handshake (if it requires "
                      "CURVE encryption, set the broker's public key)";
    }
    if (why) {
        ps__slice t = {why, strlen(why)};
        session_refused(c, err, &t);
    }
}

/* Reads the monitor's handshake events, all of them: its descriptor
 * signals again only after a read found nothing.  I/O thread. */
static void read_events(ps_client *c)
{
    for (;;) {
        zmq_msg_t m;
        uint16_t event = 0;
        uint32_t value = 0;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        /* Frame 1: event (u16) and value (u32) in host order; frame 2: the endpoint. */
        if (zmq_msg_size(&m) >= 6) {
            memcpy(&event, zmq_msg_data(&m), 2);
            memcpy(&value, (const uint8_t *)zmq_msg_data(&m) + 2, 4);
        }
        while (zmq_msg_more(&m)) {
            zmq_msg_close(&m);
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, c->mon, 0) < 0)
                break;
        }
        zmq_msg_close(&m);
        pthread_mutex_lock(&c->lock);
        handshake_failed(c, event, value);
        pthread_mutex_unlock(&c->lock);
    }
}

/* Handles one record from the broker.  Lock held. */
static void on_record(ps_client *c, const ps__cmd *cmd)
{
    op *o = (cmd->corr & OP_BIT) ? op_find(c, cmd->corr) : NULL;
    switch (cmd->cmd) {
    case PS_CMD_WELCOME:
        if (c->state != ST_HANDSHAKE)
            break;
        c->state = ST_READY;
        c->max_size = cmd->max_size ? cmd->max_size : DEFAULT_MAX_SIZE;
        if (c->welcomed)
            resubscribe(c);
        c->welcomed = 1;
        pthread_cond_broadcast(&c->cv_op);
        wake_io(c); /* the subscriptions again, and what was queued meanwhile, go now */
        break;
    case PS_CMD_ERROR:
        if (cmd->code == PS_WERR_VERSION) {
            session_refused(c, PS_EVERSION, &cmd->text);
        } else if (c->state == ST_HANDSHAKE && cmd->code != PS_WERR_SESSION &&
                   (!c->welcomed || cmd->code == PS_WERR_DENIED)) {
            /* The broker refused the session itself (too many clients,
             * not allowed any more, ...). */
            session_refused(c, ps__errno_from_wire(cmd->code), &cmd->text);
        } else if (cmd->code == PS_WERR_SESSION) {
            if (c->state == ST_READY) /* the broker restarted and forgot us */
                session_lost(c, 0);
        } else if (o) {
            free(o->errtext);
            o->errtext = dup_slice(&cmd->text);
            op_fail(o, ps__errno_from_wire(cmd->code));
        } else {
            if (cmd->corr && c->unconfirmed)
                c->unconfirmed--;
            note_async_error(c, ps__errno_from_wire(cmd->code), &cmd->text);
        }
        break;
    case PS_CMD_OK:
        if (o) {
            o->count = cmd->count;
            op_succeeded(c, o);
        } else if (cmd->corr && c->unconfirmed) {
            c->unconfirmed--;
        }
        break;
    case PS_CMD_PONG:
        if (o)
            o->done = 1;
        break;
    case PS_CMD_RESULT:
        if (!o && cmd->corr) { /* a PS_SYNC publish without a waiting call */
            if (c->unconfirmed)
                c->unconfirmed--;
            if (cmd->expected == 0 || cmd->count < cmd->expected) {
                char t[96];
                int n = snprintf(t, sizeof t, "%u/%u receivers confirmed a sync message",
                                 cmd->count, cmd->expected);
                ps__slice text = {t, (size_t)n};
                note_async_error(c, cmd->expected == 0 ? PS_ENORESP
                                    : cmd->count == 0  ? ETIMEDOUT
                                                       : PS_EPARTIAL, &text);
            }
            break;
        }
        /* fall through */
    case PS_CMD_DONE:
        if (o) {
            o->count = cmd->count;
            o->expected = cmd->expected;
            o->done = 1;
        }
        break;
    case PS_CMD_REPLY:
        if (o && o->kind == OP_REQUEST) {
            ps__slice none = {"", 0};
            ps_msg *m = ps__msg_new(&none, &none, &cmd->data);
            if (!m)
                break;
            m->status = cmd->status;
            if (o->rtail)
                o->rtail->next = m;
            else
                o->rhead = m;
            o->rtail = m;
        }
        break;
    case PS_CMD_ADMIN_REPLY:
        if (o) {
            o->json = dup_slice(&cmd->data);
            if (!o->json)
                o->err = ENOMEM;
            o->done = 1;
        }
        break;
    case PS_CMD_DELIVER:
        on_deliver(c, cmd);
        break;
    case PS_CMD_GAP:
        on_gap(c, cmd);
        break;
    default:
        break; /* HEARTBEAT, and commands a broker should not send */
    }
}

/* Reads what the socket has, up to RECV_BURST frames.  Returns how many
 * frames it read.  io_lock held. */
static int read_frames(ps_client *c)
{
    int got = 0;
    pthread_mutex_lock(&c->lock);
    for (; got < RECV_BURST && !c->paused; got++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        pthread_mutex_unlock(&c->lock);
        int rc = zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT);
        pthread_mutex_lock(&c->lock);
        if (rc < 0) {
            zmq_msg_close(&m);
            break;
        }
        ps__reader r;
        ps__cmd cmd;
        ps__reader_init(&r, zmq_msg_data(&m), zmq_msg_size(&m));
        while ((rc = ps__wire_next(&r, &cmd)) == 1) {
            if (c->opts.trace)
                ps__trace_cmd(&c->opts, PS_EV_RECEIVED, &cmd);
            on_record(c, &cmd);
        }
        if (rc < 0) {
            ps__slice t = {"malformed frame from the broker", 31};
            note_async_error(c, EPROTO, &t);
        }
        zmq_msg_close(&m);
    }
    if (got) {
        c->last_in = now_ms();
        pthread_cond_broadcast(&c->cv_op);
        if (c->rq_head)
            pthread_cond_broadcast(&c->cv_recv);
    }
    pthread_mutex_unlock(&c->lock);
    return got;
}

/* The socket's ZMQ_EVENTS (0 without a socket).  io_lock held. */
static int sock_events(ps_client *c)
{
    int ev = 0;
    size_t len = sizeof ev;
    if (!c->sock || zmq_getsockopt(c->sock, ZMQ_EVENTS, &ev, &len) < 0)
        return 0;
    return ev;
}


/*
 * Before io_lock is let go: reads a burst of whatever has arrived, because
 * the socket calls just made may have consumed the wake-up of the thread
 * that sleeps on the socket's descriptor, and makes sure that thread looks
 * again when something came or more is waiting.  Returns the socket's
 * events after the read.  io_lock held, lock not.
 */
static int io_settle(ps_client *c, enum role role)
{
    int ev = sock_events(c), got = 0;
    pthread_mutex_lock(&c->lock);
    int open = input_open(c);
    pthread_mutex_unlock(&c->lock);
    if ((ev & ZMQ_POLLIN) && open) {
        got = read_frames(c);
        ev = sock_events(c);
    }
    pthread_mutex_lock(&c->lock);
    int more = (ev & ZMQ_POLLIN) && input_open(c);
    if ((got || more) && role != ROLE_READER)
        kick_reader(c);
    if (more && role == ROLE_CALLER && !c->reader)
        wake_io(c);
    pthread_mutex_unlock(&c->lock);
    return ev;
}

/*
 * Sends what is left of c->sending in frames of up to PS_FRAME_MAX bytes
 * (a single larger record goes alone).  Returns 1 when all went, 0 when
 * libzmq's pipe is full.
 */
static int flush_sending(ps_client *c)
{
    const uint8_t *base = c->sending.data;
    while (c->sending_off < c->sending.len) {
        size_t start = c->sending_off, left = c->sending.len - start;
        size_t n = ps__wire_frame(base + start, left, PS_FRAME_MAX);
        size_t end = start + (n ? n : left); /* n is 0 only for bytes that are no record */
        if (send_raw(c, base + start, end - start) < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            /* The socket refused for good (ETERM): treat as sent and lost. */
        } else if (c->opts.trace) {
            ps__trace_records(&c->opts, PS_EV_SENT, base + start, end - start);
        }
        c->sending_off = end;
    }
    c->sending.len = 0;
    c->sending_off = 0;
    return 1;
}

/* Takes the application's buffer when the previous one is gone.  Lock held. */
static void take_out(ps_client *c)
{
    if (c->state != ST_READY || c->sending.len || !c->out.len)
        return;
    ps__buf t = c->sending;
    c->sending = c->out;
    c->out = t;
    c->out.len = 0;
    if (c->out.cap > 4 * PS_FRAME_MAX) { /* do not keep a burst's memory forever */
        ps__buf_free(&c->out);
    }
    if (c->out_max_op > c->sent_max_op)
        c->sent_max_op = c->out_max_op;
    pthread_cond_broadcast(&c->cv_space);
}

static void *io_main(void *arg)
{
    ps_client *c = arg;
    int64_t stop_deadline = -1;
    for (;;) {
        pthread_mutex_lock(&c->io_lock);
        int64_t now = now_ms(); /* after the lock: a direct sender may have just sent */
        pthread_mutex_lock(&c->lock);
        if (c->reopen && !c->reader && c->state != ST_DEAD)
            reopen_socket(c);
        take_out(c);
        int stopping = c->stopping, ready = c->state == ST_READY, dead = c->state == ST_DEAD;
        int paused = c->paused;
        pthread_mutex_unlock(&c->lock);

        int drained = flush_sending(c);
        if (stopping) {
            if (stop_deadline < 0)
                stop_deadline = now + LINGER_MS;
            pthread_mutex_lock(&c->lock);
            int empty = !c->out.len;
            pthread_mutex_unlock(&c->lock);
            if ((drained && (empty || !ready)) || dead || now >= stop_deadline) {
                if (ready) {
                    ps__cmd bye = {.cmd = PS_CMD_BYE};
                    send_now(c, &bye);
                }
                pthread_mutex_unlock(&c->io_lock);
                break;
            }
        }

        /* Timers: heartbeat, a silent broker, a HELLO without answer. */
        int64_t hb = c->opts.heartbeat_ms, hbt = c->opts.heartbeat_timeout_ms;
        if (paused)
            c->last_in = now; /* we are not listening, so silence says nothing */
        if (!dead) {
            if (ready && now - c->last_out >= hb) {
                ps__cmd h = {.cmd = PS_CMD_HEARTBEAT};
                send_now(c, &h);
            }
            pthread_mutex_lock(&c->lock);
            if (c->state == ST_READY && now - c->last_in > hbt)
                session_lost(c, 1);
            else if (c->state == ST_HANDSHAKE && !c->reopen && now - c->hello_at > hbt) {
                if (c->welcomed)
                    session_lost(c, 1); /* the broker did not answer the new HELLO either */
                else
                    c->reopen = 1; /* still never welcomed: knock again on a fresh socket */
            }
            pthread_mutex_unlock(&c->lock);
        }

        /* Until the next heartbeat is due, or, shaking hands, until the
         * HELLO has gone unanswered too long. */
        int64_t wait = ready ? hb - (now - c->last_out) : hbt - (now - c->hello_at) + 1;
        if (wait > hb)
            wait = hb;
        else if (wait < 1)
            wait = 1;
        if (stopping)
            wait = 10;
        if (c->mon)
            read_events(c); /* its descriptor signals only after a read found nothing */
        int ev = io_settle(c, ROLE_IO);
        pthread_mutex_lock(&c->lock);
        paused = c->paused;
        dead = c->state == ST_DEAD;
        int reopen = c->reopen, fd = c->sock_fd;
        int reader = c->reader || now_ms() < c->reader_until;
        if (dead && c->sock && !c->reader) {
            close_socket(c, 1); /* a final answer: no reconnecting behind it */
            fd = -1;
        }
        int mfd = c->mon_fd;
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_unlock(&c->io_lock);
        if (reopen && !reader)
            continue;
        if ((ev & ZMQ_POLLIN) && !paused && !dead && !reader)
            continue; /* more than a burst arrived: send, then read on */
        if (!drained && (ev & ZMQ_POLLOUT))
            continue;
        if (!drained && wait > SEND_RETRY_MS)
            wait = SEND_RETRY_MS; /* the descriptor's signal for room may have gone to a reader */
        if (dead && !stopping)
            wait = hb; /* nothing to do but wait for ps_close */
        /* The socket's input is the reader's while there is one. */
        int watch = fd >= 0 && ((!paused && !dead && !reader) || !drained);
        int64_t until = now_ms() + wait;
        for (;;) {
            struct pollfd p[4] = {{c->wake_fd, POLLIN, 0}, {c->grace_fd, POLLIN, 0},
                                  {mfd, POLLIN, 0}, {fd, POLLIN, 0}};
            int n = poll(p, mfd < 0 ? 2 : watch ? 4 : 3, (int)wait);
            if (p[1].revents & POLLIN)
                eventfd_clear(c->grace_fd); /* a timerfd reads like an eventfd */
            if (p[2].revents & POLLIN) {
                read_events(c);
                break;
            }
            if (p[0].revents & POLLIN) {
                eventfd_clear(c->wake_fd);
                pthread_mutex_lock(&c->lock);
                c->wake_pending = 0;
                pthread_mutex_unlock(&c->lock);
            } else if (n > 0 && !(p[1].revents & POLLIN) && !(p[2].revents & POLLIN) && drained) {
                /* Only input: if a reader has come meanwhile, it is its. */
                pthread_mutex_lock(&c->lock);
                int taken = c->reader;
                pthread_mutex_unlock(&c->lock);
                if (taken) {
                    watch = 0;
                    wait = until - now_ms(); /* the timers keep their time */
                    if (wait < 0)
                        wait = 0;
                    continue;
                }
            }
            break;
        }
    }
    pthread_mutex_lock(&c->lock);
    c->state = ST_DEAD;
    if (!c->conn_err)
        c->conn_err = EHOSTUNREACH;
    for (op *o = c->ops; o; o = o->next)
        op_fail(o, c->conn_err);
    pthread_cond_broadcast(&c->cv_op);
    pthread_cond_broadcast(&c->cv_recv);
    pthread_cond_broadcast(&c->cv_space);
    kick_reader(c);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Connection.
 */

static char *dup_opt(const char *s, int *failed)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        *failed = 1;
    return p;
}

ps_client *ps_connect(const char *endpoint, const ps_opts *opts)
{
    ps_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->wake_fd = c->kick_fd = c->grace_fd = c->recv_fd = c->sock_fd = c->mon_fd = -1;
    int err = ENOMEM, failed = 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&c->io_lock, NULL);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cv_op, &ca);
    pthread_cond_init(&c->cv_recv, &ca);
    pthread_cond_init(&c->cv_space, &ca);
    pthread_condattr_destroy(&ca);

    if (opts) {
        c->opts = *opts;
        c->opts.name = dup_opt(opts->name, &failed);
        c->opts.curve_server_key = dup_opt(opts->curve_server_key, &failed);
        c->opts.curve_public_key = dup_opt(opts->curve_public_key, &failed);
        c->opts.curve_secret_key = dup_opt(opts->curve_secret_key, &failed);
    } else {
        ps__opts_defaults(&c->opts);
    }
    c->endpoint = strdup(endpoint ? endpoint : PS_DEFAULT_ENDPOINT);
    if (failed || !c->endpoint)
        goto fail;
    c->max_size = DEFAULT_MAX_SIZE;
    c->state = ST_HANDSHAKE;
    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    c->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    c->grace_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    c->recv_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->wake_fd < 0 || c->kick_fd < 0 || c->grace_fd < 0 || c->recv_fd < 0) {
        err = errno;
        goto fail;
    }
    c->ctx = zmq_ctx_new();
    if (!c->ctx) {
        err = errno;
        goto fail;
    }
    if (open_socket(c) < 0) {
        err = errno == ENOMEM ? ENOMEM : EINVAL; /* a malformed endpoint, mostly */
        goto fail;
    }
    c->last_in = c->last_out = now_ms();
    send_hello(c);
    if (pthread_create(&c->thread, NULL, io_main, c) != 0) {
        err = EAGAIN;
        goto fail;
    }
    c->thread_started = 1;

    pthread_mutex_lock(&c->lock);
    int64_t deadline = deadline_after(c->opts.timeout_ms);
    while (c->state == ST_HANDSHAKE)
        if (cv_wait(&c->cv_op, &c->lock, deadline) == ETIMEDOUT)
            break;
    enum state st = c->state;
    err = c->state == ST_DEAD && c->conn_err ? c->conn_err : EHOSTUNREACH;
    if (st != ST_READY) /* no reconnecting in the background for a client never made */
        c->state = ST_DEAD;
    if (st == ST_DEAD && c->async_text) /* the broker's reason, e.g. its version */
        ps__set_errmsg(c->async_text, strlen(c->async_text));
    pthread_mutex_unlock(&c->lock);
    if (st == ST_READY)
        return c;
fail:
    ps_close(&c);
    errno = err;
    return NULL;
}

void ps_close(ps_client **cp)
{
    if (!cp || !*cp)
        return;
    ps_client *c = *cp;
    if (c->thread_started) {
        pthread_mutex_lock(&c->lock);
        c->stopping = 1;
        pthread_mutex_unlock(&c->lock);
        eventfd_signal(c->wake_fd);
        pthread_join(c->thread, NULL);
    }
    close_socket(c, 0);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    while (c->ops) {
        op *o = c->ops;
        c->ops = o->next;
        op_free(o);
    }
    while (c->rq_head) {
        ps_msg *m = c->rq_head;
        c->rq_head = m->next;
        ps_msg_destroy(&m);
    }
    while (c->subs) {
        sub *s = c->subs;
        c->subs = s->next;
        sub_free(s);
    }
    while (c->gaps) {
        gap *g = c->gaps;
        c->gaps = g->next;
        free(g);
    }
    ps__buf_free(&c->out);
    ps__buf_free(&c->sending);
    free(c->async_text);
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    if (c->kick_fd >= 0)
        close(c->kick_fd);
    if (c->grace_fd >= 0)
        close(c->grace_fd);
    if (c->recv_fd >= 0)
        close(c->recv_fd);
    free(c->endpoint);
    free(c->opts.name);
    free(c->opts.curve_server_key);
    free(c->opts.curve_public_key);
    if (c->opts.curve_secret_key)
        memset(c->opts.curve_secret_key, 0, strlen(c->opts.curve_secret_key));
    free(c->opts.curve_secret_key);
    pthread_cond_destroy(&c->cv_op);
    pthread_cond_destroy(&c->cv_recv);
    pthread_cond_destroy(&c->cv_space);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->io_lock);
    free(c);
    *cp = NULL;
}

int ps_fd(ps_client *c)
{
    return c->recv_fd;
}

/* ---------------------------------------------------------------------------
 * Messages and requests.
 */

/* Checks the names and size of an outgoing message. */
static int check_message(ps_client *c, const char *channel, const char *topic,
                         const void *data, size_t size)
{
    if (!c || !channel || !ps__wire_valid_channel(channel, strlen(channel)) ||
        (topic && strlen(topic) > PS_WIRE_TOPIC_MAX) || (!data && size)) {
        errno = EINVAL;
        return -1;
    }
    if (size > c->max_size) {
        char t[96];
        int n = snprintf(t, sizeof t, "message of %zu bytes above the broker's limit of %u",
                         size, c->max_size);
        ps__set_errmsg(t, (size_t)n);
        errno = EMSGSIZE;
        return -1;
    }
    return 0;
}

static void fill_message(ps__cmd *cmd, const char *channel, const char *topic,
                         const void *data, size_t size)
{
    cmd->channel.ptr = channel;
    cmd->channel.len = strlen(channel);
    cmd->topic.ptr = topic ? topic : "";
    cmd->topic.len = topic ? strlen(topic) : 0;
    cmd->data.ptr = data ? data : "";
    cmd->data.len = size;
}

int ps_publish(ps_client *c, const char *channel, const char *topic,
               const void *data, size_t size, int flags)
{
    if (check_message(c, channel, topic, data, size) < 0)
        return -1;
    if (flags & ~(PS_RETAIN | PS_CONFIRM | PS_SYNC)) {
        errno = EINVAL;
        return -1;
    }
    /* SYNC is the stronger promise: with it, a CONFIRM would only add an answer. */
    uint8_t wflags = (flags & PS_RETAIN) ? PS_WIRE_RETAIN : 0;
    if (flags & PS_SYNC)
        wflags |= PS_WIRE_SYNC;
    else if (flags & PS_CONFIRM)
        wflags |= PS_WIRE_CONFIRM;
    ps__cmd cmd = {.cmd = PS_CMD_PUBLISH, .flags = wflags,
                   .timeout_ms = (flags & PS_SYNC) ? PS_DEFAULT_WAIT_MS : 0};
    fill_message(&cmd, channel, topic, data, size);
    return submit(c, &cmd, NULL, (flags & (PS_CONFIRM | PS_SYNC)) != 0, 0);
}

int ps_flush(ps_client *c, int timeout_ms)
{
    int64_t deadline = deadline_after(timeout_ms);
    ps__cmd cmd = {.cmd = PS_CMD_PING};
    op *o = call(c, &cmd, OP_PING, timeout_ms, NULL);
    if (!o)
        return -1;
    op_free(o);
    pthread_mutex_lock(&c->lock);
    /* PONG says every command was handled; confirms of a durable queue
     * (on disk) and receipts of sync messages may still be on their way. */
    wait_locked(c, &c->cv_op, deadline, all_confirmed, NULL);
    if (c->unconfirmed && c->state != ST_DEAD) {
        pthread_mutex_unlock(&c->lock);
        errno = ETIMEDOUT;
        return -1;
    }
    int err = c->async_err;
    char *text = c->async_text;
    c->async_err = 0;
    c->async_text = NULL;
    pthread_mutex_unlock(&c->lock);
    ps__set_errmsg(text ? text : "", text ? strlen(text) : 0);
    free(text);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

/* Time beyond the broker's own timeout that we wait for its answer. */
static int answer_margin(const ps_client *c)
{
    return c->opts.heartbeat_timeout_ms + 1000;
}

int ps_publish_sync(ps_client *c, const char *channel, const char *topic,
                    const void *data, size_t size, int flags, int timeout_ms,
                    unsigned *confirmed, unsigned *expected)
{
    if (confirmed)
        *confirmed = 0;
    if (expected)
        *expected = 0;
    if (check_message(c, channel, topic, data, size) < 0)
        return -1;
    if (timeout_ms <= 0)
        timeout_ms = PS_DEFAULT_WAIT_MS;
    /* SYNC is the stronger promise; a CONFIRM beside it would only add an answer. */
    ps__cmd cmd = {.cmd = PS_CMD_PUBLISH, .timeout_ms = (uint32_t)timeout_ms,
                   .flags = (uint8_t)(PS_WIRE_SYNC | ((flags & PS_RETAIN) ? PS_WIRE_RETAIN : 0))};
    fill_message(&cmd, channel, topic, data, size);
    op *o = call(c, &cmd, OP_SYNC, timeout_ms + answer_margin(c), NULL);
    if (!o)
        return -1;
    unsigned got = o->count, want = o->expected;
    op_free(o);
    if (confirmed)
        *confirmed = got;
    if (expected)
        *expected = want;
    if (want == 0) {
        errno = PS_ENORESP;
        return -1;
    }
    if (got == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    if (got < want) {
        errno = PS_EPARTIAL;
        return -1;
    }
    return (int)got;
}

/* ps_request_async, sent at once by the calling thread with direct. */
static int64_t request_submit(ps_client *c, const char *channel, const char *topic,
                              const void *data, size_t size, int timeout_ms, int direct)
{
    if (check_message(c, channel, topic, data, size) < 0)
        return -1;
    if (timeout_ms <= 0)
        timeout_ms = PS_DEFAULT_WAIT_MS;
    ps__cmd cmd = {.cmd = PS_CMD_REQUEST, .timeout_ms = (uint32_t)timeout_ms};
    fill_message(&cmd, channel, topic, data, size);
    op *o = op_new(OP_REQUEST);
    if (!o)
        return -1;
    if (submit(c, &cmd, o, 0, direct) < 0) {
        int err = errno;
        op_free(o);
        errno = err;
        return -1;
    }
    return (int64_t)cmd.corr;
}

int64_t ps_request_async(ps_client *c, const char *channel, const char *topic,
                         const void *data, size_t size, int timeout_ms)
{
    return request_submit(c, channel, topic, data, size, timeout_ms, 0);
}

ps_msg *ps_request_wait(ps_client *c, int64_t ticket, int timeout_ms)
{
    int64_t deadline = deadline_after(timeout_ms);
    pthread_mutex_lock(&c->lock);
    op *o = op_find(c, (uint64_t)ticket);
    ps_msg *m = NULL;
    int err = 0;
    if (!o || o->kind != OP_REQUEST || ticket <= 0) {
        err = ENOENT;
        goto out;
    }
    for (;;) {
        if (o->rhead) {
            m = o->rhead;
            o->rhead = m->next;
            if (!o->rhead)
                o->rtail = NULL;
            m->next = NULL;
            goto out;
        }
        if (o->done) {
            if (o->err) {
                err = o->err;
                ps__set_errmsg(o->errtext ? o->errtext : "", o->errtext ? strlen(o->errtext) : 0);
            } else {
                err = o->count < o->expected ? ETIMEDOUT : ENOMSG;
            }
            goto out;
        }
        if (c->state == ST_DEAD) {
            err = c->conn_err ? c->conn_err : EHOSTUNREACH;
            goto out;
        }
        if (wait_locked(c, &c->cv_op, deadline, reply_or_answered, o) == ETIMEDOUT) {
            err = ETIMEDOUT;
            goto out;
        }
    }
out:
    pthread_mutex_unlock(&c->lock);
    if (!m)
        errno = err;
    return m;
}

void ps_request_end(ps_client *c, int64_t ticket)
{
    pthread_mutex_lock(&c->lock);
    op *o = op_find(c, (uint64_t)ticket);
    if (o && o->kind == OP_REQUEST)
        op_unlink(c, o);
    else
        o = NULL;
    pthread_mutex_unlock(&c->lock);
    if (o)
        op_free(o);
}

int ps_request(ps_client *c, const char *channel, const char *topic,
               const void *data, size_t size, int timeout_ms, ps_msg **reply)
{
    if (reply)
        *reply = NULL;
    if (timeout_ms <= 0)
        timeout_ms = PS_DEFAULT_WAIT_MS;
    int64_t t = request_submit(c, channel, topic, data, size, timeout_ms, 1);
    if (t < 0)
        return -1;
    ps_msg *m = ps_request_wait(c, t, timeout_ms + answer_margin(c));
    int err = errno;
    ps_request_end(c, t);
    if (!m) {
        errno = err == ENOMSG ? ETIMEDOUT : err;
        return -1;
    }
    int failed = m->status != 0;
    if (failed)
        ps__set_errmsg((const char *)m->data, m->size);
    if (reply)
        *reply = m;
    else
        ps_msg_destroy(&m);
    if (failed) {
        errno = PS_EREPLY;
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Receiving.
 */

static sub *sub_new(const char *channel, const char *pattern, uint8_t flags)
{
    sub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->channel = strdup(channel);
    s->pattern = strdup(pattern);
    s->flags = flags;
    if (!s->channel || !s->pattern) {
        sub_free(s);
        return NULL;
    }
    return s;
}

int ps_subscribe(ps_client *c, const char *channel, const char *pattern, int flags)
{
    if (!pattern)
        pattern = "#";
    if (!c || !channel || !ps__wire_valid_channel(channel, strlen(channel)) ||
        strlen(pattern) > PS_WIRE_TOPIC_MAX || (flags & ~PS_RESPONDER)) {
        errno = EINVAL;
        return -1;
    }
    uint8_t wflags = (flags & PS_RESPONDER) ? PS_WIRE_RESPONDER : 0;
    sub *s = sub_new(channel, pattern, wflags);
    if (!s)
        return -1;
    ps__cmd cmd = {.cmd = PS_CMD_SUBSCRIBE, .flags = wflags, .window = (uint32_t)c->opts.window,
                   .channel = {channel, strlen(channel)}, .topic = {pattern, strlen(pattern)}};
    op *o = call(c, &cmd, OP_SUB, c->opts.timeout_ms, s);
    if (!o)
        return -1;
    op_free(o);
    return 0;
}

int ps_unsubscribe(ps_client *c, const char *channel, const char *pattern)
{
    if (!pattern)
        pattern = "#";
    if (!c || !channel || !ps__wire_valid_channel(channel, strlen(channel)) ||
        strlen(pattern) > PS_WIRE_TOPIC_MAX) {
        errno = EINVAL;
        return -1;
    }
    sub *s = sub_new(channel, pattern, 0);
    if (!s)
        return -1;
    ps__cmd cmd = {.cmd = PS_CMD_UNSUBSCRIBE, .channel = {channel, strlen(channel)},
                   .topic = {pattern, strlen(pattern)}};
    op *o = call(c, &cmd, OP_UNSUB, c->opts.timeout_ms, s);
    if (!o)
        return -1;
    op_free(o);
    return 0;
}

/* Queues an ACK for tag.  Lock held. */
static int ack_locked(ps_client *c, uint64_t tag)
{
    ps__cmd cmd = {.cmd = PS_CMD_ACK, .tag = tag};
    return submit_locked(c, &cmd, NULL, 0, 0);
}

ps_msg *ps_recv(ps_client *c, int timeout_ms)
{
    int64_t deadline = deadline_after(timeout_ms);
    pthread_mutex_lock(&c->lock);
    while (!c->rq_head) {
        if (c->state == ST_DEAD) {
            int err = c->conn_err ? c->conn_err : EHOSTUNREACH;
            pthread_mutex_unlock(&c->lock);
            errno = err;
            return NULL;
        }
        if (timeout_ms == 0 || wait_locked(c, &c->cv_recv, deadline, received, NULL) == ETIMEDOUT) {
            if (c->rq_head)
                break;
            pthread_mutex_unlock(&c->lock);
            errno = ETIMEDOUT;
            return NULL;
        }
    }
    ps_msg *m = c->rq_head;
    c->rq_head = m->next;
    if (!c->rq_head) {
        c->rq_tail = NULL;
        eventfd_clear(c->recv_fd);
    }
    m->next = NULL;
    c->rq_bytes -= m->size + 64;
    if (c->paused && c->rq_bytes < RQ_LOW) {
        c->paused = 0;
        wake_io(c);
    }
    /* A sync message is confirmed the moment the application has it. */
    if (m->flags & PS_WIRE_RECEIPT)
        ack_locked(c, m->tag);
    pthread_mutex_unlock(&c->lock);
    return m;
}

int ps_ack(ps_client *c, const ps_msg *m)
{
    if (!c || !m) {
        errno = EINVAL;
        return -1;
    }
    if (!(m->flags & PS_WIRE_QUEUED))
        return 0;
    pthread_mutex_lock(&c->lock);
    int rc = ack_locked(c, m->tag);
    int err = errno;
    pthread_mutex_unlock(&c->lock);
    errno = err;
    return rc;
}

int ps_reply(ps_client *c, const ps_msg *m, const void *data, size_t size, int status)
{
    if (!c || !m || !(m->flags & PS_WIRE_REQUEST) || (!data && size)) {
        errno = EINVAL;
        return -1;
    }
    if (size > c->max_size) {
        errno = EMSGSIZE;
        return -1;
    }
    ps__cmd cmd = {.cmd = PS_CMD_REPLY, .tag = m->tag,
                   .status = status ? PS_WIRE_REPLY_ERROR : PS_WIRE_REPLY_OK,
                   .data = {data ? data : "", size}};
    return submit(c, &cmd, NULL, 0, 1);
}

uint64_t ps_dropped(ps_client *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->dropped;
    c->dropped = 0;
    pthread_mutex_unlock(&c->lock);
    return n;
}

int ps_admin(ps_client *c, const char *verb, int timeout_ms, char **json)
{
    if (json)
        *json = NULL;
    if (!c || !verb || !json || strlen(verb) > PS_WIRE_TEXT_MAX) {
        errno = EINVAL;
        return -1;
    }
    ps__cmd cmd = {.cmd = PS_CMD_ADMIN, .text = {verb, strlen(verb)}};
    op *o = call(c, &cmd, OP_ADMIN, timeout_ms, NULL);
    if (!o)
        return -1;
    *json = o->json;
    o->json = NULL;
    op_free(o);
    return 0;
}
