/*
 * store.c - durable queues: an append-only, segmented log on disk.
 *
 * Each durable queue has a directory DATA_DIR/queues/NAME holding segment
 * files named after the first record id they hold (16 hex digits, ".seg").
 * A record is
 *
 *     len:u32 crc:u32 type:u8 id:u64 body        ; len counts type..end
 *     MSG  body = topic_len:u16 topic data        ; data runs to the end
 *     SMSG body = seq:u64 topic_len:u16 topic data ; MSG with its channel seq
 *     ACK  body = (empty)                         ; id is the acked MSG or SMSG
 *
 * big-endian, crc = the CRC-32 of zlib and gzip over type..end (rec_crc).
 * A message is written when it is queued and its ACK when a consumer
 * acknowledged it; at start the log is replayed and every message without
 * an ACK is queued again, in order, with the sequence number it was given
 * when it was published (so that a receiver can tell a redelivery after a
 * crash).  Messages are
 * written as SMSG; MSG, without the number, is what stores written before
 * it hold, still read (its messages are numbered afresh).  A store written
 * with SMSG records cannot be read by a broker older than them: it sees an
 * unknown record type and sets the rest aside.
 * A message's record is written (not yet synced) before it is queued, so
 * a write the disk refuses refuses the message itself: nothing is
 * delivered that is not in the file.  The records of a run of publishes
 * (those of one client's frame, channel.c) are staged: store_stage puts
 * each into the buffer of the turn, store_write writes them all with one
 * write(2), and only then are their messages queued (store_keep), or, when
 * the write failed, all of them refused; about STAGE_MAX bytes wait so at
 * most (the record that crosses it, up to a message's size, more).
 * A full disk refuses publishes, logged once, until a write succeeds
 * again; acks gather and go out at the end of the turn (one lost to a
 * full disk means a redelivery after a restart, never a loss).  Publisher
 * confirms are sent only once their record is on disk (store_confirm is
 * given where it ends).  With fsync "always" the loop syncs at the end
 * of the turn itself; with "batch" a worker thread syncs while the loop
 * goes on, and every confirm that arrived meanwhile rides on the next
 * sync (group commit); the worker reports back through an eventfd the
 * loop polls.  The oldest segment is deleted once all its
 * messages are acknowledged (never a newer one first: its ACK records may
 * still be needed).  At recovery a record that is cut short at the end of
 * the last segment is a torn write and is cut off (its bytes kept aside,
 * since a damaged length looks the same); any other bad record
 * (wrong checksum, impossible length) is damage: it and the rest of its
 * segment are moved aside into a ".damaged" file and reported, never
 * served as data, and so is every newer segment (renamed NAME.seg.damaged
 * whole): the history stops at the first damage, it never resumes later.
 *
 * The stores of a broker and their one fsync worker live in b->stores (a
 * store_set).  Each store has at most one sync asked of the worker at a
 * time (st->syncing), so the worker's queue of jobs and of answers are
 * lists through the stores themselves and can never be full: no sync is
 * ever skipped.  Recovery hands each message back through the callback
 * store_open was given (the queue's), and confirms go out through out.c,
 * so this file calls nothing above it.
 */
#include "brokerd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <isa-l/crc.h>
#include <zlib.h>

#define REC_HEAD 17            /* len + crc + type + id */
#define REC_MSG 1              /* a queued message */
#define REC_ACK 2              /* its acknowledgement */
#define REC_SMSG 3             /* a queued message with its channel sequence number */
#define SEG_MAX (64u << 20)    /* bytes per segment before a new one starts */
#define STAGE_MAX (256u << 10) /* bytes in wbuf past which staged records are written: what
                                * waits unqueued stays bounded */
#define SEG_NAME 32            /* room for a segment's file name */

/* One segment file, oldest first. */
typedef struct segment {
    uint64_t first;            /* first record id, also its name */
    size_t live;               /* messages in it not yet acknowledged */
    STAILQ_ENTRY(segment) link;/* the store's segments, oldest first */
} segment;

/* Publisher confirms waiting for their records to reach the disk: a run
 * of one client's publishes in a row, answered by one OK (protocol 1.4:
 * its value counts them), or a single one for an older client. */
typedef struct confirm {
    client *cl;                /* who waits; NULL once it went away */
    uint64_t corr;             /* the correlation id of the last of them */
    uint32_t n;                /* publishes answered: 1, more only for a client of 1.4 */
    uint64_t off;              /* the last record ends here in the active segment */
    STAILQ_ENTRY(confirm) link;/* the store's confirms, oldest first */
} confirm;

