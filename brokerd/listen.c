/*
 * listen.c - where the broker listens: its ROUTER sockets and the binding
 * of every endpoint, for the client sockets and the gateway's alike.
 *
 * Each endpoint is first held against the security policy (config.c:
 * plain tcp only on loopback unless broker.insecure).  A listening
 * socket systemd passed (socket activation, sd.c) is used when one
 * matches; otherwise an ipc path is probed first, because binding it
 * would silently steal a live broker's socket, and the file is created
 * 0600 and then given the configured mode and group, so nobody can slip
 * in before.  The socket files this broker created are removed at exit.
 * With a security section there are two ROUTERs: CURVE is an option of a
 * socket, and ipc peers are judged by their credentials without it, so
 * tcp endpoints are bound on b->router and ipc endpoints on b->router_ipc.
 *
 * A peer may choose its own ZMQ_ROUTING_ID, and libzmq has no option to
 * ignore it.  By default libzmq parks a newcomer that claims a routing id
 * already in use on a pipe nobody ever reads, and that pipe, with all the
 * newcomer sent into it, stays until the ROUTER is closed, even after its
 * connection went: closing it at the handshake timeout (below) only made
 * libzmq reconnect and park another, so memory grew by a receive window
 * at every timeout, without end.  The ROUTERs therefore set
 * ZMQ_ROUTER_HANDOVER: the newcomer gets the id, every pipe is read, and
 * what a connection sent is freed when it goes.  The session stays its
 * own connection's: client.c remembers the connection (ZMQ_SRCFD) each
 * HELLO came on and ends the session when another speaks under its id,
 * so the newcomer must say HELLO and be judged itself.  The cost is the
 * live connection: libzmq stops reading it, and its client, hearing no
 * more, reconnects.  The ids libzmq makes (when a client sets none, as
 * libpubsub does not) are never shown to anyone; a client that sets its
 * own can be thrown off by whoever knows it, and what the broker sends
 * that session goes to the newcomer until the broker hears from it (or
 * the session times out).
 */
#include "brokerd.h"
#include "defaults.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#define LISTEN_PIPE_SHARE 64  /* a peer's read-ahead is output_budget / this, in bytes */
#define LISTEN_RCVHWM_MAX 256         /* frames read ahead at most (small messages) */
#define LISTEN_RCVHWM_MIN 4           /* ... and at least (messages near the size limit) */

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

/* listen_bind without the log line of a failed zmq_bind: 0, -1 (zmq_bind
 * failed, errno set) or -2 (logged). */
static int bind_endpoint(broker *b, void *sock, const char *ep)
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
    /* A file bound again (the gateway's xpub after a reset) is listed once. */
    size_t i = 0;
    while (file && i < b->n_ipc_owned && strcmp(b->ipc_owned[i], ep + 6) != 0)
        i++;
    if (file && i == b->n_ipc_owned) {
        char **more = realloc(b->ipc_owned, (b->n_ipc_owned + 1) * sizeof *more);
        if (more) {
            b->ipc_owned = more;
            if ((more[b->n_ipc_owned] = strdup(ep + 6)))
                b->n_ipc_owned++;
        }
    }
    if (file && ipc_set_mode(b, ep + 6) < 0)
        return -2;
    return 0;
}

int listen_rebind(broker *b, void *sock, const char *ep)
{
    return bind_endpoint(b, sock, ep) == 0 ? 0 : -1;
}

int listen_bind(broker *b, void *sock, const char *ep, const char *what)
{
    int rc = bind_endpoint(b, sock, ep);
    if (rc == -1)
        log_err("cannot bind %s%s: %s", what, ep, zmq_strerror(errno));
    return rc < 0 ? -1 : 0;
}

