/*
 * ppub - publishes messages and sends requests from the shell.
 *
 * Messages come from the arguments and -m (one each), from a file (-f,
 * all of it one message), from stdin (one a line, NUL-separated with -0,
 * all of it with --raw) or are generated (--size).
 * Every run meets the broker: it connects (HELLO/WELCOME), sends, and ends
 * with ps_flush(), the sync point, so the exit code says whether the
 * broker took everything (the exit codes are in ppub(1)).
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The most ppub reads as one message from stdin; the broker's own limit
 * is usually lower and then refuses with exit 4. */
#define STDIN_MAX (64u << 20)
/* Topic buffer for --topic-from syslog (the protocol's topic limit). */
#define TOPIC_MAX 1025
/* The topic of syslog lines ppub cannot parse, unless -t gives one. */
#define UNKNOWN_TOPIC "unknown/unknown"

enum {
    OPT_RAW = OPT_TOOL_BASE, /* --raw */
    OPT_SYNC,                /* --sync */
    OPT_CONFIRM,             /* --confirm */
    OPT_RETAIN,              /* --retain */
    OPT_REQUEST,             /* --request */
    OPT_ASYNC,               /* --async */
    OPT_SIZE,                /* --size */
    OPT_RATE,                /* --rate */
    OPT_TOPIC_FROM,          /* --topic-from */
    OPT_EXPLAIN,             /* --explain */
    OPT_PROGRESS,            /* --progress */
    OPT_STRICT               /* --strict */
};

/* -m messages ppub takes on one command line. */
#define MESSAGES_MAX 1024

/* Everything one run of ppub does. */
struct ppub {
    struct tool_opts o;      /* shared options */
    ps_client *c;            /* the connection */
    const char *channel;     /* -c, the CHANNEL of -t CHANNEL:TOPIC, or $PUBSUB_CHANNEL */
    char *channel_owned;     /* the CHANNEL of -t CHANNEL:TOPIC, malloc'd */
    const char *topic;       /* -t, or NULL */
    const char *messages[MESSAGES_MAX]; /* -m, in order given */
    int nmessage;            /* -m messages in use */
    const char *file;        /* -f FILE: its contents are one message */
    int lines;               /* -l: stdin lines (the default, said aloud) */
    int verbose;             /* -v: say what happened on stderr */
    long replies;            /* --request: good replies printed, for -v */
    int nul;                 /* -0: stdin messages end with NUL */
    int raw;                 /* --raw: all of stdin is one message */
    int sync;                /* --sync: kind 2 */
    int request;             /* --request: kind 4, or 3 with async */
    int async;               /* --async with --request: kind 3 */
    int flags;               /* PS_RETAIN | PS_CONFIRM | PS_STRICT */
    unsigned told;           /* PS_NOTE_* already said on stderr */
    long count;              /* -n: times each message is sent */
    int count_set;           /* 1 when -n was given */
    long size;               /* --size: bytes of generated payloads, -1 none */
    long rate;               /* --rate: messages per second, 0 unlimited */
    int syslog;              /* --topic-from syslog */
    int warned_syslog;       /* the unparsable-line warning was printed */
    int64_t sent;            /* messages sent so far, for --rate */
    struct timespec start;   /* when sending began, for --rate */
    int64_t *tickets;        /* --request --async: tickets in sending order */
    size_t nticket;          /* tickets in use */
    size_t ticket_cap;       /* tickets allocated */
    int rc;                  /* exit code so far (the first failure wins) */
    struct kept *kept;       /* --confirm: messages sent since the last confirm point */
    size_t nkept;            /* entries in kept */
    size_t kept_cap;         /* entries allocated */
    size_t kept_bytes;       /* payload bytes in kept */
    int warned_resend;       /* the resend notice was printed */
    struct tool_progress progress; /* --progress */
};

/* A --confirm message kept until the broker confirmed it, to send again
 * if the broker is lost first. */
struct kept {
    char *topic;             /* its topic, or NULL */
    void *data;              /* its payload */
    size_t size;             /* payload bytes */
};

/* A confirm point every this many messages or bytes bounds what is kept. */
#define KEEP_MAX_MSGS 1000
#define KEEP_MAX_BYTES (8u << 20)

