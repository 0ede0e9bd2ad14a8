/*
 * client.c - client sessions: HELLO/WELCOME, dispatching each record of a
 * frame, heartbeats, BYE and forgetting dead clients.
 *
 * A session is keyed by the ROUTER it came on and the routing id of the
 * client's DEALER.  It begins with HELLO (with security, only for a
 * connection auth.c admitted, and then each frame must come from the
 * same user) and ends with BYE, a heartbeat timeout or the peer
 * disappearing.  Forgetting a client drops its subscriptions and hands
 * its unacknowledged queue messages back to their queues at once; the
 * memory itself is freed at the end of the loop turn, so that code in the
 * middle of a fan-out never holds a dangling pointer.
 *
 * The end of each turn is here too (client_turn_end): every client with
 * output is flushed through out.c, and the bounds on what waits for a
 * client are applied.  The "block" slow-subscriber policy slows only the
 * publishers that feed a full receiver: their records are parked (read,
 * kept in order, handled when the receiver has room), everyone else goes
 * on.  The ROUTER is one socket, so a publisher can only be made to wait
 * by not reading: while a publisher has records parked for a receiver the
 * broker's input is paused (b->throttled holds main's loop sources for the
 * ROUTERs and the gateway's XSUB), in slices of BLOCK_SLICE_MS, each
 * followed by a turn that reads again until the next frame of such a
 * publisher.  So everyone else waits at most a slice, the publisher fills
 * its own pipe and slows down, and a receiver that reads loses nothing.
 * The pause begins with the first parked record, not at a bound: what
 * waits is then kept in the publisher's pipe and socket, where it costs
 * the broker nothing, rather than copied into its backlog and read again;
 * four publishers into one subscriber parked nearly every message before
 * (a third of the broker's time; docs/performance.md, "Four publishers:
 * the pause at once").
 * A receiver that does not read at all lets its publishers' backlogs grow
 * by at most a frame a slice, to OUT_HARD_CAP buffers; past that their
 * publishes are refused.  Such a receiver is forgotten when its heartbeats
 * stop (heartbeat_timeout_ms).
 * Request handlers below (channel.c, admin.c) return a PS_WERR_* code
 * with a reason; the ERROR record is sent here, from one place.
 */
#include "brokerd.h"
#include "hash.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define CLIENT_BURST 1000      /* frames read per turn before flushing */
#define CLIENT_BURST_BYTES (1u << 20) /* bytes read per turn before flushing: a
                                         turn stays short, heartbeats are heard */
#define CLIENT_BURST_NS 5000000 /* ... and time spent handling them: a frame of many
                                   records costs more than its bytes say */
#define CLIENT_RETRY_MS 10     /* loop wait while a peer's pipe is full */
#define CLIENT_RETRY_FAST_MS 2 /* ... while a publisher waits for a receiver (b->throttled) */
#define BLOCK_SLICE_MS 20      /* longest input pause for a publisher on a block channel */

static size_t ident_hash(const void *ident, size_t len)
{
    return ps__hash(ident, len) % BROKER_HASH;
}

client *client_find(broker *b, void *sock, const void *ident, size_t len)
{
    /* Routing ids are unique per ROUTER only: the two of a secure broker
     * may each have a peer with the same one. */
    client *c;
    SLIST_FOREACH(c, &b->hclients[ident_hash(ident, len)], hlink)
        if (c->ident_len == len && c->sock == sock && memcmp(c->ident, ident, len) == 0)
            return c;
    return NULL;
}

/* A printable copy of a client-chosen name, for logs and admin. */
static char *clean_name(const ps__slice *s)
{
    return ps__printable_dup(s->ptr, s->len);
}

/* The kind of log line of connections, rate-limited per source (log.c). */
static const char CONNECTIONS[] = "connections";

/* HELLO: starts (or restarts) a session; peer is the source address for
 * the rate limit of its log lines.  Returns the client or NULL. */
