/*
 * policy.c - where the broker may listen: the syntax of an endpoint and
 * the security policy for it.  Plain tcp is allowed only on loopback
 * unless broker.insecure says otherwise; with a security section a tcp
 * client must be identified, which needs broker.curve; the plain ZeroMQ
 * gateway, which neither encrypts nor knows access rules, follows its
 * own rule.  config.c holds every endpoint of the file against it (so
 * --check finds a refused one) and listen.c again when binding.  The
 * HTTP monitoring endpoint has a rule of its own too: beyond loopback it
 * needs a bearer token.  The names a channel may have are said here as
 * well, because the reserved stats channel "$broker" is a broker's rule,
 * not the wire's.
 */
#include "brokerd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

/* True when ep is tcp://HOST:PORT or ipc:///PATH (or ipc://@abstract). */
int config_endpoint_ok(const char *ep, const char **why)
{
    if (!strncmp(ep, "tcp://", 6)) {
        const char *host = ep + 6, *colon = strrchr(host, ':');
        if (!colon || colon == host) {
            *why = "a tcp endpoint needs HOST:PORT";
            return 0;
        }
        char *end;
        errno = 0;
        long port = strtol(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || port < 1 || port > 65535) {
            /* "*" binds an ephemeral port; libzmq allows it, and so do we. */
            if (strcmp(colon + 1, "*")) {
                *why = "the port must be a number from 1 to 65535";
                return 0;
            }
        }
        return 1;
    }
    if (!strncmp(ep, "ipc://", 6)) {
        if (!ep[6]) {
            *why = "an ipc endpoint needs a path";
            return 0;
        }
        if (!strcmp(ep + 6, "*")) {
            /* libzmq would bind a random path, and our probe of the path
             * "*" would remove a file of that name from the working
             * directory first. */
            *why = "ipc://* is not supported: give the socket's path";
            return 0;
        }
        if (strlen(ep + 6) > 107) {
            *why = "the ipc path is longer than a Unix socket allows (107 bytes)";
            return 0;
        }
        return 1;
    }
    *why = "an endpoint is tcp://HOST:PORT or ipc:///PATH";
    return 0;
}

/* True when a tcp endpoint's host is this machine's loopback: 127.0.0.0/8,
 * ::1, "localhost" or the interface "lo". */
