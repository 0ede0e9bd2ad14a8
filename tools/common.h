/*
 * common.h - what ppub, psub and pctl share: the options every tool takes
 * (broker endpoint or -H/-p, client name, timeout, CURVE keys, help,
 * version) and their parsing with "did you mean" for a mistyped one, the
 * exit codes every tool shares (README, "Tools and library"), connecting with a
 * named reason when the broker cannot be reached, the mapping from library
 * errors to those codes and to one-line messages, CHANNEL:TOPIC arguments
 * and a channel's type, and small format helpers (base64, UTF-8 check,
 * syslog topic extraction); and what --explain and --progress write on
 * stderr (explain.c, progress.c).  The tools use only the public API of
 * pubsub.h.
 */
#ifndef TOOLS_COMMON_H
#define TOOLS_COMMON_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pubsub.h"



/* Exit codes of every tool. */
enum {
    EXIT_DONE = 0,    /* everything worked */
    EXIT_USAGE = 1,   /* usage or configuration error */
    EXIT_UNREACH = 2, /* broker unreachable or lost */
    EXIT_TIMEOUT = 3, /* no confirmation, no reply, no responders, too few messages */
    EXIT_REFUSED = 4  /* refused by the broker or a responder */
};

/* getopt_long values of the long-only options all tools share. */
enum {
    OPT_TIMEOUT = 256,    /* --timeout MS */
    OPT_CURVE_SERVER_KEY, /* --curve-server-key KEY|FILE */
    OPT_CURVE_KEY,        /* --curve-key FILE */
    OPT_TOOL_BASE = 300   /* first value free for a tool's own long options */
};

/* The shared entries of a tool's struct option array. */
#define TOOL_COMMON_LONGOPTS                                           \
    {"broker", required_argument, NULL, 'b'},                          \
    {"timeout", required_argument, NULL, OPT_TIMEOUT},                 \
    {"curve-server-key", required_argument, NULL, OPT_CURVE_SERVER_KEY}, \
    {"curve-key", required_argument, NULL, OPT_CURVE_KEY},             \
    {"help", no_argument, NULL, 'h'},                                  \
    {"version", no_argument, NULL, 'V'}

/* The shared short options, to put in front of a tool's own. */
#define TOOL_COMMON_SHORTOPTS "b:hV"

/*
 * The options of the tools that talk to a broker as a client (ppub, psub,
 * pctl): a client name and the short form -H HOST -p PORT of -b, as the
 * Mosquitto clients have them.
 */
#define TOOL_CLIENT_LONGOPTS                                           \
    {"name", required_argument, NULL, 'i'},                            \
    {"host", required_argument, NULL, 'H'},                            \
    {"port", required_argument, NULL, 'p'}
#define TOOL_CLIENT_SHORTOPTS "i:H:p:"
#define TOOL_CLIENT_HELP                                                        \
    "  -H, --host HOST          short for -b tcp://HOST:PORT (default host\n"    \
    "                           127.0.0.1)\n"                                   \
    "  -p, --port PORT          short for -b tcp://HOST:PORT (default port 5242)\n" \
    "  -i, --name NAME          the client name `pctl clients` shows (default: the\n" \
    "                           tool's name)\n"

/* The help text lines of the shared options. */
#define TOOL_COMMON_HELP                                                        \
    "  -b, --broker ENDPOINT    broker to use: tcp://HOST:PORT or ipc:///PATH\n"  \
    "                           (default: $PUBSUB_BROKER, else " PS_DEFAULT_ENDPOINT ")\n" \
    "      --curve-server-key KEY|FILE\n"                                       \
    "                           the broker's CURVE public key (Z85, 40 chars) or\n" \
    "                           a file holding public_key = \"...\"; (default:\n" \
    "                           $PUBSUB_CURVE_SERVER_KEY); enables encryption\n" \
    "      --curve-key FILE     our own key pair file as written by `pctl keygen`\n" \
    "                           (default: $PUBSUB_CURVE_KEY; without it a fresh\n" \
    "                           key pair is made for this run)\n"                \
    "  -h, --help               show this help and exit\n"                      \
    "  -V, --version            show the version and exit\n"

/* The exit codes as help text. */
#define TOOL_EXIT_HELP                                                         \
    "Exit status: 0 done, 1 usage or configuration error, 2 broker unreachable,\n" \
    "3 timed out (no confirmation, no reply, no responders), 4 refused by the\n" \
    "broker (unknown channel, wrong channel type, too large, not allowed).\n"

/* The settings of the shared options. */
struct tool_opts {
    const char *broker;           /* endpoint; NULL until resolved */
    int timeout_ms;               /* --timeout, or the tool's default */
    int timeout_set;              /* 1 when --timeout was given */
    const char *curve_server_key; /* --curve-server-key argument, or NULL */
    const char *curve_key;        /* --curve-key argument, or NULL */
    const char *name;             /* the client name shown by `pctl clients` */
    int window;                   /* queue messages in flight, 0 = library default */
    int explain;                  /* --explain: trace every step on stderr (explain.c) */
    int watch_session;            /* say on stderr when the session is lost and back */
    const char *host;             /* -H HOST, or NULL */
    const char *port;             /* -p PORT, or NULL */
};

/* The tool's name for messages ("ppub"); set by tool_init(). */
extern const char *tool_name;