static client *client_hello(broker *b, client *c, void *sock, const void *ident, size_t ilen,
                            const char *user, const char *peer, const ps__cmd *cmd)
{
    if (cmd->major != PS_WIRE_MAJOR) {
        char text[128];
        snprintf(text, sizeof text, "protocol %u.%u not supported, broker speaks %d.%d",
                 cmd->major, cmd->minor, PS_WIRE_MAJOR, PS_WIRE_MINOR);
        log_limited(LOG_LVL_INFO, CONNECTIONS, peer, "refused a client: %s", text);
        /* Straight to the identity: a forgotten client's output is never sent. */
        b->refused[REFUSE_VERSION]++;
        out_direct_error(sock, ident, ilen, PS_WERR_VERSION, text);
        if (c)
            client_forget(b, c, "wrong protocol version");
        return NULL;
    }
    auth_session *as = NULL;
    if (b->secure && !(as = auth_admit(b, sock, ident, ilen, user))) {
        if (c)
            client_forget(b, c, "is no longer allowed");
        return NULL;
    }
    if (c) {
        /* A second HELLO: the client restarted its session. */
        log_debug("client %llu: new HELLO, session reset", (unsigned long long)c->num);
        client_reset(b, c);
    } else {
        if ((long)b->n_clients >= b->cfg->max_clients) {
            char text[96];
            snprintf(text, sizeof text, "too many clients (max_clients %ld)", b->cfg->max_clients);
            log_limited(LOG_LVL_WARNING, CONNECTIONS, peer, "refused a client: %s", text);
            b->refused[REFUSE_MAX_CLIENTS]++;
            out_direct_error(sock, ident, ilen, PS_WERR_LIMIT, text);
            auth_free(&as);
            return NULL;
        }
        if (ilen > sizeof c->ident || !(c = calloc(1, sizeof *c))) {
            auth_free(&as); /* libzmq identities are at most 255 bytes */
            return NULL;
        }
        c->sock = sock;
        memcpy(c->ident, ident, ilen);
        c->ident_len = ilen;
        c->num = ++b->next_num;
        STAILQ_INIT(&c->out);
        LIST_INIT(&c->subs);
        LIST_INIT(&c->tickets);
        SLIST_INSERT_HEAD(&b->hclients[ident_hash(ident, ilen)], c, hlink);
        LIST_INSERT_HEAD(&b->clients, c, link);
        b->n_clients++;
    }
    auth_inherit(as, c->auth);
    auth_free(&c->auth);
    c->auth = as;
    free(c->name);
    c->name = clean_name(&cmd->text);
    c->minor = cmd->minor;
    free(c->address);
    c->address = strdup(*peer ? peer : "ipc"); /* libzmq names no peer on ipc */
    c->notes = 0;
    c->last_in = b->now;
    c->last_out = b->now;
    log_limited(LOG_LVL_INFO, CONNECTIONS, peer, "client %llu connected%s%s%s%s%s",
                (unsigned long long)c->num, c->name && *c->name ? " as " : "",
                c->name ? c->name : "", as ? " (" : "", as ? auth_who(c) : "", as ? ")" : "");
    ps__cmd w = {.cmd = PS_CMD_WELCOME,
                 .major = PS_WIRE_MAJOR,
                 .minor = PS_WIRE_MINOR,
                 .broker_id = b->id,
                 .epoch = b->epoch,
                 .heartbeat_ms = (uint32_t)b->cfg->heartbeat_ms,
                 .max_size = (uint32_t)b->cfg->max_message_size};
    out_put(b, c, &w);
    return c;
}

static int client_record(broker *b, client *c, ps__cmd *cmd);

/*
 * PUBLISH_BATCH: each payload is published as a PUBLISH of the batch's
 * channel, topic and flags would be, in order.  As many as can go as one
 * run (chan_publish_run: the channel, right, topic and receivers judged
 * once) do; the first of a run, and any the run will not take, go alone
 * as that PUBLISH.  When one must wait (a full block receiver or queue),
 * cmd is narrowed to it and the payloads after it, for park_record to
 * keep, and 1 is returned.
 */
