/*
 * link.c - the cluster's sockets: what cluster.c decides, applied to
 * ZeroMQ.
 *
 * Each node binds one ROUTER on cluster.listen (a CURVE server with the
 * node's secret key; the ZAP handler of auth.c admits only the public
 * keys of cluster.peers and names the connection "node:NAME") and
 * connects one DEALER to each peer (a CURVE client that knows the peer's
 * public key, routing id = this node's name).  A node reads only its
 * ROUTER and writes only its DEALERs, so each direction of a link is one
 * connection.  A frame is taken from the ROUTER only when the key that
 * authenticated its connection belongs to the node it claims to be; its
 * records go to cl_input, and a peer that breaks the protocol or a bound
 * has its link dropped (logged once) until it says HELLO again.  Records
 * leave at the end of each turn in frames of at most 64 KiB, without ever
 * blocking: what a DEALER does not take waits in the peer's buffer, which
 * cluster.c bounds by link_buffer (messages past it become gaps), so a
 * slow peer or a "block" channel never holds the loop or the heartbeats.
 * Messages that came over a link are published here with chan_publish_link
 * and are never forwarded again (the one-hop rule): link_tap, the fan-out
 * hook, ignores what the link itself is delivering.  A peer consuming one
 * of our queues is a stand-in client here, one per peer, whose
 * subscriptions and tickets are its attachments and holdings.
 * Requests and sync messages reach the other nodes as waits (cluster.c):
 * a waiter (pending) made here gets a leg per peer asked, and one a peer
 * asked for is a waiter whose answers go back over the link (link_waits,
 * the broker's hooks, and wait_fns, cluster.c's callbacks).
 */
#include "brokerd.h"
#include "hash.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define LINK_FRAME_MAX 65536 /* bytes of records in one frame, a larger record alone */
#define LINK_BURST 256       /* frames read from the ROUTER per turn */
#define LINK_USER_PREFIX "node:" /* the ZAP user id of a peer's connection */
#define LINK_SNDHWM 1000     /* frames libzmq queues towards one peer */
#define LINK_CONNECT_MS 250  /* a connection attempt given up after this, and tried again
                              * LINK_RETRY_MS later: a healed partition is met within
                              * about 350 ms, at the cost of a SYN that often */
#define LINK_RETRY_MS 100    /* the pause between connection attempts, never longer */

/* The sockets and what only the I/O side knows. */
struct link {
    cl_node *cl;           /* the protocol's state (cluster.c) */
    void *router;          /* cluster.listen: what peers send us */
    void **dealers;        /* one per peer, in cl->peers order: what we send */
    size_t *sent;          /* per peer: bytes at the front of its out buffer sent already */
    int inbound;           /* delivering a message from a link: link_tap must not forward */
    int *malformed_logged; /* per peer: its bad input was logged */
    enum link_state *was;  /* per peer: its state at the previous tick */
    client **relays;       /* per peer: its stand-in consuming our queues, NULL until it
                            * first attaches */
    int queue_dirty;       /* a consumer came or went: what we want of the homes' queues
                            * is worked out again at the end of the turn */
    uint64_t home_gen;     /* replq_home_gen when that was last worked out: the home of
                            * the replicated queues moves with the group's leader */
};

static const cl_wait_fns wait_fns;
static void sync_forward(broker *b, const channel *ch, const ps__slice *topic,
                         const ps__slice *data);

static void deliver_from_link(void *ctx, const ps__cmd *msg, uint64_t missed)
{
    broker *b = ctx;
    b->link->inbound = 1;
    chan_publish_link(b, msg, missed);
    b->link->inbound = 0;
}

/* After our HELLO to p: every retained value and tombstone we hold, for
 * it to keep the newest (cluster.c's resync callback). */
static void resync_retained(void *ctx, cl_peer *p)
{
    broker *b = ctx;
    channel *ch;
    SLIST_FOREACH(ch, &b->channels, link) {
        if (ch->type != CHAN_PUBSUB || ps__wire_sys_channel(ch->name, strlen(ch->name)))
            continue;
        const retained *r;
        SLIST_FOREACH(r, &ch->ret, link) {
            ps__slice t = {r->topic, r->tlen}, d = {(const char *)r->data, r->len};
            cl_resync_retained(b->link->cl, p, ch->name, &t, &d, r->hlc,
                               r->origin ? r->origin : b->cfg->cluster->node);
        }
    }
}

/* Queues consumed through another node ------------------------------------ */

/* The home of the declared queue cc (ch, when it exists): a replicated
 * queue's is the group's leader ("" while none is known), another's its
 * configured home (NULL: none). */
static const char *queue_home(broker *b, const config_channel *cc, const channel *ch)
{
    const char *home = replq_home(b, ch);
    return home ? home : cc->home;
}