/* Sets the tool name and the defaults of o (timeout_ms = default_timeout). */
void tool_init(struct tool_opts *o, const char *name, int default_timeout);


/*
 * Handles one of the shared options: returns 1 if opt was one (exiting
 * for -h, -V and bad values), 0 if it is the tool's own.  usage prints
 * the tool's help to the given stream.
 */
int tool_common_option(struct tool_opts *o, int opt, const char *arg,
                       void (*usage)(FILE *out));

/*
 * getopt_long for the tools: the same, except that an unknown, ambiguous
 * or incomplete option ends the tool with one line that says which and,
 * for a near miss, which option was meant ("did you mean --json?").
 */
int tool_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

/*
 * The word of words[] (NULL-terminated) closest to word, when it is close
 * enough to be a likely typing mistake; NULL otherwise.
 */
const char *tool_suggest(const char *word, const char *const *words);

/* The endpoint o names: -b, -H/-p, $PUBSUB_BROKER or the default. */
const char *tool_endpoint(const struct tool_opts *o);

/*
 * Splits "CHANNEL:TOPIC" (the form `-t logs:amd64/sshd`) when the part
 * before the first ':' is a valid channel name: *channel is a malloc'd
 * copy of it and *topic points after the ':'.  Returns 1 when split, 0
 * when arg is a topic alone, -1 when out of memory.
 */
int tool_split_channel(const char *arg, char **channel, const char **topic);

/*
 * Asks the broker for the type of channel ("queue", "broadcast",
 * "pubsub") through the admin verb "channels".  Returns 0 with the type
 * in type[cap]; 1 when the channel does not exist yet; -1 when the
 * broker would not tell (no admin right, say), which callers take as "do
 * not know".
 */
int tool_channel_type(ps_client *c, const char *channel, int timeout_ms, char *type, size_t cap);

/* Prints "TOOL: " and the formatted text and a newline to stderr. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the "try --help" hint after a usage error and returns EXIT_USAGE. */
int tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Parses a decimal number within [min, max] into *out.  Returns 0, or -1
 * after printing "TOOL: invalid WHAT 'arg'".
 */
int tool_parse_long(const char *arg, long min, long max, const char *what, long *out);

/*
 * Connects as o says.  Returns the client, or NULL after printing the
 * reason; *exit_code is then the code to exit with.
 */
ps_client *tool_connect(const struct tool_opts *o, int *exit_code);

/* The exit code a library error number means (0 for 0). */
int tool_exit_code(int err);

/*
 * Prints one line for the failure err of an operation on channel (NULL
 * allowed), using the broker's text when it has one, and returns the
 * exit code for it.
 */
int tool_fail(ps_client *c, int err, const char *channel);

/* Returns 1 when data[0..n) is valid UTF-8, else 0. */
int tool_utf8_valid(const void *data, size_t n);

/* Returns a malloc'd NUL-terminated base64 encoding of data, or NULL. */
char *tool_base64(const void *data, size_t n);

/*
 * Extracts "HOST/PROGRAM" from a syslog line (BSD "Mmm dd hh:mm:ss HOST
 * PROG[pid]: text", optionally with "<PRI>" in front or an RFC 3339 time
 * instead).  PROGRAM is the basename without "[pid]" and ":".  Returns 0
 * with the NUL-terminated topic in topic[cap], or -1 when the line does
 * not look like that.
 */
int tool_syslog_topic(const char *line, size_t n, char *topic, size_t cap);

/* Writes all of data to fd, retrying on EINTR.  Returns 0 or -1. */
int tool_write_all(int fd, const void *data, size_t n);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t tool_now_ms(void);

/* explain.c: --explain, a trace of every step on stderr ---------------------- */

/* Turns the trace on; time 0 is now.  tool_connect then traces the client. */
void tool_explain_start(void);
/* True after tool_explain_start. */
int tool_explaining(void);
/* A note of the tool's own ("#1 written to stdout"), when the trace is on. */
void tool_explain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The library's trace function (ps_opts_set_trace). */
void tool_explain_event(const ps_event *ev, void *arg);
/* Microseconds of CLOCK_MONOTONIC, and milliseconds since such a time. */
int64_t tool_explain_now(void);
double tool_explain_ms(int64_t since_us);

/* progress.c: --progress, a live rate on stderr ------------------------------- */

struct tool_progress {
    int on;                /* --progress was given */
    int tty;               /* stderr is a terminal: rewrite one line with \r */
    int shown;             /* a report was written (the summary replaces it on a tty) */
    const char *verb;      /* "sent" or "received" */
    int64_t start_ms;      /* when the run began */
    int64_t last_ms;       /* when the last report was written */
    uint64_t count;        /* messages so far */
    uint64_t bytes;        /* payload bytes so far */
    uint64_t last_count;   /* count at the last report */
    uint64_t last_bytes;   /* bytes at the last report */
};

/* Starts counting; verb names what is counted ("sent"). */
void tool_progress_start(struct tool_progress *p, const char *verb);
/* Counts messages of bytes payload in all, reporting when a second has passed. */
void tool_progress_add(struct tool_progress *p, uint64_t messages, uint64_t bytes);
/* Reports when a second has passed, even if nothing came (a waiting psub). */
void tool_progress_tick(struct tool_progress *p);
/* Writes the summary line.  No-op unless started. */
void tool_progress_end(struct tool_progress *p);

#endif
