/*
 * pbench - measures brokerd and its peers on the same scenarios, in one run.
 *
 * Every figure is taken the same way for every target: subscriber and
 * publisher processes of their own (fork), the same payloads and counts,
 * a start signal once every subscriber is attached (publishers send probe
 * messages until each subscriber has seen one, which also defeats
 * ZeroMQ's slow joiner), and the clock running from the first publish to
 * the last message received.  Every run checks that every message arrived;
 * a figure with losses is reported as such, never as a throughput.  Each
 * figure is the median of --runs rounds, with their lowest and highest,
 * and a round far below its median is named (a collapse under sustained
 * load is a finding, not noise to hide).  Targets: brokerd (through
 * libpubsub), a raw libzmq proxy that pbench starts itself (the floor no
 * broker on ZeroMQ can beat), and, when pbench was built with their client
 * libraries and given their address, Mosquitto, Redis and NATS.
 */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>
#ifdef PBENCH_NATS
#include <nats/nats.h>
#endif
#ifdef PBENCH_REDIS
#include <hiredis/hiredis.h>
#endif
#ifdef PBENCH_MOSQUITTO
#include <mosquitto.h>
#endif

#define MAX_SUBS 64        /* subscribers of one run at most */
#define IDLE_MS 5000       /* a subscriber gives up this long after its last message */
#define PROBE 0x80         /* first byte of a readiness probe: PROBE + publisher index */
#define DATA 'D'           /* first byte of a measured message */

/* What one run asks of the clients. */
/* K_DROP: pubsub on a channel whose slow-subscriber policy is "drop"
 * (losses are its figure, not a failure); K_PUBSUB's channel blocks. */
enum kind { K_PUBSUB, K_QUEUE, K_CONFIRM, K_DURABLE, K_SYNC, K_DROP };

struct job {
    enum kind kind;        /* what the channel does */
    size_t size;           /* payload bytes */
    long count;            /* messages per publisher */
    int pubs;              /* publishers */
    int subs;              /* subscribers */
    int window;            /* confirms outstanding (K_CONFIRM, K_DURABLE) */
    int qos;               /* mosquitto: 0 or 1 */
};

/* A subscriber's report to the parent. */
struct sub_result {
    long received;         /* measured messages */
    uint64_t probed;       /* publishers whose probes arrived, a bit each */
    int64_t first_ns;      /* when the first arrived */
    int64_t last_ns;       /* when the last arrived */
};

/* A publisher's report. */
struct pub_result {
    int64_t start_ns;      /* first measured publish */
    int64_t end_ns;        /* everything handed over (and confirmed) */
    int ok;                /* 1 when every send succeeded */
    int index;             /* which publisher of the run (0..), set before pub_run */
};

/* A target: how to reach it and what its clients do. */
struct target {
    const char *name;      /* column title */
    const char *addr;      /* endpoint or URL */
    int qos;               /* mosquitto QoS of this column */
    /* Subscribes, says ready on ready_fd at the first probe, counts. */
    int (*sub_run)(const struct target *t, const struct job *j, int ready_fd, struct sub_result *r);
    /* Sends probes until go_fd is readable, then the job's messages. */
    int (*pub_run)(const struct target *t, const struct job *j, int go_fd, struct pub_result *r);
    /* Answers requests (echo) until killed; says ready once attached. */
    int (*rpc_serve)(const struct target *t, const struct job *j, int ready_fd);
    /* Makes n requests one after the other, latencies in lat (ns). */
    int (*rpc_run)(const struct target *t, const struct job *j, int64_t *lat, long n);
    int kinds;             /* bit per enum kind it can run */
    double scale;          /* share of each job's messages it is given (0: all) */
    const char *sub_addr;  /* where receivers and responders attach, when not addr
                              (another node of a cluster); NULL: addr */
};

/* Where t's subscribers, consumers and responders connect. */
static const char *sub_addr(const struct target *t)
{
    return t->sub_addr ? t->sub_addr : t->addr;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* True when fd is readable now or within ms. */
static int readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

static void say_ready(int fd, int *said)
{
    if (!*said) {
        char c = 'R';
        if (write(fd, &c, 1) != 1)
            _exit(3);
        *said = 1;
    }
}

/*
 * Counts one arrival of a payload starting with first.  1 when done.  The
 * subscriber is ready once probes of every publisher arrived: one that
 * connected late (a PUB socket drops what it sends before the subscription
 * reached it) would otherwise lose the start of its messages.
 */
static int count(const struct job *j, struct sub_result *r, char first, int ready_fd, int *ready)
{
    unsigned char b = (unsigned char)first;
    if (b >= PROBE && b < PROBE + MAX_SUBS) {
        r->probed |= (uint64_t)1 << (b - PROBE);
        if (r->probed == (j->pubs >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << j->pubs) - 1))
            say_ready(ready_fd, ready);
        return 0;
    }
    /* The clock is read where a figure needs it, not for every message
     * (a read costs a subscriber about a twentieth of its time): at the
     * first and the last of a round, and on a "drop" channel, whose round
     * ends idle after what was dropped, at each. */
    int done = ++r->received >= j->count * j->pubs;
    if (r->received == 1 || done || j->kind == K_DROP) {
        int64_t t = now_ns();
        if (r->received == 1)
            r->first_ns = t;
        r->last_ns = t;
    }
    return done;
}

static void payload(char *buf, size_t size, char first)
{
    memset(buf, 'x', size);
    buf[0] = first;
}

/* brokerd, through libpubsub ---------------------------------------------- */

static const char *ps_channel(const struct job *j)
{
    return j->kind == K_QUEUE     ? "bench.queue"
           : j->kind == K_DURABLE ? "bench.durable"
           : j->kind == K_DROP    ? "bench.drop"
                                  : "bench";
}

static int ps_sub_run(const struct target *t, const struct job *j, int ready_fd, struct sub_result *r)
{
    ps_opts *o = ps_opts_new();
    ps_opts_set_int(o, PS_OPT_WINDOW, 1000);
    ps_client *c = ps_connect(sub_addr(t), o);
    ps_opts_destroy(&o);
    int ready = 0;
    if (!c || ps_subscribe(c, ps_channel(j), NULL, 0) < 0)
        return -1;
    int queued = j->kind != K_PUBSUB;
    for (;;) {
        ps_msg *m = ps_recv(c, r->received || ready ? IDLE_MS : 30000);
        if (!m)
            break;
        int done = count(j, r, ((const char *)ps_msg_data(m))[0], ready_fd, &ready);
        if (queued)
            ps_ack(c, m);
        ps_msg_destroy(&m);
        if (done)
            break;
    }
    ps_flush(c, 10000); /* the last acks */
    ps_close(&c);
    return 0;
}

static int ps_pub_run(const struct target *t, const struct job *j, int go_fd, struct pub_result *r)
{
    /* The durable queue's publisher slides its window (the library waits
     * only while window confirms are outstanding), as a JetStream,
     * RabbitMQ or Mosquitto publisher would; the others flush every
     * window messages, the round trip the NATS adapter measures too. */
    int sliding = j->kind == K_DURABLE;
    ps_opts *o = ps_opts_new();
    if (o && sliding)
        ps_opts_set_int(o, PS_OPT_CONFIRM_WINDOW, j->window);
    ps_client *c = o ? ps_connect(t->addr, o) : NULL;
    ps_opts_destroy(&o);
    char *buf = malloc(j->size + 1);
    if (!c || !buf)
        return -1;
    const char *ch = ps_channel(j);
    int confirm = j->kind == K_CONFIRM || j->kind == K_DURABLE || j->kind == K_SYNC;
    int flags = j->kind == K_SYNC ? PS_SYNC : confirm ? PS_CONFIRM : 0;
    int flush_every = confirm && !sliding ? j->window : 0;
    while (!readable(go_fd, 20)) {
        payload(buf, j->size, (char)(PROBE + r->index));
        ps_publish(c, ch, "b", buf, j->size, 0);
        ps_flush(c, 1000);
    }
    payload(buf, j->size, DATA);
    r->ok = 1;
    r->start_ns = now_ns();
    for (long i = 0; i < j->count; i++) {
        if (ps_publish(c, ch, "b", buf, j->size, flags) < 0)
            r->ok = 0;
        if (flush_every && (i + 1) % flush_every == 0 && ps_flush(c, 60000) < 0)
            r->ok = 0;
    }
    if (ps_flush(c, 60000) < 0)
        r->ok = 0;
    r->end_ns = now_ns();
    free(buf);
    ps_close(&c);
    return 0;
}

