/*
 * queue.c - queue channels: messages wait in FIFO order until a consumer
 * with room in its window takes them.
 *
 * Consumers compete round-robin: the consumer that just got a message
 * moves to the end of the channel's subscription list.  A delivered
 * message is held by a ticket of its consumer until ACK(tag); when the
 * consumer goes away (BYE, timeout, unsubscribe) the message goes back to
 * the front of the queue marked REDELIVERED.  Delivery is thus
 * at-least-once, and one publisher's messages reach a single consumer in
 * the order sent.  A durable queue also writes each message and each
 * acknowledgement to its store (store.c): a message is staged
 * (queue_stage), held (counted against max_queued) but not queued, until
 * the write of its record (queue_write) succeeds (queue_unstage).  The
 * store gives them back at start through queue_restore, the recovery
 * callback the channel opens its store with (so the store never calls up
 * into the queue).  In a cluster,
 * a queue whose home is another node holds here only what the home lent
 * this node for its consumers (queue_relay_in): never stored, and its ACK
 * or its return goes to the home through the relay hook.
 */
#include "brokerd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The size class of a block of size bytes: its spare list in ch->spare,
 * QMSG_CLASSES for a block too big to keep. */
static size_t qmsg_class(size_t size)
{
    size_t k = (size + QMSG_GRAIN - 1) / QMSG_GRAIN;
    return k && k <= QMSG_CLASSES ? k - 1 : QMSG_CLASSES;
}

/* The bytes of the block of a message whose topic and data are in it. */
static size_t qmsg_size(size_t tlen, size_t len)
{
    return sizeof(qmsg) + tlen + 1 + len;
}

static void qmsg_free(channel *ch, qmsg *qm)
{
    /* A published message holds its topic and data in its own block; one
     * the store gave back at start has them apart. */
    if (qm->topic != (char *)(qm + 1)) {
        free(qm->topic);
        free(qm->data);
        free(qm);
        return;
    }
    size_t k = qmsg_class(qmsg_size(qm->tlen, qm->len));
    if (k == QMSG_CLASSES || ch->n_spare >= QMSG_SPARES) {
        free(qm);
        return;
    }
    qm->link.tqe_next = ch->spare[k];
    ch->spare[k] = qm;
    ch->n_spare++;
}

/* A message holding copies of rec's topic and data, all three in one
 * block (a spare of ch's, or one allocation a message, not three); NULL
 * on ENOMEM. */
static qmsg *qmsg_new(channel *ch, const ps__cmd *rec)
{
    size_t size = qmsg_size(rec->topic.len, rec->data.len);
    size_t k = qmsg_class(size);
    qmsg *qm;
    if (k < QMSG_CLASSES && ch->spare[k]) {
        qm = ch->spare[k];
        ch->spare[k] = qm->link.tqe_next;
        ch->n_spare--;
    } else {
        /* A block of a class is all of it, whichever size it is reused for. */
        qm = malloc(k < QMSG_CLASSES ? (k + 1) * QMSG_GRAIN : size);
        if (!qm)
            return NULL;
    }
    memset(qm, 0, sizeof *qm);
    qm->topic = (char *)(qm + 1);
    if (rec->topic.len)
        memcpy(qm->topic, rec->topic.ptr, rec->topic.len);
    qm->topic[rec->topic.len] = '\0';
    qm->tlen = rec->topic.len;
    qm->data = (uint8_t *)qm->topic + rec->topic.len + 1;
    if (rec->data.len)
        memcpy(qm->data, rec->data.ptr, rec->data.len);
    qm->len = rec->data.len;
    return qm;
}

/* Numbers qm (unless it has its number) and puts it at the end of the queue. */
static qmsg *queue_link(channel *ch, qmsg *qm)
{
    if (!qm->seq)
        qm->seq = ++ch->seq;
    TAILQ_INSERT_TAIL(&ch->q, qm, link);
    ch->n_queued++;
    return qm;
}

int queue_full(const channel *ch)
{
    return (long)(ch->n_queued + ch->n_unacked + ch->n_staged) >= ch->max_queued;
}

/* The checks of a publish to ch, and a copy of its message numbered after
 * the messages staged before it; NULL with *code and why as queue_push. */
static qmsg *queue_take(channel *ch, const ps__cmd *cmd, uint16_t *code, char *why, size_t cap)
{
    size_t held = ch->n_queued + ch->n_unacked + ch->n_staged;
    *code = PS_WERR_FULL;
    if (ch->durable && !ch->store) {
        snprintf(why, cap, "durable queue '%s' has no store on disk (see the broker's log)",
                 ch->name);
        return NULL;
    }
    if (queue_full(ch)) {
        snprintf(why, cap, "queue '%s' is full (%zu messages)", ch->name, held);
        return NULL;
    }
    qmsg *qm = qmsg_new(ch, cmd);
    if (!qm) {
        snprintf(why, cap, "queue '%s': out of memory", ch->name);
        return NULL;
    }
    /* Taken (ch->seq) only once stored: the store's record keeps it. */
    qm->seq = ch->seq + ch->n_staged + 1;
    return qm;
}

