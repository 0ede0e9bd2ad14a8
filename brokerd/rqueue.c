/*
 * rqueue.c - the replicated state of durable queues: its entries, its
 * snapshot, and applying entries to it (rqueue.h says what it is).
 *
 * Encoding.  Every record this file reads or writes is described once in
 * the table below: an entry (an op byte, then the fields of its op) and
 * the three parts of a snapshot
 *
 *     HEAD  = magic:u32 "RQS1" applied:u64 queues:u32
 *     QUEUE = name:str messages:u32          ; per queue, then its messages
 *     MSG   = id:u64 topic:str data:bin      ; oldest first
 *     PUSH  = op:u8=1 queue:str topic:str data:bin
 *     ACK   = op:u8=2 queue:str id:u64
 *
 * with str = n:u16 byte{n} (n at most the field's bound) and bin = n:u32
 * byte{n} (n at most RQ_DATA_MAX), big-endian.  The size, the encoder and
 * the decoder walk the same description, so they cannot disagree; the
 * decoder checks every length against the bytes left and an entry or a
 * snapshot must be consumed exactly.
 *
 * Threads.  The state is kept here under a mutex rather than handed to
 * the broker's thread entry by entry: the snapshot callback runs on the
 * replication thread and needs the state as of the last applied index,
 * which a hand-off would have to mirror anyway, and the broker only needs
 * the state at two moments (admission of a PUSH, and loading the queue
 * when this node becomes the leader), both cheap under the lock.  Apply
 * holds the lock for one entry; a snapshot holds it while it copies the
 * state, which is bounded by the queues' max_queued and the payload
 * bound.  Every message is one allocation (its topic and payload after
 * it) found by id through one hash table over all queues, since ids (log
 * indexes) are unique in the group.
 */
#include "rqueue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "../common/hash.h"

#define RQ_SNAP_MAGIC 0x52515331u /* "RQS1": a snapshot of this format */

/* The kinds of field a record is made of. */
enum kind {
    F_END,   /* no more fields */
    F_MAGIC, /* u32 RQ_SNAP_MAGIC: written as such, anything else is malformed */
    F_U32,   /* big-endian integers */
    F_U64,
    F_NAME,  /* str of 1..RQ_NAME_MAX bytes */
    F_TOPIC, /* str of 0..RQ_TOPIC_MAX bytes */
    F_DATA,  /* bin of 0..RQ_DATA_MAX bytes */
};

/* One field: its kind and the rq_entry member it fills. */
typedef struct {
    uint8_t kind;   /* enum kind */
    uint8_t member; /* offsetof(rq_entry, ...) */
} field;

/* The records: entries by op, then the snapshot's parts. */
enum { REC_HEAD = 3, REC_QUEUE = 4, REC_MSG = 5, REC_N = 6 };

#define M(m) ((uint8_t)offsetof(rq_entry, m))
static const field records[REC_N][4] = {
    [RQ_PUSH] = {{F_NAME, M(queue)}, {F_TOPIC, M(topic)}, {F_DATA, M(data)}, {F_END, 0}},
    [RQ_ACK] = {{F_NAME, M(queue)}, {F_U64, M(id)}, {F_END, 0}},
    [REC_HEAD] = {{F_MAGIC, 0}, {F_U64, M(id)}, {F_U32, M(count)}, {F_END, 0}},
    [REC_QUEUE] = {{F_NAME, M(queue)}, {F_U32, M(count)}, {F_END, 0}},
    [REC_MSG] = {{F_U64, M(id)}, {F_TOPIC, M(topic)}, {F_DATA, M(data)}, {F_END, 0}},
};

#define AT(e, f, type) ((type *)((char *)(e) + (f)->member))
#define AT_C(e, f, type) ((const type *)((const char *)(e) + (f)->member))

/* The bytes f of e takes, or SIZE_MAX when its value is past its bound. */
static size_t field_size(const field *f, const rq_entry *e)
{
    switch (f->kind) {
    case F_MAGIC:
    case F_U32: return 4;
    case F_U64: return 8;
    case F_NAME: {
        size_t n = AT_C(e, f, rq_bytes)->len;
        return n >= 1 && n <= RQ_NAME_MAX ? 2 + n : SIZE_MAX;
    }
    case F_TOPIC: {
        size_t n = AT_C(e, f, rq_bytes)->len;
        return n <= RQ_TOPIC_MAX ? 2 + n : SIZE_MAX;
    }
    case F_DATA: {
        size_t n = AT_C(e, f, rq_bytes)->len;
        return n <= RQ_DATA_MAX ? 4 + n : SIZE_MAX;
    }
    }
    return SIZE_MAX;
}

