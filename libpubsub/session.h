/*
 * session.h - the protocol side of one connection to brokerd, without any
 * I/O: records in, state changes and effects out.  The session knows the
 * HELLO/WELCOME handshake, the heartbeat deadlines, which waiting call
 * (an "op") an answer belongs to, the count of PS_CONFIRM publishes not
 * yet answered, the subscriptions to make again after a reconnect, the
 * receive queue and what a lost session means for the work in flight.
 *
 * It owns no thread, socket, eventfd or clock: the caller (io.c) passes
 * the time in, hands it each decoded record, sends the bytes it queues
 * and carries out the effects it reports (PS_FX_*: wake these waiters,
 * send now, ...) after every call.  It is not thread-safe; io.c calls it
 * with the client's lock held, except where a function says otherwise.
 * That is what lets tests/unit/test_session.c drive it without a broker.
 * A new kind of record (the cluster protocol's, say) is one more case in
 * ps__session_record and, if it answers a call, one more PS_OP_* kind.
 */
#ifndef PS_SESSION_H
#define PS_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "buf.h"
#include "internal.h"
#include "wire.h"

/*
 * The memory one connection holds, and the heap a process keeps for it.
 * A client's working set is bounded: the application's send queue and the
 * batch being sent (PS_LIB_OUT_MAX each) and the received messages
 * waiting for ps_recv (PS_LIB_RQ_HIGH, beyond which the session stops
 * reading).  glibc gives the free top of a heap back to the kernel once
 * it passes 128 KiB, so a stream whose buffers fill and drain paid a page
 * fault for every 4 KiB it touched again: a plain program publishing and
 * receiving in a loop ran at a third of its speed, and its rounds varied
 * by 2x.  ps_connect therefore has glibc keep PS_LIB_HEAP_KEEP free (more
 * than one client's working set), and take blocks of up to
 * PS_LIB_HEAP_MMAP_FROM from the heap, the state glibc's own dynamic
 * threshold reaches once a block of that size was freed (io.c,
 * steady_heap).  Larger bounds made the working set outgrow any kept heap:
 * 16 MiB to send and 64 MiB received faulted 300,000 times in 3 million
 * messages where 2 and 4 MiB faulted 50,000 times.  Smaller still was
 * faster again, since every page a short-lived process touches first is
 * a fault too: 1 MiB and 512 KiB against 2 and 4 MiB took the fan-out
 * to 10 subscribers from 460-490 to 710-750 k msg/s and 4->1 from 2.4
 * to 3.1 M msg/s; a quarter of these gained nothing more.  A message
 * larger than a bound still goes: the bounds stop reading or block a
 * publisher only once something is waiting.
 */
#define PS_LIB_OUT_MAX (1u << 20)              /* bytes the application may queue to send */
#define PS_LIB_RQ_HIGH (512u << 10)            /* received bytes waiting before reading stops */
#define PS_LIB_HEAP_KEEP (8 << 20)             /* free heap glibc keeps (M_TRIM_THRESHOLD) */
#define PS_LIB_HEAP_MMAP_FROM (4 << 20)        /* blocks from this size up are mapped (M_MMAP_THRESHOLD) */

/* Where the session stands. */
enum ps__state {
    PS_SESSION_HANDSHAKE, /* HELLO sent, waiting for WELCOME */
    PS_SESSION_READY,     /* welcomed: commands flow */
    PS_SESSION_DEAD       /* over for good (no reconnect, refused, closed) */
};

/* What a waiting call asked for. */
enum ps__op_kind {
    PS_OP_PING,    /* ps_flush: PONG */
    PS_OP_SUB,     /* ps_subscribe: OK */
    PS_OP_UNSUB,   /* ps_unsubscribe: OK */
    PS_OP_SYNC,    /* ps_publish_sync: RESULT */
    PS_OP_REQUEST, /* a ticket: REPLY..., then DONE */
    PS_OP_ADMIN    /* ps_admin: ADMIN_REPLY */
};

/* Correlation ids of calls that wait for their answer carry this bit;
 * the ids of PS_CONFIRM publishes do not. */
#define PS_OP_BIT (UINT64_C(1) << 62)

