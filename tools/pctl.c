/*
 * pctl - looks at a running broker (status, channels, clients,
 * subscriptions), changes its channels at run time (create, delete,
 * purge, retained [--clear]), watches it live (top), measures the round
 * trip to it (ping) and makes CURVE key pairs (keygen).
 *
 * The broker answers the first three with JSON (ps_admin); --json prints
 * it as it came, otherwise pctl shows it as a table or a list of fields,
 * without assuming more of its shape than "object" or "array of objects".
 * top asks for status, channels and clients again and again and computes
 * the rates from the difference of two answers, on the client side.
 */
#include "common.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* Columns a table shows at most. */
#define COLS_MAX 32
/* Bytes of an ADMIN verb: the protocol's text limit and its NUL. */
#define PS_VERB_MAX 1025
/* Characters a table cell shows at most. */
#define CELL_MAX 64
/* Length of a key file name. */
#define PATH_MAX_KEY 4096

enum {
    OPT_JSON = OPT_TOOL_BASE, /* --json */
    OPT_FORCE,                /* --force */
    OPT_TYPE,                 /* --type */
    OPT_DURABLE,              /* --durable */
    OPT_MAX_QUEUED,           /* --max-queued */
    OPT_OVERFLOW,             /* --overflow */
    OPT_SLOW,                 /* --slow-subscriber */
    OPT_NO_RETAIN,            /* --no-retain */
    OPT_CLEAR                 /* --clear */
};

/* The commands, for the "did you mean" of a mistyped one. */
static const char *const commands[] = {"status", "channels", "clients", "cluster", "subscriptions",
                                       "top", "ping", "keygen", "create", "delete", "purge",
                                       "retained", NULL};

/* The options of create, as the broker's ADMIN verb words them. */
struct create_opts {
    const char *type;        /* --type: queue, broadcast or pubsub */
    int durable;             /* --durable */
    const char *max_queued;  /* --max-queued N, or NULL */
    const char *overflow;    /* --overflow refuse|block, or NULL */
    const char *slow;        /* --slow-subscriber drop|block, or NULL */
    int no_retain;           /* --no-retain */
    int given;               /* any of them was given */
};
/* Channels and clients pctl top shows at most (the busiest). */
#define TOP_ROWS 20

