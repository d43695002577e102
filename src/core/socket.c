/* The direct layer: creating, binding, listening, accepting, connecting,
 * naming and closing sockets on plain fds. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"

static const char *family_name(int family)
{
    switch (family) {
    case AF_INET:
        return "AF_INET";
    case AF_INET6:
        return "AF_INET6";
    case AF_UNIX:
        return "AF_UNIX";
    default:
        return "unknown family";
    }
}

static const char *type_name(int type)
{
    switch (type) {
    case SOCK_STREAM:
        return "SOCK_STREAM";
    case SOCK_DGRAM:
        return "SOCK_DGRAM";
    case SOCK_SEQPACKET:
        return "SOCK_SEQPACKET";
    case SOCK_RAW:
        return "SOCK_RAW";
    default:
        return "unknown type";
    }
}

/* AX_SOCK_NONBLOCK is our own bit so callers need not know SOCK_NONBLOCK;
 * translate it and always add SOCK_CLOEXEC. */
static int kernel_type(int type)
{
    int t = (type & ~AX_SOCK_NONBLOCK) | SOCK_CLOEXEC;
    if (type & AX_SOCK_NONBLOCK)
        t |= SOCK_NONBLOCK;
    return t;
}

int ax_socket(int family, int type, int protocol)
{
    int fd = socket(family, kernel_type(type), protocol);
    if (fd < 0)
        return ax__syserr(ax__errno(), "socket(%s, %s, %d) failed", family_name(family),
                          type_name(type & ~AX_SOCK_NONBLOCK), protocol);
    return fd;
}

int ax_socketpair(int family, int type, int fds[2])
{
    if (!fds)
        return ax__err(AX_EINVAL, "socketpair: fds is NULL");
    if (socketpair(family, kernel_type(type), 0, fds) < 0)
        return ax__syserr(ax__errno(), "socketpair(%s, %s) failed", family_name(family),
                          type_name(type & ~AX_SOCK_NONBLOCK));
    return 0;
}

const char *ax__fd_label(int fd, char *buf, size_t len)
{
    if (ax_sockname_uri(fd, buf, len) <= 0 || strcmp(buf, "unix://") == 0)
        snprintf(buf, len, "fd %d", fd);
    return buf;
}

static const char *addr_text(const ax_addr *a, char *buf, size_t len)
{
    if (ax_addr_format(a, buf, len) < 0)
        snprintf(buf, len, "(unprintable address)");
    return buf;
}

int ax_bind(int fd, const ax_addr *addr)
{
    if (!addr || addr->len == 0)
        return ax__err(AX_EINVAL, "bind on fd %d: no address given", fd);
    if (bind(fd, &addr->u.sa, addr->len) < 0) {
        char t[AX_ADDRSTRLEN];
        return ax__syserr(ax__errno(), "bind to %s failed", addr_text(addr, t, sizeof t));
    }
    return 0;
}

int ax_listen(int fd, int backlog)
{
    if (listen(fd, backlog <= 0 ? AX_DEFAULT_BACKLOG : backlog) < 0) {
        char t[AX_URISTRLEN];
        return ax__syserr(ax__errno(), "listen on %s failed", ax__fd_label(fd, t, sizeof t));
    }
    return 0;
}

int ax_accept(int fd, ax_addr *peer, int flags)
{
    ax_addr tmp;
    ax_addr *a = peer ? peer : &tmp;
    int kflags = SOCK_CLOEXEC | ((flags & AX_SOCK_NONBLOCK) ? SOCK_NONBLOCK : 0);
    for (;;) {
        a->len = sizeof a->u;
        int c = accept4(fd, &a->u.sa, &a->len, kflags);
        if (c >= 0)
            return c;
        if (errno == EINTR)
            continue;
        /* Linux reports errors pending on the new connection through
         * accept(); they belong to that connection, not the listener, so
         * a blocking accept keeps waiting as accept(2) advises. */
        if ((errno == ECONNABORTED || errno == EPROTO) && !(fcntl(fd, F_GETFL) & O_NONBLOCK))
            continue;
        if (errno == EAGAIN)
            return AX_EAGAIN;
        char t[AX_URISTRLEN];
        return ax__syserr(ax__errno(), "accept on %s failed", ax__fd_label(fd, t, sizeof t));
    }
}

int ax_set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return ax__syserr(ax__errno(), "fcntl F_GETFL on fd %d failed", fd);
    int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0)
        return ax__syserr(ax__errno(), "fcntl F_SETFL on fd %d failed", fd);
    return 0;
}

/* Formats a duration for "timed out after ..." the way people say it. */
static void duration_text(int ms, char *buf, size_t len)
{
    if (ms % 1000 == 0)
        snprintf(buf, len, "%d second%s", ms / 1000, ms == 1000 ? "" : "s");
    else
        snprintf(buf, len, "%d ms", ms);
}