static int client_batch(broker *b, client *c, ps__cmd *cmd)
{
    if (cmd->flags & ~(PS_WIRE_RETAIN | PS_WIRE_STRICT)) {
        out_error(b, c, 0, PS_WERR_PROTOCOL, "a PUBLISH_BATCH carries only RETAIN and STRICT");
        return 0;
    }
    ps__cmd one = {.cmd = PS_CMD_PUBLISH, .flags = cmd->flags, .channel = cmd->channel,
                   .topic = cmd->topic};
    while (cmd->count && !c->dead && !c->cut) {
        int rc = chan_publish_run(b, c, cmd);
        if (rc == CHAN_PARK)
            return 1;
        if (rc != CHAN_ONE)
            break;
        ps__slice rest = cmd->data;
        if (!ps__wire_batch_next(&rest, &one.data))
            break;
        if (client_record(b, c, &one))
            return 1; /* cmd is still this payload and those after it */
        cmd->data = rest;
        cmd->count--;
    }
    return 0;
}

/* Handles one record of a known, live session; 1 when it must be parked
 * (a batch is narrowed to what must wait, see client_batch).
 * A handler's refusal becomes ERROR(corr, code, reason) here. */
static int client_record(broker *b, client *c, ps__cmd *cmd)
{
    char why[2 * PS_WIRE_NAME_MAX + 192]; /* a refusal may name a channel twice */
    int code = 0;
    why[0] = '\0';
    chan_stage_check(b, c, cmd); /* the staged publishes come first (channel.c) */
    switch (cmd->cmd) {
    case PS_CMD_BYE:
        client_forget(b, c, "said BYE");
        break;
    case PS_CMD_HEARTBEAT:
        break;
    case PS_CMD_PING: {
        /* What its publishes since the last PING did, before the PONG that
         * ends its ps_flush (channel.c notes only for clients of 1.1). */
        if (c->notes) {
            ps__cmd n = {.cmd = PS_CMD_NOTICE, .corr = cmd->corr, .flags = c->notes,
                         .channel = {c->note_channel, strlen(c->note_channel)}};
            out_put(b, c, &n);
            c->notes = 0;
        }
        ps__cmd pong = {.cmd = PS_CMD_PONG, .corr = cmd->corr};
        out_put(b, c, &pong);
        break;
    }
    case PS_CMD_PUBLISH:
        /* A queue whose home is another node goes there. */
        if ((code = link_queue_command(b, c, cmd, why, sizeof why)) == CHAN_PARK)
            return 1; /* its home has REPL_INFLIGHT_MAX of this node's to answer */
        if (code != LINK_LOCAL)
            break;
        code = chan_publish(b, c, cmd, why, sizeof why);
        if (code == CHAN_PARK) {
            chan_stage_flush(b); /* what was staged before it is not parked */
            return 1;
        }
        break;
    case PS_CMD_PUBLISH_BATCH:
        return client_batch(b, c, cmd);
    case PS_CMD_SUBSCRIBE:
        if ((code = link_queue_command(b, c, cmd, why, sizeof why)) != LINK_LOCAL)
            break;
        code = chan_subscribe(b, c, cmd, why, sizeof why);
        if (code == CHAN_PARK)
            return 1; /* its OK waits for the cluster's peers */
        break;
    case PS_CMD_UNSUBSCRIBE:
        code = chan_unsubscribe(b, c, cmd, why, sizeof why);
        break;
    case PS_CMD_REQUEST:
        code = chan_request(b, c, cmd, why, sizeof why);
        break;
    case PS_CMD_ACK:
        chan_ack(b, c, cmd->tag);
        break;
    case PS_CMD_ACK_BATCH: /* 1.3: that many ACKs, in order */
        for (uint32_t i = 0; i < cmd->count; i++)
            chan_ack(b, c, ps__wire_tag(cmd, i));
        break;
    case PS_CMD_REPLY:
        chan_reply(b, c, cmd);
        break;
    case PS_CMD_ADMIN:
        code = auth_check(b, c, VERB_ADMIN, NULL, NULL, 0, why, sizeof why);
        if (!code)
            code = admin_handle(b, c, cmd, why, sizeof why);
        break;
    default:
        out_error(b, c, 0, PS_WERR_PROTOCOL, "%s is not a command for the broker",
                  ps__wire_cmd_name(cmd->cmd));
        break;
    }
    if (code) {
        chan_stage_flush(b); /* answers in the order of their records */
        out_error(b, c, cmd->corr, (uint16_t)code, "%s", why);
    }
    return 0;
}