struct store {
    broker *b;                 /* the broker, for output and logs */
    char *name;                /* the queue it keeps, for logs */
    char *dir;                 /* its directory, for logs */
    int dfd;                   /* that directory, open: every file of the store is
                                * opened from it, so it is never looked up again */
    int nospace;               /* the disk was full at the last write (logged once) */
    int dir_seen;              /* dir_gone found the directory there in this turn of the
                                * loop: looked again in the next (one fstat a turn, not
                                * one a message) */
    int always;                /* fsync at the end of each turn, in the loop */
    int fd;                    /* the active (newest) segment, open for append */
    uint64_t written;          /* bytes of the active segment written */
    uint64_t synced;           /* ... of which known to be on disk */
    int syncing;               /* the worker has a job or an answer of this store */
    ps__buf wbuf;              /* records of this turn, not yet written */
    uint64_t staged;           /* SMSG records in wbuf not yet written: ids next_id on */
    STAILQ_HEAD(, segment) segs; /* segments, oldest first; the last is active */
    segment *active;           /* that last segment, the one appended to */
    uint64_t next_id;          /* id of the next record */
    uint64_t last_seq;         /* highest channel sequence number found at recovery */
    STAILQ_HEAD(, confirm) cfs;/* confirms waiting, oldest first */
    confirm *cf_last;          /* the newest of them, when there are any */
    int failed;                /* errno that refuses publishes until restart (a sync
                                * failed, the directory was deleted), or 0 */
    int job_fd;                /* worker: the fd to sync (guarded by the set's mu) */
    uint64_t job_off;          /* worker: bytes written when asked, then synced */
    int job_err;               /* worker: errno of the sync, or 0 */
    int64_t job_ns;            /* worker: how long the sync took, in ns */
    STAILQ_ENTRY(store) job_link; /* on the set's jobs or done list while syncing */
    SLIST_ENTRY(store) link;   /* the set's stores */
};

/* Every store of a broker and their fsync worker (b->stores). */
struct store_set {
    SLIST_HEAD(, store) all;   /* every open store */
    pthread_t thread;          /* the worker */
    int started;               /* thread must be joined */
    pthread_mutex_t mu;        /* guards jobs, done and stop */
    pthread_cond_t cv;         /* a job arrived or stop was asked */
    STAILQ_HEAD(, store) jobs; /* stores waiting for a sync, oldest first */
    STAILQ_HEAD(, store) done; /* stores whose sync finished, for the loop */
    int efd;                   /* eventfd: a sync finished */
    int stop;                  /* end the worker */
    histo fsyncs;              /* how long each sync took; the loop's alone (the worker's
                                * times are added when the loop takes its finished jobs) */
};

static void *syncer_main(void *arg)
{
    store_set *set = arg;
    pthread_mutex_lock(&set->mu);
    for (;;) {
        while (STAILQ_EMPTY(&set->jobs) && !set->stop)
            pthread_cond_wait(&set->cv, &set->mu);
        store *st = STAILQ_FIRST(&set->jobs);
        if (!st)
            break; /* stop, and nothing left to do */
        STAILQ_REMOVE_HEAD(&set->jobs, job_link);
        int fd = st->job_fd;
        pthread_mutex_unlock(&set->mu);
        int64_t t0 = loop_now_ns();
        int err = fdatasync(fd) < 0 ? errno : 0;
        int64_t took = loop_now_ns() - t0;
        pthread_mutex_lock(&set->mu);
        st->job_err = err;
        st->job_ns = took;
        STAILQ_INSERT_TAIL(&set->done, st, job_link);
        uint64_t one = 1;
        if (write(set->efd, &one, sizeof one) < 0) {
            /* The counter cannot overflow at one write per sync. */
        }
    }
    pthread_mutex_unlock(&set->mu);
    return NULL;
}

static int syncer_start(store_set *set)
{
    if (set->started)
        return 0;
    if (pthread_create(&set->thread, NULL, syncer_main, set) != 0) {
        errno = EAGAIN;
        return -1;
    }
    set->started = 1;
    return 0;
}

int store_init(broker *b)
{
    store_set *set = calloc(1, sizeof *set);
    if (!set) {
        log_err("out of memory");
        return -1;
    }
    SLIST_INIT(&set->all);
    STAILQ_INIT(&set->jobs);
    STAILQ_INIT(&set->done);
    pthread_mutex_init(&set->mu, NULL);
    pthread_cond_init(&set->cv, NULL);
    set->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (set->efd < 0) {
        log_err("cannot make the fsync worker's eventfd: %s", strerror(errno));
        free(set);
        return -1;
    }
    b->stores = set;
    return 0;
}

void store_fini(broker *b)
{
    store_set *set = b->stores;
    if (!set)
        return;
    if (set->started) {
        pthread_mutex_lock(&set->mu);
        set->stop = 1;
        pthread_cond_signal(&set->cv);
        pthread_mutex_unlock(&set->mu);
        pthread_join(set->thread, NULL);
    }
    close(set->efd);
    pthread_mutex_destroy(&set->mu);
    pthread_cond_destroy(&set->cv);
    free(set);
    b->stores = NULL;
}

