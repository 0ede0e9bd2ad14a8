/*
 * admin.c - the ADMIN verbs: "status", "channels", "clients" and
 * "subscriptions", and the run-time administration of channels ("create",
 * "delete", "purge", "retained", "clear-retained"), each answered with
 * ADMIN_REPLY carrying JSON built with jansson.  The verb is words split
 * by single spaces: the verb, a channel name, then the verb's arguments
 * (a pattern, the last, may hold spaces); docs/protocol.md lists them.
 * The changes themselves are channel.c's (chan_declare, chan_delete,
 * queue_purge, chan_retained_clear); admin.c reads the verb and says what
 * was done.  With
 * security only clients with the "admin" right get here (client.c).
 * "cluster" is the links' state (link_status), {"cluster":null} without
 * a cluster section.  "status" has a "gateway" object when the plain ZeroMQ gateway is
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
    json_t *st = json_pack("{s:s, s:s, s:s, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                     "version", BROKERD_VERSION, "broker_id", id, "epoch", epoch,
                     "uptime_s", (json_int_t)((b->now - b->started) / 1000), "endpoints", eps,
                     "clients", (json_int_t)b->n_clients, "channels", (json_int_t)b->n_channels,
                     "messages_in", (json_int_t)b->messages_in, "messages_out",
                     (json_int_t)b->messages_out, "dropped", (json_int_t)b->dropped,
                     "malformed", (json_int_t)b->malformed, "pauses", (json_int_t)b->pauses,
                     "parked_bytes", (json_int_t)b->parked_bytes);
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
                     (json_int_t)ch->dropped, "retained", (json_int_t)chan_retained_count(ch),
                     "durable",
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
            const char *home = replq_home(b, ch); /* a replicated queue's: the leader */
            if (home)
                json_object_set_new(o, "home", *home ? json_string(home) : json_null());
            else if (cc && cc->home)
                json_object_set_new(o, "home", json_string(cc->home));
            if (ch->replicated) /* committed and not acknowledged, as applied here */
                json_object_set_new(o, "replicated_held",
                                    json_integer((json_int_t)replq_held(b, ch)));
        }
        if (o)
            json_array_insert_new(arr, 0, o);
    }
    return arr;
}

/* A subscription as "subscriptions" and "clients" name it: CHANNEL, and
 * CHANNEL:PATTERN on pubsub. */
static json_t *sub_name(const sub *s)
{
    return s->ch->type == CHAN_PUBSUB ? json_sprintf("%s:%s", s->ch->name, s->pattern)
                                      : json_string(s->ch->name);
}

static json_t *admin_clients(broker *b)
{
    json_t *arr = json_array();
    client *c;
    LIST_FOREACH(c, &b->clients, link) {
        /* "user": who security admitted it as ("" without security). */
        const char *who = auth_who(c);
        json_t *chans = json_array(), *pats = json_array();
        sub *s;
        /* Its list runs newest first: prepended, oldest first. */
        LIST_FOREACH(s, &c->subs, cl_link) {
            json_array_insert_new(pats, 0, sub_name(s));
            size_t i;
            json_t *v;
            int seen = 0;
            json_array_foreach(chans, i, v)
                seen |= !strcmp(json_string_value(v), s->ch->name);
            if (!seen)
                json_array_insert_new(chans, 0, json_string(s->ch->name));
        }
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:o, s:o, s:I, s:I, s:b, s:I}", "id",
                              (json_int_t)c->num, "name", c->name ? c->name : "", "address",
                              c->address ? c->address : "", "user", who ? who : "",
                              "subscriptions", (json_int_t)c->n_subs, "channels", chans,
                              "patterns", pats, "unacked", (json_int_t)c->n_unacked,
                              "pending_bytes", (json_int_t)c->pending_bytes, "paused",
                              c->held, "parked_bytes", (json_int_t)client_parked(c));
        if (o)
            json_array_insert_new(arr, 0, o);
    }
    return arr;
}

/* Every subscription, by client (oldest first) and in each client's order. */
static json_t *admin_subscriptions(broker *b)
{
    json_t *arr = json_array();
    client *c;
    LIST_FOREACH(c, &b->clients, link) {
        json_t *mine = json_array();
        sub *s;
        LIST_FOREACH(s, &c->subs, cl_link)
            json_array_insert_new(mine, 0, json_pack("{s:I, s:s, s:s, s:s, s:s, s:b, s:I, s:I}",
                "client", (json_int_t)c->num, "name", c->name ? c->name : "", "channel",
                s->ch->name, "type", config_type_name(s->ch->type), "pattern", s->pattern,
                "responder", s->responder, "unacked", (json_int_t)s->inflight, "dropped",
                (json_int_t)s->dropped));
        json_array_extend(mine, arr);
        json_decref(arr);
        arr = mine;
    }
    return arr;
}

/* The words of an administration verb, at most WORDS_MAX; the last
 * argument of "retained" and "clear-retained", a pattern, is the rest. */
#define WORDS_MAX 12