static void usage(FILE *out)
{
    fprintf(out,
"Usage: pctl [OPTION]... COMMAND\n"
"Inspect and control a pubsub broker.\n"
"\n"
"Commands:\n"
"  status                   the broker's id, uptime, endpoints and counters\n"
"  channels                 every channel with its type and counters\n"
"  clients                  every connected client: its address, user,\n"
"                           channels and patterns\n"
"  subscriptions            every subscription: client, channel, pattern,\n"
"                           responder, unacknowledged and dropped messages\n"
"  create NAME --type TYPE  create a channel now: TYPE queue, broadcast or\n"
"                           pubsub, with --durable, --max-queued N,\n"
"                           --overflow refuse|block (queues),\n"
"                           --slow-subscriber drop|block, --no-retain (pubsub);\n"
"                           it lasts until deleted or the broker restarts\n"
"  delete NAME              delete a channel: its subscribers are detached, its\n"
"                           messages, retained values and store dropped\n"
"  purge NAME               drop the messages waiting in a queue\n"
"  retained NAME [PATTERN]  list the retained topics of a pubsub channel that\n"
"                           match PATTERN (default #); with --clear, clear them\n"
"  cluster                  the broker's cluster links: each peer's state (up,\n"
"                           connecting, down, refused), round-trip time,\n"
"                           interest in and out, messages, bytes, drops, gaps;\n"
"                           {\"cluster\":null} without a cluster section; with\n"
"                           cluster.raft the Raft group: term, leader, commit\n"
"                           and applied index, each voter's lag on the leader\n"
"  top                      a live table, refreshed every -d SECS: the broker's\n"
"                           rates in and out, the channels with messages in per\n"
"                           second, queued, unacked, dropped per second,\n"
"                           retained and subscribers, and the clients with the\n"
"                           most unacknowledged and pending; one table and exit\n"
"                           when stdout is not a terminal or with -n 1\n"
"                           (with security, all of these but ping need the\n"
"                           'admin' right)\n"
"  ping                     measure the round trip to the broker:\n"
"                           \"pong from ENDPOINT in 0.123 ms\"\n"
"  keygen NAME              make a CURVE key pair: NAME.key (public and secret\n"
"                           key, mode 0600) and NAME.pub (public key only), in\n"
"                           libconfig syntax (public_key = \"...\"; secret_key =\n"
"                           \"...\";), and print the public key; the broker needs\n"
"                           no connection for this\n"
"\n"
"Options:\n"
"      --json               print the broker's answer as JSON, one line (ping:\n"
"                           {\"endpoint\":...,\"rtt_ms\":...} a line; top: one\n"
"                           object a table; keygen:\n"
"                           {\"public_key\":...,\"key_file\":...,\"pub_file\":...})\n"
"  -n, --count N            ping: N round trips, one line each (default 1);\n"
"                           top: N tables, then exit (default: until\n"
"                           interrupted on a terminal, else 1)\n"
"  -d, --delay SECS         top: seconds between two tables (default 1; may be\n"
"                           a fraction such as 0.5)\n"
"      --force              keygen: replace existing key files\n"
"      --type TYPE          create: queue, broadcast or pubsub\n"
"      --durable            create: a queue kept on disk\n"
"      --max-queued N       create: a queue's messages at most (default 100000)\n"
"      --overflow POLICY    create: a full queue's publishers are refused\n"
"                           (refuse, the default) or wait (block)\n"
"      --slow-subscriber POLICY\n"
"                           create: a slow receiver loses messages (drop, the\n"
"                           default) or slows publishers (block)\n"
"      --no-retain          create: a pubsub channel without retained values\n"
"      --clear              retained: clear the retained values listed\n"
"      --timeout MS         how long to wait for the broker (default 5000)\n"
TOOL_CLIENT_HELP
TOOL_COMMON_HELP
"\n"
TOOL_EXIT_HELP);
}