/* Effects a session call asks its caller to carry out (ps__session_fx). */
#define PS_FX_WAKE 0x01    /* an answer came or the state changed: waiting calls look again */
#define PS_FX_RECV 0x02    /* the receive queue is no longer empty: ps_fd is readable */
#define PS_FX_DRAINED 0x04 /* the receive queue is empty: ps_fd is no longer readable */
#define PS_FX_SPACE 0x08   /* the send queue has room again */
#define PS_FX_SEND 0x10    /* queued records may go now: whoever sends must look */
#define PS_FX_LOST 0x20    /* the session was lost, for the reason in why */
#define PS_FX_DEAD 0x40    /* over for good: every waiter of every kind looks */

/* A subscription, kept so that it can be made again after a reconnect. */
typedef struct ps__sub {
    LIST_ENTRY(ps__sub) link; /* in the session's subs */
    char *channel;            /* channel name */
    char *pattern;            /* pattern as given ("#" for none) */
    uint8_t flags;            /* PS_WIRE_RESPONDER */
} ps__sub;

/* Messages dropped for us on a channel, to report with its next message. */
typedef struct ps__gap {
    LIST_ENTRY(ps__gap) link; /* in the session's gaps */
    uint64_t dropped;         /* messages missed */
    size_t len;               /* length of name */
    char name[];              /* channel name, not NUL-terminated */
} ps__gap;

/* A queue of messages, oldest first. */
STAILQ_HEAD(ps__msgq, ps_msg);

/* A call waiting for the broker's answer. */
typedef struct ps__op {
    LIST_ENTRY(ps__op) link;  /* in the session's ops, from submit to remove */
    uint64_t corr;            /* correlation id, with PS_OP_BIT */
    enum ps__op_kind kind;    /* what was asked */
    int done;                 /* the answer is complete */
    int err;                  /* errno of a failure, else 0 */
    char *errtext;            /* the broker's text for err, or NULL */
    uint32_t count;           /* OK value, RESULT confirmed, DONE replied */
    uint32_t expected;        /* RESULT and DONE expected */
    struct ps__msgq replies;  /* requests: replies not yet collected */
    char *json;               /* admin: the answer, NUL-terminated */
    ps__sub *sub;             /* PS_OP_SUB/UNSUB: the subscription concerned */
    uint64_t plain_mark;      /* plain publishes queued before this call: its answer says they were handled */
} ps__op;

