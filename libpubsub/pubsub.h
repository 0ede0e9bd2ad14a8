/*
 * pubsub.h - the client library of the pubsub message broker.
 *
 * A ps_client is one connection to brokerd.  It publishes to channels,
 * subscribes to them, sends requests and answers them.  Channels are of
 * three types fixed by the broker: queue (each message to one receiver),
 * broadcast (each message to every receiver) and pubsub (topics matched
 * against MQTT-style patterns, with retained last values).
 *
 * Error convention (libzmq's): functions return 0 or a count on success
 * and -1 with errno set on failure; those returning a pointer return NULL
 * with errno set.  Besides the system's errno values the library uses the
 * PS_E* codes below; ps_strerror() describes both.  The library never
 * prints and never exits.
 *
 * Threads: one ps_client may be used by any number of threads at once.
 * Each client has an I/O thread of its own; its ZeroMQ socket is used by
 * one thread at a time.  A call that waits for an answer (ps_request,
 * ps_publish_sync, ps_flush, ps_subscribe, ps_recv, ...) does its own
 * I/O: it sends its command itself when the socket is free and reads the
 * socket while it waits, which spares two thread wake-ups per round trip.
 * The I/O thread sends what the other calls queue (messages queued while
 * a send is in flight go out together in one batch), reads when nobody
 * waits, keeps the heartbeat and reconnects.
 *
 * Link with `pkg-config --cflags --libs libpubsub`.
 */
#ifndef PUBSUB_H
#define PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions the shared library exports; the rest stays hidden. */
#if defined(PS_BUILDING_LIB) && defined(__GNUC__)
#define PS_EXPORT __attribute__((visibility("default")))
#else
#define PS_EXPORT
#endif

#define PS_VERSION_MAJOR 1
#define PS_VERSION_MINOR 0
#define PS_VERSION_PATCH 0

#define PS_DEFAULT_ENDPOINT "tcp://127.0.0.1:5242"

/* Library error codes, chosen far above the system's errno values. */
#define PS_EHAUSNUMERO 0x50530000
#define PS_ENORESP (PS_EHAUSNUMERO + 1)   /* no responders / receivers attached */
#define PS_EVERSION (PS_EHAUSNUMERO + 2)  /* broker speaks another protocol major */
#define PS_EREPLY (PS_EHAUSNUMERO + 3)    /* the responder answered with an error */
#define PS_EPARTIAL (PS_EHAUSNUMERO + 4)  /* sync: fewer receivers confirmed than attached */
/*
 * Refusals by the broker arrive as these system codes:
 *   ENOENT      unknown channel (auto_create = "none")
 *   EPROTOTYPE  the operation does not fit the channel's type
 *   EMSGSIZE    payload above the broker's max_message_size
 *   EACCES      not allowed
 *   ENOBUFS     queue full or another configured limit reached
 *   EINVAL      bad channel name, topic or pattern
 *   EPROTO      malformed traffic
 * and failures to reach it as EHOSTUNREACH (no broker answered) and
 * ETIMEDOUT (no answer in time).
 */

/* Flags for ps_publish(). */
#define PS_RETAIN 0x01  /* pubsub: keep as the topic's last value; empty clears */
#define PS_CONFIRM 0x02 /* ask the broker to confirm it has taken the message */
#define PS_SYNC 0x04    /* receivers confirm (kind 2), reported by ps_flush */
#define PS_STRICT 0x08  /* refuse instead of creating the channel or reaching nobody */
/* Flags for ps_subscribe(). */
#define PS_RESPONDER 0x01 /* this subscription answers requests too */

typedef struct ps_client ps_client; /* a connection to a broker */
typedef struct ps_opts ps_opts;     /* options for ps_connect() */
typedef struct ps_msg ps_msg;       /* one received message or reply */

/* Options ------------------------------------------------------------- */

