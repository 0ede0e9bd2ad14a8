/*
 * wire.c - encodes and decodes the records of the pubsub wire protocol.
 *
 * Each command's record is described once, in the table below: the
 * fields in their order on the wire, each with its kind (an integer of 8,
 * 16, 32 or 64 bits, a str of at most a given length, a bin, or a
 * batch's bins: a count of payloads and each with its length) and the
 * ps__cmd member it fills.  The encoded size, the encoder, the decoder and
 * the grammar lines of docs/protocol.md (ps__wire_grammar, checked against
 * that file by test_wire) all walk the same description, so a field
 * cannot be added to one of them and forgotten in another.  A new command
 * (the cluster protocol's, say) is one more line in the table.
 *
 * All integers are big-endian.  A record must be consumed exactly: fields
 * that end before or after its length make the frame malformed, so no two
 * decoders can disagree.
 */
#include "wire.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The kinds of field a record is made of. */
enum kind {
    F_END,   /* no more fields */
    F_U8,    /* one byte */
    F_U16,   /* big-endian integers */
    F_U32,
    F_U64,
    F_STR,   /* n:u16 byte{n}, n at most the field's max */
    F_BIN,   /* n:u32 byte{n} */
    F_MAGIC, /* u16 PS_WIRE_MAGIC: written as such, anything else is malformed */
    F_ID,    /* u64: ps__cmd.tag when set (c->b), else corr; decoded into both */
    F_BINS,  /* count:u32 then count times n:u32 byte{n}, 1..PS_WIRE_BATCH_MAX: the
              * count in ps__cmd.count, the payloads with their lengths in the
              * member; the last field of its record, so that a batch grows in place */
    F_U64S   /* count:u32 then count times u64, 1..PS_WIRE_BATCH_MAX: the count in
              * ps__cmd.count, the integers as they are on the wire in the member;
              * the last field of its record, like F_BINS */
};

/* One field of a record. */
typedef struct {
    uint8_t kind;     /* enum kind */
    uint8_t member;   /* offsetof(ps__cmd, ...) of what it fills */
    uint16_t max;     /* F_STR: the longest value allowed */
    const char *name; /* its name in the grammar */
} field;

#define FIELDS_MAX 13 /* fields of the longest record (LINK_HELLO: 12), room to grow */

/* The layout of one command's record. */
typedef struct {
    const char *name;              /* "PUBLISH" */
    field fields[FIELDS_MAX + 1];  /* in wire order, ending with F_END */
} layout;

#define M(m) ((uint8_t)offsetof(ps__cmd, m))
/* Every member's offset must fit M's byte. */
_Static_assert(offsetof(ps__cmd, voters) < 256, "ps__cmd outgrew the table's member offsets");
#define U8(m, n) {F_U8, M(m), 0, n}
#define U16(m, n) {F_U16, M(m), 0, n}
#define U32(m, n) {F_U32, M(m), 0, n}
#define U64(m, n) {F_U64, M(m), 0, n}
#define STR(m, max, n) {F_STR, M(m), max, n}
#define BIN(m, n) {F_BIN, M(m), 0, n}
#define BINS(m, n) {F_BINS, M(m), 0, n}
#define U64S(m, n) {F_U64S, M(m), 0, n}
#define CHANNEL STR(channel, PS_WIRE_NAME_MAX, "channel")
#define TOPIC STR(topic, PS_WIRE_TOPIC_MAX, "topic")
#define CORR U64(corr, "corr")
/* An entry of the table: its name is the constant's without "PS_CMD_". */
#define REC(cmd, ...) [cmd] = &(const layout){&#cmd[sizeof "PS_CMD_" - 1], {__VA_ARGS__}}

/* Every record of the protocol, by command byte (docs/protocol.md says
 * what each means).  A byte without an entry is an unknown command. */