/* Drops the handled front of c's parked records (parked_off), moving the
 * rest down. */
static void park_compact(client *c)
{
    if (!c->parked_off)
        return;
    memmove(c->parked.data, c->parked.data + c->parked_off, client_parked(c));
    c->parked.len -= c->parked_off;
    c->parked_off = 0;
}

/* The bytes a client may have parked before the broker acts (park_record). */
static size_t park_bound(const broker *b)
{
    return (size_t)b->cfg->client_buffer + PS_WIRE_RECORD_OVERHEAD;
}

/* A publisher that parks a record for a queue (full, or a replicated one
 * waiting for its leader) is told to hold its publishes (1.4), once until
 * it is resumed: from then on the queue, not this backlog, is what waits
 * (client_park_room).  A record that was parked for a receiver and is
 * now kept for a queue counts too. */
static void pause_publisher(broker *b, client *c, const ps__cmd *cmd)
{
    if (c->park_why != PARK_QUEUE || c->minor < 4 || c->held || c->relay)
        return;
    ps__cmd pause = {.cmd = PS_CMD_PAUSE, .channel = cmd->channel};
    out_put(b, c, &pause);
    c->held = 1;
    b->pauses++;
}

/*
 * Parking: a queue with overflow = "block" that is full, or a receiver
 * over its bound on a channel with slow_subscriber = "block", makes the
 * publisher wait instead of refusing it.  The PUBLISH and every later
 * record of that client are kept in order, raw, until there is room;
 * acknowledgements, replies and heartbeats still pass, since they answer
 * the broker and free room themselves.  Past park_bound, a publisher that
 * waits for a full queue is refused; one that waits for a receiver pauses
 * the broker's input at once (see the head comment), and is refused past
 * OUT_HARD_CAP times park_bound.  A batch is kept as cmd says (what is left of
 * it), other records as their bytes rec[0..len).  Returns 1 when cmd was
 * parked.
 */
static int park_record(broker *b, client *c, const ps__cmd *cmd, const uint8_t *rec, size_t len)
{
    int batch = cmd->cmd == PS_CMD_PUBLISH_BATCH;
    if (batch)
        len = ps__wire_size(cmd);
    switch (cmd->cmd) {
    case PS_CMD_ACK:
    case PS_CMD_ACK_BATCH:
    case PS_CMD_REPLY:
    case PS_CMD_HEARTBEAT:
        if (client_parked(c))
            return 0;
        break;
    default:
        break;
    }
    size_t bound = c->park_why == PARK_QUEUE ? client_park_room(b, c) + PS_WIRE_RECORD_OVERHEAD
                                             : park_bound(b);
    if (c->park_why == PARK_RECEIVER) {
        if (!b->throttled)
            b->throttle_since = b->now;
        b->throttled = 1; /* client_read stops soon, see there */
        bound *= OUT_HARD_CAP;
    }
    if (client_parked(c) + len > bound && (cmd->cmd == PS_CMD_PUBLISH || batch)) {
        /* Its backlog is full too: now a publish is refused after all. */
        if (c->park_why == PARK_QUEUE)
            out_error(b, c, cmd->corr, PS_WERR_FULL,
                      "queue '%.*s' is full and so is this publisher's backlog",
                      (int)cmd->channel.len, cmd->channel.ptr);
        else if (c->park_why == PARK_INTEREST)
            out_error(b, c, cmd->corr, PS_WERR_FULL,
                      "this client's backlog is full while its subscription waits for the "
                      "cluster's peers");
        else
            out_error(b, c, cmd->corr, PS_WERR_FULL,
                      "a receiver on block channel '%.*s' does not read and this "
                      "publisher's backlog is full",
                      (int)cmd->channel.len, cmd->channel.ptr);
        return 1;
    }
    if (c->parked.len + len > bound)
        park_compact(c); /* the buffer does not grow past the bound for handled bytes */
    if ((batch ? ps__wire_put(&c->parked, cmd) : ps__buf_append(&c->parked, rec, len)) < 0) {
        out_error(b, c, cmd->corr, PS_WERR_FULL, "out of memory for a parked record");
        return 1;
    }
    b->parked_bytes += len;
    pause_publisher(b, c, cmd);
    if (!c->on_park_list) {
        c->on_park_list = 1;
        c->parked_lately = 1;
        LIST_INSERT_HEAD(&b->parked, c, park_link);
        log_debug("client %llu: publisher slowed, %s", (unsigned long long)c->num,
                  c->park_why == PARK_QUEUE ? "a blocking queue is full"
                                            : "a receiver on a block channel is full: publishers wait");
    }
    return 1;
}

