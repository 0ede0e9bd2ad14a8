/*
 * cluster.c - the logic of the links between the nodes of a cluster,
 * without any I/O: records in, state and records out.
 *
 * The model is NATS's routes: a full mesh, interest kept per node, and the
 * one-hop rule.  Each node tells every peer which (channel, pattern) its
 * clients want (LINK_INTEREST add and remove, and the whole list again
 * after every HELLO); a message published here crosses the link to a peer
 * only when one of the peer's patterns matches it; a message that came
 * over a link is handed to local subscribers only (link.c calls
 * cl_deliver's function and never forwards what it delivers), so in a
 * full mesh nothing loops and nothing arrives twice.  Each link numbers,
 * per channel, the messages it should carry whether it could or not, so
 * the receiver sees a jump as messages missed.  link.c owns the sockets:
 * it feeds cl_input with decoded records and the clock, calls cl_tick for
 * heartbeats and timeouts, and sends what each peer's out buffer holds.
 * Requests and sync messages cross a link as waits: the asking node
 * numbers each one it forwards (a leg of its waiter), the asked node
 * answers with replies and counts until a final answer, and a link that
 * goes down ends every wait over it at once on both sides (cl_wait, the
 * section "Waits across links").  A queue lives at its home node; a node
 * with consumers of it attaches to the home's queue as one consumer with
 * a bounded window (LINK_QUEUE), and what it held comes back at the home
 * when the attachment or the link ends.
 * The file calls nothing of the broker but topic matching and the log,
 * so tests/unit/test_cluster.c drives it alone.
 */
#include "brokerd.h"
#include "defaults.h"
#include "hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Interest tables ------------------------------------------------------- */

static cl_chan **chan_slot(cl_table *t, const char *name, size_t len)
{
    cl_chan **pp = &t->b[ps__hash(name, len) % CL_BUCKETS];
    while (*pp && !(strlen((*pp)->name) == len && !memcmp((*pp)->name, name, len)))
        pp = &(*pp)->next;
    return pp;
}

/* The channel name of t, created when create is set; NULL when absent
 * (or on ENOMEM). */
static cl_chan *chan_get(cl_table *t, const char *name, size_t len, int create)
{
    cl_chan **pp = chan_slot(t, name, len);
    if (*pp || !create)
        return *pp;
    cl_chan *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strndup(name, len))) {
        free(c);
        return NULL;
    }
    *pp = c;
    t->n_chans++;
    return c;
}

static cl_pat **pat_slot(cl_chan *c, const char *pattern, size_t plen)
{
    cl_pat **pp = &c->pats;
    while (*pp && !((*pp)->plen == plen && !memcmp((*pp)->pattern, pattern, plen)))
        pp = &(*pp)->next;
    return pp;
}

/* Adds a reference to (channel, pattern): 1 when it is new, 0 when it was
 * there, -1 on ENOMEM. */
static int table_add(cl_table *t, const char *chname, size_t clen, const char *pattern,
                     size_t plen)
{
    cl_chan *c = chan_get(t, chname, clen, 1);
    if (!c)
        return -1;
    cl_pat **pp = pat_slot(c, pattern, plen);
    if (*pp) {
        (*pp)->refs++;
        return 0;
    }
    cl_pat *p = calloc(1, sizeof *p);
    if (!p || !(p->pattern = malloc(plen + 1))) {
        free(p);
        return -1;
    }
    memcpy(p->pattern, pattern, plen);
    p->pattern[plen] = '\0';
    p->plen = plen;
    p->refs = 1;
    *pp = p;
    c->n_pats++;
    t->n_pats++;
    return 1;
}

/* Drops a reference (all of them with all set): 1 when the entry went, 0
 * when it stays or was not there. */
static int table_remove(cl_table *t, const char *chname, size_t clen, const char *pattern,
                        size_t plen, int all)
{
    cl_chan *c = chan_get(t, chname, clen, 0);
    if (!c)
        return 0;
    cl_pat **pp = pat_slot(c, pattern, plen), *p = *pp;
    if (!p || (!all && --p->refs > 0))
        return 0;
    *pp = p->next;
    free(p->pattern);
    free(p);
    c->n_pats--;
    t->n_pats--;
    return 1;
}

/* Forgets every pattern of t; with seqs set the channels (and the link's
 * sequence numbers) go too. */
static void table_clear(cl_table *t, int seqs)
{
    for (size_t i = 0; i < CL_BUCKETS; i++) {
        cl_chan **cp = &t->b[i];
        while (*cp) {
            cl_chan *c = *cp;
            while (c->pats) {
                cl_pat *p = c->pats;
                c->pats = p->next;
                free(p->pattern);
                free(p);
            }
            c->n_pats = 0;
            if (!seqs) {
                cp = &c->next;
                continue;
            }
            *cp = c->next;
            free(c->name);
            free(c);
            t->n_chans--;
        }
    }
    t->n_pats = 0;
}

/* True when a pattern of c matches topic ("" matches any). */
static int chan_matches(const cl_chan *c, const ps__slice *topic)
{
    for (const cl_pat *p = c->pats; p; p = p->next)
        if (p->plen == 0 || topic_match(p->pattern, p->plen, topic->ptr, topic->len))
            return 1;
    return 0;
}

/* Declarations ------------------------------------------------------------ */

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const config_channel *const *)a)->name,
                  (*(const config_channel *const *)b)->name);
}

char *cl_decls(const config *c)
{
    size_t n = 0;
    for (const config_channel *cc = c->channels; cc; cc = cc->next)
        n++;
    const config_channel **v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return NULL;
    n = 0;
    for (const config_channel *cc = c->channels; cc; cc = cc->next)
        v[n++] = cc;
    qsort(v, n, sizeof *v, by_name);
    ps__buf b = {0};
    int rc = ps__buf_append(&b, "", 0);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char line[512];
        const config_channel *cc = v[i];
        /* What changes a channel's meaning on the other node; limits
         * (max_queued) may differ between hosts. */
        int len = snprintf(line, sizeof line, "%s %s retain=%d durable=%d slow=%s home=%s\n",
                           cc->name, config_type_name(cc->type), cc->retain, cc->durable,
                           cc->slow == SLOW_BLOCK ? "block" : "drop", cc->home ? cc->home : "-");
        rc = ps__buf_append(&b, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
    }
    free(v);
    if (rc == 0)
        rc = ps__buf_append(&b, "", 1);
    if (rc < 0) {
        ps__buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

/* The line of text (len bytes) that declares name, or NULL. */
static const char *decl_line(const char *text, size_t len, const char *name, size_t nlen,
                             size_t *llen)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l > nlen && p[nlen] == ' ' && !memcmp(p, name, nlen)) {
            *llen = l;
            return p;
        }
        p += l + 1;
    }
    return NULL;
}