static void usage(FILE *out)
{
    fprintf(out,
"Usage: ppub -c CHANNEL [OPTION]... [MESSAGE]...\n"
"   or: ppub -t CHANNEL:TOPIC [OPTION]... [MESSAGE]...\n"
"Publish messages to a channel of a pubsub broker, or send requests.\n"
"\n"
"Each MESSAGE argument, and each -m, is one message.  Without any, each line\n"
"of stdin is one message (the newline is not part of it; an empty line is an\n"
"empty message).  ppub always waits until the broker has handled everything\n"
"it sent before it exits, so exit status 0 means the broker took it.\n"
"\n"
"  -c, --channel CHANNEL    the channel to publish to (default:\n"
"                           $PUBSUB_CHANNEL)\n"
"  -t, --topic TOPIC        topic of the messages, on pubsub channels (other\n"
"                           channel types ignore it); without one a message\n"
"                           has the empty topic, which only subscribers of '#'\n"
"                           (psub's default) receive.  Without -c, CHANNEL:TOPIC\n"
"                           names the channel too: -t logs:amd64/sshd\n"
"  -m, --message MESSAGE    one message (may be repeated; before any MESSAGE\n"
"                           arguments)\n"
"  -f, --file FILE          all of FILE is one binary-safe message (up to 64 MiB)\n"
"  -l, --lines              each line of stdin is one message (the default\n"
"                           without MESSAGE, -m and -f)\n"
"  -0, --null               stdin messages are separated by NUL bytes\n"
"      --raw                all of stdin is one binary-safe message (up to 64 MiB)\n"
"  -n, --count N            send each message N times (default 1)\n"
"      --size BYTES         with -n N and no MESSAGE: send N generated messages\n"
"                           of BYTES bytes each; they are printable ASCII without\n"
"                           newline and begin with their index 0..N-1; stdin is\n"
"                           not read\n"
"      --rate N             send at most N messages per second\n"
"      --topic-from syslog  the topic of each stdin line is HOST/PROGRAM taken\n"
"                           from the syslog line (\"Sep 19 14:20:18 amd64\n"
"                           sshd[20494]: ...\" gives amd64/sshd; a path in\n"
"                           PROGRAM is reduced to its basename, [pid] and ':'\n"
"                           are dropped); lines that are not syslog lines get\n"
"                           the -t TOPIC, else \"" UNKNOWN_TOPIC "\", with one warning\n"
"\n"
"Delivery (default: asynchronous; ppub returns once the broker has taken\n"
"the messages, whether or not anyone received them):\n"
"      --confirm            ask the broker to confirm each message (on a durable\n"
"                           queue: it is on disk)\n"
"      --sync               wait for each message until its receivers have it:\n"
"                           on a queue until a consumer acknowledged it, on\n"
"                           broadcast and pubsub until every receiver attached at\n"
"                           the time confirmed; fewer (\"2/3 confirmed\"), none\n"
"                           attached (\"no receivers\") or none in time is exit 3\n"
"  -r, --retain             pubsub: keep the message as the topic's last value,\n"
"                           given first to new subscribers; an empty message\n"
"                           clears it\n"
"      --request            send each message as a request and print every reply\n"
"                           on stdout, one a line (a survey on broadcast and\n"
"                           pubsub gets one reply from each responder); no\n"
"                           responder is exit 3, a failed responder exit 4 with\n"
"                           its error text on stderr\n"
"      --async              with --request: send all requests first, then collect\n"
"                           the replies of each, in order; stdout shows each\n"
"                           ticket as it is issued (\"ticket 1 issued\") and each\n"
"                           reply with its ticket as it is picked up\n"
"                           (\"ticket 1: REPLY\")\n"
"      --strict             refuse instead of doing something unintended: a\n"
"                           channel that does not exist is not created (exit 4)\n"
"                           and a message no subscriber would get is not\n"
"                           published (exit 3); without it, ppub says either\n"
"                           on stderr (\"'job' did not exist and was created as\n"
"                           a pubsub channel; nobody was subscribed\")\n"
"      --timeout MS         how long to wait for the broker, a confirmation or\n"
"                           replies (default 5000)\n"
"\n"
"Watching it work:\n"
"  -v, --verbose            say on stderr what the broker did: with --sync for\n"
"                           each message \"2/2 confirmed in 3 ms\", at the end\n"
"                           \"3 messages taken by the broker in 2 ms\"\n"
"      --explain            trace on stderr what happens to each message, with\n"
"                           times since the start: connect, HELLO/WELCOME, handed\n"
"                           to the library, sent, the broker's confirm, receipts\n"
"                           (\"2/3 receivers confirmed\"), replies, and when each\n"
"                           call returned\n"
"      --progress           report the messages sent and the rate on stderr about\n"
"                           once a second (one line rewritten on a terminal), and\n"
"                           a summary at the end\n"
TOOL_CLIENT_HELP
TOOL_COMMON_HELP
"\n"
TOOL_EXIT_HELP
"\n"
"Examples:\n"
"  ppub -c alerts -t disk/sda 'disk almost full'\n"
"  ppub -t logs:amd64/sshd -m 'Accepted publickey for root'\n"
"  ppub -c logs --topic-from syslog < /var/log/messages\n"
"  ppub -c jobs --sync -n 1000 --size 100\n"
"  ppub -c time --request 'now?'\n");
}