int store_event_fd(const broker *b)
{
    return b->stores->efd;
}

/* Big-endian helpers for the record head. */
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}
static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/*
 * The checksum of a record: the CRC-32 of zlib and gzip, which stores
 * have always carried.  zlib's (1.2.13 in Debian 12) works a byte or a
 * word at a time: 94 ns for a message of 64 bytes (a record of 92), a
 * seventh of the loop's time under a durable queue at a million
 * messages a second.  ISA-L's crc32_gzip_refl gives the same value with
 * the CPU's carry-less multiply, 9 ns, but costs more than zlib below
 * some 32 bytes (an ACK record's 9 bytes: 20 ns against 8), where zlib
 * keeps the work.
 */
#define CRC_ISAL_MIN 32 /* bytes from which ISA-L's CRC is the faster */
static uint32_t rec_crc(const uint8_t *p, size_t len)
{
    if (len >= CRC_ISAL_MIN)
        return crc32_gzip_refl(0, p, len);
    return (uint32_t)crc32(0, p, (uInt)len);
}

/* Appends one record, an ACK or (with qm) an SMSG, to the turn's buffer.
 * 0 or -1 (ENOMEM). */
static int append(store *st, uint8_t type, uint64_t id, const qmsg *qm)
{
    size_t body = qm ? 8 + 2 + qm->tlen + qm->len : 0;
    size_t need = REC_HEAD + body;
    ps__buf *w = &st->wbuf;
    if (ps__buf_reserve(w, need, 65536) < 0)
        return -1;
    uint8_t *p = w->data + w->len;
    put32(p, (uint32_t)(need - 4 - 4));
    p[8] = type;
    put64(p + 9, id);
    if (qm) {
        put64(p + 17, qm->seq);
        p[25] = (uint8_t)(qm->tlen >> 8);
        p[26] = (uint8_t)qm->tlen;
        memcpy(p + 27, qm->topic, qm->tlen);
        if (qm->len)
            memcpy(p + 27 + qm->tlen, qm->data, qm->len);
    }
    put32(p + 4, rec_crc(p + 8, need - 8));
    w->len += need;
    return 0;
}

static char *seg_path(const store *st, uint64_t first, const char *suffix)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%016" PRIx64 ".seg%s", st->dir, first, suffix) < 0)
        return NULL;
    return p;
}

/* The name of a segment file inside the store's directory. */
static const char *seg_name(char buf[SEG_NAME], uint64_t first, const char *suffix)
{
    snprintf(buf, SEG_NAME, "%016" PRIx64 ".seg%s", first, suffix);
    return buf;
}

/* Opens a file of the store, never following a symbolic link. */
static int store_openat(const store *st, const char *name, int flags)
{
    return openat(st->dfd, name, flags | O_NOFOLLOW | O_CLOEXEC, 0640);
}

/* Opens (creating) the segment that starts at first as the active one. */
static int open_active(store *st, uint64_t first, int create)
{
    char *path = seg_path(st, first, ""), name[SEG_NAME];
    if (!path)
        return -1;
    int fd = store_openat(st, seg_name(name, first, ""),
                          O_WRONLY | O_APPEND | (create ? O_CREAT | O_EXCL : 0));
    if (fd < 0) {
        log_err("durable queue '%s': %s: %s", st->name, path, strerror(errno));
        free(path);
        return -1;
    }
    free(path);
    struct stat sb;
    fstat(fd, &sb);
    if (create)
        fsync(st->dfd); /* the new name must survive a crash too */
    st->fd = fd;
    st->written = st->synced = (uint64_t)sb.st_size;
    return 0;
}

static segment *seg_add(store *st, uint64_t first)
{
    segment *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->first = first;
    STAILQ_INSERT_TAIL(&st->segs, s, link);
    st->active = s;
    return s;
}

/* Recovery --------------------------------------------------------------- */

/* What is wrong with a record found at recovery. */
enum fault { F_NONE, F_SHORT, F_LENGTH, F_CRC, F_TYPE, F_TOPIC, F_ORDER };
static const char *const fault_text[] = {
    [F_NONE] = "none", [F_SHORT] = "cut short", [F_LENGTH] = "impossible length",
    [F_CRC] = "checksum mismatch", [F_TYPE] = "unknown record type",
    [F_TOPIC] = "bad topic length", [F_ORDER] = "record id out of order"};

/* A recovered message, until the whole log is read. */
typedef struct rmsg {
    uint64_t id;               /* record id */
    uint64_t seq;              /* channel sequence number, 0 from a MSG record */
    segment *seg;              /* its segment */
    char *topic;               /* topic, NUL-terminated */
    size_t tlen;               /* bytes in topic */
    uint8_t *data;             /* payload */
    size_t len;                /* bytes in data */
    int acked;                 /* an ACK record was found */
} rmsg;

