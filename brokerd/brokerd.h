/*
 * brokerd.h - the broker's one internal header.
 *
 * Modules: log (log.c), config (config.c), topic matching (topic.c),
 * authentication and access rules (auth.c), the plain ZeroMQ gateway
 * (gateway.c), and the event loop with its clients, channels and queues
 * (the rest).  Each section below is owned by the module named in it.
 */
#ifndef BROKERD_H
#define BROKERD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "defaults.h"
#include "wire.h"

#define BROKERD_VERSION "1.0.0"
#define BROKERD_DEFAULT_TCP PS_DEFAULT_TCP
#define BROKERD_DEFAULT_IPC_NAME "pubsub.sock"

/* log.c ------------------------------------------------------------------ */

/* Levels, numbered as syslog's priorities. */
enum { LOG_LVL_ERR = 3, LOG_LVL_WARNING = 4, LOG_LVL_NOTICE = 5, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/* Sets up logging: verbose enables debug; the journal is detected by
 * JOURNAL_STREAM matching stderr, and then lines carry "<N>" prefixes. */
void log_init(int verbose);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* config.c --------------------------------------------------------------- */

enum chan_type { CHAN_QUEUE = 1, CHAN_BROADCAST = 2, CHAN_PUBSUB = 3 };
enum slow_policy { SLOW_DROP = 0, SLOW_BLOCK = 1 };
enum auto_create { AUTO_NONE = 0, AUTO_PUBSUB = 1 };
enum overflow { OVERFLOW_REFUSE = 0, OVERFLOW_BLOCK = 1 };

/* What a client may be allowed to do (security.clients' "allow" lists);
 * auth.c says which commands each verb covers. */
enum verb { VERB_PUBLISH, VERB_SUBSCRIBE, VERB_CONSUME, VERB_SEND, VERB_REQUEST, VERB_REPLY,
            VERB_ADMIN, VERB_COUNT };

/* How an entry of security.clients recognises its client. */
enum who_kind { WHO_KEY = 1, WHO_UID = 2, WHO_GID = 3 };

/* One "VERB:PATTERN" (or "admin") of an allow list. */
typedef struct config_rule {
    enum verb verb;              /* what it allows */
    char *pattern;               /* channel names it covers, '*' any run; "" for admin */
} config_rule;

/* One entry of security.clients. */
typedef struct config_client {
    char *name;                  /* its name, for logs and `pctl clients` */
    enum who_kind kind;          /* a CURVE key, a uid or a gid */
    uint8_t key[32];             /* WHO_KEY: the client's CURVE public key */
    long id;                     /* WHO_UID, WHO_GID: the number */
    config_rule *rules;          /* its allow list, in file order */
    size_t n_rules;              /* entries in rules */
    struct config_client *next;  /* next entry in file order */
} config_client;

/* One channel declared in the file. */
typedef struct config_channel {
    char *name;                  /* channel name, validated */
    enum chan_type type;         /* queue, broadcast or pubsub */
    int retain;                  /* pubsub: keep retained values (default 1) */
    int durable;                 /* queue: keep on disk (default 0) */
    long max_queued;             /* queue: messages held at most (default 100000) */
    enum slow_policy slow;       /* broadcast/pubsub: slow-subscriber policy */
    enum overflow overflow;      /* queue: a full queue refuses or slows publishers */
    struct config_channel *next; /* next in file order */
} config_channel;

/* The whole configuration; built by config_load() or config_default(). */
typedef struct config {
    char *path;                  /* file it came from, NULL for defaults */
    char **endpoints;            /* NULL-terminated list of endpoints */
    size_t n_endpoints;          /* entries in endpoints */
    char *data_dir;              /* durable store directory */
    int fsync_always;            /* durable: fsync every turn ("always"), else group commit ("batch") */
    enum auto_create auto_create;/* what an unknown channel name does */
    long max_message_size;       /* payload bytes at most (default 1 MiB) */
    long heartbeat_ms;           /* heartbeat interval (default 1000) */
    long heartbeat_timeout_ms;   /* silence that means dead (default 3000) */
    long max_clients;            /* connected clients at most (default 10000) */
    long max_subscriptions;      /* per client (default 1000) */
    long max_retained;           /* retained topics per channel (default 10000) */
    long client_buffer;          /* bytes queued towards one client at most (default 8 MiB) */
    char *gateway_xpub;          /* plain ZeroMQ gateway, or NULL */
    char *gateway_xsub;          /* plain ZeroMQ gateway, or NULL */
    config_channel *channels;    /* declared channels, file order */
    int curve;                   /* broker.curve is set: tcp endpoints speak CURVE */
    char curve_public[41];       /* the broker's CURVE public key, Z85 */
    char curve_secret[41];       /* its secret key, Z85 (zeroed by config_free) */
    int insecure;                /* broker.insecure: plain tcp beyond loopback allowed */
    long ipc_mode;               /* permission bits of ipc socket files (default 0660) */
    long ipc_gid;                /* group of ipc socket files, -1: the broker's own */
    int secure;                  /* a security section: clients are identified and judged */
    config_client *clients;      /* security.clients, file order */
} config;

/*
 * Reads and validates the libconfig file at path.  Every error (syntax,
 * unknown key, wrong type, bad value, duplicate channel, bad endpoint) is
 * written to errs as "FILE:LINE: message\n".  Returns the config, owned
 * by the caller, or NULL when there was any error.
 */
config *config_load(const char *path, FILE *errs);

/*
 * Built-in defaults: tcp on 127.0.0.1:5242 and an ipc socket
 * $XDG_RUNTIME_DIR/pubsub.sock (else ./pubsub.sock), auto_create pubsub.
 */
config *config_default(void);

/* Frees *c (NULL allowed, half-built allowed) and sets *c = NULL.  Not
 * config_destroy: libconfig has that name. */
void config_free(config **c);

/* The declared channel called name, or NULL. */
const config_channel *config_find_channel(const config *c, const char *name);

/* "queue", "broadcast", "pubsub". */
const char *config_type_name(enum chan_type t);

/* "publish", "subscribe", ... "admin". */
const char *config_verb_name(enum verb v);

/*
 * Whether endpoint ep may be bound under c's security settings: NULL when
 * it may, else a sentence saying why not.  *plain is set to 1 when it may
 * but carries plain text beyond this host (broker.insecure), else 0.
 */
const char *config_endpoint_refusal(const config *c, const char *ep, int *plain);

/* topic.c ---------------------------------------------------------------- */

/*
 * True when topic (tlen bytes) matches the MQTT filter pattern (plen
 * bytes): levels split on '/', "+" matches exactly one level, "#" as the
 * last level matches the rest (also none: "a/#" matches "a").
 */
int topic_match(const char *pattern, size_t plen, const char *topic, size_t tlen);

/* True when pattern is a valid filter: non-empty, "+" and "#" only as
 * whole levels, "#" only last, no NUL bytes. */
int topic_valid_pattern(const char *pattern, size_t len);

/* True when topic is a valid topic name: no "+" or "#", no NUL bytes
 * (empty allowed on broadcast and queue channels, checked by the caller). */
int topic_valid_name(const char *topic, size_t len);


/* sd.c: systemd readiness and socket activation (no-ops without systemd) */

/* Reads passed sockets ($LISTEN_FDS) and the watchdog period; call once
 * after logging is set up. */
void sd_setup(void);
/* A passed listening socket matching endpoint, claimed, or -1. */
int sd_take_fd(const char *endpoint);
/* Passed sockets no endpoint claimed (worth a warning). */
int sd_unclaimed(void);
void sd_ready(void);             /* READY=1: every endpoint is bound */
void sd_reloading(void);         /* RELOADING=1 with MONOTONIC_USEC= */
void sd_stopping(void);          /* STOPPING=1 */
void sd_status(const char *text);/* STATUS=text */
long sd_watchdog_ms(void);       /* ping interval, 0 when no watchdog */
void sd_watchdog(void);          /* WATCHDOG=1 */

/* auth.c: who may connect (ZAP) and what each client may do ------------- */

typedef struct broker broker;
typedef struct client client;
typedef struct channel channel;
typedef struct auth_session auth_session; /* a client's identity and rights (auth.c) */

/* Starts the ZAP handler when the config has a security section; must run
 * before any endpoint is bound.  0, or -1 after logging. */
int auth_start(broker *b);
/* Gives a ROUTER its security options: CURVE for tcp, peer credentials
 * for ipc.  0, or -1 with errno. */
int auth_setup_router(broker *b, void *router, int ipc);
/* Answers the ZAP requests that are waiting (the loop polls b->zap). */
void auth_zap(broker *b);
void auth_stop(broker *b);
/* The security state of a new session whose HELLO came with ZAP user id
 * user, or NULL after ERROR(DENIED) to the identity, logged once. */
auth_session *auth_admit(broker *b, void *sock, const void *ident, size_t ilen, const char *user);
/* True when c was admitted under user id user (a frame from its identity
 * may come from another peer once its own connection is gone). */
int auth_same_user(const client *c, const char *user);
/* True when c may do v on the channel name (ch when it exists, else
 * NULL); name is NULL for VERB_ADMIN.  Without security: always. */
int auth_may(broker *b, client *c, enum verb v, channel *ch, const char *name, size_t len);
/* auth_may, and on refusal ERROR(corr, DENIED) to c, logged once per
 * client and reason.  Returns 1 when allowed, 0 when refused. */
int auth_check(broker *b, client *c, uint64_t corr, enum verb v, channel *ch, const char *name,
               size_t len);
/* After a reload: every session is judged again by the new rules, and
 * those no longer allowed are forgotten. */
void auth_reload(broker *b);
/* Who c is for logs and `pctl clients` ("logger", "uid 1000"), or NULL. */
const char *auth_who(const client *c);
/* Frees *as (NULL allowed) and sets *as = NULL. */
void auth_free(auth_session **as);
/* True when the channel name (len bytes) matches pattern: '*' matches any
 * run of characters, everything else itself. */
int auth_match(const char *pattern, const char *name, size_t len);

/* The event loop and its objects: loop.c, client.c, channel.c, queue.c,
 * admin.c, main.c ------------------------------------------------------- */

typedef struct sub sub;
typedef struct qmsg qmsg;
typedef struct pending pending;
typedef struct ticket ticket;
typedef struct store store;
typedef struct gateway gateway;

/* One outgoing frame waiting for the peer's pipe to have room. */
typedef struct outframe {
    ps__buf buf;           /* the encoded records */
    struct outframe *next; /* next frame, in sending order */
} outframe;

/* A connected client session, keyed by its ROUTER and routing id. */
struct client {
    void *sock;            /* the ROUTER it talks through (b->router or b->router_ipc) */
    uint8_t ident[256];    /* ZeroMQ routing id */
    size_t ident_len;      /* bytes in ident */
    uint64_t num;          /* session number, for logs and admin */
    char *name;            /* name given in HELLO (may be "") */
    int64_t last_in;       /* monotonic ms of the last record received */
    int64_t last_out;      /* monotonic ms of the last frame sent */
    ps__buf cur;           /* records of this loop turn, not yet framed */
    outframe *out_head;    /* frames the pipe refused so far, oldest first */
    outframe *out_tail;    /* last of them */
    size_t pending_bytes;  /* bytes in cur and all out frames */
    int dirty;             /* on the broker's flush list */
    client *flush_next;    /* next on the flush list */
    int dead;              /* forgotten; freed at the end of the turn */
    int warned_malformed;  /* a malformed frame was logged once */
    uint64_t stamp;        /* last fan-out that reached it (one delivery each) */
    sub *subs;             /* its subscriptions */
    size_t n_subs;         /* entries in subs */
    ticket *tickets;       /* deliveries waiting for its ACK or REPLY */
    ps__buf parked;        /* records held back while a full queue slows it */
    client *park_next;     /* next client on the broker's parked list */
    int on_park_list;      /* it is on that list */
    size_t n_unacked;      /* queue messages it holds unacknowledged */
    auth_session *auth;    /* security: who it is and what it may do (auth.c) */
    client *hnext;         /* identity hash chain */
    client *prev, *next;   /* the broker's list of clients */
};

/* A subscription: one client, one channel, one pattern. */
struct sub {
    client *cl;            /* who subscribed */
    channel *ch;           /* to what */
    char *pattern;         /* pubsub filter (NUL-terminated), "" elsewhere */
    size_t plen;           /* bytes in pattern */
    int responder;         /* also takes requests */
    int requests_only;     /* a responder not allowed to receive messages: requests only */
    uint32_t window;       /* queue: unacknowledged messages at most */
    uint32_t inflight;     /* queue: messages delivered, not yet acked */
    uint64_t gap;          /* deliveries dropped since the last GAP */
    uint64_t dropped;      /* deliveries dropped, all time */
    sub *cl_next;          /* the client's next subscription */
    sub *ch_prev, *ch_next;/* the channel's list (round-robin order) */
};

/* A retained value of a pubsub topic. */
typedef struct retained {
    char *topic;           /* topic name, NUL-terminated */
    size_t tlen;           /* bytes in topic */
    uint8_t *data;         /* payload */
    size_t len;            /* bytes in data */
    uint64_t seq;          /* channel sequence it was published with */
    struct retained *next; /* next retained value of the channel */
} retained;

/* A message held by a queue channel, waiting or delivered unacked. */
struct qmsg {
    uint64_t seq;          /* channel sequence number */
    char *topic;           /* topic, NUL-terminated */
    size_t tlen;           /* bytes in topic */
    uint8_t *data;         /* payload */
    size_t len;            /* bytes in data */
    int redelivered;       /* handed to a consumer that went away */
    sub *owner;            /* consumer holding it, NULL while queued */
    ticket *tk;            /* its delivery ticket while owned */
    pending *sync;         /* a sync publisher waiting for the ack */
    uint64_t sid;          /* durable: record id in the store */
    void *seg;             /* durable: its store segment, NULL once acked */
    qmsg *prev, *next;     /* the queue (FIFO) while waiting */
};

/* A channel: declared in the config or created on first use. */
struct channel {
    char *name;            /* channel name */
    enum chan_type type;   /* queue, broadcast or pubsub */
    int declared;          /* comes from the config file */
    int retain;            /* pubsub: retained values allowed */
    int durable;           /* queue: declared durable */
    store *store;          /* durable queue: its log on disk, else NULL */
    long max_queued;       /* queue: waiting messages at most */
    enum slow_policy slow; /* broadcast/pubsub: slow-subscriber policy */
    enum overflow overflow;/* queue: full refuses or slows publishers */
    uint64_t seq;          /* last sequence number given out */
    uint64_t messages;     /* messages accepted */
    uint64_t dropped;      /* deliveries dropped for slow receivers */
    sub *subs_head, *subs_tail; /* subscriptions, round-robin order */
    size_t n_subs;         /* entries in the list */
    qmsg *q_head, *q_tail; /* queue: messages waiting, oldest first */
    size_t n_queued;       /* queue: waiting messages */
    size_t n_unacked;      /* queue: delivered, not yet acked */
    retained *ret;         /* pubsub: retained values */
    size_t n_retained;     /* entries in ret */
    channel *hnext;        /* name hash chain */
    channel *next;         /* the broker's list of channels */
};

/* A sync publish or a request waiting for receipts or replies. */
struct pending {
    int is_request;        /* request (replies) or sync message (receipts) */
    client *requester;     /* who waits; NULL once it went away */
    uint64_t corr;         /* its correlation id */
    uint32_t expected;     /* receivers or responders */
    uint32_t answered;     /* receipts or replies so far */
    int64_t deadline;      /* monotonic ms */
    qmsg *qm;              /* queue sync: the message */
    ticket *tickets;       /* outstanding tickets */
    size_t n_tickets;      /* entries in tickets */
    pending *prev, *next;  /* the broker's list of waiters */
};

enum { TICKET_QUEUE = 1, TICKET_RECEIPT = 2, TICKET_REQUEST = 3 };

/* A delivery tag the broker waits for: ACK or REPLY from one client. */
struct ticket {
    uint64_t tag;          /* the tag sent in DELIVER */
    int kind;              /* TICKET_* */
    client *cl;            /* the client that must answer */
    qmsg *qm;              /* TICKET_QUEUE: the message */
    pending *pd;           /* RECEIPT, REQUEST: the waiter */
    ticket *hnext;         /* tag hash chain */
    ticket *cl_prev, *cl_next; /* the client's tickets */
    ticket *pd_prev, *pd_next; /* the waiter's tickets */
};

#define BROKER_HASH 4096   /* buckets of each hash table */

/* The whole broker state. */
struct broker {
    config *cfg;           /* current configuration */
    void *ctx;             /* ZeroMQ context */
    void *router;          /* the ROUTER clients talk to (all of them without security) */
    void *router_ipc;      /* with security: the ROUTER of ipc endpoints, else NULL */
    void *zap;             /* with security: the ZAP handler's REP socket, else NULL */
    int secure;            /* started with a security section: every client is judged */
    int sigfd;             /* signalfd for TERM, INT, HUP */
    char **ipc_owned;      /* socket files this broker created, unlinked at exit */
    size_t n_ipc_owned;    /* entries in ipc_owned */
    int stop;              /* leave the loop */
    void (*reload)(broker *b); /* SIGHUP handler, set by main (NULL: ignore) */
    uint64_t id;           /* broker id, random per process */
    uint64_t epoch;        /* random at every start */
    int64_t started;       /* monotonic ms at start */
    int64_t now;           /* monotonic ms of this turn */
    uint64_t next_num;     /* next client session number */
    uint64_t next_tag;     /* next delivery tag */
    uint64_t next_stamp;   /* next fan-out stamp */
    client *clients;       /* every session */
    size_t n_clients;      /* live sessions */
    client *hclients[BROKER_HASH]; /* by identity */
    client *flush;         /* clients with output this turn */
    client *graveyard;     /* forgotten clients, freed at the end of the turn */
    client *parked;        /* clients whose records wait for room in a queue */
    channel *channels;     /* every channel */
    size_t n_channels;     /* entries in channels */
    channel *hchannels[BROKER_HASH]; /* by name */
    ticket *htickets[BROKER_HASH];   /* by tag */
    pending *pendings;     /* sync messages and requests waiting */
    int64_t pend_min;      /* no deadline of pendings is earlier than this */
    int64_t next_sweep;    /* when heartbeats are next checked */
    int throttled;         /* input paused: a "block" receiver is full */
    int64_t throttle_since;/* monotonic ms the current pause began */
    uint64_t messages_in;  /* messages accepted */
    uint64_t messages_out; /* deliveries written */
    uint64_t dropped;      /* deliveries dropped for slow receivers */
    uint64_t malformed;    /* malformed frames received */
    gateway *gw;           /* the plain ZeroMQ gateway, NULL when not configured */
};

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
    size_t n_subscribed;   /* distinct prefixes subscribed on xpub, as it reported them */
    gw_prefix *prefixes;   /* those prefixes, unordered, while they are few enough */
    size_t n_prefixes;     /* entries in prefixes */
    size_t cap_prefixes;   /* entries allocated */
    int forward_all;       /* too many prefixes to track: send everything, XPUB filters */
    uint64_t forwarded;    /* messages sent on xpub */
    uint64_t send_failed;  /* sends libzmq refused on xpub (dropped for every subscriber) */
    uint64_t accepted;     /* messages from PUB sockets published on a channel */
    uint64_t refused;      /* messages from PUB sockets dropped (malformed or refused) */
    uint32_t warned;       /* refusal kinds already logged, one bit each (gateway.c) */
};

