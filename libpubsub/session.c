/*
 * session.c - the protocol state of one connection, without I/O (see
 * session.h).  Every function here changes the session's fields and
 * records in s->fx what its caller must do about it; none of them
 * sleeps, reads a clock or touches a descriptor.  The bytes to send are
 * records encoded into s->out (the application's commands, in order),
 * s->sending (the batch on its way) and s->urgent (control records that
 * go before anything else).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "session.h"

#define OUT_MAX PS_LIB_OUT_MAX    /* bytes the application may queue before it blocks */
#define RQ_HIGH PS_LIB_RQ_HIGH    /* received bytes waiting for ps_recv before we stop reading */
#define RQ_LOW (RQ_HIGH / 4)      /* ... and start reading again */
#define RQ_HARD (64u << 20)       /* ... the high mark while a call waits for an answer */
#define MSG_COST 64               /* bytes a message counts in rq_bytes beyond its payload */
#define DEFAULT_MAX_SIZE 1048576u /* max_message_size until the broker said otherwise */
#define SILENT "the broker fell silent" /* why a session is lost to the heartbeat timeout */

/*
 * Whether the received messages are too many to read on.  An answer that
 * a call waits for (an op, a confirm) may sit behind them in the stream,
 * and the thread waiting may be the one that would call ps_recv: while
 * one waits, reading goes on up to RQ_HARD, the bound of old, so that
 * the answer arrives (a ps_flush behind 4,000 unread messages waited
 * for its timeout at RQ_HIGH).
 */
static int rq_over(const ps__session *s)
{
    /* While the broker holds our publishes, its RESUME may sit behind
     * unread messages too, and the application may be blocked in
     * ps_publish rather than reading. */
    size_t high = LIST_EMPTY(&s->ops) && !s->unconfirmed && !s->held ? RQ_HIGH : RQ_HARD;
    return s->rq_bytes > high;
}

/* Reads again when the bound was raised (a call now waits, the broker
 * paused us) and the received messages are back under it. */
static void rq_reopen(ps__session *s)
{
    if (s->paused && !rq_over(s)) {
        s->paused = 0;
        s->fx |= PS_FX_SEND; /* the I/O side reads the socket again */
    }
}

static char *dup_slice(const ps__slice *s)
{
    char *p = malloc(s->len + 1);
    if (p) {
        if (s->len)
            memcpy(p, s->ptr, s->len);
        p[s->len] = '\0';
    }
    return p;
}

/* A slice of a NUL-terminated text: its length is the text's. */
static ps__slice text_slice(const char *t)
{
    return (ps__slice){t, strlen(t)};
}

/* Remembers the first refusal for the next ps_flush. */
static void note_async_error(ps__session *s, int err, const ps__slice *text)
{
    if (s->async_err)
        return;
    s->async_err = err;
    free(s->async_text);
    s->async_text = text && text->len ? dup_slice(text) : NULL;
}

static void sub_free(ps__sub *sub)
{
    if (!sub)
        return;
    free(sub->channel);
    free(sub->pattern);
    free(sub);
}

ps__sub *ps__sub_new(const char *channel, const char *pattern, uint8_t flags)
{
    ps__sub *sub = calloc(1, sizeof *sub);
    if (!sub)
        return NULL;
    sub->channel = strdup(channel);
    sub->pattern = strdup(pattern);
    sub->flags = flags;
    if (!sub->channel || !sub->pattern) {
        sub_free(sub);
        errno = ENOMEM;
        return NULL;
    }
    return sub;
}

static void msgq_free(struct ps__msgq *q)
{
    ps_msg *m;
    while ((m = STAILQ_FIRST(q))) {
        STAILQ_REMOVE_HEAD(q, link);
        ps_msg_destroy(&m);
    }
}

ps__op *ps__op_new(enum ps__op_kind kind, ps__sub *sub)
{
    ps__op *o = calloc(1, sizeof *o);
    if (!o) {
        sub_free(sub);
        return NULL;
    }
    o->kind = kind;
    o->sub = sub;
    STAILQ_INIT(&o->replies);
    return o;
}

void ps__op_free(ps__op *o)
{
    if (!o)
        return;
    msgq_free(&o->replies);
    sub_free(o->sub);
    free(o->errtext);
    free(o->json);
    free(o);
}

ps__op *ps__session_op(ps__session *s, uint64_t corr)
{
    ps__op *o;
    LIST_FOREACH(o, &s->ops, link)
        if (o->corr == corr)
            return o;
    return NULL;
}

void ps__session_op_remove(ps__session *s, ps__op *o)
{
    (void)s;
    LIST_REMOVE(o, link);
}