/* Option names for ps_opts_set_int() and ps_opts_set_str(). */
enum {
    PS_OPT_TIMEOUT_MS = 1,      /* int: connect/handshake timeout, default 3000 */
    PS_OPT_HEARTBEAT_MS,        /* int: heartbeat interval, default 1000 */
    PS_OPT_HEARTBEAT_TIMEOUT_MS,/* int: broker silent this long = dead, default 3000 */
    PS_OPT_WINDOW,              /* int: queue messages in flight per subscription, default 100 */
    PS_OPT_RECONNECT,           /* int: 1 (default) reconnect and resubscribe after loss */
    PS_OPT_NAME,                /* str: client name shown by `pctl clients` */
    PS_OPT_CURVE_SERVER_KEY,    /* str: broker's public key, Z85 (40 chars) */
    PS_OPT_CURVE_PUBLIC_KEY,    /* str: our public key, Z85 */
    PS_OPT_CURVE_SECRET_KEY,    /* str: our secret key, Z85 */
    PS_OPT_CONFIRM_WINDOW,      /* int: confirmed publishes unanswered before ps_publish
                                 * waits, default 0 (no bound); see ps_publish() */
    PS_OPT_PAUSE_WAIT_MS        /* int: how long ps_publish waits while the broker has
                                 * paused us for a full queue, default 5000, -1: no bound */
};

/* Returns new default options, owned by the caller, or NULL (ENOMEM). */
PS_EXPORT ps_opts *ps_opts_new(void);
/* Frees *o (NULL allowed) and sets *o = NULL. */
PS_EXPORT void ps_opts_destroy(ps_opts **o);
/* Sets an integer option.  Returns 0, or -1 with EINVAL. */
PS_EXPORT int ps_opts_set_int(ps_opts *o, int opt, int value);
/* Sets a string option; the string is copied.  Returns 0, or -1 (EINVAL). */
PS_EXPORT int ps_opts_set_str(ps_opts *o, int opt, const char *value);

/* Connection ---------------------------------------------------------- */

/*
 * Connects to the broker at endpoint ("tcp://host:port" or "ipc:///path";
 * NULL means PS_DEFAULT_ENDPOINT) and completes the handshake.  opts may be
 * NULL; it is only read, the caller keeps it.  Returns a client owned by
 * the caller (free with ps_close), or NULL with errno EHOSTUNREACH (no
 * broker answered within the timeout), PS_EVERSION, EINVAL or ENOMEM;
 * EACCES when the broker refused our CURVE key or our user (at once, not
 * after the timeout); ECONNREFUSED when the security handshake failed (a
 * broker requiring CURVE, or a wrong PS_OPT_CURVE_SERVER_KEY).  ps_errmsg()
 * then says which.  A session refused later (EACCES) is over for good.
 *
 * The first ps_connect of a process asks glibc to keep up to 8 MiB of free
 * heap and to take blocks below 4 MiB from the heap (mallopt
 * M_TRIM_THRESHOLD, M_MMAP_THRESHOLD): a client's buffers are bounded
 * (1 MiB to send and 512 KiB received, and beneath each a pipe of
 * libzmq's of 64 frames, 64 KiB each unless one message is larger), and
 * a heap given back and faulted in again after every burst cost a
 * stream two thirds of its speed.  These
 * apply to every malloc arena of the process (glibc makes up to eight per
 * core for its threads): each may keep up to 8 MiB free.  The settings of
 * a mallopt the program made before its first ps_connect are replaced.  A
 * program that tunes malloc itself keeps its choice with PUBSUB_HEAP=system,
 * GLIBC_TUNABLES naming a glibc.malloc tunable, or MALLOC_TRIM_THRESHOLD_,
 * MALLOC_MMAP_THRESHOLD_ or MALLOC_TOP_PAD_ in the environment (malloc is
 * then left alone), or by its own mallopt after ps_connect.
 */
PS_EXPORT ps_client *ps_connect(const char *endpoint, const ps_opts *opts);

/*
 * Says goodbye to the broker (so unacknowledged queue messages are
 * redelivered at once), stops the I/O thread and frees *c.  Accepts NULL
 * and sets *c = NULL.  Messages not yet sent are sent within a short
 * linger; call ps_flush() first to be sure they arrived.  No other call on
 * the same client may be in progress, in any thread, or follow it.
 */
PS_EXPORT void ps_close(ps_client **c);

/*
 * A file descriptor that becomes readable when ps_recv() has a message
 * (an eventfd owned by the client: poll it, do not read or close it).
 */
PS_EXPORT int ps_fd(ps_client *c);

/* Message kind (1): async message --------------------------------------- */

