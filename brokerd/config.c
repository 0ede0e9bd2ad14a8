/*
 * config.c - reads and validates brokerd's libconfig file.
 *
 * libconfig parses the syntax; everything else is checked here against a
 * schema, because libconfig 1.5 accepts unknown keys and duplicate names
 * without a word.  Every setting of the file is walked: an unknown key, a
 * wrong type, a value out of range, a bad channel name or endpoint and a
 * duplicate channel are each reported as "FILE:LINE: message", and all of
 * them are reported, not only the first, so one --check run shows every
 * mistake.  A file with any error gives no config at all: the broker then
 * refuses to start, or on SIGHUP keeps the configuration it runs.
 */
#include "brokerd.h"

#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* What a setting of the schema may hold. */
enum kind { K_STRING, K_INT, K_BOOL, K_GROUP, K_ARRAY, K_LIST };

/* One key of a group in the schema. */
struct key {
    const char *name; /* the key */
    enum kind kind;   /* its type */
};

static const struct key broker_keys[] = {
    {"endpoints", K_ARRAY},      {"gateway", K_GROUP},           {"data_dir", K_STRING},
    {"auto_create", K_STRING},   {"max_message_size", K_INT},    {"heartbeat_ms", K_INT},
    {"heartbeat_timeout_ms", K_INT}, {"max_clients", K_INT},     {"max_subscriptions", K_INT},
    {"max_retained", K_INT},     {"client_buffer", K_INT},       {"fsync", K_STRING},
    {NULL, 0}};
static const struct key gateway_keys[] = {{"xpub", K_STRING}, {"xsub", K_STRING}, {NULL, 0}};
static const struct key channel_keys[] = {
    {"name", K_STRING},  {"type", K_STRING},     {"retain", K_BOOL},
    {"durable", K_BOOL}, {"max_queued", K_INT},  {"slow_subscriber", K_STRING},
    {"overflow", K_STRING}, {NULL, 0}};
static const struct key top_keys[] = {{"broker", K_GROUP}, {"channels", K_LIST}, {NULL, 0}};

/* The state of one load: where errors go and how many there were. */
struct loader {
    const char *path; /* file name for messages */
    FILE *errs;       /* where "FILE:LINE: message" lines go */
    int errors;       /* errors so far */
};

static void err_at(struct loader *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void err_at(struct loader *l, int line, const char *fmt, ...)
{
    va_list ap;
    l->errors++;
    if (!l->errs)
        return;
    fprintf(l->errs, "%s:%d: ", l->path, line);
    va_start(ap, fmt);
    vfprintf(l->errs, fmt, ap);
    va_end(ap);
    fputc('\n', l->errs);
}

static int line_of(const config_setting_t *s)
{
    return (int)config_setting_source_line(s);
}

static const char *kind_name(enum kind k)
{
    switch (k) {
    case K_STRING: return "a string";
    case K_INT: return "an integer";
    case K_BOOL: return "true or false";
    case K_GROUP: return "a group { ... }";
    case K_ARRAY: return "an array [ ... ]";
    case K_LIST: return "a list ( ... )";
    }
    return "?";
}

static int has_kind(const config_setting_t *s, enum kind k)
{
    int t = config_setting_type(s);
    switch (k) {
    case K_STRING: return t == CONFIG_TYPE_STRING;
    case K_INT: return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
    case K_BOOL: return t == CONFIG_TYPE_BOOL;
    case K_GROUP: return t == CONFIG_TYPE_GROUP;
    case K_ARRAY: return t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST;
    case K_LIST: return t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY;
    }
    return 0;
}

/*
 * Checks every member of group against keys: unknown keys, repeated keys
 * and wrong types are errors.  what names the group in messages.
 */
static void check_group(struct loader *l, const config_setting_t *group, const struct key *keys,
                        const char *what)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        const struct key *k = keys;
        while (k->name && strcmp(k->name, name ? name : ""))
            k++;
        if (!k->name) {
            err_at(l, line_of(s), "unknown key '%s' in %s", name ? name : "?", what);
            continue;
        }
        for (int j = 0; j < i; j++) {
            const config_setting_t *t = config_setting_get_elem(group, (unsigned)j);
            if (!strcmp(config_setting_name(t), name)) {
                err_at(l, line_of(s), "'%s' given twice in %s (first on line %d)", name, what,
                       line_of(t));
                break;
            }
        }
        if (!has_kind(s, k->kind))
            err_at(l, line_of(s), "'%s' must be %s", name, kind_name(k->kind));
    }
}