/* A parked batch was handled in part: its record, which ends at end
 * (counted from parked_off), is replaced in place by what is left of it
 * (cmd, narrowed by client_batch), which is no longer and now ends there
 * too.  Returns the bytes handled, counted as client_unpark counts them:
 * up to where the batch's rest now starts.  Nothing after it moves: the
 * backlog behind it, megabytes, was copied for every partial batch
 * before, most of a slowed publisher's cost. */
static size_t park_rest(broker *b, client *c, const ps__cmd *cmd, size_t end)
{
    ps__buf left = {0};
    if (ps__wire_put(&left, cmd) < 0 || left.len > end) {
        /* Kept whole, its first part would be published twice. */
        ps__buf_free(&left);
        out_error(b, c, 0, PS_WERR_FULL, "out of memory: %u messages of a batch dropped",
                  cmd->count);
        return end;
    }
    memcpy(c->parked.data + c->parked_off + end - left.len, left.data, left.len);
    size_t done = end - left.len;
    ps__buf_free(&left);
    return done;
}

/* Handles parked records of clients whose queue or receivers have room
 * again.  Returns 1 when a publisher still has records waiting for a
 * receiver, so that the broker's input stays paused. */
static int client_unpark(broker *b)
{
    client *c, *next;
    int over = 0;
    for (c = LIST_FIRST(&b->parked); c; c = next) {
        next = LIST_NEXT(c, park_link);
        ps__reader r;
        ps__cmd cmd;
        size_t done = 0;
        const uint8_t *base = c->parked.data + c->parked_off;
        ps__reader_init(&r, base, client_parked(c));
        c->unparking = 1;
        while (!c->dead && ps__wire_next(&r, &cmd) > 0) {
            uint32_t whole = cmd.count;
            if (client_record(b, c, &cmd)) {
                /* still full: this record and the rest wait (for a
                 * queue now, perhaps, where a receiver made it wait) */
                pause_publisher(b, c, &cmd);
                if (cmd.cmd == PS_CMD_PUBLISH_BATCH && cmd.count != whole)
                    done = park_rest(b, c, &cmd, (size_t)(r.pos - base));
                break;
            }
            done = (size_t)(r.pos - base);
        }
        c->unparking = 0;
        chan_stage_flush(b); /* the parked publishes it took, as at a frame's end */
        if (done && !c->dead) {
            /* The handled front is dropped by an offset, and the rest moved
             * down only once it is no larger than what was handled: each
             * parked byte is moved about once at most. */
            c->parked_off += done;
            if (c->parked_off >= client_parked(c))
                park_compact(c);
        }
        if (c->dead || !client_parked(c)) {
            /* Its room is kept until a sweep finds that it has not
             * parked since the one before: a publisher that a receiver
             * slows parks again within milliseconds, and growing the
             * backlog anew each time (realloc's copies, a fault every
             * 4 KiB) was a fifth of the broker's time in 4->1. */
            c->parked_off = 0;
            c->parked.len = 0;
            if (c->dead)
                ps__buf_free(&c->parked);
            c->on_park_list = 0;
            LIST_REMOVE(c, park_link);
            if (c->held && !c->dead) {
                ps__cmd resume = {.cmd = PS_CMD_RESUME};
                out_put(b, c, &resume);
                c->held = 0;
            }
        } else if (c->park_why == PARK_RECEIVER) {
            over = 1;
        }
    }
    return over;
}

/* Whether c is a publisher with records waiting for a receiver: while
 * one has, the broker's input is paused. */
static int waits_for_receiver(const client *c)
{
    return c && !c->dead && c->on_park_list && c->park_why == PARK_RECEIVER &&
           client_parked(c) > 0;
}

