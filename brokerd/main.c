/*
 * main.c - brokerd's command line and lifecycle.
 *
 * Reads the configuration (or the built-in defaults), blocks the signals
 * it handles before libzmq starts its threads (they inherit the mask) and
 * takes them from a signalfd in the event loop, binds every endpoint,
 * tells systemd it is ready, runs the loop, and on SIGTERM/SIGINT closes
 * everything and removes the ipc socket files it created.  SIGHUP reloads
 * the file: new channels appear, limits change, nothing queued, retained
 * or connected is lost; a file with errors leaves the old configuration.
 * The access rules of security.clients change on reload too, and every
 * client is judged again; whether there is security at all, and the
 * broker's CURVE key, are fixed from the start (the sockets carry them).
 *
 * main is the top layer and the only file that knows them all: it
 * registers with the loop every source (signals, the ZAP handler, the
 * ROUTERs, the fsync worker's answers, the gateway's sockets), the jobs
 * of each turn's end in their order (durable writes before output,
 * deadlines, heartbeats, the flush of every client) and the systemd
 * timers, and it attaches the gateway and the HTTP endpoint's live tails
 * to the fan-out through hooks.
 */
#include "brokerd.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_CLI_ENDPOINTS 64 /* -e given at most this often */
#define STATUS_MS 5000        /* systemd STATUS= refresh */

static int cli_endpoints; /* -e replaced the file's endpoints */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: brokerd [OPTION]...\n"
            "Run the pubsub message broker in the foreground.\n"
            "\n"
            "  -c, --config FILE      read the configuration from FILE (default: built-in\n"
            "                         defaults: " BROKERD_DEFAULT_TCP " and an ipc socket)\n"
            "  -e, --endpoint EP      listen on EP instead of the configured endpoints\n"
            "                         (tcp://HOST:PORT or ipc:///PATH; repeatable)\n"
            "      --check            validate the configuration file and exit\n"
            "  -v, --verbose          log debug messages too\n"
            "  -h, --help             show this help and exit\n"
            "  -V, --version          show the version and exit\n"
            "\n"
            "Signals: SIGHUP reloads the file, SIGTERM and SIGINT stop the broker.\n");
}

static uint64_t random_u64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        /* Without the kernel's randomness, time and pid still differ per start. */
        v = ((uint64_t)getpid() << 32) ^ (uint64_t)loop_now() ^ (uint64_t)time(NULL);
    }
    return v;
}

/* Replaces the configured endpoints with the ones from the command line. */
static int set_endpoints(config *cfg, char **eps, size_t n)
{
    char **list = calloc(n + 1, sizeof *list);
    if (!list)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!(list[i] = strdup(eps[i]))) {
            for (size_t k = 0; k < i; k++)
                free(list[k]);
            free(list);
            return -1;
        }
    for (size_t i = 0; i < cfg->n_endpoints; i++)
        free(cfg->endpoints[i]);
    free(cfg->endpoints);
    cfg->endpoints = list;
    cfg->n_endpoints = n;
    return 0;
}

/* Why nc cannot replace the running configuration a, or NULL. */
static const char *reload_refusal(const config *a, const config *nc)
{
    if (a->secure != nc->secure)
        return "adding or removing the security section needs a restart";
    if (a->curve != nc->curve || strcmp(a->curve_secret, nc->curve_secret) != 0)
        return "a change of broker.curve needs a restart";
    return NULL;
}

static int same_endpoints(const config *a, const config *b)
{
    if (a->n_endpoints != b->n_endpoints)
        return 0;
    for (size_t i = 0; i < a->n_endpoints; i++)
        if (strcmp(a->endpoints[i], b->endpoints[i]) != 0)
            return 0;
    return 1;
}

