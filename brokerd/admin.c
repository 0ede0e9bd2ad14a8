/*
 * admin.c - the ADMIN verbs: "status", "channels" and "clients", each
 * answered with ADMIN_REPLY carrying JSON built with jansson.  With
 * security only clients with the "admin" right get here (client.c).
 * "status" has a "gateway" object when the plain ZeroMQ gateway is
 * configured, built by the gateway itself (gateway_status).  A refusal
 * is returned as a PS_WERR_* code with its reason; client.c sends it.
 * The HTTP endpoint (http.c) serves the same documents from the same
 * builders (admin_text), and the stats channel (stats.c) reuses the
 * objects of one channel and of the status.
 *
 * "status" has the broker's rates over the last 1, 10 and 60 seconds: a
 * timer samples the counters once a second into a ring of RATE_SAMPLES
 * (admin_sample), and a rate is the growth from the sample about N
 * seconds old to now, over the time that really passed between them.
 */
#include "brokerd.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

long admin_sample(void *ctx)
{
    broker *b = ctx;
    b->rates[b->rates_next] = (rate_sample){b->now, b->messages_in, b->messages_out, b->dropped};
    b->rates_next = (b->rates_next + 1) % RATE_SAMPLES;
    if (b->rates_n < RATE_SAMPLES)
        b->rates_n++;
    return 1000;
}

/* The windows of "status"'s rates, in seconds. */
static const int rate_windows[] = {1, 10, 60};

/* Per second, rounded: the growth of a counter from then to now over ms. */
static json_int_t per_s(uint64_t now, uint64_t then, int64_t ms)
{
    return ms > 0 ? (json_int_t)(((now - then) * 1000 + (uint64_t)ms / 2) / (uint64_t)ms) : 0;
}

/* {"1s": {"in":, "out":, "dropped":}, "10s": ..., "60s": ...}: messages
 * per second over each window, from the sample that is N to N+1 seconds
 * old (the newest is less than one; the oldest while the broker is younger
 * than the window) to now. */
static json_t *admin_rates(broker *b)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < sizeof rate_windows / sizeof *rate_windows; i++) {
        size_t back = (size_t)rate_windows[i] + 1;
        if (back > b->rates_n)
            back = b->rates_n;
        rate_sample s = {b->now, b->messages_in, b->messages_out, b->dropped};
        if (back > 0)
            s = b->rates[(b->rates_next + RATE_SAMPLES - back) % RATE_SAMPLES];
        int64_t ms = b->now - s.at;
        char key[8];
        snprintf(key, sizeof key, "%ds", rate_windows[i]);
        json_object_set_new(o, key, json_pack("{s:I, s:I, s:I}",
                                              "in", per_s(b->messages_in, s.in, ms),
                                              "out", per_s(b->messages_out, s.out, ms),
                                              "dropped", per_s(b->dropped, s.dropped, ms)));
    }
    return o;
}

json_t *admin_status(broker *b)
{
    json_t *eps = json_array();
    for (size_t i = 0; i < b->cfg->n_endpoints; i++)
        json_array_append_new(eps, json_string(b->cfg->endpoints[i]));
    char id[17], epoch[17];
    snprintf(id, sizeof id, "%016llx", (unsigned long long)b->id);
    snprintf(epoch, sizeof epoch, "%016llx", (unsigned long long)b->epoch);
    json_t *st = json_pack("{s:s, s:s, s:s, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I}",
                     "version", BROKERD_VERSION, "broker_id", id, "epoch", epoch,
                     "uptime_s", (json_int_t)((b->now - b->started) / 1000), "endpoints", eps,
                     "clients", (json_int_t)b->n_clients, "channels", (json_int_t)b->n_channels,
                     "messages_in", (json_int_t)b->messages_in, "messages_out",
                     (json_int_t)b->messages_out, "dropped", (json_int_t)b->dropped,
                     "malformed", (json_int_t)b->malformed);
    if (st)
        json_object_set_new(st, "rates", admin_rates(b));
    if (st && b->gw)
        json_object_set_new(st, "gateway", gateway_status(b->gw));
    return st;
}

json_t *admin_channel(const channel *ch)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "name",
                     ch->name, "type", config_type_name(ch->type), "subscribers",
                     (json_int_t)ch->n_subs, "queued", (json_int_t)ch->n_queued, "unacked",
                     (json_int_t)ch->n_unacked, "messages", (json_int_t)ch->messages,
                     "messages_out", (json_int_t)ch->delivered, "bytes_in",
                     (json_int_t)ch->bytes_in, "bytes_out", (json_int_t)ch->bytes_out,
                     "redelivered", (json_int_t)ch->redelivered, "dropped",
                     (json_int_t)ch->dropped, "retained", (json_int_t)ch->n_retained, "durable",
                     ch->durable);
}

static json_t *admin_channels(broker *b)
{
    json_t *arr = json_array();
    /* Oldest first reads better: the list is newest first, so prepend. */
    channel *ch;
    SLIST_FOREACH(ch, &b->channels, link) {
        json_t *o = admin_channel(ch);
        if (o)
            json_array_insert_new(arr, 0, o);
    }
    return arr;
}

static json_t *admin_clients(broker *b)
{
    json_t *arr = json_array();
    client *c;
    LIST_FOREACH(c, &b->clients, link) {
        /* "user": who security admitted it as ("" without security). */
        const char *who = auth_who(c);
        json_t *o = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I}", "id", (json_int_t)c->num, "name",
                              c->name ? c->name : "", "user", who ? who : "",
                              "subscriptions", (json_int_t)c->n_subs,
                              "unacked", (json_int_t)c->n_unacked, "pending_bytes",
                              (json_int_t)c->pending_bytes);
        if (o)
            json_array_insert_new(arr, 0, o);
    }
    return arr;
}

char *admin_text(broker *b, const char *verb, size_t len, int *known)
{
    json_t *j = NULL;
    *known = 1;
#define VERB(s) (len == strlen(s) && memcmp(verb, s, len) == 0)
    if (VERB("status"))
        j = admin_status(b);
    else if (VERB("channels"))
        j = admin_channels(b);
    else if (VERB("clients"))
        j = admin_clients(b);
#undef VERB
    else {
        *known = 0;
        return NULL;
    }
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}

uint16_t admin_handle(broker *b, client *c, const ps__cmd *cmd, char *why, size_t cap)
{
    int known;
    char *text = admin_text(b, cmd->text.ptr, cmd->text.len, &known);
    if (!known) {
        snprintf(why, cap, "unknown admin verb (status, channels or clients)");
        return PS_WERR_INVALID;
    }
    if (!text) {
        snprintf(why, cap, "out of memory");
        return PS_WERR_LIMIT;
    }
    ps__cmd r = {.cmd = PS_CMD_ADMIN_REPLY, .corr = cmd->corr};
    r.data.ptr = text;
    r.data.len = strlen(text);
    out_put(b, c, &r);
    free(text);
    return 0;
}
