/*
 * stats.c - the broker's own channel, "$broker", in the manner of
 * Mosquitto's $SYS: every broker.stats_interval_ms the broker publishes
 * its counters and the rates since the last tick as JSON, the whole
 * broker on "stats/broker" and each channel on "stats/channels/NAME",
 * so that `psub -c '$broker' -t 'stats/#'` is a live feed any client can
 * chart.  The documents are admin.c's objects of `pctl status` and
 * `pctl channels` with "in_per_s" and "out_per_s" added: one builder for
 * every window on the broker.  The channel is an ordinary pubsub channel
 * to subscribers (with security they need a right naming "$broker");
 * channel.c refuses any client's or the gateway's publish to it.
 */
#include "brokerd.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define STATS_IDLE_MS 1000 /* while off, how often the timer looks whether a reload turned it on */

/* Messages per second from a counter's growth over span_ms. */
static json_int_t rate(uint64_t now, uint64_t then, int64_t span_ms)
{
    return span_ms > 0 ? (json_int_t)((now - then) * 1000 / (uint64_t)span_ms) : 0;
}

/* Publishes o (taken) as compact JSON on topic of the stats channel. */
static void publish(broker *b, const char *topic, json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text)
        chan_publish_sys(b, topic, text);
    free(text);
}

long stats_tick(void *ctx)
{
    broker *b = ctx;
    long every = b->cfg->stats_interval_ms;
    if (every <= 0) {
        b->stats_at = 0; /* the first tick after it is turned on says no rates */
        return STATS_IDLE_MS;
    }
    int64_t span = b->stats_at ? b->now - b->stats_at : 0;
    json_t *st = admin_status(b);
    if (st) {
        json_object_set_new(st, "in_per_s", json_integer(rate(b->messages_in, b->stats_in, span)));
        json_object_set_new(st, "out_per_s",
                            json_integer(rate(b->messages_out, b->stats_out, span)));
    }
    publish(b, "stats/broker", st);
    channel *ch;
    char topic[16 + PS_WIRE_NAME_MAX];
    SLIST_FOREACH(ch, &b->channels, link) {
        if (!strcmp(ch->name, CHAN_SYS))
            continue; /* its own figures would only count themselves */
        json_t *o = admin_channel(ch);
        if (o) {
            json_object_set_new(o, "in_per_s", json_integer(rate(ch->messages, ch->stats_in, span)));
            json_object_set_new(o, "out_per_s",
                                json_integer(rate(ch->delivered, ch->stats_out, span)));
        }
        ch->stats_in = ch->messages;
        ch->stats_out = ch->delivered;
        snprintf(topic, sizeof topic, "stats/channels/%s", ch->name);
        publish(b, topic, o);
    }
    /* The broker's own figures after its publishes, so that they count in
     * the next span and not twice. */
    b->stats_at = b->now;
    b->stats_in = b->messages_in;
    b->stats_out = b->messages_out;
    return every;
}
