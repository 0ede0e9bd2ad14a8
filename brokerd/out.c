/*
 * out.c - what the broker sends: records framed per client, and the
 * answers to peers that have no session.
 *
 * A record for a client is encoded into its buffer of the turn (c->cur);
 * at the end of the turn the client layer (client_flush) has each
 * client's records sent as one frame, or a few, each at most
 * OUT_FRAME_MAX bytes unless one record is bigger.  Batching is thus
 * natural: under light load a turn carries one record, under heavy load
 * many.  A frame that can go at once is sent from c->cur, whose room is
 * kept for the next turn until the client layer's sweep finds the client
 * idle (out_idle), so a busy client does not make the heap grow and
 * shrink every turn.  Nothing here ever blocks: every send is ZMQ_DONTWAIT on a
 * ZMQ_ROUTER_MANDATORY socket, and a frame the peer's pipe refuses stays
 * queued (c->out) for a later turn.  What is queued for one client is
 * counted in c->pending_bytes as it is queued; past the hard bound
 * (OUT_HARD_CAP client_buffers) the client is cut off at once, and the
 * client layer forgets it at the end of the turn; the slow-subscriber
 * policy below that bound is deliver.c's.  This
 * is the bottom of the broker: every layer above answers through it, and
 * it calls none of them.
 */
#include "brokerd.h"
#include "defaults.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define OUT_FRAME_MAX PS_FRAME_MAX /* bytes per outgoing frame, beyond one record */
/* The most room a client's buffer of the turn keeps once sent: a full
 * frame and its last record, rounded up to the buffer's doubling. */
#define OUT_KEEP_MAX (2 * OUT_FRAME_MAX)

/* Charges (or, negative, credits) c with n bytes of output. */
static void charge(broker *b, client *c, long n)
{
    c->pending_bytes += (size_t)n;
    b->out_bytes += (size_t)n;
}

/* Moves the records of this turn into a frame of their own. */
static void frame_cur(broker *b, client *c)
{
    if (!c->cur.len)
        return;
    outframe *f = calloc(1, sizeof *f);
    if (!f) {
        /* Out of memory: lose this turn's records rather than the broker. */
        charge(b, c, -(long)c->cur.len);
        c->cur.len = 0;
        return;
    }
    f->buf = c->cur;
    memset(&c->cur, 0, sizeof c->cur);
    STAILQ_INSERT_TAIL(&c->out, f, link);
}

void out_drop(broker *b, client *c)
{
    outframe *f;
    while ((f = STAILQ_FIRST(&c->out))) {
        STAILQ_REMOVE_HEAD(&c->out, link);
        ps__buf_free(&f->buf);
        free(f);
    }
    ps__buf_free(&c->cur);
    charge(b, c, -(long)c->pending_bytes);
}

/*
 * Sends buf to c as one frame, and charges it off.  Returns 0 when it
 * went, 1 when the pipe is full, -1 when the peer is gone (EHOSTUNREACH);
 * buf is left as it was unless it went.
 */
