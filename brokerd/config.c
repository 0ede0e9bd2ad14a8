/*
 * config.c - reads and validates brokerd's libconfig file.
 *
 * libconfig parses the syntax; everything else is checked here against a
 * schema, because libconfig 1.5 accepts unknown keys and duplicate names
 * without a word.  Every setting of the file is walked: an unknown key, a
 * wrong type, a value out of range, a bad channel name or endpoint and a
 * duplicate channel are each reported as "FILE:LINE: message", and all of
 * them are reported, not only the first, so one --check run shows every
 * mistake, in the order of the file.  libconfig 1.5 also keeps only 32
 * bits of an integer written without an "L" suffix, silently, so the text
 * is scanned for such integers before it is parsed.  A file with any error
 * gives no config at all: the broker then refuses to start, or on SIGHUP
 * keeps the configuration it runs.
 *
 * The security settings are judged here too, so that --check finds every
 * mistake in them: broker.curve's key file is read and its keys checked
 * against each other, security.clients' keys, users, groups and rights
 * are parsed, and each endpoint is held against the security policy
 * (config_endpoint_refusal: plain tcp only on loopback unless
 * broker.insecure, no plain tcp at all when clients must be identified).
 *
 * This file holds the section loaders and the public functions; what
 * they stand on is split by job: the error collection (config_errors.c),
 * the integer scanner (config_scan.c), the schema and its getters
 * (config_schema.c) and the endpoint policy (policy.c).
 */
#include "config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

/*
 * config.c - reads and validates brokerd's libconfig file.
 *
 * libconfig parses the syntax; everything else is checked here against a
 * schema, because libconfig 1.5 accepts unknown keys and duplicate names
 * without a word.  Every setting of the file is walked: an unknown key, a
 * wrong type, a value out of range, a bad channel name or endpoint and a
 * duplicate channel are each reported as "FILE:LINE: message", and all of
 * them are reported, not only the first, so one --check run shows every
 * mistake, in the order of the file.  libconfig 1.5 also keeps only 32
 * bits of an integer written without an "L" suffix, silently, so the text
 * is scanned for such integers before it is parsed.  A file with any error
 * gives no config at all: the broker then refuses to start, or on SIGHUP
 * keeps the configuration it runs.
 *
 * The security settings are judged here too, so that --check finds every
 * mistake in them: broker.curve's key file is read and its keys checked
 * against each other, security.clients' keys, users, groups and rights
 * are parsed, and each endpoint is held against the security policy
 * (config_endpoint_refusal: plain tcp only on loopback unless
 * broker.insecure, no plain tcp at all when clients must be identified).
 */
#include "brokerd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

/* Reads broker.endpoints into c. */
static void load_endpoints(struct loader *l, config *c, const config_setting_t *arr)
{
    int n = config_setting_length(arr);
    if (n == 0) {
        cfg_err_on(l, arr, "'endpoints' is empty: the broker would be unreachable");
        return;
    }
    c->endpoints = calloc((size_t)n + 1, sizeof *c->endpoints);
    if (!c->endpoints) {
        cfg_err_on(l, arr, "out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(arr, (unsigned)i);
        const char *why = NULL;
        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
            cfg_err_on(l, s, "endpoint %d must be a string", i + 1);
            continue;
        }
        const char *ep = config_setting_get_string(s);
        if (!config_endpoint_ok(ep, &why)) {
            cfg_err_on(l, s, "bad endpoint \"%s\": %s", ep, why);
            continue;
        }
        for (size_t j = 0; j < c->n_endpoints; j++)
            if (!strcmp(c->endpoints[j], ep))
                cfg_err_on(l, s, "endpoint \"%s\" given twice", ep);
        if ((c->endpoints[c->n_endpoints] = cfg_strdup(ep, l)))
            c->n_endpoints++;
    }
}


/* Security ----------------------------------------------------------------- */

static const char *const verb_names[] = {"publish", "subscribe", "consume", "send",
                                         "request", "reply",     "admin",   NULL};

const char *config_verb_name(enum verb v)
{
    return v >= 0 && v < VERB_COUNT ? verb_names[v] : "?";
}

/* True when s (len bytes) is a channel pattern: 1 to 255 of A-Z a-z 0-9
 * _ . - and '*', and a '$' first (for the reserved "$broker"). */
static int pattern_ok(const char *s, size_t len)
{
    if (len == 0 || len > PS_WIRE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-' || ch == '*' || (ch == '$' && i == 0)))
            return 0;
    }
    return 1;
}

/* Parses one element of an allow list into *r; -1 after the error. */
static int parse_rule(struct loader *l, const config_setting_t *s, config_rule *r)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        cfg_err_on(l, s, "each right must be a string \"VERB:CHANNELS\" or \"admin\"");
        return -1;
    }
    const char *text = config_setting_get_string(s), *colon = strchr(text, ':');
    size_t vlen = colon ? (size_t)(colon - text) : strlen(text);
    int v = 0;
    while (verb_names[v] && !(strlen(verb_names[v]) == vlen && !strncmp(text, verb_names[v], vlen)))
        v++;
    if (!verb_names[v]) {
        cfg_err_on(l, s, "\"%s\" is not a right: give VERB:CHANNELS with VERB one of publish, "
               "subscribe, consume, send, request, reply; or \"admin\"", text);
        return -1;
    }
    if (v == VERB_ADMIN && colon) {
        cfg_err_on(l, s, "\"%s\": 'admin' is for the whole broker and takes no channels", text);
        return -1;
    }
    if (v != VERB_ADMIN && (!colon || !pattern_ok(colon + 1, strlen(colon + 1)))) {
        cfg_err_on(l, s, "\"%s\": '%s' needs channels after ':' (1 to 255 of A-Z a-z 0-9 _ . - "
               "and * for any run)", text, verb_names[v]);
        return -1;
    }
    r->verb = (enum verb)v;
    if (!(r->pattern = strdup(v == VERB_ADMIN ? "" : colon + 1))) {
        cfg_err_on(l, s, "out of memory");
        return -1;
    }
    return 0;
}

