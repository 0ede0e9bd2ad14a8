/*
 * fuzz_link.c - libFuzzer target for the cluster's link protocol
 * (brokerd/cluster.c).  Every input is a series of frames from a listed
 * but hostile peer: each frame's records go to cl_input as link.c hands
 * them over, a protocol error drops the link as link.c does, and the
 * clock moves between frames so heartbeats, HELLOs and timeouts run too.
 * Requests and sync messages are forwarded to the peer every frame, and
 * the peer's own are taken as waits (every other one answered at once,
 * the rest left to their deadline or the link's end).
 * Nothing may read out of bounds, leak, or grow past the bounds
 * (max_interest, link_buffer, max_waits, CL_QUEUES_MAX attachments,
 * CL_QUEUE_WINDOW).  The node consumes the peer's queue "jobs" and
 * answers each delivery, so LINK_QUEUE records of every op reach it too.
 */
#include <stdlib.h>
#include <string.h>

#include "brokerd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the callbacks count, and the node (on_wait answers through it). */
struct fctx {
    size_t delivered; /* messages handed over */
    size_t waits;     /* waits the peer asked */
    cl_node *n;       /* the node under test */
};

static void on_deliver(void *ctx, const ps__cmd *msg, uint64_t missed)
{
    (void)msg;
    (void)missed;
    ((struct fctx *)ctx)->delivered++;
}

/* Every other wait the peer asks is answered at once, as a broker with
 * nobody to take it would. */
static void on_wait(void *ctx, cl_wait *w, const ps__cmd *rec, uint64_t missed)
{
    (void)rec;
    (void)missed;
    struct fctx *f = ctx;
    w->owner = f;
    if (++f->waits % 2)
        cl_answer(f->n, w, 0, 0, 0, 1);
}

static void on_reply(void *ctx, void *owner, const ps__cmd *rec)
{
    (void)ctx;
    (void)owner;
    (void)rec;
}

static void on_news(void *ctx, void *owner, int64_t count, int64_t expected, int64_t gone,
                    int final)
{
    (void)ctx;
    (void)owner;
    (void)count;
    (void)expected;
    (void)gone;
    (void)final;
}

static void on_abandon(void *ctx, void *owner)
{
    (void)ctx;
    (void)owner;
}

static const cl_wait_fns fns = {on_wait, on_reply, on_news, on_abandon};

static cl_node *node; /* the node of this input, for on_queue's answers */

/* The queue callback: answers each delivery (ACK, else RETURN when its
 * tag is odd) as the broker's consumers would. */
static int on_queue(void *ctx, cl_peer *p, const ps__cmd *rec, char *why, size_t cap)
{
    (void)ctx;
    (void)why;
    (void)cap;
    if (rec->status == PS_WIRE_LQ_ATTACH && rec->window > CL_QUEUE_WINDOW)
        abort(); /* past its bound */
    if (rec->status == PS_WIRE_LQ_DELIVER)
        cl_queue_answer(node, p, "jobs", rec->seq, rec->tag,
                        rec->tag & 1 ? PS_WIRE_LQ_RETURN : PS_WIRE_LQ_ACK);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_init(0);
        quiet = 1;
    }
    config_peer peer = {.node = "b", .endpoint = "tcp://127.0.0.1:2"};
    config_cluster cfg = {.name = "site", .node = "a", .listen = "tcp://127.0.0.1:1",
                          .peers = &peer, .n_peers = 1, .heartbeat_ms = 100,
                          .heartbeat_timeout_ms = 300, .link_buffer = 1 << 16,
                          .max_interest = 64};
    struct fctx ctx = {0, 0, NULL};
    cl_node *n = cl_new(&cfg, "jobs queue retain=1 durable=0 slow=drop home=a\n", 7, on_deliver,
                        &ctx);
    if (!n)
        return 0;
    ctx.n = n;
    n->waits = &fns;
    n->max_waits = 8;
    cl_interest(n, "logs", "amd64/#", 7, 1);
    cl_peer *p = &n->peers[0];
    n->queue = on_queue;
    node = n;
    cl_queue_want(n, p, "jobs", 5);
    int64_t now = 1000;
    /* Frames: u16 length, then that many bytes, until the input ends. */
    while (size >= 2) {
        size_t len = (size_t)data[0] << 8 | data[1];
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        ps__reader r;
        ps__cmd rec;
        char why[256];
        int rc;
        ps__reader_init(&r, data, len);
        while ((rc = ps__wire_next(&r, &rec)) == 1)
            if (cl_input(n, p, &rec, now, now * 1000, why, sizeof why) < 0) {
                cl_peer_drop(n, p, now);
                break;
            }
        cl_frame_done(n, p, now * 1000);
        ps__slice t = {"amd64/sshd", 10}, d = {"x", 1};
        cl_forward(n, "logs", &t, &d, 0);
        uint32_t legs, lost;
        cl_forward_wait(n, &ctx, (int)(len & 1), "logs", &t, &d, 200, now, &legs, &lost);
        cl_queue_deliver(n, p, "jobs", now, 0, &t, &d, now);
        now += 150;
        cl_tick(n, now, now * 1000);
        if (p->remote.n_pats > (size_t)cfg.max_interest || p->n_waits_in > 8 ||
            p->n_waits_out > 8)
            abort(); /* past its bound */
        p->out.len = 0; /* taken by the socket */
        data += len;
        size -= len;
    }
    cl_free(&n);
    return 0;
}