/*
 * The two latency figures share their clients.  Request/reply: the
 * responder answers on "bench.rpc" and the requester times ps_request.
 * Ping-pong, the idle latency: one message at a time through the "block"
 * channel and back, with nothing else in flight, so each leg is a
 * ps_publish to a broker at rest and a ps_recv that was waiting.
 */
static int ps_answer(const struct target *t, int ready_fd, int pong)
{
    ps_client *c = ps_connect(sub_addr(t), NULL);
    int ready = 0;
    if (!c || (pong ? ps_subscribe(c, "bench", "ping", 0)
                    : ps_subscribe(c, "bench.rpc", "#", PS_RESPONDER)) < 0)
        return -1;
    say_ready(ready_fd, &ready);
    for (;;) {
        ps_msg *m = ps_recv(c, -1);
        if (!m)
            break;
        if (pong)
            ps_publish(c, "bench", "pong", ps_msg_data(m), ps_msg_size(m), 0);
        else
            ps_reply(c, m, ps_msg_data(m), ps_msg_size(m), 0);
        ps_msg_destroy(&m);
    }
    return 0;
}

static int ps_round_trips(const struct target *t, const struct job *j, int64_t *lat, long n,
                          int ping)
{
    ps_client *c = ps_connect(t->addr, NULL);
    char *buf = malloc(j->size + 1);
    if (!c || !buf || (ping && ps_subscribe(c, "bench", "pong", 0) < 0))
        return -1;
    payload(buf, j->size, DATA);
    for (long i = 0; i < n; i++) {
        ps_msg *m = NULL;
        int64_t t0 = now_ns();
        int rc = ping ? ps_publish(c, "bench", "ping", buf, j->size, 0)
                      : ps_request(c, "bench.rpc", "r", buf, j->size, 5000, &m);
        if (rc < 0 || (ping && !(m = ps_recv(c, 5000))))
            return -1;
        lat[i] = now_ns() - t0;
        ps_msg_destroy(&m);
    }
    free(buf);
    ps_close(&c);
    return 0;
}

static int ps_rpc_serve(const struct target *t, const struct job *j, int ready_fd)
{
    (void)j;
    return ps_answer(t, ready_fd, 0);
}

static int ps_rpc_run(const struct target *t, const struct job *j, int64_t *lat, long n)
{
    return ps_round_trips(t, j, lat, n, 0);
}

static int ps_pong_serve(const struct target *t, const struct job *j, int ready_fd)
{
    (void)j;
    return ps_answer(t, ready_fd, 1);
}

static int ps_ping_run(const struct target *t, const struct job *j, int64_t *lat, long n)
{
    return ps_round_trips(t, j, lat, n, 1);
}

/* A raw libzmq proxy -------------------------------------------------------- */

/* The proxies' endpoints: pubsub in/out, queue in/out, requests in/out. */
static char zep[6][64];

static int zmq_sub_run(const struct target *t, const struct job *j, int ready_fd, struct sub_result *r)
{
    (void)t;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, j->kind == K_QUEUE ? ZMQ_PULL : ZMQ_SUB);
    int ready = 0;
    if (j->kind != K_QUEUE)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(s, zep[j->kind == K_QUEUE ? 3 : 1]) < 0)
        return -1;
    /* A blocking receive, as libzmq's guide writes a subscriber: the idle
     * end is ZMQ_RCVTIMEO (30 s until the first probe, then IDLE_MS), set
     * once when it changes rather than a zmq_poll before every message. */
    int timeout = 30000, idle = IDLE_MS;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (;;) {
        if (zmq_msg_recv(&m, s, 0) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        int was_ready = ready;
        if (count(j, r, zmq_msg_size(&m) ? *(char *)zmq_msg_data(&m) : 0, ready_fd, &ready))
            break;
        if (ready && !was_ready)
            zmq_setsockopt(s, ZMQ_RCVTIMEO, &idle, sizeof idle);
    }
    zmq_msg_close(&m);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

static int zmq_pub_run(const struct target *t, const struct job *j, int go_fd, struct pub_result *r)
{
    (void)t;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, j->kind == K_QUEUE ? ZMQ_PUSH : ZMQ_PUB);
    int one = 1;
    /* Loss-free: a full pipe blocks the sender instead of dropping. */
    if (j->kind != K_QUEUE)
        zmq_setsockopt(s, ZMQ_XPUB_NODROP, &one, sizeof one);
    char *buf = malloc(j->size + 1);
    if (!buf || zmq_connect(s, zep[j->kind == K_QUEUE ? 2 : 0]) < 0)
        return -1;
    while (!readable(go_fd, 20)) {
        payload(buf, j->size, (char)(PROBE + r->index));
        zmq_send(s, buf, j->size, ZMQ_DONTWAIT);
    }
    payload(buf, j->size, DATA);
    r->ok = 1;
    r->start_ns = now_ns();
    for (long i = 0; i < j->count; i++)
        while (zmq_send(s, buf, j->size, 0) < 0)
            if (errno != EAGAIN && errno != EINTR) {
                r->ok = 0;
                break;
            }
    r->end_ns = now_ns();
    int linger = 60000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s);
    zmq_ctx_term(ctx); /* returns once everything left */
    free(buf);
    return 0;
}

static int zmq_rpc_serve(const struct target *t, const struct job *j, int ready_fd)
{
    (void)t;
    (void)j;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_REP);
    int ready = 0;
    if (zmq_connect(s, zep[5]) < 0)
        return -1;
    say_ready(ready_fd, &ready);
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (zmq_msg_recv(&m, s, 0) >= 0)
        zmq_msg_send(&m, s, 0);
    return 0;
}

static int zmq_rpc_run(const struct target *t, const struct job *j, int64_t *lat, long n)
{
    (void)t;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_REQ);
    char *buf = malloc(j->size + 1), *in = malloc(j->size + 1);
    if (!buf || !in || zmq_connect(s, zep[4]) < 0)
        return -1;
    payload(buf, j->size, DATA);
    for (long i = 0; i < n; i++) {
        int64_t t0 = now_ns();
        if (zmq_send(s, buf, j->size, 0) < 0 || zmq_recv(s, in, j->size, 0) < 0)
            return -1;
        lat[i] = now_ns() - t0;
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    free(buf);
    free(in);
    return 0;
}

static void *proxy_thread(void *arg)
{
    void **pair = arg;
    zmq_proxy(pair[0], pair[1], NULL);
    return NULL;
}

/*
 * Runs the three devices (XSUB/XPUB, PULL/PUSH, ROUTER/DEALER) in a child
 * of their own, one thread each, on ports the kernel picks; fills zep and
 * returns the child's pid.
 */
