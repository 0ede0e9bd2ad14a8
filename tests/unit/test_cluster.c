/*
 * test_cluster.c - the cluster's link protocol (brokerd/cluster.c) without
 * sockets: two nodes whose out buffers are carried to each other by hand.
 * The links come up after both HELLOs, interest is told and acknowledged,
 * a message crosses only to a peer whose interest matches it, messages a
 * link could not carry come out as a gap on the other side, interest is
 * re-sent in full after a link was down, and a peer of another cluster,
 * other declarations, or one that breaks the bounds is refused.
 * Requests and sync messages cross as waits (test_waits): a request goes
 * only where interest matches, its reply and counts come back, a sync
 * message's receivers stay counted when its link goes down, and waits
 * are bounded by max_waits and by their deadline.  queues() drives a
 * queue consumed through another node than its home: attach, deliver,
 * ack and return, the credit's bound, what the link going down
 * returns (an old attachment's deliveries and answers are stale), and
 * an attachment taken before this side judged the link up, which is
 * detached and attached again once it is up.
 */
#include <stdlib.h>
#include <string.h>

#include "../../brokerd/brokerd.h"
#include "test.h"

/* What a node's deliver function saw. */
struct seen {
    int messages;          /* messages delivered */
    uint64_t missed;       /* missed messages reported, in all */
    char last_topic[64];   /* topic of the last one */
};

static void on_deliver(void *ctx, const ps__cmd *msg, uint64_t missed)
{
    struct seen *s = ctx;
    s->messages++;
    s->missed += missed;
    snprintf(s->last_topic, sizeof s->last_topic, "%.*s", (int)msg->topic.len, msg->topic.ptr);
}

/* A cluster section for node me with the single peer other. */
static config_cluster *section(const char *name, const char *me, const char *other)
{
    config_cluster *c = calloc(1, sizeof *c);
    config_peer *p = calloc(1, sizeof *p);
    c->name = strdup(name);
    c->node = strdup(me);
    c->listen = strdup("tcp://127.0.0.1:1");
    p->node = strdup(other);
    p->endpoint = strdup("tcp://127.0.0.1:2");
    c->peers = p;
    c->n_peers = 1;
    c->heartbeat_ms = 100;
    c->heartbeat_timeout_ms = 300;
    c->link_buffer = 1 << 16;
    c->max_interest = 3;
    return c;
}

/* Carries what from's only peer waits for into to's only peer; returns
 * the records carried. */
static int carry(cl_node *from, cl_node *to, int64_t now)
{
    cl_peer *out = &from->peers[0], *in = &to->peers[0];
    ps__reader r;
    ps__cmd rec;
    char why[256];
    int n = 0;
    ps__buf b = out->out;
    out->out = (ps__buf){0};
    ps__reader_init(&r, b.data, b.len);
    while (ps__wire_next(&r, &rec) == 1) {
        cl_input(to, in, &rec, now, now * 1000, why, sizeof why);
        n++;
    }
    ps__buf_free(&b);
    return n;
}

/* Both ways until nothing moves. */
static void pump(cl_node *a, cl_node *b, int64_t now)
{
    for (int i = 0; i < 10; i++)
        if (carry(a, b, now) + carry(b, a, now) == 0)
            return;
}

static ps__slice S_(const char *s)
{
    return (ps__slice){s, strlen(s)};
}

/* One node's broker side for the waits: what cluster.c told it. */
struct wside {
    struct seen seen;      /* messages delivered (first: on_deliver's) */
    cl_wait *in;           /* the last wait a peer asked of us */
    int ins;               /* waits peers asked */
    int abandoned;         /* of those, abandoned (their peer lost) */
    int replies;           /* replies that came for our legs */
    int64_t count, expected, gone; /* the sums of our legs' counts */
    int finals;            /* legs over */
};

static void w_in(void *ctx, cl_wait *w, const ps__cmd *rec, uint64_t missed)
{
    struct wside *s = ctx;
    (void)rec;
    (void)missed;
    s->in = w;
    s->ins++;
    w->owner = s;
}

static void w_reply(void *ctx, void *owner, const ps__cmd *rec)
{
    struct wside *s = ctx;
    (void)owner;
    (void)rec;
    s->replies++;
}

