/*
 * msg.c - received messages.  A ps_msg is one piece of memory holding the
 * header, the channel and topic names and the payload, each followed by a
 * NUL byte so the application may treat text payloads as C strings.
 *
 * Deliveries are made by whichever thread reads the socket (most often
 * the client's I/O thread) and destroyed by the application's: an
 * allocation per message made glibc's per-thread caches miss on both
 * sides, and cost more than decoding the message.  So a small message is
 * carved from a block of MSG_BLOCK bytes that the session holds (its
 * pool), and the block is freed with the last message carved from it;
 * its count of references is atomic, since messages are destroyed on any
 * thread.  A message larger than MSG_SMALL has an allocation of its own,
 * and so does a reply.  A message the application keeps keeps its block
 * (MSG_BLOCK bytes at most) allocated with it.  The messages of a
 * DELIVER_BATCH carved from one block share their channel and topic
 * names, which the block holds once (ps__msg_new_run).
 */
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MSG_BLOCK 16384 /* bytes a block holds: a hundred small messages */
#define MSG_SMALL 1024  /* the largest message carved from a block */

struct ps__msg_block {
    atomic_size_t refs;  /* messages carved and not destroyed, plus one while it is a pool */
    size_t used;         /* bytes of data carved so far */
    alignas(max_align_t) char data[]; /* MSG_BLOCK bytes */
};

/* Drops one reference to bl; the last frees it. */
static void block_unref(ps__msg_block *bl)
{
    if (atomic_fetch_sub_explicit(&bl->refs, 1, memory_order_acq_rel) == 1)
        free(bl);
}

void ps__msg_pool_release(ps__msg_block **pool)
{
    if (*pool)
        block_unref(*pool);
    *pool = NULL;
}

/* n rounded up to the alignment of every message carved. */
static size_t aligned(size_t n)
{
    return (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
}

/* need bytes for a message: from the block *pool when small, else an
 * allocation of its own; *from says which.  NULL when out of memory. */
static void *msg_memory(ps__msg_block **pool, size_t need, ps__msg_block **from)
{
    need = aligned(need);
    *from = NULL;
    if (!pool || need > MSG_SMALL)
        return malloc(need);
    ps__msg_block *bl = *pool;
    if (!bl || MSG_BLOCK - bl->used < need) {
        ps__msg_pool_release(pool);
        if (!(bl = malloc(sizeof *bl + MSG_BLOCK)))
            return NULL;
        atomic_init(&bl->refs, 1);
        bl->used = 0;
        *pool = bl;
    }
    void *p = bl->data + bl->used;
    bl->used += need;
    atomic_fetch_add_explicit(&bl->refs, 1, memory_order_relaxed);
    *from = bl;
    return p;
}

struct ps_msg *ps__msg_new(ps__msg_block **pool, const ps__slice *channel,
                           const ps__slice *topic, const ps__slice *data)
{
    size_t need = sizeof(struct ps_msg) + channel->len + 1 + topic->len + 1 + data->len + 1;
    ps__msg_block *from;
    struct ps_msg *m = msg_memory(pool, need, &from);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    m->block = from;
    char *p = (char *)(m + 1);
    m->channel = p;
    memcpy(p, channel->ptr, channel->len);
    p[channel->len] = '\0';
    p += channel->len + 1;
    m->topic = p;
    memcpy(p, topic->ptr, topic->len);
    p[topic->len] = '\0';
    p += topic->len + 1;
    m->data = (uint8_t *)p;
    if (data->len)
        memcpy(p, data->ptr, data->len);
    p[data->len] = '\0';
    m->size = data->len;
    return m;
}

struct ps_msg *ps__msg_new_run(ps__msg_block **pool, ps__msg_names *names,
                               const ps__slice *channel, const ps__slice *topic,
                               const ps__slice *data)
{
    ps__msg_block *bl = names->block;
    size_t need = aligned(sizeof(struct ps_msg) + data->len + 1);
    if (!bl || bl != *pool || need > MSG_SMALL || MSG_BLOCK - bl->used < need) {
        struct ps_msg *m = ps__msg_new(pool, channel, topic, data);
        *names = (ps__msg_names){m ? m->block : NULL, m ? m->channel : NULL, m ? m->topic : NULL};
        return m;
    }
    struct ps_msg *m = (struct ps_msg *)(bl->data + bl->used);
    bl->used += need;
    atomic_fetch_add_explicit(&bl->refs, 1, memory_order_relaxed);
    memset(m, 0, sizeof *m);
    m->block = bl;
    m->channel = names->channel;
    m->topic = names->topic;
    m->data = (uint8_t *)(m + 1);
    if (data->len)
        memcpy(m->data, data->ptr, data->len);
    m->data[data->len] = '\0';
    m->size = data->len;
    return m;
}

void ps_msg_destroy(ps_msg **m)
{
    if (!m || !*m)
        return;
    if ((*m)->block)
        block_unref((*m)->block);
    else
        free(*m);
    *m = NULL;
}

const char *ps_msg_channel(const ps_msg *m) { return m->channel; }
const char *ps_msg_topic(const ps_msg *m) { return m->topic; }
const void *ps_msg_data(const ps_msg *m) { return m->data; }
size_t ps_msg_size(const ps_msg *m) { return m->size; }
uint64_t ps_msg_seq(const ps_msg *m) { return m->seq; }
uint64_t ps_msg_gap(const ps_msg *m) { return m->gap; }
uint64_t ps_msg_broker(const ps_msg *m) { return m->broker_id; }
uint64_t ps_msg_epoch(const ps_msg *m) { return m->epoch; }
int ps_msg_status(const ps_msg *m) { return m->status; }
int ps_msg_is_request(const ps_msg *m) { return (m->flags & PS_WIRE_REQUEST) != 0; }
int ps_msg_is_retained(const ps_msg *m) { return (m->flags & PS_WIRE_RETAINED) != 0; }
int ps_msg_is_redelivered(const ps_msg *m) { return (m->flags & PS_WIRE_REDELIVERED) != 0; }
