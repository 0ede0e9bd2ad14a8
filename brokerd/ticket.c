/*
 * ticket.c - what the broker waits for: tickets and waiters.
 *
 * A ticket is a delivery tag the broker sent in DELIVER and waits to see
 * again in ACK (a queue message or a sync publish's receipt) or REPLY (a
 * request), found by its tag in b->htickets.  A waiter ("pending") is a
 * sync publish or a request whose client waits for RESULT or DONE: it
 * holds the tickets of its receivers or responders and a deadline, and
 * is finished, with the count of answers, when the last ticket is
 * answered or dropped or when the deadline passes (ticket_timers, a job
 * of every loop turn).  Both are bounded per client by max_pending (the
 * waiters a client opened, the tickets it owes), and a deadline by
 * max_wait_ms, so that a client that asks and never answers cannot make
 * the broker remember without end.
 *
 * In a cluster a waiter may also have legs on other nodes (a request or
 * sync message forwarded over the links: each leg counts until its peer
 * answers, pending_leg) and may answer a peer rather than a client (its
 * origin): the cluster's hooks (b->waits) carry both, so that this file
 * never calls the links.
 */
#include "brokerd.h"
#include "defaults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Freed tickets kept for the next ones, at most (about 64 bytes each). */
#define TICKET_SPARES 4096

/* Tickets ---------------------------------------------------------------- */

ticket *ticket_new(broker *b, int kind, client *c, pending *pd)
{
    int owed = kind != TICKET_QUEUE; /* queue tickets are bounded by the queue */
    if (owed && (long)c->n_owed >= b->cfg->max_pending)
        return NULL;
    ticket *t = SLIST_FIRST(&b->spare_tickets);
    if (t) {
        SLIST_REMOVE_HEAD(&b->spare_tickets, hlink);
        b->n_spare_tickets--;
        memset(t, 0, sizeof *t);
    } else if (!(t = calloc(1, sizeof *t))) {
        return NULL;
    }
    c->n_owed += owed;
    t->tag = ++b->next_tag;
    t->kind = kind;
    t->cl = c;
    t->pd = pd;
    SLIST_INSERT_HEAD(&b->htickets[t->tag % BROKER_HASH], t, hlink);
    LIST_INSERT_HEAD(&c->tickets, t, cl_link);
    if (pd) {
        LIST_INSERT_HEAD(&pd->tickets, t, pd_link);
        pd->n_tickets++;
    }
    return t;
}

ticket *ticket_find(broker *b, uint64_t tag)
{
    ticket *t;
    SLIST_FOREACH(t, &b->htickets[tag % BROKER_HASH], hlink)
        if (t->tag == tag)
            return t;
    return NULL;
}

void ticket_free(broker *b, ticket *t)
{
    SLIST_REMOVE(&b->htickets[t->tag % BROKER_HASH], t, ticket, hlink);
    LIST_REMOVE(t, cl_link);
    if (t->kind != TICKET_QUEUE)
        t->cl->n_owed--;
    if (t->pd) {
        LIST_REMOVE(t, pd_link);
        t->pd->n_tickets--;
    }
    /* Kept for the next ticket: a queue takes and frees one a message. */
    if (b->n_spare_tickets < TICKET_SPARES) {
        SLIST_INSERT_HEAD(&b->spare_tickets, t, hlink);
        b->n_spare_tickets++;
    } else {
        free(t);
    }
}

void ticket_spares_free(broker *b)
{
    ticket *t;
    while ((t = SLIST_FIRST(&b->spare_tickets))) {
        SLIST_REMOVE_HEAD(&b->spare_tickets, hlink);
        free(t);
    }
    b->n_spare_tickets = 0;
}

/* Waiters ---------------------------------------------------------------- */

pending *pending_new(broker *b, client *c, uint64_t corr, int is_request, uint32_t timeout_ms)
{
    pending *pd = calloc(1, sizeof *pd);
    if (!pd)
        return NULL;
    pd->is_request = is_request;
    pd->requester = c;
    if (c)
        c->n_waiting++;
    pd->corr = corr;
    long wait = timeout_ms ? (long)timeout_ms : PS_DEFAULT_WAIT_MS;
    if (wait > b->cfg->max_wait_ms)
        wait = b->cfg->max_wait_ms;
    pd->deadline = b->now + wait;
    LIST_INIT(&pd->tickets);
    if (LIST_EMPTY(&b->pendings) || pd->deadline < b->pend_min)
        b->pend_min = pd->deadline;
    LIST_INSERT_HEAD(&b->pendings, pd, link);
    return pd;
}

