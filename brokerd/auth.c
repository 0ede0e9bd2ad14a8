/*
 * auth.c - who may connect to the broker, and what each client may do.
 *
 * With a security section every client is identified before its first
 * record: on tcp by its CURVE public key, on ipc by the uid and groups the
 * kernel reports for the peer (SO_PEERCRED, which libzmq appends to the
 * peer address as ":uid:gid:pid").  libzmq asks a ZAP handler (ZeroMQ RFC
 * 27) about every handshake; ours is a REP socket on inproc://zeromq.zap.01
 * that the event loop polls with everything else, so no thread is needed.
 * A peer that no entry of security.clients names is refused there, before
 * it can send a single record.  The answer carries a user id ("curve:KEY"
 * or "unix:UID:GID,GID...") that libzmq attaches to every message of that
 * connection: at HELLO the session gets the entries its id matches, and
 * after a reload it is judged again by the new ones.
 *
 * The rights of an allow list map onto the commands like this:
 *
 *   publish    PUBLISH on a pubsub or broadcast channel
 *   send       PUBLISH on a queue
 *   subscribe  SUBSCRIBE on a pubsub or broadcast channel (retained values too)
 *   consume    SUBSCRIBE on a queue
 *   request    REQUEST on any channel
 *   reply      SUBSCRIBE as a responder; without subscribe (consume) as
 *              well, that subscription gets the requests and no messages
 *   admin      ADMIN: pctl status, channels and clients
 *
 * PING, HEARTBEAT, BYE, ACK, REPLY and UNSUBSCRIBE need no right: they
 * only answer or undo what was allowed.  A channel that does not exist yet
 * is judged by its name before it is created (as the pubsub channel it
 * would become).  Patterns match whole channel names, '*' any run of
 * characters: "logs.*", "*".
 */
#include "brokerd.h"
#include "hash.h"
#include "text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define AUTH_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define AUTH_DOMAIN_TCP "pubsub-tcp" /* ZAP domain of the CURVE ROUTER */
#define AUTH_DOMAIN_IPC "pubsub-ipc" /* ZAP domain of the ipc ROUTER */
#define AUTH_DOMAIN_CLUSTER "pubsub-cluster" /* ZAP domain of the cluster's ROUTER (link.c) */
#define AUTH_USER_MAX 255      /* bytes of a user id (libzmq's limit for a property is larger) */
#define AUTH_FRAMES 7          /* frames of a ZAP request we look at */
#define AUTH_FRAME_MAX 256     /* bytes of each we keep */
#define AUTH_BURST 100         /* ZAP requests answered per loop turn */
#define AUTH_LOGGED_MAX 64     /* handshake refusals remembered, so each is logged once */
#define AUTH_REFUSALS_MAX 16   /* command refusals per client logged once each */
#define AUTH_GRANTS_MAX 64     /* entries of security.clients one peer may match */

/* What a session was admitted as and may do. */
struct auth_session {
    char user[AUTH_USER_MAX + 1];  /* the ZAP user id of its connection */
    char who[96];                  /* who it is, for logs and `pctl clients` */
    const config_client *grants[AUTH_GRANTS_MAX]; /* the entries that apply (in b->cfg) */
    size_t n_grants;               /* entries in grants */
    channel *allowed[VERB_COUNT];  /* the last channel each verb was allowed on */
    uint32_t refused[AUTH_REFUSALS_MAX]; /* refusals logged: hashes of verb and channel */
    size_t n_refused;              /* entries in refused; one more: "no more logged" said */
};

/* Handshake refusals logged already, as hashes of their reason: a peer
 * that libzmq lets retry every 100 ms must not fill the log. */
static uint32_t logged[AUTH_LOGGED_MAX];
static size_t n_logged;  /* entries of logged in use */
static size_t next_slot; /* the entry replaced next once all are in use */