/* The member name of group if present with the right kind, else NULL. */
static config_setting_t *member(const config_setting_t *group, const char *name, enum kind k)
{
    config_setting_t *s = config_setting_get_member(group, name);
    return s && has_kind(s, k) ? s : NULL;
}

/* Reads an integer within [min, max] into *out when present. */
static void get_long(struct loader *l, const config_setting_t *group, const char *name,
                     long long min, long long max, long *out)
{
    config_setting_t *s = member(group, name, K_INT);
    if (!s)
        return;
    long long v = config_setting_get_int64(s);
    if (v < min || v > max) {
        err_at(l, line_of(s), "'%s' is %lld; it must be between %lld and %lld", name, v, min, max);
        return;
    }
    *out = (long)v;
}

/* Reads a string that must be one of choices; returns its index or -1. */
static int get_choice(struct loader *l, const config_setting_t *group, const char *name,
                      const char *const *choices)
{
    config_setting_t *s = member(group, name, K_STRING);
    if (!s)
        return -1;
    const char *v = config_setting_get_string(s);
    char list[128] = "";
    for (int i = 0; choices[i]; i++) {
        if (!strcmp(v, choices[i]))
            return i;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? " or " : "",
                 choices[i]);
    }
    err_at(l, line_of(s), "'%s' is \"%s\"; it must be %s", name, v, list);
    return -2;
}

/* True when ep is tcp://HOST:PORT or ipc:///PATH (or ipc://@abstract). */
static int endpoint_ok(const char *ep, const char **why)
{
    if (!strncmp(ep, "tcp://", 6)) {
        const char *host = ep + 6, *colon = strrchr(host, ':');
        if (!colon || colon == host) {
            *why = "a tcp endpoint needs HOST:PORT";
            return 0;
        }
        char *end;
        errno = 0;
        long port = strtol(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || port < 1 || port > 65535) {
            /* "*" binds an ephemeral port; libzmq allows it, and so do we. */
            if (strcmp(colon + 1, "*")) {
                *why = "the port must be a number from 1 to 65535";
                return 0;
            }
        }
        return 1;
    }
    if (!strncmp(ep, "ipc://", 6)) {
        if (!ep[6]) {
            *why = "an ipc endpoint needs a path";
            return 0;
        }
        if (strlen(ep + 6) > 107) {
            *why = "the ipc path is longer than a Unix socket allows (107 bytes)";
            return 0;
        }
        return 1;
    }
    *why = "an endpoint is tcp://HOST:PORT or ipc:///PATH";
    return 0;
}

static char *xstrdup(const char *s, struct loader *l)
{
    char *p = strdup(s);
    if (!p)
        err_at(l, 0, "out of memory");
    return p;
}