/* Recovered messages in id order, for binary search by ACK records. */
typedef struct {
    rmsg *v;                   /* the messages */
    size_t n, cap;             /* used and allocated entries */
} rlist;

static rmsg *rlist_find(rlist *l, uint64_t id)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->v[mid].id == id)
            return &l->v[mid];
        if (l->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Moves bytes [off, end) of a segment (open as sfd) aside into
 * NAME.seg.damaged and cuts the segment there. */
static void set_aside(store *st, const segment *seg, int sfd, const char *path,
                      const uint8_t *data, size_t off, size_t size)
{
    char *aside = NULL, name[SEG_NAME];
    if (asprintf(&aside, "%s.damaged", path) >= 0) {
        int fd = store_openat(st, seg_name(name, seg->first, ".damaged"),
                              O_WRONLY | O_CREAT | O_APPEND);
        if (fd >= 0) {
            if (write(fd, data + off, size - off) < 0)
                log_err("durable queue '%s': %s: %s", st->name, aside, strerror(errno));
            fsync(fd);
            close(fd);
        }
        free(aside);
    }
    if (ftruncate(sfd, (off_t)off) < 0)
        log_err("durable queue '%s': truncate %s: %s", st->name, path, strerror(errno));
}

/* Renames a whole segment that follows damage to NAME.seg.damaged. */
static void set_aside_segment(store *st, uint64_t first)
{
    char *path = seg_path(st, first, ""), *aside = seg_path(st, first, ".damaged");
    char name[SEG_NAME], dname[SEG_NAME];
    if (path && aside) {
        if (renameat(st->dfd, seg_name(name, first, ""), st->dfd,
                     seg_name(dname, first, ".damaged")) < 0)
            log_err("durable queue '%s': rename %s: %s", st->name, path, strerror(errno));
        else
            log_err("durable queue '%s': %s follows a damaged record: set aside whole in %s",
                    st->name, path, aside);
    }
    free(path);
    free(aside);
}

/*
 * Reads one segment into l.  last: it is the newest segment, where an
 * incomplete record is a torn write.  Returns 0, 1 when it found damage
 * (what follows it was set aside), or -1 (I/O error).
 */
static int read_segment(store *st, segment *seg, int last, rlist *l, long max_len,
                        uint64_t *max_id)
{
    char *path = seg_path(st, seg->first, ""), name[SEG_NAME];
    int rc = -1, damaged = 0;
    uint8_t *data = NULL;
    if (!path)
        return -1;
    int fd = store_openat(st, seg_name(name, seg->first, ""), O_RDWR);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0)
        goto out;
    size_t size = (size_t)sb.st_size, got = 0;
    data = malloc(size ? size : 1);
    if (!data)
        goto out;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n <= 0)
            goto out;
        got += (size_t)n;
    }
    size_t off = 0;
    while (off < size) {
        const uint8_t *p = data + off;
        size_t left = size - off;
        enum fault why = F_NONE;
        uint32_t len = left < REC_HEAD ? 0 : get32(p);
        if (left < REC_HEAD)
            why = F_SHORT;
        else if (len < REC_HEAD - 8 || len > (uint64_t)max_len + 8 + 2 + PS_WIRE_TOPIC_MAX + 9)
            why = F_LENGTH;
        else if (len + 8 > left)
            why = F_SHORT;
        else if (rec_crc(p + 8, len) != get32(p + 4))
            why = F_CRC;
        else if (p[8] != REC_MSG && p[8] != REC_SMSG && p[8] != REC_ACK)
            why = F_TYPE;
        /* An SMSG is a MSG with 8 more bytes in front of the topic's length. */
        size_t hs = p[8] == REC_SMSG ? 8 : 0, fixed = 9 + hs + 2;
        if (why == F_NONE && p[8] != REC_ACK &&
            (len < fixed || ((size_t)p[17 + hs] << 8 | p[18 + hs]) > len - fixed))
            why = F_TOPIC;
        else if (why == F_NONE && p[8] != REC_ACK && l->n && get64(p + 9) <= l->v[l->n - 1].id)
            why = F_ORDER;
        if (why == F_NONE) {
            uint64_t id = get64(p + 9);
            if (p[8] != REC_ACK) {
                size_t tlen = (size_t)p[17 + hs] << 8 | p[18 + hs];
                size_t dlen = len - fixed - tlen;
                const uint8_t *tp = p + 19 + hs;
                if (l->n == l->cap) {
                    size_t cap = l->cap ? l->cap * 2 : 1024;
                    rmsg *v = realloc(l->v, cap * sizeof *v);
                    if (!v)
                        goto out;
                    l->v = v;
                    l->cap = cap;
                }
                rmsg *m = &l->v[l->n];
                memset(m, 0, sizeof *m);
                m->id = id;
                m->seq = hs ? get64(p + 17) : 0;
                m->seg = seg;
                m->topic = strndup((const char *)tp, tlen);
                m->tlen = tlen;
                m->data = malloc(dlen ? dlen : 1);
                if (!m->topic || !m->data) {
                    free(m->topic);
                    free(m->data);
                    goto out;
                }
                memcpy(m->data, tp + tlen, dlen);
                m->len = dlen;
                l->n++;
            } else {
                rmsg *m = rlist_find(l, id);
                if (m)
                    m->acked = 1;
            }
            if (id > *max_id)
                *max_id = id;
            off += len + 8;
            continue;
        }
        if (last && why == F_SHORT) {
            /* Most likely a write the crash interrupted, but a damaged length
             * looks the same: keep the bytes aside rather than destroy them. */
            log_warn("durable queue '%s': %s: torn write of %zu bytes at offset %zu cut off "
                     "(kept in %s.damaged)", st->name, path, left, off, path);
        } else {
            log_err("durable queue '%s': %s: damaged record at offset %zu (%s): "
                    "%zu bytes set aside in %s.damaged",
                    st->name, path, off, fault_text[why], left, path);
            damaged = 1;
        }
        set_aside(st, seg, fd, path, data, off, size);
        break;
    }
    rc = damaged;