/* The declared queue called name whose home is node home (NULL: this
 * node), if there is one. */
static channel *homed_queue(broker *b, const char *name, size_t len, const char *home)
{
    channel *ch = chan_find(b, name, len);
    if (!ch || ch->type != CHAN_QUEUE)
        return NULL;
    const config_channel *cc = config_find_channel(b->cfg, ch->name);
    const char *h = cc ? queue_home(b, cc, ch) : NULL;
    if (!h || strcmp(h, home ? home : b->cfg->cluster->node) != 0)
        return NULL;
    return ch;
}

/* Peer i's stand-in: a client that is no session (on none of the broker's
 * lists), whose queue subscriptions and tickets are the peer's attachments
 * and the messages it holds; made when it first attaches. */
static client *relay_client(broker *b, size_t i)
{
    struct link *l = b->link;
    if (!l->relays[i]) {
        client *c = calloc(1, sizeof *c);
        if (!c)
            return NULL;
        STAILQ_INIT(&c->out);
        LIST_INIT(&c->subs);
        LIST_INIT(&c->tickets);
        c->relay = &l->cl->peers[i];
        l->relays[i] = c;
    }
    return l->relays[i];
}

/* cluster.c's queue callback: applies a LINK_QUEUE record of p. */
static int link_queue(void *ctx, cl_peer *p, const ps__cmd *rec, char *why, size_t cap)
{
    broker *b = ctx;
    struct link *l = b->link;
    size_t i = (size_t)(p - l->cl->peers);
    client *rc = l->relays[i];
    channel *ch;
    ticket *t;
    switch (rec->status) {
    case 0:
        /* The link was down: what p held of ours goes back to our queues
         * (flagged redelivered), what waits here of its is its again. */
        if (rc) {
            sub *s;
            LIST_FOREACH(s, &rc->subs, cl_link)
                s->window = 0; /* nothing more for it while its holdings go back */
            while (!LIST_EMPTY(&rc->subs))
                chan_sub_remove(b, LIST_FIRST(&rc->subs));
        }
        for (const config_channel *cc = b->cfg->channels; cc; cc = cc->next)
            if ((ch = homed_queue(b, cc->name, strlen(cc->name), p->cfg->node)))
                queue_relay_drop(ch);
        replq_link_down(b, p);
        return 0;
    case PS_WIRE_LQ_ATTACH:
        if (!(ch = homed_queue(b, rec->channel.ptr, rec->channel.len, NULL))) {
            snprintf(why, cap, "an attachment to '%.*s', which is no queue held here",
                     (int)rec->channel.len, rec->channel.ptr);
            return -1;
        }
        if (!rec->window && !rc)
            return 0;
        if (!(rc = relay_client(b, i)) || chan_relay_consume(b, rc, ch, rec->window) < 0) {
            snprintf(why, cap, "out of memory");
            return -1;
        }
        return 0;
    case PS_WIRE_LQ_DELIVER:
        if (!(ch = homed_queue(b, rec->channel.ptr, rec->channel.len, p->cfg->node)))
            return 0; /* we did not attach to that: cluster.c let nothing else by */
        if (replq_fenced(b, rec->stamp)) {
            /* From a leader deposed since: the new one hands it out. */
            log_limited(LOG_LVL_NOTICE, "replicated queues: stale deliveries", "",
                        "queue '%s': a delivery from %s of an older term dropped", ch->name,
                        p->cfg->node);
            return 0;
        }
        if (!queue_relay_in(ch, rec)) {
            /* The home has it still: it comes back when we detach. */
            log_limited(LOG_LVL_WARNING, "cluster: relayed queue message dropped", "",
                        "cluster: a message of queue '%s' from %s dropped: out of memory",
                        ch->name, p->cfg->node);
            return 0;
        }
        queue_dispatch(b, ch);
        return 0;
    case PS_WIRE_LQ_ACK:
        if (rc)
            chan_ack(b, rc, rec->tag);
        return 0;
    case PS_WIRE_LQ_PUBLISH:
        ch = chan_find(b, rec->channel.ptr, rec->channel.len);
        if (!ch || !ch->replicated || !ch->repl_home) {
            /* Not ours (any more): the sender's publisher hears "unavailable". */
            char name[PS_WIRE_NAME_MAX + 1];
            snprintf(name, sizeof name, "%.*s", (int)rec->channel.len, rec->channel.ptr);
            if (rec->tag)
                cl_queue_committed(l->cl, p, name, rec->tag, 0, replq_term(b));
            return 0;
        }
        if (replq_publish(b, NULL, ch, rec, p, why, cap) != 0) {
            if (rec->tag)
                cl_queue_committed(l->cl, p, ch->name, rec->tag, 0, replq_term(b));
            log_limited(LOG_LVL_WARNING, "cluster: queue messages from links dropped", "",
                        "cluster: a message for queue '%s' from %s refused: %s", ch->name,
                        p->cfg->node, why);
        }
        return 0;
    case PS_WIRE_LQ_ANSWER:
        if (!replq_fenced(b, rec->stamp))
            replq_forward_done(b, rec->tag, rec->window == 1);
        return 0;
    default: /* PS_WIRE_LQ_RETURN */
        if (rc && (t = ticket_find(b, rec->tag)) && t->cl == rc && t->kind == TICKET_QUEUE) {
            ch = t->qm->owner->ch;
            queue_requeue(b, t);
            queue_dispatch(b, ch);
        }
        return 0;
    }
}

