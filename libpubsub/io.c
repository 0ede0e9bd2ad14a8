/*
 * io.c - the I/O of one connection to brokerd, shared by any number of
 * threads: the I/O thread, the socket and its handshake monitor, CURVE
 * setup, the wake-ups, and the hand-off of the socket between threads.
 * What the records mean is the session's (session.c); this file reads
 * records for it, sends what it queues and carries out its effects
 * (apply), so that every decision about the protocol is made there.
 *
 * ZeroMQ sockets must not be used by two threads at once, so the DEALER
 * socket belongs to whoever holds the client's io_lock.  Application
 * threads encode their commands into the session's bounded send queue
 * under the client's lock and wake the I/O thread through an eventfd; the
 * I/O thread takes the whole queue at once and sends it in frames of up
 * to 64 KiB.  That is the natural batching of the design: at low rates
 * every command leaves alone and at once, at high rates whatever piled up
 * while the previous send was in flight leaves together.  The I/O thread
 * also runs the session's timers and watches the socket's handshakes
 * (zmq_socket_monitor): a broker that refuses our CURVE key or our user,
 * or that speaks another security mechanism, is a final answer, reported
 * at once rather than after the connect timeout.
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
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "defaults.h"
#include "io.h"

#define RECV_BURST 512            /* frames handled per turn before we send again */
#define SEND_RETRY_MS 5           /* poll timeout while libzmq's pipe is full */
#define READER_GRACE_MS 2         /* the socket's input stays a reader's this long after it left */
#define LINGER_MS 1000            /* ps_close waits this long for unsent commands */
#define PIPE_HWM 64               /* frames libzmq holds each way (64 KiB each, unless one message is larger) */

/* Who holds io_lock, for io_settle. */
enum role {
    ROLE_IO,     /* the I/O thread */
    ROLE_READER, /* the application thread that is the socket's reader */
    ROLE_CALLER  /* an application thread that sent its own command */
};

/* The application side and the socket side call each other. */
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

int64_t ps__io_deadline(int timeout_ms)
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

/* Wakes the I/O thread (once until it looked).  Lock held. */
static void wake_io(ps_client *c)
{
    if (!c->wake_pending) {
        c->wake_pending = 1;
        eventfd_signal(c->wake_fd);
    }
}

/* Tells the application thread that is the socket's reader, if any, to
 * look again at what it waits for.  Lock held. */
static void kick_reader(ps_client *c)
{
    if (c->reader)
        eventfd_signal(c->kick_fd);
}

void ps__io_apply(ps_client *c)
{
    unsigned fx = ps__session_fx(&c->s);
    if (!fx)
        return;
    if ((fx & PS_FX_LOST) && c->opts.trace)
        ps__trace_note(&c->opts, PS_EV_LOST, c->s.why);
    /* Two system calls a message that goes to a waiting ps_recv: spent
     * only once the application asked for the descriptor. */
    if ((fx & PS_FX_RECV) && c->fd_wanted)
        eventfd_signal(c->recv_fd);
    if ((fx & PS_FX_DRAINED) && c->fd_wanted)
        eventfd_clear(c->recv_fd);
    if (fx & (PS_FX_WAKE | PS_FX_DEAD)) {
        pthread_cond_broadcast(&c->cv_op);
        kick_reader(c); /* it waits in poll(), not on a condition variable */
    }
    if (fx & (PS_FX_RECV | PS_FX_DEAD))
        pthread_cond_broadcast(&c->cv_recv);
    if (fx & (PS_FX_SPACE | PS_FX_DEAD))
        pthread_cond_broadcast(&c->cv_space);
    if (fx & PS_FX_SEND)
        wake_io(c);
}

int ps__io_fd(ps_client *c)
{
    pthread_mutex_lock(&c->lock);
    if (!c->fd_wanted) {
        c->fd_wanted = 1;
        if (!STAILQ_EMPTY(&c->s.rq))
            eventfd_signal(c->recv_fd);
    }
    pthread_mutex_unlock(&c->lock);
    return c->recv_fd;
}

/* ---------------------------------------------------------------------------
 * Sending.
 */

static int send_raw(ps_client *c, const void *data, size_t len)
{
    int rc = zmq_send(c->sock, data, len, ZMQ_DONTWAIT);
    if (rc >= 0)
        ps__session_sent(&c->s, now_ms());
    return rc;
}