ps_msg *ps__op_reply(ps__op *o)
{
    ps_msg *m = STAILQ_FIRST(&o->replies);
    if (m)
        STAILQ_REMOVE_HEAD(&o->replies, link);
    return m;
}

static void op_fail(ps__op *o, int err)
{
    if (o->done)
        return;
    o->err = err;
    o->done = 1;
}

/* Every waiting call fails with err. */
static void fail_all(ps__session *s, int err)
{
    ps__op *o;
    LIST_FOREACH(o, &s->ops, link)
        op_fail(o, err);
}

/* Queues a control record in urgent. */
static void put_urgent(ps__session *s, const ps__cmd *cmd)
{
    ps__wire_put(&s->urgent, cmd); /* only ENOMEM: then it is not sent, as a full pipe would not */
}

static void hello(ps__session *s, int64_t now)
{
    ps__cmd h = {.cmd = PS_CMD_HELLO, .major = PS_WIRE_MAJOR, .minor = (uint8_t)s->opts->minor,
                 .heartbeat_ms = (uint32_t)s->opts->heartbeat_ms};
    if (s->opts->name)
        h.text = text_slice(s->opts->name);
    s->urgent.len = 0; /* a HELLO starts the socket's conversation */
    put_urgent(s, &h);
    s->hello_at = now;
}

void ps__session_init(ps__session *s, const struct ps_opts *o, int64_t now)
{
    memset(s, 0, sizeof *s);
    s->opts = o;
    s->state = PS_SESSION_HANDSHAKE;
    s->max_size = DEFAULT_MAX_SIZE;
    s->batch_at = s->ack_at = SIZE_MAX;
    LIST_INIT(&s->ops);
    LIST_INIT(&s->subs);
    LIST_INIT(&s->gaps);
    STAILQ_INIT(&s->rq);
    s->last_in = s->last_out = now;
    hello(s, now);
}

void ps__session_free(ps__session *s)
{
    ps__op *o;
    while ((o = LIST_FIRST(&s->ops))) {
        LIST_REMOVE(o, link);
        ps__op_free(o);
    }
    msgq_free(&s->rq);
    ps__msg_pool_release(&s->pool);
    ps__sub *sub;
    while ((sub = LIST_FIRST(&s->subs))) {
        LIST_REMOVE(sub, link);
        sub_free(sub);
    }
    ps__gap *g;
    while ((g = LIST_FIRST(&s->gaps))) {
        LIST_REMOVE(g, link);
        free(g);
    }
    ps__buf_free(&s->out);
    ps__buf_free(&s->sending);
    ps__buf_free(&s->urgent);
    free(s->async_text);
    s->async_text = NULL;
}

unsigned ps__session_fx(ps__session *s)
{
    unsigned fx = s->fx;
    s->fx = 0;
    return fx;
}

int ps__session_err(const ps__session *s)
{
    return s->conn_err ? s->conn_err : EHOSTUNREACH;
}

int ps__session_input_open(const ps__session *s)
{
    return s->state != PS_SESSION_DEAD && !s->reopen && !s->paused;
}

/* ---------------------------------------------------------------------------
 * Sending.
 */

/* Whether a record of command cmd goes to the broker while it holds our
 * publishes: the broker handles these ahead of what it parked, and a
 * consumer that also publishes to the full queue frees it with them. */
static int passes_hold(uint8_t cmd)
{
    return cmd == PS_CMD_ACK || cmd == PS_CMD_ACK_BATCH || cmd == PS_CMD_REPLY;
}

int ps__session_full(const ps__session *s, const ps__cmd *cmd, size_t need)
{
    if (s->held && passes_hold(cmd->cmd))
        return 0;
    return s->out.len && s->out.len + need > OUT_MAX;
}

int ps__session_window_full(const ps__session *s)
{
    return s->opts->confirm_window > 0 && s->unconfirmed >= (uint64_t)s->opts->confirm_window;
}

/* Whether cmd, a record to queue, is a publish that may travel in a
 * PUBLISH_BATCH: plain (no answer of its own, so no corr), with no flag a
 * batch cannot carry, towards a broker that said 1.2 and from a client
 * that speaks it. */
static int batchable(const ps__session *s, const ps__cmd *cmd, const ps__op *o, int confirm)
{
    return cmd->cmd == PS_CMD_PUBLISH && !o && !confirm &&
           !(cmd->flags & ~(PS_WIRE_RETAIN | PS_WIRE_STRICT)) && s->broker_minor >= 2 &&
           s->opts->minor >= 2;
}