/*
 * Publishes size bytes of data (NULL allowed when size is 0) to channel;
 * topic is required on pubsub channels and ignored on others (NULL = "").
 * Returns 0 once the message is in the client's send buffer (it blocks
 * only while that buffer is full; while the broker has paused the client
 * for a full queue with overflow = "block", only its ACKs and replies
 * leave that buffer, so it fills and this blocks until the queue has
 * room, at most PS_OPT_PAUSE_WAIT_MS (5 s by default; then it fails with
 * ETIMEDOUT and the message is not queued, so that a client consuming
 * the full queue it publishes to gets its turn to acknowledge)).  With
 * PS_CONFIRM the broker confirms
 * the message; ps_flush() waits for those confirmations.  A refusal of an
 * async message is reported by the next ps_flush().  Fails at once with
 * EMSGSIZE above the broker's limit or EINVAL for a bad name.
 *
 * PS_SYNC makes it a sync message without waiting for it: its receivers
 * confirm it as with ps_publish_sync(), and the next ps_flush() fails with
 * PS_ENORESP, PS_EPARTIAL or ETIMEDOUT if any such message since the last
 * flush was not confirmed by all of its receivers.  This keeps a window of
 * sync messages in flight (flush every N messages); the broker waits up to
 * 5 s for the receipts of each.
 *
 * PS_OPT_CONFIRM_WINDOW N (N > 0) makes that window slide: a PS_CONFIRM or
 * PS_SYNC publish waits, before it is queued, while N of them are still
 * unanswered, and goes as soon as one answer comes, so the publisher never
 * holds more than N in flight yet never waits for the pipeline to drain
 * as a flush every N messages does (a durable queue's publisher keeps the
 * broker's writes and fsyncs busy).  A durable publish is answered once a
 * sync of the disk covers it, so N bounds the rate at about N per sync
 * time: on the bench's machine 1000 made 0.5-0.65 M msg/s, 4000 (nats.go's
 * default for JetStream) about 1 M.  Both flags count together because the
 * broker answers both, each once.  The waiting thread reads the answers
 * itself.  The wait ends when the connection is lost (the unanswered ones
 * then fail the next ps_flush with EHOSTUNREACH, as without a window;
 * without PS_OPT_RECONNECT this publish fails with it at once) and
 * lasts at most as long as ps_publish_sync waits for an answer by default
 * (5 s and PS_OPT_HEARTBEAT_TIMEOUT_MS + 1 s beyond): then ps_publish
 * fails with ETIMEDOUT and the message was not queued.  A refusal of a
 * publish answered meanwhile is still reported by the next ps_flush.  The
 * default, 0, bounds nothing: only the send buffer blocks.
 */
PS_EXPORT int ps_publish(ps_client *c, const char *channel, const char *topic,
               const void *data, size_t size, int flags);

/*
 * The sync point: waits until every command sent before it has been
 * handled by the broker and every PS_CONFIRM confirmation has arrived.
 * Returns 0, or -1 with the errno of the first refusal since the last
 * ps_flush (ENOENT, EPROTOTYPE, ...), ETIMEDOUT, or EHOSTUNREACH when the
 * connection was lost meanwhile with PS_CONFIRM publishes unanswered or
 * with plain publishes sent that no answer of the broker covered (they
 * may be lost; ps_errmsg() says how many at most).  Plain publishes still
 * queued when the connection was lost go in the next session, which sends
 * nothing before the broker answered its HELLO.
 */
PS_EXPORT int ps_flush(ps_client *c, int timeout_ms);

/* Message kind (2): sync message ---------------------------------------- */

/*
 * Publishes one message and waits until its receivers have it: on a
 * queue, until a consumer acknowledged it; on broadcast and pubsub, until
 * every receiver attached at publish time confirmed receipt.  Returns the
 * number of receivers that confirmed (>= 1) when all did.  Otherwise -1
 * with errno PS_ENORESP (nobody attached; not on queues, which wait),
 * PS_EPARTIAL (some confirmed) or ETIMEDOUT (none in time; a queue keeps
 * the message), and *confirmed / *expected (either may be NULL) hold the
 * counts.  flags as for ps_publish().
 */
PS_EXPORT int ps_publish_sync(ps_client *c, const char *channel, const char *topic,
                    const void *data, size_t size, int flags, int timeout_ms,
                    unsigned *confirmed, unsigned *expected);

