/*
 * repl.h - the seam between the broker and a Raft library.
 *
 * A replica is one member of a Raft group with configured voters.  The
 * caller proposes entries and learns, through an eventfd its loop polls,
 * when each was committed (on disk on a majority) or refused, and when
 * the leader or the term changed.  The state machine the group
 * replicates is the caller's: three callbacks apply each committed entry
 * in log order, take a snapshot of that state and restore one.  Nothing
 * here names the library: repl_raft.c implements it over canonical's
 * libraft (Debian's 0.15), and a newer library (cowsql/raft, or another)
 * can replace that file without touching a caller.  docs/replication.md
 * says how durable queues will use it.
 *
 * Threads: the library runs in a thread of its own.  repl_open,
 * repl_propose, repl_poll, repl_status and repl_close are called from
 * one thread (the caller's, the broker's loop); the state machine's
 * callbacks run on the replication thread, so the state they touch must
 * be the replication thread's own or guarded.  Errors follow the
 * broker's setup convention: repl_open logs and returns NULL.
 */
#ifndef REPL_H
#define REPL_H

#include <stddef.h>
#include <stdint.h>

/* The most voters a group may configure: Raft groups stay small, and a
 * fixed bound keeps the configuration in one struct. */
#define REPL_VOTERS_MAX 7

/* The longest "host:port" a voter's address may have, with its NUL. */
#define REPL_ADDR_MAX 64

/* The most proposals a caller may have outstanding (submitted, their
 * result not yet taken by repl_poll); repl_propose refuses beyond it, so
 * neither the request queue nor the result queue can overflow. */
#define REPL_INFLIGHT_MAX 256

/* What became of a proposal, and the other results repl_poll hands out. */
enum repl_status {
    REPL_OK = 0,          /* committed on a majority and applied here */
    REPL_NOTLEADER = 1,   /* this replica is not the leader: try r.leader */
    REPL_LOST = 2,        /* leadership was lost before the commit was known:
                             the entry may or may not be committed */
    REPL_FAILED = 3,      /* the library refused it (a disk error, shutdown) */
};

/* One voter of the group. */
struct repl_voter {
    unsigned id;                 /* its id, 1 and up, unique in the group */
    char addr[REPL_ADDR_MAX];    /* "IP:PORT" its replication transport listens on */
};

/* The state machine's callbacks, called on the replication thread. */
struct repl_fsm {
    void *ctx; /* handed back to each callback */
    /* Applies one committed entry; entries come in log order, each once
     * per start (after a restart, from the last snapshot on).  Returns 0,
     * or -1 to report the state machine broken (the replica stops). */
    int (*apply)(void *ctx, uint64_t index, const void *data, size_t len);
    /* Writes the whole state into a malloc'd buffer (*data, *len) that the
     * seam frees; the log before it may then be dropped.  Returns 0 or -1. */
    int (*snapshot)(void *ctx, void **data, size_t *len);
    /* Replaces the whole state by a snapshot's (on start, or when the
     * leader sends one to a replica too far behind).  Returns 0 or -1. */
    int (*restore)(void *ctx, const void *data, size_t len);
};

/* How to open a replica. */
struct repl_config {
    unsigned id;                 /* this replica's id: one of voters[] */
    const char *data_dir;        /* its log and snapshots; created if missing */
    struct repl_voter voters[REPL_VOTERS_MAX]; /* the group; the same on every member (the
                                    addresses serve a bootstrap only: joining or
                                    reopening, the log has them) */
    unsigned n_voters;           /* how many of voters[] are used */
    unsigned election_ms;        /* election timeout (randomised up to twice
                                    it); 0 takes the library's 1000 ms */
    unsigned heartbeat_ms;       /* leader heartbeat; 0 takes 100 ms */
    unsigned snapshot_every;     /* entries between snapshots; 0 takes 1024 */
    unsigned snapshot_trailing;  /* entries kept behind a snapshot so a
                                    follower a little behind needs no
                                    snapshot; 0 takes 128 */
    int join;                    /* 1: this directory is new but the group
                                    already runs (a wiped or replaced
                                    node): bootstrap nothing, wait for the
                                    leader to send a snapshot and the log */
    struct repl_fsm fsm;         /* the replicated state machine */
};

