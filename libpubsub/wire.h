/*
 * wire.h - the pubsub wire codec, shared by brokerd and libpubsub.
 *
 * This is the only code that knows frame layout.  A ZeroMQ message from a
 * client (DEALER) to the broker (ROUTER) is one frame holding one or more
 * records; the broker's ROUTER prepends the peer identity.  A record is a
 * 32-bit length, a command byte and the command's fields, all integers in
 * network byte order.  Decoding walks a frame from start to end with
 * bounds-checked readers; any overrun, unknown command or out-of-range
 * field makes the whole frame malformed.  The grammar and the meaning of
 * every command and field are in docs/protocol.md; wire.c holds the one
 * description of each record that the size, the encoder and the decoder
 * share.
 */
#ifndef PS_WIRE_H
#define PS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PS_WIRE_MAGIC 0x5053u /* "PS": first field of every HELLO */
#define PS_WIRE_MAJOR 1       /* peers of another major refuse each other */
#define PS_WIRE_MINOR 4 /* 1.1: PUBLISH's STRICT, NOTICE (to clients that say 1.1);
                        * 1.2: PUBLISH_BATCH (from clients a 1.2 broker welcomed),
                        * DELIVER_BATCH (to clients whose HELLO said 1.2);
                        * 1.3: ACK_BATCH (from clients a 1.3 broker welcomed);
                        * 1.4: PAUSE and RESUME (to clients whose HELLO said 1.4) */

#define PS_WIRE_NAME_MAX 255    /* channel names */
#define PS_WIRE_TOPIC_MAX 1024  /* topics and patterns */
#define PS_WIRE_TEXT_MAX 1024   /* error texts, client names, admin verbs */
#define PS_WIRE_RECORD_HEAD 5   /* u32 length + u8 command */
#define PS_WIRE_BATCH_MAX 1024  /* payloads in one batch record (bins) */
#define PS_WIRE_BATCH_BYTES 65536 /* ps__wire_batch_add grows a record to this many bytes */
/* Bytes a record needs beyond its payload and strings, rounded up. */
#define PS_WIRE_RECORD_OVERHEAD 64

/* Command bytes. */
enum {
    PS_CMD_HELLO = 0x01,     /* c->b: magic, major, minor, heartbeat, name */
    PS_CMD_WELCOME = 0x02,   /* b->c: major, minor, broker id, epoch, hb, max */
    PS_CMD_BYE = 0x03,       /* c->b: closing; redeliver my unacked at once */
    PS_CMD_HEARTBEAT = 0x04, /* both ways, no fields */
    PS_CMD_PING = 0x05,      /* c->b: corr; a sync point */
    PS_CMD_PONG = 0x06,      /* b->c: corr */
    PS_CMD_ERROR = 0x07,     /* b->c: corr, code, text */
    PS_CMD_OK = 0x08,        /* b->c: corr, value */
    PS_CMD_NOTICE = 0x09,    /* b->c (1.1): corr, notes, channel: before a PONG */
    PS_CMD_PAUSE = 0x0a,     /* b->c (1.4): channel: hold publishes, a full queue waits */
    PS_CMD_RESUME = 0x0b,    /* b->c (1.4): no fields: publishes may go again */
    PS_CMD_PUBLISH = 0x10,   /* c->b: corr, flags, timeout, channel, topic, data */
    PS_CMD_PUBLISH_BATCH = 0x14, /* c->b (1.2): flags, channel, topic, payloads */
    PS_CMD_RESULT = 0x11,    /* b->c: corr, confirmed, expected (sync message) */
    PS_CMD_SUBSCRIBE = 0x12, /* c->b: corr, flags, window, channel, pattern */
    PS_CMD_UNSUBSCRIBE = 0x13, /* c->b: corr, channel, pattern */
    PS_CMD_DELIVER = 0x20,   /* b->c: flags, seq, tag, channel, topic, data */
    PS_CMD_GAP = 0x21,       /* b->c: channel, dropped count */
    PS_CMD_ACK = 0x22,       /* c->b: tag (queue ack or sync receipt) */
    PS_CMD_DELIVER_BATCH = 0x23, /* b->c (1.2): flags, first seq, channel, topic, payloads */
    PS_CMD_ACK_BATCH = 0x24,     /* c->b (1.3): the tags of many ACKs */
    PS_CMD_REQUEST = 0x30,   /* c->b: corr, timeout, channel, topic, data */
    PS_CMD_REPLY = 0x31,     /* c->b: tag, status, data; b->c: corr, status, data */
    PS_CMD_DONE = 0x32,      /* b->c: corr, replied, expected */
    PS_CMD_ADMIN = 0x40,     /* c->b: corr, verb */
    PS_CMD_ADMIN_REPLY = 0x41, /* b->c: corr, data (JSON) */
    /* The cluster's link records, between brokers only (docs/protocol.md,
     * "Between brokers"); a client sending one is refused like any
     * command not meant for it. */
    PS_CMD_LINK_HELLO = 0x50,     /* magic, version, heartbeat, epoch, hash, cluster, node, decls,
                                   * raft flags, raft address, raft voters */
    PS_CMD_LINK_HEARTBEAT = 0x51, /* flags, stamp, echo, seen epoch, interest ack */
    PS_CMD_LINK_INTEREST = 0x52,  /* interest seq, op, channel, pattern */
    PS_CMD_LINK_MSG = 0x53,       /* flags, link seq, channel, topic, data */
    PS_CMD_LINK_RETAINED = 0x54,  /* LINK_MSG of a retained value: with its clock and origin */
    /* Queues consumed through another node than their home: a node attaches
     * to the home's queue as one consumer on behalf of its own consumers. */
    PS_CMD_LINK_QUEUE = 0x55,     /* op, flags, attach gen, tag, window, channel, topic, data,
                                   * term */
    /* Requests and sync messages across links (the sender's wait id, its answers). */
    PS_CMD_LINK_REQUEST = 0x5a,   /* wait id, timeout, channel, topic, data */
    PS_CMD_LINK_REPLY = 0x5b,     /* wait id, status, data: one responder's reply */
    PS_CMD_LINK_SYNC = 0x5c,      /* LINK_MSG of a sync message: with its wait id and timeout */
    PS_CMD_LINK_ANSWER = 0x5d     /* wait id, final, confirmed or replied, expected, gone */
};

