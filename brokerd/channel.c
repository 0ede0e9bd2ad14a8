/*
 * channel.c - channels, subscriptions and what travels through them:
 * fan-out on broadcast and pubsub channels, retained values, sync
 * receipts, requests and their replies.  Queue storage and dispatch are
 * in queue.c.
 *
 * Every accepted message gets the channel's next sequence number; with
 * the broker id and epoch it is the message's identity.  Deliveries on
 * broadcast and pubsub channels are bounded by the receiver's output
 * buffer (client_buffer): a delivery that does not fit is dropped and
 * counted on the subscription, and the receiver is told by a GAP record
 * before its next delivery on that channel.  Receipts and replies the
 * broker waits for are "tickets", found by the tag sent in DELIVER; a
 * sync publish or request waiting for them is a "pending" with a
 * deadline.
 */
#include "brokerd.h"
#include "defaults.h"
#include "hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Names ------------------------------------------------------------------ */

static size_t name_hash(const char *s, size_t len)
{
    return ps__hash(s, len) % BROKER_HASH;
}

channel *chan_find(broker *b, const char *name, size_t len)
{
    for (channel *ch = b->hchannels[name_hash(name, len)]; ch; ch = ch->hnext)
        if (strlen(ch->name) == len && memcmp(ch->name, name, len) == 0)
            return ch;
    return NULL;
}

channel *chan_create(broker *b, const char *name, size_t len, const config_channel *cc)
{
    channel *ch = calloc(1, sizeof *ch);
    if (!ch || !(ch->name = strndup(name, len))) {
        free(ch);
        return NULL;
    }
    ch->type = cc ? cc->type : CHAN_PUBSUB;
    ch->declared = cc != NULL;
    ch->retain = cc ? cc->retain : 1;
    ch->durable = cc ? cc->durable : 0;
    ch->max_queued = cc ? cc->max_queued : 100000;
    ch->slow = cc ? cc->slow : SLOW_DROP;
    ch->overflow = cc ? cc->overflow : OVERFLOW_REFUSE;
    size_t h = name_hash(name, len);
    ch->hnext = b->hchannels[h];
    b->hchannels[h] = ch;
    ch->next = b->channels;
    b->channels = ch;
    b->n_channels++;
    log_info("channel '%s' created (%s%s)", ch->name, config_type_name(ch->type),
             cc ? "" : ", on first use");
    return ch;
}

int chan_apply_config(broker *b)
{
    int failed = 0;
    for (const config_channel *cc = b->cfg->channels; cc; cc = cc->next) {
        channel *ch = chan_find(b, cc->name, strlen(cc->name));
        if (!ch) {
            ch = chan_create(b, cc->name, strlen(cc->name), cc);
            if (!ch) {
                log_err("channel '%s': out of memory", cc->name);
                failed++;
                continue;
            }
        } else if (ch->type != cc->type) {
            log_warn("channel '%s' stays a %s channel until the broker restarts", ch->name,
                     config_type_name(ch->type));
            continue;
        }
        ch->declared = 1;
        ch->retain = cc->retain;
        ch->max_queued = cc->max_queued;
        ch->slow = cc->slow;
        ch->overflow = cc->overflow;
        if (ch->type != CHAN_QUEUE)
            continue;
        if (cc->durable && !ch->store) {
            /* A queue that becomes durable keeps what it holds in memory;
             * from now on its messages are written too. */
            ch->store = store_open(b, ch, b->cfg->fsync_always);
            if (!ch->store)
                failed++;
        } else if (!cc->durable && ch->store) {
            log_warn("channel '%s' stays durable until the broker restarts", ch->name);
        }
        ch->durable = ch->store != NULL;
    }
    return failed ? -1 : 0;
}

/*
 * The channel called name, created on first use if allowed.  Returns it,
 * or NULL with a PS_WERR_* code in *code and the reason in why[cap]; the
 * caller tells whoever asked.
 */