/* The 8 (or 4) bytes at p as one word, for comparing. */
static uint64_t word8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t word4(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Whether a and the n bytes at b are the same: asked for the channel and
 * the topic of every publish batched, and a call of memcmp costs more
 * than their few bytes, so up to 16 are compared as two words that
 * overlap (or four bytes, or one at a time below 4). */
static int same_bytes(const ps__slice *a, const char *b, size_t n)
{
    if (a->len != n)
        return 0;
    const char *p = a->ptr;
    if (n > 16)
        return memcmp(p, b, n) == 0;
    if (n >= 8)
        return word8(p) == word8(b) && word8(p + n - 8) == word8(b + n - 8);
    if (n >= 4)
        return word4(p) == word4(b) && word4(p + n - 4) == word4(b + n - 4);
    for (size_t i = 0; i < n; i++)
        if (p[i] != b[i])
            return 0;
    return 1;
}

/*
 * Queues a plain publish in the batch that ends out, or in a new one.  An
 * application publishes run after run to one channel and topic: the key
 * of the batch that ends out is kept, and a publish with the same key
 * joins it with ps__wire_batch_grow, without the codec comparing the
 * record's fields to it; any other, or one past the batch's bounds, goes
 * through ps__wire_batch_add, which judges it.
 */
static int submit_batched(ps__session *s, const ps__cmd *cmd)
{
    if (s->batch_at != SIZE_MAX && s->batch_end == s->out.len && s->batch_flags == cmd->flags &&
        same_bytes(&cmd->channel, s->batch_channel, s->batch_channel_len) &&
        same_bytes(&cmd->topic, s->batch_topic, s->batch_topic_len)) {
        int rc = ps__wire_batch_grow(&s->out, s->batch_at, s->batch_count_at, cmd->data.ptr,
                                     cmd->data.len);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            s->batch_end = s->out.len;
            s->plain_queued++;
            return 0;
        }
    }
    ps__cmd b = {.cmd = PS_CMD_PUBLISH_BATCH, .flags = cmd->flags, .channel = cmd->channel,
                 .topic = cmd->topic, .data = cmd->data};
    if (ps__wire_batch_add(&s->out, &s->batch_at, &b) < 0)
        return -1;
    s->plain_queued++;
    s->batch_end = s->out.len;
    s->batch_count_at = ps__wire_batch_count_at(&s->out, s->batch_at);
    s->batch_flags = cmd->flags;
    /* A name or topic the codec took is within PS_WIRE_NAME_MAX and
     * PS_WIRE_TOPIC_MAX, the sizes of the copies. */
    s->batch_channel_len = (uint16_t)cmd->channel.len;
    memcpy(s->batch_channel, cmd->channel.ptr, cmd->channel.len);
    s->batch_topic_len = (uint16_t)cmd->topic.len;
    memcpy(s->batch_topic, cmd->topic.ptr, cmd->topic.len);
    return 0;
}

int ps__session_submit(ps__session *s, ps__cmd *cmd, ps__op *o, int confirm)
{
    if (s->state == PS_SESSION_DEAD) {
        errno = ps__session_err(s);
        return -1;
    }
    if (batchable(s, cmd, o, confirm))
        return submit_batched(s, cmd);
    if (cmd->cmd == PS_CMD_ACK && s->broker_minor >= 3 && s->opts->minor >= 3) {
        /* 1.3: the ACKs that wait together go as one ACK_BATCH. */
        if (ps__wire_tag_add(&s->out, &s->ack_at, cmd->tag) < 0)
            return -1;
        s->acks_out++;
        return 0;
    }
    if (cmd->cmd == PS_CMD_ACK)
        s->acks_out++;
    if (o) {
        o->corr = PS_OP_BIT | ++s->next_corr;
        cmd->corr = o->corr;
    } else if (confirm) {
        cmd->corr = ++s->next_corr & ~PS_OP_BIT;
    }
    if (ps__wire_put(&s->out, cmd) < 0)
        return -1;
    if (o) {
        o->plain_mark = s->plain_queued;
        LIST_INSERT_HEAD(&s->ops, o, link);
        s->out_max_op = o->corr;
    } else if (confirm) {
        s->unconfirmed++;
    } else if (cmd->cmd == PS_CMD_PUBLISH) {
        s->plain_queued++;
    }
    rq_reopen(s); /* its answer may be behind what waits unread */
    return 0;
}

/*
 * ps__session_take while held: moves the ACKs, ACK_BATCHes and REPLYs of
 * out past held_scan into sending and closes the gaps they leave, so that
 * what waits keeps its order.  Each record is looked at about once:
 * held_scan then marks where the next look begins, which is the batch
 * that the next publish may still grow (batch_at) when nothing moved, and
 * when something did, the batches are closed (their offsets moved).
 */
