/*
 * wire.c - encodes and decodes the records of the pubsub wire protocol.
 *
 * Grammar (all integers big-endian; see PROTOCOL.md for the meaning):
 *
 *   frame   = record+
 *   record  = len:u32 cmd:u8 body          ; len counts cmd and body
 *   str     = n:u16 byte{n}
 *   bin     = n:u32 byte{n}
 *   HELLO       = magic:u16 major:u8 minor:u8 heartbeat:u32 name:str
 *   WELCOME     = major:u8 minor:u8 broker:u64 epoch:u64 heartbeat:u32 max:u32
 *   BYE, HEARTBEAT = (empty)
 *   PING, PONG  = corr:u64
 *   ERROR       = corr:u64 code:u16 text:str
 *   OK          = corr:u64 value:u32
 *   PUBLISH     = corr:u64 flags:u8 timeout:u32 channel:str topic:str data:bin
 *   RESULT      = corr:u64 confirmed:u32 expected:u32
 *   SUBSCRIBE   = corr:u64 flags:u8 window:u32 channel:str pattern:str
 *   UNSUBSCRIBE = corr:u64 channel:str pattern:str
 *   DELIVER     = flags:u8 seq:u64 tag:u64 channel:str topic:str data:bin
 *   GAP         = channel:str dropped:u64
 *   ACK         = tag:u64
 *   REQUEST     = corr:u64 timeout:u32 channel:str topic:str data:bin
 *   REPLY       = id:u64 status:u8 data:bin   ; id = tag c->b, corr b->c
 *   DONE        = corr:u64 replied:u32 expected:u32
 *   ADMIN       = corr:u64 verb:str
 *   ADMIN_REPLY = corr:u64 json:bin
 *
 * A record must be consumed exactly: fields that end before or after its
 * length make the frame malformed, so no two decoders can disagree.
 */
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Writers: the caller reserved the room, so they cannot fail. */
static uint8_t *w8(uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

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

static uint8_t *wstr(uint8_t *p, ps__slice s)
{
    p = w16(p, (uint16_t)s.len);
    if (s.len)
        memcpy(p, s.ptr, s.len);
    return p + s.len;
}

static uint8_t *wbin(uint8_t *p, ps__slice s)
{
    p = w32(p, (uint32_t)s.len);
    if (s.len)
        memcpy(p, s.ptr, s.len);
    return p + s.len;
}

/* The body size of c (after the u32 length), or 0 for an unknown command. */
static size_t body_size(const ps__cmd *c)
{
    switch (c->cmd) {
    case PS_CMD_HELLO: return 1 + 2 + 1 + 1 + 4 + 2 + c->text.len;
    case PS_CMD_WELCOME: return 1 + 1 + 1 + 8 + 8 + 4 + 4;
    case PS_CMD_BYE:
    case PS_CMD_HEARTBEAT: return 1;
    case PS_CMD_PING:
    case PS_CMD_PONG: return 1 + 8;
    case PS_CMD_ERROR: return 1 + 8 + 2 + 2 + c->text.len;
    case PS_CMD_OK: return 1 + 8 + 4;
    case PS_CMD_PUBLISH:
        return 1 + 8 + 1 + 4 + 2 + c->channel.len + 2 + c->topic.len + 4 + c->data.len;
    case PS_CMD_RESULT:
    case PS_CMD_DONE: return 1 + 8 + 4 + 4;
    case PS_CMD_SUBSCRIBE:
        return 1 + 8 + 1 + 4 + 2 + c->channel.len + 2 + c->topic.len;
    case PS_CMD_UNSUBSCRIBE: return 1 + 8 + 2 + c->channel.len + 2 + c->topic.len;
    case PS_CMD_DELIVER:
        return 1 + 1 + 8 + 8 + 2 + c->channel.len + 2 + c->topic.len + 4 + c->data.len;
    case PS_CMD_GAP: return 1 + 2 + c->channel.len + 8;
    case PS_CMD_ACK: return 1 + 8;
    case PS_CMD_REQUEST:
        return 1 + 8 + 4 + 2 + c->channel.len + 2 + c->topic.len + 4 + c->data.len;
    case PS_CMD_REPLY: return 1 + 8 + 1 + 4 + c->data.len;
    case PS_CMD_ADMIN: return 1 + 8 + 2 + c->text.len;
    case PS_CMD_ADMIN_REPLY: return 1 + 8 + 4 + c->data.len;
    default: return 0;
    }
}

size_t ps__wire_size(const ps__cmd *c)
{
    return 4 + body_size(c);
}

int ps__wire_put(ps__buf *b, const ps__cmd *c)
{
    size_t body = body_size(c);
    if (body == 0 || body > UINT32_MAX || c->channel.len > PS_WIRE_NAME_MAX ||
        c->topic.len > PS_WIRE_TOPIC_MAX || c->text.len > PS_WIRE_TEXT_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (ps__buf_reserve(b, 4 + body, 0) < 0)
        return -1;
    uint8_t *p = b->data + b->len;
    p = w32(p, (uint32_t)body);
    p = w8(p, c->cmd);
    switch (c->cmd) {
    case PS_CMD_HELLO:
        p = w16(p, PS_WIRE_MAGIC);
        p = w8(p, c->major);
        p = w8(p, c->minor);
        p = w32(p, c->heartbeat_ms);
        p = wstr(p, c->text);
        break;
    case PS_CMD_WELCOME:
        p = w8(p, c->major);
        p = w8(p, c->minor);
        p = w64(p, c->broker_id);
        p = w64(p, c->epoch);
        p = w32(p, c->heartbeat_ms);
        p = w32(p, c->max_size);
        break;
    case PS_CMD_BYE:
    case PS_CMD_HEARTBEAT:
        break;
    case PS_CMD_PING:
    case PS_CMD_PONG:
        p = w64(p, c->corr);
        break;
    case PS_CMD_ERROR:
        p = w64(p, c->corr);
        p = w16(p, c->code);
        p = wstr(p, c->text);
        break;
    case PS_CMD_OK:
        p = w64(p, c->corr);
        p = w32(p, c->count);
        break;
    case PS_CMD_PUBLISH:
        p = w64(p, c->corr);
        p = w8(p, c->flags);
        p = w32(p, c->timeout_ms);
        p = wstr(p, c->channel);
        p = wstr(p, c->topic);
        p = wbin(p, c->data);
        break;
    case PS_CMD_RESULT:
    case PS_CMD_DONE:
        p = w64(p, c->corr);
        p = w32(p, c->count);
        p = w32(p, c->expected);
        break;
    case PS_CMD_SUBSCRIBE:
        p = w64(p, c->corr);
        p = w8(p, c->flags);
        p = w32(p, c->window);
        p = wstr(p, c->channel);
        p = wstr(p, c->topic);
        break;
    case PS_CMD_UNSUBSCRIBE:
        p = w64(p, c->corr);
        p = wstr(p, c->channel);
        p = wstr(p, c->topic);
        break;
    case PS_CMD_DELIVER:
        p = w8(p, c->flags);
        p = w64(p, c->seq);
        p = w64(p, c->tag);
        p = wstr(p, c->channel);
        p = wstr(p, c->topic);
        p = wbin(p, c->data);
        break;
    case PS_CMD_GAP:
        p = wstr(p, c->channel);
        p = w64(p, c->dropped);
        break;
    case PS_CMD_ACK:
        p = w64(p, c->tag);
        break;
    case PS_CMD_REQUEST:
        p = w64(p, c->corr);
        p = w32(p, c->timeout_ms);
        p = wstr(p, c->channel);
        p = wstr(p, c->topic);
        p = wbin(p, c->data);
        break;
    case PS_CMD_REPLY:
        /* Towards the broker the id is the delivery tag, back out the corr. */
        p = w64(p, c->tag ? c->tag : c->corr);
        p = w8(p, c->status);
        p = wbin(p, c->data);
        break;
    case PS_CMD_ADMIN:
        p = w64(p, c->corr);
        p = wstr(p, c->text);
        break;
    case PS_CMD_ADMIN_REPLY:
        p = w64(p, c->corr);
        p = wbin(p, c->data);
        break;
    }
    b->len = (size_t)(p - b->data);
    return 0;
}

void ps__reader_init(ps__reader *r, const void *data, size_t size)
{
    r->pos = data;
    r->end = r->pos + size;
}

/*
 * Bounds-checked readers over [*p, end).  Each jumps to the caller's
 * malformed label through the macro below when the field does not fit.
 */
#define NEED(n)                                                                \
    do {                                                                       \
        if ((size_t)(end - p) < (size_t)(n))                                   \
            goto malformed;                                                    \
    } while (0)
#define R8(v)                                                                  \
    do {                                                                       \
        NEED(1);                                                               \
        (v) = p[0];                                                            \
        p += 1;                                                                \
    } while (0)
#define R16(v)                                                                 \
    do {                                                                       \
        NEED(2);                                                               \
        (v) = (uint16_t)((p[0] << 8) | p[1]);                                  \
        p += 2;                                                                \
    } while (0)
#define R32(v)                                                                 \
    do {                                                                       \
        NEED(4);                                                               \
        (v) = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |                \
              ((uint32_t)p[2] << 8) | p[3];                                    \
        p += 4;                                                                \
    } while (0)
#define R64(v)                                                                 \
    do {                                                                       \
        uint32_t hi_, lo_;                                                     \
        R32(hi_);                                                              \
        R32(lo_);                                                              \
        (v) = ((uint64_t)hi_ << 32) | lo_;                                     \
    } while (0)
#define RSTR(s, max)                                                           \
    do {                                                                       \
        uint16_t n_;                                                           \
        R16(n_);                                                               \
        if (n_ > (max))                                                        \
            goto malformed;                                                    \
        NEED(n_);                                                              \
        (s).ptr = (const char *)p;                                             \
        (s).len = n_;                                                          \
        p += n_;                                                               \
    } while (0)
#define RBIN(s)                                                                \
    do {                                                                       \
        uint32_t n_;                                                           \
        R32(n_);                                                               \
        NEED(n_);                                                              \
        (s).ptr = (const char *)p;                                             \
        (s).len = n_;                                                          \
        p += n_;                                                               \
    } while (0)

int ps__wire_next(ps__reader *r, ps__cmd *c)
{
    memset(c, 0, sizeof *c);
    if (r->pos == r->end)
        return 0;
    const uint8_t *p = r->pos, *end = r->end;
    uint32_t len;
    uint16_t magic;
    R32(len);
    if (len < 1)
        goto malformed;
    NEED(len);
    end = p + len; /* the record's own end: fields may not run past it */
    R8(c->cmd);
    switch (c->cmd) {
    case PS_CMD_HELLO:
        R16(magic);
        if (magic != PS_WIRE_MAGIC)
            goto malformed;
        R8(c->major);
        R8(c->minor);
        R32(c->heartbeat_ms);
        RSTR(c->text, PS_WIRE_TEXT_MAX);
        break;
    case PS_CMD_WELCOME:
        R8(c->major);
        R8(c->minor);
        R64(c->broker_id);
        R64(c->epoch);
        R32(c->heartbeat_ms);
        R32(c->max_size);
        break;
    case PS_CMD_BYE:
    case PS_CMD_HEARTBEAT:
        break;
    case PS_CMD_PING:
    case PS_CMD_PONG:
        R64(c->corr);
        break;
    case PS_CMD_ERROR:
        R64(c->corr);
        R16(c->code);
        RSTR(c->text, PS_WIRE_TEXT_MAX);
        break;
    case PS_CMD_OK:
        R64(c->corr);
        R32(c->count);
        break;
    case PS_CMD_PUBLISH:
        R64(c->corr);
        R8(c->flags);
        R32(c->timeout_ms);
        RSTR(c->channel, PS_WIRE_NAME_MAX);
        RSTR(c->topic, PS_WIRE_TOPIC_MAX);
        RBIN(c->data);
        break;
    case PS_CMD_RESULT:
    case PS_CMD_DONE:
        R64(c->corr);
        R32(c->count);
        R32(c->expected);
        break;
    case PS_CMD_SUBSCRIBE:
        R64(c->corr);
        R8(c->flags);
        R32(c->window);
        RSTR(c->channel, PS_WIRE_NAME_MAX);
        RSTR(c->topic, PS_WIRE_TOPIC_MAX);
        break;
    case PS_CMD_UNSUBSCRIBE:
        R64(c->corr);
        RSTR(c->channel, PS_WIRE_NAME_MAX);
        RSTR(c->topic, PS_WIRE_TOPIC_MAX);
        break;
    case PS_CMD_DELIVER:
        R8(c->flags);
        R64(c->seq);
        R64(c->tag);
        RSTR(c->channel, PS_WIRE_NAME_MAX);
        RSTR(c->topic, PS_WIRE_TOPIC_MAX);
        RBIN(c->data);
        break;
    case PS_CMD_GAP:
        RSTR(c->channel, PS_WIRE_NAME_MAX);
        R64(c->dropped);
        break;
    case PS_CMD_ACK:
        R64(c->tag);
        break;
    case PS_CMD_REQUEST:
        R64(c->corr);
        R32(c->timeout_ms);
        RSTR(c->channel, PS_WIRE_NAME_MAX);
        RSTR(c->topic, PS_WIRE_TOPIC_MAX);
        RBIN(c->data);
        break;
    case PS_CMD_REPLY:
        R64(c->tag);
        c->corr = c->tag; /* the same field, named by direction */
        R8(c->status);
        RBIN(c->data);
        break;
    case PS_CMD_ADMIN:
        R64(c->corr);
        RSTR(c->text, PS_WIRE_TEXT_MAX);
        break;
    case PS_CMD_ADMIN_REPLY:
        R64(c->corr);
        RBIN(c->data);
        break;
    default:
        goto malformed;
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

const char *ps__wire_cmd_name(uint8_t cmd)
{
    switch (cmd) {
    case PS_CMD_HELLO: return "HELLO";
    case PS_CMD_WELCOME: return "WELCOME";
    case PS_CMD_BYE: return "BYE";
    case PS_CMD_HEARTBEAT: return "HEARTBEAT";
    case PS_CMD_PING: return "PING";
    case PS_CMD_PONG: return "PONG";
    case PS_CMD_ERROR: return "ERROR";
    case PS_CMD_OK: return "OK";
    case PS_CMD_PUBLISH: return "PUBLISH";
    case PS_CMD_RESULT: return "RESULT";
    case PS_CMD_SUBSCRIBE: return "SUBSCRIBE";
    case PS_CMD_UNSUBSCRIBE: return "UNSUBSCRIBE";
    case PS_CMD_DELIVER: return "DELIVER";
    case PS_CMD_GAP: return "GAP";
    case PS_CMD_ACK: return "ACK";
    case PS_CMD_REQUEST: return "REQUEST";
    case PS_CMD_REPLY: return "REPLY";
    case PS_CMD_DONE: return "DONE";
    case PS_CMD_ADMIN: return "ADMIN";
    case PS_CMD_ADMIN_REPLY: return "ADMIN_REPLY";
    default: return "?";
    }
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

int ps__wire_valid_channel(const char *s, size_t len)
{
    if (len < 1 || len > PS_WIRE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}