static channel *chan_resolve(broker *b, const ps__slice *name, int create, uint16_t *code,
                             char *why, size_t cap)
{
    if (!ps__wire_valid_channel(name->ptr, name->len)) {
        *code = PS_WERR_INVALID;
        snprintf(why, cap, "invalid channel name (1 to 255 of A-Z a-z 0-9 _ . -)");
        return NULL;
    }
    channel *ch = chan_find(b, name->ptr, name->len);
    if (!ch && create && b->cfg->auto_create == AUTO_PUBSUB)
        ch = chan_create(b, name->ptr, name->len, NULL);
    if (!ch) {
        *code = PS_WERR_NOCHANNEL;
        snprintf(why, cap, "unknown channel '%.*s'", (int)name->len, name->ptr);
    }
    return ch;
}

/* No right needed (chan_lookup). */
#define NO_VERB (-1)

/*
 * The channel a command names, created on first use if allowed.  The
 * client needs the right verb on it, or queue_verb when it is a queue
 * (NO_VERB: none); a channel not created yet is judged as the pubsub
 * channel it would be, before it exists.  Sends the ERROR and returns
 * NULL when there is none or the client may not.
 */
static channel *chan_lookup(broker *b, client *c, uint64_t corr, const ps__slice *name, int create,
                            int verb, int queue_verb)
{
    char why[PS_WIRE_NAME_MAX + 64];
    uint16_t code = 0;
    channel *ch = chan_resolve(b, name, 0, &code, why, sizeof why);
    if (!ch && code == PS_WERR_INVALID) {
        loop_error(b, c, corr, code, "%s", why);
        return NULL;
    }
    if (ch && ch->type == CHAN_QUEUE)
        verb = queue_verb;
    if (verb != NO_VERB && !auth_check(b, c, corr, (enum verb)verb, ch, name->ptr, name->len))
        return NULL;
    if (!ch && create)
        ch = chan_resolve(b, name, 1, &code, why, sizeof why);
    if (!ch)
        loop_error(b, c, corr, code, "%s", why);
    return ch;
}

/* Tickets ---------------------------------------------------------------- */

ticket *ticket_new(broker *b, int kind, client *c, pending *pd)
{
    ticket *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->tag = ++b->next_tag;
    t->kind = kind;
    t->cl = c;
    t->pd = pd;
    size_t h = t->tag % BROKER_HASH;
    t->hnext = b->htickets[h];
    b->htickets[h] = t;
    t->cl_next = c->tickets;
    if (c->tickets)
        c->tickets->cl_prev = t;
    c->tickets = t;
    if (pd) {
        t->pd_next = pd->tickets;
        if (pd->tickets)
            pd->tickets->pd_prev = t;
        pd->tickets = t;
        pd->n_tickets++;
    }
    return t;
}

ticket *ticket_find(broker *b, uint64_t tag)
{
    for (ticket *t = b->htickets[tag % BROKER_HASH]; t; t = t->hnext)
        if (t->tag == tag)
            return t;
    return NULL;
}

void ticket_free(broker *b, ticket *t)
{
    ticket **pp = &b->htickets[t->tag % BROKER_HASH];
    while (*pp && *pp != t)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = t->hnext;
    if (t->cl_prev)
        t->cl_prev->cl_next = t->cl_next;
    else
        t->cl->tickets = t->cl_next;
    if (t->cl_next)
        t->cl_next->cl_prev = t->cl_prev;
    if (t->pd) {
        if (t->pd_prev)
            t->pd_prev->pd_next = t->pd_next;
        else
            t->pd->tickets = t->pd_next;
        if (t->pd_next)
            t->pd_next->pd_prev = t->pd_prev;
        t->pd->n_tickets--;
    }
    free(t);
}

/* Waiters ---------------------------------------------------------------- */

