/*
 * http.c - the HTTP monitoring endpoint (broker.http): /metrics in
 * Prometheus's text format, /status, /channels and /clients as `pctl ...
 * --json` prints them (admin.c builds both), a live page at / (www.c) and
 * live tails of a pubsub channel as server-sent events at /tail.
 *
 * libmicrohttpd serves it from the broker's own loop: it is started with
 * MHD_USE_EPOLL and no thread of its own, its epoll fd is a source of the
 * loop (MHD_run when it is readable) and a turn job runs MHD_run again
 * when MHD's own timeouts are due, so every request is answered in the
 * loop's thread, between records, and reads the broker without a lock.
 * A live tail is the fan-out hook http_tap: it copies what matches into
 * the tail's bounded buffer and resumes the connection MHD was told to
 * suspend while the buffer was empty; a browser that falls behind by more
 * than the bound is cut off, never waited for.  Everything else is
 * bounded too: connections in all and per address, memory per connection
 * (which bounds a request's headers), an idle timeout, no request body.
 *
 * With broker.http.token_file every request, the page included, must
 * carry "Authorization: Bearer TOKEN" or the login cookie, both compared
 * in constant time.  A browser cannot send that header when it navigates
 * or opens an EventSource, so / answers 401 with a login form
 * (www/login.html), which sends the token once as the header to /login;
 * /login answers with the cookie: a random value drawn at start, not the
 * token itself, HttpOnly (no script of the page can read it) and
 * SameSite=Strict (no other site's page can make the browser send it).
 * The cookie rather than a ?token= in the address, because an address
 * ends up in the browser's history, in proxies' logs and in Referer
 * headers.  The listen address and the token are fixed at start (a
 * reload says so); a restart ends every login.
 */
#include "brokerd.h"

#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "text.h"

#define HTTP_CONNECTIONS_MAX 64      /* connections at once; more are closed at accept */
#define HTTP_PER_IP_MAX 32           /* ... of them from one address */
#define HTTP_MEMORY_MAX (32 * 1024)  /* bytes of memory per connection: bounds a request */
#define HTTP_TIMEOUT_S 10            /* an idle connection is closed after this */
#define HTTP_BACKLOG 64              /* connections waiting to be accepted */
#define HTTP_WAIT_MAX_MS 1000        /* the turn job looks at MHD at least this often */
#define TAILS_MAX 16                 /* live tails at once */
#define TAIL_BUF_MAX (256 * 1024)    /* bytes waiting for one tail; beyond, it is cut off */
#define TAIL_SHOWN_MAX 1024          /* bytes of a payload shown in a tail's event */
#define TAIL_BEAT_MS 5000            /* a comment to every tail this often: finds closed ones */
#define SESSION_COOKIE "brokerd_session" /* the login cookie's name */
#define SESSION_BYTES 32             /* random bytes in the login cookie's value */

/* One live tail: a /tail request's connection and what waits for it. */
typedef struct tail {
    struct http *h;                /* the endpoint it belongs to */
    struct MHD_Connection *conn;   /* its connection */
    char channel[PS_WIRE_NAME_MAX + 1]; /* the channel it follows */
    char pattern[PS_WIRE_TOPIC_MAX + 1]; /* its topic filter */
    size_t plen;                   /* bytes in pattern */
    ps__buf buf;                   /* events not yet taken by MHD */
    size_t off;                    /* bytes of buf taken already */
    int suspended;                 /* MHD waits for a resume to ask for more */
    int cut;                       /* fell behind or the broker stops: end the stream */
    LIST_ENTRY(tail) link;         /* the endpoint's tails */
} tail;