/* The relay hook (queue.c, deliver.c): a message of ours to a peer's
 * stand-in, or a local consumer's answer to the home of its message. */
void link_relay(void *ctx, const channel *ch, const client *to, const qmsg *qm,
                       uint64_t tag, enum relay_op op)
{
    broker *b = ctx;
    cl_node *n = b->link->cl;
    if (op == RELAY_DELIVER) {
        ps__slice topic = {qm->topic, qm->tlen}, data = {(const char *)qm->data, qm->len};
        /* Not attached (its link went down this turn): the message comes
         * back when the stand-in's subscription goes. */
        (void)cl_queue_deliver(n, to->relay, ch->name, tag,
                               qm->redelivered ? PS_WIRE_REDELIVERED : 0, &topic, &data,
                               ch->replicated ? replq_term(b) : 0);
        return;
    }
    const config_channel *cc = config_find_channel(b->cfg, ch->name);
    const char *home = cc ? queue_home(b, cc, ch) : NULL;
    cl_peer *p = home ? cl_peer_find(n, home, strlen(home)) : NULL;
    if (p)
        cl_queue_answer(n, p, ch->name, qm->relay_gen, tag,
                        op == RELAY_ACK ? PS_WIRE_LQ_ACK : PS_WIRE_LQ_RETURN);
}

void link_queue_answer(void *ctx, void *peer, const char *chname, uint64_t tag, int ok,
                       uint64_t term)
{
    broker *b = ctx;
    cl_queue_committed(b->link->cl, peer, chname, tag, ok, term);
}

/* What our consumers of each queue homed at a peer want of it: the sum of
 * their windows, which the peer's queue lends us as one consumer. */
static void queue_demand(broker *b)
{
    struct link *l = b->link;
    l->queue_dirty = 0;
    for (const config_channel *cc = b->cfg->channels; cc; cc = cc->next) {
        if (cc->type != CHAN_QUEUE)
            continue;
        channel *ch = chan_find(b, cc->name, strlen(cc->name));
        const char *home = queue_home(b, cc, ch);
        if (ch && ch->replicated) {
            /* Its home moves with the leader: no attachment to any other. */
            for (size_t i = 0; i < l->cl->n_peers; i++)
                if (strcmp(l->cl->peers[i].cfg->node, home) != 0)
                    (void)cl_queue_want(l->cl, &l->cl->peers[i], ch->name, 0);
        }
        if (!home || !strcmp(home, l->cl->cfg->node))
            continue;
        cl_peer *p = cl_peer_find(l->cl, home, strlen(home));
        if (!ch || !p)
            continue;
        uint64_t window = 0;
        const sub *s;
        TAILQ_FOREACH(s, &ch->subs, ch_link)
            if (!s->cl->dead && !s->requests_only)
                window += s->window;
        if (window > CL_QUEUE_WINDOW)
            window = CL_QUEUE_WINDOW;
        if (cl_queue_want(l->cl, p, ch->name, (uint32_t)window) < 0)
            log_limited(LOG_LVL_WARNING, "cluster: too many queues", "",
                        "cluster: queue '%s' not consumed through %s: %d queues are already",
                        ch->name, p->cfg->node, CL_QUEUES_MAX);
        if (!window)
            queue_relay_drop(ch); /* its home takes them back when it hears we left */
    }
}

/* Sets the options every link socket shares; 0 or -1. */
static int common_opts(void *s, long max_size)
{
    int zero = 0;
    int64_t max = max_size;
    return zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) |
           zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max);
}

/* The largest record a link carries: a whole message, or our declarations
 * in HELLO. */
static long link_max_record(const broker *b)
{
    long max = b->cfg->max_message_size + PS_WIRE_TOPIC_MAX + PS_WIRE_NAME_MAX + 4096;
    return max < (1L << 20) ? 1L << 20 : max;
}

/* Makes peer i's DEALER (p its configuration) and connects it; 0 or -1,
 * logged.  Each link has a socket of its own with a single connection:
 * a DEALER spreads its sends over all its connections, so a second one
 * to the same peer would carry part of our records to a connection the
 * peer's ROUTER has handed over to the newer one, where they are lost. */
