/*
 * group.c - the node's Raft group (cluster.raft): when to open the
 * replica, its results on the broker's loop, its state for `pctl
 * cluster`, and a planned stop that hands leadership over.
 *
 * The voters are named in the configuration and their Raft ids are their
 * positions in it, so they agree on every node; their Raft addresses are
 * learnt from the cluster links' HELLO (cluster.c), which also says
 * whether each voter's Raft directory already holds the group.  A
 * directory that holds it (our marker file, written once this node
 * bootstrapped or joined) opens at once: libraft keeps the configuration.
 * A new directory waits until the links have heard the voters: when one
 * of them holds the group this node joins it (a wiped or replaced node:
 * it bootstraps nothing and catches up from the leader), and when none
 * does, once every voter was heard, all bootstrap the same
 * configuration.  The replica's eventfd is a source of the loop; each
 * result of repl_poll is handed to b->repl_hooks.result (the replicated
 * queues), and a change of leader or term is logged.  The state machine
 * is b->repl_hooks.fsm; without one (no replicated queues plugged in) a
 * state machine that keeps nothing stands in, so the group runs alone.
 */
#include "brokerd.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GROUP_MARKER "pubsub-group" /* in the Raft directory: it holds the group */
#define GROUP_WAIT_MS 20            /* how often a new node looks at what the links heard */
#define GROUP_RESULTS 64            /* results taken from the replica per call */

/* The group's state beside the replica. */
struct group {
    const config_raft *cfg;  /* cluster.raft (the links keep the cluster section for the
                              * process's life, so this stays valid) */
    unsigned self;           /* this node's Raft id */
    char marker[4096];       /* the marker file's path */
    int held;                /* the directory holds the group (the marker exists) */
    int joining;             /* opened to join: "joined" is logged once a configuration
                              * came from the leader */
    int watched;             /* the replica's eventfd is a source of the loop */
    int reopening;           /* a reopen of a stalled replica is scheduled or retrying */
    int64_t reopened_at;     /* loop ms of the last reopen that opened (0: none) */
    unsigned logged_leader;  /* the leader and term last logged */
    uint64_t logged_term;
};

/* The state machine that stands in while no replicated queue is plugged
 * in: it keeps nothing, so its snapshot is empty. */
static int noop_apply(void *ctx, uint64_t index, const void *data, size_t len)
{
    (void)ctx, (void)index, (void)data, (void)len;
    return 0;
}

static int noop_snapshot(void *ctx, void **data, size_t *len)
{
    (void)ctx;
    *data = malloc(1);
    *len = 0;
    return *data ? 0 : -1;
}

static int noop_restore(void *ctx, const void *data, size_t len)
{
    (void)ctx, (void)data, (void)len;
    return 0;
}

/* The voter of Raft id id's node name (ids are 1-based positions). */
static const char *voter_name(const struct group *g, unsigned id)
{
    return id >= 1 && id <= g->cfg->n_voters ? g->cfg->voters[id - 1] : NULL;
}

/* The Raft address of voter i as known now: ours from the configuration,
 * a peer's from its HELLO ("" while not heard). */
static const char *voter_addr(broker *b, size_t i)
{
    struct group *g = b->group;
    if (i + 1 == g->self)
        return g->cfg->listen;
    cl_node *n = link_node(b);
    cl_peer *p = n ? cl_peer_find(n, g->cfg->voters[i], strlen(g->cfg->voters[i])) : NULL;
    return p ? p->raft_addr : "";
}

/* Writes the marker: from now on this directory opens at once, and our
 * HELLO tells the other voters it holds the group (the next HELLO: the
 * ones already taken said what was true then). */
static void mark_held(broker *b)
{
    struct group *g = b->group;
    int fd = open(g->marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || fsync(fd) < 0)
        log_warn("raft: cannot write %s: %s (this node will wait for the voters again "
                 "after a restart)", g->marker, strerror(errno));
    if (fd >= 0)
        close(fd);
    g->held = 1;
    if (link_node(b))
        link_node(b)->raft_group = 1;
}

/* Logs a change of leader or term (once each), and a joining node's
 * arrival once the leader's configuration reached it. */