/* True when a and b (either may be NULL) hold the same text. */
static int same_string(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* SIGHUP: reloads the file; keeps the configuration in use on errors. */
static void main_reload(broker *b)
{
    if (!b->cfg->path) {
        log_notice("SIGHUP: no configuration file to reload (started without -c)");
        return;
    }
    sd_reloading();
    log_info("SIGHUP: reloading %s", b->cfg->path);
    char *text = NULL;
    size_t len = 0;
    FILE *errs = open_memstream(&text, &len);
    config *nc = config_load(b->cfg->path, errs ? errs : stderr);
    if (errs)
        fclose(errs);
    if (!nc) {
        for (char *line = text, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            else
                next = line + strlen(line);
            if (*line)
                log_err("%s", line);
        }
        log_err("reload failed: keeping the configuration in use");
    } else if (reload_refusal(b->cfg, nc)) {
        log_err("reload refused: %s; keeping the configuration in use", reload_refusal(b->cfg, nc));
        config_free(&nc);
    } else {
        /* Endpoints stay as bound; the new file's take effect at restart. */
        if (!cli_endpoints && !same_endpoints(nc, b->cfg))
            log_notice("endpoint changes take effect when the broker restarts");
        if (!same_string(nc->http_listen, b->cfg->http_listen) ||
            !same_string(nc->http_token, b->cfg->http_token))
            log_notice("broker.http changes take effect when the broker restarts");
        if (nc->ipc_mode != b->cfg->ipc_mode || nc->ipc_gid != b->cfg->ipc_gid)
            log_notice("ipc_mode and ipc_group changes take effect when the broker restarts");
        /* The links hold the cluster section they started with (cluster.c
         * points into it): it stays until a restart. */
        if (nc->cluster || b->cfg->cluster)
            log_notice("cluster changes take effect when the broker restarts");
        config_cluster *kept = b->cfg->cluster;
        b->cfg->cluster = nc->cluster;
        nc->cluster = kept;
        char **eps = nc->endpoints;
        size_t n = nc->n_endpoints;
        nc->endpoints = b->cfg->endpoints;
        nc->n_endpoints = b->cfg->n_endpoints;
        b->cfg->endpoints = eps;
        b->cfg->n_endpoints = n;
        config_free(&b->cfg);
        b->cfg = nc;
        listen_apply_limits(b);
        client_rejudge(b);
        gateway_reload(b);
        if (chan_apply_config(b) < 0)
            log_err("configuration reloaded, but some channels could not be set up (see above)");
        else
            log_info("configuration reloaded");
    }
    free(text);
    sd_ready();
}

/* Takes pending signals from the signalfd (the loop's handler of it). */
static void read_signals(void *ctx)
{
    broker *b = ctx;
    struct signalfd_siginfo si;
    while (read(b->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            main_reload(b);
        } else {
            log_info("%s received, shutting down", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            loop_stop(b->loop);
        }
    }
}

/* STATUS= for systemctl status: live counts and the rates since the last
 * refresh (about STATUS_MS ago).  A timer of the loop. */
static long refresh_status(void *ctx)
{
    broker *b = ctx;
    static int64_t last_at;      /* monotonic ms of the previous refresh */
    static uint64_t last_in;     /* messages_in then */
    static uint64_t last_out;    /* messages_out then */
    char text[200];
    int64_t span = last_at ? b->now - last_at : 0;
    unsigned long long in_rate = 0, out_rate = 0;
    if (span > 0) {
        in_rate = (unsigned long long)((b->messages_in - last_in) * 1000 / (uint64_t)span);
        out_rate = (unsigned long long)((b->messages_out - last_out) * 1000 / (uint64_t)span);
    }
    snprintf(text, sizeof text,
             "%zu client%s, %zu channel%s, %llu msg/s in, %llu msg/s out (%llu in, %llu out in all)",
             b->n_clients, b->n_clients == 1 ? "" : "s", b->n_channels,
             b->n_channels == 1 ? "" : "s", in_rate, out_rate, (unsigned long long)b->messages_in,
             (unsigned long long)b->messages_out);
    sd_status(text);
    last_at = b->now;
    last_in = b->messages_in;
    last_out = b->messages_out;
    return STATUS_MS;
}

/* WATCHDOG=1 at half the unit's period (a timer of the loop). */
static long ping_watchdog(void *ctx)
{
    (void)ctx;
    sd_watchdog();
    return sd_watchdog_ms();
}

/* The loop's handlers and jobs: the broker's functions, typed for it. */
static void router_input(void *ctx)
{
    broker *b = ctx;
    client_read(b, b->router);
}

static void router_ipc_input(void *ctx)
{
    broker *b = ctx;
    client_read(b, b->router_ipc);
}

static long tickets_due(void *ctx)
{
    return ticket_timers(ctx);
}

static long sweep(void *ctx)
{
    return client_sweep(ctx);
}

static long flush(void *ctx)
{
    return client_turn_end(ctx);
}

/*
 * The heap, set before libzmq starts its I/O thread.  That thread
 * allocates the frames the main thread reads and frees, and the main
 * thread the ones it sends: with an arena of its own, and the top of the
 * heap given back past 128 KiB free, the heaps grew and shrank (brk,
 * madvise) every few frames, some 3,000 page faults a million messages.
 * One arena, given back past HEAP_KEEP free, keeps them at a few hundred.
 * Setting the trim threshold also froze glibc's mmap threshold at 128 KiB,
 * so every frame or retained value above it (a message near the default
 * 1 MiB limit) was a fresh mmap: the I/O thread took a page fault for each
 * 4 KiB it received into it, and the main thread's munmap interrupted the
 * other core to flush its TLB.  Under the soak's attackers (t0540: 400 MB
 * of 64 KiB-1 MB frames in 10 s) that was 53,000-66,000 page faults and
 * 1.6 s of CPU, half the broker's work; with blocks up to HEAP_MMAP_FROM
 * taken from the arena, 6,000-10,000 and 0.8 s.
 */
#define HEAP_KEEP (4 << 20)
#define HEAP_MMAP_FROM (2 << 20) /* blocks from this size up are mmapped */
/*
 * A backlog grows the heap, and each 4 KiB page of it was a page fault:
 * a queue whose publisher runs ahead of its consumer (pbench's queue run,
 * a million 64-byte messages) took 50,000-75,000, a third of the main
 * thread's time in a profile, in the allocator's first write to each new
 * page.  The heap's growth is therefore asked for in huge pages
 * (MADV_HUGEPAGE, heap_advise): each growth reaches HEAP_PAD beyond what
 * is needed, so that most of it is still untouched when the end of the
 * turn advises it, and is then faulted in 2 MiB at a time.  Where the
 * kernel gives no huge pages only madvise's call is lost.  What the
 * allocator keeps at the top when it gives memory back grows by the pad.
 */
#define HEAP_PAD (16 << 20)
#define HEAP_HUGE ((uintptr_t)2 << 20) /* the huge page size advised in */
static uintptr_t heap_advised; /* the heap below this was advised */

static void heap_setup(void)
{
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_TRIM_THRESHOLD, HEAP_KEEP);
    mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_FROM);
    mallopt(M_TOP_PAD, HEAP_PAD);
    heap_advised = (uintptr_t)sbrk(0);
}