static pending *pending_new(broker *b, client *c, uint64_t corr, int is_request, uint32_t timeout_ms)
{
    pending *pd = calloc(1, sizeof *pd);
    if (!pd)
        return NULL;
    pd->is_request = is_request;
    pd->requester = c;
    pd->corr = corr;
    pd->deadline = b->now + (timeout_ms ? timeout_ms : PS_DEFAULT_WAIT_MS);
    if (!b->pendings || pd->deadline < b->pend_min)
        b->pend_min = pd->deadline;
    pd->next = b->pendings;
    if (b->pendings)
        b->pendings->prev = pd;
    b->pendings = pd;
    return pd;
}

void pending_finish(broker *b, pending *pd)
{
    if (pd->requester) {
        ps__cmd r = {.cmd = pd->is_request ? PS_CMD_DONE : PS_CMD_RESULT,
                     .corr = pd->corr,
                     .count = pd->answered,
                     .expected = pd->expected};
        loop_put(b, pd->requester, &r);
    }
    while (pd->tickets)
        ticket_free(b, pd->tickets);
    if (pd->qm)
        pd->qm->sync = NULL;
    if (pd->prev)
        pd->prev->next = pd->next;
    else
        b->pendings = pd->next;
    if (pd->next)
        pd->next->prev = pd->prev;
    free(pd);
}

/* Finishes a receipt or request waiter once nothing more can come. */
static void pending_check(broker *b, pending *pd)
{
    if (!pd->qm && pd->n_tickets == 0)
        pending_finish(b, pd);
}

long chan_timers(broker *b)
{
    if (!b->pendings)
        return -1;
    /* pend_min is a lower bound (waiters that finished early may have set
     * it): scan the list only when it is due. */
    if (b->now < b->pend_min)
        return (long)(b->pend_min - b->now);
    long next = -1;
    pending *nx;
    for (pending *pd = b->pendings; pd; pd = nx) {
        nx = pd->next;
        if (pd->deadline <= b->now) {
            pending_finish(b, pd);
            continue;
        }
        long left = (long)(pd->deadline - b->now);
        if (next < 0 || left < next)
            next = left;
    }
    if (next >= 0)
        b->pend_min = b->now + next;
    return next;
}

/* Deliveries ------------------------------------------------------------- */

/*
 * Writes DELIVER to the subscription's client, preceded by a GAP when
 * deliveries were dropped before.  A droppable delivery that would push
 * the client's output past client_buffer is dropped and counted.
 * Returns 1 when written, 0 when dropped.
 */
static int deliver(broker *b, sub *s, uint8_t flags, uint64_t seq, uint64_t tag,
                   ps__slice topic, ps__slice data, int droppable)
{
    client *c = s->cl;
    channel *ch = s->ch;
    ps__cmd d = {.cmd = PS_CMD_DELIVER, .flags = flags, .seq = seq, .tag = tag,
                 .topic = topic, .data = data};
    d.channel.ptr = ch->name;
    d.channel.len = strlen(ch->name);
    size_t need = ps__wire_size(&d) + (s->gap ? PS_WIRE_RECORD_OVERHEAD + d.channel.len : 0);
    /* On a "block" channel nothing is dropped: the loop stops reading
     * publishers while such a receiver is over its bound (loop.c). */
    if (droppable && ch->slow == SLOW_DROP &&
        c->pending_bytes + need > (size_t)b->cfg->client_buffer) {
        s->gap++;
        s->dropped++;
        ch->dropped++;
        b->dropped++;
        return 0;
    }
    if (s->gap) {
        ps__cmd g = {.cmd = PS_CMD_GAP, .channel = d.channel, .dropped = s->gap};
        loop_put(b, c, &g);
        s->gap = 0;
    }
    loop_put(b, c, &d);
    b->messages_out++;
    return 1;
}

