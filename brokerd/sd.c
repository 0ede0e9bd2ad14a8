/*
 * sd.c - systemd glue: readiness notification and socket activation.
 *
 * brokerd runs as a Type=notify service.  It says READY=1 only after
 * every endpoint is bound, RELOADING=1 and READY=1 around a SIGHUP reload,
 * STOPPING=1 on the way out, STATUS= with live counts, and WATCHDOG=1
 * while the unit sets WatchdogSec.  Without $NOTIFY_SOCKET every call here
 * is a cheap no-op, so the daemon behaves the same outside systemd.
 *
 * Socket activation: brokerd.socket passes listening sockets; each is
 * matched to a configured endpoint by its address (sd_is_socket_inet /
 * sd_is_socket_unix); listen.c hands it to libzmq through ZMQ_USE_FD.
 */
#include "brokerd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>

/* Passed sockets not yet claimed by an endpoint; -1 once claimed. */
static int passed[64];
static int n_passed;
static uint64_t watchdog_usec;

void sd_setup(void)
{
    int n = sd_listen_fds(1);
    if (n < 0) {
        log_warn("cannot read passed sockets: %s", strerror(-n));
        n = 0;
    }
    if (n > (int)(sizeof passed / sizeof passed[0]))
        n = (int)(sizeof passed / sizeof passed[0]);
    for (int i = 0; i < n; i++)
        passed[i] = SD_LISTEN_FDS_START + i;
    n_passed = n;
    if (n)
        log_info("socket activation: %d socket%s passed", n, n == 1 ? "" : "s");
    if (sd_watchdog_enabled(1, &watchdog_usec) <= 0)
        watchdog_usec = 0;
}

/* Splits "tcp://host:port" into an address family and a port. */
static int tcp_port(const char *endpoint, int *family, uint16_t *port)
{
    const char *colon = strrchr(endpoint, ':');
    if (strncmp(endpoint, "tcp://", 6) != 0 || !colon || colon < endpoint + 6)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p <= 0 || p > 65535)
        return -1;
    *port = (uint16_t)p;
    *family = endpoint[6] == '[' ? AF_INET6 : AF_INET;
    return 0;
}

int sd_take_fd(const char *endpoint)
{
    for (int i = 0; i < n_passed; i++) {
        int fd = passed[i], match = 0, family;
        uint16_t port;
        if (fd < 0)
            continue;
        if (strncmp(endpoint, "ipc://", 6) == 0) {
            const char *path = endpoint + 6;
            match = sd_is_socket_unix(fd, SOCK_STREAM, 1, path, 0) > 0;
        } else if (tcp_port(endpoint, &family, &port) == 0) {
            /* A socket bound to [::] also serves IPv4: match by port. */
            match = sd_is_socket_inet(fd, family, SOCK_STREAM, 1, port) > 0 ||
                    sd_is_socket_inet(fd, 0, SOCK_STREAM, 1, port) > 0;
        }
        if (match) {
            passed[i] = -1;
            return fd;
        }
    }
    return -1;
}

int sd_unclaimed(void)
{
    int n = 0;
    for (int i = 0; i < n_passed; i++)
        if (passed[i] >= 0)
            n++;
    return n;
}

void sd_ready(void)
{
    sd_notify(0, "READY=1");
}

void sd_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* MONOTONIC_USEC lets systemd 253+ match the reload to this signal. */
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void sd_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

void sd_status(const char *text)
{
    sd_notifyf(0, "STATUS=%s", text);
}

long sd_watchdog_ms(void)
{
    /* Ping at half the period, as sd_watchdog_enabled(3) advises. */
    return watchdog_usec ? (long)(watchdog_usec / 2000) : 0;
}

void sd_watchdog(void)
{
    if (watchdog_usec)
        sd_notify(0, "WATCHDOG=1");
}
