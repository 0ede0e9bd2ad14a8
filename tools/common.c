/*
 * common.c - the shared part of the command-line tools: option handling
 * for broker, timeout, client name and CURVE keys (with suggestions for
 * mistyped options), connecting (after a quick look at the endpoint, so a
 * refused or missing one is named at once), the session watch of psub -v,
 * turning library errors into exit codes and one-line messages, and
 * format helpers.  Nothing here knows the wire protocol; everything goes
 * through pubsub.h.
 */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
    case 'i':
        if (!*arg) {
            tool_usage_error("empty client name (-i NAME)");
            exit(EXIT_USAGE);
        }
        o->name = arg;
        return 1;
    case 'H':
        o->host = arg;
        return 1;
    case 'p':
        if (tool_parse_long(arg, 1, 65535, "port", &v) < 0)
            exit(EXIT_USAGE);
        o->port = arg;
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
 * The edit distance of a and b (insertions, deletions, substitutions and
 * swaps of neighbours), or a number above limit when it is larger.
 */
static size_t edit_distance(const char *a, const char *b, size_t limit)
{
    enum { W = 64 };
    size_t la = strlen(a), lb = strlen(b);
    size_t d[3][W + 1];

    if (la > W || lb > W || (la > lb ? la - lb : lb - la) > limit)
        return limit + 1;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *cur = d[i % 3], *prev = d[(i - 1) % 3], *prev2 = d[(i + 1) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t best = prev[j - 1] + cost;
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
    }
    return d[la % 3][lb];
}

const char *tool_suggest(const char *word, const char *const *words)
{
    /* Short words tolerate one mistake, longer ones two. */
    size_t limit = strlen(word) <= 4 ? 1 : 2, best_d = limit + 1;
    const char *best = NULL;

    for (size_t i = 0; words[i]; i++) {
        size_t dist = edit_distance(word, words[i], limit);
        if (dist < best_d) {
            best_d = dist;
            best = words[i];
        }
    }
    return best;
}

int tool_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    char spec[128];
    int opt;

    /* A leading ':' makes a missing argument ':' rather than '?'. */
    snprintf(spec, sizeof spec, ":%s", shortopts);
    opterr = 0;
    opt = getopt_long(argc, argv, spec, longopts, NULL);
    if (opt != '?' && opt != ':')
        return opt;

    const char *arg = argv[optind - 1];
    if (opt == ':') {
        if (optopt && strncmp(arg, "--", 2) != 0)
            tool_usage_error("option -%c needs a value", optopt);
        else
            tool_usage_error("option %s needs a value", arg);
        exit(EXIT_USAGE);
    }
    if (optopt && strncmp(arg, "--", 2) != 0) {
        tool_usage_error("unknown option -%c", optopt);
        exit(EXIT_USAGE);
    }
    /* A long option: unknown, or a prefix of more than one. */
    char name[80];
    const char *names[128];
    size_t n = 0, nl, matches = 0;
    char both[200] = "";

    snprintf(name, sizeof name, "%s", arg + 2);
    name[strcspn(name, "=")] = '\0';
    nl = strlen(name);
    for (const struct option *lo = longopts; lo->name && n + 1 < sizeof names / sizeof *names; lo++) {
        names[n++] = lo->name;
        if (nl && strncmp(lo->name, name, nl) == 0) {
            size_t len = strlen(both);
            snprintf(both + len, sizeof both - len, "%s--%s", matches++ ? ", " : "", lo->name);
        }
    }
    names[n] = NULL;
    if (matches > 1) {
        tool_usage_error("ambiguous option --%s (%s)", name, both);
    } else {
        const char *near = tool_suggest(name, names);
        if (near)
            tool_usage_error("unknown option --%s; did you mean --%s?", name, near);
        else
            tool_usage_error("unknown option --%s", name);
    }
    exit(EXIT_USAGE);
}

const char *tool_endpoint(const struct tool_opts *o)
{
    /* The endpoint -H and -p make; one per process, like the options. */
    static char made[300];
    const char *endpoint = o->broker;

    if (o->host || o->port) {
        const char *host = o->host ? o->host : "127.0.0.1";
        /* An IPv6 address needs its brackets in a ZeroMQ endpoint. */
        int v6 = strchr(host, ':') && host[0] != '[';
        snprintf(made, sizeof made, "tcp://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
                 o->port ? o->port : "5242");
        return made;
    }
    if (!endpoint || !*endpoint)
        endpoint = getenv("PUBSUB_BROKER");
    if (!endpoint || !*endpoint)
        endpoint = PS_DEFAULT_ENDPOINT;
    return endpoint;
}