/* The endpoint (b->http). */
struct http {
    broker *b;                     /* the broker it shows */
    struct MHD_Daemon *d;          /* libmicrohttpd's daemon */
    char *token;                   /* the bearer token every request needs, or NULL */
    char session[2 * SESSION_BYTES + 1]; /* the login cookie's value in hex, drawn at start */
    char *listen;                  /* where it listens, as configured */
    LIST_HEAD(, tail) tails;       /* live tails */
    size_t n_tails;                /* entries in tails */
    uint64_t tails_cut;            /* tails cut off for falling behind */
    int ran;                       /* MHD_run ran since the turn job last asked its timeout */
    int kick;                      /* a tail was resumed: MHD must run at the end of the turn */
    int64_t due;                   /* monotonic ms MHD wants to run next */
    int64_t beat_at;               /* monotonic ms of the tails' next heartbeat */
};

/* The page and the login form, compiled in by www.c. */
extern const char www_index[], www_index_end[], www_login[], www_login_end[];

/* libmicrohttpd's own messages (a refused connection, a bad request). */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char text[256];
    vsnprintf(text, sizeof text, fmt, ap);
    text[strcspn(text, "\n")] = '\0';
    log_debug("http: %s", text);
}

/* Queues a response of len bytes at data (mode: whose the bytes are). */
static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               const void *data, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free((void *)data);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"brokerd\"");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A one-line answer in plain text. */
static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    return respond(conn, status, "text/plain; charset=utf-8", text, strlen(text),
                   MHD_RESPMEM_MUST_COPY);
}

/* True when got is the secret want.  The compare takes as long whatever
 * the bytes, so that the time of a refusal tells nothing of how much of a
 * guess was right. */
static int same_secret(const char *want, const char *got)
{
    size_t n = strlen(got), len = strlen(want);
    unsigned char diff = n != len;
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned char)(want[i] ^ (i < n ? got[i] : 0));
    return diff == 0;
}

/* True when the request carries "Bearer TOKEN" with the right token. */
static int bearer_ok(const struct http *h, struct MHD_Connection *conn)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    return v && strncmp(v, "Bearer ", 7) == 0 && same_secret(h->token, v + 7);
}

/* True when the request may see the endpoint: no token is configured, or
 * it carries the token, or the cookie of a login. */
static int authorized(const struct http *h, struct MHD_Connection *conn)
{
    if (!h->token || bearer_ok(h, conn))
        return 1;
    const char *v = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, SESSION_COOKIE);
    return v && same_secret(h->session, v);
}

/* /login: the token came as the header; the answer sets the cookie that
 * the browser sends with the page's own requests from then on. */
static enum MHD_Result login(const struct http *h, struct MHD_Connection *conn)
{
    if (h->token && !bearer_ok(h, conn))
        return respond_text(conn, MHD_HTTP_UNAUTHORIZED, "401: wrong token\n");
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    char cookie[sizeof h->session + 96];
    snprintf(cookie, sizeof cookie, SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict",
             h->session);
    if (h->token)
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ret;
}

/* /metrics ------------------------------------------------------------- */

/* What /metrics shows of each channel, in the order of chan_metrics. */
enum { CM_IN, CM_OUT, CM_BYTES_IN, CM_BYTES_OUT, CM_QUEUED, CM_UNACKED, CM_DROPPED,
       CM_REDELIVERED, CM_SUBSCRIBERS, CM_RETAINED, CM_COUNT };

/* One family of per-channel metrics. */
static const struct {
    const char *name;              /* metric name */
    const char *type;              /* counter or gauge */
    const char *help;              /* its HELP text */
} chan_metrics[CM_COUNT] = {
    {"pubsub_channel_messages_in_total", "counter", "Messages accepted on the channel."},
    {"pubsub_channel_messages_out_total", "counter", "Deliveries written to receivers."},
    {"pubsub_channel_in_bytes_total", "counter", "Payload bytes of the messages accepted."},
    {"pubsub_channel_out_bytes_total", "counter", "Payload bytes of the deliveries written."},
    {"pubsub_channel_queued_messages", "gauge", "Queue: messages waiting for a consumer."},
    {"pubsub_channel_unacked_messages", "gauge", "Queue: messages delivered, not yet acknowledged."},
    {"pubsub_channel_dropped_total", "counter", "Deliveries dropped for slow receivers."},
    {"pubsub_channel_redelivered_total", "counter",
     "Queue: messages put back for another consumer."},
    {"pubsub_channel_subscribers", "gauge", "Subscriptions on the channel."},
    {"pubsub_channel_retained_topics", "gauge", "Pubsub: topics with a retained value."},
};