/* The bytes record rec of e takes (no op byte), or SIZE_MAX. */
static size_t rec_size(int rec, const rq_entry *e)
{
    size_t n = 0;
    for (const field *f = records[rec]; f->kind != F_END; f++) {
        size_t s = field_size(f, e);
        if (s == SIZE_MAX)
            return SIZE_MAX;
        n += s;
    }
    return n;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return p + 4;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t *put_bytes(uint8_t *p, rq_bytes b, int wide)
{
    if (wide) {
        p = put32(p, (uint32_t)b.len);
    } else {
        *p++ = (uint8_t)(b.len >> 8);
        *p++ = (uint8_t)b.len;
    }
    if (b.len)
        memcpy(p, b.ptr, b.len);
    return p + b.len;
}

/* Writes record rec of e at p (its size checked by rec_size); returns the end. */
static uint8_t *rec_put(uint8_t *p, int rec, const rq_entry *e)
{
    for (const field *f = records[rec]; f->kind != F_END; f++) {
        switch (f->kind) {
        case F_MAGIC: p = put32(p, RQ_SNAP_MAGIC); break;
        case F_U32: p = put32(p, *AT_C(e, f, uint32_t)); break;
        case F_U64: {
            uint64_t v = *AT_C(e, f, uint64_t);
            p = put32(put32(p, (uint32_t)(v >> 32)), (uint32_t)v);
            break;
        }
        case F_NAME:
        case F_TOPIC: p = put_bytes(p, *AT_C(e, f, rq_bytes), 0); break;
        case F_DATA: p = put_bytes(p, *AT_C(e, f, rq_bytes), 1); break;
        }
    }
    return p;
}

/* Reads record rec at *p (no further than end) into e, moving *p past
 * it; 0, or -1 when a field runs past end or its bound. */
static int rec_get(const uint8_t **pp, const uint8_t *end, int rec, rq_entry *e)
{
    const uint8_t *p = *pp;
    for (const field *f = records[rec]; f->kind != F_END; f++) {
        size_t avail = (size_t)(end - p), n;
        switch (f->kind) {
        case F_MAGIC:
        case F_U32:
            if (avail < 4 || (f->kind == F_MAGIC && get32(p) != RQ_SNAP_MAGIC))
                return -1;
            if (f->kind == F_U32)
                *AT(e, f, uint32_t) = get32(p);
            p += 4;
            break;
        case F_U64:
            if (avail < 8)
                return -1;
            *AT(e, f, uint64_t) = (uint64_t)get32(p) << 32 | get32(p + 4);
            p += 8;
            break;
        case F_NAME:
        case F_TOPIC:
            if (avail < 2)
                return -1;
            n = (size_t)p[0] << 8 | p[1];
            if (avail - 2 < n || n > (f->kind == F_NAME ? RQ_NAME_MAX : RQ_TOPIC_MAX) ||
                (f->kind == F_NAME && n == 0))
                return -1;
            *AT(e, f, rq_bytes) = (rq_bytes){p + 2, n};
            p += 2 + n;
            break;
        case F_DATA:
            if (avail < 4 || (n = get32(p)) > RQ_DATA_MAX || avail - 4 < n)
                return -1;
            *AT(e, f, rq_bytes) = (rq_bytes){p + 4, n};
            p += 4 + n;
            break;
        }
    }
    *pp = p;
    return 0;
}

static int is_entry_op(unsigned op)
{
    return op == RQ_PUSH || op == RQ_ACK;
}

size_t rq_entry_size(const rq_entry *e)
{
    if (!is_entry_op(e->op))
        return 0;
    size_t n = rec_size(e->op, e);
    return n == SIZE_MAX ? 0 : 1 + n;
}

size_t rq_entry_encode(const rq_entry *e, uint8_t *out)
{
    if (!is_entry_op(e->op))
        return 0;
    size_t n = rec_size(e->op, e);
    if (n == SIZE_MAX)
        return 0;
    out[0] = e->op;
    return (size_t)(rec_put(out + 1, e->op, e) - out);
}

int rq_entry_decode(const void *data, size_t len, rq_entry *e)
{
    const uint8_t *p = data, *end = p + len;
    memset(e, 0, sizeof *e);
    if (len < 1 || !is_entry_op(p[0]))
        return -1;
    e->op = *p++;
    if (rec_get(&p, end, e->op, e) < 0 || p != end)
        return -1;
    return 0;
}

/* The state ---------------------------------------------------------- */

typedef struct rq_queue rq_queue;

/* One unacknowledged message: one allocation, its topic and payload after it. */
typedef struct rq_msg {
    uint64_t id;                 /* the log index of its PUSH */
    rq_queue *q;                 /* the queue holding it */
    size_t tlen;                 /* topic bytes, at bytes[0] */
    size_t len;                  /* payload bytes, after the topic */
    TAILQ_ENTRY(rq_msg) link;    /* its queue's messages, in log order */
    struct rq_msg *hnext;        /* the next in its hash bucket */
    uint8_t bytes[];             /* topic then payload */
} rq_msg;

/* One queue of the state. */
struct rq_queue {
    char name[RQ_NAME_MAX + 1];  /* its name, NUL-terminated */
    size_t nlen;                 /* bytes in name */
    TAILQ_HEAD(rq_msgs, rq_msg) msgs; /* unacknowledged, oldest first */
    size_t n;                    /* messages in msgs */
    size_t bytes;                /* their payload bytes */
};

/* A whole state: what a snapshot holds. */
typedef struct {
    rq_queue *queues[RQ_QUEUES_MAX]; /* in the order they first appeared */
    unsigned n_queues;           /* used in queues[] */
    rq_msg **hash;               /* every message by id, chained */
    size_t hcap;                 /* buckets in hash: a power of two, or 0 */
    size_t n_msgs;               /* messages in all queues */
    uint64_t applied;            /* the last index applied (or restored) */
} rq_state;

struct rq {
    pthread_mutex_t lock;        /* guards st: apply, snapshot and restore run on the
                                    replication thread, the readers on the broker's */
    rq_state st;                 /* the state */
};

static size_t bucket(const rq_state *st, uint64_t id)
{
    return ps__hash(&id, sizeof id) & (st->hcap - 1);
}

static rq_msg *msg_find(const rq_state *st, uint64_t id)
{
    if (!st->hcap)
        return NULL;
    rq_msg *m = st->hash[bucket(st, id)];
    while (m && m->id != id)
        m = m->hnext;
    return m;
}

/* Doubles the table once it holds as many messages as buckets, so chains
 * stay short; -1 on ENOMEM. */
static int hash_grow(rq_state *st)
{
    if (st->n_msgs < st->hcap)
        return 0;
    size_t ncap = st->hcap ? 2 * st->hcap : 64, ocap = st->hcap;
    rq_msg **nh = calloc(ncap, sizeof *nh), **oh = st->hash;
    if (!nh)
        return -1;
    st->hash = nh;
    st->hcap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        rq_msg *m, *nx;
        for (m = oh[i]; m; m = nx) {
            nx = m->hnext;
            size_t b = bucket(st, m->id);
            m->hnext = nh[b];
            nh[b] = m;
        }
    }
    free(oh);
    return 0;
}

