/*
 * brokerd.h - the broker's one internal header.
 *
 * Modules: log (log.c), config (config.c), topic matching (topic.c), and
 * the event loop with its clients, channels and queues (the rest).  Each
 * section below is owned by the module named in it.
 */
#ifndef BROKERD_H
#define BROKERD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "wire.h"

#define BROKERD_VERSION "1.0.0"
#define BROKERD_DEFAULT_TCP "tcp://127.0.0.1:5242"
#define BROKERD_DEFAULT_IPC_NAME "pubsub.sock"

/* log.c ------------------------------------------------------------------ */

/* Levels, numbered as syslog's priorities. */
enum { LOG_LVL_ERR = 3, LOG_LVL_WARNING = 4, LOG_LVL_NOTICE = 5, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/* Sets up logging: verbose enables debug; the journal is detected by
 * JOURNAL_STREAM matching stderr, and then lines carry "<N>" prefixes. */
void log_init(int verbose);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* config.c --------------------------------------------------------------- */

enum chan_type { CHAN_QUEUE = 1, CHAN_BROADCAST = 2, CHAN_PUBSUB = 3 };
enum slow_policy { SLOW_DROP = 0, SLOW_BLOCK = 1 };
enum auto_create { AUTO_NONE = 0, AUTO_PUBSUB = 1 };

/* One channel declared in the file. */
typedef struct config_channel {
    char *name;                  /* channel name, validated */
    enum chan_type type;         /* queue, broadcast or pubsub */
    int retain;                  /* pubsub: keep retained values (default 1) */
    int durable;                 /* queue: keep on disk (default 0) */
    long max_queued;             /* queue: messages held at most (default 100000) */
    enum slow_policy slow;       /* broadcast/pubsub: slow-subscriber policy */
    struct config_channel *next; /* next in file order */
} config_channel;

/* The whole configuration; built by config_load() or config_default(). */
typedef struct config {
    char *path;                  /* file it came from, NULL for defaults */
    char **endpoints;            /* NULL-terminated list of endpoints */
    size_t n_endpoints;          /* entries in endpoints */
    char *data_dir;              /* durable store directory */
    enum auto_create auto_create;/* what an unknown channel name does */
    long max_message_size;       /* payload bytes at most (default 1 MiB) */
    long heartbeat_ms;           /* heartbeat interval (default 1000) */
    long heartbeat_timeout_ms;   /* silence that means dead (default 3000) */
    long max_clients;            /* connected clients at most (default 10000) */
    long max_subscriptions;      /* per client (default 1000) */
    long max_retained;           /* retained topics per channel (default 10000) */
    long client_buffer;          /* bytes queued towards one client at most (default 8 MiB) */
    char *gateway_xpub;          /* plain ZeroMQ gateway, or NULL */
    char *gateway_xsub;          /* plain ZeroMQ gateway, or NULL */
    config_channel *channels;    /* declared channels, file order */
} config;

/*
 * Reads and validates the libconfig file at path.  Every error (syntax,
 * unknown key, wrong type, bad value, duplicate channel, bad endpoint) is
 * written to errs as "FILE:LINE: message\n".  Returns the config, owned
 * by the caller, or NULL when there was any error.
 */
config *config_load(const char *path, FILE *errs);

/*
 * Built-in defaults: tcp on 127.0.0.1:5242 and an ipc socket
 * $XDG_RUNTIME_DIR/pubsub.sock (else ./pubsub.sock), auto_create pubsub.
 */
config *config_default(void);

/* Frees *c (NULL allowed, half-built allowed) and sets *c = NULL. */
void config_destroy(config **c);

/* The declared channel called name, or NULL. */
const config_channel *config_find_channel(const config *c, const char *name);

/* "queue", "broadcast", "pubsub". */
const char *config_type_name(enum chan_type t);

/* topic.c ---------------------------------------------------------------- */

/*
 * True when topic (tlen bytes) matches the MQTT filter pattern (plen
 * bytes): levels split on '/', "+" matches exactly one level, "#" as the
 * last level matches the rest (also none: "a/#" matches "a").
 */
int topic_match(const char *pattern, size_t plen, const char *topic, size_t tlen);

/* True when pattern is a valid filter: non-empty, "+" and "#" only as
 * whole levels, "#" only last, no NUL bytes. */
int topic_valid_pattern(const char *pattern, size_t len);

/* True when topic is a valid topic name: no "+" or "#", no NUL bytes
 * (empty allowed on broadcast and queue channels, checked by the caller). */
int topic_valid_name(const char *topic, size_t len);


/* sd.c: systemd readiness and socket activation (no-ops without systemd) */

/* Reads passed sockets ($LISTEN_FDS) and the watchdog period; call once
 * after logging is set up. */
void sd_setup(void);
/* Binds sock to endpoint, on the socket systemd passed for it if any
 * (ZMQ_USE_FD).  Returns zmq_bind's result. */
int sd_bind(void *sock, const char *endpoint);
/* A passed listening socket matching endpoint, claimed, or -1. */
int sd_take_fd(const char *endpoint);
/* Passed sockets no endpoint claimed (worth a warning). */
int sd_unclaimed(void);
void sd_ready(void);             /* READY=1: every endpoint is bound */
void sd_reloading(void);         /* RELOADING=1 with MONOTONIC_USEC= */
void sd_stopping(void);          /* STOPPING=1 */
void sd_status(const char *text);/* STATUS=text */
long sd_watchdog_ms(void);       /* ping interval, 0 when no watchdog */
void sd_watchdog(void);          /* WATCHDOG=1 */

#endif
