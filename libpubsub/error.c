/*
 * error.c - the library's one error convention: -1 (or NULL) and errno,
 * with the PS_E* codes for what errno has no word for.  Refusals by the
 * broker arrive as wire codes and become the errno values pubsub.h lists;
 * the broker's own sentence is kept per thread for ps_errmsg().
 */
#include <errno.h>
#include <string.h>

#include <zmq.h>

#include "internal.h"

/* The broker's text for the calling thread's last failed call (cleared
 * when the next call starts). */
static __thread char errmsg[PS_WIRE_TEXT_MAX + 1];

int ps__errno_from_wire(uint16_t code)
{
    switch (code) {
    case PS_WERR_VERSION: return PS_EVERSION;
    case PS_WERR_NOCHANNEL: return ENOENT;
    case PS_WERR_WRONGTYPE: return EPROTOTYPE;
    case PS_WERR_TOOLARGE: return EMSGSIZE;
    case PS_WERR_DENIED: return EACCES;
    case PS_WERR_NORESP: return PS_ENORESP;
    case PS_WERR_FULL: return ENOBUFS;
    case PS_WERR_LIMIT: return ENOBUFS;
    case PS_WERR_INVALID: return EINVAL;
    case PS_WERR_SESSION: return EHOSTUNREACH;
    default: return EPROTO;
    }
}

void ps__set_errmsg(const char *text, size_t len)
{
    if (len > PS_WIRE_TEXT_MAX)
        len = PS_WIRE_TEXT_MAX;
    if (len)
        memcpy(errmsg, text, len);
    errmsg[len] = '\0';
}

void ps__clear_errmsg(void)
{
    errmsg[0] = '\0';
}

const char *ps_errmsg(ps_client *c)
{
    (void)c; /* the text is per thread, so one client or many does not matter */
    return errmsg[0] ? errmsg : NULL;
}

const char *ps_strerror(int errnum)
{
    switch (errnum) {
    case PS_ENORESP: return "no responders";
    case PS_EVERSION: return "broker speaks another protocol version";
    case PS_EREPLY: return "the responder answered with an error";
    case PS_EPARTIAL: return "not every receiver confirmed";
    case EHOSTUNREACH: return "broker unreachable";
    case ETIMEDOUT: return "timed out";
    case ENOENT: return "unknown channel";
    case EPROTOTYPE: return "operation does not fit the channel's type";
    case EMSGSIZE: return "message too large";
    case EACCES: return "not allowed";
    case ENOBUFS: return "queue full or limit reached";
    case ENOMSG: return "no more replies";
    }
    return zmq_strerror(errnum); /* libzmq's own codes, then strerror() */
}

const char *ps_version(void)
{
#define PS_STR2(x) #x
#define PS_STR(x) PS_STR2(x)
    return PS_STR(PS_VERSION_MAJOR) "." PS_STR(PS_VERSION_MINOR) "." PS_STR(PS_VERSION_PATCH);
}
