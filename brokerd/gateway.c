/*
 * gateway.c - the plain ZeroMQ gateway: pubsub channels for the SUB and
 * PUB sockets of any ZeroMQ library (pyzmq, zeromq.js, czmq...), without
 * libpubsub and without our protocol.
 *
 * With broker.gateway.xpub set, the broker binds an XPUB socket there and
 * sends every message accepted on a pubsub channel as two frames,
 * [CHANNEL/TOPIC, payload]; a SUB socket subscribed to a prefix of that
 * subject ("logs/amd64/" say, or "" for everything) receives it.  With
 * broker.gateway.xsub set, it binds an XSUB socket, subscribes it to
 * everything (a PUB socket sends nothing until a subscription reached it,
 * so the XSUB must send "\x01" upstream), and takes each [CHANNEL/TOPIC,
 * payload] a PUB socket sends as a publish on that channel with the
 * channel's rules: an unknown channel is created only as auto_create says,
 * only pubsub channels take gateway messages, max_message_size and the
 * topic rules hold.  A message that breaks them is dropped and counted,
 * and each kind of refusal is logged once, since a PUB socket has nobody
 * to tell.  Such messages are numbered and fanned out like any other, so
 * psub sees them and so do the gateway's own SUB sockets.
 *
 * Both sockets are polled in the broker's one loop and never block.  The
 * XPUB reports the prefixes its subscribers want (the first subscriber of
 * a prefix and the last to leave it); the gateway keeps that set so that
 * it builds the two frames only for messages somebody wants, and nothing
 * at all while nobody is subscribed.  A subscriber whose pipe is full
 * misses messages as with any XPUB: libzmq drops them for that pipe alone
 * at its SNDHWM, and does not say so, so only what the broker forwarded
 * and a send libzmq refused altogether can be counted.  (ZMQ_XPUB_NODROP
 * would make the drops visible, but one slow subscriber would then stop
 * the messages of all.)
 * While a "block" receiver holds the broker's input (client.c), the XSUB
 * is not read either, so gateway publishers are slowed like the others.
 *
 * The gateway sits above the channels: it publishes through
 * chan_publish_plain, and receives what is fanned out through the hook
 * main registers (gateway_forward), so channel code never calls it.  Its
 * counters leave this file only as the JSON of gateway_status.
 *
 * Retained values are not sent to gateway subscribers when they subscribe.
 * An XPUB says that somebody subscribed to a prefix, but not who: the only
 * possible answer is a send that reaches every subscriber whose prefix
 * matches, so the subscribers already attached would get the retained
 * values again, and a second subscriber of the same prefix is not even
 * reported.  libzmq's draft option ZMQ_XPUB_MANUAL_LAST_VALUE addresses the
 * newest subscriber, but for one message only, not the many topics one
 * prefix may match.  So a plain ZeroMQ subscriber sees the live stream,
 * exactly as a SUB on any PUB does, and a program that wants the last
 * values subscribes through libpubsub (psub).  For the same reason a
 * message from a PUB socket is never retained: two frames leave no room
 * for the flag.
 */
#include "brokerd.h"
#include "defaults.h"
#include "text.h"

#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* A subscription prefix a SUB socket gave the gateway's XPUB. */
typedef struct gw_prefix {
    uint8_t *data;         /* the prefix bytes (any bytes, not NUL-terminated) */
    size_t len;            /* bytes in data; 0 subscribes to everything */
} gw_prefix;

/* The plain ZeroMQ gateway: an XPUB for SUB sockets, an XSUB for PUB sockets. */
struct gateway {
    void *xpub;            /* SUB sockets connect here; NULL when not configured */
    void *xsub;            /* PUB sockets connect here; NULL when not configured */
    char *xpub_ep;         /* the endpoint xpub is bound to, for reload and status */
    char *xsub_ep;         /* the endpoint xsub is bound to */
    char xpub_bound[256];  /* xpub's endpoint as libzmq resolved it, for zmq_unbind */
    int resetting;         /* xpub unbound past max_subscriptions, not bound again yet */
    int64_t reset_at;      /* when it was unbound (loop_now) */
    uint64_t resets;       /* times xpub was unbound past max_subscriptions */
    size_t n_subscribed;   /* distinct prefixes subscribed on xpub, as it reported them */
    gw_prefix *prefixes;   /* those prefixes, unordered, while they are few enough */
    size_t n_prefixes;     /* entries in prefixes */
    size_t cap_prefixes;   /* entries allocated */
    int forward_all;       /* too many prefixes to track: send everything, XPUB filters */
    uint64_t forwarded;    /* messages sent on xpub */
    uint64_t send_failed;  /* sends libzmq refused on xpub (dropped for every subscriber) */
    uint64_t accepted;     /* messages from PUB sockets published on a channel */
    uint64_t refused;      /* messages from PUB sockets dropped (malformed or refused) */
    uint32_t warned;       /* refusal kinds already logged, one bit each */
};

