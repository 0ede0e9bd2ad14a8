/*
 * repl_tcp.c - the replication transport: libraft's TCP transport with
 * outgoing connections that fail within a bound on a dead path.
 *
 * libraft 0.15's transport (raft_uv_tcp_init) leaves every timing to the
 * kernel.  A connect has no timeout but the SYN retries (about two
 * minutes), and data unacknowledged on a cut path is retransmitted with an
 * exponential backoff; so once a cut of a few seconds heals, the next
 * packet may leave seconds later, and a connect begun during the cut may
 * take a minute (the fault test of a leader cut off measured 1.6-3.2 s
 * after a 3-5 s cut).  This transport keeps libraft's own listener and
 * handshake reader (the inner transport) and makes the outgoing
 * connections itself, with TCP_USER_TIMEOUT set before connecting: a
 * connect, or data, that gets no acknowledgement for user_timeout_ms
 * fails.  libraft dials again at once after a failed write and after its
 * connect retry delay after a failed connect, so a healed path carries
 * Raft traffic again within about user_timeout_ms and that delay.  Only
 * outgoing connections carry data that waits for acknowledgements (each
 * replica sends on its own connections and reads on those it accepted), so
 * the accepted ones keep the kernel's defaults.  When a peer's process
 * dies its kernel closes our connection to it at once (kill -9 included):
 * repl_tcp_peer_closed tells from the socket's TCP state, long before an
 * election timeout would, without reading or writing it (a read that
 * meets a reset makes libuv refuse the next write, which libraft takes as
 * fatal).  It is also the place where CURVE would wrap the stream.
 * Everything here runs on the replication thread.
 */
#include "repl_tcp.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <raft.h>

/* libraft 0.15's handshake protocol: an accepting replica reads the
 * protocol, the dialer's id, the padded length of its address and the
 * address, each number 64 bits little-endian. */
#define HANDSHAKE_PROTOCOL 1

/* The longest "IP:PORT" accepted, with its NUL. */
#define ADDR_MAX 64

/* The outgoing connections watched for their end: one per peer (a new
 * connection to a peer replaces its old one), at most this many peers
 * (libraft's groups here have at most 7 voters). */
#define WATCH_MAX 8

struct rtcp;

/* One outgoing connect under way. */
struct rtcp_conn {
    struct rtcp *t;              /* its transport */
    struct raft_uv_connect *req; /* libraft's request, answered once; NULL when
                                    its start failed and libraft was told so */
    uv_tcp_t *tcp;               /* the connection (libraft's heap: it frees it
                                    once handed over) */
    uv_connect_t connect;        /* the TCP connect */
    uv_write_t write;            /* the handshake's write */
    uv_buf_t hs;                 /* the handshake */
    int status;                  /* what libraft hears if it fails: RAFT_NOCONNECTION
                                    or RAFT_CANCELED */
    raft_id id;                  /* the peer dialled */
    int fd;                      /* the connection's socket */
    struct rtcp_conn *next;      /* the transport's connects under way */
    struct rtcp_conn *prev;      /* ... and back */
};

/* The transport (the outer raft_uv_transport's impl). */
struct rtcp {
    struct raft_uv_transport inner;     /* libraft's TCP transport: listens, accepts,
                                           reads handshakes; its data is this */
    struct raft_uv_transport *outer;    /* the transport libraft uses (its data is libraft's) */
    uv_loop_t *loop;                    /* the replication thread's loop */
    raft_id id;                         /* this replica's id, in each handshake */
    char address[ADDR_MAX];             /* this replica's address, in each handshake */
    unsigned user_timeout_ms;           /* TCP_USER_TIMEOUT of outgoing connections */
    raft_uv_accept_cb accept_cb;        /* libraft's, for accepted connections */
    raft_uv_transport_close_cb close_cb;/* libraft's, once everything is closed */
    int closing;                        /* close was called */
    int inner_open;                     /* the inner transport has not reported closed */
    struct rtcp_conn *conns;            /* connects under way */
    struct {
        raft_id id;                     /* the peer, 0: the slot is free */
        int fd;                         /* our last connection to it (libraft's) */
        ino_t ino;                      /* its socket's inode: the same fd number may
                                           be another socket once libraft closed it */
        int told;                       /* repl_tcp_peer_closed said it ended */
    } watch[WATCH_MAX];                 /* each peer's last outgoing connection */
};

/* The outer close callback once nothing is left open. */
static void maybe_closed(struct rtcp *t)
{
    if (!t->closing || t->inner_open || t->conns || !t->close_cb)
        return;
    raft_uv_transport_close_cb cb = t->close_cb;
    t->close_cb = NULL;
    cb(t->outer);
}

