/*
 * io.h - the moving parts of one connection: the client's threads, locks,
 * eventfds, its ZeroMQ socket and the socket's handshake monitor.  io.c
 * feeds the session (session.h) the records it reads and the time, sends
 * the bytes the session queues and carries out the effects it reports.
 * api.c, the public layer, builds commands and reads answers through the
 * functions below; docs/library.md tells how the threads share the socket.
 */
#ifndef PS_IO_H
#define PS_IO_H

#include <pthread.h>
#include <stdint.h>

#include "internal.h"
#include "session.h"

struct ps_client {
    pthread_mutex_t io_lock;/* the socket's owner; taken before lock, never after */
    pthread_mutex_t lock;   /* guards s and everything below up to "io_lock holder only" */
    pthread_cond_t cv_op;   /* an op finished or the state changed */
    pthread_cond_t cv_recv; /* the receive queue got a message */
    pthread_cond_t cv_space;/* the send queue has room again */
    struct ps_opts opts;    /* our copy of the options */
    char *endpoint;         /* broker endpoint */
    ps__session s;          /* the protocol's state (its sending fields: io_lock holder) */
    int stopping;           /* ps_close was called */
    int wake_pending;       /* wake_fd was written and not yet read */
    int reader;             /* an application thread waits as the socket's reader */
    int64_t reader_until;   /* ms: the I/O thread leaves the input alone until then */
    int reader_waits;       /* the reader found io_lock taken: its holder kicks it on letting go */
    int input_quiet;        /* the last io_settle left no input in the socket: its descriptor
                               signals the next arrival, so a new reader may sleep at once */
    int fd_wanted;          /* ps_fd was called: recv_fd follows the receive queue from then on */
    /* Set at connect, then only read: */
    void *ctx;              /* our own ZeroMQ context */
    pthread_t thread;       /* the I/O thread */
    int thread_started;     /* thread must be joined */
    int wake_fd;            /* eventfd: application -> I/O thread */
    int kick_fd;            /* eventfd: -> the application thread that is the reader */
    int grace_fd;           /* timerfd: READER_GRACE_MS after the last reader left */
    int recv_fd;            /* eventfd: readable while messages wait (ps_fd) */
    /* io_lock holder only: */
    void *sock;             /* DEALER connected to the broker */
    int sock_fd;            /* its ZMQ_FD; changed with both locks held, so lock suffices to read it */
    void *mon;              /* PAIR receiving sock's handshake failures (I/O thread only) */
    int mon_fd;             /* its ZMQ_FD */
    unsigned n_sockets;     /* sockets opened so far, naming their monitors */
};

/*
 * Makes a client for endpoint with a copy of opts (NULL: defaults),
 * starts its I/O thread and waits for the handshake.  Returns the client
 * or NULL with errno (see ps_connect).
 */
ps_client *ps__io_connect(const char *endpoint, const ps_opts *opts);

/* Stops the I/O thread (BYE, a short linger) and frees c. */
void ps__io_close(ps_client *c);

/* The monotonic time in ms deadline_ms from now, or -1 for timeout_ms < 0. */
int64_t ps__io_deadline(int timeout_ms);

/* Carries out the effects the session reported.  Lock held. */
void ps__io_apply(ps_client *c);

/* The descriptor of ps_fd, kept readable while messages wait from now on
 * (until the first call nobody polls it, and nothing writes it). */
int ps__io_fd(ps_client *c);

/* How ps__io_submit sends, its direct argument. */
#define PS_IO_QUEUE 0  /* the I/O thread sends it with the next batch */
#define PS_IO_DIRECT 1 /* the calling thread sends it when the socket is free */
#define PS_IO_NOW 2    /* the calling thread sends it, waiting for the socket if need be */
#define PS_IO_HOLD 3   /* it waits in the send queue for whatever is sent next */

/*
 * Queues cmd (see ps__session_submit for o and confirm), waiting while
 * the send queue is full.  With direct (PS_IO_DIRECT: a call that will
 * wait for its answer, or a reply: batching them would only add latency;
 * PS_IO_NOW: an acknowledgement that must leave before the caller goes
 * on) the calling thread sends it itself.  Lock held.  Returns 0, or -1
 * with errno.
 */
int ps__io_submit_locked(ps_client *c, ps__cmd *cmd, ps__op *o, int confirm, int direct);

/* The same, taking the lock. */
int ps__io_submit(ps_client *c, ps__cmd *cmd, ps__op *o, int confirm, int direct);

/*
 * Queues cmd, a PS_CONFIRM or PS_SYNC publish, as ps__io_submit does
 * (the I/O thread sends it), after waiting while the client's confirm
 * window is full (ps__session_window_full): up to timeout_ms, reading
 * the answers as the socket's reader.  Returns 0, or -1 with errno:
 * ETIMEDOUT when the window stayed full (cmd was not queued), the
 * session's error when it died.
 */
int ps__io_submit_confirmed(ps_client *c, ps__cmd *cmd, int timeout_ms);

/* Sends what the send queue holds from the calling thread, waiting for
 * the socket if need be (held acknowledgements that must leave now).
 * Lock held. */
void ps__io_send_now(ps_client *c);

/*
 * Sends cmd as a call of kind (about sub, which the op takes) and waits up
 * to timeout_ms for its answer.  Returns the answered op (the caller frees
 * it) or NULL with errno; a refusal by the broker is NULL with its errno
 * and its text in ps_errmsg().
 */
ps__op *ps__io_call(ps_client *c, ps__cmd *cmd, enum ps__op_kind kind, int timeout_ms,
                    ps__sub *sub);

/* What a waiting call waits for; true when it is there.  Lock held. */
typedef int ps__wait_fn(const ps_client *c, const void *arg);

/*
 * Waits until done(c, arg) holds, the session is dead or deadline passes
 * (ETIMEDOUT; else 0).  The first thread to wait reads the socket itself;
 * the others wait on cv for what it reads.  Lock held.
 */
int ps__io_wait(ps_client *c, pthread_cond_t *cv, int64_t deadline, ps__wait_fn *done,
                const void *arg);

#endif
