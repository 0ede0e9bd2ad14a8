/*
 * replq.c - durable queues replicated by the node's Raft group (issue 21):
 * the broker's side of rqueue.c's state machine.
 *
 * With cluster.raft every durable queue is replicated and its home is the
 * group's leader.  On the leader a publish (a local client's, or one a
 * peer forwarded with LINK_QUEUE PUBLISH) becomes a PUSH proposal: it is
 * refused at once past the queue's max_queued (counting the PUSHes in
 * flight and held), and otherwise waits until the group answers.  REPL_OK
 * (committed on a majority, and applied) is when the message enters its
 * queue, with the PUSH's log index as sequence number, and when its
 * confirm goes out (to the peer, an ANSWER carrying our term).
 * REPL_NOTLEADER, REPL_LOST, REPL_FAILED, a proposal the seam refuses, or
 * no answer within commit_ms while nothing else commits either (a
 * backstop of a few election timeouts, main says why: a leader cut off
 * from the majority steps down after one and its proposals come back
 * lost; a busy one keeps committing) answer the publisher
 * "unavailable", never OK; a late REPL_OK still queues the message (it is
 * committed), so a retry may duplicate it, the at-least-once promise of
 * today.  A peer's publish that finds every proposal slot taken waits at
 * the home, in order, for one (held: at most HELD_MAX and the link
 * buffer's bytes; a follower forwards at most REPL_INFLIGHT_MAX confirmed
 * publishes at a time), proposed after the waiting ACKs and before the
 * home's own parked publishers.  An acknowledgement at the home becomes
 * an ACK proposal (waiting in order for a free slot); its message already
 * left the queue, and if the ACK is not committed the message is still
 * in the state and comes back, flagged, after a change of leader.  The
 * leader's queues are filled from the state, not from the proposals:
 * when this node becomes the leader it queues everything the state
 * holds, flagged redelivered (no DELIVERED entries are kept, so anything
 * inherited may have been delivered), and then, at each result and each
 * turn, what was applied since (entries of earlier terms, flagged; its
 * own PUSH, not); when it stops leading it drops what waits in its queues
 * and answers the held publishes "not committed".  On another node a
 * publisher whose message went to the home waits for the home's ANSWER
 * (fwd_wait), at most 2 x commit_ms, and no longer once the home stops
 * leading (it will not answer then).  A publisher on a node that knows no
 * leader, or whose link to it is not up, waits (parked, see replq_hold)
 * for up to two election timeouts, rather than be refused during every
 * failover.  The group is
 * reached through the two functions replq_open was given, so this file
 * does not depend on how the group is opened.
 */
#include "brokerd.h"
#include "rqueue.h"

/* How often a forwarded publish's wait looks whether its home still leads. */
#define FWD_LOOK_MS 50
/* Peers' publishes that wait at the home for a proposal slot, at most:
 * every other voter's whole window of forwarded confirms. */
#define HELD_MAX ((REPL_VOTERS_MAX - 1) * REPL_INFLIGHT_MAX)

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A proposal whose result has not come. */
typedef struct proposal {
    int op;                /* RQ_PUSH or RQ_ACK; 0: the slot is free */
    uint64_t token;        /* what the seam hands back with its result */
    client *c;             /* PUSH: the publisher to answer, NULL: nobody (any more) */
    uint64_t corr;         /* ... its correlation id */
    int confirm;           /* ... it asked for a confirm */
    char ch[RQ_NAME_MAX + 1]; /* PUSH: the queue's name (the channel may go meanwhile) */
    int64_t deadline;      /* monotonic ms past which the publisher hears "unavailable",
                              unless the group commits meanwhile (see progress) */
    void *peer;            /* PUSH from another node: its cl_peer, answered over the link */
    uint64_t peer_tag;     /* ... with its wait's number (0: it wants no answer) */
} proposal;

/* A publisher here whose message went to the home on another node and
 * waits for the home's answer. */
typedef struct fwd_wait {
    uint64_t tag;          /* its number in the PUBLISH and the ANSWER, 0: the slot is free */
    client *c;             /* the publisher, NULL once it went away */
    uint64_t corr;         /* its correlation id */
    int confirm;           /* it asked for a confirm (else it hears only a refusal) */
    char ch[RQ_NAME_MAX + 1]; /* the queue, for the message it hears */
    int64_t deadline;      /* monotonic ms past which it hears "unavailable", unless
                              the home answers meanwhile (see progress) */
    unsigned home;         /* the leader's Raft id when it was sent: once another
                            * leads, or none, the answer will not come */
    const void *peer;      /* the link it went over: once that goes down, the
                            * publish or its answer may be lost with it */
} fwd_wait;

