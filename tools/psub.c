/*
 * psub - subscribes to one or more channels and prints what arrives, as
 * it is or in a format of the user's (--format, -F TEMPLATE); optionally
 * answers requests with a shell command (--reply) or with the request
 * itself (--echo).
 *
 * Output is buffered: psub writes stdout when no further message is
 * waiting (always before it blocks), so a lone message shows at once and a
 * burst leaves in few write() calls.  On a queue psub is a consumer: each
 * message is acknowledged only after it was written out and stdout was
 * flushed, so killing psub at any moment loses nothing (the broker
 * redelivers what was not acknowledged).  SIGINT and SIGTERM arrive
 * through a signalfd polled next to the client's fd, so psub finishes the
 * messages in hand and exits 0.
 */
#include "common.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The most --reply takes from a command's stdout as a reply. */
#define REPLY_MAX (64u << 20)
/* The most of a command's stderr kept for an error reply. */
#define ERRTEXT_MAX 1024
/* Patterns psub accepts on one command line. */
#define PATTERNS_MAX 64
/* Messages written but not yet flushed at most: a longer burst is flushed
 * (and its queue messages acknowledged) in pieces of this many. */
#define UNFLUSHED_MAX 1024
/* During a burst the signalfd is read once every this many messages, not
 * after each one (a read per message would cost a syscall per message). */
#define SIGNAL_EVERY 256
/* stdout's buffer: what one write() carries at most in a burst. */
#define OUTBUF_SIZE (64u << 10)

enum {
    OPT_REPLY = OPT_TOOL_BASE,  /* --reply */
    OPT_ECHO,                   /* --echo */
    OPT_EXPLAIN,                /* --explain */
    OPT_PROGRESS                /* --progress */
};

/* Output formats; FMT_TEMPLATE is -F with a template of % sequences. */
enum { FMT_PLAIN, FMT_JSON, FMT_RAW, FMT_TEMPLATE };

/* One subscription: a channel and a pattern (NULL: all topics). */
struct sub {
    const char *channel; /* channel name */
    const char *pattern; /* pubsub topic filter, or NULL */
};

/* Everything one run of psub does. */
struct psub {
    struct tool_opts o;                  /* shared options; timeout_ms < 0: none */
    struct tool_opts co;                 /* the options the client connects with */
    ps_client *c;                        /* the connection */
    const char *channels[PATTERNS_MAX];  /* -c, in order given */
    int nchannel;                        /* channels in use */
    const char *patterns[PATTERNS_MAX];  /* -t, in order given */
    int npattern;                        /* patterns in use */
    struct sub subs[PATTERNS_MAX];       /* what psub subscribes to */
    int nsub;                            /* subscriptions in use */
    char *owned[PATTERNS_MAX];           /* channel names split off -t CHANNEL:PATTERN */
    int nowned;                          /* names in owned */
    long count;                          /* -n, 0 = unlimited */
    long total_ms;                       /* -W: exit after this long, 0 = no limit */
    int format;                          /* FMT_* */
    const char *template;                /* -F TEMPLATE for FMT_TEMPLATE */
    int verbose;                         /* -v */
    const char *reply_cmd;               /* --reply */
    int echo;                            /* --echo */
    long handled;                        /* messages and requests handled */
    long received;                       /* messages ps_recv gave us (--explain numbers) */
    struct tool_progress progress;       /* --progress */
    /* Messages written to stdout's buffer but not yet flushed: kept so
     * queue messages are acknowledged only once they are really out. */
    ps_msg *unflushed[UNFLUSHED_MAX];
    int nunflushed;                      /* entries in unflushed */
    int write_failed;                    /* stdout failed (and it was said once) */
};