static pid_t zmq_proxies_start(void)
{
    int port[6], fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        void *ctx = zmq_ctx_new();
        void *s[6];
        int types[6] = {ZMQ_XSUB, ZMQ_XPUB, ZMQ_PULL, ZMQ_PUSH, ZMQ_ROUTER, ZMQ_DEALER};
        int one = 1;
        for (int i = 0; i < 6; i++) {
            s[i] = zmq_socket(ctx, types[i]);
            if (types[i] == ZMQ_XPUB) /* loss-free: the proxy waits for slow subscribers */
                zmq_setsockopt(s[i], ZMQ_XPUB_NODROP, &one, sizeof one);
            char ep[64];
            size_t len = sizeof ep;
            if (zmq_bind(s[i], "tcp://127.0.0.1:*") < 0 ||
                zmq_getsockopt(s[i], ZMQ_LAST_ENDPOINT, ep, &len) < 0)
                _exit(1);
            port[i] = atoi(strrchr(ep, ':') + 1);
        }
        if (write(fds[1], port, sizeof port) != sizeof port)
            _exit(1);
        close(fds[1]);
        pthread_t th[2];
        void *pairs[2][2] = {{s[2], s[3]}, {s[4], s[5]}};
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, proxy_thread, pairs[i]);
        zmq_proxy(s[0], s[1], NULL);
        _exit(0);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], port, sizeof port);
    close(fds[0]);
    if (got != sizeof port)
        return -1;
    for (int i = 0; i < 6; i++)
        snprintf(zep[i], sizeof zep[i], "tcp://127.0.0.1:%d", port[i]);
    return pid;
}

/* NATS, through its C client ------------------------------------------------ */
#ifdef PBENCH_NATS
/* What a NATS subscription's callback shares with the waiting thread. */
struct nats_sub {
    const struct job *j;   /* the job */
    struct sub_result *r;  /* the counts (the delivery thread writes them) */
    int ready_fd;          /* where to say ready */
    int ready;             /* ... said */
    int done;              /* all arrived (atomic) */
};

static void nats_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
    (void)nc;
    (void)sub;
    struct nats_sub *q = arg;
    if (count(q->j, q->r, natsMsg_GetDataLength(m) ? natsMsg_GetData(m)[0] : 0, q->ready_fd, &q->ready))
        __atomic_store_n(&q->done, 1, __ATOMIC_RELEASE);
    natsMsg_Destroy(m);
}

/* An asynchronous subscription, which the client's documentation names the
 * faster kind: a delivery thread of its own calls back for each message. */
static int nats_sub_run(const struct target *t, const struct job *j, int ready_fd, struct sub_result *r)
{
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    struct nats_sub q = {.j = j, .r = r, .ready_fd = ready_fd};
    if (natsConnection_ConnectTo(&nc, t->addr) != NATS_OK ||
        natsConnection_Subscribe(&sub, nc, "bench.b", nats_on_msg, &q) != NATS_OK)
        return -1;
    natsSubscription_SetPendingLimits(sub, -1, -1); /* no slow-consumer drops */
    natsConnection_Flush(nc);
    /* The waiting thread only watches the count for the idle end. */
    long seen = -1;
    int64_t last = now_ns();
    while (!__atomic_load_n(&q.done, __ATOMIC_ACQUIRE)) {
        nats_Sleep(10);
        long got = __atomic_load_n(&r->received, __ATOMIC_RELAXED);
        if (got != seen) {
            seen = got;
            last = now_ns();
        } else if (now_ns() - last > (int64_t)(got || q.ready ? IDLE_MS : 30000) * 1000000) {
            break;
        }
    }
    natsSubscription_Unsubscribe(sub); /* no callback runs after this returns */
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return 0;
}

static int nats_pub_run(const struct target *t, const struct job *j, int go_fd, struct pub_result *r)
{
    natsConnection *nc = NULL;
    char *buf = malloc(j->size + 1);
    if (!buf || natsConnection_ConnectTo(&nc, t->addr) != NATS_OK)
        return -1;
    while (!readable(go_fd, 20)) {
        payload(buf, j->size, (char)(PROBE + r->index));
        natsConnection_Publish(nc, "bench.b", buf, (int)j->size);
        natsConnection_Flush(nc);
    }
    payload(buf, j->size, DATA);
    r->ok = 1;
    r->start_ns = now_ns();
    for (long i = 0; i < j->count; i++) {
        if (natsConnection_Publish(nc, "bench.b", buf, (int)j->size) != NATS_OK)
            r->ok = 0;
        /* A flush is NATS's round trip: the window of a confirmed stream. */
        if (j->kind == K_CONFIRM && (i + 1) % j->window == 0 &&
            natsConnection_FlushTimeout(nc, 60000) != NATS_OK)
            r->ok = 0;
    }
    if (natsConnection_FlushTimeout(nc, 60000) != NATS_OK)
        r->ok = 0;
    r->end_ns = now_ns();
    natsConnection_Destroy(nc);
    free(buf);
    return 0;
}

static int nats_rpc_serve(const struct target *t, const struct job *j, int ready_fd)
{
    (void)j;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsOptions *no = NULL;
    int ready = 0;
    /* A replier answers one request at a time: send each reply at once
     * rather than through the flusher thread, as the NATS client's own
     * documentation advises for exactly this case. */
    if (natsOptions_Create(&no) != NATS_OK || natsOptions_SetURL(no, t->addr) != NATS_OK ||
        natsOptions_SetSendAsap(no, true) != NATS_OK || natsConnection_Connect(&nc, no) != NATS_OK ||
        natsConnection_SubscribeSync(&sub, nc, "bench.rpc") != NATS_OK ||
        natsConnection_Flush(nc) != NATS_OK)
        return -1;
    natsOptions_Destroy(no); /* the connection keeps a copy */
    say_ready(ready_fd, &ready);
    for (;;) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 3600000) != NATS_OK)
            break;
        natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
        natsMsg_Destroy(m);
    }
    return 0;
}

static int nats_rpc_run(const struct target *t, const struct job *j, int64_t *lat, long n)
{
    natsConnection *nc = NULL;
    char *buf = malloc(j->size + 1);
    if (!buf || natsConnection_ConnectTo(&nc, t->addr) != NATS_OK)
        return -1;
    payload(buf, j->size, DATA);
    for (long i = 0; i < n; i++) {
        natsMsg *reply = NULL;
        int64_t t0 = now_ns();
        if (natsConnection_Request(&reply, nc, "bench.rpc", buf, (int)j->size, 5000) != NATS_OK)
            return -1;
        lat[i] = now_ns() - t0;
        natsMsg_Destroy(reply);
    }
    natsConnection_Destroy(nc);
    free(buf);
    return 0;
}
#endif

/* Redis pub/sub, through hiredis -------------------------------------------- */
#ifdef PBENCH_REDIS
static redisContext *redis_open(const char *addr)
{
    char host[256];
    snprintf(host, sizeof host, "%s", addr);
    char *colon = strrchr(host, ':');
    int port = 6379;
    if (colon) {
        *colon = '\0';
        port = atoi(colon + 1);
    }
    redisContext *c = redisConnect(host, port);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    return c;
}

static int redis_sub_run(const struct target *t, const struct job *j, int ready_fd, struct sub_result *r)
{
    redisContext *c = redis_open(t->addr);
    int ready = 0;
    if (!c)
        return -1;
    redisReply *rep = redisCommand(c, "SUBSCRIBE bench");
    if (!rep)
        return -1;
    freeReplyObject(rep);
    /* The idle end is the socket's timeout, set when it changes (30 s until
     * the first probe, then IDLE_MS), not before every reply: a
     * setsockopt per message would be pbench's cost, not Redis's. */
    struct timeval first = {30, 0}, idle = {IDLE_MS / 1000, 0};
    redisSetTimeout(c, first);
    for (;;) {
        void *v = NULL;
        if (redisGetReply(c, &v) != REDIS_OK || !v)
            break;
        rep = v;
        int done = 0, was_ready = ready;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 && rep->element[2]->len)
            done = count(j, r, rep->element[2]->str[0], ready_fd, &ready);
        freeReplyObject(rep);
        if (done)
            break;
        if (ready && !was_ready)
            redisSetTimeout(c, idle);
    }
    redisFree(c);
    return 0;
}

