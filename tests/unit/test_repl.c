/*
 * test_repl.c - three replicas of brokerd/repl.h (over libraft) in one
 * process, on 127.0.0.1 with data directories under a temporary one.
 *
 * It checks what durable queues will rely on: a leader is elected; 1,200
 * proposed entries are committed and applied in the same order on all
 * three (the state machine checks each entry follows the last, and the
 * three end with the same running hash); a proposal on a follower is
 * refused with the leader's id; after the leader is closed the other two
 * elect a new one and go on committing; the old leader restarted on its
 * data catches up; a replica whose data was wiped catches up from a
 * snapshot; the leader's match index of each voter reaches its last; a
 * leader hands over to another within one election timeout (a follower
 * refuses to).  It prints the election, failover and handover times and
 * the commit latency (fsync on, loopback).  Every wait is on the replicas' eventfds
 * with a generous deadline, never a sleep.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../brokerd/repl.h"
#include "test.h"

#define N 3
#define WAIT_MS 15000   /* the bound on any one wait: generous for a loaded machine */
#define SEQUENTIAL 200  /* proposals measured one at a time */
#define PIPELINED 1000  /* proposals sent as fast as the window allows */
#define AFTER 100       /* proposals after the failover */
#define ENTRY 13        /* bytes of an entry: odd, so that libraft pads them */

/* Proposes entry seq (ENTRY bytes) on n; repl_propose's result. */
static int propose_seq(struct repl *r, uint64_t seq)
{
    unsigned char e[ENTRY];
    memcpy(e, &seq, sizeof seq);
    memcpy(e + sizeof seq, &seq, ENTRY - sizeof seq);
    return repl_propose(r, e, ENTRY, seq);
}

/* One replica and its state machine: a count, the last entry and a running
 * hash of every entry in order.  The state is written on the replication
 * thread and read by the test's, hence the lock. */
struct node {
    unsigned id;             /* its id, 1..N */
    struct repl *r;          /* the replica, NULL while closed */
    char dir[256];           /* its data directory */
    pthread_mutex_t mu;      /* guards the state below */
    uint64_t count;          /* entries applied */
    uint64_t last;           /* the last entry (a sequence number) */
    uint64_t hash;           /* FNV-1a over the entries in order */
    int out_of_order;        /* an entry did not follow the last one */
    uint64_t ok;             /* proposals of this replica reported committed */
    uint64_t refused;        /* proposals reported not committed */
    struct repl_result done; /* the last proposal's result */
};

static struct node nodes[N];
static struct repl_voter voters[N];
static int applied_efd;      /* kicked by every apply, so waits wake on progress */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int fsm_apply(void *ctx, uint64_t index, const void *data, size_t len)
{
    struct node *n = ctx;
    uint64_t seq;
    (void)index;
    /* ENTRY bytes: the sequence number, then its bytes again up to an odd
     * length (libraft 0.15 shifted entries after an odd-length one when a
     * replica caught up with a batch; the seam frames them). */
    if (len != ENTRY || memcmp(data, (const char *)data + sizeof seq, ENTRY - sizeof seq) != 0)
        return -1;
    memcpy(&seq, data, sizeof seq);
    pthread_mutex_lock(&n->mu);
    if (seq != n->last + 1)
        n->out_of_order = 1;
    n->last = seq;
    n->count++;
    n->hash = (n->hash ^ seq) * 1099511628211ULL;
    pthread_mutex_unlock(&n->mu);
    uint64_t one = 1;
    ssize_t w = write(applied_efd, &one, sizeof one);
    (void)w;
    return 0;
}

static int fsm_snapshot(void *ctx, void **data, size_t *len)
{
    struct node *n = ctx;
    uint64_t *s = malloc(3 * sizeof *s);
    if (!s)
        return -1;
    pthread_mutex_lock(&n->mu);
    s[0] = n->count, s[1] = n->last, s[2] = n->hash;
    pthread_mutex_unlock(&n->mu);
    *data = s;
    *len = 3 * sizeof *s;
    return 0;
}

static int restores; /* snapshots restored, on any replica (atomic: three threads) */

static int fsm_restore(void *ctx, const void *data, size_t len)
{
    struct node *n = ctx;
    uint64_t s[3];
    if (len != sizeof s)
        return -1;
    memcpy(s, data, sizeof s);
    pthread_mutex_lock(&n->mu);
    n->count = s[0], n->last = s[1], n->hash = s[2];
    __atomic_add_fetch(&restores, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&n->mu);
    return 0;
}

