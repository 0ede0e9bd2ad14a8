/*
 * channel.c - channels, subscriptions and what travels through them:
 * fan-out on broadcast and pubsub channels, retained values, sync
 * receipts, requests and their replies.  Queue storage and dispatch are
 * in queue.c, the writing of deliveries and the fan-out in deliver.c,
 * the tickets and waiters of receipts and replies in ticket.c.
 *
 * Every accepted message gets the channel's next sequence number; with
 * the broker id and epoch it is the message's identity.  A retained
 * value is stored here (retained_set), on the channel, and sent to each
 * new matching subscriber (chan_subscribe).  The request handlers answer
 * with OK, REPLY and DELIVER records themselves and leave refusals to
 * their caller: each returns a PS_WERR_* code with the reason in a
 * buffer, which client.c sends as ERROR.
 *
 * What a client can make here without bound is bounded broker-wide:
 * channels created on first use by max_channels, the bytes of retained
 * values across channels by max_retained_bytes.  Their log lines (a
 * channel created on first use, a refusal) are rate-limited per kind
 * (log_limited), so that a flood of names costs a few lines and a summary.
 */
#include "brokerd.h"

#include <time.h>
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
    channel *ch;
    SLIST_FOREACH(ch, &b->hchannels[name_hash(name, len)], hlink)
        if (ch->name_len == len && memcmp(ch->name, name, len) == 0)
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
    ch->name_len = len;
    ch->type = cc ? cc->type : CHAN_PUBSUB;
    ch->declared = cc != NULL;
    ch->retain = cc ? cc->retain : 1;
    ch->durable = cc ? cc->durable : 0;
    ch->max_queued = cc ? cc->max_queued : 100000;
    ch->slow = cc ? cc->slow : SLOW_DROP;
    ch->overflow = cc ? cc->overflow : OVERFLOW_REFUSE;
    TAILQ_INIT(&ch->subs);
    TAILQ_INIT(&ch->q);
    SLIST_INIT(&ch->ret);
    SLIST_INSERT_HEAD(&b->hchannels[name_hash(name, len)], ch, hlink);
    SLIST_INSERT_HEAD(&b->channels, ch, link);
    b->n_channels++;
    if (cc)
        log_info("channel '%s' created (%s)", ch->name, config_type_name(ch->type));
    else
        log_limited(LOG_LVL_INFO, "channels created on first use", "",
                    "channel '%s' created (%s, on first use)", ch->name,
                    config_type_name(ch->type));
    return ch;
}

/* Gives ch the settings of cc (a durable queue opens its store); -1 when
 * the store could not be opened, after logging. */
static int chan_settle(broker *b, channel *ch, const config_channel *cc)
{
    int failed = 0;
    ch->retain = cc->retain;
    ch->max_queued = cc->max_queued;
    ch->slow = cc->slow;
    ch->overflow = cc->overflow;
    if (ch->type != CHAN_QUEUE)
        return 0;
    if (cc->durable && b->replq && !ch->store) {
        /* With cluster.raft its messages are the group's, on a majority
         * of the nodes' disks: no store of its own. */
        ch->replicated = ch->durable = 1;
        ch->repl_home = replq_leading(b);
        return 0;
    }
    if (cc->durable && !ch->store) {
        /* A queue that becomes durable keeps what it holds in memory;
         * from now on its messages are written too. */
        ch->store = store_open(b, ch->name, b->cfg->fsync_always, queue_restore, ch);
        if (!ch->store) {
            log_err("durable queue '%s' has no store: its publishes are refused until a "
                    "reload opens it", ch->name);
            failed = 1;
        } else if (store_last_seq(ch->store) > ch->seq) { /* no number is given twice */
            ch->seq = store_last_seq(ch->store);
        }
    } else if (!cc->durable && ch->store) {
        log_warn("channel '%s' stays durable until the broker restarts", ch->name);
    }
    /* Declared durable without a store, it stays durable and refuses
     * publishes (queue_push): it never quietly runs in memory. */
    ch->durable = ch->store != NULL || cc->durable;
    return failed ? -1 : 0;
}

/* The index of name in b->deleted, or -1. */
static long deleted_find(const broker *b, const char *name)
{
    for (size_t i = 0; i < b->n_deleted; i++)
        if (!strcmp(b->deleted[i], name))
            return (long)i;
    return -1;
}

/* Forgets entry i of b->deleted. */
static void deleted_drop(broker *b, size_t i)
{
    free(b->deleted[i]);
    b->deleted[i] = b->deleted[--b->n_deleted];
}

int chan_apply_config(broker *b)
{
    int failed = 0;
    /* A deletion is remembered only while the file still declares the
     * name: the list stays within the config's channels. */
    for (size_t i = b->n_deleted; i-- > 0;)
        if (!config_find_channel(b->cfg, b->deleted[i]))
            deleted_drop(b, i);
    b->chan_gen++; /* rights, limits and channel settings may all have changed */
    for (const config_channel *cc = b->cfg->channels; cc; cc = cc->next) {
        channel *ch = chan_find(b, cc->name, strlen(cc->name));
        if (!ch && deleted_find(b, cc->name) >= 0)
            continue; /* deleted on purpose (pctl delete): not made again until a restart */
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
        if (chan_settle(b, ch, cc) < 0)
            failed++;
    }
    return failed ? -1 : 0;
}

/* Unlinks ch from the broker's lists and frees it with all it holds. */
static void chan_free(broker *b, channel *ch)
{
    while (!TAILQ_EMPTY(&ch->subs))
        chan_sub_remove(b, TAILQ_FIRST(&ch->subs));
    store_close(&ch->store);
    queue_free(ch);
    chan_retained_clear(b, ch, "#", 1);
    free(ch->name);
    free(ch);
}

/*
 * The channel called name, created on first use if allowed.  Returns it,
 * or NULL with a PS_WERR_* code in *code and the reason in why[cap]; the
 * caller tells whoever asked.
 */
