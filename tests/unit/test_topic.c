/*
 * test_topic.c - MQTT topic filters (topic.c): matching and validation,
 * including the corners MQTT 3.1.1 section 4.7 spells out.
 */
#include <string.h>

#include "../../brokerd/brokerd.h"
#include "test.h"

static int m(const char *pattern, const char *topic)
{
    return topic_match(pattern, strlen(pattern), topic, strlen(topic));
}

int main(void)
{
    static const struct {
        const char *pattern, *topic;
        int want;
    } cases[] = {
        {"amd64/sshd", "amd64/sshd", 1},     {"amd64/sshd", "amd64/cron", 0},
        {"amd64/+", "amd64/sshd", 1},        {"+/sshd", "amd64/sshd", 1},
        {"+/sshd", "amd64/cron", 0},         {"+", "amd64", 1},
        {"+", "amd64/sshd", 0},              {"#", "amd64/sshd", 1},
        {"#", "a", 1},                       {"amd64/#", "amd64", 1},
        {"amd64/#", "amd64/sshd/x", 1},      {"amd64/#", "amd65/sshd", 0},
        {"a/+/c", "a/b/c", 1},               {"a/+/c", "a/b/d", 0},
        {"a/+/c", "a/b/x/c", 0},             {"a/+", "a/", 1},
        {"+/+", "/", 1},                     {"/+", "/x", 1},
        {"+", "", 1},                        {"a/b", "a/b/", 0},
        {"a/b/", "a/b/", 1},                 {"a", "a/b", 0},
        {"a/b", "a", 0},                     {"a/+/#", "a/b", 1},
        {"a/+/#", "a", 0},                   {"A/b", "a/b", 0},
        {"sport/tennis/+", "sport/tennis/player1", 1},
        {"sport/tennis/+", "sport/tennis/player1/ranking", 0},
        {"sport/#", "sport", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK(m(cases[i].pattern, cases[i].topic) == cases[i].want, "'%s' %s '%s'",
              cases[i].pattern, cases[i].want ? "matches" : "does not match", cases[i].topic);

    static const struct {
        const char *pattern;
        int valid;
    } pats[] = {
        {"#", 1},      {"a/#", 1},   {"+", 1},      {"a/+/b", 1},  {"+/+", 1},
        {"a/#/b", 0},  {"a#", 0},    {"a/b#", 0},   {"a+", 0},     {"a/+b", 0},
        {"", 0},       {"##", 0},    {"a/b", 1},    {"/", 1},
    };
    for (size_t i = 0; i < sizeof pats / sizeof *pats; i++)
        CHECK(topic_valid_pattern(pats[i].pattern, strlen(pats[i].pattern)) == pats[i].valid,
              "pattern '%s' is %s", pats[i].pattern, pats[i].valid ? "valid" : "invalid");
    CHECK(!topic_valid_pattern("a\0b", 3), "a pattern with a NUL byte is invalid");
    CHECK(topic_valid_name("amd64/sshd", 10), "a plain topic is a valid name");
    CHECK(!topic_valid_name("a/+", 3) && !topic_valid_name("a/#", 3), "wildcards are no topic names");
    CHECK(!topic_valid_name("a\0b", 3), "a topic with a NUL byte is invalid");
    CHECK(topic_match("a/#", 3, "a/b", 3) && !topic_match("a/b", 3, "a/bc", 4),
          "lengths, not NUL bytes, end the strings");
    return TEST_DONE();
}
