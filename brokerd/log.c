/*
 * log.c - the broker's log: one line per event on stderr.
 *
 * Each line names its level ("error", "warning", ...).  When stderr is
 * the systemd journal (JOURNAL_STREAM names the same device and inode as
 * our stderr), lines start with a "<N>" syslog priority prefix instead of
 * a timestamp, so journalctl shows the right priority.  Debug lines are
 * written only with -v.  A line never carries a control character.
 *
 * Lines a client can cause at will (its connections, channels it makes or
 * is refused) are rate-limited by kind and source (log_allow): a few per
 * window, then they are counted, and one summary line says how many were
 * held back ("... and 44,990 more in the last 10 s"), written at the end
 * of the turn and then at most once a second (log_summaries, a turn job).
 * The table of kinds is bounded; a new kind takes the place of the one
 * used least recently, whose count is summarised first.
 */
#include "brokerd.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_LIMIT_LINES 5      /* lines of one kind and source per window */
#define LOG_LIMIT_WINDOW_MS 10000 /* the window */
#define LOG_SUMMARY_MS 1000    /* summaries of one kind at most this often */
#define LOG_LIMITS_MAX 64      /* kinds and sources tracked at once */

/* One kind of line from one source, and what was held back of it. */
struct log_limit {
    const char *kind;      /* the kind (a static string), NULL: slot free */
    char source[64];       /* where they come from ("" for none) */
    int level;             /* the level of its summary line */
    int64_t window;        /* monotonic ms the current window began */
    unsigned lines;        /* lines written in the window */
    uint64_t held;         /* lines held back since the last summary */
    int64_t held_since;    /* monotonic ms the first of them was held */
    int64_t summarised;    /* monotonic ms of the last summary, 0: none yet */
    int64_t used;          /* monotonic ms it was last asked about */
};

static struct log_limit limits[LOG_LIMITS_MAX]; /* the rate limits in use */
static int log_verbose; /* debug lines wanted */
static int log_journal; /* stderr is the journal: "<N>" prefixes */

void log_init(int verbose)
{
    log_verbose = verbose;
    log_journal = 0;
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;
    if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
        (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
        log_journal = 1;
}

static const char *level_word(int level)
{
    switch (level) {
    case LOG_LVL_ERR: return "error";
    case LOG_LVL_WARNING: return "warning";
    case LOG_LVL_NOTICE: return "notice";
    case LOG_LVL_INFO: return "info";
    default: return "debug";
    }
}

void log_msg(int level, const char *fmt, ...)
{
    if (level >= LOG_LVL_DEBUG && !log_verbose)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* One event, one line: fold any newline a message carried; and no
     * other control character (ESC, BEL, DEL...) of a client's choosing,
     * should a name reach here unescaped, gets to a reader's terminal. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
        else if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    if (log_journal) {
        fprintf(stderr, "<%d>%s: %s\n", level, level_word(level), line);
    } else {
        struct timespec ts;
        struct tm tm;
        char stamp[32] = "";
        clock_gettime(CLOCK_REALTIME, &ts);
        if (localtime_r(&ts.tv_sec, &tm))
            strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ld brokerd %s: %s\n", stamp, ts.tv_nsec / 1000000L,
                level_word(level), line);
    }
    fflush(stderr);
}

static int64_t log_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* n with thousands separators, into buf. */
static const char *with_commas(uint64_t n, char *buf, size_t cap)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < cap; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* Writes the summary of what ll held back, and starts counting again. */
static void summarise(struct log_limit *ll, int64_t now)
{
    char n[40];
    long long secs = (now - ll->held_since + 999) / 1000;
    log_msg(ll->level, "%s%s%s: ... and %s more in the last %lld s", ll->kind,
            *ll->source ? " from " : "", ll->source, with_commas(ll->held, n, sizeof n),
            secs > 0 ? secs : 1);
    ll->held = 0;
    ll->summarised = now;
}

int log_allow(int level, const char *kind, const char *source)
{
    int64_t now = log_now();
    struct log_limit *ll = NULL, *oldest = &limits[0];
    for (size_t i = 0; i < LOG_LIMITS_MAX && !ll; i++) {
        struct log_limit *l = &limits[i];
        if (l->kind == kind && !strcmp(l->source, source))
            ll = l;
        else if (!l->kind || (oldest->kind && l->used < oldest->used))
            oldest = l;
    }
    if (!ll) {
        ll = oldest;
        if (ll->kind && ll->held)
            summarise(ll, now);
        memset(ll, 0, sizeof *ll);
        ll->kind = kind;
        snprintf(ll->source, sizeof ll->source, "%s", source);
        ll->window = now;
    }
    ll->used = now;
    ll->level = level;
    if (now - ll->window >= LOG_LIMIT_WINDOW_MS) {
        ll->window = now;
        ll->lines = 0;
    }
    if (ll->lines < LOG_LIMIT_LINES) {
        ll->lines++;
        return 1;
    }
    if (!ll->held++)
        ll->held_since = now;
    return 0;
}

long log_summaries(void *ctx)
{
    (void)ctx;
    int64_t now = log_now();
    long next = -1;
    for (size_t i = 0; i < LOG_LIMITS_MAX; i++) {
        struct log_limit *ll = &limits[i];
        if (!ll->kind || !ll->held)
            continue;
        int64_t due = ll->summarised ? ll->summarised + LOG_SUMMARY_MS : now;
        if (due <= now) {
            summarise(ll, now);
            continue;
        }
        if (next < 0 || due - now < next)
            next = (long)(due - now);
    }
    return next;
}
