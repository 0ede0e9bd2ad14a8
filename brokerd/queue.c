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
 * acknowledgement to its store (store.c), which gives them back at start.
 */
#include "brokerd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void qmsg_free(qmsg *qm)
{
    free(qm->topic);
    free(qm->data);
    free(qm);
}

/* Numbers qm and puts it at the end of the queue. */
static qmsg *queue_link(channel *ch, qmsg *qm)
{
    qm->seq = ++ch->seq;
    qm->prev = ch->q_tail;
    if (ch->q_tail)
        ch->q_tail->next = qm;
    else
        ch->q_head = qm;
    ch->q_tail = qm;
    ch->n_queued++;
    return qm;
}

int queue_full(const channel *ch)
{
    return (long)(ch->n_queued + ch->n_unacked) >= ch->max_queued;
}

qmsg *queue_push(broker *b, channel *ch, client *c, const ps__cmd *cmd)
{
    size_t held = ch->n_queued + ch->n_unacked;
    if (queue_full(ch)) {
        loop_error(b, c, cmd->corr, PS_WERR_FULL, "queue '%s' is full (%zu messages)", ch->name,
                   held);
        return NULL;
    }
    qmsg *qm = calloc(1, sizeof *qm);
    if (!qm || !(qm->topic = strndup(cmd->topic.ptr, cmd->topic.len)) ||
        !(qm->data = malloc(cmd->data.len ? cmd->data.len : 1))) {
        if (qm)
            free(qm->topic);
        free(qm);
        loop_error(b, c, cmd->corr, PS_WERR_FULL, "queue '%s': out of memory", ch->name);
        return NULL;
    }
    qm->tlen = cmd->topic.len;
    if (cmd->data.len)
        memcpy(qm->data, cmd->data.ptr, cmd->data.len);
    qm->len = cmd->data.len;
    if (ch->store && store_append(ch->store, qm) < 0) {
        loop_error(b, c, cmd->corr, PS_WERR_FULL, "durable queue '%s' cannot store: %s",
                   ch->name, strerror(errno));
        qmsg_free(qm);
        return NULL;
    }
    return queue_link(ch, qm);
}

qmsg *queue_restore(channel *ch, char *topic, size_t tlen, uint8_t *data, size_t len)
{
    qmsg *qm = calloc(1, sizeof *qm);
    if (!qm)
        return NULL;
    qm->topic = topic;
    qm->tlen = tlen;
    qm->data = data;
    qm->len = len;
    return queue_link(ch, qm);
}

/* The first consumer in round-robin order with room in its window (a
 * responder allowed requests only is no consumer). */
static sub *free_consumer(channel *ch)
{
    for (sub *s = ch->subs_head; s; s = s->ch_next)
        if (!s->cl->dead && s->inflight < s->window && !s->requests_only)
            return s;
    return NULL;
}

void queue_dispatch(broker *b, channel *ch)
{
    if (ch->type != CHAN_QUEUE)
        return;
    sub *s;
    while (ch->q_head && (s = free_consumer(ch))) {
        qmsg *qm = ch->q_head;
        ticket *t = ticket_new(b, TICKET_QUEUE, s->cl, NULL);
        if (!t)
            return;
        ch->q_head = qm->next;
        if (ch->q_head)
            ch->q_head->prev = NULL;
        else
            ch->q_tail = NULL;
        qm->next = qm->prev = NULL;
        ch->n_queued--;
        t->qm = qm;
        qm->tk = t;
        qm->owner = s;
        s->inflight++;
        s->cl->n_unacked++;
        ch->n_unacked++;
        chan_deliver_queued(b, s, qm, t->tag);
        chan_sub_rotate(ch, s);
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
    if (ch->store)
        store_ack(ch->store, qm);
    release(b, t);
    qmsg_free(qm);
}

void queue_requeue(broker *b, ticket *t)
{
    qmsg *qm = t->qm;
    channel *ch = qm->owner->ch;
    release(b, t);
    qm->redelivered = 1;
    qm->prev = NULL;
    qm->next = ch->q_head;
    if (ch->q_head)
        ch->q_head->prev = qm;
    else
        ch->q_tail = qm;
    ch->q_head = qm;
    ch->n_queued++;
}

void queue_free(channel *ch)
{
    while (ch->q_head) {
        qmsg *qm = ch->q_head;
        ch->q_head = qm->next;
        qmsg_free(qm);
    }
    ch->q_tail = NULL;
    ch->n_queued = 0;
}
