/*
 * test_session.c - the library's protocol state (libpubsub/session.c)
 * driven without a broker, socket or thread: the test plays the broker by
 * feeding records and the clock by passing times, and reads what the
 * session queued to send and the effects it reported.  Covered: the
 * handshake, waiting calls and their answers, tickets (async requests),
 * PS_CONFIRM confirmations and what ps_flush reports, the confirm window
 * (PS_OPT_CONFIRM_WINDOW), sync publish results, deliveries and gaps, a
 * broker that forgot the session
 * (reconnect, resubscribe), a broken connection and the plain publishes
 * sent into it, heartbeats and a silent broker, a broker that pauses our
 * publishes (PAUSE, RESUME), session loss
 * with work in flight (with and without reconnect), and final refusals.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../libpubsub/session.h"
#include "test.h"

#define S(x) {x, sizeof x - 1}
#define MAX_SEEN 32

/* The records in one of the session's outgoing buffers. */
typedef struct {
    int n;                 /* records */
    ps__cmd cmd[MAX_SEEN]; /* decoded, pointing into the buffer */
} seen;

static seen decode(const ps__buf *b, size_t from)
{
    seen out = {0};
    ps__reader r;
    ps__reader_init(&r, b->data + from, b->len - from);
    while (out.n < MAX_SEEN && ps__wire_next(&r, &out.cmd[out.n]) == 1)
        out.n++;
    return out;
}

/* How many of the records in sn are of command cmd. */
static int count_of(const seen *sn, uint8_t cmd)
{
    int k = 0;
    for (int i = 0; i < sn->n; i++)
        k += sn->cmd[i].cmd == cmd;
    return k;
}

/* The broker sends cmd: encoded and decoded as on the wire. */
static void feed(ps__session *s, const ps__cmd *cmd, int64_t now)
{
    ps__buf b = {0};
    ps__cmd got;
    ps__reader r;
    ps__wire_put(&b, cmd);
    ps__reader_init(&r, b.data, b.len);
    while (ps__wire_next(&r, &got) == 1)
        ps__session_record(s, &got, now);
    ps__session_received(s, now);
    ps__buf_free(&b);
}

static void welcome(ps__session *s, int64_t now)
{
    ps__cmd w = {.cmd = PS_CMD_WELCOME, .major = 1, .max_size = 4096, .heartbeat_ms = 1000};
    feed(s, &w, now);
}

/* What the I/O side does with a batch: takes it and sends all of it. */
static seen send_all(ps__session *s, int64_t now)
{
    seen sn = {0};
    if (ps__session_take(s)) {
        sn = decode(&s->sending, 0);
        s->sending.len = 0;
        s->sending_off = 0;
        ps__session_sent(s, now);
    }
    return sn;
}

static seen take_urgent(ps__session *s)
{
    seen sn = decode(&s->urgent, 0);
    s->urgent.len = 0;
    return sn;
}

/* A ready session at time 0 with the given options. */
static void start(ps__session *s, struct ps_opts *o)
{
    ps__session_init(s, o, 0);
    take_urgent(s);
    welcome(s, 0);
    ps__session_fx(s);
}

static void test_handshake(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    o.name = "tester";
    ps__session s;
    ps__session_init(&s, &o, 0);
    seen u = take_urgent(&s);
    CHECK(u.n == 1 && u.cmd[0].cmd == PS_CMD_HELLO && u.cmd[0].heartbeat_ms == 1000 &&
              u.cmd[0].text.len == 6 && !memcmp(u.cmd[0].text.ptr, "tester", 6),
          "a new session says HELLO with its name and heartbeat first");
    ps__cmd pub = {.cmd = PS_CMD_PUBLISH, .channel = S("logs")};
    CHECK(ps__session_submit(&s, &pub, NULL, 0) == 0 && !ps__session_take(&s),
          "a command queued before WELCOME waits");
    welcome(&s, 5);
    unsigned fx = ps__session_fx(&s);
    CHECK(s.state == PS_SESSION_READY && s.max_size == 4096, "WELCOME makes the session ready with the broker's limit");
    CHECK((fx & PS_FX_WAKE) && (fx & PS_FX_SEND), "... wakes the waiters and asks for the queue to be sent");
    seen out = send_all(&s, 5);
    CHECK(out.n == 1 && out.cmd[0].cmd == PS_CMD_PUBLISH, "then what waited goes");
    ps__session_free(&s);
}

