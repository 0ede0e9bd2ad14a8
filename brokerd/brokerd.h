/*
 * brokerd.h - the broker's one internal header.
 *
 * Every file of the broker includes it: the configuration, the objects
 * (clients, channels, subscriptions, messages, tickets, the broker) with
 * a comment on every field, and each file's functions in a section of
 * its own, top layer first after the objects.  A file calls only the
 * files below it (docs/design.md draws the layers; the test t0020 fails
 * on any circle).  Each section is owned by the file named in it.
 */
#ifndef BROKERD_H
#define BROKERD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>

#include "buf.h"
#include "defaults.h"
#include "wire.h"
#include "repl.h"

#define BROKERD_VERSION "1.0.0"
#define BROKERD_DEFAULT_TCP PS_DEFAULT_TCP
#define BROKERD_DEFAULT_IPC_NAME "pubsub.sock"
#define BROKERD_DEFAULT_HTTP "127.0.0.1:8242" /* broker.http's listen when not given */

/* log.c ------------------------------------------------------------------ */

/* Levels, numbered as syslog's priorities. */
enum { LOG_LVL_ERR = 3, LOG_LVL_WARNING = 4, LOG_LVL_NOTICE = 5, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/* Sets up logging: verbose enables debug; the journal is detected by
 * JOURNAL_STREAM matching stderr, and then lines carry "<N>" prefixes. */
void log_init(int verbose);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Rate limit for lines a client can cause at will: 1 when a line of kind
 * (a static string naming it in the summary) from source ("" for none)
 * may be written now at level, 0 when it is held back and counted. */
int log_allow(int level, const char *kind, const char *source);
/* Writes the summary of every kind that held lines back, the first at
 * once, then at most once a second each (a turn job: returns the ms until
 * the next is due, or -1). */
long log_summaries(void *ctx);
/* log_msg for a line of kind from source, when log_allow lets it. */
#define log_limited(level, kind, source, ...) \
    do { if (log_allow(level, kind, source)) log_msg(level, __VA_ARGS__); } while (0)
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
    char *home;                  /* queue in a cluster: the node that holds it, or NULL */
    struct config_channel *next; /* next in file order */
} config_channel;

/* One entry of cluster.peers: another node of the cluster. */
typedef struct config_peer {
    char *node;                  /* its node name (a channel name's characters) */
    char *endpoint;              /* where its cluster.listen is, tcp://HOST:PORT */
    char public_key[41];         /* its CURVE public key, Z85 */
    struct config_peer *next;    /* next in file order */
} config_peer;

/* cluster.raft: the Raft group this node's durable queues replicate in
 * (group.c, docs/replication.md). */
typedef struct config_raft {
    char *listen;                /* this node's Raft transport, "IP:PORT" (the file's
                                  * tcp://IP:PORT without its scheme): a loopback or
                                  * private address, the transport is not encrypted */
    char *voters[REPL_VOTERS_MAX]; /* the voters' node names, file order: a voter's Raft
                                  * id is its position + 1, the same on every node */
    size_t n_voters;             /* entries in voters, 1..REPL_VOTERS_MAX */
    char *data_dir;              /* the log and snapshots (default data_dir + "/raft") */
    long election_ms;            /* election timeout (default 500); heartbeat a tenth */
} config_raft;

/* The cluster section: this node and its peers (cluster.c, link.c). */
typedef struct config_cluster {
    char *name;                  /* the cluster's name; peers of another are refused */
    char *node;                  /* this node's name */
    char *listen;                /* the endpoint peers connect to, tcp://HOST:PORT */
    char public_key[41];         /* this node's CURVE public key, Z85 */
    char secret_key[41];         /* its secret key, Z85 (zeroed by config_free) */
    config_peer *peers;          /* the other nodes, file order */
    size_t n_peers;              /* entries in peers */
    long heartbeat_ms;           /* heartbeat interval on links (default 500) */
    long heartbeat_timeout_ms;   /* silence that means a link is down (default 1500) */
    long link_buffer;            /* bytes waiting for one link at most (default 64 MiB) */
    long max_interest;           /* interest entries one peer may hold (default 100000) */
    config_raft *raft;           /* cluster.raft, NULL without one */
} config_cluster;

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
    long handshake_timeout_ms;   /* a connection without HELLO this long is closed (default 10000) */
    long max_handshakes_per_address; /* connections without HELLO from one address (default 64) */
    long max_subscriptions;      /* per client (default 1000) */
    long max_retained;           /* retained topics per channel (default 10000) */
    long client_buffer;          /* bytes queued towards one client at most (default 8 MiB) */
    long max_pending;            /* per client: its open sync publishes and requests, and the
                                  * receipts and replies it owes, each at most (default 100000) */
    long max_wait_ms;            /* the longest timeout_ms a waiter gets (default 600000) */
    long max_channels;           /* channels at most; past it none is created on first use
                                  * (declared ones always are; default 100000) */
    long max_retained_bytes;     /* bytes of retained values (payloads and topics) across all
                                  * channels at most (default 256 MiB) */
    long output_budget;          /* bytes queued towards all clients together at most; past
                                  * it the client furthest behind is cut off (default 1 GiB) */
    char *gateway_xpub;          /* plain ZeroMQ gateway, or NULL */
    char *gateway_xsub;          /* plain ZeroMQ gateway, or NULL */
    long gateway_max_subscriptions; /* distinct prefixes the gateway's xpub may hold (default 1000) */
    config_channel *channels;    /* declared channels, file order */
    int curve;                   /* broker.curve is set: tcp endpoints speak CURVE */
    char curve_public[41];       /* the broker's CURVE public key, Z85 */
    char curve_secret[41];       /* its secret key, Z85 (zeroed by config_free) */
    int insecure;                /* broker.insecure: plain tcp beyond loopback allowed */
    long ipc_mode;               /* permission bits of ipc socket files (default 0660) */
    long ipc_gid;                /* group of ipc socket files, -1: the broker's own */
    int secure;                  /* a security section: clients are identified and judged */
    config_client *clients;      /* security.clients, file order */
    char *http_listen;           /* broker.http.listen "HOST:PORT" (a group without it:
                                  * BROKERD_DEFAULT_HTTP), or NULL: no HTTP endpoint */
    char *http_token;            /* the bearer token read from broker.http.token_file, or NULL */
    long stats_interval_ms;      /* publish stats to $broker this often, 0: never (the default) */
    config_cluster *cluster;     /* the cluster section, NULL without one */
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

/* Frees *cl (NULL allowed) and sets *cl = NULL. */
void config_cluster_free(config_cluster **cl);

/* The declared channel called name, or NULL. */
const config_channel *config_find_channel(const config *c, const char *name);

/* "queue", "broadcast", "pubsub". */
const char *config_type_name(enum chan_type t);

/* "publish", "subscribe", ... "admin". */
const char *config_verb_name(enum verb v);

/* policy.c: where the broker may listen ---------------------------------- */

/* True when ep is tcp://HOST:PORT or ipc:///PATH (or ipc://@abstract);
 * else *why says what is wrong with it. */
int config_endpoint_ok(const char *ep, const char **why);

/*
 * Whether endpoint ep may be bound under c's security settings: NULL when
 * it may, else a sentence saying why not.  *plain is set to 1 when it may
 * but carries plain text beyond this host (broker.insecure), else 0.
 */
const char *config_endpoint_refusal(const config *c, const char *ep, int *plain);
/* The same for a plain ZeroMQ gateway endpoint, which never speaks CURVE
 * and knows no access rules. */
const char *config_gateway_refusal(const config *c, const char *ep, int *plain);
struct sockaddr_storage;
/* Parses the HTTP endpoint's "HOST:PORT" (an IPv4 address, or an IPv6
 * one in brackets) into *sa (*salen bytes); 0, or -1 with *why. */
int config_http_addr(const char *listen, struct sockaddr_storage *sa, unsigned *salen,
                     const char **why);
/* Whether the HTTP endpoint listen may be bound under c: NULL when it
 * may, else a sentence saying why not (beyond loopback it needs a token). */
const char *config_http_refusal(const config *c, const char *listen);

/* Whether ep (cluster.raft.listen, tcp://IP:PORT) may carry the Raft
 * transport, which is neither encrypted nor authenticated: NULL when it
 * may, with its "IP:PORT" in addr (cap bytes), else a sentence saying why
 * not.  Only an IPv4 loopback or private address passes (the library's
 * transport speaks IPv4 only). */
const char *config_raft_refusal(const char *ep, char *addr, size_t cap);

/* The reserved channel the broker publishes its stats to; clients may
 * subscribe (with the right) but never publish there. */
#define CHAN_SYS PS_WIRE_SYS_CHANNEL
/* True when name (len bytes) may name a channel: the wire's names, and
 * the reserved CHAN_SYS. */
int config_channel_name_ok(const char *name, size_t len);

/* cluster.c: the link protocol's logic, without I/O ------------------------
 * Records in, state and records out: link.c feeds it what a peer's frames
 * hold and the clock, and sends what it leaves in each peer's out buffer.
 * Interest is kept per node (local) and per peer (remote), each a table of
 * channels holding their patterns; a message is forwarded to a peer only
 * when one of the peer's patterns on its channel matches ("" matches any
 * topic: broadcast). */

enum link_state { LINK_CONNECTING, LINK_UP, LINK_DOWN, LINK_REFUSED };

#define CL_BUCKETS 256 /* buckets of each interest table */
#define CL_HELLO_MS 100 /* HELLO is repeated this often at most until the peer took it */

/* One pattern of an interest table. */
typedef struct cl_pat {
    char *pattern;                /* the MQTT filter, "" on broadcast channels */
    size_t plen;                  /* bytes in pattern */
    size_t refs;                  /* local table: subscriptions wanting it; remote: 1 */
    struct cl_pat *next;          /* the channel's patterns */
} cl_pat;

/* One channel of an interest table, with a link's sequence numbers. */
typedef struct cl_chan {
    char *name;                   /* channel name */
    cl_pat *pats;                 /* its patterns */
    size_t n_pats;                /* entries in pats */
    uint64_t out_seq;             /* remote table: messages the link should have carried */
    uint64_t in_seq;              /* remote table: the last link seq received, 0: none yet */
    struct cl_chan *next;         /* hash chain */
} cl_chan;

/* An interest table: channels by name. */
typedef struct cl_table {
    cl_chan *b[CL_BUCKETS];       /* hash chains */
    size_t n_pats;                /* patterns in all channels */
    size_t n_chans;               /* channels */
} cl_table;

#define CL_QUEUES_MAX 64     /* queues one node may consume through one link, each way */
#define CL_QUEUE_WINDOW 256  /* messages a node may hold unacknowledged of one home's queue */

/* One queue consumed through a link: by us at the peer's home (qout), or
 * by the peer at ours (qin). */