/* A peer's publish that found every proposal slot taken (or others of
 * them waiting before it): it waits here, in order, for a slot. */
typedef struct held_push {
    void *peer;            /* the cl_peer that forwarded it */
    uint64_t tag;          /* its wait's number there (0: it wants no answer) */
    uint8_t *entry;        /* its PUSH entry, encoded, then the queue's name (one
                              allocation, owned) */
    size_t len;            /* the entry's bytes */
    const char *ch;        /* the queue's name, for the answer: after the entry */
} held_push;

struct replq {
    rq *state;             /* the replicated state (rqueue.c) */
    replq_propose_fn *propose; /* proposes an entry to the group */
    replq_leader_fn *leader;   /* the leader's node name, NULL while none is known */
    long commit_ms;        /* a PUSH not committed after this is answered "unavailable" */
    proposal slots[REPL_INFLIGHT_MAX]; /* one per outstanding proposal */
    size_t n_pushes;       /* PUSH slots in use: what admission adds to a queue's depth */
    size_t n_acks;         /* ACK slots in use */
    uint64_t next_token;   /* tokens never repeat, so a stale result finds no slot */
    ps__buf acks;          /* ACK entries waiting for a free slot, each after its u16
                              length; bounded by the messages the state holds, since
                              each is the ACK of one of them */
    size_t acks_head;      /* the bytes of acks already proposed */
    held_push held[HELD_MAX]; /* peers' publishes waiting for a slot: a ring */
    size_t held_head;      /* the oldest of them */
    size_t n_held;         /* how many wait */
    size_t held_bytes;     /* their entries' bytes, at most the link buffer */
    fwd_wait fwd[REPL_INFLIGHT_MAX]; /* publishers waiting for another node's answer */
    uint64_t next_fwd;     /* the last fwd_wait tag given out / REPL_INFLIGHT_MAX */
    uint64_t term;         /* the highest term heard of (the group's, or in a home's
                              records): the fencing token */
    int leading;           /* this node is the leader: the home of every replicated queue */
    uint64_t loaded;       /* leading: the state is in the queues up to this index */
    uint64_t home_gen;     /* changes whenever the leader may have changed */
    int64_t committed_at;  /* monotonic ms of the last REPL_OK of this node's PUSH */
    int64_t answered_at;   /* monotonic ms of the last answer of a home to this node */
    int64_t hold_since;    /* monotonic ms since when the home has not been reachable (no
                              leader known, or its link down), 0: reachable, or not
                              looked at since the leader changed (see replq_hold) */
};

/* When a wait runs out: at its own deadline or bound ms after the last
 * sign of progress (last), whichever is later.  A busy group whose
 * commits keep coming (slow under load, 256 in flight) refuses nobody; a
 * leader cut off from the majority, whose commits stop, refuses everyone
 * within bound. */
static int64_t runs_out(int64_t deadline, int64_t last, long bound)
{
    return deadline > last + bound ? deadline : last + bound;
}

/* Forgets the oldest held publish. */
static void held_pop(replq *q)
{
    held_push *h = &q->held[q->held_head];
    q->held_bytes -= h->len;
    free(h->entry);
    memset(h, 0, sizeof *h);
    q->held_head = (q->held_head + 1) % HELD_MAX;
    q->n_held--;
}

int replq_open(broker *b, replq_propose_fn *propose, replq_leader_fn *leader, long commit_ms,
               struct repl_fsm *fsm)
{
    replq *q = calloc(1, sizeof *q);
    if (!q || !(q->state = rq_new())) {
        free(q);
        log_err("replicated queues: out of memory");
        return -1;
    }
    q->propose = propose;
    q->leader = leader;
    q->commit_ms = commit_ms > 0 ? commit_ms : 500;
    /* Wait tags start where this start's random epoch says, not at 1: a
     * home may still answer the tags of the node's previous run (held
     * publishes wait there for seconds), and such an answer must find no
     * wait of this run, or a publisher would hear of another's commit.
     * 40 bits of it times REPL_INFLIGHT_MAX leave 2^56 tags to count up. */
    q->next_fwd = b->epoch & ((UINT64_C(1) << 40) - 1);
    rq_fsm(q->state, fsm);
    b->replq = q;
    b->repl_ack = replq_ack;
    b->repl_ack_ctx = b;
    return 0;
}