static void test_calls_and_tickets(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    ps__session s;
    start(&s, &o);

    /* A subscription is kept once the broker said OK. */
    ps__cmd sub = {.cmd = PS_CMD_SUBSCRIBE, .channel = S("logs"), .topic = S("a/#")};
    ps__op *os = ps__op_new(PS_OP_SUB, ps__sub_new("logs", "a/#", 0));
    CHECK(ps__session_submit(&s, &sub, os, 0) == 0 && (os->corr & PS_OP_BIT) && sub.corr == os->corr,
          "a waiting call gets a correlation id with the op bit");
    send_all(&s, 1);
    CHECK(LIST_EMPTY(&s.subs), "no subscription before the broker's OK");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_OK, .corr = os->corr, .count = 2}, 2);
    CHECK(os->done && !os->err && os->count == 2 && !LIST_EMPTY(&s.subs),
          "OK answers the call and keeps the subscription");
    ps__session_op_remove(&s, os);
    ps__op_free(os);

    /* A ticket collects replies until DONE. */
    ps__cmd req = {.cmd = PS_CMD_REQUEST, .channel = S("rpc"), .data = S("q")};
    ps__op *t = ps__op_new(PS_OP_REQUEST, NULL);
    ps__session_submit(&s, &req, t, 0);
    send_all(&s, 3);
    CHECK(ps__session_op(&s, t->corr) == t, "the ticket is found by its id");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_REPLY, .corr = t->corr, .data = S("one")}, 4);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_REPLY, .corr = t->corr, .status = 1, .data = S("two")}, 4);
    CHECK(!t->done, "replies do not finish a ticket");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_DONE, .corr = t->corr, .count = 2, .expected = 3}, 5);
    ps_msg *r1 = ps__op_reply(t), *r2 = ps__op_reply(t), *r3 = ps__op_reply(t);
    CHECK(r1 && r2 && !r3 && r1->size == 3 && !memcmp(r1->data, "one", 3) && r1->status == 0 &&
              r2->status == 1,
          "the ticket holds both replies in order, the second an error");
    CHECK(t->done && t->count == 2 && t->expected == 3, "DONE finishes it with 2 of 3 replied");
    ps_msg_destroy(&r1);
    ps_msg_destroy(&r2);
    /* A second ticket refused by the broker. */
    ps__op *t2 = ps__op_new(PS_OP_REQUEST, NULL);
    ps__session_submit(&s, &req, t2, 0);
    send_all(&s, 6);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_ERROR, .corr = t2->corr, .code = PS_WERR_NORESP,
                        .text = S("no responders on 'rpc'")}, 6);
    CHECK(t2->done && t2->err == PS_ENORESP && t2->errtext && !strcmp(t2->errtext, "no responders on 'rpc'"),
          "ERROR fails a ticket with its errno and the broker's text");
    ps__session_op_remove(&s, t);
    ps__session_op_remove(&s, t2);
    ps__op_free(t);
    ps__op_free(t2);
    CHECK(ps__session_op(&s, 12345 | PS_OP_BIT) == NULL, "an unknown ticket is not found");

    /* A sync publish waits for RESULT. */
    ps__cmd sp = {.cmd = PS_CMD_PUBLISH, .flags = PS_WIRE_SYNC, .channel = S("b")};
    ps__op *sy = ps__op_new(PS_OP_SYNC, NULL);
    ps__session_submit(&s, &sp, sy, 0);
    send_all(&s, 7);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_RESULT, .corr = sy->corr, .count = 2, .expected = 3}, 8);
    CHECK(sy->done && sy->count == 2 && sy->expected == 3 && !sy->err,
          "RESULT answers a sync publish with its counts");
    ps__session_op_remove(&s, sy);
    ps__op_free(sy);
    ps__session_free(&s);
}

/* Queues *p, a publish to "q" with flags (PS_WIRE_CONFIRM or SYNC) that
 * the broker answers, as ps_publish does. */
static void answered_publish(ps__session *s, ps__cmd *p, uint8_t flags)
{
    *p = (ps__cmd){.cmd = PS_CMD_PUBLISH, .flags = flags, .channel = S("q")};
    ps__session_submit(s, p, NULL, 1);
}

static void test_confirms(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    ps__session s;
    start(&s, &o);
    ps__cmd p[4];
    for (int i = 0; i < 4; i++)
        answered_publish(&s, &p[i], PS_WIRE_CONFIRM);
    CHECK(s.unconfirmed == 4 && p[0].corr && !(p[0].corr & PS_OP_BIT) && p[1].corr != p[0].corr,
          "confirmed publishes get plain correlation ids and are counted");
    send_all(&s, 1);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_OK, .corr = p[0].corr}, 2);
    CHECK(s.unconfirmed == 3, "OK confirms one");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_ERROR, .corr = p[1].corr, .code = PS_WERR_FULL,
                        .text = S("queue 'q' is full")}, 2);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_RESULT, .corr = p[2].corr, .count = 1, .expected = 2}, 2);
    CHECK(s.unconfirmed == 1, "a refusal and an async RESULT count as answers too");
    char *text;
    int err = ps__session_take_error(&s, &text);
    CHECK(err == ENOBUFS && text && !strcmp(text, "queue 'q' is full"),
          "the first refusal is what the flush reports, with its text");
    free(text);
    CHECK(ps__session_take_error(&s, &text) == 0 && !text, "... once");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_RESULT, .corr = p[3].corr, .count = 0, .expected = 0}, 3);
    err = ps__session_take_error(&s, &text);
    CHECK(s.unconfirmed == 0 && err == PS_ENORESP && text && !strcmp(text, "0/0 receivers confirmed a sync message"),
          "a PS_SYNC publish nobody received is PS_ENORESP at the next flush");
    free(text);

    /* Protocol 1.4: an OK whose value is above 1 answers that many in a
     * row (a durable queue's run of confirms), never more than wait. */
    for (int i = 0; i < 4; i++)
        answered_publish(&s, &p[i], PS_WIRE_CONFIRM);
    send_all(&s, 4);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_OK, .corr = p[2].corr, .count = 3}, 5);
    CHECK(s.unconfirmed == 1, "an OK of value 3 confirms three (%llu left)",
          (unsigned long long)s.unconfirmed);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_OK, .corr = PS_OP_BIT | 99, .count = 4}, 5);
    CHECK(s.unconfirmed == 1, "a late OK of a call that gave up (value 4) confirms nothing");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_OK, .corr = p[3].corr, .count = 5}, 5);
    CHECK(s.unconfirmed == 0, "an OK counting more than wait leaves none, not a wrapped count");
    ps__session_free(&s);
}

/* PS_OPT_CONFIRM_WINDOW: full while that many PS_CONFIRM and PS_SYNC
 * publishes are unanswered, open again with any answer or a lost session;
 * 0 bounds nothing. */