static rq_queue *queue_find(const rq_state *st, const char *name, size_t len)
{
    for (unsigned i = 0; i < st->n_queues; i++)
        if (st->queues[i]->nlen == len && memcmp(st->queues[i]->name, name, len) == 0)
            return st->queues[i];
    return NULL;
}

/* The queue named name[len], added when new; NULL past RQ_QUEUES_MAX or on ENOMEM. */
static rq_queue *queue_get(rq_state *st, const char *name, size_t len)
{
    rq_queue *q = queue_find(st, name, len);
    if (q || st->n_queues == RQ_QUEUES_MAX || len == 0 || len > RQ_NAME_MAX)
        return q;
    if (!(q = calloc(1, sizeof *q)))
        return NULL;
    memcpy(q->name, name, len);
    q->nlen = len;
    TAILQ_INIT(&q->msgs);
    st->queues[st->n_queues++] = q;
    return q;
}

/* Puts a message at the end of q; -1 when its id is already held or on ENOMEM. */
static int msg_push(rq_state *st, rq_queue *q, uint64_t id, rq_bytes topic, rq_bytes data)
{
    if (msg_find(st, id) || hash_grow(st) < 0)
        return -1;
    rq_msg *m = malloc(sizeof *m + topic.len + data.len);
    if (!m)
        return -1;
    m->id = id;
    m->q = q;
    m->tlen = topic.len;
    m->len = data.len;
    if (topic.len)
        memcpy(m->bytes, topic.ptr, topic.len);
    if (data.len)
        memcpy(m->bytes + topic.len, data.ptr, data.len);
    TAILQ_INSERT_TAIL(&q->msgs, m, link);
    q->n++;
    q->bytes += data.len;
    size_t b = bucket(st, id);
    m->hnext = st->hash[b];
    st->hash[b] = m;
    st->n_msgs++;
    return 0;
}