typedef struct cl_queue {
    char name[PS_WIRE_NAME_MAX + 1]; /* the queue channel, "" for a slot never used */
    uint32_t window;              /* its credit: messages held unacknowledged at most, 0:
                                   * detached */
    uint64_t gen;                 /* the attachment's number: deliveries of another are stale */
} cl_queue;

/* One peer and the state of the link to it. */
typedef struct cl_peer {
    const config_peer *cfg;       /* its node name, endpoint and key (the config's) */
    enum link_state state;        /* what pctl cluster shows */
    int hello_ok;                 /* its HELLO was accepted: its records are taken */
    int resync;                   /* it must hear our HELLO and whole interest again */
    uint64_t epoch_in;            /* the epoch of its accepted HELLO, 0: none */
    uint64_t seen_by_peer;        /* the epoch of ours its last heartbeat says it accepted */
    uint64_t iseq_in;             /* the last interest seq of its we applied */
    uint64_t oseq;                /* the last interest seq we sent it (each link counts its own) */
    uint64_t iack;                /* the last interest seq of ours it applied */
    uint64_t hello_iseq;          /* the interest seq of the RESET after our last HELLO */
    uint64_t want_gen;            /* the last change of our interest it was sent ... */
    uint64_t want_oseq;           /* ... in the record of this seq */
    uint64_t gen_acked;           /* every change up to this one it applied */
    int64_t last_in;              /* ms of its last record */
    int64_t last_hb;              /* ms of our last heartbeat to it */
    int64_t last_hello;           /* ms of our last HELLO to it */
    int64_t rtt_us;               /* last round-trip time measured, -1: none */
    int refusal_logged;           /* its refusal was logged (until a HELLO is accepted) */
    int ack_due;                  /* it sent interest we applied and did not acknowledge yet */
    int retained_stale;           /* a retained value could not be sent: resend all when up */
    uint64_t msgs_in, msgs_out;   /* messages received from it, sent to it */
    uint64_t bytes_in, bytes_out; /* record bytes received from it, queued to it */
    uint64_t drops;               /* messages for it not carried (link down, buffer full) */
    uint64_t gaps;                /* messages from it the link missed (seq jumps) */
    cl_table remote;              /* what its clients want, with the link's seqs */
    ps__buf out;                  /* records waiting for its DEALER (link.c takes them) */
    size_t n_waits_out;           /* requests and sync messages we forwarded to it, waiting */
    size_t n_waits_in;            /* those it forwarded to us, waiting (each at most max_waits) */
    cl_queue qout[CL_QUEUES_MAX]; /* its queues our consumers consume (we attached) */
    cl_queue qin[CL_QUEUES_MAX];  /* our queues its consumers consume (it attached) */
    int queue_reset;              /* queue holdings were dropped while it may not know:
                                   * it hears LQ_RESET when the link is up */
    char raft_addr[REPL_ADDR_MAX]; /* its Raft transport "IP:PORT" from its last accepted
                                   * HELLO, "" while none was heard (group.c) */
    int raft_group;               /* that HELLO said its Raft directory holds the group */
} cl_peer;

/* A request or sync message waiting across a link: one this node
 * forwarded to a peer (out), or one a peer forwarded to it (in). */
typedef struct cl_wait {
    uint64_t id;                  /* the asking node's number for it (LINK_*'s wait_id) */
    cl_peer *peer;                /* the other end */
    int in;                       /* the peer asked us (else we asked it) */
    int request;                  /* a request (replies), else a sync message (receipts) */
    int done;                     /* out: its final answer came, or the peer was lost */
    void *owner;                  /* the broker's waiter it belongs to (a pending) */
    uint32_t count;               /* out: receipts the peer counted, or replies that came */
    uint32_t expected;            /* out: what the peer expects (1 until it said) */
    uint32_t gone;                /* out: responders the peer said went away */
    int64_t deadline;             /* ms: given up a heartbeat timeout after it */
    struct cl_wait *next;         /* hash chain */
    struct cl_wait *sibling;      /* out: the next leg of the same owner */
} cl_wait;

#define CL_WAIT_BUCKETS 4096 /* buckets of the node's table of waits */

/* What cluster.c tells the broker of waits across links (link.c's). */
typedef struct cl_wait_fns {
    /* A peer forwarded a request or sync message (rec): the broker takes
     * w and ends it with cl_answer(final) exactly once. */
    void (*in)(void *ctx, cl_wait *w, const ps__cmd *rec, uint64_t missed);
    /* A reply came for owner's request. */
    void (*reply)(void *ctx, void *owner, const ps__cmd *rec);
    /* The counts of one of owner's legs changed by these amounts; final:
     * the leg is over. */
    void (*news)(void *ctx, void *owner, int64_t count, int64_t expected, int64_t gone,
                 int final);
    /* The peer that asked for owner is lost: the broker ends it without
     * an answer (w is freed after). */
    void (*abandon)(void *ctx, void *owner);
} cl_wait_fns;

/* Hands a message from a link to local subscribers: missed is how many
 * messages on the channel the link lost before it (0 mostly). */
typedef void cl_deliver_fn(void *ctx, const ps__cmd *msg, uint64_t missed);
/* Applies a LINK_QUEUE record of p that cluster.c took (op ATTACH: p
 * attached to, or with window 0 detached from, our queue; DELIVER: a
 * message of p's queue for our consumers; ACK, RETURN: of a message we
 * delivered to p), or with op 0 what p held and we held of p's is gone
 * (the link went down, p restarted).  0, or -1 with why[cap] (a queue
 * that is not ours: the link is dropped). */
typedef int cl_queue_fn(void *ctx, cl_peer *p, const ps__cmd *rec, char *why, size_t cap);

/* The whole cluster state of this node. */
typedef struct cl_node {
    const config_cluster *cfg;    /* the cluster section */
    uint64_t epoch;               /* ours, random per start (the broker's) */
    char *decls;                  /* our channel declarations as LINK_HELLO carries them */
    uint64_t decl_hash;           /* their hash */
    cl_peer *peers;               /* one per configured peer, in file order */
    size_t n_peers;               /* entries in peers */
    cl_table local;               /* what our clients want, with reference counts */
    uint64_t iseq;                /* our interest's last change (a generation, all peers) */
    cl_deliver_fn *deliver;       /* where messages from links go */
    void (*resync)(void *ctx, cl_peer *p); /* sends p our retained values after our HELLO */
    cl_queue_fn *queue;           /* applies LINK_QUEUE records (NULL: refused) */
    uint64_t qgen;                /* the last attachment number given out (cl_queue.gen) */
    void *ctx;                    /* deliver's first argument */
    const cl_wait_fns *waits;     /* requests and sync messages across links, NULL: none */
    cl_wait *wait_b[CL_WAIT_BUCKETS]; /* the waits, by id */
    size_t n_waits;               /* entries in wait_b */
    uint64_t wait_id;             /* the last id given to a wait we forwarded */
    long max_waits;               /* waits per link and direction at most (max_pending) */
    char *voters;                 /* cluster.raft's voters as LINK_HELLO carries them ("a,b,c",
                                   * "" without cluster.raft) */
    int raft_group;               /* our Raft directory holds the group: said in our HELLO
                                   * (group.c sets it) */
} cl_node;

/* The declarations of c's channels as the text LINK_HELLO carries: one
 * line per declared channel, sorted by name (malloc'd, NULL on ENOMEM). */
char *cl_decls(const config *c);
/* The names of the channels whose lines differ between two declaration
 * texts, ", "-separated, into out[cap]; 0 when none differ. */
int cl_decls_differ(const char *a, size_t alen, const char *b, size_t blen, char *out, size_t cap);
/* A node's state for cfg; NULL on ENOMEM. */
cl_node *cl_new(const config_cluster *cfg, const char *decls, uint64_t epoch,
                cl_deliver_fn *deliver_fn, void *ctx);
void cl_free(cl_node **n);
/* The peer called name (len bytes), or NULL. */
cl_peer *cl_peer_find(cl_node *n, const char *name, size_t len);
/* Our clients want (add 1) or no longer want (add 0) channel/pattern:
 * the first and last reference is told to every peer that is up.  Returns
 * the change's generation, 0 when nothing changed. */
uint64_t cl_interest(cl_node *n, const char *chname, const char *pattern, size_t plen, int add);
/* True when every peer that is up applied our interest change gen. */
int cl_interest_acked(const cl_node *n, uint64_t gen);
/* Forwards a message published here to every peer whose interest matches
 * it; flags are LINK_MSG's. */
/* Whether some peer (up or not: a message it misses is its gap) has
 * interest in channel chname matching topic. */
int cl_has_interest(cl_node *n, const char *chname, const ps__slice *topic);
void cl_forward(cl_node *n, const char *chname, const ps__slice *topic, const ps__slice *data,
                uint8_t flags);
/* Sends every peer a retained value (set or cleared) published here. */
void cl_send_retained(cl_node *n, const char *chname, const ps__slice *topic,
                      const ps__slice *data, uint64_t hlc, uint8_t flags);
/* Sends one retained value to p alone (flags RESYNC after HELLO). */
void cl_resync_retained(cl_node *n, cl_peer *p, const char *chname, const ps__slice *topic,
                        const ps__slice *data, uint64_t hlc, const char *origin);
/* Sends a queue message to p, the queue's home: 0, or -1 when the link
 * is not up or its buffer is full. */
int cl_send_queued(cl_node *n, cl_peer *p, const ps__cmd *pub);
/* Forwards a request (request 1) or sync message made here for owner to
 * every peer whose interest matches it: a request only to peers that are
 * up, a sync message numbered like any message.  *legs gets the waits
 * opened (answers to come), *lost the sync legs that could not go (peer
 * down, link buffer or max_waits full: one unconfirmed receiver each);
 * returns the first of owner's legs (chained by sibling), NULL: none. */
cl_wait *cl_forward_wait(cl_node *n, void *owner, int request, const char *chname,
                         const ps__slice *topic, const ps__slice *data, uint32_t timeout_ms,
                         int64_t now_ms, uint32_t *legs, uint32_t *lost);
/* Forgets owner's legs (first: what cl_forward_wait returned), its wait
 * being over; answers that come for them later are ignored. */
void cl_forget_waits(cl_node *n, cl_wait *first);
/* Sends the peer that asked w a reply of one of our responders. */
void cl_reply(cl_node *n, cl_wait *w, uint8_t status, const ps__slice *data);
/* Tells the peer that asked w how it stands; with final set w is over
 * (and freed). */
void cl_answer(cl_node *n, cl_wait *w, uint32_t count, uint32_t expected, uint32_t gone,
               int final);
/* Our consumers of p's queue chname want window messages at most (0:
 * none is left): attaches, changes the credit or detaches, now when the
 * link is up, else when it comes up.  0, or -1 when CL_QUEUES_MAX queues
 * are attached to p already. */