/* Handles every record of one frame from identity ident on router sock;
 * user is the frame's ZAP user id (NULL without security), peer its
 * source address ("" when unknown), fd the connection it came on
 * (ZMQ_SRCFD).  Returns the client, or NULL when it has nothing more to
 * read (none, gone or cut off). */
static client *frame_records(broker *b, void *sock, const void *ident, size_t ilen,
                             const char *user, const char *peer, int fd, const void *data,
                             size_t size)
{
    client *c = client_find(b, sock, ident, ilen);
    if (c && (c->fd != fd || !auth_same_user(c, user))) {
        /* A connection that claims a live session's routing id gets it
         * (ZMQ_ROUTER_HANDOVER, see listen.c), and the session's own
         * connection hears nothing more: the session was that
         * connection's, so it ends, and the newcomer must say HELLO and
         * be judged itself. */
        client_forget(b, c, c->fd != fd ? "lost its routing id to another connection"
                                        : "was replaced by another user with its routing id");
        c = NULL;
    }
    if (c)
        c->last_in = b->now;
    ps__reader r;
    ps__cmd cmd;
    int rc;
    ps__reader_init(&r, data, size);
    const uint8_t *rec = r.pos;
    while ((rc = ps__wire_next(&r, &cmd)) > 0) {
        const uint8_t *this_rec = rec;
        size_t rec_len = (size_t)(r.pos - rec);
        rec = r.pos;
        if (cmd.cmd == PS_CMD_HELLO) {
            chan_stage_flush(b); /* the old session's publishes stand */
            c = client_hello(b, c, sock, ident, ilen, user, peer, &cmd);
            if (c)
                c->fd = fd;
            /* The connection spoke: no longer one of the silent. */
            listen_greeted(b, fd);
            continue;
        }
        if (!c) {
            out_direct_error(sock, ident, ilen, PS_WERR_SESSION,
                              "unknown session: send HELLO first");
            return NULL;
        }
        if (c->dead || c->cut)
            return NULL; /* records after BYE, or past its bound, have nobody to serve */
        if (client_parked(c) && park_record(b, c, &cmd, this_rec, rec_len))
            continue;
        if (client_record(b, c, &cmd))
            park_record(b, c, &cmd, this_rec, rec_len);
    }
    if (rc < 0) {
        b->malformed++;
        if (c && !c->dead) {
            if (!c->warned_malformed++)
                log_debug("client %llu: malformed frame of %zu bytes dropped",
                          (unsigned long long)c->num, size);
            chan_stage_flush(b); /* answers in the order of their records */
            out_error(b, c, 0, PS_WERR_PROTOCOL, "malformed command");
        }
    }
    return c;
}

/* Handles one frame (frame_records), then writes the durable publishes
 * it staged, with one write(2) (channel.c), before anything else is read
 * or done.  Returns 1 when the sender (now) waits_for_receiver. */
static int client_frame(broker *b, void *sock, const void *ident, size_t ilen, const char *user,
                        const char *peer, int fd, const void *data, size_t size)
{
    client *c = frame_records(b, sock, ident, ilen, user, peer, fd, data, size);
    chan_stage_flush(b);
    return waits_for_receiver(c);
}