/* Requests: kind (3) async and kind (4) sync ------------------------------ */

/*
 * Sends a request and returns at once with a ticket (> 0), or -1 with
 * errno.  On a queue one responder answers; on broadcast every responder
 * (a survey); on pubsub every responder whose pattern matches topic.  The
 * broker waits timeout_ms for the replies.  Collect them with
 * ps_request_wait(); release the ticket with ps_request_end().
 */
PS_EXPORT int64_t ps_request_async(ps_client *c, const char *channel, const char *topic,
                         const void *data, size_t size, int timeout_ms);

/*
 * Returns the next reply to ticket, owned by the caller (ps_msg_destroy),
 * or NULL with errno ENOMSG (all replies were returned; the ticket is
 * finished), PS_ENORESP (no responder was attached, or every one went
 * away before it replied: ps_errmsg() says which), ETIMEDOUT (no more
 * replies came in time), ENOENT (unknown ticket) or EHOSTUNREACH.
 * A reply whose ps_msg_status() is nonzero carries an error text.
 */
PS_EXPORT ps_msg *ps_request_wait(ps_client *c, int64_t ticket, int timeout_ms);

/* Forgets ticket and any replies not collected.  Accepts unknown tickets. */
PS_EXPORT void ps_request_end(ps_client *c, int64_t ticket);

/*
 * Kind (4), RPC: sends a request and waits for the first reply, which it
 * stores in *reply (owned by the caller).  Returns 0; or -1 with errno
 * PS_ENORESP, ETIMEDOUT, PS_EREPLY (the responder failed: *reply holds
 * its error text) or a refusal code.  Later survey replies are dropped.
 */
PS_EXPORT int ps_request(ps_client *c, const char *channel, const char *topic,
               const void *data, size_t size, int timeout_ms, ps_msg **reply);

/* Receiving ------------------------------------------------------------- */

/*
 * Attaches to channel and returns once the broker confirmed it, so no
 * message published afterwards is missed.  pattern: on pubsub an MQTT
 * topic filter ("a/+/c", "a/#"; NULL = "#"), ignored elsewhere.  On a
 * queue this makes the client a competing consumer with PS_OPT_WINDOW
 * unacknowledged messages at most.  With PS_RESPONDER the subscription
 * also receives requests (answer with ps_reply).  Retained values that
 * match are delivered first.  The client re-subscribes by itself after a
 * reconnect.  Returns 0, or -1 with errno (ENOENT, EINVAL, ETIMEDOUT...).
 */
PS_EXPORT int ps_subscribe(ps_client *c, const char *channel, const char *pattern, int flags);

/* Detaches a subscription made with the same channel and pattern. */
PS_EXPORT int ps_unsubscribe(ps_client *c, const char *channel, const char *pattern);

/*
 * Returns the next message, owned by the caller (ps_msg_destroy), waiting
 * up to timeout_ms (-1 forever, 0 not at all); NULL with errno ETIMEDOUT.
 * A message sent with sync delivery is confirmed to the broker here.
 * Queue messages must be acknowledged with ps_ack() once handled.
 */
PS_EXPORT ps_msg *ps_recv(ps_client *c, int timeout_ms);

/*
 * Acknowledges a queue message: the broker forgets it.  Until then it is
 * redelivered if this client goes away.  While more messages wait in the
 * receive queue the ACK waits with theirs (at most half the window) and
 * they leave together, in one record towards a broker of protocol 1.3,
 * when ps_recv takes the last of them; else it leaves at once, with
 * whatever else is queued.  An acknowledgement not yet sent when the
 * process is killed is lost, and there are never more of those than the
 * window, so a killed consumer may see again at most its window
 * (PS_OPT_WINDOW) of messages it had handled.  No-op for other messages.
 */
PS_EXPORT int ps_ack(ps_client *c, const ps_msg *m);

/*
 * Answers the request m (ps_msg_is_request) with size bytes of data.
 * status 0 is success; nonzero makes the requester fail with PS_EREPLY
 * and data as the error text.  m stays the caller's.
 */
PS_EXPORT int ps_reply(ps_client *c, const ps_msg *m, const void *data, size_t size, int status);

/*
 * Messages this client missed because it was too slow (the broker dropped
 * them), summed over all channels since the last call, and reset.
 */