static int take_passing(ps__session *s)
{
    ps__reader r;
    ps__cmd cmd;
    size_t keep = s->held_scan;
    int moved = 0;
    ps__reader_init(&r, s->out.data + keep, s->out.len - keep);
    const uint8_t *rec = r.pos;
    while (ps__wire_next(&r, &cmd) > 0) {
        size_t n = (size_t)(r.pos - rec);
        if (passes_hold(cmd.cmd)) {
            if (ps__buf_append(&s->sending, rec, n) < 0)
                break; /* ENOMEM: the rest waits for the next take */
            moved = 1;
        } else {
            if (s->out.data + keep != rec)
                memmove(s->out.data + keep, rec, n);
            keep += n;
        }
        rec = r.pos;
    }
    size_t rest = s->out.len - (size_t)(rec - s->out.data);
    if (rest && s->out.data + keep != rec)
        memmove(s->out.data + keep, rec, rest);
    s->out.len = keep + rest;
    s->held_scan = keep;
    if (!moved) {
        /* Nothing moved, no offset changed: the publishes go on joining
         * the last batch, which is looked at again when it has grown. */
        if (s->batch_at != SIZE_MAX && s->batch_at < keep)
            s->held_scan = s->batch_at;
        return 0;
    }
    s->batch_at = s->ack_at = SIZE_MAX; /* their records moved */
    s->acks_out = 0;
    s->fx |= PS_FX_SPACE;
    return 1;
}

int ps__session_take(ps__session *s)
{
    if (s->state != PS_SESSION_READY || s->sending.len || !s->out.len)
        return 0;
    if (s->held)
        return s->out.len > s->held_scan ? take_passing(s) : 0;
    ps__buf t = s->sending;
    s->sending = s->out;
    s->out = t;
    s->out.len = 0;
    s->batch_at = s->ack_at = SIZE_MAX; /* the batches left with the rest */
    s->acks_out = 0;
    /* The two buffers take turns and keep their memory, up to the bound of
     * the send queue: giving it back after every burst made the heap
     * shrink and grow again, a page fault for every 4 KiB (see
     * PS_LIB_HEAP_KEEP).  The record that fills the queue may double a
     * buffer past the bound (reserve grows by powers of two), so up to
     * twice it is kept; only a larger single record's room is not. */
    if (s->out.cap > 2 * OUT_MAX)
        ps__buf_free(&s->out);
    if (s->out_max_op > s->sent_max_op)
        s->sent_max_op = s->out_max_op;
    s->plain_taken = s->plain_queued; /* the whole queue was taken */
    s->fx |= PS_FX_SPACE;
    return 1;
}

void ps__session_sent(ps__session *s, int64_t now)
{
    s->last_out = now;
}

void ps__session_bye(ps__session *s)
{
    if (s->state == PS_SESSION_READY) {
        ps__cmd bye = {.cmd = PS_CMD_BYE};
        put_urgent(s, &bye);
    }
}

/* ---------------------------------------------------------------------------
 * Loss.
 */

/* The broker gave a final no (err, its reason in text): the session is
 * dead, and every call fails with err. */
static void refused(ps__session *s, int err, const ps__slice *text)
{
    s->state = PS_SESSION_DEAD;
    s->conn_err = err;
    fail_all(s, err);
    note_async_error(s, err, text);
    s->fx |= PS_FX_DEAD;
}

/*
 * The session is gone (broker silent, or it no longer knows us).  Calls
 * whose commands already left fail; what the application queued since is
 * kept for the next session.  With fresh_socket the old socket and
 * everything still in its pipe are to be dropped (reopen).
 */
static void lost(ps__session *s, int fresh_socket, const char *why, int64_t now)
{
    s->why = why;
    s->fx |= PS_FX_LOST | PS_FX_WAKE;
    ps__op *o;
    LIST_FOREACH(o, &s->ops, link)
        if (o->corr <= s->sent_max_op)
            op_fail(o, EHOSTUNREACH);
    if (s->unconfirmed) {
        ps__slice t = text_slice("connection to the broker lost before confirmation");
        note_async_error(s, EHOSTUNREACH, &t);
        s->unconfirmed = 0;
    }
    /* Plain publishes have no answer of their own: those sent since the
     * last answer that followed them may have died with the session.
     * Nobody kept them to send again, so the next flush must say so. */
    if (s->plain_taken > s->plain_handled) {
        char t[128];
        int n = snprintf(t, sizeof t,
                         "connection to the broker lost: up to %llu messages sent may not have "
                         "been handled",
                         (unsigned long long)(s->plain_taken - s->plain_handled));
        ps__slice text = {t, (size_t)n};
        note_async_error(s, EHOSTUNREACH, &text);
        s->plain_handled = s->plain_taken;
    }
    s->sending.len = 0;
    s->sending_off = 0;
    s->urgent.len = 0;
    s->held = 0; /* the next session starts unpaused */
    s->held_scan = 0;
    if (!s->opts->reconnect) {
        s->state = PS_SESSION_DEAD;
        s->conn_err = EHOSTUNREACH;
        fail_all(s, EHOSTUNREACH);
        s->fx |= PS_FX_DEAD;
        return;
    }
    s->state = PS_SESSION_HANDSHAKE;
    s->last_in = now;
    if (fresh_socket) {
        s->reopen = 1; /* by the I/O side, once no reader polls the old socket */
        return;
    }
    hello(s, now);
}