static int send_one(broker *b, client *c, const ps__buf *buf)
{
    if (zmq_send(c->sock, c->ident, c->ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        c->pipe_full = 1;
        return 1;
    }
    if (c->pipe_full) {
        c->pipe_full = 0;
        c->last_drain = b->now; /* the peer took frames: proof it reads */
    }
    if (zmq_send(c->sock, buf->data, buf->len, ZMQ_DONTWAIT) < 0)
        log_debug("client %llu: send failed: %s", (unsigned long long)c->num,
                  zmq_strerror(errno));
    charge(b, c, -(long)buf->len);
    c->last_out = b->now;
    return 0;
}

/*
 * Sends c's complete frames until its pipe is full.  Returns as send_one.
 */
static int send_frames(broker *b, client *c)
{
    outframe *f;
    while ((f = STAILQ_FIRST(&c->out))) {
        int rc = send_one(b, c, &f->buf);
        if (rc)
            return rc;
        STAILQ_REMOVE_HEAD(&c->out, link);
        ps__buf_free(&f->buf);
        free(f);
    }
    return 0;
}

/*
 * Sends the records of this turn as one frame straight from c->cur when
 * nothing is queued before them, and keeps the buffer for the next turn:
 * a busy client then reuses one buffer instead of growing a new one each
 * turn and freeing it (the heap's growing and trimming cost page faults).
 * What the pipe refuses becomes a queued frame as before.  Returns as
 * send_one.
 */
static int send_cur(broker *b, client *c)
{
    if (c->cur.len && STAILQ_EMPTY(&c->out)) {
        int rc = send_one(b, c, &c->cur);
        if (rc) {
            frame_cur(b, c); /* kept for a later turn, or dropped with the peer */
            return rc;
        }
        c->cur.len = 0;
        if (c->cur.cap > OUT_KEEP_MAX)
            ps__buf_free(&c->cur); /* a large record's room is not kept */
        return 0;
    }
    frame_cur(b, c);
    return send_frames(b, c);
}

void out_idle(client *c)
{
    if (!c->cur.len)
        ps__buf_free(&c->cur);
}

int out_flush(broker *b, client *c)
{
    int rc = send_cur(b, c);
    if (rc < 0)
        out_drop(b, c); /* the peer disconnected: nobody to talk to */
    return rc;
}

int out_unframed(const client *c)
{
    return c->cur.len != 0;
}

/* Puts c on the broker's flush list of the turn. */
static void mark_dirty(broker *b, client *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        SLIST_INSERT_HEAD(&b->flush, c, flush_link);
    }
}

/* Cuts c off: its output is dropped and no more is queued or handled;
 * the client layer forgets it at the end of the turn. */
static void cut(broker *b, client *c)
{
    out_drop(b, c);
    c->cut = 1;
    mark_dirty(b, c);
}

/* The live client with the most output waiting, or NULL when none has any. */
static client *furthest_behind(broker *b)
{
    client *c, *worst = NULL;
    LIST_FOREACH(c, &b->clients, link)
        if (!c->cut && c->pending_bytes && (!worst || c->pending_bytes > worst->pending_bytes))
            worst = c;
    return worst;
}

/*
 * Makes room for a record of size bytes in c's output: 0 when it may be
 * appended to c->cur, -1 when c is dead or cut off (now or before).
 */
static int room(broker *b, client *c, size_t size)
{
    if (c->dead || c->cut)
        return -1;
    /* Answers, retained values and queue deliveries are never dropped, so
     * a client that keeps asking without reading is charged as its output
     * is queued: past the hard bound it is cut off here, at once, not at
     * the end of a turn in which one frame may have asked for gigabytes.
     * The client layer forgets it when the turn ends. */
    if (c->pending_bytes + size > (size_t)b->cfg->client_buffer * OUT_HARD_CAP) {
        log_warn("client %llu does not read its messages (%zu bytes waiting)",
                 (unsigned long long)c->num, c->pending_bytes + size);
        cut(b, c);
        return -1;
    }
    /* The broker-wide budget: clients that do not read must not together
     * take what none of them may alone.  The furthest behind goes first,
     * which may be c itself. */
    while (b->out_bytes + size > (size_t)b->cfg->output_budget && !c->cut) {
        client *worst = furthest_behind(b);
        if (!worst)
            break;
        log_limited(LOG_LVL_WARNING, "clients cut off (output_budget)", "",
                    "client %llu cut off, furthest behind (%zu bytes waiting): output_budget %ld reached",
                    (unsigned long long)worst->num, worst->pending_bytes, b->cfg->output_budget);
        cut(b, worst);
    }
    if (c->cut)
        return -1;
    if (c->cur.len && c->cur.len + size > OUT_FRAME_MAX) {
        /* A full frame goes to libzmq at once, so a busy turn does not
         * hold a fast receiver's bytes against its client_buffer.  Errors
         * wait for the end of the turn: forgetting a client here would
         * pull subscriptions from under a fan-out. */
        send_cur(b, c);
    }
    return 0;
}

void out_put(broker *b, client *c, const ps__cmd *cmd)
{
    out_put_record(b, c, cmd, NULL, ps__wire_size(cmd));
}