/* Adds the names of a's channels whose line b lacks or has otherwise to
 * out (used, cap); skip: names b has too are someone else's to report. */
static void differ_one_way(const char *a, size_t alen, const char *b, size_t blen, char *out,
                           size_t cap, size_t *used, int *count, int only_missing)
{
    const char *p = a, *end = a + alen;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *sp = memchr(p, ' ', l);
        size_t nlen = sp ? (size_t)(sp - p) : l, olen = 0;
        const char *o = nlen ? decl_line(b, blen, p, nlen, &olen) : NULL;
        if (nlen && (only_missing ? !o : (o && (olen != l || memcmp(o, p, l))) || !o)) {
            int w = snprintf(out + *used, cap - *used, "%s%.*s", *count ? ", " : "", (int)nlen, p);
            if (w > 0 && *used + (size_t)w < cap)
                *used += (size_t)w;
            ++*count;
        }
        p += l + 1;
    }
}

int cl_decls_differ(const char *a, size_t alen, const char *b, size_t blen, char *out, size_t cap)
{
    size_t used = 0;
    int count = 0;
    if (cap)
        out[0] = '\0';
    /* Strip the NUL LINK_HELLO may carry at the end. */
    while (alen && a[alen - 1] == '\0')
        alen--;
    while (blen && b[blen - 1] == '\0')
        blen--;
    differ_one_way(a, alen, b, blen, out, cap, &used, &count, 0);
    differ_one_way(b, blen, a, alen, out, cap, &used, &count, 1);
    return count;
}

/* The node ---------------------------------------------------------------- */

#define CL_WAITS_DEFAULT 100000 /* max_waits until the broker sets its max_pending */

static void waits_free_all(cl_node *n);
static void waits_end(cl_node *n, const cl_peer *only, int64_t now_ms);

cl_node *cl_new(const config_cluster *cfg, const char *decls, uint64_t epoch,
                cl_deliver_fn *deliver_fn, void *ctx)
{
    cl_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->cfg = cfg;
    n->epoch = epoch ? epoch : 1;
    n->deliver = deliver_fn;
    n->ctx = ctx;
    n->decls = strdup(decls);
    n->decl_hash = ps__hash(decls, strlen(decls));
    /* The voters in their order: a voter's Raft id is its position, so a
     * list in another order is another group. */
    size_t vlen = 1;
    for (size_t i = 0; cfg->raft && i < cfg->raft->n_voters; i++)
        vlen += strlen(cfg->raft->voters[i]) + 1;
    if ((n->voters = calloc(1, vlen)))
        for (size_t i = 0; cfg->raft && i < cfg->raft->n_voters; i++)
            strcat(strcat(n->voters, i ? "," : ""), cfg->raft->voters[i]);
    n->max_waits = CL_WAITS_DEFAULT;
    n->n_peers = cfg->n_peers;
    n->peers = calloc(n->n_peers ? n->n_peers : 1, sizeof *n->peers);
    if (!n->decls || !n->peers || !n->voters) {
        cl_free(&n);
        return NULL;
    }
    size_t i = 0;
    for (const config_peer *p = cfg->peers; p; p = p->next, i++) {
        n->peers[i].cfg = p;
        n->peers[i].rtt_us = -1;
    }
    return n;
}

void cl_free(cl_node **np)
{
    if (!np || !*np)
        return;
    cl_node *n = *np;
    for (size_t i = 0; n->peers && i < n->n_peers; i++) {
        table_clear(&n->peers[i].remote, 1);
        ps__buf_free(&n->peers[i].out);
    }
    table_clear(&n->local, 1);
    waits_free_all(n);
    free(n->peers);
    free(n->decls);
    free(n->voters);
    free(n);
    *np = NULL;
}

cl_peer *cl_peer_find(cl_node *n, const char *name, size_t len)
{
    for (size_t i = 0; i < n->n_peers; i++)
        if (strlen(n->peers[i].cfg->node) == len && !memcmp(n->peers[i].cfg->node, name, len))
            return &n->peers[i];
    return NULL;
}

const char *cl_state_name(enum link_state s)
{
    switch (s) {
    case LINK_UP: return "up";
    case LINK_DOWN: return "down";
    case LINK_REFUSED: return "refused";
    default: return "connecting";
    }
}

/* Appends a record to p's output, counted.  Control records are written
 * even past link_buffer (they are few and small); the caller bounds
 * messages. */
static void put(cl_peer *p, const ps__cmd *rec)
{
    size_t before = p->out.len;
    if (ps__wire_put(&p->out, rec) == 0)
        p->bytes_out += p->out.len - before;
}

static void put_heartbeat(cl_node *n, cl_peer *p, uint8_t flags, uint64_t echo, int64_t now_us)
{
    ps__cmd hb = {.cmd = PS_CMD_LINK_HEARTBEAT, .flags = flags, .stamp = (uint64_t)now_us,
                  .echo = echo, .epoch = p->hello_ok ? p->epoch_in : 0, .seq = p->iseq_in};
    (void)n;
    put(p, &hb);
}

/* Our HELLO and our whole interest. */
static void put_hello(cl_node *n, cl_peer *p, int64_t now_ms)
{
    ps__cmd h = {.cmd = PS_CMD_LINK_HELLO, .major = PS_WIRE_MAJOR, .minor = PS_WIRE_MINOR,
                 .heartbeat_ms = (uint32_t)n->cfg->heartbeat_ms, .epoch = n->epoch,
                 .hash = n->decl_hash,
                 .text = {n->cfg->name, strlen(n->cfg->name)},
                 .channel = {n->cfg->node, strlen(n->cfg->node)},
                 .data = {n->decls, strlen(n->decls)},
                 .voters = {n->voters, strlen(n->voters)}};
    if (n->cfg->raft) {
        h.flags = PS_WIRE_HELLO_RAFT | (n->raft_group ? PS_WIRE_HELLO_RAFT_GROUP : 0);
        h.topic = (ps__slice){n->cfg->raft->listen, strlen(n->cfg->raft->listen)};
    }
    put(p, &h);
    ps__cmd r = {.cmd = PS_CMD_LINK_INTEREST, .seq = ++p->oseq, .flags = PS_WIRE_INTEREST_RESET};
    put(p, &r);
    p->hello_iseq = r.seq;
    for (size_t i = 0; i < CL_BUCKETS; i++)
        for (const cl_chan *c = n->local.b[i]; c; c = c->next)
            for (const cl_pat *pt = c->pats; pt; pt = pt->next) {
                ps__cmd a = {.cmd = PS_CMD_LINK_INTEREST, .seq = ++p->oseq,
                             .flags = PS_WIRE_INTEREST_ADD, .channel = {c->name, strlen(c->name)},
                             .topic = {pt->pattern, pt->plen}};
                put(p, &a);
            }
    /* Its ack of the last record covers every change made so far. */
    p->want_gen = n->iseq;
    p->want_oseq = p->oseq;
    p->last_hello = now_ms;
    if (n->resync)
        n->resync(n->ctx, p); /* our retained values, for it to keep the newest */
    p->retained_stale = 0;
}