/*
 * A Unix connect that met a full accept queue (EAGAIN: "try again"). A
 * non-blocking connector cannot wait on the listener's queue, so try again
 * with a growing pause (1 ms up to 64 ms) until the deadline. Returns the
 * last attempt's errno, or ETIMEDOUT.
 */
static int unix_retry(int fd, const ax_addr *addr, int64_t deadline)
{
    int pause = 1;
    for (;;) {
        int64_t left = deadline - ax__now_ms();
        if (left <= 0)
            return ETIMEDOUT;
        poll(NULL, 0, left < pause ? (int)left : pause);
        if (pause < 64)
            pause *= 2;
        if (connect(fd, &addr->u.sa, addr->len) == 0)
            return 0;
        if (errno != EAGAIN && errno != EINTR)
            return errno;
    }
}

/* Connects fd to addr; failures are recorded with `uri` as the target so
 * messages read "Connection to tcp://h:p failed: ...". */
static int connect_fd(int fd, const ax_addr *addr, int timeout_ms, const char *uri)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return ax__syserr(ax__errno(), "fcntl F_GETFL on fd %d failed", fd);
    int was_nonblock = (fl & O_NONBLOCK) != 0;
    if (timeout_ms >= 0 && !was_nonblock && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return ax__syserr(ax__errno(), "fcntl F_SETFL on fd %d failed", fd);

    int64_t deadline = timeout_ms >= 0 ? ax__now_ms() + timeout_ms : 0;
    int rc = connect(fd, &addr->u.sa, addr->len);
    int err = rc < 0 ? errno : 0;
    /* A blocking connect interrupted by a signal goes on in the kernel;
     * wait for it the way a non-blocking one is waited for. */
    if (err == EINTR)
        err = EINPROGRESS;
    int timed_out = 0;
    int is_unix = ax_addr_family(addr) == AF_UNIX;
    if (err == EAGAIN && is_unix && timeout_ms >= 0) {
        err = unix_retry(fd, addr, deadline);
        timed_out = err == ETIMEDOUT;
    }
    if (err == EINPROGRESS && (timeout_ms >= 0 || !was_nonblock)) {
        short rev = 0;
        int r = ax__poll1(fd, POLLOUT, timeout_ms, &rev);
        if (r == 0) {
            timed_out = 1;
        } else if (r < 0) {
            err = -r;
        } else {
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                soerr = errno;
            err = soerr;
        }
    }
    if (timeout_ms >= 0 && !was_nonblock)
        fcntl(fd, F_SETFL, fl);
    if (timed_out) {
        char d[32];
        duration_text(timeout_ms, d, sizeof d);
        return ax__err(AX_ETIMEDOUT, "Connection to %s timed out after %s", uri, d);
    }
    if (err == EINPROGRESS)
        return AX_EINPROGRESS; /* non-blocking fd, no timeout: as connect(2) */
    if (err == EAGAIN && is_unix)
        return ax__err(AX_EAGAIN, "Connection to %s failed: the listener's accept queue is "
                                  "full; try again",
                       uri);
    if (err)
        return ax__syserr(-err, "Connection to %s failed", uri);
    return 0;
}

int ax_connect_fd(int fd, const ax_addr *addr, int timeout_ms)
{
    if (!addr || addr->len == 0)
        return ax__err(AX_EINVAL, "connect on fd %d: no address given", fd);
    char uri[AX_URISTRLEN];
    int type = 0;
    socklen_t tl = sizeof type;
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl);
    ax_scheme s = ax_addr_family(addr) == AF_UNIX ? AX_SCHEME_UNIX
                  : type == SOCK_DGRAM            ? AX_SCHEME_UDP
                                                  : AX_SCHEME_TCP;
    if (ax_addr_to_uri(addr, s, uri, sizeof uri) < 0)
        snprintf(uri, sizeof uri, "(unprintable address)");
    return connect_fd(fd, addr, timeout_ms, uri);
}

/* One attempt of ax_connect_uri: a fresh socket for addr, bound if asked,
 * connected. Returns the fd or an error (the socket is closed). */