/* Splits text (NUL-terminated, changed in place) at single spaces into
 * w[]; the words after max-1 stay in the last.  Returns how many. */
static int split_words(char *text, char **w, int max)
{
    int n = 0;
    while (*text && n < max) {
        w[n++] = text;
        if (n == max)
            break;
        char *sp = strchr(text, ' ');
        if (!sp)
            break;
        *sp = '\0';
        text = sp + 1;
    }
    return n;
}

/* One "KEY=VALUE" or "durable" of create into cc; 0, or PS_WERR_INVALID
 * with the reason. */
static uint16_t create_option(config_channel *cc, const char *opt, char *why, size_t cap)
{
    const char *eq = strchr(opt, '=');
    const char *v = eq ? eq + 1 : "";
    size_t klen = eq ? (size_t)(eq - opt) : strlen(opt);
#define KEY(k) (klen == strlen(k) && !strncmp(opt, k, klen))
    const char *only = NULL; /* the type the option is for, when cc is another */
    if (KEY("durable") && !eq) {
        cc->durable = 1;
        only = cc->type == CHAN_QUEUE ? NULL : "queues";
    } else if (KEY("max_queued")) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 1 || n > 100000000) {
            snprintf(why, cap, "max_queued must be from 1 to 100000000, not '%s'", v);
            return PS_WERR_INVALID;
        }
        cc->max_queued = n;
        only = cc->type == CHAN_QUEUE ? NULL : "queues";
    } else if (KEY("overflow") && (!strcmp(v, "refuse") || !strcmp(v, "block"))) {
        cc->overflow = !strcmp(v, "block") ? OVERFLOW_BLOCK : OVERFLOW_REFUSE;
        only = cc->type == CHAN_QUEUE ? NULL : "queues";
    } else if (KEY("slow_subscriber") && (!strcmp(v, "drop") || !strcmp(v, "block"))) {
        cc->slow = !strcmp(v, "block") ? SLOW_BLOCK : SLOW_DROP;
        only = cc->type != CHAN_QUEUE ? NULL : "broadcast and pubsub channels";
    } else if (KEY("retain") && (!strcmp(v, "true") || !strcmp(v, "false"))) {
        cc->retain = !strcmp(v, "true");
        only = cc->type == CHAN_PUBSUB ? NULL : "pubsub channels";
    } else {
        snprintf(why, cap, "unknown create option '%.64s' (durable, max_queued=N, "
                 "overflow=refuse|block, slow_subscriber=drop|block, retain=true|false)", opt);
        return PS_WERR_INVALID;
    }
#undef KEY
    if (only) {
        snprintf(why, cap, "'%.*s' is for %s; '%s' would be a %s", (int)klen, opt, only,
                 cc->name, config_type_name(cc->type));
        return PS_WERR_INVALID;
    }
    return 0;
}

/* "create NAME TYPE [OPTION]...": the channel's object, or NULL with the
 * code in *code. */
static json_t *admin_create(broker *b, char **w, int n, uint16_t *code, char *why, size_t cap)
{
    static const char *const types[] = {"queue", "broadcast", "pubsub"};
    config_channel cc = {.name = w[1], .retain = 1, .max_queued = 100000, .slow = SLOW_DROP,
                         .overflow = OVERFLOW_REFUSE};
    for (int t = 0; n > 2 && t < 3; t++)
        if (!strcmp(w[2], types[t]))
            cc.type = (enum chan_type)(t + 1);
    *code = PS_WERR_INVALID;
    if (!cc.type) {
        snprintf(why, cap, "create needs a type: queue, broadcast or pubsub");
        return NULL;
    }
    for (int i = 3; i < n; i++)
        if ((*code = create_option(&cc, w[i], why, cap)))
            return NULL;
    if ((*code = chan_declare(b, &cc, why, cap)))
        return NULL;
    channel *ch = chan_find(b, w[1], strlen(w[1]));
    return ch ? admin_channel(ch) : NULL;
}

/* The channel w[1] names for verb, which must be of type want (0: any);
 * NULL with *code and why when there is none or it is another. */
static channel *admin_target(broker *b, char **w, int n, enum chan_type want, uint16_t *code,
                             char *why, size_t cap)
{
    channel *ch = n > 1 ? chan_find(b, w[1], strlen(w[1])) : NULL;
    if (!ch) {
        *code = n > 1 ? PS_WERR_NOCHANNEL : PS_WERR_INVALID;
        snprintf(why, cap, n > 1 ? "unknown channel '%.255s'" : "%s needs a channel name",
                 n > 1 ? w[1] : w[0]);
        return NULL;
    }
    if (!strcmp(ch->name, CHAN_SYS) && strcmp(w[0], "retained")) {
        *code = PS_WERR_DENIED;
        snprintf(why, cap, "channel '%s' is the broker's own", CHAN_SYS);
        return NULL;
    }
    if (want && ch->type != want) {
        *code = PS_WERR_WRONGTYPE;
        snprintf(why, cap, "%s is for %s channels; '%s' is a %s", w[0],
                 config_type_name(want), ch->name, config_type_name(ch->type));
        return NULL;
    }
    return ch;
}