static void test_confirm_window(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    ps__session s;
    start(&s, &o);
    ps__cmd p[4];
    for (int i = 0; i < 3; i++)
        answered_publish(&s, &p[i], i ? PS_WIRE_CONFIRM : PS_WIRE_SYNC);
    CHECK(o.confirm_window == 0 && !ps__session_window_full(&s),
          "the default window bounds nothing");
    o.confirm_window = 4;
    CHECK(!ps__session_window_full(&s), "3 of a window of 4 unanswered: the next may go");
    answered_publish(&s, &p[3], PS_WIRE_CONFIRM);
    CHECK(ps__session_window_full(&s), "4 unanswered (sync and confirmed alike): full");
    ps__cmd plain = {.cmd = PS_CMD_PUBLISH, .channel = S("q")};
    ps__session_submit(&s, &plain, NULL, 0);
    send_all(&s, 1);
    CHECK(ps__session_window_full(&s), "a plain publish and sending change nothing");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_ERROR, .corr = p[1].corr, .code = PS_WERR_FULL,
                        .text = S("queue 'q' is full")}, 2);
    CHECK(!ps__session_window_full(&s), "a refusal is an answer: the window slides by one");
    char *text;
    CHECK(ps__session_take_error(&s, &text) == ENOBUFS, "... and the refusal waits for the flush");
    free(text);
    ps__session_submit(&s, &p[1], NULL, 1);
    CHECK(ps__session_window_full(&s), "full again with the next one");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_RESULT, .corr = p[0].corr, .count = 1, .expected = 1}, 2);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_OK, .corr = p[2].corr}, 2);
    CHECK(!ps__session_window_full(&s) && s.unconfirmed == 2, "a RESULT and an OK open two places");
    ps__session_submit(&s, &p[0], NULL, 1);
    ps__session_submit(&s, &p[2], NULL, 1);
    CHECK(ps__session_window_full(&s), "full again");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_ERROR, .code = PS_WERR_SESSION}, 3);
    CHECK(!ps__session_window_full(&s) && (ps__session_fx(&s) & PS_FX_WAKE),
          "a lost session answers them all and wakes the waiters: no publisher hangs on it");
    ps__session_free(&s);
}

static void test_deliveries(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    ps__session s;
    start(&s, &o);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_GAP, .channel = S("logs"), .dropped = 7}, 1);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_DELIVER, .flags = PS_WIRE_RECEIPT, .seq = 9, .tag = 4,
                        .channel = S("logs"), .topic = S("a/b"), .data = S("hi")}, 1);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_DELIVER, .seq = 10, .channel = S("logs"), .data = S("x")}, 1);
    unsigned fx = ps__session_fx(&s);
    CHECK(fx & PS_FX_RECV, "a delivery to an empty queue makes ps_fd readable");
    ps_msg *m = ps__session_recv(&s);
    CHECK(m && m->seq == 9 && m->tag == 4 && m->gap == 7 && (m->flags & PS_WIRE_RECEIPT) &&
              !strcmp(m->channel, "logs") && !strcmp(m->topic, "a/b") && m->size == 2,
          "the message carries its fields and the gap before it");
    ps_msg_destroy(&m);
    m = ps__session_recv(&s);
    CHECK(m && m->gap == 0 && (ps__session_fx(&s) & PS_FX_DRAINED), "the gap is told once; the queue drains");
    ps_msg_destroy(&m);
    CHECK(ps__session_dropped(&s) == 7 && ps__session_dropped(&s) == 0, "ps_dropped counts the gap once");
    ps__session_free(&s);
}

/* Small deliveries are carved from shared blocks: each keeps its own
 * bytes whatever is destroyed before it, in any order, and may outlive the
 * session (the sanitizer build sees a block freed too early or never). */
static void test_carved_messages(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    ps__session s;
    start(&s, &o);
    enum { N = 1000 }; /* several blocks' worth */
    static ps_msg *m[N];
    char text[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(text, sizeof text, "message %d", i);
        feed(&s, &(ps__cmd){.cmd = PS_CMD_DELIVER, .seq = (uint64_t)i + 1, .channel = S("c"),
                            .topic = S("t"), .data = {text, (size_t)n}}, 1);
        m[i] = ps__session_recv(&s);
    }
    char big[4000]; /* above what a block takes: an allocation of its own */
    memset(big, 'b', sizeof big);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_DELIVER, .seq = N + 1, .channel = S("c"),
                        .data = {big, sizeof big}}, 1);
    ps_msg *large = ps__session_recv(&s);
    CHECK(large && large->size == sizeof big && !large->block && large->data[sizeof big] == '\0',
          "a large message has an allocation of its own");
    ps_msg_destroy(&large);
    for (int i = 0; i < N; i += 2)
        ps_msg_destroy(&m[i]);
    ps__session_free(&s);
    int intact = 1;
    for (int i = 1; i < N; i += 2) {
        snprintf(text, sizeof text, "message %d", i);
        intact &= m[i] && m[i]->seq == (uint64_t)i + 1 && !strcmp((char *)m[i]->data, text) &&
                  !strcmp(m[i]->channel, "c") && !strcmp(m[i]->topic, "t");
    }
    CHECK(intact, "messages carved from blocks keep their bytes after others and the session went");
    for (int i = N - 1; i > 0; i -= 2)
        ps_msg_destroy(&m[i]);
}