static const layout *const records[256] = {
    REC(PS_CMD_HELLO, {F_MAGIC, 0, 0, "magic"}, U8(major, "major"), U8(minor, "minor"),
        U32(heartbeat_ms, "heartbeat_ms"), STR(text, PS_WIRE_TEXT_MAX, "name")),
    REC(PS_CMD_WELCOME, U8(major, "major"), U8(minor, "minor"), U64(broker_id, "broker_id"),
        U64(epoch, "epoch"), U32(heartbeat_ms, "heartbeat_ms"), U32(max_size, "max_message_size")),
    REC(PS_CMD_BYE, {F_END, 0, 0, NULL}),
    REC(PS_CMD_HEARTBEAT, {F_END, 0, 0, NULL}),
    REC(PS_CMD_PING, CORR),
    REC(PS_CMD_PONG, CORR),
    REC(PS_CMD_ERROR, CORR, U16(code, "code"), STR(text, PS_WIRE_TEXT_MAX, "text")),
    REC(PS_CMD_OK, CORR, U32(count, "value")),
    REC(PS_CMD_NOTICE, CORR, U8(flags, "notes"), CHANNEL),
    REC(PS_CMD_PAUSE, CHANNEL),
    REC(PS_CMD_RESUME, {F_END, 0, 0, NULL}),
    REC(PS_CMD_PUBLISH, CORR, U8(flags, "flags"), U32(timeout_ms, "timeout_ms"), CHANNEL, TOPIC,
        BIN(data, "data")),
    REC(PS_CMD_PUBLISH_BATCH, U8(flags, "flags"), CHANNEL, TOPIC, BINS(data, "data")),
    REC(PS_CMD_RESULT, CORR, U32(count, "confirmed"), U32(expected, "expected")),
    REC(PS_CMD_SUBSCRIBE, CORR, U8(flags, "flags"), U32(window, "window"), CHANNEL,
        STR(topic, PS_WIRE_TOPIC_MAX, "pattern")),
    REC(PS_CMD_UNSUBSCRIBE, CORR, CHANNEL, STR(topic, PS_WIRE_TOPIC_MAX, "pattern")),
    REC(PS_CMD_DELIVER, U8(flags, "flags"), U64(seq, "seq"), U64(tag, "tag"), CHANNEL, TOPIC,
        BIN(data, "data")),
    REC(PS_CMD_GAP, CHANNEL, U64(dropped, "dropped")),
    REC(PS_CMD_ACK, U64(tag, "tag")),
    REC(PS_CMD_DELIVER_BATCH, U8(flags, "flags"), U64(seq, "seq"), CHANNEL, TOPIC,
        BINS(data, "data")),
    REC(PS_CMD_ACK_BATCH, U64S(data, "tags")),
    REC(PS_CMD_REQUEST, CORR, U32(timeout_ms, "timeout_ms"), CHANNEL, TOPIC, BIN(data, "data")),
    REC(PS_CMD_REPLY, {F_ID, 0, 0, "id"}, U8(status, "status"), BIN(data, "data")),
    REC(PS_CMD_DONE, CORR, U32(count, "replied"), U32(expected, "expected")),
    REC(PS_CMD_ADMIN, CORR, STR(text, PS_WIRE_TEXT_MAX, "verb")),
    REC(PS_CMD_ADMIN_REPLY, CORR, BIN(data, "json")),
    REC(PS_CMD_LINK_HELLO, {F_MAGIC, 0, 0, "magic"}, U8(major, "major"), U8(minor, "minor"),
        U32(heartbeat_ms, "heartbeat_ms"), U64(epoch, "epoch"), U64(hash, "decl_hash"),
        STR(text, PS_WIRE_NAME_MAX, "cluster"), STR(channel, PS_WIRE_NAME_MAX, "node"),
        BIN(data, "decls"), U8(flags, "raft"), STR(topic, PS_WIRE_NAME_MAX, "raft_addr"),
        STR(voters, PS_WIRE_TEXT_MAX, "voters")),
    REC(PS_CMD_LINK_HEARTBEAT, U8(flags, "flags"), U64(stamp, "stamp"), U64(echo, "echo"),
        U64(epoch, "seen_epoch"), U64(seq, "interest_ack")),
    REC(PS_CMD_LINK_INTEREST, U64(seq, "interest_seq"), U8(flags, "op"), CHANNEL,
        STR(topic, PS_WIRE_TOPIC_MAX, "pattern")),
    REC(PS_CMD_LINK_MSG, U8(flags, "flags"), U64(seq, "link_seq"), CHANNEL, TOPIC,
        BIN(data, "data")),
    REC(PS_CMD_LINK_RETAINED, U8(flags, "flags"), U64(seq, "link_seq"), U64(stamp, "hlc"),
        STR(text, PS_WIRE_NAME_MAX, "origin"), CHANNEL, TOPIC, BIN(data, "data")),
    REC(PS_CMD_LINK_REQUEST, U64(tag, "wait_id"), U32(timeout_ms, "timeout_ms"), CHANNEL, TOPIC,
        BIN(data, "data")),
    REC(PS_CMD_LINK_REPLY, U64(tag, "wait_id"), U8(status, "status"), BIN(data, "data")),
    REC(PS_CMD_LINK_SYNC, U8(flags, "flags"), U64(seq, "link_seq"), U64(tag, "wait_id"),
        U32(timeout_ms, "timeout_ms"), CHANNEL, TOPIC, BIN(data, "data")),
    REC(PS_CMD_LINK_ANSWER, U64(tag, "wait_id"), U8(flags, "flags"), U32(count, "count"),
        U32(expected, "expected"), U32(gone, "gone")),
    REC(PS_CMD_LINK_QUEUE, U8(status, "op"), U8(flags, "flags"), U64(seq, "attach_gen"),
        U64(tag, "tag"), U32(window, "window"), CHANNEL, TOPIC, BIN(data, "data"),
        U64(stamp, "term")),
};