static int dealer_open(broker *b, size_t i, const config_peer *p)
{
    const config_cluster *cc = b->cfg->cluster;
    struct link *l = b->link;
    int one = 1, hwm = LINK_SNDHWM, ivl = LINK_RETRY_MS, ivl_max = 0, cto = LINK_CONNECT_MS;
    void *d = l->dealers[i] = zmq_socket(b->ctx, ZMQ_DEALER);
    if (!d || common_opts(d, link_max_record(b)) < 0 ||
        zmq_setsockopt(d, ZMQ_ROUTING_ID, cc->node, strlen(cc->node)) < 0 ||
        zmq_setsockopt(d, ZMQ_IMMEDIATE, &one, sizeof one) < 0 ||
        zmq_setsockopt(d, ZMQ_SNDHWM, &hwm, sizeof hwm) < 0 ||
        zmq_setsockopt(d, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) < 0 ||
        zmq_setsockopt(d, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) < 0 ||
        zmq_setsockopt(d, ZMQ_CONNECT_TIMEOUT, &cto, sizeof cto) < 0 ||
        zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, p->public_key, 40) < 0 ||
        zmq_setsockopt(d, ZMQ_CURVE_PUBLICKEY, cc->public_key, 40) < 0 ||
        zmq_setsockopt(d, ZMQ_CURVE_SECRETKEY, cc->secret_key, 40) < 0 ||
        zmq_connect(d, p->endpoint) < 0) {
        log_limited(LOG_LVL_ERR, "cluster: cannot connect", p->node,
                    "cluster: cannot connect to peer %s at %s: %s", p->node, p->endpoint,
                    zmq_strerror(errno));
        if (d)
            zmq_close(d);
        l->dealers[i] = NULL;
        return -1;
    }
    return 0;
}

