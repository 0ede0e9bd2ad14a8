/*
 * loop.c - the broker's event loop: the ROUTER socket, input bursts,
 * timers and per-client output.
 *
 * One turn of the loop waits in zmq_poll (ROUTER and signalfd), reads a
 * bounded burst of frames and handles every record in them, runs the
 * timers, then sends each client what the turn produced for it as one
 * frame (or a few, each at most LOOP_FRAME_MAX bytes unless one record is
 * bigger).  Batching is thus natural: under light load a turn carries one
 * record, under heavy load many.  The broker never blocks on a send: the
 * ROUTER is ZMQ_ROUTER_MANDATORY and every send is ZMQ_DONTWAIT; a frame
 * the peer's pipe refuses stays queued for the next turn, and the bytes
 * queued for one client are bounded by the channel code (client_buffer).
 *
 * The "block" slow-subscriber policy is credit by omission: while a
 * receiver subscribed to a block channel holds more than client_buffer
 * bytes, the loop stops reading the ROUTER, so publishers fill their own
 * pipes and slow down, and nothing is dropped.  A receiver that keeps
 * everyone waiting longer than heartbeat_timeout_ms is forgotten.
 *
 * With a security section there are two ROUTERs: CURVE is an option of a
 * socket, and ipc peers are judged by their credentials without it, so
 * tcp endpoints are bound on b->router and ipc endpoints on b->router_ipc.
 * Each client remembers the one it came on, and its output goes there.
 * The ZAP handler's socket (auth.c) is polled with them.
 */
#include "brokerd.h"
#include "defaults.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define LOOP_BURST 1000        /* frames read per turn before flushing */
#define LOOP_FRAME_MAX PS_FRAME_MAX /* bytes per outgoing frame, beyond one record */
#define LOOP_RETRY_MS 10       /* poll timeout while a peer's pipe is full */
#define LOOP_STATUS_MS 5000    /* systemd STATUS= refresh */
#define LOOP_HARD_CAP 16       /* client_buffers of output before a client is dropped */

int64_t loop_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Binding an ipc path replaces a live broker's socket without an error,
 * so first try to reach whatever listens there.  Returns 0 when the path
 * is free (a stale file is removed), -1 when a broker answers.
 */
static int ipc_probe(const char *path)
{
    struct sockaddr_un sa;
    if (access(path, F_OK) != 0)
        return 0;
    if (strlen(path) >= sizeof sa.sun_path)
        return 0; /* zmq_bind will say what is wrong with it */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int err = errno;
    close(fd);
    if (rc == 0) {
        log_err("another broker is running on ipc://%s", path);
        return -1;
    }
    if (err == ECONNREFUSED || err == ENOTSOCK) {
        log_info("removing stale socket file %s", path);
        unlink(path);
    }
    return 0;
}

/* Gives a new ipc socket file the configured mode and group (it was
 * created 0600, so nobody could slip in before).  0, or -1 after logging. */
static int ipc_set_mode(broker *b, const char *path)
{
    if (chmod(path, (mode_t)b->cfg->ipc_mode) < 0) {
        log_err("cannot set mode %04lo on %s: %s", b->cfg->ipc_mode, path, strerror(errno));
        return -1;
    }
    if (b->cfg->ipc_gid >= 0 && chown(path, (uid_t)-1, (gid_t)b->cfg->ipc_gid) < 0) {
        log_err("cannot give %s to group %ld (broker.ipc_group): %s", path, b->cfg->ipc_gid,
                strerror(errno));
        return -1;
    }
    return 0;
}

int loop_bind_endpoint(broker *b, void *sock, const char *ep)
{
    int passed = sd_take_fd(ep);
    if (passed >= 0) {
        /* Ours already: the probe would find ourselves listening.  The
         * socket unit's SocketMode= and SocketGroup= apply to its file. */
        int none = -1, rc;
        zmq_setsockopt(sock, ZMQ_USE_FD, &passed, sizeof passed);
        rc = zmq_bind(sock, ep);
        int saved = errno;
        zmq_setsockopt(sock, ZMQ_USE_FD, &none, sizeof none);
        errno = saved;
        if (rc == 0)
            log_info("%s: using the socket passed by systemd", ep);
        return rc;
    }
    int ipc = strncmp(ep, "ipc://", 6) == 0, file = ipc && ep[6] != '@';
    if (ipc && ipc_probe(ep + 6) < 0) {
        errno = EADDRINUSE;
        return -2;
    }
    /* libzmq creates the file in zmq_bind, in this thread. */
    mode_t old = file ? umask(0177) : 0;
    int rc = zmq_bind(sock, ep);
    if (file)
        umask(old);
    if (rc < 0)
        return -1;
    if (file) {
        char **more = realloc(b->ipc_owned, (b->n_ipc_owned + 1) * sizeof *more);
        if (more) {
            b->ipc_owned = more;
            if ((more[b->n_ipc_owned] = strdup(ep + 6)))
                b->n_ipc_owned++;
        }
        if (ipc_set_mode(b, ep + 6) < 0)
            return -2;
    }
    return 0;
}