/* The members a field reads and writes, by kind. */
#define AT(c, f, type) ((type *)((char *)(c) + (f)->member))
#define AT_C(c, f, type) ((const type *)((const char *)(c) + (f)->member))

/* Bytes a field of fixed size takes, 0 for strings and payloads. */
static size_t fixed_size(uint8_t kind)
{
    switch (kind) {
    case F_U8: return 1;
    case F_U16:
    case F_MAGIC: return 2;
    case F_U32: return 4;
    case F_U64:
    case F_ID: return 8;
    default: return 0;
    }
}

/*
 * The size of each record, summed once from the table above: the bytes
 * that do not depend on the values (the u32 length, the command byte,
 * the integers and the length prefixes of strings and payloads), and the
 * members whose lengths add to them.  ps__wire_size is asked for every
 * record the broker queues, so it reads this summary instead of walking
 * the fields; sizes_init fills it when the program (or the library) is
 * loaded, before any thread can ask.
 */
static struct {
    uint16_t fixed;             /* bytes of a record whose strings are empty */
    uint8_t n_var;              /* members in var[] */
    uint8_t var[FIELDS_MAX];    /* offsetof(ps__cmd, ...) of each ps__slice counted */
} sizes[256];

__attribute__((constructor)) static void sizes_init(void)
{
    for (int cmd = 0; cmd < 256; cmd++) {
        const layout *l = records[cmd];
        if (!l)
            continue;
        size_t n = 4 + 1; /* the u32 length and the command byte */
        for (const field *f = l->fields; f->kind != F_END; f++) {
            int counted = f->kind == F_BIN || f->kind == F_BINS || f->kind == F_U64S;
            n += f->kind == F_STR ? 2 : counted ? 4 : fixed_size(f->kind);
            if (f->kind == F_STR || counted)
                sizes[cmd].var[sizes[cmd].n_var++] = f->member;
        }
        sizes[cmd].fixed = (uint16_t)n;
    }
}

size_t ps__wire_size(const ps__cmd *c)
{
    if (!records[c->cmd])
        return 4; /* an unknown command: its length alone */
    /* The summary is read once into locals: the compiler cannot know
     * that the slices it adds do not overlap it. */
    const uint8_t *var = sizes[c->cmd].var;
    size_t n = sizes[c->cmd].fixed;
    for (int i = 0, nv = sizes[c->cmd].n_var; i < nv; i++)
        n += ((const ps__slice *)((const char *)c + var[i]))->len;
    return n;
}