static void msg_remove(rq_state *st, rq_msg *m)
{
    rq_msg **pp = &st->hash[bucket(st, m->id)];
    while (*pp != m)
        pp = &(*pp)->hnext;
    *pp = m->hnext;
    TAILQ_REMOVE(&m->q->msgs, m, link);
    m->q->n--;
    m->q->bytes -= m->len;
    st->n_msgs--;
    free(m);
}

static void state_free(rq_state *st)
{
    for (unsigned i = 0; i < st->n_queues; i++) {
        rq_msg *m;
        while ((m = TAILQ_FIRST(&st->queues[i]->msgs))) {
            TAILQ_REMOVE(&st->queues[i]->msgs, m, link);
            free(m);
        }
        free(st->queues[i]);
    }
    free(st->hash);
    memset(st, 0, sizeof *st);
}

rq *rq_new(void)
{
    rq *r = calloc(1, sizeof *r);
    if (r)
        pthread_mutex_init(&r->lock, NULL);
    return r;
}

void rq_free(rq *r)
{
    if (!r)
        return;
    state_free(&r->st);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

void rq_fsm(rq *r, struct repl_fsm *fsm)
{
    *fsm = (struct repl_fsm){.ctx = r, .apply = rq_apply, .snapshot = rq_snapshot,
                             .restore = rq_restore};
}

int rq_apply(void *ctx, uint64_t index, const void *data, size_t len)
{
    rq *r = ctx;
    rq_entry e;
    if (rq_entry_decode(data, len, &e) < 0)
        return -1;
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    if (index <= r->st.applied) {
        /* Already in the state (a snapshot taken after it was restored):
         * applying it twice would duplicate a message. */
    } else if (e.op == RQ_PUSH) {
        rq_queue *q = queue_get(&r->st, (const char *)e.queue.ptr, e.queue.len);
        rc = q ? msg_push(&r->st, q, index, e.topic, e.data) : -1;
    } else {
        rq_msg *m = msg_find(&r->st, e.id);
        if (m && m->q->nlen == e.queue.len && memcmp(m->q->name, e.queue.ptr, e.queue.len) == 0)
            msg_remove(&r->st, m);
    }
    if (rc == 0 && index > r->st.applied)
        r->st.applied = index;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* The parts of a snapshot of st, in order, handed to part(ctx, rec, e). */
typedef void part_fn(void *ctx, int rec, const rq_entry *e);
static void snapshot_walk(const rq_state *st, part_fn *part, void *ctx)
{
    rq_entry e = {.id = st->applied, .count = st->n_queues};
    part(ctx, REC_HEAD, &e);
    for (unsigned i = 0; i < st->n_queues; i++) {
        const rq_queue *q = st->queues[i];
        e = (rq_entry){.queue = {(const uint8_t *)q->name, q->nlen}, .count = (uint32_t)q->n};
        part(ctx, REC_QUEUE, &e);
        const rq_msg *m;
        TAILQ_FOREACH(m, &q->msgs, link) {
            e = (rq_entry){.id = m->id, .topic = {m->bytes, m->tlen},
                           .data = {m->bytes + m->tlen, m->len}};
            part(ctx, REC_MSG, &e);
        }
    }
}

static void part_size(void *ctx, int rec, const rq_entry *e)
{
    *(size_t *)ctx += rec_size(rec, e);
}

static void part_put(void *ctx, int rec, const rq_entry *e)
{
    uint8_t **p = ctx;
    *p = rec_put(*p, rec, e);
}

int rq_snapshot(void *ctx, void **data, size_t *len)
{
    rq *r = ctx;
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    snapshot_walk(&r->st, part_size, &n);
    uint8_t *buf = malloc(n), *p = buf;
    if (buf)
        snapshot_walk(&r->st, part_put, &p);
    pthread_mutex_unlock(&r->lock);
    if (!buf)
        return -1;
    *data = buf;
    *len = n;
    return 0;
}

/* Decodes a snapshot into st (empty); -1 when malformed or on ENOMEM. */
static int snapshot_read(rq_state *st, const uint8_t *p, const uint8_t *end)
{
    rq_entry e;
    if (rec_get(&p, end, REC_HEAD, &e) < 0 || e.count > RQ_QUEUES_MAX)
        return -1;
    st->applied = e.id;
    uint32_t n_queues = e.count;
    for (uint32_t i = 0; i < n_queues; i++) {
        if (rec_get(&p, end, REC_QUEUE, &e) < 0 ||
            queue_find(st, (const char *)e.queue.ptr, e.queue.len))
            return -1; /* a queue twice */
        rq_queue *q = queue_get(st, (const char *)e.queue.ptr, e.queue.len);
        if (!q)
            return -1;
        uint32_t n_msgs = e.count;
        uint64_t last = 0;
        for (uint32_t k = 0; k < n_msgs; k++) {
            /* Ids rise within a queue and none is past the applied index:
             * anything else is not a state this file wrote. */
            if (rec_get(&p, end, REC_MSG, &e) < 0 || e.id <= last ||
                e.id > st->applied || msg_push(st, q, e.id, e.topic, e.data) < 0)
                return -1;
            last = e.id;
        }
    }
    return p == end ? 0 : -1;
}

int rq_restore(void *ctx, const void *data, size_t len)
{
    rq *r = ctx;
    rq_state st = {0};
    if (snapshot_read(&st, data, (const uint8_t *)data + len) < 0) {
        state_free(&st);
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    rq_state old = r->st;
    r->st = st;
    pthread_mutex_unlock(&r->lock);
    state_free(&old);
    return 0;
}

int rq_admit(rq *r, const char *queue, size_t pending, long max_msgs)
{
    size_t len = strlen(queue);
    pthread_mutex_lock(&r->lock);
    const rq_queue *q = queue_find(&r->st, queue, len);
    int rc = RQ_ROOM;
    if (!q && r->st.n_queues == RQ_QUEUES_MAX)
        rc = RQ_TOO_MANY_QUEUES;
    else if ((long)((q ? q->n : 0) + pending) >= max_msgs)
        rc = RQ_FULL;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

size_t rq_depth(rq *r, const char *queue, size_t *bytes)
{
    pthread_mutex_lock(&r->lock);
    const rq_queue *q = queue_find(&r->st, queue, strlen(queue));
    size_t n = q ? q->n : 0;
    if (bytes)
        *bytes = q ? q->bytes : 0;
    pthread_mutex_unlock(&r->lock);
    return n;
}

uint64_t rq_applied(rq *r)
{
    pthread_mutex_lock(&r->lock);
    uint64_t a = r->st.applied;
    pthread_mutex_unlock(&r->lock);
    return a;
}

int rq_each(rq *r, const char *queue, uint64_t after, uint64_t upto, rq_each_fn *fn, void *ctx)
{
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    const rq_queue *q = queue_find(&r->st, queue, strlen(queue));
    const rq_msg *m = NULL, *p;
    /* From the end back to the first one past after: a leader loading
     * what was applied since its last look walks only that. */
    if (q)
        for (p = TAILQ_LAST(&q->msgs, rq_msgs); p && p->id > after;
             p = TAILQ_PREV(p, rq_msgs, link))
            m = p;
    for (; m && m->id <= upto; m = TAILQ_NEXT(m, link))
        if ((rc = fn(ctx, m->id, (rq_bytes){m->bytes, m->tlen},
                     (rq_bytes){m->bytes + m->tlen, m->len})) != 0)
            break;
    pthread_mutex_unlock(&r->lock);
    return rc;
}