static channel *chan_resolve(broker *b, const ps__slice *name, int create, uint16_t *code,
                             char *why, size_t cap)
{
    if (!config_channel_name_ok(name->ptr, name->len)) {
        *code = PS_WERR_INVALID;
        snprintf(why, cap, "invalid channel name (1 to 255 of A-Z a-z 0-9 _ . -)");
        return NULL;
    }
    channel *ch = chan_find(b, name->ptr, name->len);
    if (!ch && create && b->cfg->auto_create == AUTO_PUBSUB) {
        if ((long)b->n_channels >= b->cfg->max_channels) {
            snprintf(why, cap, "channel '%.*s' not created: max_channels %ld reached",
                     (int)name->len, name->ptr, b->cfg->max_channels);
            log_limited(LOG_LVL_WARNING, "channels refused (max_channels)", "", "%s", why);
            *code = PS_WERR_LIMIT;
            return NULL;
        }
        ch = chan_create(b, name->ptr, name->len, NULL);
    }
    if (!ch) {
        *code = PS_WERR_NOCHANNEL;
        snprintf(why, cap, "unknown channel '%.*s'%s", (int)name->len, name->ptr,
                 b->cfg->auto_create == AUTO_NONE
                     ? " (auto_create is \"none\": only declared channels exist)" : "");
    }
    return ch;
}

/* No right needed (chan_lookup). */
#define NO_VERB (-1)

/*
 * The channel a command names, created on first use if allowed.  The
 * client needs the right verb on it, or queue_verb when it is a queue
 * (NO_VERB: none); a channel not created yet is judged as the pubsub
 * channel it would be, before it exists.  Returns NULL with a PS_WERR_*
 * code in *code and the reason in why[cap] when there is none or the
 * client may not.
 */
static channel *chan_lookup(broker *b, client *c, const ps__slice *name, int create, int verb,
                            int queue_verb, uint16_t *code, char *why, size_t cap)
{
    *code = 0;
    channel *ch = chan_resolve(b, name, 0, code, why, cap);
    if (!ch && *code == PS_WERR_INVALID)
        return NULL;
    if (ch && ch->type == CHAN_QUEUE)
        verb = queue_verb;
    if (verb != NO_VERB &&
        (*code = auth_check(b, c, (enum verb)verb, ch, name->ptr, name->len, why, cap)))
        return NULL;
    if (!ch)
        ch = chan_resolve(b, name, create, code, why, cap);
    return ch;
}

/* Retained values -------------------------------------------------------- */

static void retained_free(broker *b, retained *r)
{
    b->retained_bytes -= r->len + r->tlen;
    free(r->origin);
    free(r->topic);
    free(r->data);
    free(r);
}

static retained *retained_find(channel *ch, const ps__slice *topic)
{
    retained *r;
    SLIST_FOREACH(r, &ch->ret, link)
        if (r->tlen == topic->len && memcmp(r->topic, topic->ptr, topic->len) == 0)
            return r;
    return NULL;
}

/* The next value of the hybrid logical clock of retained values: the
 * wall clock's milliseconds << 16, or one more than the last value given
 * or seen when that is ahead, so that a newer value always has a larger
 * clock on this node whatever the wall clock does. */
static uint64_t hlc_next(broker *b)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t pt = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) << 16;
    b->hlc = pt > b->hlc ? pt : b->hlc + 1;
    return b->hlc;
}

/* True when a value of clock hlc from node origin (olen bytes) is newer
 * than r: the larger clock, and on a tie the larger node name. */
static int retained_newer(const broker *b, const retained *r, uint64_t hlc, const char *origin,
                          size_t olen)
{
    if (hlc != r->hlc)
        return hlc > r->hlc;
    const char *mine = r->origin ? r->origin : b->cfg->cluster ? b->cfg->cluster->node : "";
    size_t mlen = strlen(mine);
    int c = memcmp(origin, mine, olen < mlen ? olen : mlen);
    return c > 0 || (c == 0 && olen > mlen);
}

/* Stores or clears the topic's retained value, with its clock and the
 * node it came from (origin NULL: this one); in a cluster a clear leaves
 * a tombstone, so that an older value from a peer cannot come back.  0,
 * or a PS_WERR_* code with the reason in why[cap]. */
static uint16_t retained_set(broker *b, channel *ch, const ps__cmd *cmd, uint64_t seq,
                             uint64_t hlc, const ps__slice *origin, char *why, size_t cap)
{
    retained *r = retained_find(ch, &cmd->topic);
    int tombstones = b->link != NULL;
    if (cmd->data.len == 0 && !tombstones) {
        if (r) {
            SLIST_REMOVE(&ch->ret, r, retained, link);
            retained_free(b, r);
            ch->n_retained--;
        }
        return 0;
    }
    size_t now = b->retained_bytes - (r ? r->len + r->tlen : 0);
    if (now + cmd->data.len + cmd->topic.len > (size_t)b->cfg->max_retained_bytes) {
        snprintf(why, cap, "retained value of %zu bytes refused: max_retained_bytes %ld reached",
                 cmd->data.len, b->cfg->max_retained_bytes);
        log_limited(LOG_LVL_WARNING, "retained values refused (max_retained_bytes)", "",
                    "channel '%s': %s", ch->name, why);
        return PS_WERR_LIMIT;
    }
    if (!r) {
        if ((long)ch->n_retained >= b->cfg->max_retained) {
            snprintf(why, cap, "channel '%s' holds max_retained %ld retained topics", ch->name,
                     b->cfg->max_retained);
            return PS_WERR_LIMIT;
        }
        r = calloc(1, sizeof *r);
        if (!r || !(r->topic = strndup(cmd->topic.ptr, cmd->topic.len))) {
            free(r);
            snprintf(why, cap, "out of memory");
            return PS_WERR_LIMIT;
        }
        r->tlen = cmd->topic.len;
        b->retained_bytes += r->tlen;
        SLIST_INSERT_HEAD(&ch->ret, r, link);
        ch->n_retained++;
    }
    uint8_t *data = cmd->data.len ? malloc(cmd->data.len) : NULL;
    char *from = origin ? strndup(origin->ptr, origin->len) : NULL;
    if ((cmd->data.len && !data) || (origin && !from)) {
        free(data);
        free(from);
        snprintf(why, cap, "out of memory");
        return PS_WERR_LIMIT;
    }
    if (cmd->data.len)
        memcpy(data, cmd->data.ptr, cmd->data.len);
    free(r->data);
    free(r->origin);
    b->retained_bytes += cmd->data.len - r->len;
    r->data = data;
    r->len = cmd->data.len;
    r->seq = seq;
    r->hlc = hlc;
    r->origin = from;
    return 0;
}

/* Publishing ------------------------------------------------------------- */

/* Counts a message ch accepted, on the channel and the broker. */
static void count_in(broker *b, channel *ch, size_t len)
{
    ch->messages++;
    ch->bytes_in += len;
    b->messages_in++;
}