out:
    if (rc < 0)
        log_err("durable queue '%s': cannot read %s: %s", st->name, path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(data);
    free(path);
    return rc;
}

/* Reads every segment and queues what was not acknowledged. */
static int recover(store *st, store_restore_fn *restore, void *ctx)
{
    int dfd = dup(st->dfd);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        log_err("durable queue '%s': cannot read %s: %s", st->name, st->dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    uint64_t *firsts = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        char *end;
        if (len != 20 || strcmp(de->d_name + 16, ".seg"))
            continue;
        uint64_t first = strtoull(de->d_name, &end, 16);
        if (end != de->d_name + 16)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *v = realloc(firsts, cap * sizeof *v);
            if (!v) {
                free(firsts);
                closedir(d);
                return -1;
            }
            firsts = v;
        }
        firsts[n++] = first;
    }
    closedir(d);
    if (n)
        qsort(firsts, n, sizeof *firsts, cmp_u64);

    rlist l = {0};
    uint64_t max_id = 0;
    int rc = 0;
    size_t done;
    for (done = 0; done < n && rc == 0; done++) {
        segment *seg = seg_add(st, firsts[done]);
        if (!seg)
            rc = -1;
        else
            rc = read_segment(st, seg, done + 1 == n, &l, st->b->cfg->max_message_size, &max_id);
    }
    if (rc == 1) {
        /* The history stops at the first damage: a newer segment is not
         * served after a hole, it is set aside whole, and the damaged one
         * becomes the active segment again. */
        rc = 0;
        for (size_t j = done; j < n; j++)
            set_aside_segment(st, firsts[j]);
        n = done;
    }
    size_t kept = 0;
    for (size_t i = 0; i < l.n; i++) {
        rmsg *m = &l.v[i];
        if (m->seq > st->last_seq)
            st->last_seq = m->seq; /* acknowledged ones too: numbers are not given twice */
        if (rc == 0 && !m->acked &&
            restore(ctx, m->id, m->seq, m->seg, m->topic, m->tlen, m->data, m->len) == 0) {
            m->seg->live++;
            m->topic = NULL;
            m->data = NULL;
            kept++;
        }
        free(m->topic);
        free(m->data);
    }
    free(l.v);
    free(firsts);
    st->next_id = max_id + 1;
    if (rc == 0 && n)
        log_info("durable queue '%s': recovered %zu messages from %zu segments", st->name,
                 kept, n);
    return rc;
}

/* Public ------------------------------------------------------------------ */

/* Opens (creating) the directory name inside dirfd, never through a
 * symbolic link.  Returns its fd, or -1 with errno. */
static int open_subdir(int dirfd, const char *name)
{
    if (mkdirat(dirfd, name, 0750) < 0 && errno != EEXIST)
        return -1;
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * A directory of the store must be the broker's own: one another user owns
 * or may write could be made to hold a symbolic link or a planted file.
 * 0, or -1 after logging.
 */
static int dir_trusted(const store *st, int fd, const char *what)
{
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        log_err("durable queue '%s': %s: %s", st->name, what, strerror(errno));
        return -1;
    }
    if (sb.st_uid != geteuid() || (sb.st_mode & S_IWOTH)) {
        log_err("durable queue '%s': %s is owned by uid %u (mode %04o): refused, it must be the "
                "broker's (uid %u) and not writable by others", st->name, what,
                (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777), (unsigned)geteuid());
        return -1;
    }
    return 0;
}