/* Reads broker.endpoints into c. */
static void load_endpoints(struct loader *l, config *c, const config_setting_t *arr)
{
    int n = config_setting_length(arr);
    if (n == 0) {
        err_at(l, line_of(arr), "'endpoints' is empty: the broker would be unreachable");
        return;
    }
    c->endpoints = calloc((size_t)n + 1, sizeof *c->endpoints);
    if (!c->endpoints) {
        err_at(l, line_of(arr), "out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(arr, (unsigned)i);
        const char *why = NULL;
        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
            err_at(l, line_of(s), "endpoint %d must be a string", i + 1);
            continue;
        }
        const char *ep = config_setting_get_string(s);
        if (!endpoint_ok(ep, &why)) {
            err_at(l, line_of(s), "bad endpoint \"%s\": %s", ep, why);
            continue;
        }
        for (size_t j = 0; j < c->n_endpoints; j++)
            if (!strcmp(c->endpoints[j], ep))
                err_at(l, line_of(s), "endpoint \"%s\" given twice", ep);
        if ((c->endpoints[c->n_endpoints] = xstrdup(ep, l)))
            c->n_endpoints++;
    }
}

static void load_broker(struct loader *l, config *c, const config_setting_t *g)
{
    static const char *const auto_choices[] = {"none", "pubsub", NULL};
    static const char *const fsync_choices[] = {"batch", "always", NULL};
    check_group(l, g, broker_keys, "broker");
    config_setting_t *s;
    if ((s = member(g, "endpoints", K_ARRAY))) {
        for (size_t i = 0; i < c->n_endpoints; i++)
            free(c->endpoints[i]);
        free(c->endpoints);
        c->endpoints = NULL;
        c->n_endpoints = 0;
        load_endpoints(l, c, s);
    }
    if ((s = member(g, "data_dir", K_STRING))) {
        const char *d = config_setting_get_string(s);
        if (!*d) {
            err_at(l, line_of(s), "'data_dir' is empty");
        } else {
            free(c->data_dir);
            c->data_dir = xstrdup(d, l);
        }
    }
    int v = get_choice(l, g, "auto_create", auto_choices);
    if (v >= 0)
        c->auto_create = v == 0 ? AUTO_NONE : AUTO_PUBSUB;
    v = get_choice(l, g, "fsync", fsync_choices);
    if (v >= 0)
        c->fsync_always = v == 1;
    get_long(l, g, "max_message_size", 0, 256LL << 20, &c->max_message_size);
    get_long(l, g, "heartbeat_ms", 10, 3600000, &c->heartbeat_ms);
    get_long(l, g, "heartbeat_timeout_ms", 20, 36000000, &c->heartbeat_timeout_ms);
    get_long(l, g, "max_clients", 1, 1000000, &c->max_clients);
    get_long(l, g, "max_subscriptions", 1, 10000000, &c->max_subscriptions);
    get_long(l, g, "max_retained", 0, 100000000, &c->max_retained);
    get_long(l, g, "client_buffer", 65536, 1LL << 32, &c->client_buffer);
    if ((s = member(g, "heartbeat_timeout_ms", K_INT)) && c->heartbeat_timeout_ms <= c->heartbeat_ms)
        err_at(l, line_of(s), "'heartbeat_timeout_ms' (%ld) must be longer than 'heartbeat_ms' (%ld)",
               c->heartbeat_timeout_ms, c->heartbeat_ms);
    if ((s = member(g, "gateway", K_GROUP))) {
        check_group(l, s, gateway_keys, "broker.gateway");
        const char *names[2] = {"xpub", "xsub"};
        char **slots[2] = {&c->gateway_xpub, &c->gateway_xsub};
        for (int i = 0; i < 2; i++) {
            config_setting_t *e = member(s, names[i], K_STRING);
            const char *why = NULL;
            if (!e)
                continue;
            if (!endpoint_ok(config_setting_get_string(e), &why))
                err_at(l, line_of(e), "bad gateway endpoint \"%s\": %s",
                       config_setting_get_string(e), why);
            else
                *slots[i] = xstrdup(config_setting_get_string(e), l);
        }
    }
}

static const char *const type_names[] = {"queue", "broadcast", "pubsub", NULL};

const char *config_type_name(enum chan_type t)
{
    return t >= CHAN_QUEUE && t <= CHAN_PUBSUB ? type_names[t - 1] : "?";
}