/* True when s[0..n) is a channel name: 1..255 of [A-Za-z0-9_.-]. */
static int channel_name(const char *s, size_t n)
{
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return 0;
    return 1;
}

int tool_split_channel(const char *arg, char **channel, const char **topic)
{
    const char *colon = strchr(arg, ':');

    if (!colon || !channel_name(arg, (size_t)(colon - arg)))
        return 0;
    *channel = strndup(arg, (size_t)(colon - arg));
    if (!*channel)
        return -1;
    *topic = colon + 1;
    return 1;
}

int tool_channel_type(ps_client *c, const char *channel, int timeout_ms, char *type, size_t cap)
{
    char *text = NULL;
    json_t *doc, *row;
    size_t i;
    int rc = 1;

    if (ps_admin(c, "channels", timeout_ms, &text) < 0)
        return -1;
    doc = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_array(doc)) {
        json_decref(doc);
        return -1;
    }
    json_array_foreach(doc, i, row) {
        const char *name = json_string_value(json_object_get(row, "name"));
        const char *t = json_string_value(json_object_get(row, "type"));
        if (name && t && strcmp(name, channel) == 0) {
            snprintf(type, cap, "%s", t);
            rc = 0;
            break;
        }
    }
    json_decref(doc);
    return rc;
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

/*
 * Looks whether anything listens at endpoint before the handshake is
 * tried: a refused tcp connection or a missing ipc socket is known at
 * once, where the handshake would wait out its whole timeout, and the
 * reason can be named.  Returns 0 when something accepted the connection
 * or when the probe cannot tell (a name it cannot resolve, an endpoint
 * form it does not know); else -1 with the reason in why[cap].
 */
