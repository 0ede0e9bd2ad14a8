/*
 * config_schema.c - what the configuration file may hold: the keys of
 * each group with their types, and the getters that check a setting's
 * type and range as they read it.  libconfig 1.5 accepts unknown keys and
 * duplicates without a word; cfg_check_group reports both, and a value of
 * the wrong kind, on its line.
 */
#include "config_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <grp.h>
#include <pwd.h>

const struct key cfg_broker_keys[] = {
    {"endpoints", K_ARRAY},      {"gateway", K_GROUP},           {"data_dir", K_STRING},
    {"auto_create", K_STRING},   {"max_message_size", K_INT},    {"heartbeat_ms", K_INT},
    {"heartbeat_timeout_ms", K_INT}, {"max_clients", K_INT},
    {"handshake_timeout_ms", K_INT}, {"max_handshakes_per_address", K_INT},     {"max_subscriptions", K_INT},
    {"max_retained", K_INT},     {"client_buffer", K_INT},       {"fsync", K_STRING},
    {"curve", K_GROUP},          {"insecure", K_BOOL},           {"ipc_mode", K_STRING},
    {"ipc_group", K_ID},         {"http", K_GROUP},              {"stats_interval_ms", K_INT},
    {"max_pending", K_INT},      {"max_wait_ms", K_INT},         {"max_channels", K_INT},
    {"max_retained_bytes", K_INT}, {"output_budget", K_INT},     {NULL, 0}};
const struct key cfg_http_keys[] = {{"listen", K_STRING}, {"token_file", K_STRING}, {NULL, 0}};
const struct key cfg_gateway_keys[] = {{"xpub", K_STRING}, {"xsub", K_STRING},
                                      {"max_subscriptions", K_INT}, {NULL, 0}};
const struct key cfg_curve_keys[] = {{"secret_key_file", K_STRING}, {NULL, 0}};
const struct key cfg_keyfile_keys[] = {{"public_key", K_STRING}, {"secret_key", K_STRING},
                                          {NULL, 0}};
const struct key cfg_security_keys[] = {{"clients", K_LIST}, {NULL, 0}};
const struct key cfg_client_keys[] = {
    {"name", K_STRING}, {"public_key", K_STRING}, {"uid", K_ID}, {"gid", K_ID},
    {"allow", K_ARRAY}, {NULL, 0}};
const struct key cfg_channel_keys[] = {
    {"name", K_STRING},  {"type", K_STRING},     {"retain", K_BOOL},
    {"durable", K_BOOL}, {"max_queued", K_INT},  {"slow_subscriber", K_STRING},
    {"overflow", K_STRING}, {"home", K_STRING}, {NULL, 0}};
const struct key cfg_cluster_keys[] = {
    {"name", K_STRING}, {"node", K_STRING}, {"listen", K_STRING}, {"secret_key_file", K_STRING},
    {"peers", K_LIST}, {"heartbeat_ms", K_INT}, {"heartbeat_timeout_ms", K_INT},
    {"link_buffer", K_INT}, {"max_interest", K_INT}, {"raft", K_GROUP}, {NULL, 0}};
const struct key cfg_raft_keys[] = {
    {"listen", K_STRING}, {"voters", K_ARRAY}, {"data_dir", K_STRING}, {"election_ms", K_INT},
    {NULL, 0}};
const struct key cfg_peer_keys[] = {
    {"node", K_STRING}, {"endpoint", K_STRING}, {"public_key", K_STRING}, {NULL, 0}};
const struct key cfg_top_keys[] = {
    {"broker", K_GROUP}, {"channels", K_LIST}, {"security", K_GROUP}, {"cluster", K_GROUP},
    {NULL, 0}};

static const char *kind_name(enum kind k)
{
    switch (k) {
    case K_STRING: return "a string";
    case K_INT: return "an integer";
    case K_BOOL: return "true or false";
    case K_GROUP: return "a group { ... }";
    case K_ARRAY: return "an array [ ... ]";
    case K_LIST: return "a list ( ... )";
    case K_ID: return "a number or a name";
    }
    return "?";
}

