/*
 * test_rqueue.c - the replicated state of durable queues (rqueue.c)
 * without a Raft group: entries round-trip and every malformed one is
 * refused (cut at every byte, one byte too many, an unknown op, fields
 * past their bounds); applying keeps each queue's unacknowledged messages
 * in log order with the PUSH's index as id, ignores a second ACK and an
 * entry applied twice; a snapshot restores the same state (and encodes to
 * the same bytes again), and a damaged snapshot (cut at every byte, bad
 * magic, a queue twice, ids out of order or past the applied index, a
 * trailing byte) is refused with the state left as it was; admission
 * refuses a PUSH past max_queued (counting the ones proposed) and past
 * RQ_QUEUES_MAX queues.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../brokerd/rqueue.h"
#include "test.h"

#define B(s) ((rq_bytes){(const uint8_t *)(s), sizeof(s) - 1})

/* Encodes e into buf (which must be large enough); returns its length. */
static size_t enc(const rq_entry *e, uint8_t *buf)
{
    size_t n = rq_entry_encode(e, buf);
    CHECK(n > 0 && n == rq_entry_size(e), "op %u encodes to its size (%zu)", e->op, n);
    return n;
}

/* Applies an encoded entry at index; rq_apply's result. */
static int apply(rq *r, uint64_t index, const rq_entry *e)
{
    uint8_t buf[4096];
    size_t n = rq_entry_encode(e, buf);
    return n ? rq_apply(r, index, buf, n) : -2;
}

static int push(rq *r, uint64_t index, const char *queue, const char *topic, const char *data)
{
    rq_entry e = {.op = RQ_PUSH, .queue = {(const uint8_t *)queue, strlen(queue)},
                  .topic = {(const uint8_t *)topic, strlen(topic)},
                  .data = {(const uint8_t *)data, strlen(data)}};
    return apply(r, index, &e);
}

static int ack(rq *r, uint64_t index, const char *queue, uint64_t id)
{
    rq_entry e = {.op = RQ_ACK, .queue = {(const uint8_t *)queue, strlen(queue)}, .id = id};
    return apply(r, index, &e);
}

/* A queue's messages as "id:topic=data id:topic=data ..." */
struct listing {
    char text[1024]; /* what rq_each handed out */
    size_t len;      /* bytes used in text */
};

static int list_one(void *ctx, uint64_t id, rq_bytes topic, rq_bytes data)
{
    struct listing *l = ctx;
    int n = snprintf(l->text + l->len, sizeof l->text - l->len, "%s%llu:%.*s=%.*s",
                     l->len ? " " : "", (unsigned long long)id, (int)topic.len,
                     (const char *)topic.ptr, (int)data.len, (const char *)data.ptr);
    if (n < 0 || (size_t)n >= sizeof l->text - l->len)
        return -1;
    l->len += (size_t)n;
    return 0;
}

static const char *list(rq *r, const char *queue)
{
    static struct listing l;
    l.len = 0;
    l.text[0] = 0;
    rq_each(r, queue, 0, UINT64_MAX, list_one, &l);
    return l.text;
}