void replq_close(broker *b)
{
    replq *q = b->replq;
    if (!q)
        return;
    rq_free(q->state);
    ps__buf_free(&q->acks);
    while (q->n_held)
        held_pop(q);
    free(q);
    b->replq = NULL;
    b->repl_ack = NULL;
}

int replq_room(const broker *b, int forwarded)
{
    const replq *q = b->replq;
    if (!forwarded) /* the peers' held publishes go first (held_drain) */
        return q->n_pushes + q->n_acks < REPL_INFLIGHT_MAX && !q->n_held;
    for (size_t i = 0; i < REPL_INFLIGHT_MAX; i++)
        if (!q->fwd[i].tag)
            return 1;
    return 0;
}

int replq_leading(const broker *b)
{
    return b->replq && b->replq->leading;
}

size_t replq_held(broker *b, const channel *ch)
{
    return b->replq && ch->replicated ? rq_depth(b->replq->state, ch->name, NULL) : 0;
}

uint64_t replq_term(const broker *b)
{
    return b->replq ? b->replq->term : 0;
}

int replq_hold(broker *b, int reachable)
{
    replq *q = b->replq;
    if (!q || reachable) {
        if (q)
            q->hold_since = 0;
        return 0;
    }
    if (!q->hold_since)
        q->hold_since = b->now;
    /* Two election timeouts (commit_ms is four): a failover elects within
     * about one, and a restarted node's link to the leader comes up within
     * as much; past that the group has no majority here, or the home
     * cannot be reached, and a publisher is told at once. */
    return b->now - q->hold_since < q->commit_ms / 2;
}

const char *replq_home(broker *b, const channel *ch)
{
    if (!b->replq || !ch || !ch->replicated)
        return NULL;
    const char *node = NULL;
    b->replq->leader(b, &node);
    return node ? node : "";
}

/* A free slot with a new token; NULL when REPL_INFLIGHT_MAX are out. */
static proposal *slot_take(replq *q, int op)
{
    for (size_t i = 0; i < REPL_INFLIGHT_MAX; i++) {
        proposal *p = &q->slots[i];
        if (!p->op) {
            memset(p, 0, sizeof *p);
            p->op = op;
            /* The slot's index in the low bits, a count above: unique. */
            p->token = ++q->next_token * REPL_INFLIGHT_MAX + i;
            if (op == RQ_PUSH)
                q->n_pushes++;
            else
                q->n_acks++;
            return p;
        }
    }
    return NULL;
}

static void slot_free(replq *q, proposal *p)
{
    if (p->op == RQ_PUSH)
        q->n_pushes--;
    else if (p->op == RQ_ACK)
        q->n_acks--;
    memset(p, 0, sizeof *p);
}

/* Encodes e and proposes it under p's token; 0, or -1 with errno. */
static int propose(broker *b, proposal *p, const rq_entry *e)
{
    uint8_t stack[4096];
    size_t n = rq_entry_size(e);
    uint8_t *buf = n <= sizeof stack ? stack : malloc(n);
    if (!n || !buf) {
        errno = n ? ENOMEM : EINVAL;
        return -1;
    }
    rq_entry_encode(e, buf);
    int rc = b->replq->propose(b, buf, n, p->token);
    if (buf != stack)
        free(buf);
    return rc;
}

/* The reason a replicated queue cannot take a message now. */
static void unavailable(broker *b, char *why, size_t cap, const char *name, const char *what)
{
    const char *leader = NULL;
    b->replq->leader(b, &leader);
    if (leader)
        snprintf(why, cap, "queue '%s' is unavailable: %s (the leader is %s)", name, what, leader);
    else
        snprintf(why, cap, "queue '%s' is unavailable: %s (no leader of the replication group "
                 "is known)", name, what);
}

/* Answers peer's publish tag (0: it wants no answer) over the link. */
static void answer_peer(broker *b, void *peer, const char *ch, uint64_t tag, int ok)
{
    if (peer && tag && b->repl_answer)
        b->repl_answer(b->relay_ctx, peer, ch, tag, ok, b->replq->term);
}

/* Fills p, whose PUSH for queue ch was proposed: whom to answer, and when
 * the answer is overdue. */
