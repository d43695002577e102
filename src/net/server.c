/* Servers: listen from a URI or an inherited fd, accept with limits,
 * survive fd exhaustion without spinning, sweep idle connections. */
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/filter.h"

#define EMFILE_RETRY_MS 100    /* how soon to try again after running out of fds */

/* Reports a non-fatal error: "<what> on <address>: <Text> (<ENAME>)". */
static void report(ax_server *s, int code, const char *what)
{
    if (!s->o.on_error)
        return;
    ax_error e;
    e.code = code;
    ax__syserr(code, "%s on %s", what, s->address);
    memcpy(e.message, ax_last_error()->message, sizeof e.message);
    s->o.on_error(s, &e, s->o.arg);
}

/* Listening is wanted unless paused by the user, by the connection limit,
 * or by fd exhaustion. */
static void update(ax_server *s)
{
    if (s->closed)
        return;
    unsigned want = (s->paused || s->limit_paused || s->fd_paused) ? 0 : AX__ACCEPT;
    if (s->io.want != want)
        ax__io_set(s->loop, &s->io, want);
}

/* The flags of a borrowed fd, to give back if the listen fails. */
typedef struct fd_flags {
    int fl, fd_fl;
} fd_flags;

static int check_fd(int fd, const char *canon, fd_flags *saved)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return ax__syserr(ax__errno(), "Failed to listen on \"%s\"", canon);
    if (!S_ISSOCK(st.st_mode))
        return ax__syserr(AX_ENOTSOCK, "Failed to listen on \"%s\": fd %d is not a socket", canon,
                          fd);
    int acc = 0;
    socklen_t l = sizeof acc;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) < 0)
        return ax__syserr(ax__errno(), "Failed to listen on \"%s\"", canon);
    if (!acc) {
        ax_addr peer;
        if (ax_peername(fd, &peer) == 0)
            return ax__syserr(AX_EISCONN, "Failed to listen on \"%s\": fd %d is a connected socket",
                              canon, fd);
        return ax__err(AX_EINVAL, "Failed to listen on \"%s\": fd %d is not a listening socket",
                       canon, fd);
    }
    saved->fl = fcntl(fd, F_GETFL);
    saved->fd_fl = fcntl(fd, F_GETFD);
    if (ax_set_nonblock(fd, 1) < 0)
        return ax_last_error()->code;
    /* Inherited fds arrive inheritable (systemd, a parent's socket); once
     * adopted it must not leak into programs we exec, or the port stays
     * open after us (sd_listen_fds() does the same). */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return ax__syserr(ax__errno(), "Failed to listen on \"%s\": fd %d", canon, fd);
    return 0;
}

static void restore_fd(int fd, const fd_flags *saved)
{
    if (saved->fl >= 0)
        fcntl(fd, F_SETFL, saved->fl);
    if (saved->fd_fl >= 0)
        fcntl(fd, F_SETFD, saved->fd_fl);
}