static void test_reconnect(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    ps__session s;
    start(&s, &o);
    const char *chans[] = {"logs", "jobs"};
    for (int i = 0; i < 2; i++) {
        ps__cmd sub = {.cmd = PS_CMD_SUBSCRIBE, .flags = i ? PS_WIRE_RESPONDER : 0,
                       .channel = {chans[i], 4}, .topic = S("#")};
        ps__op *os = ps__op_new(PS_OP_SUB, ps__sub_new(chans[i], "#", sub.flags));
        ps__session_submit(&s, &sub, os, 0);
        send_all(&s, 1);
        feed(&s, &(ps__cmd){.cmd = PS_CMD_OK, .corr = os->corr}, 1);
        ps__session_op_remove(&s, os);
        ps__op_free(os);
    }
    /* Work in flight: a call whose command left, a confirm, and a call
     * still queued when the session goes. */
    ps__cmd ping = {.cmd = PS_CMD_PING};
    ps__op *sent = ps__op_new(PS_OP_PING, NULL), *queued = ps__op_new(PS_OP_PING, NULL);
    ps__session_submit(&s, &ping, sent, 0);
    ps__cmd pub = {.cmd = PS_CMD_PUBLISH, .flags = PS_WIRE_CONFIRM, .channel = S("q")};
    ps__session_submit(&s, &pub, NULL, 1);
    send_all(&s, 2);
    ps__session_submit(&s, &ping, queued, 0);
    ps__session_fx(&s);

    /* The broker restarted and no longer knows us. */
    feed(&s, &(ps__cmd){.cmd = PS_CMD_ERROR, .code = PS_WERR_SESSION}, 10);
    unsigned fx = ps__session_fx(&s);
    seen u = take_urgent(&s);
    CHECK(s.state == PS_SESSION_HANDSHAKE && (fx & PS_FX_LOST) && (fx & PS_FX_WAKE) &&
              !strcmp(s.why, "the broker no longer knows the session"),
          "ERROR(SESSION) loses the session and says why");
    CHECK(u.n == 1 && u.cmd[0].cmd == PS_CMD_HELLO && !s.reopen, "a HELLO goes at once on the same socket");
    CHECK(sent->done && sent->err == EHOSTUNREACH && !queued->done,
          "the call whose command had left fails; the one still queued waits for the next session");
    char *text;
    int err = ps__session_take_error(&s, &text);
    CHECK(err == EHOSTUNREACH && s.unconfirmed == 0 && text &&
              !strcmp(text, "connection to the broker lost before confirmation"),
          "an unconfirmed publish makes the next flush fail with EHOSTUNREACH");
    free(text);
    CHECK(!ps__session_take(&s), "nothing is sent before the new WELCOME");

    welcome(&s, 11);
    seen out = decode(&s.sending, 0);
    CHECK(out.n == 2 && count_of(&out, PS_CMD_SUBSCRIBE) == 2, "after WELCOME both subscriptions are made again");
    int responder = 0;
    for (int i = 0; i < out.n; i++)
        if (out.cmd[i].channel.len == 4 && !memcmp(out.cmd[i].channel.ptr, "jobs", 4))
            responder = out.cmd[i].flags == PS_WIRE_RESPONDER && out.cmd[i].window == 100;
    CHECK(responder, "... with their flags and the window");
    s.sending.len = 0;
    out = send_all(&s, 12);
    CHECK(out.n == 1 && out.cmd[0].cmd == PS_CMD_PING && out.cmd[0].corr == queued->corr,
          "then the call queued meanwhile goes out");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_PONG, .corr = queued->corr}, 13);
    CHECK(queued->done && !queued->err, "and is answered in the new session");
    ps__session_op_remove(&s, sent);
    ps__session_op_remove(&s, queued);
    ps__op_free(sent);
    ps__op_free(queued);

    /* An unsubscribe forgets the subscription for later reconnects. */
    ps__cmd un = {.cmd = PS_CMD_UNSUBSCRIBE, .channel = S("logs"), .topic = S("#")};
    ps__op *ou = ps__op_new(PS_OP_UNSUB, ps__sub_new("logs", "#", 0));
    ps__session_submit(&s, &un, ou, 0);
    send_all(&s, 14);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_OK, .corr = ou->corr}, 14);
    ps__session_op_remove(&s, ou);
    ps__op_free(ou);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_ERROR, .code = PS_WERR_SESSION}, 15);
    welcome(&s, 16);
    out = decode(&s.sending, 0);
    CHECK(out.n == 1 && out.cmd[0].channel.len == 4 && !memcmp(out.cmd[0].channel.ptr, "jobs", 4),
          "after an unsubscribe only the other subscription is made again");
    ps__session_free(&s);
}

/* A broken connection (issue 14.1): nothing goes on the new connection
 * before its WELCOME, and plain publishes sent into the lost session make
 * the next flush fail, while those a later answer covered do not. */
static void test_lost_plain_publishes(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    ps__session s;
    start(&s, &o);
    ps__cmd pub = {.cmd = PS_CMD_PUBLISH, .channel = S("q"), .data = S("x")};
    ps__cmd ping = {.cmd = PS_CMD_PING};
    ps__op *op = ps__op_new(PS_OP_PING, NULL);
    ps__session_submit(&s, &pub, NULL, 0);
    ps__session_submit(&s, &ping, op, 0);
    send_all(&s, 1);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_PONG, .corr = op->corr}, 2);
    ps__session_op_remove(&s, op);
    ps__op_free(op);
    for (int i = 0; i < 3; i++)
        ps__session_submit(&s, &pub, NULL, 0);
    send_all(&s, 3);
    ps__session_submit(&s, &pub, NULL, 0); /* still queued when the connection breaks */
    ps__session_fx(&s);

    ps__session_disconnected(&s, 4);
    unsigned fx = ps__session_fx(&s);
    CHECK(s.state == PS_SESSION_HANDSHAKE && s.reopen && (fx & PS_FX_LOST) &&
              !strcmp(s.why, "the connection to the broker broke"),
          "a broken connection loses the session and asks for a fresh socket");
    CHECK(!ps__session_take(&s) && s.urgent.len == 0 && s.sending.len == 0,
          "... and nothing is sent meanwhile, not even a HELLO on the old socket");
    char *text;
    int err = ps__session_take_error(&s, &text);
    CHECK(err == EHOSTUNREACH && text &&
              !strcmp(text, "connection to the broker lost: up to 3 messages sent may not have been handled"),
          "the three plain publishes sent since the last answer make the next flush fail; the one the PONG covered does not");
    free(text);
    ps__session_reopened(&s, 5, 0);
    seen u = take_urgent(&s);
    CHECK(u.n == 1 && u.cmd[0].cmd == PS_CMD_HELLO, "the fresh socket starts with HELLO alone");
    CHECK(!ps__session_take(&s), "the queued publish waits for the WELCOME");
    welcome(&s, 6);
    seen out = send_all(&s, 6);
    CHECK(out.n == 1 && out.cmd[0].cmd == PS_CMD_PUBLISH, "then it goes, in the new session");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_ERROR, .code = PS_WERR_SESSION}, 7);
    err = ps__session_take_error(&s, &text);
    CHECK(err == EHOSTUNREACH && text && strstr(text, "up to 1 messages"),
          "a broker that forgot the session reports what was sent into it too");
    free(text);
    ps__session_disconnected(&s, 8);
    CHECK(!s.reopen && ps__session_take_error(&s, &text) == 0 && !text,
          "a connection that breaks while shaking hands changes nothing, and nothing is reported twice");
    ps__session_free(&s);
}

