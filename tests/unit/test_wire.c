/*
 * test_wire.c - the wire codec (libpubsub/wire.c) shared by broker and
 * library: every command survives a round trip field by field, several
 * records share a frame, and a frame cut at any byte, a string over its
 * limit or a record with bytes left over is malformed (EPROTO).  The
 * grammar lines of docs/protocol.md are the codec's table, line for line,
 * and frames split where ps__wire_frame says.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../libpubsub/wire.h"
#include "test.h"

#define S(x) {x, sizeof x - 1}

static int same_slice(ps__slice a, ps__slice b)
{
    return a.len == b.len && (a.len == 0 || !memcmp(a.ptr, b.ptr, a.len));
}

static int same(const ps__cmd *a, const ps__cmd *b)
{
    return a->cmd == b->cmd && a->flags == b->flags && a->status == b->status &&
           a->major == b->major && a->minor == b->minor && a->code == b->code &&
           a->timeout_ms == b->timeout_ms && a->window == b->window && a->count == b->count &&
           a->expected == b->expected && a->heartbeat_ms == b->heartbeat_ms &&
           a->max_size == b->max_size && a->corr == b->corr && a->seq == b->seq &&
           a->tag == b->tag && a->broker_id == b->broker_id && a->epoch == b->epoch &&
           a->dropped == b->dropped && a->hash == b->hash && a->stamp == b->stamp &&
           a->echo == b->echo && same_slice(a->channel, b->channel) &&
           same_slice(a->topic, b->topic) && same_slice(a->text, b->text) &&
           same_slice(a->data, b->data) && same_slice(a->voters, b->voters);
}

/* Collapses each run of blanks in s to one space and drops the newline. */
static void squeeze(char *s)
{
    char *w = s;
    for (char *r = s; *r && *r != '\n'; r++)
        if (*r != ' ' || (w > s && w[-1] != ' '))
            *w++ = *r;
    while (w > s && w[-1] == ' ')
        w--;
    *w = '\0';
}

/*
 * The grammar block of docs/protocol.md against ps__wire_grammar: every
 * line names a command the codec knows with the codec's fields, and every
 * command the codec knows has its line.
 */
static void check_protocol_doc(void)
{
    /* The unit tests run from the top of the tree; __FILE__ finds it too. */
    char path[512] = "docs/protocol.md";
    FILE *f = fopen(path, "r");
    if (!f) {
        const char *end = strstr(__FILE__, "tests/unit/");
        snprintf(path, sizeof path, "%.*sdocs/protocol.md", end ? (int)(end - __FILE__) : 0, __FILE__);
        f = fopen(path, "r");
    }
    CHECK(f != NULL, "docs/protocol.md is there to compare with the codec");
    if (!f)
        return;
    char line[512], want[512];
    int in_block = 0, seen[256] = {0}, lines = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "```grammar", 10)) {
            in_block = 1;
            continue;
        }
        if (!in_block)
            continue;
        if (!strncmp(line, "```", 3))
            break;
        squeeze(line);
        lines++;
        int found = 0;
        for (int cmd = 0; cmd < 256; cmd++) {
            size_t n = strlen(ps__wire_cmd_name((uint8_t)cmd));
            if (ps__wire_grammar((uint8_t)cmd, want, sizeof want) > 0 && !strncmp(line, want, n) &&
                line[n] == ' ') {
                found = 1;
                seen[cmd] = 1;
                if (strcmp(line, want)) {
                    bad++;
                    printf("# docs/protocol.md says '%s', the codec '%s'\n", line, want);
                }
            }
        }
        if (!found) {
            bad++;
            printf("# docs/protocol.md names a command the codec does not know: '%s'\n", line);
        }
    }
    fclose(f);
    for (int cmd = 0; cmd < 256; cmd++)
        if (!seen[cmd] && ps__wire_grammar((uint8_t)cmd, want, sizeof want) > 0) {
            bad++;
            printf("# docs/protocol.md has no grammar line for '%s'\n", want);
        }
    CHECK(lines > 0 && bad == 0, "the %d grammar lines of docs/protocol.md are the codec's table", lines);
}