void listen_apply_limits(broker *b)
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
     * PS_FRAME_MAX, so a low send mark keeps what libzmq holds for one
     * slow peer near 2 MiB; beyond it our own byte-bounded buffer takes
     * over and the slow-subscriber policy and the output budget apply.
     * The budget cannot see into libzmq's pipes, so they are kept small:
     * at 128 frames, six peers that never read held 48 MiB there.  The
     * receive mark bounds what libzmq reads ahead from one peer: at most
     * a share of the broker-wide output_budget (1/LISTEN_PIPE_SHARE: 16 MiB
     * with the default budget, 15 frames of the default 1 MiB messages) in
     * frames of the largest allowed size, and at least LISTEN_RCVHWM_MIN
     * frames.  libzmq's marks count frames, and a queue's consumers send
     * small ones (acks) that need pipelining: with 4 frames the queue with
     * acks made half what it makes with 16 or more.  A broker given a
     * small budget (the soak, t0540: 16 MiB) reads 4 frames ahead.
     * (Sharing the budget among the connections open, the mark set again
     * as they came and went, which libzmq applies to open pipes too, was
     * tried: in the soak, connections stalled, their heartbeats unread,
     * and the sessions timed out.)  Handover
     * (see the head of this file) keeps every pipe one the broker reads. */
    int64_t frame = b->cfg->max_message_size + PS_FRAME_SLACK;
    int one = 1, shwm = 32, zero = 0;
    int64_t share = b->cfg->output_budget / LISTEN_PIPE_SHARE / frame;
    if (share > LISTEN_RCVHWM_MAX)
        share = LISTEN_RCVHWM_MAX;
    if (share < LISTEN_RCVHWM_MIN)
        share = LISTEN_RCVHWM_MIN;
    int hwm = (int)share;
    zmq_setsockopt(r, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(r, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt(r, ZMQ_SNDHWM, &shwm, sizeof shwm);
    zmq_setsockopt(r, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof zero);
    /* libzmq's own bound on the ZMTP (and CURVE) handshake; HELLO after it
     * is the broker's (listen_watch). */
    int ivl = (int)b->cfg->handshake_timeout_ms;
    zmq_setsockopt(r, ZMQ_HANDSHAKE_IVL, &ivl, sizeof ivl);
    if (auth_setup_router(b, r, ipc) < 0) {
        log_err("cannot set up %s security: %s", ipc ? "ipc" : "CURVE", zmq_strerror(errno));
        zmq_close(r);
        return NULL;
    }
    return r;
}

int listen_open(broker *b)
{
    if (!(b->router = open_router(b, 0)))
        return -1;
    if (b->secure && !(b->router_ipc = open_router(b, 1)))
        return -1;
    listen_apply_limits(b);
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
        if (listen_bind(b, ipc && b->router_ipc ? b->router_ipc : b->router, ep, "") < 0)
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

static void conns_free(broker *b);

void listen_close(broker *b)
{
    conns_free(b);
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


/* Connections before HELLO -------------------------------------------------- */

/*
 * A ZeroMQ socket monitor on each ROUTER reports every accepted connection
 * with its fd, and its end.  Until its first HELLO (client.c says so with
 * the fd libzmq names as the frame's source, ZMQ_SRCFD) a connection is
 * pending: those are counted per source address, one past
 * broker.max_handshakes_per_address is closed at once, and one still
 * silent after broker.handshake_timeout_ms is closed then.  libzmq owns
 * the fd, so the broker only shuts it down (libzmq then sees the end and
 * closes it), and first checks that the fd still is the connection it
 * accepted (the same peer), since the number may have been reused.  When
 * accepting fails for want of descriptors, libzmq's listener retries at
 * once and for ever; the oldest pending connections are then closed, so
 * the table has room again and the retries end.
 */

/* What a pending connection is, for the table indexed by its fd. */
struct pending_conn {
    int64_t since;          /* monotonic ms it was accepted; 0: the slot is free */
    uint8_t peer[16];       /* its source address (IPv4 in the first 4 bytes); 0s for ipc */
    uint16_t port;          /* its source port (tcp), or its pid's low bits (ipc) */
    uint8_t family;         /* AF_INET, AF_INET6 or AF_UNIX */
    int next, prev;         /* fds of the next and previous pending connection, in accept order, -1 none */
    int greeted;            /* its HELLO was read before its ACCEPTED event: not silent */
};

/* The pending connections of both ROUTERs. */
struct listen_conns {
    void *mon[2];            /* PAIR sockets reading the ROUTERs' monitors (NULL: none) */
    struct pending_conn *by_fd; /* indexed by fd; grows to the largest fd seen */
    int cap;                 /* entries in by_fd */
    int head, tail;          /* oldest and newest pending fds, -1 none */
    size_t n;                /* pending connections */
    int starved;             /* accepting failed for want of fds: close the oldest */
    uint64_t timed_out;      /* connections closed for silence */
    uint64_t over_cap;       /* connections closed past the per-address cap */
    unsigned logged;         /* kinds already logged, one bit each */
};

#define CONN_EVENTS (ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_ACCEPT_FAILED | ZMQ_EVENT_DISCONNECTED | \
                     ZMQ_EVENT_CLOSED)
#define CONN_EVICT_BURST 16 /* oldest pending connections closed per turn when fds run out */

/* Fills the identity of the connection on fd (peer address and port). */
static int conn_identity(int fd, struct pending_conn *p)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(p->peer, 0, sizeof p->peer);
    p->port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    p->family = (uint8_t)ss.ss_family;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        memcpy(p->peer, &in->sin_addr, 4);
        p->port = in->sin_port;
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        memcpy(p->peer, &in6->sin6_addr, 16);
        p->port = in6->sin6_port;
    } else if (ss.ss_family == AF_UNIX) {
        struct ucred cr;
        socklen_t cl = sizeof cr;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
            p->port = (uint16_t)cr.pid;
    }
    return 0;
}