int link_open(broker *b)
{
    const config_cluster *cc = b->cfg->cluster;
    if (!cc)
        return 0;
    struct link *l = calloc(1, sizeof *l);
    char *decls = cl_decls(b->cfg);
    if (!l || !decls || !(l->cl = cl_new(cc, decls, b->epoch, deliver_from_link, b)) ||
        !(l->dealers = calloc(cc->n_peers + 1, sizeof *l->dealers)) ||
        !(l->sent = calloc(cc->n_peers + 1, sizeof *l->sent)) ||
        !(l->malformed_logged = calloc(cc->n_peers + 1, sizeof *l->malformed_logged)) ||
        !(l->was = calloc(cc->n_peers + 1, sizeof *l->was)) ||
        !(l->relays = calloc(cc->n_peers + 1, sizeof *l->relays))) {
        free(decls);
        if (l)
            cl_free(&l->cl);
        if (l) {
            free(l->dealers);
            free(l->sent);
            free(l->was);
        }
        free(l);
        log_err("cluster: out of memory");
        return -1;
    }
    free(decls);
    b->link = l;
    l->cl->resync = resync_retained;
    l->cl->waits = &wait_fns;
    l->cl->max_waits = b->cfg->max_pending; /* per link and direction, like a client's */
    l->cl->queue = link_queue;
    int one = 1;
    const char *domain = "pubsub-cluster";
    l->router = zmq_socket(b->ctx, ZMQ_ROUTER);
    if (!l->router || common_opts(l->router, link_max_record(b)) < 0 ||
        zmq_setsockopt(l->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one) < 0 ||
        zmq_setsockopt(l->router, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) < 0 ||
        zmq_setsockopt(l->router, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
        zmq_setsockopt(l->router, ZMQ_CURVE_SECRETKEY, cc->secret_key, 40) < 0) {
        log_err("cluster: cannot make the link socket: %s", zmq_strerror(errno));
        return -1;
    }
    if (zmq_bind(l->router, cc->listen) < 0) {
        log_err("cluster: cannot listen on %s: %s", cc->listen, zmq_strerror(errno));
        return -1;
    }
    size_t i = 0;
    for (const config_peer *p = cc->peers; p; p = p->next, i++)
        if (dealer_open(b, i, p) < 0)
            return -1;
    log_info("cluster \"%s\": node %s listens on %s for %zu peer%s (public key %s)", cc->name,
             cc->node, cc->listen, cc->n_peers, cc->n_peers == 1 ? "" : "s", cc->public_key);
    return 0;
}

/* Logs a peer's bad input (once per peer: one that says HELLO and breaks
 * the bounds again every heartbeat would flood the log) and drops its
 * link; malformed in `pctl status` counts each time. */
static void peer_fault(broker *b, size_t i, const char *why)
{
    struct link *l = b->link;
    cl_peer *p = &l->cl->peers[i];
    if (!l->malformed_logged[i])
        log_warn("cluster: peer %s sent %s; link dropped until it says HELLO again", p->cfg->node,
                 why);
    l->malformed_logged[i] = 1;
    b->malformed++;
    cl_peer_drop(l->cl, p, b->now);
    l->sent[i] = 0;
}

/* Handles one frame from the ROUTER: ident names the node, the ZAP user
 * of payload's connection must be the same. */
static void link_frame(broker *b, zmq_msg_t *ident, zmq_msg_t *payload)
{
    struct link *l = b->link;
    const char *user = zmq_msg_gets(payload, "User-Id");
    size_t plen = sizeof LINK_USER_PREFIX - 1;
    if (!user || strncmp(user, LINK_USER_PREFIX, plen) != 0)
        return; /* not admitted as a peer: ZAP would not have let it in */
    const char *node = user + plen;
    size_t ilen = zmq_msg_size(ident);
    if (ilen != strlen(node) || memcmp(zmq_msg_data(ident), node, ilen) != 0) {
        log_limited(LOG_LVL_WARNING, "cluster: frames under another node's name", node,
                    "cluster: peer %s sent frames under another node's name; ignored", node);
        return;
    }
    cl_peer *p = cl_peer_find(l->cl, node, strlen(node));
    if (!p)
        return; /* removed from the configuration since it was admitted */
    size_t i = (size_t)(p - l->cl->peers);
    ps__reader r;
    ps__cmd rec;
    char why[256];
    int rc;
    ps__reader_init(&r, zmq_msg_data(payload), zmq_msg_size(payload));
    int64_t now_us = loop_now_ns() / 1000;
    while ((rc = ps__wire_next(&r, &rec)) == 1) {
        if (cl_input(l->cl, p, &rec, b->now, now_us, why, sizeof why) < 0) {
            peer_fault(b, i, why);
            return;
        }
    }
    if (rc < 0)
        peer_fault(b, i, "a malformed frame");
    else
        cl_frame_done(l->cl, p, now_us);
}

static void link_input(void *ctx)
{
    broker *b = ctx;
    for (int n = 0; n < LINK_BURST; n++) {
        zmq_msg_t ident, payload;
        zmq_msg_init(&ident);
        zmq_msg_init(&payload);
        if (zmq_msg_recv(&ident, b->link->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ident);
            zmq_msg_close(&payload);
            return;
        }
        int ok = zmq_msg_more(&ident) && zmq_msg_recv(&payload, b->link->router, 0) >= 0;
        /* A peer sends single frames: a message of more is not one of
         * ours, drained and dropped. */
        for (int more = ok && zmq_msg_more(&payload); more;) {
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            more = zmq_msg_recv(&extra, b->link->router, 0) >= 0 && zmq_msg_more(&extra);
            zmq_msg_close(&extra);
            ok = 0;
        }
        if (ok)
            link_frame(b, &ident, &payload);
        zmq_msg_close(&ident);
        zmq_msg_close(&payload);
    }
}

/* Sends what waits for each peer, frame by frame, as far as its DEALER
 * takes it (a turn job); a short retry when something is left. */
static long link_flush(void *ctx)
{
    broker *b = ctx;
    struct link *l = b->link;
    long wait = -1;
    if (l->home_gen != replq_home_gen(b)) {
        /* The replicated queues' home moved: what the old one lent our
         * consumers and still waits here is dropped (the group's state
         * has it, the new home hands it out again, flagged). */
        l->home_gen = replq_home_gen(b);
        channel *ch;
        SLIST_FOREACH(ch, &b->channels, link)
            if (ch->replicated)
                queue_relay_drop(ch);
        l->queue_dirty = 1;
    }
    if (l->queue_dirty)
        queue_demand(b);
    for (size_t i = 0; i < l->cl->n_peers; i++) {
        cl_peer *p = &l->cl->peers[i];
        if (l->sent[i] > p->out.len)
            l->sent[i] = 0; /* cluster.c emptied it meanwhile */
        if (!l->dealers[i])
            continue; /* its last dealer_open failed: link_tick tries again */
        while (l->sent[i] < p->out.len) {
            size_t n = ps__wire_frame(p->out.data + l->sent[i], p->out.len - l->sent[i],
                                      LINK_FRAME_MAX);
            if (!n || zmq_send(l->dealers[i], p->out.data + l->sent[i], n, ZMQ_DONTWAIT) < 0)
                break;
            l->sent[i] += n;
        }
        if (l->sent[i] == p->out.len) {
            p->out.len = 0;
            l->sent[i] = 0;
        } else {
            /* Keep the buffer's front for what is left, so it does not grow. */
            memmove(p->out.data, p->out.data + l->sent[i], p->out.len - l->sent[i]);
            p->out.len -= l->sent[i];
            l->sent[i] = 0;
            wait = 5;
        }
    }
    return wait;
}

static long link_tick(void *ctx)
{
    broker *b = ctx;
    struct link *l = b->link;
    long next = cl_tick(l->cl, b->now, loop_now_ns() / 1000);
    for (size_t i = 0; i < l->cl->n_peers; i++) {
        cl_peer *p = &l->cl->peers[i];
        if (!l->dealers[i]) {
            (void)dealer_open(b, i, p->cfg); /* it failed before: tried again each tick */
        } else if (p->state == LINK_DOWN && l->was[i] == LINK_UP) {
            /* A connection silent past the timeout may be one TCP keeps
             * retrying with growing pauses (a cut cable, a partition): a
             * new one meets the peer as soon as it is back.  A new socket,
             * not zmq_disconnect and zmq_connect: the old connection may
             * outlive the disconnect, and the DEALER would then send over
             * both (dealer_open says why that loses records). */
            zmq_close(l->dealers[i]);
            (void)dealer_open(b, i, p->cfg);
        }
        l->was[i] = p->state;
    }
    return next;
}

int link_watch(broker *b)
{
    if (!b->link)
        return 0;
    int rc = loop_watch(b->loop, b->link->router, -1, link_input, b, NULL);
    rc |= loop_timer(b->loop, 0, link_tick, b);
    rc |= loop_on_turn(b->loop, link_flush, b);
    return rc;
}

int link_queue_command(broker *b, client *c, const ps__cmd *cmd, char *why, size_t cap)
{
    char name[PS_WIRE_NAME_MAX + 1];
    if (!b->link || cmd->channel.len >= sizeof name)
        return LINK_LOCAL;
    memcpy(name, cmd->channel.ptr, cmd->channel.len);
    name[cmd->channel.len] = '\0';
    const config_channel *cc = config_find_channel(b->cfg, name);
    cl_node *n = b->link->cl;
    channel *ch = chan_find(b, name, cmd->channel.len);
    const char *home = cc ? queue_home(b, cc, ch) : NULL;
    if (!cc || cc->type != CHAN_QUEUE || !home || !strcmp(home, n->cfg->node))
        return LINK_LOCAL;
    int publish = cmd->cmd == PS_CMD_PUBLISH;
    int replicated = ch && ch->replicated;
    /* Access rules apply to the client at its own node. */
    uint16_t code = auth_check(b, c, publish ? VERB_SEND : VERB_CONSUME, ch, name,
                               cmd->channel.len, why, cap);
    if (code)
        return code;
    if (!publish) {
        /* Consumed here: this node attaches to the home's queue for it
         * (queue_demand), as long as the home is reachable; a replicated
         * queue's consumer waits for a leader to attach to. */
        cl_peer *hp = cl_peer_find(n, home, strlen(home));
        if (replicated || (hp && hp->state == LINK_UP))
            return LINK_LOCAL;
        snprintf(why, cap, "queue '%s' is unavailable: its home node %s is not reachable", name,
                 home);
        return PS_WERR_LIMIT;
    }
    if ((long)cmd->data.len > b->cfg->max_message_size) {
        snprintf(why, cap, "message of %zu bytes exceeds max_message_size %ld", cmd->data.len,
                 b->cfg->max_message_size);
        return PS_WERR_TOOLARGE;
    }
    if (cmd->flags & PS_WIRE_SYNC) {
        snprintf(why, cap, "queue '%s' is held by node %s: sync messages to it go there", name,
                 *home ? home : "(none known)");
        return PS_WERR_LIMIT;
    }
    cl_peer *p = cl_peer_find(n, home, strlen(home));
    if (replicated && replq_hold(b, p && p->state == LINK_UP) &&
        client_may_park(b, c, cmd)) {
        /* No leader known (an election under way), or no link to it yet
         * (this node restarted): the publisher waits, as for a full
         * "block" queue, rather than be refused and retry. */
        c->park_why = PARK_QUEUE;
        return CHAN_PARK;
    }
    if (replicated && p && !replq_room(b, 1) &&
        client_may_park(b, c, cmd)) {
        /* REPL_INFLIGHT_MAX publishes wait for the home's answer: the
         * publisher waits for them, as for a full "block" queue. */
        c->park_why = PARK_QUEUE;
        return CHAN_PARK;
    }
    if (replicated && p) {
        /* Its confirm waits for the home's answer: sent once committed.
         * A publish without one waits too (for a refusal), so that this
         * node never has more than REPL_INFLIGHT_MAX at the home, which
         * holds what finds its proposal slots taken only that far: sent
         * unanswered, a fast publisher's messages were dropped there. */
        ps__slice t = cmd->topic, d = cmd->data;
        uint64_t tag =
            replq_forward_wait(b, c, cmd->corr, (cmd->flags & PS_WIRE_CONFIRM) != 0, ch, p);
        if (!tag) {
            snprintf(why, cap, "queue '%s' is unavailable: %d publishes wait for its home already",
                     name, REPL_INFLIGHT_MAX);
            return PS_WERR_LIMIT;
        }
        if (cl_queue_publish(n, p, name, tag, &t, &d) < 0) {
            replq_forward_done(b, tag, -1);
            snprintf(why, cap, "queue '%s' is unavailable: its home node %s is %s", name, home,
                     p->state == LINK_UP ? "behind (its link buffer is full)" : "not reachable");
            return PS_WERR_LIMIT;
        }
    } else if (!p || cl_send_queued(n, p, cmd) < 0) {
        if (replicated)
            snprintf(why, cap, "queue '%s' is unavailable: no leader of the replication group "
                     "is known", name);
        else
            snprintf(why, cap, "queue '%s' is unavailable: its home node %s is %s", name, home,
                     p && p->state == LINK_UP ? "behind (its link buffer is full)"
                                              : "not reachable");
        return PS_WERR_LIMIT;
    }
    if (ch) {
        ch->messages++;
        ch->bytes_in += cmd->data.len;
    }
    if ((cmd->flags & PS_WIRE_CONFIRM) && !replicated)
        out_ok(b, c, cmd->corr, 0); /* on its way to the home: what this node can say */
    return 0;
}

void link_tap(void *ctx, const channel *ch, const ps__slice *topic, const ps__slice *data)
{
    broker *b = ctx;
    if (b->link->inbound || ps__wire_sys_channel(ch->name, strlen(ch->name)))
        return; /* one hop: what came over a link goes no further */
    if (b->fan_retained)
        /* Every node keeps the retained values, whoever subscribes there
         * (a sync message's: stored there, delivered by its LINK_SYNC). */
        cl_send_retained(b->link->cl, ch->name, topic, data, b->fan_retained->hlc,
                         b->fan_sync ? PS_WIRE_LINK_RESYNC : 0);
    if (b->fan_sync)
        sync_forward(b, ch, topic, data);
    else if (!b->fan_retained)
        cl_forward(b->link->cl, ch->name, topic, data, 0);
}

uint64_t link_interest(void *ctx, const channel *ch, const char *pattern, size_t plen, int add)
{
    broker *b = ctx;
    if (ch->type == CHAN_QUEUE) {
        b->link->queue_dirty = 1; /* a consumer: queue_demand at the end of the turn */
        return 0;
    }
    if (ps__wire_sys_channel(ch->name, strlen(ch->name)))
        return 0;
    return cl_interest(b->link->cl, ch->name, pattern, plen, add);
}

int link_remote_interest(void *ctx, const channel *ch, const ps__slice *topic)
{
    broker *b = ctx;
    return cl_has_interest(b->link->cl, ch->name, topic);
}

int link_interest_acked(void *ctx, uint64_t seq)
{
    broker *b = ctx;
    return !b->link || cl_interest_acked(b->link->cl, seq);
}

size_t link_remote_subscribers(broker *b, const char *name)
{
    size_t n = 0;
    if (!b->link)
        return 0;
    for (size_t i = 0; i < b->link->cl->n_peers; i++) {
        cl_table *t = &b->link->cl->peers[i].remote;
        for (const cl_chan *c = t->b[ps__hash(name, strlen(name)) % CL_BUCKETS]; c; c = c->next)
            if (!strcmp(c->name, name) && c->n_pats) {
                n++;
                break;
            }
    }
    return n;
}

json_t *link_status(broker *b)
{
    if (!b->link)
        return json_pack("{s:n}", "cluster");
    cl_node *n = b->link->cl;
    json_t *peers = json_array();
    int complete = 1;
    for (size_t i = 0; i < n->n_peers; i++) {
        cl_peer *p = &n->peers[i];
        complete &= p->state == LINK_UP;
        json_array_append_new(
            peers, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                             "node", p->cfg->node, "endpoint", p->cfg->endpoint, "state",
                             cl_state_name(p->state), "rtt_us", (json_int_t)p->rtt_us,
                             "interest_in", (json_int_t)p->remote.n_pats, "interest_out",
                             (json_int_t)n->local.n_pats, "msgs_in", (json_int_t)p->msgs_in,
                             "msgs_out", (json_int_t)p->msgs_out, "bytes_in",
                             (json_int_t)p->bytes_in, "bytes_out", (json_int_t)p->bytes_out,
                             "drops", (json_int_t)p->drops, "gaps", (json_int_t)p->gaps));
    }
    return json_pack("{s:s, s:s, s:b, s:o}", "cluster", n->cfg->name, "node", n->cfg->node,
                     "complete", complete, "peers", peers);
}