/* Three free ports on 127.0.0.1: bound together so they differ, then let go. */
static int free_ports(void)
{
    int fds[N];
    for (int i = 0; i < N; i++) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof a;
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fds[i], (struct sockaddr *)&a, &al) != 0)
            return -1;
        voters[i].id = (unsigned)i + 1;
        snprintf(voters[i].addr, sizeof voters[i].addr, "127.0.0.1:%u", ntohs(a.sin_port));
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
    return 0;
}

static int node_open(struct node *n, int join)
{
    struct repl_config cfg = {
        .id = n->id, .data_dir = n->dir, .n_voters = N,
        .election_ms = 1000, .heartbeat_ms = 100,
        .snapshot_every = 256, .snapshot_trailing = 64, .join = join,
        .fsm = { .ctx = n, .apply = fsm_apply, .snapshot = fsm_snapshot, .restore = fsm_restore },
    };
    memcpy(cfg.voters, voters, sizeof voters);
    /* A replica starts from nothing, as a restarted process would. */
    n->count = n->last = n->hash = 0;
    n->out_of_order = 0;
    n->r = repl_open(&cfg);
    return n->r ? 0 : -1;
}

/* Takes every replica's results. */
static void drain(void)
{
    struct repl_result res[64];
    for (int i = 0; i < N; i++) {
        if (!nodes[i].r)
            continue;
        size_t got;
        while ((got = repl_poll(nodes[i].r, res, 64)) > 0)
            for (size_t k = 0; k < got; k++) {
                if (res[k].kind != REPL_DONE)
                    continue;
                nodes[i].done = res[k];
                if (res[k].status == REPL_OK)
                    nodes[i].ok++;
                else
                    nodes[i].refused++;
            }
    }
}

/* Waits until cond holds, waking on any replica's results or any apply;
 * returns the time it took (us), or -1 after WAIT_MS. */
static int64_t wait_for(int (*cond)(void *), void *arg)
{
    int64_t start = now_us(), end = start + (int64_t)WAIT_MS * 1000;
    for (;;) {
        drain();
        if (cond(arg))
            return now_us() - start;
        int64_t left = end - now_us();
        if (left <= 0)
            return -1;
        struct pollfd p[N + 1];
        int np = 0;
        for (int i = 0; i < N; i++)
            if (nodes[i].r)
                p[np++] = (struct pollfd){ .fd = repl_fd(nodes[i].r), .events = POLLIN };
        p[np++] = (struct pollfd){ .fd = applied_efd, .events = POLLIN };
        /* A leader change is seen by the replication thread's periodic look,
         * which kicks the result eventfd: no poll times out unnoticed. */
        poll(p, (nfds_t)np, (int)(left / 1000) + 1);
        uint64_t v;
        ssize_t rd = read(applied_efd, &v, sizeof v);
        (void)rd;
    }
}

/* The leader every open replica agrees on (and that says it leads), or 0. */
static unsigned agreed_leader(void)
{
    unsigned leader = 0;
    for (int i = 0; i < N; i++) {
        if (!nodes[i].r)
            continue;
        struct repl_info in;
        repl_status(nodes[i].r, &in);
        if (in.leader == 0 || (leader && in.leader != leader))
            return 0;
        leader = in.leader;
    }
    if (!leader || !nodes[leader - 1].r)
        return 0;
    struct repl_info in;
    repl_status(nodes[leader - 1].r, &in);
    return in.is_leader ? leader : 0;
}

/* The leader (arg) knows every voter holds its last entry. */
static int leader_sees_all(void *arg)
{
    struct node *n = arg;
    struct repl_info in;
    repl_status(n->r, &in);
    if (!in.is_leader || in.n_voters != N)
        return 0;
    for (unsigned k = 0; k < in.n_voters; k++)
        if (in.match[k] != in.last)
            return 0;
    return 1;
}

static int have_leader(void *arg)
{
    (void)arg;
    return agreed_leader() != 0;
}

/* Every open replica has applied *want entries. */
static int all_applied(void *arg)
{
    uint64_t want = *(uint64_t *)arg;
    for (int i = 0; i < N; i++) {
        if (!nodes[i].r)
            continue;
        pthread_mutex_lock(&nodes[i].mu);
        uint64_t c = nodes[i].count;
        pthread_mutex_unlock(&nodes[i].mu);
        if (c < want)
            return 0;
    }
    return 1;
}

struct want_results {
    struct node *n;  /* the replica proposed on */
    uint64_t total;  /* how many results it must have had */
};