/* The state of one connection's protocol. */
typedef struct ps__session {
    const struct ps_opts *opts; /* the client's options: heartbeat, windows, name, reconnect */
    enum ps__state state;       /* where the session stands */
    int conn_err;               /* errno for PS_SESSION_DEAD */
    int welcomed;               /* a WELCOME was ever received */
    int hs_closed;              /* handshakes cut off before the first WELCOME */
    int reopen;                 /* a fresh socket is needed before anything is read or sent */
    uint32_t max_size;          /* broker's max_message_size */
    uint64_t broker_id;         /* the broker's id, from its WELCOME */
    uint64_t epoch;             /* the broker's epoch (one per start), from its WELCOME */
    uint8_t broker_minor;       /* the protocol minor of the broker's WELCOME */
    unsigned notes;             /* PS_NOTE_* the broker sent since ps_notes last took them */
    char note_channel[PS_WIRE_NAME_MAX + 1]; /* the channel of the first of those notes */
    unsigned fx;                /* PS_FX_* not yet taken by ps__session_fx */
    const char *why;            /* PS_FX_LOST: why, a static text */
    ps__buf out;                /* records the application queued, not yet taken */
    uint64_t out_max_op;        /* highest op corr inside out */
    size_t batch_at;            /* offset in out of the PUBLISH_BATCH that the next plain
                                 * publish may join, SIZE_MAX for none (ps__wire_batch_add) */
    size_t batch_end;           /* out.len after its last payload: while out still ends
                                 * there, a publish of the same key joins it without the
                                 * codec comparing its fields (submit_batched) */
    size_t batch_count_at;      /* offset in out of that batch's count */
    uint8_t batch_flags;        /* the key of that batch: its flags, */
    uint16_t batch_channel_len; /* channel */
    char batch_channel[PS_WIRE_NAME_MAX];
    uint16_t batch_topic_len;   /* and topic */
    char batch_topic[PS_WIRE_TOPIC_MAX];
    size_t ack_at;              /* offset in out of the ACK_BATCH that the next ACK may
                                 * join, SIZE_MAX for none (ps__wire_tag_add) */
    uint32_t acks_out;          /* ACKs in out: held there while the application reads on */
    int held;                   /* 1.4: the broker said PAUSE (a queue is full): out's records
                                 * wait for RESUME but ACKs and REPLYs (ps__session_take) */
    size_t held_scan;           /* while held: out[0..held_scan) holds only records that wait */
    char held_channel[PS_WIRE_NAME_MAX + 1]; /* the full queue PAUSE named, for the error */
    ps__buf sending;            /* records taken from out, being sent (io_lock holder) */
    size_t sending_off;         /* bytes of sending already sent (io_lock holder) */
    uint64_t sent_max_op;       /* highest op corr taken for sending */
    ps__buf urgent;             /* HELLO, HEARTBEAT, BYE: to send at once, before sending */
    uint64_t next_corr;         /* last correlation id handed out */
    LIST_HEAD(, ps__op) ops;    /* calls waiting for an answer */
    uint64_t unconfirmed;       /* PS_CONFIRM/PS_SYNC publishes not yet answered */
    uint64_t plain_queued;      /* plain publishes (no confirm) ever queued */
    uint64_t plain_taken;       /* ... of them taken for sending */
    uint64_t plain_handled;     /* ... of them known handled or already reported lost */
    int async_err;              /* first refusal since the last ps_flush */
    char *async_text;           /* its text, or NULL */
    struct ps__msgq rq;         /* received messages for ps_recv */
    ps__msg_block *pool;        /* the block small deliveries are carved from (msg.c) */
    size_t rq_bytes;            /* payload bytes (and a little per message) in rq */
    int paused;                 /* rq is over its high mark: the socket is not read */
    LIST_HEAD(, ps__sub) subs;  /* active subscriptions */
    LIST_HEAD(, ps__gap) gaps;  /* gaps not yet attached to a message */
    uint64_t dropped;           /* messages dropped for us since ps_dropped */
    int64_t last_in;            /* ms: last frame from the broker */
    int64_t last_out;           /* ms: last frame to the broker (written by the io_lock holder) */
    int64_t hello_at;           /* ms: last HELLO queued */
} ps__session;

/* How a security handshake failed, as the socket's monitor saw it. */
enum ps__hs {
    PS_HS_REFUSED,   /* the broker refused our key or user, for good */
    PS_HS_MECHANISM, /* the broker speaks another security mechanism */
    PS_HS_PROTOCOL,  /* the security handshake failed otherwise */
    PS_HS_CLOSED     /* the broker closed the connection during the handshake */
};

/* Starts a session at time now (ms) with HELLO queued in urgent.  o must
 * outlive it. */
void ps__session_init(ps__session *s, const struct ps_opts *o, int64_t now);

/* Frees what the session holds: ops, messages, subscriptions, buffers. */
void ps__session_free(ps__session *s);

/* The effects (PS_FX_*) reported since the last call, and forgets them. */
unsigned ps__session_fx(ps__session *s);

/* The errno of a dead session (EHOSTUNREACH unless it says otherwise). */
int ps__session_err(const ps__session *s);

/* True while the socket's input may be read: not dead, not about to be
 * replaced, and the receive queue has room. */
int ps__session_input_open(const ps__session *s);

/* Sending --------------------------------------------------------------- */

/* True when cmd, need bytes, would take the send queue over its bound
 * and must wait.  While the broker holds our publishes (PAUSE), the
 * ACKs and REPLYs that still go never wait for room: the queue full of
 * held publishes may be waiting for just those acknowledgements. */
int ps__session_full(const ps__session *s, const ps__cmd *cmd, size_t need);

/*
 * True when a PS_CONFIRM or PS_SYNC publish must wait before it is queued:
 * the client's confirm window (PS_OPT_CONFIRM_WINDOW) is set and that
 * many such publishes are unanswered.  A lost session answers them all
 * (the next ps_flush reports them), so the window opens again with it.
 */
int ps__session_window_full(const ps__session *s);