/* True the first time reason is seen (among the last AUTH_LOGGED_MAX). */
static int first_time(const char *reason)
{
    uint32_t h = ps__hash(reason, strlen(reason));
    for (size_t i = 0; i < n_logged; i++)
        if (logged[i] == h)
            return 0;
    if (n_logged < AUTH_LOGGED_MAX) {
        logged[n_logged++] = h;
    } else {
        logged[next_slot] = h;
        next_slot = (next_slot + 1) % AUTH_LOGGED_MAX;
    }
    return 1;
}

int auth_match(const char *pattern, const char *name, size_t len)
{
    /* As MQTT keeps "#" off "$SYS", a leading '*' does not reach the
     * broker's own "$" channel: a right to it must name it. */
    if (len > 0 && name[0] == '$' && pattern[0] != '$')
        return 0;
    /* Greedy with one backtrack point: the last '*' seen absorbs one more
     * character whenever the rest fails to match. */
    const char *p = pattern, *star = NULL;
    size_t i = 0, mark = 0;
    while (i < len) {
        if (*p == '*') {
            star = p++;
            mark = i;
        } else if (*p && *p == name[i]) {
            p++;
            i++;
        } else if (star) {
            p = star + 1;
            i = ++mark;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* Parses "unix:UID:GID,GID,..." into uid and groups; the count or -1. */
static int parse_unix(const char *user, long *uid, long *groups, size_t max)
{
    char *end;
    if (strncmp(user, "unix:", 5) != 0)
        return -1;
    *uid = strtol(user + 5, &end, 10);
    if (*end != ':')
        return -1;
    size_t n = 0;
    const char *p = end + 1;
    while (*p && n < max) {
        groups[n++] = strtol(p, &end, 10);
        if (end == p || (*end && *end != ','))
            return -1;
        p = *end ? end + 1 : end;
    }
    return (int)n;
}

/*
 * The entries of cfg that user (a ZAP user id made by this file) matches,
 * at most max of them into out (which may be NULL).  Returns how many.
 */
static size_t resolve(const config *cfg, const char *user, const config_client **out, size_t max)
{
    uint8_t key[32];
    long uid = -1, groups[AUTH_GRANTS_MAX];
    int n_groups = -1, curve = user && !strncmp(user, "curve:", 6);
    size_t n = 0;
    if (!user)
        return 0;
    if (curve && (strlen(user + 6) != 40 || !zmq_z85_decode(key, user + 6)))
        return 0;
    if (!curve && (n_groups = parse_unix(user, &uid, groups, AUTH_GRANTS_MAX)) < 0)
        return 0;
    for (const config_client *e = cfg->clients; e && n < AUTH_GRANTS_MAX; e = e->next) {
        int hit = 0;
        if (curve)
            hit = e->kind == WHO_KEY && !memcmp(e->key, key, sizeof key);
        else if (e->kind == WHO_UID)
            hit = e->id == uid;
        else if (e->kind == WHO_GID)
            for (int i = 0; i < n_groups && !hit; i++)
                hit = e->id == groups[i];
        if (!hit)
            continue;
        if (out && n < max)
            out[n] = e;
        n++;
    }
    return n;
}

/*
 * Makes the user id of an ipc peer from its ZAP address ("...:UID:GID:PID"):
 * "unix:UID:GID" and the peer's supplementary groups, read from
 * /proc/PID/status when that process still has the uid (SO_PEERCRED tells
 * the primary group only, and users are mostly given a group as a
 * supplementary one).  Returns 0, or -1 when the address has no
 * credentials.  *pid gets the peer's pid for logs.
 */
static int unix_user(const char *address, char *user, size_t cap, long *pid)
{
    const char *c3 = strrchr(address, ':');
    const char *c2 = NULL, *c1 = NULL;
    for (const char *p = address; c3 && p < c3; p++)
        if (*p == ':') {
            c1 = c2;
            c2 = p;
        }
    if (!c1 || !c2)
        return -1;
    char *end;
    long uid = strtol(c1 + 1, &end, 10), gid;
    if (end != c2 || c1[1] == '-')
        return -1;
    gid = strtol(c2 + 1, &end, 10);
    if (end != c3 || c2[1] == '-')
        return -1;
    *pid = strtol(c3 + 1, &end, 10);
    if (*end || *pid <= 0)
        *pid = 0;
    int len = snprintf(user, cap, "unix:%ld:%ld", uid, gid);
    if (len < 0 || (size_t)len >= cap)
        return -1;
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/status", *pid);
    FILE *f = *pid ? fopen(path, "re") : NULL;
    if (!f)
        return 0; /* gone, or hidden from us (ProtectProc=): the primary group only */
    int same = 0;
    while (fgets(line, sizeof line, f)) {
        long real, eff;
        if (sscanf(line, "Uid: %ld %ld", &real, &eff) == 2)
            same = eff == uid; /* a recycled pid of another user tells us nothing */
        if (!same || strncmp(line, "Groups:", 7) != 0)
            continue;
        for (char *p = line + 7;;) {
            long g = strtol(p, &end, 10);
            if (end == p)
                break;
            p = end;
            if (g == gid)
                continue;
            int add = snprintf(user + len, cap - (size_t)len, ",%ld", g);
            if (add < 0 || (size_t)(len + add) >= cap) {
                user[len] = '\0'; /* fewer groups, fewer rights: never more */
                break;
            }
            len += add;
        }
        break;
    }
    fclose(f);
    return 0;
}

/* Sends the ZAP reply of request id (len bytes). */
static void zap_reply(void *zap, const char *id, size_t len, const char *status, const char *text,
                      const char *user)
{
    zmq_send(zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(zap, id, len, ZMQ_SNDMORE);
    zmq_send(zap, status, strlen(status), ZMQ_SNDMORE);
    zmq_send(zap, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(zap, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(zap, "", 0, 0); /* no metadata */
}

/* Decides one ZAP request (frames f, lengths len, n of them): fills user
 * and returns NULL when the peer may connect, else why not. */
static const char *zap_decide(broker *b, char f[][AUTH_FRAME_MAX], const size_t *len, int n,
                              char *user, size_t cap, char *why, size_t wcap)
{
    const char *domain = f[2], *mech = f[5];
    if (n < 6 || strcmp(f[0], "1.0") != 0)
        return "a malformed ZAP request";
    if (!strcmp(domain, AUTH_DOMAIN_CLUSTER)) {
        /* A node of the cluster: its key must be one of cluster.peers. */
        const config_cluster *cc = b->cfg->cluster;
        char z85[41] = "";
        if (!strcmp(mech, "CURVE") && n >= 7 && len[6] == 32)
            zmq_z85_encode(z85, (const uint8_t *)f[6], 32);
        for (const config_peer *p = cc ? cc->peers : NULL; p && *z85; p = p->next)
            if (!strcmp(p->public_key, z85)) {
                snprintf(user, cap, "node:%s", p->node);
                return NULL;
            }
        return "cluster: peer refused: unknown key";
    }
    if (!strcmp(mech, "CURVE") && !strcmp(domain, AUTH_DOMAIN_TCP) && n >= 7 && len[6] == 32) {
        char z85[41];
        zmq_z85_encode(z85, (const uint8_t *)f[6], 32);
        snprintf(user, cap, "curve:%s", z85);
        if (resolve(b->cfg, user, NULL, 0))
            return NULL;
        snprintf(why, wcap, "its CURVE public key %s is not in security.clients", z85);
        return why;
    }
    if (!strcmp(mech, "NULL") && !strcmp(domain, AUTH_DOMAIN_IPC)) {
        long pid = 0;
        if (unix_user(f[3], user, cap, &pid) < 0)
            return "the kernel gave no peer credentials for it";
        if (resolve(b->cfg, user, NULL, 0))
            return NULL;
        long uid = -1, groups[AUTH_GRANTS_MAX];
        int ng = parse_unix(user, &uid, groups, AUTH_GRANTS_MAX);
        snprintf(why, wcap, "uid %ld (gid %ld%s) matches no uid or gid of security.clients", uid,
                 ng > 0 ? groups[0] : -1L, ng > 1 ? " and more groups" : "");
        return why;
    }
    snprintf(why, wcap, "the %s mechanism is not accepted on this endpoint", mech);
    return why;
}

void auth_zap(void *ctx)
{
    broker *b = ctx;
    for (int r = 0; r < AUTH_BURST; r++) {
        char f[AUTH_FRAMES][AUTH_FRAME_MAX];
        size_t len[AUTH_FRAMES] = {0};
        int n = 0, more = 1;
        memset(f, 0, sizeof f);
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, b->zap, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(&m);
                if (n == 0)
                    return; /* nothing waiting */
                break;
            }
            more = zmq_msg_more(&m);
            if (n < AUTH_FRAMES) {
                /* Bounded copies: the request comes from libzmq, but its
                 * credentials and address come from the network. */
                size_t sz = zmq_msg_size(&m);
                len[n] = sz;
                memcpy(f[n], zmq_msg_data(&m), sz < AUTH_FRAME_MAX - 1 ? sz : AUTH_FRAME_MAX - 1);
            }
            n++;
            zmq_msg_close(&m);
        }
        char user[AUTH_USER_MAX + 1] = "", why[256];
        const char *no = zap_decide(b, f, len, n < AUTH_FRAMES ? n : AUTH_FRAMES, user,
                                    sizeof user, why, sizeof why);
        size_t idlen = len[1] < AUTH_FRAME_MAX - 1 ? len[1] : AUTH_FRAME_MAX - 1;
        char address[AUTH_FRAME_MAX]; /* the peer's address, from the network: printable */
        ps__printable(address, sizeof address, f[3], strlen(f[3]));
        if (!no) {
            log_debug("handshake of %s accepted as %s", address, user);
            zap_reply(b->zap, f[1], idlen, "200", "OK", user);
            continue;
        }
        if (!strncmp(no, "cluster: ", 9))
            log_limited(LOG_LVL_WARNING, "cluster: peers refused", "", "%s (from %s)", no, address);
        else if (first_time(no))
            log_warn("refused a client from %s at the handshake: %s", address, no);
        b->refused[REFUSE_HANDSHAKE]++;
        zap_reply(b->zap, f[1], idlen, "400", "not allowed", "");
    }
}

int auth_start(broker *b)
{
    const config *cfg = b->cfg;
    b->secure = cfg->secure;
    if (!b->secure)
        log_notice("no security section: clients are neither authenticated nor encrypted, so "
                   "plain tcp is bound on loopback only (broker.insecure = true allows more)");
    if (!b->secure && !cfg->cluster)
        return 0;
    /* Without a ZAP handler libzmq would let every CURVE client in: it
     * must exist before the first endpoint is bound. */
    b->zap = zmq_socket(b->ctx, ZMQ_REP);
    int zero = 0;
    if (!b->zap || zmq_setsockopt(b->zap, ZMQ_LINGER, &zero, sizeof zero) < 0 ||
        zmq_bind(b->zap, AUTH_ZAP_ENDPOINT) < 0) {
        log_err("cannot start the ZAP handler on %s: %s", AUTH_ZAP_ENDPOINT, zmq_strerror(errno));
        return -1;
    }
    size_t n = 0;
    for (const config_client *e = cfg->clients; e; e = e->next)
        n++;
    if (!b->secure)
        return 0; /* the handler is there for the cluster's peers only */
    if (cfg->curve)
        log_info("security: %zu client%s named; tcp speaks CURVE with public key %s; ipc peers "
                 "are judged by uid and gid", n, n == 1 ? "" : "s", cfg->curve_public);
    else
        log_info("security: %zu client%s named; ipc peers are judged by uid and gid (no "
                 "broker.curve: no tcp)", n, n == 1 ? "" : "s");
    return 0;
}

int auth_setup_router(broker *b, void *router, int ipc)
{
    if (!b->secure)
        return 0;
    if (ipc)
        /* NULL mechanism, but with a domain libzmq consults the handler. */
        return zmq_setsockopt(router, ZMQ_ZAP_DOMAIN, AUTH_DOMAIN_IPC, strlen(AUTH_DOMAIN_IPC));
    int one = 1;
    if (zmq_setsockopt(router, ZMQ_ZAP_DOMAIN, AUTH_DOMAIN_TCP, strlen(AUTH_DOMAIN_TCP)) < 0)
        return -1;
    if (!b->cfg->curve)
        return 0; /* config.c lets no tcp endpoint through then */
    if (zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
        zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, b->cfg->curve_secret, 40) < 0)
        return -1;
    return 0;
}

void auth_stop(broker *b)
{
    if (b->zap)
        zmq_close(b->zap);
    b->zap = NULL;
}

/* Fills as->grants and as->who from cfg; the number of grants. */
static size_t admit(const config *cfg, auth_session *as)
{
    as->n_grants = resolve(cfg, as->user, as->grants, AUTH_GRANTS_MAX);
    if (as->n_grants > AUTH_GRANTS_MAX)
        as->n_grants = AUTH_GRANTS_MAX;
    memset(as->allowed, 0, sizeof as->allowed);
    if (!as->n_grants)
        return 0;
    /* "logger"; for ipc peers the names of every entry and the uid:
     * "alice, staff (uid 1000)". */
    size_t len = 0;
    for (size_t i = 0; i < as->n_grants && len < sizeof as->who; i++) {
        int w = snprintf(as->who + len, sizeof as->who - len, "%s%s", i ? ", " : "",
                         as->grants[i]->name);
        len += w > 0 ? (size_t)w : 0;
    }
    long uid, groups[1];
    if (parse_unix(as->user, &uid, groups, 1) >= 0 && len < sizeof as->who)
        snprintf(as->who + len, sizeof as->who - len, " (uid %ld)", uid);
    return as->n_grants;
}

auth_session *auth_admit(broker *b, void *sock, const void *ident, size_t ilen, const char *user)
{
    auth_session *as = calloc(1, sizeof *as);
    const char *why = "not allowed: this client is not in the broker's security.clients";
    if (!as) {
        out_direct_error(sock, ident, ilen, PS_WERR_LIMIT, "out of memory");
        return NULL;
    }
    /* ZAP admitted the connection; only a reload since can have made it unknown. */
    if (user && strlen(user) <= AUTH_USER_MAX) {
        memcpy(as->user, user, strlen(user) + 1);
        if (admit(b->cfg, as))
            return as;
    }
    char reason[AUTH_USER_MAX + 64];
    snprintf(reason, sizeof reason, "%s is no longer in security.clients", user ? user : "a peer");
    if (first_time(reason))
        log_warn("refused a HELLO: %s", reason);
    b->refused[REFUSE_DENIED]++;
    out_direct_error(sock, ident, ilen, PS_WERR_DENIED, why);
    free(as);
    return NULL;
}

int auth_same_user(const client *c, const char *user)
{
    return !c->auth || (user && !strcmp(c->auth->user, user));
}

int auth_may(broker *b, client *c, enum verb v, channel *ch, const char *name, size_t len)
{
    if (!b->secure)
        return 1;
    auth_session *as = c->auth;
    if (!as)
        return 0;
    if (ch && as->allowed[v] == ch)
        return 1;
    for (size_t g = 0; g < as->n_grants; g++) {
        const config_client *e = as->grants[g];
        for (size_t i = 0; i < e->n_rules; i++) {
            if (e->rules[i].verb != v)
                continue;
            if (v == VERB_ADMIN || auth_match(e->rules[i].pattern, name, len)) {
                if (ch)
                    as->allowed[v] = ch;
                return 1;
            }
        }
    }
    return 0;
}

/* Logs c's refusal (text) unless this verb and channel were logged for it. */
static void log_refusal(client *c, enum verb v, const char *name, size_t len, const char *text)
{
    auth_session *as = c->auth;
    uint32_t h = ps__hash_more(PS_HASH_SEED ^ (uint32_t)v, name, len);
    for (size_t i = 0; i < as->n_refused && i < AUTH_REFUSALS_MAX; i++)
        if (as->refused[i] == h)
            return;
    if (as->n_refused < AUTH_REFUSALS_MAX) {
        as->refused[as->n_refused++] = h;
        log_limited(LOG_LVL_WARNING, "refusals", as->who, "client %llu (%s) refused: %s",
                    (unsigned long long)c->num, as->who, text);
    } else if (as->n_refused == AUTH_REFUSALS_MAX) {
        as->n_refused++;
        log_limited(LOG_LVL_WARNING, "refusals", as->who,
                    "client %llu (%s) refused again: %s; its further refusals are not logged",
                    (unsigned long long)c->num, as->who, text);
    }
}

/*
 * The refusal a client is told names every right that would have served
 * the command, whatever the channel is: "neither 'publish:X' nor 'send:X'"
 * for a pubsub channel, a queue and a channel that does not exist alike,
 * so a client without rights cannot learn which channels are queues.  The
 * log names the one right the channel needed.
 */
uint16_t auth_check(broker *b, client *c, enum verb v, channel *ch, const char *name, size_t len,
                    char *why, size_t cap)
{
    if (auth_may(b, c, v, ch, name, len))
        return 0;
    const char *who = c->auth ? c->auth->who : "this client";
    char shown[PS_WIRE_NAME_MAX + 1] = "";
    if (name)
        ps__printable(shown, sizeof shown, name, len);
    /* The other verb of the same command on the other kind of channel. */
    enum verb twin = v == VERB_PUBLISH ? VERB_SEND : v == VERB_SEND ? VERB_PUBLISH
                   : v == VERB_SUBSCRIBE ? VERB_CONSUME : v == VERB_CONSUME ? VERB_SUBSCRIBE : v;
    enum verb first = v < twin ? v : twin, second = v < twin ? twin : v;
    if (v == VERB_ADMIN)
        snprintf(why, cap, "'admin' is not among the rights of %s", who);
    else if (twin != v)
        snprintf(why, cap, "neither '%s:%s' nor '%s:%s' is among the rights of %s",
                 config_verb_name(first), shown, config_verb_name(second), shown, who);
    else
        snprintf(why, cap, "'%s:%s' is not among the rights of %s", config_verb_name(v), shown, who);
    if (c->auth) {
        char line[PS_WIRE_NAME_MAX + 160];
        if (v == VERB_ADMIN || twin == v)
            snprintf(line, sizeof line, "%s", why);
        else
            snprintf(line, sizeof line, "'%s:%s' is not among the rights of %s",
                     config_verb_name(v), shown, who);
        log_refusal(c, v, name ? name : "", name ? len : 0, line);
    }
    return PS_WERR_DENIED;
}

int auth_rejudge(broker *b, client *c)
{
    if (!b->secure || !c->auth)
        return 0;
    return admit(b->cfg, c->auth) ? 0 : -1;
}

int auth_sub_stands(broker *b, sub *s)
{
    client *c = s->cl;
    channel *ch = s->ch;
    size_t len = strlen(ch->name);
    enum verb base = ch->type == CHAN_QUEUE ? VERB_CONSUME : VERB_SUBSCRIBE;
    int receive = auth_may(b, c, base, ch, ch->name, len);
    int reply = s->responder && auth_may(b, c, VERB_REPLY, ch, ch->name, len);
    if (!receive && !reply)
        return 0;
    s->responder = reply;
    s->requests_only = !receive;
    return 1;
}

const char *auth_who(const client *c)
{
    return c->auth ? c->auth->who : NULL;
}

void auth_inherit(auth_session *to, const auth_session *from)
{
    if (!to || !from)
        return;
    memcpy(to->refused, from->refused, sizeof to->refused);
    to->n_refused = from->n_refused;
}

void auth_free(auth_session **as)
{
    free(*as);
    *as = NULL;
}