static void usage(FILE *out)
{
    fprintf(out,
"Usage: psub -c CHANNEL [-c CHANNEL]... [OPTION]...\n"
"   or: psub -t CHANNEL:PATTERN [-t CHANNEL:PATTERN]... [OPTION]...\n"
"Receive messages from channels of a pubsub broker and print them, or\n"
"answer requests.\n"
"\n"
"On a queue psub is a competing consumer: it takes each message off the\n"
"queue, and acknowledges it only after writing it out, so a psub killed at\n"
"any moment loses nothing.  On broadcast and pubsub channels it gets every\n"
"message published while it is attached (pubsub: whose topic matches one of\n"
"the patterns), retained values first.  SIGINT and SIGTERM make it finish the\n"
"message in hand and exit 0.\n"
"\n"
"  -c, --channel CHANNEL    a channel to receive from; may be repeated to receive\n"
"                           from several (default: $PUBSUB_CHANNEL)\n"
"  -t, --topic PATTERN      pubsub: a topic filter with MQTT wildcards: '+' is\n"
"                           one level, '#' (last) the rest, e.g. 'amd64/+' or\n"
"                           'amd64/#'; may be repeated (default '#': all).  Each\n"
"                           applies to every -c channel, which must be pubsub\n"
"                           channels (a pattern on a queue or broadcast channel\n"
"                           is refused).  Without -c, CHANNEL:PATTERN names the\n"
"                           channel too: -t logs:amd64/#, -t jobs: (all of it)\n"
"  -n, --count N            exit after N messages (requests count too)\n"
"  -C N                     the same as -n (mosquitto_sub's letter)\n"
"      --timeout MS         idle timeout: exit when no message came for MS\n"
"                           milliseconds (exit 0, or 3 with -n and fewer than N\n"
"                           messages); default: wait forever\n"
"  -W, --wait SECS          exit after SECS seconds in all, however busy (exit 0,\n"
"                           or 3 with -n and fewer than N messages)\n"
"  -F, --format FORMAT      plain (default): each payload and a newline;\n"
"                           json: one object a line with channel, topic, seq and\n"
"                           payload (a string if the payload is valid UTF-8,\n"
"                           else base64 with \"encoding\":\"base64\");\n"
"                           raw: the payload bytes only, nothing added;\n"
"                           or a template of %% sequences, written for each\n"
"                           message and a newline: %%c channel, %%t topic, %%p\n"
"                           payload, %%l its length, %%s sequence number, %%j the\n"
"                           json object, %%r 1 if retained else 0, %%U receive\n"
"                           time (Unix seconds), %%I the same in ISO 8601, %%%%\n"
"                           a '%%'; escapes \\n \\t \\\\ \\0.  Example: -F '%%t %%p'\n"
"  -v, --verbose            say on stderr when the subscription is active, when\n"
"                           the session to the broker was lost and when it came\n"
"                           back (what was published meanwhile is missed); plain:\n"
"                           put [TOPIC #SEQ HH:MM:SS.mmm] (receive time)\n"
"                           before each payload, and 'retained'/'redelivered'\n"
"                           when so; json: add \"time\", \"retained\",\n"
"                           \"redelivered\", and \"broker\" and \"epoch\" (who\n"
"                           delivered it, as pctl status shows them)\n"
"      --reply CMD          answer requests: run CMD with /bin/sh -c, the request\n"
"                           on its stdin; its stdout, less one final newline, is\n"
"                           the reply.  If CMD exits nonzero the requester gets an\n"
"                           error with CMD's first stderr line\n"
"      --echo               answer each request with the request itself\n"
"      --explain            trace on stderr what happens to each message, with\n"
"                           times since the start: connect, HELLO/WELCOME, the\n"
"                           subscription, each delivery, the receipt a sync\n"
"                           message asks for, the reply to a request, the ACK\n"
"                           of a queue message\n"
"      --progress           report the messages received and the rate on stderr\n"
"                           about once a second (one line rewritten on a\n"
"                           terminal), and a summary at the end\n"
TOOL_CLIENT_HELP
TOOL_COMMON_HELP
"\n"
"Messages missed because psub was too slow are reported on stderr as\n"
"\"psub: missed N messages on 'CHANNEL'\".\n"
"\n"
TOOL_EXIT_HELP
"\n"
"Examples:\n"
"  psub -c logs -t 'amd64/sshd'\n"
"  psub -t logs:amd64/# -F '%%t %%p'\n"
"  psub -c jobs -n 10 --timeout 2000 > jobs.txt\n"
"  psub -c time --reply date\n");
}

/* Writes the -v prefix "[topic #seq HH:MM:SS.mmm flags] " into buf.  The
 * topic is the publisher's choice and this is for a terminal, so it is
 * shown printable: no escape sequence of a publisher's reaches it. */
