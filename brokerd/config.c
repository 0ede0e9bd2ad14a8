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
#include <zmq.h>

/* What a setting of the schema may hold (K_ID: a number or a name). */
enum kind { K_STRING, K_INT, K_BOOL, K_GROUP, K_ARRAY, K_LIST, K_ID };

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
    {"curve", K_GROUP},          {"insecure", K_BOOL},           {"ipc_mode", K_STRING},
    {"ipc_group", K_ID},         {NULL, 0}};
static const struct key gateway_keys[] = {{"xpub", K_STRING}, {"xsub", K_STRING}, {NULL, 0}};
static const struct key curve_keys[] = {{"secret_key_file", K_STRING}, {NULL, 0}};
static const struct key keyfile_keys[] = {{"public_key", K_STRING}, {"secret_key", K_STRING},
                                          {NULL, 0}};
static const struct key security_keys[] = {{"clients", K_LIST}, {NULL, 0}};
static const struct key client_keys[] = {
    {"name", K_STRING}, {"public_key", K_STRING}, {"uid", K_ID}, {"gid", K_ID},
    {"allow", K_ARRAY}, {NULL, 0}};
static const struct key channel_keys[] = {
    {"name", K_STRING},  {"type", K_STRING},     {"retain", K_BOOL},
    {"durable", K_BOOL}, {"max_queued", K_INT},  {"slow_subscriber", K_STRING},
    {"overflow", K_STRING}, {NULL, 0}};
static const struct key top_keys[] = {
    {"broker", K_GROUP}, {"channels", K_LIST}, {"security", K_GROUP}, {NULL, 0}};

/* One error found, kept until the load ends so that they can be printed
 * in the order of the file rather than the order of the checks. */
struct error {
    char *file;   /* file name as printed */
    int line;     /* its line, 0 when none */
    int seq;      /* order of discovery, the tie-breaker */
    char *text;   /* the message */
};

#define MAX_ERRORS 1000 /* errors kept for sorting; more are written at once */

/* The state of one load: where errors go and how many there were. */
struct loader {
    const char *path;     /* file name for messages */
    const char *dir;      /* its directory, where @include looks; NULL: cwd */
    FILE *errs;           /* where "FILE:LINE: message" lines go */
    int errors;           /* errors so far */
    struct error *list;   /* those kept, in order of discovery */
    int n_list;           /* entries in list */
    int abs_include;      /* an @include names an absolute path */
    int bad_include;      /* an @include names a directory, a device...: do not parse */
    struct error *wide;   /* integers libconfig cut to 32 bits (file, line) */
    int n_wide;           /* entries in wide */
};

/*
 * The name to print for file, where libconfig says a setting or an error
 * is: the loaded file's own name, or an @include'd file's, which libconfig
 * gives as written in the directive; relative ones are found in l->dir.
 */
static const char *file_name(const struct loader *l, const char *file, char *buf, size_t size)
{
    if (!file || !strcmp(file, l->path))
        return l->path;
    if (file[0] == '/' || !l->dir)
        return file;
    snprintf(buf, size, "%s/%s", l->dir, file);
    return buf;
}