int chan_deliver_queued(broker *b, sub *s, qmsg *qm, uint64_t tag)
{
    ps__slice topic = {qm->topic, qm->tlen}, data = {(const char *)qm->data, qm->len};
    uint8_t flags = PS_WIRE_QUEUED | (qm->redelivered ? PS_WIRE_REDELIVERED : 0);
    return deliver(b, s, flags, qm->seq, tag, topic, data, 0);
}

/* Retained values -------------------------------------------------------- */

static retained **retained_slot(channel *ch, const ps__slice *topic)
{
    retained **pp = &ch->ret;
    while (*pp && !((*pp)->tlen == topic->len && memcmp((*pp)->topic, topic->ptr, topic->len) == 0))
        pp = &(*pp)->next;
    return pp;
}

/* Stores or clears the topic's retained value; -1 after an ERROR. */
static int retained_set(broker *b, client *c, channel *ch, const ps__cmd *cmd, uint64_t seq)
{
    retained **pp = retained_slot(ch, &cmd->topic), *r = *pp;
    if (cmd->data.len == 0) {
        if (r) {
            *pp = r->next;
            free(r->topic);
            free(r->data);
            free(r);
            ch->n_retained--;
        }
        return 0;
    }
    if (!r) {
        if ((long)ch->n_retained >= b->cfg->max_retained) {
            loop_error(b, c, cmd->corr, PS_WERR_LIMIT,
                       "channel '%s' holds max_retained %ld retained topics", ch->name,
                       b->cfg->max_retained);
            return -1;
        }
        r = calloc(1, sizeof *r);
        if (!r || !(r->topic = strndup(cmd->topic.ptr, cmd->topic.len))) {
            free(r);
            loop_error(b, c, cmd->corr, PS_WERR_LIMIT, "out of memory");
            return -1;
        }
        r->tlen = cmd->topic.len;
        r->next = ch->ret;
        ch->ret = r;
        ch->n_retained++;
    }
    uint8_t *data = malloc(cmd->data.len);
    if (!data) {
        loop_error(b, c, cmd->corr, PS_WERR_LIMIT, "out of memory");
        return -1;
    }
    memcpy(data, cmd->data.ptr, cmd->data.len);
    free(r->data);
    r->data = data;
    r->len = cmd->data.len;
    r->seq = seq;
    return 0;
}

/* Publishing ------------------------------------------------------------- */

/* What is wrong with a message: 0, or a PS_WERR_* code with the reason in why[cap]. */
static uint16_t message_fault(const broker *b, const ps__slice *topic, size_t len, char *why,
                              size_t cap)
{
    if ((long)len > b->cfg->max_message_size) {
        snprintf(why, cap, "message of %zu bytes exceeds max_message_size %ld", len,
                 b->cfg->max_message_size);
        return PS_WERR_TOOLARGE;
    }
    if (!topic_valid_name(topic->ptr, topic->len)) {
        snprintf(why, cap, "invalid topic (no '+', '#' or NUL)");
        return PS_WERR_INVALID;
    }
    return 0;
}

/* Checks what every message must satisfy; -1 after an ERROR. */
static int check_message(broker *b, client *c, const ps__cmd *cmd)
{
    char why[128];
    uint16_t code = message_fault(b, &cmd->topic, cmd->data.len, why, sizeof why);
    if (code) {
        loop_error(b, c, cmd->corr, code, "%s", why);
        return -1;
    }
    return 0;
}

/*
 * Hands an accepted broadcast or pubsub message to every receiver
 * attached (pubsub: whose pattern matches), once per client, and pubsub
 * messages to the gateway.  With pd (a sync publish) each receiver gets a
 * receipt ticket; pd is finished here when nobody can answer.
 */
