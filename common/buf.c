/*
 * buf.c - the growable byte buffer (buf.h).
 */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ps__buf_reserve(ps__buf *b, size_t more, size_t first)
{
    if (more > SIZE_MAX / 2 - b->len) {
        errno = ENOMEM;
        return -1;
    }
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : (first ? first : 256);
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int ps__buf_append(ps__buf *b, const void *data, size_t len)
{
    if (ps__buf_reserve(b, len, 0) < 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void ps__buf_free(ps__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
