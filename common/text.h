/*
 * text.h - names and topics made safe to show a person.  Channel names,
 * topics, patterns and client names come from the network; before one is
 * written to a log, an admin reply or a terminal, every byte outside
 * printable ASCII becomes '?', so no escape sequence, newline or NUL of a
 * client's choosing reaches a reader.
 */
#ifndef PS_TEXT_H
#define PS_TEXT_H

#include <stddef.h>

/*
 * Writes at most cap-1 bytes of the n bytes at s into out as printable
 * text, NUL-terminated (cap must be at least 1).  Returns out.
 */
char *ps__printable(char *out, size_t cap, const void *s, size_t n);

/* A printable heap copy of the n bytes at s, or NULL (ENOMEM). */
char *ps__printable_dup(const void *s, size_t n);

#endif
