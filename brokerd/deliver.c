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
 * hooks (the plain ZeroMQ gateway, the HTTP endpoint's live tails while
 * one is open), which this file knows only as function pointers.
 */
#include "brokerd.h"
#include "defaults.h"

#include <stdlib.h>
#include <string.h>

/* The DELIVER record of a message on s's channel. */
static ps__cmd deliver_cmd(const sub *s, uint8_t flags, uint64_t seq, uint64_t tag,
                           const ps__slice *topic, const ps__slice *data)
{
    return (ps__cmd){.cmd = PS_CMD_DELIVER, .flags = flags, .seq = seq, .tag = tag,
                     .channel = {s->ch->name, s->ch->name_len}, .topic = *topic, .data = *data};
}

/*
 * deliver, with the record d built, and encoded at enc (size bytes) when
 * enc is not NULL: a fan-out encodes its record once for all receivers
 * but the first.  run: the run (deliver_run) a DELIVER_BATCH is part of,
 * else 0.
 */
static int deliver_cmd_to(broker *b, sub *s, const ps__cmd *d, const void *enc, size_t size,
                          int droppable, uint64_t run)
{
    client *c = s->cl;
    channel *ch = s->ch;
    size_t need = size + (s->gap ? PS_WIRE_RECORD_OVERHEAD + d->channel.len : 0);
    if (droppable && ch->slow == SLOW_DROP &&
        c->pending_bytes + need > (size_t)b->cfg->client_buffer) {
        s->gap++;
        s->dropped++;
        ch->dropped++;
        b->dropped++;
        return 0;
    }
    if (s->gap) {
        ps__cmd g = {.cmd = PS_CMD_GAP, .channel = d->channel, .dropped = s->gap};
        out_put(b, c, &g);
        s->gap = 0;
    }
    if (d->cmd == PS_CMD_DELIVER_BATCH)
        out_put_batched(b, c, d, size, run);
    else
        out_put_record(b, c, d, enc, size);
    b->messages_out++;
    ch->delivered++;
    ch->bytes_out += d->data.len;
    return 1;
}

int deliver(broker *b, sub *s, uint8_t flags, uint64_t seq, uint64_t tag, ps__slice topic,
            ps__slice data, int droppable)
{
    ps__cmd d = deliver_cmd(s, flags, seq, tag, &topic, &data);
    return deliver_cmd_to(b, s, &d, NULL, ps__wire_size(&d), droppable, 0);
}

/*
 * The plain delivery of a fan-out (no receipt).  A receiver that speaks
 * 1.2 gets it in a DELIVER_BATCH with the channel's messages before it in
 * its output: every such receiver of a run (run, deliver_run), else only
 * a channel's lone receiver, since outside a run joining a batch costs
 * brokerd more than copying a record encoded once.  Every other receiver
 * gets the same record, so it is encoded once, into b->fan_rec, when the
 * second receiver is reached, and copied from there to the others.  *nth
 * counts those receivers so far.
 */
static void deliver_plain(broker *b, sub *s, uint64_t seq, const ps__slice *topic,
                          const ps__slice *data, int *nth, uint64_t run)
{
    ps__cmd d = deliver_cmd(s, 0, seq, 0, topic, data);
    if (s->cl->minor >= 2 && (run || s->ch->n_subs == 1)) {
        /* The payload's own length is the 4 bytes ps__wire_size leaves out. */
        d.cmd = PS_CMD_DELIVER_BATCH;
        deliver_cmd_to(b, s, &d, NULL, ps__wire_size(&d) + 4, 1, run);
        return;
    }
    if ((*nth)++ == 0) {
        deliver_cmd_to(b, s, &d, NULL, ps__wire_size(&d), 1, 0);
        return;
    }
    if (*nth == 2) {
        b->fan_rec.len = 0;
        if (ps__wire_put(&b->fan_rec, &d) < 0) {
            *nth = 1; /* out of memory here: each is encoded on its own */
            deliver_cmd_to(b, s, &d, NULL, ps__wire_size(&d), 1, 0);
            return;
        }
    }
    deliver_cmd_to(b, s, &d, b->fan_rec.data, b->fan_rec.len, 1, 0);
}

void deliver_queued(broker *b, sub *s, qmsg *qm, uint64_t tag)
{
    ps__slice topic = {qm->topic, qm->tlen}, data = {(const char *)qm->data, qm->len};
    uint8_t flags = PS_WIRE_QUEUED | (qm->redelivered ? PS_WIRE_REDELIVERED : 0);
    if (s->cl->relay) {
        /* A peer's stand-in: the message goes over the link to its node. */
        s->ch->delivered++;
        s->ch->bytes_out += qm->len;
        if (b->relay)
            b->relay(b->relay_ctx, s->ch, s->cl, qm, tag, RELAY_DELIVER);
        return;
    }
    deliver(b, s, flags, qm->seq, tag, topic, data, 0);
}

/* Whether s receives a fan-out of a message on topic. */
static int receives(const sub *s, const ps__slice *topic)
{
    if (s->cl->dead || s->requests_only)
        return 0;
    return s->ch->type != CHAN_PUBSUB || topic_match(s->pattern, s->plen, topic->ptr, topic->len);
}

/* The first receiver of a message on topic whose output is over *above
 * bytes (above NULL: any receiver), or NULL. */