uint64_t cl_interest(cl_node *n, const char *chname, const char *pattern, size_t plen, int add)
{
    size_t clen = strlen(chname);
    int changed = add ? table_add(&n->local, chname, clen, pattern, plen) == 1
                      : table_remove(&n->local, chname, clen, pattern, plen, 0) == 1;
    if (!changed)
        return 0;
    uint64_t gen = ++n->iseq;
    ps__cmd r = {.cmd = PS_CMD_LINK_INTEREST,
                 .flags = add ? PS_WIRE_INTEREST_ADD : PS_WIRE_INTEREST_REMOVE,
                 .channel = {chname, clen}, .topic = {pattern, plen}};
    for (size_t i = 0; i < n->n_peers; i++) {
        cl_peer *p = &n->peers[i];
        if (p->seen_by_peer != n->epoch || p->resync)
            continue; /* it hears all of it after our next HELLO */
        r.seq = ++p->oseq;
        put(p, &r);
        p->want_gen = gen;
        p->want_oseq = r.seq;
    }
    return gen;
}

int cl_interest_acked(const cl_node *n, uint64_t gen)
{
    for (size_t i = 0; i < n->n_peers; i++)
        if (n->peers[i].state == LINK_UP && n->peers[i].gen_acked < gen)
            return 0;
    return 1;
}

static int send_numbered(cl_node *n, cl_peer *p, ps__cmd *m);

int cl_has_interest(cl_node *n, const char *chname, const ps__slice *topic)
{
    size_t clen = strlen(chname);
    for (size_t i = 0; i < n->n_peers; i++) {
        cl_chan *c = chan_get(&n->peers[i].remote, chname, clen, 0);
        if (c && chan_matches(c, topic))
            return 1;
    }
    return 0;
}

void cl_forward(cl_node *n, const char *chname, const ps__slice *topic, const ps__slice *data,
                uint8_t flags)
{
    size_t clen = strlen(chname);
    for (size_t i = 0; i < n->n_peers; i++) {
        cl_peer *p = &n->peers[i];
        cl_chan *c = chan_get(&p->remote, chname, clen, 0);
        if (!c || !chan_matches(c, topic))
            continue;
        /* Numbered whether it goes or not: what it cannot carry is a gap
         * the peer's subscribers hear of. */
        ps__cmd m = {.cmd = PS_CMD_LINK_MSG, .flags = flags, .channel = {chname, clen},
                     .topic = *topic, .data = *data};
        send_numbered(n, p, &m);
    }
}

/* Sends m to p numbered on its channel (carried or not): 0, or -1 when
 * the link is not up or its buffer is full (a drop). */
static int send_numbered(cl_node *n, cl_peer *p, ps__cmd *m)
{
    cl_chan *c = chan_get(&p->remote, m->channel.ptr, m->channel.len, 1);
    if (!c)
        return -1;
    m->seq = ++c->out_seq;
    if (p->state != LINK_UP || p->out.len + ps__wire_size(m) > (size_t)n->cfg->link_buffer) {
        p->drops++;
        return -1;
    }
    put(p, m);
    p->msgs_out++;
    return 0;
}

void cl_send_retained(cl_node *n, const char *chname, const ps__slice *topic,
                      const ps__slice *data, uint64_t hlc, uint8_t flags)
{
    for (size_t i = 0; i < n->n_peers; i++) {
        ps__cmd m = {.cmd = PS_CMD_LINK_RETAINED, .flags = flags | PS_WIRE_LINK_RETAIN,
                     .stamp = hlc, .text = {n->cfg->node, strlen(n->cfg->node)},
                     .channel = {chname, strlen(chname)}, .topic = *topic, .data = *data};
        if (send_numbered(n, &n->peers[i], &m) < 0)
            n->peers[i].retained_stale = 1; /* it gets all of them once it is back */
    }
}

void cl_resync_retained(cl_node *n, cl_peer *p, const char *chname, const ps__slice *topic,
                        const ps__slice *data, uint64_t hlc, const char *origin)
{
    ps__cmd m = {.cmd = PS_CMD_LINK_RETAINED, .flags = PS_WIRE_LINK_RETAIN | PS_WIRE_LINK_RESYNC,
                 .stamp = hlc, .text = {origin, strlen(origin)},
                 .channel = {chname, strlen(chname)}, .topic = *topic, .data = *data};
    /* Before the link is up: HELLO and what follows it go together. */
    cl_chan *c = chan_get(&p->remote, chname, strlen(chname), 1);
    if (!c || p->out.len + ps__wire_size(&m) > (size_t)n->cfg->link_buffer)
        return;
    m.seq = ++c->out_seq;
    put(p, &m);
}

int cl_send_queued(cl_node *n, cl_peer *p, const ps__cmd *pub)
{
    if (p->state != LINK_UP)
        return -1; /* refused at once: not a drop, the publisher hears of it */
    ps__cmd m = {.cmd = PS_CMD_LINK_MSG, .flags = PS_WIRE_LINK_QUEUE, .channel = pub->channel,
                 .topic = pub->topic, .data = pub->data};
    return send_numbered(n, p, &m);
}

/* Queues consumed through another node ------------------------------------ */

/* The slot of chname in v (a peer's qout or qin), or with create a free
 * one (never used, or detached) taken for it; NULL when there is none. */
static cl_queue *queue_slot(cl_queue *v, const char *chname, size_t clen, int create)
{
    cl_queue *free_slot = NULL;
    for (size_t i = 0; i < CL_QUEUES_MAX; i++) {
        if (strlen(v[i].name) == clen && !memcmp(v[i].name, chname, clen))
            return &v[i];
        if (!free_slot && !v[i].window)
            free_slot = &v[i];
    }
    if (!create || !free_slot || clen > PS_WIRE_NAME_MAX)
        return NULL;
    memcpy(free_slot->name, chname, clen);
    free_slot->name[clen] = '\0';
    return free_slot;
}

