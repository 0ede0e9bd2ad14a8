/*
 * libtest.c - the public API of libpubsub against a real broker: every
 * documented return value and errno a C programmer relies on.  Needs a
 * broker at $PUBSUB_BROKER with a broadcast channel "bc" and a queue "q"
 * (t0013-library.sh starts one).  Prints "ok"/"not ok" per check and exits
 * 1 if any failed.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pubsub.h"

static int failures, checks;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        checks++;                                                     \
        if (cond) {                                                   \
            printf("ok %d - ", checks);                               \
        } else {                                                      \
            failures++;                                               \
            printf("not ok %d - (%s:%d) ", checks, __FILE__, __LINE__); \
        }                                                             \
        printf(__VA_ARGS__);                                          \
        printf("\n");                                                 \
    } while (0)

static const char *ep;

static ps_client *connect_named(const char *name)
{
    ps_opts *o = ps_opts_new();
    ps_opts_set_str(o, PS_OPT_NAME, name);
    ps_client *c = ps_connect(ep, o);
    ps_opts_destroy(&o);
    if (!c) {
        fprintf(stderr, "cannot connect to %s: %s\n", ep, ps_strerror(errno));
        exit(2);
    }
    return c;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A responder thread: answers n requests with "<prefix>:<request>". */
struct responder {
    ps_client *c;   /* its own connection */
    const char *prefix; /* what it puts in front */
    int n;          /* requests to answer */
    int status;     /* reply status to give */
};

static void *respond(void *arg)
{
    struct responder *r = arg;
    for (int i = 0; i < r->n; i++) {
        ps_msg *m = ps_recv(r->c, 5000);
        if (!m)
            break;
        char buf[256];
        int n = snprintf(buf, sizeof buf, "%s:%.*s", r->prefix, (int)ps_msg_size(m),
                         (const char *)ps_msg_data(m));
        if (ps_msg_is_request(m))
            ps_reply(r->c, m, buf, (size_t)n, r->status);
        ps_msg_destroy(&m);
    }
    return NULL;
}

/* A receiver thread: takes one message (confirming a sync one). */
static void *receive_one(void *arg)
{
    ps_msg *m = ps_recv(arg, 5000);
    ps_msg_destroy(&m);
    return NULL;
}

/* A receiver thread: takes 100 messages. */
static void *receive_100(void *arg)
{
    for (int i = 0; i < 100; i++) {
        ps_msg *m = ps_recv(arg, 5000);
        if (!m)
            break;
        ps_msg_destroy(&m);
    }
    return NULL;
}

static void test_connect(void)
{
    ps_opts *o = ps_opts_new();
    CHECK(o != NULL, "ps_opts_new");
    CHECK(ps_opts_set_int(o, PS_OPT_TIMEOUT_MS, 0) == -1 && errno == EINVAL,
          "a zero timeout is EINVAL");
    CHECK(ps_opts_set_str(o, PS_OPT_CURVE_SERVER_KEY, "short") == -1 && errno == EINVAL,
          "a CURVE key that is not 40 characters is EINVAL");
    CHECK(ps_opts_set_int(o, 9999, 1) == -1 && errno == EINVAL, "an unknown option is EINVAL");
    ps_opts_set_int(o, PS_OPT_TIMEOUT_MS, 300);
    int64_t t0 = now_ms();
    errno = 0;
    ps_client *c = ps_connect("tcp://127.0.0.1:1", o);
    int64_t took = now_ms() - t0;
    CHECK(c == NULL && errno == EHOSTUNREACH, "no broker: NULL with EHOSTUNREACH (%s)",
          ps_strerror(errno));
    CHECK(took < 2000, "no broker: gave up after %lld ms with a 300 ms timeout", (long long)took);
    errno = 0;
    c = ps_connect("bogus://x", o);
    CHECK(c == NULL && errno == EINVAL, "a malformed endpoint is EINVAL");
    ps_opts_destroy(&o);
    CHECK(o == NULL, "ps_opts_destroy clears the pointer");
    ps_opts_destroy(NULL);
    ps_close(NULL);
    ps_msg_destroy(NULL);
    CHECK(strcmp(ps_version(), "1.0.0") == 0, "ps_version is %s", ps_version());
    CHECK(ps_strerror(PS_ENORESP) && ps_strerror(PS_EPARTIAL) && ps_strerror(ENOENT),
          "ps_strerror describes library and system codes");
}