/* Records an error at file:line.  Out of memory, it is written at once. */
static void add_error(struct loader *l, const char *file, int line, const char *fmt, va_list ap)
{
    int seq = l->errors++;
    if (!l->errs)
        return;
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    /* A value quoted from the file may hold a newline: one error, one line. */
    for (char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    if (l->n_list < MAX_ERRORS) {
        struct error *more = realloc(l->list, (size_t)(l->n_list + 1) * sizeof *more);
        if (more) {
            l->list = more;
            struct error *e = &more[l->n_list];
            e->file = strdup(file);
            e->text = strdup(text);
            e->line = line;
            e->seq = seq;
            if (e->file && e->text) {
                l->n_list++;
                return;
            }
            free(e->file);
            free(e->text);
        }
    }
    fprintf(l->errs, "%s:%d: %s\n", file, line, text);
}

static void err_at(struct loader *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An error on a line of the loaded file (0: about the file as a whole). */
static void err_at(struct loader *l, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error(l, l->path, line, fmt, ap);
    va_end(ap);
}

static void err_at_file(struct loader *l, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* An error on a line of an @include'd file (or the loaded one). */
static void err_at_file(struct loader *l, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error(l, file, line, fmt, ap);
    va_end(ap);
}

static int line_of(const config_setting_t *s)
{
    return (int)config_setting_source_line(s);
}

static void err_on(struct loader *l, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An error about setting s, on its line of the file it came from (an
 * @include'd file names itself). */
static void err_on(struct loader *l, const config_setting_t *s, const char *fmt, ...)
{
    va_list ap;
    char buf[4096];
    va_start(ap, fmt);
    add_error(l, file_name(l, config_setting_source_file(s), buf, sizeof buf), line_of(s), fmt, ap);
    va_end(ap);
}

/* The loaded file first, then included files by name; by line in each. */
static int error_cmp(const void *pa, const void *pb, void *path)
{
    const struct error *a = pa, *b = pb;
    int am = !strcmp(a->file, path), bm = !strcmp(b->file, path);
    if (am != bm)
        return bm - am;
    int c = strcmp(a->file, b->file);
    if (c)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Writes the errors kept, in file order, and forgets them. */
static void flush_errors(struct loader *l)
{
    if (l->n_list)
        qsort_r(l->list, (size_t)l->n_list, sizeof *l->list, error_cmp, (void *)l->path);
    for (int i = 0; i < l->n_list; i++) {
        fprintf(l->errs, "%s:%d: %s\n", l->list[i].file, l->list[i].line, l->list[i].text);
        free(l->list[i].file);
        free(l->list[i].text);
    }
    free(l->list);
    l->list = NULL;
    l->n_list = 0;
}

/*
 * libconfig 1.5 reads an integer without an "L" suffix into 32 bits and
 * silently keeps whatever is left of a larger one (4294967296 becomes 0).
 * So the file is scanned for such literals first, skipping comments and
 * strings the way libconfig's scanner does, and each one is an error; the
 * setting on that line is then not judged by the truncated value.
 */
#define MAX_INCLUDE_DEPTH 10 /* as libconfig's own limit */
#define MAX_SCAN_SIZE (16 << 20) /* bigger files are not scanned */

static void scan_file(struct loader *l, const char *file, int depth);

/* Remembers file:line as holding a cut integer; 0 when it was known (a
 * file included twice). */
static int mark_wide(struct loader *l, const char *file, int line)
{
    for (int i = 0; i < l->n_wide; i++)
        if (l->wide[i].line == line && !strcmp(l->wide[i].file, file))
            return 0;
    struct error *more = realloc(l->wide, (size_t)(l->n_wide + 1) * sizeof *more);
    if (!more)
        return 1;
    l->wide = more;
    if ((more[l->n_wide].file = strdup(file))) {
        more[l->n_wide].line = line;
        l->n_wide++;
    }
    return 1;
}

/* True when setting s sits on a line with a cut integer. */
static int is_wide(const struct loader *l, const config_setting_t *s)
{
    char buf[4096];
    const char *file = file_name(l, config_setting_source_file(s), buf, sizeof buf);
    for (int i = 0; i < l->n_wide; i++)
        if (l->wide[i].line == line_of(s) && !strcmp(l->wide[i].file, file))
            return 1;
    return 0;
}

/*
 * False when an @include names something that exists but is no regular
 * file: libconfig's scanner would exit the whole process on reading a
 * directory, and wait forever on a fifo.  Both places libconfig may look
 * are checked: beside the file and in the working directory.
 */
static int include_ok(const struct loader *l, const char *name)
{
    char buf[4096];
    struct stat st;
    const char *beside = file_name(l, name, buf, sizeof buf);
    if (stat(beside, &st) == 0 && !S_ISREG(st.st_mode))
        return 0;
    return !(stat(name, &st) == 0 && !S_ISREG(st.st_mode)) && *name;
}

static void scan_text(struct loader *l, const char *file, const char *p, const char *end, int depth)
{
    int line = 1;
    while (p < end) {
        if (*p == '\n') {
            line++;
            p++;
        } else if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
            while (p < end && *p != '\n')
                p++;
        } else if (*p == '/' && p + 1 < end && p[1] == '*') {
            for (p += 2; p < end && !(*p == '*' && p + 1 < end && p[1] == '/'); p++)
                line += *p == '\n';
            p = end - p > 2 ? p + 2 : end;
        } else if (*p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                line += *p == '\n';
            }
            p = p < end ? p + 1 : end;
        } else if (*p == '@' && end - p > 8 && !strncmp(p, "@include", 8)) {
            /* @include "NAME": scan that file too, found where libconfig looks. */
            const char *q = p + 8;
            while (q < end && (*q == ' ' || *q == '\t'))
                q++;
            const char *close = q < end && *q == '"' ? memchr(q + 1, '"', (size_t)(end - q - 1)) : NULL;
            if (close && close - q - 1 < 1024) {
                char name[1100], buf[4096];
                snprintf(name, sizeof name, "%.*s", (int)(close - q - 1), q + 1);
                l->abs_include |= name[0] == '/';
                if (!include_ok(l, name)) {
                    err_at_file(l, file, line, "@include \"%s\": not a regular file", name);
                    l->bad_include = 1;
                } else {
                    scan_file(l, file_name(l, name, buf, sizeof buf), depth + 1);
                }
                q = close + 1;
            }
            p = q;
        } else if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '*') {
            /* A name: its digits are no number. */
            while (p < end && (*p == '-' || *p == '_' || *p == '*' || (*p >= '0' && *p <= '9') ||
                               (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
                p++;
        } else if ((*p >= '0' && *p <= '9') ||
                   ((*p == '-' || *p == '+') && p + 1 < end && p[1] >= '0' && p[1] <= '9')) {
            const char *start = p;
            int hex = 0, real = 0;
            if (*p == '-' || *p == '+')
                p++;
            if (p + 1 < end && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                hex = 1;
                for (p += 2; p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                                        (*p >= 'A' && *p <= 'F'));)
                    p++;
            } else {
                for (; p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' ||
                                   *p == 'E' || ((*p == '-' || *p == '+') && (p[-1] == 'e' || p[-1] == 'E')));
                     p++)
                    real |= *p == '.' || *p == 'e' || *p == 'E';
            }
            if (real)
                continue;
            if (p < end && *p == 'L') {
                p++;
                continue;
            }
            char num[64];
            if (p - start >= (long)sizeof num) {
                if (mark_wide(l, file, line))
                    err_at_file(l, file, line, "the integer %.20s... is too long", start);
                continue;
            }
            snprintf(num, sizeof num, "%.*s", (int)(p - start), start);
            errno = 0;
            long long v = hex ? (long long)strtoull(num, NULL, 16) : strtoll(num, NULL, 10);
            if (errno == ERANGE) {
                if (mark_wide(l, file, line))
                    err_at_file(l, file, line, "%s is too large for any integer", num);
            } else if ((v > INT_MAX || v < INT_MIN) && mark_wide(l, file, line)) {
                err_at_file(l, file, line,
                            "%s does not fit in a plain integer (32 bits): write %sL", num, num);
            }
        } else {
            p++;
        }
    }
}

/* Scans one file for cut integers (unreadable: libconfig says so). */
static void scan_file(struct loader *l, const char *file, int depth)
{
    if (depth > MAX_INCLUDE_DEPTH)
        return;
    FILE *f = fopen(file, "r");
    struct stat st;
    if (!f)
        return;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size < MAX_SCAN_SIZE) {
        size_t size = (size_t)st.st_size;
        char *text = malloc(size + 1);
        size_t n = text ? fread(text, 1, size, f) : 0;
        if (text)
            scan_text(l, file, text, text + n, depth);
        free(text);
    }
    fclose(f);
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
    case K_ID: return "a number or a name";
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
    case K_ID: return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_STRING;
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
            err_on(l, s, "unknown key '%s' in %s", name ? name : "?", what);
            continue;
        }
        for (int j = 0; j < i; j++) {
            const config_setting_t *t = config_setting_get_elem(group, (unsigned)j);
            if (!strcmp(config_setting_name(t), name)) {
                err_on(l, s, "'%s' given twice in %s (first on line %d)", name, what,
                       line_of(t));
                break;
            }
        }
        if (!has_kind(s, k->kind))
            err_on(l, s, "'%s' must be %s", name, kind_name(k->kind));
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
    if (config_setting_type(s) == CONFIG_TYPE_INT && is_wide(l, s))
        return; /* its value was cut, and that is reported already */
    long long v = config_setting_get_int64(s);
    if (v < min || v > max) {
        err_on(l, s, "'%s' is %lld; it must be between %lld and %lld", name, v, min, max);
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
    err_on(l, s, "'%s' is \"%s\"; it must be %s", name, v, list);
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
        err_on(l, arr, "'endpoints' is empty: the broker would be unreachable");
        return;
    }
    c->endpoints = calloc((size_t)n + 1, sizeof *c->endpoints);
    if (!c->endpoints) {
        err_on(l, arr, "out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(arr, (unsigned)i);
        const char *why = NULL;
        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
            err_on(l, s, "endpoint %d must be a string", i + 1);
            continue;
        }
        const char *ep = config_setting_get_string(s);
        if (!endpoint_ok(ep, &why)) {
            err_on(l, s, "bad endpoint \"%s\": %s", ep, why);
            continue;
        }
        for (size_t j = 0; j < c->n_endpoints; j++)
            if (!strcmp(c->endpoints[j], ep))
                err_on(l, s, "endpoint \"%s\" given twice", ep);
        if ((c->endpoints[c->n_endpoints] = xstrdup(ep, l)))
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

/* True when a tcp endpoint's host is this machine's loopback: 127.0.0.0/8,
 * ::1, "localhost" or the interface "lo". */
static int loopback_host(const char *ep)
{
    const char *host = ep + 6, *colon = strrchr(host, ':');
    size_t n = colon ? (size_t)(colon - host) : strlen(host);
    char h[256], *p = h;
    struct in_addr a4;
    struct in6_addr a6;
    if (n >= sizeof h)
        return 0;
    memcpy(h, host, n);
    h[n] = '\0';
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h[n - 1] = '\0';
        p++;
    }
    if (inet_pton(AF_INET, p, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, p, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return !strcmp(p, "localhost") || !strcmp(p, "lo");
}

const char *config_endpoint_refusal(const config *c, const char *ep, int *plain)
{
    *plain = 0;
    if (strncmp(ep, "tcp://", 6) != 0)
        return NULL; /* ipc: guarded by the file's mode and by peer credentials */
    if (c->curve)
        return NULL;
    if (c->secure)
        return "without broker.curve a tcp client cannot be identified for security.clients "
               "(set broker.curve, or use ipc endpoints only)";
    if (loopback_host(ep))
        return NULL;
    if (c->insecure) {
        *plain = 1;
        return NULL;
    }
    return "not a loopback address: without broker.curve anyone who reaches it could use the "
           "broker and read its traffic (set broker.curve, or broker.insecure = true to accept that)";
}

/* The same for a plain ZeroMQ gateway endpoint, which never speaks CURVE
 * and knows no access rules. */
static const char *gateway_refusal(const config *c, const char *ep, int *plain)
{
    *plain = 0;
    if (c->insecure) {
        *plain = c->secure || (!strncmp(ep, "tcp://", 6) && !loopback_host(ep));
        return NULL;
    }
    if (c->secure)
        return "the plain ZeroMQ gateway bypasses security.clients (set broker.insecure = true "
               "to run it anyway)";
    if (!strncmp(ep, "tcp://", 6) && !loopback_host(ep))
        return "not a loopback address, and the plain ZeroMQ gateway is neither encrypted nor "
               "authenticated (set broker.insecure = true to accept that)";
    return NULL;
}

/*
 * Reads a uid or gid setting: a number, or a user or group name looked up
 * on this system (group: 1 for a group).  Returns 0 with *out, or -1
 * after the error.
 */
static int get_id(struct loader *l, const config_setting_t *s, const char *what, int group, long *out)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        long long v = config_setting_get_int64(s);
        if (v < 0 || v > 4294967294LL) {
            err_on(l, s, "'%s' is %lld; it must be between 0 and 4294967294", what, v);
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
    err_on(l, s, "'%s' is \"%s\": no such %s on this system", what, name, group ? "group" : "user");
    return -1;
}

/* True when s (len bytes) is a channel pattern: 1 to 255 of A-Z a-z 0-9
 * _ . - and '*'. */
static int pattern_ok(const char *s, size_t len)
{
    if (len == 0 || len > PS_WIRE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-' || ch == '*'))
            return 0;
    }
    return 1;
}

/* Parses one element of an allow list into *r; -1 after the error. */
static int parse_rule(struct loader *l, const config_setting_t *s, config_rule *r)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        err_on(l, s, "each right must be a string \"VERB:CHANNELS\" or \"admin\"");
        return -1;
    }
    const char *text = config_setting_get_string(s), *colon = strchr(text, ':');
    size_t vlen = colon ? (size_t)(colon - text) : strlen(text);
    int v = 0;
    while (verb_names[v] && !(strlen(verb_names[v]) == vlen && !strncmp(text, verb_names[v], vlen)))
        v++;
    if (!verb_names[v]) {
        err_on(l, s, "\"%s\" is not a right: give VERB:CHANNELS with VERB one of publish, "
               "subscribe, consume, send, request, reply; or \"admin\"", text);
        return -1;
    }
    if (v == VERB_ADMIN && colon) {
        err_on(l, s, "\"%s\": 'admin' is for the whole broker and takes no channels", text);
        return -1;
    }
    if (v != VERB_ADMIN && (!colon || !pattern_ok(colon + 1, strlen(colon + 1)))) {
        err_on(l, s, "\"%s\": '%s' needs channels after ':' (1 to 255 of A-Z a-z 0-9 _ . - "
               "and * for any run)", text, verb_names[v]);
        return -1;
    }
    r->verb = (enum verb)v;
    if (!(r->pattern = strdup(v == VERB_ADMIN ? "" : colon + 1))) {
        err_on(l, s, "out of memory");
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
        err_on(l, g, "each client must be a group { name = ...; public_key, uid or gid = ...; "
               "allow = [ ... ]; }");
        return;
    }
    check_group(l, g, client_keys, "a client");
    config_setting_t *name = member(g, "name", K_STRING), *who = NULL;
    if (!name) {
        if (!config_setting_get_member(g, "name"))
            err_on(l, g, "a client without 'name'");
        return;
    }
    const char *n = config_setting_get_string(name);
    if (!*n || strlen(n) > 64) {
        err_on(l, name, "a client's name must be 1 to 64 characters");
        return;
    }
    for (const config_client *o = c->clients; o; o = o->next)
        if (!strcmp(o->name, n)) {
            err_on(l, name, "client \"%s\" named twice", n);
            return;
        }
    int kind = 0;
    for (int i = 0; i < 3; i++) {
        config_setting_t *s = config_setting_get_member(g, who_keys[i]);
        if (!s)
            continue;
        if (who) {
            err_on(l, s, "client \"%s\" has both '%s' and '%s': give one", n,
                   config_setting_name(who), who_keys[i]);
            return;
        }
        who = s;
        kind = i + 1;
    }
    if (!who) {
        err_on(l, g, "client \"%s\" needs public_key (CURVE, tcp), uid or gid (ipc)", n);
        return;
    }
    config_client *cc = calloc(1, sizeof *cc);
    if (!cc || !(cc->name = strdup(n))) {
        client_entry_free(cc);
        err_on(l, g, "out of memory");
        return;
    }
    cc->kind = (enum who_kind)kind;
    int bad = 0;
    if (cc->kind == WHO_KEY) {
        const char *k = has_kind(who, K_STRING) ? config_setting_get_string(who) : NULL;
        if (!k) {
            bad = 1; /* check_group said it is not a string */
        } else if (strlen(k) != 40 || !zmq_z85_decode(cc->key, k)) {
            err_on(l, who, "client \"%s\": public_key must be 40 characters of Z85 "
                   "(as `pctl keygen` prints)", n);
            bad = 1;
        } else if (!c->curve) {
            err_on(l, who, "client \"%s\" has a public_key, but without broker.curve no client "
                   "speaks CURVE", n);
            bad = 1;
        }
    } else if (!has_kind(who, K_ID) ||
               get_id(l, who, who_keys[kind - 1], cc->kind == WHO_GID, &cc->id) < 0) {
        bad = 1;
    }
    for (const config_client *o = c->clients; o && !bad; o = o->next)
        if (o->kind == cc->kind &&
            (cc->kind == WHO_KEY ? !memcmp(o->key, cc->key, sizeof cc->key) : o->id == cc->id)) {
            err_on(l, who, "client \"%s\" has the %s of client \"%s\"", n, who_keys[kind - 1],
                   o->name);
            bad = 1;
        }
    config_setting_t *allow = member(g, "allow", K_ARRAY);
    int nr = allow ? config_setting_length(allow) : 0;
    if (nr > 0 && !(cc->rules = calloc((size_t)nr, sizeof *cc->rules))) {
        err_on(l, allow, "out of memory");
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
    check_group(l, g, security_keys, "security");
    c->secure = 1;
    config_setting_t *list = member(g, "clients", K_LIST);
    if (!list) {
        if (!config_setting_get_member(g, "clients"))
            err_on(l, g, "security needs 'clients' = ( ... ): without any, everyone is refused");
        return;
    }
    int n = config_setting_length(list);
    if (n == 0)
        err_on(l, list, "'clients' is empty: everyone would be refused");
    config_client **tail = &c->clients;
    for (int i = 0; i < n; i++)
        load_client(l, c, config_setting_get_elem(list, (unsigned)i), &tail);
}

/*
 * Reads broker.curve: the broker's key pair from secret_key_file, in the
 * format `pctl keygen` writes (public_key = "..."; secret_key = "...";).
 * A relative name is found beside the configuration file.
 */
static void load_curve(struct loader *l, config *c, const config_setting_t *g)
{
    check_group(l, g, curve_keys, "broker.curve");
    config_setting_t *s = member(g, "secret_key_file", K_STRING);
    if (!s) {
        if (!config_setting_get_member(g, "secret_key_file"))
            err_on(l, g, "'curve' needs secret_key_file = \"FILE\"; (a key pair from `pctl keygen`)");
        return;
    }
    char buf[4096];
    const char *name = config_setting_get_string(s);
    const char *file = name[0] == '/' || !l->dir ? name : (snprintf(buf, sizeof buf, "%s/%s", l->dir, name), buf);
    struct stat st;
    if (stat(file, &st) < 0) {
        err_on(l, s, "secret_key_file \"%s\": %s", file, strerror(errno));
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        err_on(l, s, "secret_key_file \"%s\": not a regular file", file);
        return;
    }
    if (st.st_mode & S_IROTH) {
        err_on(l, s, "secret_key_file \"%s\" is readable by everyone (mode %04o): chmod o-r it",
               file, (unsigned)(st.st_mode & 07777));
        return;
    }
    config_t kf;
    config_init(&kf);
    if (!config_read_file(&kf, file)) {
        if (config_error_type(&kf) == CONFIG_ERR_FILE_IO)
            err_on(l, s, "secret_key_file \"%s\": %s", file, strerror(errno ? errno : EIO));
        else
            err_at_file(l, file, config_error_line(&kf), "%s", config_error_text(&kf));
        config_destroy(&kf);
        return;
    }
    /* The key file's settings name it as their source already: no
     * directory may be put in front of it while they are judged. */
    const char *dir = l->dir;
    l->dir = NULL;
    const config_setting_t *root = config_root_setting(&kf);
    check_group(l, root, keyfile_keys, "a key file");
    config_setting_t *pub = member(root, "public_key", K_STRING);
    config_setting_t *sec = member(root, "secret_key", K_STRING);
    uint8_t raw[32];
    char derived[41];
    if (!sec) {
        err_at_file(l, file, 0, "no secret_key = \"...\"; here (give the .key file of `pctl "
                    "keygen`, not the .pub)");
    } else if (strlen(config_setting_get_string(sec)) != 40 ||
               !zmq_z85_decode(raw, config_setting_get_string(sec)) ||
               zmq_curve_public(derived, config_setting_get_string(sec)) != 0) {
        err_on(l, sec, "secret_key must be 40 characters of Z85");
    } else if (pub && strcmp(config_setting_get_string(pub), derived) != 0) {
        err_on(l, pub, "public_key does not belong to secret_key");
    } else {
        c->curve = 1;
        memcpy(c->curve_secret, config_setting_get_string(sec), 41);
        memcpy(c->curve_public, derived, 41);
    }
    memset(raw, 0, sizeof raw);
    l->dir = dir;
    config_destroy(&kf);
}

/* broker.ipc_mode: permission bits as an octal string ("0660"). */
static void load_ipc_mode(struct loader *l, config *c, const config_setting_t *s)
{
    const char *v = config_setting_get_string(s);
    char *end;
    size_t n = strlen(v);
    long mode = strtol(v, &end, 8);
    if (n < 3 || n > 4 || *end || mode < 0 || mode > 0777 || strspn(v, "01234567") != n) {
        err_on(l, s, "'ipc_mode' is \"%s\"; it must be permission bits in octal, like \"0660\"", v);
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
            err_on(l, s, "endpoint \"%s\": %s", c->endpoints[i], why);
        else if (where)
            err_on(l, where, "the default endpoint \"%s\": %s", c->endpoints[i], why);
        else
            err_at(l, 0, "the default endpoint \"%s\": %s", c->endpoints[i], why);
    }
    const char *names[2] = {"broker.gateway.xpub", "broker.gateway.xsub"};
    for (int i = 0; i < 2; i++) {
        const config_setting_t *s = config_lookup(cf, names[i]);
        if (s && config_setting_type(s) == CONFIG_TYPE_STRING &&
            (why = gateway_refusal(c, config_setting_get_string(s), &plain)))
            err_on(l, s, "gateway endpoint \"%s\": %s", config_setting_get_string(s), why);
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
            err_on(l, s, "'data_dir' is empty");
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
    if ((s = member(g, "curve", K_GROUP)))
        load_curve(l, c, s);
    if ((s = member(g, "insecure", K_BOOL)))
        c->insecure = config_setting_get_bool(s);
    if ((s = member(g, "ipc_mode", K_STRING)))
        load_ipc_mode(l, c, s);
    if ((s = member(g, "ipc_group", K_ID)))
        get_id(l, s, "ipc_group", 1, &c->ipc_gid);
    if ((s = member(g, "heartbeat_timeout_ms", K_INT)) && c->heartbeat_timeout_ms <= c->heartbeat_ms)
        err_on(l, s, "'heartbeat_timeout_ms' (%ld) must be longer than 'heartbeat_ms' (%ld)",
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
                err_on(l, e, "bad gateway endpoint \"%s\": %s",
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
        err_on(l, g, "each channel must be a group { name = ...; type = ...; }");
        return;
    }
    check_group(l, g, channel_keys, "a channel");
    config_setting_t *name = member(g, "name", K_STRING);
    if (!name) {
        if (!config_setting_get_member(g, "name"))
            err_on(l, g, "a channel without 'name'");
        return;
    }
    const char *n = config_setting_get_string(name);
    if (!ps__wire_valid_channel(n, strlen(n))) {
        err_on(l, name, "invalid channel name \"%s\" (1 to 255 of A-Z a-z 0-9 _ . -)", n);
        return;
    }
    for (const config_channel *o = c->channels; o; o = o->next)
        if (!strcmp(o->name, n)) {
            err_on(l, name, "channel \"%s\" declared twice", n);
            return;
        }
    int type = get_choice(l, g, "type", type_names);
    if (type == -1 && !config_setting_get_member(g, "type")) {
        err_on(l, g, "channel \"%s\" has no 'type' (queue, broadcast or pubsub)", n);
        return;
    }
    if (type < 0)
        return;
    config_channel *cc = calloc(1, sizeof *cc);
    if (!cc || !(cc->name = strdup(n))) {
        channel_free(cc);
        err_on(l, g, "out of memory");
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
            err_on(l, s, "'retain' is for pubsub channels; \"%s\" is a %s", n,
                   config_type_name(cc->type));
        cc->retain = config_setting_get_bool(s);
    }
    if ((s = member(g, "durable", K_BOOL))) {
        if (cc->type != CHAN_QUEUE)
            err_on(l, s, "'durable' is for queues; \"%s\" is a %s", n,
                   config_type_name(cc->type));
        cc->durable = config_setting_get_bool(s);
    }
    if ((s = member(g, "max_queued", K_INT)) && cc->type != CHAN_QUEUE)
        err_on(l, s, "'max_queued' is for queues; \"%s\" is a %s", n,
               config_type_name(cc->type));
    get_long(l, g, "max_queued", 1, 100000000, &cc->max_queued);
    if ((s = member(g, "slow_subscriber", K_STRING)) && cc->type == CHAN_QUEUE)
        err_on(l, s, "'slow_subscriber' is for broadcast and pubsub channels; "
               "a queue keeps messages for its consumers");
    int v = get_choice(l, g, "slow_subscriber", slow_choices);
    if (v >= 0)
        cc->slow = v == 0 ? SLOW_DROP : SLOW_BLOCK;
    if ((s = member(g, "overflow", K_STRING)) && cc->type != CHAN_QUEUE)
        err_on(l, s, "'overflow' is for queues; \"%s\" is a %s", n,
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
    c->ipc_mode = 0660;
    c->ipc_gid = -1;
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
        flush_errors(&l);
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
        err_at(&l, 0, "cannot read: %s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        /* libconfig would read a directory or a fifo to no good end. */
        err_at(&l, 0, "cannot read: not a regular file");
        goto out;
    }
    errno = 0;
    scan_file(&l, path, 0);
    if (l.abs_include)
        l.dir = NULL;
    if (l.dir)
        config_set_include_dir(&cf, l.dir);
    if (l.bad_include)
        goto out;
    if (!config_read_file(&cf, path)) {
        if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
            err_at(&l, 0, "cannot read: %s", strerror(errno ? errno : EIO));
        else {
            /* The error may be in an @include'd file: name that one. */
            char buf[4096];
            l.path = file_name(&l, config_error_file(&cf), buf, sizeof buf);
            err_at(&l, config_error_line(&cf), "%s", config_error_text(&cf));
            l.path = path;
        }
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
    if ((s = member(root, "security", K_GROUP)))
        load_security(&l, c, s);
    if (c->curve && !c->secure)
        err_on(&l, config_lookup(&cf, "broker.curve"),
               "'curve' needs a security section naming the clients' public keys "
               "(security.clients), or every client would be refused");
    check_endpoints(&l, c, &cf);
    c->path = strdup(path);
    if (!c->path)
        err_at(&l, 0, "out of memory");
out:
    config_destroy(&cf);
    flush_errors(&l);
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