static void verbose_prefix(const ps_msg *m, char *buf, size_t cap)
{
    struct timeval tv;
    struct tm tm;
    char when[32], topic[1025];

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    ps__printable(topic, sizeof topic, ps_msg_topic(m), strlen(ps_msg_topic(m)));
    snprintf(buf, cap, "[%s%s#%llu %s.%03ld%s%s] ", topic, *topic ? " " : "",
             (unsigned long long)ps_msg_seq(m), when, (long)(tv.tv_usec / 1000),
             ps_msg_is_retained(m) ? " retained" : "",
             ps_msg_is_redelivered(m) ? " redelivered" : "");
}

/* The message as one JSON object (--format json, %j), malloc'd, or NULL. */
static char *json_text(const struct psub *s, const ps_msg *m)
{
    const char *data = ps_msg_data(m);
    size_t size = ps_msg_size(m);
    json_t *o = json_object();
    json_t *payload = NULL;
    char *text;

    if (!o)
        return NULL;
    json_object_set_new(o, "channel", json_string(ps_msg_channel(m)));
    json_object_set_new(o, "topic", json_string(ps_msg_topic(m)));
    json_object_set_new(o, "seq", json_integer((json_int_t)ps_msg_seq(m)));
    if (tool_utf8_valid(data, size))
        payload = json_stringn(data, size);
    if (payload) {
        json_object_set_new(o, "payload", payload);
    } else {
        char *b64 = tool_base64(data, size);
        json_object_set_new(o, "payload", b64 ? json_string(b64) : json_null());
        json_object_set_new(o, "encoding", json_string("base64"));
        free(b64);
    }
    if (s->verbose) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        json_object_set_new(o, "time", json_real((double)tv.tv_sec + tv.tv_usec / 1e6));
        json_object_set_new(o, "retained", json_boolean(ps_msg_is_retained(m)));
        json_object_set_new(o, "redelivered", json_boolean(ps_msg_is_redelivered(m)));
        /* Who delivered it, spelt as `pctl status --json` spells them. */
        char id[17], epoch[17];
        snprintf(id, sizeof id, "%016llx", (unsigned long long)ps_msg_broker(m));
        snprintf(epoch, sizeof epoch, "%016llx", (unsigned long long)ps_msg_epoch(m));
        json_object_set_new(o, "broker", json_string(id));
        json_object_set_new(o, "epoch", json_string(epoch));
    }
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/*
 * Writes m as the -F template says: %c channel, %t topic, %p payload, %l
 * its length, %s sequence number, %j the JSON object of --format json, %r
 * 1 for a retained value else 0, %U the receive time in seconds since the
 * epoch (with microseconds), %I the same as ISO 8601 local time, %% a
 * '%'; \n, \t, \\ and \0 are escapes.  A newline follows.  Returns 0 or -1.
 */
static int print_template(const struct psub *s, const ps_msg *m)
{
    struct timeval tv;
    struct tm tm;
    char when[64];

    gettimeofday(&tv, NULL);
    for (const char *p = s->template; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            putchar(*p == 'n' ? '\n' : *p == 't' ? '\t' : *p == '0' ? '\0' : *p);
            continue;
        }
        if (*p != '%' || !p[1]) {
            putchar(*p);
            continue;
        }
        switch (*++p) {
        case 'c':
            fputs(ps_msg_channel(m), stdout);
            break;
        case 't':
            fputs(ps_msg_topic(m), stdout);
            break;
        case 'p':
            fwrite(ps_msg_data(m), 1, ps_msg_size(m), stdout);
            break;
        case 'l':
            printf("%zu", ps_msg_size(m));
            break;
        case 's':
            printf("%llu", (unsigned long long)ps_msg_seq(m));
            break;
        case 'r':
            putchar(ps_msg_is_retained(m) ? '1' : '0');
            break;
        case 'U':
            printf("%lld.%06ld", (long long)tv.tv_sec, (long)tv.tv_usec);
            break;
        case 'I':
            localtime_r(&tv.tv_sec, &tm);
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S%z", &tm);
            fputs(when, stdout);
            break;
        case 'j': {
            char *text = json_text(s, m);
            if (!text)
                return -1;
            fputs(text, stdout);
            free(text);
            break;
        }
        default:
            /* Checked when the template was given; '%' itself is "%%". */
            putchar(*p);
            break;
        }
    }
    putchar('\n');
    return 0;
}

/*
 * True when template has % sequences and each is one print_template
 * knows; else *bad is the first unknown one ('\0' for none at all, so a
 * misspelt "jsn" is not taken for a template that prints "jsn").
 */