static int try_connect(const ax_addr *addr, int type, const ax_connect_opts *o, const char *uri)
{
    int fd = ax_socket(ax_addr_family(addr), type, 0);
    if (fd < 0)
        return fd;
    int rc = 0;
    if (o->bind)
        rc = ax_bind(fd, o->bind);
    if (rc == 0)
        rc = connect_fd(fd, addr, o->timeout_ms > 0 ? o->timeout_ms : -1, uri);
    if (rc == 0 && o->nonblock)
        rc = ax_set_nonblock(fd, 1);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/*
 * The prologue ax_connect_uri() and ax_listen_uri() share: parses uri, names
 * it canonically in canon (for messages), and gives the socket type its
 * scheme means on the direct layer (unix_type for unix://). Any other
 * scheme is refused with "<what> \"<canon>\": ..." saying what to use.
 */
static int uri_socket_type(const char *uri, int listening, int unix_type, ax_uri *u,
                           char *canon)
{
    int rc = ax__uri_canon(uri, u, canon);
    if (rc < 0)
        return rc;
    switch (u->scheme) {
    case AX_SCHEME_TCP:
        return SOCK_STREAM;
    case AX_SCHEME_UDP:
        return SOCK_DGRAM;
    case AX_SCHEME_UNIX:
        return unix_type;
    default:
        break;
    }
    char what[AX_URISTRLEN + 32];
    if (listening)
        snprintf(what, sizeof what, "Failed to listen on \"%s\"", canon);
    else
        snprintf(what, sizeof what, "Connection to %s failed", canon);
    if (u->scheme == AX_SCHEME_TLS)
        return ax__err(AX_EINVAL, "%s: the direct layer does not speak TLS; use tcp:// and a TLS "
                                  "library, or the event-driven layer",
                       what);
    return ax__err(AX_EINVAL, "%s: the direct layer takes tcp://, udp:// and unix:// URIs, not "
                              "%s://",
                   what, ax_scheme_name(u->scheme));
}

int ax_connect_uri(const char *uri, const ax_connect_opts *opts)
{
    static const ax_connect_opts defaults;
    const ax_connect_opts *o = opts ? opts : &defaults;
    ax_uri u;
    char canon[AX_URISTRLEN];
    int type = uri_socket_type(uri, 0, SOCK_STREAM, &u, canon);
    if (type < 0)
        return type;
    int rc;
    if (u.scheme == AX_SCHEME_UNIX)
        return try_connect(&u.addr, type, o, canon);
    if (u.port == 0)
        return ax__err(AX_EINVAL, "Connection to %s failed: port 0 is not a destination", canon);
    if (u.kind != AX_HOST_NAME)
        return try_connect(&u.addr, type, o, canon);

    ax_addrinfo hints = {.family = o->family, .socktype = type};
    ax_addrinfo *list = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)u.port);
    rc = ax_getaddrinfo(u.host, port, &hints, &list);
    if (rc < 0)
        return ax__err(rc, "Connection to %s failed during DNS lookup: %s", canon,
                       ax_strerror(rc));
    /* Every address in turn: the first that answers wins; otherwise the
     * last attempt's error is the one reported. */
    rc = AX_EAI_NODATA;
    for (ax_addrinfo *ai = list; ai; ai = ai->next) {
        char each[AX_URISTRLEN];
        if (ax_addr_to_uri(&ai->addr, u.scheme, each, sizeof each) < 0)
            snprintf(each, sizeof each, "%s", canon);
        rc = try_connect(&ai->addr, type, o, each);
        if (rc >= 0)
            break;
    }
    ax_freeaddrinfo(list);
    return rc;
}

/* A Unix path that exists when we want to bind: tell a live listener from
 * a stale file, and remove the stale one only when asked. */
static int check_unix_path(const ax_uri *u, const ax_listen_opts *o, const char *canon)
{
    struct stat st;
    if (u->kind != AX_HOST_PATH || stat(u->host, &st) < 0)
        return 0;
    if (!S_ISSOCK(st.st_mode))
        return ax__err(AX_EADDRINUSE,
                       "Failed to listen on \"%s\": %s exists and is not a socket", canon,
                       u->host);
    /* Non-blocking: a live listener with a full accept queue would hold a
     * blocking connect until it accepts, possibly for ever. EAGAIN is that
     * busy listener; only a refusal proves the file stale. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0)
        return ax__syserr(ax__errno(), "Failed to listen on \"%s\"", canon);
    int rc = connect(probe, &u->addr.u.sa, u->addr.len) == 0 ? 0 : errno;
    close(probe);
    if (rc == 0 || rc == EAGAIN)
        return ax__err(AX_EADDRINUSE,
                       "Failed to listen on \"%s\": %s is in use by a listening socket", canon,
                       u->host);
    if (rc == ENOENT)
        return 0; /* gone since the stat() */
    if (rc != ECONNREFUSED)
        return ax__syserr(-rc, "Failed to listen on \"%s\": cannot tell whether %s is in use",
                          canon, u->host);
    if (!o->unlink_stale)
        return ax__err(AX_EADDRINUSE,
                       "Failed to listen on \"%s\": %s exists (stale socket file? remove it or "
                       "set unlink_stale)",
                       canon, u->host);
    if (unlink(u->host) < 0 && errno != ENOENT)
        return ax__syserr(ax__errno(), "Failed to listen on \"%s\": cannot remove stale %s",
                          canon, u->host);
    return 0;
}