int cl_queue_want(cl_node *n, cl_peer *p, const char *chname, uint32_t window);
/* Delivers a message of our queue chname to p, attached to it, with our
 * tag (flags: PS_WIRE_REDELIVERED) and, for a replicated queue, our Raft
 * term (else 0).  0, or -1 when p is not attached. */
int cl_queue_deliver(cl_node *n, cl_peer *p, const char *chname, uint64_t tag, uint8_t flags,
                     const ps__slice *topic, const ps__slice *data, uint64_t term);
/* Sends a message for the replicated queue chname to p, its home, with
 * tag the wait for its answer (0: none wanted).  0, or -1 when the link
 * is down or its buffer full. */
int cl_queue_publish(cl_node *n, cl_peer *p, const char *chname, uint64_t tag,
                     const ps__slice *topic, const ps__slice *data);
/* Answers p's PUBLISH of tag: committed (ok) or not, with our term. */
void cl_queue_committed(cl_node *n, cl_peer *p, const char *chname, uint64_t tag, int ok,
                        uint64_t term);
/* Tells p, the home of queue chname, that the message it delivered with
 * tag under attachment gen was consumed (op PS_WIRE_LQ_ACK) or must be
 * redelivered (PS_WIRE_LQ_RETURN); nothing when that attachment is over
 * (the home returned it already). */
void cl_queue_answer(cl_node *n, cl_peer *p, const char *chname, uint64_t gen, uint64_t tag,
                     uint8_t op);
/* Takes one record from peer p at now_ms (now_us for round trips).
 * 0, or -1 with why[cap] when the peer broke the protocol or a bound (the
 * caller drops the link: cl_peer_drop). */
int cl_input(cl_node *n, cl_peer *p, const ps__cmd *rec, int64_t now_ms, int64_t now_us,
             char *why, size_t cap);
/* After the records of one frame from p: acknowledges at once the
 * interest it applied, so that the peer's subscriber gets its OK. */
void cl_frame_done(cl_node *n, cl_peer *p, int64_t now_us);
/* Takes the link to p down now (a protocol error: its records are not
 * taken until it says HELLO again). */
void cl_peer_drop(cl_node *n, cl_peer *p, int64_t now_ms);
/* Heartbeats, HELLOs and timeouts; returns the ms until the next is due. */
long cl_tick(cl_node *n, int64_t now_ms, int64_t now_us);
/* "up", "connecting", "down", "refused". */
const char *cl_state_name(enum link_state s);

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

/* The broker's objects ------------------------------------------------------
 * Declared here, in one place, because every layer reads them; each is
 * changed only by the file named in its comment. */

typedef struct broker broker;
typedef struct client client;
typedef struct channel channel;
typedef struct auth_session auth_session; /* a client's identity and rights (auth.c) */
typedef struct sub sub;
typedef struct qmsg qmsg;
typedef struct pending pending;
typedef struct ticket ticket;
typedef struct store store;
typedef struct store_set store_set;
typedef struct gateway gateway;
typedef struct listen_conns listen_conns;
typedef struct loop loop;
typedef struct replq replq;

/* One outgoing frame waiting for the peer's pipe to have room (out.c). */
typedef struct outframe {
    ps__buf buf;                   /* the encoded records */
    STAILQ_ENTRY(outframe) link;   /* the client's frames, in sending order */
} outframe;

/* A connected client session, keyed by its ROUTER and routing id (client.c). */
struct client {
    void *sock;            /* the ROUTER it talks through (b->router or b->router_ipc) */
    uint8_t ident[256];    /* ZeroMQ routing id */
    size_t ident_len;      /* bytes in ident */
    int fd;                /* the connection its HELLO came on (ZMQ_SRCFD): the session is
                            * that connection's, whatever routing id another one claims */
    uint64_t num;          /* session number, for logs and admin */
    char *name;            /* name given in HELLO (may be "") */
    char *address;         /* where its HELLO came from (ZeroMQ's Peer-Address; "ipc" on ipc) */
    int64_t last_in;       /* monotonic ms of the last record received */
    int64_t last_out;      /* monotonic ms of the last frame sent */
    int64_t last_drain;    /* monotonic ms its full pipe last took a frame: it reads */
    int pipe_full;         /* its pipe refused a frame since it last took one */
    ps__buf cur;           /* records of this loop turn, not yet framed (out.c) */
    STAILQ_HEAD(, outframe) out; /* frames the pipe refused so far, oldest first */
    size_t pending_bytes;  /* bytes in cur and all out frames */
    int dirty;             /* on the broker's flush list */
    int cut;               /* its output passed its hard bound: dropped, no more is queued
                            * or handled, and it is forgotten at the end of the turn (out.c) */
    SLIST_ENTRY(client) flush_link; /* the broker's flush list */
    int dead;              /* forgotten; freed at the end of the turn */
    int warned_malformed;  /* a malformed frame was logged once */
    uint64_t stamp;        /* last fan-out that reached it (one delivery each) */
    LIST_HEAD(, sub) subs; /* its subscriptions */
    size_t n_subs;         /* entries in subs */
    LIST_HEAD(, ticket) tickets; /* deliveries waiting for its ACK or REPLY */
    ps__buf parked;        /* records held back while a full queue slows it */
    size_t parked_off;     /* bytes at the front of parked already handled (client_unpark) */
    LIST_ENTRY(client) park_link; /* the broker's parked list, while on_park_list */
    int on_park_list;      /* it is on that list */
    int parked_lately;     /* it parked since the last sweep, which then keeps parked's room */
    int park_why;          /* PARK_*: what the first of its parked records waits for */
    int held;              /* it was sent PAUSE (1.4) and not yet RESUME: its library holds
                            * its publishes, so only what was under way still parks */
    int unparking;         /* its parked records are being handled (client_unpark) */
    size_t n_unacked;      /* queue messages it holds unacknowledged */
    size_t n_waiting;      /* its sync publishes and requests still open (ticket.c) */
    size_t n_owed;         /* receipt and request tickets it has not answered (ticket.c) */
    auth_session *auth;    /* security: who it is and what it may do (auth.c) */
    void *relay;           /* a cluster peer consuming our queues: the stand-in's cl_peer,
                            * whose deliveries go over the link (link.c); NULL for a client */
    uint8_t minor;         /* the protocol minor its HELLO spoke: NOTICE only to 1.1 and later,
                            * DELIVER_BATCH only to 1.2 and later, PAUSE only to 1.4 */
    size_t batch_at;       /* offset in cur of the DELIVER_BATCH its next plain delivery may
                            * join (out_put_batched); any other offset when none */
    uint64_t run;          /* the run (deliver.c) whose DELIVER_BATCH ends cur at run_end,
                            * at batch_at, next run_seq: its next payload is appended as is
                            * (out_grow_batch); 0 when none */
    uint64_t run_seq;      /* the sequence number that payload must have */
    size_t run_end;        /* cur.len after the run's last payload: any other record, a send
                            * or a drop of cur changes it and ends the shortcut */
    size_t run_count_at;   /* offset in cur of that record's count; 0 until asked */
    uint8_t notes;         /* PS_WIRE_NOTE_* of its publishes since its last PING (channel.c) */
    char note_channel[PS_WIRE_NAME_MAX + 1]; /* the channel of the first of those notes */
    channel *msg_ch;       /* the channel its last message passed every check for, so
                            * that the next one to it is not judged again (channel.c) */
    int msg_verb;          /* the right msg_ch was judged for (enum verb) */
    uint64_t msg_gen;      /* b->chan_gen when it was judged: a reload forgets it */
    SLIST_ENTRY(client) hlink; /* identity hash chain */
    LIST_ENTRY(client) link;   /* the broker's clients, or its graveyard once dead */
};

/* The bytes of records a client has parked and the broker not yet handled. */
static inline size_t client_parked(const client *c)
{
    return c->parked.len - c->parked_off;
}

/* A subscription: one client, one channel, one pattern (channel.c). */
struct sub {
    client *cl;            /* who subscribed */
    channel *ch;           /* to what */
    char *pattern;         /* pubsub filter (NUL-terminated), "" elsewhere */
    size_t plen;           /* bytes in pattern */
    int responder;         /* also takes requests */
    int requests_only;     /* a responder not allowed to receive messages: requests only */
    int interest;          /* counted in the local interest the cluster's peers hear of */
    uint64_t wait_seq;     /* its OK waits until the cluster's peers applied this interest
                            * record (0: it does not wait) */
    int64_t wait_until;    /* monotonic ms the OK goes at the latest */
    uint32_t window;       /* queue: unacknowledged messages at most */
    uint32_t inflight;     /* queue: messages delivered, not yet acked */
    uint64_t gap;          /* deliveries dropped since the last GAP */
    uint64_t dropped;      /* deliveries dropped, all time */
    LIST_ENTRY(sub) cl_link;  /* the client's subscriptions */
    TAILQ_ENTRY(sub) ch_link; /* the channel's list (round-robin order) */
};

/* A retained value of a pubsub topic (channel.c). */
typedef struct retained retained;
struct retained {
    char *topic;           /* topic name, NUL-terminated */
    size_t tlen;           /* bytes in topic */
    uint8_t *data;         /* payload */
    size_t len;            /* bytes in data */
    uint64_t seq;          /* channel sequence it was published with */
    uint64_t hlc;          /* in a cluster: its hybrid logical clock (0: none) */
    char *origin;          /* in a cluster: the node it was published at, NULL: this one */
    SLIST_ENTRY(retained) link; /* the channel's retained values; in a cluster a cleared
                                 * one stays as a tombstone (len 0) */
};

/* A message held by a queue channel, waiting or delivered unacked (queue.c). */
/*
 * A message of a queue and its topic and data are one block, and a freed
 * block is kept for the next message of its size class (QMSG_GRAIN bytes
 * each, blocks up to QMSG_CLASSES grains) while its channel keeps fewer
 * than QMSG_SPARES (queue.c): a busy queue then takes and frees its
 * blocks without the allocator, whose bins cost more than the rest of a
 * message's bookkeeping when a backlog comes and goes.
 */
#define QMSG_GRAIN 32
#define QMSG_CLASSES 16
#define QMSG_SPARES 1024

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
    uint64_t relay_tag;    /* a message of another node's queue: its tag there, 0: ours */
    uint64_t relay_gen;    /* ... and the attachment it came under (cl_queue.gen) */
    TAILQ_ENTRY(qmsg) link;/* the queue (FIFO) while waiting */
};

/* A durable publish staged: its record waits in its store's buffer, its
 * message for the write (channel.c). */