static void pushed(broker *b, proposal *p, const char *ch, client *c, uint64_t corr,
                   int confirm, void *peer, uint64_t tag)
{
    snprintf(p->ch, sizeof p->ch, "%s", ch);
    p->c = c;
    p->corr = corr;
    p->confirm = confirm;
    p->peer = peer;
    p->peer_tag = tag;
    p->deadline = b->now + b->replq->commit_ms;
}

/* Keeps peer's PUSH e of queue ch until a proposal slot is free
 * (held_drain).  A follower bounds what it forwards by its own window of
 * confirms, not by the home's slots, which the home's own publishers and
 * its consumers' acks share: refusing what finds them taken made a
 * follower with a full window lose most of it (each refusal freed a
 * place in its window at once, for the next message to be refused).
 * 0, or a PS_WERR_* code with why past HELD_MAX or the link buffer. */
static uint16_t hold(broker *b, const channel *ch, const rq_entry *e, void *peer, uint64_t tag,
                     char *why, size_t cap)
{
    replq *q = b->replq;
    size_t n = rq_entry_size(e);
    if (q->n_held == HELD_MAX || q->held_bytes + n > (size_t)b->cfg->cluster->link_buffer) {
        snprintf(why, cap, "queue '%s' is unavailable: %zu messages from other nodes wait for "
                 "the group already", ch->name, q->n_held);
        return PS_WERR_LIMIT;
    }
    uint8_t *entry = n ? malloc(n + ch->name_len + 1) : NULL;
    if (!entry) {
        snprintf(why, cap, "queue '%s': %s", ch->name,
                 n ? "out of memory" : "the message cannot be replicated");
        return PS_WERR_LIMIT;
    }
    rq_entry_encode(e, entry);
    memcpy(entry + n, ch->name, ch->name_len + 1);
    held_push *h = &q->held[(q->held_head + q->n_held) % HELD_MAX];
    h->peer = peer;
    h->tag = tag;
    h->entry = entry;
    h->len = n;
    h->ch = (const char *)entry + n;
    q->n_held++;
    q->held_bytes += n;
    return 0;
}

/* Proposes the held publishes, oldest first, while slots are free; one
 * the group refuses is answered "not committed" at once. */
static void held_drain(broker *b)
{
    replq *q = b->replq;
    proposal *p;
    while (q->n_held && (p = slot_take(q, RQ_PUSH))) {
        held_push *h = &q->held[q->held_head];
        if (q->propose(b, h->entry, h->len, p->token) < 0) {
            log_limited(LOG_LVL_WARNING, "cluster: queue messages from links dropped", "",
                        "cluster: a message for queue '%s' from another node refused: %s",
                        h->ch, strerror(errno));
            slot_free(q, p);
            answer_peer(b, h->peer, h->ch, h->tag, 0);
        } else {
            pushed(b, p, h->ch, NULL, 0, 0, h->peer, h->tag);
        }
        held_pop(q);
    }
}

/* Answers every held publish "not committed": this node stopped leading. */
static void held_refuse(broker *b)
{
    replq *q = b->replq;
    while (q->n_held) {
        held_push *h = &q->held[q->held_head];
        answer_peer(b, h->peer, h->ch, h->tag, 0);
        held_pop(q);
    }
}

uint16_t replq_publish(broker *b, client *c, channel *ch, const ps__cmd *cmd, void *peer,
                       char *why, size_t cap)
{
    replq *q = b->replq;
    if (!q->leading) {
        unavailable(b, why, cap, ch->name, "this node does not lead");
        return PS_WERR_LIMIT;
    }
    switch (rq_admit(q->state, ch->name, q->n_pushes + q->n_held, ch->max_queued)) {
    case RQ_FULL:
        snprintf(why, cap, "queue '%s' is full (%zu messages)", ch->name,
                 rq_depth(q->state, ch->name, NULL));
        return PS_WERR_FULL;
    case RQ_TOO_MANY_QUEUES:
        snprintf(why, cap, "queue '%s': the replication group holds %d queues already", ch->name,
                 RQ_QUEUES_MAX);
        return PS_WERR_LIMIT;
    }
    rq_entry e = {.op = RQ_PUSH, .queue = {(const uint8_t *)ch->name, ch->name_len},
                  .topic = {(const uint8_t *)cmd->topic.ptr, cmd->topic.len},
                  .data = {(const uint8_t *)cmd->data.ptr, cmd->data.len}};
    /* A peer's publish goes behind those of peers that wait already, in
     * order. */
    if (peer && (q->n_held || q->n_pushes + q->n_acks >= REPL_INFLIGHT_MAX))
        return hold(b, ch, &e, peer, cmd->tag, why, cap);
    proposal *p = slot_take(q, RQ_PUSH);
    if (!p) {
        snprintf(why, cap, "queue '%s' is unavailable: %d messages wait for the group already",
                 ch->name, REPL_INFLIGHT_MAX);
        return PS_WERR_LIMIT;
    }
    if (propose(b, p, &e) < 0) {
        int err = errno;
        slot_free(q, p);
        if (err == ENOMEM) {
            snprintf(why, cap, "queue '%s': out of memory", ch->name);
        } else {
            unavailable(b, why, cap, ch->name, "the group refused the message");
        }
        return PS_WERR_LIMIT;
    }
    pushed(b, p, ch->name, c, cmd->corr, (cmd->flags & PS_WIRE_CONFIRM) != 0, peer,
           peer ? cmd->tag : 0);
    return 0;
}

