/*
 * explain.c - `--explain` of ppub and psub: a trace on stderr of what
 * happened to each message, with times relative to the start of the run,
 * so that a student sees the four kinds of communication of the lecture
 * instead of reading about them: an asynchronous message returns as soon
 * as it is in the library's buffer; a synchronous one returns when the
 * broker reports the receivers' receipts ("2/3 confirmed"); a request
 * returns a ticket at once or waits for its reply.
 *
 * The lines come from the library's trace events (ps_opts_set_trace) and
 * from the tools' own notes (tool_explain): "-> lib" is a command handed
 * to libpubsub, "-> broker" the same command leaving on the socket,
 * "broker ->" what came back.  Messages are numbered in the order the
 * tool handed them over (#1, #2...), deliveries in the order they came
 * (delivery #1...); answers are matched to them by correlation id, ACKs
 * and replies by the broker's delivery tag, through two small rings of
 * the most recent ones.  Heartbeats are left out: they say nothing about
 * any message.
 */
#include "common.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RING 256      /* recent correlation ids and tags remembered */
#define LINE_MAX 1400 /* bytes of one trace line */

/* What a correlation id or a delivery tag stood for. */
struct seen {
    uint64_t key;     /* the corr or tag; 0 = free slot */
    long num;         /* message or delivery number, 0 for none */
    const char *what; /* the command ("PUBLISH", "SUBSCRIBE", "DELIVER"...) */
    unsigned flags;   /* its PS_EVF_* */
    int64_t at_us;    /* when it was handed over or arrived */
};

static struct {
    pthread_mutex_t lock;     /* events come from two threads */
    int on;                   /* --explain was given */
    int64_t start_us;         /* time 0 of the trace */
    long handed;              /* PUBLISH and REQUEST commands handed over */
    long sent;                /* ... and sent, in the same order */
    long delivered;           /* DELIVERs received */
    struct seen corrs[RING];  /* correlation ids of commands handed over */
    size_t next_corr;         /* next slot to fill in corrs */
    struct seen tags[RING];   /* delivery tags of DELIVERs received */
    size_t next_tag;          /* next slot to fill in tags */
} ex = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void tool_explain_start(void)
{
    ex.on = 1;
    ex.start_us = now_us();
}

int tool_explaining(void)
{
    return ex.on;
}

double tool_explain_ms(int64_t since_us)
{
    return (double)(now_us() - since_us) / 1000.0;
}

int64_t tool_explain_now(void)
{
    return now_us();
}

/* Appends to a line buffer, never past its end. */
static void add(char *buf, size_t *pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    if (*pos >= LINE_MAX - 1)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, LINE_MAX - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos += (size_t)n < LINE_MAX - *pos ? (size_t)n : LINE_MAX - 1 - *pos;
}

