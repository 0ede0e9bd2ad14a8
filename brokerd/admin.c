/*
 * admin.c - the ADMIN verbs: "status", "channels" and "clients", each
 * answered with ADMIN_REPLY carrying JSON built with jansson.  With
 * security only clients with the "admin" right get here (client.c).
 * "cluster" is the links' state (link_status), {"cluster":null} without
 * a cluster section.  "status" has a "gateway" object when the plain ZeroMQ gateway is
 * configured, built by the gateway itself (gateway_status).  A refusal
 * is returned as a PS_WERR_* code with its reason; client.c sends it.
 * The HTTP endpoint (http.c) serves the same documents from the same
 * builders (admin_text), and the stats channel (stats.c) reuses the
 * objects of one channel and of the status.
 */
#include "brokerd.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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
        if (o && b->link) {
            /* The cluster's part: peers whose clients want it, a queue's home. */
            json_object_set_new(o, "remote_subscribers",
                                json_integer((json_int_t)link_remote_subscribers(b, ch->name)));
            const config_channel *cc = config_find_channel(b->cfg, ch->name);
            if (cc && cc->home)
                json_object_set_new(o, "home", json_string(cc->home));
        }
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
    else if (VERB("cluster"))
        j = link_status(b);
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
        snprintf(why, cap, "unknown admin verb (status, channels, clients or cluster)");
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