/* A PUBLISH_BATCH record of channel "c", empty topic, written by hand:
 * count as given, then the n payload lengths in lens, each followed by as
 * many 'x' bytes (up to 8) as min(len, 8) says.  Returns its size. */
static size_t batch_record(uint8_t *out, uint32_t count, const uint32_t *lens, int n)
{
    uint8_t *p = out + 4;
    *p++ = PS_CMD_PUBLISH_BATCH;
    *p++ = 0;                               /* flags */
    *p++ = 0, *p++ = 1, *p++ = 'c';         /* channel */
    *p++ = 0, *p++ = 0;                     /* topic */
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)(count >> (24 - 8 * i));
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < 4; i++)
            *p++ = (uint8_t)(lens[k] >> (24 - 8 * i));
        for (uint32_t i = 0; i < lens[k] && i < 8; i++)
            *p++ = 'x';
    }
    uint32_t len = (uint32_t)(p - out - 4);
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(len >> (24 - 8 * i));
    return (size_t)(p - out);
}

/* Decodes size bytes at rec: 1 when they are one good record. */
static int decodes(const uint8_t *rec, size_t size, ps__cmd *got)
{
    ps__reader r;
    ps__reader_init(&r, rec, size);
    errno = 0;
    int rc = ps__wire_next(&r, got);
    return rc == 1 && r.pos == r.end ? 1 : rc == -1 && errno == EPROTO ? -1 : 0;
}

/*
 * PUBLISH_BATCH: payloads joined in place by ps__wire_batch_add and read
 * back by ps__wire_batch_next; every count or length that does not match
 * the bytes of the record is malformed, never read past.
 */