/* The figures of one channel, in the order of chan_metrics. */
static void chan_values(const channel *ch, uint64_t v[CM_COUNT])
{
    v[CM_IN] = ch->messages;
    v[CM_OUT] = ch->delivered;
    v[CM_BYTES_IN] = ch->bytes_in;
    v[CM_BYTES_OUT] = ch->bytes_out;
    v[CM_QUEUED] = ch->n_queued;
    v[CM_UNACKED] = ch->n_unacked;
    v[CM_DROPPED] = ch->dropped;
    v[CM_REDELIVERED] = ch->redelivered;
    v[CM_SUBSCRIBERS] = ch->n_subs;
    v[CM_RETAINED] = chan_retained_count(ch);
}

static const char *const refusal_names[REFUSE_COUNT] = {"max_clients", "version", "denied",
                                                        "handshake"};

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample without labels. */
static void sample(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
    family(f, name, type, help);
    fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

/* A label value, escaped as the text format wants (\\, \" and \n). */
static void label_value(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void histogram(FILE *f, const char *name, const char *help, const histo *hi)
{
    family(f, name, "histogram", help);
    uint64_t below = 0;
    for (int i = 0; i < HISTO_BUCKETS; i++) {
        below += hi->in[i];
        fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, histo_bounds[i], (unsigned long long)below);
    }
    below += hi->in[HISTO_BUCKETS];
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", name,
            (unsigned long long)below, name, (double)hi->sum_ns / 1e9, name,
            (unsigned long long)hi->count);
}