/* The pattern of retained and clear-retained: w[2], else "#"; NULL with
 * *code when it is not a valid filter. */
static const char *admin_pattern(char **w, int n, uint16_t *code, char *why, size_t cap)
{
    const char *p = n > 2 ? w[2] : "#";
    if (!topic_valid_pattern(p, strlen(p))) {
        *code = PS_WERR_INVALID;
        snprintf(why, cap, "invalid pattern ('+' and '#' only as whole levels, '#' last)");
        return NULL;
    }
    return p;
}

/* The verbs that name a channel: their answer, NULL with *known 0 for
 * another verb, or NULL with a PS_WERR_* code in *code.  c did it (logs). */
static json_t *admin_command(broker *b, const client *c, char *text, int *known, uint16_t *code,
                             char *why, size_t cap)
{
    char *w[WORDS_MAX];
    int n = split_words(text, w, !strncmp(text, "retained ", 9) ||
                                 !strncmp(text, "clear-retained ", 15) ? 3 : WORDS_MAX);
    channel *ch;
    const char *p;
    json_t *j = NULL;
    *known = 1;
    *code = 0;
    if (n >= 1 && !strcmp(w[0], "create")) {
        if (n < 2) {
            *code = PS_WERR_INVALID;
            snprintf(why, cap, "create needs a channel name and a type");
        } else if ((j = admin_create(b, w, n, code, why, cap))) {
            log_info("client %llu created channel '%s' (%s)", (unsigned long long)c->num, w[1],
                     w[2]);
        }
    } else if (n >= 1 && !strcmp(w[0], "delete")) {
        if ((ch = admin_target(b, w, n, 0, code, why, cap))) {
            j = json_pack("{s:s, s:s, s:I, s:I, s:I}", "deleted", ch->name, "type",
                          config_type_name(ch->type), "subscribers", (json_int_t)ch->n_subs,
                          "messages", (json_int_t)(ch->n_queued + ch->n_unacked), "retained",
                          (json_int_t)chan_retained_count(ch));
            log_info("client %llu deleted channel '%s' (%s)", (unsigned long long)c->num,
                     ch->name, config_type_name(ch->type));
            chan_delete(b, ch);
        }
    } else if (n >= 1 && !strcmp(w[0], "purge")) {
        if ((ch = admin_target(b, w, n, CHAN_QUEUE, code, why, cap))) {
            size_t gone = queue_purge(b, ch);
            log_info("client %llu purged queue '%s' of %zu messages", (unsigned long long)c->num,
                     ch->name, gone);
            j = json_pack("{s:s, s:I, s:I}", "channel", ch->name, "purged", (json_int_t)gone,
                          "unacked", (json_int_t)ch->n_unacked);
        }
    } else if (n >= 1 && !strcmp(w[0], "retained")) {
        if ((ch = admin_target(b, w, n, CHAN_PUBSUB, code, why, cap)) &&
            (p = admin_pattern(w, n, code, why, cap))) {
            j = json_array();
            retained *r;
            SLIST_FOREACH(r, &ch->ret, link)
                /* A cluster's tombstones (len 0) are no values to show. */
                if (r->len && topic_match(p, strlen(p), r->topic, r->tlen))
                    json_array_insert_new(j, 0, json_pack("{s:s, s:I, s:I}", "topic", r->topic,
                                                          "bytes", (json_int_t)r->len, "seq",
                                                          (json_int_t)r->seq));
        }
    } else if (n >= 1 && !strcmp(w[0], "clear-retained")) {
        if ((ch = admin_target(b, w, n, CHAN_PUBSUB, code, why, cap)) &&
            (p = admin_pattern(w, n, code, why, cap))) {
            size_t gone = chan_retained_clear(b, ch, p, strlen(p));
            log_info("client %llu cleared %zu retained values of '%s' matching '%s'",
                     (unsigned long long)c->num, gone, ch->name, p);
            j = json_pack("{s:s, s:s, s:I}", "channel", ch->name, "pattern", p, "cleared",
                          (json_int_t)gone);
        }
    } else {
        *known = 0;
    }
    if (*known && !j && !*code) {
        *code = PS_WERR_LIMIT;
        snprintf(why, cap, "out of memory");
    }
    return j;
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
    else if (VERB("subscriptions"))
        j = admin_subscriptions(b);
    else if (VERB("cluster")) {
        j = link_status(b);
        if (b->link) /* without a cluster section it stays {"cluster":null} */
            json_object_set_new(j, "raft", repl_group_status(b));
    }
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
        char verb[PS_WIRE_TEXT_MAX + 1];
        uint16_t code;
        snprintf(verb, sizeof verb, "%.*s", (int)cmd->text.len, cmd->text.ptr);
        json_t *j = admin_command(b, c, verb, &known, &code, why, cap);
        if (code)
            return code;
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
    }
    if (!known) {
        snprintf(why, cap, "unknown admin verb (status, channels, clients, subscriptions, "
                 "cluster, create, delete, purge, retained or clear-retained)");
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