/* The ATTACH record of attachment q with the given window (0: detach). */
static ps__cmd attach_cmd(const cl_queue *q, uint32_t window)
{
    return (ps__cmd){.cmd = PS_CMD_LINK_QUEUE, .status = PS_WIRE_LQ_ATTACH, .seq = q->gen,
                     .window = window, .channel = {q->name, strlen(q->name)}};
}

static void put_attach(cl_peer *p, const cl_queue *q)
{
    ps__cmd a = attach_cmd(q, q->window);
    put(p, &a);
}

/* What p held of ours and we held of p's is gone (our link was down, p
 * restarted, or p says it was): the broker returns and drops it, and
 * each attachment of ours starts anew. */
static void queue_down(cl_node *n, cl_peer *p)
{
    p->queue_reset = 1;
    for (size_t i = 0; i < CL_QUEUES_MAX; i++)
        p->qin[i].window = 0;
    if (n->queue) {
        char why[8];
        ps__cmd down = {.cmd = PS_CMD_LINK_QUEUE, .status = 0};
        (void)n->queue(n->ctx, p, &down, why, sizeof why);
    }
}

/* The link to p is up (again): after a down it forgets what it held of
 * ours and we of its (RESET, when reset is set), and hears our
 * attachments again, each under a new number (what it delivered under
 * the old one was returned).  p may have attached before this side judged
 * the link up: it took our HELLO first, and its RESET and attachments
 * came before the heartbeat that says so.  Every delivery to such an
 * attachment was refused (cl_queue_deliver sends on an up link only), yet
 * the broker counts what it handed over as p's; so the broker hears the
 * attachment end, which returns that, and begin again, which hands it
 * out over the link now up.  A link that went down forgot every
 * attachment of p (queue_down), so only those early ones are left here. */
static void queue_up(cl_node *n, cl_peer *p, int reset)
{
    if (reset && p->queue_reset) {
        p->queue_reset = 0;
        ps__cmd r = {.cmd = PS_CMD_LINK_QUEUE, .status = PS_WIRE_LQ_RESET};
        put(p, &r);
    }
    for (size_t i = 0; i < CL_QUEUES_MAX; i++)
        if (p->qout[i].window) {
            p->qout[i].gen = ++n->qgen;
            put_attach(p, &p->qout[i]);
        }
    for (size_t i = 0; i < CL_QUEUES_MAX && n->queue; i++) {
        cl_queue *q = &p->qin[i];
        if (!q->window)
            continue;
        char why[PS_WIRE_NAME_MAX + 64];
        ps__cmd detach = attach_cmd(q, 0), again = attach_cmd(q, q->window);
        if (n->queue(n->ctx, p, &detach, why, sizeof why) < 0 ||
            n->queue(n->ctx, p, &again, why, sizeof why) < 0) {
            /* As for a record refused (the queue's home moved meanwhile):
             * the link goes down at the next look, and p attaches anew
             * after our RESET. */
            log_warn("cluster: peer %s sent %s; link dropped until it says HELLO again",
                     p->cfg->node, why);
            q->window = 0;
            p->hello_ok = 0;
            break; /* the others go back when the link goes down */
        }
    }
}

int cl_queue_want(cl_node *n, cl_peer *p, const char *chname, uint32_t window)
{
    size_t clen = strlen(chname);
    cl_queue *q = queue_slot(p->qout, chname, clen, window > 0);
    if (!q)
        return window ? -1 : 0;
    if (window > CL_QUEUE_WINDOW)
        window = CL_QUEUE_WINDOW;
    if (q->window == window)
        return 0;
    if (!q->window)
        q->gen = ++n->qgen; /* a new attachment: what came under an old one is stale */
    q->window = window;
    if (p->state == LINK_UP)
        put_attach(p, q);
    return 0;
}

int cl_queue_deliver(cl_node *n, cl_peer *p, const char *chname, uint64_t tag, uint8_t flags,
                     const ps__slice *topic, const ps__slice *data, uint64_t term)
{
    size_t clen = strlen(chname);
    cl_queue *q = queue_slot(p->qin, chname, clen, 0);
    if (!q || !q->window || p->state != LINK_UP)
        return -1;
    /* Not bounded by link_buffer: the window bounds it, and a message the
     * peer never gets comes back when the link goes down. */
    ps__cmd m = {.cmd = PS_CMD_LINK_QUEUE, .status = PS_WIRE_LQ_DELIVER, .flags = flags,
                 .seq = q->gen, .tag = tag, .channel = {chname, clen}, .topic = *topic,
                 .data = *data, .stamp = term};
    put(p, &m);
    p->msgs_out++;
    (void)n;
    return 0;
}

int cl_queue_publish(cl_node *n, cl_peer *p, const char *chname, uint64_t tag,
                     const ps__slice *topic, const ps__slice *data)
{
    ps__cmd m = {.cmd = PS_CMD_LINK_QUEUE, .status = PS_WIRE_LQ_PUBLISH, .tag = tag,
                 .channel = {chname, strlen(chname)}, .topic = *topic, .data = *data};
    if (p->state != LINK_UP || p->out.len + ps__wire_size(&m) > (size_t)n->cfg->link_buffer)
        return -1; /* refused at once: the publisher hears of it */
    put(p, &m);
    p->msgs_out++;
    return 0;
}

void cl_queue_committed(cl_node *n, cl_peer *p, const char *chname, uint64_t tag, int ok,
                        uint64_t term)
{
    ps__cmd m = {.cmd = PS_CMD_LINK_QUEUE, .status = PS_WIRE_LQ_ANSWER, .tag = tag,
                 .window = ok ? 1 : 0, .channel = {chname, strlen(chname)}, .stamp = term};
    /* Bounded like the messages: a peer that publishes and reads nothing
     * does not grow our output.  Else (that, or the link is down) the
     * sender's wait runs out, and its publisher hears "unavailable". */
    if (p->state == LINK_UP && p->out.len + ps__wire_size(&m) <= (size_t)n->cfg->link_buffer)
        put(p, &m);
}

void cl_queue_answer(cl_node *n, cl_peer *p, const char *chname, uint64_t gen, uint64_t tag,
                     uint8_t op)
{
    size_t clen = strlen(chname);
    cl_queue *q = queue_slot(p->qout, chname, clen, 0);
    if (!q || !q->window || q->gen != gen || p->state != LINK_UP)
        return; /* the home returned it already, or will when it hears of us */
    ps__cmd a = {.cmd = PS_CMD_LINK_QUEUE, .status = op, .seq = gen, .tag = tag,
                 .channel = {chname, clen}};
    put(p, &a);
    (void)n;
}