static int got_results(void *arg)
{
    struct want_results *w = arg;
    return w->n->ok + w->n->refused >= w->total;
}

/* Proposes entries first..last on n, keeping the window full, and waits for
 * every result.  Returns how many of its proposals were ever committed. */
static uint64_t propose_range(struct node *n, uint64_t first, uint64_t last)
{
    uint64_t base = n->ok + n->refused;
    for (uint64_t seq = first; seq <= last;) {
        if (propose_seq(n->r, seq) == 0) {
            seq++;
            continue;
        }
        if (errno != EBUSY)
            return 0;
        struct want_results w = { n, n->ok + n->refused + 1 };
        if (wait_for(got_results, &w) < 0)
            return 0;
    }
    struct want_results w = { n, base + (last - first + 1) };
    wait_for(got_results, &w);
    return n->ok;
}

static int same_state(void)
{
    int first = -1;
    for (int i = 0; i < N; i++) {
        if (!nodes[i].r)
            continue;
        if (first < 0) {
            first = i;
            continue;
        }
        if (nodes[i].count != nodes[first].count || nodes[i].hash != nodes[first].hash ||
            nodes[i].out_of_order || nodes[first].out_of_order)
            return 0;
    }
    return 1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    char top[] = "/tmp/test_repl.XXXXXX";
    setvbuf(stdout, NULL, _IOLBF, 0);
    applied_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!mkdtemp(top) || applied_efd < 0 || free_ports() != 0) {
        printf("cannot set up: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < N; i++) {
        nodes[i].id = (unsigned)i + 1;
        pthread_mutex_init(&nodes[i].mu, NULL);
        snprintf(nodes[i].dir, sizeof nodes[i].dir, "%s/n%d", top, i + 1);
    }

    /* 1. Election. */
    int64_t t0 = now_us();
    int opened = 0;
    for (int i = 0; i < N; i++)
        opened += node_open(&nodes[i], 0) == 0;
    CHECK(opened == N, "three replicas open");
    if (opened != N)
        return TEST_DONE();
    int64_t el = wait_for(have_leader, NULL);
    CHECK(el >= 0, "a leader is elected (%.0f ms after start)", (now_us() - t0) / 1000.0);
    if (el < 0)
        return TEST_DONE();
    struct node *lead = &nodes[agreed_leader() - 1];
    struct repl_info info;
    repl_status(lead->r, &info);
    CHECK(info.n_voters == N, "the leader knows the %u voters (%u)", N, info.n_voters);
    CHECK(info.term >= 1, "the term is %llu", (unsigned long long)info.term);

    /* 2. Commit latency, one proposal at a time. */
    static int64_t lat[SEQUENTIAL];
    uint64_t seq = 1;
    int lat_ok = 1;
    for (int k = 0; k < SEQUENTIAL; k++, seq++) {
        int64_t s = now_us();
        struct want_results w = { lead, lead->ok + lead->refused + 1 };
        if (propose_seq(lead->r, seq) != 0 || wait_for(got_results, &w) < 0 ||
            lead->done.status != REPL_OK) {
            lat_ok = 0;
            break;
        }
        lat[k] = now_us() - s;
    }
    CHECK(lat_ok, "%d proposals committed one at a time", SEQUENTIAL);
    if (!lat_ok)
        return TEST_DONE();
    qsort(lat, SEQUENTIAL, sizeof lat[0], cmp_i64);
    printf("# commit latency (3 replicas, loopback, fsync): median %.2f ms, p99 %.2f ms, max %.2f ms\n",
           lat[SEQUENTIAL / 2] / 1000.0, lat[SEQUENTIAL * 99 / 100] / 1000.0,
           lat[SEQUENTIAL - 1] / 1000.0);

    /* 3. A thousand more, pipelined; then all three hold the same sequence. */
    int64_t s = now_us();
    uint64_t ok = propose_range(lead, seq, seq + PIPELINED - 1);
    int64_t took = now_us() - s;
    seq += PIPELINED;
    CHECK(ok == SEQUENTIAL + PIPELINED, "%d pipelined proposals committed (%llu in all)",
          PIPELINED, (unsigned long long)ok);
    printf("# pipelined: %d entries in %.0f ms (%.0f entries/s)\n", PIPELINED, took / 1000.0,
           PIPELINED / (took / 1e6));
    uint64_t want = seq - 1;
    CHECK(wait_for(all_applied, &want) >= 0, "all three applied %llu entries",
          (unsigned long long)want);
    CHECK(same_state(), "all three applied them in the same order");

    /* 4. A follower refuses a proposal and names the leader. */
    struct node *fol = &nodes[(lead->id) % N];
    uint64_t never = 999999;
    struct want_results wf = { fol, fol->ok + fol->refused + 1 };
    CHECK(repl_propose(fol->r, &never, sizeof never, never) == 0 && wait_for(got_results, &wf) >= 0,
          "the follower answers a proposal");
    CHECK(fol->done.status == REPL_NOTLEADER && fol->done.leader == lead->id,
          "it is refused as not leader, naming leader %u (status %d, leader %u)", lead->id,
          fol->done.status, fol->done.leader);

    /* 5. The leader goes: the other two elect another within the bound. */
    uint64_t old_term = info.term;
    unsigned old = lead->id;
    repl_close(lead->r);
    lead->r = NULL;
    int64_t fo = wait_for(have_leader, NULL);
    CHECK(fo >= 0, "a new leader after the leader closed");
    if (fo < 0)
        return TEST_DONE();
    printf("# failover: new leader %.0f ms after the old one closed (election timeout 1000 ms)\n",
           fo / 1000.0);
    lead = &nodes[agreed_leader() - 1];
    repl_status(lead->r, &info);
    CHECK(lead->id != old && info.term > old_term, "leader %u in term %llu (was %u in %llu)",
          lead->id, (unsigned long long)info.term, old, (unsigned long long)old_term);
    uint64_t before = lead->ok;
    ok = propose_range(lead, seq, seq + AFTER - 1) - before;
    seq += AFTER;
    CHECK(ok == AFTER, "the two left commit %d more (%llu)", AFTER, (unsigned long long)ok);

    /* 6. The old leader comes back on its data and catches up. */
    CHECK(node_open(&nodes[old - 1], 0) == 0, "the old leader reopens on its data");
    want = seq - 1;
    CHECK(wait_for(all_applied, &want) >= 0 && same_state(),
          "it catches up: all three hold the same %llu entries", (unsigned long long)want);

    /* 7. A follower's data is wiped: it catches up from the leader's snapshot. */
    fol = &nodes[lead->id % N];
    repl_close(fol->r);
    fol->r = NULL;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fol->dir);
    CHECK(system(cmd) == 0, "replica %u's data wiped", fol->id);
    int restores0 = __atomic_load_n(&restores, __ATOMIC_SEQ_CST);
    CHECK(node_open(fol, 1) == 0, "it reopens on an empty directory");
    int64_t cu = wait_for(all_applied, &want);
    CHECK(cu >= 0 && same_state(), "it catches up: all three hold the same %llu entries again",
          (unsigned long long)want);
    printf("# wiped replica caught up in %.0f ms\n", cu / 1000.0);
    for (int i = 0; i < N && cu < 0; i++) {
        struct repl_info in;
        repl_status(nodes[i].r, &in);
        printf("# replica %u: applied %llu entries; commit %llu applied %llu last %llu term %llu leader %u\n",
               nodes[i].id, (unsigned long long)nodes[i].count, (unsigned long long)in.commit,
               (unsigned long long)in.applied, (unsigned long long)in.last,
               (unsigned long long)in.term, in.leader);
    }
    int restored = __atomic_load_n(&restores, __ATOMIC_SEQ_CST) - restores0;
    CHECK(restored > 0, "from a snapshot (%d restored)", restored);

    /* 8. The leader sees every voter hold its whole log (match = last). */
    lead = &nodes[agreed_leader() - 1];
    CHECK(wait_for(leader_sees_all, lead) >= 0, "the leader's match index of each voter reaches its last");

    /* 9. A planned stop: the leader hands over within one election timeout;
     * a follower has nothing to hand over. */
    old = lead->id;
    fol = &nodes[old % N];
    CHECK(repl_handover(fol->r) == -1, "a follower refuses to hand over");
    int64_t h0 = now_us();
    int handed = repl_handover(lead->r);
    int64_t ho = now_us() - h0;
    repl_status(lead->r, &info);
    CHECK(handed == 0 && !info.is_leader && info.leader && info.leader != old,
          "the leader handed over to %u in %.0f ms (rc %d)", info.leader, ho / 1000.0, handed);
    CHECK(ho <= 1100 * 1000, "within one election timeout and the threads' hop (%.0f ms)", ho / 1000.0);
    printf("# handover: %.0f ms\n", ho / 1000.0);

    for (int i = 0; i < N; i++)
        if (nodes[i].r)
            repl_close(nodes[i].r);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", top);
    return TEST_DONE();
}
