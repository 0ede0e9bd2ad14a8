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
 */
#include "brokerd.h"
#include "hash.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

static size_t ident_hash(const void *ident, size_t len)
{
    return ps__hash(ident, len) % BROKER_HASH;
}

client *client_find(broker *b, void *sock, const void *ident, size_t len)
{
    /* Routing ids are unique per ROUTER only: the two of a secure broker
     * may each have a peer with the same one. */
    for (client *c = b->hclients[ident_hash(ident, len)]; c; c = c->hnext)
        if (c->ident_len == len && c->sock == sock && memcmp(c->ident, ident, len) == 0)
            return c;
    return NULL;
}

/* A printable copy of a client-chosen name, for logs and admin. */
static char *clean_name(const ps__slice *s)
{
    return ps__printable_dup(s->ptr, s->len);
}

/* HELLO: starts (or restarts) a session.  Returns the client or NULL. */
static client *client_hello(broker *b, client *c, void *sock, const void *ident, size_t ilen,
                            const char *user, const ps__cmd *cmd)
{
    if (cmd->major != PS_WIRE_MAJOR) {
        char text[128];
        snprintf(text, sizeof text, "protocol %u.%u not supported, broker speaks %d.%d",
                 cmd->major, cmd->minor, PS_WIRE_MAJOR, PS_WIRE_MINOR);
        log_info("refused a client: %s", text);
        /* Straight to the identity: a forgotten client's output is never sent. */
        loop_direct_error(b, sock, ident, ilen, PS_WERR_VERSION, text);
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
            log_warn("refused a client: %s", text);
            loop_direct_error(b, sock, ident, ilen, PS_WERR_LIMIT, text);
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
        size_t h = ident_hash(ident, ilen);
        c->hnext = b->hclients[h];
        b->hclients[h] = c;
        c->next = b->clients;
        if (b->clients)
            b->clients->prev = c;
        b->clients = c;
        b->n_clients++;
    }
    auth_free(&c->auth);
    c->auth = as;
    free(c->name);
    c->name = clean_name(&cmd->text);
    c->last_in = b->now;
    c->last_out = b->now;
    log_info("client %llu connected%s%s%s%s%s", (unsigned long long)c->num,
             c->name && *c->name ? " as " : "", c->name ? c->name : "",
             as ? " (" : "", as ? auth_who(c) : "", as ? ")" : "");
    ps__cmd w = {.cmd = PS_CMD_WELCOME,
                 .major = PS_WIRE_MAJOR,
                 .minor = PS_WIRE_MINOR,
                 .broker_id = b->id,
                 .epoch = b->epoch,
                 .heartbeat_ms = (uint32_t)b->cfg->heartbeat_ms,
                 .max_size = (uint32_t)b->cfg->max_message_size};
    loop_put(b, c, &w);
    return c;
}

/* Handles one record of a known, live session; 1 when it must be parked. */
static int client_record(broker *b, client *c, const ps__cmd *cmd)
{
    switch (cmd->cmd) {
    case PS_CMD_BYE:
        client_forget(b, c, "said BYE");
        break;
    case PS_CMD_HEARTBEAT:
        break;
    case PS_CMD_PING: {
        ps__cmd pong = {.cmd = PS_CMD_PONG, .corr = cmd->corr};
        loop_put(b, c, &pong);
        break;
    }
    case PS_CMD_PUBLISH:
        return chan_publish(b, c, cmd);
    case PS_CMD_SUBSCRIBE:
        chan_subscribe(b, c, cmd);
        break;
    case PS_CMD_UNSUBSCRIBE:
        chan_unsubscribe(b, c, cmd);
        break;
    case PS_CMD_REQUEST:
        chan_request(b, c, cmd);
        break;
    case PS_CMD_ACK:
        chan_ack(b, c, cmd->tag);
        break;
    case PS_CMD_REPLY:
        chan_reply(b, c, cmd);
        break;
    case PS_CMD_ADMIN:
        if (auth_check(b, c, cmd->corr, VERB_ADMIN, NULL, NULL, 0))
            admin_handle(b, c, cmd);
        break;
    default:
        loop_error(b, c, 0, PS_WERR_PROTOCOL, "%s is not a command for the broker",
                   ps__wire_cmd_name(cmd->cmd));
        break;
    }
    return 0;
}

/*
 * Parking: a queue with overflow = "block" that is full makes its
 * publisher wait instead of refusing it.  The PUBLISH and every later
 * record of that client are kept in order, raw, until the queue has room;
 * acknowledgements, replies and heartbeats still pass, since they answer
 * the broker and free room themselves.  Returns 1 when cmd was parked.
 */