typedef struct staged {
    qmsg *qm;              /* the message, held by its queue but not queued */
    uint64_t corr;         /* the publisher's correlation id */
    uint64_t end;          /* where its record ends in the active segment (store_confirm) */
    uint32_t timeout_ms;   /* a sync publish's timeout */
    uint8_t flags;         /* its PUBLISH flags (CONFIRM, SYNC) */
    uint8_t notes;         /* PS_WIRE_NOTE_* its publisher is told once it is queued */
} staged;

/* The durable publishes of one client to one queue in the frame being
 * handled, written with one write(2) (channel.c). */
typedef struct chan_stage {
    channel *ch;           /* the queue they go to */
    client *c;             /* their publisher */
    staged *v;             /* the publishes, in the order read */
    size_t n, cap;         /* used and allocated entries */
} chan_stage;

/* A channel: declared in the config or created on first use (channel.c). */
struct channel {
    char *name;            /* channel name */
    size_t name_len;       /* bytes in name */
    enum chan_type type;   /* queue, broadcast or pubsub */
    int declared;          /* comes from the config file */
    int retain;            /* pubsub: retained values allowed */
    int durable;           /* queue: declared durable */
    store *store;          /* durable queue: its log on disk, else NULL */
    int replicated;        /* durable queue of a node with cluster.raft: its messages are
                            * the Raft group's (replq.c), it has no store */
    int repl_home;         /* replicated: this node leads the group, so it is the home
                            * (replq.c) */
    long max_queued;       /* queue: waiting messages at most */
    enum slow_policy slow; /* broadcast/pubsub: slow-subscriber policy */
    enum overflow overflow;/* queue: full refuses or slows publishers */
    uint64_t seq;          /* last sequence number given out */
    uint64_t messages;     /* messages accepted */
    uint64_t bytes_in;     /* payload bytes of the messages accepted */
    uint64_t delivered;    /* deliveries written (deliver.c) */
    uint64_t bytes_out;    /* payload bytes of those deliveries (deliver.c) */
    uint64_t redelivered;  /* queue: messages put back for another consumer (queue.c) */
    uint64_t dropped;      /* deliveries dropped for slow receivers */
    uint64_t stats_in;     /* messages at the previous stats tick (stats.c) */
    uint64_t stats_out;    /* delivered at the previous stats tick (stats.c) */
    TAILQ_HEAD(, sub) subs;/* subscriptions, round-robin order */
    size_t n_subs;         /* entries in subs */
    TAILQ_HEAD(, qmsg) q;  /* queue: messages waiting, oldest first */
    size_t n_queued;       /* queue: waiting messages */
    size_t n_unacked;      /* queue: delivered, not yet acked */
    size_t n_staged;       /* durable queue: published, record not yet written (queue.c) */
    qmsg *spare[QMSG_CLASSES]; /* queue: freed message blocks kept for the next messages,
                            * by size class, linked through their link field (queue.c) */
    size_t n_spare;        /* queue: blocks in spare */
    SLIST_HEAD(, retained) ret; /* pubsub: retained values */
    size_t n_retained;     /* entries in ret */
    SLIST_ENTRY(channel) hlink; /* name hash chain */
    SLIST_ENTRY(channel) link;  /* the broker's channels, newest first */
};

/* A sync publish or a request waiting for receipts or replies (ticket.c). */
struct pending {
    int is_request;        /* request (replies) or sync message (receipts) */
    client *requester;     /* who waits; NULL once it went away */
    uint64_t corr;         /* its correlation id */
    uint32_t expected;     /* receivers or responders */
    uint32_t answered;     /* receipts or replies so far */
    uint32_t gone;         /* receivers or responders that went away without answering */
    int64_t deadline;      /* monotonic ms */
    qmsg *qm;              /* queue sync: the message */
    void *origin;          /* asked by a peer: the cluster's wait to answer (a cl_wait),
                            * NULL: by a local client (or nobody any more) */
    void *legs;            /* forwarded to peers: its first leg (a cl_wait), NULL: none */
    uint32_t n_legs;       /* legs whose final answer has not come */
    LIST_HEAD(, ticket) tickets; /* outstanding tickets */
    size_t n_tickets;      /* entries in tickets */
    LIST_ENTRY(pending) link; /* the broker's waiters */
};

enum { TICKET_QUEUE = 1, TICKET_RECEIPT = 2, TICKET_REQUEST = 3 };

/* A delivery tag the broker waits for: ACK or REPLY from one client (ticket.c). */
struct ticket {
    uint64_t tag;          /* the tag sent in DELIVER */
    int kind;              /* TICKET_* */
    client *cl;            /* the client that must answer */
    qmsg *qm;              /* TICKET_QUEUE: the message */
    pending *pd;           /* RECEIPT, REQUEST: the waiter */
    SLIST_ENTRY(ticket) hlink;  /* tag hash chain */
    LIST_ENTRY(ticket) cl_link; /* the client's tickets */
    LIST_ENTRY(ticket) pd_link; /* the waiter's tickets */
};

#define BROKER_HASH 4096   /* buckets of each hash table */
/* client_buffers a client may have waiting (output queued for it, or input
 * parked from it) before it is cut off: the one hard bound per client. */
#define OUT_HARD_CAP 16

/*
 * Called for every message accepted on a pubsub channel, after its
 * receivers got it (main registers the gateway's forwarder here, so that
 * channel code never calls the gateway).
 */
typedef void fanout_hook(void *ctx, const channel *ch, const ps__slice *topic,
                         const ps__slice *data);

#define FANOUT_TAPS_MAX 3 /* fan-out hooks at most: the gateway, the HTTP tails (while open), the cluster */

/* A fan-out hook with its first argument (deliver_tap adds and removes them). */
typedef struct fanout_tap {
    fanout_hook *fn;       /* the hook */
    void *ctx;             /* its first argument */
    int broadcast;         /* it hears broadcast messages too, not only pubsub */
} fanout_tap;

/*
 * Called when the local interest in (channel, pattern) gains its first
 * receiving subscription (add 1) or loses one (add 0): main registers the
 * cluster's links here, so that channel code never calls them.  Returns
 * a number the subscriber's OK may wait for (link_interest_acked), 0 for
 * none.
 */
typedef uint64_t interest_hook(void *ctx, const channel *ch, const char *pattern, size_t plen,
                               int add);
/* Whether every peer that is up applied the interest record seq. */
typedef int interest_acked_hook(void *ctx, uint64_t seq);
/* Whether some peer has interest matching a message on topic on ch. */
typedef int remote_interest_hook(void *ctx, const channel *ch, const ps__slice *topic);
/*
 * Queue messages relayed between a queue's home and another node: called
 * by deliver.c for a delivery to a peer's stand-in (RELAY_DELIVER, with
 * the ticket's tag), by queue.c when a local consumer acknowledged a
 * message of another node's queue (RELAY_ACK) or went away without
 * (RELAY_RETURN).  main registers the cluster's links here, so that queue
 * code never calls them.
 */
enum relay_op { RELAY_DELIVER, RELAY_ACK, RELAY_RETURN };
/* A message of a replicated queue was acknowledged (or purged) at its
 * home: queue.c tells the group through this hook (replq.c's), so that
 * queue code never calls the replication. */
typedef void repl_ack_hook(void *ctx, channel *ch, const qmsg *qm);
/* Tells peer (a cl_peer) whether its message for the replicated queue
 * chname, its wait tag, was committed, with the home's Raft term. */
typedef void repl_answer_hook(void *ctx, void *peer, const char *chname, uint64_t tag, int ok,
                              uint64_t term);
typedef void relay_hook(void *ctx, const channel *ch, const client *to, const qmsg *qm,
                        uint64_t tag, enum relay_op op);
#define INTEREST_WAIT_MS 1000 /* a subscriber's OK waits this long at most for the peers */

/* The cluster's part in requests and sync messages (link.c's; main
 * registers them, so that channel and ticket code never call the links). */
typedef struct wait_hooks {
    /* Forwards the request cmd on ch to the peers with matching responders:
     * pd gains a leg (one expected responder) per peer asked. */
    void (*request)(void *ctx, pending *pd, const channel *ch, const ps__cmd *cmd);
    /* Sends a local responder's reply to the peer that asked for pd. */
    void (*reply)(void *ctx, pending *pd, uint8_t status, const ps__slice *data);
    /* Tells the peer that asked for pd how it stands (final: it is over). */
    void (*progress)(void *ctx, pending *pd, int final);
    /* pd is over: its legs are forgotten. */
    void (*forget)(void *ctx, pending *pd);
} wait_hooks;

/* Why a client was turned away (counted for /metrics). */
enum refusal { REFUSE_MAX_CLIENTS, REFUSE_VERSION, REFUSE_DENIED, REFUSE_HANDSHAKE, REFUSE_COUNT };

/* The broker's counters at one second of its life, for the rates of
 * `pctl status` over the last 1, 10 and 60 s (admin.c). */
typedef struct rate_sample {
    int64_t at;            /* monotonic ms it was taken */
    uint64_t in;           /* messages_in then */
    uint64_t out;          /* messages_out then */
    uint64_t dropped;      /* dropped then */
} rate_sample;
/* Samples kept: one a second for the longest window, and the one before it. */
#define RATE_SAMPLES 61

/* What the replicated durable queues plug into the node's Raft group
 * (group.c calls them; main fills them in, as the other hooks). */
typedef struct repl_hooks {
    struct repl_fsm fsm;   /* the replicated state machine, its callbacks run on the
                            * replication thread; apply NULL: group.c's own, which
                            * keeps nothing */
    void (*result)(void *ctx, const struct repl_result *res); /* each result of repl_poll, on
                            * the broker's thread (NULL: none wanted) */
    void *ctx;             /* result's first argument */
} repl_hooks;