/* Writes "TOOL: [   1.234 ms] text" as one write, so threads do not mix lines. */
static void emit(int64_t at_us, const char *text)
{
    char line[LINE_MAX + 64];
    int n = snprintf(line, sizeof line, "%s: [%10.3f ms] %s\n", tool_name,
                     (double)(at_us - ex.start_us) / 1000.0, text);
    if (n > 0)
        tool_write_all(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void tool_explain(const char *fmt, ...)
{
    char text[LINE_MAX];
    va_list ap;
    if (!ex.on)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&ex.lock);
    emit(now_us(), text);
    pthread_mutex_unlock(&ex.lock);
}

static void remember(struct seen *ring, size_t *next, uint64_t key, long num, const char *what,
                     unsigned flags, int64_t at_us)
{
    ring[*next] = (struct seen){.key = key, .num = num, .what = what, .flags = flags, .at_us = at_us};
    *next = (*next + 1) % RING;
}

static const struct seen *recall(const struct seen *ring, uint64_t key)
{
    for (size_t i = 0; key && i < RING; i++)
        if (ring[i].key == key)
            return &ring[i];
    return NULL;
}

static int is_message(const char *cmd)
{
    return !strcmp(cmd, "PUBLISH") || !strcmp(cmd, "REQUEST");
}

/* "'logs' topic amd64/sshd, 5 bytes" */
static void describe(char *buf, size_t *pos, const ps_event *ev)
{
    if (ev->channel)
        add(buf, pos, " '%.*s'", (int)ev->channel_len, ev->channel);
    if (ev->topic)
        add(buf, pos, " %s %.*s", strcmp(ev->command, "SUBSCRIBE") ? "topic" : "pattern",
            (int)ev->topic_len, ev->topic);
    if (!strcmp(ev->command, "SUBSCRIBE"))
        return;
    add(buf, pos, ", %zu byte%s", ev->size, ev->size == 1 ? "" : "s");
}

/* "#3" for a message of ours, "delivery #2" for one we received, or the command. */
static void name_of(char *buf, size_t *pos, const struct seen *s)
{
    if (!s)
        add(buf, pos, "an earlier command");
    else if (!strcmp(s->what, "DELIVER"))
        add(buf, pos, "delivery #%ld", s->num);
    else if (s->num)
        add(buf, pos, "#%ld", s->num);
    else
        add(buf, pos, "%s", s->what);
}

/* A command handed to the library by the application. */
static void handed(char *buf, size_t *pos, const ps_event *ev)
{
    const char *c = ev->command;
    long num = 0;
    if (is_message(c))
        num = ++ex.handed;
    if (ev->corr)
        remember(ex.corrs, &ex.next_corr, ev->corr, num, c, ev->flags, ev->time_us);
    add(buf, pos, "%s -> lib     ", tool_name);
    if (num) {
        add(buf, pos, "%s #%ld to", c, num);
        describe(buf, pos, ev);
        if (ev->flags & PS_EVF_SYNC)
            add(buf, pos, ", sync: its receivers must confirm");
        if (ev->flags & PS_EVF_CONFIRM)
            add(buf, pos, ", the broker must confirm");
        if (ev->flags & PS_EVF_RETAIN)
            add(buf, pos, ", retained");
        add(buf, pos, ": in libpubsub's send buffer");
    } else if (!strcmp(c, "ACK") || !strcmp(c, "REPLY")) {
        const struct seen *d = recall(ex.tags, ev->tag);
        add(buf, pos, "%s of ", c);
        name_of(buf, pos, d);
        if (!strcmp(c, "REPLY"))
            add(buf, pos, " (%zu bytes%s)", ev->size, ev->status ? ", an error reply" : "");
        else if (d && (d->flags & PS_EVF_QUEUED))
            add(buf, pos, ": done with it, the broker may forget it");
        else if (d && (d->flags & PS_EVF_SYNC))
            add(buf, pos, ": the receipt its sender waits for");
    } else if (!strcmp(c, "SUBSCRIBE")) {
        add(buf, pos, "SUBSCRIBE to");
        describe(buf, pos, ev);
        if (ev->flags & PS_EVF_RESPONDER)
            add(buf, pos, ", answering requests");
    } else if (!strcmp(c, "PING")) {
        add(buf, pos, "PING: the sync point, has the broker handled everything?");
    } else {
        add(buf, pos, "%s", c);
    }
}

/* The same command leaving on the socket. */
static void sent(char *buf, size_t *pos, const ps_event *ev)
{
    const char *c = ev->command;
    add(buf, pos, "%s -> broker  ", tool_name);
    if (is_message(c)) {
        add(buf, pos, "%s #%ld sent", c, ++ex.sent);
    } else if (!strcmp(c, "PUBLISH_BATCH")) {
        /* Plain publishes to one channel and topic, packed by the library. */
        if (ev->count == 1)
            add(buf, pos, "PUBLISH #%ld sent, in a PUBLISH_BATCH of 1", ex.sent + 1);
        else
            add(buf, pos, "PUBLISH #%ld to #%ld sent in one PUBLISH_BATCH of %u", ex.sent + 1,
                ex.sent + ev->count, ev->count);
        ex.sent += ev->count;
    } else if (!strcmp(c, "ACK") || !strcmp(c, "REPLY")) {
        add(buf, pos, "%s of ", c);
        name_of(buf, pos, recall(ex.tags, ev->tag));
        add(buf, pos, " sent");
    } else if (!strcmp(c, "ACK_BATCH")) {
        /* The acknowledgements held while more messages waited. */
        add(buf, pos, "%u ACKs sent in one ACK_BATCH", ev->count);
    } else if (!strcmp(c, "HELLO")) {
        add(buf, pos, "HELLO: asks for a session");
    } else if (!strcmp(c, "BYE")) {
        add(buf, pos, "BYE: the session ends");
    } else {
        add(buf, pos, "%s sent", c);
    }
}

/* What the broker sent. */
static void received(char *buf, size_t *pos, const ps_event *ev)
{
    const char *c = ev->command;
    const struct seen *q = recall(ex.corrs, ev->corr);
    add(buf, pos, "broker -> %s  ", tool_name);
    if (!strcmp(c, "DELIVER")) {
        long num = ++ex.delivered;
        if (ev->tag)
            remember(ex.tags, &ex.next_tag, ev->tag, num, c, ev->flags, ev->time_us);
        add(buf, pos, "DELIVER, delivery #%ld:", num);
        describe(buf, pos, ev);
        add(buf, pos, ", seq %llu", (unsigned long long)ev->seq);
        if (ev->flags & PS_EVF_RETAIN)
            add(buf, pos, ", a retained value");
        if (ev->flags & PS_EVF_REDELIVERED)
            add(buf, pos, ", delivered again");
        if (ev->flags & PS_EVF_QUEUED)
            add(buf, pos, ", a queue message: to acknowledge");
        if (ev->flags & PS_EVF_SYNC)
            add(buf, pos, ", a sync message: its sender waits for our receipt");
        if (ev->flags & PS_EVF_REQUEST)
            add(buf, pos, ", a request: its sender waits for our reply");
        return;
    }
    if (!strcmp(c, "DELIVER_BATCH")) {
        long num = ex.delivered + 1;
        ex.delivered += ev->count;
        add(buf, pos, "DELIVER_BATCH, deliveries #%ld to #%ld:", num, ex.delivered);
        describe(buf, pos, ev);
        add(buf, pos, ", seq %llu to %llu", (unsigned long long)ev->seq,
            (unsigned long long)(ev->seq + ev->count - 1));
        return;
    }
    if (!strcmp(c, "WELCOME")) {
        add(buf, pos, "WELCOME: the session is open");
        return;
    }
    if (!strcmp(c, "PONG")) {
        add(buf, pos, "PONG: the broker has handled everything sent before");
        return;
    }
    if (!strcmp(c, "GAP")) {
        add(buf, pos, "GAP on '%.*s': the broker dropped %llu messages, we were too slow",
            (int)ev->channel_len, ev->channel ? ev->channel : "", (unsigned long long)ev->seq);
        return;
    }
    add(buf, pos, "%s for ", c);
    name_of(buf, pos, q);
    if (q)
        add(buf, pos, " after %.3f ms", (double)(ev->time_us - q->at_us) / 1000.0);
    if (!strcmp(c, "OK")) {
        if (q && !strcmp(q->what, "SUBSCRIBE"))
            add(buf, pos, ": the subscription is active%s", ev->count ? ", retained values follow" : "");
        else if (q && q->num)
            add(buf, pos, ": the broker has taken it (publisher confirm)");
    } else if (!strcmp(c, "RESULT")) {
        add(buf, pos, ": %u/%u receivers confirmed", ev->count, ev->expected);
        if (ev->expected == 0)
            add(buf, pos, ", nobody was attached");
        else if (ev->count == ev->expected)
            add(buf, pos, ", every receiver has it");
        else if (ev->count == 0)
            add(buf, pos, ", none in time (a negative acknowledgement)");
        else
            add(buf, pos, ", not all of them");
    } else if (!strcmp(c, "REPLY")) {
        add(buf, pos, ": %zu bytes%s", ev->size, ev->status ? ", an error reply" : "");
    } else if (!strcmp(c, "DONE")) {
        add(buf, pos, ": %u/%u responders replied", ev->count, ev->expected);
    } else if (!strcmp(c, "ERROR")) {
        add(buf, pos, ": %.*s", (int)ev->text_len, ev->text ? ev->text : "");
    }
}

void tool_explain_event(const ps_event *ev, void *arg)
{
    char buf[LINE_MAX];
    size_t pos = 0;
    (void)arg;
    if (ev->command && !strcmp(ev->command, "HEARTBEAT"))
        return;
    pthread_mutex_lock(&ex.lock);
    switch (ev->type) {
    case PS_EV_CONNECT:
        add(buf, &pos, "%s connects to %.*s", tool_name, (int)ev->text_len, ev->text);
        break;
    case PS_EV_LOST:
        add(buf, &pos, "session lost: %.*s; reconnecting", (int)ev->text_len, ev->text);
        break;
    case PS_EV_HANDED:
        handed(buf, &pos, ev);
        break;
    case PS_EV_SENT:
        sent(buf, &pos, ev);
        break;
    default:
        received(buf, &pos, ev);
        break;
    }
    buf[pos] = '\0';
    emit(ev->time_us, buf);
    pthread_mutex_unlock(&ex.lock);
}
