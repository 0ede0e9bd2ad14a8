/*
 * config_scan.c - the integer scanner: libconfig 1.5 reads an integer
 * written without an "L" suffix into 32 bits and silently keeps what is
 * left of a larger one, so the text of the file (and of every file it
 * @includes, found where libconfig looks) is scanned first, skipping
 * comments and strings as libconfig's scanner does, and every such
 * integer is an error on its line.  An @include of something that is no
 * regular file is refused here too, before libconfig would hang on it.
 */
#include "config_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * libconfig 1.5 reads an integer without an "L" suffix into 32 bits and
 * silently keeps whatever is left of a larger one (4294967296 becomes 0).
 * So the file is scanned for such literals first, skipping comments and
 * strings the way libconfig's scanner does, and each one is an error; the
 * setting on that line is then not judged by the truncated value.
 */
#define MAX_INCLUDE_DEPTH 10 /* as libconfig's own limit */
#define MAX_SCAN_SIZE (16 << 20) /* bigger files are not scanned */

/* Remembers file:line as holding a cut integer; 0 when it was known (a
 * file included twice). */
static int mark_wide(struct loader *l, const char *file, int line)
{
    for (int i = 0; i < l->n_wide; i++)
        if (l->wide[i].line == line && !strcmp(l->wide[i].file, file))
            return 0;
    struct error *more = realloc(l->wide, (size_t)(l->n_wide + 1) * sizeof *more);
    if (!more)
        return 1;
    l->wide = more;
    if ((more[l->n_wide].file = strdup(file))) {
        more[l->n_wide].line = line;
        l->n_wide++;
    }
    return 1;
}

/* True when setting s sits on a line with a cut integer. */
int cfg_is_wide(const struct loader *l, const config_setting_t *s)
{
    char buf[4096];
    const char *file = cfg_file_name(l, config_setting_source_file(s), buf, sizeof buf);
    for (int i = 0; i < l->n_wide; i++)
        if (l->wide[i].line == cfg_line_of(s) && !strcmp(l->wide[i].file, file))
            return 1;
    return 0;
}

/*
 * False when an @include names something that exists but is no regular
 * file: libconfig's scanner would exit the whole process on reading a
 * directory, and wait forever on a fifo.  Both places libconfig may look
 * are checked: beside the file and in the working directory.
 */
static int include_ok(const struct loader *l, const char *name)
{
    char buf[4096];
    struct stat st;
    const char *beside = cfg_file_name(l, name, buf, sizeof buf);
    if (stat(beside, &st) == 0 && !S_ISREG(st.st_mode))
        return 0;
    return !(stat(name, &st) == 0 && !S_ISREG(st.st_mode)) && *name;
}

static void scan_text(struct loader *l, const char *file, const char *p, const char *end, int depth)
{
    int line = 1;
    while (p < end) {
        if (*p == '\n') {
            line++;
            p++;
        } else if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
            while (p < end && *p != '\n')
                p++;
        } else if (*p == '/' && p + 1 < end && p[1] == '*') {
            for (p += 2; p < end && !(*p == '*' && p + 1 < end && p[1] == '/'); p++)
                line += *p == '\n';
            p = end - p > 2 ? p + 2 : end;
        } else if (*p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                line += *p == '\n';
            }
            p = p < end ? p + 1 : end;
        } else if (*p == '@' && end - p > 8 && !strncmp(p, "@include", 8)) {
            /* @include "NAME": scan that file too, found where libconfig looks. */
            const char *q = p + 8;
            while (q < end && (*q == ' ' || *q == '\t'))
                q++;
            const char *close = q < end && *q == '"' ? memchr(q + 1, '"', (size_t)(end - q - 1)) : NULL;
            if (close && close - q - 1 < 1024) {
                char name[1100], buf[4096];
                snprintf(name, sizeof name, "%.*s", (int)(close - q - 1), q + 1);
                l->abs_include |= name[0] == '/';
                if (!include_ok(l, name)) {
                    cfg_err_at_file(l, file, line, "@include \"%s\": not a regular file", name);
                    l->bad_include = 1;
                } else {
                    cfg_scan_file(l, cfg_file_name(l, name, buf, sizeof buf), depth + 1);
                }
                q = close + 1;
            }
            p = q;
        } else if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '*') {
            /* A name: its digits are no number. */
            while (p < end && (*p == '-' || *p == '_' || *p == '*' || (*p >= '0' && *p <= '9') ||
                               (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
                p++;
        } else if ((*p >= '0' && *p <= '9') ||
                   ((*p == '-' || *p == '+') && p + 1 < end && p[1] >= '0' && p[1] <= '9')) {
            const char *start = p;
            int hex = 0, real = 0;
            if (*p == '-' || *p == '+')
                p++;
            if (p + 1 < end && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                hex = 1;
                for (p += 2; p < end && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                                        (*p >= 'A' && *p <= 'F'));)
                    p++;
            } else {
                for (; p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' ||
                                   *p == 'E' || ((*p == '-' || *p == '+') && (p[-1] == 'e' || p[-1] == 'E')));
                     p++)
                    real |= *p == '.' || *p == 'e' || *p == 'E';
            }
            if (real)
                continue;
            if (p < end && *p == 'L') {
                p++;
                continue;
            }
            char num[64];
            if (p - start >= (long)sizeof num) {
                if (mark_wide(l, file, line))
                    cfg_err_at_file(l, file, line, "the integer %.20s... is too long", start);
                continue;
            }
            snprintf(num, sizeof num, "%.*s", (int)(p - start), start);
            errno = 0;
            long long v = hex ? (long long)strtoull(num, NULL, 16) : strtoll(num, NULL, 10);
            if (errno == ERANGE) {
                if (mark_wide(l, file, line))
                    cfg_err_at_file(l, file, line, "%s is too large for any integer", num);
            } else if ((v > INT_MAX || v < INT_MIN) && mark_wide(l, file, line)) {
                cfg_err_at_file(l, file, line,
                            "%s does not fit in a plain integer (32 bits): write %sL", num, num);
            }
        } else {
            p++;
        }
    }
}

/* Scans one file for cut integers (unreadable: libconfig says so). */
void cfg_scan_file(struct loader *l, const char *file, int depth)
{
    if (depth > MAX_INCLUDE_DEPTH)
        return;
    FILE *f = fopen(file, "r");
    struct stat st;
    if (!f)
        return;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size < MAX_SCAN_SIZE) {
        size_t size = (size_t)st.st_size;
        char *text = malloc(size + 1);
        size_t n = text ? fread(text, 1, size, f) : 0;
        if (text)
            scan_text(l, file, text, text + n, depth);
        free(text);
    }
    fclose(f);
}