void ps__session_reopened(ps__session *s, int64_t now, int err)
{
    s->reopen = 0;
    s->state = PS_SESSION_HANDSHAKE; /* whatever the old socket said last */
    if (err) {
        s->state = PS_SESSION_DEAD;
        s->conn_err = err;
        s->fx |= PS_FX_DEAD;
        return;
    }
    hello(s, now);
}

void ps__session_end(ps__session *s)
{
    s->state = PS_SESSION_DEAD;
    if (!s->conn_err)
        s->conn_err = EHOSTUNREACH;
    fail_all(s, s->conn_err);
    s->fx |= PS_FX_DEAD;
}

void ps__session_tick(ps__session *s, int64_t now)
{
    int64_t hb = s->opts->heartbeat_ms, hbt = s->opts->heartbeat_timeout_ms;
    if (s->paused)
        s->last_in = now; /* we are not listening, so silence says nothing */
    if (s->state == PS_SESSION_DEAD)
        return;
    int ready = s->state == PS_SESSION_READY;
    if (ready && now - s->last_out >= hb) {
        /* Until it is sent (ps__session_sent), every tick asks again. */
        ps__cmd h = {.cmd = PS_CMD_HEARTBEAT};
        s->urgent.len = 0;
        put_urgent(s, &h);
    }
    if (ready && now - s->last_in > hbt) {
        lost(s, 1, SILENT, now);
    } else if (s->state == PS_SESSION_HANDSHAKE && !s->reopen && now - s->hello_at > hbt) {
        if (s->welcomed)
            lost(s, 1, SILENT, now); /* it did not answer the new HELLO either */
        else
            s->reopen = 1; /* still never welcomed: knock again on a fresh socket */
    }
}

int64_t ps__session_next_tick(const ps__session *s, int64_t now)
{
    int64_t hb = s->opts->heartbeat_ms, hbt = s->opts->heartbeat_timeout_ms;
    int ready = s->state == PS_SESSION_READY;
    if (s->state == PS_SESSION_DEAD)
        return hb;
    /* Until the next heartbeat is due, or, shaking hands, until the HELLO
     * has gone unanswered too long. */
    int64_t wait = ready ? hb - (now - s->last_out) : hbt - (now - s->hello_at) + 1;
    return wait > hb ? hb : wait < 1 ? 1 : wait;
}

/* ---------------------------------------------------------------------------
 * Receiving.
 */

/* After a WELCOME from a broker older than 1.3 (after a reconnect, it
 * may not be the broker the queued records were packed for): every
 * ACK_BATCH still queued is unpacked into ACK records, and towards one
 * older than 1.2 every PUBLISH_BATCH into PUBLISH records, in order. */
static void unbatch(ps__session *s)
{
    ps__buf plain = {0};
    ps__reader r;
    ps__cmd cmd;
    int found = 0;
    ps__reader_init(&r, s->out.data, s->out.len);
    const uint8_t *rec = r.pos;
    while (ps__wire_next(&r, &cmd) > 0) {
        if (cmd.cmd == PS_CMD_ACK_BATCH) {
            for (uint32_t i = 0; i < cmd.count; i++) {
                ps__cmd ack = {.cmd = PS_CMD_ACK, .tag = ps__wire_tag(&cmd, i)};
                ps__wire_put(&plain, &ack);
            }
            found = 1;
        } else if (cmd.cmd != PS_CMD_PUBLISH_BATCH || s->broker_minor >= 2) {
            ps__buf_append(&plain, rec, (size_t)(r.pos - rec));
        } else {
            ps__slice rest = cmd.data;
            ps__cmd one = {.cmd = PS_CMD_PUBLISH, .flags = cmd.flags, .channel = cmd.channel,
                           .topic = cmd.topic};
            while (ps__wire_batch_next(&rest, &one.data))
                ps__wire_put(&plain, &one);
            found = 1;
        }
        rec = r.pos;
    }
    if (found) {
        ps__buf_free(&s->out);
        s->out = plain; /* only ENOMEM shortens it, as a full pipe would */
    } else {
        ps__buf_free(&plain);
    }
    s->batch_at = s->ack_at = SIZE_MAX;
}

/* After a WELCOME on a new session: the subscriptions again, before
 * anything the application queued meanwhile. */