/*
 * Opens the store's directory DATA_DIR/queues/NAME as st->dfd: of data_dir
 * only the last level is created (a missing parent is a mistake in the
 * configuration, not something to build); queues/ and NAME/ are never
 * followed through a symbolic link, and all three must be the broker's
 * own (dir_trusted).
 */
static int open_dirs(store *st, const char *data_dir)
{
    const char *what = data_dir;
    if (mkdir(data_dir, 0750) < 0 && errno != EEXIST)
        goto fail;
    int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        goto fail;
    if (dir_trusted(st, dfd, data_dir) < 0) {
        close(dfd);
        return -1;
    }
    what = "queues";
    int qfd = open_subdir(dfd, "queues");
    int err = errno;
    close(dfd);
    if (qfd < 0) {
        errno = err;
        goto fail;
    }
    if (dir_trusted(st, qfd, "its queues directory") < 0) {
        close(qfd);
        return -1;
    }
    what = st->name;
    st->dfd = open_subdir(qfd, st->name);
    err = errno;
    close(qfd);
    if (st->dfd >= 0)
        return dir_trusted(st, st->dfd, st->dir);
    errno = err;
fail:
    log_err("durable queue '%s': cannot create or open %s (in %s): %s", st->name, what,
            st->dir, strerror(errno));
    return -1;
}

/*
 * The store's directory was deleted under the broker (its link count is
 * 0): what is written now would not survive a restart, so every publish is
 * refused from here on, and the loss is logged.
 */
static int dir_gone(store *st)
{
    struct stat sb;
    if (st->dir_seen)
        return 0;
    if (fstat(st->dfd, &sb) < 0 || sb.st_nlink > 0) {
        st->dir_seen = 1;
        return 0;
    }
    log_err("durable queue '%s': its directory %s was deleted; refusing its publishes until "
            "restart", st->name, st->dir);
    st->failed = ENOENT;
    return 1;
}

store *store_open(broker *b, const char *name, int always, store_restore_fn *restore, void *ctx)
{
    store *st = calloc(1, sizeof *st);
    if (!st || !(st->name = strdup(name))) {
        free(st);
        log_err("durable queue '%s': out of memory", name);
        return NULL;
    }
    st->b = b;
    st->always = always;
    st->fd = -1;
    st->dfd = -1;
    STAILQ_INIT(&st->segs);
    STAILQ_INIT(&st->cfs);
    SLIST_INSERT_HEAD(&b->stores->all, st, link);
    if (asprintf(&st->dir, "%s/queues/%s", b->cfg->data_dir, name) < 0) {
        st->dir = NULL;
        goto fail;
    }
    if (open_dirs(st, b->cfg->data_dir) < 0)
        goto fail;
    if (!always && syncer_start(b->stores) < 0) {
        log_err("durable queue '%s': cannot start the fsync worker: %s", name, strerror(errno));
        goto fail;
    }
    if (recover(st, restore, ctx) < 0)
        goto fail;
    /* Append to the newest segment, or start the first one. */
    if (st->active ? open_active(st, st->active->first, 0) < 0
             : (!seg_add(st, st->next_id) || open_active(st, st->next_id, 1) < 0))
        goto fail;
    return st;
fail:
    store_close(&st);
    return NULL;
}

/* Deletes the oldest segments once all their messages are acknowledged. */
static void reclaim(store *st)
{
    segment *s;
    while ((s = STAILQ_FIRST(&st->segs)) && STAILQ_NEXT(s, link) && s->live == 0) {
        char *path = seg_path(st, s->first, ""), name[SEG_NAME];
        if (path && unlinkat(st->dfd, seg_name(name, s->first, ""), 0) < 0)
            log_warn("durable queue '%s': unlink %s: %s", st->name, path, strerror(errno));
        free(path);
        STAILQ_REMOVE_HEAD(&st->segs, link);
        free(s);
    }
}

uint64_t store_last_seq(const store *st)
{
    return st->last_seq;
}

static void fail_store(store *st, int err);

/*
 * Writes what wbuf holds.  A write the disk has no room for is taken back
 * whole (the file is cut to where it was), so the caller can refuse its
 * messages, and the store goes on: the first such write is logged, and so
 * is the return of space.  Any other error fails the store.  0, or -1 with
 * errno.
 */
