/*
 * trace.c - the events of ps_opts_set_trace(): what happened to each
 * command, in the application's terms rather than the wire's.
 *
 * io.c calls in here at the few places where a command changes hands
 * (handed to the library, handed to ZeroMQ, arrived from the broker) and
 * where the session starts or is lost, always behind a test of the trace
 * function, so a client without a trace does no more than that test.  This
 * file turns a decoded record into a ps_event: the wire's per-command
 * flags become the PS_EVF_* of pubsub.h and an ERROR's code becomes the
 * errno value the application would see.
 */
#include <string.h>
#include <time.h>

#include "internal.h"

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The PS_EVF_* of a record's wire flags, which mean something else per command. */
static unsigned event_flags(const ps__cmd *cmd)
{
    unsigned f = 0, w = cmd->flags;
    switch (cmd->cmd) {
    case PS_CMD_PUBLISH:
        f |= (w & PS_WIRE_RETAIN) ? PS_EVF_RETAIN : 0;
        f |= (w & PS_WIRE_CONFIRM) ? PS_EVF_CONFIRM : 0;
        f |= (w & PS_WIRE_SYNC) ? PS_EVF_SYNC : 0;
        break;
    case PS_CMD_DELIVER:
    case PS_CMD_DELIVER_BATCH:
        f |= (w & PS_WIRE_RETAINED) ? PS_EVF_RETAIN : 0;
        f |= (w & PS_WIRE_RECEIPT) ? PS_EVF_SYNC : 0;
        f |= (w & PS_WIRE_REQUEST) ? PS_EVF_REQUEST : 0;
        f |= (w & PS_WIRE_QUEUED) ? PS_EVF_QUEUED : 0;
        f |= (w & PS_WIRE_REDELIVERED) ? PS_EVF_REDELIVERED : 0;
        break;
    case PS_CMD_SUBSCRIBE:
        f |= (w & PS_WIRE_RESPONDER) ? PS_EVF_RESPONDER : 0;
        break;
    default:
        break;
    }
    return f;
}

void ps__trace_cmd(const struct ps_opts *o, int type, const ps__cmd *cmd)
{
    ps_event ev = {
        .type = type,
        .time_us = now_us(),
        .command = ps__wire_cmd_name(cmd->cmd),
        .corr = cmd->corr,
        .tag = cmd->tag,
        .seq = cmd->cmd == PS_CMD_GAP ? cmd->dropped : cmd->seq,
        .flags = event_flags(cmd),
        .channel = cmd->channel.len ? cmd->channel.ptr : NULL,
        .channel_len = cmd->channel.len,
        .topic = cmd->topic.len ? cmd->topic.ptr : NULL,
        .topic_len = cmd->topic.len,
        .size = cmd->data.len,
        .count = cmd->count,
        .expected = cmd->expected,
        .status = cmd->status,
        .error = cmd->cmd == PS_CMD_ERROR ? ps__errno_from_wire(cmd->code) : 0,
        .text = cmd->text.len ? cmd->text.ptr : NULL,
        .text_len = cmd->text.len,
    };
    o->trace(&ev, o->trace_arg);
}

void ps__trace_records(const struct ps_opts *o, int type, const void *data, size_t size)
{
    ps__reader r;
    ps__cmd cmd;
    ps__reader_init(&r, data, size);
    while (ps__wire_next(&r, &cmd) == 1)
        ps__trace_cmd(o, type, &cmd);
}

void ps__trace_note(const struct ps_opts *o, int type, const char *text)
{
    ps_event ev = {.type = type, .time_us = now_us(), .text = text,
                   .text_len = text ? strlen(text) : 0};
    o->trace(&ev, o->trace_arg);
}