static int template_valid(const char *template, char *bad)
{
    *bad = '\0';
    if (!strchr(template, '%'))
        return 0;
    for (const char *p = template; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
        } else if (*p == '%') {
            if (!p[1] || !strchr("ctplsjrUI%", p[1])) {
                *bad = p[1];
                return 0;
            }
            p++;
        }
    }
    return 1;
}

/* Writes one message in the chosen format into stdout's buffer (see
 * flush_out).  Returns 0, or -1 when it could not be formatted. */
static int print_message(struct psub *s, const ps_msg *m)
{
    const char *data = ps_msg_data(m);
    size_t size = ps_msg_size(m);

    /* Only this thread writes stdout: the unlocked calls spare a lock per
     * message, and a write error is seen by flush_out (ferror) before
     * anything is acknowledged. */
    if (s->format == FMT_TEMPLATE) {
        return print_template(s, m) < 0 ? -1 : 0;
    } else if (s->format == FMT_RAW) {
        fwrite_unlocked(data, 1, size, stdout);
        return 0;
    } else if (s->format == FMT_PLAIN) {
        if (s->verbose) {
            char pre[1200];
            verbose_prefix(m, pre, sizeof pre);
            fputs_unlocked(pre, stdout);
        }
        fwrite_unlocked(data, 1, size, stdout);
        putc_unlocked('\n', stdout);
        return 0;
    } else {
        char *text = json_text(s, m);
        if (!text)
            return -1;
        fputs(text, stdout);
        putchar('\n');
        free(text);
    }
    return ferror(stdout) ? -1 : 0;
}

/*
 * Flushes stdout and then acknowledges the messages it carried (queue
 * messages; for others ps_ack does nothing).  Returns 0, 1 when psub
 * should stop quietly (stdout closed), or -1 on a write error; on failure
 * nothing is acknowledged, so the broker keeps those messages.
 */
static int flush_out(struct psub *s)
{
    int rc = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        rc = errno == EPIPE ? 1 : -1;
        if (rc < 0 && !s->write_failed)
            tool_err("cannot write stdout: %s", strerror(errno));
        s->write_failed = 1;
    }
    for (int i = 0; i < s->nunflushed; i++) {
        if (rc == 0)
            ps_ack(s->c, s->unflushed[i]);
        ps_msg_destroy(&s->unflushed[i]);
    }
    s->nunflushed = 0;
    return rc;
}

/*
 * Runs cmd with /bin/sh -c, in[0..nin) on its stdin.  Stores its stdout in
 * *out (malloc'd, *nout bytes) and the start of its stderr in err[errcap].
 * Returns the wait status, or -1 with errno when it could not run.
 */