int ax_server_listen(ax_loop *loop, const char *uri, const ax_server_opts *opts, ax_server **out)
{
    if (!loop || !out)
        return ax__err(AX_EINVAL, "server listen: loop or out is NULL");
    *out = NULL;
    ax__net *n = ax__net_get(loop);
    if (!n)
        return ax_last_error()->code;
    ax_uri u;
    char canon[AX_URISTRLEN];
    int rc = ax__uri_canon(uri, &u, canon);
    if (rc < 0)
        return rc;
    if (opts && opts->idle_timeout_ms > AX_MAX_IDLE_TIMEOUT_MS)
        return ax__err(AX_EINVAL, "Failed to listen on \"%s\": idle_timeout_ms %u is longer than "
                                  "the longest idle timeout, %u ms (24 days)",
                       canon, opts->idle_timeout_ms, AX_MAX_IDLE_TIMEOUT_MS);
    ax_server *s = calloc(1, sizeof *s);
    if (!s)
        return ax__err(AX_ENOMEM, "Failed to listen on \"%s\": out of memory", canon);
    if (opts)
        s->o = *opts;
    int fd;
    fd_flags saved = {-1, -1};
    if (u.scheme == AX_SCHEME_FD) {
        fd = u.fd;
        if ((rc = check_fd(fd, canon, &saved)) < 0) {
            restore_fd(fd, &saved);
            free(s);
            return rc;
        }
    } else if (u.scheme == AX_SCHEME_TCP || u.scheme == AX_SCHEME_UNIX) {
        ax_listen_opts lo = {.backlog = s->o.backlog,
                             .reuseport = s->o.reuseport,
                             .v6only = s->o.v6only,
                             .nonblock = true,
                             .unlink_stale = s->o.unlink_stale};
        fd = ax_listen_uri(uri, &lo);
        if (fd < 0) {
            free(s);
            return fd;
        }
        struct stat st;
        if (u.kind == AX_HOST_PATH && stat(u.addr.u.un.sun_path, &st) == 0) {
            s->unlink_path = 1;
            s->path_dev = st.st_dev;
            s->path_ino = st.st_ino;
            memcpy(s->path, u.addr.u.un.sun_path, sizeof s->path);
        }
    } else {
        free(s);
        return ax__err(AX_EINVAL, "Failed to listen on \"%s\": servers listen on tcp://, unix:// "
                                  "and fd:// URIs (tls:// comes with the TLS layer)",
                       canon);
    }
    s->loop = loop;
    s->io.fd = fd;
    s->io.kind = ax__kind_server;
    if (ax_sockname_uri(fd, s->address, sizeof s->address) < 0)
        snprintf(s->address, sizeof s->address, "%s", canon);
    if ((rc = ax__io_set(loop, &s->io, AX__ACCEPT)) < 0) {
        if (rc == AX_EEXIST)
            ax__err(rc, "Failed to listen on \"%s\": fd %d is already watched by this loop",
                    canon, fd);
        else
            ax__syserr(rc, "Failed to listen on \"%s\": cannot watch fd %d", canon, fd);
        /* A borrowed fd is the caller's again, as it was; ours is closed. */
        if (u.scheme == AX_SCHEME_FD)
            restore_fd(fd, &saved);
        else
            close(fd);
        free(s);
        return rc;
    }
    s->next = n->servers;
    n->servers = s;
    ax__ref(loop);
    if (s->o.idle_timeout_ms)
        ax__net_sweep_update(n);
    *out = s;
    return 0;
}

const char *ax_server_address(const ax_server *s)
{
    return s && !s->closed ? s->address : NULL;
}

void ax_server_pause(ax_server *s)
{
    s->paused = 1;
    update(s);
}

void ax_server_resume(ax_server *s)
{
    s->paused = 0;
    update(s);
}

size_t ax_server_connection_count(const ax_server *s)
{
    return s->count;
}

/* Removes the server's socket file unless it was replaced since (removed
 * and bound again by another listener, or swapped for another file): a
 * path is a name, and by now it may name something that is not ours. */
static void unlink_if_ours(const ax_server *s)
{
    struct stat st;
    if (stat(s->path, &st) == 0 && st.st_dev == s->path_dev && st.st_ino == s->path_ino)
        unlink(s->path);
}