void loop_apply_limits(broker *b)
{
    int64_t maxsize = b->cfg->max_message_size + PS_FRAME_SLACK;
    zmq_setsockopt(b->router, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
    if (b->router_ipc)
        zmq_setsockopt(b->router_ipc, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
}

/* A ROUTER with the broker's options, for ipc endpoints or for tcp. */
static void *open_router(broker *b, int ipc)
{
    void *r = zmq_socket(b->ctx, ZMQ_ROUTER);
    if (!r) {
        log_err("cannot create the ROUTER socket: %s", zmq_strerror(errno));
        return NULL;
    }
    /* High-water marks count frames, not bytes: a frame is up to
     * LOOP_FRAME_MAX, so a low send mark keeps what libzmq holds for one
     * slow peer near 8 MiB; beyond it our own byte-bounded buffer takes
     * over and the slow-subscriber policy applies.  The receive mark
     * bounds what libzmq reads ahead from publishers the same way. */
    int one = 1, shwm = 128, hwm = 256, zero = 0;
    zmq_setsockopt(r, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(r, ZMQ_SNDHWM, &shwm, sizeof shwm);
    zmq_setsockopt(r, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof zero);
    if (auth_setup_router(b, r, ipc) < 0) {
        log_err("cannot set up %s security: %s", ipc ? "ipc" : "CURVE", zmq_strerror(errno));
        zmq_close(r);
        return NULL;
    }
    return r;
}

int loop_bind(broker *b)
{
    if (!(b->router = open_router(b, 0)))
        return -1;
    if (b->secure && !(b->router_ipc = open_router(b, 1)))
        return -1;
    loop_apply_limits(b);
    for (size_t i = 0; i < b->cfg->n_endpoints; i++) {
        const char *ep = b->cfg->endpoints[i];
        int plain, ipc = strncmp(ep, "ipc://", 6) == 0;
        const char *why = config_endpoint_refusal(b->cfg, ep, &plain);
        if (why) {
            log_err("refusing to listen on %s: %s", ep, why);
            return -1;
        }
        if (plain)
            log_warn("%s is plain tcp beyond loopback (broker.insecure = true): anyone who "
                     "reaches it can use the broker and read its traffic", ep);
        int rc = loop_bind_endpoint(b, ipc && b->router_ipc ? b->router_ipc : b->router, ep);
        if (rc == -1)
            log_err("cannot bind %s: %s", ep, zmq_strerror(errno));
        if (rc < 0)
            return -1;
        log_info("listening on %s%s", ep, !ipc && b->cfg->curve ? " (CURVE)" : "");
    }
    int unclaimed = sd_unclaimed();
    if (unclaimed)
        log_warn("%d socket%s passed by systemd match%s no endpoint: check broker.endpoints "
                 "against the socket unit", unclaimed, unclaimed == 1 ? "" : "s",
                 unclaimed == 1 ? "es" : "");
    return 0;
}

void loop_close(broker *b)
{
    if (b->router)
        zmq_close(b->router);
    if (b->router_ipc)
        zmq_close(b->router_ipc);
    b->router = b->router_ipc = NULL;
    for (size_t i = 0; i < b->n_ipc_owned; i++) {
        unlink(b->ipc_owned[i]);
        free(b->ipc_owned[i]);
    }
    free(b->ipc_owned);
    b->ipc_owned = NULL;
    b->n_ipc_owned = 0;
}

/* Moves the records of this turn into a frame of their own. */
static void frame_cur(client *c)
{
    if (!c->cur.len)
        return;
    outframe *f = calloc(1, sizeof *f);
    if (!f) {
        /* Out of memory: lose this turn's records rather than the broker. */
        c->pending_bytes -= c->cur.len;
        c->cur.len = 0;
        return;
    }
    f->buf = c->cur;
    memset(&c->cur, 0, sizeof c->cur);
    if (c->out_tail)
        c->out_tail->next = f;
    else
        c->out_head = f;
    c->out_tail = f;
}

static void drop_output(client *c)
{
    while (c->out_head) {
        outframe *f = c->out_head;
        c->out_head = f->next;
        ps__buf_free(&f->buf);
        free(f);
    }
    c->out_tail = NULL;
    ps__buf_free(&c->cur);
    c->pending_bytes = 0;
}

static int send_frames(broker *b, client *c);

void loop_put(broker *b, client *c, const ps__cmd *cmd)
{
    if (c->dead)
        return;
    size_t size = ps__wire_size(cmd);
    if (c->cur.len && c->cur.len + size > LOOP_FRAME_MAX) {
        /* A full frame goes to libzmq at once, so a busy turn does not
         * hold a fast receiver's bytes against its client_buffer.  Errors
         * wait for the end of the turn: forgetting a client here would
         * pull subscriptions from under a fan-out. */
        frame_cur(c);
        send_frames(b, c);
    }
    if (ps__wire_put(&c->cur, cmd) < 0) {
        log_warn("client %llu: cannot encode %s: %s", (unsigned long long)c->num,
                 ps__wire_cmd_name(cmd->cmd), strerror(errno));
        return;
    }
    c->pending_bytes += size;
    if (!c->dirty) {
        c->dirty = 1;
        c->flush_next = b->flush;
        b->flush = c;
    }
}

void loop_error(broker *b, client *c, uint64_t corr, uint16_t code, const char *fmt, ...)
{
    char text[PS_WIRE_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > PS_WIRE_TEXT_MAX)
        n = PS_WIRE_TEXT_MAX;
    ps__cmd e = {.cmd = PS_CMD_ERROR, .corr = corr, .code = code};
    e.text.ptr = text;
    e.text.len = (size_t)n;
    log_debug("client %llu: error %s: %s", (unsigned long long)c->num,
              ps__wire_err_text(code), text);
    loop_put(b, c, &e);
}

void loop_ok(broker *b, client *c, uint64_t corr, uint32_t value)
{
    ps__cmd ok = {.cmd = PS_CMD_OK, .corr = corr, .count = value};
    loop_put(b, c, &ok);
}

/*
 * Sends c's complete frames until its pipe is full.  Returns 0 when all
 * went, 1 when the pipe is full, -1 when the peer is gone (EHOSTUNREACH).
 */
static int send_frames(broker *b, client *c)
{
    while (c->out_head) {
        outframe *f = c->out_head;
        if (zmq_send(c->sock, c->ident, c->ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            return errno == EAGAIN || errno == EINTR ? 1 : -1;
        if (zmq_send(c->sock, f->buf.data, f->buf.len, ZMQ_DONTWAIT) < 0)
            log_debug("client %llu: send failed: %s", (unsigned long long)c->num,
                      zmq_strerror(errno));
        c->pending_bytes -= f->buf.len;
        c->last_out = b->now;
        c->out_head = f->next;
        if (!c->out_head)
            c->out_tail = NULL;
        ps__buf_free(&f->buf);
        free(f);
    }
    return 0;
}

/* Sends all of c's output it can.  Returns 1 if some remains. */
static int flush_client(broker *b, client *c)
{
    frame_cur(c);
    int rc = send_frames(b, c);
    if (rc < 0) {
        /* The peer disconnected: nobody to talk to. */
        drop_output(c);
        client_forget(b, c, "disconnected");
        return 0;
    }
    return rc;
}

/* True when c is over its bound and receives on a "block" channel. */
static int holds_publishers(broker *b, client *c)
{
    if (c->pending_bytes <= (size_t)b->cfg->client_buffer)
        return 0;
    for (sub *s = c->subs; s; s = s->cl_next)
        if (s->ch->slow == SLOW_BLOCK && s->ch->type != CHAN_QUEUE)
            return 1;
    return 0;
}

/* Flushes every dirty client.  Returns 1 when some pipe was full; sets
 * b->throttled when a "block" receiver is still over its bound. */
static int flush_all(broker *b)
{
    client *list = b->flush, *keep = NULL;
    int blocked = 0, throttle = 0;
    b->flush = NULL;
    while (list) {
        client *c = list;
        list = c->flush_next;
        c->dirty = 0;
        if (c->dead) {
            drop_output(c);
            continue;
        }
        if (flush_client(b, c) && !c->dead) {
            /* Answers and queue deliveries are never dropped; a client that
             * keeps asking without reading would grow them without end. */
            if (c->pending_bytes > (size_t)b->cfg->client_buffer * LOOP_HARD_CAP) {
                log_warn("client %llu does not read its messages (%zu bytes waiting)",
                         (unsigned long long)c->num, c->pending_bytes);
                drop_output(c);
                client_forget(b, c, "is stuck");
                continue;
            }
            if (holds_publishers(b, c)) {
                if (b->throttled && b->now - b->throttle_since > b->cfg->heartbeat_timeout_ms) {
                    drop_output(c);
                    client_forget(b, c, "kept publishers on a block channel waiting too long");
                    continue;
                }
                throttle = 1;
            }
            blocked = 1;
            c->flush_next = keep;
            keep = c;
        }
    }
    /* Clients made dirty during the flush (redeliveries) join those waiting. */
    while (keep) {
        client *c = keep;
        keep = c->flush_next;
        if (!c->dirty) {
            c->dirty = 1;
            c->flush_next = b->flush;
            b->flush = c;
        }
    }
    if (throttle && !b->throttled) {
        b->throttle_since = b->now;
        log_debug("a receiver on a block channel is full: publishers wait");
    }
    b->throttled = throttle;
    return blocked;
}

/* Answers a stranger directly: it has no session and no output buffer. */
static void send_direct(void *sock, const void *ident, size_t ilen, const ps__cmd *cmd)
{
    ps__buf buf = {0};
    if (ps__wire_put(&buf, cmd) == 0 &&
        zmq_send(sock, ident, ilen, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(sock, buf.data, buf.len, ZMQ_DONTWAIT);
    ps__buf_free(&buf);
}

void loop_direct_error(broker *b, void *sock, const void *ident, size_t ilen, uint16_t code,
                       const char *text)
{
    ps__cmd e = {.cmd = PS_CMD_ERROR, .code = code};
    (void)b;
    e.text.ptr = text;
    e.text.len = strlen(text);
    send_direct(sock, ident, ilen, &e);
}

/* Reads up to LOOP_BURST frames from sock and handles them. */
static void read_burst(broker *b, void *sock)
{
    for (int i = 0; i < LOOP_BURST; i++) {
        zmq_msg_t id, fr;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            break;
        }
        if (!zmq_msg_more(&id)) {
            b->malformed++;
            zmq_msg_close(&id);
            continue;
        }
        zmq_msg_init(&fr);
        if (zmq_msg_recv(&fr, sock, 0) < 0) {
            zmq_msg_close(&fr);
            zmq_msg_close(&id);
            break;
        }
        int extra = 0;
        while (zmq_msg_more(&fr)) {
            /* A client sends one frame per message; more is malformed. */
            zmq_msg_close(&fr);
            zmq_msg_init(&fr);
            if (zmq_msg_recv(&fr, sock, 0) < 0)
                break;
            extra = 1;
        }
        if (extra) {
            b->malformed++;
            client *c = client_find(b, sock, zmq_msg_data(&id), zmq_msg_size(&id));
            if (c && !c->dead) {
                if (!c->warned_malformed++)
                    log_debug("client %llu: multi-frame message dropped",
                              (unsigned long long)c->num);
                loop_error(b, c, 0, PS_WERR_PROTOCOL, "one frame per message expected");
            }
        } else {
            /* Who the ZAP handler admitted this connection as. */
            const char *user = b->secure ? zmq_msg_gets(&fr, "User-Id") : NULL;
            client_frame(b, sock, zmq_msg_data(&id), zmq_msg_size(&id), user, zmq_msg_data(&fr),
                         zmq_msg_size(&fr));
        }
        zmq_msg_close(&fr);
        zmq_msg_close(&id);
    }
}

/* Takes pending signals from the signalfd. */
static void read_signals(broker *b)
{
    struct signalfd_siginfo si;
    while (read(b->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            if (b->reload)
                b->reload(b);
        } else {
            log_info("%s received, shutting down", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            b->stop = 1;
        }
    }
}

/* STATUS= for systemctl status: live counts and the rates since the last
 * refresh (about LOOP_STATUS_MS ago). */
static void refresh_status(broker *b)
{
    static int64_t last_at;      /* monotonic ms of the previous refresh */
    static uint64_t last_in;     /* messages_in then */
    static uint64_t last_out;    /* messages_out then */
    char text[200];
    int64_t span = last_at ? b->now - last_at : 0;
    unsigned long long in_rate = 0, out_rate = 0;
    if (span > 0) {
        in_rate = (unsigned long long)((b->messages_in - last_in) * 1000 / (uint64_t)span);
        out_rate = (unsigned long long)((b->messages_out - last_out) * 1000 / (uint64_t)span);
    }
    snprintf(text, sizeof text,
             "%zu client%s, %zu channel%s, %llu msg/s in, %llu msg/s out (%llu in, %llu out in all)",
             b->n_clients, b->n_clients == 1 ? "" : "s", b->n_channels,
             b->n_channels == 1 ? "" : "s", in_rate, out_rate, (unsigned long long)b->messages_in,
             (unsigned long long)b->messages_out);
    sd_status(text);
    last_at = b->now;
    last_in = b->messages_in;
    last_out = b->messages_out;
}

int loop_run(broker *b)
{
    int blocked = 0;
    long wd = sd_watchdog_ms();
    int64_t next_wd = loop_now(), next_status = loop_now();
    b->now = loop_now();
    b->next_sweep = b->now;
    while (!b->stop) {
        b->now = loop_now();
        long timeout = b->next_sweep > b->now ? (long)(b->next_sweep - b->now) : 0;
        long t = chan_timers(b);
        if (t >= 0 && t < timeout)
            timeout = t;
        if (wd && next_wd - b->now < timeout)
            timeout = next_wd > b->now ? (long)(next_wd - b->now) : 0;
        if (next_status - b->now < timeout)
            timeout = next_status > b->now ? (long)(next_status - b->now) : 0;
        if (blocked && timeout > LOOP_RETRY_MS)
            timeout = LOOP_RETRY_MS;
        for (client *c = b->flush; c; c = c->flush_next)
            if (c->cur.len) {
                timeout = 0;
                break;
            }
        int sfd = store_event_fd(); /* the fsync worker's answers, when there is one */
        short in = b->throttled ? 0 : ZMQ_POLLIN;
        /* The optional sockets come last, each present only when used, and
         * the plain ZeroMQ gateway's after them. */
        zmq_pollitem_t items[5 + GATEWAY_POLL_MAX] = {
            {.socket = b->router, .events = in},
            {.fd = b->sigfd, .events = ZMQ_POLLIN},
        };
        int ni = 2, si = -1, zi = -1, ii = -1;
        if (sfd >= 0)
            items[si = ni++] = (zmq_pollitem_t){.fd = sfd, .events = ZMQ_POLLIN};
        if (b->zap)
            items[zi = ni++] = (zmq_pollitem_t){.socket = b->zap, .events = ZMQ_POLLIN};
        if (b->router_ipc)
            items[ii = ni++] = (zmq_pollitem_t){.socket = b->router_ipc, .events = in};
        int gw_first = ni;
        ni += gateway_poll_items(b, items + gw_first);
        int n = zmq_poll(items, ni, timeout);
        if (n < 0 && errno != EINTR) {
            log_err("zmq_poll: %s", zmq_strerror(errno));
            return -1;
        }
        b->now = loop_now();
        if (n > 0 && (items[1].revents & ZMQ_POLLIN))
            read_signals(b);
        if (n > 0 && zi >= 0 && (items[zi].revents & ZMQ_POLLIN))
            auth_zap(b);
        if (n > 0 && (items[0].revents & ZMQ_POLLIN))
            read_burst(b, b->router);
        if (n > 0 && ii >= 0 && (items[ii].revents & ZMQ_POLLIN))
            read_burst(b, b->router_ipc);
        if (n > 0 && si >= 0 && (items[si].revents & ZMQ_POLLIN))
            store_events();
        if (n > 0 && ni > gw_first)
            gateway_events(b, items + gw_first);
        /* Durable records of this turn go to disk before its output leaves. */
        store_turn_end();
        b->now = loop_now();
        chan_timers(b);
        if (b->now >= b->next_sweep)
            client_sweep(b);
        blocked = flush_all(b);
        /* Room in a blocking queue lets its publishers go on; this also
         * unlinks clients that died this turn, before they are freed. */
        if (b->parked)
            client_unpark(b);
        client_reap(b);
        if (wd && b->now >= next_wd) {
            sd_watchdog();
            next_wd = b->now + wd;
        }
        if (b->now >= next_status) {
            refresh_status(b);
            next_status = b->now + LOOP_STATUS_MS;
        }
    }
    return 0;
}