/* True when name is the broker's own channel, where no client publishes. */
static int is_sys(const ps__slice *name)
{
    return ps__wire_sys_channel(name->ptr, name->len);
}

/* The refusal of a message a client or the gateway sends to CHAN_SYS. */
static uint16_t sys_refusal(char *why, size_t cap)
{
    snprintf(why, cap, "channel '%s' is the broker's own: only the broker publishes there",
             CHAN_SYS);
    return PS_WERR_DENIED;
}

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

/* Whether c's last message went to cmd's channel with the same verb, in
 * the same generation of the channels: message_channel's memory holds. */
static int remembered(const broker *b, const client *c, const ps__cmd *cmd, int verb)
{
    const channel *ch = c->msg_ch;
    return ch && c->msg_verb == verb && c->msg_gen == b->chan_gen &&
           cmd->channel.len == ch->name_len && memcmp(cmd->channel.ptr, ch->name, ch->name_len) == 0;
}

/*
 * The channel a message (PUBLISH or REQUEST) goes to, created on first
 * use, with the client's right to it and the message's checks; NULL with
 * *code and why as chan_lookup.  A publisher sends run after run to the
 * same channel, so the channel its last message was let through to is
 * remembered on the client (msg_ch): a message that names it again, for
 * the same right, skips the name's validation, the lookup and the right,
 * which only a reload (chan_apply_config), a deletion (chan_delete) or a
 * new session can change.
 * Refusals are never remembered, so each is judged and explained anew.
 */
static channel *message_channel(broker *b, client *c, const ps__cmd *cmd, int create, int verb,
                                int queue_verb, uint16_t *code, char *why, size_t cap)
{
    channel *ch = c->msg_ch;
    if (remembered(b, c, cmd, verb)) {
        *code = message_fault(b, &cmd->topic, cmd->data.len, why, cap);
        return *code ? NULL : ch;
    }
    if (is_sys(&cmd->channel)) {
        *code = sys_refusal(why, cap);
        return NULL;
    }
    ch = chan_lookup(b, c, &cmd->channel, create, verb, queue_verb, code, why, cap);
    if (ch && (*code = message_fault(b, &cmd->topic, cmd->data.len, why, cap)))
        return NULL;
    if (ch) {
        c->msg_ch = ch;
        c->msg_verb = verb;
        c->msg_gen = b->chan_gen;
    }
    return ch;
}

/* Notes for c's next NOTICE (a client of protocol 1.1 or later) what its
 * publish on ch did: PS_WIRE_NOTE_* in notes, none when 0. */
static void note(client *c, const channel *ch, uint8_t notes)
{
    if (!notes || c->minor < 1)
        return;
    if (!c->notes)
        snprintf(c->note_channel, sizeof c->note_channel, "%s", ch->name);
    c->notes |= notes;
}

/* What a queue does with a message s->qm it took, now queued, from c:
 * counts it, confirms it (on a durable queue once its record, ending at
 * s->end, is on disk: store.c sends it then), waits for its ack (SYNC)
 * and notes it.  Dispatching it is the caller's. */
static void queue_accepted(broker *b, client *c, channel *ch, const staged *s)
{
    count_in(b, ch, s->qm->len);
    if (s->flags & PS_WIRE_CONFIRM) {
        if (!ch->store)
            out_ok(b, c, s->corr, 0);
        else if (store_confirm(ch->store, c, s->corr, s->end) < 0)
            out_error(b, c, s->corr, PS_WERR_LIMIT, "out of memory");
    }
    if (s->flags & PS_WIRE_SYNC) {
        pending *pd = pending_new(b, c, s->corr, 0, s->timeout_ms);
        if (pd) {
            pd->expected = 1;
            pd->qm = s->qm;
            s->qm->sync = pd;
        }
    }
    note(c, ch, s->notes); /* a queue keeps it for a consumer: it reaches somebody */
}

/*
 * Staging: the durable publishes of a client's frame are written with one
 * write(2), not one each.  chan_publish stages each (stage_publish: its
 * record goes into the store's buffer, its message is held by the queue,
 * counted against max_queued, but not queued), and chan_stage_flush
 * writes them all, then queues and answers them in the order read, or,
 * when the write failed, refuses every one of them as a lone publish is
 * refused: a message is still in the file before anyone can see it.
 * client.c flushes at the end of each frame and before any record but one
 * more PUBLISH of the same client to the same queue (and before it answers
 * a refusal or parks): nothing else (another client, an ACK, a timer, the
 * end of the turn) ever sees a staged message, and the publisher's
 * answers keep their order.  The stage also ends at once when the store's
 * buffer holds STAGE_MAX bytes (so it is bounded) and with a SYNC
 * publish (so that the next one's pending_refusal counts its waiter).
 */
static uint16_t stage_publish(broker *b, client *c, channel *ch, const ps__cmd *cmd,
                              uint8_t notes, char *why, size_t cap)
{
    chan_stage *sg = &b->stage;
    if (sg->n && (sg->ch != ch || sg->c != c))
        chan_stage_flush(b);
    if (sg->n == sg->cap) {
        size_t ncap = sg->cap ? 2 * sg->cap : 256;
        staged *v = realloc(sg->v, ncap * sizeof *v);
        if (!v) {
            snprintf(why, cap, "queue '%s': out of memory", ch->name);
            return PS_WERR_FULL;
        }
        sg->v = v;
        sg->cap = ncap;
    }
    uint16_t code;
    uint64_t end;
    qmsg *qm = queue_stage(ch, cmd, &end, &code, why, cap);
    if (!qm)
        return code;
    sg->ch = ch;
    sg->c = c;
    sg->v[sg->n++] = (staged){.qm = qm, .corr = cmd->corr, .end = end,
                              .timeout_ms = cmd->timeout_ms, .flags = cmd->flags,
                              .notes = notes};
    if ((cmd->flags & PS_WIRE_SYNC) || store_stage_full(ch->store))
        chan_stage_flush(b);
    return 0;
}

void chan_stage_flush(broker *b)
{
    chan_stage *sg = &b->stage;
    size_t n = sg->n;
    if (!n)
        return;
    channel *ch = sg->ch;
    client *c = sg->c;
    sg->n = 0;
    char why[PS_WIRE_NAME_MAX + 128];
    int written = queue_write(ch, why, sizeof why) == 0;
    for (size_t i = 0; i < n; i++) {
        queue_unstage(ch, sg->v[i].qm, written);
        if (written)
            queue_accepted(b, c, ch, &sg->v[i]);
        else
            out_error(b, c, sg->v[i].corr, PS_WERR_FULL, "%s", why);
    }
    if (written)
        queue_dispatch(b, ch);
}

