/*
 * progress.c - `--progress` of ppub and psub: a live rate on stderr
 * during long runs and a summary at the end.
 *
 * About once a second the tool reports how many messages it has sent or
 * received, and the rate since the previous report.  On a terminal the
 * line is rewritten in place with "\r"; into a file or a pipe every report
 * is a line of its own, so a log keeps the history.  The summary gives the
 * totals and the average rate over the whole run.
 */
#include "common.h"

#include <string.h>
#include <unistd.h>

#define PROGRESS_EVERY_MS 1000 /* between two reports */

void tool_progress_start(struct tool_progress *p, const char *verb)
{
    memset(p, 0, sizeof *p);
    p->on = 1;
    p->verb = verb;
    p->tty = isatty(STDERR_FILENO);
    p->start_ms = p->last_ms = tool_now_ms();
}

/* Formats a byte rate or count as "12.3 MiB" and the like. */
static void human_bytes(double v, char *buf, size_t cap)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void report(struct tool_progress *p, int64_t now)
{
    char line[256], bytes[32];
    double secs = (double)(now - p->last_ms) / 1000.0;
    double rate = secs > 0 ? (double)(p->count - p->last_count) / secs : 0;
    human_bytes(secs > 0 ? (double)(p->bytes - p->last_bytes) / secs : 0, bytes, sizeof bytes);
    int n = snprintf(line, sizeof line, "%s%s: %llu messages %s, %.0f msg/s, %s/s%s",
                     p->tty ? "\r" : "", tool_name, (unsigned long long)p->count, p->verb, rate,
                     bytes, p->tty ? "\033[K" : "\n");
    if (n > 0)
        tool_write_all(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    p->shown = 1;
    p->last_ms = now;
    p->last_count = p->count;
    p->last_bytes = p->bytes;
}

void tool_progress_add(struct tool_progress *p, uint64_t messages, uint64_t bytes)
{
    if (!p->on)
        return;
    p->count += messages;
    p->bytes += bytes;
    tool_progress_tick(p);
}

void tool_progress_tick(struct tool_progress *p)
{
    if (!p->on)
        return;
    int64_t now = tool_now_ms();
    if (now - p->last_ms >= PROGRESS_EVERY_MS)
        report(p, now);
}

void tool_progress_end(struct tool_progress *p)
{
    char line[256], total[32], rate_b[32];
    if (!p->on)
        return;
    int64_t now = tool_now_ms();
    double secs = (double)(now - p->start_ms) / 1000.0;
    human_bytes((double)p->bytes, total, sizeof total);
    human_bytes(secs > 0 ? (double)p->bytes / secs : 0, rate_b, sizeof rate_b);
    int n = snprintf(line, sizeof line, "%s%s: %llu messages %s (%s) in %.2f s: %.0f msg/s, %s/s\n",
                     p->tty && p->shown ? "\r\033[K" : "", tool_name, (unsigned long long)p->count,
                     p->verb, total, secs, secs > 0 ? (double)p->count / secs : 0, rate_b);
    if (n > 0)
        tool_write_all(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    p->on = 0;
}