static void conn_unlink(listen_conns *lc, int fd)
{
    struct pending_conn *p = &lc->by_fd[fd];
    if (p->prev >= 0)
        lc->by_fd[p->prev].next = p->next;
    else
        lc->head = p->next;
    if (p->next >= 0)
        lc->by_fd[p->next].prev = p->prev;
    else
        lc->tail = p->prev;
    p->since = 0;
    lc->n--;
}

static struct pending_conn *conn_find(listen_conns *lc, int fd)
{
    return lc && fd >= 0 && fd < lc->cap && lc->by_fd[fd].since ? &lc->by_fd[fd] : NULL;
}

/* Logs the first event of a kind (bit) only. */
static int conn_first(listen_conns *lc, unsigned bit)
{
    if (lc->logged & bit)
        return 0;
    lc->logged |= bit;
    return 1;
}

/* Shows where a pending connection came from, for the log. */
static const char *conn_source(const struct pending_conn *p, char *out, size_t cap)
{
    if (p->family == AF_INET || p->family == AF_INET6)
        inet_ntop(p->family, p->peer, out, (socklen_t)cap);
    else
        snprintf(out, cap, "a local process");
    return out;
}

/* Shuts the pending connection on fd down if the fd still is that
 * connection, and forgets it. */
static void conn_close(listen_conns *lc, int fd)
{
    struct pending_conn now, *p = &lc->by_fd[fd];
    if (conn_identity(fd, &now) == 0 && now.family == p->family && now.port == p->port &&
        !memcmp(now.peer, p->peer, sizeof now.peer))
        shutdown(fd, SHUT_RDWR);
    conn_unlink(lc, fd);
}

/* An accepted connection on fd: pending.  When its address has
 * max_handshakes_per_address pending already, the oldest of them is
 * closed: a client that just connected says HELLO at once, so a flood
 * from its address does not lock it out, while the silent ones go. */
/* The slot of fd, the table grown to hold it; NULL for a bad fd or
 * without memory. */