static void unlink_conn(struct rtcp_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->t->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

/* A failed or cancelled connect's handle is closed: libraft hears why. */
static void conn_closed(uv_handle_t *h)
{
    struct rtcp_conn *c = h->data;
    struct rtcp *t = c->t;
    struct raft_uv_connect *req = c->req;
    int status = c->status;
    raft_free(c->tcp);
    unlink_conn(c);
    free(c->hs.base);
    free(c);
    if (req)
        req->cb(req, NULL, status);
    maybe_closed(t);
}

static void conn_fail(struct rtcp_conn *c, int status)
{
    c->status = status;
    uv_close((uv_handle_t *)c->tcp, conn_closed);
}

/* Records fd, our new connection to peer id, in id's slot (or a free
 * one); the socket's inode tells it from a later socket that reuses the
 * number once libraft closed it. */
static void watch_start(struct rtcp *t, raft_id id, int fd)
{
    struct stat st;
    size_t slot = WATCH_MAX, i;
    /* Id 0 is no server (libraft dials it when a follower that forgot its
     * leader answers it late), and 0 marks a free slot here. */
    if (!id || fd < 0 || fstat(fd, &st) != 0)
        return;
    for (i = 0; i < WATCH_MAX && slot == WATCH_MAX; i++)
        if (t->watch[i].id == id)
            slot = i;
    for (i = 0; i < WATCH_MAX && slot == WATCH_MAX; i++)
        if (!t->watch[i].id)
            slot = i;
    if (slot == WATCH_MAX)
        return; /* unwatched: the election timeout notices a dead peer */
    t->watch[slot].id = id;
    t->watch[slot].fd = fd;
    t->watch[slot].ino = st.st_ino;
    t->watch[slot].told = 0;
}

int repl_tcp_peer_closed(struct raft_uv_transport *outer, raft_id id)
{
    struct rtcp *t = outer->impl;
    for (size_t i = 0; t && i < WATCH_MAX; i++) {
        if (t->watch[i].id != id)
            continue;
        struct stat st;
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        if (t->watch[i].told || fstat(t->watch[i].fd, &st) != 0 ||
            st.st_ino != t->watch[i].ino ||
            getsockopt(t->watch[i].fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
            return 0; /* told already, or libraft closed it: it dials again */
        /* The peer's FIN came (CLOSE_WAIT), or its RST or our timeout
         * ended the connection (CLOSE). */
        if (ti.tcpi_state != TCP_CLOSE_WAIT && ti.tcpi_state != TCP_CLOSE)
            return 0;
        t->watch[i].told = 1;
        return 1;
    }
    return 0;
}

/* The handshake is out: the connection is libraft's. */
static void conn_wrote(uv_write_t *w, int status)
{
    struct rtcp_conn *c = w->data;
    if (uv_is_closing((uv_handle_t *)c->tcp))
        return; /* being cancelled: conn_closed answers */
    if (status != 0) {
        conn_fail(c, RAFT_NOCONNECTION);
        return;
    }
    struct raft_uv_connect *req = c->req;
    uv_stream_t *s = (uv_stream_t *)c->tcp;
    watch_start(c->t, c->id, c->fd);
    unlink_conn(c);
    free(c->hs.base);
    free(c);
    req->cb(req, s, 0);
}

static void conn_connected(uv_connect_t *creq, int status)
{
    struct rtcp_conn *c = creq->data;
    if (uv_is_closing((uv_handle_t *)c->tcp))
        return;
    if (status != 0 ||
        uv_write(&c->write, (uv_stream_t *)c->tcp, &c->hs, 1, conn_wrote) != 0)
        conn_fail(c, RAFT_NOCONNECTION);
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* "IP:PORT" into sa; 0 or -1. */
static int parse_addr(const char *address, struct sockaddr_in *sa)
{
    const char *colon = strrchr(address, ':');
    if (!colon || (size_t)(colon - address) >= ADDR_MAX)
        return -1;
    char host[ADDR_MAX];
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port == 0 || port > 65535)
        return -1;
    return uv_ip4_addr(host, (int)port, sa) == 0 ? 0 : -1;
}

static int rtcp_connect(struct raft_uv_transport *outer, struct raft_uv_connect *req,
                        raft_id id, const char *address, raft_uv_connect_cb cb)
{
    struct rtcp *t = outer->impl;
    struct sockaddr_in sa;
    req->cb = cb;
    if (t->closing || parse_addr(address, &sa) != 0)
        return RAFT_NOCONNECTION;
    struct rtcp_conn *c = calloc(1, sizeof *c);
    size_t alen = (strlen(t->address) + 1 + 7) / 8 * 8;
    if (!c || !(c->hs.base = calloc(1, 24 + alen)) || !(c->tcp = raft_malloc(sizeof *c->tcp))) {
        if (c)
            free(c->hs.base);
        free(c);
        return RAFT_NOMEM;
    }
    c->hs.len = 24 + alen;
    put_le64((unsigned char *)c->hs.base, HANDSHAKE_PROTOCOL);
    put_le64((unsigned char *)c->hs.base + 8, t->id);
    put_le64((unsigned char *)c->hs.base + 16, alen);
    memcpy(c->hs.base + 24, t->address, strlen(t->address));
    c->t = t;
    c->req = req;
    c->id = id;
    c->connect.data = c;
    c->write.data = c;
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    uv_tcp_init(t->loop, c->tcp);
    c->tcp->data = c;
    /* The socket is made here so its timeout holds for the SYNs too. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    unsigned ut = t->user_timeout_ms;
    int one = 1;
    if (fd >= 0 &&
        (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof ut) != 0 ||
         setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
         uv_tcp_open(c->tcp, fd) != 0)) {
        close(fd);
        fd = -1;
    }
    c->fd = fd;
    if (fd < 0 || uv_tcp_connect(&c->connect, c->tcp, (const struct sockaddr *)&sa,
                                 conn_connected) != 0) {
        /* libraft hears it from the return value, not the callback. */
        c->req = NULL;
        conn_fail(c, RAFT_NOCONNECTION);
        return RAFT_NOCONNECTION;
    }
    return 0;
}

static void inner_accepted(struct raft_uv_transport *inner, raft_id id, const char *address,
                           struct uv_stream_s *stream)
{
    struct rtcp *t = inner->data;
    t->accept_cb(t->outer, id, address, stream);
}

static int rtcp_listen(struct raft_uv_transport *outer, raft_uv_accept_cb cb)
{
    struct rtcp *t = outer->impl;
    t->accept_cb = cb;
    int rv = t->inner.listen(&t->inner, inner_accepted);
    if (rv != 0)
        memcpy(outer->errmsg, t->inner.errmsg, sizeof outer->errmsg);
    return rv;
}

static int rtcp_init(struct raft_uv_transport *outer, raft_id id, const char *address)
{
    struct rtcp *t = outer->impl;
    if (strlen(address) >= ADDR_MAX)
        return RAFT_INVALID;
    t->id = id;
    strcpy(t->address, address);
    int rv = t->inner.init(&t->inner, id, address);
    if (rv != 0)
        memcpy(outer->errmsg, t->inner.errmsg, sizeof outer->errmsg);
    return rv;
}

static void inner_closed(struct raft_uv_transport *inner)
{
    struct rtcp *t = inner->data;
    t->inner_open = 0;
    maybe_closed(t);
}

static void rtcp_close(struct raft_uv_transport *outer, raft_uv_transport_close_cb cb)
{
    struct rtcp *t = outer->impl;
    t->closing = 1;
    t->close_cb = cb;
    for (struct rtcp_conn *c = t->conns; c; c = c->next)
        if (!uv_is_closing((uv_handle_t *)c->tcp)) {
            c->status = RAFT_CANCELED;
            uv_close((uv_handle_t *)c->tcp, conn_closed);
        }
    t->inner.close(&t->inner, inner_closed);
}

int repl_tcp_init(struct raft_uv_transport *outer, struct uv_loop_s *loop,
                  unsigned user_timeout_ms)
{
    struct rtcp *t = calloc(1, sizeof *t);
    if (!t)
        return RAFT_NOMEM;
    t->inner.data = t;
    int rv = raft_uv_tcp_init(&t->inner, loop);
    if (rv != 0) {
        free(t);
        return rv;
    }
    t->outer = outer;
    t->loop = loop;
    t->user_timeout_ms = user_timeout_ms;
    t->inner_open = 1;
    void *data = outer->data;
    memset(outer, 0, sizeof *outer);
    outer->data = data;
    outer->impl = t;
    outer->init = rtcp_init;
    outer->listen = rtcp_listen;
    outer->connect = rtcp_connect;
    outer->close = rtcp_close;
    return 0;
}

void repl_tcp_close(struct raft_uv_transport *outer)
{
    struct rtcp *t = outer->impl;
    if (!t)
        return;
    raft_uv_tcp_close(&t->inner);
    free(t);
    outer->impl = NULL;
}