static int redis_pub_run(const struct target *t, const struct job *j, int go_fd, struct pub_result *r)
{
    redisContext *c = redis_open(t->addr);
    char *buf = malloc(j->size + 1);
    if (!c || !buf)
        return -1;
    while (!readable(go_fd, 20)) {
        payload(buf, j->size, (char)(PROBE + r->index));
        redisReply *rep = redisCommand(c, "PUBLISH bench %b", buf, j->size);
        if (rep)
            freeReplyObject(rep);
    }
    payload(buf, j->size, DATA);
    r->ok = 1;
    r->start_ns = now_ns();
    /* Pipelines of 1,000 commands, Redis's own advice for throughput. */
    for (long i = 0; i < j->count; i += 1000) {
        long n = j->count - i < 1000 ? j->count - i : 1000;
        for (long k = 0; k < n; k++)
            redisAppendCommand(c, "PUBLISH bench %b", buf, j->size);
        for (long k = 0; k < n; k++) {
            void *v = NULL;
            if (redisGetReply(c, &v) != REDIS_OK)
                r->ok = 0;
            if (v)
                freeReplyObject(v);
        }
    }
    r->end_ns = now_ns();
    redisFree(c);
    free(buf);
    return 0;
}
#endif

/* Mosquitto (MQTT), through libmosquitto ---------------------------------- */
#ifdef PBENCH_MOSQUITTO
/* What the callbacks of one client share with its loop. */
struct mq {
    const struct job *j;   /* the job */
    struct sub_result *r;  /* subscriber: the counts */
    int ready_fd;          /* subscriber: where to say ready */
    int ready;             /* ... said */
    int done;              /* subscriber: all arrived */
    long published;        /* publisher: acknowledged (QoS 1) or written (QoS 0) */
};

static void mq_on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    (void)m;
    struct mq *q = arg;
    if (msg->payloadlen && count(q->j, q->r, ((const char *)msg->payload)[0], q->ready_fd, &q->ready))
        q->done = 1;
}

static void mq_on_publish(struct mosquitto *m, void *arg, int mid)
{
    (void)m;
    (void)mid;
    __atomic_add_fetch(&((struct mq *)arg)->published, 1, __ATOMIC_RELAXED);
}

static struct mosquitto *mq_open(const struct target *t, struct mq *q)
{
    char host[256];
    snprintf(host, sizeof host, "%s", t->addr);
    char *colon = strrchr(host, ':');
    int port = 1883;
    if (colon) {
        *colon = '\0';
        port = atoi(colon + 1);
    }
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(NULL, true, q);
    if (!m)
        return NULL;
    mosquitto_max_inflight_messages_set(m, 1000);
    /* Small packets (a PUBACK, a lone publish) otherwise wait on Nagle's
     * algorithm; the documentation offers the option for the latency of
     * individual messages. */
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_message_callback_set(m, mq_on_message);
    mosquitto_publish_callback_set(m, mq_on_publish);
    if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(m);
        return NULL;
    }
    return m;
}

static int mq_sub_run(const struct target *t, const struct job *j, int ready_fd, struct sub_result *r)
{
    struct mq q = {.j = j, .r = r, .ready_fd = ready_fd};
    struct mosquitto *m = mq_open(t, &q);
    if (!m || mosquitto_subscribe(m, NULL, "bench", t->qos) != MOSQ_ERR_SUCCESS)
        return -1;
    int64_t last = now_ns();
    long seen = -1;
    /* mosquitto_loop is what mosquitto_loop_forever runs; calling it here
     * lets the idle end be checked between calls (max_packets is unused,
     * 1 as the header asks). */
    while (!q.done) {
        if (mosquitto_loop(m, 100, 1) != MOSQ_ERR_SUCCESS)
            break;
        if (r->received != seen) {
            seen = r->received;
            last = now_ns();
        } else if (now_ns() - last > (int64_t)(r->received || q.ready ? IDLE_MS : 30000) * 1000000) {
            break;
        }
    }
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    return 0;
}

static int mq_pub_run(const struct target *t, const struct job *j, int go_fd, struct pub_result *r)
{
    struct mq q = {.j = j};
    struct mosquitto *m = mq_open(t, &q);
    char *buf = malloc(j->size + 1);
    if (!m || !buf || mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS)
        return -1;
    while (!readable(go_fd, 20)) {
        payload(buf, j->size, (char)(PROBE + r->index));
        mosquitto_publish(m, NULL, "bench", (int)j->size, buf, 0, false);
    }
    long probes = __atomic_load_n(&q.published, __ATOMIC_RELAXED);
    payload(buf, j->size, DATA);
    r->ok = 1;
    r->start_ns = now_ns();
    /* libmosquitto queues what exceeds its in-flight window itself. */
    for (long i = 0; i < j->count; i++)
        if (mosquitto_publish(m, NULL, "bench", (int)j->size, buf, t->qos, false) != MOSQ_ERR_SUCCESS)
            r->ok = 0;
    int64_t deadline = now_ns() + 60 * (int64_t)1000000000;
    while (__atomic_load_n(&q.published, __ATOMIC_RELAXED) < probes + j->count && now_ns() < deadline)
        usleep(1000);
    r->ok &= __atomic_load_n(&q.published, __ATOMIC_RELAXED) >= probes + j->count;
    r->end_ns = now_ns();
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    free(buf);
    return 0;
}
#endif

/* Running a figure ------------------------------------------------------------ */

/* What a child reports through the results pipe. */
struct report {
    int is_sub;            /* which half is filled */
    int failed;            /* the client could not even start */
    struct sub_result s;   /* a subscriber's counts */
    struct pub_result p;   /* a publisher's times */
};

static void child_report(int fd, const struct report *rep)
{
    if (write(fd, rep, sizeof *rep) != (ssize_t)sizeof *rep)
        _exit(3);
    _exit(0);
}

/* Reads exactly one report, or fails after timeout_ms. */
static int read_report(int fd, struct report *rep, int timeout_ms)
{
    if (!readable(fd, timeout_ms))
        return -1;
    return read(fd, rep, sizeof *rep) == (ssize_t)sizeof *rep ? 0 : -1;
}

/*
 * One throughput run: j->subs subscriber processes, then j->pubs publisher
 * processes.  Returns messages per second (published messages, each
 * received by every subscriber; a queue's by one), or -1.  *lost gets the
 * messages that did not arrive.
 */
static double run_throughput(const struct target *t, const struct job *j, long *lost)
{
    int ready[2], go[2], res[2];
    pid_t pids[MAX_SUBS + MAX_SUBS];
    int np = 0, nsub = j->subs, failed = 0;
    double rate = -1;
    *lost = 0;
    if (pipe(ready) < 0 || pipe(go) < 0 || pipe(res) < 0)
        return -1;
    for (int i = 0; i < nsub + j->pubs; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            struct report rep = {.is_sub = i < nsub};
            close(ready[0]);
            close(go[1]);
            close(res[0]);
            if (rep.is_sub) {
                rep.failed = t->sub_run(t, j, ready[1], &rep.s) < 0;
            } else {
                rep.p.index = i - nsub;
                rep.failed = t->pub_run(t, j, go[0], &rep.p) < 0;
            }
            child_report(res[1], &rep);
        }
        if (pid > 0)
            pids[np++] = pid;
    }
    close(ready[1]);
    close(go[0]);
    close(res[1]);
    /* Every subscriber saw a probe: now the measured messages may go. */
    for (int i = 0; i < nsub; i++) {
        char c;
        if (!readable(ready[0], 30000) || read(ready[0], &c, 1) != 1) {
            tool_err("%s: a subscriber did not get ready within 30 s", t->name);
            failed = 1;
            break;
        }
    }
    if (!failed && write(go[1], "G", 1) != 1)
        failed = 1;
    int64_t start = INT64_MAX, last = 0;
    long received = 0;
    for (int i = 0; i < np && !failed; i++) {
        struct report rep;
        if (read_report(res[0], &rep, 300000) < 0 || rep.failed) {
            tool_err("%s: a client failed", t->name);
            failed = 1;
            break;
        }
        if (rep.is_sub) {
            received += rep.s.received;
            if (rep.s.last_ns > last)
                last = rep.s.last_ns;
        } else {
            if (!rep.p.ok)
                tool_err("%s: a publisher saw errors", t->name);
            if (rep.p.start_ns < start)
                start = rep.p.start_ns;
        }
    }
    for (int i = 0; i < np; i++) {
        if (failed)
            kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
    }
    close(ready[0]);
    close(go[1]);
    close(res[0]);
    if (failed)
        return -1;
    long per_sub = j->kind == K_QUEUE || j->kind == K_DURABLE ? 1 : nsub;
    long expected = j->count * j->pubs * per_sub;
    *lost = expected - received;
    if (last > start)
        rate = (double)j->count * j->pubs / ((double)(last - start) / 1e9);
    return rate;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* One latency run: a responder process and a requester process. */