/* A LINK_QUEUE record from p. */
static int queue_record(cl_node *n, cl_peer *p, const ps__cmd *rec, char *why, size_t cap)
{
    if (!n->queue) {
        snprintf(why, cap, "a queue record, which this node does not take");
        return -1;
    }
    if (rec->status == PS_WIRE_LQ_RESET) {
        queue_down(n, p);
        p->queue_reset = 0; /* it knows */
        if (p->state == LINK_UP)
            queue_up(n, p, 0);
        return 0;
    }
    if (!ps__wire_valid_channel(rec->channel.ptr, rec->channel.len)) {
        snprintf(why, cap, "a queue record with an invalid channel");
        return -1;
    }
    cl_queue *q;
    switch (rec->status) {
    case PS_WIRE_LQ_ATTACH: {
        q = queue_slot(p->qin, rec->channel.ptr, rec->channel.len, rec->window > 0);
        if (!q && rec->window) {
            snprintf(why, cap, "more than %d queues attached", CL_QUEUES_MAX);
            return -1;
        }
        if (!q)
            return 0; /* a detach of what was not attached */
        ps__cmd a = *rec;
        if (q->window && q->gen != rec->seq) {
            /* Attached anew without a detach we heard of: what it held
             * under the old attachment is returned first. */
            a.window = 0;
            q->window = 0;
            if (n->queue(n->ctx, p, &a, why, cap) < 0)
                return -1;
        }
        a.window = rec->window > CL_QUEUE_WINDOW ? CL_QUEUE_WINDOW : rec->window;
        q->gen = rec->seq;
        q->window = a.window;
        return n->queue(n->ctx, p, &a, why, cap);
    }
    case PS_WIRE_LQ_DELIVER:
        q = queue_slot(p->qout, rec->channel.ptr, rec->channel.len, 0);
        if (!q || !q->window || q->gen != rec->seq)
            return 0; /* of an attachment that is over: the home took it back */
        p->msgs_in++;
        return n->queue(n->ctx, p, rec, why, cap);
    case PS_WIRE_LQ_ACK:
    case PS_WIRE_LQ_RETURN:
        q = queue_slot(p->qin, rec->channel.ptr, rec->channel.len, 0);
        if (!q || !q->window || q->gen != rec->seq)
            return 0; /* returned already when that attachment ended */
        return n->queue(n->ctx, p, rec, why, cap);
    case PS_WIRE_LQ_PUBLISH:
        p->msgs_in++;
        return n->queue(n->ctx, p, rec, why, cap);
    case PS_WIRE_LQ_ANSWER:
        return n->queue(n->ctx, p, rec, why, cap);
    default:
        snprintf(why, cap, "a queue record with op %u", rec->status);
        return -1;
    }
}

/* Link state ---------------------------------------------------------------- */

static void set_state(cl_node *n, cl_peer *p, enum link_state s)
{
    if (p->state == s)
        return;
    if (s == LINK_UP)
        log_notice("cluster: link to %s up", p->cfg->node);
    else if (p->state == LINK_UP)
        log_warn("cluster: link to %s down", p->cfg->node);
    int was_up = p->state == LINK_UP;
    p->state = s;
    if (was_up) {
        waits_end(n, p, 0); /* nothing more comes over it for them */
        queue_down(n, p);
    } else if (s == LINK_UP)
        queue_up(n, p, 1);
}

/* True when the peer took our last HELLO and the interest after it. */
static int hello_taken(const cl_node *n, const cl_peer *p)
{
    return !p->resync && p->seen_by_peer == n->epoch && p->iack >= p->hello_iseq;
}

/* Up when both HELLOs were accepted and the peer is heard from. */
static void judge(cl_node *n, cl_peer *p, int64_t now_ms)
{
    int alive = p->last_in && now_ms - p->last_in <= n->cfg->heartbeat_timeout_ms;
    if (p->hello_ok && alive && hello_taken(n, p)) {
        set_state(n, p, LINK_UP);
    } else if (p->state == LINK_UP) {
        /* What it was sent since may be lost: on its return it hears
         * HELLO and all our interest again. */
        p->resync = 1;
        set_state(n, p, LINK_DOWN);
    }
}

void cl_peer_drop(cl_node *n, cl_peer *p, int64_t now_ms)
{
    p->hello_ok = 0;
    p->resync = 1;
    p->out.len = 0;
    if (p->state != LINK_UP)
        queue_down(n, p); /* set_state does it when it was up */
    set_state(n, p, LINK_DOWN);
    p->last_hello = now_ms; /* it may say HELLO again; ours follows at the next tick */
}

static int refuse(cl_peer *p, char *why, size_t cap, const char *fmt, const char *a,
                  const char *b2)
{
    snprintf(why, cap, fmt, a, b2);
    /* Another cluster's node is not this cluster's peer: named after the
     * reason (CLUSTER.md's wording), a peer's before it. */
    if (!p->refusal_logged && !strncmp(fmt, "cluster name", 12))
        log_warn("cluster: peer refused: %s (node %s)", why, p->cfg->node);
    else if (!p->refusal_logged)
        log_warn("cluster: peer %s refused: %s", p->cfg->node, why);
    p->refusal_logged = 1;
    p->state = LINK_REFUSED;
    p->hello_ok = 0;
    return 0;
}