#define GATEWAY_BURST 1000          /* messages read from the XSUB per turn */
#define GATEWAY_MAX_PREFIXES 1024   /* distinct prefixes tracked; beyond, everything is sent */
#define GATEWAY_SUBJECT_MAX (PS_WIRE_NAME_MAX + 1 + PS_WIRE_TOPIC_MAX) /* "CHANNEL/TOPIC" */
#define GATEWAY_SNDHWM_MIN 1000     /* messages a subscriber's pipe holds at least (libzmq's default) */
#define GATEWAY_RCVHWM_MIN 16       /* messages read ahead from one publisher at least */
#define GATEWAY_HWM_MAX 100000      /* ... and either at most */
#define GATEWAY_HARD_CAP 16         /* client_buffers one peer's pipe may hold */
#define GATEWAY_SUBS_HWM 10       /* subscriptions libzmq takes from one SUB ahead of the count */
#define GATEWAY_TICK_MS 100         /* how often an unbound xpub tries to bind again */
#define GATEWAY_REBIND_WAIT_MS 1000 /* ... waiting this long at most for its subscribers to go */
/* Bytes of one frame a SUB socket may send the XPUB: a subscription no
 * longer than a subject, with room for its framing ("\x01" before ZMTP
 * 3.1, the command name "\x09SUBSCRIBE" since). */
#define GATEWAY_SUBSCRIPTION_FRAME_MAX (GATEWAY_SUBJECT_MAX + 16)

/* Kinds of refusal that are the gateway's own, beside the PS_WERR_* codes
 * of chan_publish_plain (each kind is logged once, as bit 1 << kind). */
enum { GW_BAD_FRAMES = 16, GW_BAD_SUBJECT = 17 };

/*
 * High-water marks count messages, not bytes: the mark is as many messages
 * of the largest allowed size as fit in GATEWAY_HARD_CAP client buffers,
 * and at least min.  For the XSUB that bounds what a publisher can make
 * the broker hold; a subscriber's pipe on the XPUB holds never less than
 * libzmq's default, so it is no worse off than on any XPUB (a small
 * max_message_size buys it a deeper pipe).
 */
static int pipe_hwm(const config *c, long min)
{
    long size = c->max_message_size > 1024 ? c->max_message_size : 1024;
    long hwm = (long)(c->client_buffer / size) * GATEWAY_HARD_CAP;
    if (hwm < min)
        hwm = min;
    if (hwm > GATEWAY_HWM_MAX)
        hwm = GATEWAY_HWM_MAX;
    return (int)hwm;
}

/*
 * Makes a socket of type and binds it to ep.  Returns it, or NULL after
 * logging.  libzmq copies the options into the listener at bind time, so
 * they are set first; after a reload the listener keeps them (the checks
 * of each message use the configuration of the day all the same).
 */