static void resubscribe(ps__session *s)
{
    ps__sub *sub;
    LIST_FOREACH(sub, &s->subs, link) {
        ps__cmd cmd = {.cmd = PS_CMD_SUBSCRIBE, .flags = sub->flags,
                       .window = (uint32_t)s->opts->window,
                       .channel = text_slice(sub->channel), .topic = text_slice(sub->pattern)};
        ps__wire_put(&s->sending, &cmd);
    }
}

static int same_sub(const ps__sub *a, const ps__sub *b)
{
    return !strcmp(a->channel, b->channel) && !strcmp(a->pattern, b->pattern);
}

/* The broker answered o: it handled every command queued before o, the
 * plain publishes among them too. */
static void op_answered(ps__session *s, const ps__op *o)
{
    if (o->plain_mark > s->plain_handled)
        s->plain_handled = o->plain_mark;
}

/* An op was answered positively: do what the answer means. */
static void op_succeeded(ps__session *s, ps__op *o)
{
    ps__sub *sub;
    if (o->kind == PS_OP_SUB && o->sub) {
        LIST_FOREACH(sub, &s->subs, link)
            if (same_sub(sub, o->sub)) {
                sub->flags = o->sub->flags;
                goto done;
            }
        LIST_INSERT_HEAD(&s->subs, o->sub, link);
        o->sub = NULL;
    } else if (o->kind == PS_OP_UNSUB && o->sub) {
        LIST_FOREACH(sub, &s->subs, link)
            if (same_sub(sub, o->sub)) {
                LIST_REMOVE(sub, link);
                sub_free(sub);
                break;
            }
    }
done:
    o->done = 1;
}

static void rq_push(ps__session *s, ps_msg *m)
{
    if (STAILQ_EMPTY(&s->rq))
        s->fx |= PS_FX_RECV;
    STAILQ_INSERT_TAIL(&s->rq, m, link);
    s->rq_bytes += m->size + MSG_COST;
    if (rq_over(s))
        s->paused = 1;
}

ps_msg *ps__session_recv(ps__session *s)
{
    ps_msg *m = STAILQ_FIRST(&s->rq);
    if (!m)
        return NULL;
    STAILQ_REMOVE_HEAD(&s->rq, link);
    if (STAILQ_EMPTY(&s->rq))
        s->fx |= PS_FX_DRAINED;
    s->rq_bytes -= m->size + MSG_COST;
    if (s->paused && s->rq_bytes < RQ_LOW) {
        s->paused = 0;
        s->fx |= PS_FX_SEND; /* the I/O side reads the socket again */
    }
    return m;
}

/* The gap waiting for channel, taken out of the list, or NULL. */
static ps__gap *gap_find(ps__session *s, const ps__slice *channel)
{
    ps__gap *g;
    LIST_FOREACH(g, &s->gaps, link)
        if (g->len == channel->len && !memcmp(g->name, channel->ptr, g->len))
            return g;
    return NULL;
}

/* A delivery; names: the run it is part of (on_deliver_batch), NULL for
 * a DELIVER.  A gap waiting for the channel goes with the first of a
 * run: the broker sends GAP before a record, never inside a batch. */
static void on_deliver_msg(ps__session *s, const ps__cmd *cmd, ps__msg_names *names)
{
    ps_msg *m = names && names->block
                    ? ps__msg_new_run(&s->pool, names, &cmd->channel, &cmd->topic, &cmd->data)
                    : ps__msg_new(&s->pool, &cmd->channel, &cmd->topic, &cmd->data);
    if (!m) {
        s->dropped++; /* out of memory: the same as a drop by the broker */
        return;
    }
    m->seq = cmd->seq;
    m->broker_id = s->broker_id; /* a session's deliveries all come from its broker */
    m->epoch = s->epoch;
    m->tag = cmd->tag;
    m->flags = cmd->flags;
    if (!names || !names->block) {
        ps__gap *g = gap_find(s, &cmd->channel);
        if (g) {
            m->gap = g->dropped;
            LIST_REMOVE(g, link);
            free(g);
        }
        if (names)
            *names = (ps__msg_names){m->block, m->channel, m->topic};
    }
    rq_push(s, m);
}

static void on_deliver(ps__session *s, const ps__cmd *cmd)
{
    on_deliver_msg(s, cmd, NULL);
}

/* DELIVER_BATCH: each payload a delivery of its own, numbered on from
 * the first; after the first, carved from the same block, they share
 * its channel and topic (ps__msg_new_run). */
static void on_deliver_batch(ps__session *s, const ps__cmd *cmd)
{
    ps__cmd one = *cmd;
    ps__slice rest = cmd->data;
    ps__msg_names names = {0};
    one.cmd = PS_CMD_DELIVER;
    for (; ps__wire_batch_next(&rest, &one.data); one.seq++)
        on_deliver_msg(s, &one, &names);
}