/* Sleeps as long as --rate asks before the next message. */
static void pace(struct ppub *p)
{
    struct timespec now, due;
    int64_t ns;

    if (p->rate <= 0)
        return;
    if (p->sent == 0) {
        clock_gettime(CLOCK_MONOTONIC, &p->start);
        return;
    }
    ns = p->sent * (int64_t)1000000000 / p->rate;
    due.tv_sec = p->start.tv_sec + ns / 1000000000;
    due.tv_nsec = p->start.tv_nsec + ns % 1000000000;
    if (due.tv_nsec >= 1000000000) {
        due.tv_sec++;
        due.tv_nsec -= 1000000000;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec < due.tv_sec || (now.tv_sec == due.tv_sec && now.tv_nsec < due.tv_nsec))
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
            ;
}

/*
 * Collects and prints every reply to ticket; with label (--async, the
 * request's number) each reply says which ticket it answers.  Returns the
 * exit code for this request (0 when at least one good reply came).
 */
static int collect_replies(struct ppub *p, int64_t ticket, size_t label)
{
    int replies = 0, rc = EXIT_DONE;
    /* The broker ends the request after --timeout; allow for the trip. */
    int wait_ms = p->o.timeout_ms + 2000;

    for (;;) {
        ps_msg *m = ps_request_wait(p->c, ticket, wait_ms);
        if (!m) {
            int err = errno;
            if (err == ENOMSG)
                break;
            if (err == ETIMEDOUT && replies > 0)
                break;
            if (err == ETIMEDOUT) {
                tool_err("no reply within %d ms on '%s'", p->o.timeout_ms, p->channel);
                rc = EXIT_TIMEOUT;
            } else if (err == PS_ENORESP) {
                /* The broker's reason: none attached, or all went away. */
                const char *why = ps_errmsg(p->c);
                if (why && *why)
                    tool_err("%s", why);
                else
                    tool_err("no responders on '%s'", p->channel);
                rc = EXIT_TIMEOUT;
            } else {
                rc = tool_fail(p->c, err, p->channel);
            }
            ps_request_end(p->c, ticket);
            return rc;
        }
        replies++;
        if (ps_msg_status(m) != 0) {
            tool_err("responder failed on '%s': %.*s", p->channel, (int)ps_msg_size(m),
                     (const char *)ps_msg_data(m));
            rc = EXIT_REFUSED;
        } else {
            p->replies++;
            if (label)
                printf("ticket %zu: ", label);
            fwrite(ps_msg_data(m), 1, ps_msg_size(m), stdout);
            putchar('\n');
            fflush(stdout);
        }
        ps_msg_destroy(&m);
    }
    ps_request_end(p->c, ticket);
    if (replies == 0) {
        tool_err("no reply within %d ms on '%s'", p->o.timeout_ms, p->channel);
        return EXIT_TIMEOUT;
    }
    return rc;
}

static void kept_clear(struct ppub *p)
{
    for (size_t i = 0; i < p->nkept; i++) {
        free(p->kept[i].topic);
        free(p->kept[i].data);
    }
    p->nkept = 0;
    p->kept_bytes = 0;
}

static int keep(struct ppub *p, const char *topic, const void *data, size_t size)
{
    if (p->nkept == p->kept_cap) {
        size_t cap = p->kept_cap ? p->kept_cap * 2 : 64;
        struct kept *k = realloc(p->kept, cap * sizeof *k);
        if (!k)
            return -1;
        p->kept = k;
        p->kept_cap = cap;
    }
    struct kept *k = &p->kept[p->nkept];
    k->topic = topic ? strdup(topic) : NULL;
    k->data = malloc(size ? size : 1);
    if ((topic && !k->topic) || !k->data) {
        free(k->topic);
        free(k->data);
        return -1;
    }
    memcpy(k->data, data, size);
    k->size = size;
    p->nkept++;
    p->kept_bytes += size;
    return 0;
}