static void *open_socket(broker *b, int type, const char *ep)
{
    const char *what = type == ZMQ_XPUB ? "xpub" : "xsub";
    void *s = zmq_socket(b->ctx, type);
    if (!s) {
        log_err("gateway: cannot create the %s socket: %s", what, zmq_strerror(errno));
        return NULL;
    }
    int zero = 0;
    int hwm = pipe_hwm(b->cfg, type == ZMQ_XPUB ? GATEWAY_SNDHWM_MIN : GATEWAY_RCVHWM_MIN);
    /* libzmq refuses larger frames before it allocates them and drops
     * the peer.  What a SUB sends the XPUB is subscriptions: one longer
     * than any subject could never match, and would sit in the XPUB's
     * subscription trie, so the bound is a subject's length. */
    int64_t maxsize = type == ZMQ_XPUB ? GATEWAY_SUBSCRIPTION_FRAME_MAX
                                       : b->cfg->max_message_size + PS_FRAME_SLACK;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, type == ZMQ_XPUB ? ZMQ_SNDHWM : ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
    /* What a SUB sends the XPUB is subscriptions, which libzmq files in
     * its trie as it takes them from the pipe, before the broker counts
     * them: a short pipe keeps that ahead of the count by little. */
    int subs_hwm = GATEWAY_SUBS_HWM;
    if (type == ZMQ_XPUB)
        zmq_setsockopt(s, ZMQ_RCVHWM, &subs_hwm, sizeof subs_hwm);
    /* A connection that never finishes the ZMTP handshake is closed as on
     * the ROUTERs (listen.c), not after libzmq's 30 s. */
    int ivl = (int)b->cfg->handshake_timeout_ms;
    zmq_setsockopt(s, ZMQ_HANDSHAKE_IVL, &ivl, sizeof ivl);
    char label[32];
    snprintf(label, sizeof label, "the gateway's %s ", what);
    if (listen_bind(b, s, ep, label) < 0) {
        zmq_close(s);
        return NULL;
    }
    log_info("gateway: %s listening on %s", what, ep);
    return s;
}

int gateway_open(broker *b)
{
    const config *c = b->cfg;
    if (!c->gateway_xpub && !c->gateway_xsub)
        return 0;
    gateway *g = calloc(1, sizeof *g);
    if (!g) {
        log_err("gateway: out of memory");
        return -1;
    }
    /* On failure main closes what was made (gateway_close). */
    b->gw = g;
    if (c->insecure)
        log_warn("gateway: broker.insecure = true, and the plain ZeroMQ gateway is "
                 "unauthenticated: anyone who reaches it can %s every pubsub channel",
                 !c->gateway_xsub ? "read" : !c->gateway_xpub ? "inject on" : "read and inject on");
    if (c->gateway_xpub) {
        if (!(g->xpub_ep = strdup(c->gateway_xpub)))
            goto oom;
        if (!(g->xpub = open_socket(b, ZMQ_XPUB, c->gateway_xpub)))
            return -1;
        size_t len = sizeof g->xpub_bound;
        if (zmq_getsockopt(g->xpub, ZMQ_LAST_ENDPOINT, g->xpub_bound, &len) < 0)
            snprintf(g->xpub_bound, sizeof g->xpub_bound, "%s", c->gateway_xpub);
    }
    if (c->gateway_xsub) {
        if (!(g->xsub_ep = strdup(c->gateway_xsub)))
            goto oom;
        if (!(g->xsub = open_socket(b, ZMQ_XSUB, c->gateway_xsub)))
            return -1;
        /* Without a subscription upstream no PUB socket sends us anything;
         * libzmq hands it to every PUB that connects later, too. */
        if (zmq_send(g->xsub, "\x01", 1, ZMQ_DONTWAIT) < 0) {
            log_err("gateway: cannot subscribe the xsub socket: %s", zmq_strerror(errno));
            return -1;
        }
    }
    return 0;
oom:
    log_err("gateway: out of memory");
    return -1;
}

void gateway_close(broker *b)
{
    gateway *g = b->gw;
    if (!g)
        return;
    if (g->xpub)
        zmq_close(g->xpub);
    if (g->xsub)
        zmq_close(g->xsub);
    for (size_t i = 0; i < g->n_prefixes; i++)
        free(g->prefixes[i].data);
    free(g->prefixes);
    free(g->xpub_ep);
    free(g->xsub_ep);
    free(g);
    b->gw = NULL;
}

static int same_endpoint(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

void gateway_reload(broker *b)
{
    gateway *g = b->gw;
    const char *xpub = g ? g->xpub_ep : NULL, *xsub = g ? g->xsub_ep : NULL;
    if (!same_endpoint(xpub, b->cfg->gateway_xpub) || !same_endpoint(xsub, b->cfg->gateway_xsub))
        log_notice("gateway endpoint changes take effect when the broker restarts");
}

/* Subscriptions: the XPUB side ---------------------------------------------- */

static gw_prefix *prefix_find(gateway *g, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < g->n_prefixes; i++)
        if (g->prefixes[i].len == len && memcmp(g->prefixes[i].data, p, len) == 0)
            return &g->prefixes[i];
    return NULL;
}