static void client_entry_free(config_client *cc)
{
    if (!cc)
        return;
    for (size_t i = 0; i < cc->n_rules; i++)
        free(cc->rules[i].pattern);
    free(cc->rules);
    free(cc->name);
    free(cc);
}

/* Reads one entry of security.clients and appends it to c->clients. */
static void load_client(struct loader *l, config *c, const config_setting_t *g,
                        config_client ***tail)
{
    static const char *const who_keys[] = {"public_key", "uid", "gid"};
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        cfg_err_on(l, g, "each client must be a group { name = ...; public_key, uid or gid = ...; "
               "allow = [ ... ]; }");
        return;
    }
    cfg_check_group(l, g, cfg_client_keys, "a client");
    config_setting_t *name = cfg_member(g, "name", K_STRING), *who = NULL;
    if (!name) {
        if (!config_setting_get_member(g, "name"))
            cfg_err_on(l, g, "a client without 'name'");
        return;
    }
    const char *n = config_setting_get_string(name);
    if (!*n || strlen(n) > 64) {
        cfg_err_on(l, name, "a client's name must be 1 to 64 characters");
        return;
    }
    for (const config_client *o = c->clients; o; o = o->next)
        if (!strcmp(o->name, n)) {
            cfg_err_on(l, name, "client \"%s\" named twice", n);
            return;
        }
    int kind = 0;
    for (int i = 0; i < 3; i++) {
        config_setting_t *s = config_setting_get_member(g, who_keys[i]);
        if (!s)
            continue;
        if (who) {
            cfg_err_on(l, s, "client \"%s\" has both '%s' and '%s': give one", n,
                   config_setting_name(who), who_keys[i]);
            return;
        }
        who = s;
        kind = i + 1;
    }
    if (!who) {
        cfg_err_on(l, g, "client \"%s\" needs public_key (CURVE, tcp), uid or gid (ipc)", n);
        return;
    }
    config_client *cc = calloc(1, sizeof *cc);
    if (!cc || !(cc->name = strdup(n))) {
        client_entry_free(cc);
        cfg_err_on(l, g, "out of memory");
        return;
    }
    cc->kind = (enum who_kind)kind;
    int bad = 0;
    if (cc->kind == WHO_KEY) {
        const char *k = cfg_has_kind(who, K_STRING) ? config_setting_get_string(who) : NULL;
        if (!k) {
            bad = 1; /* check_group said it is not a string */
        } else if (strlen(k) != 40 || !zmq_z85_decode(cc->key, k)) {
            cfg_err_on(l, who, "client \"%s\": public_key must be 40 characters of Z85 "
                   "(as `pctl keygen` prints)", n);
            bad = 1;
        } else if (!c->curve) {
            cfg_err_on(l, who, "client \"%s\" has a public_key, but without broker.curve no client "
                   "speaks CURVE", n);
            bad = 1;
        }
    } else if (!cfg_has_kind(who, K_ID) ||
               cfg_get_id(l, who, who_keys[kind - 1], cc->kind == WHO_GID, &cc->id) < 0) {
        bad = 1;
    }
    for (const config_client *o = c->clients; o && !bad; o = o->next)
        if (o->kind == cc->kind &&
            (cc->kind == WHO_KEY ? !memcmp(o->key, cc->key, sizeof cc->key) : o->id == cc->id)) {
            cfg_err_on(l, who, "client \"%s\" has the %s of client \"%s\"", n, who_keys[kind - 1],
                   o->name);
            bad = 1;
        }
    config_setting_t *allow = cfg_member(g, "allow", K_ARRAY);
    int nr = allow ? config_setting_length(allow) : 0;
    if (nr > 0 && !(cc->rules = calloc((size_t)nr, sizeof *cc->rules))) {
        cfg_err_on(l, allow, "out of memory");
        bad = 1;
    }
    for (int i = 0; i < nr && cc->rules; i++)
        if (parse_rule(l, config_setting_get_elem(allow, (unsigned)i), &cc->rules[cc->n_rules]) == 0)
            cc->n_rules++;
    if (bad) {
        client_entry_free(cc);
        return;
    }
    **tail = cc;
    *tail = &cc->next;
}

/* Reads the security section: the clients and what each may do. */
static void load_security(struct loader *l, config *c, const config_setting_t *g)
{
    cfg_check_group(l, g, cfg_security_keys, "security");
    c->secure = 1;
    config_setting_t *list = cfg_member(g, "clients", K_LIST);
    if (!list) {
        if (!config_setting_get_member(g, "clients"))
            cfg_err_on(l, g, "security needs 'clients' = ( ... ): without any, everyone is refused");
        return;
    }
    int n = config_setting_length(list);
    if (n == 0)
        cfg_err_on(l, list, "'clients' is empty: everyone would be refused");
    config_client **tail = &c->clients;
    for (int i = 0; i < n; i++)
        load_client(l, c, config_setting_get_elem(list, (unsigned)i), &tail);
}

/* A file named in the configuration: a relative name is found beside the
 * configuration file (systemd starts the broker in /). */
static const char *beside(const struct loader *l, const char *name, char *buf, size_t size)
{
    if (name[0] == '/' || !l->dir)
        return name;
    snprintf(buf, size, "%s/%s", l->dir, name);
    return buf;
}

/*
 * True when file is a credential systemd's LoadCredential= handed to the
 * broker: it lies in $CREDENTIALS_DIRECTORY, belongs to root or to the
 * broker's user, and nobody may write it and others may not read it.
 * That is how systemd writes them (root's, mode 0400, with an ACL that
 * lets the service's user read, whose mask shows as the group's bits: 0440
 * then; or the user's own where the file system has no ACLs), in a
 * directory only the service can enter.  A DynamicUser= service has no
 * other way to a secret file: its uid exists only while it runs, so no
 * file can belong to it beforehand.
 */