static int hello(cl_node *n, cl_peer *p, const ps__cmd *rec, int64_t now_ms, int64_t now_us,
                 char *why, size_t cap)
{
    char name[PS_WIRE_NAME_MAX + 1], list[256];
    snprintf(name, sizeof name, "%.*s", (int)rec->text.len, rec->text.ptr);
    if (strcmp(name, n->cfg->name) != 0) {
        char q[PS_WIRE_NAME_MAX + 3];
        snprintf(q, sizeof q, "\"%s\"", name);
        return refuse(p, why, cap, "cluster name %s is not \"%s\"", q, n->cfg->name);
    }
    if (rec->major != PS_WIRE_MAJOR)
        return refuse(p, why, cap, "it speaks another protocol version%s%s", "", "");
    if (rec->hash != n->decl_hash &&
        cl_decls_differ(n->decls, strlen(n->decls), rec->data.ptr, rec->data.len, list,
                        sizeof list))
        return refuse(p, why, cap, "channel declarations differ (%s)%s", list, "");
    if (rec->voters.len != strlen(n->voters) ||
        (rec->voters.len && memcmp(rec->voters.ptr, n->voters, rec->voters.len))) {
        char ours[PS_WIRE_TEXT_MAX + 3], theirs[PS_WIRE_TEXT_MAX + 3];
        snprintf(ours, sizeof ours, "[%s]", n->voters);
        snprintf(theirs, sizeof theirs, "[%.*s]", (int)rec->voters.len, rec->voters.ptr);
        return refuse(p, why, cap, "Raft voters differ (%s here, %s there)",
                      *n->voters ? ours : "none", rec->voters.len ? theirs : "none");
    }
    if ((rec->flags & PS_WIRE_HELLO_RAFT) &&
        (rec->topic.len == 0 || rec->topic.len >= sizeof p->raft_addr))
        return refuse(p, why, cap, "its Raft address is %s%s",
                      rec->topic.len ? "too long" : "empty", "");
    p->refusal_logged = 0;
    /* Its Raft address and whether it holds the group: group.c opens the
     * replica once it has heard every voter. */
    snprintf(p->raft_addr, sizeof p->raft_addr, "%.*s", (int)rec->topic.len, rec->topic.ptr);
    p->raft_group = !!(rec->flags & PS_WIRE_HELLO_RAFT_GROUP);
    if (rec->epoch != p->epoch_in) {
        /* A new process: what it wanted and how far its links counted
         * are of the old one. */
        table_clear(&p->remote, 1);
        if (p->epoch_in) {
            waits_end(n, p, 0); /* the old process will not answer */
            queue_down(n, p);   /* what it held of ours and we of its: the link goes down
                                 * until it took our HELLO, and we attach anew */
        }
        p->epoch_in = rec->epoch;
        p->iseq_in = 0;
    }
    p->hello_ok = 1;
    if (p->state == LINK_REFUSED)
        p->state = LINK_CONNECTING;
    /* Tell it at once that its HELLO was taken, without waiting a beat. */
    put_heartbeat(n, p, PS_WIRE_LINK_ECHO, 0, now_us);
    p->last_hb = now_ms;
    return 0;
}

static int interest(cl_node *n, cl_peer *p, const ps__cmd *rec, char *why, size_t cap)
{
    p->ack_due = 1;
    if (rec->flags == PS_WIRE_INTEREST_RESET) {
        table_clear(&p->remote, 0);
        p->iseq_in = rec->seq;
        return 0;
    }
    if (rec->seq != p->iseq_in + 1) {
        /* A record was lost (a reconnection under the link): the list
         * cannot be trusted; our heartbeat asks for HELLO and all of it. */
        p->hello_ok = 0;
        return 0;
    }
    p->iseq_in = rec->seq;
    if (!ps__wire_valid_channel(rec->channel.ptr, rec->channel.len) ||
        (rec->topic.len && !topic_valid_pattern(rec->topic.ptr, rec->topic.len))) {
        snprintf(why, cap, "an invalid channel or pattern in its interest");
        return -1;
    }
    if (rec->flags == PS_WIRE_INTEREST_ADD) {
        if ((long)p->remote.n_pats >= n->cfg->max_interest) {
            snprintf(why, cap, "more than max_interest %ld interest entries", n->cfg->max_interest);
            return -1;
        }
        if (table_add(&p->remote, rec->channel.ptr, rec->channel.len, rec->topic.ptr,
                      rec->topic.len) < 0) {
            snprintf(why, cap, "out of memory");
            return -1;
        }
        return 0;
    }
    if (rec->flags == PS_WIRE_INTEREST_REMOVE) {
        table_remove(&p->remote, rec->channel.ptr, rec->channel.len, rec->topic.ptr,
                     rec->topic.len, 1);
        return 0;
    }
    snprintf(why, cap, "an interest record with op %u", rec->flags);
    return -1;
}

/* Takes rec's link seq on its channel: 0 when it was seen already, else
 * 1 with *missed the messages the link lost before it.  Numbers are per
 * channel on the link; a channel not seen before on this link, or from a
 * new process, starts where it stands. */
static int take_seq(cl_peer *p, const ps__cmd *rec, uint64_t *missed)
{
    cl_chan *c = chan_get(&p->remote, rec->channel.ptr, rec->channel.len, 1);
    *missed = 0;
    if (c) {
        if (c->in_seq && rec->seq <= c->in_seq)
            return 0;
        if (c->in_seq)
            *missed = rec->seq - c->in_seq - 1;
        c->in_seq = rec->seq;
    }
    return 1;
}

static int wait_in(cl_node *n, cl_peer *p, const ps__cmd *rec, int64_t now_ms, char *why,
                   size_t cap);
static void wait_answer(cl_node *n, cl_peer *p, const ps__cmd *rec);

static int message(cl_node *n, cl_peer *p, const ps__cmd *rec, char *why, size_t cap)
{
    if (!ps__wire_valid_channel(rec->channel.ptr, rec->channel.len) || rec->seq == 0) {
        snprintf(why, cap, "a message with an invalid channel or sequence number");
        return -1;
    }
    uint64_t missed;
    if (!take_seq(p, rec, &missed))
        return 0; /* seen already: never twice */
    p->msgs_in++;
    p->gaps += missed;
    n->deliver(n->ctx, rec, missed);
    return 0;
}

int cl_input(cl_node *n, cl_peer *p, const ps__cmd *rec, int64_t now_ms, int64_t now_us,
             char *why, size_t cap)
{
    int rc = 0;
    p->bytes_in += ps__wire_size(rec);
    switch (rec->cmd) {
    case PS_CMD_LINK_HELLO:
        rc = hello(n, p, rec, now_ms, now_us, why, cap);
        break;
    case PS_CMD_LINK_HEARTBEAT:
        if (rec->echo && rec->echo <= (uint64_t)now_us)
            p->rtt_us = now_us - (int64_t)rec->echo;
        if (rec->epoch != n->epoch && p->seen_by_peer == n->epoch)
            p->last_hello = 0; /* it forgot us (restarted): HELLO at the next tick */
        p->seen_by_peer = rec->epoch;
        if (rec->epoch == n->epoch && rec->seq > p->iack)
            p->iack = rec->seq;
        if (p->iack >= p->want_oseq)
            p->gen_acked = p->want_gen;
        if (rec->flags & PS_WIRE_LINK_ECHO)
            put_heartbeat(n, p, 0, rec->stamp, now_us);
        break;
    case PS_CMD_LINK_INTEREST:
        if (p->hello_ok)
            rc = interest(n, p, rec, why, cap);
        break;
    case PS_CMD_LINK_MSG:
    case PS_CMD_LINK_RETAINED:
        if (p->hello_ok)
            rc = message(n, p, rec, why, cap);
        break;
    case PS_CMD_LINK_REQUEST:
    case PS_CMD_LINK_SYNC:
        if (p->hello_ok)
            rc = wait_in(n, p, rec, now_ms, why, cap);
        break;
    case PS_CMD_LINK_REPLY:
    case PS_CMD_LINK_ANSWER:
        if (p->hello_ok)
            wait_answer(n, p, rec);
        break;
    case PS_CMD_LINK_QUEUE:
        if (p->hello_ok)
            rc = queue_record(n, p, rec, why, cap);
        break;
    default:
        snprintf(why, cap, "a %s record, which is not for links", ps__wire_cmd_name(rec->cmd));
        rc = -1;
    }
    if (p->state != LINK_REFUSED)
        p->last_in = now_ms;
    judge(n, p, now_ms);
    return rc;
}