/*
 * The XPUB reports each distinct prefix once when its first subscriber
 * comes and once when its last goes, so n_subscribed is exact; the set of
 * prefixes is kept only up to GATEWAY_MAX_PREFIXES (it is scanned for each
 * message), beyond which everything goes to the XPUB and its own trie
 * filters, until nobody is subscribed at all.
 */
static void prefix_add(gateway *g, const uint8_t *p, size_t len)
{
    if (prefix_find(g, p, len))
        return; /* reported twice: libzmq does not, but nothing counts it twice */
    g->n_subscribed++;
    if (g->forward_all)
        return;
    if (len > GATEWAY_SUBJECT_MAX)
        return; /* longer than any subject: it can never match */
    if (g->n_prefixes == GATEWAY_MAX_PREFIXES) {
        log_info("gateway: more than %d distinct subscriptions: every pubsub message now "
                 "goes to the xpub socket, which filters by itself", GATEWAY_MAX_PREFIXES);
        g->forward_all = 1;
        return;
    }
    if (g->n_prefixes == g->cap_prefixes) {
        size_t cap = g->cap_prefixes ? g->cap_prefixes * 2 : 16;
        gw_prefix *more = realloc(g->prefixes, cap * sizeof *more);
        if (!more) {
            /* Not knowing every prefix, send everything rather than miss some. */
            g->forward_all = 1;
            return;
        }
        g->prefixes = more;
        g->cap_prefixes = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        g->forward_all = 1;
        return;
    }
    memcpy(copy, p, len);
    g->prefixes[g->n_prefixes++] = (gw_prefix){.data = copy, .len = len};
}

static void prefix_remove(gateway *g, const uint8_t *p, size_t len)
{
    gw_prefix *e = prefix_find(g, p, len);
    if (e) {
        free(e->data);
        *e = g->prefixes[--g->n_prefixes];
    }
    if (g->n_subscribed)
        g->n_subscribed--;
    if (!g->n_subscribed && g->forward_all) {
        /* Nobody left: the set is exact again (empty). */
        for (size_t i = 0; i < g->n_prefixes; i++)
            free(g->prefixes[i].data);
        g->n_prefixes = 0;
        g->forward_all = 0;
    }
}

/*
 * libzmq's XPUB keeps every distinct prefix its SUB sockets send, in a
 * trie of some KB for 200 random bytes, for as long as they stay
 * connected, and it cannot be told to refuse one: ZMQ_XPUB_MANUAL leaves
 * the trie that matches to the broker, but in libzmq 4.3.4 it keeps a
 * second trie of every subscription anyway (to report them when their
 * SUB goes), and it gives the broker no way to tell which SUB sent one.
 * So past gateway.max_subscriptions distinct prefixes the broker unbinds
 * the xpub, which closes every connection accepted on it and frees their
 * subscriptions, and binds it again (gateway_tick): honest SUB sockets
 * reconnect by themselves and subscribe again, and one that sends too
 * many is cut off again.  Memory is bounded; the gateway's subscribers
 * lose what is sent meanwhile.
 */
static void reset_xpub(broker *b)
{
    gateway *g = b->gw;
    log_limited(LOG_LVL_WARNING, "gateway subscriptions past the limit", "",
                "gateway: more than %ld distinct subscriptions on the xpub socket "
                "(broker.gateway.max_subscriptions): every SUB socket on it is disconnected",
                b->cfg->gateway_max_subscriptions);
    g->resets++;
    if (zmq_unbind(g->xpub, g->xpub_bound) < 0) {
        log_limited(LOG_LVL_ERR, "gateway xpub unbind failed", "",
                    "gateway: cannot unbind the xpub socket from %s: %s", g->xpub_bound,
                    zmq_strerror(errno));
        return;
    }
    g->resetting = 1;
    g->reset_at = loop_now();
}