/* Sends the session's control records (HELLO, HEARTBEAT, BYE) at once,
 * outside the batch; what the pipe does not take is dropped, as the
 * session's timers will ask again.  Both locks held. */
static void send_urgent(ps_client *c)
{
    ps__buf *u = &c->s.urgent;
    if (!u->len)
        return;
    if (c->sock && send_raw(c, u->data, u->len) >= 0 && c->opts.trace)
        ps__trace_records(&c->opts, PS_EV_SENT, u->data, u->len);
    u->len = 0;
}

/*
 * Sends what is left of the session's sending batch in frames of up to
 * PS_FRAME_MAX bytes (a single larger record goes alone).  Returns 1 when
 * all went, 0 when libzmq's pipe is full.  io_lock held.
 */
static int flush_sending(ps_client *c)
{
    ps__buf *b = &c->s.sending;
    while (c->s.sending_off < b->len) {
        size_t start = c->s.sending_off, left = b->len - start;
        size_t n = ps__wire_frame(b->data + start, left, PS_FRAME_MAX);
        size_t end = start + (n ? n : left); /* n is 0 only for bytes that are no record */
        if (send_raw(c, b->data + start, end - start) < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            /* The socket refused for good (ETERM): treat as sent and lost. */
        } else if (c->opts.trace) {
            ps__trace_records(&c->opts, PS_EV_SENT, b->data + start, end - start);
        }
        c->s.sending_off = end;
    }
    b->len = 0;
    c->s.sending_off = 0;
    return 1;
}

/* Takes the session's queued records for sending.  Lock held. */
static void take_out(ps_client *c)
{
    ps__session_take(&c->s);
    ps__io_apply(c);
}

/* True while the calling thread may send on the socket itself.  Lock held. */
static int may_send(const ps_client *c)
{
    return c->s.state == PS_SESSION_READY && !c->s.reopen;
}

/*
 * Sends what is queued from the calling thread when nobody else is using
 * the socket (with wait, once the thread using it let go of it), sparing
 * the I/O thread's wake-up and the calling thread's own when the answer
 * comes.  Lock held; let go of and taken again when it sends.  Returns 1
 * when everything queued went out, else 0.
 */
static int send_direct(ps_client *c, int wait)
{
    if (!may_send(c))
        return 0;
    if (pthread_mutex_trylock(&c->io_lock) != 0) {
        if (!wait)
            return 0;
        /* io_lock comes first: the lock is let go of while we wait. */
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_lock(&c->io_lock);
        pthread_mutex_lock(&c->lock);
        if (!may_send(c)) {
            pthread_mutex_unlock(&c->io_lock);
            return 0;
        }
    }
    take_out(c);
    pthread_mutex_unlock(&c->lock);
    int drained = flush_sending(c);
    io_settle(c, ROLE_CALLER);
    pthread_mutex_unlock(&c->io_lock);
    pthread_mutex_lock(&c->lock);
    if (c->reader_waits)
        kick_reader(c); /* the socket is free: the reader may take it */
    return drained && !c->s.out.len;
}

int ps__io_submit_locked(ps_client *c, ps__cmd *cmd, ps__op *o, int confirm, int direct)
{
    size_t need = ps__wire_size(cmd);
    int64_t held_until = INT64_MIN;
    while (c->s.state != PS_SESSION_DEAD && ps__session_full(&c->s, cmd, need)) {
        if (!c->s.held || c->opts.pause_wait_ms < 0) {
            cv_wait(&c->cv_space, &c->lock, -1); /* PAUSE wakes it too */
            continue;
        }
        /* The broker paused us for a full queue: a bounded wait, since
         * the application may be the consumer that would make room. */
        if (held_until == INT64_MIN)
            held_until = ps__io_deadline(c->opts.pause_wait_ms);
        if (cv_wait(&c->cv_space, &c->lock, held_until) == ETIMEDOUT && c->s.held &&
            ps__session_full(&c->s, cmd, need)) {
            char t[PS_WIRE_NAME_MAX + 96];
            snprintf(t, sizeof t, "the broker paused this publisher: queue '%s' is full",
                     c->s.held_channel);
            ps__set_errmsg(t, strlen(t));
            errno = ETIMEDOUT;
            return -1;
        }
    }
    if (ps__session_submit(&c->s, cmd, o, confirm) < 0)
        return -1;
    if (c->opts.trace)
        ps__trace_cmd(&c->opts, PS_EV_HANDED, cmd);
    if (direct == PS_IO_HOLD)
        return 0;
    if (!direct || !send_direct(c, direct == PS_IO_NOW))
        wake_io(c);
    return 0;
}