void chan_stage_check(broker *b, const client *c, const ps__cmd *cmd)
{
    const chan_stage *sg = &b->stage;
    if (sg->n && (cmd->cmd != PS_CMD_PUBLISH || sg->c != c ||
                  cmd->channel.len != sg->ch->name_len ||
                  memcmp(cmd->channel.ptr, sg->ch->name, sg->ch->name_len)))
        chan_stage_flush(b);
}

int chan_publish(broker *b, client *c, const ps__cmd *cmd, char *why, size_t cap)
{
    uint16_t code;
    /* STRICT: a channel that does not exist is not made, a message that
     * would reach nobody is refused; else both are noted for the client. */
    int strict = (cmd->flags & PS_WIRE_STRICT) != 0;
    uint8_t notes = remembered(b, c, cmd, VERB_PUBLISH) || chan_find(b, cmd->channel.ptr,
                                                                      cmd->channel.len)
                        ? 0
                        : PS_WIRE_NOTE_CREATED;
    channel *ch = message_channel(b, c, cmd, !strict, VERB_PUBLISH, VERB_SEND, &code, why, cap);
    if (!ch) {
        if (code == PS_WERR_NOCHANNEL && strict && b->cfg->auto_create != AUTO_NONE)
            snprintf(why, cap, "unknown channel '%.*s' (a strict publish creates none)",
                     (int)cmd->channel.len, cmd->channel.ptr);
        return code;
    }
    if ((cmd->flags & PS_WIRE_RETAIN) && (ch->type != CHAN_PUBSUB || !ch->retain)) {
        if (ch->type != CHAN_PUBSUB)
            snprintf(why, cap, "retain needs a pubsub channel; '%s' is a %s", ch->name,
                     config_type_name(ch->type));
        else
            snprintf(why, cap, "channel '%s' (%s) does not retain", ch->name,
                     config_type_name(ch->type));
        return PS_WERR_WRONGTYPE;
    }
    if ((cmd->flags & PS_WIRE_SYNC) && (code = pending_refusal(b, c, why, cap)))
        return code;
    if (ch->replicated) {
        /* Queued, and confirmed, once the group committed it (replq.c). */
        if (cmd->flags & PS_WIRE_SYNC) {
            snprintf(why, cap, "queue '%s' is replicated: sync messages to it are not supported",
                     ch->name);
            return PS_WERR_LIMIT;
        }
        if (!replq_room(b, 0) &&
            client_may_park(b, c, cmd)) {
            /* REPL_INFLIGHT_MAX proposals out: the publisher waits for
             * their results, as for a full "block" queue. */
            c->park_why = PARK_QUEUE;
            return CHAN_PARK;
        }
        if ((code = replq_publish(b, c, ch, cmd, NULL, why, cap)))
            return code;
        count_in(b, ch, cmd->data.len);
        note(c, ch, notes);
        return 0;
    }
    if (ch->type == CHAN_QUEUE) {
        /* overflow = "block": the publisher waits (its records are parked)
         * instead of being refused, as long as its backlog fits its buffer. */
        if (ch->overflow == OVERFLOW_BLOCK && queue_full(ch) &&
            client_may_park(b, c, cmd)) {
            c->park_why = PARK_QUEUE;
            return CHAN_PARK;
        }
        if (ch->store)
            return stage_publish(b, c, ch, cmd, notes, why, cap);
        qmsg *qm = queue_push(ch, cmd, &code, why, cap);
        if (!qm)
            return code;
        staged s = {.qm = qm, .corr = cmd->corr, .timeout_ms = cmd->timeout_ms,
                    .flags = cmd->flags, .notes = notes};
        queue_accepted(b, c, ch, &s);
        queue_dispatch(b, ch);
        return 0;
    }
    /* A retained value waits for later subscribers: it reaches somebody. */
    int kept = (cmd->flags & PS_WIRE_RETAIN) && cmd->data.len > 0;
    if (strict && !kept && !deliver_has_receiver(ch, &cmd->topic) &&
        !(b->remote_interest && b->remote_interest(b->interest_ctx, ch, &cmd->topic))) {
        snprintf(why, cap, "nobody is subscribed to '%s'%s%.*s%s", ch->name,
                 ch->type == CHAN_PUBSUB ? " for topic '" : "",
                 ch->type == CHAN_PUBSUB ? (int)cmd->topic.len : 0, cmd->topic.ptr,
                 ch->type == CHAN_PUBSUB ? "'" : "");
        return PS_WERR_NORESP;
    }
    if (ch->slow == SLOW_BLOCK && deliver_full_receiver(b, ch, &cmd->topic)) {
        /* slow_subscriber = "block": the publish waits, parked with its
         * publisher, until every receiver has room. */
        c->park_why = PARK_RECEIVER;
        return CHAN_PARK;
    }
    uint64_t seq = ch->seq + 1;
    int retain = (cmd->flags & PS_WIRE_RETAIN) != 0;
    if (retain && (code = retained_set(b, ch, cmd, seq, b->link ? hlc_next(b) : 0, NULL, why,
                                       cap)))
        return code;
    ch->seq = seq;
    count_in(b, ch, cmd->data.len);
    if (cmd->flags & PS_WIRE_CONFIRM)
        out_ok(b, c, cmd->corr, 0); /* accepted: a confirm on a channel without a store */
    pending *pd = NULL;
    if (cmd->flags & PS_WIRE_SYNC)
        pd = pending_new(b, c, cmd->corr, 0, cmd->timeout_ms);
    /* The cluster's tap sends a retained value to every peer, and a sync
     * message as one whose receivers there are counted. */
    b->fan_retained = retain ? retained_find(ch, &cmd->topic) : NULL;
    b->fan_sync = pd;
    if (pd)
        pd->n_legs++; /* held while the fan-out runs: the tap may add legs */
    unsigned reached = deliver_fan_out(b, ch, seq, &cmd->topic, &cmd->data, pd);
    b->fan_sync = NULL;
    if (pd) {
        pd->n_legs--;
        pending_check(b, pd); /* nobody (or nobody reachable): RESULT at once */
    }
    if (!reached && !kept &&
        !(b->remote_interest && b->remote_interest(b->interest_ctx, ch, &cmd->topic)))
        notes |= PS_WIRE_NOTE_NOBODY; /* nobody here, nor on another node */
    b->fan_retained = NULL;
    note(c, ch, notes);
    return 0;
}