/* The whole broker state. */
struct broker {
    config *cfg;           /* current configuration */
    void *ctx;             /* ZeroMQ context */
    loop *loop;            /* the event loop (loop.c), made by main */
    void *router;          /* the ROUTER clients talk to (all of them without security) */
    void *router_ipc;      /* with security: the ROUTER of ipc endpoints, else NULL */
    void *zap;             /* with security: the ZAP handler's REP socket, else NULL */
    int secure;            /* started with a security section: every client is judged */
    int sigfd;             /* signalfd for TERM, INT, HUP */
    char **ipc_owned;      /* socket files this broker created, unlinked at exit (listen.c) */
    size_t n_ipc_owned;    /* entries in ipc_owned */
    uint64_t id;           /* broker id, random per process */
    uint64_t epoch;        /* random at every start */
    int64_t started;       /* monotonic ms at start */
    int64_t now;           /* monotonic ms of this turn (kept by the loop) */
    uint64_t next_num;     /* next client session number */
    uint64_t next_tag;     /* next delivery tag */
    SLIST_HEAD(, ticket) spare_tickets; /* freed tickets kept for the next ones (ticket.c) */
    size_t n_spare_tickets;/* entries in spare_tickets */
    uint64_t next_stamp;   /* next fan-out stamp */
    ps__buf fan_rec;       /* the DELIVER record of the fan-out under way, encoded once
                            * for all its receivers but the first (deliver.c) */
    uint64_t chan_gen;     /* channel settings and rights as of the last (re)load: what
                            * a client's msg_ch was judged by (channel.c) */
    LIST_HEAD(, client) clients;   /* every session */
    size_t n_clients;      /* live sessions */
    SLIST_HEAD(, client) hclients[BROKER_HASH]; /* by identity */
    SLIST_HEAD(, client) flush;    /* clients with output this turn (out.c, client.c) */
    LIST_HEAD(, client) graveyard; /* forgotten clients, freed at the end of the turn */
    LIST_HEAD(, client) parked;    /* clients whose records wait for room in a queue */
    SLIST_HEAD(, channel) channels;/* every channel, newest first */
    size_t n_channels;     /* entries in channels */
    size_t retained_bytes; /* payload and topic bytes of every retained value (channel.c) */
    size_t out_bytes;      /* bytes queued towards all clients: their pending_bytes (out.c) */
    SLIST_HEAD(, channel) hchannels[BROKER_HASH]; /* by name */
    SLIST_HEAD(, ticket) htickets[BROKER_HASH];   /* by tag */
    LIST_HEAD(, pending) pendings; /* sync messages and requests waiting */
    int64_t pend_min;      /* no deadline of pendings is earlier than this */
    int throttled;         /* input paused: a publisher has records waiting for a
                              full receiver on a block channel (client.c) */
    int64_t throttle_since;/* monotonic ms the current pause began */
    uint64_t messages_in;  /* messages accepted */
    uint64_t messages_out; /* deliveries written */
    uint64_t dropped;      /* deliveries dropped for slow receivers */
    uint64_t pauses;       /* PAUSEs sent to publishers of a full queue (client.c) */
    uint64_t parked_bytes; /* bytes of records parked, ever: what a full receiver or
                              queue made wait in the broker's memory (client.c) */
    uint64_t malformed;    /* malformed frames received */
    uint64_t refused[REFUSE_COUNT]; /* clients turned away, by reason (client.c, auth.c) */
    int64_t stats_at;      /* monotonic ms of the last stats tick, 0: none yet (stats.c) */
    uint64_t stats_in;     /* messages_in at that tick (stats.c) */
    uint64_t stats_out;    /* messages_out at that tick (stats.c) */
    rate_sample rates[RATE_SAMPLES]; /* the counters once a second, a ring (admin.c) */
    size_t rates_next;     /* the slot of rates the next sample goes in (admin.c) */
    size_t rates_n;        /* samples in rates, at most RATE_SAMPLES (admin.c) */
    struct http *http;     /* the HTTP monitoring endpoint, NULL when not configured (http.c) */
    store_set *stores;     /* the durable stores and their fsync worker (store.c) */
    chan_stage stage;      /* durable publishes waiting for one write (channel.c) */
    fanout_tap fanout[FANOUT_TAPS_MAX]; /* called for each pubsub message fanned out, in order */
    int n_fanout;          /* entries in fanout */
    gateway *gw;           /* the plain ZeroMQ gateway, NULL when not configured */
    struct link *link;     /* the cluster's links, NULL without a cluster section (link.c) */
    uint64_t hlc;          /* the hybrid logical clock of retained values (channel.c) */
    const retained *fan_retained; /* during a fan-out: the retained value the message set
                                   * (channel.c), for the cluster's tap */
    interest_hook *interest; /* told of local interest (the links'), or NULL */
    interest_acked_hook *interest_acked; /* asked whether the peers applied it */
    remote_interest_hook *remote_interest; /* asked whether a message reaches a peer's
                                            * subscribers, so a publish to them is no
                                            * publish to nobody */
    void *interest_ctx;    /* its first argument */
    const wait_hooks *waits; /* requests and sync messages across the links, or NULL */
    pending *fan_sync;     /* during a fan-out: the sync message's waiter (channel.c), for
                            * the cluster's tap */
    relay_hook *relay;     /* told of queue messages relayed through links, or NULL */
    void *relay_ctx;       /* its first argument */
    replq *replq;          /* durable queues replicated by the Raft group, NULL without
                            * cluster.raft (replq.c) */
    repl_ack_hook *repl_ack; /* told of an acknowledged message of a replicated queue
                              * (replq.c's), NULL without the group */
    void *repl_ack_ctx;    /* its first argument */
    repl_answer_hook *repl_answer; /* answers a peer's publish to a replicated queue
                                    * (link.c's, with relay_ctx), NULL: no links */
    struct repl *repl;     /* the Raft replica of cluster.raft, NULL without one or until
                            * it could be opened (group.c) */
    struct group *group;   /* the rest of the group's state, NULL without cluster.raft */
    repl_hooks repl_hooks; /* what the replicated queues plug into the group */
    listen_conns *conns;   /* connections that have not said HELLO yet (listen.c) */
    char **deleted;        /* declared channels deleted at run time, kept deleted
                            * across reloads (channel.c); at most the config's */
    size_t n_deleted;      /* entries in deleted */
};

/* Moves s to the end of its channel's round-robin order. */
static inline void sub_to_tail(channel *ch, sub *s)
{
    if (TAILQ_NEXT(s, ch_link)) {
        TAILQ_REMOVE(&ch->subs, s, ch_link);
        TAILQ_INSERT_TAIL(&ch->subs, s, ch_link);
    }
}

/*
 * The sections below run top first (docs/design.md draws the layers): main
 * registers everything with the loop; client -> admin -> gateway ->
 * channel -> queue -> deliver -> ticket -> out, with store under queue
 * and above out; listen, auth, config, policy, topic, sd and log below.
 */

/* loop.c: sources, timers and turns; knows nothing of the broker ------- */

/* A handler of a source: what the socket or fd has ready is read here. */
typedef void loop_fn(void *ctx);
/* A job of the end of every turn: returns the ms it may wait before the
 * next turn (0: poll without waiting, -1: until an event comes). */
typedef long loop_turn_fn(void *ctx);
/* A timer: returns the ms until it runs next (-1: never again). */
typedef long loop_timer_fn(void *ctx);

/* Monotonic milliseconds. */
int64_t loop_now(void);
/* Monotonic nanoseconds, for measuring. */
int64_t loop_now_ns(void);

#define HISTO_BUCKETS 11 /* buckets of a histogram, +Inf not counted */

/*
 * A latency histogram in Prometheus's manner: observations per bucket
 * (an observation of t falls in the first bucket whose bound is >= t),
 * their count and sum.  Adding is a few compares and three increments,
 * cheap enough for every loop turn.  Only the loop's thread touches one.
 */
typedef struct histo {
    uint64_t in[HISTO_BUCKETS + 1]; /* observations per bucket, the last above every bound */
    uint64_t count;                 /* observations */
    uint64_t sum_ns;                /* their sum in ns */
} histo;
/* The buckets' upper bounds, in seconds (also as Prometheus writes them). */
extern const double histo_bounds[HISTO_BUCKETS];
void histo_add(histo *h, int64_t ns);
/* How long the loop's turns took: from the poll's return to the end of
 * the turn's jobs. */
const histo *loop_turns(const loop *l);
/* A loop that keeps *clock at the time of the current turn; NULL on ENOMEM. */
loop *loop_new(int64_t *clock);
void loop_free(loop **l);
/* Watches a ZeroMQ socket (fd -1) or an fd (sock NULL) for input; fn
 * runs when it has some.  While *hold is non-zero (hold may be NULL) it
 * is not polled.  0, or -1 (ENOMEM, or LOOP_SOURCES_MAX reached). */
int loop_watch(loop *l, void *sock, int fd, loop_fn *fn, void *ctx, const int *hold);
/* Says that only its handler uses the watched ZeroMQ socket sock (a
 * monitor's PAIR, the ZAP socket), so that the loop need not ask it for
 * input before each sleep when the handler did not run.  0, or -1
 * (ENOENT) when sock is not watched. */
int loop_own(loop *l, void *sock);
/* Runs fn first in delay_ms, then whenever it says.  0 or -1 (ENOMEM). */
int loop_timer(loop *l, long delay_ms, loop_timer_fn *fn, void *ctx);
/* Stops watching the plain fd given to loop_watch (its owner closes it):
 * from a timer or turn job only, never from a source's handler, whose
 * turn still walks the sources.  0, or -1 (ENOENT) when it was not watched. */
int loop_unwatch(loop *l, int fd);
/* Runs fn at the end of every turn, in the order added.  0 or -1. */
int loop_on_turn(loop *l, loop_turn_fn *fn, void *ctx);
/* Ends loop_run after the current turn. */
void loop_stop(loop *l);
/* Polls and dispatches until loop_stop; 0, or -1 after logging. */
int loop_run(loop *l);

/* http.c: the HTTP monitoring endpoint -------------------------------- */

/* Starts the endpoint when broker.http is configured (b->http stays NULL
 * otherwise); 0, or -1 after logging. */
int http_open(broker *b);
/* Has the loop run it: its epoll fd as a source, a timer for MHD's
 * timeouts and the heartbeats of live tails; 0 or -1. */
int http_watch(broker *b);
/* Ends every connection and frees it; accepts b->http == NULL. */
void http_close(broker *b);

/* stats.c: the broker's own channel ------------------------------------ */

/* Publishes the counters to CHAN_SYS every stats_interval_ms (a timer of
 * the loop); returns the ms until the next tick. */
long stats_tick(void *ctx);

/* client.c: sessions -------------------------------------------------- */

client *client_find(broker *b, void *sock, const void *ident, size_t len);
/* Reads up to a burst of frames from a ROUTER and handles every record
 * of each (the loop's handler of b->router and b->router_ipc). */
void client_read(broker *b, void *sock);
/* Drops a session's state (subscriptions, tickets); keeps the client. */
void client_reset(broker *b, client *c);
/* Forgets a client: reset now, freed by client_turn_end at the end of
 * the turn; why (a static string, NULL: say nothing) goes to the log,
 * rate-limited per reason and source (log_limited). */
void client_forget(broker *b, client *c, const char *why);
/* The end of a turn: sends every client its output, lets parked
 * publishers on and frees forgotten clients.  Returns the ms the loop
 * may wait (0 when output is left unframed, a short retry when a pipe
 * was full, else -1). */
long client_turn_end(broker *b);
/* Sends heartbeats and forgets silent clients (not while input is
 * throttled: nobody could be heard); returns the ms until the next sweep. */
long client_sweep(broker *b);
/* After a reload: every session is judged again by the new rules; those
 * no longer allowed are forgotten, subscriptions no longer allowed dropped. */