/* Formats one JSON value as a short text for a table cell or a field. */
static void cell_text(json_t *v, char *buf, size_t cap)
{
    char *dump;

    switch (json_typeof(v)) {
    case JSON_STRING:
        /* Patterns, topics and names are a client's choice: shown to a
         * person, no control character of theirs reaches the terminal. */
        ps__printable(buf, cap, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(buf, cap, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        snprintf(buf, cap, "yes");
        break;
    case JSON_FALSE:
        snprintf(buf, cap, "no");
        break;
    case JSON_NULL:
        snprintf(buf, cap, "-");
        break;
    default:
        /* Lists of endpoints and the like: strings joined by commas. */
        if (json_is_array(v)) {
            size_t i, pos = 0;
            json_t *e;
            int simple = 1;
            buf[0] = '\0';
            json_array_foreach(v, i, e) {
                char one[256];
                if (json_is_object(e) || json_is_array(e)) {
                    simple = 0;
                    break;
                }
                cell_text(e, one, sizeof one);
                int w = snprintf(buf + pos, cap - pos, "%s%s", i ? "," : "", one);
                if (w < 0 || (size_t)w >= cap - pos)
                    break;
                pos += (size_t)w;
            }
            if (simple)
                break;
        }
        dump = json_dumps(v, JSON_COMPACT);
        ps__printable(buf, cap, dump ? dump : "?", dump ? strlen(dump) : 1);
        free(dump);
        break;
    }
}

/* Prints an object as "key: value" lines, nested objects indented. */
static void print_fields(json_t *obj, int indent)
{
    const char *key;
    json_t *v;
    size_t width = 0;

    json_object_foreach(obj, key, v) {
        if (strlen(key) > width)
            width = strlen(key);
    }
    json_object_foreach(obj, key, v) {
        if (json_is_object(v)) {
            printf("%*s%s:\n", indent, "", key);
            print_fields(v, indent + 2);
        } else {
            char text[1024];
            cell_text(v, text, sizeof text);
            printf("%*s%-*s  %s\n", indent, "", (int)width + 1, key, text);
        }
    }
}

/* Prints an array of objects as a table with one column per key. */
static void print_table(json_t *arr, const char *what)
{
    const char *cols[COLS_MAX];
    size_t widths[COLS_MAX];
    size_t ncol = 0, i;
    json_t *row, *v;
    const char *key;
    char text[CELL_MAX + 1];

    if (json_array_size(arr) == 0) {
        printf("no %s\n", what);
        return;
    }
    /* The columns are the keys in order of first appearance. */
    json_array_foreach(arr, i, row) {
        if (!json_is_object(row))
            continue;
        json_object_foreach(row, key, v) {
            size_t k;
            for (k = 0; k < ncol && strcmp(cols[k], key) != 0; k++)
                ;
            if (k == ncol && ncol < COLS_MAX) {
                cols[ncol] = key;
                widths[ncol] = strlen(key);
                ncol++;
            }
        }
    }
    json_array_foreach(arr, i, row) {
        for (size_t k = 0; k < ncol; k++) {
            v = json_object_get(row, cols[k]);
            cell_text(v ? v : json_null(), text, sizeof text);
            if (strlen(text) > widths[k])
                widths[k] = strlen(text);
        }
    }
    for (size_t k = 0; k < ncol; k++) {
        for (const char *p = cols[k]; *p; p++)
            putchar(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        printf("%*s", k + 1 < ncol ? (int)(widths[k] - strlen(cols[k]) + 2) : 0, "");
    }
    putchar('\n');
    json_array_foreach(arr, i, row) {
        for (size_t k = 0; k < ncol; k++) {
            v = json_object_get(row, cols[k]);
            cell_text(v ? v : json_null(), text, sizeof text);
            if (k + 1 < ncol)
                printf("%-*s  ", (int)widths[k], text);
            else
                printf("%s", text);
        }
        putchar('\n');
    }
}

/* Asks the broker for verb; the JSON text in *text.  Returns the exit code. */
static int admin_get(ps_client *c, const char *verb, int timeout_ms, char **text)
{
    if (ps_admin(c, verb, timeout_ms, text) == 0)
        return EXIT_DONE;
    int err = errno;
    if (err == ETIMEDOUT) {
        tool_err("no answer to '%s' within %d ms", verb, timeout_ms);
        return EXIT_TIMEOUT;
    }
    if (err == EHOSTUNREACH) {
        tool_err("lost the broker");
        return EXIT_UNREACH;
    }
    /* The broker's sentence names the channel and what is wrong with it. */
    const char *why = ps_errmsg(c);
    if (why && *why && err != EACCES) {
        tool_err("%s", why);
        return tool_exit_code(err);
    }
    return tool_fail(c, err, NULL);
}

/* Runs an admin verb and shows its answer (what names the rows of an
 * empty table).  Returns the exit code. */
static int cmd_admin(ps_client *c, const char *verb, const char *what, int timeout_ms,
                     int as_json)
{
    char *text = NULL;
    json_t *doc;
    json_error_t jerr;
    int rc = admin_get(c, verb, timeout_ms, &text);

    if (rc != EXIT_DONE)
        return rc;
    if (as_json) {
        /* One line, whatever whitespace the broker used. */
        doc = json_loads(text, 0, &jerr);
        if (doc) {
            char *line = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
            puts(line ? line : text);
            free(line);
            json_decref(doc);
        } else {
            puts(text);
        }
        free(text);
        return EXIT_DONE;
    }
    doc = json_loads(text, 0, &jerr);
    if (!doc) {
        tool_err("the broker's answer is not JSON (%s): %s", jerr.text, text);
        free(text);
        return EXIT_USAGE;
    }
    json_t *peers = json_object_get(doc, "peers");
    if (json_is_object(doc) && json_is_array(peers)) {
        /* cluster: the node's fields, then a table of its peers, then
         * its Raft group's fields and a table of its voters. */
        json_t *raft = json_object_get(doc, "raft");
        json_incref(peers);
        json_incref(raft);
        json_object_del(doc, "peers");
        json_object_del(doc, "raft");
        print_fields(doc, 0);
        putchar('\n');
        print_table(peers, "peers");
        json_t *voters = json_object_get(raft, "voters");
        if (json_is_object(raft) && json_is_array(voters)) {
            json_incref(voters);
            json_object_del(raft, "voters");
            printf("\nraft:\n");
            print_fields(raft, 2);
            putchar('\n');
            print_table(voters, "voters");
            json_decref(voters);
        }
        json_decref(raft);
        json_decref(peers);
    } else if (json_is_object(doc))
        print_fields(doc, 0);
    else if (json_is_array(doc))
        print_table(doc, what);
    else
        puts(text);
    json_decref(doc);
    free(text);
    return EXIT_DONE;
}

/* Runs ping.  Returns the exit code. */
static int cmd_ping(ps_client *c, const char *endpoint, long count, int timeout_ms, int as_json)
{
    for (long i = 0; i < count; i++) {
        struct timespec a, b;
        double ms;

        clock_gettime(CLOCK_MONOTONIC, &a);
        if (ps_flush(c, timeout_ms) < 0) {
            int err = errno;
            if (err == ETIMEDOUT) {
                tool_err("no pong from %s within %d ms", endpoint, timeout_ms);
                return EXIT_TIMEOUT;
            }
            if (err == EHOSTUNREACH) {
                tool_err("lost the broker at %s", endpoint);
                return EXIT_UNREACH;
            }
            return tool_fail(c, err, NULL);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        /* Whole microseconds are all a clock read twice can tell. */
        int64_t us = ((int64_t)(b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec) + 500) / 1000;
        ms = (double)us / 1000;
        if (as_json) {
            /* 15 digits print 8.142 as 8.142, not as 8.1419999999999995. */
            json_t *o = json_pack("{s:s, s:f}", "endpoint", endpoint, "rtt_ms", ms);
            char *line = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
            if (line)
                puts(line);
            free(line);
            json_decref(o);
        } else {
            printf("pong from %s in %.3f ms\n", endpoint, ms);
        }
        fflush(stdout);
        if (i + 1 < count)
            usleep(200000);
    }
    return EXIT_DONE;
}

/* pctl top ------------------------------------------------------------------ */

/* One look at the broker: its three answers and when they came. */
struct snap {
    json_t *status;   /* the answer to "status" */
    json_t *channels; /* the answer to "channels", an array */
    json_t *clients;  /* the answer to "clients", an array */
    int64_t at_us;    /* when the last of them came */
};

/* Set by SIGINT and SIGTERM: top finishes the table in hand and exits. */
static volatile sig_atomic_t top_stop;

static void top_signal(int sig)
{
    (void)sig;
    top_stop = 1;
}

static void snap_free(struct snap *s)
{
    json_decref(s->status);
    json_decref(s->channels);
    json_decref(s->clients);
    memset(s, 0, sizeof *s);
}

/* Takes one look.  Returns the exit code. */
static int snap_take(ps_client *c, int timeout_ms, struct snap *s)
{
    static const char *const verbs[] = {"status", "channels", "clients"};
    json_t **slots[] = {&s->status, &s->channels, &s->clients};

    memset(s, 0, sizeof *s);
    for (int i = 0; i < 3; i++) {
        char *text = NULL;
        int rc = admin_get(c, verbs[i], timeout_ms, &text);
        if (rc != EXIT_DONE) {
            snap_free(s);
            return rc;
        }
        *slots[i] = json_loads(text, 0, NULL);
        free(text);
        if (!*slots[i] || (i > 0 && !json_is_array(*slots[i]))) {
            tool_err("the broker's answer to '%s' is not what top reads", verbs[i]);
            snap_free(s);
            return EXIT_USAGE;
        }
    }
    s->at_us = tool_explain_now();
    return EXIT_DONE;
}

/* An integer field of a JSON object, 0 when it is missing. */
static json_int_t num(json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

/* A string field of a JSON object, "" when it is missing. */
static const char *str(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "";
}

/* How fast a counter grew between two looks, per second, to 0.1. */
static double rate(json_int_t now, json_int_t before, double secs)
{
    double r = now >= before && secs > 0 ? (double)(now - before) / secs : 0;
    return (double)(int64_t)(r * 10 + 0.5) / 10;
}

/* The channel named name in an answer to "channels", or NULL. */
static json_t *find_channel(json_t *arr, const char *name)
{
    size_t i;
    json_t *row;

    json_array_foreach(arr, i, row) {
        const char *n = json_string_value(json_object_get(row, "name"));
        if (n && strcmp(n, name) == 0)
            return row;
    }
    return NULL;
}

/* The field by_key_desc orders rows by (qsort passes no context). */
static const char *sort_key;

/* Orders rows by their sort_key value, largest first. */
static int by_key_desc(const void *a, const void *b)
{
    double x = json_number_value(json_object_get(*(json_t *const *)a, sort_key));
    double y = json_number_value(json_object_get(*(json_t *const *)b, sort_key));
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Keeps the TOP_ROWS rows of arr with the largest key, in that order. */
static json_t *top_rows(json_t *arr, const char *key)
{
    size_t n = json_array_size(arr);
    json_t **rows = malloc((n ? n : 1) * sizeof *rows);
    json_t *out = json_array();

    if (!rows || !out) {
        free(rows);
        return out;
    }
    for (size_t i = 0; i < n; i++)
        rows[i] = json_array_get(arr, i);
    sort_key = key;
    qsort(rows, n, sizeof *rows, by_key_desc);
    for (size_t i = 0; i < n && i < TOP_ROWS; i++)
        json_array_append(out, rows[i]);
    free(rows);
    return out;
}

/*
 * The table of one refresh, from two looks: the broker's rates, and each
 * channel and client with what changed.  Returns a new JSON object.
 */
static json_t *top_table(const char *endpoint, const struct snap *old, const struct snap *now)
{
    double secs = (double)(now->at_us - old->at_us) / 1e6;
    json_t *chans = json_array(), *clients = json_array(), *t;
    size_t i;
    json_t *row;

    json_array_foreach(now->channels, i, row) {
        const char *name = str(row, "name");
        json_t *was = find_channel(old->channels, name);
        json_array_append_new(
            chans, json_pack("{s:s, s:s, s:f, s:I, s:I, s:f, s:I, s:I}", "channel", name,
                             "type", str(row, "type"),
                             "in_per_s", rate(num(row, "messages"), was ? num(was, "messages") : 0, secs),
                             "queued", num(row, "queued"), "unacked", num(row, "unacked"),
                             "dropped_per_s", rate(num(row, "dropped"), was ? num(was, "dropped") : 0, secs),
                             "retained", num(row, "retained"), "subscribers", num(row, "subscribers")));
    }
    json_array_foreach(now->clients, i, row) {
        json_array_append_new(
            clients, json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I}", "client", num(row, "id"),
                               "name", str(row, "name"), "user", str(row, "user"),
                               "subscriptions", num(row, "subscriptions"),
                               "unacked", num(row, "unacked"), "pending_bytes", num(row, "pending_bytes"),
                               "backlog", num(row, "unacked") + num(row, "pending_bytes")));
    }
    t = json_pack("{s:s, s:f, s:I, s:I, s:I, s:f, s:f, s:f, s:o, s:o}", "endpoint", endpoint,
                  "interval_s", (double)(int64_t)(secs * 1000 + 0.5) / 1000,
                  "uptime_s", num(now->status, "uptime_s"), "clients", num(now->status, "clients"),
                  "channels", num(now->status, "channels"),
                  "in_per_s", rate(num(now->status, "messages_in"), num(old->status, "messages_in"), secs),
                  "out_per_s", rate(num(now->status, "messages_out"), num(old->status, "messages_out"), secs),
                  "dropped_per_s", rate(num(now->status, "dropped"), num(old->status, "dropped"), secs),
                  "channel_rates", top_rows(chans, "in_per_s"), "busiest_clients", top_rows(clients, "backlog"));
    json_decref(chans);
    json_decref(clients);
    /* The sort key of the clients is theirs alone. */
    json_array_foreach(json_object_get(t, "busiest_clients"), i, row)
        json_object_del(row, "backlog");
    return t;
}

/* Runs top.  Returns the exit code. */
static int cmd_top(ps_client *c, const char *endpoint, long count, double delay, int timeout_ms,
                   int as_json)
{
    struct snap old, now;
    int tty = isatty(STDOUT_FILENO);
    int rc = snap_take(c, timeout_ms, &old);

    if (count == 0)
        count = tty ? -1 : 1;
    signal(SIGINT, top_signal);
    signal(SIGTERM, top_signal);
    for (long n = 0; rc == EXIT_DONE && (count < 0 || n < count) && !top_stop; n++) {
        /* The rates are over the delay: sleep it, unless a signal ends top. */
        struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
        if (nanosleep(&ts, NULL) < 0 && top_stop)
            break;
        rc = snap_take(c, timeout_ms, &now);
        if (rc != EXIT_DONE)
            break;
        json_t *t = top_table(endpoint, &old, &now);
        if (!t) {
            tool_err("out of memory");
            rc = EXIT_USAGE;
        } else if (as_json) {
            char *line = json_dumps(t, JSON_COMPACT | JSON_REAL_PRECISION(15));
            if (line)
                puts(line);
            free(line);
        } else {
            /* On a terminal each table replaces the last, as in top(1). */
            if (tty && count != 1)
                fputs("\033[H\033[2J", stdout);
            printf("pctl top - %s, up %" JSON_INTEGER_FORMAT " s, %" JSON_INTEGER_FORMAT
                   " clients, %" JSON_INTEGER_FORMAT " channels; in %g msg/s, out %g msg/s, "
                   "dropped %g/s (over %.1f s)\n\n", endpoint, num(t, "uptime_s"), num(t, "clients"),
                   num(t, "channels"), json_real_value(json_object_get(t, "in_per_s")),
                   json_real_value(json_object_get(t, "out_per_s")),
                   json_real_value(json_object_get(t, "dropped_per_s")),
                   json_real_value(json_object_get(t, "interval_s")));
            print_table(json_object_get(t, "channel_rates"), "channels");
            putchar('\n');
            print_table(json_object_get(t, "busiest_clients"), "clients");
        }
        json_decref(t);
        fflush(stdout);
        snap_free(&old);
        old = now;
    }
    snap_free(&old);
    return rc;
}

/*
 * Writes text to path with mode.  Without force the file must not exist
 * (O_EXCL); with force the text goes to a new temporary file beside it,
 * then renamed over path: whatever was there, a planted symbolic link
 * included, is replaced, never followed.  Returns 0 or -1.
 */
static int write_keyfile(const char *path, const char *text, mode_t mode, int force)
{
    char tmp[4096];
    int fd;

    if (force) {
        if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
            tool_err("cannot create '%s': %s", path, strerror(ENAMETOOLONG));
            return -1;
        }
        fd = mkostemp(tmp, O_CLOEXEC); /* O_EXCL, mode 0600 */
    } else {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    }
    if (fd < 0) {
        if (errno == EEXIST)
            tool_err("'%s' exists (use --force to replace it)", path);
        else
            tool_err("cannot create '%s': %s", path, strerror(errno));
        return -1;
    }
    /* The mode must hold whatever the umask said. */
    int bad = fchmod(fd, mode) < 0 || tool_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0;
    int err = errno;
    if (close(fd) < 0 && !bad)
        bad = 1, err = errno;
    if (!bad && force && rename(tmp, path) < 0)
        bad = 1, err = errno;
    if (bad) {
        tool_err("cannot write '%s': %s", path, strerror(err));
        if (force)
            unlink(tmp);
        return -1;
    }
    return 0;
}

/* Runs keygen NAME.  Returns the exit code. */
static int cmd_keygen(const char *name, int force, int as_json)
{
    char pub[41], sec[41];
    char path[PATH_MAX_KEY], text[512];

    if (zmq_curve_keypair(pub, sec) != 0) {
        tool_err("cannot make a CURVE key pair: %s", zmq_strerror(errno));
        return EXIT_USAGE;
    }
    if ((size_t)snprintf(path, sizeof path, "%s.key", name) >= sizeof path) {
        tool_err("name too long");
        return EXIT_USAGE;
    }
    snprintf(text, sizeof text,
             "# CURVE key pair made by pctl keygen; keep it secret.\n"
             "public_key = \"%s\";\nsecret_key = \"%s\";\n", pub, sec);
    if (write_keyfile(path, text, 0600, force) < 0)
        return EXIT_USAGE;
    snprintf(path, sizeof path, "%s.pub", name);
    snprintf(text, sizeof text, "# CURVE public key made by pctl keygen.\npublic_key = \"%s\";\n",
             pub);
    if (write_keyfile(path, text, 0644, force) < 0)
        return EXIT_USAGE;
    if (as_json) {
        json_t *o = json_pack("{s:s, s:s+, s:s+}", "public_key", pub, "key_file", name, ".key",
                              "pub_file", name, ".pub");
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (line)
            puts(line);
        free(line);
        json_decref(o);
        memset(sec, 0, sizeof sec);
        return line ? EXIT_DONE : EXIT_USAGE;
    }
    printf("%s\n", pub);
    return EXIT_DONE;
}

/*
 * The ADMIN verb of command cmd with its n arguments args into verb[cap]
 * ("create jobs queue durable", "clear-retained logs a/#"), the words the
 * broker reads.  Returns EXIT_DONE, or EXIT_USAGE after saying why.
 */
static int admin_verb(const char *cmd, int n, char **args, const struct create_opts *co,
                      int clear, char *verb, size_t cap)
{
    int named = !strcmp(cmd, "create") || !strcmp(cmd, "delete") || !strcmp(cmd, "purge") ||
                !strcmp(cmd, "retained");
    int most = !strcmp(cmd, "retained") ? 2 : named ? 1 : 0;
    int w;

    if (named && n < 1)
        return tool_usage_error("%s needs a channel NAME", cmd);
    if (n > most)
        return tool_usage_error("unexpected argument '%s'", args[most]);
    if (!strcmp(cmd, "create")) {
        if (!co->type)
            return tool_usage_error("create needs --type queue, broadcast or pubsub");
        w = snprintf(verb, cap, "create %s %s%s%s%s%s%s%s%s", args[0], co->type,
                     co->durable ? " durable" : "", co->max_queued ? " max_queued=" : "",
                     co->max_queued ? co->max_queued : "", co->overflow ? " overflow=" : "",
                     co->overflow ? co->overflow : "", co->slow ? " slow_subscriber=" : "",
                     co->slow ? co->slow : "");
        if (co->no_retain && w >= 0 && (size_t)w < cap)
            w += snprintf(verb + w, cap - (size_t)w, " retain=false");
    } else if (!strcmp(cmd, "retained")) {
        w = snprintf(verb, cap, "%s %s %s", clear ? "clear-retained" : "retained", args[0],
                     n > 1 ? args[1] : "#");
    } else {
        w = snprintf(verb, cap, "%s%s%s", cmd, named ? " " : "", named ? args[0] : "");
    }
    if (w < 0 || (size_t)w >= cap)
        return tool_usage_error("arguments too long (at most %zu bytes in all)", cap - 1);
    /* The broker splits the verb at spaces; a name holds none. */
    if (named && (!*args[0] || strchr(args[0], ' ')))
        return tool_usage_error("invalid channel name '%s'", args[0]);
    return EXIT_DONE;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        TOOL_COMMON_LONGOPTS,
        {"json", no_argument, NULL, OPT_JSON},
        {"count", required_argument, NULL, 'n'},
        {"force", no_argument, NULL, OPT_FORCE},
        {"delay", required_argument, NULL, 'd'},
        {"type", required_argument, NULL, OPT_TYPE},
        {"durable", no_argument, NULL, OPT_DURABLE},
        {"max-queued", required_argument, NULL, OPT_MAX_QUEUED},
        {"overflow", required_argument, NULL, OPT_OVERFLOW},
        {"slow-subscriber", required_argument, NULL, OPT_SLOW},
        {"no-retain", no_argument, NULL, OPT_NO_RETAIN},
        {"clear", no_argument, NULL, OPT_CLEAR},
        TOOL_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0}};
    struct tool_opts o;
    int opt, rc, as_json = 0, force = 0, clear = 0;
    struct create_opts co = {0};
    char verb[PS_VERB_MAX];
    long count = 0;
    double delay = 1;
    const char *cmd, *endpoint;
    char *end;
    ps_client *c;

    tool_init(&o, "pctl", 5000);
    while ((opt = tool_getopt(argc, argv, TOOL_COMMON_SHORTOPTS TOOL_CLIENT_SHORTOPTS "n:d:",
                              longopts)) != -1) {
        if (tool_common_option(&o, opt, optarg, usage))
            continue;
        /* create's options, kept in their enum's order. */
        if (opt >= OPT_TYPE && opt <= OPT_NO_RETAIN)
            co.given = 1;
        switch (opt) {
        case OPT_JSON:
            as_json = 1;
            break;
        case OPT_FORCE:
            force = 1;
            break;
        case OPT_TYPE:
            co.type = optarg;
            break;
        case OPT_DURABLE:
            co.durable = 1;
            break;
        case OPT_MAX_QUEUED:
            co.max_queued = optarg;
            break;
        case OPT_OVERFLOW:
            co.overflow = optarg;
            break;
        case OPT_SLOW:
            co.slow = optarg;
            break;
        case OPT_NO_RETAIN:
            co.no_retain = 1;
            break;
        case OPT_CLEAR:
            clear = 1;
            break;
        case 'n':
            if (tool_parse_long(optarg, 1, 1000000L, "count", &count) < 0)
                return EXIT_USAGE;
            break;
        case 'd':
            errno = 0;
            delay = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(delay >= 0.1 && delay <= 3600)) {
                tool_err("invalid delay '%s' (expected seconds from 0.1 to 3600)", optarg);
                return EXIT_USAGE;
            }
            break;
        default:
            return tool_usage_error("unknown option");
        }
    }
    if (optind >= argc)
        return tool_usage_error("no command given (status, channels, clients, subscriptions, top, "
                                "ping, keygen NAME, create, delete, purge or retained NAME)");
    cmd = argv[optind++];
    if (strcmp(cmd, "keygen") == 0) {
        if (optind + 1 != argc || !*argv[optind])
            return tool_usage_error("keygen takes one NAME");
        return cmd_keygen(argv[optind], force, as_json);
    }
    size_t k;
    for (k = 0; commands[k] && strcmp(commands[k], cmd) != 0; k++)
        ;
    if (!commands[k]) {
        const char *near = tool_suggest(cmd, commands);
        if (near)
            return tool_usage_error("unknown command '%s'; did you mean '%s'?", cmd, near);
        return tool_usage_error("unknown command '%s'", cmd);
    }
    if (co.given && strcmp(cmd, "create") != 0)
        return tool_usage_error("--type, --durable, --max-queued, --overflow, --slow-subscriber "
                                "and --no-retain go with create");
    if (clear && strcmp(cmd, "retained") != 0)
        return tool_usage_error("--clear goes with retained");
    rc = admin_verb(cmd, argc - optind, argv + optind, &co, clear, verb, sizeof verb);
    if (rc != EXIT_DONE)
        return rc;

    endpoint = tool_endpoint(&o);
    c = tool_connect(&o, &rc);
    if (!c)
        return rc;
    if (strcmp(cmd, "ping") == 0)
        rc = cmd_ping(c, endpoint, count ? count : 1, o.timeout_ms, as_json);
    else if (strcmp(cmd, "top") == 0)
        rc = cmd_top(c, endpoint, count, delay, o.timeout_ms, as_json);
    else
        rc = cmd_admin(c, verb, strcmp(cmd, "retained") ? cmd : "retained values", o.timeout_ms,
                       as_json);
    ps_close(&c);
    return rc;
}