/* The payloads of the PUBLISH_BATCH records (and PUBLISH records) in sn,
 * in order, written into out as "x,yy,..."; the records' count. */
static int payloads(const seen *sn, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < sn->n; i++) {
        ps__slice rest = sn->cmd[i].data, p = rest;
        if (sn->cmd[i].cmd != PS_CMD_PUBLISH_BATCH) /* a PUBLISH: its one payload */
            n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? "," : "", (int)p.len, p.ptr);
        else
            while (ps__wire_batch_next(&rest, &p))
                n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? "," : "", (int)p.len, p.ptr);
    }
    return sn->n;
}

/* Protocol 1.2: plain publishes to one channel and topic that wait
 * together leave as one PUBLISH_BATCH, only towards a broker that said
 * 1.2 and from a client that speaks it; a reconnect to an older broker
 * unpacks what is still queued. */
static void test_batches(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    ps__session s;
    ps__session_init(&s, &o, 0);
    take_urgent(&s);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_WELCOME, .major = 1, .minor = 2, .max_size = 4096}, 0);
    ps__session_fx(&s);
    ps__cmd pub = {.cmd = PS_CMD_PUBLISH, .channel = S("logs"), .topic = S("a"), .data = S("1")};
    ps__session_submit(&s, &pub, NULL, 0);
    pub.data = (ps__slice)S("2");
    ps__session_submit(&s, &pub, NULL, 0);
    pub.data = (ps__slice)S("3");
    ps__session_submit(&s, &pub, NULL, 1); /* PS_CONFIRM: a record of its own */
    pub.data = (ps__slice)S("4");
    ps__session_submit(&s, &pub, NULL, 0);
    pub.topic = (ps__slice)S("b");
    pub.data = (ps__slice)S("5");
    ps__session_submit(&s, &pub, NULL, 0);
    pub.data = (ps__slice)S("6");
    ps__session_submit(&s, &pub, NULL, 0);
    seen out = send_all(&s, 1);
    char got[64];
    CHECK(payloads(&out, got, sizeof got) == 4 && out.cmd[0].cmd == PS_CMD_PUBLISH_BATCH &&
              out.cmd[0].count == 2 && out.cmd[1].cmd == PS_CMD_PUBLISH && out.cmd[1].corr &&
              out.cmd[2].cmd == PS_CMD_PUBLISH_BATCH && out.cmd[2].count == 1 &&
              out.cmd[3].count == 2 && !strcmp(got, "1,2,3,4,5,6"),
          "towards a 1.2 broker plain publishes pack by channel and topic, a confirmed one goes alone, in order (%s)", got);
    CHECK(s.plain_queued == 5, "each packed message counts as a plain publish");
    pub.data = (ps__slice)S("7");
    ps__session_submit(&s, &pub, NULL, 0);
    out = send_all(&s, 2);
    CHECK(out.n == 1 && out.cmd[0].cmd == PS_CMD_PUBLISH_BATCH && out.cmd[0].count == 1,
          "a batch that left is not joined by the next publish");

    /* A batch's key is the bytes of its channel and topic, not the
     * caller's pointers: a buffer reused for another name of the same
     * length starts a new batch, a byte changed in the middle of a name
     * compared as words too. */
    char chan[] = "metrics.cpu0", topic[] = "h/aaaa";
    pub = (ps__cmd){.cmd = PS_CMD_PUBLISH, .channel = {chan, sizeof chan - 1},
                    .topic = {topic, sizeof topic - 1}, .data = S("8")};
    ps__session_submit(&s, &pub, NULL, 0);
    pub.data = (ps__slice)S("9");
    ps__session_submit(&s, &pub, NULL, 0);
    chan[6] = 'X';
    ps__session_submit(&s, &pub, NULL, 0);
    topic[3] = 'b';
    ps__session_submit(&s, &pub, NULL, 0);
    out = send_all(&s, 3);
    CHECK(out.n == 3 && out.cmd[0].count == 2 && out.cmd[1].count == 1 &&
              out.cmd[2].count == 1 && out.cmd[1].channel.len == 12 &&
              out.cmd[2].topic.len == 6,
          "the same bytes join, a channel or topic rewritten in place starts a new batch");

    /* Lost, then welcomed by a 1.1 broker: the queued batch is unpacked. */
    pub.data = (ps__slice)S("8");
    ps__session_submit(&s, &pub, NULL, 0);
    pub.data = (ps__slice)S("9");
    ps__session_submit(&s, &pub, NULL, 0);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_ERROR, .code = PS_WERR_SESSION}, 3);
    take_urgent(&s);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_WELCOME, .major = 1, .minor = 1, .max_size = 4096}, 4);
    out = send_all(&s, 4);
    CHECK(payloads(&out, got, sizeof got) == 2 && count_of(&out, PS_CMD_PUBLISH) == 2 &&
              !strcmp(got, "8,9"),
          "a 1.1 broker after a reconnect gets what was packed as PUBLISH records (%s)", got);
    pub.data = (ps__slice)S("10");
    ps__session_submit(&s, &pub, NULL, 0);
    ps__session_submit(&s, &pub, NULL, 0);
    out = send_all(&s, 5);
    CHECK(count_of(&out, PS_CMD_PUBLISH) == 2, "and nothing is packed for it");
    ps__session_free(&s);

    /* A client that speaks 1.1 (PUBSUB_PROTOCOL_MINOR=1) packs nothing. */
    o.minor = 1;
    ps__session_init(&s, &o, 0);
    seen u = take_urgent(&s);
    CHECK(u.n == 1 && u.cmd[0].minor == 1, "its HELLO says 1.1");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_WELCOME, .major = 1, .minor = 2, .max_size = 4096}, 0);
    ps__session_submit(&s, &pub, NULL, 0);
    ps__session_submit(&s, &pub, NULL, 0);
    out = send_all(&s, 1);
    CHECK(count_of(&out, PS_CMD_PUBLISH) == 2, "and its publishes go as PUBLISH records to a 1.2 broker");
    ps__session_free(&s);
}