static void notice(broker *b)
{
    struct group *g = b->group;
    struct repl_info in;
    repl_status(b->repl, &in);
    /* Held once a leader is known: then a majority holds the
     * configuration, and a new node that joins on our word will be
     * replicated to.  Said earlier, a node that bootstrapped alone could
     * make the others join a group that cannot elect anyone (a node
     * without a configuration does not vote). */
    if (!g->held && in.leader && in.n_voters > 0) {
        mark_held(b);
        if (g->joining)
            log_notice("raft: joined the group as a new member");
        g->joining = 0;
    }
    if (!in.leader || (in.leader == g->logged_leader && in.term == g->logged_term))
        return;
    g->logged_leader = in.leader;
    g->logged_term = in.term;
    if (in.leader == g->self)
        log_notice("raft: this node leads (term %llu)", (unsigned long long)in.term);
    else
        log_notice("raft: leader is %s (term %llu)",
                   voter_name(g, in.leader) ? voter_name(g, in.leader) : "?",
                   (unsigned long long)in.term);
}

static int open_replica(broker *b, int join);

/* A timer: closes a replica whose disk stopped storing (repl_info.stalled)
 * and opens it again from what its directory holds, which libraft's
 * errored I/O never does by itself: the node catches up once the disk
 * has room again.  While opening fails (no room yet), it retries every
 * election timeout; the node stays out of the group meanwhile, as a
 * crashed one would, and the others go on without it. */
static long group_reopen(void *ctx)
{
    broker *b = ctx;
    struct group *g = b->group;
    if (!g)
        return -1;
    if (b->repl) {
        struct repl_info in;
        repl_status(b->repl, &in);
        if (!in.stalled) {
            g->reopening = 0;
            return -1;
        }
        if (in.write_failed)
            log_err("raft: the disk of %s failed a write (log at %llu): reopening the replica",
                    g->cfg->data_dir, (unsigned long long)in.last);
        else
            log_err("raft: the disk of %s stored nothing for %d election timeouts (log at "
                    "%llu): reopening the replica", g->cfg->data_dir, REPL_STALL_TIMEOUTS,
                    (unsigned long long)in.last);
        if (g->watched)
            loop_unwatch(b->loop, repl_fd(b->repl));
        g->watched = 0;
        repl_close(b->repl);
        b->repl = NULL;
        /* Its outstanding proposals will never have a result: whoever
         * waits for one hears now that they are lost. */
        struct repl_result closed = {.kind = REPL_CLOSED};
        if (b->repl_hooks.result)
            b->repl_hooks.result(b->repl_hooks.ctx, &closed);
    }
    if (open_replica(b, 1) < 0) {
        if (b->repl) {
            repl_close(b->repl);
            b->repl = NULL;
        }
        return g->cfg->election_ms;
    }
    log_notice("raft: replica reopened in %s", g->cfg->data_dir);
    g->reopening = 0;
    g->reopened_at = loop_now();
    return -1;
}

/* The replica's eventfd has results: each goes to the hook. */
static void group_input(void *ctx)
{
    broker *b = ctx;
    struct group *g = b->group;
    if (!b->repl)
        return;
    struct repl_result res[GROUP_RESULTS];
    size_t n = repl_poll(b->repl, res, GROUP_RESULTS);
    for (size_t i = 0; i < n; i++) {
        if (res[i].kind == REPL_ROLE)
            notice(b);
        if (b->repl_hooks.result)
            b->repl_hooks.result(b->repl_hooks.ctx, &res[i]);
    }
    struct repl_info in;
    repl_status(b->repl, &in);
    /* A disk that fails every write would otherwise be reopened, its
     * whole log loaded again, at each append the leader sends: a reopen
     * comes an election timeout after the last at the soonest. */
    int64_t wait = g->reopened_at ? g->reopened_at + g->cfg->election_ms - loop_now() : 0;
    if (in.stalled && !g->reopening &&
        loop_timer(b->loop, wait > 0 ? (long)wait : 0, group_reopen, b) == 0)
        g->reopening = 1;
}