static int write_records(store *st)
{
    size_t off = 0;
    while (off < st->wbuf.len) {
        ssize_t n = write(st->fd, st->wbuf.data + off, st->wbuf.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : ENOSPC;
            st->wbuf.len = 0;
            if ((err != ENOSPC && err != EDQUOT) || ftruncate(st->fd, (off_t)st->written) < 0) {
                fail_store(st, err);
            } else if (!st->nospace) {
                st->nospace = 1;
                log_err("durable queue '%s': %s; refusing its publishes until there is room",
                        st->name, strerror(err));
            }
            errno = err;
            return -1;
        }
        off += (size_t)n;
    }
    st->written += st->wbuf.len;
    st->wbuf.len = 0;
    if (st->nospace && off) {
        st->nospace = 0;
        log_notice("durable queue '%s': the disk has room again; publishes accepted", st->name);
    }
    return 0;
}

int store_stage(store *st, qmsg *qm, uint64_t *end)
{
    if (st->failed || dir_gone(st)) {
        errno = st->failed;
        return -1;
    }
    uint64_t id = st->next_id + st->staged;
    if (append(st, REC_SMSG, id, qm) < 0)
        return -1;
    st->staged++;
    qm->sid = id;
    /* Nothing is written or rolled over before store_write, so this is
     * where the record will end in the active segment. */
    *end = st->written + st->wbuf.len;
    return 0;
}

int store_stage_full(const store *st)
{
    return st->wbuf.len >= STAGE_MAX;
}

int store_write(store *st)
{
    uint64_t n = st->staged;
    st->staged = 0;
    if (write_records(st) < 0)
        return -1; /* the ids of the staged records are given again */
    st->next_id += n;
    return 0;
}

void store_keep(store *st, qmsg *qm)
{
    qm->seg = st->active;
    st->active->live++;
}

void store_ack(store *st, qmsg *qm)
{
    segment *seg = qm->seg;
    if (!seg)
        return;
    qm->seg = NULL;
    if (append(st, REC_ACK, qm->sid, NULL) < 0)
        log_warn("durable queue '%s': out of memory for an ack; it will be redelivered after a restart",
                 st->name);
    if (seg->live)
        seg->live--;
    reclaim(st);
}

int store_confirm(store *st, client *c, uint64_t corr, uint64_t end)
{
    /* A run grows while the same client's confirms follow each other: one
     * entry and one OK for a frame's publishes instead of one each, which
     * were a fifth of the loop's time a durable message.  Never across a
     * sync under way that covers the run: those confirms go when it ends,
     * not a sync later. */
    confirm *cf = STAILQ_EMPTY(&st->cfs) ? NULL : st->cf_last;
    if (cf && cf->cl == c && c->minor >= 4 && cf->n < UINT32_MAX && end >= cf->off &&
        !(st->syncing && cf->off <= st->job_off)) {
        cf->corr = corr;
        cf->off = end;
        cf->n++;
        return 0;
    }
    cf = malloc(sizeof *cf);
    if (!cf)
        return -1;
    *cf = (confirm){.cl = c, .corr = corr, .n = 1, .off = end};
    STAILQ_INSERT_TAIL(&st->cfs, cf, link);
    st->cf_last = cf;
    return 0;
}

/* Sends the confirms whose records are on disk (or fails them all with err). */
static void release(store *st, int err)
{
    confirm *cf;
    while ((cf = STAILQ_FIRST(&st->cfs)) && (err || cf->off <= st->synced)) {
        STAILQ_REMOVE_HEAD(&st->cfs, link);
        if (cf->cl && !cf->cl->dead) {
            if (!err)
                out_ok(st->b, cf->cl, cf->corr, cf->n > 1 ? cf->n : 0); /* the confirms of durable publishes */
            else /* one ERROR a publish: the library counts them so */
                for (uint32_t i = 0; i < cf->n && !cf->cl->cut; i++)
                    out_error(st->b, cf->cl, cf->corr, PS_WERR_FULL,
                              "durable queue '%s': cannot write to disk: %s", st->name,
                              strerror(err));
        }
        free(cf);
    }
}

static void fail_store(store *st, int err)
{
    log_err("durable queue '%s': write failed: %s; refusing its publishes until restart",
            st->name, strerror(err));
    st->failed = err ? err : EIO;
    release(st, err);
}

/* Syncs the active segment here, in the loop, and sends its confirms. */
static int sync_now(store *st)
{
    int64_t t0 = loop_now_ns();
    if (fdatasync(st->fd) < 0) {
        fail_store(st, errno);
        return -1;
    }
    histo_add(&st->b->stores->fsyncs, loop_now_ns() - t0);
    st->synced = st->written;
    release(st, 0);
    return 0;
}

/*
 * Starts a new segment once the active one is full and nothing of it is
 * waiting: the old segment is synced here, in the loop, which happens once
 * per SEG_MAX bytes.
 */
static void roll(store *st)
{
    if (st->written < SEG_MAX || st->wbuf.len || st->syncing || sync_now(st) < 0)
        return;
    close(st->fd);
    st->fd = -1;
    st->written = st->synced = 0;
    if (!seg_add(st, st->next_id) || open_active(st, st->next_id, 1) < 0)
        fail_store(st, errno ? errno : ENOMEM);
}