/* Says once per run on stderr what the broker noticed of the messages
 * the last sync point covered: a channel it created, nobody subscribed. */
static void tell_notes(struct ppub *p)
{
    char channel[256];
    unsigned n = ps_notes(p->c, channel, sizeof channel) & ~p->told;
    int topic = p->topic && !p->syslog && *p->topic;

    p->told |= n;
    if (n & PS_NOTE_CREATED)
        tool_err("'%s' did not exist and was created as a pubsub channel%s", channel,
                 (n & PS_NOTE_NOBODY) ? "; nobody was subscribed" : "");
    else if (n & PS_NOTE_NOBODY)
        tool_err("nobody was subscribed to '%s'%s%s%s", channel, topic ? " for topic '" : "",
                 topic ? p->topic : "", topic ? "'" : "");
}

/*
 * The sync point.  With --confirm, a broker lost before it confirmed
 * everything (it restarted, say) is waited for up to --timeout, and every
 * message not yet confirmed is sent again: at-least-once, with duplicates
 * only after such a loss.  Returns an exit code.
 */
static int confirm_point(struct ppub *p)
{
    int64_t deadline = -1;
    for (;;) {
        if (ps_flush(p->c, p->o.timeout_ms) == 0) {
            kept_clear(p);
            tell_notes(p);
            return EXIT_DONE;
        }
        int err = errno;
        if (err == PS_ENORESP) { /* --strict: the broker's words say who was missing */
            const char *why = ps_errmsg(p->c);
            tool_err("%s", why && *why ? why : "nobody is subscribed");
            return EXIT_TIMEOUT;
        }
        int lost = err == EHOSTUNREACH || (deadline >= 0 && err == ETIMEDOUT);
        if (!(p->flags & PS_CONFIRM) || !lost) {
            if (err == ETIMEDOUT) {
                tool_err("the broker did not confirm within %d ms", p->o.timeout_ms);
                return EXIT_TIMEOUT;
            }
            if (err == EHOSTUNREACH) {
                const char *why = ps_errmsg(p->c);
                if (!(p->flags & PS_CONFIRM) && why && *why) /* how many may be gone */
                    tool_err("%s", why);
                else
                    tool_err("lost the broker before it confirmed everything");
                return EXIT_UNREACH;
            }
            return tool_fail(p->c, err, p->channel);
        }
        int64_t now = tool_now_ms();
        if (deadline < 0)
            deadline = now + p->o.timeout_ms;
        if (now >= deadline) {
            tool_err("lost the broker and it did not come back within %d ms", p->o.timeout_ms);
            return EXIT_UNREACH;
        }
        if (!p->warned_resend++)
            tool_err("lost the broker; sending %zu unconfirmed messages again", p->nkept);
        for (size_t i = 0; i < p->nkept; i++)
            if (ps_publish(p->c, p->channel, p->kept[i].topic, p->kept[i].data, p->kept[i].size,
                           p->flags) < 0)
                return tool_fail(p->c, errno, p->channel);
    }
}