static void test_pubsub(void)
{
    ps_client *pub = connect_named("pub"), *sub = connect_named("sub");
    CHECK(ps_subscribe(sub, "lt", "a/+", 0) == 0, "subscribe with a pattern");
    CHECK(ps_subscribe(sub, "bad name", NULL, 0) == -1 && errno == EINVAL,
          "subscribe to an invalid channel name is EINVAL");
    struct pollfd pfd = {.fd = ps_fd(sub), .events = POLLIN};
    CHECK(poll(&pfd, 1, 0) == 0, "ps_fd is not readable while nothing waits");
    errno = 0;
    CHECK(ps_recv(sub, 0) == NULL && errno == ETIMEDOUT, "ps_recv(0) with nothing: ETIMEDOUT");

    CHECK(ps_publish(pub, "lt", "a/b", NULL, 0, 0) == 0, "publish an empty message");
    CHECK(ps_publish(pub, "lt", "x/y", "no", 2, 0) == 0, "publish a message nobody matches");
    CHECK(ps_publish(pub, "lt", "a/c", "bin\0ary", 7, 0) == 0, "publish binary data");
    CHECK(ps_flush(pub, 3000) == 0, "ps_flush");
    CHECK(poll(&pfd, 1, 3000) == 1, "ps_fd becomes readable when a message arrives");
    ps_msg *m = ps_recv(sub, 3000);
    CHECK(m && ps_msg_size(m) == 0 && ps_msg_data(m) && !strcmp(ps_msg_topic(m), "a/b") &&
              !strcmp(ps_msg_channel(m), "lt") && ps_msg_seq(m) > 0,
          "the empty message arrives with its topic, channel and sequence number");
    uint64_t seq1 = m ? ps_msg_seq(m) : 0;
    ps_msg_destroy(&m);
    CHECK(m == NULL, "ps_msg_destroy clears the pointer");
    m = ps_recv(sub, 3000);
    CHECK(m && ps_msg_size(m) == 7 && !memcmp(ps_msg_data(m), "bin\0ary", 7) &&
              ps_msg_seq(m) == seq1 + 2,
          "binary data kept exactly; sequence numbers count the channel's messages");
    ps_msg_destroy(&m);
    CHECK(poll(&pfd, 1, 0) == 0, "ps_fd is not readable once the queue is empty");

    /* A refused async publish is reported by the next ps_flush. */
    CHECK(ps_publish(pub, "bc", "t", "r", 1, PS_RETAIN) == 0, "an async publish returns at once");
    errno = 0;
    CHECK(ps_flush(pub, 3000) == -1 && errno == EPROTOTYPE,
          "retain on a broadcast channel: the flush reports EPROTOTYPE (%s)", ps_strerror(errno));
    CHECK(ps_errmsg(pub) != NULL, "ps_errmsg gives the broker's reason: %s",
          ps_errmsg(pub) ? ps_errmsg(pub) : "(none)");
    CHECK(ps_flush(pub, 3000) == 0, "the refusal is reported once");

    char *big = calloc(1, 2 << 20);
    errno = 0;
    CHECK(ps_publish(pub, "lt", "a/b", big, 2 << 20, 0) == -1 && errno == EMSGSIZE,
          "a message above max_message_size fails at once with EMSGSIZE");
    free(big);

    /* Sync messages. */
    unsigned conf = 9, exp = 9;
    errno = 0;
    CHECK(ps_publish_sync(pub, "nobody", "t", "x", 1, 0, 2000, &conf, &exp) == -1 &&
              errno == PS_ENORESP && conf == 0 && exp == 0,
          "sync message with no receivers: PS_ENORESP, 0/0");
    ps_client *sub2 = connect_named("sub2");
    CHECK(ps_subscribe(sub2, "lt", "#", 0) == 0, "a second subscriber");
    pthread_t t1, t2;
    pthread_create(&t1, NULL, receive_one, sub);
    pthread_create(&t2, NULL, receive_one, sub2);
    int n = ps_publish_sync(pub, "lt", "a/z", "s", 1, 0, 3000, &conf, &exp);
    CHECK(n == 2 && conf == 2 && exp == 2, "sync message confirmed by both receivers (%d, %u/%u)",
          n, conf, exp);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    /* sub2 does not read now: a sync message times out partially. */
    pthread_create(&t1, NULL, receive_one, sub);
    errno = 0;
    n = ps_publish_sync(pub, "lt", "a/z", "p", 1, 0, 500, &conf, &exp);
    CHECK(n == -1 && errno == PS_EPARTIAL && conf == 1 && exp == 2,
          "one of two receivers confirms: PS_EPARTIAL 1/2 (%s, %u/%u)", ps_strerror(errno), conf, exp);
    pthread_join(t1, NULL);
    m = ps_recv(sub2, 3000);
    ps_msg_destroy(&m);
    CHECK(ps_dropped(sub) == 0, "ps_dropped is 0 without drops");

    /* A window of sync messages: ps_publish(PS_SYNC), results at ps_flush. */
    pthread_t tw;
    CHECK(ps_subscribe(sub, "lw", NULL, 0) == 0, "a channel with one reading subscriber");
    pthread_create(&tw, NULL, receive_100, sub);
    int okp = 1;
    for (int i = 0; i < 100; i++)
        okp &= ps_publish(pub, "lw", "a/w", "w", 1, PS_SYNC) == 0;
    CHECK(okp && ps_flush(pub, 5000) == 0, "100 PS_SYNC messages, all confirmed at the flush");
    pthread_join(tw, NULL);
    ps_publish(pub, "nobody", "t", "x", 1, PS_SYNC);
    errno = 0;
    CHECK(ps_flush(pub, 5000) == -1 && errno == PS_ENORESP,
          "a PS_SYNC message nobody received fails the flush with PS_ENORESP (%s)", ps_strerror(errno));
    ps_publish(pub, "lt", "a/w", "w", 1, PS_SYNC); /* sub2 does not read */
    pthread_create(&tw, NULL, receive_one, sub);
    errno = 0;
    CHECK(ps_flush(pub, 8000) == -1 && errno == PS_EPARTIAL,
          "one of two receivers confirmed: the flush fails with PS_EPARTIAL (%s)", ps_strerror(errno));
    pthread_join(tw, NULL);
    m = ps_recv(sub2, 3000);
    ps_msg_destroy(&m);

    char *json = NULL;
    CHECK(ps_admin(pub, "status", 3000, &json) == 0 && json && strstr(json, "\"clients\""),
          "ps_admin status gives JSON");
    free(json);
    errno = 0;
    CHECK(ps_admin(pub, "shutdown", 3000, &json) == -1 && errno == EINVAL && json == NULL,
          "an unknown admin verb is EINVAL");
    CHECK(ps_unsubscribe(sub, "lt", "a/+") == 0, "unsubscribe");
    ps_close(&sub2);
    ps_close(&sub);
    ps_close(&pub);
    CHECK(pub == NULL, "ps_close clears the pointer");
}

