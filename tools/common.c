/*
 * common.c - the shared part of the command-line tools: option handling
 * for broker, timeout and CURVE keys, connecting, turning library errors
 * into exit codes and one-line messages, and format helpers.  Nothing here
 * knows the wire protocol; everything goes through pubsub.h.
 */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

const char *tool_name = "pubsub";

/* Z85 keys are 40 characters; key files are small. */
#define KEY_LEN 40
#define KEYFILE_MAX 4096

void tool_init(struct tool_opts *o, const char *name, int default_timeout)
{
    tool_name = name;
    memset(o, 0, sizeof *o);
    o->timeout_ms = default_timeout;
    o->name = name;
}

void tool_err(const char *fmt, ...)
{
    va_list ap;
    char line[2048];

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One write, so lines of parallel tools do not interleave. */
    fprintf(stderr, "%s: %s\n", tool_name, line);
}

int tool_usage_error(const char *fmt, ...)
{
    va_list ap;
    char line[1024];

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n", tool_name, line,
            tool_name);
    return EXIT_USAGE;
}

int tool_parse_long(const char *arg, long min, long max, const char *what, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || v < min || v > max) {
        tool_err("invalid %s '%s' (expected a number from %ld to %ld)", what, arg, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int tool_common_option(struct tool_opts *o, int opt, const char *arg,
                       void (*usage)(FILE *out))
{
    long v;

    switch (opt) {
    case 'b':
        o->broker = arg;
        return 1;
    case OPT_TIMEOUT:
        if (tool_parse_long(arg, 0, 86400000L, "timeout", &v) < 0)
            exit(EXIT_USAGE);
        o->timeout_ms = (int)v;
        o->timeout_set = 1;
        return 1;
    case OPT_CURVE_SERVER_KEY:
        o->curve_server_key = arg;
        return 1;
    case OPT_CURVE_KEY:
        o->curve_key = arg;
        return 1;
    case 'h':
        usage(stdout);
        exit(EXIT_DONE);
    case 'V':
        printf("%s (pubsub) %d.%d.%d, libpubsub %s\n", tool_name, PS_VERSION_MAJOR,
               PS_VERSION_MINOR, PS_VERSION_PATCH, ps_version());
        exit(EXIT_DONE);
    case '?':
        fprintf(stderr, "Try '%s --help' for more information.\n", tool_name);
        exit(EXIT_USAGE);
    default:
        return 0;
    }
}

/*
 * Finds `name = "VALUE";` in a libconfig-syntax key file and copies VALUE
 * (exactly KEY_LEN characters) to out.  Returns 0 or -1.
 */
static int keyfile_value(const char *text, const char *name, char out[KEY_LEN + 1])
{
    const char *p = text;
    size_t nl = strlen(name);

    while ((p = strstr(p, name)) != NULL) {
        const char *q = p + nl;
        /* The name must stand alone, not be part of a longer one. */
        if ((p != text && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) ||
            isalnum((unsigned char)*q) || *q == '_') {
            p = q;
            continue;
        }
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q != '=' && *q != ':') {
            p = q;
            continue;
        }
        q++;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q != '"')
            return -1;
        q++;
        const char *e = strchr(q, '"');
        if (!e || e - q != KEY_LEN)
            return -1;
        memcpy(out, q, KEY_LEN);
        out[KEY_LEN] = '\0';
        return 0;
    }
    return -1;
}

/* Reads a small key file into buf.  Returns 0, or -1 with errno. */
static int keyfile_read(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0;

    if (fd < 0)
        return -1;
    while (len + 1 < cap) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return 0;
}

/*
 * Sets the CURVE options from the command line or the environment.
 * Returns 0, or -1 after printing what is wrong.
 */
static int setup_curve(const struct tool_opts *o, ps_opts *po)
{
    const char *server = o->curve_server_key ? o->curve_server_key : getenv("PUBSUB_CURVE_SERVER_KEY");
    const char *keyfile = o->curve_key ? o->curve_key : getenv("PUBSUB_CURVE_KEY");
    char text[KEYFILE_MAX];
    char server_pub[KEY_LEN + 1], pub[KEY_LEN + 1], sec[KEY_LEN + 1];

    if (server && !*server)
        server = NULL;
    if (keyfile && !*keyfile)
        keyfile = NULL;
    if (!server && !keyfile)
        return 0;
    if (!server) {
        tool_err("--curve-key needs the broker's key too (--curve-server-key or $PUBSUB_CURVE_SERVER_KEY)");
        return -1;
    }
    /* A 40-character argument that is not a file is the key itself. */
    if (strlen(server) == KEY_LEN && access(server, F_OK) != 0) {
        memcpy(server_pub, server, KEY_LEN + 1);
    } else if (keyfile_read(server, text, sizeof text) < 0) {
        tool_err("cannot read broker key file '%s': %s", server, strerror(errno));
        return -1;
    } else if (keyfile_value(text, "public_key", server_pub) < 0) {
        tool_err("no public_key = \"...\"; (40 characters Z85) in '%s'", server);
        return -1;
    }
    if (keyfile) {
        if (keyfile_read(keyfile, text, sizeof text) < 0) {
            tool_err("cannot read key file '%s': %s", keyfile, strerror(errno));
            return -1;
        }
        if (keyfile_value(text, "public_key", pub) < 0 ||
            keyfile_value(text, "secret_key", sec) < 0) {
            tool_err("key file '%s' needs public_key and secret_key (Z85, 40 characters)", keyfile);
            return -1;
        }
    } else if (zmq_curve_keypair(pub, sec) != 0) {
        /* A client without a key of its own uses a fresh one for this run. */
        tool_err("cannot make a CURVE key pair: %s", zmq_strerror(errno));
        return -1;
    }
    if (ps_opts_set_str(po, PS_OPT_CURVE_SERVER_KEY, server_pub) < 0 ||
        ps_opts_set_str(po, PS_OPT_CURVE_PUBLIC_KEY, pub) < 0 ||
        ps_opts_set_str(po, PS_OPT_CURVE_SECRET_KEY, sec) < 0) {
        tool_err("invalid CURVE key: %s", ps_strerror(errno));
        return -1;
    }
    return 0;
}