void ps__io_send_now(ps_client *c)
{
    if (!send_direct(c, 1))
        wake_io(c);
}

int ps__io_submit(ps_client *c, ps__cmd *cmd, ps__op *o, int confirm, int direct)
{
    pthread_mutex_lock(&c->lock);
    int rc = ps__io_submit_locked(c, cmd, o, confirm, direct);
    int err = errno;
    pthread_mutex_unlock(&c->lock);
    errno = err;
    return rc;
}

/* ---------------------------------------------------------------------------
 * Waiting, and reading as a waiting thread.
 */

/* True while an application thread may be the socket's reader: a session,
 * its input open, no ps_close.  Lock held. */
static int reader_may_stay(const ps_client *c)
{
    return c->s.state == PS_SESSION_READY && ps__session_input_open(&c->s) && !c->stopping;
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
 *
 * The reader never queues on io_lock.  A thread that holds it reads what
 * has arrived before letting go (io_settle), so an answer for us comes
 * to the session either way; what the reader must not miss is the moment
 * the socket is free again.  Blocking on the mutex would wait for exactly
 * that, but unfairly: an I/O thread kept busy by a flooding publisher
 * lets go of io_lock and takes it again before the woken reader runs, and
 * a reader whose reply had long arrived waited hundreds of milliseconds
 * (t0014's lone requests).  So a reader that finds io_lock taken says so
 * (reader_waits) and sleeps on its kick alone; whoever lets go of io_lock
 * looks at reader_waits afterwards, under lock, and kicks it.
 * Lock held on entry and on return.
 */
static int read_as_reader(ps_client *c, int64_t deadline, ps__wait_fn *done, const void *arg)
{
    /* Look before the first sleep, unless the last thread to let go of the
     * socket left its input empty (a request's own send_direct, mostly):
     * whatever came since has signalled the descriptor, and a thread
     * using the socket now kicks us when it has read something. */
    int rc = 0, ev = c->input_quiet ? 0 : ZMQ_POLLIN;
    c->reader = 1;
    while (!done(c, arg) && reader_may_stay(c)) {
        int64_t ms = deadline < 0 ? -1 : deadline - now_ms();
        if (deadline >= 0 && ms <= 0) {
            rc = ETIMEDOUT;
            break;
        }
        /* The socket stays while we are its reader: reopen_socket waits for
         * us.  While another thread holds it, only that thread's kick. */
        struct pollfd p[2] = {{c->kick_fd, POLLIN, 0}, {c->sock_fd, POLLIN, 0}};
        int n_fds = c->reader_waits ? 1 : 2;
        pthread_mutex_unlock(&c->lock);
        /* libzmq signals the descriptor only for input that follows a read
         * that found nothing, so while input is left there is no sleeping. */
        if (!(ev & ZMQ_POLLIN) && poll(p, n_fds, (int)ms) > 0 && (p[0].revents & POLLIN))
            eventfd_clear(c->kick_fd);
        pthread_mutex_lock(&c->lock);
        /* A try, not a wait, so lock may be held (io_lock comes first only
         * for a thread that would block on it). */
        if (pthread_mutex_trylock(&c->io_lock) != 0) {
            c->reader_waits = 1;
            ev = 0;
            continue;
        }
        c->reader_waits = 0;
        pthread_mutex_unlock(&c->lock);
        ev = io_settle(c, ROLE_READER);
        pthread_mutex_unlock(&c->io_lock);
        pthread_mutex_lock(&c->lock);
    }
    c->reader_waits = 0;
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

int ps__io_wait(ps_client *c, pthread_cond_t *cv, int64_t deadline, ps__wait_fn *done,
                const void *arg)
{
    while (!done(c, arg) && c->s.state != PS_SESSION_DEAD) {
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
    return ((const ps__op *)arg)->done;
}

ps__op *ps__io_call(ps_client *c, ps__cmd *cmd, enum ps__op_kind kind, int timeout_ms,
                    ps__sub *sub)
{
    ps__op *o = ps__op_new(kind, sub);
    if (!o)
        return NULL;
    pthread_mutex_lock(&c->lock);
    if (ps__io_submit_locked(c, cmd, o, 0, 1) < 0) {
        int err = errno;
        pthread_mutex_unlock(&c->lock);
        ps__op_free(o);
        errno = err;
        return NULL;
    }
    ps__io_wait(c, &c->cv_op, ps__io_deadline(timeout_ms), op_answered, o);
    int err = o->done ? o->err : c->s.state == PS_SESSION_DEAD ? ps__session_err(&c->s) : ETIMEDOUT;
    ps__session_op_remove(&c->s, o);
    pthread_mutex_unlock(&c->lock);
    if (err) {
        if (o->done)
            ps__set_errmsg(o->errtext ? o->errtext : "", o->errtext ? strlen(o->errtext) : 0);
        ps__op_free(o);
        errno = err;
        return NULL;
    }
    return o;
}

static int window_open(const ps_client *c, const void *arg)
{
    (void)arg;
    return !ps__session_window_full(&c->s);
}

int ps__io_submit_confirmed(ps_client *c, ps__cmd *cmd, int timeout_ms)
{
    pthread_mutex_lock(&c->lock);
    int rc = 0, err = 0;
    if (ps__session_window_full(&c->s)) {
        /* About to wait anyway: what is queued leaves from this thread
         * when the socket is free (its confirms are what we wait for),
         * and the thread reads the answers itself as the socket's reader,
         * sparing the I/O thread's wake-up and ours. */
        send_direct(c, 0);
        if (ps__io_wait(c, &c->cv_op, ps__io_deadline(timeout_ms), window_open, NULL) ==
            ETIMEDOUT) {
            rc = -1;
            err = ETIMEDOUT;
        }
    }
    if (!rc) {
        rc = ps__io_submit_locked(c, cmd, NULL, 1, PS_IO_QUEUE);
        err = errno;
    }
    pthread_mutex_unlock(&c->lock);
    errno = err;
    return rc;
}

/* ---------------------------------------------------------------------------
 * The socket.
 */

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
    /* libzmq's own pipes hold 1,000 frames each way by default: up to
     * 64 MiB of 64 KiB frames, filled while the other side is slow and
     * freed when it catches up, a page fault every 4 KiB each time.
     * Sending, that is a publisher that the broker slows; receiving,
     * libzmq's I/O thread reads on after the receive queue is full
     * (PS_LIB_RQ_HIGH), so a subscriber that does not read would hold
     * all of it (t0344).  64 frames each way keep the heap steady
     * (steady_heap's trim threshold is 8 MiB) and the pipes full enough;
     * what a subscriber cannot take waits in the broker, which bounds it
     * (client_buffer).  brokerd now finds that pipe full sooner and
     * looks at it again every 2 ms while a publisher waits for it (every
     * 10 ms otherwise); alternated rounds showed no cost on either kind
     * of channel (docs/performance.md). */
    int linger = LINGER_MS, hwm = PIPE_HWM;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
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
                                        ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                        ZMQ_EVENT_DISCONNECTED) < 0 ||
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
 * Replaces the socket by a fresh one and says HELLO on it: the broker is
 * not answering on the old one, and what is still in its pipe is stale.
 * Both locks held, no reader.
 */
static void reopen_socket(ps_client *c)
{
    close_socket(c, 1);
    c->input_quiet = 0;
    int err = open_socket(c) < 0 ? errno : 0;
    ps__session_reopened(&c->s, now_ms(), err);
    ps__io_apply(c);
    send_urgent(c);
}

/* The session's word for a ZMQ_EVENT_HANDSHAKE_FAILED_* event with value,
 * or -1 for one that says nothing final. */
static int handshake_kind(uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return value == 300 ? -1 : PS_HS_REFUSED; /* 300: try again */
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        return value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH ? PS_HS_MECHANISM
                                                                   : PS_HS_PROTOCOL;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        return PS_HS_CLOSED;
    return -1;
}

/* Reads the monitor's events (failed handshakes, a broken connection),
 * all of them: its descriptor signals again only after a read found
 * nothing.  I/O thread. */
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
        int kind = handshake_kind(event, value);
        if (kind < 0 && event != ZMQ_EVENT_DISCONNECTED)
            continue;
        pthread_mutex_lock(&c->lock);
        if (kind >= 0)
            ps__session_handshake_failed(&c->s, (enum ps__hs)kind);
        else /* libzmq would carry the old pipe's records over to the next connection */
            ps__session_disconnected(&c->s, now_ms());
        ps__io_apply(c);
        pthread_mutex_unlock(&c->lock);
    }
}

/* Reads what the socket has, up to RECV_BURST frames, and hands every
 * record to the session.  Returns how many frames it read; *empty is 1
 * when it stopped because the socket had no more.  io_lock held. */
static int read_frames(ps_client *c, int *empty)
{
    int got = 0;
    *empty = 0;
    int64_t now = now_ms();
    pthread_mutex_lock(&c->lock);
    for (; got < RECV_BURST && !c->s.paused; got++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        pthread_mutex_unlock(&c->lock);
        int rc = zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT);
        pthread_mutex_lock(&c->lock);
        if (rc < 0) {
            *empty = errno == EAGAIN;
            zmq_msg_close(&m);
            break;
        }
        ps__reader r;
        ps__cmd cmd;
        ps__reader_init(&r, zmq_msg_data(&m), zmq_msg_size(&m));
        while ((rc = ps__wire_next(&r, &cmd)) == 1) {
            if (c->opts.trace)
                ps__trace_cmd(&c->opts, PS_EV_RECEIVED, &cmd);
            ps__session_record(&c->s, &cmd, now);
        }
        if (rc < 0)
            ps__session_malformed(&c->s);
        zmq_msg_close(&m);
        /* A burst may take seconds on a loaded machine (a frame carries
         * hundreds of records), and meanwhile nobody else may send: the
         * heartbeat that falls due now goes out now, or the broker takes
         * a client that reads for one that fell silent and forgets it. */
        now = now_ms();
        ps__session_received(&c->s, now);
        ps__session_tick(&c->s, now);
        ps__io_apply(c);
        send_urgent(c); /* a HELLO after the broker forgot us, a heartbeat that fell due */
    }
    if (got) {
        pthread_cond_broadcast(&c->cv_op);
        if (!STAILQ_EMPTY(&c->s.rq))
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
    int ev = sock_events(c), got = 0, empty = 0;
    pthread_mutex_lock(&c->lock);
    int open = ps__session_input_open(&c->s);
    pthread_mutex_unlock(&c->lock);
    if ((ev & ZMQ_POLLIN) && open) {
        got = read_frames(c, &empty);
        /* A receive that found nothing already re-armed the descriptor
         * and said there is no input: no need to ask libzmq again. */
        ev = empty ? ev & ~ZMQ_POLLIN : sock_events(c);
    }
    pthread_mutex_lock(&c->lock);
    c->input_quiet = !(ev & ZMQ_POLLIN);
    int more = (ev & ZMQ_POLLIN) && ps__session_input_open(&c->s);
    if ((got || more) && role != ROLE_READER)
        kick_reader(c);
    if (more && role == ROLE_CALLER && !c->reader)
        wake_io(c);
    pthread_mutex_unlock(&c->lock);
    return ev;
}

/* ---------------------------------------------------------------------------
 * The I/O thread.
 */

static void *io_main(void *arg)
{
    ps_client *c = arg;
    int64_t stop_deadline = -1, hb = c->opts.heartbeat_ms;
    int woken_busy = 0; /* a wake-up was read while the sending batch could not go */
    for (;;) {
        pthread_mutex_lock(&c->io_lock);
        int64_t now = now_ms(); /* after the lock: a direct sender may have just sent */
        pthread_mutex_lock(&c->lock);
        if (c->s.reopen && !c->reader && c->s.state != PS_SESSION_DEAD)
            reopen_socket(c);
        if (c->stopping)
            c->s.held = 0; /* ps_close: what waits goes (the broker parks it), then BYE */
        take_out(c);
        int stopping = c->stopping, ready = c->s.state == PS_SESSION_READY;
        int dead = c->s.state == PS_SESSION_DEAD;
        pthread_mutex_unlock(&c->lock);

        int drained = flush_sending(c);
        if (stopping) {
            if (stop_deadline < 0)
                stop_deadline = now + LINGER_MS;
            pthread_mutex_lock(&c->lock);
            int empty = !c->s.out.len;
            if ((drained && (empty || !ready)) || dead || now >= stop_deadline) {
                if (ready) {
                    ps__session_bye(&c->s);
                    send_urgent(c);
                }
                pthread_mutex_unlock(&c->io_lock);
                if (c->reader_waits)
                    kick_reader(c); /* the socket is free: the reader may take it */
                pthread_mutex_unlock(&c->lock);
                break;
            }
            pthread_mutex_unlock(&c->lock);
        }

        /* Timers: heartbeat, a silent broker, a HELLO without answer. */
        pthread_mutex_lock(&c->lock);
        ps__session_tick(&c->s, now);
        ps__io_apply(c);
        send_urgent(c);
        int64_t wait = ps__session_next_tick(&c->s, now);
        pthread_mutex_unlock(&c->lock);
        if (stopping)
            wait = 10;
        if (c->mon)
            read_events(c); /* its descriptor signals only after a read found nothing */
        int ev = io_settle(c, ROLE_IO);
        pthread_mutex_lock(&c->lock);
        int paused = c->s.paused;
        dead = c->s.state == PS_SESSION_DEAD;
        int reopen = c->s.reopen, fd = c->sock_fd;
        int reader = c->reader || now_ms() < c->reader_until;
        /* Queued while libzmq's pipe was full: nothing was taken then
         * (take_out waits for the sending batch to be gone), and the
         * application's wake-up has been read already.  Only then: what
         * waits unwoken (acknowledgements held for a batch) waits on. */
        int queued = drained && woken_busy && c->s.out.len && c->s.state == PS_SESSION_READY;
        if (drained)
            woken_busy = 0;
        if (dead && c->sock && !c->reader) {
            close_socket(c, 1); /* a final answer: no reconnecting behind it */
            fd = -1;
        }
        int mfd = c->mon_fd;
        pthread_mutex_unlock(&c->io_lock);
        if (c->reader_waits)
            kick_reader(c); /* the socket is free: the reader may take it */
        pthread_mutex_unlock(&c->lock);
        if ((reopen && !reader) || queued)
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
                woken_busy |= !drained;
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
    ps__session_end(&c->s);
    ps__io_apply(c);
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

/*
 * Keeps the process's heap steady for the library's buffers (session.h,
 * PS_LIB_HEAP_KEEP), once per process, at the first ps_connect.  An
 * application that tunes glibc's malloc itself keeps its own choice: with
 * PUBSUB_HEAP=system, or GLIBC_TUNABLES naming a malloc tunable, or the
 * MALLOC_*_ variables, nothing is changed, and a mallopt of its own after
 * ps_connect wins (one before it is replaced: glibc cannot be asked).
 */
static void steady_heap(void)
{
#ifdef __GLIBC__
    const char *own = getenv("PUBSUB_HEAP"), *tun = getenv("GLIBC_TUNABLES");
    if ((own && !strcmp(own, "system")) || (tun && strstr(tun, "glibc.malloc.")) ||
        getenv("MALLOC_TRIM_THRESHOLD_") || getenv("MALLOC_MMAP_THRESHOLD_") ||
        getenv("MALLOC_TOP_PAD_"))
        return;
    mallopt(M_MMAP_THRESHOLD, PS_LIB_HEAP_MMAP_FROM);
    mallopt(M_TRIM_THRESHOLD, PS_LIB_HEAP_KEEP);
#endif
}

ps_client *ps__io_connect(const char *endpoint, const ps_opts *opts)
{
    static pthread_once_t heap_once = PTHREAD_ONCE_INIT;
    pthread_once(&heap_once, steady_heap);
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
    ps__session_init(&c->s, &c->opts, now_ms());
    c->endpoint = strdup(endpoint ? endpoint : PS_DEFAULT_ENDPOINT);
    if (failed || !c->endpoint)
        goto fail;
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
    int64_t now = now_ms();
    c->s.last_in = c->s.last_out = c->s.hello_at = now;
    send_urgent(c); /* the session's HELLO */
    if (pthread_create(&c->thread, NULL, io_main, c) != 0) {
        err = EAGAIN;
        goto fail;
    }
    c->thread_started = 1;

    pthread_mutex_lock(&c->lock);
    int64_t deadline = ps__io_deadline(c->opts.timeout_ms);
    while (c->s.state == PS_SESSION_HANDSHAKE)
        if (cv_wait(&c->cv_op, &c->lock, deadline) == ETIMEDOUT)
            break;
    enum ps__state st = c->s.state;
    err = ps__session_err(&c->s);
    if (st != PS_SESSION_READY) /* no reconnecting in the background for a client never made */
        ps__session_end(&c->s);
    if (st == PS_SESSION_DEAD && c->s.async_text) /* the broker's reason, e.g. its version */
        ps__set_errmsg(c->s.async_text, strlen(c->s.async_text));
    pthread_mutex_unlock(&c->lock);
    if (st == PS_SESSION_READY)
        return c;
fail:
    ps__io_close(c);
    errno = err;
    return NULL;
}

void ps__io_close(ps_client *c)
{
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
    ps__session_free(&c->s);
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
}