/* The resident set size from /proc/self/statm, in bytes (0 if unknown). */
static uint64_t rss_bytes(void)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The exposition (malloc'd, *len bytes), or NULL when out of memory. */
static char *metrics(const struct http *h, size_t *len)
{
    broker *b = h->b;
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f)
        return NULL;
    for (int m = 0; m < CM_COUNT; m++) {
        family(f, chan_metrics[m].name, chan_metrics[m].type, chan_metrics[m].help);
        channel *ch;
        SLIST_FOREACH(ch, &b->channels, link) {
            uint64_t v[CM_COUNT];
            chan_values(ch, v);
            fprintf(f, "%s{channel=\"", chan_metrics[m].name);
            label_value(f, ch->name);
            fprintf(f, "\",type=\"%s\"} %llu\n", config_type_name(ch->type),
                    (unsigned long long)v[m]);
        }
    }
    sample(f, "pubsub_clients", "gauge", "Connected client sessions.", b->n_clients);
    sample(f, "pubsub_channels", "gauge", "Channels.", b->n_channels);
    sample(f, "pubsub_messages_in_total", "counter", "Messages accepted.", b->messages_in);
    sample(f, "pubsub_messages_out_total", "counter", "Deliveries written.", b->messages_out);
    sample(f, "pubsub_dropped_total", "counter", "Deliveries dropped for slow receivers.",
           b->dropped);
    sample(f, "pubsub_malformed_frames_total", "counter", "Malformed frames received.",
           b->malformed);
    sample(f, "pubsub_publisher_pauses_total", "counter",
           "Publishers paused because a blocking queue was full.", b->pauses);
    sample(f, "pubsub_parked_bytes_total", "counter",
           "Bytes of publishes that waited in the broker for a full receiver or queue.",
           b->parked_bytes);
    family(f, "pubsub_connections_refused_total", "counter", "Clients turned away, by reason.");
    for (int r = 0; r < REFUSE_COUNT; r++)
        fprintf(f, "pubsub_connections_refused_total{reason=\"%s\"} %llu\n", refusal_names[r],
                (unsigned long long)b->refused[r]);
    histogram(f, "pubsub_store_fsync_duration_seconds", "How long the syncs of durable queues took.",
              store_fsyncs(b));
    histogram(f, "pubsub_loop_turn_duration_seconds",
              "How long the event loop's turns took, waiting excluded.", loop_turns(b->loop));
    sample(f, "pubsub_http_tails", "gauge", "Live tails open on the HTTP endpoint.", h->n_tails);
    sample(f, "pubsub_http_tails_cut_total", "counter", "Live tails cut off for falling behind.",
           h->tails_cut);
    sample(f, "pubsub_uptime_seconds", "gauge", "Seconds since the broker started.",
           (uint64_t)((b->now - b->started) / 1000));
    sample(f, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           rss_bytes());
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* /tail: live tails ------------------------------------------------------ */

static void http_tap(void *ctx, const channel *ch, const ps__slice *topic, const ps__slice *data);

static void tail_resume(tail *t)
{
    if (t->suspended) {
        t->suspended = 0;
        MHD_resume_connection(t->conn);
        /* Without a thread of its own MHD sends only when it runs. */
        t->h->kick = 1;
    }
}

/* Adds len bytes of events for t, or cuts t off when its browser has more
 * than TAIL_BUF_MAX waiting. */
static void tail_push(tail *t, const char *text, size_t len)
{
    if (t->cut)
        return;
    if (t->buf.len - t->off + len > TAIL_BUF_MAX || ps__buf_append(&t->buf, text, len) < 0) {
        t->cut = 1;
        t->h->tails_cut++;
        log_info("http: a live tail of '%s' fell behind by %d bytes and was cut off", t->channel,
                 TAIL_BUF_MAX);
    }
    tail_resume(t);
}

/* MHD asks for more of a tail's stream. */
static ssize_t tail_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    tail *t = cls;
    (void)pos;
    if (t->cut)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (t->off == t->buf.len) {
        /* Nothing to send: MHD waits until tail_push resumes it. */
        t->off = t->buf.len = 0;
        t->suspended = 1;
        MHD_suspend_connection(t->conn);
        return 0;
    }
    size_t n = t->buf.len - t->off < max ? t->buf.len - t->off : max;
    memcpy(buf, t->buf.data + t->off, n);
    t->off += n;
    return (ssize_t)n;
}

/* MHD is done with a tail's response: its connection is gone. */
static void tail_free(void *cls)
{
    tail *t = cls;
    LIST_REMOVE(t, link);
    if (--t->h->n_tails == 0)
        deliver_tap(t->h->b, http_tap, t->h->b, 0);
    ps__buf_free(&t->buf);
    free(t);
}

static enum MHD_Result tail_start(struct http *h, struct MHD_Connection *conn)
{
    const char *name = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "channel");
    const char *pattern = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "pattern");
    if (!pattern || !*pattern)
        pattern = "#";
    if (!name || !config_channel_name_ok(name, strlen(name)))
        return respond_text(conn, MHD_HTTP_BAD_REQUEST,
                            "tail: channel= must name a channel (1 to 255 of A-Z a-z 0-9 _ . -)\n");
    if (strlen(pattern) > PS_WIRE_TOPIC_MAX || !topic_valid_pattern(pattern, strlen(pattern)))
        return respond_text(conn, MHD_HTTP_BAD_REQUEST,
                            "tail: pattern= must be a topic filter (+ and # as whole levels)\n");
    channel *ch = chan_find(h->b, name, strlen(name));
    if (ch && ch->type != CHAN_PUBSUB)
        return respond_text(conn, MHD_HTTP_BAD_REQUEST, "tail: only pubsub channels can be tailed\n");
    if (h->n_tails >= TAILS_MAX)
        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "tail: too many live tails\n");
    tail *t = calloc(1, sizeof *t);
    if (!t)
        return MHD_NO;
    t->h = h;
    t->conn = conn;
    snprintf(t->channel, sizeof t->channel, "%s", name);
    t->plen = strlen(pattern);
    memcpy(t->pattern, pattern, t->plen + 1);
    static const char hello[] = ": live tail\nretry: 3000\n\n";
    struct MHD_Response *r = NULL;
    if (ps__buf_append(&t->buf, hello, sizeof hello - 1) < 0 ||
        !(r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, tail_read, t, tail_free))) {
        ps__buf_free(&t->buf);
        free(t);
        return MHD_NO;
    }
    LIST_INSERT_HEAD(&h->tails, t, link);
    /* The fan-out calls the tap only while a tail is open, so that the
     * endpoint costs a message nothing when nobody follows one. */
    if (h->n_tails++ == 0)
        deliver_tap(h->b, http_tap, h->b, 1);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* The fan-out hook of live tails (ctx is the broker), there while one is open. */