/* A run into a queue that this node keeps in memory: each payload is
 * queued as chan_publish queues it (nothing to confirm, stage or note),
 * and the consumers are served once, after the run.  A payload over the
 * size limit, a full queue or no memory end the run: chan_publish takes
 * that payload and parks or refuses it, and says why. */
static int queue_run(broker *b, channel *ch, ps__cmd *cmd)
{
    ps__cmd one = {.cmd = PS_CMD_PUBLISH, .channel = cmd->channel, .topic = cmd->topic};
    ps__slice rest = cmd->data;
    int rc = 0;
    while (cmd->count && ps__wire_batch_next(&rest, &one.data)) {
        uint16_t code;
        char why[8]; /* unread: chan_publish explains a refusal */
        if ((long)one.data.len > b->cfg->max_message_size ||
            !queue_push(ch, &one, &code, why, sizeof why)) {
            rc = CHAN_ONE; /* a full queue too: queue_push refuses it */
            break;
        }
        count_in(b, ch, one.data.len);
        cmd->data = rest;
        cmd->count--;
    }
    queue_dispatch(b, ch);
    return rc;
}

int chan_publish_run(broker *b, client *c, ps__cmd *cmd)
{
    /* What chan_publish judges once a run: message_channel's memory of
     * the channel (its name, right and the publisher's session), then the
     * flags; a durable, replicated or clustered queue, a retained value or
     * a strict publish that reaches nobody take chan_publish's way, one
     * payload at a time. */
    channel *ch = c->msg_ch;
    if (!remembered(b, c, cmd, VERB_PUBLISH) || (cmd->flags & ~PS_WIRE_STRICT) ||
        !topic_valid_name(cmd->topic.ptr, cmd->topic.len))
        return CHAN_ONE;
    if (ch->type == CHAN_QUEUE)
        return ch->store || ch->replicated || b->link ? CHAN_ONE : queue_run(b, ch, cmd);
    deliver_run run;
    if (deliver_run_begin(b, &run, ch, &cmd->topic) < 0)
        return CHAN_ONE;
    int anyone = run.n || (b->remote_interest && b->remote_interest(b->interest_ctx, ch, &cmd->topic));
    int rc = 0;
    if (!anyone && (cmd->flags & PS_WIRE_STRICT))
        rc = CHAN_ONE; /* each is refused, and told why, by chan_publish */
    ps__slice rest = cmd->data, data;
    while (!rc && cmd->count && !c->dead && !c->cut && ps__wire_batch_next(&rest, &data)) {
        if ((long)data.len > b->cfg->max_message_size)
            rc = CHAN_ONE; /* refused by chan_publish, with its reason */
        else if (ch->slow == SLOW_BLOCK && deliver_run_full(b, &run)) {
            c->park_why = PARK_RECEIVER; /* as chan_publish parks */
            rc = CHAN_PARK;
        }
        if (rc)
            break;
        uint64_t seq = ++ch->seq;
        count_in(b, ch, data.len);
        deliver_run_one(b, &run, seq, &data);
        if (!anyone)
            note(c, ch, PS_WIRE_NOTE_NOBODY);
        cmd->data = rest;
        cmd->count--;
    }
    deliver_run_end(&run);
    return rc;
}

uint16_t chan_publish_plain(broker *b, const ps__slice *name, const ps__slice *topic,
                            const ps__slice *data, char *why, size_t cap)
{
    uint16_t code = 0;
    if (is_sys(name))
        return sys_refusal(why, cap);
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
    count_in(b, ch, data->len);
    deliver_fan_out(b, ch, seq, topic, data, NULL);
    return 0;
}

static uint16_t publish_link(broker *b, const ps__cmd *msg, uint64_t missed, pending *pd);

uint16_t chan_publish_link(broker *b, const ps__cmd *msg, uint64_t missed)
{
    return publish_link(b, msg, missed, NULL);
}

uint16_t chan_publish_link_sync(broker *b, const ps__cmd *msg, uint64_t missed, pending *pd)
{
    return publish_link(b, msg, missed, pd);
}

/* chan_publish_link, with pd the waiter of a sync message's receipts or
 * NULL. */
static uint16_t publish_link(broker *b, const ps__cmd *msg, uint64_t missed, pending *pd)
{
    char why[256];
    uint16_t code = 0;
    if (is_sys(&msg->channel))
        return PS_WERR_DENIED; /* each node has its own */
    channel *ch = chan_resolve(b, &msg->channel, 1, &code, why, sizeof why);
    if (!ch)
        return code;
    if ((ch->type == CHAN_QUEUE) != ((msg->flags & PS_WIRE_LINK_QUEUE) != 0))
        return PS_WERR_WRONGTYPE;
    if ((code = message_fault(b, &msg->topic, msg->data.len, why, sizeof why)))
        return code;
    if (ch->replicated) {
        /* Published at another node for this home: proposed like our own,
         * with nobody here to answer. */
        if ((code = replq_publish(b, NULL, ch, msg, NULL, why, sizeof why))) {
            log_limited(LOG_LVL_WARNING, "cluster: queue messages from links dropped", "",
                        "cluster: a message for queue '%s' from a peer dropped: %s", ch->name,
                        why);
            return code;
        }
        count_in(b, ch, msg->data.len);
        return 0;
    }
    if (ch->type == CHAN_QUEUE) {
        /* Published at another node for this home: the sender answered
         * its publisher; a full queue here drops it, logged. */
        qmsg *qm = queue_push(ch, msg, &code, why, sizeof why);
        if (!qm) {
            log_limited(LOG_LVL_WARNING, "cluster: queue messages from links dropped", "",
                        "cluster: a message for queue '%s' from a peer dropped: %s", ch->name,
                        why);
            return code;
        }
        count_in(b, ch, msg->data.len);
        queue_dispatch(b, ch);
        return 0;
    }
    uint64_t seq = ch->seq + 1;
    if (msg->cmd == PS_CMD_LINK_RETAINED) {
        /* The newest value wins, by its clock and then its node: the same
         * choice on every node, whatever order the values came in. */
        if (ch->type != CHAN_PUBSUB || !ch->retain)
            return PS_WERR_WRONGTYPE;
        if (msg->stamp > b->hlc)
            b->hlc = msg->stamp;
        retained *r = retained_find(ch, &msg->topic);
        if (r && !retained_newer(b, r, msg->stamp, msg->text.ptr, msg->text.len))
            return 0;
        if ((code = retained_set(b, ch, msg, seq, msg->stamp, &msg->text, why, sizeof why)))
            return code;
        if (msg->flags & PS_WIRE_LINK_RESYNC)
            return 0; /* kept for subscribers to come, not news */
    }
    if (missed) {
        /* Told like any other loss: a GAP before the subscriber's next
         * delivery on the channel. */
        sub *s;
        TAILQ_FOREACH(s, &ch->subs, ch_link)
            if (!s->requests_only)
                s->gap += missed;
    }
    ch->seq = seq;
    count_in(b, ch, msg->data.len);
    deliver_fan_out(b, ch, seq, &msg->topic, &msg->data, pd);
    return 0;
}

