/*
 * config_errors.c - the errors of one configuration load.  Every error
 * the loaders find is kept with its file and line, so that --check prints
 * all of them, in the order of the file rather than the order of the
 * checks: the loaded file first, then @include'd files by name, each by
 * line.  Beyond MAX_ERRORS (or out of memory) an error is written at
 * once.  A value quoted from the file may hold control characters: each
 * becomes '?', so one error stays one line.
 */
#include "config_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * The name to print for file, where libconfig says a setting or an error
 * is: the loaded file's own name, or an @include'd file's, which libconfig
 * gives as written in the directive; relative ones are found in l->dir.
 */
const char *cfg_file_name(const struct loader *l, const char *file, char *buf, size_t size)
{
    if (!file || !strcmp(file, l->path))
        return l->path;
    if (file[0] == '/' || !l->dir)
        return file;
    snprintf(buf, size, "%s/%s", l->dir, file);
    return buf;
}

/* Records an error at file:line.  Out of memory, it is written at once. */
static void add_error(struct loader *l, const char *file, int line, const char *fmt, va_list ap)
{
    int seq = l->errors++;
    if (!l->errs)
        return;
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    /* A value quoted from the file may hold a newline: one error, one line. */
    for (char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = '?';
    if (l->n_list < MAX_ERRORS) {
        struct error *more = realloc(l->list, (size_t)(l->n_list + 1) * sizeof *more);
        if (more) {
            l->list = more;
            struct error *e = &more[l->n_list];
            e->file = strdup(file);
            e->text = strdup(text);
            e->line = line;
            e->seq = seq;
            if (e->file && e->text) {
                l->n_list++;
                return;
            }
            free(e->file);
            free(e->text);
        }
    }
    fprintf(l->errs, "%s:%d: %s\n", file, line, text);
}

/* An error on a line of the loaded file (0: about the file as a whole). */
void cfg_err_at(struct loader *l, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error(l, l->path, line, fmt, ap);
    va_end(ap);
}

/* An error on a line of an @include'd file (or the loaded one). */
void cfg_err_at_file(struct loader *l, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error(l, file, line, fmt, ap);
    va_end(ap);
}

int cfg_line_of(const config_setting_t *s)
{
    return (int)config_setting_source_line(s);
}

/* An error about setting s, on its line of the file it came from (an
 * @include'd file names itself). */
void cfg_err_on(struct loader *l, const config_setting_t *s, const char *fmt, ...)
{
    va_list ap;
    char buf[4096];
    va_start(ap, fmt);
    add_error(l, cfg_file_name(l, config_setting_source_file(s), buf, sizeof buf), cfg_line_of(s), fmt, ap);
    va_end(ap);
}

/* The loaded file first, then included files by name; by line in each. */
static int error_cmp(const void *pa, const void *pb, void *path)
{
    const struct error *a = pa, *b = pb;
    int am = !strcmp(a->file, path), bm = !strcmp(b->file, path);
    if (am != bm)
        return bm - am;
    int c = strcmp(a->file, b->file);
    if (c)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Writes the errors kept, in file order, and forgets them. */
void cfg_flush_errors(struct loader *l)
{
    if (l->n_list)
        qsort_r(l->list, (size_t)l->n_list, sizeof *l->list, error_cmp, (void *)l->path);
    for (int i = 0; i < l->n_list; i++) {
        fprintf(l->errs, "%s:%d: %s\n", l->list[i].file, l->list[i].line, l->list[i].text);
        free(l->list[i].file);
        free(l->list[i].text);
    }
    free(l->list);
    l->list = NULL;
    l->n_list = 0;
}