static void http_tap(void *ctx, const channel *ch, const ps__slice *topic, const ps__slice *data)
{
    broker *b = ctx;
    struct http *h = b->http;
    if (!h->n_tails)
        return;
    char *event = NULL;
    tail *t;
    LIST_FOREACH(t, &h->tails, link) {
        if (t->cut || strcmp(t->channel, ch->name) ||
            !topic_match(t->pattern, t->plen, topic->ptr, topic->len))
            continue;
        if (!event) {
            /* Topic and payload come from the network: shown printable,
             * the payload cut to TAIL_SHOWN_MAX bytes. */
            char shown_topic[PS_WIRE_TOPIC_MAX + 1], shown[TAIL_SHOWN_MAX + 1];
            ps__printable(shown_topic, sizeof shown_topic, topic->ptr, topic->len);
            ps__printable(shown, sizeof shown, data->ptr, data->len);
            json_t *o = json_pack("{s:s, s:s, s:I}", "topic", shown_topic, "payload", shown,
                                  "size", (json_int_t)data->len);
            char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
            json_decref(o);
            if (!js || asprintf(&event, "data: %s\n\n", js) < 0)
                event = NULL;
            free(js);
            if (!event)
                return;
        }
        tail_push(t, event, strlen(event));
    }
    free(event);
}

/* Requests -------------------------------------------------------------- */

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct http *h = cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    if (!strcmp(url, "/login"))
        return login(h, conn);
    if (!authorized(h, conn)) {
        if (!strcmp(url, "/"))
            return respond(conn, MHD_HTTP_UNAUTHORIZED, "text/html; charset=utf-8", www_login,
                           (size_t)(www_login_end - www_login), MHD_RESPMEM_PERSISTENT);
        return respond_text(conn, MHD_HTTP_UNAUTHORIZED,
                            "401: send Authorization: Bearer TOKEN (broker.http.token_file)\n");
    }
    if (!strcmp(url, "/"))
        return respond(conn, MHD_HTTP_OK, "text/html; charset=utf-8", www_index,
                       (size_t)(www_index_end - www_index), MHD_RESPMEM_PERSISTENT);
    if (!strcmp(url, "/metrics")) {
        size_t len;
        char *text = metrics(h, &len);
        if (!text)
            return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len,
                       MHD_RESPMEM_MUST_FREE);
    }
    if (!strcmp(url, "/tail"))
        return tail_start(h, conn);
    int known = 0;
    char *text = url[0] == '/' ? admin_text(h->b, url + 1, strlen(url + 1), &known) : NULL;
    if (text)
        return respond(conn, MHD_HTTP_OK, "application/json", text, strlen(text),
                       MHD_RESPMEM_MUST_FREE);
    if (known)
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return respond_text(conn, MHD_HTTP_NOT_FOUND, "404: / /login /metrics /status /channels "
                        "/clients /tail?channel=C&pattern=P\n");
}

/* The loop ---------------------------------------------------------------- */

/* The epoll fd is readable: connections to accept, requests to read. */
static void http_input(void *ctx)
{
    struct http *h = ctx;
    MHD_run(h->d);
    h->ran = 1;
}

/* A turn job: runs MHD when its timeouts are due and beats the tails;
 * returns how long the loop may wait for the next of those. */