static void on_gap(ps__session *s, const ps__cmd *cmd)
{
    s->dropped += cmd->dropped;
    ps__gap *g = gap_find(s, &cmd->channel);
    if (g) {
        g->dropped += cmd->dropped;
        return;
    }
    g = malloc(sizeof *g + cmd->channel.len);
    if (!g)
        return; /* the count above still shows it */
    g->dropped = cmd->dropped;
    g->len = cmd->channel.len;
    memcpy(g->name, cmd->channel.ptr, g->len);
    LIST_INSERT_HEAD(&s->gaps, g, link);
}

/* An answer to PS_CONFIRM or PS_SYNC publishes that no call waits for:
 * one, or from a broker of 1.4 an OK whose value counts the publishes in
 * a row it confirms (a durable queue's, once on disk). */
static void confirmed(ps__session *s, const ps__cmd *cmd)
{
    if (!cmd->corr || (cmd->corr & PS_OP_BIT))
        return; /* no answer, or a late one to a call that gave up waiting */
    uint64_t n = cmd->cmd == PS_CMD_OK && cmd->count > 1 ? cmd->count : 1;
    s->unconfirmed -= n < s->unconfirmed ? n : s->unconfirmed;
}

static void on_error(ps__session *s, const ps__cmd *cmd, ps__op *o, int64_t now)
{
    if (cmd->code == PS_WERR_VERSION) {
        refused(s, PS_EVERSION, &cmd->text);
    } else if (s->state == PS_SESSION_HANDSHAKE && cmd->code != PS_WERR_SESSION &&
               (!s->welcomed || cmd->code == PS_WERR_DENIED)) {
        /* The broker refused the session itself (too many clients, not
         * allowed any more, ...). */
        refused(s, ps__errno_from_wire(cmd->code), &cmd->text);
    } else if (cmd->code == PS_WERR_SESSION) {
        if (s->state == PS_SESSION_READY) /* the broker restarted and forgot us */
            lost(s, 0, "the broker no longer knows the session", now);
    } else if (o) {
        free(o->errtext);
        o->errtext = dup_slice(&cmd->text);
        op_fail(o, ps__errno_from_wire(cmd->code));
    } else {
        confirmed(s, cmd);
        note_async_error(s, ps__errno_from_wire(cmd->code), &cmd->text);
    }
}

/* A RESULT of a PS_SYNC publish without a waiting call: a shortfall is
 * reported by the next ps_flush. */
static void on_async_result(ps__session *s, const ps__cmd *cmd)
{
    confirmed(s, cmd);
    if (cmd->expected == 0 || cmd->count < cmd->expected) {
        char t[96];
        int n = snprintf(t, sizeof t, "%u/%u receivers confirmed a sync message", cmd->count,
                         cmd->expected);
        ps__slice text = {t, (size_t)n};
        note_async_error(s, cmd->expected == 0 ? PS_ENORESP : cmd->count == 0 ? ETIMEDOUT
                                                                                : PS_EPARTIAL,
                         &text);
    }
}

