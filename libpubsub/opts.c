/*
 * opts.c - the options a program hands to ps_connect().  A ps_opts is a
 * plain value: the application fills it, ps_connect reads it, and the
 * caller may free it right after.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "internal.h"

void ps__opts_defaults(struct ps_opts *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = PS_DEFAULT_TIMEOUT_MS;
    o->heartbeat_ms = 1000;
    o->heartbeat_timeout_ms = PS_DEFAULT_HEARTBEAT_TIMEOUT_MS;
    o->window = 100;
    o->reconnect = 1;
    o->pause_wait_ms = PS_DEFAULT_WAIT_MS;
    /* A client of an older protocol, for tests of how a broker serves one:
     * PUBSUB_PROTOCOL_MINOR=1 speaks 1.1 (no batches). */
    const char *m = getenv("PUBSUB_PROTOCOL_MINOR");
    o->minor = m && *m >= '0' && *m <= '0' + PS_WIRE_MINOR && !m[1] ? *m - '0' : PS_WIRE_MINOR;
}

ps_opts *ps_opts_new(void)
{
    ps_opts *o = malloc(sizeof *o);
    if (!o)
        return NULL;
    ps__opts_defaults(o);
    return o;
}

void ps_opts_destroy(ps_opts **op)
{
    if (!op || !*op)
        return;
    ps_opts *o = *op;
    free(o->name);
    free(o->curve_server_key);
    free(o->curve_public_key);
    if (o->curve_secret_key) /* do not leave a secret in freed memory */
        memset(o->curve_secret_key, 0, strlen(o->curve_secret_key));
    free(o->curve_secret_key);
    free(o);
    *op = NULL;
}

int ps_opts_set_int(ps_opts *o, int opt, int value)
{
    ps__clear_errmsg();
    if (!o)
        goto invalid;
    switch (opt) {
    case PS_OPT_TIMEOUT_MS:
        if (value < 1)
            goto invalid;
        o->timeout_ms = value;
        return 0;
    case PS_OPT_HEARTBEAT_MS:
        if (value < 10)
            goto invalid;
        o->heartbeat_ms = value;
        return 0;
    case PS_OPT_HEARTBEAT_TIMEOUT_MS:
        if (value < 20)
            goto invalid;
        o->heartbeat_timeout_ms = value;
        return 0;
    case PS_OPT_WINDOW:
        if (value < 1 || value > 1000000)
            goto invalid;
        o->window = value;
        return 0;
    case PS_OPT_RECONNECT:
        o->reconnect = value != 0;
        return 0;
    case PS_OPT_CONFIRM_WINDOW:
        if (value < 0 || value > 1000000)
            goto invalid;
        o->confirm_window = value;
        return 0;
    case PS_OPT_PAUSE_WAIT_MS:
        if (value < -1)
            goto invalid;
        o->pause_wait_ms = value;
        return 0;
    }
invalid:
    errno = EINVAL;
    return -1;
}

int ps_opts_set_str(ps_opts *o, int opt, const char *value)
{
    ps__clear_errmsg();
    char **slot = NULL;
    size_t max = PS_WIRE_TEXT_MAX;
    if (!o)
        goto invalid;
    switch (opt) {
    case PS_OPT_NAME:
        slot = &o->name;
        break;
    case PS_OPT_CURVE_SERVER_KEY:
        slot = &o->curve_server_key;
        max = 40;
        break;
    case PS_OPT_CURVE_PUBLIC_KEY:
        slot = &o->curve_public_key;
        max = 40;
        break;
    case PS_OPT_CURVE_SECRET_KEY:
        slot = &o->curve_secret_key;
        max = 40;
        break;
    default:
        goto invalid;
    }
    /* Z85 keys are exactly 40 characters; a name may be anything short. */
    if (value && (strlen(value) > max || (max == 40 && strlen(value) != 40)))
        goto invalid;
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
invalid:
    errno = EINVAL;
    return -1;
}

int ps_opts_set_trace(ps_opts *o, ps_trace_fn fn, void *arg)
{
    ps__clear_errmsg();
    if (!o) {
        errno = EINVAL;
        return -1;
    }
    o->trace = fn;
    o->trace_arg = fn ? arg : NULL;
    return 0;
}