static void w_news(void *ctx, void *owner, int64_t count, int64_t expected, int64_t gone,
                   int final)
{
    struct wside *s = ctx;
    (void)owner;
    s->count += count;
    s->expected += expected;
    s->gone += gone;
    s->finals += final;
}

static void w_abandon(void *ctx, void *owner)
{
    struct wside *s = ctx;
    (void)owner;
    s->abandoned++;
    s->in = NULL;
}

static const cl_wait_fns wfns = {w_in, w_reply, w_news, w_abandon};

static void test_waits(void)
{
    config_cluster *ca = section("site", "a", "b"), *cb = section("site", "b", "a");
    struct wside sa = {0}, sb = {0};
    cl_node *a = cl_new(ca, "x\n", 1, on_deliver, &sa);
    cl_node *b = cl_new(cb, "x\n", 2, on_deliver, &sb);
    a->waits = b->waits = &wfns;
    int64_t now = 1000;
    cl_tick(a, now, now * 1000);
    cl_tick(b, now, now * 1000);
    pump(a, b, now);
    cl_interest(b, "logs", "svc/#", 5, 1);
    pump(a, b, now);
    ps__slice d = S_("?"), t = S_("svc/echo"), other = S_("web/x");
    uint32_t legs, lost;

    /* A request: only where interest matches; the reply and counts come back. */
    cl_wait *none = cl_forward_wait(a, &sa, 1, "logs", &other, &d, 1000, now, &legs, &lost);
    CHECK(!none && legs == 0 && lost == 0 && a->peers[0].out.len == 0,
          "a request no peer's interest matches goes nowhere (no responders at once)");
    cl_wait *leg = cl_forward_wait(a, &sa, 1, "logs", &t, &d, 1000, now, &legs, &lost);
    CHECK(leg && legs == 1 && lost == 0, "a request goes to the peer whose interest matches");
    pump(a, b, now);
    CHECK(sb.ins == 1 && sb.in && b->peers[0].n_waits_in == 1, "the peer holds it as a wait");
    cl_answer(b, sb.in, 0, 1, 0, 0);
    ps__slice pong = S_("pong");
    cl_reply(b, sb.in, 0, &pong);
    cl_answer(b, sb.in, 1, 1, 0, 1);
    pump(a, b, now);
    CHECK(b->peers[0].n_waits_in == 0, "its final answer ends the peer's wait");
    CHECK(sa.replies == 1 && sa.finals == 1 && sa.expected == 0 && sa.gone == 0,
          "the reply came back, and the leg ended as 1 of 1 (replies %d, finals %d, "
          "expected %+lld)", sa.replies, sa.finals, (long long)sa.expected);
    cl_forget_waits(a, leg);
    CHECK(a->peers[0].n_waits_out == 0 && a->n_waits == 0, "the leg is forgotten with its owner");

    /* A sync message: counted by the peer, kept counted when the link goes. */
    sa = (struct wside){0};
    leg = cl_forward_wait(a, &sa, 0, "logs", &t, &d, 5000, now, &legs, &lost);
    CHECK(leg && legs == 1 && lost == 0, "a sync message goes as a leg");
    pump(a, b, now);
    CHECK(sb.seen.messages == 0 && sb.in && !sb.in->request,
          "the peer takes it as a wait (it delivers it itself)");
    cl_answer(b, sb.in, 0, 2, 0, 0);
    cl_answer(b, sb.in, 1, 2, 0, 0);
    pump(a, b, now);
    CHECK(sa.count == 1 && sa.expected == 1 && sa.finals == 0,
          "2 receivers there (1 + %lld), 1 confirmed so far", (long long)sa.expected);
    now += 1000; /* silence past the timeout */
    cl_tick(a, now, now * 1000);
    cl_tick(b, now, now * 1000);
    CHECK(a->peers[0].state == LINK_DOWN, "the link is down");
    CHECK(sa.finals == 1 && sa.count == 1 && sa.expected == 1,
          "the leg ended at once, its 2 receivers still expected, 1 unconfirmed");
    CHECK(sb.abandoned == 1 && b->n_waits == 0, "the peer gave up its side too");
    cl_forget_waits(a, leg);
    a->peers[0].out.len = b->peers[0].out.len = 0;
    sa = (struct wside){0};
    leg = cl_forward_wait(a, &sa, 0, "logs", &t, &d, 5000, now, &legs, &lost);
    CHECK(!leg && legs == 0 && lost == 1,
          "a sync message for a peer that is down counts one unconfirmed receiver");
    leg = cl_forward_wait(a, &sa, 1, "logs", &t, &d, 5000, now, &legs, &lost);
    CHECK(!leg && legs == 0 && lost == 0, "a request does not go to a peer that is down");

    /* Bounds: max_waits per link, and the deadline. */
    for (int i = 0; i < 3; i++) {
        now += 100;
        cl_tick(a, now, now * 1000);
        cl_tick(b, now, now * 1000);
        pump(a, b, now);
    }
    CHECK(a->peers[0].state == LINK_UP, "the link is back");
    a->max_waits = 1;
    sb = (struct wside){0};
    cl_wait *l1 = cl_forward_wait(a, &sa, 0, "logs", &t, &d, 200, now, &legs, &lost);
    cl_wait *l2 = cl_forward_wait(a, &sa, 1, "logs", &t, &d, 200, now, &legs, &lost);
    CHECK(l1 && !l2 && lost == 1 && a->peers[0].n_waits_out == 1,
          "past max_waits a leg is not opened (counted as lost)");
    b->max_waits = 0;
    pump(a, b, now);
    CHECK(sb.ins == 0 && sb.seen.messages == 1,
          "past the peer's max_waits the sync message is delivered without a wait");
    CHECK(sa.finals == 1 && sa.expected == 0, "... and answered at once as one unconfirmed");
    cl_forget_waits(a, l1);
    b->max_waits = 10;
    sa = (struct wside){0};
    l1 = cl_forward_wait(a, &sa, 1, "logs", &t, &d, 200, now, &legs, &lost);
    pump(a, b, now);
    CHECK(sb.ins == 1 && b->n_waits == 1, "a request with 200 ms waits on the peer");
    for (int i = 0; i < 6; i++) { /* heartbeats keep the link up; time runs out */
        now += 100;
        cl_tick(a, now, now * 1000);
        cl_tick(b, now, now * 1000);
        pump(a, b, now);
    }
    CHECK(a->peers[0].state == LINK_UP, "the link stayed up");
    CHECK(sb.abandoned == 1 && b->n_waits == 0,
          "the peer gave its wait up a heartbeat timeout after its deadline");
    CHECK(sa.finals == 1 && sa.gone == 1, "and so did the asking node: its responder gone");
    cl_forget_waits(a, l1);

    /* A hostile peer: a wait id 0 is refused; answers for no wait are ignored. */
    char why[256];
    ps__cmd bad = {.cmd = PS_CMD_LINK_REQUEST, .channel = S_("logs")};
    CHECK(cl_input(b, &b->peers[0], &bad, now, now * 1000, why, sizeof why) < 0,
          "a request without a wait id: %s", why);
    ps__cmd stray = {.cmd = PS_CMD_LINK_ANSWER, .tag = 12345, .expected = 7};
    int before = sa.finals;
    CHECK(cl_input(a, &a->peers[0], &stray, now, now * 1000, why, sizeof why) == 0 &&
          sa.finals == before, "an answer for no wait is ignored");

    cl_free(&a);
    cl_free(&b);
    config_cluster_free(&ca);
    config_cluster_free(&cb);
}