/* Takes up to max (un)subscriptions the XPUB reports: "\x01prefix" or
 * "\x00prefix". */
static void read_subscriptions(broker *b, long max)
{
    gateway *g = b->gw;
    for (long i = 0; i < max; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, g->xpub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        const uint8_t *d = zmq_msg_data(&m);
        size_t n = zmq_msg_size(&m);
        if (n >= 1 && (d[0] == 0 || d[0] == 1)) {
            char shown[80];
            ps__printable(shown, sizeof shown, d + 1, n - 1);
            log_debug("gateway: %s '%s'", d[0] ? "subscription to" : "no more subscribers of",
                      shown);
            if (d[0])
                prefix_add(g, d + 1, n - 1);
            else
                prefix_remove(g, d + 1, n - 1);
        }
        zmq_msg_close(&m);
        if (!g->resetting && g->n_subscribed > (size_t)b->cfg->gateway_max_subscriptions)
            reset_xpub(b);
    }
}

/*
 * The timer of the xpub while it is unbound: reads the unsubscriptions
 * of the connections that went, and binds again once they all have, or
 * after GATEWAY_REBIND_WAIT_MS (libzmq closes the old listener in its
 * own thread: until it has, the bind fails and is tried again).
 */
static long gateway_tick(void *ctx)
{
    broker *b = ctx;
    gateway *g = b->gw;
    if (!g || !g->xpub)
        return -1;
    if (!g->resetting)
        return GATEWAY_TICK_MS;
    /* All of them: the unsubscriptions of the SUBs that went. */
    read_subscriptions(b, LONG_MAX);
    if (g->n_subscribed && loop_now() - g->reset_at < GATEWAY_REBIND_WAIT_MS)
        return GATEWAY_TICK_MS;
    if (listen_rebind(b, g->xpub, g->xpub_bound) == 0) {
        g->resetting = 0;
        log_limited(LOG_LVL_INFO, "gateway xpub bound again", "",
                    "gateway: xpub listening on %s again", g->xpub_bound);
    }
    return GATEWAY_TICK_MS;
}

/* True when prefix p matches the subject name + "/" + topic. */
static int prefix_matches(const gw_prefix *p, const char *name, size_t nlen, const ps__slice *topic)
{
    if (p->len <= nlen)
        return memcmp(p->data, name, p->len) == 0;
    if (memcmp(p->data, name, nlen) != 0 || p->data[nlen] != '/')
        return 0;
    size_t rest = p->len - nlen - 1;
    return rest <= topic->len && memcmp(p->data + nlen + 1, topic->ptr, rest) == 0;
}