static void test_batch(void)
{
    uint8_t rec[256];
    ps__cmd got;
    uint32_t two[] = {1, 0}, past[] = {1, 9}, huge[] = {0xffffffffu};
    CHECK(decodes(rec, batch_record(rec, 2, two, 2), &got) == 1 && got.count == 2 &&
              got.data.len == 9 && got.channel.len == 1,
          "a batch of two payloads, one of them empty, decodes");
    ps__slice rest = got.data, p;
    CHECK(ps__wire_batch_next(&rest, &p) && p.len == 1 && *p.ptr == 'x' &&
              ps__wire_batch_next(&rest, &p) && p.len == 0 && !ps__wire_batch_next(&rest, &p),
          "its payloads are walked in order, then the walk ends");
    CHECK(decodes(rec, batch_record(rec, 3, two, 2), &got) == -1,
          "a count above the payloads present is malformed");
    CHECK(decodes(rec, batch_record(rec, 1, two, 2), &got) == -1,
          "a count below the payloads present is malformed (bytes left over)");
    CHECK(decodes(rec, batch_record(rec, 0, NULL, 0), &got) == -1, "a count of zero is malformed");
    CHECK(decodes(rec, batch_record(rec, 2, past, 2), &got) == -1,
          "a payload length past the record's end is malformed");
    CHECK(decodes(rec, batch_record(rec, 1, huge, 1), &got) == -1,
          "a payload length of 4 GiB in a small record is malformed");
    CHECK(decodes(rec, batch_record(rec, 0xffffffffu, two, 2), &got) == -1,
          "a count of 4 billion is malformed at once");
    /* PS_WIRE_BATCH_MAX + 1 empty payloads: whole, but over the limit. */
    static uint32_t zeros[PS_WIRE_BATCH_MAX + 1];
    static uint8_t many[32 + 4 * (PS_WIRE_BATCH_MAX + 1)];
    CHECK(decodes(many, batch_record(many, PS_WIRE_BATCH_MAX, zeros, PS_WIRE_BATCH_MAX), &got) == 1,
          "a batch of %d payloads decodes", PS_WIRE_BATCH_MAX);
    CHECK(decodes(many, batch_record(many, PS_WIRE_BATCH_MAX + 1, zeros, PS_WIRE_BATCH_MAX + 1),
                  &got) == -1,
          "a batch of %d payloads is oversized, malformed", PS_WIRE_BATCH_MAX + 1);
    ps__cmd over = {.cmd = PS_CMD_PUBLISH_BATCH, .channel = S("c"), .count = 0};
    ps__buf b = {0};
    errno = 0;
    CHECK(ps__wire_put(&b, &over) == -1 && errno == EINVAL, "a batch of no payload is not encoded");
    over.count = PS_WIRE_BATCH_MAX + 1;
    CHECK(ps__wire_put(&b, &over) == -1 && errno == EINVAL && b.len == 0,
          "nor one over %d payloads", PS_WIRE_BATCH_MAX);

    /* Joining: same channel, topic and flags join the batch that ends the buffer. */
    size_t at = SIZE_MAX;
    ps__cmd one = {.cmd = PS_CMD_PUBLISH_BATCH, .channel = S("logs"), .topic = S("a"),
                   .data = S("1")};
    ps__cmd ping = {.cmd = PS_CMD_PING, .corr = 3};
    int ok = ps__wire_batch_add(&b, &at, &one) == 0;
    one.data = (ps__slice)S("22");
    ok &= ps__wire_batch_add(&b, &at, &one) == 0;
    one.topic = (ps__slice)S("b");
    ok &= ps__wire_batch_add(&b, &at, &one) == 0;            /* another topic */
    one.flags = PS_WIRE_RETAIN;
    ok &= ps__wire_batch_add(&b, &at, &one) == 0;            /* other flags */
    ok &= ps__wire_put(&b, &ping) == 0;                      /* another record after it */
    ok &= ps__wire_batch_add(&b, &at, &one) == 0;
    ok &= ps__wire_batch_add(&b, &at, &one) == 0;
    ps__reader r;
    ps__cmd recs[8];
    int n = 0;
    ps__reader_init(&r, b.data, b.len);
    while (n < 8 && ps__wire_next(&r, &recs[n]) == 1)
        n++;
    CHECK(ok && n == 5 && r.pos == r.end && recs[0].count == 2 && recs[1].count == 1 &&
              recs[2].count == 1 && recs[3].cmd == PS_CMD_PING && recs[4].count == 2 &&
              recs[4].flags == PS_WIRE_RETAIN,
          "payloads join the last record when channel, topic and flags match, else start one");
    rest = recs[0].data;
    CHECK(ps__wire_batch_next(&rest, &p) && p.len == 1 && *p.ptr == '1' &&
              ps__wire_batch_next(&rest, &p) && p.len == 2 && !memcmp(p.ptr, "22", 2),
          "the joined payloads are there in order");
    ps__buf_free(&b);

    /* DELIVER_BATCH: a delivery joins only as the next sequence number. */
    at = SIZE_MAX;
    ps__cmd d = {.cmd = PS_CMD_DELIVER_BATCH, .seq = 7, .channel = S("logs"), .data = S("a")};
    ok = ps__wire_batch_add(&b, &at, &d) == 0;
    d.seq = 8;
    ok &= ps__wire_batch_add(&b, &at, &d) == 0;
    d.seq = 10; /* 9 went elsewhere (dropped, say) */
    ok &= ps__wire_batch_add(&b, &at, &d) == 0;
    n = 0;
    ps__reader_init(&r, b.data, b.len);
    while (n < 8 && ps__wire_next(&r, &recs[n]) == 1)
        n++;
    CHECK(ok && n == 2 && recs[0].seq == 7 && recs[0].count == 2 && recs[1].seq == 10 &&
              recs[1].count == 1,
          "deliveries 7 and 8 make one DELIVER_BATCH, 10 starts another");

    /* The cheap way on: grown in place, the bytes are those of ps__wire_batch_add. */
    ps__buf g = {0};
    size_t gat = SIZE_MAX;
    d.seq = 7;
    ok = ps__wire_batch_add(&g, &gat, &d) == 0;
    size_t count_at = ps__wire_batch_count_at(&g, gat);
    ok &= ps__wire_batch_grow(&g, gat, count_at, "a", 1) == 0;
    d.seq = 10;
    ok &= ps__wire_batch_add(&g, &gat, &d) == 0;
    /* length, command, flags, seq, channel "logs", empty topic: then the count */
    CHECK(ok && g.len == b.len && !memcmp(g.data, b.data, b.len) &&
              count_at == 4 + 1 + 1 + 8 + 2 + 4 + 2,
          "a payload grown onto a DELIVER_BATCH writes what joining it writes");
    g.len = 0;
    gat = SIZE_MAX;
    ok = ps__wire_batch_add(&g, &gat, &d) == 0;
    count_at = ps__wire_batch_count_at(&g, gat);
    for (int i = 1; i < PS_WIRE_BATCH_MAX; i++)
        ok &= ps__wire_batch_grow(&g, gat, count_at, "", 0) == 0;
    size_t full_len = g.len;
    CHECK(ok && ps__wire_batch_grow(&g, gat, count_at, "", 0) == 1 && g.len == full_len,
          "growing stops at %d payloads, the buffer untouched", PS_WIRE_BATCH_MAX);
    static char big[PS_WIRE_BATCH_BYTES];
    g.len = 0;
    gat = SIZE_MAX;
    ok = ps__wire_batch_add(&g, &gat, &d) == 0;
    count_at = ps__wire_batch_count_at(&g, gat);
    CHECK(ok && ps__wire_batch_grow(&g, gat, count_at, big, sizeof big - g.len) == 1,
          "and where the record would pass %d bytes", PS_WIRE_BATCH_BYTES);
    ps__buf_free(&g);
    ps__buf_free(&b);

    /* Bounds: a batch stops at PS_WIRE_BATCH_MAX payloads and near PS_WIRE_BATCH_BYTES. */
    at = SIZE_MAX;
    one.data = (ps__slice){"", 0};
    for (int i = 0; i < PS_WIRE_BATCH_MAX + 1; i++)
        ps__wire_batch_add(&b, &at, &one);
    n = 0;
    ps__reader_init(&r, b.data, b.len);
    while (n < 8 && ps__wire_next(&r, &recs[n]) == 1)
        n++;
    CHECK(n == 2 && recs[0].count == PS_WIRE_BATCH_MAX && recs[1].count == 1,
          "payload %d starts a new batch", PS_WIRE_BATCH_MAX + 1);
    ps__buf_free(&b);
    static char kb[1000];
    one.data = (ps__slice){kb, sizeof kb};
    at = SIZE_MAX;
    for (int i = 0; i < 100; i++)
        ps__wire_batch_add(&b, &at, &one);
    ps__reader_init(&r, b.data, b.len);
    size_t largest = 0, start = 0;
    int all = 0, recs_n = 0;
    while (ps__wire_next(&r, &got) == 1) {
        size_t len = (size_t)(r.pos - b.data) - start;
        largest = len > largest ? len : largest;
        start = (size_t)(r.pos - b.data);
        all += (int)got.count;
        recs_n++;
    }
    CHECK(all == 100 && recs_n == 2 && largest <= PS_WIRE_BATCH_BYTES,
          "100 payloads of 1000 bytes make two records of at most %d bytes", PS_WIRE_BATCH_BYTES);
    ps__buf_free(&b);
}