/* Why the store of ch refused a message, with errno err. */
static void store_refusal(const channel *ch, int err, char *why, size_t cap)
{
    snprintf(why, cap, "durable queue '%s' cannot store: %s", ch->name, strerror(err));
}

qmsg *queue_stage(channel *ch, const ps__cmd *cmd, uint64_t *end, uint16_t *code, char *why,
                  size_t cap)
{
    qmsg *qm = queue_take(ch, cmd, code, why, cap);
    if (!qm)
        return NULL;
    if (store_stage(ch->store, qm, end) < 0) {
        store_refusal(ch, errno, why, cap);
        qmsg_free(ch, qm);
        return NULL;
    }
    ch->n_staged++;
    *code = 0;
    return qm;
}

int queue_write(channel *ch, char *why, size_t cap)
{
    if (store_write(ch->store) == 0)
        return 0;
    store_refusal(ch, errno, why, cap);
    return -1;
}

void queue_unstage(channel *ch, qmsg *qm, int written)
{
    ch->n_staged--;
    if (!written) {
        qmsg_free(ch, qm);
        return;
    }
    store_keep(ch->store, qm);
    ch->seq = qm->seq;
    queue_link(ch, qm);
}

qmsg *queue_push(channel *ch, const ps__cmd *cmd, uint16_t *code, char *why, size_t cap)
{
    uint64_t end;
    if (ch->store) {
        /* Alone: staged, written and queued at once.  Never beside a
         * stage of chan_publish's (every frame and unpark writes its
         * stage before anything else runs): the write would take those
         * records along, and a refusal would drop them. */
        if (ch->n_staged) {
            snprintf(why, cap, "durable queue '%s': a publish while others wait for their write",
                     ch->name);
            *code = PS_WERR_LIMIT;
            return NULL;
        }
        qmsg *qm = queue_stage(ch, cmd, &end, code, why, cap);
        if (qm && queue_write(ch, why, cap) < 0) {
            queue_unstage(ch, qm, 0);
            *code = PS_WERR_FULL;
            return NULL;
        }
        if (qm)
            queue_unstage(ch, qm, 1);
        return qm;
    }
    qmsg *qm = queue_take(ch, cmd, code, why, cap);
    if (!qm)
        return NULL;
    *code = 0;
    ch->seq = qm->seq;
    return queue_link(ch, qm);
}

int queue_committed(channel *ch, uint64_t seq, const char *topic, size_t tlen, const void *data,
                    size_t len, int redelivered)
{
    ps__cmd rec = {.topic = {topic, tlen}, .data = {data, len}};
    qmsg *qm = qmsg_new(ch, &rec);
    if (!qm)
        return -1;
    qm->seq = seq;
    qm->redelivered = redelivered;
    if (seq > ch->seq)
        ch->seq = seq;
    queue_link(ch, qm);
    return 0;
}

int queue_restore(void *ctx, uint64_t sid, uint64_t seq, void *seg, char *topic, size_t tlen,
                  uint8_t *data, size_t len)
{
    channel *ch = ctx;
    qmsg *qm = calloc(1, sizeof *qm);
    if (!qm)
        return -1;
    qm->topic = topic;
    qm->tlen = tlen;
    qm->data = data;
    qm->len = len;
    qm->sid = sid;
    qm->seg = seg;
    /* Not acknowledged before the broker stopped: it may have been
     * delivered, and its receiver must be able to tell. */
    qm->redelivered = 1;
    if (seq) {
        TAILQ_INSERT_TAIL(&ch->q, qm, link);
        ch->n_queued++;
        qm->seq = seq;
        if (seq > ch->seq)
            ch->seq = seq;
    } else {
        queue_link(ch, qm); /* from an older store: numbered afresh */
    }
    return 0;
}

/* The first consumer in round-robin order with room in its window (a
 * responder allowed requests only is no consumer). */
static sub *free_consumer(channel *ch)
{
    sub *s;
    TAILQ_FOREACH(s, &ch->subs, ch_link)
        if (!s->cl->dead && s->inflight < s->window && !s->requests_only)
            return s;
    return NULL;
}

void queue_dispatch(broker *b, channel *ch)
{
    if (ch->type != CHAN_QUEUE)
        return;
    sub *s;
    while (!TAILQ_EMPTY(&ch->q) && (s = free_consumer(ch))) {
        qmsg *qm = TAILQ_FIRST(&ch->q);
        ticket *t = ticket_new(b, TICKET_QUEUE, s->cl, NULL);
        if (!t)
            return;
        TAILQ_REMOVE(&ch->q, qm, link);
        ch->n_queued--;
        t->qm = qm;
        qm->tk = t;
        qm->owner = s;
        s->inflight++;
        s->cl->n_unacked++;
        ch->n_unacked++;
        deliver_queued(b, s, qm, t->tag);
        sub_to_tail(ch, s);
    }
}