/* Writers: the caller reserved the room, so they cannot fail. */
static uint8_t *w16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *w32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *w64(uint8_t *p, uint64_t v)
{
    p = w32(p, (uint32_t)(v >> 32));
    return w32(p, (uint32_t)v);
}

/*
 * Encodes in one pass: room for the largest body c could have, the fields
 * written behind the record head, and the length filled in last.
 */
int ps__wire_put(ps__buf *b, const ps__cmd *c)
{
    const layout *l = records[c->cmd];
    if (!l || c->data.len > UINT32_MAX) {
        errno = EINVAL;
        return -1;
    }
    size_t most = PS_WIRE_RECORD_HEAD + FIELDS_MAX * 8 + c->channel.len + c->topic.len +
                  c->text.len + c->data.len;
    if (ps__buf_reserve(b, most, 0) < 0)
        return -1;
    uint8_t *head = b->data + b->len, *p = head + 4;
    *p++ = c->cmd;
    for (const field *f = l->fields; f->kind != F_END; f++) {
        switch (f->kind) {
        case F_U8: *p++ = *AT_C(c, f, uint8_t); break;
        case F_U16: p = w16(p, *AT_C(c, f, uint16_t)); break;
        case F_U32: p = w32(p, *AT_C(c, f, uint32_t)); break;
        case F_U64: p = w64(p, *AT_C(c, f, uint64_t)); break;
        case F_MAGIC: p = w16(p, PS_WIRE_MAGIC); break;
        /* Towards the broker the id is the delivery tag, back out the corr. */
        case F_ID: p = w64(p, c->tag ? c->tag : c->corr); break;
        case F_STR: {
            const ps__slice *s = AT_C(c, f, ps__slice);
            if (s->len > f->max) {
                errno = EINVAL; /* nothing is kept: b->len has not moved */
                return -1;
            }
            p = w16(p, (uint16_t)s->len);
            if (s->len)
                memcpy(p, s->ptr, s->len);
            p += s->len;
            break;
        }
        case F_BINS: /* the count, then the payloads (or integers) as they are */
        case F_U64S: {
            const ps__slice *s = AT_C(c, f, ps__slice);
            if (c->count < 1 || c->count > PS_WIRE_BATCH_MAX) {
                errno = EINVAL;
                return -1;
            }
            if (f->kind == F_U64S && s->len != (size_t)c->count * 8) {
                errno = EINVAL;
                return -1;
            }
            p = w32(p, c->count);
            if (s->len)
                memcpy(p, s->ptr, s->len);
            p += s->len;
            break;
        }
        default: { /* F_BIN */
            const ps__slice *s = AT_C(c, f, ps__slice);
            p = w32(p, (uint32_t)s->len);
            if (s->len)
                memcpy(p, s->ptr, s->len);
            p += s->len;
        }
        }
    }
    size_t body = (size_t)(p - head) - 4;
    if (body > UINT32_MAX) {
        errno = EINVAL;
        return -1;
    }
    w32(head, (uint32_t)body);
    b->len += 4 + body;
    return 0;
}

void ps__reader_init(ps__reader *r, const void *data, size_t size)
{
    r->pos = data;
    r->end = r->pos + size;
}

static uint16_t r16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t r32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t r64(const uint8_t *p)
{
    return (uint64_t)r32(p) << 32 | r32(p + 4);
}