void chan_publish_sys(broker *b, const char *topic, const char *text)
{
    ps__slice name = {CHAN_SYS, sizeof CHAN_SYS - 1};
    channel *ch = chan_find(b, name.ptr, name.len);
    if (!ch && !(ch = chan_create(b, name.ptr, name.len, NULL)))
        return; /* out of memory: this tick's stats are lost, the next may go */
    ch->retain = 0;
    ps__slice t = {topic, strlen(topic)}, d = {text, strlen(text)};
    uint64_t seq = ++ch->seq;
    count_in(b, ch, d.len);
    deliver_fan_out(b, ch, seq, &t, &d, NULL);
}

/* Subscriptions ---------------------------------------------------------- */

static sub *sub_find(client *c, channel *ch, const char *pattern, size_t plen)
{
    sub *s;
    LIST_FOREACH(s, &c->subs, cl_link)
        if (s->ch == ch && s->plen == plen && memcmp(s->pattern, pattern, plen) == 0)
            return s;
    return NULL;
}

/* The pattern a subscription stores: pubsub filters, "" elsewhere. */
static ps__slice sub_pattern(const channel *ch, const ps__cmd *cmd)
{
    ps__slice p = {"", 0};
    if (ch->type == CHAN_PUBSUB)
        p = cmd->topic.len ? cmd->topic : (ps__slice){"#", 1};
    return p;
}

static uint16_t sub_ok(broker *b, client *c, sub *s, uint64_t corr, int news);

/* A new subscription of c to ch with pattern, last in the channel's
 * round-robin order; NULL on ENOMEM. */
static sub *sub_new(client *c, channel *ch, const char *pattern, size_t plen)
{
    sub *s = calloc(1, sizeof *s);
    if (!s || !(s->pattern = strndup(pattern, plen))) {
        free(s);
        return NULL;
    }
    s->plen = plen;
    s->cl = c;
    s->ch = ch;
    LIST_INSERT_HEAD(&c->subs, s, cl_link);
    c->n_subs++;
    TAILQ_INSERT_TAIL(&ch->subs, s, ch_link);
    ch->n_subs++;
    return s;
}

int chan_subscribe(broker *b, client *c, const ps__cmd *cmd, char *why, size_t cap)
{
    /* A responder needs the right to reply; to get messages too, the
     * right to subscribe (consume) as well. */
    int responder = (cmd->flags & PS_WIRE_RESPONDER) != 0;
    uint16_t code;
    channel *ch = chan_lookup(b, c, &cmd->channel, 1, responder ? VERB_REPLY : VERB_SUBSCRIBE,
                              responder ? VERB_REPLY : VERB_CONSUME, &code, why, cap);
    if (!ch)
        return code;
    int requests_only = responder &&
        !auth_may(b, c, ch->type == CHAN_QUEUE ? VERB_CONSUME : VERB_SUBSCRIBE, ch, ch->name,
                  strlen(ch->name));
    ps__slice p = sub_pattern(ch, cmd);
    if (ch->type == CHAN_PUBSUB && !topic_valid_pattern(p.ptr, p.len)) {
        snprintf(why, cap, "invalid pattern ('+' and '#' only as whole levels, '#' last)");
        return PS_WERR_INVALID;
    }
    sub *s = sub_find(c, ch, p.ptr, p.len);
    if (s && s->wait_seq) {
        /* The same SUBSCRIBE again, parked until the cluster's peers know
         * of it: its OK (and retained values) go once they applied it. */
        if (!b->interest_acked(b->interest_ctx, s->wait_seq) && b->now < s->wait_until) {
            c->park_why = PARK_INTEREST;
            return CHAN_PARK;
        }
        s->wait_seq = 0;
        return sub_ok(b, c, s, cmd->corr, 1);
    }
    /* Retained values go to a subscription that is new (or newly more than
     * requests only): a SUBSCRIBE repeated must not have them sent again,
     * or one frame of repeats would queue a copy per record. */
    int news = !s || (s->requests_only && !requests_only);
    if (!s) {
        if ((long)c->n_subs >= b->cfg->max_subscriptions) {
            snprintf(why, cap, "max_subscriptions %ld reached", b->cfg->max_subscriptions);
            return PS_WERR_LIMIT;
        }
        if (!(s = sub_new(c, ch, p.ptr, p.len))) {
            snprintf(why, cap, "out of memory");
            return PS_WERR_LIMIT;
        }
        /* On a queue the links hear of consumers too: a node consumes
         * another node's queue on their behalf. */
        s->interest = !requests_only && b->interest;
        uint64_t seq = s->interest ? b->interest(b->interest_ctx, ch, s->pattern, s->plen, 1) : 0;
        if (seq && !b->interest_acked(b->interest_ctx, seq)) {
            /* "Nothing published after the OK is missed" holds cluster-wide:
             * the OK waits (parked, at most INTEREST_WAIT_MS) until every
             * peer that is up applied the new interest. */
            s->wait_seq = seq;
            s->wait_until = b->now + INTEREST_WAIT_MS;
            s->responder = responder;
            s->requests_only = requests_only;
            s->window = cmd->window ? cmd->window : 100;
            c->park_why = PARK_INTEREST;
            return CHAN_PARK;
        }
    }
    s->responder = responder;
    s->requests_only = requests_only;
    s->window = cmd->window ? cmd->window : 100;
    log_debug("client %llu subscribed to %s '%.*s'%s", (unsigned long long)c->num, ch->name,
              (int)p.len, p.ptr, requests_only ? " for requests only" : responder ? " as responder" : "");
    return sub_ok(b, c, s, cmd->corr, news);
}