/* The tags the ACK and ACK_BATCH records of sn acknowledge, in order,
 * written into out as "x,y,..."; how many ACK_BATCH records there were. */
static int acked(const seen *sn, char *out, size_t cap)
{
    size_t n = 0;
    int batches = 0;
    out[0] = '\0';
    for (int i = 0; i < sn->n; i++) {
        const ps__cmd *c = &sn->cmd[i];
        if (c->cmd == PS_CMD_ACK)
            n += (size_t)snprintf(out + n, cap - n, "%s%llu", n ? "," : "", (unsigned long long)c->tag);
        if (c->cmd != PS_CMD_ACK_BATCH)
            continue;
        batches++;
        for (uint32_t k = 0; k < c->count; k++)
            n += (size_t)snprintf(out + n, cap - n, "%s%llu", n ? "," : "",
                                  (unsigned long long)ps__wire_tag(c, k));
    }
    return batches;
}

/* Protocol 1.3: ACKs that wait together leave as one ACK_BATCH, only
 * towards a broker that said 1.3 and from a client that speaks it; a
 * reconnect to an older broker unpacks what is still queued. */
static void test_ack_batches(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    ps__session s;
    ps__session_init(&s, &o, 0);
    take_urgent(&s);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_WELCOME, .major = 1, .minor = 3, .max_size = 4096}, 0);
    ps__session_fx(&s);
    ps__cmd ack = {.cmd = PS_CMD_ACK, .tag = 5};
    ps__session_submit(&s, &ack, NULL, 0);
    ack.tag = 6;
    ps__session_submit(&s, &ack, NULL, 0);
    ps__cmd pub = {.cmd = PS_CMD_PUBLISH, .channel = S("logs"), .data = S("1")};
    ps__session_submit(&s, &pub, NULL, 0);
    ack.tag = 9;
    ps__session_submit(&s, &ack, NULL, 0);
    CHECK(s.acks_out == 3, "the session counts the ACKs it holds");
    seen out = send_all(&s, 1);
    char got[64];
    CHECK(acked(&out, got, sizeof got) == 2 && out.n == 3 && out.cmd[0].count == 2 &&
              !strcmp(got, "5,6,9") && s.acks_out == 0,
          "towards a 1.3 broker ACKs pack into ACK_BATCH records, a record between starts a new one (%s)",
          got);
    ack.tag = 10;
    ps__session_submit(&s, &ack, NULL, 0);
    out = send_all(&s, 2);
    CHECK(out.n == 1 && out.cmd[0].cmd == PS_CMD_ACK_BATCH && out.cmd[0].count == 1,
          "a batch that left is not joined by the next ACK");

    /* Lost, then welcomed by a 1.2 broker: the queued ACK_BATCH is unpacked. */
    ack.tag = 11;
    ps__session_submit(&s, &ack, NULL, 0);
    ack.tag = 12;
    ps__session_submit(&s, &ack, NULL, 0);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_ERROR, .code = PS_WERR_SESSION}, 3);
    take_urgent(&s);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_WELCOME, .major = 1, .minor = 2, .max_size = 4096}, 4);
    out = send_all(&s, 4);
    CHECK(acked(&out, got, sizeof got) == 0 && count_of(&out, PS_CMD_ACK) == 2 && !strcmp(got, "11,12"),
          "a 1.2 broker after a reconnect gets what was packed as ACK records (%s)", got);
    ps__session_submit(&s, &ack, NULL, 0);
    out = send_all(&s, 5);
    CHECK(count_of(&out, PS_CMD_ACK) == 1, "and nothing is packed for it");
    ps__session_free(&s);

    /* A client that speaks 1.2 (PUBSUB_PROTOCOL_MINOR=2) packs no ACKs. */
    o.minor = 2;
    ps__session_init(&s, &o, 0);
    take_urgent(&s);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_WELCOME, .major = 1, .minor = 3, .max_size = 4096}, 0);
    ps__session_submit(&s, &ack, NULL, 0);
    ps__session_submit(&s, &ack, NULL, 0);
    out = send_all(&s, 1);
    CHECK(count_of(&out, PS_CMD_ACK) == 2, "and its ACKs go as ACK records to a 1.3 broker");
    ps__session_free(&s);
}

/* DELIVER_BATCH (1.2): each payload a message of its own, numbered on
 * from the first; a gap reported before it goes with its first message. */
static void test_deliver_batch(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    ps__session s;
    start(&s, &o);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_GAP, .channel = S("logs"), .dropped = 3}, 1);
    ps__buf b = {0};
    size_t at = SIZE_MAX;
    ps__cmd d = {.cmd = PS_CMD_DELIVER_BATCH, .seq = 20, .channel = S("logs"), .topic = S("a"),
                 .data = S("x")};
    ps__wire_batch_add(&b, &at, &d);
    d.seq = 21;
    d.data = (ps__slice)S("yy");
    ps__wire_batch_add(&b, &at, &d);
    ps__reader r;
    ps__cmd got;
    ps__reader_init(&r, b.data, b.len);
    while (ps__wire_next(&r, &got) == 1)
        ps__session_record(&s, &got, 2);
    ps_msg *m1 = ps__session_recv(&s), *m2 = ps__session_recv(&s);
    CHECK(m1 && m2 && !ps__session_recv(&s) && m1->seq == 20 && m2->seq == 21 &&
              m1->size == 1 && m2->size == 2 && m1->gap == 3 && m2->gap == 0 && !m1->tag,
          "a DELIVER_BATCH of two is two messages, seq 20 and 21, the gap with the first");
    ps_msg_destroy(&m1);
    ps_msg_destroy(&m2);
    ps__buf_free(&b);
    ps__session_free(&s);
}