static int run_latency(const struct target *t, const struct job *j, long n, double pct[4])
{
    int ready[2], res[2];
    if (pipe(ready) < 0 || pipe(res) < 0)
        return -1;
    pid_t server = fork();
    if (server == 0) {
        close(ready[0]);
        t->rpc_serve(t, j, ready[1]);
        _exit(0);
    }
    close(ready[1]);
    char c;
    int rc = -1;
    if (!readable(ready[0], 30000) || read(ready[0], &c, 1) != 1)
        goto out;
    pid_t client = fork();
    if (client == 0) {
        int64_t *lat = calloc((size_t)n, sizeof *lat);
        double out[4] = {-1, -1, -1, -1};
        if (lat && t->rpc_run(t, j, lat, n) == 0) {
            qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
            const double q[4] = {0.50, 0.90, 0.99, 0.999};
            for (int i = 0; i < 4; i++)
                out[i] = (double)lat[(long)(q[i] * (double)(n - 1))] / 1000.0;
        }
        if (write(res[1], out, sizeof out) != sizeof out)
            _exit(3);
        _exit(0);
    }
    if (readable(res[0], 600000) && read(res[0], pct, 4 * sizeof *pct) == 4 * sizeof *pct &&
        pct[0] >= 0)
        rc = 0;
    waitpid(client, NULL, 0);
out:
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    close(ready[0]);
    close(res[0]);
    close(res[1]);
    return rc;
}

/* A value from /proc/PID/status in KiB ("VmRSS", "VmHWM"), or -1. */
static long proc_kib(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, klen) && line[klen] == ':')
            v = atol(line + klen + 1);
    if (f)
        fclose(f);
    return v;
}

/* Bytes of broker memory per idle subscription, n of them, or -1. */
static double run_idle_memory(const char *ep, pid_t broker, long n)
{
    int ready[2];
    if (pipe(ready) < 0)
        return -1;
    long before = proc_kib(broker, "VmRSS");
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        ps_client *c = ps_connect(ep, NULL);
        int ok = c != NULL;
        char pat[64];
        for (long i = 0; ok && i < n; i++) {
            snprintf(pat, sizeof pat, "idle/%ld/+", i);
            ok = ps_subscribe(c, "bench.idle", pat, 0) == 0;
        }
        if (!ok)
            tool_err("idle subscriptions: %s", ps_strerror(errno));
        char r = ok ? 'R' : 'F';
        if (write(ready[1], &r, 1) != 1)
            _exit(3);
        pause(); /* stay subscribed until killed */
        _exit(0);
    }
    close(ready[1]);
    char r = 0;
    double per = -1;
    if (readable(ready[0], 600000) && read(ready[0], &r, 1) == 1 && r == 'R') {
        long after = proc_kib(broker, "VmRSS");
        if (before >= 0 && after >= 0)
            per = (double)(after - before) * 1024.0 / (double)n;
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(ready[0]);
    return per;
}