/* LINK_HELLO flags: the sender's Raft group (cluster.raft). */
#define PS_WIRE_HELLO_RAFT 0x01       /* it has cluster.raft: raft_addr and voters are set */
#define PS_WIRE_HELLO_RAFT_GROUP 0x02 /* its Raft directory holds the group already */
/* LINK_HEARTBEAT flags. */
#define PS_WIRE_LINK_ECHO 0x01     /* answer at once with echo = stamp (round-trip time) */
/* LINK_INTEREST ops. */
#define PS_WIRE_INTEREST_ADD 1     /* the sender's clients want (channel, pattern) */
#define PS_WIRE_INTEREST_REMOVE 2  /* ... no longer */
#define PS_WIRE_INTEREST_RESET 3   /* forget all of the sender's interest: a full list follows */
/* LINK_MSG flags. */
#define PS_WIRE_LINK_RETAIN 0x01   /* the message set (or cleared) the topic's retained value */
#define PS_WIRE_LINK_QUEUE 0x02    /* a message for a queue whose home is the receiver */
#define PS_WIRE_LINK_RESYNC 0x04   /* a retained value re-sent after HELLO: stored, not delivered */
/* LINK_ANSWER flags. */
#define PS_WIRE_ANSWER_FINAL 0x01  /* the last answer: the wait is over at the sender */

/* LINK_QUEUE ops. */
#define PS_WIRE_LQ_ATTACH 1  /* to the home: consume the queue with window credit (0: detach) */
#define PS_WIRE_LQ_DELIVER 2 /* from the home: a message for the receiver's consumers, by tag */
#define PS_WIRE_LQ_ACK 3     /* to the home: the message of tag was consumed */
#define PS_WIRE_LQ_RETURN 4  /* to the home: the message of tag was not: redeliver it */
#define PS_WIRE_LQ_RESET 5   /* the sender forgot every attachment of either side (its link
                              * was down): what it held is returned, attach again */
#define PS_WIRE_LQ_PUBLISH 6 /* to the home of a replicated queue: a message; tag: the
                              * sender's wait for its answer, 0: none wanted */
#define PS_WIRE_LQ_ANSWER 7  /* from that home: the PUBLISH of tag was committed (window 1)
                              * or not (window 0) */

/* PUBLISH flags. */
#define PS_WIRE_RETAIN 0x01  /* keep as the topic's last value */
#define PS_WIRE_CONFIRM 0x02 /* answer OK once the broker has taken it */
#define PS_WIRE_SYNC 0x04    /* answer RESULT once receivers confirmed */
#define PS_WIRE_STRICT 0x08  /* 1.1: refuse instead of creating the channel or reaching nobody */
/* NOTICE notes: what publishes since the last PING did. */
#define PS_WIRE_NOTE_CREATED 0x01 /* a publish created its channel (auto_create) */
#define PS_WIRE_NOTE_NOBODY 0x02  /* a publish reached no receiver */
/* SUBSCRIBE flags. */
#define PS_WIRE_RESPONDER 0x01 /* this subscription answers requests */
/* DELIVER flags. */
#define PS_WIRE_RETAINED 0x01    /* a retained value, sent on subscribe */
#define PS_WIRE_RECEIPT 0x02     /* the broker wants ACK(tag) on receipt */
#define PS_WIRE_REQUEST 0x04     /* a request: answer with REPLY(tag) */
#define PS_WIRE_REDELIVERED 0x08 /* delivered before to a consumer that died */
#define PS_WIRE_QUEUED 0x10      /* a queue message: ACK(tag) when done */
/* REPLY status. */
#define PS_WIRE_REPLY_OK 0
#define PS_WIRE_REPLY_ERROR 1