/* A job of every turn: advises what the heap grew by since the last turn. */
static long heap_advise(void *ctx)
{
    (void)ctx;
    uintptr_t top = (uintptr_t)sbrk(0);
    if (top < heap_advised) {
        heap_advised = top; /* given back: what grows again is advised again */
    } else if (top - heap_advised >= HEAP_HUGE) {
        uintptr_t from = (heap_advised + HEAP_HUGE - 1) & ~(HEAP_HUGE - 1);
        if (top > from)
            madvise((void *)from, top - from, MADV_HUGEPAGE);
        heap_advised = top;
    }
    return -1;
}

/*
 * Registers everything the loop runs.  The order of the sources is the
 * order their handlers run in a turn; the order of the jobs matters:
 * durable records go to disk before the turn's output leaves (a confirm
 * must not overtake its record), deadlines and heartbeats write output,
 * and the flush of every client comes last.  0, or -1 after logging.
 */
static int wire_loop(broker *b)
{
    long wd = sd_watchdog_ms();
    int rc = 0;
    rc |= loop_watch(b->loop, NULL, b->sigfd, read_signals, b, NULL);
    if (b->zap)
        rc |= loop_watch(b->loop, b->zap, -1, auth_zap, b, NULL) | loop_own(b->loop, b->zap);
    rc |= listen_watch(b);
    rc |= loop_watch(b->loop, b->router, -1, router_input, b, &b->throttled);
    if (b->router_ipc)
        rc |= loop_watch(b->loop, b->router_ipc, -1, router_ipc_input, b, &b->throttled);
    rc |= loop_watch(b->loop, NULL, store_event_fd(b), store_events, b, NULL);
    rc |= gateway_watch(b);
    rc |= http_watch(b);
    rc |= loop_on_turn(b->loop, store_turn_end, b);
    rc |= loop_on_turn(b->loop, tickets_due, b);
    rc |= loop_timer(b->loop, 0, sweep, b);
    rc |= loop_on_turn(b->loop, flush, b);
    /* The links' records after the clients' turn end, which may forward
     * the messages of unparked publishers. */
    rc |= link_watch(b);
    rc |= repl_group_watch(b);
    rc |= loop_on_turn(b->loop, replq_timers, b);
    rc |= loop_on_turn(b->loop, log_summaries, NULL);
    rc |= loop_on_turn(b->loop, heap_advise, NULL);
    if (wd)
        rc |= loop_timer(b->loop, 0, ping_watchdog, b);
    rc |= loop_timer(b->loop, 0, refresh_status, b);
    rc |= loop_timer(b->loop, 0, stats_tick, b);
    rc |= loop_timer(b->loop, 0, admin_sample, b);
    if (rc) {
        log_err("cannot set up the event loop: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* File descriptors the broker needs besides one per client: endpoints,
 * libzmq's own, the stores' files, the log. */
#define FD_SPARE 64

/*
 * Matches the file descriptor limit to max_clients: a broker out of fds
 * cannot accept, and libzmq spins instead of saying so.  The soft limit is
 * raised as far as the hard limit allows; if that is not enough, a warning
 * says so at start rather than a stall under load.
 */
static void fd_limit(long max_clients)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)max_clients + FD_SPARE;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (want > rl.rlim_cur) {
        struct rlimit up = {.rlim_cur = want, .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl.rlim_cur = want;
    }
    if (rl.rlim_cur < need)
        log_warn("the file descriptor limit is %llu (hard limit %llu), too low for max_clients "
                 "= %ld: raise LimitNOFILE or ulimit -n to at least %llu, or lower max_clients",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, max_clients,
                 (unsigned long long)need);
}

int main(int argc, char **argv)
{
    heap_setup();
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"endpoint", required_argument, NULL, 'e'},
        {"check", no_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    char *eps[MAX_CLI_ENDPOINTS];
    size_t n_eps = 0;
    int check = 0, verbose = 0, opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":c:e:vhV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'e':
            if (n_eps == MAX_CLI_ENDPOINTS) {
                fprintf(stderr, "brokerd: too many -e (at most %d)\n", MAX_CLI_ENDPOINTS);
                return 1;
            }
            eps[n_eps++] = optarg;
            break;
        case 'C': check = 1; break;
        case 'v': verbose = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("brokerd %s\n", BROKERD_VERSION); return 0;
        case ':':
            fprintf(stderr, "brokerd: option '%s' needs an argument (try --help)\n", argv[optind - 1]);
            return 1;
        default:
            fprintf(stderr, "brokerd: unknown option '%s' (try --help)\n", argv[optind - 1]);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "brokerd: unexpected argument '%s' (try --help)\n", argv[optind]);
        return 1;
    }
    if (check) {
        if (!path) {
            fprintf(stderr, "brokerd: --check needs -c FILE\n");
            return 1;
        }
        config *c = config_load(path, stderr);
        if (!c)
            return 1;
        printf("%s: configuration OK\n", path);
        config_free(&c);
        return 0;
    }

    log_init(verbose);
    broker *b = calloc(1, sizeof *b);
    if (!b) {
        fprintf(stderr, "brokerd: out of memory\n");
        return 1;
    }
    b->sigfd = -1;
    LIST_INIT(&b->clients);
    LIST_INIT(&b->graveyard);
    LIST_INIT(&b->parked);
    LIST_INIT(&b->pendings);
    int rc = 1;
    b->cfg = path ? config_load(path, stderr) : config_default();
    if (!b->cfg) {
        if (!path)
            fprintf(stderr, "brokerd: cannot build the default configuration: %s\n", strerror(errno));
        goto out;
    }
    cli_endpoints = n_eps > 0;
    if (n_eps && set_endpoints(b->cfg, eps, n_eps) < 0) {
        fprintf(stderr, "brokerd: out of memory\n");
        goto out;
    }
    if (b->cfg->n_endpoints == 0) {
        fprintf(stderr, "brokerd: no endpoint to listen on\n");
        goto out;
    }

    fd_limit(b->cfg->max_clients);

    /* libzmq's threads inherit the mask: block before zmq_ctx_new. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    b->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (b->sigfd < 0) {
        log_err("signalfd: %s", strerror(errno));
        goto out;
    }

    b->id = random_u64();
    b->epoch = random_u64();
    if (!(b->loop = loop_new(&b->now))) {
        log_err("out of memory");
        goto out;
    }
    b->started = b->now;
    if (store_init(b) < 0)
        goto out;
    sd_setup();
    b->ctx = zmq_ctx_new();
    if (!b->ctx) {
        log_err("zmq_ctx_new: %s", zmq_strerror(errno));
        goto out;
    }
    /* The gateway after the ZAP handler (nothing may be bound before it)
     * and before listen_open: it claims its sockets passed by systemd
     * before listen_open warns about unclaimed ones. */
    if (auth_start(b) < 0 || gateway_open(b) < 0 || listen_open(b) < 0 || http_open(b) < 0 ||
        link_open(b) < 0)
        goto out;
    if (b->gw) {
        /* The gateway hears of every pubsub message without channel code
         * knowing it exists. */
        deliver_tap(b, gateway_forward, b, 1);
    } /* the HTTP endpoint's live tails add theirs while one is open */
    if (b->link) {
        /* The cluster's links: broadcast messages too, and the local
         * interest they tell the peers of. */
        deliver_tap(b, link_tap, b, 2);
        b->interest = link_interest;
        b->interest_acked = link_interest_acked;
        b->remote_interest = link_remote_interest;
        b->interest_ctx = b;
        b->waits = &link_waits; /* requests and sync messages reach the peers */
        b->relay = link_relay; /* queues consumed through other nodes */
        b->relay_ctx = b;
        b->repl_answer = link_queue_answer;
    }
    if (b->cfg->cluster && b->cfg->cluster->raft) {
        /* Durable queues are the Raft group's: its state machine, its
         * results; before the channels, which then open no store.  A
         * leader without a majority steps down after one election timeout
         * and its proposals come back lost, which is what refuses a
         * publish on a minority; the wait for a commit is only a backstop
         * behind that, long enough that a healthy group on a loaded disk
         * (a burst of big messages, a snapshot) is not refused a commit
         * it would have made, which the publisher would send again. */
        if (replq_open(b, repl_group_propose, repl_group_leader,
                       4 * b->cfg->cluster->raft->election_ms, &b->repl_hooks.fsm) < 0)
            goto out;
        b->repl_hooks.result = replq_result;
        b->repl_hooks.ctx = b;
    }
    if (chan_apply_config(b) < 0) /* a durable queue that cannot be opened */
        goto out;
    /* The Raft group after the channels and the hooks: a replica that
     * opens at once starts applying its log into them. */
    if (repl_group_open(b) < 0)
        goto out;
    log_notice("brokerd %s ready (broker %016llx, epoch %016llx)", BROKERD_VERSION,
               (unsigned long long)b->id, (unsigned long long)b->epoch);
    if (wire_loop(b) < 0)
        goto out;
    sd_ready();
    rc = loop_run(b->loop) < 0 ? 1 : 0;
    sd_stopping();

out:
    /* First, while the peers are still linked: a leader hands over. */
    repl_group_close(b);
    http_close(b);
    client_free_all(b);
    b->interest = NULL; /* the subscriptions going are not news for the peers */
    chan_free_all(b);
    replq_close(b); /* after the replica's thread stopped and the channels went */
    ps__buf_free(&b->fan_rec);
    store_fini(b);
    gateway_close(b);
    link_close(b);
    listen_close(b);
    ticket_spares_free(b); /* after everything that frees tickets */
    loop_free(&b->loop);
    auth_stop(b);
    if (b->ctx)
        zmq_ctx_term(b->ctx);
    if (b->sigfd >= 0)
        close(b->sigfd);
    config_free(&b->cfg);
    free(b);
    if (rc == 0)
        log_info("stopped");
    return rc;
}
