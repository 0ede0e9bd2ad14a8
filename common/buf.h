/*
 * buf.h - the one growable byte buffer of pubsub.  Encoded records, the
 * broker's per-client output, a store's pending writes and the library's
 * outgoing commands all live in a ps__buf.  It grows by doubling and never
 * shrinks until freed; the bound on what it may hold is the owner's to
 * check (with ps__buf_reserve failing only when memory does), because each
 * owner has its own limit and its own way of saying no.
 */
#ifndef PS_BUF_H
#define PS_BUF_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer.  Zero-initialise to use. */
typedef struct {
    uint8_t *data; /* heap bytes, owned */
    size_t len;    /* bytes used */
    size_t cap;    /* bytes allocated */
} ps__buf;

/*
 * Makes room for more bytes after len, allocating at least first bytes
 * the first time.  Returns 0, or -1 with errno ENOMEM.
 */
int ps__buf_reserve(ps__buf *b, size_t more, size_t first);

/* Appends len bytes.  Returns 0, or -1 with errno ENOMEM. */
int ps__buf_append(ps__buf *b, const void *data, size_t len);

/* Frees the buffer's bytes and zeroes it. */
void ps__buf_free(ps__buf *b);

#endif
