/*
 * test_error.c - ps_errmsg() (libpubsub/error.c) belongs to the calling
 * thread's last failed call only: after the broker's sentence for one
 * failure, a later call that fails for a reason of the library's own (a
 * bad argument, a broker that never answers) must leave NULL, not the
 * older sentence, which would name a cause that is not this one.  The
 * broker's sentence is planted with the library's own setter, as the
 * I/O code does when a refusal arrives; no broker is needed.
 */
#include <errno.h>
#include <string.h>

#include "../../libpubsub/internal.h"
#include "test.h"

#define BROKER_TEXT "queue 'jobs' is full (100000 messages)"

/* Plants the broker's sentence for a failure just seen. */
static void refused_by_broker(void)
{
    ps__set_errmsg(BROKER_TEXT, strlen(BROKER_TEXT));
}

int main(void)
{
    refused_by_broker();
    const char *t = ps_errmsg(NULL);
    CHECK(t && !strcmp(t, BROKER_TEXT), "the broker's sentence is there after its refusal");

    refused_by_broker();
    errno = 0;
    CHECK(ps_publish(NULL, "jobs", NULL, "x", 1, 0) < 0 && errno == EINVAL,
          "ps_publish without a client fails with EINVAL");
    CHECK(ps_errmsg(NULL) == NULL, "... and ps_errmsg() is NULL, not the older sentence: %s",
          ps_errmsg(NULL) ? ps_errmsg(NULL) : "(null)");

    refused_by_broker();
    CHECK(ps_subscribe(NULL, "bad name!", NULL, 0) < 0 && errno == EINVAL,
          "ps_subscribe with a bad channel fails with EINVAL");
    CHECK(ps_errmsg(NULL) == NULL, "... and ps_errmsg() is NULL");

    refused_by_broker();
    char *json;
    CHECK(ps_admin(NULL, "status", 100, &json) < 0 && errno == EINVAL,
          "ps_admin without a client fails with EINVAL");
    CHECK(ps_errmsg(NULL) == NULL, "... and ps_errmsg() is NULL");

    ps_opts *o = ps_opts_new();
    CHECK(o != NULL, "ps_opts_new");
    refused_by_broker();
    CHECK(ps_opts_set_int(o, 9999, 1) < 0, "an unknown option is refused");
    CHECK(ps_errmsg(NULL) == NULL, "... and ps_errmsg() is NULL");

    /* A broker that never answers: the connect times out in the library. */
    ps_opts_set_int(o, PS_OPT_TIMEOUT_MS, 100);
    ps_opts_set_int(o, PS_OPT_RECONNECT, 0);
    refused_by_broker();
    ps_client *c = ps_connect("ipc:///nonexistent/pubsub-test-error.sock", o);
    CHECK(c == NULL, "ps_connect to nothing fails (%s)", ps_strerror(errno));
    CHECK(ps_errmsg(NULL) == NULL, "... and ps_errmsg() is NULL after it, not the older sentence");
    ps_close(&c);
    ps_opts_destroy(&o);

    /* A call that succeeds clears it as well: the text is of the last call. */
    refused_by_broker();
    o = ps_opts_new();
    CHECK(ps_opts_set_int(o, PS_OPT_WINDOW, 10) == 0 && ps_errmsg(NULL) == NULL,
          "a call that succeeds leaves no sentence behind");
    ps_opts_destroy(&o);
    return TEST_DONE();
}