static void test_heartbeats(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o); /* heartbeat 1000 ms, silence 3000 ms */
    ps__session s;
    start(&s, &o);
    ps__session_tick(&s, 400);
    CHECK(ps__session_next_tick(&s, 400) == 600 && s.urgent.len == 0,
          "no heartbeat before the interval; the next tick in 600 ms");
    ps__session_tick(&s, 1000);
    seen u = take_urgent(&s);
    CHECK(u.n == 1 && u.cmd[0].cmd == PS_CMD_HEARTBEAT, "a heartbeat after an interval without sending");
    ps__session_tick(&s, 1001);
    u = take_urgent(&s);
    CHECK(u.n == 1 && u.cmd[0].cmd == PS_CMD_HEARTBEAT, "... asked for again until it could be sent");
    ps__session_sent(&s, 1001);
    ps__session_tick(&s, 1002);
    CHECK(s.urgent.len == 0 && ps__session_next_tick(&s, 1002) == 999, "and due again an interval after it went");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_HEARTBEAT}, 2500);
    ps__session_sent(&s, 2500);
    ps__session_tick(&s, 5000);
    CHECK(s.state == PS_SESSION_READY, "a broker heard within the timeout is alive");
    ps__session_tick(&s, 5501);
    unsigned fx = ps__session_fx(&s);
    CHECK(s.state == PS_SESSION_HANDSHAKE && s.reopen && (fx & PS_FX_LOST) &&
              !strcmp(s.why, "the broker fell silent"),
          "3 s of silence lose the session and ask for a fresh socket");
    CHECK(s.urgent.len == 0, "nothing is said on the old socket");
    ps__session_reopened(&s, 5600, 0);
    u = take_urgent(&s);
    CHECK(!s.reopen && u.n == 1 && u.cmd[0].cmd == PS_CMD_HELLO, "the fresh socket starts with HELLO");
    ps__session_tick(&s, 8601);
    CHECK(s.reopen && s.state == PS_SESSION_HANDSHAKE, "an unanswered HELLO knocks again on a fresh socket");
    ps__session_free(&s);

    /* Without reconnect, silence ends the client with its work. */
    o.reconnect = 0;
    start(&s, &o);
    ps__cmd ping = {.cmd = PS_CMD_PING};
    ps__op *a = ps__op_new(PS_OP_PING, NULL), *b = ps__op_new(PS_OP_PING, NULL);
    ps__session_submit(&s, &ping, a, 0);
    send_all(&s, 1);
    ps__session_submit(&s, &ping, b, 0);
    ps__session_tick(&s, 3001);
    fx = ps__session_fx(&s);
    CHECK(s.state == PS_SESSION_DEAD && (fx & PS_FX_DEAD) && ps__session_err(&s) == EHOSTUNREACH,
          "without reconnect a silent broker ends the session (EHOSTUNREACH)");
    CHECK(a->done && a->err == EHOSTUNREACH && b->done && b->err == EHOSTUNREACH,
          "... and every waiting call fails, sent or not");
    CHECK(ps__session_submit(&s, &ping, NULL, 0) == -1 && errno == EHOSTUNREACH,
          "a dead session takes no more commands");
    ps__session_op_remove(&s, a);
    ps__session_op_remove(&s, b);
    ps__op_free(a);
    ps__op_free(b);
    ps__session_free(&s);
}

static void test_refusals(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    ps__session s;
    ps__session_init(&s, &o, 0);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_ERROR, .code = PS_WERR_VERSION, .text = S("protocol 1.0 not supported")}, 1);
    CHECK(s.state == PS_SESSION_DEAD && ps__session_err(&s) == PS_EVERSION &&
              !strcmp(s.async_text, "protocol 1.0 not supported"),
          "ERROR(VERSION) is a final answer, with the broker's text");
    ps__session_free(&s);

    ps__session_init(&s, &o, 0);
    ps__session_handshake_failed(&s, PS_HS_CLOSED);
    CHECK(s.state == PS_SESSION_HANDSHAKE, "one handshake cut off may be chance");
    ps__session_handshake_failed(&s, PS_HS_CLOSED);
    CHECK(s.state == PS_SESSION_DEAD && ps__session_err(&s) == ECONNREFUSED, "two are ECONNREFUSED");
    ps__session_free(&s);

    ps__session_init(&s, &o, 0);
    ps__session_handshake_failed(&s, PS_HS_REFUSED);
    CHECK(s.state == PS_SESSION_DEAD && ps__session_err(&s) == EACCES &&
              strstr(s.async_text, "its user is not among"),
          "a refused user is EACCES at once");
    ps__session_free(&s);

    ps__session_init(&s, &o, 0);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_ERROR, .code = PS_WERR_LIMIT, .text = S("too many clients")}, 1);
    CHECK(s.state == PS_SESSION_DEAD && ps__session_err(&s) == ENOBUFS,
          "a refused HELLO before the first WELCOME ends the client");
    ps__session_free(&s);
}

/* Protocol 1.4: after PAUSE (a queue we publish to is full) publishes,
 * pings and subscriptions wait in order in the send queue while ACKs and
 * REPLYs still go, and never wait for room there; RESUME sends the rest,
 * and a lost session starts the next one unpaused. */
