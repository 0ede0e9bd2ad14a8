/*
 * listen.c - where the broker listens: its ROUTER sockets and the binding
 * of every endpoint, for the client sockets and the gateway's alike.
 *
 * Each endpoint is first held against the security policy (config.c:
 * plain tcp only on loopback unless broker.insecure).  A listening
 * socket systemd passed (socket activation, sd.c) is used when one
 * matches; otherwise an ipc path is probed first, because binding it
 * would silently steal a live broker's socket, and the file is created
 * 0600 and then given the configured mode and group, so nobody can slip
 * in before.  The socket files this broker created are removed at exit.
 * With a security section there are two ROUTERs: CURVE is an option of a
 * socket, and ipc peers are judged by their credentials without it, so
 * tcp endpoints are bound on b->router and ipc endpoints on b->router_ipc.
 */
#include "brokerd.h"
#include "defaults.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

/*
 * Binding an ipc path replaces a live broker's socket without an error,
 * so first try to reach whatever listens there.  Returns 0 when the path
 * is free (a stale file is removed), -1 when a broker answers.
 */
static int ipc_probe(const char *path)
{
    struct sockaddr_un sa;
    if (access(path, F_OK) != 0)
        return 0;
    if (strlen(path) >= sizeof sa.sun_path)
        return 0; /* zmq_bind will say what is wrong with it */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int err = errno;
    close(fd);
    if (rc == 0) {
        log_err("another broker is running on ipc://%s", path);
        return -1;
    }
    if (err == ECONNREFUSED || err == ENOTSOCK) {
        log_info("removing stale socket file %s", path);
        unlink(path);
    }
    return 0;
}

/* Gives a new ipc socket file the configured mode and group (it was
 * created 0600, so nobody could slip in before).  0, or -1 after logging. */
static int ipc_set_mode(broker *b, const char *path)
{
    if (chmod(path, (mode_t)b->cfg->ipc_mode) < 0) {
        log_err("cannot set mode %04lo on %s: %s", b->cfg->ipc_mode, path, strerror(errno));
        return -1;
    }
    if (b->cfg->ipc_gid >= 0 && chown(path, (uid_t)-1, (gid_t)b->cfg->ipc_gid) < 0) {
        log_err("cannot give %s to group %ld (broker.ipc_group): %s", path, b->cfg->ipc_gid,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* listen_bind without the log line of a failed zmq_bind: 0, -1 (zmq_bind
 * failed, errno set) or -2 (logged). */
static int bind_endpoint(broker *b, void *sock, const char *ep)
{
    int passed = sd_take_fd(ep);
    if (passed >= 0) {
        /* Ours already: the probe would find ourselves listening.  The
         * socket unit's SocketMode= and SocketGroup= apply to its file. */
        int none = -1, rc;
        zmq_setsockopt(sock, ZMQ_USE_FD, &passed, sizeof passed);
        rc = zmq_bind(sock, ep);
        int saved = errno;
        zmq_setsockopt(sock, ZMQ_USE_FD, &none, sizeof none);
        errno = saved;
        if (rc == 0)
            log_info("%s: using the socket passed by systemd", ep);
        return rc;
    }
    int ipc = strncmp(ep, "ipc://", 6) == 0, file = ipc && ep[6] != '@';
    if (ipc && ipc_probe(ep + 6) < 0) {
        errno = EADDRINUSE;
        return -2;
    }
    /* libzmq creates the file in zmq_bind, in this thread. */
    mode_t old = file ? umask(0177) : 0;
    int rc = zmq_bind(sock, ep);
    if (file)
        umask(old);
    if (rc < 0)
        return -1;
    if (file) {
        char **more = realloc(b->ipc_owned, (b->n_ipc_owned + 1) * sizeof *more);
        if (more) {
            b->ipc_owned = more;
            if ((more[b->n_ipc_owned] = strdup(ep + 6)))
                b->n_ipc_owned++;
        }
        if (ipc_set_mode(b, ep + 6) < 0)
            return -2;
    }
    return 0;
}

int listen_bind(broker *b, void *sock, const char *ep, const char *what)
{
    int rc = bind_endpoint(b, sock, ep);
    if (rc == -1)
        log_err("cannot bind %s%s: %s", what, ep, zmq_strerror(errno));
    return rc < 0 ? -1 : 0;
}

void listen_apply_limits(broker *b)
{
    int64_t maxsize = b->cfg->max_message_size + PS_FRAME_SLACK;
    zmq_setsockopt(b->router, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
    if (b->router_ipc)
        zmq_setsockopt(b->router_ipc, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
}

/* A ROUTER with the broker's options, for ipc endpoints or for tcp. */
static void *open_router(broker *b, int ipc)
{
    void *r = zmq_socket(b->ctx, ZMQ_ROUTER);
    if (!r) {
        log_err("cannot create the ROUTER socket: %s", zmq_strerror(errno));
        return NULL;
    }
    /* High-water marks count frames, not bytes: a frame is up to
     * PS_FRAME_MAX, so a low send mark keeps what libzmq holds for one
     * slow peer near 2 MiB; beyond it our own byte-bounded buffer takes
     * over and the slow-subscriber policy and the output budget apply.
     * The budget cannot see into libzmq's pipes, so they are kept small:
     * at 128 frames, six peers that never read held 48 MiB there.  The
     * receive mark bounds what libzmq reads ahead from publishers. */
    int one = 1, shwm = 32, hwm = 256, zero = 0;
    zmq_setsockopt(r, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(r, ZMQ_SNDHWM, &shwm, sizeof shwm);
    zmq_setsockopt(r, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof zero);
    if (auth_setup_router(b, r, ipc) < 0) {
        log_err("cannot set up %s security: %s", ipc ? "ipc" : "CURVE", zmq_strerror(errno));
        zmq_close(r);
        return NULL;
    }
    return r;
}

int listen_open(broker *b)
{
    if (!(b->router = open_router(b, 0)))
        return -1;
    if (b->secure && !(b->router_ipc = open_router(b, 1)))
        return -1;
    listen_apply_limits(b);
    for (size_t i = 0; i < b->cfg->n_endpoints; i++) {
        const char *ep = b->cfg->endpoints[i];
        int plain, ipc = strncmp(ep, "ipc://", 6) == 0;
        const char *why = config_endpoint_refusal(b->cfg, ep, &plain);
        if (why) {
            log_err("refusing to listen on %s: %s", ep, why);
            return -1;
        }
        if (plain)
            log_warn("%s is plain tcp beyond loopback (broker.insecure = true): anyone who "
                     "reaches it can use the broker and read its traffic", ep);
        if (listen_bind(b, ipc && b->router_ipc ? b->router_ipc : b->router, ep, "") < 0)
            return -1;
        log_info("listening on %s%s", ep, !ipc && b->cfg->curve ? " (CURVE)" : "");
    }
    int unclaimed = sd_unclaimed();
    if (unclaimed)
        log_warn("%d socket%s passed by systemd match%s no endpoint: check broker.endpoints "
                 "against the socket unit", unclaimed, unclaimed == 1 ? "" : "s",
                 unclaimed == 1 ? "es" : "");
    return 0;
}

void listen_close(broker *b)
{
    if (b->router)
        zmq_close(b->router);
    if (b->router_ipc)
        zmq_close(b->router_ipc);
    b->router = b->router_ipc = NULL;
    for (size_t i = 0; i < b->n_ipc_owned; i++) {
        unlink(b->ipc_owned[i]);
        free(b->ipc_owned[i]);
    }
    free(b->ipc_owned);
    b->ipc_owned = NULL;
    b->n_ipc_owned = 0;
}