static void turn_end(store *st)
{
    st->dir_seen = 0;
    if (st->failed || st->fd < 0)
        return;
    /* The acks of the turn; on a full disk they are dropped, and the
     * messages' records written before still need their sync.  No record
     * is staged here: channel.c writes its stage before its frame ends. */
    if (write_records(st) < 0 && st->failed)
        return;
    if (STAILQ_EMPTY(&st->cfs) || st->synced >= st->written) {
        roll(st);
        return;
    }
    if (st->always) {
        if (sync_now(st) == 0)
            roll(st);
    } else if (!st->syncing) {
        /* One job per store at most: the list through the stores cannot
         * overflow, and no sync is ever skipped. */
        store_set *set = st->b->stores;
        pthread_mutex_lock(&set->mu);
        st->job_fd = st->fd;
        st->job_off = st->written;
        st->syncing = 1;
        STAILQ_INSERT_TAIL(&set->jobs, st, job_link);
        pthread_cond_signal(&set->cv);
        pthread_mutex_unlock(&set->mu);
    }
}

long store_turn_end(void *ctx)
{
    broker *b = ctx;
    store *st;
    SLIST_FOREACH(st, &b->stores->all, link)
        turn_end(st);
    return -1;
}

void store_events(void *ctx)
{
    broker *b = ctx;
    store_set *set = b->stores;
    uint64_t v;
    if (read(set->efd, &v, sizeof v) < 0)
        return;
    pthread_mutex_lock(&set->mu);
    STAILQ_HEAD(, store) done = STAILQ_HEAD_INITIALIZER(done);
    STAILQ_CONCAT(&done, &set->done);
    pthread_mutex_unlock(&set->mu);
    store *st;
    while ((st = STAILQ_FIRST(&done))) {
        STAILQ_REMOVE_HEAD(&done, job_link);
        st->syncing = 0;
        histo_add(&set->fsyncs, st->job_ns);
        if (st->job_err) {
            fail_store(st, st->job_err);
            continue;
        }
        if (st->job_off > st->synced)
            st->synced = st->job_off;
        release(st, 0);
    }
    /* Confirms that came in during the sync ride on the next one. */
    store_turn_end(b);
}

const histo *store_fsyncs(const broker *b)
{
    return &b->stores->fsyncs;
}

void store_client_gone(broker *b, client *c)
{
    store *st;
    confirm *cf;
    if (!b->stores)
        return; /* start-up failed before the stores were set up */
    SLIST_FOREACH(st, &b->stores->all, link)
        STAILQ_FOREACH(cf, &st->cfs, link)
            if (cf->cl == c)
                cf->cl = NULL;
}

void store_remove(store **sp)
{
    if (!sp || !*sp)
        return;
    store *st = *sp;
    int dfd = st->dfd >= 0 ? dup(st->dfd) : -1;
    char *dir = st->dir ? strdup(st->dir) : NULL;
    char *name = strdup(st->name);
    store_close(sp);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d && dfd >= 0)
        close(dfd);
    if (d)
        rewinddir(d); /* the offset is shared with the fd recovery read */
    struct dirent *de;
    int failed = !d || !dir;
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            unlinkat(dirfd(d), de->d_name, 0) < 0)
            failed = 1;
    if (d)
        closedir(d);
    if (failed || rmdir(dir) < 0)
        log_warn("durable queue '%s' deleted, but %s is left: %s", name ? name : "?",
                 dir ? dir : "its directory", strerror(errno));
    free(dir);
    free(name);
}

void store_close(store **sp)
{
    if (!sp || !*sp)
        return;
    store *st = *sp;
    broker *b = st->b;
    if (st->fd >= 0) {
        turn_end(st);
        while (st->syncing) { /* let the worker finish with our fd */
            struct pollfd pfd = {.fd = b->stores->efd, .events = POLLIN};
            poll(&pfd, 1, 100);
            store_events(b);
        }
        if (st->written > st->synced && fdatasync(st->fd) == 0)
            st->synced = st->written;
        release(st, 0);
        close(st->fd);
    }
    SLIST_REMOVE(&b->stores->all, st, store, link);
    confirm *cf;
    while ((cf = STAILQ_FIRST(&st->cfs))) {
        STAILQ_REMOVE_HEAD(&st->cfs, link);
        free(cf);
    }
    segment *s;
    while ((s = STAILQ_FIRST(&st->segs))) {
        STAILQ_REMOVE_HEAD(&st->segs, link);
        free(s);
    }
    ps__buf_free(&st->wbuf);
    if (st->dfd >= 0)
        close(st->dfd);
    free(st->dir);
    free(st->name);
    free(st);
    *sp = NULL;
}