ps_client *tool_connect(const struct tool_opts *o, int *exit_code)
{
    const char *endpoint = o->broker;
    ps_opts *po = ps_opts_new();
    ps_client *c = NULL;
    int err;

    if (!endpoint || !*endpoint)
        endpoint = getenv("PUBSUB_BROKER");
    if (!endpoint || !*endpoint)
        endpoint = PS_DEFAULT_ENDPOINT;
    if (!po) {
        tool_err("out of memory");
        *exit_code = EXIT_USAGE;
        return NULL;
    }
    if (o->timeout_set && o->timeout_ms > 0)
        ps_opts_set_int(po, PS_OPT_TIMEOUT_MS, o->timeout_ms);
    if (o->name)
        ps_opts_set_str(po, PS_OPT_NAME, o->name);
    if (o->window > 0)
        ps_opts_set_int(po, PS_OPT_WINDOW, o->window);
    if (o->explain)
        ps_opts_set_trace(po, tool_explain_event, NULL);
    if (setup_curve(o, po) < 0) {
        *exit_code = EXIT_USAGE;
        goto out;
    }
    c = ps_connect(endpoint, po);
    if (!c) {
        err = errno;
        if (err == EINVAL) {
            tool_err("invalid broker endpoint '%s' (expected tcp://HOST:PORT or ipc:///PATH)", endpoint);
            *exit_code = EXIT_USAGE;
        } else if (err == PS_EVERSION) {
            const char *why = ps_errmsg(NULL);
            tool_err("broker at %s speaks another protocol version%s%s", endpoint,
                     why ? ": " : "", why ? why : "");
            *exit_code = EXIT_UNREACH;
        } else if (err == ECONNREFUSED && ps_errmsg(NULL)) {
            /* The security handshake failed: the library says how. */
            tool_err("cannot connect to %s: %s", endpoint, ps_errmsg(NULL));
            *exit_code = EXIT_UNREACH;
        } else if (err == EHOSTUNREACH || err == ETIMEDOUT || err == ECONNREFUSED) {
            tool_err("cannot reach broker at %s", endpoint);
            *exit_code = EXIT_UNREACH;
        } else {
            const char *why = ps_errmsg(NULL); /* the broker's own reason */
            tool_err("cannot connect to %s: %s", endpoint, why ? why : ps_strerror(err));
            *exit_code = tool_exit_code(err);
        }
    }
out:
    ps_opts_destroy(&po);
    return c;
}

int tool_exit_code(int err)
{
    switch (err) {
    case 0:
        return EXIT_DONE;
    case EHOSTUNREACH:
    case ECONNREFUSED:
    case ENOTCONN:
    case PS_EVERSION:
        return EXIT_UNREACH;
    case ETIMEDOUT:
    case PS_ENORESP:
    case PS_EPARTIAL:
        return EXIT_TIMEOUT;
    case ENOENT:
    case EPROTOTYPE:
    case EMSGSIZE:
    case EACCES:
    case EPERM:
    case ENOBUFS:
    case EINVAL:
    case EPROTO:
    case PS_EREPLY:
        return EXIT_REFUSED;
    default:
        return EXIT_USAGE;
    }
}