static void test_requests(void)
{
    ps_client *req = connect_named("req");
    ps_client *r1 = connect_named("r1"), *r2 = connect_named("r2");
    errno = 0;
    ps_msg *reply = NULL;
    CHECK(ps_request(req, "bc", NULL, "q", 1, 1000, &reply) == -1 && errno == PS_ENORESP &&
              reply == NULL,
          "a request with no responder: PS_ENORESP at once");
    CHECK(ps_subscribe(r1, "bc", NULL, PS_RESPONDER) == 0 &&
              ps_subscribe(r2, "bc", NULL, PS_RESPONDER) == 0,
          "two responders on a broadcast channel");
    struct responder a = {r1, "one", 2, 0}, b = {r2, "two", 2, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, respond, &a);
    pthread_create(&tb, NULL, respond, &b);
    int64_t t = ps_request_async(req, "bc", NULL, "s", 1, 2000);
    CHECK(t > 0, "ps_request_async gives a ticket");
    ps_msg *m1 = ps_request_wait(req, t, 3000), *m2 = ps_request_wait(req, t, 3000);
    errno = 0;
    ps_msg *m3 = ps_request_wait(req, t, 3000);
    int e3 = errno;
    CHECK(m1 && m2 && !m3 && e3 == ENOMSG, "a survey: two replies, then ENOMSG (%s)",
          ps_strerror(e3));
    CHECK(m1 && m2 && ps_msg_status(m1) == 0 &&
              ((!strncmp(ps_msg_data(m1), "one:s", 5) && !strncmp(ps_msg_data(m2), "two:s", 5)) ||
               (!strncmp(ps_msg_data(m1), "two:s", 5) && !strncmp(ps_msg_data(m2), "one:s", 5))),
          "each responder answered once");
    ps_msg_destroy(&m1);
    ps_msg_destroy(&m2);
    ps_request_end(req, t);
    errno = 0;
    CHECK(ps_request_wait(req, t, 10) == NULL && errno == ENOENT, "an ended ticket is ENOENT");
    CHECK(ps_request(req, "bc", NULL, "r", 1, 2000, &reply) == 0 && reply &&
              ps_msg_size(reply) == 5,
          "ps_request returns the first reply");
    ps_msg_destroy(&reply);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);

    /* A responder that fails. */
    ps_close(&r2);
    struct responder f = {r1, "broken", 1, 1};
    pthread_create(&ta, NULL, respond, &f);
    errno = 0;
    CHECK(ps_request(req, "bc", NULL, "x", 1, 2000, &reply) == -1 && errno == PS_EREPLY && reply &&
              ps_msg_status(reply) != 0 && !strcmp(ps_msg_data(reply), "broken:x"),
          "an error reply: PS_EREPLY with the responder's text");
    ps_msg_destroy(&reply);
    pthread_join(ta, NULL);
    errno = 0;
    CHECK(ps_request(req, "bc", NULL, "late", 1, 300, &reply) == -1 && errno == ETIMEDOUT,
          "a responder that does not answer: ETIMEDOUT (%s)", ps_strerror(errno));
    m1 = ps_recv(r1, 1000); /* the unanswered request */
    ps_msg_destroy(&m1);
    ps_close(&r1);
    ps_close(&req);
}