/* Sends one message once as the options say.  Returns an exit code. */
static int send_one(struct ppub *p, const char *topic, const void *data, size_t size)
{
    pace(p);
    p->sent++;
    tool_progress_add(&p->progress, 1, size);
    int64_t t0 = tool_explaining() || p->verbose ? tool_explain_now() : 0;
    long num = (long)p->sent;
    if (p->request) {
        int64_t t = ps_request_async(p->c, p->channel, topic, data, size, p->o.timeout_ms);
        if (t >= 0)
            tool_explain("ppub            #%ld: ps_request_async() returned after %.3f ms with a "
                         "ticket: %s", num, tool_explain_ms(t0),
                         p->async ? "kind (3), asynchronous request: the reply is collected later"
                                  : "kind (4), synchronous request (RPC): ppub waits for the reply now");
        if (t < 0) {
            if (errno == PS_ENORESP) {
                tool_err("no responders on '%s'", p->channel);
                return EXIT_TIMEOUT;
            }
            return tool_fail(p->c, errno, p->channel);
        }
        if (!p->async) {
            int rc = collect_replies(p, t, 0);
            tool_explain("ppub            #%ld: the request is answered, %.3f ms after it was made",
                         num, tool_explain_ms(t0));
            return rc;
        }
        if (p->nticket == p->ticket_cap) {
            size_t cap = p->ticket_cap ? p->ticket_cap * 2 : 64;
            int64_t *nt = realloc(p->tickets, cap * sizeof *nt);
            if (!nt) {
                ps_request_end(p->c, t);
                tool_err("out of memory");
                return EXIT_USAGE;
            }
            p->tickets = nt;
            p->ticket_cap = cap;
        }
        p->tickets[p->nticket++] = t;
        /* The ticket is all an asynchronous request gives back at once. */
        printf("ticket %zu issued\n", p->nticket);
        fflush(stdout);
        return EXIT_DONE;
    }
    if (p->sync) {
        unsigned confirmed = 0, expected = 0;
        int got = ps_publish_sync(p->c, p->channel, topic, data, size, p->flags, p->o.timeout_ms,
                                  &confirmed, &expected);
        int err = errno;
        tool_explain("ppub            #%ld: ps_publish_sync() returned after %.3f ms: kind (2), "
                     "synchronous message: ppub waited for %u/%u receipts", num,
                     tool_explain_ms(t0), confirmed, expected);
        errno = err;
        if (got >= 0) {
            if (p->verbose)
                tool_err("%u/%u confirmed in %.0f ms", confirmed, expected,
                         (double)(tool_explain_now() - t0) / 1000);
            return EXIT_DONE;
        }
        switch (errno) {
        case PS_ENORESP:
            tool_err("no receivers on '%s'", p->channel);
            return EXIT_TIMEOUT;
        case PS_EPARTIAL:
            tool_err("%u/%u confirmed on '%s'", confirmed, expected, p->channel);
            return EXIT_TIMEOUT;
        case ETIMEDOUT:
            tool_err("%u/%u confirmed on '%s' within %d ms", confirmed, expected, p->channel,
                     p->o.timeout_ms);
            return EXIT_TIMEOUT;
        default:
            return tool_fail(p->c, errno, p->channel);
        }
    }
    if (ps_publish(p->c, p->channel, topic, data, size, p->flags) < 0)
        return tool_fail(p->c, errno, p->channel);
    /* Tested first: the arguments alone would read the clock for every message. */
    if (tool_explaining())
        tool_explain("ppub            #%ld: ps_publish() returned after %.3f ms: kind (1), "
                     "asynchronous message: ppub does not wait for any receiver%s", num,
                     tool_explain_ms(t0), (p->flags & PS_CONFIRM) ? " (the confirm comes later)" : "");
    if (p->flags & PS_CONFIRM) {
        if (keep(p, topic, data, size) < 0) {
            tool_err("out of memory");
            return EXIT_USAGE;
        }
        if (p->nkept >= KEEP_MAX_MSGS || p->kept_bytes >= KEEP_MAX_BYTES)
            return confirm_point(p);
    }
    return EXIT_DONE;
}

/* ppub -v: what the broker did with it all, once it is done. */
static void verbose_summary(const struct ppub *p, int64_t start_us)
{
    double ms = (double)(tool_explain_now() - start_us) / 1000;
    const char *s = p->sent == 1 ? "" : "s";

    if (p->request)
        tool_err("%lld request%s answered with %ld replies in %.0f ms", (long long)p->sent, s,
                 p->replies, ms);
    else if (p->flags & PS_CONFIRM)
        tool_err("%lld message%s confirmed by the broker in %.0f ms", (long long)p->sent, s, ms);
    else if (p->sync)
        tool_err("%lld message%s confirmed by their receivers in %.0f ms", (long long)p->sent, s,
                 ms);
    else
        tool_err("%lld message%s taken by the broker in %.0f ms", (long long)p->sent, s, ms);
}

/* Sends one message -n times, choosing its topic.  Returns an exit code. */
static int send_message(struct ppub *p, const char *data, size_t size, long lineno)
{
    char topic[TOPIC_MAX];
    const char *t = p->topic;

    if (p->syslog) {
        if (tool_syslog_topic(data, size, topic, sizeof topic) == 0) {
            t = topic;
        } else {
            if (!t)
                t = UNKNOWN_TOPIC;
            if (!p->warned_syslog) {
                tool_err("line %ld is not a syslog line, publishing it with topic '%s'", lineno, t);
                p->warned_syslog = 1;
            }
        }
    }
    for (long i = 0; i < p->count; i++) {
        int rc = send_one(p, t, data, size);
        if (rc != EXIT_DONE)
            return rc;
    }
    return EXIT_DONE;
}