/* The OK of a subscription, then the retained values it matches when it
 * is news; the end of chan_subscribe. */
static uint16_t sub_ok(broker *b, client *c, sub *s, uint64_t corr, int news)
{
    channel *ch = s->ch;
    int requests_only = s->requests_only;
    if (ch->type == CHAN_QUEUE) {
        out_ok(b, c, corr, 0);
        queue_dispatch(b, ch);
        return 0;
    }
    uint32_t n = 0;
    retained *r;
    if (ch->type == CHAN_PUBSUB && !requests_only && news)
        SLIST_FOREACH(r, &ch->ret, link)
            n += r->len && topic_match(s->pattern, s->plen, r->topic, r->tlen);
    out_ok(b, c, corr, n);
    if (!n)
        return 0;
    SLIST_FOREACH(r, &ch->ret, link) {
        if (c->cut)
            break; /* over its bound: the rest would only be dropped */
        if (!r->len || !topic_match(s->pattern, s->plen, r->topic, r->tlen))
            continue; /* a tombstone, or not for it */
        ps__slice topic = {r->topic, r->tlen}, data = {(const char *)r->data, r->len};
        deliver(b, s, PS_WIRE_RETAINED, r->seq, 0, topic, data, 0);
    }
    return 0;
}

void chan_sub_remove(broker *b, sub *s)
{
    client *c = s->cl;
    channel *ch = s->ch;
    LIST_REMOVE(s, cl_link);
    c->n_subs--;
    TAILQ_REMOVE(&ch->subs, s, ch_link);
    ch->n_subs--;
    if (s->interest && b->interest)
        b->interest(b->interest_ctx, ch, s->pattern, s->plen, 0);
    if (ch->type == CHAN_QUEUE && s->inflight) {
        /* The client's ticket list runs newest first, and each requeue goes
         * to the front, so the oldest message ends up first again. */
        ticket *t, *nx;
        for (t = LIST_FIRST(&c->tickets); t; t = nx) {
            nx = LIST_NEXT(t, cl_link);
            if (t->kind == TICKET_QUEUE && t->qm->owner == s)
                queue_requeue(b, t);
        }
    }
    free(s->pattern);
    free(s);
    if (ch->type == CHAN_QUEUE)
        queue_dispatch(b, ch);
}

int chan_relay_consume(broker *b, client *c, channel *ch, uint32_t window)
{
    sub *s = sub_find(c, ch, "", 0);
    if (!window) {
        if (s)
            chan_sub_remove(b, s);
        return 0;
    }
    if (!s && !(s = sub_new(c, ch, "", 0)))
        return -1;
    s->window = window;
    queue_dispatch(b, ch);
    return 0;
}

uint16_t chan_unsubscribe(broker *b, client *c, const ps__cmd *cmd, char *why, size_t cap)
{
    uint16_t code;
    channel *ch = chan_lookup(b, c, &cmd->channel, 0, NO_VERB, NO_VERB, &code, why, cap);
    if (!ch && code == PS_WERR_NOCHANNEL) {
        /* A channel that does not exist holds none of its subscriptions:
         * the answer of any channel it is not subscribed to, since
         * UNSUBSCRIBE needs no right and must not tell which exist. */
        out_ok(b, c, cmd->corr, 0);
        return 0;
    }
    if (!ch)
        return code;
    ps__slice p = sub_pattern(ch, cmd);
    sub *s = sub_find(c, ch, p.ptr, p.len);
    if (s)
        chan_sub_remove(b, s);
    out_ok(b, c, cmd->corr, s != NULL);
    return 0;
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
    if (b->stage.n && b->stage.c == c)
        chan_stage_flush(b); /* taken before c went: queued, and its waits dropped below */
    c->msg_ch = NULL; /* a new session is judged anew */
    store_client_gone(b, c);
    replq_client_gone(b, c);
    ticket *t;
    while ((t = LIST_FIRST(&c->tickets))) {
        if (t->kind == TICKET_QUEUE) {
            channel *ch = t->qm->owner->ch;
            queue_requeue(b, t);
            queue_dispatch(b, ch);
        } else {
            /* A receiver or responder that went away will not answer. */
            pending *pd = t->pd;
            pd->gone++;
            ticket_free(b, t);
            pending_check(b, pd);
        }
    }
    /* The list holds every client's waits: the scan ends with c's last
     * one, and costs nothing for a client that has none (a HELLO resets
     * the session, and a client may send thousands in a frame). */
    pending *pd, *nx;
    for (pd = LIST_FIRST(&b->pendings); pd && c->n_waiting; pd = nx) {
        nx = LIST_NEXT(pd, link);
        if (pd->requester != c)
            continue;
        pending_forsake(pd);
        if (pd->qm)
            pending_finish(b, pd); /* the message stays queued */
    }
}

/* Requests --------------------------------------------------------------- */

/* Hands the request cmd on ch to its matching responders here (one,
 * round-robin, on a queue), each with a ticket of *pdp, which is made
 * for c at the first one unless the caller gave it.  Returns the
 * responders reached. */
static unsigned request_local(broker *b, client *c, channel *ch, const ps__cmd *cmd,
                              pending **pdp)
{
    unsigned reached = 0;
    uint64_t stamp = ++b->next_stamp, seq = 0;
    sub *s, *nx;
    for (s = TAILQ_FIRST(&ch->subs); s; s = nx) {
        nx = TAILQ_NEXT(s, ch_link);
        if (!s->responder || s->cl->dead || s->cl->stamp == stamp)
            continue;
        if (ch->type == CHAN_PUBSUB &&
            !topic_match(s->pattern, s->plen, cmd->topic.ptr, cmd->topic.len))
            continue;
        s->cl->stamp = stamp;
        if (!*pdp && !(*pdp = pending_new(b, c, cmd->corr, 1, cmd->timeout_ms)))
            return reached; /* out of memory */
        if (!seq) {
            seq = ++ch->seq;
            count_in(b, ch, cmd->data.len);
        }
        reached++;
        ticket *t = ticket_new(b, TICKET_REQUEST, s->cl, *pdp);
        if (!t)
            continue;
        (*pdp)->expected++;
        deliver(b, s, PS_WIRE_REQUEST, seq, t->tag, cmd->topic, cmd->data, 0);
        if (ch->type == CHAN_QUEUE) {
            sub_to_tail(ch, s); /* round-robin among responders */
            break;
        }
    }
    return reached;
}