static client *receiver(channel *ch, const ps__slice *topic, const size_t *above)
{
    sub *s;
    TAILQ_FOREACH(s, &ch->subs, ch_link)
        if ((!above || s->cl->pending_bytes > *above) && receives(s, topic))
            return s->cl;
    return NULL;
}

client *deliver_full_receiver(broker *b, channel *ch, const ps__slice *topic)
{
    size_t bound = (size_t)b->cfg->client_buffer;
    return receiver(ch, topic, &bound);
}

int deliver_has_receiver(channel *ch, const ps__slice *topic)
{
    return receiver(ch, topic, NULL) != NULL;
}

/* The end of a message's fan-out, after its receivers: the room of a
 * large record is given back, and the hooks have the message. */
static inline void fan_out_end(broker *b, channel *ch, const ps__slice *topic,
                               const ps__slice *data)
{
    if (b->fan_rec.cap > PS_FRAME_MAX)
        ps__buf_free(&b->fan_rec); /* a large message's room is not kept */
    for (int i = 0; i < b->n_fanout; i++)
        if (ch->type == CHAN_PUBSUB || b->fanout[i].broadcast)
            b->fanout[i].fn(b->fanout[i].ctx, ch, topic, data);
}

unsigned deliver_fan_out(broker *b, channel *ch, uint64_t seq, const ps__slice *topic,
                         const ps__slice *data, pending *pd)
{
    uint64_t stamp = ++b->next_stamp;
    unsigned reached = 0;
    int nth = 0;
    sub *s;
    TAILQ_FOREACH(s, &ch->subs, ch_link) {
        if (s->cl->stamp == stamp || !receives(s, topic))
            continue; /* one delivery per client, and only to receivers */
        s->cl->stamp = stamp;
        reached++;
        if (!pd) {
            deliver_plain(b, s, seq, topic, data, &nth, 0);
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
    fan_out_end(b, ch, topic, data);
    if (pd)
        pending_check(b, pd); /* nobody (or nobody reachable): RESULT at once */
    return reached;
}

/*
 * Runs.  A publisher's batch is many messages on one channel and topic:
 * their receivers are the same for all (nothing in a fan-out subscribes,
 * unsubscribes or forgets a client), so they are found once, and each
 * receiver's DELIVER_BATCH grows by a payload at a time (out_grow_batch).
 * Every delivery is still judged on its own where it may differ: a
 * receiver's room (drop, block), its GAP, the counters, the hooks.
 */
int deliver_run_begin(broker *b, deliver_run *r, channel *ch, const ps__slice *topic)
{
    *r = (deliver_run){.ch = ch, .topic = *topic, .id = ++b->next_stamp};
    if (ch->n_subs && !(r->rcv = malloc(ch->n_subs * sizeof *r->rcv)))
        return -1;
    sub *s;
    TAILQ_FOREACH(s, &ch->subs, ch_link) {
        if (s->cl->stamp == r->id || !receives(s, topic))
            continue; /* one delivery per client, and only to receivers */
        s->cl->stamp = r->id;
        r->rcv[r->n++] = s;
    }
    ps__cmd d = {.cmd = PS_CMD_DELIVER_BATCH, .channel = {ch->name, ch->name_len},
                 .topic = *topic};
    r->head = ps__wire_size(&d) + 4;
    return 0;
}

client *deliver_run_full(const broker *b, const deliver_run *r)
{
    size_t bound = (size_t)b->cfg->client_buffer;
    for (size_t i = 0; i < r->n; i++)
        if (r->rcv[i]->cl->pending_bytes > bound)
            return r->rcv[i]->cl;
    return NULL;
}

size_t deliver_run_one(broker *b, const deliver_run *r, uint64_t seq, const ps__slice *data)
{
    channel *ch = r->ch;
    size_t size = r->head + data->len; /* as deliver_plain counts a DELIVER_BATCH */
    int nth = 0;
    for (size_t i = 0; i < r->n; i++) {
        sub *s = r->rcv[i];
        client *c = s->cl;
        if (!s->gap && c->minor >= 2) {
            if (ch->slow == SLOW_DROP && c->pending_bytes + size > (size_t)b->cfg->client_buffer) {
                s->gap++; /* as deliver_cmd_to drops */
                s->dropped++;
                ch->dropped++;
                b->dropped++;
                continue;
            }
            if (out_grow_batch(b, c, r->id, seq, data, size)) {
                b->messages_out++;
                ch->delivered++;
                ch->bytes_out += data->len;
                continue;
            }
        }
        deliver_plain(b, s, seq, &r->topic, data, &nth, r->id);
    }
    fan_out_end(b, ch, &r->topic, data);
    return r->n;
}

void deliver_run_end(deliver_run *r)
{
    free(r->rcv);
    r->rcv = NULL;
}

void deliver_tap(broker *b, fanout_hook *fn, void *ctx, int on)
{
    int i = 0;
    while (i < b->n_fanout && (b->fanout[i].fn != fn || b->fanout[i].ctx != ctx))
        i++;
    if (on && i == b->n_fanout && b->n_fanout < FANOUT_TAPS_MAX)
        b->fanout[b->n_fanout++] = (fanout_tap){fn, ctx, on == 2};
    if (!on && i < b->n_fanout) {
        /* Kept in order: the hooks are called in the order they came. */
        memmove(&b->fanout[i], &b->fanout[i + 1], (size_t)(b->n_fanout - i - 1) * sizeof *b->fanout);
        b->n_fanout--;
    }
}