void ax_server_close(ax_server *s)
{
    if (!s || s->closed)
        return;
    ax_loop *loop = s->loop;
    ax__net *n = ax__net_of(loop);
    s->closed = 1;
    s->owed = (uint8_t)ax__io_forget(loop, &s->io);
    close(s->io.fd);
    s->io.fd = -1;
    if (s->unlink_path)
        unlink_if_ours(s);
    if (s->retry)
        ax_timer_stop(s->retry);
    s->retry = NULL;
    /* Its connections live on as the loop's own; ones still shaking hands
     * were never handed over, and nobody would take them now. */
    for (size_t i = n->nconns; i-- > 0;) {
        if (i >= n->nconns)
            continue;
        ax_conn *c = n->conns[i];
        if (!(c->flags & CF_CLIENT) && c->owner.server == s && (c->flags & CF_OPENING))
            ax_conn_close(c);
    }
    for (size_t i = 0; i < n->nconns; i++) {
        ax_conn *c = n->conns[i];
        if (!(c->flags & CF_CLIENT) && c->owner.server == s) {
            if (s->o.high_water) {
                ax__aux *a = ax__conn_aux(c);
                if (a && !a->high_water)
                    a->high_water = s->o.high_water;
            }
            c->owner.loop = loop;
            c->flags |= CF_CLIENT;
        }
    }
    for (ax_server **pp = &n->servers; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    ax__unref(loop);
    if (s->o.idle_timeout_ms)
        ax__net_sweep_update(n);
    /* Freed after the current callbacks (the accept that called
     * on_connection may still look at it): the closing list; or, when the
     * kernel still owes completions for it, after the last (they come in a
     * later wait, so after these callbacks too). */
    if (s->owed)
        return;
    s->next = n->closed_servers;
    n->closed_servers = s;
    ax__loop_flush_later(loop, ax__net_slot);
}

void ax__server_flush(ax__net *n)
{
    while (n->closed_servers) {
        ax_server *s = n->closed_servers;
        n->closed_servers = s->next;
        free(s);
    }
}

static void server_released(ax_loop *loop, ax__io *io)
{
    (void)loop;
    free(io);
}

void ax__server_conn_closed(ax_server *s)
{
    s->count--;
    if (s->limit_paused && s->count < s->o.max_connections) {
        s->limit_paused = 0;
        update(s);
    }
}

static void retry_accept(ax_timer *t, void *arg)
{
    (void)t;
    ax_server *s = arg;
    s->fd_paused = 0;
    update(s);
}

/* Out of fds: stop accepting (the listener stays readable, so trying
 * again at once would spin) and retry on a timer; report once per episode. */
static void out_of_fds(ax_server *s, int code)
{
    s->fd_paused = 1;
    update(s);
    if (s->retry) {
        if (!ax_timer_active(s->retry))
            ax_timer_again(s->retry, EMFILE_RETRY_MS, 0);
    } else if ((s->retry = ax_timer_start(s->loop, EMFILE_RETRY_MS, 0, retry_accept, s))) {
        ax_timer_set_ref(s->retry, 0);
    }
    if (!s->emfile_reported) {
        s->emfile_reported = 1;
        report(s, code, "Unable to accept new connection (accepting paused, retrying)");
    }
}

static void tune(ax_server *s, int fd)
{
    int one = 1;
    if (s->o.nodelay)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (s->o.keepalive_s > 0) {
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &s->o.keepalive_s, sizeof s->o.keepalive_s);
    }
}

/* A new fd from the loop (accept4() on readiness backends, a multishot
 * accept on io_uring), or the error that accepting met. */
static void server_accepted(ax_loop *loop, ax__io *io, int fd)
{
    ax_server *s = (ax_server *)io;
    if (fd < 0) {
        if (fd == AX_EMFILE || fd == AX_ENFILE || fd == AX_ENOBUFS || fd == AX_ENOMEM)
            out_of_fds(s, fd);
        else if (fd != AX_ECONNABORTED && fd != AX_EPROTO && fd != AX_EPERM)
            report(s, fd, "Unable to accept new connection");
        /* else: that connection is gone; others may wait */
        return;
    }
    s->emfile_reported = 0;
    if (s->o.max_connections && s->count >= s->o.max_connections) {
        close(fd);
        report(s, AX_ECONNABORTED, "Connection closed because server reached connection limit");
        return;
    }
    tune(s, fd);
    ax_conn *c = ax__conn_new(loop, fd, s);
    if (!c) {
        close(fd);
        report(s, ax_last_error()->code, "Unable to set up new connection");
        return;
    }
    s->count++;
    if (s->o.max_connections && s->o.pause_on_limit && s->count >= s->o.max_connections) {
        s->limit_paused = 1;
        update(s);
    }
    /* Filters (TLS, PROXY protocol) shake hands before the hand-over;
     * the chain hands the connection over when the last one is ready. */
    int rc = s->setup ? s->setup(s, c) : 0;
    if (rc == 0 && c->aux && c->aux->top) {
        ax__conn_update(c);
        rc = ax__filter_start_all(c);
        if (rc == 0)
            return;
    }
    if (rc < 0) {
        ax__conn_fail(c, rc, "Unable to set up new connection");
        return;
    }
    ax__conn_opened(c);
}

void ax__server_open_failed(ax_server *s, const ax_error *err)
{
    if (!s->closed && s->o.on_error)
        s->o.on_error(s, err, s->o.arg);
}

const ax__kind ax__server_kind = {
    .name = "server",
    .accepted = server_accepted,
    .released = server_released,
};