uint16_t chan_request(broker *b, client *c, const ps__cmd *cmd, char *why, size_t cap)
{
    uint16_t code;
    channel *ch = message_channel(b, c, cmd, 1, VERB_REQUEST, VERB_REQUEST, &code, why, cap);
    if (!ch)
        return code;
    if ((code = pending_refusal(b, c, why, cap)))
        return code;
    pending *pd = NULL;
    unsigned local = request_local(b, c, ch, cmd, &pd);
    if (b->waits && ch->type != CHAN_QUEUE) {
        /* A survey hears the responders of every node: the peers whose
         * interest matches are asked too (legs of pd). */
        if (!pd && !(pd = pending_new(b, c, cmd->corr, 1, cmd->timeout_ms))) {
            snprintf(why, cap, "out of memory");
            return PS_WERR_LIMIT;
        }
        b->waits->request(b->interest_ctx, pd, ch, cmd);
        if (!local && !pd->legs && !pd->expected) {
            pending_forsake(pd); /* nobody here nor on a peer: said at once */
            pending_finish(b, pd);
            pd = NULL;
        }
    }
    if (!pd) {
        snprintf(why, cap, "no responders on '%s'", ch->name);
        return PS_WERR_NORESP;
    }
    pending_check(b, pd);
    return 0;
}

uint16_t chan_request_link(broker *b, const ps__cmd *cmd, pending *pd)
{
    char why[256];
    uint16_t code = 0;
    if (is_sys(&cmd->channel))
        return PS_WERR_DENIED;
    channel *ch = chan_find(b, cmd->channel.ptr, cmd->channel.len);
    if (!ch || ch->type == CHAN_QUEUE)
        return PS_WERR_NORESP; /* no responder here: the asking node hears 0 */
    if ((code = message_fault(b, &cmd->topic, cmd->data.len, why, sizeof why)))
        return code;
    if (!request_local(b, NULL, ch, cmd, &pd))
        return PS_WERR_NORESP;
    pending_check(b, pd);
    return 0;
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
        out_put(b, pd->requester, &r);
    } else if (pd->origin && b->waits) {
        b->waits->reply(b->interest_ctx, pd, cmd->status, &cmd->data); /* to the asking node */
    }
    pd->answered++;
    ticket_free(b, t);
    pending_check(b, pd);
}

/* Shutdown --------------------------------------------------------------- */

void chan_free_all(broker *b)
{
    free(b->stage.v); /* empty: every frame's stage was written before it ended */
    b->stage = (chan_stage){0};
    pending_free_all(b);
    channel *ch;
    while ((ch = SLIST_FIRST(&b->channels))) {
        SLIST_REMOVE_HEAD(&b->channels, link);
        chan_free(b, ch);
    }
    for (size_t i = 0; i < BROKER_HASH; i++)
        SLIST_INIT(&b->hchannels[i]);
    b->n_channels = 0;
    while (b->n_deleted)
        deleted_drop(b, b->n_deleted - 1);
    free(b->deleted);
    b->deleted = NULL;
}

/* Run-time administration ------------------------------------------------- */

uint16_t chan_declare(broker *b, const config_channel *cc, char *why, size_t cap)
{
    size_t len = strlen(cc->name);
    if (!ps__wire_valid_channel(cc->name, len)) {
        snprintf(why, cap, "invalid channel name (1 to 255 of A-Z a-z 0-9 _ . -)");
        return PS_WERR_INVALID;
    }
    channel *ch = chan_find(b, cc->name, len);
    if (ch) {
        snprintf(why, cap, "channel '%s' exists already (%s)", ch->name,
                 config_type_name(ch->type));
        return PS_WERR_INVALID;
    }
    if ((long)b->n_channels >= b->cfg->max_channels) {
        snprintf(why, cap, "channel '%s' not created: max_channels %ld reached", cc->name,
                 b->cfg->max_channels);
        return PS_WERR_LIMIT;
    }
    if (!(ch = chan_create(b, cc->name, len, cc))) {
        snprintf(why, cap, "out of memory");
        return PS_WERR_LIMIT;
    }
    ch->declared = 0; /* made at run time: it lasts until deleted or a restart */
    if (chan_settle(b, ch, cc) < 0) {
        chan_delete(b, ch);
        snprintf(why, cap, "durable queue '%s' not created: its store cannot be opened (see "
                 "the broker's log)", cc->name);
        return PS_WERR_LIMIT;
    }
    long i = deleted_find(b, cc->name);
    if (i >= 0)
        deleted_drop(b, (size_t)i);
    return 0;
}

void chan_delete(broker *b, channel *ch)
{
    /* Its subscribers first: their unacknowledged messages come back to
     * the queue, and go with the rest. */
    while (!TAILQ_EMPTY(&ch->subs))
        chan_sub_remove(b, TAILQ_FIRST(&ch->subs));
    queue_purge(b, ch);
    store_remove(&ch->store);
    if (ch->declared && deleted_find(b, ch->name) < 0) {
        char **d = realloc(b->deleted, (b->n_deleted + 1) * sizeof *d);
        if (d) {
            b->deleted = d;
            if ((d[b->n_deleted] = strdup(ch->name)))
                b->n_deleted++;
        }
    }
    SLIST_REMOVE(&b->hchannels[name_hash(ch->name, strlen(ch->name))], ch, channel, hlink);
    SLIST_REMOVE(&b->channels, ch, channel, link);
    b->n_channels--;
    b->chan_gen++; /* clients that remembered ch (msg_ch) look it up again */
    chan_free(b, ch);
}

size_t chan_retained_count(const channel *ch)
{
    size_t n = 0;
    const retained *r;
    SLIST_FOREACH(r, &ch->ret, link)
        n += r->len != 0; /* a tombstone (len 0) holds no value */
    return n;
}

size_t chan_retained_clear(broker *b, channel *ch, const char *pattern, size_t plen)
{
    size_t n = 0;
    retained *r, *nx;
    for (r = SLIST_FIRST(&ch->ret); r; r = nx) {
        nx = SLIST_NEXT(r, link);
        if (!topic_match(pattern, plen, r->topic, r->tlen))
            continue;
        SLIST_REMOVE(&ch->ret, r, retained, link);
        retained_free(b, r);
        ch->n_retained--;
        n++;
    }
    return n;
}