PS_EXPORT uint64_t ps_dropped(ps_client *c);

/* What the broker noticed of this client's publishes (ps_notes). */
#define PS_NOTE_CREATED 0x01 /* a publish created its channel (the broker's auto_create) */
#define PS_NOTE_NOBODY 0x02  /* a publish reached no receiver (broadcast, pubsub) */

/*
 * What the broker noticed of this client's publishes (of every kind) that
 * the last ps_flush() covered: PS_NOTE_* ORed, 0 when nothing; and resets.
 * A mistyped channel name shows as PS_NOTE_CREATED | PS_NOTE_NOBODY.  The
 * broker tells them at the sync point, so they are known once ps_flush()
 * returned (with or without PS_CONFIRM), not before.  A queue message
 * waits for a consumer and a retained value for later subscribers: neither
 * is PS_NOTE_NOBODY.  The name of the channel of the first note is copied
 * into channel[cap] (NUL-terminated; cap 0: not wanted).  A broker older
 * than protocol 1.1 notices nothing.  PS_STRICT on ps_publish() or
 * ps_publish_sync() makes either a refusal instead, and then nothing is
 * published and no channel is created: ENOENT (the channel does not exist)
 * or PS_ENORESP (nobody would receive it), reported as any refusal (at
 * once for ps_publish_sync(), else by the next ps_flush()); ENOTSUP at
 * once from a broker older than 1.1, which would ignore it.
 */
PS_EXPORT unsigned ps_notes(ps_client *c, char *channel, size_t cap);

/* Administration ---------------------------------------------------------- */

/*
 * Asks the broker for "status", "channels", "clients" or "subscriptions",
 * or has it change a channel ("create NAME TYPE [OPTION]...", "delete
 * NAME", "purge NAME", "retained NAME PATTERN", "clear-retained NAME
 * PATTERN": docs/protocol.md, pctl(1)); stores a NUL-terminated JSON text
 * in *json (free() it).  Returns 0 or -1 (a refusal as for publishing).
 */
PS_EXPORT int ps_admin(ps_client *c, const char *verb, int timeout_ms, char **json);

/* Messages ---------------------------------------------------------------- */

/* Frees *m (NULL allowed) and sets *m = NULL. */
PS_EXPORT void ps_msg_destroy(ps_msg **m);
PS_EXPORT const char *ps_msg_channel(const ps_msg *m); /* NUL-terminated */
PS_EXPORT const char *ps_msg_topic(const ps_msg *m);   /* NUL-terminated, "" if none */
PS_EXPORT const void *ps_msg_data(const ps_msg *m);    /* payload bytes (also NUL-terminated) */
PS_EXPORT size_t ps_msg_size(const ps_msg *m);         /* payload length */
PS_EXPORT uint64_t ps_msg_seq(const ps_msg *m);        /* channel sequence number */
PS_EXPORT int ps_msg_is_request(const ps_msg *m);      /* answer with ps_reply() */
PS_EXPORT int ps_msg_is_retained(const ps_msg *m);     /* a retained value */
PS_EXPORT int ps_msg_is_redelivered(const ps_msg *m);  /* a queue message delivered again */
PS_EXPORT int ps_msg_status(const ps_msg *m);          /* replies: 0 ok, else error */
/* Messages missed just before this one on its channel (0 normally). */
PS_EXPORT uint64_t ps_msg_gap(const ps_msg *m);
/*
 * Who delivered the message: the broker's id and its epoch, as `pctl
 * status` shows them (a broker draws both at start); 0 for replies.  On
 * a durable queue a message keeps its ps_msg_seq() across broker restarts
 * (while the queue's store holds messages), and one recovered from the
 * store at start is flagged redelivered, since it may have been delivered
 * before: with the epoch, a receiver tells a crash's redelivery from a new
 * message with the same payload.
 */
PS_EXPORT uint64_t ps_msg_broker(const ps_msg *m);
PS_EXPORT uint64_t ps_msg_epoch(const ps_msg *m);

/* Tracing ------------------------------------------------------------------ */

/*
 * A trace shows each command on its way between the application and the
 * broker: handed to the library, sent, and what came back (confirms,
 * receipts, replies, deliveries).  It is meant for teaching and debugging
 * (`ppub --explain`); without a trace function the library does no extra
 * work at all.
 */