int ax_listen_uri(const char *uri, const ax_listen_opts *opts)
{
    static const ax_listen_opts defaults;
    const ax_listen_opts *o = opts ? opts : &defaults;
    ax_uri u;
    char canon[AX_URISTRLEN];
    int type = uri_socket_type(uri, 1, o->type ? o->type : SOCK_STREAM, &u, canon);
    if (type < 0)
        return type;
    int rc;
    if (u.kind == AX_HOST_NAME)
        return ax__err(AX_EINVAL, "Failed to listen on \"%s\": host must be an IP address, not "
                                  "a name",
                       canon);
    if (u.scheme == AX_SCHEME_UNIX && (rc = check_unix_path(&u, o, canon)) < 0)
        return rc;

    int fd = socket(ax_addr_family(&u.addr), type | SOCK_CLOEXEC | (o->nonblock ? SOCK_NONBLOCK : 0),
                    0);
    if (fd < 0)
        return ax__syserr(ax__errno(), "Failed to listen on \"%s\"", canon);
    int one = 1;
    const char *what = NULL;
    if (type == SOCK_STREAM && u.scheme != AX_SCHEME_UNIX && !o->no_reuseaddr &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        what = "SO_REUSEADDR";
    if (!what && o->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        what = "SO_REUSEPORT";
    if (!what && o->v6only && ax_addr_family(&u.addr) == AF_INET6) {
        int v = o->v6only > 0;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v) < 0)
            what = "IPV6_V6ONLY";
    }
    if (what) {
        rc = ax__syserr(ax__errno(), "Failed to listen on \"%s\": setting %s", canon, what);
        goto fail;
    }
    if (bind(fd, &u.addr.u.sa, u.addr.len) < 0) {
        rc = ax__syserr(ax__errno(), "Failed to listen on \"%s\"", canon);
        goto fail;
    }
    if (type != SOCK_DGRAM && listen(fd, o->backlog > 0 ? o->backlog : AX_DEFAULT_BACKLOG) < 0) {
        rc = ax__syserr(ax__errno(), "Failed to listen on \"%s\"", canon);
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return rc;
}

static int name_of(int fd, ax_addr *out, int peer)
{
    if (!out)
        return ax__err(AX_EINVAL, "%s on fd %d: out is NULL", peer ? "getpeername" : "getsockname",
                       fd);
    memset(out, 0, sizeof *out);
    out->len = sizeof out->u;
    int rc = peer ? getpeername(fd, &out->u.sa, &out->len) : getsockname(fd, &out->u.sa, &out->len);
    if (rc < 0) {
        out->len = 0;
        return ax__syserr(ax__errno(), "%s on fd %d failed", peer ? "getpeername" : "getsockname",
                          fd);
    }
    return 0;
}

int ax_sockname(int fd, ax_addr *out)
{
    return name_of(fd, out, 0);
}

int ax_peername(int fd, ax_addr *out)
{
    return name_of(fd, out, 1);
}

static int name_uri(int fd, char *buf, size_t len, int peer)
{
    ax_addr a;
    int rc = name_of(fd, &a, peer);
    if (rc < 0)
        return rc;
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0)
        return ax__syserr(ax__errno(), "getsockopt SO_TYPE on fd %d failed", fd);
    ax_scheme s = ax_addr_family(&a) == AF_UNIX ? AX_SCHEME_UNIX
                  : type == SOCK_DGRAM          ? AX_SCHEME_UDP
                                                : AX_SCHEME_TCP;
    return ax_addr_to_uri(&a, s, buf, len);
}

int ax_sockname_uri(int fd, char *buf, size_t len)
{
    return name_uri(fd, buf, len, 0);
}

int ax_peername_uri(int fd, char *buf, size_t len)
{
    return name_uri(fd, buf, len, 1);
}

int ax_shutdown(int fd, int how)
{
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return ax__err(AX_EINVAL, "shutdown on fd %d: how must be SHUT_RD, SHUT_WR or SHUT_RDWR, "
                                  "not %d",
                       fd, how);
    if (shutdown(fd, how) < 0)
        return ax__syserr(ax__errno(), "shutdown on fd %d failed", fd);
    return 0;
}

int ax_close(int fd)
{
    /* Never retried: after EINTR the fd is already released on Linux, and
     * a retry could close an fd another thread just opened. */
    if (close(fd) < 0 && errno != EINTR)
        return ax__syserr(ax__errno(), "close of fd %d failed", fd);
    return 0;
}

int ax_atmark(int fd)
{
    int at = 0;
    if (ioctl(fd, SIOCATMARK, &at) < 0)
        return ax__syserr(ax__errno(), "SIOCATMARK on fd %d failed", fd);
    return at != 0;
}
