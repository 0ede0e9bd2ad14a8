/*
 * hello.c - a program outside the tree, built against the installed
 * library with `pkg-config --cflags --libs libpubsub`, as a user would.
 * It subscribes, publishes one message to itself and checks it came back.
 * Usage: hello ENDPOINT CHANNEL
 */
#include <errno.h>
#include <pubsub.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: hello ENDPOINT CHANNEL\n");
        return 1;
    }
    ps_client *c = ps_connect(argv[1], NULL);
    if (!c) {
        fprintf(stderr, "hello: connect: %s\n", ps_strerror(errno));
        return 2;
    }
    int rc = 1;
    ps_msg *m = NULL;
    if (ps_subscribe(c, argv[2], "greetings/#", 0) < 0 ||
        ps_publish(c, argv[2], "greetings/world", "hello", 5, 0) < 0 ||
        ps_flush(c, 3000) < 0) {
        fprintf(stderr, "hello: %s\n", ps_strerror(errno));
        goto out;
    }
    m = ps_recv(c, 3000);
    if (!m) {
        fprintf(stderr, "hello: recv: %s\n", ps_strerror(errno));
        goto out;
    }
    if (ps_msg_size(m) == 5 && memcmp(ps_msg_data(m), "hello", 5) == 0 &&
        strcmp(ps_msg_topic(m), "greetings/world") == 0) {
        printf("hello from libpubsub %s\n", ps_version());
        rc = 0;
    }
out:
    ps_msg_destroy(&m);
    ps_close(&c);
    return rc;
}