/* Proposes the ACK e now; -1 when no slot is free. */
static int ack_now(broker *b, const rq_entry *e)
{
    replq *q = b->replq;
    proposal *p = slot_take(q, RQ_ACK);
    if (!p)
        return -1;
    if (propose(b, p, e) < 0) {
        /* Still in the state: a later leader hands it out again, flagged. */
        log_limited(LOG_LVL_WARNING, "replicated queues: ack not proposed", "",
                    "queue '%.*s': an acknowledgement was not replicated (%s): the message "
                    "may come back after a change of leader", (int)e->queue.len,
                    (const char *)e->queue.ptr, strerror(errno));
        slot_free(q, p);
    }
    return 0;
}

/* Proposes the waiting ACKs, oldest first, while slots are free. */
static void acks_drain(broker *b)
{
    replq *q = b->replq;
    while (q->acks_head < q->acks.len) {
        const uint8_t *at = q->acks.data + q->acks_head;
        size_t n = (size_t)at[0] << 8 | at[1];
        rq_entry e;
        if (rq_entry_decode(at + 2, n, &e) < 0 || ack_now(b, &e) < 0)
            break;
        q->acks_head += 2 + n;
    }
    if (q->acks_head == q->acks.len)
        q->acks.len = q->acks_head = 0;
}

void replq_ack(void *ctx, channel *ch, const qmsg *qm)
{
    broker *b = ctx;
    replq *q = b->replq;
    rq_entry e = {.op = RQ_ACK, .queue = {(const uint8_t *)ch->name, ch->name_len},
                  .id = qm->seq};
    if (q->acks.len == 0 && ack_now(b, &e) == 0)
        return;
    /* Every slot is taken: it waits its turn, in order. */
    uint8_t rec[2 + 1 + 2 + RQ_NAME_MAX + 8];
    size_t n = rq_entry_encode(&e, rec + 2);
    rec[0] = (uint8_t)(n >> 8);
    rec[1] = (uint8_t)n;
    if (!n || ps__buf_append(&q->acks, rec, 2 + n) < 0)
        log_limited(LOG_LVL_WARNING, "replicated queues: ack not proposed", "",
                    "queue '%s': an acknowledgement was not replicated (out of memory): the "
                    "message may come back after a change of leader", ch->name);
}

void replq_client_gone(broker *b, client *c)
{
    if (!b->replq)
        return;
    for (size_t i = 0; i < REPL_INFLIGHT_MAX; i++) {
        if (b->replq->slots[i].c == c)
            b->replq->slots[i].c = NULL;
        if (b->replq->fwd[i].c == c)
            b->replq->fwd[i].c = NULL;
    }
}

uint64_t replq_forward_wait(broker *b, client *c, uint64_t corr, int confirm,
                            const channel *ch, const void *peer)
{
    replq *q = b->replq;
    for (size_t i = 0; i < REPL_INFLIGHT_MAX; i++) {
        fwd_wait *w = &q->fwd[i];
        if (w->tag)
            continue;
        w->tag = ++q->next_fwd * REPL_INFLIGHT_MAX + i;
        w->c = c;
        w->corr = corr;
        w->confirm = confirm;
        w->peer = peer;
        snprintf(w->ch, sizeof w->ch, "%s", ch->name);
        /* The home's own wait, and a round trip over the link. */
        w->deadline = b->now + 2 * q->commit_ms;
        const char *node;
        w->home = q->leader(b, &node);
        return w->tag;
    }
    return 0;
}

