/*
 * topic.c - MQTT-style topic filters for pubsub channels.
 *
 * Topics are '/'-separated levels ("amd64/sshd").  A filter may use "+"
 * for exactly one level and "#", as its last level, for all the rest,
 * including none, so "amd64/#" matches "amd64" too (MQTT 3.1.1, 4.7.1).
 * Matching walks both strings once and allocates nothing.
 */
#include "brokerd.h"

#include <string.h>

int topic_match(const char *pattern, size_t plen, const char *topic, size_t tlen)
{
    size_t p = 0, t = 0;

    for (;;) {
        /* Here both p and t stand at the start of a level. */
        if (p < plen && pattern[p] == '#')
            return 1;
        if (p < plen && pattern[p] == '+') {
            p++;
            while (t < tlen && topic[t] != '/')
                t++;
        } else {
            while (p < plen && t < tlen && pattern[p] != '/' && topic[t] != '/') {
                if (pattern[p] != topic[t])
                    return 0;
                p++;
                t++;
            }
            /* Both levels must end together. */
            if ((p < plen && pattern[p] != '/') || (t < tlen && topic[t] != '/'))
                return 0;
        }
        if (p == plen && t == tlen)
            return 1;
        if (p == plen)
            return 0;
        /* The pattern has a separator here. */
        if (t == tlen)
            /* "a/#" matches "a": the rest of the pattern must be "/#". */
            return plen - p == 2 && pattern[p + 1] == '#';
        p++; /* skip '/' in both */
        t++;
    }
}

int topic_valid_pattern(const char *pattern, size_t len)
{
    if (len == 0 || memchr(pattern, '\0', len))
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && pattern[i] != '/')
            continue;
        size_t n = i - start;
        const char *lvl = pattern + start;
        if (memchr(lvl, '+', n) && !(n == 1))
            return 0;
        if (memchr(lvl, '#', n) && !(n == 1 && i == len))
            return 0;
        start = i + 1;
    }
    return 1;
}

int topic_valid_name(const char *topic, size_t len)
{
    /* Every published message asks: one pass over a short topic costs
     * less than three memchr calls, which win on long ones. */
    if (len > 64)
        return !memchr(topic, '\0', len) && !memchr(topic, '+', len) && !memchr(topic, '#', len);
    for (size_t i = 0; i < len; i++)
        if (topic[i] == '\0' || topic[i] == '+' || topic[i] == '#')
            return 0;
    return 1;
}