static void channel_free(config_channel *cc)
{
    if (cc) {
        free(cc->name);
        free(cc);
    }
}

static void load_channel(struct loader *l, config *c, const config_setting_t *g, config_channel ***tail)
{
    static const char *const slow_choices[] = {"drop", "block", NULL};
    static const char *const overflow_choices[] = {"refuse", "block", NULL};
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        err_at(l, line_of(g), "each channel must be a group { name = ...; type = ...; }");
        return;
    }
    check_group(l, g, channel_keys, "a channel");
    config_setting_t *name = member(g, "name", K_STRING);
    if (!name) {
        if (!config_setting_get_member(g, "name"))
            err_at(l, line_of(g), "a channel without 'name'");
        return;
    }
    const char *n = config_setting_get_string(name);
    if (!ps__wire_valid_channel(n, strlen(n))) {
        err_at(l, line_of(name), "invalid channel name \"%s\" (1 to 255 of A-Z a-z 0-9 _ . -)", n);
        return;
    }
    for (const config_channel *o = c->channels; o; o = o->next)
        if (!strcmp(o->name, n)) {
            err_at(l, line_of(name), "channel \"%s\" declared twice", n);
            return;
        }
    int type = get_choice(l, g, "type", type_names);
    if (type == -1 && !config_setting_get_member(g, "type")) {
        err_at(l, line_of(g), "channel \"%s\" has no 'type' (queue, broadcast or pubsub)", n);
        return;
    }
    if (type < 0)
        return;
    config_channel *cc = calloc(1, sizeof *cc);
    if (!cc || !(cc->name = strdup(n))) {
        channel_free(cc);
        err_at(l, line_of(g), "out of memory");
        return;
    }
    cc->type = (enum chan_type)(type + 1);
    cc->retain = 1;
    cc->max_queued = 100000;
    cc->slow = SLOW_DROP;
    cc->overflow = OVERFLOW_REFUSE;
    config_setting_t *s;
    /* Keys that only make sense for some types are errors elsewhere, so
     * a "durable" broadcast channel is not silently volatile. */
    if ((s = member(g, "retain", K_BOOL))) {
        if (cc->type != CHAN_PUBSUB)
            err_at(l, line_of(s), "'retain' is for pubsub channels; \"%s\" is a %s", n,
                   config_type_name(cc->type));
        cc->retain = config_setting_get_bool(s);
    }
    if ((s = member(g, "durable", K_BOOL))) {
        if (cc->type != CHAN_QUEUE)
            err_at(l, line_of(s), "'durable' is for queues; \"%s\" is a %s", n,
                   config_type_name(cc->type));
        cc->durable = config_setting_get_bool(s);
    }
    if ((s = member(g, "max_queued", K_INT)) && cc->type != CHAN_QUEUE)
        err_at(l, line_of(s), "'max_queued' is for queues; \"%s\" is a %s", n,
               config_type_name(cc->type));
    get_long(l, g, "max_queued", 1, 100000000, &cc->max_queued);
    if ((s = member(g, "slow_subscriber", K_STRING)) && cc->type == CHAN_QUEUE)
        err_at(l, line_of(s), "'slow_subscriber' is for broadcast and pubsub channels; "
               "a queue keeps messages for its consumers");
    int v = get_choice(l, g, "slow_subscriber", slow_choices);
    if (v >= 0)
        cc->slow = v == 0 ? SLOW_DROP : SLOW_BLOCK;
    if ((s = member(g, "overflow", K_STRING)) && cc->type != CHAN_QUEUE)
        err_at(l, line_of(s), "'overflow' is for queues; \"%s\" is a %s", n,
               config_type_name(cc->type));
    v = get_choice(l, g, "overflow", overflow_choices);
    if (v >= 0)
        cc->overflow = v == 0 ? OVERFLOW_REFUSE : OVERFLOW_BLOCK;
    **tail = cc;
    *tail = &cc->next;
}