static void fan_out(broker *b, channel *ch, uint64_t seq, const ps__slice *topic,
                    const ps__slice *data, pending *pd)
{
    uint64_t stamp = ++b->next_stamp;
    for (sub *s = ch->subs_head; s; s = s->ch_next) {
        if (s->cl->stamp == stamp || s->cl->dead || s->requests_only)
            continue; /* one delivery per client, and only to receivers */
        if (ch->type == CHAN_PUBSUB && !topic_match(s->pattern, s->plen, topic->ptr, topic->len))
            continue;
        s->cl->stamp = stamp;
        if (!pd) {
            deliver(b, s, 0, seq, 0, *topic, *data, 1);
            continue;
        }
        /* Receivers a sync message was meant for count even if dropped. */
        pd->expected++;
        ticket *t = ticket_new(b, TICKET_RECEIPT, s->cl, pd);
        if (!t)
            continue;
        if (!deliver(b, s, PS_WIRE_RECEIPT, seq, t->tag, *topic, *data, 1))
            ticket_free(b, t);
    }
    if (ch->type == CHAN_PUBSUB && b->gw)
        gateway_forward(b, ch, topic, data);
    if (pd)
        pending_check(b, pd); /* nobody (or nobody reachable): RESULT at once */
}

int chan_publish(broker *b, client *c, const ps__cmd *cmd)
{
    channel *ch = chan_lookup(b, c, cmd->corr, &cmd->channel, 1, VERB_PUBLISH, VERB_SEND);
    if (!ch || check_message(b, c, cmd) < 0)
        return 0;
    if (cmd->flags & PS_WIRE_RETAIN) {
        if (ch->type != CHAN_PUBSUB || !ch->retain) {
            loop_error(b, c, cmd->corr, PS_WERR_WRONGTYPE,
                       ch->type != CHAN_PUBSUB ? "retain needs a pubsub channel; '%s' is a %s"
                                               : "channel '%s' (%s) does not retain",
                       ch->name, config_type_name(ch->type));
            return 0;
        }
    }
    if (ch->type == CHAN_QUEUE) {
        /* overflow = "block": the publisher waits (its records are parked)
         * instead of being refused, as long as its backlog fits its buffer. */
        if (ch->overflow == OVERFLOW_BLOCK && queue_full(ch) &&
            c->parked.len + ps__wire_size(cmd) <= (size_t)b->cfg->client_buffer)
            return 1;
        qmsg *qm = queue_push(b, ch, c, cmd);
        if (!qm)
            return 0;
        ch->messages++;
        b->messages_in++;
        if (cmd->flags & PS_WIRE_CONFIRM) {
            /* On a durable queue the confirm waits until the record is on disk. */
            if (!ch->store)
                loop_ok(b, c, cmd->corr, 0);
            else if (store_confirm(ch->store, c, cmd->corr) < 0)
                loop_error(b, c, cmd->corr, PS_WERR_LIMIT, "out of memory");
        }
        if (cmd->flags & PS_WIRE_SYNC) {
            pending *pd = pending_new(b, c, cmd->corr, 0, cmd->timeout_ms);
            if (pd) {
                pd->expected = 1;
                pd->qm = qm;
                qm->sync = pd;
            }
        }
        queue_dispatch(b, ch);
        return 0;
    }
    uint64_t seq = ch->seq + 1;
    if ((cmd->flags & PS_WIRE_RETAIN) && retained_set(b, c, ch, cmd, seq) < 0)
        return 0;
    ch->seq = seq;
    ch->messages++;
    b->messages_in++;
    if (cmd->flags & PS_WIRE_CONFIRM)
        loop_ok(b, c, cmd->corr, 0);
    pending *pd = NULL;
    if (cmd->flags & PS_WIRE_SYNC)
        pd = pending_new(b, c, cmd->corr, 0, cmd->timeout_ms);
    fan_out(b, ch, seq, &cmd->topic, &cmd->data, pd);
    return 0;
}