/* One result repl_poll hands out. */
struct repl_result {
    int kind;            /* REPL_DONE (a proposal's fate), REPL_ROLE, or
                            REPL_CLOSED (made by the owner, never by
                            repl_poll: the replica was closed, and every
                            proposal outstanding is lost without a result) */
    uint64_t token;      /* REPL_DONE: the caller's token from repl_propose */
    int status;          /* REPL_DONE: an enum repl_status */
    uint64_t index;      /* REPL_DONE: its log index when REPL_OK */
    uint64_t term;       /* the term when the result was made: the fencing
                            token the broker carries in what the home sends */
    unsigned leader;     /* the leader's id as known then, 0 for none */
};
enum { REPL_DONE = 1, REPL_ROLE = 2, REPL_CLOSED = 3 };

/* A replica's role in its group. */
enum repl_role { REPL_FOLLOWER = 1, REPL_CANDIDATE = 2, REPL_LEADER = 3 };

/* What a replica knows of the group, as of the replication thread's
 * last look (it refreshes after every event and each heartbeat). */
struct repl_info {
    int role;            /* an enum repl_role */
    int is_leader;       /* 1 when this replica leads */
    unsigned leader;     /* the leader's id, 0 while none is known */
    uint64_t term;       /* the current term */
    uint64_t commit;     /* the highest index known committed */
    uint64_t applied;    /* the highest index applied to the state machine */
    uint64_t last;       /* the last index in the local log */
    unsigned n_voters;   /* the voters of the current configuration */
    unsigned voters[REPL_VOTERS_MAX]; /* their ids */
    uint64_t match[REPL_VOTERS_MAX]; /* on the leader: the last index each of voters[] is
                            known to hold (the leader's own: its last), so its lag
                            is last - match; 0 elsewhere */
    int stalled;         /* the local log holds entries its disk writes have not
                            stored for REPL_STALL_TIMEOUTS election timeouts (a full
                            or failing disk: libraft stops writing after an I/O
                            error and says nothing), or a write failed; the caller
                            reopens the replica */
    int write_failed;    /* stalled because a disk write failed: every append since
                            is refused until the caller reopens the replica */
};

/* Election timeouts without a single entry stored while some wait: a
 * healthy disk, however loaded, stores something well within it. */
#define REPL_STALL_TIMEOUTS 4

struct repl;

/* Opens a replica: creates data_dir if needed, bootstraps the group's
 * configuration on a pristine directory unless cfg->join (every voter of
 * a new group does the same, so no one is special), and starts the
 * replication thread.  NULL after
 * logging on an error. */
struct repl *repl_open(const struct repl_config *cfg);

/* The eventfd that becomes readable when repl_poll has results; the
 * caller's loop watches it. */
int repl_fd(const struct repl *r);

/* Proposes an entry (copied): its fate comes back from repl_poll as a
 * REPL_DONE result carrying token.  Returns 0, or -1 when
 * REPL_INFLIGHT_MAX proposals are outstanding (errno EBUSY) or the
 * replica is closing (errno ESHUTDOWN), the entry is longer than 4 GB
 * (EMSGSIZE), or the copy failed (ENOMEM). */
int repl_propose(struct repl *r, const void *data, size_t len, uint64_t token);

/* Takes up to max results (oldest first) and clears the eventfd once none
 * are left; returns how many it wrote into out. */
size_t repl_poll(struct repl *r, struct repl_result *out, size_t max);

/* What the replica knows of the group now (see struct repl_info). */
void repl_status(struct repl *r, struct repl_info *info);

/* When this replica leads, hands leadership to the follower that is
 * furthest along and waits until it has taken over, at most about one
 * election timeout (a planned stop then costs the group a round trip
 * instead of an election).  Returns 0 once another replica leads, -1 when
 * this one did not lead or the transfer did not finish in time. */
int repl_handover(struct repl *r);

/* Stops the replica: the replication thread closes the library (a leader
 * simply stops, the others elect a new one: repl_handover first avoids
 * that), and everything is freed.  Proposals still outstanding are
 * dropped without a result. */
void repl_close(struct repl *r);

#endif