/* Ends wait w; its publisher, if still there, hears "unavailable" and
 * why (what), unless what is NULL. */
static void fwd_end(broker *b, fwd_wait *w, const char *what)
{
    if (w->c && what) {
        char why[512];
        unavailable(b, why, sizeof why, w->ch, what);
        out_error(b, w->c, w->corr, PS_WERR_LIMIT, "%s", why);
    }
    memset(w, 0, sizeof *w);
}

void replq_forward_done(broker *b, uint64_t tag, int ok)
{
    replq *q = b->replq;
    fwd_wait *w = &q->fwd[tag % REPL_INFLIGHT_MAX];
    if (!tag || w->tag != tag)
        return; /* answered already ("unavailable" when its time ran out) */
    if (ok > 0)
        q->answered_at = b->now;
    if (w->c && ok > 0 && w->confirm)
        out_ok(b, w->c, w->corr, 0);
    fwd_end(b, w, ok == 0 ? "the group did not commit it" : NULL);
}

void replq_link_down(broker *b, const void *peer)
{
    replq *q = b->replq;
    if (!q)
        return;
    for (size_t i = 0; i < REPL_INFLIGHT_MAX; i++) {
        fwd_wait *w = &q->fwd[i];
        if (!w->tag || w->peer != peer)
            continue;
        /* The link dropped what it had not sent, and the home's answers
         * while it was down: waiting on, the publisher would wait for
         * good while later answers to others kept the wait alive. */
        fwd_end(b, w, "the link to its home went down before it answered");
    }
}

int replq_fenced(broker *b, uint64_t term)
{
    replq *q = b->replq;
    if (!q || !term)
        return 0;
    if (term < q->term)
        return 1;
    q->term = term;
    return 0;
}

uint64_t replq_home_gen(const broker *b)
{
    return b->replq ? b->replq->home_gen : 0;
}

/* Tells p's publisher that its message may not be there; it is told once. */
static void refuse(broker *b, proposal *p, const char *what)
{
    char why[512];
    if (!p->c)
        return;
    unavailable(b, why, sizeof why, p->ch, what);
    out_error(b, p->c, p->corr, PS_WERR_LIMIT, "%s", why);
    p->c = NULL;
}

/* What load_applied hands each message it loads. */
struct load {
    channel *ch;           /* the queue loading */
    uint64_t own;          /* the index of this node's PUSH just committed, 0: none */
};

/* Loads one message of the state into a queue (rq_each's callback): only
 * this node's own PUSH goes unflagged; any other was proposed under an
 * earlier leader, which may have delivered it. */
static int load_one(void *ctx, uint64_t id, rq_bytes topic, rq_bytes data)
{
    struct load *l = ctx;
    return queue_committed(l->ch, id, (const char *)topic.ptr, topic.len, data.ptr, data.len,
                           id != l->own);
}

/* On the leader: queues what the group applied since the last look, in
 * log order: up to own, the index of this node's PUSH whose REPL_OK came
 * (results come in log order, so nothing between is this node's), or
 * with own 0 (no PUSH of this node outstanding) up to the applied index,
 * read first, so that what is applied while the queues are walked waits
 * for the next look rather than be skipped. */
static void load_applied(broker *b, uint64_t own)
{
    replq *q = b->replq;
    uint64_t upto = own ? own : rq_applied(q->state);
    if (!q->leading || upto <= q->loaded)
        return;
    channel *ch;
    SLIST_FOREACH(ch, &b->channels, link) {
        if (!ch->replicated)
            continue;
        struct load l = {ch, own};
        if (rq_each(q->state, ch->name, q->loaded, upto, load_one, &l) != 0)
            log_limited(LOG_LVL_ERR, "replicated queues: out of memory", "",
                        "queue '%s': out of memory loading the replicated messages: some wait "
                        "for the next change of leader", ch->name);
        queue_dispatch(b, ch);
    }
    q->loaded = upto;
}