/* Error codes carried by ERROR; stable across platforms. */
enum {
    PS_WERR_PROTOCOL = 1, /* malformed command */
    PS_WERR_VERSION = 2,  /* protocol major not supported */
    PS_WERR_NOCHANNEL = 3,/* unknown channel and auto-create off */
    PS_WERR_WRONGTYPE = 4,/* command does not fit the channel's type */
    PS_WERR_TOOLARGE = 5, /* payload above max_message_size */
    PS_WERR_DENIED = 6,   /* not allowed */
    PS_WERR_NORESP = 7,   /* no responders / receivers */
    PS_WERR_FULL = 8,     /* queue or buffer full */
    PS_WERR_SESSION = 9,  /* unknown session: send HELLO first */
    PS_WERR_LIMIT = 10,   /* a configured limit was reached */
    PS_WERR_INVALID = 11  /* bad name, pattern or argument */
};

/* A byte range inside a frame; strings are not NUL-terminated. */
typedef struct {
    const char *ptr; /* first byte, points into the frame */
    size_t len;      /* number of bytes */
} ps__slice;

/*
 * One decoded or to-be-encoded record.  Only the fields of its command are
 * meaningful; the others are zero after decoding.  Slices point into the
 * frame that was decoded, so they live as long as it does.
 */
typedef struct {
    uint8_t cmd;         /* PS_CMD_* */
    uint8_t flags;       /* PUBLISH/SUBSCRIBE/DELIVER flags, NOTICE notes, LINK_HELLO raft */
    uint8_t status;      /* REPLY status; LINK_QUEUE op */
    uint8_t major;       /* HELLO, WELCOME */
    uint8_t minor;       /* HELLO, WELCOME */
    uint16_t code;       /* ERROR code (PS_WERR_*) */
    uint32_t timeout_ms; /* PUBLISH (sync), REQUEST */
    uint32_t window;     /* SUBSCRIBE: queue credit (unacked at most) */
    uint32_t count;      /* OK value, RESULT/DONE confirmed or replied, payloads of a batch */
    uint32_t expected;   /* RESULT, DONE, LINK_ANSWER */
    uint32_t gone;       /* LINK_ANSWER: responders that went away without replying */
    uint32_t heartbeat_ms; /* HELLO, WELCOME */
    uint32_t max_size;   /* WELCOME: max_message_size */
    uint64_t corr;       /* client-chosen correlation id */
    uint64_t seq;        /* DELIVER: channel sequence number */
    uint64_t tag;        /* DELIVER, ACK, REPLY(c->b): broker's handle; LINK_REQUEST, LINK_REPLY,
                          * LINK_SYNC, LINK_ANSWER: the asking node's wait id */
    uint64_t broker_id;  /* WELCOME */
    uint64_t epoch;      /* WELCOME: changes at every broker start */
    uint64_t dropped;    /* GAP */
    uint64_t hash;       /* LINK_HELLO: hash of the channel declarations */
    uint64_t stamp;      /* LINK_HEARTBEAT: the sender's clock, in us; LINK_MSG: the hybrid
                          * logical clock of a retained value; LINK_QUEUE: the home's
                          * Raft term (a replicated queue's DELIVER and ANSWER) */
    uint64_t echo;       /* LINK_HEARTBEAT: a stamp answered, 0 for none */
    ps__slice channel;   /* PUBLISH, SUBSCRIBE, UNSUBSCRIBE, DELIVER, GAP, REQUEST, NOTICE */
    ps__slice topic;     /* PUBLISH, DELIVER, REQUEST; SUBSCRIBE pattern; LINK_HELLO: the
                          * sender's Raft address "IP:PORT" */
    ps__slice text;      /* HELLO name, ERROR text, ADMIN verb */
    ps__slice data;      /* payloads; ADMIN_REPLY JSON; a batch's payloads, each n:u32 byte{n} */
    ps__slice voters;    /* LINK_HELLO: the Raft voters' node names, comma-separated in
                          * their order ("" without cluster.raft) */
} ps__cmd;

/*
 * Appends one encoded record to b.  Returns 0, or -1 with errno EINVAL
 * (a field out of range, e.g. a name over PS_WIRE_NAME_MAX) or ENOMEM.
 */
int ps__wire_put(ps__buf *b, const ps__cmd *c);

