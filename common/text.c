/*
 * text.c - printable copies of client-chosen bytes (text.h).
 */
#include "text.h"

#include <stdlib.h>

static char shown(unsigned char ch)
{
    return ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
}

char *ps__printable(char *out, size_t cap, const void *s, size_t n)
{
    const unsigned char *p = s;
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = shown(p[i]);
    out[k] = '\0';
    return out;
}

char *ps__printable_dup(const void *s, size_t n)
{
    char *out = malloc(n + 1);
    return out ? ps__printable(out, n + 1, s, n) : NULL;
}