/* Opens the replica: join (bootstrap nothing) or bootstrap the voters
 * with the addresses the links gave.  0, or -1 after logging. */
static int open_replica(broker *b, int join)
{
    struct group *g = b->group;
    struct repl_config rc = {
        .id = g->self, .data_dir = g->cfg->data_dir, .n_voters = (unsigned)g->cfg->n_voters,
        .election_ms = (unsigned)g->cfg->election_ms,
        .heartbeat_ms = (unsigned)(g->cfg->election_ms / 10 ? g->cfg->election_ms / 10 : 1),
        .join = join, .fsm = b->repl_hooks.fsm,
    };
    if (!rc.fsm.apply)
        rc.fsm = (struct repl_fsm){.apply = noop_apply, .snapshot = noop_snapshot,
                                   .restore = noop_restore};
    for (size_t i = 0; i < g->cfg->n_voters; i++) {
        rc.voters[i].id = (unsigned)i + 1;
        snprintf(rc.voters[i].addr, sizeof rc.voters[i].addr, "%s", voter_addr(b, i));
    }
    if (!(b->repl = repl_open(&rc)))
        return -1;
    if (!g->watched) {
        if (loop_watch(b->loop, NULL, repl_fd(b->repl), group_input, b, NULL) < 0) {
            log_err("raft: cannot watch the replica: %s", strerror(errno));
            return -1;
        }
        g->watched = 1;
    }
    if (g->held)
        log_info("raft: node %s (id %u) opened its replica in %s", g->cfg->voters[g->self - 1],
                 g->self, g->cfg->data_dir);
    else if (join) {
        g->joining = 1;
        log_info("raft: joining the group held by the other voters (%s is new)", g->cfg->data_dir);
    } else {
        log_info("raft: every voter heard and none holds the group: bootstrapped %zu voter%s",
                 g->cfg->n_voters, g->cfg->n_voters == 1 ? "" : "s");
    }
    return 0;
}

/* A new node's wait for the voters (a timer while the replica is not
 * open): any voter that holds the group is joined at once; when every
 * voter was heard and none holds it, all bootstrap. */
static long group_wait(void *ctx)
{
    broker *b = ctx;
    struct group *g = b->group;
    if (b->repl) {
        notice(b);
        return g->held ? -1 : GROUP_WAIT_MS;
    }
    cl_node *n = link_node(b);
    size_t heard = 0;
    int held = 0;
    for (size_t i = 0; i < g->cfg->n_voters; i++) {
        if (i + 1 == g->self) {
            heard++;
            continue;
        }
        cl_peer *p = n ? cl_peer_find(n, g->cfg->voters[i], strlen(g->cfg->voters[i])) : NULL;
        if (p && *p->raft_addr) {
            heard++;
            held |= p->raft_group;
        }
    }
    if (!held && heard < g->cfg->n_voters)
        return GROUP_WAIT_MS;
    if (open_replica(b, held) < 0) {
        /* Not a setup error any more: the broker runs on without its
         * replica, which `pctl cluster` shows as "starting". */
        log_err("raft: the replica could not be opened; durable queues stay unavailable");
        return -1;
    }
    return GROUP_WAIT_MS;
}

int repl_group_open(broker *b)
{
    const config_cluster *cc = b->cfg->cluster;
    if (!cc || !cc->raft)
        return 0;
    struct group *g = calloc(1, sizeof *g);
    if (!g) {
        log_err("raft: out of memory");
        return -1;
    }
    b->group = g;
    g->cfg = cc->raft;
    for (size_t i = 0; i < g->cfg->n_voters; i++)
        if (!strcmp(g->cfg->voters[i], cc->node))
            g->self = (unsigned)i + 1;
    /* The directory and any missing parent (data_dir itself is made
     * only when a durable queue first needs it). */
    char path[4096];
    snprintf(path, sizeof path, "%s", g->cfg->data_dir);
    for (char *slash = path + 1;; slash++) {
        int end = *slash == '\0';
        if (*slash != '/' && !end)
            continue;
        *slash = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            log_err("raft: cannot make %s: %s", path, strerror(errno));
            return -1;
        }
        if (end)
            break;
        *slash = '/';
    }
    if (snprintf(g->marker, sizeof g->marker, "%s/%s", g->cfg->data_dir, GROUP_MARKER) >=
        (int)sizeof g->marker) {
        log_err("raft: the path %s is too long", g->cfg->data_dir);
        return -1;
    }
    g->held = access(g->marker, F_OK) == 0;
    if (link_node(b))
        link_node(b)->raft_group = g->held;
    log_info("raft: node %s is voter %u of %zu, Raft transport on %s (not encrypted)", cc->node,
             g->self, g->cfg->n_voters, g->cfg->listen);
    if (g->held)
        return open_replica(b, 1); /* libraft keeps the configuration: nothing to bootstrap */
    log_info("raft: %s holds no group yet: waiting to hear the other voters", g->cfg->data_dir);
    return 0;
}

