/*
 * deliver.c - writing messages to their receivers: one DELIVER, and the
 * fan-out of a broadcast or pubsub message to every subscription.
 *
 * Deliveries on broadcast and pubsub channels are bounded by the
 * receiver's output buffer (client_buffer): on a "drop" channel a
 * delivery that does not fit is dropped and counted on the subscription,
 * and the receiver is told by a GAP record before its next delivery on
 * that channel.  On a "block" channel nothing is dropped: a message is
 * fanned out only when every receiver it goes to is within its bound
 * (deliver_full_receiver), else channel.c parks the publish with its
 * publisher (client.c), so a receiver's output never passes client_buffer
 * by more than one message.  Queue deliveries, retained values and requests are never
 * dropped.  After the receivers, a pubsub message goes to the fan-out
 * hooks main registered (the plain ZeroMQ gateway, the HTTP endpoint's
 * live tails), which this file knows only as function pointers.
 */
#include "brokerd.h"

#include <string.h>

int deliver(broker *b, sub *s, uint8_t flags, uint64_t seq, uint64_t tag, ps__slice topic,
            ps__slice data, int droppable)
{
    client *c = s->cl;
    channel *ch = s->ch;
    ps__cmd d = {.cmd = PS_CMD_DELIVER, .flags = flags, .seq = seq, .tag = tag,
                 .topic = topic, .data = data};
    d.channel.ptr = ch->name;
    d.channel.len = strlen(ch->name);
    size_t need = ps__wire_size(&d) + (s->gap ? PS_WIRE_RECORD_OVERHEAD + d.channel.len : 0);
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
        out_put(b, c, &g);
        s->gap = 0;
    }
    out_put(b, c, &d);
    b->messages_out++;
    ch->delivered++;
    ch->bytes_out += data.len;
    return 1;
}

void deliver_queued(broker *b, sub *s, qmsg *qm, uint64_t tag)
{
    ps__slice topic = {qm->topic, qm->tlen}, data = {(const char *)qm->data, qm->len};
    uint8_t flags = PS_WIRE_QUEUED | (qm->redelivered ? PS_WIRE_REDELIVERED : 0);
    deliver(b, s, flags, qm->seq, tag, topic, data, 0);
}

/* Whether s receives a fan-out of a message on topic. */
static int receives(const sub *s, const ps__slice *topic)
{
    if (s->cl->dead || s->requests_only)
        return 0;
    return s->ch->type != CHAN_PUBSUB || topic_match(s->pattern, s->plen, topic->ptr, topic->len);
}

client *deliver_full_receiver(broker *b, channel *ch, const ps__slice *topic)
{
    sub *s;
    TAILQ_FOREACH(s, &ch->subs, ch_link)
        if (s->cl->pending_bytes > (size_t)b->cfg->client_buffer && receives(s, topic))
            return s->cl;
    return NULL;
}

void deliver_fan_out(broker *b, channel *ch, uint64_t seq, const ps__slice *topic,
                     const ps__slice *data, pending *pd)
{
    uint64_t stamp = ++b->next_stamp;
    sub *s;
    TAILQ_FOREACH(s, &ch->subs, ch_link) {
        if (s->cl->stamp == stamp || !receives(s, topic))
            continue; /* one delivery per client, and only to receivers */
        s->cl->stamp = stamp;
        if (!pd) {
            deliver(b, s, 0, seq, 0, *topic, *data, 1);
            continue;
        }
        ticket *t = ticket_new(b, TICKET_RECEIPT, s->cl, pd);
        if (!t) {
            /* It owes max_pending receipts already: it gets the message
             * without one, and the publisher does not wait for it. */
            deliver(b, s, 0, seq, 0, *topic, *data, 1);
            continue;
        }
        /* Receivers a sync message was meant for count even if dropped. */
        pd->expected++;
        if (!deliver(b, s, PS_WIRE_RECEIPT, seq, t->tag, *topic, *data, 1))
            ticket_free(b, t);
    }
    for (int i = 0; i < b->n_fanout; i++)
        if (ch->type == CHAN_PUBSUB || b->fanout[i].broadcast)
            b->fanout[i].fn(b->fanout[i].ctx, ch, topic, data);
    if (pd)
        pending_check(b, pd); /* nobody (or nobody reachable): RESULT at once */
}