static int loopback_host(const char *ep)
{
    const char *host = ep + 6, *colon = strrchr(host, ':');
    size_t n = colon ? (size_t)(colon - host) : strlen(host);
    char h[256], *p = h;
    struct in_addr a4;
    struct in6_addr a6;
    if (n >= sizeof h)
        return 0;
    memcpy(h, host, n);
    h[n] = '\0';
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h[n - 1] = '\0';
        p++;
    }
    if (inet_pton(AF_INET, p, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, p, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return !strcmp(p, "localhost") || !strcmp(p, "lo");
}

const char *config_endpoint_refusal(const config *c, const char *ep, int *plain)
{
    *plain = 0;
    if (!strncmp(ep, "ipc://@", 7) && !c->secure)
        return "an abstract ipc endpoint has no file, so broker.ipc_mode cannot guard it and any "
               "local user could connect (use a path, or give security.clients uid/gid rules)";
    if (strncmp(ep, "tcp://", 6) != 0)
        return NULL; /* ipc: guarded by the file's mode and by peer credentials */
    if (c->curve)
        return NULL;
    if (c->secure)
        return "without broker.curve a tcp client cannot be identified for security.clients "
               "(set broker.curve, or use ipc endpoints only)";
    if (loopback_host(ep))
        return NULL;
    if (c->insecure) {
        *plain = 1;
        return NULL;
    }
    return "not a loopback address: without broker.curve anyone who reaches it could use the "
           "broker and read its traffic (set broker.curve, or broker.insecure = true to accept that)";
}

/* The same for a plain ZeroMQ gateway endpoint, which never speaks CURVE
 * and knows no access rules. */
const char *config_gateway_refusal(const config *c, const char *ep, int *plain)
{
    *plain = 0;
    if (c->insecure) {
        *plain = c->secure || (!strncmp(ep, "tcp://", 6) && !loopback_host(ep));
        return NULL;
    }
    if (!strncmp(ep, "ipc://@", 7))
        return "an abstract ipc endpoint has no file, so broker.ipc_mode cannot guard it and the "
               "plain ZeroMQ gateway would be open to any local user (set broker.insecure = true "
               "to accept that)";
    if (c->secure)
        return "the plain ZeroMQ gateway bypasses security.clients (set broker.insecure = true "
               "to run it anyway)";
    if (!strncmp(ep, "tcp://", 6) && !loopback_host(ep))
        return "not a loopback address, and the plain ZeroMQ gateway is neither encrypted nor "
               "authenticated (set broker.insecure = true to accept that)";
    return NULL;
}

int config_http_addr(const char *listen, struct sockaddr_storage *sa, unsigned *salen,
                     const char **why)
{
    const char *colon = strrchr(listen, ':');
    char host[64];
    size_t n = colon ? (size_t)(colon - listen) : 0;
    if (!colon || n == 0 || n >= sizeof host) {
        *why = "it must be HOST:PORT, like \"127.0.0.1:8242\" or \"[::1]:8242\"";
        return -1;
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 0 || port > 65535) {
        *why = "the port must be a number from 0 to 65535";
        return -1;
    }
    memcpy(host, listen, n);
    host[n] = '\0';
    memset(sa, 0, sizeof *sa);
    struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *salen = sizeof *a4;
        return 0;
    }
    if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
        host[n - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1) {
            a6->sin6_family = AF_INET6;
            a6->sin6_port = htons((uint16_t)port);
            *salen = sizeof *a6;
            return 0;
        }
    }
    *why = "the host must be an IPv4 address or an IPv6 address in brackets";
    return -1;
}

const char *config_http_refusal(const config *c, const char *listen)
{
    struct sockaddr_storage sa;
    unsigned len;
    const char *why;
    if (config_http_addr(listen, &sa, &len, &why) < 0)
        return why;
    int loopback = sa.ss_family == AF_INET
                       ? (ntohl(((struct sockaddr_in *)&sa)->sin_addr.s_addr) >> 24) == 127
                       : IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&sa)->sin6_addr);
    if (loopback || c->http_token)
        return NULL;
    return "not a loopback address: the monitoring endpoint shows every channel and client to "
           "whoever reaches it (set broker.http.token_file)";
}

const char *config_raft_refusal(const char *ep, char *addr, size_t cap)
{
    const char *why = NULL, *host = ep + 6, *colon;
    if (strncmp(ep, "tcp://", 6) != 0 || !config_endpoint_ok(ep, &why) ||
        !(colon = strrchr(host, ':')) || !strcmp(colon, ":*"))
        return "it must be tcp://IP:PORT with a port number";
    char h[INET_ADDRSTRLEN];
    size_t n = (size_t)(colon - host);
    struct in_addr a4;
    if (n >= sizeof h || (memcpy(h, host, n), h[n] = '\0', inet_pton(AF_INET, h, &a4) != 1))
        return "the host must be an IPv4 address (libraft's transport speaks IPv4 only, and a "
               "name could not be judged private)";
    uint32_t a = ntohl(a4.s_addr);
    /* 127/8, 10/8, 172.16/12, 192.168/16: the transport is neither
     * encrypted nor authenticated, so it may only face this host or a
     * network the operator keeps private. */
    if ((a >> 24) != 127 && (a >> 24) != 10 && (a >> 20) != 0xac1 && (a >> 16) != 0xc0a8)
        return "not a loopback or private address (127/8, 10/8, 172.16/12, 192.168/16): the Raft "
               "transport is neither encrypted nor authenticated";
    if (strlen(host) >= cap)
        return "the address is too long";
    snprintf(addr, cap, "%s", host);
    return NULL;
}

int config_channel_name_ok(const char *name, size_t len)
{
    return ps__wire_valid_channel(name, len) || ps__wire_sys_channel(name, len);
}