void out_put_record(broker *b, client *c, const ps__cmd *cmd, const void *enc, size_t size)
{
    if (room(b, c, size) < 0)
        return;
    c->batch_at = SIZE_MAX; /* a DELIVER_BATCH followed by another record is closed */
    c->run = 0;
    if (enc ? ps__buf_append(&c->cur, enc, size) : ps__wire_put(&c->cur, cmd)) {
        log_warn("client %llu: cannot encode %s: %s", (unsigned long long)c->num,
                 ps__wire_cmd_name(cmd->cmd), strerror(errno));
        return;
    }
    charge(b, c, (long)size);
    mark_dirty(b, c);
}

/*
 * The buffer of the turn only ever starts empty again (sent, framed,
 * freed), so an offset of a batch from before can never name a record
 * that ends it: ps__wire_batch_add sees it past the end, or at 0 of an
 * empty buffer, and starts a new batch.
 */
void out_put_batched(broker *b, client *c, const ps__cmd *cmd, size_t size, uint64_t run)
{
    c->run = 0;
    if (room(b, c, size) < 0)
        return;
    size_t before = c->cur.len;
    if (ps__wire_batch_add(&c->cur, &c->batch_at, cmd) < 0) {
        log_warn("client %llu: cannot encode %s: %s", (unsigned long long)c->num,
                 ps__wire_cmd_name(cmd->cmd), strerror(errno));
        return;
    }
    charge(b, c, (long)(c->cur.len - before));
    mark_dirty(b, c);
    c->run = run;
    c->run_seq = cmd->seq + 1;
    c->run_end = c->cur.len;
    c->run_count_at = 0;
}

/*
 * The shortcut of a run: c's output ends with the run's DELIVER_BATCH
 * (c->run_end is the length it left cur at, and any other write, a send
 * or a drop of cur changes that length), so the payload joins it without
 * comparing its channel, topic and flags again.  Whatever room() would
 * act on (a bound, the budget, a full frame to send first) is left to
 * out_put_batched, as is an encoding failure.
 */
int out_grow_batch(broker *b, client *c, uint64_t run, uint64_t seq, const ps__slice *data,
                   size_t size)
{
    if (c->run != run || c->run_seq != seq || c->run_end != c->cur.len || c->cut || c->dead ||
        c->pending_bytes + size > (size_t)b->cfg->client_buffer * OUT_HARD_CAP ||
        b->out_bytes + size > (size_t)b->cfg->output_budget || c->cur.len + size > OUT_FRAME_MAX)
        return 0;
    if (!c->run_count_at)
        c->run_count_at = ps__wire_batch_count_at(&c->cur, c->batch_at);
    if (ps__wire_batch_grow(&c->cur, c->batch_at, c->run_count_at, data->ptr, data->len))
        return 0;
    charge(b, c, (long)(4 + data->len));
    c->run_seq = seq + 1;
    c->run_end = c->cur.len;
    return 1;
}

void out_error(broker *b, client *c, uint64_t corr, uint16_t code, const char *fmt, ...)
{
    char text[PS_WIRE_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > PS_WIRE_TEXT_MAX)
        n = PS_WIRE_TEXT_MAX;
    ps__cmd e = {.cmd = PS_CMD_ERROR, .corr = corr, .code = code};
    e.text.ptr = text;
    e.text.len = (size_t)n;
    log_debug("client %llu: error %s: %s", (unsigned long long)c->num,
              ps__wire_err_text(code), text);
    out_put(b, c, &e);
}

void out_ok(broker *b, client *c, uint64_t corr, uint32_t value)
{
    ps__cmd ok = {.cmd = PS_CMD_OK, .corr = corr, .count = value};
    out_put(b, c, &ok);
}

void out_direct_error(void *sock, const void *ident, size_t ilen, uint16_t code, const char *text)
{
    /* A stranger has no session and no output buffer: one frame, now. */
    ps__cmd e = {.cmd = PS_CMD_ERROR, .code = code};
    ps__buf buf = {0};
    e.text.ptr = text;
    e.text.len = strlen(text);
    if (ps__wire_put(&buf, &e) == 0 && zmq_send(sock, ident, ilen, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(sock, buf.data, buf.len, ZMQ_DONTWAIT);
    ps__buf_free(&buf);
}