/* What a node's queue callback saw. */
struct qseen {
    int ops[6];            /* records seen by op (0: the link's holdings are gone) */
    uint32_t window;       /* the window of the last ATTACH */
    uint64_t gen;          /* the attach_gen of the last record */
    uint64_t tag;          /* the tag of the last record */
    uint8_t flags;         /* the flags of the last record */
};

static int on_queue(void *ctx, cl_peer *p, const ps__cmd *rec, char *why, size_t cap)
{
    struct qseen *q = ctx;
    (void)p;
    (void)why;
    (void)cap;
    q->ops[rec->status < 6 ? rec->status : 0]++;
    q->window = rec->status == PS_WIRE_LQ_ATTACH ? rec->window : q->window;
    q->gen = rec->seq;
    q->tag = rec->tag;
    q->flags = rec->flags;
    return 0;
}

/* Ticks both nodes at now and carries what they say until nothing moves. */
static void beat(cl_node *a, cl_node *b, int64_t now)
{
    cl_tick(a, now, now * 1000);
    cl_tick(b, now, now * 1000);
    pump(a, b, now);
}

static void queues(void)
{
    config_cluster *ca = section("site", "a", "b"), *cb = section("site", "b", "a");
    struct qseen qa = {0}, qb = {0};
    /* The callbacks' ctx is the node's: the deliver function is unused. */
    cl_node *a = cl_new(ca, "jobs queue home=a\n", 101, NULL, &qa);
    cl_node *b = cl_new(cb, "jobs queue home=a\n", 202, NULL, &qb);
    a->queue = on_queue;
    b->queue = on_queue;
    cl_peer *pa = &b->peers[0], *pb = &a->peers[0]; /* b's peer a, a's peer b */
    int64_t now = 1000;
    CHECK(cl_queue_want(b, pa, "jobs", 3) == 0, "b wants 3 of a's queue before the link is up");
    beat(a, b, now);
    CHECK(pb->state == LINK_UP && pa->state == LINK_UP, "the link is up");
    CHECK(qa.ops[PS_WIRE_LQ_ATTACH] == 1 && qa.window == 3,
          "a hears b attach once it is up, window 3 (%d, %u)", qa.ops[PS_WIRE_LQ_ATTACH],
          qa.window);
    uint64_t gen1 = qa.gen;
    cl_queue_want(b, pa, "jobs", 100000);
    pump(a, b, now);
    CHECK(qa.window == CL_QUEUE_WINDOW, "the credit is bounded by CL_QUEUE_WINDOW (%u)",
          qa.window);
    CHECK(qa.gen == gen1, "a window changed is the same attachment");

    ps__slice t = S_("t"), d = S_("job 1");
    CHECK(cl_queue_deliver(a, pb, "jobs", 7, PS_WIRE_REDELIVERED, &t, &d, 0) == 0,
          "a delivers to b's attachment");
    CHECK(cl_queue_deliver(a, pb, "other", 8, 0, &t, &d, 0) < 0, "not to a queue b did not attach to");
    pump(a, b, now);
    CHECK(qb.ops[PS_WIRE_LQ_DELIVER] == 1 && qb.tag == 7 && qb.flags == PS_WIRE_REDELIVERED,
          "b gets the message with a's tag and its redelivered flag");
    cl_queue_answer(b, pa, "jobs", qb.gen, 7, PS_WIRE_LQ_ACK);
    cl_queue_answer(b, pa, "jobs", qb.gen, 9, PS_WIRE_LQ_RETURN);
    pump(a, b, now);
    CHECK(qa.ops[PS_WIRE_LQ_ACK] == 1 && qa.ops[PS_WIRE_LQ_RETURN] == 1 && qa.tag == 9,
          "a hears the ack of 7 and the return of 9");

    /* The link down (a hears nothing for the timeout): a returns what b
     * held; once up again b is told to forget, and attaches anew. */
    cl_queue_deliver(a, pb, "jobs", 10, 0, &t, &d, 0);
    uint64_t old_gen = pa->qout[0].gen;
    pb->out.len = 0; /* lost on the way */
    now += 1000;
    cl_tick(a, now, now * 1000);
    CHECK(pb->state == LINK_DOWN && qa.ops[0] == 1, "a's link down: a returns b's holdings");
    cl_tick(b, now, now * 1000);
    pa->out.len = 0;
    pb->out.len = 0;
    for (int i = 0; i < 4; i++)
        beat(a, b, now += 100);
    CHECK(pb->state == LINK_UP && pa->state == LINK_UP, "the link is back up");
    CHECK(qb.ops[0] >= 1, "b forgot what waited of a's queue (%d)", qb.ops[0]);
    CHECK(qa.ops[PS_WIRE_LQ_ATTACH] >= 3 && qa.gen != old_gen && pb->qin[0].window,
          "b attached again under a new number");
    int delivered = qb.ops[PS_WIRE_LQ_DELIVER];
    ps__cmd stale = {.cmd = PS_CMD_LINK_QUEUE, .status = PS_WIRE_LQ_DELIVER, .seq = old_gen,
                     .tag = 10, .channel = S_("jobs"), .topic = t, .data = d};
    char why[256];
    CHECK(cl_input(b, pa, &stale, now, now * 1000, why, sizeof why) == 0 &&
              qb.ops[PS_WIRE_LQ_DELIVER] == delivered,
          "a delivery of the old attachment is ignored");
    int acks = qa.ops[PS_WIRE_LQ_ACK];
    cl_queue_answer(b, pa, "jobs", old_gen, 10, PS_WIRE_LQ_ACK);
    pump(a, b, now);
    CHECK(qa.ops[PS_WIRE_LQ_ACK] == acks, "nor is an answer under it sent");

    /* The peer may take our HELLO and speak before this side has judged
     * the link up: b's RESET and its attachment anew reach a while a's
     * link is still down (t0926, after a failover).  A delivery to that
     * attachment is refused until the link is up; then a hears it detach
     * and attach again, so that what its broker handed the attachment
     * meanwhile, which never left, is handed out anew. */
    cl_peer_drop(a, pb, now);
    pb->hello_ok = 1; /* b's HELLO taken again; b has not yet told a it took a's */
    ps__cmd reset = {.cmd = PS_CMD_LINK_QUEUE, .status = PS_WIRE_LQ_RESET};
    CHECK(cl_input(a, pb, &reset, now, now * 1000, why, sizeof why) == 0, "a takes b's RESET");
    pa->qout[0].gen = ++b->qgen; /* what b does on a RESET over a link it holds up */
    ps__cmd early = {.cmd = PS_CMD_LINK_QUEUE, .status = PS_WIRE_LQ_ATTACH,
                     .seq = pa->qout[0].gen, .window = 5, .channel = S_("jobs")};
    pa->qout[0].window = 5;
    int attaches = qa.ops[PS_WIRE_LQ_ATTACH];
    CHECK(cl_input(a, pb, &early, now, now * 1000, why, sizeof why) == 0 &&
              qa.ops[PS_WIRE_LQ_ATTACH] == attaches + 1 && pb->state != LINK_UP,
          "a takes b's attachment while its link is not up yet");
    CHECK(cl_queue_deliver(a, pb, "jobs", 11, 0, &t, &d, 0) < 0,
          "a delivery to it is refused until the link is up");
    for (int i = 0; i < 4 && pb->state != LINK_UP; i++)
        beat(a, b, now += 100);
    CHECK(pb->state == LINK_UP, "a's link is up again");
    CHECK(qa.ops[PS_WIRE_LQ_ATTACH] >= attaches + 3 && qa.window == 5,
          "then a hears the attachment end and come again (%d attachments, window %u)",
          qa.ops[PS_WIRE_LQ_ATTACH] - attaches, qa.window);
    delivered = qb.ops[PS_WIRE_LQ_DELIVER];
    CHECK(cl_queue_deliver(a, pb, "jobs", 11, 0, &t, &d, 0) == 0, "and delivers to it");
    pump(a, b, now);
    CHECK(qb.ops[PS_WIRE_LQ_DELIVER] == delivered + 1, "b takes the delivery");

    /* The answers to a peer's publishes are bounded by link_buffer, like
     * messages: a peer that publishes and reads nothing cannot grow our
     * output. */
    long link_buffer = cb->link_buffer;
    cb->link_buffer = 100;
    for (uint64_t tag = 1; tag <= 10; tag++)
        cl_queue_committed(b, pa, "jobs", tag, 1, 3);
    CHECK(pa->out.len > 0 && pa->out.len <= 100,
          "answers stop at link_buffer (%zu bytes of 100)", pa->out.len);
    cb->link_buffer = link_buffer;
    pump(a, b, now);

    /* Detach; bounds. */
    cl_queue_want(b, pa, "jobs", 0);
    pump(a, b, now);
    CHECK(qa.window == 0 && !pb->qin[0].window, "b's last consumer gone: it detaches");
    int rc = 0, n = 0;
    for (; n <= CL_QUEUES_MAX && rc == 0; n++) {
        char name[16];
        snprintf(name, sizeof name, "q%d", n);
        ps__cmd att = {.cmd = PS_CMD_LINK_QUEUE, .status = PS_WIRE_LQ_ATTACH, .seq = 1,
                       .window = 1, .channel = S_(name)};
        rc = cl_input(a, pb, &att, now, now * 1000, why, sizeof why);
    }
    CHECK(rc < 0 && n == CL_QUEUES_MAX + 1 && strstr(why, "queues attached"),
          "past CL_QUEUES_MAX attachments the peer is refused: %s", why);
    ps__cmd op9 = {.cmd = PS_CMD_LINK_QUEUE, .status = 9, .channel = S_("jobs")};
    CHECK(cl_input(a, pb, &op9, now, now * 1000, why, sizeof why) < 0, "op 9: %s", why);
    a->queue = NULL;
    ps__cmd det = {.cmd = PS_CMD_LINK_QUEUE, .status = PS_WIRE_LQ_ATTACH, .channel = S_("jobs")};
    CHECK(cl_input(a, pb, &det, now, now * 1000, why, sizeof why) < 0,
          "a node without queues refuses the record: %s", why);
    cl_free(&a);
    cl_free(&b);
    config_cluster_free(&ca);
    config_cluster_free(&cb);
}