static void test_queue(void)
{
    ps_opts *o = ps_opts_new();
    ps_opts_set_int(o, PS_OPT_WINDOW, 1);
    ps_client *cons = ps_connect(ep, o);
    ps_opts_destroy(&o);
    ps_client *prod = connect_named("prod");
    CHECK(cons && ps_subscribe(cons, "q", NULL, 0) == 0, "a consumer with a window of 1");
    for (int i = 0; i < 3; i++)
        ps_publish(prod, "q", NULL, i == 0 ? "0" : i == 1 ? "1" : "2", 1, PS_CONFIRM);
    CHECK(ps_flush(prod, 3000) == 0, "three confirmed queue messages");
    ps_msg *m = ps_recv(cons, 3000);
    CHECK(m && !memcmp(ps_msg_data(m), "0", 1), "the first message");
    errno = 0;
    ps_msg *none = ps_recv(cons, 300);
    CHECK(none == NULL && errno == ETIMEDOUT, "nothing more until it is acknowledged");
    CHECK(ps_ack(cons, m) == 0, "ps_ack");
    ps_msg_destroy(&m);
    m = ps_recv(cons, 3000);
    CHECK(m && !memcmp(ps_msg_data(m), "1", 1), "the next message after the ack, in order");
    ps_msg_destroy(&m);
    /* Close without acking "1": it goes back to the queue at once (BYE). */
    ps_close(&cons);
    ps_client *c2 = connect_named("cons2");
    ps_subscribe(c2, "q", NULL, 0);
    m = ps_recv(c2, 3000);
    CHECK(m && !memcmp(ps_msg_data(m), "1", 1) && ps_msg_is_redelivered(m),
          "an unacknowledged message is redelivered, marked so");
    ps_ack(c2, m);
    ps_msg_destroy(&m);
    m = ps_recv(c2, 3000);
    CHECK(m && !memcmp(ps_msg_data(m), "2", 1) && !ps_msg_is_redelivered(m), "then the rest");
    ps_ack(c2, m);
    ps_msg_destroy(&m);
    /* A sync message to a queue waits for the consumer's ack. */
    pthread_t t;
    pthread_create(&t, NULL, receive_one, c2); /* receives but never acks */
    unsigned conf, exp;
    errno = 0;
    CHECK(ps_publish_sync(prod, "q", NULL, "s", 1, 0, 400, &conf, &exp) == -1 && errno == ETIMEDOUT &&
              conf == 0 && exp == 1,
          "sync to a queue whose consumer does not ack: ETIMEDOUT 0/1");
    pthread_join(t, NULL);
    ps_close(&c2);
    ps_close(&prod);
}

