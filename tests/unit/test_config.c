/*
 * test_config.c - the config loader (brokerd/config.c): a valid file with
 * every key, the defaults, and each kind of error reported with the line
 * it is on, all of them at once.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../brokerd/brokerd.h"
#include "test.h"

static char path[64]; /* the file of the last load(), for error lines */
static char errs[8192];

/* Loads text as a config file; the error lines land in errs. */
static config *load(const char *text)
{
    strcpy(path, "/tmp/test_config.XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
    memset(errs, 0, sizeof errs);
    FILE *f = fmemopen(errs, sizeof errs - 1, "w");
    config *c = config_load(path, f);
    fclose(f);
    unlink(path);
    return c;
}

/* True when errs has a line "PATH:LINE: ...needle...". */
static int has_error(int line, const char *needle)
{
    char head[128];
    snprintf(head, sizeof head, "%s:%d: ", path, line);
    for (const char *p = errs; (p = strstr(p, head)); p++) {
        const char *eol = strchr(p, '\n');
        const char *hit = strstr(p, needle);
        if (hit && (!eol || hit < eol))
            return 1;
    }
    return 0;
}

static int count_lines(void)
{
    int n = 0;
    for (const char *p = errs; *p; p++)
        n += *p == '\n';
    return n;
}

int main(void)
{
    config *c = load("broker = {\n"
                     "  endpoints = [ \"tcp://127.0.0.1:6000\", \"ipc:///tmp/x.sock\" ];\n"
                     "  data_dir = \"/tmp/d\"; auto_create = \"none\"; fsync = \"always\";\n"
                     "  max_message_size = 4096; heartbeat_ms = 500; heartbeat_timeout_ms = 2000;\n"
                     "  max_clients = 7; max_subscriptions = 8; max_retained = 9;\n"
                     "  client_buffer = 100000;\n"
                     "  gateway = { xpub = \"tcp://127.0.0.1:6001\"; xsub = \"tcp://127.0.0.1:6002\"; };\n"
                     "};\n"
                     "channels = (\n"
                     "  { name = \"logs\"; type = \"pubsub\"; retain = false; slow_subscriber = \"block\"; },\n"
                     "  { name = \"jobs\"; type = \"queue\"; durable = true; max_queued = 5; overflow = \"block\"; },\n"
                     "  { name = \"alerts\"; type = \"broadcast\"; }\n"
                     ");\n");
    CHECK(c != NULL, "a file with every key loads (%s)", errs);
    if (c) {
        CHECK(c->n_endpoints == 2 && !strcmp(c->endpoints[1], "ipc:///tmp/x.sock") && !c->endpoints[2],
              "endpoints, NULL-terminated");
        CHECK(!strcmp(c->data_dir, "/tmp/d") && c->auto_create == AUTO_NONE && c->fsync_always,
              "data_dir, auto_create, fsync");
        CHECK(c->max_message_size == 4096 && c->heartbeat_ms == 500 && c->heartbeat_timeout_ms == 2000 &&
                  c->max_clients == 7 && c->max_subscriptions == 8 && c->max_retained == 9 &&
                  c->client_buffer == 100000,
              "limits and heartbeats");
        CHECK(c->gateway_xpub && !strcmp(c->gateway_xsub, "tcp://127.0.0.1:6002"), "gateway");
        const config_channel *l = config_find_channel(c, "logs"), *j = config_find_channel(c, "jobs"),
                             *a = config_find_channel(c, "alerts");
        CHECK(l && l->type == CHAN_PUBSUB && !l->retain && l->slow == SLOW_BLOCK, "pubsub channel");
        CHECK(j && j->type == CHAN_QUEUE && j->durable && j->max_queued == 5 &&
                  j->overflow == OVERFLOW_BLOCK,
              "queue channel");
        CHECK(a && a->type == CHAN_BROADCAST && a->slow == SLOW_DROP, "broadcast channel, defaults");
        CHECK(c->channels == l && l->next == j && j->next == a, "channels in file order");
        CHECK(!config_find_channel(c, "nope"), "config_find_channel of an unknown name is NULL");
    }
    config_free(&c);
    CHECK(c == NULL, "config_free clears the pointer");
    config_free(NULL);

    c = load("# only a comment\n");
    CHECK(c && c->n_endpoints == 2 && !strcmp(c->endpoints[0], "tcp://127.0.0.1:5242") &&
              c->auto_create == AUTO_PUBSUB && c->max_message_size == 1048576 &&
              c->heartbeat_ms == 1000 && c->heartbeat_timeout_ms == 3000 && !c->fsync_always,
          "an empty file gives the defaults");
    config_free(&c);
    c = config_default();
    CHECK(c && c->n_endpoints == 2 && !strncmp(c->endpoints[1], "ipc://", 6), "config_default: tcp and ipc");
    config_free(&c);

    /* Every error, with its line, in one run. */
    c = load("broker = {\n"                                        /* 1 */
             "  endpoints = [ \"tcp://127.0.0.1\", \"udp://x:1\" ];\n" /* 2 */
             "  bogus = 1;\n"                                       /* 3 */
             "  max_clients = \"many\";\n"                         /* 4 */
             "  max_message_size = -5;\n"                           /* 5 */
             "  auto_create = \"all\";\n"                          /* 6 */
             "  heartbeat_ms = 100; heartbeat_timeout_ms = 50;\n"   /* 7 */
             "};\n"                                                 /* 8 */
             "channels = (\n"                                       /* 9 */
             "  { name = \"a b\"; type = \"queue\"; },\n"          /* 10 */
             "  { name = \"jobs\"; type = \"queue\"; colour = 1; },\n" /* 11 */
             "  { name = \"jobs\"; type = \"pubsub\"; },\n"        /* 12 */
             "  { name = \"logs\"; type = \"topic\"; },\n"         /* 13 */
             "  { name = \"news\"; type = \"pubsub\"; durable = true; },\n" /* 14 */
             "  { type = \"queue\"; },\n"                          /* 15 */
             "  { name = \"q\"; type = \"queue\"; max_queued = true; }\n" /* 16 */
             ");\n"                                                 /* 17 */
             "extra = 1;\n");                                       /* 18 */
    CHECK(c == NULL, "a file with errors gives no config");
    CHECK(has_error(2, "tcp endpoint needs HOST:PORT"), "line 2: tcp endpoint without a port");
    CHECK(has_error(2, "udp://x:1"), "line 2: an unknown transport");
    CHECK(has_error(3, "unknown key 'bogus'"), "line 3: unknown key");
    CHECK(has_error(4, "'max_clients' must be an integer"), "line 4: wrong type");
    CHECK(has_error(5, "'max_message_size' is -5"), "line 5: out of range");
    CHECK(has_error(6, "\"all\""), "line 6: not one of the choices");
    CHECK(has_error(7, "must be longer than 'heartbeat_ms'"), "line 7: inconsistent heartbeats");
    CHECK(has_error(10, "invalid channel name"), "line 10: invalid channel name");
    CHECK(has_error(11, "unknown key 'colour'"), "line 11: unknown key in a channel");
    CHECK(has_error(12, "declared twice"), "line 12: duplicate channel");
    CHECK(has_error(13, "\"topic\""), "line 13: unknown channel type");
    CHECK(has_error(14, "'durable' is for queues"), "line 14: a key of another channel type");
    CHECK(has_error(15, "without 'name'"), "line 15: a channel without a name");
    CHECK(has_error(16, "'max_queued' must be an integer"), "line 16: wrong type in a channel");
    CHECK(has_error(18, "unknown key 'extra'"), "line 18: unknown top-level key");
    CHECK(count_lines() == 15, "one line per error (%d lines)", count_lines());

    c = load("broker = {\n  max_clients = 1;\n  max_clients = 2;\n};\n");
    CHECK(c == NULL && has_error(3, "duplicate"), "a key given twice is an error on its line");
    c = load("broker = { endpoints = [ \"tcp://127.0.0.1:1\" ] \n");
    CHECK(c == NULL && has_error(2, "syntax error"), "a syntax error names its line");
    config_free(&c);
    return TEST_DONE();
}