void client_rejudge(broker *b);
void client_free_all(broker *b);

/* admin.c */
/* Answers an ADMIN record; 0, or a PS_WERR_* code with the reason in why[cap]. */
uint16_t admin_handle(broker *b, client *c, const ps__cmd *cmd, char *why, size_t cap);
/* The JSON text (compact, malloc'd) of the admin verb (len bytes):
 * "status", "channels" or "clients"; NULL with *known 0 for another
 * verb, NULL with *known 1 when out of memory. */
char *admin_text(broker *b, const char *verb, size_t len, int *known);
struct json_t;
/* The objects of "status" and of one channel in "channels" (new references). */
struct json_t *admin_status(broker *b);
struct json_t *admin_channel(const channel *ch);
/* Samples the broker's counters for the rates of "status" (a timer of the
 * loop, every second); returns the ms until the next sample. */
long admin_sample(void *ctx);

/* gateway.c: the plain ZeroMQ gateway --------------------------------- */

/* Binds the configured gateway sockets (none: b->gw stays NULL); 0 or -1
 * after logging. */
int gateway_open(broker *b);
/* Closes the gateway's sockets and frees it; accepts b->gw == NULL. */
void gateway_close(broker *b);
/* Has the loop watch the gateway's sockets; 0 or -1. */
int gateway_watch(broker *b);
/* The fan-out hook: sends [CHANNEL/TOPIC, payload] of a pubsub message
 * to SUB sockets that want it (ctx is the broker). */
void gateway_forward(void *ctx, const channel *ch, const ps__slice *topic, const ps__slice *data);
/* After a reload: says that changed gateway endpoints wait for a restart. */
void gateway_reload(broker *b);
/* The gateway's endpoints and counters as a JSON object (new reference). */
struct json_t *gateway_status(const gateway *g);

/* link.c: the cluster's sockets ----------------------------------------- */

/* Opens the links when the config has a cluster section (b->link stays
 * NULL otherwise): a ROUTER on cluster.listen, a DEALER to each peer.
 * After auth_start (its ZAP handler admits the peers).  0, or -1 after
 * logging. */
int link_open(broker *b);
/* Has the loop read the ROUTER, tick the heartbeats and send each turn's
 * records; 0 or -1. */
int link_watch(broker *b);
/* What client.c does with a PUBLISH or SUBSCRIBE of a queue whose home is
 * another node: LINK_LOCAL when it is not one, or a SUBSCRIBE while the
 * home is reachable (the channel code handles it: this node consumes the
 * home's queue for its consumers), else 0 (a PUBLISH forwarded to the
 * home, answered) or a PS_WERR_* code with the reason in why[cap] (the
 * home unreachable: "unavailable"), or CHAN_PARK (a replicated queue's
 * publisher waits: too many of this node's confirms wait for the home). */
enum { LINK_LOCAL = -1 };
int link_queue_command(broker *b, client *c, const ps__cmd *cmd, char *why, size_t cap);
/* The relay hook (relay_hook): queue messages between their home and the
 * nodes that consume it for their own consumers. */
void link_relay(void *ctx, const channel *ch, const client *to, const qmsg *qm, uint64_t tag,
                enum relay_op op);
/* The repl_answer hook: a peer's publish to our replicated queue was
 * committed or not. */
void link_queue_answer(void *ctx, void *peer, const char *chname, uint64_t tag, int ok,
                       uint64_t term);
/* The fan-out hook: forwards a message published here to peers that want
 * it (never one that came from a link). */
void link_tap(void *ctx, const channel *ch, const ps__slice *topic, const ps__slice *data);
/* The links' part in requests and sync messages (main puts it in b->waits). */
extern const wait_hooks link_waits;
/* The interest hook (ctx is the broker). */
uint64_t link_interest(void *ctx, const channel *ch, const char *pattern, size_t plen, int add);
/* The interest_acked hook (ctx is the broker). */
int link_interest_acked(void *ctx, uint64_t seq);
/* The remote_interest hook: whether a peer has interest in a message. */
int link_remote_interest(void *ctx, const channel *ch, const ps__slice *topic);
/* Peers whose interest matches something of the channel name. */
size_t link_remote_subscribers(broker *b, const char *name);
/* The links' state as `pctl cluster --json` prints it (new reference). */
struct json_t *link_status(broker *b);
/* Closes the sockets and frees the state; accepts b->link == NULL. */
void link_close(broker *b);
/* The protocol's state of the links (group.c reads the peers' Raft
 * addresses and sets whether ours holds the group), NULL without them. */
cl_node *link_node(broker *b);

/* group.c: the node's Raft group (cluster.raft) ------------------------- */

/* Starts the group after link_open when the cluster has a raft section
 * (else nothing): a Raft directory that holds the group opens its replica
 * at once; a new one waits, on the loop, until the links have heard every
 * voter, then bootstraps with them or joins the group one of them holds.
 * 0, or -1 after logging. */
int repl_group_open(broker *b);
/* Has the loop run the group: the replica's results (each handed to
 * b->repl_hooks.result) and the wait for the voters; 0 or -1. */
int repl_group_watch(broker *b);
/* Stops the replica, handing leadership over first when this node leads
 * (waiting at most about one election timeout); frees the group. */
void repl_group_close(broker *b);
/* The leader's Raft id and node name (*node NULL while none is known, or
 * without a group): 0 when none is known. */
unsigned repl_group_leader(const broker *b, const char **node);
/* Proposes an entry to the group (repl_propose): 0, or -1 with errno as
 * repl_propose's, or ENOTCONN before the replica is open. */
int repl_group_propose(broker *b, const void *data, size_t len, uint64_t token);
/* The group's state as the "raft" object of `pctl cluster --json` (new
 * reference; JSON null without cluster.raft). */
struct json_t *repl_group_status(broker *b);

/* channel.c: channels, subscriptions, publish, requests -------------- */

channel *chan_find(broker *b, const char *name, size_t len);
channel *chan_create(broker *b, const char *name, size_t len, const config_channel *cc);
/* Creates declared channels and applies the config's limits to them;
 * -1 when a channel could not be made (a durable store failed to open). */
int chan_apply_config(broker *b);
/* The bytes of records c may have parked while a full queue makes it
 * wait: its client_buffer, and PAUSE_GRACE more once it was sent PAUSE.
 * Its library then holds its publishes, and what parks is what was under
 * way when PAUSE left: the library's batch (up to 2 MiB), libzmq's pipe
 * (64 frames of 64 KiB) and the kernel's socket buffers, megabytes for a
 * fast publisher, whatever client_buffer is.  A client that ignores
 * PAUSE is refused at that bound. */
#define PAUSE_GRACE (16u << 20)
static inline size_t client_park_room(const broker *b, const client *c)
{
    size_t room = (size_t)b->cfg->client_buffer;
    return c->held ? room + PAUSE_GRACE : room;
}

/* Whether cmd of c may wait parked for a queue rather than be refused: it
 * fits the room above, or it is parked already and being handled again
 * (client_unpark), when it stays where it is.  Counting it then, with the
 * handled records before it, refused every record of a backlog near its
 * bound, one after another. */
static inline int client_may_park(const broker *b, const client *c, const ps__cmd *cmd)
{
    return c->unparking || client_parked(c) + ps__wire_size(cmd) <= client_park_room(b, c);
}

/* What a request handler leaves for its caller besides a code. */
/* What a parked publisher waits for (client->park_why), set by chan_publish
 * when it parks a record: room in a full queue, or room in a receiver's
 * output on a block channel (client.c bounds the two backlogs apart). */
enum { PARK_QUEUE, PARK_RECEIVER, PARK_INTEREST };
enum { CHAN_PARK = 0x10000 }; /* chan_publish: keep the record, a full queue or block receiver waits (no PS_WERR_*) */
enum { CHAN_ONE = 0x20000 };  /* chan_publish_run: the rest is the caller's, payload by payload */
/*
 * The request handlers: each returns 0 when done (answers sent), or a
 * PS_WERR_* code with the reason in why[cap] for the caller to send as
 * ERROR(cmd->corr); chan_publish may also return CHAN_PARK, and
 * chan_subscribe when its OK waits for the cluster's peers.  A publish to
 * a durable queue that chan_publish takes is staged: it is queued, or
 * refused, by chan_stage_flush.
 */
int chan_publish(broker *b, client *c, const ps__cmd *cmd, char *why, size_t cap);
/*
 * The payloads of a PUBLISH_BATCH taken as one run: when c's last message
 * was let through to the batch's channel (chan_publish's memory of it),
 * a pubsub or broadcast channel, and the batch asks nothing a run does
 * not do payload by payload (RETAIN; STRICT with nobody to reach), each
 * payload is published as chan_publish would, with the channel, right,
 * topic and receivers judged once.  Returns 0 when every payload went;
 * CHAN_PARK when one must wait for a block receiver, cmd narrowed to it
 * and those after it; CHAN_ONE with cmd narrowed to the payloads left,
 * whose first the caller publishes alone (chan_publish: the first of a
 * run, or one the run refuses, so that the refusal is explained there).
 */
int chan_publish_run(broker *b, client *c, ps__cmd *cmd);
int chan_subscribe(broker *b, client *c, const ps__cmd *cmd, char *why, size_t cap);
uint16_t chan_unsubscribe(broker *b, client *c, const ps__cmd *cmd, char *why, size_t cap);
uint16_t chan_request(broker *b, client *c, const ps__cmd *cmd, char *why, size_t cap);
void chan_ack(broker *b, client *c, uint64_t tag);
void chan_reply(broker *b, client *c, const ps__cmd *cmd);
/* Publishes a message that came without a session (the gateway's XSUB) on
 * the pubsub channel name, with the checks of chan_publish.  Returns 0, or
 * a PS_WERR_* code with the reason in why[cap]. */
uint16_t chan_publish_plain(broker *b, const ps__slice *name, const ps__slice *topic,
                            const ps__slice *data, char *why, size_t cap);
/* Hands a message that came over a cluster link (LINK_MSG) to this
 * node's subscribers on its broadcast or pubsub channel, after telling
 * them of missed messages the link lost before it, or (flag QUEUE) to
 * its queue; one for a channel that cannot be made or will not take it
 * is dropped (0, or a PS_WERR_* code). */
uint16_t chan_publish_link(broker *b, const ps__cmd *msg, uint64_t missed);
/* The same for a sync message from a link (LINK_SYNC): its receivers get
 * receipts for pd, the waiter that answers the peer (origin set). */
uint16_t chan_publish_link_sync(broker *b, const ps__cmd *msg, uint64_t missed, pending *pd);
/* A request from a link (LINK_REQUEST) for this node's responders on a
 * broadcast or pubsub channel, answered through pd (origin set; it gets a
 * ticket per responder).  0, or a PS_WERR_* code: nobody here takes it. */