static struct pending_conn *conn_slot(listen_conns *lc, int fd)
{
    if (fd < 0)
        return NULL;
    if (fd >= lc->cap) {
        int cap = lc->cap ? lc->cap : 64;
        while (cap <= fd)
            cap *= 2;
        struct pending_conn *more = realloc(lc->by_fd, (size_t)cap * sizeof *more);
        if (!more)
            return NULL;
        memset(more + lc->cap, 0, (size_t)(cap - lc->cap) * sizeof *more);
        lc->by_fd = more;
        lc->cap = cap;
    }
    return &lc->by_fd[fd];
}

static void conn_accepted(broker *b, listen_conns *lc, int fd)
{
    struct pending_conn *p = conn_slot(lc, fd);
    if (!p)
        return; /* not counted: it may still say HELLO, and libzmq's handshake
                 * interval bounds it */
    lc->starved = 0;
    if (p->since)
        conn_unlink(lc, fd); /* its end was not reported (the monitor drops events when full) */
    if (p->greeted) {
        /* The monitor's event comes through a pipe of its own, so a quick
         * client's HELLO can be read first: it is no silent connection. */
        p->greeted = 0;
        return;
    }
    if (conn_identity(fd, p) < 0)
        return; /* gone already */
    size_t same = 0;
    int oldest = -1;
    for (int i = lc->head; i >= 0 && p->family != AF_UNIX; i = lc->by_fd[i].next) {
        if (lc->by_fd[i].family == p->family && !memcmp(lc->by_fd[i].peer, p->peer, 16)) {
            if (!same++)
                oldest = i;
        }
    }
    p->since = b->now ? b->now : 1;
    p->next = -1;
    p->prev = lc->tail;
    if (lc->tail >= 0)
        lc->by_fd[lc->tail].next = fd;
    else
        lc->head = fd;
    lc->tail = fd;
    lc->n++;
    if ((long)same >= b->cfg->max_handshakes_per_address) {
        char src[INET6_ADDRSTRLEN];
        lc->over_cap++;
        if (conn_first(lc, 1))
            log_warn("closed a connection from %s: %zu connections from there had not said "
                     "HELLO yet (broker.max_handshakes_per_address), and it was the oldest; "
                     "further ones are not logged", conn_source(p, src, sizeof src), same);
        conn_close(lc, oldest);
    }
}

/* Reads the events one monitor has ready. */
static void conn_events(broker *b, void *mon)
{
    listen_conns *lc = b->conns;
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            break;
        }
        uint16_t what = 0;
        int32_t value = -1;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&what, zmq_msg_data(&ev), 2);
            memcpy(&value, (const char *)zmq_msg_data(&ev) + 2, 4);
        }
        int more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        while (more) {
            zmq_msg_init(&addr);
            more = zmq_msg_recv(&addr, mon, 0) >= 0 && zmq_msg_more(&addr);
            zmq_msg_close(&addr);
        }
        if (what == ZMQ_EVENT_ACCEPTED) {
            conn_accepted(b, lc, value);
        } else if (what == ZMQ_EVENT_DISCONNECTED || what == ZMQ_EVENT_CLOSED) {
            if (conn_find(lc, value))
                conn_unlink(lc, value);
            if (value >= 0 && value < lc->cap)
                lc->by_fd[value].greeted = 0;
        } else if (what == ZMQ_EVENT_ACCEPT_FAILED && (value == EMFILE || value == ENFILE)) {
            /* libzmq retries at once: closed below, once for all the
             * events of this turn. */
            lc->starved = 1;
            if (conn_first(lc, 2))
                log_warn("cannot accept connections: %s; closing the oldest connections that "
                         "have not said HELLO (%zu); further ones are not logged",
                         strerror(value), lc->n);
        }
    }
    for (int evict = lc->starved ? CONN_EVICT_BURST : 0; lc->head >= 0 && evict > 0; evict--) {
        lc->timed_out++;
        conn_close(lc, lc->head);
    }
    lc->starved = 0;
}

static void conn_events_tcp(void *ctx)
{
    broker *b = ctx;
    conn_events(b, b->conns->mon[0]);
}