int ps__wire_next(ps__reader *r, ps__cmd *c)
{
    memset(c, 0, sizeof *c);
    if (r->pos == r->end)
        return 0;
    const uint8_t *p = r->pos, *end;
    const layout *l;
    if (r->end - p < PS_WIRE_RECORD_HEAD)
        goto malformed;
    uint32_t len = r32(p);
    p += 4;
    if (len < 1 || (size_t)(r->end - p) < len)
        goto malformed;
    end = p + len; /* the record's own end: fields may not run past it */
    c->cmd = *p++;
    if (!(l = records[c->cmd]))
        goto malformed;
    for (const field *f = l->fields; f->kind != F_END; f++) {
        size_t avail = (size_t)(end - p), n;
        switch (f->kind) {
        case F_U8:
            if (avail < 1)
                goto malformed;
            *AT(c, f, uint8_t) = *p++;
            break;
        case F_U16:
        case F_MAGIC:
            if (avail < 2)
                goto malformed;
            if (f->kind == F_MAGIC && r16(p) != PS_WIRE_MAGIC)
                goto malformed;
            if (f->kind == F_U16)
                *AT(c, f, uint16_t) = r16(p);
            p += 2;
            break;
        case F_U32:
            if (avail < 4)
                goto malformed;
            *AT(c, f, uint32_t) = r32(p);
            p += 4;
            break;
        case F_U64:
        case F_ID:
            if (avail < 8)
                goto malformed;
            if (f->kind == F_ID)
                c->tag = c->corr = r64(p); /* the same field, named by direction */
            else
                *AT(c, f, uint64_t) = r64(p);
            p += 8;
            break;
        case F_STR:
            if (avail < 2 || (n = r16(p)) > f->max || avail - 2 < n)
                goto malformed;
            AT(c, f, ps__slice)->ptr = (const char *)p + 2;
            AT(c, f, ps__slice)->len = n;
            p += 2 + n;
            break;
        case F_BINS: {
            /* Every length is checked against the record's end here, so
             * that ps__wire_batch_next can trust them. */
            const uint8_t *q = p + 4;
            if (avail < 4 || (n = r32(p)) < 1 || n > PS_WIRE_BATCH_MAX || n > (avail - 4) / 4)
                goto malformed;
            c->count = (uint32_t)n;
            while (n--) {
                size_t left = (size_t)(end - q);
                if (left < 4 || left - 4 < r32(q))
                    goto malformed;
                q += 4 + r32(q);
            }
            AT(c, f, ps__slice)->ptr = (const char *)p + 4;
            AT(c, f, ps__slice)->len = (size_t)(q - p) - 4;
            p = q;
            break;
        }
        case F_U64S:
            /* Exactly count integers: nothing may follow them. */
            if (avail < 4 || (n = r32(p)) < 1 || n > PS_WIRE_BATCH_MAX || avail - 4 != n * 8)
                goto malformed;
            c->count = (uint32_t)n;
            AT(c, f, ps__slice)->ptr = (const char *)p + 4;
            AT(c, f, ps__slice)->len = n * 8;
            p += 4 + n * 8;
            break;
        default: /* F_BIN */
            if (avail < 4 || avail - 4 < (n = r32(p)))
                goto malformed;
            AT(c, f, ps__slice)->ptr = (const char *)p + 4;
            AT(c, f, ps__slice)->len = n;
            p += 4 + n;
            break;
        }
    }
    if (p != end)
        goto malformed;
    r->pos = end;
    return 1;

malformed:
    r->pos = r->end; /* nothing after a bad record can be trusted */
    memset(c, 0, sizeof *c);
    errno = EPROTO;
    return -1;
}

int ps__wire_batch_next(ps__slice *rest, ps__slice *payload)
{
    const uint8_t *p = (const uint8_t *)rest->ptr;
    if (rest->len < 4 || rest->len - 4 < r32(p))
        return 0;
    payload->ptr = (const char *)p + 4;
    payload->len = r32(p);
    rest->ptr += 4 + payload->len;
    rest->len -= 4 + payload->len;
    return 1;
}

/* Appends n:u32 byte{n} to the record at rec that ends b, counted in its
 * length (and in its count at count_at, unless that is 0). */
static int batch_append(ps__buf *b, size_t rec, size_t count_at, const void *data, size_t n)
{
    /* Asked for every payload batched: the buffer is grown only when short. */
    if (b->cap - b->len < 4 + n && ps__buf_reserve(b, 4 + n, 0) < 0)
        return -1;
    uint8_t *p = w32(b->data + b->len, (uint32_t)n);
    if (n)
        memcpy(p, data, n);
    b->len += 4 + n;
    w32(b->data + rec, r32(b->data + rec) + 4 + (uint32_t)n);
    if (count_at)
        w32(b->data + count_at, r32(b->data + count_at) + 1);
    return 0;
}

/* Whether the str field at p holds s: a short one byte by byte, since
 * this runs for every message batched and a call of memcmp costs more
 * than a channel name's few bytes. */