static int park_record(broker *b, client *c, const ps__cmd *cmd, const uint8_t *rec, size_t len)
{
    switch (cmd->cmd) {
    case PS_CMD_ACK:
    case PS_CMD_REPLY:
    case PS_CMD_HEARTBEAT:
        if (c->parked.len)
            return 0;
        break;
    default:
        break;
    }
    if (c->parked.len + len > (size_t)b->cfg->client_buffer + PS_WIRE_RECORD_OVERHEAD) {
        /* Its backlog is full too: now a publish is refused after all. */
        if (cmd->cmd == PS_CMD_PUBLISH) {
            loop_error(b, c, cmd->corr, PS_WERR_FULL,
                       "queue '%.*s' is full and so is this publisher's backlog",
                       (int)cmd->channel.len, cmd->channel.ptr);
            return 1;
        }
    }
    if (ps__buf_append(&c->parked, rec, len) < 0) {
        loop_error(b, c, cmd->corr, PS_WERR_FULL, "out of memory for a parked record");
        return 1;
    }
    if (!c->on_park_list) {
        c->on_park_list = 1;
        c->park_next = b->parked;
        b->parked = c;
        log_debug("client %llu: publisher slowed, a blocking queue is full",
                  (unsigned long long)c->num);
    }
    return 1;
}

void client_unpark(broker *b)
{
    client **pp = &b->parked;
    while (*pp) {
        client *c = *pp;
        ps__reader r;
        ps__cmd cmd;
        size_t done = 0;
        ps__reader_init(&r, c->parked.data, c->parked.len);
        while (!c->dead && ps__wire_next(&r, &cmd) > 0) {
            if (client_record(b, c, &cmd))
                break; /* still full: this record and the rest wait */
            done = (size_t)(r.pos - c->parked.data);
        }
        if (done && !c->dead) {
            memmove(c->parked.data, c->parked.data + done, c->parked.len - done);
            c->parked.len -= done;
        }
        if (c->dead || !c->parked.len) {
            ps__buf_free(&c->parked);
            c->on_park_list = 0;
            *pp = c->park_next;
            continue;
        }
        pp = &c->park_next;
    }
}

void client_frame(broker *b, void *sock, const void *ident, size_t ilen, const char *user,
                  const void *data, size_t size)
{
    client *c = client_find(b, sock, ident, ilen);
    if (c && !auth_same_user(c, user)) {
        /* libzmq keeps routing ids unique among live connections, so the
         * peer this session belonged to is gone; the new one must say
         * HELLO and be judged itself. */
        client_forget(b, c, "was replaced by another user with its routing id");
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
            c = client_hello(b, c, sock, ident, ilen, user, &cmd);
            continue;
        }
        if (!c) {
            loop_direct_error(b, sock, ident, ilen, PS_WERR_SESSION,
                              "unknown session: send HELLO first");
            return;
        }
        if (c->dead)
            return; /* records after BYE have nobody to serve */
        if (c->parked.len && park_record(b, c, &cmd, this_rec, rec_len))
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
            loop_error(b, c, 0, PS_WERR_PROTOCOL, "malformed command");
        }
    }
}

void client_reset(broker *b, client *c)
{
    /* Parked records die with the session; client_unpark unlinks it. */
    ps__buf_free(&c->parked);
    while (c->subs)
        chan_sub_remove(b, c->subs);
    chan_client_gone(b, c);
}

void client_forget(broker *b, client *c, const char *why)
{
    if (c->dead)
        return;
    if (why)
        log_info("client %llu %s, forgotten", (unsigned long long)c->num, why);
    c->dead = 1;
    client_reset(b, c);
    client **pp = &b->hclients[ident_hash(c->ident, c->ident_len)];
    while (*pp && *pp != c)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = c->hnext;
    if (c->prev)
        c->prev->next = c->next;
    else
        b->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = b->graveyard;
    b->graveyard = c;
    b->n_clients--;
}

static void client_free(client *c)
{
    while (c->out_head) {
        outframe *f = c->out_head;
        c->out_head = f->next;
        ps__buf_free(&f->buf);
        free(f);
    }
    ps__buf_free(&c->cur);
    auth_free(&c->auth);
    free(c->name);
    free(c);
}

void client_reap(broker *b)
{
    client *keep = NULL;
    while (b->graveyard) {
        client *c = b->graveyard;
        b->graveyard = c->next;
        if (c->dirty) {
            /* Still on the flush list: the next turn's flush drops it. */
            c->next = keep;
            keep = c;
            continue;
        }
        client_free(c);
    }
    b->graveyard = keep;
}

void client_sweep(broker *b)
{
    long hb = b->cfg->heartbeat_ms, dead = b->cfg->heartbeat_timeout_ms;
    client *next;
    for (client *c = b->clients; c; c = next) {
        next = c->next;
        if (b->throttled)
            c->last_in = b->now; /* we are not listening: silence proves nothing */
        else if (b->now - c->last_in > dead) {
            client_forget(b, c, "timed out");
            continue;
        }
        if (b->now - c->last_out >= hb && !c->dirty) {
            ps__cmd h = {.cmd = PS_CMD_HEARTBEAT};
            loop_put(b, c, &h);
        }
    }
    long step = hb / 4;
    if (step > 250)
        step = 250;
    if (step < 10)
        step = 10;
    b->next_sweep = b->now + step;
}

void client_free_all(broker *b)
{
    while (b->clients)
        client_forget(b, b->clients, NULL);
    b->flush = NULL;
    while (b->graveyard) {
        client *c = b->graveyard;
        b->graveyard = c->next;
        client_free(c);
    }
}