uint16_t chan_request_link(broker *b, const ps__cmd *cmd, pending *pd);
/* Publishes the broker's own message on CHAN_SYS (created on first use,
 * a pubsub channel without retained values), which no client may. */
void chan_publish_sys(broker *b, const char *topic, const char *text);
/* A cluster peer's stand-in c consumes queue ch with window credit (0:
 * no more: what it holds goes back).  0, or -1 on ENOMEM. */
int chan_relay_consume(broker *b, client *c, channel *ch, uint32_t window);
/* Removes a subscription (queue: its unacked messages go back). */
void chan_sub_remove(broker *b, sub *s);
/* Writes the staged durable publishes (chan_publish stages them) and
 * queues them in order, or refuses each when the write failed. */
void chan_stage_flush(broker *b);
/* Before a record of c: writes the stage unless cmd is one more PUBLISH
 * of c to the staged queue. */
void chan_stage_check(broker *b, const client *c, const ps__cmd *cmd);
/* Drops every ticket and waiter of c (client going away); its staged
 * publishes are written first. */
void chan_client_gone(broker *b, client *c);
void chan_free_all(broker *b);
/* Run-time administration (admin.c's create, delete, purge, retained):
 * 0, or a PS_WERR_* code with the reason in why[cap]. */
/* Creates the channel cc describes, as if declared (a durable queue opens
 * its store and recovers what it holds); an existing name is refused. */
uint16_t chan_declare(broker *b, const config_channel *cc, char *why, size_t cap);
/* Deletes ch: its subscribers are detached, its messages, retained values
 * and store dropped.  A declared channel stays deleted across reloads. */
void chan_delete(broker *b, channel *ch);
/* The retained values ch holds, not counting a cluster's tombstones (which
 * n_retained, the bound max_retained applies to, does count). */
size_t chan_retained_count(const channel *ch);
/* Clears the retained values of ch whose topic matches pattern; how many. */
size_t chan_retained_clear(broker *b, channel *ch, const char *pattern, size_t plen);

/* queue.c: queue channels --------------------------------------------- */

/* True when the queue holds max_queued messages. */
int queue_full(const channel *ch);
/* Takes a published message (a durable queue's record written, alone);
 * returns it, or NULL with a PS_WERR_* code in *code and the reason in
 * why[cap]. */
qmsg *queue_push(channel *ch, const ps__cmd *cmd, uint16_t *code, char *why, size_t cap);
/* A published message for durable queue ch whose record is staged in its
 * store (store_stage: *end is where the record will end), held by ch but
 * not queued until queue_unstage; NULL as queue_push. */
qmsg *queue_stage(channel *ch, const ps__cmd *cmd, uint64_t *end, uint16_t *code, char *why,
                  size_t cap);
/* Writes the records staged in ch's store: 0, or -1 with the reason every
 * staged message is refused for in why[cap] (code PS_WERR_FULL). */
int queue_write(channel *ch, char *why, size_t cap);
/* After queue_write: queues a staged message (written 1) or frees it (0). */
void queue_unstage(channel *ch, qmsg *qm, int written);
/* Hands waiting messages to consumers with room. */
void queue_dispatch(broker *b, channel *ch);
/* ACK of a queue ticket. */
void queue_ack(broker *b, ticket *t);
/* Puts a consumer's unacked message back at the front (REDELIVERED); one
 * of another node's queue goes back to its home instead. */
void queue_requeue(broker *b, ticket *t);
/* Queues a message another node's queue delivered to this node for its
 * consumers, under that node's tag and attachment gen; NULL on ENOMEM. */
qmsg *queue_relay_in(channel *ch, const ps__cmd *rec);
/* Forgets the waiting messages of another node's queue (its home takes
 * them back: the attachment ended). */
void queue_relay_drop(channel *ch);
/* Drops every waiting message (not those delivered and unacknowledged),
 * acknowledged in the store, their sync publishers answered; how many. */
size_t queue_purge(broker *b, channel *ch);
void queue_free(channel *ch);
/* The store's recovery callback: queues a recovered message (ctx is the
 * channel; topic and data become the queue's).  0, or -1 (ENOMEM). */
int queue_restore(void *ctx, uint64_t sid, uint64_t seq, void *seg, char *topic, size_t tlen,
                  uint8_t *data, size_t len);
/* Puts a copy of a committed message of a replicated queue at the end of
 * ch's queue, numbered seq (its PUSH's log index); 0, or -1 on ENOMEM. */
int queue_committed(channel *ch, uint64_t seq, const char *topic, size_t tlen, const void *data,
                    size_t len, int redelivered);
/* Drops the waiting messages of ch that are its own (not another node's),
 * without telling anyone: a replicated queue whose home moved away. */
void queue_drop_own(channel *ch);

/* replq.c: durable queues replicated by the Raft group ---------------- */

/* How replq reaches the group (main gives the group's functions): propose
 * an entry (0, or -1 with errno as repl_propose), and the leader's id and
 * node name (NULL while none is known). */
typedef int replq_propose_fn(broker *b, const void *data, size_t len, uint64_t token);
typedef unsigned replq_leader_fn(const broker *b, const char **node);
/* Sets up b->replq, its hooks, and the state machine for the group
 * (*fsm); commit_ms bounds a publish's wait for its commit (about one
 * election timeout).  Before the channels are made.  0, or -1 after
 * logging. */
int replq_open(broker *b, replq_propose_fn *propose, replq_leader_fn *leader, long commit_ms,
               struct repl_fsm *fsm);
void replq_close(broker *b);
/* The hook of every result of the group (REPL_DONE, REPL_ROLE). */
void replq_result(void *ctx, const struct repl_result *res);
/* Answers the publishers whose commit is overdue; ms until the next is (a turn job). */
long replq_timers(void *ctx);
/* Publishes cmd on the replicated queue ch for c (NULL: a peer's message,
 * from peer, a cl_peer answered through the repl_answer hook when cmd->tag
 * is not 0): 0 once proposed (its confirm, or its refusal, comes
 * with the group's answer; a peer's waits for a free proposal slot when
 * none is), else a PS_WERR_* code with why. */
uint16_t replq_publish(broker *b, client *c, channel *ch, const ps__cmd *cmd, void *peer,
                       char *why, size_t cap);
/* A publisher here whose message goes to the home on another node: the
 * number of its wait (the tag of the PUBLISH), 0 when REPL_INFLIGHT_MAX
 * wait already.  It hears OK (when it asked for a confirm) or
 * "unavailable" from replq_forward_done, or "unavailable" once the home
 * is late. */
uint64_t replq_forward_wait(broker *b, client *c, uint64_t corr, int confirm,
                            const channel *ch, const void *peer);
/* The cluster link peer (a cl_peer) went down: every wait whose publish
 * went over it hears "unavailable" now (the link lost what it held). */
void replq_link_down(broker *b, const void *peer);
/* The home's answer to the wait tag: committed (ok 1) or not (0); -1
 * forgets the wait without a word (its PUBLISH could not be sent). */
void replq_forward_done(broker *b, uint64_t tag, int ok);
/* Whether a home's record carrying term is stale (lower than the highest
 * term heard of): dropped.  A higher term becomes the highest. */
int replq_fenced(broker *b, uint64_t term);
/* Changes whenever the home of the replicated queues may have moved. */
uint64_t replq_home_gen(const broker *b);
/* The repl_ack hook: proposes the ACK of qm. */
void replq_ack(void *ctx, channel *ch, const qmsg *qm);
/* Forgets c in the proposals waiting for the group (it went away). */
void replq_client_gone(broker *b, client *c);
/* Whether one more proposal (forwarded 0: none of the peers' publishes
 * waits for a slot either) or one more publisher waiting for another
 * node's answer (1) fits now: else the publisher is parked, and tried
 * again once results freed room. */
int replq_room(const broker *b, int forwarded);
/* Whether this node leads the group (the home of every replicated queue). */
int replq_leading(const broker *b);
/* The messages of ch the group's state holds (applied here): committed
 * and not acknowledged. */
size_t replq_held(broker *b, const channel *ch);
/* The highest term heard of: the fencing token of what the home sends. */
uint64_t replq_term(const broker *b);
/* The home of ch when it is replicated: the leader's node name ("" while
 * none is known); NULL for any other channel. */
const char *replq_home(broker *b, const channel *ch);
/* Whether a publish to a replicated queue whose home cannot be reached now
 * (reachable 0: no leader is known, or its link is not up) waits for it,
 * parked: yes for two election timeouts (an election, or a restarted
 * node's link, is under way), no after that (refused at once until the
 * leader changes or the home is reachable again: reachable 1). */
int replq_hold(broker *b, int reachable);

/* deliver.c: writing messages to receivers ---------------------------- */

/* Writes DELIVER to s's client, preceded by a GAP when deliveries were
 * dropped; droppable ones are dropped (and counted) on a "drop" channel
 * when the client's output is full.  Returns 1 when written, 0 when dropped. */
int deliver(broker *b, sub *s, uint8_t flags, uint64_t seq, uint64_t tag, ps__slice topic,
            ps__slice data, int droppable);
/* Writes a queue message to consumer s with tag (never dropped). */
void deliver_queued(broker *b, sub *s, qmsg *qm, uint64_t tag);
/* A receiver of a message on topic on channel ch whose output is over
 * client_buffer; NULL when every receiver has room, so that a fan-out on a
 * block channel may go. */
client *deliver_full_receiver(broker *b, channel *ch, const ps__slice *topic);
/* True when a message on topic on broadcast or pubsub channel ch would
 * reach a receiver (a strict publish is refused when not). */
int deliver_has_receiver(channel *ch, const ps__slice *topic);
/* Hands an accepted broadcast or pubsub message to every receiver (pubsub:
 * whose pattern matches), once per client, then to the fan-out hook; with
 * pd (a sync publish) each receiver gets a receipt ticket.  Returns the
 * clients it was meant for (dropped deliveries count; the hook's do not). */
unsigned deliver_fan_out(broker *b, channel *ch, uint64_t seq, const ps__slice *topic,
                         const ps__slice *data, pending *pd);
/* A run: consecutive plain messages of one publisher on one channel and
 * topic (chan_publish_run), whose receivers are found once. */
typedef struct {
    channel *ch;           /* the channel */
    ps__slice topic;       /* the topic of every message of the run */
    uint64_t id;           /* a fan-out stamp of its own: clients' run memos name it */
    sub **rcv;             /* the receivers, one subscription per client, in fan-out order */
    size_t n;              /* entries in rcv (at most the channel's subscriptions) */
    size_t head;           /* bytes of a DELIVER_BATCH of one empty payload on ch and topic */
} deliver_run;
/* Finds the receivers of a run on ch and topic into r.  Returns 0, or -1
 * out of memory (nothing to end). */