/* Steps a trace event reports (ps_event.type). */
enum {
    PS_EV_CONNECT = 1, /* a socket is connected to the broker (text: the endpoint) */
    PS_EV_HANDED,      /* a command was handed to the library (queued, or sent at once: SENT follows) */
    PS_EV_SENT,        /* a command was handed to ZeroMQ, on its way to the broker */
    PS_EV_RECEIVED,    /* a command arrived from the broker */
    PS_EV_LOST         /* the session was lost (text: why); the library reconnects */
};

/* Flags of a traced command (ps_event.flags). */
#define PS_EVF_RETAIN 0x01      /* PUBLISH: retained value; DELIVER: a retained value */
#define PS_EVF_CONFIRM 0x02     /* PUBLISH: publisher confirm asked */
#define PS_EVF_SYNC 0x04        /* PUBLISH: sync message; DELIVER: a receipt is wanted */
#define PS_EVF_REQUEST 0x08     /* DELIVER: a request, to answer with REPLY */
#define PS_EVF_QUEUED 0x10      /* DELIVER: a queue message, to acknowledge */
#define PS_EVF_REDELIVERED 0x20 /* DELIVER: delivered before to a consumer that went away */
#define PS_EVF_RESPONDER 0x40   /* SUBSCRIBE: the subscription answers requests */

/*
 * One step of one command.  Strings are not NUL-terminated (use the
 * lengths) and, like the event, valid only during the call.  Fields that
 * do not belong to the command are 0 or NULL.
 */
typedef struct ps_event {
    int type;                /* PS_EV_* */
    int64_t time_us;         /* when, CLOCK_MONOTONIC in microseconds */
    const char *command;     /* "PUBLISH", "DELIVER", "RESULT"...: NUL-terminated; NULL for CONNECT, LOST */
    uint64_t corr;           /* correlation id: an answer carries its question's (0 for none) */
    uint64_t tag;            /* the broker's handle of a delivery (DELIVER, ACK, REPLY to it) */
    uint64_t seq;            /* DELIVER: the channel's sequence number; GAP: messages dropped */
    unsigned flags;          /* PS_EVF_* */
    const char *channel;     /* channel name */
    size_t channel_len;      /* bytes in channel */
    const char *topic;       /* topic or pattern */
    size_t topic_len;        /* bytes in topic */
    size_t size;             /* payload bytes (a batch's: with 4 bytes of length each) */
    uint32_t count;          /* OK value, RESULT receivers that confirmed, DONE replies,
                              * messages in a PUBLISH_BATCH or DELIVER_BATCH */
    uint32_t expected;       /* RESULT receivers, DONE responders */
    int status;              /* REPLY: 0 success, else an error reply */
    int error;               /* ERROR: the errno value it stands for */
    const char *text;        /* ERROR text, CONNECT endpoint, LOST reason */
    size_t text_len;         /* bytes in text */
} ps_event;

/*
 * A trace function.  It is called from the application's threads and
 * from the client's I/O thread, with the client's lock held: it must be
 * quick and must not call the library for the same client.
 */
typedef void (*ps_trace_fn)(const ps_event *ev, void *arg);

/*
 * Makes clients connected with o call fn(ev, arg) for every step, from
 * the connect on (NULL fn: no trace, the default).  arg stays the
 * caller's and must outlive those clients.  Returns 0, or -1 (EINVAL).
 */
PS_EXPORT int ps_opts_set_trace(ps_opts *o, ps_trace_fn fn, void *arg);

/* Misc -------------------------------------------------------------------- */

/* Describes errno values and PS_E* codes.  Never NULL. */
PS_EXPORT const char *ps_strerror(int errnum);

/*
 * The broker's own sentence for the calling thread's last failed call
 * ("queue 'jobs' is full (100000 messages)"), or NULL when the failure did
 * not come from the broker: a call that fails for a reason of the
 * library's own (EINVAL, ETIMEDOUT, ...) after one the broker refused
 * leaves NULL, not the older sentence.  c may be NULL, as after a failed
 * ps_connect (the text is kept per thread).  Valid until the thread's
 * next call.
 */
PS_EXPORT const char *ps_errmsg(ps_client *c);

/* The library version as "1.0.0". */
PS_EXPORT const char *ps_version(void);

#ifdef __cplusplus
}
#endif
#endif
