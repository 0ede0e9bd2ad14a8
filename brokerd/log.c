/*
 * log.c - the broker's log: one line per event on stderr.
 *
 * Each line names its level ("error", "warning", ...).  When stderr is
 * the systemd journal (JOURNAL_STREAM names the same device and inode as
 * our stderr), lines start with a "<N>" syslog priority prefix instead of
 * a timestamp, so journalctl shows the right priority.  Debug lines are
 * written only with -v.  A line never carries a control character.
 */
#include "brokerd.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