static long http_turn(void *ctx)
{
    struct http *h = ctx;
    int64_t now = h->b->now;
    if (!h->ran && !h->kick && now < h->due)
        return (long)(h->due - now);
    if (now >= h->beat_at) {
        static const char beat[] = ": beat\n\n";
        tail *t;
        LIST_FOREACH(t, &h->tails, link)
            tail_push(t, beat, sizeof beat - 1);
        h->beat_at = now + TAIL_BEAT_MS;
    }
    if (now >= h->due || h->kick)
        MHD_run(h->d);
    h->ran = h->kick = 0;
    MHD_UNSIGNED_LONG_LONG t;
    long wait = HTTP_WAIT_MAX_MS;
    if (MHD_get_timeout(h->d, &t) == MHD_YES && t < (MHD_UNSIGNED_LONG_LONG)wait)
        wait = (long)t;
    if (h->beat_at - now < wait)
        wait = (long)(h->beat_at - now);
    h->due = now + wait;
    return wait;
}

int http_watch(broker *b)
{
    struct http *h = b->http;
    if (!h)
        return 0;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info)
        return -1;
    if (loop_watch(b->loop, NULL, info->epoll_fd, http_input, h, NULL) < 0 ||
        loop_on_turn(b->loop, http_turn, h) < 0)
        return -1;
    return 0;
}

/* Opens the listening socket of listen; -1 after logging. */
static int http_socket(const char *listen_at)
{
    struct sockaddr_storage sa;
    unsigned salen;
    const char *why;
    if (config_http_addr(listen_at, &sa, &salen, &why) < 0) {
        log_err("http listen \"%s\": %s", listen_at, why);
        return -1;
    }
    int one = 1;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (sa.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
        bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, HTTP_BACKLOG) < 0) {
        log_err("cannot listen for HTTP on %s: %s", listen_at, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int http_open(broker *b)
{
    const config *cfg = b->cfg;
    if (!cfg->http_listen)
        return 0;
    const char *no = config_http_refusal(cfg, cfg->http_listen);
    if (no) {
        log_err("http listen \"%s\": %s", cfg->http_listen, no);
        return -1;
    }
    struct http *h = calloc(1, sizeof *h);
    if (!h || !(h->listen = strdup(cfg->http_listen)) ||
        (cfg->http_token && !(h->token = strdup(cfg->http_token)))) {
        log_err("out of memory");
        if (h)
            free(h->listen);
        free(h);
        return -1;
    }
    h->b = b;
    LIST_INIT(&h->tails);
    b->http = h;
    if (h->token) {
        unsigned char rnd[SESSION_BYTES];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
            log_err("cannot draw the HTTP login cookie: %s", strerror(errno));
            return -1;
        }
        for (int i = 0; i < SESSION_BYTES; i++)
            snprintf(h->session + 2 * i, 3, "%02x", rnd[i]);
        memset(rnd, 0, sizeof rnd);
    }
    int fd = http_socket(h->listen);
    if (fd < 0)
        return -1;
    /* No thread of its own: MHD_USE_EPOLL without MHD_USE_INTERNAL_POLLING_THREAD. */
    h->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
                            NULL, answer, h, MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_PER_IP_MAX,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_MAX,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (!h->d) {
        log_err("cannot start the HTTP endpoint on %s", h->listen);
        close(fd);
        return -1;
    }
    log_notice("monitoring on http://%s/%s", h->listen,
               h->token ? " (bearer token required)" : "");
    return 0;
}

void http_close(broker *b)
{
    struct http *h = b->http;
    if (!h)
        return;
    if (h->d) {
        /* MHD must not be stopped with connections suspended. */
        tail *t;
        LIST_FOREACH(t, &h->tails, link) {
            t->cut = 1;
            tail_resume(t);
        }
        MHD_stop_daemon(h->d);
    }
    if (h->token)
        memset(h->token, 0, strlen(h->token));
    free(h->token);
    memset(h->session, 0, sizeof h->session);
    free(h->listen);
    free(h);
    b->http = NULL;
}