uint16_t pending_refusal(const broker *b, const client *c, char *why, size_t cap)
{
    if ((long)c->n_waiting < b->cfg->max_pending)
        return 0;
    snprintf(why, cap, "max_pending %ld sync publishes and requests already wait",
             b->cfg->max_pending);
    return PS_WERR_LIMIT;
}

void pending_forsake(pending *pd)
{
    if (pd->requester) {
        pd->requester->n_waiting--;
        pd->requester = NULL;
    }
}

void pending_finish(broker *b, pending *pd)
{
    if (pd->legs && pd->requester && pd->is_request && !pd->answered && !pd->expected) {
        /* Forwarded, and no node had a responder after all. */
        out_error(b, pd->requester, pd->corr, PS_WERR_NORESP, "no responders on any node");
    } else if (pd->requester && pd->is_request && !pd->answered && pd->gone &&
        pd->gone == pd->expected) {
        /* No reply will come, and not for want of time: the requester
         * hears that, not a timeout. */
        if (pd->gone == 1)
            out_error(b, pd->requester, pd->corr, PS_WERR_NORESP,
                      "the responder went away before it replied");
        else
            out_error(b, pd->requester, pd->corr, PS_WERR_NORESP,
                      "all %u responders went away before they replied", pd->gone);
    } else if (pd->requester) {
        ps__cmd r = {.cmd = pd->is_request ? PS_CMD_DONE : PS_CMD_RESULT,
                     .corr = pd->corr,
                     .count = pd->answered,
                     .expected = pd->expected};
        out_put(b, pd->requester, &r);
    }
    if (pd->origin && b->waits)
        b->waits->progress(b->interest_ctx, pd, 1); /* the peer that asked hears the end */
    if (pd->legs && b->waits)
        b->waits->forget(b->interest_ctx, pd);
    pending_forsake(pd); /* its requester may wait for another */
    while (!LIST_EMPTY(&pd->tickets))
        ticket_free(b, LIST_FIRST(&pd->tickets));
    if (pd->qm)
        pd->qm->sync = NULL;
    LIST_REMOVE(pd, link);
    free(pd);
}

void pending_check(broker *b, pending *pd)
{
    if (!pd->qm && pd->n_tickets == 0 && pd->n_legs == 0)
        pending_finish(b, pd);
    else if (pd->origin && b->waits)
        b->waits->progress(b->interest_ctx, pd, 0); /* how it stands, for the peer */
}

void pending_leg(broker *b, pending *pd, int64_t count, int64_t expected, int64_t gone,
                 int final)
{
    /* The changes of a leg's cumulative counts: the sums stay right. */
    pd->answered = (uint32_t)((int64_t)pd->answered + count);
    pd->expected = (uint32_t)((int64_t)pd->expected + expected);
    pd->gone = (uint32_t)((int64_t)pd->gone + gone);
    if (final && pd->n_legs)
        pd->n_legs--;
    if (final || count || expected || gone)
        pending_check(b, pd);
}

long ticket_timers(broker *b)
{
    if (LIST_EMPTY(&b->pendings))
        return -1;
    /* pend_min is a lower bound (waiters that finished early may have set
     * it): scan the list only when it is due. */
    if (b->now < b->pend_min)
        return (long)(b->pend_min - b->now);
    long next = -1;
    pending *pd, *nx;
    for (pd = LIST_FIRST(&b->pendings); pd; pd = nx) {
        nx = LIST_NEXT(pd, link);
        if (pd->deadline <= b->now) {
            pending_finish(b, pd);
            continue;
        }
        long left = (long)(pd->deadline - b->now);
        if (next < 0 || left < next)
            next = left;
    }
    if (next >= 0)
        b->pend_min = b->now + next;
    return next;
}

void pending_free_all(broker *b)
{
    pending *pd;
    while ((pd = LIST_FIRST(&b->pendings))) {
        pending_forsake(pd);
        pending_finish(b, pd);
    }
}