int repl_group_watch(broker *b)
{
    if (!b->group)
        return 0;
    return loop_timer(b->loop, 0, group_wait, b);
}

void repl_group_close(broker *b)
{
    struct group *g = b->group;
    if (!g)
        return;
    if (b->repl) {
        struct repl_info in;
        repl_status(b->repl, &in);
        /* A lone voter has no one to hand over to. */
        if (in.is_leader && in.n_voters > 1) {
            int64_t t0 = loop_now_ns();
            int rc = repl_handover(b->repl);
            long ms = (long)((loop_now_ns() - t0) / 1000000);
            repl_status(b->repl, &in);
            if (rc == 0)
                log_notice("raft: leadership handed over to %s in %ld ms",
                           voter_name(g, in.leader) ? voter_name(g, in.leader) : "?", ms);
            else
                log_warn("raft: leadership not handed over within %ld ms: the others elect a "
                         "leader", ms);
        }
        repl_close(b->repl);
        b->repl = NULL;
    }
    free(g);
    b->group = NULL;
}

unsigned repl_group_leader(const broker *b, const char **node)
{
    struct repl_info in = {0};
    if (b->repl)
        repl_status(b->repl, &in);
    *node = b->group && in.leader ? voter_name(b->group, in.leader) : NULL;
    return *node ? in.leader : 0;
}

int repl_group_propose(broker *b, const void *data, size_t len, uint64_t token)
{
    if (!b->repl) {
        errno = ENOTCONN;
        return -1;
    }
    return repl_propose(b->repl, data, len, token);
}

json_t *repl_group_status(broker *b)
{
    struct group *g = b->group;
    if (!g)
        return json_null();
    struct repl_info in = {0};
    if (b->repl)
        repl_status(b->repl, &in);
    static const char *const roles[] = {"starting", "follower", "candidate", "leader"};
    const char *leader = in.leader ? voter_name(g, in.leader) : NULL;
    json_t *voters = json_array();
    for (size_t i = 0; i < g->cfg->n_voters; i++) {
        const char *addr = voter_addr(b, i);
        json_t *v = json_pack("{s:s, s:o, s:n, s:n}", "node", g->cfg->voters[i], "addr",
                              *addr ? json_string(addr) : json_null(), "match", "lag");
        /* The leader's view of each follower, matched by Raft id. */
        for (unsigned k = 0; in.is_leader && k < in.n_voters; k++)
            if (in.voters[k] == i + 1) {
                uint64_t lag = in.last > in.match[k] ? in.last - in.match[k] : 0;
                json_object_set_new(v, "match", json_integer((json_int_t)in.match[k]));
                json_object_set_new(v, "lag", json_integer((json_int_t)lag));
            }
        json_array_append_new(voters, v);
    }
    return json_pack("{s:I, s:s, s:s, s:I, s:o, s:I, s:I, s:I, s:o}", "id", (json_int_t)g->self,
                     "node", g->cfg->voters[g->self - 1], "state",
                     b->repl ? roles[in.role] : roles[0], "term", (json_int_t)in.term, "leader",
                     leader ? json_string(leader) : json_null(), "commit", (json_int_t)in.commit,
                     "applied", (json_int_t)in.applied, "last", (json_int_t)in.last, "voters",
                     voters);
}