/* A config with every default and no endpoints; NULL on ENOMEM. */
static config *config_base(void)
{
    config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->auto_create = AUTO_PUBSUB;
    c->max_message_size = 1048576;
    c->heartbeat_ms = 1000;
    c->heartbeat_timeout_ms = 3000;
    c->max_clients = 10000;
    c->max_subscriptions = 1000;
    c->max_retained = 10000;
    c->client_buffer = 8L << 20;
    const char *state = getenv("STATE_DIRECTORY"); /* systemd's StateDirectory= */
    c->data_dir = strdup(state && *state ? state : "./pubsub-data");
    if (!c->data_dir)
        config_free(&c);
    return c;
}

config *config_default(void)
{
    config *c = config_base();
    if (!c)
        return NULL;
    const char *rt = getenv("XDG_RUNTIME_DIR");
    char ipc[4096];
    if (rt && *rt)
        snprintf(ipc, sizeof ipc, "ipc://%s/%s", rt, BROKERD_DEFAULT_IPC_NAME);
    else
        snprintf(ipc, sizeof ipc, "ipc://%s", BROKERD_DEFAULT_IPC_NAME);
    c->endpoints = calloc(3, sizeof *c->endpoints);
    if (!c->endpoints || !(c->endpoints[0] = strdup(BROKERD_DEFAULT_TCP)) ||
        !(c->endpoints[1] = strdup(ipc))) {
        config_free(&c);
        return NULL;
    }
    c->n_endpoints = 2;
    return c;
}

config *config_load(const char *path, FILE *errs)
{
    struct loader l = {.path = path, .errs = errs};
    config_t cf;
    config *c = config_base();
    if (!c) {
        err_at(&l, 0, "out of memory");
        return NULL;
    }
    config_init(&cf);
    if (!config_read_file(&cf, path)) {
        if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
            err_at(&l, 0, "cannot read: %s", strerror(errno ? errno : ENOENT));
        else
            err_at(&l, config_error_line(&cf), "%s", config_error_text(&cf));
        goto out;
    }
    const config_setting_t *root = config_root_setting(&cf);
    check_group(&l, root, top_keys, "the file");
    config_setting_t *s;
    if ((s = member(root, "broker", K_GROUP)))
        load_broker(&l, c, s);
    if (!c->endpoints) {
        /* Without broker.endpoints the defaults apply, as with no file. */
        config *d = config_default();
        if (!d) {
            err_at(&l, 0, "out of memory");
            goto out;
        }
        c->endpoints = d->endpoints;
        c->n_endpoints = d->n_endpoints;
        d->endpoints = NULL;
        d->n_endpoints = 0;
        config_free(&d);
    }
    if ((s = member(root, "channels", K_LIST))) {
        config_channel **tail = &c->channels;
        int n = config_setting_length(s);
        for (int i = 0; i < n; i++)
            load_channel(&l, c, config_setting_get_elem(s, (unsigned)i), &tail);
    }
    c->path = strdup(path);
    if (!c->path)
        err_at(&l, 0, "out of memory");
out:
    config_destroy(&cf);
    if (l.errors)
        config_free(&c);
    return c;
}

void config_free(config **cp)
{
    if (!cp || !*cp)
        return;
    config *c = *cp;
    if (c->endpoints)
        for (size_t i = 0; c->endpoints[i]; i++)
            free(c->endpoints[i]);
    free(c->endpoints);
    free(c->path);
    free(c->data_dir);
    free(c->gateway_xpub);
    free(c->gateway_xsub);
    while (c->channels) {
        config_channel *cc = c->channels;
        c->channels = cc->next;
        channel_free(cc);
    }
    free(c);
    *cp = NULL;
}

const config_channel *config_find_channel(const config *c, const char *name)
{
    for (const config_channel *cc = c->channels; cc; cc = cc->next)
        if (!strcmp(cc->name, name))
            return cc;
    return NULL;
}
