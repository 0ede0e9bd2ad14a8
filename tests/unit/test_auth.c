/*
 * test_auth.c - the access rules (brokerd/auth.c): the channel pattern
 * matcher, and the rights a session gets from security.clients for a
 * CURVE key or a uid with its groups, verb by verb.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "../../brokerd/brokerd.h"
#include "test.h"

static int m(const char *pattern, const char *name)
{
    return auth_match(pattern, name, strlen(name));
}

/* Writes text to a new temporary file named in path (a mkstemp template). */
static void write_file(char *path, const char *text)
{
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    fchmod(fd, 0600);
    close(fd);
}

int main(void)
{
    static const struct {
        const char *pattern, *name;
        int want;
    } cases[] = {
        {"logs", "logs", 1},       {"logs", "log", 0},          {"logs", "logsx", 0},
        {"*", "logs", 1},          {"*", "a", 1},               {"logs*", "logs", 1},
        {"logs*", "logs.amd64", 1}, {"logs*", "log", 0},        {"*.jobs", "build.jobs", 1},
        {"*.jobs", "jobs", 0},     {"*.jobs", "a.jobs.b", 0},   {"a*b*c", "aXbYc", 1},
        {"a*b*c", "abc", 1},       {"a*b*c", "aXcYb", 0},       {"a*b*c", "abcbc", 1},
        {"**", "x", 1},            {"a*a", "aaa", 1},           {"a*a", "a", 0},
        {"rpc-*-v1", "rpc-users-v1", 1}, {"rpc-*-v1", "rpc-users-v2", 0},
        {"x", "X", 0},
        /* The broker's own channel: only a pattern that names its '$' reaches it. */
        {"*", "$broker", 0},       {"$broker", "$broker", 1},   {"$*", "$broker", 1},
        {"*broker", "$broker", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(m(cases[i].pattern, cases[i].name) == cases[i].want, "'%s' %s '%s'",
              cases[i].pattern, cases[i].want ? "matches" : "does not match", cases[i].name);
    CHECK(auth_match("logs", "logs.x", 4), "only len bytes of the name count");

    /* A configuration with a CURVE key, a uid and a gid entry. */
    char bpub[41], bsec[41], kpub[41], ksec[41], other[41], osec[41];
    if (zmq_curve_keypair(bpub, bsec) || zmq_curve_keypair(kpub, ksec) ||
        zmq_curve_keypair(other, osec))
        abort();
    char keyfile[] = "/tmp/test_auth_key.XXXXXX", conffile[] = "/tmp/test_auth_conf.XXXXXX";
    char text[2048];
    snprintf(text, sizeof text, "public_key = \"%s\";\nsecret_key = \"%s\";\n", bpub, bsec);
    write_file(keyfile, text);
    snprintf(text, sizeof text,
             "broker = { curve = { secret_key_file = \"%s\"; }; };\n"
             "security = { clients = (\n"
             "  { name = \"logger\"; public_key = \"%s\";\n"
             "    allow = [ \"publish:logs.*\", \"send:jobs\", \"request:rpc\" ]; },\n"
             "  { name = \"alice\"; uid = 1000; allow = [ \"subscribe:*\", \"consume:jobs\" ]; },\n"
             "  { name = \"staff\"; gid = 27; allow = [ \"admin\", \"reply:rpc\" ]; }\n"
             "); };\n",
             keyfile, kpub);
    write_file(conffile, text);
    config *cfg = config_load(conffile, stderr);
    unlink(conffile);
    unlink(keyfile);
    CHECK(cfg && cfg->curve && cfg->secure && !strcmp(cfg->curve_public, bpub),
          "the configuration loads with the broker's key pair");
    if (!cfg)
        return TEST_DONE();

    broker b;
    memset(&b, 0, sizeof b);
    b.cfg = cfg;
    b.secure = 1;
    client logger, alice, bob;
    memset(&logger, 0, sizeof logger);
    memset(&alice, 0, sizeof alice);
    memset(&bob, 0, sizeof bob);
    char user[64];
    snprintf(user, sizeof user, "curve:%s", kpub);
    logger.auth = auth_admit(&b, NULL, "l", 1, user);
    CHECK(logger.auth && !strcmp(auth_who(&logger), "logger"), "a known key is admitted as its entry");
    snprintf(user, sizeof user, "curve:%s", other);
    auth_session *none = auth_admit(&b, NULL, "o", 1, user);
    CHECK(none == NULL, "an unknown key is refused");
    CHECK(auth_admit(&b, NULL, "o", 1, NULL) == NULL, "no user id at all is refused");
    CHECK(auth_admit(&b, NULL, "o", 1, "unix:2000:2000") == NULL, "an unknown uid is refused");
    alice.auth = auth_admit(&b, NULL, "a", 1, "unix:1000:1000,27");
    CHECK(alice.auth && !strcmp(auth_who(&alice), "alice, staff (uid 1000)"),
          "uid 1000 in group 27 gets both entries (%s)", alice.auth ? auth_who(&alice) : "-");
    bob.auth = auth_admit(&b, NULL, "b", 1, "unix:1001:100,27");
    CHECK(bob.auth && !strcmp(auth_who(&bob), "staff (uid 1001)"),
          "a supplementary group is enough");

#define MAY(c, v, name) auth_may(&b, &(c), v, NULL, name, strlen(name))
    CHECK(MAY(logger, VERB_PUBLISH, "logs.amd64") && !MAY(logger, VERB_PUBLISH, "logs"),
          "publish:logs.* covers logs.amd64, not logs");
    CHECK(!MAY(logger, VERB_SUBSCRIBE, "logs.amd64"), "publishing is not subscribing");
    CHECK(MAY(logger, VERB_SEND, "jobs") && !MAY(logger, VERB_CONSUME, "jobs"),
          "send:jobs, but not consume:jobs");
    CHECK(MAY(logger, VERB_REQUEST, "rpc") && !MAY(logger, VERB_REPLY, "rpc"),
          "request:rpc, but not reply:rpc");
    CHECK(!auth_may(&b, &logger, VERB_ADMIN, NULL, NULL, 0), "no admin right for logger");
    CHECK(MAY(alice, VERB_SUBSCRIBE, "anything") && MAY(alice, VERB_CONSUME, "jobs") &&
              MAY(alice, VERB_REPLY, "rpc") && auth_may(&b, &alice, VERB_ADMIN, NULL, NULL, 0),
          "alice has her own rights and staff's");
    CHECK(!MAY(bob, VERB_SUBSCRIBE, "anything") && auth_may(&b, &bob, VERB_ADMIN, NULL, NULL, 0),
          "bob has staff's rights only");

    /* The cache remembers an allowed channel per verb, and only that. */
    channel ch;
    memset(&ch, 0, sizeof ch);
    CHECK(auth_may(&b, &logger, VERB_PUBLISH, &ch, "logs.x", 6) &&
              auth_may(&b, &logger, VERB_PUBLISH, &ch, "logs.x", 6) &&
              !auth_may(&b, &logger, VERB_SUBSCRIBE, &ch, "logs.x", 6),
          "an allowed channel stays allowed for its verb only");
    CHECK(auth_same_user(&logger, logger.auth ? user : NULL) == 0, "another user id is not the same");

    /* Without security everything is allowed, with it nothing without a session. */
    client anon;
    memset(&anon, 0, sizeof anon);
    CHECK(!MAY(anon, VERB_PUBLISH, "logs.x"), "a session without security state may nothing");
    b.secure = 0;
    CHECK(MAY(anon, VERB_PUBLISH, "logs.x") && auth_may(&b, &anon, VERB_ADMIN, NULL, NULL, 0),
          "without security everything is allowed");
#undef MAY

    auth_free(&logger.auth);
    auth_free(&alice.auth);
    auth_free(&bob.auth);
    CHECK(logger.auth == NULL, "auth_free clears the pointer");
    config_free(&cfg);
    return TEST_DONE();
}