void cl_frame_done(cl_node *n, cl_peer *p, int64_t now_us)
{
    if (p->ack_due && p->hello_ok)
        put_heartbeat(n, p, 0, 0, now_us);
    p->ack_due = 0;
}

/* How often HELLO is said until the peer took it: often enough that the
 * mesh is complete soon after the last node started, whatever
 * heartbeat_ms is; a HELLO nobody takes is dropped at the next tick. */
static long hello_every(const cl_node *n)
{
    return n->cfg->heartbeat_ms < CL_HELLO_MS ? n->cfg->heartbeat_ms : CL_HELLO_MS;
}

long cl_tick(cl_node *n, int64_t now_ms, int64_t now_us)
{
    long next = n->cfg->heartbeat_ms;
    waits_end(n, NULL, now_ms);
    for (size_t i = 0; i < n->n_peers; i++) {
        cl_peer *p = &n->peers[i];
        judge(n, p, now_ms);
        if (p->state != LINK_UP &&
            (!p->last_in || now_ms - p->last_in > n->cfg->heartbeat_timeout_ms))
            p->out.len = 0; /* nobody takes it: keep only what the next HELLO needs */
        if (!hello_taken(n, p) &&
            (!p->last_hello || now_ms - p->last_hello >= hello_every(n))) {
            put_hello(n, p, now_ms);
            p->resync = 0;
        }
        if (p->state == LINK_UP && p->retained_stale && n->resync) {
            /* A retained value it could not have: all of them again (the
             * HELLO it took may be older than the value). */
            n->resync(n->ctx, p);
            p->retained_stale = 0;
        }
        if (now_ms - p->last_hb >= n->cfg->heartbeat_ms) {
            put_heartbeat(n, p, PS_WIRE_LINK_ECHO, 0, now_us);
            p->last_hb = now_ms;
        }
        long due = (long)(p->last_hb + n->cfg->heartbeat_ms - now_ms);
        if (n->n_waits && due > n->cfg->heartbeat_ms / 2)
            due = n->cfg->heartbeat_ms / 2; /* waits past their time are given up soon */
        if (!hello_taken(n, p) && hello_every(n) < due)
            due = hello_every(n); /* a node that just started is met soon */
        if (due < next)
            next = due < 1 ? 1 : due;
    }
    return next;
}

/* Waits across links -------------------------------------------------------
 * A request or sync message made here goes to each peer whose interest
 * matches it as a leg of the broker's waiter (its owner): the peer answers
 * with LINK_REPLY (requests) and LINK_ANSWERs, cumulative counts of which
 * the owner is told the changes (news), the last one FINAL.  A peer that
 * asks us gets a cl_wait of its own (in) that the broker answers through
 * cl_reply and cl_answer.  Both kinds are bounded per link and direction
 * by max_waits and given up a heartbeat timeout after their deadline;
 * a link that goes down ends them at once. */

static cl_wait **wait_slot(cl_node *n, const cl_peer *p, uint64_t id, int in)
{
    cl_wait **pp = &n->wait_b[id % CL_WAIT_BUCKETS];
    while (*pp && !((*pp)->id == id && (*pp)->peer == p && (*pp)->in == in))
        pp = &(*pp)->next;
    return pp;
}

/* A new wait with p, counted; NULL on ENOMEM. */
static cl_wait *wait_add(cl_node *n, cl_peer *p, uint64_t id, int in, int request,
                         int64_t deadline)
{
    cl_wait *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->id = id;
    w->peer = p;
    w->in = in;
    w->request = request;
    w->deadline = deadline;
    cl_wait **pp = &n->wait_b[id % CL_WAIT_BUCKETS];
    w->next = *pp;
    *pp = w;
    n->n_waits++;
    if (in)
        p->n_waits_in++;
    else
        p->n_waits_out++;
    return w;
}

static void wait_free(cl_node *n, cl_wait *w)
{
    cl_wait **pp = wait_slot(n, w->peer, w->id, w->in);
    if (*pp == w)
        *pp = w->next;
    n->n_waits--;
    if (w->in)
        w->peer->n_waits_in--;
    else
        w->peer->n_waits_out--;
    free(w);
}

static void waits_free_all(cl_node *n)
{
    for (size_t i = 0; i < CL_WAIT_BUCKETS; i++)
        while (n->wait_b[i])
            wait_free(n, n->wait_b[i]);
}

cl_wait *cl_forward_wait(cl_node *n, void *owner, int request, const char *chname,
                         const ps__slice *topic, const ps__slice *data, uint32_t timeout_ms,
                         int64_t now_ms, uint32_t *legs, uint32_t *lost)
{
    size_t clen = strlen(chname);
    cl_wait *first = NULL;
    *legs = *lost = 0;
    for (size_t i = 0; i < n->n_peers; i++) {
        cl_peer *p = &n->peers[i];
        cl_chan *c = chan_get(&p->remote, chname, clen, 0);
        if (!c || !chan_matches(c, topic) || (request && p->state != LINK_UP))
            continue; /* a request goes where a responder can hear it now */
        cl_wait *w = NULL;
        if (n->waits && p->state == LINK_UP && (long)p->n_waits_out < n->max_waits)
            w = wait_add(n, p, ++n->wait_id, 0, request, now_ms + timeout_ms);
        ps__cmd m = {.cmd = request ? PS_CMD_LINK_REQUEST : PS_CMD_LINK_SYNC,
                     .tag = w ? w->id : 0, .timeout_ms = timeout_ms,
                     .channel = {chname, clen}, .topic = *topic, .data = *data};
        if (request) {
            if (!w || p->out.len + ps__wire_size(&m) > (size_t)n->cfg->link_buffer) {
                p->drops++;
                if (w)
                    wait_free(n, w);
                ++*lost; /* a responder there counts as gone */
                continue;
            }
            put(p, &m);
            p->msgs_out++;
        } else {
            if (!w)
                m.cmd = PS_CMD_LINK_MSG; /* delivered without receipts, if at all */
            if (send_numbered(n, p, &m) < 0 || !w) {
                if (w)
                    wait_free(n, w);
                ++*lost; /* one receiver there, unconfirmed */
                continue;
            }
        }
        w->owner = owner;
        w->expected = 1; /* until it says how many */
        w->sibling = first;
        first = w;
        ++*legs;
    }
    return first;
}