static void conn_events_ipc(void *ctx)
{
    broker *b = ctx;
    conn_events(b, b->conns->mon[1]);
}

/* The loop's timer: closes connections silent past the handshake timeout.
 * Returns when it runs next. */
static long conn_sweep(void *ctx)
{
    broker *b = ctx;
    listen_conns *lc = b->conns;
    long limit = b->cfg->handshake_timeout_ms;
    while (lc->head >= 0 && b->now - lc->by_fd[lc->head].since >= limit) {
        char src[INET6_ADDRSTRLEN];
        lc->timed_out++;
        if (conn_first(lc, 4))
            log_warn("closed a connection from %s that had not said HELLO within %ld ms "
                     "(broker.handshake_timeout_ms); further ones are not logged",
                     conn_source(&lc->by_fd[lc->head], src, sizeof src), limit);
        conn_close(lc, lc->head);
    }
    if (lc->head < 0)
        return limit;
    long wait = (long)(lc->by_fd[lc->head].since + limit - b->now);
    return wait > 0 ? wait : 0;
}

/* Starts the monitor of router as the i-th; 0 or -1 after logging. */
static int conn_monitor(broker *b, void *router, int i)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://brokerd.monitor.%d", i);
    if (zmq_socket_monitor(router, ep, CONN_EVENTS) < 0 ||
        !(b->conns->mon[i] = zmq_socket(b->ctx, ZMQ_PAIR)) || zmq_connect(b->conns->mon[i], ep) < 0) {
        log_err("cannot monitor the connections of the ROUTER: %s", zmq_strerror(errno));
        return -1;
    }
    int zero = 0;
    zmq_setsockopt(b->conns->mon[i], ZMQ_LINGER, &zero, sizeof zero);
    return 0;
}

int listen_watch(broker *b)
{
    if (!(b->conns = calloc(1, sizeof *b->conns))) {
        log_err("out of memory");
        return -1;
    }
    b->conns->head = b->conns->tail = -1;
    if (conn_monitor(b, b->router, 0) < 0 || (b->router_ipc && conn_monitor(b, b->router_ipc, 1) < 0))
        return -1;
    /* Before the ROUTERs, so that a connection is known when its HELLO is read. */
    if (loop_watch(b->loop, b->conns->mon[0], -1, conn_events_tcp, b, NULL) < 0 ||
        loop_own(b->loop, b->conns->mon[0]) < 0 ||
        (b->conns->mon[1] && (loop_watch(b->loop, b->conns->mon[1], -1, conn_events_ipc, b, NULL) < 0 ||
                              loop_own(b->loop, b->conns->mon[1]) < 0)) ||
        loop_timer(b->loop, 0, conn_sweep, b) < 0) {
        log_err("cannot set up the event loop: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void listen_greeted(broker *b, int fd)
{
    if (conn_find(b->conns, fd)) {
        conn_unlink(b->conns, fd);
    } else {
        /* Its ACCEPTED event is still on the way: remember it spoke. */
        struct pending_conn *p = conn_slot(b->conns, fd);
        if (p)
            p->greeted = 1;
    }
}

static void conns_free(broker *b)
{
    listen_conns *lc = b->conns;
    if (!lc)
        return;
    /* Stop each monitor and read what it still holds before closing it:
     * libzmq frees an event's address frame only when it is read, so an
     * unread event would be lost memory at exit. */
    void *routers[2] = {b->router, b->router_ipc};
    for (int i = 0; i < 2; i++) {
        if (!lc->mon[i])
            continue;
        if (routers[i])
            zmq_socket_monitor(routers[i], NULL, 0);
        zmq_msg_t m;
        zmq_msg_init(&m);
        while (zmq_msg_recv(&m, lc->mon[i], ZMQ_DONTWAIT) >= 0)
            ;
        zmq_msg_close(&m);
        zmq_close(lc->mon[i]);
    }
    free(lc->by_fd);
    free(lc);
    b->conns = NULL;
}