/* What a trace function saw, in order. */
struct trace_log {
    pthread_mutex_t lock;  /* events come from two threads */
    struct {
        int type;          /* PS_EV_* */
        char command[16];  /* its command, "" for none */
        uint64_t corr;     /* its correlation id */
        size_t size;       /* its payload bytes */
    } ev[256];
    int n;                 /* entries in ev */
};

static void record(const ps_event *ev, void *arg)
{
    struct trace_log *log = arg;
    pthread_mutex_lock(&log->lock);
    if (log->n < 256 && !(ev->command && !strcmp(ev->command, "HEARTBEAT"))) {
        log->ev[log->n].type = ev->type;
        snprintf(log->ev[log->n].command, sizeof log->ev[0].command, "%s",
                 ev->command ? ev->command : "");
        log->ev[log->n].corr = ev->corr;
        log->ev[log->n].size = ev->size;
        log->n++;
    }
    pthread_mutex_unlock(&log->lock);
}

/* The index of the first event of type and command at or after from, or -1. */
static int find_event(struct trace_log *log, int from, int type, const char *command)
{
    pthread_mutex_lock(&log->lock);
    int i = from < 0 ? log->n : from;
    while (i < log->n && !(log->ev[i].type == type && !strcmp(log->ev[i].command, command)))
        i++;
    int found = i < log->n ? i : -1;
    pthread_mutex_unlock(&log->lock);
    return found;
}

static void test_trace(void)
{
    static struct trace_log log = {.lock = PTHREAD_MUTEX_INITIALIZER};
    errno = 0;
    CHECK(ps_opts_set_trace(NULL, record, &log) == -1 && errno == EINVAL,
          "ps_opts_set_trace(NULL, ...) is EINVAL");
    ps_opts *o = ps_opts_new();
    CHECK(ps_opts_set_trace(o, record, &log) == 0, "ps_opts_set_trace");
    ps_client *c = ps_connect(ep, o);
    ps_opts_destroy(&o); /* the client keeps its copy, trace included */
    int conn = find_event(&log, 0, PS_EV_CONNECT, "");
    int hello = find_event(&log, conn, PS_EV_SENT, "HELLO");
    int welcome = find_event(&log, hello, PS_EV_RECEIVED, "WELCOME");
    CHECK(c && conn == 0 && hello > conn && welcome > hello,
          "connect traced: CONNECT, then HELLO sent, then WELCOME received");
    int rc = c ? ps_publish(c, "bc", NULL, "traced", 6, PS_CONFIRM) : -1;
    rc |= c ? ps_flush(c, 3000) : -1;
    int handed = find_event(&log, welcome, PS_EV_HANDED, "PUBLISH");
    int sent = find_event(&log, handed, PS_EV_SENT, "PUBLISH");
    int ok = find_event(&log, sent, PS_EV_RECEIVED, "OK");
    CHECK(rc == 0 && handed > 0 && sent > handed && ok > sent && log.ev[handed].size == 6 &&
              log.ev[handed].corr != 0 && log.ev[ok].corr == log.ev[handed].corr,
          "a confirmed publish: handed, sent, then the OK with its correlation id");
    int pong = find_event(&log, ok, PS_EV_RECEIVED, "PONG");
    CHECK(pong > ok, "ps_flush traced: PONG after the OK");
    ps_close(&c);
    CHECK(find_event(&log, pong, PS_EV_SENT, "BYE") > pong, "ps_close traced: BYE sent");

    /* Without a trace function nothing is called. */
    int before = log.n;
    o = ps_opts_new();
    ps_opts_set_trace(o, record, &log);
    ps_opts_set_trace(o, NULL, &log);
    c = ps_connect(ep, o);
    ps_opts_destroy(&o);
    if (c) {
        ps_publish(c, "bc", NULL, "quiet", 5, 0);
        ps_flush(c, 3000);
    }
    ps_close(&c);
    CHECK(log.n == before, "a NULL trace function sees nothing (%d events)", log.n - before);
}

int main(void)
{
    ep = getenv("PUBSUB_BROKER");
    if (!ep) {
        fprintf(stderr, "PUBSUB_BROKER not set\n");
        return 2;
    }
    test_connect();
    test_pubsub();
    test_requests();
    test_queue();
    test_trace();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
