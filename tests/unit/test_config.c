/*
 * test_config.c - the config loader (brokerd/config.c): a valid file with
 * every key, the defaults, and each kind of error reported with the line
 * it is on, all of them at once; the security settings (broker.curve and
 * its key file, security.clients, the endpoint policy) likewise.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

/* Writes text to a new file (mode) named from template; the name in out. */
static void write_file(char *out, const char *template, const char *text, mode_t mode)
{
    strcpy(out, template);
    int fd = mkstemp(out);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fchmod(fd, mode) < 0)
        abort();
    close(fd);
}

/* The security section: every key read, every mistake found with its line. */
static void test_security(void)
{
    char bpub[41], bsec[41], kpub[41], ksec[41], text[4096];
    char key[64], pub[64], open_key[64], wrong[64];
    if (zmq_curve_keypair(bpub, bsec) || zmq_curve_keypair(kpub, ksec))
        abort();
    snprintf(text, sizeof text, "# made by pctl keygen\npublic_key = \"%s\";\nsecret_key = \"%s\";\n",
             bpub, bsec);
    write_file(key, "/tmp/test_config_key.XXXXXX", text, 0600);
    write_file(open_key, "/tmp/test_config_open.XXXXXX", text, 0644);
    snprintf(text, sizeof text, "public_key = \"%s\";\n", bpub);
    write_file(pub, "/tmp/test_config_pub.XXXXXX", text, 0600);
    snprintf(text, sizeof text, "public_key = \"%s\";\nsecret_key = \"%s\";\ncolour = 1;\n", kpub, bsec);
    write_file(wrong, "/tmp/test_config_wrong.XXXXXX", text, 0600);

    snprintf(text, sizeof text,
             "broker = {\n"
             "  endpoints = [ \"tcp://0.0.0.0:6000\", \"ipc:///tmp/x.sock\" ];\n"
             "  curve = { secret_key_file = \"%s\"; };\n"
             "  ipc_mode = \"0640\"; ipc_group = 0;\n"
             "};\n"
             "security = { clients = (\n"
             "  { name = \"logger\"; public_key = \"%s\"; allow = [ \"publish:logs.*\", \"admin\" ]; },\n"
             "  { name = \"root\"; uid = \"root\"; allow = [ \"subscribe:*\" ]; },\n"
             "  { name = \"staff\"; gid = 27; }\n"
             "); };\n", key, kpub);
    config *c = load(text);
    CHECK(c != NULL, "a file with every security key loads (%s)", errs);
    if (c) {
        const config_client *l = c->clients, *r = l ? l->next : NULL, *st = r ? r->next : NULL;
        CHECK(c->curve && c->secure && !strcmp(c->curve_public, bpub) && !strcmp(c->curve_secret, bsec),
              "broker.curve: the key pair from the key file");
        CHECK(c->ipc_mode == 0640 && c->ipc_gid == 0 && !c->insecure, "ipc_mode, ipc_group");
        CHECK(l && l->kind == WHO_KEY && !strcmp(l->name, "logger") && l->n_rules == 2 &&
                  l->rules[0].verb == VERB_PUBLISH && !strcmp(l->rules[0].pattern, "logs.*") &&
                  l->rules[1].verb == VERB_ADMIN && !strcmp(l->rules[1].pattern, ""),
              "a CURVE client and its rights");
        uint8_t raw[32];
        CHECK(l && zmq_z85_decode(raw, kpub) && !memcmp(raw, l->key, 32), "its key, decoded");
        CHECK(r && r->kind == WHO_UID && r->id == 0 && st && st->kind == WHO_GID && st->id == 27 &&
                  st->n_rules == 0 && !st->next,
              "uid by name, gid by number, no rights at all");
    }
    config_free(&c);
    CHECK(!strcmp(config_verb_name(VERB_CONSUME), "consume") && !strcmp(config_verb_name(VERB_ADMIN), "admin"),
          "config_verb_name");

    c = load("# nothing\n");
    CHECK(c && !c->secure && !c->curve && c->ipc_mode == 0660 && c->ipc_gid == -1 && !c->clients,
          "defaults: no security, ipc sockets 0660 in the broker's group");
    int plain = 9;
    CHECK(c && !config_endpoint_refusal(c, "tcp://127.0.0.1:1", &plain) && plain == 0 &&
              !config_endpoint_refusal(c, "tcp://127.5.6.7:1", &plain) &&
              !config_endpoint_refusal(c, "tcp://[::1]:1", &plain) &&
              !config_endpoint_refusal(c, "tcp://localhost:1", &plain) &&
              !config_endpoint_refusal(c, "tcp://lo:1", &plain) &&
              !config_endpoint_refusal(c, "ipc:///x", &plain),
          "loopback tcp and ipc may be bound without security");
    CHECK(c && config_endpoint_refusal(c, "tcp://0.0.0.0:1", &plain) &&
              config_endpoint_refusal(c, "tcp://*:1", &plain) &&
              config_endpoint_refusal(c, "tcp://eth0:1", &plain) &&
              config_endpoint_refusal(c, "tcp://10.0.0.1:1", &plain) &&
              config_endpoint_refusal(c, "tcp://[::]:1", &plain),
          "other tcp is refused without security");
    if (c) {
        c->insecure = 1;
        CHECK(!config_endpoint_refusal(c, "tcp://0.0.0.0:1", &plain) && plain == 1,
              "... unless broker.insecure, and then it is called plain");
    }
    config_free(&c);

    /* Every mistake, with its line. */
    snprintf(text, sizeof text,
             "broker = {\n"                                                   /* 1 */
             "  endpoints = [ \"tcp://*:6000\" ];\n"                          /* 2 */
             "  ipc_mode = \"999\";\n"                                        /* 3 */
             "  ipc_group = \"no-such-group-here\";\n"                        /* 4 */
             "  insecure = 1;\n"                                               /* 5 */
             "};\n"                                                           /* 6 */
             "security = { clients = (\n"                                     /* 7 */
             "  { name = \"a\"; uid = 1; allow = [ \"write:logs\" ]; },\n"     /* 8 */
             "  { name = \"b\"; uid = 2; allow = [ \"admin:logs\", \"publish\" ]; },\n" /* 9 */
             "  { name = \"c\"; uid = 3; allow = ( \"publish:a b\", 7 ); },\n" /* 10 */
             "  { name = \"d\"; uid = 4; gid = 4; },\n"                        /* 11 */
             "  { name = \"e\"; },\n"                                         /* 12 */
             "  { name = \"a\"; uid = 5; },\n"                                /* 13 */
             "  { name = \"f\"; uid = 1; },\n"                                /* 14 */
             "  { name = \"g\"; uid = \"no-such-user-here\"; },\n"            /* 15 */
             "  { name = \"h\"; public_key = \"tooshort\"; },\n"              /* 16 */
             "  { name = \"i\"; gid = -1; hue = 2; }\n"                        /* 17 */
             "); };\n");                                                      /* 18 */
    c = load(text);
    CHECK(c == NULL, "a security section with errors gives no config");
    static const struct {
        int line;
        const char *needle, *what;
    } expected[] = {
        {2, "tcp://*:6000", "plain tcp with security.clients"},
        {2, "set broker.curve", "... and what to do about it"},
        {3, "'ipc_mode' is \"999\"", "ipc_mode not octal"},
        {4, "no such group", "an unknown group"},
        {5, "'insecure' must be true or false", "insecure of the wrong type"},
        {8, "\"write:logs\" is not a right", "an unknown verb"},
        {9, "takes no channels", "admin with channels"},
        {9, "'publish' needs channels", "publish without"},
        {10, "\"publish:a b\"", "a bad pattern"},
        {10, "must be a string", "a right that is no string"},
        {11, "both 'uid' and 'gid'", "two identities"},
        {12, "needs public_key", "no identity"},
        {13, "named twice", "a name given twice"},
        {14, "has the uid of client \"a\"", "a uid given twice"},
        {15, "no such user", "an unknown user"},
        {16, "40 characters of Z85", "a bad public key"},
        {17, "'gid' is -1", "a negative gid"},
        {17, "unknown key 'hue' in a client", "an unknown key in a client"},
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        CHECK(has_error(expected[i].line, expected[i].needle), "line %d: %s", expected[i].line,
              expected[i].what);

    snprintf(text, sizeof text,
             "broker = {\n"                                                   /* 1 */
             "  curve = { secret_key_file = \"%s\"; };\n"                      /* 2 */
             "};\n", open_key);                                               /* 3 */
    c = load(text);
    CHECK(c == NULL && has_error(2, "readable by everyone"), "line 2: a key file others can read");
    snprintf(text, sizeof text, "broker = { curve = { secret_key_file = \"%s\"; }; };\n", pub);
    c = load(text);
    CHECK(c == NULL && strstr(errs, "no secret_key") && strstr(errs, pub), "a .pub file as the key: %s", errs);
    snprintf(text, sizeof text, "broker = { curve = { secret_key_file = \"%s\"; }; };\n", wrong);
    c = load(text);
    char want[128];
    snprintf(want, sizeof want, "%s:1: public_key does not belong", wrong);
    CHECK(c == NULL && strstr(errs, want), "a key file with a foreign public key names its line");
    snprintf(want, sizeof want, "%s:3: unknown key 'colour'", wrong);
    CHECK(strstr(errs, want) != NULL, "an unknown key in the key file names its line");
    snprintf(text, sizeof text, "broker = { curve = { secret_key_file = \"%s\"; }; };\n", key);
    c = load(text);
    CHECK(c == NULL && has_error(1, "'curve' needs a security section"), "curve without security.clients");
    c = load("broker = { curve = { secret_key_file = \"/nonexistent/k\"; }; };\n"
             "security = { clients = ( ); };\n");
    CHECK(c == NULL && has_error(1, "/nonexistent/k") && has_error(2, "'clients' is empty"),
          "a missing key file, an empty client list");
    c = load("broker = { gateway = { xpub = \"tcp://0.0.0.0:7000\"; xsub = \"tcp://127.0.0.1:7001\"; }; };\n");
    CHECK(c == NULL && has_error(1, "gateway endpoint \"tcp://0.0.0.0:7000\"") && !strstr(errs, "7001"),
          "a gateway beyond loopback needs broker.insecure");
    c = load("broker = { endpoints = [ \"ipc:///tmp/y.sock\" ]; };\n"
             "security = { clients = ( { name = \"r\"; uid = 0; allow = [ \"admin\" ]; } ); };\n");
    CHECK(c && c->secure && !c->curve, "ipc only: security without broker.curve (%s)", errs);
    config_free(&c);
    c = load("security = { clients = ( { name = \"r\"; uid = 0; } ); };\n");
    CHECK(c == NULL && has_error(1, "the default endpoint \"tcp://127.0.0.1:5242\""),
          "the default tcp endpoint cannot identify clients");
    unlink(key);
    unlink(pub);
    unlink(open_key);
    unlink(wrong);
}

static int count_lines(void)
{
    int n = 0;
    for (const char *p = errs; *p; p++)
        n += *p == '\n';
    return n;
}

/* broker.http's address and its rule, the reserved channel name, and the
 * histogram the metrics are made of. */
static void test_http(void)
{
    struct sockaddr_storage sa;
    unsigned len = 0;
    const char *why = NULL;
    CHECK(config_http_addr("127.0.0.1:8242", &sa, &len, &why) == 0 && sa.ss_family == AF_INET &&
              ntohs(((struct sockaddr_in *)&sa)->sin_port) == 8242,
          "an IPv4 HOST:PORT");
    CHECK(config_http_addr("[::1]:0", &sa, &len, &why) == 0 && sa.ss_family == AF_INET6,
          "an IPv6 address in brackets, port 0");
    CHECK(config_http_addr("localhost:1", &sa, &len, &why) < 0 && strstr(why, "host"),
          "a host name is refused");
    CHECK(config_http_addr("127.0.0.1", &sa, &len, &why) < 0 &&
              config_http_addr("127.0.0.1:65536", &sa, &len, &why) < 0 &&
              config_http_addr(":80", &sa, &len, &why) < 0,
          "no port, a port too large, no host");
    config *c = load("# nothing\n");
    CHECK(c && !config_http_refusal(c, "127.0.0.9:1") && !config_http_refusal(c, "[::1]:1") &&
              config_http_refusal(c, "0.0.0.0:1") && config_http_refusal(c, "[::]:1") &&
              config_http_refusal(c, "192.0.2.1:1"),
          "without a token only loopback may be listened on");
    if (c) {
        c->http_token = strdup("0123456789abcdef");
        CHECK(!config_http_refusal(c, "0.0.0.0:1"), "... and anything with one");
    }
    config_free(&c);
    CHECK(config_channel_name_ok("$broker", 7) && config_channel_name_ok("logs", 4) &&
              !config_channel_name_ok("$other", 6) && !config_channel_name_ok("$broker2", 8) &&
              !config_channel_name_ok("$", 1),
          "\"$broker\" is the only name with a '$'");
    histo h = {0};
    histo_add(&h, 5000);           /* 5 us: the first bucket (10 us) */
    histo_add(&h, 10000);          /* 10 us: still the first, bounds are inclusive */
    histo_add(&h, 2000000);        /* 2 ms: the 5 ms bucket */
    histo_add(&h, 5000000000LL);   /* 5 s: above every bound */
    CHECK(h.in[0] == 2 && h.in[5] == 1 && h.in[HISTO_BUCKETS] == 1 && h.count == 4 &&
              h.sum_ns == 5002015000ULL && histo_bounds[5] == 0.005,
          "histogram buckets, count and sum");
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
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    c = config_default();
    CHECK(c && !strcmp(c->endpoints[0], "tcp://127.0.0.1:5242") &&
              !strcmp(c->endpoints[1], "ipc:///run/user/1000/pubsub.sock") && !c->endpoints[2] &&
              c->auto_create == AUTO_PUBSUB && !c->channels && !c->path,
          "config_default: the ipc socket in $XDG_RUNTIME_DIR");
    config_free(&c);
    unsetenv("XDG_RUNTIME_DIR");
    c = config_default();
    CHECK(c && !strcmp(c->endpoints[1], "ipc://pubsub.sock"), "config_default: ./pubsub.sock otherwise");
    config_free(&c);
    c = load("channels = ( { name = \"q\"; type = \"queue\"; }, { name = \"p\"; type = \"pubsub\"; } );\n");
    CHECK(c && config_find_channel(c, "q")->max_queued == 100000 && !config_find_channel(c, "q")->durable &&
              config_find_channel(c, "q")->overflow == OVERFLOW_REFUSE &&
              config_find_channel(c, "p")->retain && config_find_channel(c, "p")->slow == SLOW_DROP,
          "channel defaults: max_queued 100000, not durable, refuse; retain, drop");
    CHECK(c && c->n_endpoints == 2 && c->max_clients == 10000 && c->max_subscriptions == 1000 &&
              c->max_retained == 10000 && c->client_buffer == 8L << 20,
          "broker defaults when only channels are given");
    config_free(&c);
    CHECK(!strcmp(config_type_name(CHAN_QUEUE), "queue") &&
              !strcmp(config_type_name(CHAN_BROADCAST), "broadcast") &&
              !strcmp(config_type_name(CHAN_PUBSUB), "pubsub"),
          "config_type_name");

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

    /* Errors come out in the order of the file, whatever order they were found in. */
    int sorted = 1, last = 0;
    for (const char *p = errs; (p = strstr(p, path)); p++) {
        int line = atoi(p + strlen(path) + 1);
        if (line < last)
            sorted = 0;
        last = line;
    }
    CHECK(sorted, "error lines sorted by line number");

    c = load("broker = {\n"
             "  endpoints = [ ];\n"                                            /* 2 */
             "  gateway = { xpub = \"tcp://127.0.0.1:1\"; pub = \"x\"; };\n" /* 3 */
             "};\n"
             "channels = (\n"
             "  \"jobs\"\n"                                                   /* 6 */
             ");\n");
    CHECK(c == NULL && has_error(2, "empty"), "line 2: no endpoint at all");
    CHECK(has_error(3, "unknown key 'pub' in broker.gateway"), "line 3: unknown key in the gateway");
    /* libconfig puts a scalar list element on the line of the token after it. */
    CHECK(has_error(6, "must be a group") || has_error(7, "must be a group"),
          "line 6: a channel that is not a group");
    c = load("broker = { insecure = true; endpoints = [ \"tcp://*:*\", \"tcp://h:0\", \"tcp://h:1\", \"tcp://h:1\" ]; };\n"
             "channels = { };\n");
    CHECK(c == NULL && has_error(1, "\"tcp://h:0\"") && has_error(1, "given twice") &&
              !strstr(errs, "tcp://*:*"),
          "port 0 and a repeated endpoint are errors, an ephemeral port is not");
    CHECK(has_error(2, "'channels' must be a list"), "line 2: channels of the wrong kind");
    c = load("broker = { max_clients = 0; max_message_size = 1099511627776L; client_buffer = 1.5; };\n");
    CHECK(c == NULL && has_error(1, "'max_clients' is 0") &&
              has_error(1, "'max_message_size' is 1099511627776") &&
              has_error(1, "'client_buffer' must be an integer"),
          "zero, a 64-bit value too large and a float are refused");
    /* libconfig 1.5 would keep 0 of 4294967296: caught before it parses. */
    c = load("broker = {\n  max_message_size = 4294967296; # 8589934592\n"
             "  data_dir = \"/tmp/4294967296\";\n  client_buffer = 4294967296L;\n};\n"
             "channels = ( { name = \"q4294967296\"; type = \"queue\"; max_queued = 0x100000000; } );\n");
    CHECK(c == NULL && has_error(2, "4294967296 does not fit in a plain integer (32 bits): write 4294967296L"),
          "line 2: an integer over 32 bits without L");
    CHECK(has_error(6, "0x100000000 does not fit"), "line 6: a hex integer over 32 bits without L");
    CHECK(count_lines() == 2, "numbers in comments, strings and names are left alone (%d lines)",
          count_lines());
    c = load("broker = { client_buffer = 4294967296L; max_message_size = 2147483647; };\n");
    CHECK(c == NULL && !strstr(errs, "client_buffer") && has_error(1, "'max_message_size' is 2147483647"),
          "64-bit integers with L are read whole");

    /* An @include'd file's errors name that file. */
    char inc[64] = "/tmp/test_config_inc.XXXXXX";
    int ifd = mkstemp(inc);
    const char *itext = "channels = (\n  { name = \"x\"; type = \"queue\"; hue = 1; }\n);\n";
    CHECK(ifd >= 0 && write(ifd, itext, strlen(itext)) == (ssize_t)strlen(itext), "include file written");
    if (ifd >= 0)
        close(ifd);
    char text[200];
    snprintf(text, sizeof text, "broker = { heartbeat_ms = 5; };\n@include \"%s\"\n", inc);
    c = load(text);
    char want[128];
    snprintf(want, sizeof want, "%s:2: unknown key 'hue'", inc);
    CHECK(c == NULL && has_error(1, "'heartbeat_ms' is 5") && strstr(errs, want),
          "errors of an included file name it");
    unlink(inc);

    c = load("broker = {\n  max_clients = 1;\n  max_clients = 2;\n};\n");
    CHECK(c == NULL && has_error(3, "duplicate"), "a key given twice is an error on its line");
    c = load("broker = { endpoints = [ \"tcp://127.0.0.1:1\" ] \n");
    CHECK(c == NULL && has_error(2, "syntax error"), "a syntax error names its line");
    config_free(&c);
    test_security();
    test_http();
    return TEST_DONE();
}