/* Detaches an owned message from its consumer and frees the ticket. */
static void release(broker *b, ticket *t)
{
    qmsg *qm = t->qm;
    sub *s = qm->owner;
    s->inflight--;
    s->ch->n_unacked--;
    t->cl->n_unacked--;
    qm->owner = NULL;
    qm->tk = NULL;
    ticket_free(b, t);
}

void queue_ack(broker *b, ticket *t)
{
    qmsg *qm = t->qm;
    channel *ch = qm->owner->ch;
    if (qm->relay_tag) {
        if (b->relay) /* another node's: consumed, its home forgets it */
            b->relay(b->relay_ctx, ch, NULL, qm, qm->relay_tag, RELAY_ACK);
    } else if (ch->store) {
        store_ack(ch->store, qm);
    } else if (ch->replicated && b->repl_ack) {
        b->repl_ack(b->repl_ack_ctx, ch, qm); /* out of the group's state once committed */
    }
    release(b, t);
    qmsg_free(ch, qm);
}

void queue_requeue(broker *b, ticket *t)
{
    qmsg *qm = t->qm;
    channel *ch = qm->owner->ch;
    release(b, t);
    if (qm->relay_tag) {
        /* Another node's: its home redelivers it, to whichever consumer. */
        if (b->relay)
            b->relay(b->relay_ctx, ch, NULL, qm, qm->relay_tag, RELAY_RETURN);
        qmsg_free(ch, qm);
        return;
    }
    if (ch->replicated && !ch->repl_home) {
        /* Handed out while this node led: the group's state has it, and
         * the new leader hands it out again. */
        qmsg_free(ch, qm);
        return;
    }
    qm->redelivered = 1;
    ch->redelivered++;
    TAILQ_INSERT_HEAD(&ch->q, qm, link);
    ch->n_queued++;
}

qmsg *queue_relay_in(channel *ch, const ps__cmd *rec)
{
    qmsg *qm = qmsg_new(ch, rec);
    if (!qm)
        return NULL;
    qm->redelivered = (rec->flags & PS_WIRE_REDELIVERED) != 0;
    qm->relay_tag = rec->tag;
    qm->relay_gen = rec->seq;
    /* Not stored here, nor bounded by max_queued: the home holds it, and
     * the attachment's window bounds what waits here. */
    return queue_link(ch, qm);
}

/* Drops the waiting messages of ch that are another node's (own 0) or its own (1). */
static void drop_waiting(channel *ch, int own)
{
    qmsg *qm, *nx;
    for (qm = TAILQ_FIRST(&ch->q); qm; qm = nx) {
        nx = TAILQ_NEXT(qm, link);
        if ((qm->relay_tag == 0) != own)
            continue;
        TAILQ_REMOVE(&ch->q, qm, link);
        ch->n_queued--;
        qmsg_free(ch, qm);
    }
}

void queue_relay_drop(channel *ch)
{
    drop_waiting(ch, 0);
}

void queue_drop_own(channel *ch)
{
    drop_waiting(ch, 1);
}

size_t queue_purge(broker *b, channel *ch)
{
    size_t n = 0;
    qmsg *qm;
    while ((qm = TAILQ_FIRST(&ch->q))) {
        TAILQ_REMOVE(&ch->q, qm, link);
        ch->n_queued--;
        if (qm->relay_tag) {
            if (b->relay) /* another node's: purged at its home, not here */
                b->relay(b->relay_ctx, ch, NULL, qm, qm->relay_tag, RELAY_RETURN);
        } else if (ch->store) {
            store_ack(ch->store, qm); /* gone on purpose: not recovered at start */
        } else if (ch->replicated && b->repl_ack) {
            b->repl_ack(b->repl_ack_ctx, ch, qm); /* gone from the group's state too */
        }
        if (qm->sync) {
            pending *pd = qm->sync; /* its sync publisher hears 0 of 1 */
            pd->qm = NULL;
            pending_finish(b, pd);
        }
        qmsg_free(ch, qm);
        n++;
    }
    return n;
}

void queue_free(channel *ch)
{
    qmsg *qm;
    while ((qm = TAILQ_FIRST(&ch->q))) {
        TAILQ_REMOVE(&ch->q, qm, link);
        qmsg_free(ch, qm);
    }
    ch->n_queued = 0;
    for (size_t k = 0; k < QMSG_CLASSES; k++)
        while ((qm = ch->spare[k])) {
            ch->spare[k] = qm->link.tqe_next;
            free(qm);
        }
    ch->n_spare = 0;
}