static int probe_endpoint(const char *endpoint, int timeout_ms, char *why, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    int fd, err = 0;

    if (strncmp(endpoint, "ipc://", 6) == 0) {
        const char *path = endpoint + 6;
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        struct stat st;
        /* Abstract sockets ("ipc://@name") have no file to look at. */
        if (*path == '@' || strlen(path) >= sizeof un->sun_path)
            return 0;
        if (stat(path, &st) < 0) {
            if (errno == ENOENT)
                snprintf(why, cap, "no such file: %s", endpoint);
            else
                snprintf(why, cap, "%s: %s", strerror(errno), endpoint);
            return -1;
        }
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(why, cap, "not a socket: %s", endpoint);
            return -1;
        }
        memset(un, 0, sizeof *un);
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, strlen(path) + 1);
        sslen = sizeof *un;
    } else if (strncmp(endpoint, "tcp://", 6) == 0) {
        char host[256];
        const char *hp = endpoint + 6, *colon = strrchr(hp, ':');
        size_t hl = colon ? (size_t)(colon - hp) : 0;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai;
        if (!colon || hl == 0 || hl >= sizeof host || memchr(hp, ';', hl))
            return 0;
        /* "[::1]" is the IPv6 address ::1. */
        if (hp[0] == '[' && hp[hl - 1] == ']') {
            hp++;
            hl -= 2;
        }
        memcpy(host, hp, hl);
        host[hl] = '\0';
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
            return 0;
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        sslen = ai->ai_addrlen;
        freeaddrinfo(ai);
    } else {
        return 0;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    if (connect(fd, (struct sockaddr *)&ss, sslen) < 0) {
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            socklen_t len = sizeof err;
            int n;
            while ((n = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
                ;
            if (n == 0)
                err = ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = 0;
        }
    }
    close(fd);
    switch (err) {
    case 0:
    case EAGAIN: /* an ipc listener with a full backlog is there all the same */
        return 0;
    case ECONNREFUSED:
        snprintf(why, cap, "connection refused at %s", endpoint);
        return -1;
    case ETIMEDOUT:
        snprintf(why, cap, "no answer from %s within %d ms", endpoint, timeout_ms);
        return -1;
    default:
        snprintf(why, cap, "%s at %s", strerror(err), endpoint);
        return -1;
    }
}

/*
 * The trace function of a client: --explain's trace, and for a tool that
 * watches its session (psub -v) a line when the session is lost and one
 * when it is back, with when and for how long.
 */
static void trace_event(const ps_event *ev, void *arg)
{
    /* The session's state as the trace saw it; events of one client come
     * under its lock, so these need no lock of their own. */
    static int64_t lost_us;
    static int lost;
    const struct tool_opts *o = arg;

    if (o->explain)
        tool_explain_event(ev, NULL);
    if (!o->watch_session)
        return;
    if (ev->type == PS_EV_LOST && !lost) {
        char when[32];
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(when, sizeof when, "%H:%M:%S", &tm);
        lost = 1;
        lost_us = ev->time_us;
        fprintf(stderr, "%s: session lost at %s (%.*s); reconnecting\n", tool_name, when,
                (int)ev->text_len, ev->text ? ev->text : "");
    } else if (ev->type == PS_EV_RECEIVED && lost && ev->command &&
               strcmp(ev->command, "WELCOME") == 0) {
        lost = 0;
        fprintf(stderr, "%s: session back after %.1f s; what was published meanwhile was not "
                "received\n", tool_name, (double)(ev->time_us - lost_us) / 1e6);
    }
}

ps_client *tool_connect(const struct tool_opts *o, int *exit_code)
{
    const char *endpoint = tool_endpoint(o);
    /* The library's own connect timeout unless --timeout says otherwise. */
    int timeout_ms = o->timeout_set && o->timeout_ms > 0 ? o->timeout_ms : 3000;
    ps_opts *po = ps_opts_new();
    ps_client *c = NULL;
    char why[600];
    int err;

    if (!po) {
        tool_err("out of memory");
        *exit_code = EXIT_USAGE;
        return NULL;
    }
    if (o->timeout_set && o->timeout_ms > 0)
        ps_opts_set_int(po, PS_OPT_TIMEOUT_MS, o->timeout_ms);
    /* A publisher paused by a full "block" queue waits for it like a
     * writer into a full pipe, unless --timeout bounds it: a tool does
     * not consume the queue it publishes to, so waiting cannot hold up
     * the consumer that would make room. */
    ps_opts_set_int(po, PS_OPT_PAUSE_WAIT_MS, o->timeout_set ? o->timeout_ms : -1);
    if (o->name)
        ps_opts_set_str(po, PS_OPT_NAME, o->name);
    if (o->window > 0)
        ps_opts_set_int(po, PS_OPT_WINDOW, o->window);
    if (o->explain || o->watch_session)
        ps_opts_set_trace(po, trace_event, (void *)o);
    if (setup_curve(o, po) < 0) {
        *exit_code = EXIT_USAGE;
        goto out;
    }
    if (probe_endpoint(endpoint, timeout_ms, why, sizeof why) < 0) {
        tool_err("cannot reach broker: %s", why);
        *exit_code = EXIT_UNREACH;
        goto out;
    }
    c = ps_connect(endpoint, po);
    if (!c) {
        err = errno;
        if (err == EINVAL) {
            tool_err("invalid broker endpoint '%s' (expected tcp://HOST:PORT or ipc:///PATH)", endpoint);
            *exit_code = EXIT_USAGE;
        } else if (err == PS_EVERSION) {
            const char *msg = ps_errmsg(NULL);
            tool_err("broker at %s speaks another protocol version%s%s", endpoint,
                     msg ? ": " : "", msg ? msg : "");
            *exit_code = EXIT_UNREACH;
        } else if (err == ECONNREFUSED && ps_errmsg(NULL)) {
            /* The security handshake failed: the library says how. */
            tool_err("cannot connect to %s: %s", endpoint, ps_errmsg(NULL));
            *exit_code = EXIT_UNREACH;
        } else if (err == ECONNREFUSED) {
            tool_err("cannot reach broker: connection refused at %s", endpoint);
            *exit_code = EXIT_UNREACH;
        } else if (err == EHOSTUNREACH || err == ETIMEDOUT) {
            /* Something took the connection but never answered HELLO. */
            tool_err("cannot reach broker: no answer from %s within %d ms", endpoint, timeout_ms);
            *exit_code = EXIT_UNREACH;
        } else {
            const char *msg = ps_errmsg(NULL); /* the broker's own reason */
            tool_err("cannot connect to %s: %s", endpoint, msg ? msg : ps_strerror(err));
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
        /* One code covers a full queue, a limit and a store that cannot
         * write: the broker's reason says which, so it stands alone. */
        if (bt && *bt)
            snprintf(what, sizeof what, "%s", bt);
        else
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
    /* The broker's own words add detail; when they begin with ours, they
     * are the whole line. */
    if (bt && *bt && strncmp(bt, what, strlen(what)) == 0)
        tool_err("%s", bt);
    else if (bt && *bt)
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
