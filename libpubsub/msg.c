/*
 * msg.c - received messages.  A ps_msg is one allocation holding the
 * header, the channel and topic names and the payload, each followed by a
 * NUL byte so the application may treat text payloads as C strings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct ps_msg *ps__msg_new(const ps__slice *channel, const ps__slice *topic,
                           const ps__slice *data)
{
    size_t need = sizeof(struct ps_msg) + channel->len + 1 + topic->len + 1 + data->len + 1;
    struct ps_msg *m = malloc(need);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
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

void ps_msg_destroy(ps_msg **m)
{
    if (!m || !*m)
        return;
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