/* Sends the --size messages.  Returns an exit code. */
static int send_generated(struct ppub *p)
{
    static const char pattern[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char *buf = malloc((size_t)p->size + 1);
    int rc = EXIT_DONE;

    if (!buf) {
        tool_err("out of memory for %ld-byte messages", p->size);
        return EXIT_USAGE;
    }
    for (size_t k = 0; k < (size_t)p->size; k++)
        buf[k] = pattern[k % (sizeof pattern - 1)];
    for (long i = 0; i < p->count && rc == EXIT_DONE; i++) {
        /* The index and a space start the payload, cut to --size bytes;
         * written by hand, since snprintf cost more than the publish. */
        char head[32], *h = head + sizeof head;
        *--h = ' ';
        unsigned long v = (unsigned long)i;
        do
            *--h = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        size_t n = (size_t)(head + sizeof head - h);
        size_t hn = n < (size_t)p->size ? n : (size_t)p->size;
        memcpy(buf, h, hn);
        rc = send_one(p, p->topic, buf, (size_t)p->size);
        memcpy(buf, pattern, hn); /* hn < 22: the pattern's start, as it was */
    }
    free(buf);
    return rc;
}

/*
 * Reads all of fd (stdin for --raw, the file of -f) into a malloc'd *buf
 * of *len bytes; what names it in messages.  Returns an exit code.
 */
static int read_all(int fd, const char *what, char **buf, size_t *len)
{
    size_t cap = 65536;

    *len = 0;
    *buf = malloc(cap);
    if (!*buf) {
        tool_err("out of memory");
        return EXIT_USAGE;
    }
    for (;;) {
        if (*len == cap) {
            if (cap > STDIN_MAX)
                break;
            char *nb = realloc(*buf, cap * 2);
            if (!nb) {
                tool_err("out of memory");
                goto fail;
            }
            *buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, *buf + *len, cap - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            tool_err("cannot read %s: %s", what, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        *len += (size_t)r;
    }
    if (*len > STDIN_MAX) {
        tool_err("message in %s is larger than %u MiB", what, STDIN_MAX >> 20);
        free(*buf);
        *buf = NULL;
        return EXIT_REFUSED;
    }
    return EXIT_DONE;
fail:
    free(*buf);
    *buf = NULL;
    return EXIT_USAGE;
}

/* Sends all of the file of -f as one message.  Returns an exit code. */
static int send_file(struct ppub *p)
{
    int fd = open(p->file, O_RDONLY | O_CLOEXEC);
    char *buf;
    size_t len;
    int rc;

    if (fd < 0) {
        tool_err("cannot open '%s': %s", p->file, strerror(errno));
        return EXIT_USAGE;
    }
    rc = read_all(fd, p->file, &buf, &len);
    close(fd);
    if (rc == EXIT_DONE)
        rc = send_message(p, buf, len, 1);
    free(buf);
    return rc;
}

/* Reads stdin as --raw, -0 or lines says and sends each message. */
static int send_stdin(struct ppub *p)
{
    int rc = EXIT_DONE;
    long lineno = 0;

    if (p->raw) {
        char *buf;
        size_t len;
        rc = read_all(STDIN_FILENO, "stdin", &buf, &len);
        if (rc == EXIT_DONE)
            rc = send_message(p, buf, len, 1);
        free(buf);
        return rc;
    }
    /* Someone at a terminal should know ppub is waiting for them. */
    if (isatty(STDIN_FILENO))
        tool_err("reading messages from stdin, one a line; end with Ctrl-D");

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    /* Lines from a pipe in reads of 64 KiB rather than stdio's 4 KiB. */
    setvbuf(stdin, NULL, _IOFBF, 1 << 16);
    while (rc == EXIT_DONE && (n = getdelim(&line, &cap, p->nul ? '\0' : '\n', stdin)) >= 0) {
        lineno++;
        if (n > 0 && line[n - 1] == (p->nul ? '\0' : '\n'))
            n--;
        if ((size_t)n > STDIN_MAX) {
            tool_err("message %ld on stdin is larger than %u MiB", lineno, STDIN_MAX >> 20);
            rc = EXIT_REFUSED;
            break;
        }
        rc = send_message(p, line, (size_t)n, lineno);
    }
    if (rc == EXIT_DONE && ferror(stdin)) {
        tool_err("cannot read stdin: %s", strerror(errno));
        rc = EXIT_USAGE;
    }
    free(line);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        TOOL_COMMON_LONGOPTS,
        {"channel", required_argument, NULL, 'c'},
        {"topic", required_argument, NULL, 't'},
        {"null", no_argument, NULL, '0'},
        {"raw", no_argument, NULL, OPT_RAW},
        {"count", required_argument, NULL, 'n'},
        {"size", required_argument, NULL, OPT_SIZE},
        {"rate", required_argument, NULL, OPT_RATE},
        {"topic-from", required_argument, NULL, OPT_TOPIC_FROM},
        {"sync", no_argument, NULL, OPT_SYNC},
        {"confirm", no_argument, NULL, OPT_CONFIRM},
        {"retain", no_argument, NULL, OPT_RETAIN},
        {"request", no_argument, NULL, OPT_REQUEST},
        {"async", no_argument, NULL, OPT_ASYNC},
        {"explain", no_argument, NULL, OPT_EXPLAIN},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"message", required_argument, NULL, 'm'},
        {"file", required_argument, NULL, 'f'},
        {"lines", no_argument, NULL, 'l'},
        {"verbose", no_argument, NULL, 'v'},
        {"strict", no_argument, NULL, OPT_STRICT},
        TOOL_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0}};
    struct ppub p;
    int opt, rc, ntopic = 0;

    memset(&p, 0, sizeof p);
    tool_init(&p.o, "ppub", 5000);
    p.count = 1;
    p.size = -1;
    while ((opt = tool_getopt(argc, argv, TOOL_COMMON_SHORTOPTS TOOL_CLIENT_SHORTOPTS
                              "c:t:0n:m:f:lrv", longopts)) != -1) {
        if (tool_common_option(&p.o, opt, optarg, usage))
            continue;
        switch (opt) {
        case 'c':
            if (p.channel)
                return tool_usage_error("one channel per run (-c '%s' and -c '%s')", p.channel,
                                        optarg);
            p.channel = optarg;
            break;
        case 't':
            if (ntopic++)
                return tool_usage_error("one topic per run (-t '%s' and -t '%s')", p.topic, optarg);
            p.topic = optarg;
            break;
        case 'm':
            if (p.nmessage == MESSAGES_MAX)
                return tool_usage_error("too many -m (at most %d)", MESSAGES_MAX);
            p.messages[p.nmessage++] = optarg;
            break;
        case 'f':
            p.file = optarg;
            break;
        case 'l':
            p.lines = 1;
            break;
        case 'v':
            p.verbose = 1;
            break;
        case 'r':
            p.flags |= PS_RETAIN;
            break;
        case '0':
            p.nul = 1;
            break;
        case OPT_RAW:
            p.raw = 1;
            break;
        case 'n':
            if (tool_parse_long(optarg, 1, 1000000000L, "count", &p.count) < 0)
                return EXIT_USAGE;
            p.count_set = 1;
            break;
        case OPT_SIZE:
            if (tool_parse_long(optarg, 0, STDIN_MAX, "size", &p.size) < 0)
                return EXIT_USAGE;
            break;
        case OPT_RATE:
            if (tool_parse_long(optarg, 1, 100000000L, "rate", &p.rate) < 0)
                return EXIT_USAGE;
            break;
        case OPT_TOPIC_FROM:
            if (strcmp(optarg, "syslog") != 0)
                return tool_usage_error("unknown --topic-from '%s' (only 'syslog' is known)", optarg);
            p.syslog = 1;
            break;
        case OPT_SYNC:
            p.sync = 1;
            break;
        case OPT_CONFIRM:
            p.flags |= PS_CONFIRM;
            break;
        case OPT_RETAIN:
            p.flags |= PS_RETAIN;
            break;
        case OPT_REQUEST:
            p.request = 1;
            break;
        case OPT_ASYNC:
            p.async = 1;
            break;
        case OPT_EXPLAIN:
            p.o.explain = 1;
            break;
        case OPT_PROGRESS:
            p.progress.on = 1;
            break;
        case OPT_STRICT:
            p.flags |= PS_STRICT;
            break;
        default:
            return tool_usage_error("unknown option");
        }
    }
    /* -t CHANNEL:TOPIC without -c names both; else $PUBSUB_CHANNEL. */
    if (!p.channel && p.topic &&
        tool_split_channel(p.topic, &p.channel_owned, &p.topic) < 0)
        return tool_usage_error("out of memory");
    if (p.channel_owned)
        p.channel = p.channel_owned;
    if (!p.channel)
        p.channel = getenv("PUBSUB_CHANNEL");
    if (!p.channel || !*p.channel)
        return tool_usage_error("no channel given (-c CHANNEL, -t CHANNEL:TOPIC or $PUBSUB_CHANNEL)");
    int sources = (p.nmessage > 0 || optind < argc) + (p.file != NULL) + (p.size >= 0) +
                  (p.lines || p.raw || p.nul);
    if (sources > 1)
        return tool_usage_error("messages from one source per run: MESSAGE or -m, -f FILE, "
                                "--size, or stdin (-l, --raw, -0)");
    if (p.sync && p.request)
        return tool_usage_error("--sync and --request cannot be combined");
    if (p.async && !p.request)
        return tool_usage_error("--async goes with --request (plain publishing is async already)");
    if (p.request && p.flags)
        return tool_usage_error("--retain, --confirm and --strict do not apply to --request");
    if (p.raw && p.nul)
        return tool_usage_error("--raw and -0 cannot be combined");
    if (p.size >= 0 && optind < argc)
        return tool_usage_error("--size generates the messages; give no MESSAGE with it");
    if (p.syslog && (p.size >= 0 || p.raw))
        return tool_usage_error("--topic-from syslog reads stdin lines; not with --size or --raw");
    if (p.size >= 0 && (p.raw || p.nul))
        return tool_usage_error("--size does not read stdin; not with --raw or -0");

    /* A reply printed to a closed pipe must not kill ppub before its flush. */
    signal(SIGPIPE, SIG_IGN);
    if (p.o.explain)
        tool_explain_start();
    if (p.progress.on)
        tool_progress_start(&p.progress, p.request ? "requested" : "sent");
    p.c = tool_connect(&p.o, &rc);
    if (!p.c)
        return rc;

    int64_t start_us = tool_explain_now();
    if (p.size >= 0) {
        rc = send_generated(&p);
    } else if (p.file) {
        rc = send_file(&p);
    } else if (p.nmessage > 0 || optind < argc) {
        rc = EXIT_DONE;
        for (int i = 0; i < p.nmessage && rc == EXIT_DONE; i++)
            rc = send_message(&p, p.messages[i], strlen(p.messages[i]), i + 1);
        for (int i = optind; i < argc && rc == EXIT_DONE; i++)
            rc = send_message(&p, argv[i], strlen(argv[i]), p.nmessage + i - optind + 1);
    } else {
        rc = send_stdin(&p);
    }
    /* --request --async: now collect the replies of each request in order. */
    for (size_t i = 0; i < p.nticket; i++) {
        tool_explain("ppub            #%zu: now collecting its replies (kind 3: ppub sent every "
                     "request first)", i + 1);
        if (rc == EXIT_DONE)
            rc = collect_replies(&p, p.tickets[i], i + 1);
        else
            ps_request_end(p.c, p.tickets[i]);
    }
    free(p.tickets);

    /* The sync point: everything sent has been handled by the broker. */
    int64_t t0 = tool_explaining() ? tool_explain_now() : 0;
    tool_explain("ppub            the sync point: ps_flush() waits until the broker has handled "
                 "everything ppub sent");
    if (rc != EXIT_DONE)
        p.told = ~0u; /* a failure is said in its one line, without notes beside it */
    int frc = confirm_point(&p);
    tool_explain("ppub            ps_flush() returned after %.3f ms%s", tool_explain_ms(t0),
                 frc == EXIT_DONE ? ": the broker has it all" : "");
    if (rc == EXIT_DONE)
        rc = frc;
    if (rc == EXIT_DONE && p.verbose)
        verbose_summary(&p, start_us);
    tool_progress_end(&p.progress);
    free(p.channel_owned);
    kept_clear(&p);
    free(p.kept);
    if (fflush(stdout) != 0 && rc == EXIT_DONE && errno != EPIPE) {
        tool_err("cannot write stdout: %s", strerror(errno));
        rc = EXIT_USAGE;
    }
    ps_close(&p.c);
    return rc;
}