static void test_entries(void)
{
    uint8_t buf[4096], big[RQ_NAME_MAX + 2];
    rq_entry e = {.op = RQ_PUSH, .queue = B("jobs"), .topic = B("a/b"), .data = B("hello")};
    size_t n = enc(&e, buf);
    CHECK(n == 1 + 2 + 4 + 2 + 3 + 4 + 5, "PUSH is op, queue, topic, data (%zu bytes)", n);
    rq_entry d;
    CHECK(rq_entry_decode(buf, n, &d) == 0 && d.op == RQ_PUSH && d.queue.len == 4 &&
              memcmp(d.queue.ptr, "jobs", 4) == 0 && d.topic.len == 3 &&
              memcmp(d.topic.ptr, "a/b", 3) == 0 && d.data.len == 5 &&
              memcmp(d.data.ptr, "hello", 5) == 0,
          "PUSH decodes to what was encoded");
    int cut_ok = 1;
    for (size_t i = 0; i < n; i++)
        if (rq_entry_decode(buf, i, &d) == 0)
            cut_ok = 0;
    CHECK(cut_ok, "PUSH cut at each of its %zu bytes is refused", n);
    buf[n] = 0;
    CHECK(rq_entry_decode(buf, n + 1, &d) < 0, "PUSH with a byte too many is refused");

    rq_entry a = {.op = RQ_ACK, .queue = B("jobs"), .id = 0x0102030405060708ull};
    n = enc(&a, buf);
    CHECK(rq_entry_decode(buf, n, &d) == 0 && d.op == RQ_ACK && d.id == a.id &&
              d.queue.len == 4,
          "ACK decodes to what was encoded");
    cut_ok = 1;
    for (size_t i = 0; i < n; i++)
        if (rq_entry_decode(buf, i, &d) == 0)
            cut_ok = 0;
    CHECK(cut_ok, "ACK cut at each of its %zu bytes is refused", n);
    buf[0] = 3;
    CHECK(rq_entry_decode(buf, n, &d) < 0, "an unknown op is refused");
    buf[0] = 0;
    CHECK(rq_entry_decode(buf, n, &d) < 0, "op 0 is refused");

    /* Fields past their bounds: refused by the encoder and the decoder. */
    memset(big, 'q', sizeof big);
    rq_entry bad = {.op = RQ_ACK, .queue = {big, RQ_NAME_MAX + 1}};
    CHECK(rq_entry_encode(&bad, buf) == 0 && rq_entry_size(&bad) == 0,
          "a queue name of %d bytes is not encoded", RQ_NAME_MAX + 1);
    bad.queue.len = 0;
    CHECK(rq_entry_encode(&bad, buf) == 0, "an empty queue name is not encoded");
    bad.queue.len = RQ_NAME_MAX;
    n = enc(&bad, buf);
    CHECK(rq_entry_decode(buf, n, &d) == 0, "a queue name of %d bytes is", RQ_NAME_MAX);
    const uint8_t empty_name[] = {RQ_ACK, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    CHECK(rq_entry_decode(empty_name, sizeof empty_name, &d) < 0,
          "an entry with an empty queue name is refused");
    const uint8_t long_name[] = {RQ_ACK, 1, 0}; /* 256 bytes claimed, 0 there */
    CHECK(rq_entry_decode(long_name, sizeof long_name, &d) < 0,
          "a queue name longer than its bound is refused before its bytes are read");
    uint8_t long_topic[] = {RQ_PUSH, 0, 1, 'q', 0x04, 0x01, 0, 0, 0, 0};
    CHECK(rq_entry_decode(long_topic, sizeof long_topic, &d) < 0,
          "a topic of %d bytes is refused", RQ_TOPIC_MAX + 1);
    uint8_t long_data[] = {RQ_PUSH, 0, 1, 'q', 0, 0, 0x10, 0, 0, 1};
    CHECK(rq_entry_decode(long_data, sizeof long_data, &d) < 0,
          "a payload longer than RQ_DATA_MAX is refused");
    uint8_t lying_data[] = {RQ_PUSH, 0, 1, 'q', 0, 0, 0, 0, 0, 9, 'x'};
    CHECK(rq_entry_decode(lying_data, sizeof lying_data, &d) < 0,
          "a payload length past the entry's end is refused");
}

static void test_apply(void)
{
    rq *r = rq_new();
    CHECK(r != NULL, "a new state");
    CHECK(push(r, 3, "jobs", "t", "one") == 0 && push(r, 4, "mail", "m", "x") == 0 &&
              push(r, 5, "jobs", "t", "two") == 0 && push(r, 7, "jobs", "u", "three") == 0,
          "four PUSHes to two queues apply");
    CHECK(strcmp(list(r, "jobs"), "3:t=one 5:t=two 7:u=three") == 0,
          "each message's id is its PUSH's index, in log order (%s)", list(r, "jobs"));
    size_t bytes = 0;
    CHECK(rq_depth(r, "jobs", &bytes) == 3 && bytes == 11 && rq_depth(r, "mail", NULL) == 1 &&
              rq_depth(r, "none", &bytes) == 0 && bytes == 0,
          "depth and payload bytes per queue");
    struct listing part = {.len = 0};
    CHECK(rq_each(r, "jobs", 3, 5, list_one, &part) == 0 && strcmp(part.text, "5:t=two") == 0,
          "the messages past id 3 up to 5 (%s)", part.text);
    part.len = 0;
    part.text[0] = 0;
    CHECK(rq_each(r, "jobs", 7, 100, list_one, &part) == 0 && part.len == 0,
          "none past the last id");
    CHECK(ack(r, 8, "jobs", 5) == 0 && strcmp(list(r, "jobs"), "3:t=one 7:u=three") == 0,
          "ACK of the middle message takes it out (%s)", list(r, "jobs"));
    CHECK(ack(r, 9, "jobs", 5) == 0 && rq_depth(r, "jobs", NULL) == 2,
          "a second ACK of it changes nothing");
    CHECK(ack(r, 10, "jobs", 4) == 0 && rq_depth(r, "mail", NULL) == 1,
          "an ACK naming another queue than the message's changes nothing");
    CHECK(push(r, 10, "jobs", "t", "again") == 0 && rq_depth(r, "jobs", NULL) == 2,
          "an entry at an index already applied is not applied twice");
    CHECK(rq_applied(r) == 10, "applied is the last index (%llu)",
          (unsigned long long)rq_applied(r));
    const uint8_t junk[] = {RQ_PUSH, 0, 9};
    CHECK(rq_apply(r, 11, junk, sizeof junk) < 0 && rq_applied(r) == 10 &&
              rq_depth(r, "jobs", NULL) == 2,
          "a malformed entry stops the replica and changes nothing");
    CHECK(ack(r, 12, "jobs", 3) == 0 && ack(r, 13, "jobs", 7) == 0 && ack(r, 14, "mail", 4) == 0 &&
              rq_depth(r, "jobs", NULL) == 0 && rq_depth(r, "mail", NULL) == 0,
          "every message acknowledged: the queues are empty");

    /* Many messages: the id table grows and every ACK finds its message. */
    int ok = 1;
    for (uint64_t i = 100; i < 5100; i++)
        ok &= push(r, i, (i & 1) ? "odd" : "even", "t", "p") == 0;
    for (uint64_t i = 5100, id = 100; id < 5100; id += 2, i++)
        ok &= ack(r, i, "even", id) == 0;
    CHECK(ok && rq_depth(r, "even", NULL) == 0 && rq_depth(r, "odd", NULL) == 2500,
          "5,000 PUSHes and 2,500 ACKs leave 2,500 messages");
    rq_free(r);
}

static void test_limits(void)
{
    rq *r = rq_new();
    push(r, 1, "jobs", "t", "a");
    push(r, 2, "jobs", "t", "b");
    CHECK(rq_admit(r, "jobs", 0, 3) == RQ_ROOM, "room for a third of 3");
    CHECK(rq_admit(r, "jobs", 1, 3) == RQ_FULL, "no room with one proposed and not applied");
    CHECK(rq_admit(r, "jobs", 0, 2) == RQ_FULL, "no room at max_queued");
    CHECK(rq_admit(r, "new", 0, 1) == RQ_ROOM, "a new queue has room");
    char name[16];
    int ok = 1;
    for (unsigned i = 1; i < RQ_QUEUES_MAX; i++) {
        snprintf(name, sizeof name, "q%u", i);
        ok &= push(r, 2 + i, name, "t", "x") == 0;
    }
    CHECK(ok, "%d queues fill the state", RQ_QUEUES_MAX);
    CHECK(rq_admit(r, "one-more", 0, 10) == RQ_TOO_MANY_QUEUES && rq_admit(r, "q7", 0, 10) == RQ_ROOM,
          "a queue past RQ_QUEUES_MAX is refused before it is proposed, a known one is not");
    CHECK(push(r, 1000, "one-more", "t", "x") < 0,
          "a PUSH to a queue past RQ_QUEUES_MAX cannot be applied");
    rq_free(r);
}

/* Restores snap[len] into r; 0 when the state was replaced. */
static int restore(rq *r, const void *snap, size_t len)
{
    /* A copy of exactly len bytes, so that a read past it is a fault under
     * the sanitizers. */
    void *copy = malloc(len ? len : 1);
    memcpy(copy, snap, len);
    int rc = rq_restore(r, copy, len);
    free(copy);
    return rc;
}

static void test_snapshot(void)
{
    rq *r = rq_new(), *s = rq_new();
    void *snap, *again;
    size_t len, len2;
    CHECK(rq_snapshot(r, &snap, &len) == 0 && len == 4 + 8 + 4, "an empty state's snapshot (%zu)",
          len);
    CHECK(restore(s, snap, len) == 0 && rq_applied(s) == 0, "restores");
    free(snap);

    push(r, 3, "jobs", "t", "one");
    push(r, 4, "mail", "", "");
    push(r, 5, "jobs", "t", "two");
    push(r, 6, "drained", "t", "x");
    ack(r, 7, "drained", 6);
    push(r, 8, "jobs", "u", "three");
    CHECK(rq_snapshot(r, &snap, &len) == 0, "a snapshot of three queues (%zu bytes)", len);
    CHECK(restore(s, snap, len) == 0 && strcmp(list(s, "jobs"), "3:t=one 5:t=two 8:u=three") == 0 &&
              strcmp(list(s, "mail"), "4:=") == 0 && rq_depth(s, "drained", NULL) == 0 &&
              rq_applied(s) == 8,
          "restores the same messages in the same order, and the applied index");
    CHECK(rq_snapshot(s, &again, &len2) == 0 && len2 == len && memcmp(again, snap, len) == 0,
          "the restored state's snapshot is the same bytes");
    free(again);
    CHECK(push(s, 8, "jobs", "t", "dup") == 0 && rq_depth(s, "jobs", NULL) == 3,
          "an entry the snapshot holds is not applied again after it");
    CHECK(ack(s, 9, "jobs", 5) == 0 && strcmp(list(s, "jobs"), "3:t=one 8:u=three") == 0,
          "entries after the snapshot apply to the restored state");

    /* Damaged snapshots are refused and leave the state as it was. */
    rq *t = rq_new();
    push(t, 1, "keep", "k", "v");
    int cut_ok = 1;
    for (size_t i = 0; i < len; i++)
        if (restore(t, snap, i) == 0)
            cut_ok = 0;
    CHECK(cut_ok, "the snapshot cut at each of its %zu bytes is refused", len);
    uint8_t *bad = malloc(len + 1);
    memcpy(bad, snap, len);
    bad[len] = 0;
    CHECK(restore(t, bad, len + 1) < 0, "a snapshot with a byte too many is refused");
    bad[0] ^= 1;
    CHECK(restore(t, bad, len) < 0, "a snapshot with a wrong magic is refused");
    memcpy(bad, snap, len);
    bad[11] = 2; /* applied = 2: the messages' ids are past it */
    CHECK(restore(t, bad, len) < 0, "a snapshot holding ids past its applied index is refused");
    CHECK(strcmp(list(t, "keep"), "1:k=v") == 0 && rq_applied(t) == 1,
          "the state is as it was after every refused snapshot");
    free(bad);
    free(snap);

    /* Hand-made: a queue twice, ids out of order. */
    rq *u = rq_new();
    push(u, 1, "a", "t", "x");
    push(u, 2, "b", "t", "y");
    CHECK(rq_snapshot(u, &snap, &len) == 0, "a snapshot of queues a and b");
    bad = malloc(len);
    memcpy(bad, snap, len);
    /* HEAD 16 bytes, QUEUE "a" 7, MSG 16, QUEUE "b" at 39: its name byte at 41. */
    CHECK(bad[41] == 'b', "the second queue's name is where the format puts it");
    bad[41] = 'a';
    CHECK(restore(t, bad, len) < 0, "a snapshot holding a queue twice is refused");
    memcpy(bad, snap, len);
    bad[16 + 7 + 7] = 3; /* the first message's id 1 -> 3, past applied 2 */
    CHECK(restore(t, bad, len) < 0, "a message id past applied is refused");
    free(bad);
    free(snap);
    rq_free(u);

    u = rq_new();
    push(u, 1, "a", "t", "x");
    push(u, 2, "a", "t", "y");
    CHECK(rq_snapshot(u, &snap, &len) == 0, "a snapshot of two messages in one queue");
    bad = malloc(len);
    memcpy(bad, snap, len);
    /* Both ids 2: not rising. */
    bad[16 + 7 + 7] = 2;
    CHECK(restore(t, bad, len) < 0, "ids that do not rise within a queue are refused");
    free(bad);
    free(snap);
    rq_free(u);

    /* Through the seam's callbacks. */
    struct repl_fsm fsm;
    rq_fsm(t, &fsm);
    CHECK(fsm.ctx == t && fsm.apply == rq_apply && fsm.snapshot == rq_snapshot &&
              fsm.restore == rq_restore,
          "rq_fsm fills the seam's callbacks");
    rq_free(t);
    rq_free(s);
    rq_free(r);
}

int main(void)
{
    test_entries();
    test_apply();
    test_limits();
    test_snapshot();
    return TEST_DONE();
}
