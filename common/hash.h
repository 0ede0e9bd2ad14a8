/*
 * hash.h - the one hash function of pubsub: 32-bit FNV-1a.  Every table
 * (channels by name, clients by routing id, tickets by tag, access rules
 * by name) hashes with it, so there is one function to trust and tune.
 * FNV-1a is small, has no setup and spreads short keys well; the tables
 * bound their chains by their size, not by the hash, so a client that
 * picks colliding names can slow only lookups of its own entries' bucket.
 */
#ifndef PS_HASH_H
#define PS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define PS_HASH_SEED 2166136261u /* FNV-1a's offset basis */

/* Continues the hash h over the len bytes at p. */
static inline uint32_t ps__hash_more(uint32_t h, const void *p, size_t len)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}

/* The hash of the len bytes at p. */
static inline uint32_t ps__hash(const void *p, size_t len)
{
    return ps__hash_more(PS_HASH_SEED, p, len);
}

#endif