/* An ACK_BATCH record written by hand: count, then the given number of
 * tags 1, 2, ...  Its size. */
static size_t tags_record(uint8_t *rec, uint32_t count, uint32_t tags)
{
    uint8_t *p = rec + 4;
    *p++ = PS_CMD_ACK_BATCH;
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)(count >> (24 - 8 * i));
    for (uint32_t t = 1; t <= tags; t++)
        for (int i = 0; i < 8; i++)
            *p++ = (uint8_t)((uint64_t)t >> (56 - 8 * i));
    uint32_t len = (uint32_t)(p - rec - 4);
    for (int i = 0; i < 4; i++)
        rec[i] = (uint8_t)(len >> (24 - 8 * i));
    return (size_t)(p - rec);
}

/*
 * ACK_BATCH (1.3): tags joined in place by ps__wire_tag_add, read back by
 * ps__wire_tag; a count that is 0, over PS_WIRE_BATCH_MAX or not the
 * number of 8-byte tags that fill the record is malformed.
 */
static void test_ack_batch(void)
{
    static uint8_t rec[16 + 8 * (PS_WIRE_BATCH_MAX + 1)];
    ps__cmd got;
    CHECK(decodes(rec, tags_record(rec, 3, 3), &got) == 1 && got.count == 3 &&
              ps__wire_tag(&got, 0) == 1 && ps__wire_tag(&got, 2) == 3,
          "an ACK_BATCH of three tags decodes, in order");
    CHECK(decodes(rec, tags_record(rec, 0, 0), &got) == -1, "a count of zero is malformed");
    CHECK(decodes(rec, tags_record(rec, 3, 2), &got) == -1,
          "a count above the tags present is malformed");
    CHECK(decodes(rec, tags_record(rec, 2, 3), &got) == -1,
          "a count below the tags present is malformed (bytes left over)");
    size_t odd = tags_record(rec, 1, 1);
    rec[3]++; /* one byte more in the record: no whole tag */
    rec[odd] = 0;
    CHECK(decodes(rec, odd + 1, &got) == -1, "a tag cut short is malformed");
    CHECK(decodes(rec, tags_record(rec, 0xffffffffu, 1), &got) == -1,
          "a count of 4 billion is malformed at once");
    CHECK(decodes(rec, tags_record(rec, PS_WIRE_BATCH_MAX, PS_WIRE_BATCH_MAX), &got) == 1,
          "%d tags decode", PS_WIRE_BATCH_MAX);
    CHECK(decodes(rec, tags_record(rec, PS_WIRE_BATCH_MAX + 1, PS_WIRE_BATCH_MAX + 1), &got) == -1,
          "%d tags are malformed", PS_WIRE_BATCH_MAX + 1);
    ps__cmd bad = {.cmd = PS_CMD_ACK_BATCH, .count = 2, .data = {"12345678", 8}};
    ps__buf b = {0};
    CHECK(ps__wire_put(&b, &bad) == -1 && errno == EINVAL && b.len == 0,
          "a count that is not the number of tags given is not encoded");

    /* Joined in place: one record up to PS_WIRE_BATCH_MAX tags, not past
     * another record, a fresh one after. */
    size_t at = SIZE_MAX;
    for (uint64_t t = 1; t <= PS_WIRE_BATCH_MAX + 1; t++)
        ps__wire_tag_add(&b, &at, t);
    ps__cmd ping = {.cmd = PS_CMD_PING, .corr = 1};
    ps__wire_put(&b, &ping);
    ps__wire_tag_add(&b, &at, 7);
    ps__reader r;
    ps__reader_init(&r, b.data, b.len);
    ps__cmd recs[4];
    int n = 0, rc;
    while (n < 4 && (rc = ps__wire_next(&r, &recs[n])) == 1)
        n++;
    CHECK(n == 4 && recs[0].count == PS_WIRE_BATCH_MAX && recs[1].count == 1 &&
              ps__wire_tag(&recs[1], 0) == PS_WIRE_BATCH_MAX + 1 && recs[2].cmd == PS_CMD_PING &&
              recs[3].cmd == PS_CMD_ACK_BATCH && ps__wire_tag(&recs[3], 0) == 7,
          "tags join the ACK_BATCH that ends the buffer, up to %d, then a new one", PS_WIRE_BATCH_MAX);
    ps__buf_free(&b);
}