void ps__session_record(ps__session *s, const ps__cmd *cmd, int64_t now)
{
    ps__op *o = (cmd->corr & PS_OP_BIT) ? ps__session_op(s, cmd->corr) : NULL;
    if (o && !(cmd->cmd == PS_CMD_ERROR && cmd->code == PS_WERR_SESSION))
        op_answered(s, o);
    switch (cmd->cmd) {
    case PS_CMD_WELCOME:
        if (s->state != PS_SESSION_HANDSHAKE)
            break;
        s->state = PS_SESSION_READY;
        s->max_size = cmd->max_size ? cmd->max_size : DEFAULT_MAX_SIZE;
        s->broker_id = cmd->broker_id;
        s->epoch = cmd->epoch;
        s->broker_minor = cmd->minor;
        if (cmd->minor < 3)
            unbatch(s);
        if (s->welcomed)
            resubscribe(s);
        s->welcomed = 1;
        /* The subscriptions again, and what was queued meanwhile, go now. */
        s->fx |= PS_FX_WAKE | PS_FX_SEND;
        break;
    case PS_CMD_ERROR:
        on_error(s, cmd, o, now);
        break;
    case PS_CMD_OK:
        if (o) {
            o->count = cmd->count;
            op_succeeded(s, o);
        } else {
            confirmed(s, cmd);
        }
        break;
    case PS_CMD_NOTICE:
        /* Comes before the PONG of a ps_flush: kept for ps_notes. */
        if (!s->notes)
            snprintf(s->note_channel, sizeof s->note_channel, "%.*s", (int)cmd->channel.len,
                     cmd->channel.ptr);
        s->notes |= cmd->flags;
        break;
    case PS_CMD_PONG:
        if (o)
            o->done = 1;
        break;
    case PS_CMD_PAUSE:
        /* 1.4: a queue we publish to is full; what we sent before this
         * still arrives and waits at the broker. */
        if (!s->held) {
            s->held = 1;
            s->held_scan = 0;
            snprintf(s->held_channel, sizeof s->held_channel, "%.*s", (int)cmd->channel.len,
                     cmd->channel.ptr);
            /* A thread waiting for room to queue an ACK may go now, and
             * one in ps_publish learns that its wait is bounded. */
            s->fx |= PS_FX_SPACE | PS_FX_SEND;
            rq_reopen(s); /* RESUME may come behind what waits unread */
        }
        break;
    case PS_CMD_RESUME:
        if (s->held) {
            s->held = 0;
            s->fx |= PS_FX_SEND; /* what waited in out goes now */
        }
        break;
    case PS_CMD_RESULT:
    case PS_CMD_DONE:
        if (o) {
            o->count = cmd->count;
            o->expected = cmd->expected;
            o->done = 1;
        } else if (cmd->cmd == PS_CMD_RESULT && cmd->corr) {
            on_async_result(s, cmd);
        }
        break;
    case PS_CMD_REPLY:
        if (o && o->kind == PS_OP_REQUEST) {
            ps__slice none = {"", 0};
            ps_msg *m = ps__msg_new(NULL, &none, &none, &cmd->data);
            if (!m)
                break;
            m->status = cmd->status;
            STAILQ_INSERT_TAIL(&o->replies, m, link);
        }
        break;
    case PS_CMD_ADMIN_REPLY:
        if (o) {
            o->json = dup_slice(&cmd->data);
            if (!o->json)
                o->err = ENOMEM;
            o->done = 1;
        }
        break;
    case PS_CMD_DELIVER:
        on_deliver(s, cmd);
        break;
    case PS_CMD_DELIVER_BATCH:
        on_deliver_batch(s, cmd);
        break;
    case PS_CMD_GAP:
        on_gap(s, cmd);
        break;
    default:
        break; /* HEARTBEAT, and commands a broker should not send */
    }
}

void ps__session_received(ps__session *s, int64_t now)
{
    s->last_in = now;
}

void ps__session_malformed(ps__session *s)
{
    ps__slice t = text_slice("malformed frame from the broker");
    note_async_error(s, EPROTO, &t);
}

void ps__session_handshake_failed(ps__session *s, enum ps__hs what)
{
    int curve = s->opts->curve_server_key != NULL, err = ECONNREFUSED;
    const char *why = NULL;
    if (s->state == PS_SESSION_DEAD)
        return;
    switch (what) {
    case PS_HS_REFUSED:
        err = EACCES;
        why = curve ? "the broker refused this client's CURVE key (not among its clients)"
                    : "the broker refused this client (its user is not among the broker's clients)";
        break;
    case PS_HS_MECHANISM:
        why = curve ? "the broker does not speak CURVE on this endpoint"
                    : "the broker requires CURVE encryption (set the broker's public key)";
        break;
    case PS_HS_PROTOCOL:
        why = "the security handshake with the broker failed";
        break;
    case PS_HS_CLOSED:
        /* A CURVE broker says nothing to a client with a wrong server key:
         * it cannot read its HELLO, and closes the connection.  A plain
         * client may see the same: the broker's greeting naming CURVE is
         * lost when it resets the connection after reading ours. */
        if (!s->welcomed && ++s->hs_closed >= 2)
            why = curve ? "the broker closed the connection during the CURVE handshake (is the "
                          "server key the broker's public key?)"
                        : "the broker closed the connection during the handshake (if it "
                          "requires CURVE encryption, set the broker's public key)";
        break;
    }
    if (why) {
        ps__slice t = text_slice(why);
        refused(s, err, &t);
    }
}

void ps__session_disconnected(ps__session *s, int64_t now)
{
    if (s->state == PS_SESSION_READY)
        lost(s, 1, "the connection to the broker broke", now);
}

uint64_t ps__session_dropped(ps__session *s)
{
    uint64_t n = s->dropped;
    s->dropped = 0;
    return n;
}

unsigned ps__session_notes(ps__session *s, char *channel, size_t cap)
{
    unsigned n = s->notes;
    if (cap)
        snprintf(channel, cap, "%s", n ? s->note_channel : "");
    s->notes = 0;
    return n;
}

int ps__session_take_error(ps__session *s, char **text)
{
    int err = s->async_err;
    *text = s->async_text;
    s->async_err = 0;
    s->async_text = NULL;
    return err;
}