uint16_t chan_publish_plain(broker *b, const ps__slice *name, const ps__slice *topic,
                            const ps__slice *data, char *why, size_t cap)
{
    uint16_t code = 0;
    channel *ch = chan_resolve(b, name, 1, &code, why, cap);
    if (!ch)
        return code;
    if (ch->type != CHAN_PUBSUB) {
        snprintf(why, cap, "channel '%s' is a %s channel, not pubsub", ch->name,
                 config_type_name(ch->type));
        return PS_WERR_WRONGTYPE;
    }
    if ((code = message_fault(b, topic, data->len, why, cap)))
        return code;
    uint64_t seq = ++ch->seq;
    ch->messages++;
    b->messages_in++;
    fan_out(b, ch, seq, topic, data, NULL);
    return 0;
}

/* Subscriptions ---------------------------------------------------------- */

static sub *sub_find(client *c, channel *ch, const char *pattern, size_t plen)
{
    for (sub *s = c->subs; s; s = s->cl_next)
        if (s->ch == ch && s->plen == plen && memcmp(s->pattern, pattern, plen) == 0)
            return s;
    return NULL;
}

static void sub_to_tail(channel *ch, sub *s)
{
    if (ch->subs_tail == s)
        return;
    /* unlink */
    if (s->ch_prev)
        s->ch_prev->ch_next = s->ch_next;
    else
        ch->subs_head = s->ch_next;
    if (s->ch_next)
        s->ch_next->ch_prev = s->ch_prev;
    /* append */
    s->ch_next = NULL;
    s->ch_prev = ch->subs_tail;
    if (ch->subs_tail)
        ch->subs_tail->ch_next = s;
    else
        ch->subs_head = s;
    ch->subs_tail = s;
}

void chan_sub_rotate(channel *ch, sub *s)
{
    sub_to_tail(ch, s);
}

/* The pattern a subscription stores: pubsub filters, "" elsewhere. */
static ps__slice sub_pattern(const channel *ch, const ps__cmd *cmd)
{
    ps__slice p = {"", 0};
    if (ch->type == CHAN_PUBSUB)
        p = cmd->topic.len ? cmd->topic : (ps__slice){"#", 1};
    return p;
}

void chan_subscribe(broker *b, client *c, const ps__cmd *cmd)
{
    /* A responder needs the right to reply; to get messages too, the
     * right to subscribe (consume) as well. */
    int responder = (cmd->flags & PS_WIRE_RESPONDER) != 0;
    channel *ch = chan_lookup(b, c, cmd->corr, &cmd->channel, 1,
                              responder ? VERB_REPLY : VERB_SUBSCRIBE,
                              responder ? VERB_REPLY : VERB_CONSUME);
    if (!ch)
        return;
    int requests_only = responder &&
        !auth_may(b, c, ch->type == CHAN_QUEUE ? VERB_CONSUME : VERB_SUBSCRIBE, ch, ch->name,
                  strlen(ch->name));
    ps__slice p = sub_pattern(ch, cmd);
    if (ch->type == CHAN_PUBSUB && !topic_valid_pattern(p.ptr, p.len)) {
        loop_error(b, c, cmd->corr, PS_WERR_INVALID,
                   "invalid pattern ('+' and '#' only as whole levels, '#' last)");
        return;
    }
    sub *s = sub_find(c, ch, p.ptr, p.len);
    if (!s) {
        if ((long)c->n_subs >= b->cfg->max_subscriptions) {
            loop_error(b, c, cmd->corr, PS_WERR_LIMIT, "max_subscriptions %ld reached",
                       b->cfg->max_subscriptions);
            return;
        }
        s = calloc(1, sizeof *s);
        if (!s || !(s->pattern = strndup(p.ptr, p.len))) {
            free(s);
            loop_error(b, c, cmd->corr, PS_WERR_LIMIT, "out of memory");
            return;
        }
        s->plen = p.len;
        s->cl = c;
        s->ch = ch;
        s->cl_next = c->subs;
        c->subs = s;
        c->n_subs++;
        s->ch_prev = ch->subs_tail;
        if (ch->subs_tail)
            ch->subs_tail->ch_next = s;
        else
            ch->subs_head = s;
        ch->subs_tail = s;
        ch->n_subs++;
    }
    s->responder = responder;
    s->requests_only = requests_only;
    s->window = cmd->window ? cmd->window : 100;
    log_debug("client %llu subscribed to %s '%.*s'%s", (unsigned long long)c->num, ch->name,
              (int)p.len, p.ptr, requests_only ? " for requests only" : responder ? " as responder" : "");
    if (ch->type == CHAN_QUEUE) {
        loop_ok(b, c, cmd->corr, 0);
        queue_dispatch(b, ch);
        return;
    }
    uint32_t n = 0;
    if (ch->type == CHAN_PUBSUB && !requests_only)
        for (retained *r = ch->ret; r; r = r->next)
            n += topic_match(s->pattern, s->plen, r->topic, r->tlen) != 0;
    loop_ok(b, c, cmd->corr, n);
    if (!n)
        return;
    for (retained *r = ch->ret; r; r = r->next) {
        if (!topic_match(s->pattern, s->plen, r->topic, r->tlen))
            continue;
        ps__slice topic = {r->topic, r->tlen}, data = {(const char *)r->data, r->len};
        deliver(b, s, PS_WIRE_RETAINED, r->seq, 0, topic, data, 0);
    }
}