void gateway_forward(void *ctx, const channel *ch, const ps__slice *topic, const ps__slice *data)
{
    broker *b = ctx;
    gateway *g = b->gw;
    if (!g->xpub || !g->n_subscribed)
        return;
    size_t nlen = strlen(ch->name);
    if (!g->forward_all) {
        size_t i = 0;
        while (i < g->n_prefixes && !prefix_matches(&g->prefixes[i], ch->name, nlen, topic))
            i++;
        if (i == g->n_prefixes)
            return;
    }
    char subject[GATEWAY_SUBJECT_MAX];
    if (nlen + 1 + topic->len > sizeof subject)
        return; /* cannot happen: names and topics are checked on the way in */
    memcpy(subject, ch->name, nlen);
    subject[nlen] = '/';
    memcpy(subject + nlen + 1, topic->ptr, topic->len);
    /* A lossy XPUB takes every message (a full pipe drops it for its
     * subscriber alone), so the second frame cannot fail where the first
     * went; a refusal of the first is counted. */
    if (zmq_send(g->xpub, subject, nlen + 1 + topic->len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(g->xpub, data->ptr, data->len, ZMQ_DONTWAIT) < 0) {
        if (!g->send_failed++)
            log_warn("gateway: the xpub socket refused a message: %s (further refusals are "
                     "only counted)", zmq_strerror(errno));
        return;
    }
    g->forwarded++;
}

/* Publishers: the XSUB side -------------------------------------------------- */

/*
 * Publishes one message of frames frames from a PUB socket (subj and body
 * are its first two), or drops it and counts, logging each kind of
 * refusal once.
 */
static void take_message(broker *b, zmq_msg_t *subj, zmq_msg_t *body, int frames)
{
    gateway *g = b->gw;
    char why[PS_WIRE_NAME_MAX + 160];
    unsigned code;
    const char *s = zmq_msg_data(subj);
    size_t n = zmq_msg_size(subj);
    const char *slash = memchr(s, '/', n);
    if (frames != 2) {
        code = GW_BAD_FRAMES;
        snprintf(why, sizeof why, "a message of %d frame%s, not [CHANNEL/TOPIC, payload]", frames,
                 frames == 1 ? "" : "s");
    } else if (!slash || slash == s || slash + 1 == s + n) {
        char shown[80];
        ps__printable(shown, sizeof shown, s, n);
        code = GW_BAD_SUBJECT;
        snprintf(why, sizeof why, "subject '%s' is not CHANNEL/TOPIC", shown);
    } else if ((size_t)(s + n - slash - 1) > PS_WIRE_TOPIC_MAX) {
        code = PS_WERR_INVALID;
        snprintf(why, sizeof why, "topic longer than %d bytes", PS_WIRE_TOPIC_MAX);
    } else {
        ps__slice name = {s, (size_t)(slash - s)};
        ps__slice topic = {slash + 1, (size_t)(s + n - slash - 1)};
        ps__slice data = {zmq_msg_data(body), zmq_msg_size(body)};
        code = chan_publish_plain(b, &name, &topic, &data, why, sizeof why);
    }
    if (!code) {
        g->accepted++;
        return;
    }
    g->refused++;
    if (!(g->warned & (1u << code))) {
        g->warned |= 1u << code;
        log_warn("gateway: dropped a message from a PUB socket: %s (more of this kind are "
                 "only counted)", why);
    }
}

/* Reads up to GATEWAY_BURST messages from the XSUB and publishes them. */
static void read_publishers(broker *b)
{
    gateway *g = b->gw;
    for (int i = 0; i < GATEWAY_BURST; i++) {
        zmq_msg_t subj, body;
        zmq_msg_init(&subj);
        if (zmq_msg_recv(&subj, g->xsub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&subj);
            break;
        }
        /* The frames of a message arrive together: the rest never blocks. */
        int frames = 1, more = zmq_msg_more(&subj);
        zmq_msg_init(&body);
        if (more && zmq_msg_recv(&body, g->xsub, 0) >= 0) {
            frames = 2;
            more = zmq_msg_more(&body);
        }
        while (more) {
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            more = zmq_msg_recv(&extra, g->xsub, 0) >= 0 && zmq_msg_more(&extra);
            frames++;
            zmq_msg_close(&extra);
        }
        take_message(b, &subj, &body, frames);
        zmq_msg_close(&body);
        zmq_msg_close(&subj);
    }
}

/* The loop's handlers of the two sockets. */
static void xpub_input(void *ctx)
{
    read_subscriptions(ctx, GATEWAY_BURST);
}

static void xsub_input(void *ctx)
{
    read_publishers(ctx);
}

int gateway_watch(broker *b)
{
    gateway *g = b->gw;
    if (!g)
        return 0;
    if (g->xpub && (loop_watch(b->loop, g->xpub, -1, xpub_input, b, NULL) < 0 ||
                    loop_timer(b->loop, GATEWAY_TICK_MS, gateway_tick, b) < 0))
        return -1;
    /* Not read while a "block" receiver holds every publisher back. */
    if (g->xsub && loop_watch(b->loop, g->xsub, -1, xsub_input, b, &b->throttled) < 0)
        return -1;
    return 0;
}

json_t *gateway_status(const gateway *g)
{
    return json_pack("{s:s?, s:s?, s:I, s:I, s:b, s:I, s:I, s:I, s:I}", "xpub", g->xpub_ep,
                     "xsub", g->xsub_ep, "subscriptions", (json_int_t)g->n_subscribed,
                     "subscription_resets", (json_int_t)g->resets,
                     "forward_all", g->forward_all, "forwarded", (json_int_t)g->forwarded,
                     "send_failed", (json_int_t)g->send_failed, "accepted",
                     (json_int_t)g->accepted, "refused", (json_int_t)g->refused);
}