/* The broker's peak memory (KiB) while mib MiB go to a subscriber that never reads. */
static double run_slow_memory(const char *ep, pid_t broker, long mib)
{
    int ready[2];
    if (pipe(ready) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        ps_client *c = ps_connect(ep, NULL);
        char r = c && ps_subscribe(c, "bench.slow", "#", 0) == 0 ? 'R' : 'F';
        if (write(ready[1], &r, 1) != 1)
            _exit(3);
        pause(); /* never reads: its library stops, the broker must cope */
        _exit(0);
    }
    close(ready[1]);
    char r = 0;
    double peak = -1;
    if (readable(ready[0], 30000) && read(ready[0], &r, 1) == 1 && r == 'R') {
        ps_client *c = ps_connect(ep, NULL);
        size_t size = 65536;
        char *buf = calloc(1, size);
        for (long i = 0; c && buf && i < mib * 16; i++)
            ps_publish(c, "bench.slow", "s", buf, size, 0);
        if (c && ps_flush(c, 120000) == 0)
            peak = (double)proc_kib(broker, "VmHWM");
        free(buf);
        ps_close(&c);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(ready[0]);
    return peak;
}

/* The command line and the table -------------------------------------------- */

#define MAX_TARGETS 8
#define MAX_ROWS 24

/* One row of the table: a figure for every target. */
struct row {
    char title[96];                /* what was measured */
    int latency;                   /* lower is better */
    char cell[MAX_TARGETS][48];    /* formatted figure, "" = not measured */
    double value[MAX_TARGETS];     /* the figure, -1 when none */
};

static struct row rows[MAX_ROWS];
static int nrows;
static struct target targets[MAX_TARGETS];
static int ntargets;

static void usage(FILE *out)
{
    fprintf(out,
"Usage: pbench [OPTION]... [SCENARIO]...\n"
"Measure brokerd and its peers on the same scenarios, in one run, and print\n"
"a markdown table with brokerd's ratio to each.  Every client runs in a\n"
"process of its own; every run checks that every message arrived.\n"
"\n"
"Scenarios (default: all): pubsub drop fanout many dropfanout dropmany queue confirm\n"
"sync durable reqrep pingpong memory (pubsub, fanout and many on a \"block\" channel\n"
"'bench'; drop, dropfanout and dropmany on 'bench.drop')\n"
"\n"
"Targets (brokerd always; the others when given):\n"
"  -b, --broker ENDPOINT    brokerd (default: $PUBSUB_BROKER, else " PS_DEFAULT_ENDPOINT ");\n"
"                           queue needs a queue channel 'bench.queue', durable a\n"
"                           durable queue 'bench.durable' (see `make bench`)\n"
"      --broker-pid PID     brokerd's process, for the memory figures\n"
"      --sub-broker ENDPOINT  brokerd's subscribers, consumers and responders\n"
"                           attach there instead (another node of a cluster: the\n"
"                           figures are then across its link)\n"
"      --zmq                a raw libzmq XSUB/XPUB proxy, PULL/PUSH streamer and\n"
"                           ROUTER/DEALER queue device that pbench starts itself\n"
"      --nats URL           a NATS server (nats://127.0.0.1:4222)\n"
"      --redis HOST:PORT    a Redis server\n"
"      --mosquitto HOST:PORT  a Mosquitto broker (QoS 0 and QoS 1 columns)\n"
"\n"
"  -s, --size BYTES         payload size (default 64)\n"
"  -n, --count N            messages per run (default 200000)\n"
"  -r, --runs N             rounds per figure, interleaved across the targets\n"
"                           and their order turned by one each round:\n"
"                           the median, and the lowest and highest in\n"
"                           parentheses (default 3); a round below 0.75x its\n"
"                           median is named after the table\n"
"      --subs N             fan-out subscribers (default 10)\n"
"      --pubs N             publishers of the many-to-one figure (default 4)\n"
"      --window N           confirmations outstanding (default 1000): a flush\n"
"                           every N (confirm, sync)\n"
"      --durable-window N   the durable queue's sliding window of confirms (default\n"
"                           4000, as many as nats.go lets a JetStream publisher\n"
"                           have unanswered by default)\n"
"      --requests N         request/reply round trips, and ping-pongs (default 20000)\n"
"      --idle N             idle subscriptions for the memory figure (default 100000)\n"
"      --slow-mib N         MiB sent to a subscriber that never reads (default 256)\n"
"      --mosquitto-count N  messages per run for the Mosquitto columns, when fewer\n"
"                           than --count (Mosquitto is far slower; default: --count)\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"A figure with lost messages shows \"lost N\" instead of a rate.  Peers pbench\n"
"was built without, or not given, are left out with a note.\n");
}

static void fmt_rate(char *buf, size_t size, double v)
{
    if (v >= 1e6)
        snprintf(buf, size, "%.2f M/s", v / 1e6);
    else
        snprintf(buf, size, "%.0f k/s", v / 1e3);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n), which stays in the order given. */
static double median(const double *v, int n)
{
    double w[16];
    memcpy(w, v, (size_t)n * sizeof *w);
    qsort(w, (size_t)n, sizeof *w, cmp_double);
    return n % 2 ? w[n / 2] : (w[n / 2 - 1] + w[n / 2]) / 2;
}

/* The lowest and highest of v[0..n). */
static void min_max(const double *v, int n, double *lo, double *hi)
{
    *lo = *hi = v[0];
    for (int k = 1; k < n; k++) {
        *lo = v[k] < *lo ? v[k] : *lo;
        *hi = v[k] > *hi ? v[k] : *hi;
    }
}

/* A round under this share of its figure's median is reported. */
#define LOW_ROUND 0.75
#define MAX_NOTES 64

/* Rounds that fell below LOW_ROUND × their median, printed after the table. */
static char notes[MAX_NOTES][160];
static int nnotes;

/*
 * Formats rates v[0..n) (one per round) as "median (min–max)" in the
 * median's unit into cell, and notes every round below LOW_ROUND × the
 * median.  Returns the median.
 */
static double rate_cell(char *cell, size_t size, const double *v, int n, const char *title,
                        const char *target)
{
    double med = median(v, n), lo, hi;
    min_max(v, n, &lo, &hi);
    fmt_rate(cell, size, med);
    if (n > 1) {
        double unit = med >= 1e6 ? 1e6 : 1e3;
        size_t len = strlen(cell);
        snprintf(cell + len, size - len, med >= 1e6 ? " (%.2f–%.2f)" : " (%.0f–%.0f)", lo / unit,
                 hi / unit);
    }
    for (int k = 0; k < n; k++)
        if (v[k] < LOW_ROUND * med && nnotes < MAX_NOTES) {
            char rate[16];
            fmt_rate(rate, sizeof rate, v[k]);
            snprintf(notes[nnotes++], sizeof notes[0], "%s, %s: round %d of %d at %s, %.2f× the median",
                     title, target, k + 1, n, rate, v[k] / med);
        }
    return med;
}

static struct row *new_row(const char *title, int latency)
{
    struct row *r = &rows[nrows++];
    snprintf(r->title, sizeof r->title, "%s", title);
    r->latency = latency;
    for (int i = 0; i < MAX_TARGETS; i++)
        r->value[i] = -1;
    return r;
}

/*
 * The target that runs i-th in round k.  The rounds are interleaved,
 * round k of every target before round k + 1 of any, so that a machine
 * whose speed drifts during a figure (the host, the page cache) weighs
 * on every column alike; and the order turns by one each round, so that
 * no target always follows the same other one.  A target leaves work
 * behind after its round (NATS's Go runtime, a server's freed memory):
 * in a fixed order brokerd always came right after NATS, and its
 * request/reply p50 went from 0.80-1.00x the device's in six runs of
 * blocked rounds to 1.06x and 1.14x in two runs of that order.
 */
static int round_target(int k, int i, int n)
{
    return (i + k) % n;
}

/*
 * Measures one throughput figure on every target that offers kind, the
 * rounds in the order above.  A row of msg/s; with lossy (a "drop"
 * channel) the rate counts what was delivered and the cell says how much
 * was dropped, else a loss fails it.
 */
static void throughput_row(const char *title, const struct job *j, int runs, int only_brokerd,
                           int lossy)
{
    struct row *r = new_row(title, 0);
    double v[MAX_TARGETS][16], share[MAX_TARGETS][16];
    long worst[MAX_TARGETS] = {0};
    int ok[MAX_TARGETS] = {0};
    struct job tj[MAX_TARGETS]; /* each target's share of the messages */
    for (int t = 0; t < ntargets; t++) {
        ok[t] = (targets[t].kinds & (1 << j->kind)) && !(only_brokerd && t > 0);
        tj[t] = *j;
        if (targets[t].scale > 0 && targets[t].scale < 1)
            tj[t].count = (long)((double)j->count * targets[t].scale) > 100
                              ? (long)((double)j->count * targets[t].scale) : 100;
    }
    int offered[MAX_TARGETS];
    memcpy(offered, ok, sizeof offered);
    for (int k = 0; k < runs; k++)
        for (int i = 0; i < ntargets; i++) {
            int t = round_target(k, i, ntargets);
            if (!ok[t])
                continue;
            long lost = 0, expected = tj[t].count * tj[t].pubs * tj[t].subs;
            v[t][k] = run_throughput(&targets[t], &tj[t], &lost);
            if (v[t][k] < 0)
                ok[t] = 0; /* this target's later rounds are skipped, not the others' */
            if (lossy) {
                share[t][k] = 100.0 * (double)lost / (double)expected;
                v[t][k] *= (double)(expected - lost) / (double)expected;
            } else if (lost > worst[t]) {
                worst[t] = lost;
            }
        }
    for (int t = 0; t < ntargets; t++) {
        if (!offered[t])
            continue;
        if (!ok[t]) {
            snprintf(r->cell[t], sizeof r->cell[t], "failed");
        } else if (worst[t]) {
            snprintf(r->cell[t], sizeof r->cell[t], "lost %ld", worst[t]);
        } else {
            r->value[t] = rate_cell(r->cell[t], sizeof r->cell[t], v[t], runs, title, targets[t].name);
            if (lossy) {
                size_t len = strlen(r->cell[t]);
                snprintf(r->cell[t] + len, sizeof r->cell[t] - len, ", %.1f%% dropped",
                         median(share[t], runs));
            }
        }
        fprintf(stderr, "pbench: %-40s %-16s %s\n", title, targets[t].name, r->cell[t]);
    }
}

/*
 * The fan-out (one publisher to subs subscribers) or the many-to-one (pubs
 * publishers to one) of base's messages, on the "block" channel (K_PUBSUB:
 * every target, every message must arrive) or the "drop" one (K_DROP:
 * brokerd alone, what was delivered and the share dropped).  A fan-out's
 * publisher sends base->count / subs, at least 1,000; each of many
 * publishers base->count / pubs.
 */
static void spread_row(const struct job *base, enum kind kind, long pubs, long subs, int runs)
{
    struct job s = *base;
    char title[160];
    const char *drop = kind == K_DROP ? ", slow_subscriber = drop" : "";
    s.kind = kind;
    s.pubs = (int)pubs;
    s.subs = (int)subs;
    if (subs > 1) {
        s.count = base->count / subs > 1000 ? base->count / subs : 1000;
        snprintf(title, sizeof title, "fan-out 1→%ld%s, msg/s %s", subs, drop,
                 kind == K_DROP ? "delivered to each" : "published");
    } else {
        s.count = base->count / pubs;
        snprintf(title, sizeof title, "%ld→1%s, msg/s%s", pubs, drop,
                 kind == K_DROP ? " delivered" : "");
    }
    throughput_row(title, &s, runs, kind == K_DROP, kind == K_DROP);
}

/* The latency rows of what (e.g. "request/reply"), for the first ntarg
 * targets, with the serving and asking sides of serve and run when given
 * (else each target's own rpc_serve and rpc_run). */
static void latency_rows(const struct job *j, long n, int runs, const char *what, int ntarg,
                         const struct target *with)
{
    static const char *const names[4] = {"p50", "p90", "p99", "p99.9"};
    struct row *r[4];
    for (int i = 0; i < 4; i++) {
        char title[96];
        snprintf(title, sizeof title, "%s %s, µs", what, names[i]);
        r[i] = new_row(title, 1);
    }
    struct target tg[MAX_TARGETS];
    double v[MAX_TARGETS][4][16];
    int ok[MAX_TARGETS] = {0};
    for (int t = 0; t < ntarg; t++) {
        tg[t] = targets[t];
        if (with) {
            tg[t].rpc_serve = with->rpc_serve;
            tg[t].rpc_run = with->rpc_run;
        }
        ok[t] = tg[t].rpc_run != NULL;
    }
    int offered[MAX_TARGETS];
    memcpy(offered, ok, sizeof offered);
    /* Rounds in round_target's order, as throughput_row's. */
    for (int k = 0; k < runs; k++)
        for (int at = 0; at < ntarg; at++) {
            double pct[4];
            int t = round_target(k, at, ntarg);
            if (!ok[t])
                continue;
            if (run_latency(&tg[t], j, n, pct) < 0)
                ok[t] = 0;
            for (int i = 0; i < 4; i++)
                v[t][i][k] = pct[i];
        }
    for (int t = 0; t < ntarg; t++) {
        if (!offered[t])
            continue;
        for (int i = 0; i < 4; i++) {
            if (!ok[t]) {
                snprintf(r[i]->cell[t], sizeof r[i]->cell[t], "failed");
                continue;
            }
            r[i]->value[t] = median(v[t][i], runs);
            double lo, hi;
            min_max(v[t][i], runs, &lo, &hi);
            if (runs > 1)
                snprintf(r[i]->cell[t], sizeof r[i]->cell[t], "%.0f (%.0f–%.0f)", r[i]->value[t], lo, hi);
            else
                snprintf(r[i]->cell[t], sizeof r[i]->cell[t], "%.0f", r[i]->value[t]);
        }
        fprintf(stderr, "pbench: %-40s %-16s p50 %s p99 %s µs\n", what, targets[t].name,
                r[0]->cell[t], r[2]->cell[t]);
    }
}

static void print_table(void)
{
    printf("| figure |");
    for (int t = 0; t < ntargets; t++)
        printf(" %s |", targets[t].name);
    for (int t = 1; t < ntargets; t++)
        printf(" brokerd ÷ %s |", targets[t].name);
    printf("\n|---|");
    for (int t = 0; t < 2 * ntargets - 1; t++)
        printf("---:|");
    printf("\n");
    for (int i = 0; i < nrows; i++) {
        printf("| %s |", rows[i].title);
        for (int t = 0; t < ntargets; t++)
            printf(" %s |", rows[i].cell[t][0] ? rows[i].cell[t] : "—");
        for (int t = 1; t < ntargets; t++) {
            if (rows[i].value[0] > 0 && rows[i].value[t] > 0)
                printf(" %.2f× |", rows[i].value[0] / rows[i].value[t]);
            else
                printf(" — |");
        }
        printf("\n");
    }
    printf("\n");
    if (!nnotes)
        printf("No round fell below %.2f× its figure's median.\n", LOW_ROUND);
    for (int i = 0; i < nnotes; i++)
        printf("Below %.2f× the median: %s.\n", LOW_ROUND, notes[i]);
}

enum {
    O_PID = OPT_TOOL_BASE, O_ZMQ, O_NATS, O_REDIS, O_MOSQ, O_SUBS, O_PUBS, O_WINDOW,
    O_REQUESTS, O_IDLE, O_SLOW, O_MOSQ_COUNT, O_SUB_BROKER, O_DURABLE_WINDOW
};

static int want(char **names, int n, const char *s)
{
    if (n == 0)
        return 1;
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        TOOL_COMMON_LONGOPTS,
        {"broker-pid", required_argument, NULL, O_PID},
        {"zmq", no_argument, NULL, O_ZMQ},
        {"nats", required_argument, NULL, O_NATS},
        {"redis", required_argument, NULL, O_REDIS},
        {"mosquitto", required_argument, NULL, O_MOSQ},
        {"size", required_argument, NULL, 's'},
        {"count", required_argument, NULL, 'n'},
        {"runs", required_argument, NULL, 'r'},
        {"subs", required_argument, NULL, O_SUBS},
        {"pubs", required_argument, NULL, O_PUBS},
        {"window", required_argument, NULL, O_WINDOW},
        {"durable-window", required_argument, NULL, O_DURABLE_WINDOW},
        {"requests", required_argument, NULL, O_REQUESTS},
        {"idle", required_argument, NULL, O_IDLE},
        {"slow-mib", required_argument, NULL, O_SLOW},
        {"mosquitto-count", required_argument, NULL, O_MOSQ_COUNT},
        {"sub-broker", required_argument, NULL, O_SUB_BROKER},
        {NULL, 0, NULL, 0}};
    struct tool_opts o;
    long size = 64, count = 200000, runs = 3, subs = 10, pubs = 4, window = 1000;
    /* A durable publish is confirmed once a sync of the disk covers it, so
     * its window bounds the rate at window / (sync time + round trip):
     * 1,000 made some 500-650 k/s here, and the disk idle between syncs.
     * JetStream's asynchronous publishers in nats.go may have 4,000
     * unanswered by default (defaultAsyncPubAckInflight); pbench slides
     * as many unless told. */
    long durable_window = 4000;
    long requests = 20000, idle = 100000, slow_mib = 256, pid = 0, mosq_count = 0;
    int use_zmq = 0;
    const char *nats = NULL, *redis = NULL, *mosq = NULL, *sub_broker = NULL;
    int c;
    tool_init(&o, "pbench", 5000);
    while ((c = getopt_long(argc, argv, TOOL_COMMON_SHORTOPTS "s:n:r:", longopts, NULL)) != -1) {
        if (tool_common_option(&o, c, optarg, usage))
            continue;
        switch (c) {
        case 's': if (tool_parse_long(optarg, 1, 1 << 20, "size", &size) < 0) return EXIT_USAGE; break;
        case 'n': if (tool_parse_long(optarg, 1, 100000000, "count", &count) < 0) return EXIT_USAGE; break;
        case 'r': if (tool_parse_long(optarg, 1, 15, "runs", &runs) < 0) return EXIT_USAGE; break;
        case O_SUBS: if (tool_parse_long(optarg, 1, MAX_SUBS, "subscribers", &subs) < 0) return EXIT_USAGE; break;
        case O_PUBS: if (tool_parse_long(optarg, 1, MAX_SUBS, "publishers", &pubs) < 0) return EXIT_USAGE; break;
        case O_WINDOW: if (tool_parse_long(optarg, 1, 1000000, "window", &window) < 0) return EXIT_USAGE; break;
        case O_DURABLE_WINDOW: if (tool_parse_long(optarg, 1, 1000000, "durable window", &durable_window) < 0) return EXIT_USAGE; break;
        case O_REQUESTS: if (tool_parse_long(optarg, 1, 10000000, "requests", &requests) < 0) return EXIT_USAGE; break;
        case O_IDLE: if (tool_parse_long(optarg, 1, 10000000, "idle", &idle) < 0) return EXIT_USAGE; break;
        case O_SLOW: if (tool_parse_long(optarg, 1, 100000, "slow-mib", &slow_mib) < 0) return EXIT_USAGE; break;
        case O_MOSQ_COUNT: if (tool_parse_long(optarg, 1, 100000000, "mosquitto count", &mosq_count) < 0) return EXIT_USAGE; break;
        case O_PID: if (tool_parse_long(optarg, 1, 1 << 30, "pid", &pid) < 0) return EXIT_USAGE; break;
        case O_ZMQ: use_zmq = 1; break;
        case O_NATS: nats = optarg; break;
        case O_REDIS: redis = optarg; break;
        case O_MOSQ: mosq = optarg; break;
        case O_SUB_BROKER: sub_broker = optarg; break;
        default: return tool_usage_error("unknown option");
        }
    }
    static const char *const known[] = {"pubsub", "drop", "fanout", "many", "dropfanout", "dropmany",
                                        "queue", "confirm", "sync", "durable", "reqrep", "pingpong",
                                        "memory", NULL};
    for (int i = optind; i < argc; i++) {
        int k = 0;
        while (known[k] && strcmp(known[k], argv[i]))
            k++;
        if (!known[k])
            return tool_usage_error("unknown scenario '%s'", argv[i]);
    }
    char **scen = argv + optind;
    int nscen = argc - optind;
    signal(SIGPIPE, SIG_IGN);

    /* brokerd first: the ratios are brokerd's to each other target. */
    const char *ep = o.broker ? o.broker : getenv("PUBSUB_BROKER");
    if (!ep || !*ep)
        ep = PS_DEFAULT_ENDPOINT;
    int all = (1 << K_PUBSUB) | (1 << K_QUEUE) | (1 << K_CONFIRM) | (1 << K_DURABLE) | (1 << K_SYNC) |
              (1 << K_DROP);
    targets[ntargets++] = (struct target){"brokerd", ep, 0, ps_sub_run, ps_pub_run,
                                          ps_rpc_serve, ps_rpc_run, all, 0, sub_broker};
    pid_t proxy = -1;
    if (use_zmq) {
        proxy = zmq_proxies_start();
        if (proxy < 0) {
            tool_err("cannot start the libzmq proxies");
            return EXIT_USAGE;
        }
        targets[ntargets++] = (struct target){"zmq proxy", "", 0, zmq_sub_run, zmq_pub_run,
                                              zmq_rpc_serve, zmq_rpc_run,
                                              (1 << K_PUBSUB) | (1 << K_QUEUE), 0, NULL};
    }
#ifdef PBENCH_NATS
    if (nats)
        targets[ntargets++] = (struct target){"NATS", nats, 0, nats_sub_run, nats_pub_run,
                                              nats_rpc_serve, nats_rpc_run,
                                              (1 << K_PUBSUB) | (1 << K_CONFIRM), 0, NULL};
#else
    if (nats)
        tool_err("built without the NATS client (libnats-dev): NATS left out");
#endif
#ifdef PBENCH_REDIS
    if (redis)
        targets[ntargets++] = (struct target){"Redis", redis, 0, redis_sub_run, redis_pub_run,
                                              NULL, NULL, 1 << K_PUBSUB, 0, NULL};
#else
    if (redis)
        tool_err("built without hiredis (libhiredis-dev): Redis left out");
#endif
#ifdef PBENCH_MOSQUITTO
    if (mosq) {
        double share = mosq_count ? (double)mosq_count / (double)count : 0;
        targets[ntargets++] = (struct target){"Mosquitto QoS 0", mosq, 0, mq_sub_run, mq_pub_run,
                                              NULL, NULL, 1 << K_PUBSUB, share, NULL};
        targets[ntargets++] = (struct target){"Mosquitto QoS 1", mosq, 1, mq_sub_run, mq_pub_run,
                                              NULL, NULL, (1 << K_PUBSUB) | (1 << K_CONFIRM), share, NULL};
    }
#else
    if (mosq)
        tool_err("built without libmosquitto (libmosquitto-dev): Mosquitto left out");
#endif

    ps_client *probe = ps_connect(ep, NULL);
    if (!probe) {
        tool_err("cannot reach brokerd at %s", ep);
        return EXIT_UNREACH;
    }
    ps_close(&probe);

    char title[96];
    struct job j = {.size = (size_t)size, .count = count, .pubs = 1, .subs = 1,
                    .window = (int)window};
    /* Memory first, while the broker has not yet grown and freed anything. */
    if (want(scen, nscen, "memory")) {
        if (!pid) {
            tool_err("memory figures need --broker-pid: left out");
        } else {
            struct row *r = new_row("", 1);
            snprintf(r->title, sizeof r->title, "broker memory per idle subscription (%ld), bytes", idle);
            r->value[0] = run_idle_memory(ep, (pid_t)pid, idle);
            snprintf(r->cell[0], sizeof r->cell[0], r->value[0] >= 0 ? "%.0f" : "failed", r->value[0]);
            r = new_row("", 1);
            snprintf(r->title, sizeof r->title, "broker peak RSS, %ld MiB to a non-reading subscriber, KiB",
                     slow_mib);
            r->value[0] = run_slow_memory(ep, (pid_t)pid, slow_mib);
            snprintf(r->cell[0], sizeof r->cell[0], r->value[0] >= 0 ? "%.0f" : "failed", r->value[0]);
        }
    }
    if (want(scen, nscen, "pubsub")) {
        j.kind = K_PUBSUB;
        snprintf(title, sizeof title, "pubsub 1→1, %ld B, msg/s", size);
        throughput_row(title, &j, (int)runs, 0, 0);
    }
    if (want(scen, nscen, "drop")) {
        struct job d = j;
        d.kind = K_DROP;
        snprintf(title, sizeof title, "pubsub 1→1, slow_subscriber = drop, %ld B, msg/s delivered", size);
        throughput_row(title, &d, (int)runs, 1, 1);
    }
    if (want(scen, nscen, "fanout"))
        spread_row(&j, K_PUBSUB, 1, subs, (int)runs);
    if (want(scen, nscen, "many"))
        spread_row(&j, K_PUBSUB, pubs, 1, (int)runs);
    if (want(scen, nscen, "queue")) {
        struct job q = j;
        q.kind = K_QUEUE;
        throughput_row("queue 1→1 with acks, msg/s", &q, (int)runs, 0, 0);
    }
    if (want(scen, nscen, "confirm")) {
        struct job q = j;
        q.kind = K_CONFIRM;
        snprintf(title, sizeof title, "confirmed publish, window %ld, msg/s", window);
        throughput_row(title, &q, (int)runs, 0, 0);
    }
    if (want(scen, nscen, "sync")) {
        struct job q = j;
        q.kind = K_SYNC;
        snprintf(title, sizeof title, "sync publish (receivers confirm), window %ld, msg/s", window);
        throughput_row(title, &q, (int)runs, 1, 0);
    }
    if (want(scen, nscen, "durable")) {
        struct job q = j;
        q.kind = K_DURABLE;
        q.window = (int)durable_window;
        snprintf(title, sizeof title, "durable queue, confirms, sliding window %ld, msg/s",
                 durable_window);
        throughput_row(title, &q, (int)runs, 1, 0);
    }
    if (want(scen, nscen, "reqrep"))
        latency_rows(&j, requests, (int)runs, "request/reply", ntargets, NULL);
    if (want(scen, nscen, "pingpong")) {
        /* brokerd alone: the idle latency of its own pubsub path. */
        struct target pp = {.rpc_serve = ps_pong_serve, .rpc_run = ps_ping_run};
        latency_rows(&j, requests, (int)runs, "pubsub ping-pong, idle broker,", 1, &pp);
    }
    /* The fan-out and many-to-one again on the "drop" channel: what its
     * receivers were delivered, and what they were not.  They come last:
     * four publishers that outrun their subscriber have most of their
     * messages dropped, and the round ends only when the subscriber has
     * waited IDLE_MS for more, so that whatever they leave behind (the
     * broker's heap at its peak, the clients' exits) weighs on no other
     * figure. */
    if (want(scen, nscen, "dropfanout"))
        spread_row(&j, K_DROP, 1, subs, (int)runs);
    if (want(scen, nscen, "dropmany"))
        spread_row(&j, K_DROP, pubs, 1, (int)runs);
    if (proxy > 0) {
        kill(proxy, SIGKILL);
        waitpid(proxy, NULL, 0);
    }
    print_table();
    for (int i = 0; i < nrows; i++)
        for (int t = 0; t < ntargets; t++)
            if (!strncmp(rows[i].cell[t], "lost", 4) || !strcmp(rows[i].cell[t], "failed"))
                return EXIT_TIMEOUT; /* a benchmark that lost messages says so */
    return EXIT_DONE;
}