static void test_pause(void)
{
    struct ps_opts o;
    ps__opts_defaults(&o);
    ps__session s;
    ps__session_init(&s, &o, 0);
    take_urgent(&s);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_WELCOME, .major = 1, .minor = 4, .max_size = 4096}, 0);
    ps__session_fx(&s);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_PAUSE, .channel = S("jobs")}, 1);
    CHECK(s.held && !strcmp(s.held_channel, "jobs") && (ps__session_fx(&s) & PS_FX_SPACE),
          "PAUSE holds the session's publishes, names the queue and wakes who waits for room");

    ps__cmd pub = {.cmd = PS_CMD_PUBLISH, .channel = S("jobs"), .data = S("1")};
    ps__cmd ack = {.cmd = PS_CMD_ACK, .tag = 5};
    ps__cmd reply = {.cmd = PS_CMD_REPLY, .tag = 7, .data = S("r")};
    ps__session_submit(&s, &pub, NULL, 0);
    ps__session_submit(&s, &ack, NULL, 0);
    pub.data = (ps__slice)S("2");
    ps__session_submit(&s, &pub, NULL, 0);
    ps__op *ping = ps__op_new(PS_OP_PING, NULL);
    ps__cmd pc = {.cmd = PS_CMD_PING};
    ps__session_submit(&s, &pc, ping, 0);
    ps__session_submit(&s, &reply, NULL, 0);
    ack.tag = 6;
    ps__session_submit(&s, &ack, NULL, 0);
    seen out = send_all(&s, 2);
    char got[64];
    acked(&out, got, sizeof got);
    CHECK(out.n == 3 && count_of(&out, PS_CMD_REPLY) == 1 && !strcmp(got, "5,6") &&
              count_of(&out, PS_CMD_PUBLISH) + count_of(&out, PS_CMD_PUBLISH_BATCH) == 0,
          "while held only the ACKs and the REPLY leave (%d records, acks %s)", out.n, got);
    out = send_all(&s, 3);
    CHECK(out.n == 0, "what waits is not taken again while held");

    /* A wake-up that moves nothing leaves the last batch open: the
     * publishes that follow join it. */
    pub.data = (ps__slice)S("3");
    ps__session_submit(&s, &pub, NULL, 0);
    send_all(&s, 3);
    pub.data = (ps__slice)S("4");
    ps__session_submit(&s, &pub, NULL, 0);
    seen held = decode(&s.out, 0);
    CHECK(held.n == 4 && held.cmd[3].cmd == PS_CMD_PUBLISH_BATCH && held.cmd[3].count == 2,
          "held publishes still join one batch across takes (%d records)", held.n);
    ack.tag = 7;
    ps__session_submit(&s, &ack, NULL, 0);
    out = send_all(&s, 3);
    held = decode(&s.out, 0);
    CHECK(out.n == 1 && out.cmd[0].cmd == PS_CMD_ACK_BATCH && held.n == 4 &&
              held.cmd[3].count == 2,
          "the open batch is looked at again, and what waits keeps its order");

    /* The queue full of held publishes does not stop an ACK. */
    char *big = calloc(1, 600000);
    ps__cmd large = {.cmd = PS_CMD_PUBLISH, .channel = S("jobs"), .data = {big, 600000}};
    ps__session_submit(&s, &large, NULL, 0);
    ack.tag = 8;
    CHECK(ps__session_full(&s, &large, ps__wire_size(&large)) &&
              !ps__session_full(&s, &ack, ps__wire_size(&ack)),
          "a full send queue makes a publish wait, not an ACK");
    ps__session_submit(&s, &ack, NULL, 0);
    out = send_all(&s, 4);
    acked(&out, got, sizeof got);
    CHECK(out.n == 1 && !strcmp(got, "8"), "an ACK queued behind held publishes leaves alone (%s)", got);

    ps__session_fx(&s);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_RESUME}, 5);
    CHECK(!s.held && (ps__session_fx(&s) & PS_FX_SEND), "RESUME lets them go and says so");
    out = send_all(&s, 5);
    int pubs = 0;
    for (int i = 0; i < out.n; i++)
        pubs += out.cmd[i].cmd == PS_CMD_PUBLISH_BATCH ? (int)out.cmd[i].count
              : out.cmd[i].cmd == PS_CMD_PUBLISH;
    CHECK(out.n == 5 && out.cmd[2].cmd == PS_CMD_PING && out.cmd[0].data.ptr[4] == '1' &&
              out.cmd[1].data.ptr[4] == '2' && pubs == 5,
          "after RESUME the held records leave in the order queued (%d records, %d publishes)",
          out.n, pubs);

    /* Held when the session is lost: the next one starts unpaused. */
    feed(&s, &(ps__cmd){.cmd = PS_CMD_PAUSE, .channel = S("jobs")}, 6);
    ps__session_submit(&s, &pub, NULL, 0);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_ERROR, .code = PS_WERR_SESSION}, 7);
    take_urgent(&s);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_WELCOME, .major = 1, .minor = 4, .max_size = 4096}, 8);
    out = send_all(&s, 8);
    CHECK(!s.held && count_of(&out, PS_CMD_PUBLISH_BATCH) == 1,
          "a new session is not held: what waited goes to the new broker");
    free(big);
    ps__session_free(&s);

    /* Deliveries past the receive bound stop reading; a PAUSE behind them
     * raises the bound, so that its RESUME is read even while the
     * application, blocked publishing, reads nothing. */
    ps__session_init(&s, &o, 0);
    take_urgent(&s);
    feed(&s, &(ps__cmd){.cmd = PS_CMD_WELCOME, .major = 1, .minor = 4, .max_size = 1 << 20}, 0);
    char *chunk = calloc(1, 200000);
    for (int i = 0; i < 3; i++)
        feed(&s, &(ps__cmd){.cmd = PS_CMD_DELIVER, .channel = S("logs"), .topic = S("t"),
                            .data = {chunk, 200000}}, 1);
    CHECK(!ps__session_input_open(&s), "600 KB unread stop the reading");
    feed(&s, &(ps__cmd){.cmd = PS_CMD_PAUSE, .channel = S("jobs")}, 2);
    CHECK(ps__session_input_open(&s), "a PAUSE opens it again up to the bound of a waiting call");
    free(chunk);
    ps__session_free(&s);
}

int main(void)
{
    test_handshake();
    test_calls_and_tickets();
    test_confirms();
    test_confirm_window();
    test_deliveries();
    test_carved_messages();
    test_reconnect();
    test_lost_plain_publishes();
    test_heartbeats();
    test_batches();
    test_ack_batches();
    test_pause();
    test_deliver_batch();
    test_refusals();
    return TEST_DONE();
}