/* One proposal's fate. */
static void done(broker *b, const struct repl_result *res)
{
    replq *q = b->replq;
    proposal *p = &q->slots[res->token % REPL_INFLIGHT_MAX];
    if (!p->op || p->token != res->token)
        return; /* not ours: dropped by a close */
    if (p->op == RQ_PUSH) {
        answer_peer(b, p->peer, p->ch, p->peer_tag, res->status == REPL_OK);
        if (res->status != REPL_OK) {
            refuse(b, p, res->status == REPL_LOST ? "the leader changed before it was committed"
                                                  : "the group did not commit it");
        } else {
            /* Committed (and applied): queued here if this node still
             * leads, else by the new leader; confirmed either way. */
            q->committed_at = b->now;
            load_applied(b, res->index);
            if (p->c && p->confirm)
                out_ok(b, p->c, p->corr, 0);
        }
    }
    slot_free(q, p);
}

/* This node became the leader (lead) or stopped being it: a new leader
 * queues the whole state afresh, a deposed one drops what it queued (its
 * consumers' unacknowledged messages stay in the state). */
static void role(broker *b, int lead)
{
    replq *q = b->replq;
    q->leading = lead;
    q->loaded = 0;
    held_refuse(b); /* a new leader holds none; a deposed one proposes no more */
    channel *ch;
    SLIST_FOREACH(ch, &b->channels, link) {
        if (ch->replicated) {
            /* What waits here came from the old leader, or was this
             * node's own: the state has all of it. */
            ch->repl_home = lead;
            queue_drop_own(ch);
            queue_relay_drop(ch);
        }
    }
    load_applied(b, 0);
}

void replq_result(void *ctx, const struct repl_result *res)
{
    broker *b = ctx;
    replq *q = b->replq;
    if (!q)
        return;
    if (res->term > q->term)
        q->term = res->term;
    if (res->kind == REPL_DONE) {
        done(b, res);
        return;
    }
    if (res->kind == REPL_CLOSED) {
        /* The replica reopened after a stalled disk: its proposals are
         * gone, and their slots would stay taken for good. */
        for (size_t i = 0; i < REPL_INFLIGHT_MAX; i++)
            if (q->slots[i].op)
                done(b, &(struct repl_result){
                            .kind = REPL_DONE, .token = q->slots[i].token, .status = REPL_LOST});
        return;
    }
    q->home_gen++;
    q->hold_since = 0; /* a new leader, or none: a new wait for it */
    const char *leader = NULL;
    q->leader(b, &leader);
    int lead = leader && b->cfg->cluster && strcmp(leader, b->cfg->cluster->node) == 0;
    if (lead != q->leading)
        role(b, lead);
}

long replq_timers(void *ctx)
{
    broker *b = ctx;
    replq *q = b->replq;
    long next = -1;
    if (!q)
        return -1;
    acks_drain(b);
    held_drain(b);
    if (!q->n_pushes) /* else the next REPL_OK loads them, before its own */
        load_applied(b, 0); /* entries of earlier terms, applied after this node led */
    for (size_t i = 0; i < REPL_INFLIGHT_MAX; i++) {
        proposal *p = &q->slots[i];
        if (p->op != RQ_PUSH || !p->c)
            continue;
        if (runs_out(p->deadline, q->committed_at, q->commit_ms) <= b->now) {
            refuse(b, p, "not committed in time");
            continue;
        }
        long left = (long)(runs_out(p->deadline, q->committed_at, q->commit_ms) - b->now);
        if (next < 0 || left < next)
            next = left;
    }
    const char *node;
    unsigned leader = q->leader(b, &node);
    /* A node without a leader for a while refuses at once, also its first
     * publish; publishers parked by replq_hold are refused when it ends. */
    if (!leader && !q->hold_since)
        q->hold_since = b->now;
    if (q->hold_since) {
        long left = (long)(q->hold_since + q->commit_ms / 2 - b->now);
        if (left > 0 && (next < 0 || left < next))
            next = left;
    }
    for (size_t i = 0; i < REPL_INFLIGHT_MAX; i++) {
        fwd_wait *w = &q->fwd[i];
        if (!w->tag)
            continue;
        /* A home that stopped leading (it died, or was cut off and a new
         * one was elected) will not answer: the publisher hears it as
         * soon as this node knows, not at the backstop. */
        if (runs_out(w->deadline, q->answered_at, 2 * q->commit_ms) <= b->now ||
            leader != w->home) {
            fwd_end(b, w, leader != w->home ? "its home stopped leading before it answered"
                                            : "its home did not answer in time");
            continue;
        }
        long left =
            (long)(runs_out(w->deadline, q->answered_at, 2 * q->commit_ms) - b->now);
        if (left > FWD_LOOK_MS)
            left = FWD_LOOK_MS;
        if (next < 0 || left < next)
            next = left;
    }
    return next;
}