int main(void)
{
    static const char bin[] = "bin\0ary\xff";
    const ps__cmd cmds[] = {
        {.cmd = PS_CMD_HELLO, .major = 1, .minor = 0, .heartbeat_ms = 1000, .text = S("me")},
        {.cmd = PS_CMD_WELCOME, .major = 1, .minor = 2, .broker_id = 0x0102030405060708ULL,
         .epoch = UINT64_MAX, .heartbeat_ms = 7, .max_size = 1048576},
        {.cmd = PS_CMD_BYE},
        {.cmd = PS_CMD_HEARTBEAT},
        {.cmd = PS_CMD_PING, .corr = 42},
        {.cmd = PS_CMD_PONG, .corr = 42},
        {.cmd = PS_CMD_ERROR, .corr = 9, .code = PS_WERR_FULL, .text = S("queue full")},
        {.cmd = PS_CMD_OK, .corr = 9, .count = 3},
        {.cmd = PS_CMD_PUBLISH, .corr = 1, .flags = PS_WIRE_CONFIRM | PS_WIRE_RETAIN,
         .timeout_ms = 500, .channel = S("logs"), .topic = S("amd64/sshd"),
         .data = {bin, sizeof bin - 1}},
        {.cmd = PS_CMD_PUBLISH, .channel = S("q")}, /* empty topic and payload */
        {.cmd = PS_CMD_PUBLISH_BATCH, .flags = PS_WIRE_RETAIN, .channel = S("logs"),
         .topic = S("a/b"), .count = 2, .data = {"\0\0\0\1x\0\0\0\0", 9}},
        {.cmd = PS_CMD_RESULT, .corr = 5, .count = 2, .expected = 3},
        {.cmd = PS_CMD_SUBSCRIBE, .corr = 6, .flags = PS_WIRE_RESPONDER, .window = 100,
         .channel = S("logs"), .topic = S("amd64/#")},
        {.cmd = PS_CMD_UNSUBSCRIBE, .corr = 7, .channel = S("logs"), .topic = S("#")},
        {.cmd = PS_CMD_DELIVER, .flags = PS_WIRE_QUEUED | PS_WIRE_REDELIVERED, .seq = 77,
         .tag = 88, .channel = S("jobs"), .topic = S(""), .data = S("work")},
        {.cmd = PS_CMD_GAP, .channel = S("logs"), .dropped = 1234},
        {.cmd = PS_CMD_ACK, .tag = 88},
        {.cmd = PS_CMD_ACK_BATCH, .count = 2, .data = {"\0\0\0\0\0\0\0\x58\1\2\3\4\5\6\7\x08", 16}},
        {.cmd = PS_CMD_DELIVER_BATCH, .seq = 41, .channel = S("logs"), .topic = S("a"),
         .count = 1, .data = {"\0\0\0\2hi", 6}},
        {.cmd = PS_CMD_REQUEST, .corr = 8, .timeout_ms = 1000, .channel = S("rpc"),
         .topic = S("t"), .data = S("q")},
        {.cmd = PS_CMD_REPLY, .tag = 99, .status = 1, .data = S("failed")},
        {.cmd = PS_CMD_DONE, .corr = 8, .count = 1, .expected = 2},
        {.cmd = PS_CMD_ADMIN, .corr = 10, .text = S("status")},
        {.cmd = PS_CMD_ADMIN_REPLY, .corr = 10, .data = S("{\"clients\":1}")},
        {.cmd = PS_CMD_LINK_HELLO, .major = 1, .heartbeat_ms = 500, .epoch = 7, .hash = 99,
         .text = S("site"), .channel = S("a"), .data = S("jobs queue\n"),
         .flags = PS_WIRE_HELLO_RAFT, .topic = S("10.77.0.1:6300"), .voters = S("a,b,c")},
        {.cmd = PS_CMD_LINK_HEARTBEAT, .flags = PS_WIRE_LINK_ECHO, .stamp = 12, .echo = 11,
         .epoch = 8, .seq = 3},
        {.cmd = PS_CMD_LINK_INTEREST, .seq = 4, .flags = PS_WIRE_INTEREST_ADD, .channel = S("logs"),
         .topic = S("amd64/#")},
        {.cmd = PS_CMD_LINK_MSG, .seq = 5, .channel = S("logs"), .topic = S("a/b"),
         .data = S("x")},
        {.cmd = PS_CMD_LINK_RETAINED, .flags = PS_WIRE_LINK_RETAIN, .seq = 5, .stamp = 6,
         .text = S("a"), .channel = S("logs"), .topic = S("a/b"), .data = S("x")},
    };
    size_t n = sizeof cmds / sizeof *cmds;
    ps__buf frame = {0};
    for (size_t i = 0; i < n; i++) {
        ps__buf one = {0};
        ps__cmd got;
        ps__reader r;
        CHECK(ps__wire_put(&one, &cmds[i]) == 0 && ps__wire_put(&frame, &cmds[i]) == 0,
              "%s encodes", ps__wire_cmd_name(cmds[i].cmd));
        CHECK(ps__wire_size(&cmds[i]) >= one.len, "%s: ps__wire_size is an upper bound",
              ps__wire_cmd_name(cmds[i].cmd));
        ps__reader_init(&r, one.data, one.len);
        int rc = ps__wire_next(&r, &got);
        /* REPLY carries tag one way and corr the other: same field on the wire. */
        if (cmds[i].cmd == PS_CMD_REPLY)
            got.tag = got.tag ? got.tag : got.corr, got.corr = 0;
        CHECK(rc == 1 && same(&cmds[i], &got) && ps__wire_next(&r, &got) == 0,
              "%s decodes to the same fields, then the frame ends", ps__wire_cmd_name(cmds[i].cmd));
        /* Every cut is malformed. */
        int cuts_ok = 1;
        for (size_t cut = 1; cut < one.len; cut++) {
            ps__reader_init(&r, one.data, cut);
            errno = 0;
            if (ps__wire_next(&r, &got) != -1 || errno != EPROTO)
                cuts_ok = 0;
        }
        CHECK(cuts_ok, "%s cut at each of its %zu bytes is malformed", ps__wire_cmd_name(cmds[i].cmd),
              one.len);
        ps__buf_free(&one);
    }
    /* All of them in one frame, in order. */
    ps__reader r;
    ps__cmd got;
    size_t k = 0;
    ps__reader_init(&r, frame.data, frame.len);
    while (ps__wire_next(&r, &got) == 1)
        k++;
    CHECK(k == n, "a frame of %zu records decodes to %zu records", n, k);

    /* A record with a byte more than its fields use. */
    ps__buf b = {0};
    ps__cmd ping = {.cmd = PS_CMD_PING, .corr = 1};
    ps__wire_put(&b, &ping);
    uint8_t longer[64];
    memcpy(longer, b.data, b.len);
    longer[3]++; /* the length says one byte more */
    longer[b.len] = 0;
    ps__reader_init(&r, longer, b.len + 1);
    errno = 0;
    CHECK(ps__wire_next(&r, &got) == -1 && errno == EPROTO, "trailing bytes in a record are malformed");
    longer[3] = 0; /* a length that hides the command byte */
    ps__reader_init(&r, longer, b.len);
    CHECK(ps__wire_next(&r, &got) == -1, "a zero record length is malformed");
    ps__buf_free(&b);

    /* Limits when encoding. */
    char big[2000];
    memset(big, 'a', sizeof big);
    ps__cmd bad = {.cmd = PS_CMD_PUBLISH, .channel = {big, 256}};
    errno = 0;
    CHECK(ps__wire_put(&b, &bad) == -1 && errno == EINVAL, "a channel name of 256 bytes is refused");
    bad.channel.len = 4;
    bad.topic = (ps__slice){big, PS_WIRE_TOPIC_MAX + 1};
    CHECK(ps__wire_put(&b, &bad) == -1 && errno == EINVAL, "a topic over %d bytes is refused",
          PS_WIRE_TOPIC_MAX);
    ps__buf_free(&b);

    /* Frames: whole records up to the limit, a larger record alone. */
    ps__cmd small = {.cmd = PS_CMD_PING, .corr = 1};
    ps__cmd large = {.cmd = PS_CMD_PUBLISH, .channel = S("q"), .data = {big, sizeof big}};
    size_t one = ps__wire_size(&small);
    ps__wire_put(&b, &small);
    ps__wire_put(&b, &small);
    ps__wire_put(&b, &large);
    ps__wire_put(&b, &small);
    CHECK(ps__wire_frame(b.data, b.len, 2 * one) == 2 * one, "two records fill a frame of their size");
    CHECK(ps__wire_frame(b.data, b.len, 2 * one + 1) == 2 * one, "a record that does not fit waits");
    CHECK(ps__wire_frame(b.data + 2 * one, b.len - 2 * one, 100) == ps__wire_size(&large),
          "a record above the limit goes alone");
    CHECK(ps__wire_frame(b.data, one - 1, 100) == 0, "a cut record is no frame");
    ps__buf_free(&b);

    check_protocol_doc();
    test_batch();
    test_ack_batch();

    /* Channel names. */
    CHECK(ps__wire_valid_channel("logs", 4) && ps__wire_valid_channel("a-b_c.9", 7),
          "letters, digits, '-', '_' and '.' make channel names");
    CHECK(!ps__wire_valid_channel("", 0) && !ps__wire_valid_channel("a b", 3) &&
              !ps__wire_valid_channel("a/b", 3) && !ps__wire_valid_channel(big, 256),
          "empty, spaces, slashes and 256 bytes do not");
    ps__buf_free(&frame);
    return TEST_DONE();
}