void chan_sub_remove(broker *b, sub *s)
{
    client *c = s->cl;
    channel *ch = s->ch;
    sub **pp = &c->subs;
    while (*pp && *pp != s)
        pp = &(*pp)->cl_next;
    if (*pp)
        *pp = s->cl_next;
    c->n_subs--;
    if (s->ch_prev)
        s->ch_prev->ch_next = s->ch_next;
    else
        ch->subs_head = s->ch_next;
    if (s->ch_next)
        s->ch_next->ch_prev = s->ch_prev;
    else
        ch->subs_tail = s->ch_prev;
    ch->n_subs--;
    if (ch->type == CHAN_QUEUE && s->inflight) {
        /* The client's ticket list runs newest first, and each requeue goes
         * to the front, so the oldest message ends up first again. */
        ticket *nx;
        for (ticket *t = c->tickets; t; t = nx) {
            nx = t->cl_next;
            if (t->kind == TICKET_QUEUE && t->qm->owner == s)
                queue_requeue(b, t);
        }
    }
    free(s->pattern);
    free(s);
    if (ch->type == CHAN_QUEUE)
        queue_dispatch(b, ch);
}

void chan_unsubscribe(broker *b, client *c, const ps__cmd *cmd)
{
    channel *ch = chan_lookup(b, c, cmd->corr, &cmd->channel, 0, NO_VERB, NO_VERB);
    if (!ch)
        return;
    ps__slice p = sub_pattern(ch, cmd);
    sub *s = sub_find(c, ch, p.ptr, p.len);
    if (s)
        chan_sub_remove(b, s);
    loop_ok(b, c, cmd->corr, s != NULL);
}

/* Acknowledgements ------------------------------------------------------- */

void chan_ack(broker *b, client *c, uint64_t tag)
{
    ticket *t = ticket_find(b, tag);
    if (!t || t->cl != c) {
        log_debug("client %llu: ACK of unknown tag %llu ignored", (unsigned long long)c->num,
                  (unsigned long long)tag);
        return;
    }
    if (t->kind == TICKET_QUEUE) {
        channel *ch = t->qm->owner->ch;
        pending *pd = t->qm->sync;
        queue_ack(b, t);
        if (pd) {
            pd->qm = NULL;
            pd->answered = 1;
            pending_finish(b, pd);
        }
        queue_dispatch(b, ch);
    } else if (t->kind == TICKET_RECEIPT) {
        pending *pd = t->pd;
        pd->answered++;
        ticket_free(b, t);
        pending_check(b, pd);
    }
}