static int credential_ok(const char *file, const struct stat *st)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    char real_dir[PATH_MAX], real_file[PATH_MAX];
    if (!dir || dir[0] != '/' || !realpath(dir, real_dir) || !realpath(file, real_file))
        return 0;
    size_t n = strlen(real_dir);
    if (strncmp(real_file, real_dir, n) != 0 || real_file[n] != '/')
        return 0;
    return (st->st_uid == 0 || st->st_uid == geteuid()) && !(st->st_mode & (0222 | S_IRWXO));
}

/*
 * Reads a key pair from the file a secret_key_file setting s names, in
 * the format `pctl keygen` writes (public_key = "..."; secret_key =
 * "...";), into secret and public (41 bytes each).  A relative name is
 * found beside the configuration file.  0, or -1 after the error.
 */
static int read_keyfile(struct loader *l, const config_setting_t *s, char *secret, char *public)
{
    char buf[4096];
    const char *file = beside(l, config_setting_get_string(s), buf, sizeof buf);
    struct stat st;
    if (stat(file, &st) < 0) {
        cfg_err_on(l, s, "secret_key_file \"%s\": %s", file, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        cfg_err_on(l, s, "secret_key_file \"%s\": not a regular file", file);
        return -1;
    }
    /* A secret key another user owns or can read is no secret (a
     * credential of systemd's is read-only and the service's alone). */
    if (!credential_ok(file, &st)) {
        if (st.st_uid != geteuid()) {
            cfg_err_on(l, s, "secret_key_file \"%s\" is owned by uid %u, not by the broker's (%u)",
                       file, (unsigned)st.st_uid, (unsigned)geteuid());
            return -1;
        }
        if (st.st_mode & (S_IRWXG | S_IRWXO)) {
            cfg_err_on(l, s, "secret_key_file \"%s\" is readable by %s (mode %04o): chmod 0600 it",
                       file, st.st_mode & S_IRWXO ? "everyone" : "its group",
                       (unsigned)(st.st_mode & 07777));
            return -1;
        }
    }
    config_t kf;
    config_init(&kf);
    if (!config_read_file(&kf, file)) {
        if (config_error_type(&kf) == CONFIG_ERR_FILE_IO)
            cfg_err_on(l, s, "secret_key_file \"%s\": %s", file, strerror(errno ? errno : EIO));
        else
            cfg_err_at_file(l, file, config_error_line(&kf), "%s", config_error_text(&kf));
        config_destroy(&kf);
        return -1;
    }
    /* The key file's settings name it as their source already: no
     * directory may be put in front of it while they are judged. */
    const char *dir = l->dir;
    l->dir = NULL;
    const config_setting_t *root = config_root_setting(&kf);
    cfg_check_group(l, root, cfg_keyfile_keys, "a key file");
    config_setting_t *pub = cfg_member(root, "public_key", K_STRING);
    config_setting_t *sec = cfg_member(root, "secret_key", K_STRING);
    uint8_t raw[32];
    char derived[41];
    int rc = -1;
    if (!sec) {
        cfg_err_at_file(l, file, 0, "no secret_key = \"...\"; here (give the .key file of `pctl "
                    "keygen`, not the .pub)");
    } else if (strlen(config_setting_get_string(sec)) != 40 ||
               !zmq_z85_decode(raw, config_setting_get_string(sec)) ||
               zmq_curve_public(derived, config_setting_get_string(sec)) != 0) {
        cfg_err_on(l, sec, "secret_key must be 40 characters of Z85");
    } else if (pub && strcmp(config_setting_get_string(pub), derived) != 0) {
        cfg_err_on(l, pub, "public_key does not belong to secret_key");
    } else {
        memcpy(secret, config_setting_get_string(sec), 41);
        memcpy(public, derived, 41);
        rc = 0;
    }
    memset(raw, 0, sizeof raw);
    l->dir = dir;
    config_destroy(&kf);
    return rc;
}

/* Reads broker.curve: the broker's key pair from secret_key_file. */
static void load_curve(struct loader *l, config *c, const config_setting_t *g)
{
    cfg_check_group(l, g, cfg_curve_keys, "broker.curve");
    config_setting_t *s = cfg_member(g, "secret_key_file", K_STRING);
    if (!s) {
        if (!config_setting_get_member(g, "secret_key_file"))
            cfg_err_on(l, g, "'curve' needs secret_key_file = \"FILE\"; (a key pair from `pctl keygen`)");
        return;
    }
    if (read_keyfile(l, s, c->curve_secret, c->curve_public) == 0)
        c->curve = 1;
}

#define HTTP_TOKEN_MIN 16   /* a bearer token has at least this many characters */
#define HTTP_TOKEN_MAX 1024 /* ... and at most this many */

/*
 * Reads broker.http.token_file: one line, the bearer token every request
 * must carry.  The file is a secret like a key file and is held to more:
 * it must belong to the user the broker runs as and be closed to group
 * and others, or anyone on the machine could read the token (or be a
 * credential of systemd's).
 */
static void load_http_token(struct loader *l, config *c, const config_setting_t *s)
{
    char buf[4096], text[HTTP_TOKEN_MAX + 2];
    const char *file = beside(l, config_setting_get_string(s), buf, sizeof buf);
    struct stat st;
    FILE *f = fopen(file, "re");
    if (!f || fstat(fileno(f), &st) < 0) {
        cfg_err_on(l, s, "token_file \"%s\": %s", file, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        cfg_err_on(l, s, "token_file \"%s\": not a regular file", file);
        goto out;
    }
    if (!credential_ok(file, &st) && (st.st_uid != geteuid() || (st.st_mode & 077))) {
        cfg_err_on(l, s, "token_file \"%s\" (owner uid %u, mode %04o) must belong to uid %u and "
                   "be closed to group and others: chown it and chmod 600 it", file,
                   (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), (unsigned)geteuid());
        goto out;
    }
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    n = strcspn(text, "\r\n");
    int extra = text[n] && text[n + strspn(text + n, "\r\n")];
    text[n] = '\0';
    size_t good = 0;
    while (good < n && text[good] > ' ' && text[good] < 127)
        good++;
    if (n < HTTP_TOKEN_MIN || n > HTTP_TOKEN_MAX || good != n || extra)
        cfg_err_on(l, s, "token_file \"%s\" must hold one line of %d to %d printable characters "
                   "without spaces", file, HTTP_TOKEN_MIN, HTTP_TOKEN_MAX);
    else
        c->http_token = cfg_strdup(text, l);
out:
    memset(text, 0, sizeof text);
    if (f)
        fclose(f);
}

/* Reads broker.http: where the monitoring endpoint listens, and its token. */
static void load_http(struct loader *l, config *c, const config_setting_t *g)
{
    cfg_check_group(l, g, cfg_http_keys, "broker.http");
    config_setting_t *s = cfg_member(g, "listen", K_STRING);
    if (!s && config_setting_get_member(g, "listen"))
        return; /* of the wrong type: reported already */
    if (!(c->http_listen = cfg_strdup(s ? config_setting_get_string(s) : BROKERD_DEFAULT_HTTP, l)))
        return;
    config_setting_t *t = cfg_member(g, "token_file", K_STRING);
    if (t)
        load_http_token(l, c, t);
    const char *why = config_http_refusal(c, c->http_listen);
    if (why && (!t || c->http_token)) /* a bad token file is reported already */
        cfg_err_on(l, s ? s : g, "http listen \"%s\": %s", c->http_listen, why);
}

/* broker.ipc_mode: permission bits as an octal string ("0660"). */
static void load_ipc_mode(struct loader *l, config *c, const config_setting_t *s)
{
    const char *v = config_setting_get_string(s);
    char *end;
    size_t n = strlen(v);
    long mode = strtol(v, &end, 8);
    if (n < 3 || n > 4 || *end || mode < 0 || mode > 0777 || strspn(v, "01234567") != n) {
        cfg_err_on(l, s, "'ipc_mode' is \"%s\"; it must be permission bits in octal, like \"0660\"", v);
        return;
    }
    c->ipc_mode = mode;
}

/* Holds every endpoint of the file (or the defaults) against the policy. */
static void check_endpoints(struct loader *l, const config *c, config_t *cf)
{
    const config_setting_t *arr = config_lookup(cf, "broker.endpoints");
    const config_setting_t *where = config_lookup(cf, "security");
    const char *why;
    int plain;
    for (size_t i = 0; i < c->n_endpoints; i++) {
        if (!(why = config_endpoint_refusal(c, c->endpoints[i], &plain)))
            continue;
        const config_setting_t *s = NULL;
        for (int k = 0; arr && k < config_setting_length(arr) && !s; k++) {
            const config_setting_t *e = config_setting_get_elem(arr, (unsigned)k);
            if (config_setting_type(e) == CONFIG_TYPE_STRING &&
                !strcmp(config_setting_get_string(e), c->endpoints[i]))
                s = e;
        }
        if (s)
            cfg_err_on(l, s, "endpoint \"%s\": %s", c->endpoints[i], why);
        else if (where)
            cfg_err_on(l, where, "the default endpoint \"%s\": %s", c->endpoints[i], why);
        else
            cfg_err_at(l, 0, "the default endpoint \"%s\": %s", c->endpoints[i], why);
    }
    const char *names[2] = {"broker.gateway.xpub", "broker.gateway.xsub"};
    for (int i = 0; i < 2; i++) {
        const config_setting_t *s = config_lookup(cf, names[i]);
        if (s && config_setting_type(s) == CONFIG_TYPE_STRING &&
            (why = config_gateway_refusal(c, config_setting_get_string(s), &plain)))
            cfg_err_on(l, s, "gateway endpoint \"%s\": %s", config_setting_get_string(s), why);
    }
}


/*
 * Why data_dir (the path d) cannot serve, written into why, or 0 when it
 * can: an existing path must be a directory, and a missing one needs a
 * directory for a parent, since the broker creates only the last level (a
 * missing parent is a mistake in the file, not something to build).
 */
static int data_dir_problem(const char *d, char *why, size_t cap)
{
    struct stat sb;
    if (stat(d, &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            return 0;
        snprintf(why, cap, "data_dir '%s' is not a directory", d);
        return 1;
    }
    if (errno != ENOENT) {
        snprintf(why, cap, "data_dir '%s': %s", d, strerror(errno));
        return 1;
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", d);
    char *slash = strrchr(parent, '/');
    while (slash && slash > parent && slash[1] == '\0') { /* "a/b/" names b */
        *slash = '\0';
        slash = strrchr(parent, '/');
    }
    if (!slash)
        return 0; /* relative, in the working directory */
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    if (stat(parent, &sb) == 0 && S_ISDIR(sb.st_mode))
        return 0;
    snprintf(why, cap, "data_dir '%s': its parent %s is not a directory (only the last level is "
             "created)", d, parent);
    return 1;
}

static void load_broker(struct loader *l, config *c, const config_setting_t *g)
{
    static const char *const auto_choices[] = {"none", "pubsub", NULL};
    static const char *const fsync_choices[] = {"batch", "always", NULL};
    cfg_check_group(l, g, cfg_broker_keys, "broker");
    config_setting_t *s;
    if ((s = cfg_member(g, "endpoints", K_ARRAY))) {
        for (size_t i = 0; i < c->n_endpoints; i++)
            free(c->endpoints[i]);
        free(c->endpoints);
        c->endpoints = NULL;
        c->n_endpoints = 0;
        load_endpoints(l, c, s);
    }
    if ((s = cfg_member(g, "data_dir", K_STRING))) {
        const char *d = config_setting_get_string(s);
        if (!*d) {
            cfg_err_on(l, s, "'data_dir' is empty");
        } else {
            char why[PATH_MAX + 128];
            if (data_dir_problem(d, why, sizeof why))
                cfg_err_on(l, s, "%s", why);
            free(c->data_dir);
            c->data_dir = cfg_strdup(d, l);
        }
    }
    int v = cfg_get_choice(l, g, "auto_create", auto_choices);
    if (v >= 0)
        c->auto_create = v == 0 ? AUTO_NONE : AUTO_PUBSUB;
    v = cfg_get_choice(l, g, "fsync", fsync_choices);
    if (v >= 0)
        c->fsync_always = v == 1;
    cfg_get_long(l, g, "max_message_size", 0, 256LL << 20, &c->max_message_size);
    cfg_get_long(l, g, "heartbeat_ms", 10, 3600000, &c->heartbeat_ms);
    cfg_get_long(l, g, "heartbeat_timeout_ms", 20, 36000000, &c->heartbeat_timeout_ms);
    cfg_get_long(l, g, "max_clients", 1, 1000000, &c->max_clients);
    cfg_get_long(l, g, "handshake_timeout_ms", 100, 600000, &c->handshake_timeout_ms);
    cfg_get_long(l, g, "max_handshakes_per_address", 1, 1000000, &c->max_handshakes_per_address);
    cfg_get_long(l, g, "max_subscriptions", 1, 10000000, &c->max_subscriptions);
    cfg_get_long(l, g, "max_retained", 0, 100000000, &c->max_retained);
    cfg_get_long(l, g, "client_buffer", 65536, 1LL << 32, &c->client_buffer);
    cfg_get_long(l, g, "max_pending", 1, 10000000, &c->max_pending);
    cfg_get_long(l, g, "max_wait_ms", 1000, 86400000, &c->max_wait_ms);
    cfg_get_long(l, g, "max_channels", 1, 10000000, &c->max_channels);
    cfg_get_long(l, g, "max_retained_bytes", 0, 1LL << 40, &c->max_retained_bytes);
    cfg_get_long(l, g, "output_budget", 1LL << 20, 1LL << 40, &c->output_budget);
    if ((s = cfg_member(g, "curve", K_GROUP)))
        load_curve(l, c, s);
    if ((s = cfg_member(g, "insecure", K_BOOL)))
        c->insecure = config_setting_get_bool(s);
    if ((s = cfg_member(g, "ipc_mode", K_STRING)))
        load_ipc_mode(l, c, s);
    if ((s = cfg_member(g, "ipc_group", K_ID)))
        cfg_get_id(l, s, "ipc_group", 1, &c->ipc_gid);
    if ((s = cfg_member(g, "heartbeat_timeout_ms", K_INT)) && c->heartbeat_timeout_ms <= c->heartbeat_ms)
        cfg_err_on(l, s, "'heartbeat_timeout_ms' (%ld) must be longer than 'heartbeat_ms' (%ld)",
               c->heartbeat_timeout_ms, c->heartbeat_ms);
    if ((s = cfg_member(g, "http", K_GROUP)))
        load_http(l, c, s);
    if ((s = cfg_member(g, "stats_interval_ms", K_INT))) {
        cfg_get_long(l, g, "stats_interval_ms", 0, 3600000, &c->stats_interval_ms);
        if (c->stats_interval_ms > 0 && c->stats_interval_ms < 100) {
            cfg_err_on(l, s, "'stats_interval_ms' is %ld; it must be 0 (off) or at least 100",
                       c->stats_interval_ms);
        }
    }
    if ((s = cfg_member(g, "gateway", K_GROUP))) {
        cfg_check_group(l, s, cfg_gateway_keys, "broker.gateway");
        cfg_get_long(l, s, "max_subscriptions", 1, 1000000, &c->gateway_max_subscriptions);
        const char *names[2] = {"xpub", "xsub"};
        char **slots[2] = {&c->gateway_xpub, &c->gateway_xsub};
        for (int i = 0; i < 2; i++) {
            config_setting_t *e = cfg_member(s, names[i], K_STRING);
            const char *why = NULL;
            if (!e)
                continue;
            if (!config_endpoint_ok(config_setting_get_string(e), &why))
                cfg_err_on(l, e, "bad gateway endpoint \"%s\": %s",
                       config_setting_get_string(e), why);
            else
                *slots[i] = cfg_strdup(config_setting_get_string(e), l);
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
        free(cc->home);
        free(cc);
    }
}

static void load_channel(struct loader *l, config *c, const config_setting_t *g, config_channel ***tail)
{
    static const char *const slow_choices[] = {"drop", "block", NULL};
    static const char *const overflow_choices[] = {"refuse", "block", NULL};
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        cfg_err_on(l, g, "each channel must be a group { name = ...; type = ...; }");
        return;
    }
    cfg_check_group(l, g, cfg_channel_keys, "a channel");
    config_setting_t *name = cfg_member(g, "name", K_STRING);
    if (!name) {
        if (!config_setting_get_member(g, "name"))
            cfg_err_on(l, g, "a channel without 'name'");
        return;
    }
    const char *n = config_setting_get_string(name);
    if (!ps__wire_valid_channel(n, strlen(n))) {
        cfg_err_on(l, name, "invalid channel name \"%s\" (1 to 255 of A-Z a-z 0-9 _ . -)", n);
        return;
    }
    for (const config_channel *o = c->channels; o; o = o->next)
        if (!strcmp(o->name, n)) {
            cfg_err_on(l, name, "channel \"%s\" declared twice", n);
            return;
        }
    int type = cfg_get_choice(l, g, "type", type_names);
    if (type == -1 && !config_setting_get_member(g, "type")) {
        cfg_err_on(l, g, "channel \"%s\" has no 'type' (queue, broadcast or pubsub)", n);
        return;
    }
    if (type < 0)
        return;
    config_channel *cc = calloc(1, sizeof *cc);
    if (!cc || !(cc->name = strdup(n))) {
        channel_free(cc);
        cfg_err_on(l, g, "out of memory");
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
    if ((s = cfg_member(g, "retain", K_BOOL))) {
        if (cc->type != CHAN_PUBSUB)
            cfg_err_on(l, s, "'retain' is for pubsub channels; \"%s\" is a %s", n,
                   config_type_name(cc->type));
        cc->retain = config_setting_get_bool(s);
    }
    if ((s = cfg_member(g, "durable", K_BOOL))) {
        if (cc->type != CHAN_QUEUE)
            cfg_err_on(l, s, "'durable' is for queues; \"%s\" is a %s", n,
                   config_type_name(cc->type));
        cc->durable = config_setting_get_bool(s);
    }
    if ((s = cfg_member(g, "max_queued", K_INT)) && cc->type != CHAN_QUEUE)
        cfg_err_on(l, s, "'max_queued' is for queues; \"%s\" is a %s", n,
               config_type_name(cc->type));
    cfg_get_long(l, g, "max_queued", 1, 100000000, &cc->max_queued);
    if ((s = cfg_member(g, "slow_subscriber", K_STRING)) && cc->type == CHAN_QUEUE)
        cfg_err_on(l, s, "'slow_subscriber' is for broadcast and pubsub channels; "
               "a queue keeps messages for its consumers");
    int v = cfg_get_choice(l, g, "slow_subscriber", slow_choices);
    if (v >= 0)
        cc->slow = v == 0 ? SLOW_DROP : SLOW_BLOCK;
    if ((s = cfg_member(g, "overflow", K_STRING)) && cc->type != CHAN_QUEUE)
        cfg_err_on(l, s, "'overflow' is for queues; \"%s\" is a %s", n,
               config_type_name(cc->type));
    v = cfg_get_choice(l, g, "overflow", overflow_choices);
    if (v >= 0)
        cc->overflow = v == 0 ? OVERFLOW_REFUSE : OVERFLOW_BLOCK;
    if ((s = cfg_member(g, "home", K_STRING))) {
        if (cc->type != CHAN_QUEUE)
            cfg_err_on(l, s, "'home' is for queues; \"%s\" is a %s", n,
                       config_type_name(cc->type));
        cc->home = cfg_strdup(config_setting_get_string(s), l);
    }
    **tail = cc;
    *tail = &cc->next;
}

/* True when name may name a node: the characters of a channel name. */
static int node_name_ok(const char *name)
{
    return ps__wire_valid_channel(name, strlen(name));
}

/* Reads one tcp endpoint of the cluster section (listen, a peer's) into
 * *out; what names it in the error. */
static void cluster_endpoint(struct loader *l, const config_setting_t *s, const char *what,
                             char **out)
{
    const char *ep = config_setting_get_string(s), *why = NULL;
    if (strncmp(ep, "tcp://", 6) != 0)
        cfg_err_on(l, s, "%s \"%s\": links speak tcp://HOST:PORT", what, ep);
    else if (!config_endpoint_ok(ep, &why))
        cfg_err_on(l, s, "%s \"%s\": %s", what, ep, why);
    else
        *out = cfg_strdup(ep, l);
}

static void peer_free(config_peer *p)
{
    if (p) {
        free(p->node);
        free(p->endpoint);
        free(p);
    }
}

/* Reads one entry of cluster.peers and appends it to cl->peers. */
static void load_peer(struct loader *l, config_cluster *cl, const config_setting_t *g,
                      config_peer ***tail)
{
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        cfg_err_on(l, g, "each peer must be a group { node = ...; endpoint = ...; public_key = ...; }");
        return;
    }
    cfg_check_group(l, g, cfg_peer_keys, "a peer");
    config_setting_t *node = cfg_member(g, "node", K_STRING),
                     *ep = cfg_member(g, "endpoint", K_STRING),
                     *key = cfg_member(g, "public_key", K_STRING);
    if (!node || !ep || !key) {
        cfg_err_on(l, g, "a peer needs node, endpoint and public_key");
        return;
    }
    const char *n = config_setting_get_string(node), *k = config_setting_get_string(key);
    uint8_t raw[32];
    if (!node_name_ok(n)) {
        cfg_err_on(l, node, "invalid node name \"%s\" (1 to 255 of A-Z a-z 0-9 _ . -)", n);
        return;
    }
    if (cl->node && !strcmp(n, cl->node)) {
        cfg_err_on(l, node, "peer \"%s\" is this node itself (cluster.node)", n);
        return;
    }
    for (const config_peer *o = cl->peers; o; o = o->next)
        if (!strcmp(o->node, n)) {
            cfg_err_on(l, node, "peer \"%s\" listed twice", n);
            return;
        }
    if (strlen(k) != 40 || !zmq_z85_decode(raw, k)) {
        cfg_err_on(l, key, "public_key of peer \"%s\" must be 40 characters of Z85", n);
        return;
    }
    config_peer *p = calloc(1, sizeof *p);
    if (!p || !(p->node = strdup(n))) {
        peer_free(p);
        cfg_err_on(l, g, "out of memory");
        return;
    }
    memcpy(p->public_key, k, 41);
    cluster_endpoint(l, ep, "peer endpoint", &p->endpoint);
    if (!p->endpoint) {
        peer_free(p);
        return;
    }
    **tail = p;
    *tail = &p->next;
    cl->n_peers++;
}

/* Reads cluster.raft (after the node and its peers): every voter is this
 * node or a peer, and this node is one of them (a node outside the group
 * could neither hold nor find the queues' home, so it is refused rather
 * than run without a replica). */
static void load_raft(struct loader *l, const config *c, config_cluster *cl,
                      const config_setting_t *g)
{
    cfg_check_group(l, g, cfg_raft_keys, "cluster.raft");
    config_raft *r = cl->raft = calloc(1, sizeof *r);
    if (!r) {
        cfg_err_on(l, g, "out of memory");
        return;
    }
    r->election_ms = 500;
    config_setting_t *s;
    if (!(s = cfg_member(g, "listen", K_STRING)))
        cfg_err_on(l, g, "cluster.raft needs 'listen'");
    else {
        char addr[REPL_ADDR_MAX];
        const char *ep = config_setting_get_string(s),
                   *why = config_raft_refusal(ep, addr, sizeof addr);
        if (why)
            cfg_err_on(l, s, "cluster.raft.listen \"%s\" refused: %s", ep, why);
        else
            r->listen = cfg_strdup(addr, l);
    }
    if (!(s = cfg_member(g, "voters", K_ARRAY)))
        cfg_err_on(l, g, "cluster.raft needs 'voters' (the node names of the group)");
    else {
        int n = config_setting_length(s), self = 0;
        if (n < 1 || n > REPL_VOTERS_MAX) {
            cfg_err_on(l, s, "cluster.raft.voters: %d names; a group has 1 to %d", n,
                       REPL_VOTERS_MAX);
            n = 0; /* the names are not judged: the count is the mistake */
        }
        for (int i = 0; i < n; i++) {
            const config_setting_t *v = config_setting_get_elem(s, (unsigned)i);
            const char *name = config_setting_type(v) == CONFIG_TYPE_STRING
                                   ? config_setting_get_string(v) : NULL;
            int known = name && cl->node && !strcmp(name, cl->node);
            self |= known;
            for (const config_peer *p = cl->peers; name && p && !known; p = p->next)
                known = !strcmp(p->node, name);
            for (size_t j = 0; name && j < r->n_voters; j++)
                if (!strcmp(r->voters[j], name)) {
                    cfg_err_on(l, v, "cluster.raft.voters: \"%s\" listed twice", name);
                    name = NULL;
                }
            if (!name)
                continue;
            if (!known)
                cfg_err_on(l, v, "cluster.raft.voters: \"%s\" is neither this node nor a peer",
                           name);
            else if ((r->voters[r->n_voters] = cfg_strdup(name, l)))
                r->n_voters++;
        }
        if (cl->node && n && !self)
            cfg_err_on(l, s, "cluster.raft.voters: this node \"%s\" is not among them", cl->node);
    }
    if ((s = cfg_member(g, "data_dir", K_STRING))) {
        const char *d = config_setting_get_string(s);
        if (!*d)
            cfg_err_on(l, s, "cluster.raft.data_dir is empty");
        else
            r->data_dir = cfg_strdup(d, l);
    } else if (c->data_dir) {
        size_t n = strlen(c->data_dir) + sizeof "/raft";
        if ((r->data_dir = malloc(n)))
            snprintf(r->data_dir, n, "%s/raft", c->data_dir);
        else
            cfg_err_on(l, g, "out of memory");
    }
    cfg_get_long(l, g, "election_ms", 50, 60000, &r->election_ms);
}

/* Reads the cluster section: this node, its key pair, its peers. */
static void load_cluster(struct loader *l, config *c, const config_setting_t *g)
{
    cfg_check_group(l, g, cfg_cluster_keys, "cluster");
    config_cluster *cl = calloc(1, sizeof *cl);
    if (!cl) {
        cfg_err_on(l, g, "out of memory");
        return;
    }
    c->cluster = cl;
    cl->heartbeat_ms = 500;
    cl->heartbeat_timeout_ms = 1500;
    cl->link_buffer = 64L << 20;
    cl->max_interest = 100000;
    static const char *const needed[] = {"name", "node", "listen", "secret_key_file", "peers"};
    for (size_t i = 0; i < sizeof needed / sizeof *needed; i++)
        if (!config_setting_get_member(g, needed[i]))
            cfg_err_on(l, g, "cluster needs '%s'", needed[i]);
    config_setting_t *s;
    if ((s = cfg_member(g, "name", K_STRING))) {
        if (!node_name_ok(config_setting_get_string(s)))
            cfg_err_on(l, s, "invalid cluster name \"%s\" (1 to 255 of A-Z a-z 0-9 _ . -)",
                       config_setting_get_string(s));
        else
            cl->name = cfg_strdup(config_setting_get_string(s), l);
    }
    if ((s = cfg_member(g, "node", K_STRING))) {
        if (!node_name_ok(config_setting_get_string(s)))
            cfg_err_on(l, s, "invalid node name \"%s\" (1 to 255 of A-Z a-z 0-9 _ . -)",
                       config_setting_get_string(s));
        else
            cl->node = cfg_strdup(config_setting_get_string(s), l);
    }
    if ((s = cfg_member(g, "listen", K_STRING)))
        cluster_endpoint(l, s, "cluster listen", &cl->listen);
    if ((s = cfg_member(g, "secret_key_file", K_STRING)))
        read_keyfile(l, s, cl->secret_key, cl->public_key);
    if ((s = cfg_member(g, "peers", K_LIST))) {
        config_peer **tail = &cl->peers;
        int n = config_setting_length(s);
        for (int i = 0; i < n; i++)
            load_peer(l, cl, config_setting_get_elem(s, (unsigned)i), &tail);
    }
    cfg_get_long(l, g, "heartbeat_ms", 10, 3600000, &cl->heartbeat_ms);
    cfg_get_long(l, g, "heartbeat_timeout_ms", 20, 36000000, &cl->heartbeat_timeout_ms);
    cfg_get_long(l, g, "link_buffer", 1LL << 16, 1LL << 40, &cl->link_buffer);
    cfg_get_long(l, g, "max_interest", 1, 100000000, &cl->max_interest);
    if ((s = cfg_member(g, "raft", K_GROUP)))
        load_raft(l, c, cl, s);
    if ((s = cfg_member(g, "heartbeat_timeout_ms", K_INT)) &&
        cl->heartbeat_timeout_ms <= cl->heartbeat_ms)
        cfg_err_on(l, s, "'heartbeat_timeout_ms' (%ld) must be longer than 'heartbeat_ms' (%ld)",
                   cl->heartbeat_timeout_ms, cl->heartbeat_ms);
}

/* A queue's home must be a node of the cluster. */
static void check_homes(struct loader *l, const config *c, config_t *cf)
{
    for (const config_channel *cc = c->channels; cc; cc = cc->next) {
        if (!cc->home)
            continue;
        int known = c->cluster && c->cluster->node && !strcmp(cc->home, c->cluster->node);
        for (const config_peer *p = c->cluster ? c->cluster->peers : NULL; p && !known; p = p->next)
            known = !strcmp(p->node, cc->home);
        if (!known)
            cfg_err_on(l, config_lookup(cf, "channels"),
                       "channel \"%s\": home \"%s\" is not a node of the cluster%s", cc->name,
                       cc->home, c->cluster ? "" : " (there is no cluster section)");
        else if (cc->durable && c->cluster->raft)
            cfg_err_on(l, config_lookup(cf, "channels"),
                       "channel \"%s\": a durable queue's home is the Raft group's leader "
                       "(cluster.raft): 'home' is not for it", cc->name);
    }
}

void config_cluster_free(config_cluster **clp)
{
    if (!clp || !*clp)
        return;
    config_cluster *cl = *clp;
    free(cl->name);
    free(cl->node);
    free(cl->listen);
    if (cl->raft) {
        free(cl->raft->listen);
        for (size_t i = 0; i < cl->raft->n_voters; i++)
            free(cl->raft->voters[i]);
        free(cl->raft->data_dir);
        free(cl->raft);
    }
    while (cl->peers) {
        config_peer *p = cl->peers;
        cl->peers = p->next;
        peer_free(p);
    }
    memset(cl->secret_key, 0, sizeof cl->secret_key);
    free(cl);
    *clp = NULL;
}

/* A config with every default and no endpoints; NULL on ENOMEM. */
/*
 * The default data_dir, always an absolute path (a relative one would
 * depend on where the broker was started): systemd's StateDirectory=
 * (the first of $STATE_DIRECTORY), else $XDG_STATE_HOME/pubsub (or
 * ~/.local/state/pubsub) for a user other than root, else /var/lib/pubsub.
 */
static char *default_data_dir(void)
{
    const char *state = getenv("STATE_DIRECTORY");
    if (state && state[0] == '/')
        return strndup(state, strcspn(state, ":"));
    char *dir = NULL;
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (geteuid() != 0 && xdg && xdg[0] == '/') {
        if (asprintf(&dir, "%s/pubsub", xdg) < 0)
            dir = NULL;
    } else if (geteuid() != 0 && home && home[0] == '/') {
        if (asprintf(&dir, "%s/.local/state/pubsub", home) < 0)
            dir = NULL;
    } else {
        dir = strdup("/var/lib/pubsub");
    }
    return dir;
}

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
    c->handshake_timeout_ms = 10000;
    c->max_handshakes_per_address = 64;
    c->max_subscriptions = 1000;
    c->gateway_max_subscriptions = 1000;
    c->max_retained = 10000;
    c->client_buffer = 8L << 20;
    c->max_pending = 100000;
    c->max_wait_ms = 600000;
    c->max_channels = 100000;
    c->max_retained_bytes = 256L << 20;
    c->output_budget = 1L << 30;
    c->ipc_mode = 0660;
    c->ipc_gid = -1;
    c->data_dir = default_data_dir();
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
        cfg_err_at(&l, 0, "out of memory");
        cfg_flush_errors(&l);
        return NULL;
    }
    config_init(&cf);
    /* @include "x.conf" is found beside the file, not in the daemon's
     * working directory (systemd starts it in /).  libconfig 1.5 puts its
     * include directory in front of absolute names too, so a file that
     * includes one keeps libconfig's default (the working directory). */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        slash[slash == dir] = '\0';
        l.dir = dir;
    }
    struct stat st;
    if (stat(path, &st) < 0) {
        cfg_err_at(&l, 0, "cannot read: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        /* libconfig would read a directory or a fifo to no good end. */
        cfg_err_at(&l, 0, "cannot read: not a regular file");
        goto out;
    }
    errno = 0;
    cfg_scan_file(&l, path, 0);
    if (l.abs_include)
        l.dir = NULL;
    if (l.dir)
        config_set_include_dir(&cf, l.dir);
    if (l.bad_include)
        goto out;
    if (!config_read_file(&cf, path)) {
        if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
            cfg_err_at(&l, 0, "cannot read: %s", strerror(errno ? errno : EIO));
        else {
            /* The error may be in an @include'd file: name that one. */
            char buf[4096];
            l.path = cfg_file_name(&l, config_error_file(&cf), buf, sizeof buf);
            cfg_err_at(&l, config_error_line(&cf), "%s", config_error_text(&cf));
            l.path = path;
        }
        goto out;
    }
    const config_setting_t *root = config_root_setting(&cf);
    cfg_check_group(&l, root, cfg_top_keys, "the file");
    config_setting_t *s;
    if ((s = cfg_member(root, "broker", K_GROUP)))
        load_broker(&l, c, s);
    if (!c->endpoints) {
        /* Without broker.endpoints the defaults apply, as with no file. */
        config *d = config_default();
        if (!d) {
            cfg_err_at(&l, 0, "out of memory");
            goto out;
        }
        c->endpoints = d->endpoints;
        c->n_endpoints = d->n_endpoints;
        d->endpoints = NULL;
        d->n_endpoints = 0;
        config_free(&d);
    }
    if ((s = cfg_member(root, "channels", K_LIST))) {
        config_channel **tail = &c->channels;
        int n = config_setting_length(s);
        for (int i = 0; i < n; i++)
            load_channel(&l, c, config_setting_get_elem(s, (unsigned)i), &tail);
    }
    if ((s = cfg_member(root, "security", K_GROUP)))
        load_security(&l, c, s);
    if ((s = cfg_member(root, "cluster", K_GROUP)))
        load_cluster(&l, c, s);
    check_homes(&l, c, &cf);
    if (c->curve && !c->secure)
        cfg_err_on(&l, config_lookup(&cf, "broker.curve"),
               "'curve' needs a security section naming the clients' public keys "
               "(security.clients), or every client would be refused");
    check_endpoints(&l, c, &cf);
    c->path = strdup(path);
    if (!c->path)
        cfg_err_at(&l, 0, "out of memory");
out:
    config_destroy(&cf);
    cfg_flush_errors(&l);
    for (int i = 0; i < l.n_wide; i++)
        free(l.wide[i].file);
    free(l.wide);
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
    free(c->http_listen);
    if (c->http_token) {
        /* The token must not linger in freed memory either. */
        memset(c->http_token, 0, strlen(c->http_token));
        free(c->http_token);
    }
    while (c->channels) {
        config_channel *cc = c->channels;
        c->channels = cc->next;
        channel_free(cc);
    }
    while (c->clients) {
        config_client *cc = c->clients;
        c->clients = cc->next;
        client_entry_free(cc);
    }
    config_cluster_free(&c->cluster);
    /* The secret key must not linger in freed memory. */
    memset(c->curve_secret, 0, sizeof c->curve_secret);
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