int tool_fail(ps_client *c, int err, const char *channel)
{
    const char *bt = c ? ps_errmsg(c) : NULL;
    char what[512];
    const char *ch = channel ? channel : "";

    switch (err) {
    case ENOENT:
        snprintf(what, sizeof what, "unknown channel '%s'", ch);
        break;
    case EPROTOTYPE:
        snprintf(what, sizeof what, "wrong channel type for this on '%s'", ch);
        break;
    case EMSGSIZE:
        snprintf(what, sizeof what, "message too large for '%s'", ch);
        break;
    case EACCES:
    case EPERM:
        if (channel)
            snprintf(what, sizeof what, "not allowed on '%s'", ch);
        else
            snprintf(what, sizeof what, "not allowed");
        break;
    case ENOBUFS:
        snprintf(what, sizeof what, "'%s' is full (limit reached)", ch);
        break;
    case EINVAL:
        snprintf(what, sizeof what, "invalid channel name, topic or pattern for '%s'", ch);
        break;
    case PS_ENORESP:
        snprintf(what, sizeof what, "no responders on '%s'", ch);
        break;
    case ETIMEDOUT:
        snprintf(what, sizeof what, "timed out on '%s'", ch);
        break;
    case EHOSTUNREACH:
    case ENOTCONN:
        snprintf(what, sizeof what, "lost the broker");
        break;
    default:
        if (channel)
            snprintf(what, sizeof what, "%s on '%s'", ps_strerror(err), ch);
        else
            snprintf(what, sizeof what, "%s", ps_strerror(err));
        break;
    }
    /* The broker's own words add detail, unless they say the same. */
    if (bt && *bt && strcmp(bt, what) != 0)
        tool_err("%s: %s", what, bt);
    else
        tool_err("%s", what);
    return tool_exit_code(err);
}

int tool_utf8_valid(const void *data, size_t n)
{
    const unsigned char *s = data;
    size_t i = 0;

    while (i < n) {
        unsigned char b = s[i];
        size_t len;
        uint32_t cp;

        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            len = 2;
            cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3;
            cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* Overlong forms, surrogates and values above U+10FFFF are invalid. */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

char *tool_base64(const void *data, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = data;
    char *out, *p;
    size_t i;

    if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    out = malloc((n + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    p = out;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *p++ = tab[v >> 18];
        *p++ = tab[(v >> 12) & 63];
        *p++ = tab[(v >> 6) & 63];
        *p++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *p++ = tab[v >> 18];
        *p++ = tab[(v >> 12) & 63];
        *p++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *p++ = '=';
    }
    *p = '\0';
    return out;
}

/* Skips one run of non-blanks and the blanks after it; NULL at the end. */
static const char *skip_word(const char *p, const char *end)
{
    while (p < end && *p != ' ' && *p != '\t')
        p++;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p < end ? p : NULL;
}

/* Copies src[0..n) to dst at *pos, making '+', '#' and '/' harmless. */
static int topic_add(char *dst, size_t cap, size_t *pos, const char *src, size_t n)
{
    if (n == 0 || *pos + n + 1 > cap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = src[i];
        if (ch == '+' || ch == '#' || ch == '/' || (unsigned char)ch < 0x20)
            ch = '_';
        dst[(*pos)++] = ch;
    }
    dst[*pos] = '\0';
    return 0;
}

int tool_syslog_topic(const char *line, size_t n, char *topic, size_t cap)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *p = line, *end = line + n;
    const char *host, *hend, *prog, *pend;
    size_t pos = 0;

    /* An optional "<PRI>" as sent on the wire. */
    if (p < end && *p == '<') {
        const char *q = memchr(p, '>', (size_t)(end - p));
        if (!q || q - p > 4)
            return -1;
        p = q + 1;
    }
    if (end - p >= 16 && p[3] == ' ') {
        /* BSD time stamp: "Sep 19 14:20:18" (day may be space-padded). */
        int known = 0;
        for (int m = 0; m < 12; m++)
            if (memcmp(p, months + 3 * m, 3) == 0)
                known = 1;
        if (!known)
            return -1;
        p += 4;
        while (p < end && *p == ' ')
            p++;
        if (!(p = skip_word(p, end)))                 /* day */
            return -1;
        if (end - p < 8 || p[2] != ':' || p[5] != ':') /* time */
            return -1;
        if (!(p = skip_word(p, end)))
            return -1;
    } else if (end - p >= 10 && isdigit((unsigned char)p[0]) && p[4] == '-' && p[7] == '-') {
        /* RFC 3339 time stamp: "2024-09-19T14:20:18.123+02:00". */
        if (!(p = skip_word(p, end)))
            return -1;
    } else {
        return -1;
    }
    host = p;
    hend = host;
    while (hend < end && *hend != ' ' && *hend != '\t')
        hend++;
    if (hend == host || hend >= end)
        return -1;
    prog = hend;
    while (prog < end && (*prog == ' ' || *prog == '\t'))
        prog++;
    pend = prog;
    while (pend < end && *pend != '[' && *pend != ':' && *pend != ' ' && *pend != '\t')
        pend++;
    /* The program name ends with "[pid]:" or ":". */
    if (pend >= end || (*pend != '[' && *pend != ':'))
        return -1;
    if (*pend == '[') {
        const char *q = memchr(pend, ']', (size_t)(end - pend));
        if (!q || q + 1 >= end || q[1] != ':')
            return -1;
    }
    for (const char *s = prog; s < pend; s++)
        if (*s == '/')
            prog = s + 1;
    if (topic_add(topic, cap, &pos, host, (size_t)(hend - host)) < 0 || pos + 2 > cap)
        return -1;
    topic[pos++] = '/';
    topic[pos] = '\0';
    if (topic_add(topic, cap, &pos, prog, (size_t)(pend - prog)) < 0)
        return -1;
    return 0;
}

int tool_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;

    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int64_t tool_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
