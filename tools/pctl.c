/*
 * pctl - looks at a running broker (status, channels, clients), measures
 * the round trip to it (ping) and makes CURVE key pairs (keygen).
 *
 * The broker answers the first three with JSON (ps_admin); --json prints
 * it as it came, otherwise pctl shows it as a table or a list of fields,
 * without assuming more of its shape than "object" or "array of objects".
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* Columns a table shows at most. */
#define COLS_MAX 32
/* Characters a table cell shows at most. */
#define CELL_MAX 64
/* Length of a key file name. */
#define PATH_MAX_KEY 4096

enum {
    OPT_JSON = OPT_TOOL_BASE, /* --json */
    OPT_FORCE                 /* --force */
};

static void usage(FILE *out)
{
    fprintf(out,
"Usage: pctl [OPTION]... COMMAND\n"
"Inspect and control a pubsub broker.\n"
"\n"
"Commands:\n"
"  status                   the broker's id, uptime, endpoints and counters\n"
"  channels                 every channel with its type and counters\n"
"  clients                  every connected client\n"
"                           (with security, these three need the 'admin' right)\n"
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
"                           {\"endpoint\":...,\"rtt_ms\":...} a line; keygen:\n"
"                           {\"public_key\":...,\"key_file\":...,\"pub_file\":...})\n"
"  -n, --count N            ping: N round trips, one line each (default 1)\n"
"      --force              keygen: replace existing key files\n"
"      --timeout MS         how long to wait for the broker (default 5000)\n"
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
        snprintf(buf, cap, "%s", json_string_value(v));
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
        snprintf(buf, cap, "%s", dump ? dump : "?");
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

/* Runs status, channels or clients.  Returns the exit code. */
static int cmd_admin(ps_client *c, const char *verb, int timeout_ms, int as_json)
{
    char *text = NULL;
    json_t *doc;
    json_error_t jerr;

    if (ps_admin(c, verb, timeout_ms, &text) < 0) {
        int err = errno;
        if (err == ETIMEDOUT) {
            tool_err("no answer to '%s' within %d ms", verb, timeout_ms);
            return EXIT_TIMEOUT;
        }
        if (err == EHOSTUNREACH) {
            tool_err("lost the broker");
            return EXIT_UNREACH;
        }
        return tool_fail(c, err, NULL);
    }
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
    if (json_is_object(doc))
        print_fields(doc, 0);
    else if (json_is_array(doc))
        print_table(doc, verb);
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
        ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        if (as_json) {
            json_t *o = json_pack("{s:s, s:f}", "endpoint", endpoint, "rtt_ms", ms);
            char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
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

/* Writes text to path with mode; O_EXCL unless force.  Returns 0 or -1. */
static int write_keyfile(const char *path, const char *text, mode_t mode, int force)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), mode);

    if (fd < 0) {
        if (errno == EEXIST)
            tool_err("'%s' exists (use --force to replace it)", path);
        else
            tool_err("cannot create '%s': %s", path, strerror(errno));
        return -1;
    }
    /* The mode must hold whatever the umask or an old file said. */
    if (fchmod(fd, mode) < 0 || tool_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
        tool_err("cannot write '%s': %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (close(fd) < 0) {
        tool_err("cannot write '%s': %s", path, strerror(errno));
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

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        TOOL_COMMON_LONGOPTS,
        {"json", no_argument, NULL, OPT_JSON},
        {"count", required_argument, NULL, 'n'},
        {"force", no_argument, NULL, OPT_FORCE},
        {NULL, 0, NULL, 0}};
    struct tool_opts o;
    int opt, rc, as_json = 0, force = 0;
    long count = 1;
    const char *cmd, *endpoint;
    ps_client *c;

    tool_init(&o, "pctl", 5000);
    while ((opt = getopt_long(argc, argv, TOOL_COMMON_SHORTOPTS "n:", longopts, NULL)) != -1) {
        if (tool_common_option(&o, opt, optarg, usage))
            continue;
        switch (opt) {
        case OPT_JSON:
            as_json = 1;
            break;
        case OPT_FORCE:
            force = 1;
            break;
        case 'n':
            if (tool_parse_long(optarg, 1, 1000000L, "count", &count) < 0)
                return EXIT_USAGE;
            break;
        default:
            return tool_usage_error("unknown option");
        }
    }
    if (optind >= argc)
        return tool_usage_error("no command given (status, channels, clients, ping or keygen NAME)");
    cmd = argv[optind++];
    if (strcmp(cmd, "keygen") == 0) {
        if (optind + 1 != argc || !*argv[optind])
            return tool_usage_error("keygen takes one NAME");
        return cmd_keygen(argv[optind], force, as_json);
    }
    if (strcmp(cmd, "status") != 0 && strcmp(cmd, "channels") != 0 &&
        strcmp(cmd, "clients") != 0 && strcmp(cmd, "ping") != 0)
        return tool_usage_error("unknown command '%s'", cmd);
    if (optind < argc)
        return tool_usage_error("unexpected argument '%s'", argv[optind]);

    endpoint = o.broker && *o.broker ? o.broker : getenv("PUBSUB_BROKER");
    if (!endpoint || !*endpoint)
        endpoint = PS_DEFAULT_ENDPOINT;
    c = tool_connect(&o, &rc);
    if (!c)
        return rc;
    if (strcmp(cmd, "ping") == 0)
        rc = cmd_ping(c, endpoint, count, o.timeout_ms, as_json);
    else
        rc = cmd_admin(c, cmd, o.timeout_ms, as_json);
    ps_close(&c);
    return rc;
}