void cl_forget_waits(cl_node *n, cl_wait *first)
{
    for (cl_wait *w = first, *nx; w; w = nx) {
        nx = w->sibling;
        wait_free(n, w);
    }
}

void cl_reply(cl_node *n, cl_wait *w, uint8_t status, const ps__slice *data)
{
    cl_peer *p = w->peer;
    ps__cmd r = {.cmd = PS_CMD_LINK_REPLY, .tag = w->id, .status = status, .data = *data};
    if (p->state != LINK_UP || p->out.len + ps__wire_size(&r) > (size_t)n->cfg->link_buffer) {
        p->drops++;
        return;
    }
    put(p, &r);
}

void cl_answer(cl_node *n, cl_wait *w, uint32_t count, uint32_t expected, uint32_t gone,
               int final)
{
    ps__cmd a = {.cmd = PS_CMD_LINK_ANSWER, .tag = w->id,
                 .flags = final ? PS_WIRE_ANSWER_FINAL : 0, .count = count,
                 .expected = expected, .gone = gone};
    put(w->peer, &a);
    if (final)
        wait_free(n, w);
}

/* A LINK_REQUEST or LINK_SYNC from p: handed to the broker as a wait of
 * its own, or, past max_waits, answered at once (a sync message is still
 * delivered, without receipts). */
static int wait_in(cl_node *n, cl_peer *p, const ps__cmd *rec, int64_t now_ms, char *why,
                   size_t cap)
{
    int request = rec->cmd == PS_CMD_LINK_REQUEST;
    if (!ps__wire_valid_channel(rec->channel.ptr, rec->channel.len) || rec->tag == 0 ||
        (!request && rec->seq == 0)) {
        snprintf(why, cap, "a %s with an invalid channel, wait id or sequence number",
                 ps__wire_cmd_name(rec->cmd));
        return -1;
    }
    uint64_t missed = 0;
    if (!request && !take_seq(p, rec, &missed))
        return 0; /* seen already: never twice */
    p->msgs_in++;
    p->gaps += missed;
    cl_wait *w = NULL;
    if (n->waits && (long)p->n_waits_in < n->max_waits && !*wait_slot(n, p, rec->tag, 1))
        w = wait_add(n, p, rec->tag, 1, request,
                     now_ms + (rec->timeout_ms ? rec->timeout_ms : PS_DEFAULT_WAIT_MS));
    if (!w) {
        /* One responder gone, or one receiver unconfirmed: never counted
         * as fewer than there may be. */
        if (!request)
            n->deliver(n->ctx, rec, missed);
        ps__cmd a = {.cmd = PS_CMD_LINK_ANSWER, .tag = rec->tag, .flags = PS_WIRE_ANSWER_FINAL,
                     .expected = 1, .gone = (uint32_t)request};
        put(p, &a);
        return 0;
    }
    n->waits->in(n->ctx, w, rec, missed);
    return 0;
}

/* A LINK_REPLY or LINK_ANSWER from p for one of our legs; one for a wait
 * that is over (or never was) is ignored. */
static void wait_answer(cl_node *n, cl_peer *p, const ps__cmd *rec)
{
    cl_wait *w = *wait_slot(n, p, rec->tag, 0);
    if (!w || w->done || !n->waits)
        return;
    if (rec->cmd == PS_CMD_LINK_REPLY) {
        if (w->request) {
            w->count++;
            n->waits->reply(n->ctx, w->owner, rec);
        }
        return;
    }
    /* A request's replies are counted as they come; a sync message's
     * receipts as the peer counts them. */
    int64_t dc = w->request ? 0 : (int64_t)rec->count - w->count;
    int64_t de = (int64_t)rec->expected - w->expected, dg = (int64_t)rec->gone - w->gone;
    if (!w->request)
        w->count = rec->count;
    w->expected = rec->expected;
    w->gone = rec->gone;
    int final = (rec->flags & PS_WIRE_ANSWER_FINAL) != 0;
    w->done = final;
    n->waits->news(n->ctx, w->owner, dc, de, dg, final); /* may forget w */
}

/* Our leg w will hear nothing more: its peer's receivers stay expected
 * (at least one) and unconfirmed, its responders that did not reply are
 * gone. */
static void leg_lost(cl_node *n, cl_wait *w)
{
    uint32_t expected = w->expected ? w->expected : 1;
    int64_t de = (int64_t)expected - w->expected, dg = 0;
    if (w->request && (int64_t)expected > (int64_t)w->count + w->gone)
        dg = (int64_t)expected - w->count - w->gone;
    w->done = 1;
    w->expected = expected;
    n->waits->news(n->ctx, w->owner, 0, de, dg, 1);
}

/* Ends the waits with peer only (all of them: its link is gone), or,
 * only NULL, those a heartbeat timeout past their deadline.  The broker's
 * callbacks may forget other waits: the ones to end are noted first and
 * looked up again one by one. */
static void waits_end(cl_node *n, const cl_peer *only, int64_t now_ms)
{
    if (!n->n_waits || !n->waits)
        return;
    struct key {
        uint64_t id;  /* the wait's id */
        cl_peer *p;   /* its peer */
        int in;       /* its direction */
    } *k = NULL;
    size_t m = 0;
    for (size_t i = 0; i < CL_WAIT_BUCKETS; i++)
        for (cl_wait *w = n->wait_b[i]; w; w = w->next) {
            if ((!w->in && w->done) ||
                (only ? w->peer != only : now_ms <= w->deadline + n->cfg->heartbeat_timeout_ms))
                continue;
            if (!k && !(k = malloc(n->n_waits * sizeof *k)))
                return; /* out of memory: at the next tick */
            k[m++] = (struct key){w->id, w->peer, w->in};
        }
    for (size_t i = 0; i < m; i++) {
        cl_wait *w = *wait_slot(n, k[i].p, k[i].id, k[i].in);
        if (!w || (!w->in && w->done))
            continue;
        if (w->in) {
            void *owner = w->owner;
            wait_free(n, w);
            n->waits->abandon(n->ctx, owner);
        } else {
            leg_lost(n, w);
        }
    }
    free(k);
}