/*
 * Queues cmd.  With o, cmd gets o's correlation id and o joins the
 * waiting calls; with confirm, cmd gets a plain correlation id counted as
 * unconfirmed.  Returns 0, or -1 with errno (the session's error when it
 * is dead; EINVAL or ENOMEM from the codec).
 */
int ps__session_submit(ps__session *s, ps__cmd *cmd, ps__op *o, int confirm);

/* Moves the queued records into sending when the session is ready and
 * the previous batch is gone.  While the broker holds our publishes
 * (PAUSE, 1.4) only ACKs, ACK_BATCHes and REPLYs are taken, as the broker
 * handles those ahead of a parked publisher's records too; the rest keeps
 * its order in out until RESUME.  Returns 1 when it took something. */
int ps__session_take(ps__session *s);

/* A frame went to the broker at now.  Called by the io_lock holder, with
 * or without the lock. */
void ps__session_sent(ps__session *s, int64_t now);

/* Queues BYE in urgent when there is a session to end. */
void ps__session_bye(ps__session *s);

/* Receiving ------------------------------------------------------------- */

/* Handles one record from the broker, at time now. */
void ps__session_record(ps__session *s, const ps__cmd *cmd, int64_t now);

/* Frames arrived at now: the broker is alive. */
void ps__session_received(ps__session *s, int64_t now);

/* A frame from the broker was malformed: reported by the next ps_flush. */
void ps__session_malformed(ps__session *s);

/* The socket's monitor saw a security handshake fail. */
void ps__session_handshake_failed(ps__session *s, enum ps__hs what);

/* The socket's monitor saw the connection to the broker break at now:
 * a ready session is lost, and its socket replaced, so that nothing still
 * in the old socket's pipe reaches a new connection before its HELLO. */
void ps__session_disconnected(ps__session *s, int64_t now);

/* Takes the oldest received message (NULL when none), owned by the caller. */
ps_msg *ps__session_recv(ps__session *s);

/* Messages dropped for us since the last call. */
uint64_t ps__session_dropped(ps__session *s);

/* The notes of NOTICE records since the last call (PS_NOTE_*), the channel
 * of the first copied into channel[cap] (cap 0: not wanted); forgets them. */
unsigned ps__session_notes(ps__session *s, char *channel, size_t cap);

/* Takes the first refusal since the last call: its errno (0: none) and
 * its text in *text (NULL or a string the caller frees). */
int ps__session_take_error(ps__session *s, char **text);

/* Time and loss ---------------------------------------------------------- */

/*
 * The heartbeat timers at now: queues HEARTBEAT when nothing was sent for
 * a heartbeat interval, loses a session whose broker fell silent, and
 * knocks again on a fresh socket when a HELLO went unanswered.
 */
void ps__session_tick(ps__session *s, int64_t now);

/* The ms from now until the timers need to run again (at least 1, at most
 * a heartbeat interval), once what the last tick queued was sent. */
int64_t ps__session_next_tick(const ps__session *s, int64_t now);

/* The fresh socket that reopen asked for is there (err 0: HELLO queued)
 * or could not be made (err: the session is dead with it). */
void ps__session_reopened(ps__session *s, int64_t now, int err);

/* The connection is over (ps_close, or a client that never got its
 * WELCOME): dead, and every waiting call fails. */
void ps__session_end(ps__session *s);

/* Calls ------------------------------------------------------------------ */

/* A new call of kind about sub (NULL, or freed with the op; freed here
 * when there is no memory).  NULL with ENOMEM. */
ps__op *ps__op_new(enum ps__op_kind kind, ps__sub *sub);

/* Frees o and whatever it still holds.  o must not be in a session. */
void ps__op_free(ps__op *o);

/* The waiting call with correlation id corr, or NULL. */
ps__op *ps__session_op(ps__session *s, uint64_t corr);

/* Takes o out of the waiting calls (it was submitted). */
void ps__session_op_remove(ps__session *s, ps__op *o);

/* Takes the oldest reply collected for a request, or NULL. */
ps_msg *ps__op_reply(ps__op *o);

/* A subscription record, or NULL (ENOMEM). */
ps__sub *ps__sub_new(const char *channel, const char *pattern, uint8_t flags);

#endif
