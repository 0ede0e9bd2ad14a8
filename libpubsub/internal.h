/*
 * internal.h - what the files of libpubsub share and the application must
 * not see: the layout of options and messages, and the mapping from the
 * broker's error codes to errno values.  The connection is in layers of
 * its own: session.h (the protocol, no I/O) under io.h (threads, socket)
 * under api.c (pubsub.h); docs/library.md draws them.
 */
#ifndef PS_INTERNAL_H
#define PS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "pubsub.h"
#include "wire.h"

/* Options for ps_connect(), filled by ps_opts_set_*(). */
struct ps_opts {
    int timeout_ms;           /* connect and handshake timeout */
    int heartbeat_ms;         /* heartbeat interval we ask for */
    int heartbeat_timeout_ms; /* broker silence that means it is gone */
    int window;               /* queue messages in flight per subscription */
    int confirm_window;       /* PS_CONFIRM/PS_SYNC publishes a ps_publish lets be
                               * unanswered before it waits; 0 for no bound */
    int pause_wait_ms;        /* how long ps_publish waits while the broker holds our
                               * publishes (PAUSE); -1: no bound */
    int reconnect;            /* 1: reconnect and resubscribe after a loss */
    int minor;                /* the protocol minor our HELLO says: PS_WIRE_MINOR, or less
                               * from PUBSUB_PROTOCOL_MINOR (to test an older client) */
    char *name;               /* client name, or NULL */
    char *curve_server_key;   /* broker's public key (Z85), or NULL */
    char *curve_public_key;   /* our public key (Z85), or NULL */
    char *curve_secret_key;   /* our secret key (Z85), or NULL */
    ps_trace_fn trace;        /* ps_opts_set_trace: called for every step, or NULL */
    void *trace_arg;          /* its argument, the caller's */
};

/* Fills o with the defaults (the strings NULL). */
void ps__opts_defaults(struct ps_opts *o);

/* A block of memory that many small received messages are carved from
 * (msg.c). */
typedef struct ps__msg_block ps__msg_block;

/* One received message, reply or request; one piece of memory holds it
 * all: an allocation of its own, or a part of a block. */
struct ps_msg {
    STAILQ_ENTRY(ps_msg) link; /* in the receive queue, or a request's replies */
    ps__msg_block *block; /* the block it was carved from, NULL when allocated alone */
    char *channel;       /* NUL-terminated, inside this allocation */
    char *topic;         /* NUL-terminated, "" when none */
    uint8_t *data;       /* payload, followed by a NUL byte */
    size_t size;         /* payload length */
    uint64_t seq;        /* channel sequence number */
    uint64_t broker_id;  /* id of the broker that delivered it */
    uint64_t epoch;      /* that broker's epoch when it delivered it */
    uint64_t tag;        /* broker's handle for ACK and REPLY */
    uint64_t gap;        /* messages missed just before this one */
    uint8_t flags;       /* PS_WIRE_RETAINED, RECEIPT, REQUEST, ... */
    uint8_t status;      /* replies: 0 ok, else error */
};

/*
 * A new message copied from the slices of a decoded record, carved from
 * the block *pool when it is small (a new block replaces a full one; pool
 * NULL: allocated alone).  Returns NULL with ENOMEM.  Free with
 * ps_msg_destroy(), from any thread.
 */
struct ps_msg *ps__msg_new(ps__msg_block **pool, const ps__slice *channel,
                           const ps__slice *topic, const ps__slice *data);

/* Where the last message of a run of one channel and topic has its
 * names, so that the next, carved from the same block, shares them. */
typedef struct {
    ps__msg_block *block; /* the block they are in; NULL: none to share */
    char *channel;        /* the names, NUL-terminated, inside block */
    char *topic;
} ps__msg_names;

/*
 * ps__msg_new for the next message of a run (the same channel and topic
 * as the message that set *names, which starts zeroed): while the pool is
 * still the block that holds the names, the message is carved there
 * without copies of its own, else it is made by ps__msg_new and *names
 * set to it.  Any change of the pool goes through the latter, so *names
 * never names a block that was freed.
 */
struct ps_msg *ps__msg_new_run(ps__msg_block **pool, ps__msg_names *names,
                               const ps__slice *channel, const ps__slice *topic,
                               const ps__slice *data);

/* Lets go of the block *pool (it is freed with the last message carved
 * from it) and sets *pool to NULL. */
void ps__msg_pool_release(ps__msg_block **pool);

/* The errno value a broker error code (PS_WERR_*) stands for. */
int ps__errno_from_wire(uint16_t code);

/* Remembers text as this thread's ps_errmsg() ("" clears it). */
void ps__set_errmsg(const char *text, size_t len);
/* Forgets this thread's ps_errmsg(): every public call that can fail
 * starts with it, so that the text of an earlier failure is never taken
 * for the reason of a later one the library found itself. */
void ps__clear_errmsg(void);

/* trace.c: the events of ps_opts_set_trace().  Callers check o->trace
 * first, so an untraced client pays one test per call site. */
/* Reports one command at step type (PS_EV_HANDED, SENT, RECEIVED). */
void ps__trace_cmd(const struct ps_opts *o, int type, const ps__cmd *cmd);
/* Reports every record in the encoded bytes data[0..size) at step type. */
void ps__trace_records(const struct ps_opts *o, int type, const void *data, size_t size);
/* Reports a step without a command (PS_EV_CONNECT, PS_EV_LOST) with text. */
void ps__trace_note(const struct ps_opts *o, int type, const char *text);

#endif