cl_node *link_node(broker *b)
{
    return b->link ? b->link->cl : NULL;
}

void link_close(broker *b)
{
    struct link *l = b->link;
    if (!l)
        return;
    for (size_t i = 0; l->dealers && l->cl && i < l->cl->n_peers; i++)
        if (l->dealers[i])
            zmq_close(l->dealers[i]);
    if (l->router)
        zmq_close(l->router);
    /* The stand-ins' subscriptions went with the channels (chan_free_all). */
    for (size_t i = 0; l->relays && l->cl && i < l->cl->n_peers; i++)
        free(l->relays[i]);
    free(l->relays);
    cl_free(&l->cl);
    free(l->dealers);
    free(l->sent);
    free(l->malformed_logged);
    free(l->was);
    free(l);
    b->link = NULL;
}

/* Requests and sync messages across links ------------------------------- */

/* What is left of pd's time, for the peers' waits: at least 1 ms. */
static uint32_t time_left(const broker *b, const pending *pd)
{
    int64_t left = pd->deadline - b->now;
    return left < 1 ? 1 : left > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

/* Forwards pd's request or sync message to the peers whose interest
 * matches it: each leg counts as one responder or receiver until its
 * peer says how many; one that could not go counts at once (a request's
 * responder gone, a sync message's receiver unconfirmed). */
static void forward_wait(broker *b, pending *pd, const channel *ch, const ps__slice *topic,
                         const ps__slice *data)
{
    uint32_t legs, lost;
    cl_wait *first = cl_forward_wait(b->link->cl, pd, pd->is_request, ch->name, topic, data,
                                     time_left(b, pd), b->now, &legs, &lost);
    if (first)
        pd->legs = first;
    pd->n_legs += legs;
    pd->expected += legs + lost;
    if (pd->is_request)
        pd->gone += lost;
}

static void sync_forward(broker *b, const channel *ch, const ps__slice *topic,
                         const ps__slice *data)
{
    forward_wait(b, b->fan_sync, ch, topic, data);
}

static void hook_request(void *ctx, pending *pd, const channel *ch, const ps__cmd *cmd)
{
    broker *b = ctx;
    forward_wait(b, pd, ch, &cmd->topic, &cmd->data);
}

static void hook_reply(void *ctx, pending *pd, uint8_t status, const ps__slice *data)
{
    broker *b = ctx;
    cl_reply(b->link->cl, pd->origin, status, data);
}

static void hook_progress(void *ctx, pending *pd, int final)
{
    broker *b = ctx;
    cl_answer(b->link->cl, pd->origin, pd->answered, pd->expected, pd->gone, final);
    if (final)
        pd->origin = NULL; /* cl_answer freed it */
}

static void hook_forget(void *ctx, pending *pd)
{
    broker *b = ctx;
    cl_forget_waits(b->link->cl, pd->legs);
    pd->legs = NULL;
}

const wait_hooks link_waits = {hook_request, hook_reply, hook_progress, hook_forget};

/* A peer's request or sync message: a waiter here answers it. */
static void wait_in(void *ctx, cl_wait *w, const ps__cmd *rec, uint64_t missed)
{
    broker *b = ctx;
    int request = rec->cmd == PS_CMD_LINK_REQUEST;
    pending *pd = NULL;
    if (request || !(rec->flags & PS_WIRE_LINK_QUEUE))
        pd = pending_new(b, NULL, 0, request, rec->timeout_ms);
    if (!pd) {
        /* Out of memory, or a queue's message, which is not a sync
         * message's: one responder gone, or one receiver unconfirmed. */
        cl_answer(b->link->cl, w, 0, 1, (uint32_t)request, 1);
        return;
    }
    pd->origin = w;
    w->owner = pd;
    uint16_t code;
    if (request) {
        code = chan_request_link(b, rec, pd);
    } else {
        b->link->inbound = 1;
        code = chan_publish_link_sync(b, rec, missed, pd);
        b->link->inbound = 0;
    }
    if (code) {
        /* Nobody here takes it: the asking node hears 0 of 0. */
        cl_answer(b->link->cl, w, 0, 0, 0, 1);
        pd->origin = NULL;
        pending_finish(b, pd);
    }
}

static void wait_reply(void *ctx, void *owner, const ps__cmd *rec)
{
    broker *b = ctx;
    pending *pd = owner;
    if (pd->requester) {
        ps__cmd r = {.cmd = PS_CMD_REPLY, .corr = pd->corr, .status = rec->status,
                     .data = rec->data};
        out_put(b, pd->requester, &r);
    }
    pd->answered++;
}

static void wait_news(void *ctx, void *owner, int64_t count, int64_t expected, int64_t gone,
                      int final)
{
    pending_leg(ctx, owner, count, expected, gone, final);
}

static void wait_abandon(void *ctx, void *owner)
{
    pending *pd = owner;
    pd->origin = NULL; /* the peer that asked is gone: nobody is told */
    pending_finish(ctx, pd);
}

static const cl_wait_fns wait_fns = {wait_in, wait_reply, wait_news, wait_abandon};
