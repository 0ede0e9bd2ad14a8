/*
 * config_int.h - what the files of the configuration reader share, and
 * nothing else includes: the state of one load (struct loader), the
 * error collection (config_errors.c), the integer scanner that works
 * around libconfig 1.5 (config_scan.c) and the schema with its typed
 * getters (config_schema.c).  The section loaders (config.c) are the only
 * users; brokerd.h has the public side of the configuration.
 */
#ifndef CONFIG_INT_H
#define CONFIG_INT_H

#include "brokerd.h"

#include <libconfig.h>
#include <stdarg.h>

/* What a setting of the schema may hold (K_ID: a number or a name). */
enum kind { K_STRING, K_INT, K_BOOL, K_GROUP, K_ARRAY, K_LIST, K_ID };

/* One key of a group in the schema. */
struct key {
    const char *name; /* the key */
    enum kind kind;   /* its type */
};

/* One error found, kept until the load ends so that they can be printed
 * in the order of the file rather than the order of the checks. */
struct error {
    char *file;   /* file name as printed */
    int line;     /* its line, 0 when none */
    int seq;      /* order of discovery, the tie-breaker */
    char *text;   /* the message */
};

#define MAX_ERRORS 1000 /* errors kept for sorting; more are written at once */

/* The state of one load: where errors go and how many there were. */
struct loader {
    const char *path;     /* file name for messages */
    const char *dir;      /* its directory, where @include looks; NULL: cwd */
    FILE *errs;           /* where "FILE:LINE: message" lines go */
    int errors;           /* errors so far */
    struct error *list;   /* those kept, in order of discovery */
    int n_list;           /* entries in list */
    int abs_include;      /* an @include names an absolute path */
    int bad_include;      /* an @include names a directory, a device...: do not parse */
    struct error *wide;   /* integers libconfig cut to 32 bits (file, line) */
    int n_wide;           /* entries in wide */
};

/* config_errors.c -------------------------------------------------------- */

/* The name to print for file (a setting's or an error's, as libconfig
 * gives it): the loaded file's own, or an @include'd file's beside it. */
const char *cfg_file_name(const struct loader *l, const char *file, char *buf, size_t size);
/* An error on a line of the loaded file (0: about the file as a whole). */
void cfg_err_at(struct loader *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error on a line of an @include'd file (or the loaded one). */
void cfg_err_at_file(struct loader *l, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An error about setting s, on its line of the file it came from. */
void cfg_err_on(struct loader *l, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The line of setting s in its file. */
int cfg_line_of(const config_setting_t *s);
/* Writes the errors kept, in file order, and forgets them. */
void cfg_flush_errors(struct loader *l);

/* config_scan.c ---------------------------------------------------------- */

/* Scans file (and what it @includes) for integers libconfig 1.5 would cut
 * to 32 bits, each an error; depth counts the includes so far. */
void cfg_scan_file(struct loader *l, const char *file, int depth);
/* True when setting s sits on a line with a cut integer. */
int cfg_is_wide(const struct loader *l, const config_setting_t *s);

/* config_schema.c -------------------------------------------------------- */

/* The keys each group of the file may hold. */
extern const struct key cfg_broker_keys[], cfg_gateway_keys[], cfg_curve_keys[],
    cfg_keyfile_keys[], cfg_security_keys[], cfg_client_keys[], cfg_channel_keys[],
    cfg_top_keys[], cfg_http_keys[], cfg_cluster_keys[], cfg_peer_keys[], cfg_raft_keys[];
/* Checks every member of group against keys: unknown keys, repeated keys
 * and wrong types are errors.  what names the group in messages. */
void cfg_check_group(struct loader *l, const config_setting_t *group, const struct key *keys,
                     const char *what);
/* True when setting s holds a value of kind k. */
int cfg_has_kind(const config_setting_t *s, enum kind k);
/* The member name of group if present with the right kind, else NULL. */
config_setting_t *cfg_member(const config_setting_t *group, const char *name, enum kind k);
/* Reads an integer within [min, max] into *out when present. */
void cfg_get_long(struct loader *l, const config_setting_t *group, const char *name,
                  long long min, long long max, long *out);
/* Reads a string that must be one of choices; its index, -1 when absent,
 * -2 after the error. */
int cfg_get_choice(struct loader *l, const config_setting_t *group, const char *name,
                   const char *const *choices);
/* Reads a uid or gid setting (a number or a name; group: 1 for a group)
 * into *out; 0, or -1 after the error. */
int cfg_get_id(struct loader *l, const config_setting_t *s, const char *what, int group, long *out);
/* strdup, or NULL after an "out of memory" error. */
char *cfg_strdup(const char *s, struct loader *l);

#endif