static int same_str(const uint8_t *p, const ps__slice *s)
{
    if (r16(p) != s->len)
        return 0;
    if (s->len > 16)
        return memcmp(p + 2, s->ptr, s->len) == 0;
    for (size_t i = 0; i < s->len; i++)
        if (p[2 + i] != (uint8_t)s->ptr[i])
            return 0;
    return 1;
}

/* The offset of the count of the batch record at rec, the last of b,
 * when c may join it; else 0.  The record is one this codec wrote, so
 * its fields are walked without bounds checks beyond its own length. */
static size_t batch_joins(const ps__buf *b, size_t rec, const ps__cmd *c)
{
    if (rec == SIZE_MAX || rec > b->len || b->len - rec < PS_WIRE_RECORD_HEAD)
        return 0;
    const uint8_t *head = b->data + rec, *p = head + PS_WIRE_RECORD_HEAD;
    size_t len = r32(head);
    if (len != b->len - rec - 4 || head[4] != c->cmd ||
        4 + len + 4 + c->data.len > PS_WIRE_BATCH_BYTES)
        return 0;
    uint64_t seq = 0;
    int has_seq = 0;
    for (const field *f = records[c->cmd]->fields; f->kind != F_BINS; f++) {
        switch (f->kind) {
        case F_U8:
            if (*p++ != *AT_C(c, f, uint8_t))
                return 0;
            break;
        case F_U64:
            if (f->member == M(seq)) {
                seq = r64(p); /* compared once the count is known */
                has_seq = 1;
            } else if (r64(p) != *AT_C(c, f, uint64_t)) {
                return 0;
            }
            p += 8;
            break;
        case F_STR: {
            const ps__slice *s = AT_C(c, f, ps__slice);
            if (!same_str(p, s))
                return 0;
            p += 2 + s->len;
            break;
        }
        default:
            return 0; /* no batch record has other fields before its payloads */
        }
    }
    uint32_t count = r32(p);
    if (count >= PS_WIRE_BATCH_MAX || (has_seq && seq + count != c->seq))
        return 0;
    return (size_t)(p - b->data);
}

int ps__wire_batch_add(ps__buf *b, size_t *rec, const ps__cmd *c)
{
    const layout *l = records[c->cmd];
    if (!l || c->data.len > UINT32_MAX - 8) {
        errno = EINVAL;
        return -1;
    }
    size_t count_at = batch_joins(b, *rec, c);
    if (count_at)
        return batch_append(b, *rec, count_at, c->data.ptr, c->data.len);
    /* A new record: its head and a count of 1, then the payload. */
    ps__cmd first = *c;
    first.count = 1;
    first.data = (ps__slice){"", 0};
    size_t at = b->len;
    if (ps__wire_put(b, &first) < 0)
        return -1;
    if (batch_append(b, at, 0, c->data.ptr, c->data.len) < 0) {
        b->len = at;
        return -1;
    }
    *rec = at;
    return 0;
}

size_t ps__wire_batch_count_at(const ps__buf *b, size_t rec)
{
    const uint8_t *p = b->data + rec + PS_WIRE_RECORD_HEAD;
    for (const field *f = records[b->data[rec + 4]]->fields; f->kind != F_BINS; f++)
        p += f->kind == F_STR ? 2 + (size_t)r16(p) : fixed_size(f->kind);
    return (size_t)(p - b->data);
}

int ps__wire_batch_grow(ps__buf *b, size_t rec, size_t count_at, const void *data, size_t n)
{
    if (r32(b->data + count_at) >= PS_WIRE_BATCH_MAX ||
        4 + (size_t)r32(b->data + rec) + 4 + n > PS_WIRE_BATCH_BYTES)
        return 1;
    return batch_append(b, rec, count_at, data, n);
}

uint64_t ps__wire_tag(const ps__cmd *c, uint32_t i)
{
    return r64((const uint8_t *)c->data.ptr + (size_t)i * 8);
}

