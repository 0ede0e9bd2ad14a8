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
           same_slice(a->data, b->data);
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
        {.cmd = PS_CMD_RESULT, .corr = 5, .count = 2, .expected = 3},
        {.cmd = PS_CMD_SUBSCRIBE, .corr = 6, .flags = PS_WIRE_RESPONDER, .window = 100,
         .channel = S("logs"), .topic = S("amd64/#")},
        {.cmd = PS_CMD_UNSUBSCRIBE, .corr = 7, .channel = S("logs"), .topic = S("#")},
        {.cmd = PS_CMD_DELIVER, .flags = PS_WIRE_QUEUED | PS_WIRE_REDELIVERED, .seq = 77,
         .tag = 88, .channel = S("jobs"), .topic = S(""), .data = S("work")},
        {.cmd = PS_CMD_GAP, .channel = S("logs"), .dropped = 1234},
        {.cmd = PS_CMD_ACK, .tag = 88},
        {.cmd = PS_CMD_REQUEST, .corr = 8, .timeout_ms = 1000, .channel = S("rpc"),
         .topic = S("t"), .data = S("q")},
        {.cmd = PS_CMD_REPLY, .tag = 99, .status = 1, .data = S("failed")},
        {.cmd = PS_CMD_DONE, .corr = 8, .count = 1, .expected = 2},
        {.cmd = PS_CMD_ADMIN, .corr = 10, .text = S("status")},
        {.cmd = PS_CMD_ADMIN_REPLY, .corr = 10, .data = S("{\"clients\":1}")},
        {.cmd = PS_CMD_LINK_HELLO, .major = 1, .heartbeat_ms = 500, .epoch = 7, .hash = 99,
         .text = S("site"), .channel = S("a"), .data = S("jobs queue\n")},
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

    /* Channel names. */
    CHECK(ps__wire_valid_channel("logs", 4) && ps__wire_valid_channel("a-b_c.9", 7),
          "letters, digits, '-', '_' and '.' make channel names");
    CHECK(!ps__wire_valid_channel("", 0) && !ps__wire_valid_channel("a b", 3) &&
              !ps__wire_valid_channel("a/b", 3) && !ps__wire_valid_channel(big, 256),
          "empty, spaces, slashes and 256 bytes do not");
    ps__buf_free(&frame);
    return TEST_DONE();
}