static int run_command(const char *cmd, const void *in, size_t nin, char **out, size_t *nout,
                       char *err, size_t errcap)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    size_t written = 0, ocap = 4096, olen = 0, elen = 0;
    char *obuf = malloc(ocap);
    int status = -1, e = 0;
    pid_t pid;

    *out = NULL;
    *nout = 0;
    err[0] = '\0';
    if (!obuf || pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 ||
        pipe2(perr, O_CLOEXEC) < 0) {
        e = errno ? errno : ENOMEM;
        goto done;
    }
    pid = fork();
    if (pid < 0) {
        e = errno;
        goto done;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        dup2(pin[0], STDIN_FILENO);
        dup2(pout[1], STDOUT_FILENO);
        dup2(perr[1], STDERR_FILENO);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    pin[0] = pout[1] = perr[1] = -1;
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    if (nin == 0) {
        close(pin[1]);
        pin[1] = -1;
    }
    /* Feed stdin and drain stdout and stderr together, so neither side
     * can block the other; a command that does not read its stdin just
     * makes the write fail with EPIPE, which ends the feeding. */
    while (pout[0] >= 0 || perr[0] >= 0) {
        struct pollfd fds[3];
        int nf = 0, ii = -1, io = -1, ie = -1;
        if (pin[1] >= 0) {
            fds[nf] = (struct pollfd){.fd = pin[1], .events = POLLOUT};
            ii = nf++;
        }
        if (pout[0] >= 0) {
            fds[nf] = (struct pollfd){.fd = pout[0], .events = POLLIN};
            io = nf++;
        }
        if (perr[0] >= 0) {
            fds[nf] = (struct pollfd){.fd = perr[0], .events = POLLIN};
            ie = nf++;
        }
        if (poll(fds, (nfds_t)nf, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (ii >= 0 && fds[ii].revents) {
            ssize_t w = write(pin[1], (const char *)in + written, nin - written);
            if (w > 0)
                written += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == nin) {
                close(pin[1]);
                pin[1] = -1;
            }
        }
        if (io >= 0 && fds[io].revents) {
            if (olen == ocap && ocap <= REPLY_MAX) {
                char *nb = realloc(obuf, ocap * 2);
                if (nb) {
                    obuf = nb;
                    ocap *= 2;
                }
            }
            char sink[4096];
            ssize_t r = olen < ocap ? read(pout[0], obuf + olen, ocap - olen)
                                    : read(pout[0], sink, sizeof sink);
            if (r > 0 && olen < ocap)
                olen += (size_t)r;
            if (r == 0 || (r < 0 && errno != EINTR)) {
                close(pout[0]);
                pout[0] = -1;
            }
        }
        if (ie >= 0 && fds[ie].revents) {
            char tmp[4096];
            ssize_t r = read(perr[0], tmp, sizeof tmp);
            if (r > 0) {
                /* Pass it on, so the operator sees it, and keep the start. */
                tool_write_all(STDERR_FILENO, tmp, (size_t)r);
                size_t k = (size_t)r < errcap - 1 - elen ? (size_t)r : errcap - 1 - elen;
                memcpy(err + elen, tmp, k);
                elen += k;
                err[elen] = '\0';
            }
            if (r == 0 || (r < 0 && errno != EINTR)) {
                close(perr[0]);
                perr[0] = -1;
            }
        }
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (olen > REPLY_MAX)
        olen = REPLY_MAX;
    *out = obuf;
    *nout = olen;
    obuf = NULL;
done:
    for (int k = 0; k < 2; k++) {
        if (pin[k] >= 0)
            close(pin[k]);
        if (pout[k] >= 0)
            close(pout[k]);
        if (perr[k] >= 0)
            close(perr[k]);
    }
    free(obuf);
    if (e) {
        errno = e;
        return -1;
    }
    return status;
}

/* Answers the request m with --echo or --reply.  Returns 0 or -1 (errno). */
static int answer(struct psub *s, const ps_msg *m)
{
    char errtext[ERRTEXT_MAX];
    char *out = NULL;
    size_t nout = 0;
    int status, rc;

    if (s->echo)
        return ps_reply(s->c, m, ps_msg_data(m), ps_msg_size(m), 0);
    status = run_command(s->reply_cmd, ps_msg_data(m), ps_msg_size(m), &out, &nout, errtext,
                         sizeof errtext);
    if (status == -1) {
        snprintf(errtext, sizeof errtext, "cannot run command: %s", strerror(errno));
        tool_err("%s", errtext);
        return ps_reply(s->c, m, errtext, strlen(errtext), 1);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        /* Like $(CMD) in the shell, minus one newline: `echo r1` says "r1". */
        if (nout > 0 && out[nout - 1] == '\n')
            nout--;
        rc = ps_reply(s->c, m, out, nout, 0);
        free(out);
        return rc;
    }
    free(out);
    char *nl = strchr(errtext, '\n');
    if (nl)
        *nl = '\0';
    if (!errtext[0]) {
        if (WIFEXITED(status))
            snprintf(errtext, sizeof errtext, "command failed with status %d", WEXITSTATUS(status));
        else
            snprintf(errtext, sizeof errtext, "command killed by signal %d",
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    return ps_reply(s->c, m, errtext, strlen(errtext), 1);
}

/*
 * Handles one message and takes it over (*m is NULL after).  Returns 0, 1
 * when psub should stop quietly (stdout closed), or -1 on a write error.
 */
static int handle(struct psub *s, ps_msg **mp)
{
    ps_msg *m = *mp;
    uint64_t gap = ps_msg_gap(m);
    long num = ++s->received;

    if (tool_explaining()) /* a call with its arguments for every message, else */
        tool_explain("psub            delivery #%ld handed to psub by ps_recv()", num);
    if (gap > 0)
        tool_err("missed %llu messages on '%s'", (unsigned long long)gap, ps_msg_channel(m));
    if (ps_msg_is_request(m) && (s->reply_cmd || s->echo)) {
        tool_explain("psub            delivery #%ld is a request: %s", num,
                     s->echo ? "echoing it" : "running the --reply command");
        /* A --reply command may take long: what was printed goes out first. */
        int rc = flush_out(s);
        if (rc != 0) {
            ps_msg_destroy(mp);
            return rc;
        }
        if (answer(s, m) < 0)
            tool_err("cannot reply on '%s': %s", ps_msg_channel(m), ps_strerror(errno));
    } else {
        if (print_message(s, m) < 0) {
            /* Not written, so not acknowledged: the broker keeps it. */
            ps_msg_destroy(mp);
            int rc = flush_out(s); /* a write error fails here too: nothing acknowledged */
            if (rc == 0)
                tool_err("cannot format a message: out of memory");
            return rc ? rc : -1;
        }
        s->handled++;
        tool_progress_add(&s->progress, 1, ps_msg_size(m));
        /* Acknowledged by flush_out once stdout really carried it. */
        s->unflushed[s->nunflushed++] = m;
        *mp = NULL;
        if (s->o.explain) {
            /* The trace shows each message written out, then acknowledged. */
            if (fflush(stdout) == 0)
                tool_explain("psub            delivery #%ld written to stdout", num);
            return flush_out(s);
        }
        return s->nunflushed == UNFLUSHED_MAX ? flush_out(s) : 0;
    }
    ps_ack(s->c, m);
    s->handled++;
    tool_progress_add(&s->progress, 1, ps_msg_size(m));
    ps_msg_destroy(mp);
    return 0;
}

/*
 * Turns -c, -t and $PUBSUB_CHANNEL into the subscriptions: every pattern
 * on every -c channel (each channel whole without -t); without -c, a
 * pattern CHANNEL:PATTERN names its own channel and the others go to
 * $PUBSUB_CHANNEL.  Returns an exit code.
 */
static int plan_subscriptions(struct psub *s)
{
    const char *plain[PATTERNS_MAX];
    int nplain = 0;

    for (int i = 0; i < s->npattern; i++) {
        char *ch = NULL;
        const char *pat = s->patterns[i];
        int split = s->nchannel == 0 ? tool_split_channel(pat, &ch, &pat) : 0;
        if (split < 0)
            return tool_usage_error("out of memory");
        if (split == 0) {
            plain[nplain++] = pat;
            continue;
        }
        s->owned[s->nowned++] = ch;
        s->subs[s->nsub++] = (struct sub){ch, *pat ? pat : NULL};
    }
    if (s->nchannel == 0 && (nplain > 0 || s->nsub == 0)) {
        const char *env = getenv("PUBSUB_CHANNEL");
        if (!env || !*env)
            return tool_usage_error("no channel given (-c CHANNEL, -t CHANNEL:PATTERN or "
                                    "$PUBSUB_CHANNEL)");
        s->channels[s->nchannel++] = env;
    }
    for (int i = 0; i < s->nchannel; i++) {
        for (int k = 0; k < (nplain ? nplain : 1); k++) {
            if (s->nsub == PATTERNS_MAX)
                return tool_usage_error("too many subscriptions (at most %d)", PATTERNS_MAX);
            s->subs[s->nsub++] = (struct sub){s->channels[i], nplain ? plain[k] : NULL};
        }
    }
    /* Messages and -v name the channels, each once. */
    s->nchannel = 0;
    for (int i = 0; i < s->nsub; i++) {
        int k;
        for (k = 0; k < s->nchannel && strcmp(s->channels[k], s->subs[i].channel) != 0; k++)
            ;
        if (k == s->nchannel)
            s->channels[s->nchannel++] = s->subs[i].channel;
    }
    return EXIT_DONE;
}

/*
 * Subscribes to everything plan_subscriptions planned.  A topic pattern
 * on a queue or broadcast channel would be ignored by the broker, and the
 * user would get every message while believing in a filter: it is refused
 * here, when the broker tells the channel's type (it does to clients with
 * the admin right, and to every client without security).  Returns an
 * exit code.
 */
static int subscribe_all(struct psub *s)
{
    int flags = (s->reply_cmd || s->echo) ? PS_RESPONDER : 0;

    for (int i = 0; i < s->nsub; i++) {
        const struct sub *b = &s->subs[i];
        char type[32];
        if (b->pattern && tool_channel_type(s->c, b->channel, 5000, type, sizeof type) == 0 &&
            strcmp(type, "pubsub") != 0) {
            tool_err("'%s' is a %s channel: topics (-t '%s') apply only to pubsub channels; "
                     "leave -t out to receive all of it", b->channel, type, b->pattern);
            return EXIT_USAGE;
        }
        if (ps_subscribe(s->c, b->channel, b->pattern, flags) < 0)
            return tool_fail(s->c, errno, b->channel);
    }
    return EXIT_DONE;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        TOOL_COMMON_LONGOPTS,
        {"channel", required_argument, NULL, 'c'},
        {"topic", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},
        {"format", required_argument, NULL, 'F'},
        {"verbose", no_argument, NULL, 'v'},
        {"reply", required_argument, NULL, OPT_REPLY},
        {"echo", no_argument, NULL, OPT_ECHO},
        {"explain", no_argument, NULL, OPT_EXPLAIN},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"wait", required_argument, NULL, 'W'},
        TOOL_CLIENT_LONGOPTS,
        {NULL, 0, NULL, 0}};
    struct psub s;
    sigset_t sigs;
    int opt, rc = EXIT_DONE, sfd;
    int64_t last, start;
    long secs;
    char bad;
    long seen = 0; /* s.received when last was taken */

    memset(&s, 0, sizeof s);
    tool_init(&s.o, "psub", -1);
    while ((opt = tool_getopt(argc, argv, TOOL_COMMON_SHORTOPTS TOOL_CLIENT_SHORTOPTS
                              "c:t:n:C:vF:W:", longopts)) != -1) {
        if (tool_common_option(&s.o, opt, optarg, usage))
            continue;
        switch (opt) {
        case 'c':
            if (s.nchannel == PATTERNS_MAX)
                return tool_usage_error("too many channels (at most %d)", PATTERNS_MAX);
            s.channels[s.nchannel++] = optarg;
            break;
        case 't':
            if (s.npattern == PATTERNS_MAX)
                return tool_usage_error("too many patterns (at most %d)", PATTERNS_MAX);
            s.patterns[s.npattern++] = optarg;
            break;
        case 'n':
        case 'C':
            if (tool_parse_long(optarg, 1, 2000000000L, "count", &s.count) < 0)
                return EXIT_USAGE;
            break;
        case 'W':
            if (tool_parse_long(optarg, 1, 86400L * 365, "wait (seconds)", &secs) < 0)
                return EXIT_USAGE;
            s.total_ms = secs * 1000;
            break;
        case 'F':
            if (strcmp(optarg, "plain") == 0) {
                s.format = FMT_PLAIN;
            } else if (strcmp(optarg, "json") == 0) {
                s.format = FMT_JSON;
            } else if (strcmp(optarg, "raw") == 0) {
                s.format = FMT_RAW;
            } else if (template_valid(optarg, &bad)) {
                s.format = FMT_TEMPLATE;
                s.template = optarg;
            } else {
                if (!bad)
                    return tool_usage_error("unknown format '%s' (plain, json, raw, or a template "
                                            "such as '%%t %%p')", optarg);
                return tool_usage_error("unknown %%%c in format '%s' (a template knows %%c %%t %%p "
                                        "%%l %%s %%j %%r %%U %%I %%%%)", bad, optarg);
            }
            break;
        case 'v':
            s.verbose = 1;
            break;
        case OPT_REPLY:
            s.reply_cmd = optarg;
            break;
        case OPT_ECHO:
            s.echo = 1;
            break;
        case OPT_EXPLAIN:
            s.o.explain = 1;
            break;
        case OPT_PROGRESS:
            s.progress.on = 1;
            break;
        default:
            return tool_usage_error("unknown option");
        }
    }
    if (optind < argc)
        return tool_usage_error("unexpected argument '%s'", argv[optind]);
    if (s.reply_cmd && s.echo)
        return tool_usage_error("--reply and --echo cannot be combined");
    if ((rc = plan_subscriptions(&s)) != EXIT_DONE)
        return rc;

    /* Block the signals before the library starts its threads, so they
     * all inherit the mask and the signals reach only the signalfd. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        tool_err("signalfd: %s", strerror(errno));
        return EXIT_USAGE;
    }

    if (s.o.explain)
        tool_explain_start();
    /* The connect timeout is the library's, not the idle timeout; the
     * options stay in s because the client's trace reads them. */
    s.co = s.o;
    s.co.timeout_set = 0;
    s.co.watch_session = s.verbose;
    /* A consumer that stops after N messages should not take more off
     * the queue than that, or others wait for their redelivery. */
    if (s.count > 0)
        s.co.window = s.count < 100 ? (int)s.count : 100;
    s.c = tool_connect(&s.co, &rc);
    if (!s.c)
        return rc;
    if ((rc = subscribe_all(&s)) != EXIT_DONE) {
        ps_close(&s.c);
        return rc;
    }
    /* Scripts wait for this line before they publish: from here on nothing is missed. */
    if (s.verbose) {
        char names[1024] = "";
        for (int i = 0, pos = 0; i < s.nchannel && pos < (int)sizeof names; i++)
            pos += snprintf(names + pos, sizeof names - (size_t)pos, "%s'%s'",
                            i == 0 ? "" : i + 1 < s.nchannel ? ", " : " and ", s.channels[i]);
        fprintf(stderr, "%s: subscribed to %s\n", tool_name, names);
    }
    tool_explain("psub            subscribed: nothing published from now on is missed");
    if (s.progress.on)
        tool_progress_start(&s.progress, "received");

    /* A burst leaves in writes of OUTBUF_SIZE, an idle stream at each message. */
    setvbuf(stdout, NULL, _IOFBF, OUTBUF_SIZE);
    last = start = tool_now_ms();
    for (;;) {
        ps_msg *m;
        struct pollfd fds[2];
        int wait_ms;

        if (s.count > 0 && s.handled >= s.count)
            break;
        m = ps_recv(s.c, 0);
        if (m) {
            int h = handle(&s, &m);
            if (h != 0) {
                rc = h < 0 ? EXIT_USAGE : EXIT_DONE;
                break;
            }
            /* A signal that came meanwhile ends psub after these messages. */
            struct signalfd_siginfo si;
            if (s.received % SIGNAL_EVERY == 0 && read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                break;
            continue;
        }
        if (errno != ETIMEDOUT && errno != EAGAIN && errno != EINTR) {
            rc = tool_fail(s.c, errno, s.channels[0]);
            break;
        }
        /* Nothing more is waiting: what was written goes out before psub blocks. */
        if (s.nunflushed > 0) {
            int h = flush_out(&s);
            if (h != 0) {
                rc = h < 0 ? EXIT_USAGE : EXIT_DONE;
                break;
            }
        }
        /* The idle time counts from the end of the last burst. */
        if (s.received != seen) {
            seen = s.received;
            last = tool_now_ms();
        }
        /* Nothing in hand: wait for the client's fd, a signal or the idle timeout.
         * The wait is capped so a missed wakeup costs at most a second. */
        wait_ms = 1000;
        if (s.total_ms > 0) {
            int64_t left = start + s.total_ms - tool_now_ms();
            if (left <= 0) {
                if (s.count > 0 && s.handled < s.count) {
                    tool_err("only %ld of %ld messages on '%s' within %ld s", s.handled, s.count,
                             s.channels[0], s.total_ms / 1000);
                    rc = EXIT_TIMEOUT;
                }
                break;
            }
            if (left < wait_ms)
                wait_ms = (int)left;
        }
        if (s.o.timeout_ms >= 0) {
            int64_t left = last + s.o.timeout_ms - tool_now_ms();
            if (left <= 0) {
                if (s.count > 0 && s.handled < s.count) {
                    tool_err("only %ld of %ld messages on '%s' (idle for %d ms)", s.handled,
                             s.count, s.channels[0], s.o.timeout_ms);
                    rc = EXIT_TIMEOUT;
                }
                break;
            }
            if (left < wait_ms)
                wait_ms = (int)left;
        }
        tool_progress_tick(&s.progress);
        fds[0] = (struct pollfd){.fd = ps_fd(s.c), .events = POLLIN};
        fds[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
        if (poll(fds, 2, wait_ms) < 0 && errno != EINTR) {
            tool_err("poll: %s", strerror(errno));
            rc = EXIT_USAGE;
            break;
        }
        if (fds[1].revents & POLLIN)
            break;
    }
    /* What is still buffered goes out (and is acknowledged) first. */
    if (flush_out(&s) < 0 && rc == EXIT_DONE)
        rc = EXIT_USAGE;
    /* Make sure the acknowledgements reached the broker before leaving. */
    ps_flush(s.c, 2000);
    tool_progress_end(&s.progress);
    ps_close(&s.c);
    close(sfd);
    for (int i = 0; i < s.nowned; i++)
        free(s.owned[i]);
    return rc;
}