/* loop.c: sockets, the event loop, output. */
int64_t loop_now(void);
/* Binds every endpoint (refusing those the security policy forbids); 0
 * or -1 after logging the failing endpoint. */
int loop_bind(broker *b);
/* Sets the ROUTERs' input limit from b->cfg (at start and after a reload). */
void loop_apply_limits(broker *b);
/* Binds sock to ep: on a socket passed by systemd if there is one; an ipc
 * path is probed first, given the configured mode and group, and removed
 * at exit.  0, -1 (zmq_bind failed, errno set) or -2 (logged). */
int loop_bind_endpoint(broker *b, void *sock, const char *ep);
/* Closes the ROUTERs and removes the socket files they created. */
void loop_close(broker *b);
/* Runs until a SIGTERM/SIGINT; returns 0. */
int loop_run(broker *b);
/* Appends a record for c to its output; drop-checking is the caller's. */
void loop_put(broker *b, client *c, const ps__cmd *cmd);
/* ERROR(corr, code, printf text) to c. */
void loop_error(broker *b, client *c, uint64_t corr, uint16_t code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* ERROR(0, code, text) to an identity of router sock that has no session. */
void loop_direct_error(broker *b, void *sock, const void *ident, size_t ilen, uint16_t code,
                       const char *text);
/* OK(corr, value) to c. */
void loop_ok(broker *b, client *c, uint64_t corr, uint32_t value);

/* client.c: sessions. */
client *client_find(broker *b, void *sock, const void *ident, size_t len);
/* Handles every record of one frame from identity ident on router sock;
 * user is the frame's ZAP user id (NULL without security). */
void client_frame(broker *b, void *sock, const void *ident, size_t ilen, const char *user,
                  const void *data, size_t size);
/* Drops a session's state (subscriptions, tickets); keeps the client. */
void client_reset(broker *b, client *c);
/* Forgets a client: reset now, freed by client_reap at the end of the turn;
 * why (NULL: say nothing) goes to the log. */
void client_forget(broker *b, client *c, const char *why);
/* Frees forgotten clients. */
void client_reap(broker *b);
/* Handles parked records of clients whose queue has room again. */
void client_unpark(broker *b);
/* Sends heartbeats and forgets silent clients (not while input is
 * throttled: nobody could be heard); sets b->next_sweep. */
void client_sweep(broker *b);
void client_free_all(broker *b);

/* channel.c: channels, subscriptions, fan-out, sync, requests. */
channel *chan_find(broker *b, const char *name, size_t len);
channel *chan_create(broker *b, const char *name, size_t len, const config_channel *cc);
/* Creates declared channels and applies the config's limits to them;
 * -1 when a channel could not be made (a durable store failed to open). */
int chan_apply_config(broker *b);
/* Returns 1 when the record must be parked (a full queue that blocks). */
int chan_publish(broker *b, client *c, const ps__cmd *cmd);
void chan_subscribe(broker *b, client *c, const ps__cmd *cmd);
void chan_unsubscribe(broker *b, client *c, const ps__cmd *cmd);
void chan_request(broker *b, client *c, const ps__cmd *cmd);
void chan_ack(broker *b, client *c, uint64_t tag);
void chan_reply(broker *b, client *c, const ps__cmd *cmd);
/* Publishes a message that came without a session (the gateway's XSUB) on
 * the pubsub channel name, with the checks of chan_publish.  Returns 0, or
 * a PS_WERR_* code with the reason in why[cap]. */
uint16_t chan_publish_plain(broker *b, const ps__slice *name, const ps__slice *topic,
                            const ps__slice *data, char *why, size_t cap);
/* Writes a queue message to consumer s with tag (never dropped). */
int chan_deliver_queued(broker *b, sub *s, qmsg *qm, uint64_t tag);
/* Moves s to the end of its channel's round-robin order. */
void chan_sub_rotate(channel *ch, sub *s);
/* Removes a subscription (queue: its unacked messages go back). */
void chan_sub_remove(broker *b, sub *s);
/* Drops every ticket of c (client going away). */
void chan_client_gone(broker *b, client *c);
/* Sends due RESULT/DONE; returns ms until the next deadline, or -1. */
long chan_timers(broker *b);
void chan_free_all(broker *b);
/* Sends the RESULT or DONE of a waiter and frees it with its tickets. */
void pending_finish(broker *b, pending *pd);
/* Tickets (tag table). */
ticket *ticket_new(broker *b, int kind, client *c, pending *pd);
ticket *ticket_find(broker *b, uint64_t tag);
void ticket_free(broker *b, ticket *t);

/* queue.c: queue channels. */
/* True when the queue holds max_queued messages. */
int queue_full(const channel *ch);
/* Takes a published message; returns it or NULL (error already sent). */
qmsg *queue_push(broker *b, channel *ch, client *c, const ps__cmd *cmd);
/* Hands waiting messages to consumers with room. */
void queue_dispatch(broker *b, channel *ch);
/* ACK of a queue ticket. */
void queue_ack(broker *b, ticket *t);
/* Puts a consumer's unacked message back at the front (REDELIVERED). */
void queue_requeue(broker *b, ticket *t);
void queue_free(channel *ch);
/* Queues a message recovered from the store (no client, no checks). */
qmsg *queue_restore(channel *ch, char *topic, size_t tlen, uint8_t *data, size_t len);

/* store.c: durable queues on disk. */
/* Opens DATA_DIR/queues/NAME and queues what it holds; NULL after logging. */
store *store_open(broker *b, channel *ch, int fsync_always);
/* Syncs and closes; accepts NULL and sets *st = NULL. */
void store_close(store **st);
/* Writes qm's record at the end of this turn; 0 or -1 with errno. */
int store_append(store *st, qmsg *qm);
/* Writes the acknowledgement of qm; frees segments no longer needed. */
void store_ack(store *st, qmsg *qm);
/* Sends OK(corr) to c once everything appended so far is on disk. */
int store_confirm(store *st, client *c, uint64_t corr);
/* Forgets c in waiting confirms (it went away). */
void store_client_gone(client *c);
/* Writes the turn's records and starts or does the syncs; end of each turn. */
void store_turn_end(void);
/* The fsync worker's eventfd (-1 without a worker) and its handler. */
int store_event_fd(void);
void store_events(void);

/* gateway.c: the plain ZeroMQ gateway. */
struct zmq_pollitem_t;
#define GATEWAY_POLL_MAX 2 /* poll items gateway_poll_items adds at most */
/* Binds the configured gateway sockets (none: b->gw stays NULL); 0 or -1
 * after logging. */
int gateway_open(broker *b);
/* Closes the gateway's sockets and frees it; accepts b->gw == NULL. */
void gateway_close(broker *b);
/* Fills items with the gateway's sockets to poll; returns how many. */
int gateway_poll_items(broker *b, struct zmq_pollitem_t *items);
/* Handles what zmq_poll reported on the items gateway_poll_items filled. */
void gateway_events(broker *b, const struct zmq_pollitem_t *items);
/* Sends [CHANNEL/TOPIC, payload] of a pubsub message to SUB sockets that want it. */
void gateway_forward(broker *b, const channel *ch, const ps__slice *topic, const ps__slice *data);
/* After a reload: says that changed gateway endpoints wait for a restart. */
void gateway_reload(broker *b);

/* admin.c */
void admin_handle(broker *b, client *c, const ps__cmd *cmd);

#endif