void chan_client_gone(broker *b, client *c)
{
    store_client_gone(c);
    while (c->tickets) {
        ticket *t = c->tickets;
        if (t->kind == TICKET_QUEUE) {
            channel *ch = t->qm->owner->ch;
            queue_requeue(b, t);
            queue_dispatch(b, ch);
        } else {
            /* A receiver or responder that went away will not answer. */
            pending *pd = t->pd;
            ticket_free(b, t);
            pending_check(b, pd);
        }
    }
    pending *nx;
    for (pending *pd = b->pendings; pd; pd = nx) {
        nx = pd->next;
        if (pd->requester != c)
            continue;
        pd->requester = NULL;
        if (pd->qm)
            pending_finish(b, pd); /* the message stays queued */
    }
}

/* Requests --------------------------------------------------------------- */

void chan_request(broker *b, client *c, const ps__cmd *cmd)
{
    channel *ch = chan_lookup(b, c, cmd->corr, &cmd->channel, 1, VERB_REQUEST, VERB_REQUEST);
    if (!ch || check_message(b, c, cmd) < 0)
        return;
    pending *pd = NULL;
    uint64_t stamp = ++b->next_stamp, seq = 0;
    sub *nx;
    for (sub *s = ch->subs_head; s; s = nx) {
        nx = s->ch_next;
        if (!s->responder || s->cl->dead || s->cl->stamp == stamp)
            continue;
        if (ch->type == CHAN_PUBSUB &&
            !topic_match(s->pattern, s->plen, cmd->topic.ptr, cmd->topic.len))
            continue;
        s->cl->stamp = stamp;
        if (!pd) {
            pd = pending_new(b, c, cmd->corr, 1, cmd->timeout_ms);
            if (!pd) {
                loop_error(b, c, cmd->corr, PS_WERR_LIMIT, "out of memory");
                return;
            }
            seq = ++ch->seq;
            ch->messages++;
            b->messages_in++;
        }
        ticket *t = ticket_new(b, TICKET_REQUEST, s->cl, pd);
        if (!t)
            continue;
        pd->expected++;
        deliver(b, s, PS_WIRE_REQUEST, seq, t->tag, cmd->topic, cmd->data, 0);
        if (ch->type == CHAN_QUEUE) {
            sub_to_tail(ch, s); /* round-robin among responders */
            break;
        }
    }
    if (!pd) {
        loop_error(b, c, cmd->corr, PS_WERR_NORESP, "no responders on '%s'", ch->name);
        return;
    }
    pending_check(b, pd);
}

void chan_reply(broker *b, client *c, const ps__cmd *cmd)
{
    ticket *t = ticket_find(b, cmd->tag);
    if (!t || t->cl != c || t->kind != TICKET_REQUEST) {
        log_debug("client %llu: REPLY to unknown tag %llu ignored", (unsigned long long)c->num,
                  (unsigned long long)cmd->tag);
        return;
    }
    pending *pd = t->pd;
    if (pd->requester) {
        ps__cmd r = {.cmd = PS_CMD_REPLY, .corr = pd->corr, .status = cmd->status,
                     .data = cmd->data};
        loop_put(b, pd->requester, &r);
    }
    pd->answered++;
    ticket_free(b, t);
    pending_check(b, pd);
}

/* Shutdown --------------------------------------------------------------- */

void chan_free_all(broker *b)
{
    while (b->pendings) {
        b->pendings->requester = NULL;
        pending_finish(b, b->pendings);
    }
    while (b->channels) {
        channel *ch = b->channels;
        b->channels = ch->next;
        while (ch->subs_head)
            chan_sub_remove(b, ch->subs_head);
        store_close(&ch->store);
        queue_free(ch);
        while (ch->ret) {
            retained *r = ch->ret;
            ch->ret = r->next;
            free(r->topic);
            free(r->data);
            free(r);
        }
        free(ch->name);
        free(ch);
    }
    memset(b->hchannels, 0, sizeof b->hchannels);
    b->n_channels = 0;
}
