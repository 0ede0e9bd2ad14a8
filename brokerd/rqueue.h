/*
 * rqueue.h - the replicated state of durable queues (issue 21): the state
 * machine a Raft group (repl.h) replicates, without any I/O.
 *
 * The log holds each queue's changes as entries: PUSH(queue, topic, data)
 * puts a message at the end of a queue, ACK(queue, id) takes one out.  A
 * message's id is the log index of its PUSH, so every replica gives it
 * the same id without the proposer choosing one, ids never repeat across
 * terms, and the proposer learns it from the REPL_OK result.  The state
 * is each queue's unacknowledged messages in log order.  The entries, the
 * snapshot of the whole state and their sizes are described once in a
 * table (rqueue.c) that the encoder, the decoder and the size walk, with
 * exact bounds checks: a record must be consumed exactly.  Deliveries are
 * not replicated: a new leader flags every message it inherits as
 * redelivered (docs/replication.md says why).  The state machine's
 * callbacks run on the replication thread; the broker's thread reads the
 * state (depth for admission, the messages a new leader loads) through
 * the functions below, which take the same lock.
 */
#ifndef RQUEUE_H
#define RQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "repl.h"

#define RQ_QUEUES_MAX 256  /* queues one group's state holds at most */
#define RQ_NAME_MAX 255    /* a queue's name, as a channel's on the wire */
#define RQ_TOPIC_MAX 1024  /* a message's topic, as on the wire */
/* A payload's bytes at most: the ceiling of the broker's max_message_size,
 * not its configured value, so that a committed entry still decodes after
 * the limit was lowered (admission applies the configured one). */
#define RQ_DATA_MAX (256u << 20)

/* What an entry does. */
enum rq_op {
    RQ_PUSH = 1, /* a message at the end of a queue; its id is the entry's index */
    RQ_ACK = 2,  /* the message with this id leaves its queue */
};

/* Bytes inside an entry or a snapshot being decoded (not NUL-terminated),
 * or the caller's bytes being encoded. */
typedef struct {
    const uint8_t *ptr; /* the first byte */
    size_t len;         /* how many */
} rq_bytes;

/* One entry, decoded (its slices point into the entry) or to encode. */
typedef struct {
    uint8_t op;     /* enum rq_op */
    rq_bytes queue; /* the queue's name, 1..RQ_NAME_MAX bytes */
    uint64_t id;    /* ACK: the acknowledged message's id */
    rq_bytes topic; /* PUSH: the message's topic, up to RQ_TOPIC_MAX bytes */
    rq_bytes data;  /* PUSH: its payload, up to RQ_DATA_MAX bytes */
    uint32_t count; /* inside a snapshot only: messages of a queue, queues of the state */
} rq_entry;

/* The bytes e takes encoded (its op byte included). */
size_t rq_entry_size(const rq_entry *e);
/* Encodes e into out[rq_entry_size(e)]; returns the bytes written, 0 when
 * e cannot be encoded (an unknown op, a name, topic or payload too long). */
size_t rq_entry_encode(const rq_entry *e, uint8_t *out);
/* Decodes the entry data[len] into e, whose slices point into data.
 * 0, or -1 when it is malformed (unknown op, a field past its end or its
 * bound, bytes left over). */
int rq_entry_decode(const void *data, size_t len, rq_entry *e);

typedef struct rq rq;

/* A new, empty state; NULL on ENOMEM. */
rq *rq_new(void);
void rq_free(rq *r);

/* The state machine's callbacks for repl_config.fsm (ctx = r). */
void rq_fsm(rq *r, struct repl_fsm *fsm);
/* Applies the entry at index: 0, or -1 when it is malformed or cannot be
 * applied (a PUSH to a queue past RQ_QUEUES_MAX, memory), which stops the
 * replica rather than let the replicas' states differ.  An ACK of an id
 * not in its queue (acknowledged twice) changes nothing. */
int rq_apply(void *r, uint64_t index, const void *data, size_t len);
/* The whole state in one malloc'd buffer.  0, or -1 on ENOMEM. */
int rq_snapshot(void *r, void **data, size_t *len);
/* Replaces the whole state by the snapshot's; on -1 (malformed, memory)
 * the state is left as it was. */
int rq_restore(void *r, const void *data, size_t len);

/* What admission says of one more PUSH. */
enum rq_admit { RQ_ROOM = 0, RQ_FULL = 1, RQ_TOO_MANY_QUEUES = 2 };
/* Whether a PUSH to queue fits: the messages the state holds plus pending
 * (proposed, not yet applied) stay under max_msgs, and the queue is in
 * the state or there is room for one more queue.  Checked before the
 * PUSH is proposed, so the state's bound is the queue's own. */
int rq_admit(rq *r, const char *queue, size_t pending, long max_msgs);
/* How many messages queue holds (0 for an unknown queue), and their
 * payload bytes into *bytes unless NULL. */
size_t rq_depth(rq *r, const char *queue, size_t *bytes);
/* The highest log index applied to the state (0 for none). */
uint64_t rq_applied(rq *r);

/* Hands each message of queue whose id is past after and at most upto,
 * oldest first, to fn; the slices are only valid during the call.  Stops
 * at and returns fn's first nonzero, else 0. */
typedef int rq_each_fn(void *ctx, uint64_t id, rq_bytes topic, rq_bytes data);
int rq_each(rq *r, const char *queue, uint64_t after, uint64_t upto, rq_each_fn *fn, void *ctx);

#endif