int main(void)
{
    log_init(0);
    config_cluster *ca = section("site", "a", "b"), *cb = section("site", "b", "a");
    struct seen sa = {0}, sb = {0};
    cl_node *a = cl_new(ca, "jobs queue\n", 11, on_deliver, &sa);
    cl_node *b = cl_new(cb, "jobs queue\n", 22, on_deliver, &sb);
    CHECK(a && b, "two nodes made");
    int64_t now = 1000;
    cl_tick(a, now, now * 1000);
    cl_tick(b, now, now * 1000);
    pump(a, b, now);
    CHECK(a->peers[0].state == LINK_UP && b->peers[0].state == LINK_UP,
          "after both HELLOs the link is up on both sides (%s, %s)",
          cl_state_name(a->peers[0].state), cl_state_name(b->peers[0].state));
    CHECK(a->peers[0].rtt_us >= 0, "the heartbeat's echo gave a round-trip time");

    /* Interest: b's client subscribes; a hears and acknowledges it. */
    uint64_t seq = cl_interest(b, "logs", "amd64/#", 7, 1);
    CHECK(seq > 0 && !cl_interest_acked(b, seq), "a new interest waits for the peer's ack");
    CHECK(cl_interest(b, "logs", "amd64/#", 7, 1) == 0, "a second subscriber to it says nothing");
    pump(a, b, now);
    CHECK(a->peers[0].remote.n_pats == 1, "a holds b's interest");
    now += 100;
    cl_tick(a, now, now * 1000);
    pump(a, b, now);
    CHECK(cl_interest_acked(b, seq), "b's interest is acknowledged by a's heartbeat");

    /* Forwarding by interest. */
    ps__slice d = S_("payload");
    ps__slice t1 = S_("amd64/sshd"), t2 = S_("arm/sshd");
    cl_forward(a, "logs", &t1, &d, 0);
    cl_forward(a, "logs", &t2, &d, 0);
    cl_forward(a, "other", &t1, &d, 0);
    pump(a, b, now);
    CHECK(sb.messages == 1 && !strcmp(sb.last_topic, "amd64/sshd") && sb.missed == 0,
          "only the matching message crossed (%d)", sb.messages);
    CHECK(a->peers[0].msgs_out == 1 && b->peers[0].msgs_in == 1, "counted on both sides");

    /* The link goes down: messages for b are numbered but not carried. */
    now += 1000;
    cl_tick(a, now, now * 1000);
    cl_tick(b, now, now * 1000);
    CHECK(a->peers[0].state == LINK_DOWN, "a silent peer is down after the timeout");
    a->peers[0].out.len = 0;
    b->peers[0].out.len = 0;
    for (int i = 0; i < 5; i++)
        cl_forward(a, "logs", &t1, &d, 0);
    CHECK(a->peers[0].drops == 5, "5 messages not carried are drops (%llu)",
          (unsigned long long)a->peers[0].drops);
    /* b's client subscribes to something else while the link is down. */
    cl_interest(b, "logs", "arm/#", 5, 1);
    now += 100;
    cl_tick(a, now, now * 1000);
    cl_tick(b, now, now * 1000);
    pump(a, b, now);
    now += 100;
    cl_tick(a, now, now * 1000);
    cl_tick(b, now, now * 1000);
    pump(a, b, now);
    CHECK(a->peers[0].state == LINK_UP && b->peers[0].state == LINK_UP, "the link is back up");
    CHECK(a->peers[0].remote.n_pats == 2, "interest was re-sent in full (%zu patterns)",
          a->peers[0].remote.n_pats);
    cl_forward(a, "logs", &t2, &d, 0);
    pump(a, b, now);
    CHECK(sb.messages == 2 && sb.missed == 5, "the next message tells of the 5 missed (%llu)",
          (unsigned long long)sb.missed);
    CHECK(b->peers[0].gaps == 5, "counted as gaps on the link");

    /* Removal. */
    cl_interest(b, "logs", "arm/#", 5, 0);
    pump(a, b, now);
    CHECK(a->peers[0].remote.n_pats == 1, "a removed interest goes from the peer");

    /* Bounds: max_interest 3, a bad op, a record not for links. */
    char why[256];
    cl_peer *pb = &a->peers[0];
    ps__cmd add = {.cmd = PS_CMD_LINK_INTEREST, .flags = PS_WIRE_INTEREST_ADD,
                   .channel = S_("x")};
    int rc = 0;
    const char *pats[] = {"a", "b", "c"};
    for (int i = 0; i < 3 && rc == 0; i++) {
        add.seq = pb->iseq_in + 1;
        add.topic = S_(pats[i]);
        rc = cl_input(a, pb, &add, now, now * 1000, why, sizeof why);
    }
    CHECK(rc < 0 && strstr(why, "max_interest"), "a flood of interest is refused: %s", why);
    ps__cmd bad = {.cmd = PS_CMD_LINK_INTEREST, .seq = pb->iseq_in + 1, .flags = 9,
                   .channel = S_("x")};
    CHECK(cl_input(a, pb, &bad, now, now * 1000, why, sizeof why) < 0, "op 9: %s", why);
    ps__cmd pub = {.cmd = PS_CMD_PUBLISH, .channel = S_("x")};
    CHECK(cl_input(a, pb, &pub, now, now * 1000, why, sizeof why) < 0, "a PUBLISH: %s", why);
    cl_peer_drop(a, pb, now);
    CHECK(pb->state == LINK_DOWN && !pb->hello_ok, "a dropped peer's records are not taken");

    /* Refusals: another cluster name, other declarations. */
    config_cluster *cc = section("other", "c", "a"), *ca2 = section("site", "a", "c");
    struct seen sc = {0}, sa2 = {0};
    cl_node *c = cl_new(cc, "jobs queue\n", 33, on_deliver, &sc);
    cl_node *a2 = cl_new(ca2, "jobs queue\n", 44, on_deliver, &sa2);
    cl_tick(c, now, now * 1000);
    carry(c, a2, now);
    CHECK(a2->peers[0].state == LINK_REFUSED && !a2->peers[0].hello_ok,
          "a peer of another cluster is refused");
    cl_free(&c);
    config_cluster *cd = section("site", "c", "a");
    c = cl_new(cd, "jobs pubsub\nlogs pubsub\n", 55, on_deliver, &sc);
    cl_tick(c, now, now * 1000);
    carry(c, a2, now);
    CHECK(a2->peers[0].state == LINK_REFUSED, "a peer with other declarations is refused");
    char list[128];
    int nd = cl_decls_differ("a x\njobs queue\n", 15, "a x\njobs pubsub\nlogs pubsub\n", 28, list,
                             sizeof list);
    CHECK(nd == 2 && !strcmp(list, "jobs, logs"), "the channels that differ are named: %s", list);
    CHECK(cl_decls_differ("a x\n", 4, "a x\n", 4, list, sizeof list) == 0, "same: none");

    cl_free(&a);
    cl_free(&b);
    cl_free(&c);
    cl_free(&a2);
    config_cluster_free(&ca);
    config_cluster_free(&cb);
    config_cluster_free(&cc);
    config_cluster_free(&ca2);
    config_cluster_free(&cd);
    test_waits();
    queues();
    return TEST_DONE();
}