int deliver_run_begin(broker *b, deliver_run *r, channel *ch, const ps__slice *topic);
/* deliver_full_receiver for the run's next message. */
client *deliver_run_full(const broker *b, const deliver_run *r);
/* deliver_fan_out of the run's next message (no sync waiter); every
 * receiver of 1.2 gets it in a DELIVER_BATCH.  Returns the receivers. */
size_t deliver_run_one(broker *b, const deliver_run *r, uint64_t seq, const ps__slice *data);
void deliver_run_end(deliver_run *r);
/* Adds (on: 1 for pubsub messages, 2 for broadcast messages too) or
 * removes (on 0) the fan-out hook fn with ctx; a hook is called only
 * while it is there, so one that is idle costs a message nothing.  At most
 * FANOUT_TAPS_MAX; adding one that is there already changes nothing. */
void deliver_tap(broker *b, fanout_hook *fn, void *ctx, int on);

/* ticket.c: tickets and waiters with deadlines ------------------------ */

/* A ticket for c to answer; NULL on ENOMEM, or for a receipt or request
 * when c owes max_pending answers already. */
ticket *ticket_new(broker *b, int kind, client *c, pending *pd);
ticket *ticket_find(broker *b, uint64_t tag);
void ticket_free(broker *b, ticket *t);
/* Frees the tickets ticket_free kept for reuse (shutdown). */
void ticket_spares_free(broker *b);
/* A waiter for receipts or replies with a deadline (0 ms: the default; at
 * most max_wait_ms).  The caller checks pending_refusal first; c NULL: a
 * waiter for a peer of the cluster (its origin is set by the caller). */
pending *pending_new(broker *b, client *c, uint64_t corr, int is_request, uint32_t timeout_ms);
/* 0 when c may open one more waiter, else PS_WERR_LIMIT with the reason
 * in why[cap] (it has max_pending open). */
uint16_t pending_refusal(const broker *b, const client *c, char *why, size_t cap);
/* Its requester went away: nobody is told when it ends. */
void pending_forsake(pending *pd);
/* Sends the RESULT or DONE of a waiter and frees it with its tickets. */
void pending_finish(broker *b, pending *pd);
/* Finishes a waiter once nothing more can come. */
void pending_check(broker *b, pending *pd);
/* One of pd's legs on other nodes changed by these counts (final: the
 * leg is over); pd is finished when nothing more can come. */
void pending_leg(broker *b, pending *pd, int64_t count, int64_t expected, int64_t gone,
                 int final);
/* Finishes waiters whose deadline passed; returns ms until the next, or -1. */
long ticket_timers(broker *b);
/* Finishes every waiter without an answer (shutdown). */
void pending_free_all(broker *b);

/* store.c: durable queues on disk ------------------------------------- */

/* What recovery hands back for each message not acknowledged, in order;
 * sid and seg go into the message (qmsg), topic and data are the callee's;
 * seq is its channel sequence number (0: unknown, from an older store). */
typedef int store_restore_fn(void *ctx, uint64_t sid, uint64_t seq, void *seg, char *topic,
                             size_t tlen, uint8_t *data, size_t len);
/* Sets up b->stores (the fsync worker starts with the first batch store).
 * 0, or -1 after logging. */
int store_init(broker *b);
/* Closes every store's worker; after the last store_close. */
void store_fini(broker *b);
/* The fd the loop watches for finished syncs. */
int store_event_fd(const broker *b);
/* Opens DATA_DIR/queues/NAME and hands what it holds to restore(ctx, ...);
 * NULL after logging. */
store *store_open(broker *b, const char *name, int fsync_always, store_restore_fn *restore,
                  void *ctx);
/* Syncs and closes; accepts NULL and sets *st = NULL. */
void store_close(store **st);
/* Closes and removes the store's files and directory (a queue deleted on
 * purpose); accepts NULL and sets *st = NULL. */
void store_remove(store **st);
/* The highest channel sequence number its log held at start, acknowledged
 * messages included (0 when none had one). */
uint64_t store_last_seq(const store *st);
/* Puts qm's record after those staged before it, to be written by
 * store_write, and numbers qm (sid); *end is where the record will end in
 * the active segment (for store_confirm).  0 or -1 with errno (the store
 * refuses publishes, ENOMEM). */
int store_stage(store *st, qmsg *qm, uint64_t *end);
/* True when the staged records are many bytes enough to be written now. */
int store_stage_full(const store *st);
/* Writes every staged record (and the turn's acks) with one write(2),
 * synced at the end of the turn; then each staged message must be kept
 * (store_keep) or, on -1, refused.  0 or -1 with errno (ENOSPC: the disk
 * is full, none of the staged messages is in the store). */
int store_write(store *st);
/* Counts a message whose record store_write wrote as held by its segment. */
void store_keep(store *st, qmsg *qm);
/* Writes the acknowledgement of qm; frees segments no longer needed. */
void store_ack(store *st, qmsg *qm);
/* Sends OK(corr) to c once the active segment is on disk up to end (a
 * written record's end, from store_stage).  0, or -1 on ENOMEM. */
int store_confirm(store *st, client *c, uint64_t corr, uint64_t end);
/* Forgets c in waiting confirms (it went away). */
void store_client_gone(broker *b, client *c);
/* Writes the turn's records and starts or does the syncs (a turn job). */
long store_turn_end(void *ctx);
/* Takes the worker's finished syncs (the handler of store_event_fd). */
void store_events(void *ctx);
/* How long the syncs of durable queues took, so far. */
const histo *store_fsyncs(const broker *b);

/* out.c: framing and per-client output -------------------------------- */

/* Appends a record for c to its output; drop-checking is the caller's. */
void out_put(broker *b, client *c, const ps__cmd *cmd);
/* The same with cmd's size (ps__wire_size) known, and cmd already encoded
 * (ps__wire_put) at enc when enc is not NULL. */
void out_put_record(broker *b, client *c, const ps__cmd *cmd, const void *enc, size_t size);
/* A plain delivery to a client of 1.2, cmd a DELIVER_BATCH of its one
 * payload and size its ps__wire_size: joins the batch that ends c's
 * output when it follows it (same channel, topic and flags, the next
 * seq), else starts one.  run: the run of deliver.c it is part of, else 0. */
void out_put_batched(broker *b, client *c, const ps__cmd *cmd, size_t size, uint64_t run);
/* The next payload of run (deliver.c) for c, as out_put_batched would
 * have joined it, without its checks: 1 when done, 0 when c's output does
 * not end with the run's batch at seq, or the payload does not fit there
 * (out_put_batched then decides what to do). */
int out_grow_batch(broker *b, client *c, uint64_t run, uint64_t seq, const ps__slice *data,
                   size_t size);
/* ERROR(corr, code, printf text) to c. */
void out_error(broker *b, client *c, uint64_t corr, uint16_t code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* OK(corr, value) to c. */
void out_ok(broker *b, client *c, uint64_t corr, uint32_t value);
/* ERROR(0, code, text) to an identity of router sock that has no session. */
void out_direct_error(void *sock, const void *ident, size_t ilen, uint16_t code, const char *text);
/* Frames c's records of the turn and sends what the pipe takes.  Returns
 * 0 when all went, 1 when some wait, -1 when the peer is gone (its output
 * is dropped then). */
int out_flush(broker *b, client *c);
/* Gives back the buffer c keeps between turns when it holds nothing (the
 * client layer's sweep, for clients not on the flush list). */
void out_idle(client *c);
/* True when c has records not framed yet. */
int out_unframed(const client *c);
/* Drops all of c's output. */
void out_drop(broker *b, client *c);

/* listen.c: binding endpoints ----------------------------------------- */

/* Opens the ROUTERs and binds every endpoint (refusing those the security
 * policy forbids); 0 or -1 after logging the failing endpoint. */
int listen_open(broker *b);
/* Sets the ROUTERs' input limit from b->cfg (at start and after a reload). */
void listen_apply_limits(broker *b);
/* Binds sock to ep: on a socket passed by systemd if there is one; an ipc
 * path is probed first, given the configured mode and group, and removed
 * at exit.  what ("", "the gateway's xpub ") names it in the log line of a
 * failure.
 * 0, or -1 after logging. */
int listen_bind(broker *b, void *sock, const char *ep, const char *what);
/* listen_bind again after zmq_unbind, without a log line: 0, or -1 while
 * the old listener still holds the address (or on another failure). */
int listen_rebind(broker *b, void *sock, const char *ep);
/* Closes the ROUTERs and removes the socket files they created. */
void listen_close(broker *b);
/* Watches the ROUTERs' connections until their HELLO: counted per source
 * address, closed past broker.max_handshakes_per_address or when silent
 * for broker.handshake_timeout_ms.  Registers with the loop before the
 * ROUTERs.  0, or -1 after logging. */
int listen_watch(broker *b);
/* The connection on fd (a frame's ZMQ_SRCFD) said HELLO. */
void listen_greeted(broker *b, int fd);

/* auth.c: who may connect (ZAP) and what each client may do ----------- */

/* Starts the ZAP handler when the config has a security section; must run
 * before any endpoint is bound.  0, or -1 after logging. */
int auth_start(broker *b);
/* Gives a ROUTER its security options: CURVE for tcp, peer credentials
 * for ipc.  0, or -1 with errno. */
int auth_setup_router(broker *b, void *router, int ipc);
/* Answers the ZAP requests that are waiting (the loop's handler of b->zap). */
void auth_zap(void *ctx);
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
/* auth_may, and on refusal the reason in why[cap], logged once per client
 * and reason.  Returns 0 when allowed, PS_WERR_DENIED when refused. */
uint16_t auth_check(broker *b, client *c, enum verb v, channel *ch, const char *name, size_t len,
                    char *why, size_t cap);
/* After a reload: judges c's session by the new rules.  Returns 0 when it
 * may stay, -1 when it is no longer allowed at all. */
int auth_rejudge(broker *b, client *c);
/* After auth_rejudge: whether subscription s still stands under the new
 * rules (it is updated when it does). */
int auth_sub_stands(broker *b, sub *s);
/* Who c is for logs and `pctl clients` ("logger", "uid 1000"), or NULL. */
const char *auth_who(const client *c);
/* A new HELLO of a session: to (its new state) keeps the refusals from
 * (the old one) logged already, so that a HELLO does not reset the limit
 * on them.  NULL allowed for either. */
void auth_inherit(auth_session *to, const auth_session *from);
/* Frees *as (NULL allowed) and sets *as = NULL. */
void auth_free(auth_session **as);
/* True when the channel name (len bytes) matches pattern: '*' matches any
 * run of characters, everything else itself; a name beginning with '$'
 * only by a pattern beginning with '$'. */
int auth_match(const char *pattern, const char *name, size_t len);

#endif