void client_read(broker *b, void *sock)
{
    /* Publishers that wait for a receiver pause input, but the ROUTER
     * hands out frames in turn, one peer after the other: the burst goes
     * on while other peers have frames, and stops at two frames in a row
     * from such publishers (each is parked, or refused past the cap). */
    size_t bytes = 0;
    int held = 0;
    int64_t start = loop_now_ns();
    for (int i = 0; i < CLIENT_BURST && bytes < CLIENT_BURST_BYTES && held < 2 &&
                    (i == 0 || loop_now_ns() - start < CLIENT_BURST_NS);
         i++) {
        zmq_msg_t id, fr;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            break;
        }
        if (!zmq_msg_more(&id)) {
            b->malformed++;
            zmq_msg_close(&id);
            continue;
        }
        zmq_msg_init(&fr);
        if (zmq_msg_recv(&fr, sock, 0) < 0) {
            zmq_msg_close(&fr);
            zmq_msg_close(&id);
            break;
        }
        bytes += zmq_msg_size(&fr);
        int extra = 0;
        while (zmq_msg_more(&fr)) {
            /* A client sends one frame per message; more is malformed. */
            zmq_msg_close(&fr);
            zmq_msg_init(&fr);
            if (zmq_msg_recv(&fr, sock, 0) < 0)
                break;
            extra = 1;
        }
        if (extra) {
            b->malformed++;
            client *c = client_find(b, sock, zmq_msg_data(&id), zmq_msg_size(&id));
            if (c && !c->dead && c->fd == zmq_msg_get(&fr, ZMQ_SRCFD)) {
                if (!c->warned_malformed++)
                    log_debug("client %llu: multi-frame message dropped",
                              (unsigned long long)c->num);
                out_error(b, c, 0, PS_WERR_PROTOCOL, "one frame per message expected");
            }
        } else {
            /* Who the ZAP handler admitted this connection as. */
            const char *user = b->secure ? zmq_msg_gets(&fr, "User-Id") : NULL;
            /* Where it comes from, for the rate limit of connection lines. */
            const char *peer = zmq_msg_gets(&fr, "Peer-Address");
            if (client_frame(b, sock, zmq_msg_data(&id), zmq_msg_size(&id), user, peer ? peer : "",
                             zmq_msg_get(&fr, ZMQ_SRCFD), zmq_msg_data(&fr), zmq_msg_size(&fr)))
                held++;
            else
                held = 0;
        }
        zmq_msg_close(&fr);
        zmq_msg_close(&id);
    }
}

void client_reset(broker *b, client *c)
{
    /* Parked records die with the session; client_unpark unlinks it.  A
     * new session starts unpaused, on the library's side too. */
    ps__buf_free(&c->parked);
    c->parked_off = 0;
    c->held = 0;
    while (!LIST_EMPTY(&c->subs))
        chan_sub_remove(b, LIST_FIRST(&c->subs));
    chan_client_gone(b, c);
}

void client_forget(broker *b, client *c, const char *why)
{
    if (c->dead)
        return;
    /* A client can end sessions at will (HELLO then BYE, a taken routing
     * id) as fast as it opens them: each reason is a kind of line
     * rate-limited per source, so that one flood of BYEs does not hide
     * the first time-out either. */
    if (why)
        log_limited(LOG_LVL_INFO, why, c->address ? c->address : "",
                    "client %llu %s, forgotten", (unsigned long long)c->num, why);
    c->dead = 1;
    client_reset(b, c);
    SLIST_REMOVE(&b->hclients[ident_hash(c->ident, c->ident_len)], c, client, hlink);
    LIST_REMOVE(c, link);
    LIST_INSERT_HEAD(&b->graveyard, c, link);
    b->n_clients--;
}

static void client_free(broker *b, client *c)
{
    out_drop(b, c);
    auth_free(&c->auth);
    free(c->name);
    free(c->address);
    free(c);
}

/* Frees forgotten clients. */
static void client_reap(broker *b)
{
    client *c, *next;
    for (c = LIST_FIRST(&b->graveyard); c; c = next) {
        next = LIST_NEXT(c, link);
        if (c->dirty)
            continue; /* still on the flush list: the next turn's flush drops it */
        LIST_REMOVE(c, link);
        client_free(b, c);
    }
}

/* Flushes every dirty client.  Returns 1 when some pipe was full. */
static int flush_all(broker *b)
{
    SLIST_HEAD(, client) keep = SLIST_HEAD_INITIALIZER(keep);
    client *c;
    int blocked = 0;
    while ((c = SLIST_FIRST(&b->flush))) {
        SLIST_REMOVE_HEAD(&b->flush, flush_link);
        c->dirty = 0;
        if (c->dead) {
            out_drop(b, c);
            continue;
        }
        if (c->cut) {
            /* out.c cut it off when its output passed the hard bound. */
            client_forget(b, c, "was cut off, its output past a bound");
            continue;
        }
        int rc = out_flush(b, c);
        if (rc < 0) {
            client_forget(b, c, "disconnected");
            continue;
        }
        if (!rc || c->dead)
            continue;
        blocked = 1;
        SLIST_INSERT_HEAD(&keep, c, flush_link);
    }
    /* Clients made dirty during the flush (redeliveries) join those waiting. */
    while ((c = SLIST_FIRST(&keep))) {
        SLIST_REMOVE_HEAD(&keep, flush_link);
        if (!c->dirty) {
            c->dirty = 1;
            SLIST_INSERT_HEAD(&b->flush, c, flush_link);
        }
    }
    return blocked;
}