int ps__wire_tag_add(ps__buf *b, size_t *rec, uint64_t tag)
{
    uint8_t *head = *rec != SIZE_MAX && *rec <= b->len && b->len - *rec >= PS_WIRE_RECORD_HEAD + 4
                        ? b->data + *rec
                        : NULL;
    if (head && head[4] == PS_CMD_ACK_BATCH && r32(head) == b->len - *rec - 4 &&
        r32(head + PS_WIRE_RECORD_HEAD) < PS_WIRE_BATCH_MAX) {
        if (ps__buf_reserve(b, 8, 0) < 0)
            return -1;
        head = b->data + *rec; /* the buffer may have moved */
        w64(b->data + b->len, tag);
        b->len += 8;
        w32(head, r32(head) + 8);
        w32(head + PS_WIRE_RECORD_HEAD, r32(head + PS_WIRE_RECORD_HEAD) + 1);
        return 0;
    }
    uint8_t one[8];
    w64(one, tag);
    ps__cmd c = {.cmd = PS_CMD_ACK_BATCH, .count = 1, .data = {(const char *)one, 8}};
    size_t at = b->len;
    if (ps__wire_put(b, &c) < 0)
        return -1;
    *rec = at;
    return 0;
}

size_t ps__wire_frame(const void *data, size_t len, size_t max)
{
    const uint8_t *base = data;
    size_t end = 0;
    while (len - end >= 4) {
        size_t rec = 4 + (size_t)r32(base + end);
        if (rec > len - end || (end > 0 && end + rec > max))
            break;
        end += rec;
    }
    return end;
}

const char *ps__wire_cmd_name(uint8_t cmd)
{
    return records[cmd] ? records[cmd]->name : "?";
}

int ps__wire_grammar(uint8_t cmd, char *out, size_t cap)
{
    static const char *const kinds[] = {
        [F_U8] = "u8", [F_U16] = "u16", [F_U32] = "u32", [F_U64] = "u64",
        [F_STR] = "str", [F_BIN] = "bin", [F_MAGIC] = "u16", [F_ID] = "u64", [F_BINS] = "bins",
        [F_U64S] = "u64s"};
    const layout *l = records[cmd];
    if (!l || cap < 1) {
        errno = EINVAL;
        return -1;
    }
    int n = snprintf(out, cap, "%s =%s", l->name, l->fields[0].kind == F_END ? " (empty)" : "");
    for (const field *f = l->fields; f->kind != F_END && n >= 0 && (size_t)n < cap; f++)
        n += snprintf(out + n, cap - (size_t)n, " %s:%s", f->name, kinds[f->kind]);
    if (n < 0 || (size_t)n >= cap) {
        errno = ENOSPC;
        return -1;
    }
    return n;
}

const char *ps__wire_err_text(uint16_t code)
{
    switch (code) {
    case PS_WERR_PROTOCOL: return "malformed command";
    case PS_WERR_VERSION: return "protocol version not supported";
    case PS_WERR_NOCHANNEL: return "unknown channel";
    case PS_WERR_WRONGTYPE: return "wrong channel type";
    case PS_WERR_TOOLARGE: return "message too large";
    case PS_WERR_DENIED: return "not allowed";
    case PS_WERR_NORESP: return "no responders";
    case PS_WERR_FULL: return "queue full";
    case PS_WERR_SESSION: return "unknown session";
    case PS_WERR_LIMIT: return "limit reached";
    case PS_WERR_INVALID: return "invalid argument";
    default: return "unknown error";
    }
}

/* The bytes of a channel name, by value: asked for every byte of every
 * name published, so one load each instead of six comparisons. */
#define NAME_RANGE(a, b) [a ... b] = 1
static const uint8_t name_byte[256] = {
    NAME_RANGE('a', 'z'), NAME_RANGE('A', 'Z'), NAME_RANGE('0', '9'),
    ['_'] = 1, ['.'] = 1, ['-'] = 1};

int ps__wire_valid_channel(const char *s, size_t len)
{
    if (len < 1 || len > PS_WIRE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!name_byte[(uint8_t)s[i]])
            return 0;
    return 1;
}

int ps__wire_sys_channel(const char *s, size_t len)
{
    return len == sizeof PS_WIRE_SYS_CHANNEL - 1 && memcmp(s, PS_WIRE_SYS_CHANNEL, len) == 0;
}