int cfg_has_kind(const config_setting_t *s, enum kind k)
{
    int t = config_setting_type(s);
    switch (k) {
    case K_STRING: return t == CONFIG_TYPE_STRING;
    case K_INT: return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
    case K_BOOL: return t == CONFIG_TYPE_BOOL;
    case K_GROUP: return t == CONFIG_TYPE_GROUP;
    case K_ARRAY: return t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST;
    case K_LIST: return t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY;
    case K_ID: return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_STRING;
    }
    return 0;
}

/*
 * Checks every member of group against keys: unknown keys, repeated keys
 * and wrong types are errors.  what names the group in messages.
 */
void cfg_check_group(struct loader *l, const config_setting_t *group, const struct key *keys,
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
            cfg_err_on(l, s, "unknown key '%s' in %s", name ? name : "?", what);
            continue;
        }
        for (int j = 0; j < i; j++) {
            const config_setting_t *t = config_setting_get_elem(group, (unsigned)j);
            if (!strcmp(config_setting_name(t), name)) {
                cfg_err_on(l, s, "'%s' given twice in %s (first on line %d)", name, what,
                       cfg_line_of(t));
                break;
            }
        }
        if (!cfg_has_kind(s, k->kind))
            cfg_err_on(l, s, "'%s' must be %s", name, kind_name(k->kind));
    }
}

/* The member name of group if present with the right kind, else NULL. */
config_setting_t *cfg_member(const config_setting_t *group, const char *name, enum kind k)
{
    config_setting_t *s = config_setting_get_member(group, name);
    return s && cfg_has_kind(s, k) ? s : NULL;
}

/* Reads an integer within [min, max] into *out when present. */
void cfg_get_long(struct loader *l, const config_setting_t *group, const char *name,
                     long long min, long long max, long *out)
{
    config_setting_t *s = cfg_member(group, name, K_INT);
    if (!s)
        return;
    if (config_setting_type(s) == CONFIG_TYPE_INT && cfg_is_wide(l, s))
        return; /* its value was cut, and that is reported already */
    long long v = config_setting_get_int64(s);
    if (v < min || v > max) {
        cfg_err_on(l, s, "'%s' is %lld; it must be between %lld and %lld", name, v, min, max);
        return;
    }
    *out = (long)v;
}

/* Reads a string that must be one of choices; returns its index or -1. */
int cfg_get_choice(struct loader *l, const config_setting_t *group, const char *name,
                      const char *const *choices)
{
    config_setting_t *s = cfg_member(group, name, K_STRING);
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
    cfg_err_on(l, s, "'%s' is \"%s\"; it must be %s", name, v, list);
    return -2;
}

char *cfg_strdup(const char *s, struct loader *l)
{
    char *p = strdup(s);
    if (!p)
        cfg_err_at(l, 0, "out of memory");
    return p;
}

/*
 * Reads a uid or gid setting: a number, or a user or group name looked up
 * on this system (group: 1 for a group).  Returns 0 with *out, or -1
 * after the error.
 */
int cfg_get_id(struct loader *l, const config_setting_t *s, const char *what, int group, long *out)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        long long v = config_setting_get_int64(s);
        if (v < 0 || v > 4294967294LL) {
            cfg_err_on(l, s, "'%s' is %lld; it must be between 0 and 4294967294", what, v);
            return -1;
        }
        *out = (long)v;
        return 0;
    }
    const char *name = config_setting_get_string(s);
    if (group) {
        struct group *gr = *name ? getgrnam(name) : NULL;
        if (gr) {
            *out = (long)gr->gr_gid;
            return 0;
        }
    } else {
        struct passwd *pw = *name ? getpwnam(name) : NULL;
        if (pw) {
            *out = (long)pw->pw_uid;
            return 0;
        }
    }
    cfg_err_on(l, s, "'%s' is \"%s\": no such %s on this system", what, name, group ? "group" : "user");
    return -1;
}