long client_turn_end(broker *b)
{
    int blocked = flush_all(b);
    /* Room in a blocking queue or receiver lets its publishers go on; this
     * also unlinks clients that died this turn, before they are freed. */
    long wait = -1;
    if (!client_unpark(b))
        b->throttled = 0;
    else if (b->throttled && (wait = b->throttle_since + BLOCK_SLICE_MS - b->now) <= 0)
        b->throttled = 0; /* the slice is over: a turn that reads again */
    client_reap(b);
    client *c;
    SLIST_FOREACH(c, &b->flush, flush_link)
        if (out_unframed(c))
            return 0;
    /* libzmq does not say when a peer's pipe has room again: the loop
     * looks again after a while.  While a publisher waits for a receiver
     * (the input is paused), the receiver drains its pipe (32 frames,
     * some 30,000 small messages) in a few milliseconds, and waiting 10
     * left it idle for the rest: four publishers into one subscriber made
     * 6-10 % more with 2.  Otherwise a full pipe is looked at every 10 ms,
     * so that receivers which do not read cost the loop little. */
    long retry = b->throttled ? CLIENT_RETRY_FAST_MS : CLIENT_RETRY_MS;
    if (blocked && (wait < 0 || wait > retry))
        wait = retry;
    return b->throttled || blocked ? wait : -1;
}

long client_sweep(broker *b)
{
    long hb = b->cfg->heartbeat_ms, dead = b->cfg->heartbeat_timeout_ms;
    client *c, *next;
    for (c = LIST_FIRST(&b->clients); c; c = next) {
        next = LIST_NEXT(c, link);
        /* A receiver whose full pipe takes frames reads, even when its
         * heartbeats queue behind what it is busy with. */
        int64_t heard = c->last_drain > c->last_in ? c->last_drain : c->last_in;
        if (b->now - heard > dead) {
            client_forget(b, c, "timed out");
            continue;
        }
        if (!c->dirty)
            out_idle(c); /* a busy client grows its buffer again at once */
        if (!c->on_park_list && !c->parked_lately)
            ps__buf_free(&c->parked); /* the room kept by client_unpark */
        c->parked_lately = 0;
        if (b->now - c->last_out >= hb && !c->dirty) {
            ps__cmd h = {.cmd = PS_CMD_HEARTBEAT};
            out_put(b, c, &h);
        }
    }
    long step = hb / 4;
    if (step > 250)
        step = 250;
    if (step < 10)
        step = 10;
    return step;
}

void client_rejudge(broker *b)
{
    if (!b->secure)
        return;
    client *c, *next;
    for (c = LIST_FIRST(&b->clients); c; c = next) {
        next = LIST_NEXT(c, link);
        if (!c->auth)
            continue;
        if (auth_rejudge(b, c) < 0) {
            client_forget(b, c, "is no longer in security.clients");
            continue;
        }
        /* Subscriptions stand only while their rights do. */
        sub *s, *snext;
        for (s = LIST_FIRST(&c->subs); s; s = snext) {
            snext = LIST_NEXT(s, cl_link);
            if (auth_sub_stands(b, s))
                continue;
            log_notice("client %llu (%s): subscription to '%s' removed, its right was withdrawn",
                       (unsigned long long)c->num, auth_who(c), s->ch->name);
            chan_sub_remove(b, s);
        }
    }
}

void client_free_all(broker *b)
{
    client *c;
    while ((c = LIST_FIRST(&b->clients)))
        client_forget(b, c, NULL);
    SLIST_INIT(&b->flush);
    while ((c = LIST_FIRST(&b->graveyard))) {
        LIST_REMOVE(c, link);
        client_free(b, c);
    }
}
