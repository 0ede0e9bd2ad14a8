/*
 * api.c - the public calls of pubsub.h that use a connection: each checks
 * its arguments, builds its command, hands it to io.c (which queues it in
 * the session and sends or waits) and turns the answer into the return
 * value and errno pubsub.h promises.  No protocol state and no I/O live
 * here; options are opts.c's, messages msg.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "io.h"

/* Connection --------------------------------------------------------------- */

ps_client *ps_connect(const char *endpoint, const ps_opts *opts)
{
    ps__clear_errmsg();
    return ps__io_connect(endpoint, opts);
}

void ps_close(ps_client **cp)
{
    if (!cp || !*cp)
        return;
    ps__io_close(*cp);
    *cp = NULL;
}

int ps_fd(ps_client *c)
{
    return ps__io_fd(c);
}

/* Messages and requests ---------------------------------------------------- */

/* Checks the names and size of an outgoing message and puts them in
 * cmd (each name measured once: this runs for every message). */
static int check_message(ps_client *c, ps__cmd *cmd, const char *channel, const char *topic,
                         const void *data, size_t size)
{
    if (!c || !channel || (!data && size)) {
        errno = EINVAL;
        return -1;
    }
    cmd->channel.ptr = channel;
    cmd->channel.len = strlen(channel);
    cmd->topic.ptr = topic ? topic : "";
    cmd->topic.len = topic ? strlen(topic) : 0;
    cmd->data.ptr = data ? data : "";
    cmd->data.len = size;
    if (!ps__wire_valid_channel(channel, cmd->channel.len) || cmd->topic.len > PS_WIRE_TOPIC_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (size > c->s.max_size) {
        char t[96];
        int n = snprintf(t, sizeof t, "message of %zu bytes above the broker's limit of %u",
                         size, c->s.max_size);
        ps__set_errmsg(t, (size_t)n);
        errno = EMSGSIZE;
        return -1;
    }
    return 0;
}

/* PS_STRICT needs a broker of protocol 1.1 or later: an older one would
 * ignore it.  0, or -1 with ENOTSUP. */
static int strict_flag(ps_client *c, int flags)
{
    if (!(flags & PS_STRICT))
        return 0;
    pthread_mutex_lock(&c->lock);
    int old = c->s.broker_minor < 1;
    pthread_mutex_unlock(&c->lock);
    if (old) {
        static const char why[] = "the broker is too old for a strict publish (protocol 1.0)";
        ps__set_errmsg(why, sizeof why - 1);
        errno = ENOTSUP;
        return -1;
    }
    return 0;
}

/* Time beyond the broker's own timeout that we wait for its answer. */
static int answer_margin(const ps_client *c)
{
    return c->opts.heartbeat_timeout_ms + 1000;
}

int ps_publish(ps_client *c, const char *channel, const char *topic,
               const void *data, size_t size, int flags)
{
    ps__clear_errmsg();
    /* SYNC is the stronger promise: with it, a CONFIRM would only add an answer. */
    uint8_t wflags = (flags & PS_RETAIN) ? PS_WIRE_RETAIN : 0;
    if (flags & PS_STRICT)
        wflags |= PS_WIRE_STRICT;
    if (flags & PS_SYNC)
        wflags |= PS_WIRE_SYNC;
    else if (flags & PS_CONFIRM)
        wflags |= PS_WIRE_CONFIRM;
    ps__cmd cmd = {.cmd = PS_CMD_PUBLISH, .flags = wflags,
                   .timeout_ms = (flags & PS_SYNC) ? PS_DEFAULT_WAIT_MS : 0};
    if (check_message(c, &cmd, channel, topic, data, size) < 0)
        return -1;
    if (flags & ~(PS_RETAIN | PS_CONFIRM | PS_SYNC | PS_STRICT)) {
        errno = EINVAL;
        return -1;
    }
    if (strict_flag(c, flags) < 0)
        return -1;
    if (!(flags & (PS_CONFIRM | PS_SYNC)))
        return ps__io_submit(c, &cmd, NULL, 0, PS_IO_QUEUE);
    /* A full confirm window waits as long as ps_publish_sync waits for
     * its answer: an answer slower than that is not coming. */
    return ps__io_submit_confirmed(c, &cmd, PS_DEFAULT_WAIT_MS + answer_margin(c));
}

static int all_confirmed(const ps_client *c, const void *arg)
{
    (void)arg;
    return !c->s.unconfirmed;
}

int ps_flush(ps_client *c, int timeout_ms)
{
    ps__clear_errmsg();
    int64_t deadline = ps__io_deadline(timeout_ms);
    ps__cmd cmd = {.cmd = PS_CMD_PING};
    ps__op *o = ps__io_call(c, &cmd, PS_OP_PING, timeout_ms, NULL);
    if (!o)
        return -1;
    ps__op_free(o);
    pthread_mutex_lock(&c->lock);
    /* PONG says every command was handled; confirms of a durable queue
     * (on disk) and receipts of sync messages may still be on their way. */
    ps__io_wait(c, &c->cv_op, deadline, all_confirmed, NULL);
    if (c->s.unconfirmed && c->s.state != PS_SESSION_DEAD) {
        pthread_mutex_unlock(&c->lock);
        errno = ETIMEDOUT;
        return -1;
    }
    char *text;
    int err = ps__session_take_error(&c->s, &text);
    pthread_mutex_unlock(&c->lock);
    ps__set_errmsg(text ? text : "", text ? strlen(text) : 0);
    free(text);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

int ps_publish_sync(ps_client *c, const char *channel, const char *topic,
                    const void *data, size_t size, int flags, int timeout_ms,
                    unsigned *confirmed, unsigned *expected)
{
    ps__clear_errmsg();
    if (confirmed)
        *confirmed = 0;
    if (expected)
        *expected = 0;
    if (timeout_ms <= 0)
        timeout_ms = PS_DEFAULT_WAIT_MS;
    /* SYNC is the stronger promise; a CONFIRM beside it would only add an answer. */
    ps__cmd cmd = {.cmd = PS_CMD_PUBLISH, .timeout_ms = (uint32_t)timeout_ms,
                   .flags = (uint8_t)(PS_WIRE_SYNC | ((flags & PS_RETAIN) ? PS_WIRE_RETAIN : 0) |
                                      ((flags & PS_STRICT) ? PS_WIRE_STRICT : 0))};
    if (check_message(c, &cmd, channel, topic, data, size) < 0 || strict_flag(c, flags) < 0)
        return -1;
    ps__op *o = ps__io_call(c, &cmd, PS_OP_SYNC, timeout_ms + answer_margin(c), NULL);
    if (!o)
        return -1;
    unsigned got = o->count, want = o->expected;
    ps__op_free(o);
    if (confirmed)
        *confirmed = got;
    if (expected)
        *expected = want;
    if (want == 0) {
        errno = PS_ENORESP;
        return -1;
    }
    if (got == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    if (got < want) {
        errno = PS_EPARTIAL;
        return -1;
    }
    return (int)got;
}

/* ps_request_async, sent at once by the calling thread with direct. */
static int64_t request_submit(ps_client *c, const char *channel, const char *topic,
                              const void *data, size_t size, int timeout_ms, int direct)
{
    if (timeout_ms <= 0)
        timeout_ms = PS_DEFAULT_WAIT_MS;
    ps__cmd cmd = {.cmd = PS_CMD_REQUEST, .timeout_ms = (uint32_t)timeout_ms};
    if (check_message(c, &cmd, channel, topic, data, size) < 0)
        return -1;
    ps__op *o = ps__op_new(PS_OP_REQUEST, NULL);
    if (!o)
        return -1;
    if (ps__io_submit(c, &cmd, o, 0, direct) < 0) {
        int err = errno;
        ps__op_free(o);
        errno = err;
        return -1;
    }
    return (int64_t)cmd.corr;
}

int64_t ps_request_async(ps_client *c, const char *channel, const char *topic,
                         const void *data, size_t size, int timeout_ms)
{
    ps__clear_errmsg();
    return request_submit(c, channel, topic, data, size, timeout_ms, 0);
}

static int reply_or_answered(const ps_client *c, const void *arg)
{
    (void)c;
    const ps__op *o = arg;
    return !STAILQ_EMPTY(&o->replies) || o->done;
}

ps_msg *ps_request_wait(ps_client *c, int64_t ticket, int timeout_ms)
{
    ps__clear_errmsg();
    int64_t deadline = ps__io_deadline(timeout_ms);
    pthread_mutex_lock(&c->lock);
    ps__op *o = ps__session_op(&c->s, (uint64_t)ticket);
    ps_msg *m = NULL;
    int err = 0;
    if (!o || o->kind != PS_OP_REQUEST || ticket <= 0) {
        err = ENOENT;
        goto out;
    }
    for (;;) {
        if ((m = ps__op_reply(o)))
            goto out;
        if (o->done) {
            if (o->err) {
                err = o->err;
                ps__set_errmsg(o->errtext ? o->errtext : "", o->errtext ? strlen(o->errtext) : 0);
            } else {
                err = o->count < o->expected ? ETIMEDOUT : ENOMSG;
            }
            goto out;
        }
        if (c->s.state == PS_SESSION_DEAD) {
            err = ps__session_err(&c->s);
            goto out;
        }
        if (ps__io_wait(c, &c->cv_op, deadline, reply_or_answered, o) == ETIMEDOUT) {
            err = ETIMEDOUT;
            goto out;
        }
    }
out:
    pthread_mutex_unlock(&c->lock);
    if (!m)
        errno = err;
    return m;
}

void ps_request_end(ps_client *c, int64_t ticket)
{
    pthread_mutex_lock(&c->lock);
    ps__op *o = ps__session_op(&c->s, (uint64_t)ticket);
    if (o && o->kind == PS_OP_REQUEST)
        ps__session_op_remove(&c->s, o);
    else
        o = NULL;
    pthread_mutex_unlock(&c->lock);
    ps__op_free(o);
}

int ps_request(ps_client *c, const char *channel, const char *topic,
               const void *data, size_t size, int timeout_ms, ps_msg **reply)
{
    ps__clear_errmsg();
    if (reply)
        *reply = NULL;
    if (timeout_ms <= 0)
        timeout_ms = PS_DEFAULT_WAIT_MS;
    int64_t t = request_submit(c, channel, topic, data, size, timeout_ms, 1);
    if (t < 0)
        return -1;
    ps_msg *m = ps_request_wait(c, t, timeout_ms + answer_margin(c));
    int err = errno;
    ps_request_end(c, t);
    if (!m) {
        errno = err == ENOMSG ? ETIMEDOUT : err;
        return -1;
    }
    int failed = m->status != 0;
    if (failed)
        ps__set_errmsg((const char *)m->data, m->size);
    if (reply)
        *reply = m;
    else
        ps_msg_destroy(&m);
    if (failed) {
        errno = PS_EREPLY;
        return -1;
    }
    return 0;
}

/* Receiving ---------------------------------------------------------------- */

/* Checks channel and pattern of (un)subscribe; *pattern NULL becomes "#". */
static int check_sub(ps_client *c, const char *channel, const char **pattern)
{
    if (!*pattern)
        *pattern = "#";
    /* The broker's own channel may be subscribed to, never published to. */
    if (!c || !channel ||
        !(ps__wire_valid_channel(channel, strlen(channel)) ||
          ps__wire_sys_channel(channel, strlen(channel))) ||
        strlen(*pattern) > PS_WIRE_TOPIC_MAX) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

/* Sends SUBSCRIBE or UNSUBSCRIBE (cmd) as a call of kind about sub. */
static int sub_call(ps_client *c, ps__cmd *cmd, enum ps__op_kind kind, ps__sub *sub)
{
    if (!sub)
        return -1;
    ps__op *o = ps__io_call(c, cmd, kind, c->opts.timeout_ms, sub);
    if (!o)
        return -1;
    ps__op_free(o);
    return 0;
}

int ps_subscribe(ps_client *c, const char *channel, const char *pattern, int flags)
{
    ps__clear_errmsg();
    if (check_sub(c, channel, &pattern) < 0 || (flags & ~PS_RESPONDER)) {
        errno = EINVAL;
        return -1;
    }
    uint8_t wflags = (flags & PS_RESPONDER) ? PS_WIRE_RESPONDER : 0;
    ps__cmd cmd = {.cmd = PS_CMD_SUBSCRIBE, .flags = wflags, .window = (uint32_t)c->opts.window,
                   .channel = {channel, strlen(channel)}, .topic = {pattern, strlen(pattern)}};
    return sub_call(c, &cmd, PS_OP_SUB, ps__sub_new(channel, pattern, wflags));
}

int ps_unsubscribe(ps_client *c, const char *channel, const char *pattern)
{
    ps__clear_errmsg();
    if (check_sub(c, channel, &pattern) < 0)
        return -1;
    ps__cmd cmd = {.cmd = PS_CMD_UNSUBSCRIBE, .channel = {channel, strlen(channel)},
                   .topic = {pattern, strlen(pattern)}};
    return sub_call(c, &cmd, PS_OP_UNSUB, ps__sub_new(channel, pattern, 0));
}

/* ACKs held in the send queue at most, while messages wait in the
 * receive queue: half the window (so the broker always has room to send
 * on), at most ACKS_HELD_MAX. */
#define ACKS_HELD_MAX 256

/* Whether the acknowledgement of a queue message may wait in the send
 * queue: the application is about to take another message, and the
 * acknowledgements then leave together, in one ACK_BATCH towards a 1.3
 * broker.  Lock held. */
static int ack_may_wait(const ps_client *c)
{
    long window = c->opts.window > 0 ? c->opts.window : 100;
    long bound = window / 2 < ACKS_HELD_MAX ? window / 2 : ACKS_HELD_MAX;
    return !STAILQ_EMPTY(&c->s.rq) && (long)c->s.acks_out + 1 < bound;
}

/* Sends an ACK for tag with the I/O thread's next batch; with hold, one
 * of a queue message waits instead for the acknowledgements of the
 * messages still in the receive queue (ps_recv sends them all when it
 * takes the last).  Lock held. */
static int ack_locked(ps_client *c, uint64_t tag, int hold)
{
    ps__cmd cmd = {.cmd = PS_CMD_ACK, .tag = tag};
    int how = hold && ack_may_wait(c) ? PS_IO_HOLD : PS_IO_QUEUE;
    return ps__io_submit_locked(c, &cmd, NULL, 0, how);
}

static int received(const ps_client *c, const void *arg)
{
    (void)arg;
    return !STAILQ_EMPTY(&c->s.rq);
}

ps_msg *ps_recv(ps_client *c, int timeout_ms)
{
    ps__clear_errmsg();
    /* The clock is read only when there is a wait: a message already
     * queued, the common case of a busy subscriber, costs no clock_gettime. */
    int64_t deadline = INT64_MIN;
    pthread_mutex_lock(&c->lock);
    while (STAILQ_EMPTY(&c->s.rq)) {
        if (c->s.state == PS_SESSION_DEAD) {
            int err = ps__session_err(&c->s);
            pthread_mutex_unlock(&c->lock);
            errno = err;
            return NULL;
        }
        if (deadline == INT64_MIN)
            deadline = ps__io_deadline(timeout_ms);
        if (timeout_ms == 0 ||
            ps__io_wait(c, &c->cv_recv, deadline, received, NULL) == ETIMEDOUT) {
            if (!STAILQ_EMPTY(&c->s.rq))
                break;
            pthread_mutex_unlock(&c->lock);
            errno = ETIMEDOUT;
            return NULL;
        }
    }
    ps_msg *m = ps__session_recv(&c->s);
    ps__io_apply(c);
    /* The last message waiting: the acknowledgements held for the ones
     * before it leave now, not after the application handled it. */
    if (STAILQ_EMPTY(&c->s.rq) && c->s.acks_out)
        ps__io_send_now(c);
    /* A sync message is confirmed the moment the application has it. */
    if (m->flags & PS_WIRE_RECEIPT)
        ack_locked(c, m->tag, 0);
    pthread_mutex_unlock(&c->lock);
    return m;
}

int ps_ack(ps_client *c, const ps_msg *m)
{
    ps__clear_errmsg();
    if (!c || !m) {
        errno = EINVAL;
        return -1;
    }
    if (!(m->flags & PS_WIRE_QUEUED))
        return 0;
    pthread_mutex_lock(&c->lock);
    int rc = ack_locked(c, m->tag, 1);
    int err = errno;
    pthread_mutex_unlock(&c->lock);
    errno = err;
    return rc;
}

int ps_reply(ps_client *c, const ps_msg *m, const void *data, size_t size, int status)
{
    ps__clear_errmsg();
    if (!c || !m || !(m->flags & PS_WIRE_REQUEST) || (!data && size)) {
        errno = EINVAL;
        return -1;
    }
    if (size > c->s.max_size) {
        errno = EMSGSIZE;
        return -1;
    }
    ps__cmd cmd = {.cmd = PS_CMD_REPLY, .tag = m->tag,
                   .status = status ? PS_WIRE_REPLY_ERROR : PS_WIRE_REPLY_OK,
                   .data = {data ? data : "", size}};
    return ps__io_submit(c, &cmd, NULL, 0, 1);
}

uint64_t ps_dropped(ps_client *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t n = ps__session_dropped(&c->s);
    pthread_mutex_unlock(&c->lock);
    return n;
}

unsigned ps_notes(ps_client *c, char *channel, size_t cap)
{
    if (!c || (cap && !channel))
        return 0;
    pthread_mutex_lock(&c->lock);
    unsigned n = ps__session_notes(&c->s, channel, cap);
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Administration ----------------------------------------------------------- */

int ps_admin(ps_client *c, const char *verb, int timeout_ms, char **json)
{
    ps__clear_errmsg();
    if (json)
        *json = NULL;
    if (!c || !verb || !json || strlen(verb) > PS_WIRE_TEXT_MAX) {
        errno = EINVAL;
        return -1;
    }
    ps__cmd cmd = {.cmd = PS_CMD_ADMIN, .text = {verb, strlen(verb)}};
    ps__op *o = ps__io_call(c, &cmd, PS_OP_ADMIN, timeout_ms, NULL);
    if (!o)
        return -1;
    *json = o->json;
    o->json = NULL;
    ps__op_free(o);
    return 0;
}