/*
 * Batches.  A batch record (PUBLISH_BATCH, DELIVER_BATCH) ends with its payloads: a
 * count, then count times n:u32 byte{n}.  Decoded, cmd->count is the
 * count and cmd->data covers the payloads with their lengths, every one
 * checked against the record's end; ps__wire_batch_next walks them.
 */

/* Takes the next payload of a batch's rest (cmd->data at first) into
 * *payload.  Returns 1, or 0 when rest holds no whole payload. */
int ps__wire_batch_next(ps__slice *rest, ps__slice *payload);

/*
 * ACK_BATCH (1.3) carries tags: a count, then count times u64.  Decoded,
 * cmd->count is the count and cmd->data covers the tags (8 bytes each,
 * their number checked against the record's length); ps__wire_tag reads
 * the i-th.  ps__wire_tag_add puts one more tag at the end of b: into the
 * ACK_BATCH at offset *rec when that record ends b and has room under
 * PS_WIRE_BATCH_MAX, else into a new one (and *rec set to it; SIZE_MAX
 * for none).  Returns 0, or -1 with errno ENOMEM.
 */
uint64_t ps__wire_tag(const ps__cmd *c, uint32_t i);
int ps__wire_tag_add(ps__buf *b, size_t *rec, uint64_t tag);

/*
 * Adds one payload to a batch in b.  c is a batch record of that payload
 * alone (c->data the payload's bytes, without their length; c->count
 * ignored).  When the record at offset *rec ends b, has c's other fields
 * (a u64 seq field: its own plus its count, the numbers of a
 * DELIVER_BATCH running on) and has room under PS_WIRE_BATCH_MAX and
 * PS_WIRE_BATCH_BYTES, the payload joins it; else a new record of one
 * payload is put at the end of b and *rec set to it.  *rec must be an
 * offset of a record in b, or SIZE_MAX for none.  Returns 0, or -1 with
 * errno EINVAL (a field out of range) or ENOMEM.
 */
int ps__wire_batch_add(ps__buf *b, size_t *rec, const ps__cmd *c);

/*
 * The cheap way on for a writer that knows its next payload joins the
 * batch record at rec, the last of b (the same channel, topic and flags,
 * and for a DELIVER_BATCH the next sequence number: a broker writing a
 * run of one publisher's batch).  ps__wire_batch_count_at gives the
 * offset of that record's count, once; ps__wire_batch_grow appends n
 * bytes of data to it as ps__wire_batch_add would have.  Returns 0, 1
 * when the record is at PS_WIRE_BATCH_MAX or PS_WIRE_BATCH_BYTES (the
 * caller starts a new one with ps__wire_batch_add), or -1 with errno
 * ENOMEM.
 */
size_t ps__wire_batch_count_at(const ps__buf *b, size_t rec);
int ps__wire_batch_grow(ps__buf *b, size_t rec, size_t count_at, const void *data, size_t n);

/* The encoded size of c, for batching decisions. */
size_t ps__wire_size(const ps__cmd *c);

/* Walks the records of one frame. */
typedef struct {
    const uint8_t *pos; /* next record */
    const uint8_t *end; /* one past the frame */
} ps__reader;

/* Starts walking the size bytes at data. */
void ps__reader_init(ps__reader *r, const void *data, size_t size);

/*
 * Decodes the next record into c.  Returns 1 with c filled, 0 at the end
 * of the frame, or -1 with errno EPROTO when the record is malformed (the
 * rest of the frame cannot be trusted and must be dropped).
 */
int ps__wire_next(ps__reader *r, ps__cmd *c);

/*
 * The bytes at data[0..len), whole encoded records, that go in one frame
 * of at most max bytes: as many records as fit, or the first alone when
 * it is larger than max.  0 only when data holds no whole record.
 */
size_t ps__wire_frame(const void *data, size_t len, size_t max);

/*
 * Writes the grammar line of command cmd ("PING = corr:u64") into out, as
 * docs/protocol.md shows it.  Returns its length, or -1 with errno EINVAL
 * (an unknown command) or ENOSPC (cap too small).
 */
int ps__wire_grammar(uint8_t cmd, char *out, size_t cap);

/* A short name for a command byte, for logs ("PUBLISH"), or "?". */
const char *ps__wire_cmd_name(uint8_t cmd);

/* A short English text for an error code ("no responders"). */
const char *ps__wire_err_text(uint16_t code);

/* True when s is a valid channel name: 1..255 of [A-Za-z0-9_.-], not "$". */
int ps__wire_valid_channel(const char *s, size_t len);

/* The broker's own channel of statistics: subscribed to like any pubsub
 * channel, published to by the broker alone.  Its '$' keeps it apart from
 * every name a client may create. */
#define PS_WIRE_SYS_CHANNEL "$broker"

/* True when s is PS_WIRE_SYS_CHANNEL. */
int ps__wire_sys_channel(const char *s, size_t len);

#endif
