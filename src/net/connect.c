/* ax_connect(): a non-blocking connect with a timeout, ending in a
 * connection or an error in ReactPHP's words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/internal.h"
#include "net/net.h"

#define DEFAULT_TIMEOUT_MS 60000

struct ax_connect_req {
    ax__io io;
    ax_loop *loop;
    ax_connect_req *prev, *next; /* loop's pending requests */
    ax_connect_cb cb;
    void *arg;
    ax_timer *timer;
    ax_timer *retry; /* a Unix listener's queue was full: try again */
    uint32_t pause_ms; /* the retry's next pause */
    int result;  /* set when finished early (deferred report) */
    uint32_t timeout_ms;
    ax_addr addr;
    char uri[AX_URISTRLEN];
};

static void unlink_req(ax_connect_req *r)
{
    ax_connect_req **head = &r->loop->connects;
    if (r->prev)
        r->prev->next = r->next;
    else
        *head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void free_req(void *arg)
{
    free(arg);
}

static void stop_timers(ax_connect_req *r)
{
    if (r->timer)
        ax_timer_stop(r->timer);
    if (r->retry)
        ax_timer_stop(r->retry);
    r->timer = r->retry = NULL;
}

/* Ends the request: either hands over a connection or reports err. */
static void finish(ax_connect_req *r, int code)
{
    ax_loop *loop = r->loop;
    ax_connect_cb cb = r->cb;
    r->cb = NULL; /* ended: a cancel from inside cb is a no-op */
    stop_timers(r);
    ax__io_forget(loop, &r->io);
    unlink_req(r);
    ax__unref(loop);
    int fd = r->io.fd;
    r->io.fd = -1;
    if (code == 0) {
        ax_conn *c = ax__conn_new(loop, fd, NULL);
        if (c) {
            cb(c, NULL, r->arg);
        } else {
            close(fd);
            code = ax_last_error()->code;
        }
    }
    if (code != 0) {
        if (fd >= 0)
            close(fd);
        ax_error e;
        e.code = code;
        if (code == AX_ETIMEDOUT) {
            if (r->timeout_ms % 1000 == 0)
                ax__err(code, "Connection to %s timed out after %u second%s", r->uri,
                        r->timeout_ms / 1000, r->timeout_ms == 1000 ? "" : "s");
            else
                ax__err(code, "Connection to %s timed out after %u ms", r->uri, r->timeout_ms);
        } else {
            ax__syserr(code, "Connection to %s failed", r->uri);
        }
        memcpy(e.message, ax_last_error()->message, sizeof e.message);
        cb(NULL, &e, r->arg);
    }
    ax__defer(loop, free_req, r);
}

static void deferred_finish(void *arg)
{
    ax_connect_req *r = arg;
    if (r->cb)
        finish(r, r->result);
}

static void on_timeout(ax_timer *t, void *arg)
{
    (void)t;
    ax_connect_req *r = arg;
    r->timer = NULL; /* one-shot: the loop frees it */
    finish(r, AX_ETIMEDOUT);
}

/* A Unix connect that met a full accept queue (EAGAIN, "try again"): a
 * non-blocking connector cannot wait on the listener's queue, so it tries
 * again after a pause that doubles from 1 ms up to 64 ms, until it gets in
 * or the request's timeout ends it. */
static void on_retry(ax_timer *t, void *arg)
{
    ax_connect_req *r = arg;
    if (connect(r->io.fd, &r->addr.u.sa, r->addr.len) == 0) {
        r->retry = NULL; /* one-shot, not re-armed: the loop frees it */
        finish(r, 0);
        return;
    }
    if (errno != EAGAIN && errno != EINTR) {
        r->retry = NULL;
        finish(r, -errno);
        return;
    }
    if (r->pause_ms < 64)
        r->pause_ms *= 2;
    ax_timer_again(t, r->pause_ms, 0);
}

void ax__connect_io(ax_loop *loop, ax__io *io, unsigned revents)
{
    (void)loop;
    (void)revents;
    ax_connect_req *r = (ax_connect_req *)io;
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return;
    finish(r, -err);
}

ax_connect_req *ax_connect(ax_loop *loop, const char *uri, const ax_connect_opts *opts,
                           ax_connect_cb cb, void *arg)
{
    if (!loop || !cb) {
        ax__err(AX_EINVAL, "connect: loop or cb is NULL");
        return NULL;
    }
    ax_uri u;
    char canon[AX_URISTRLEN];
    if (ax__uri_canon(uri, &u, canon) < 0)
        return NULL;
    if (u.scheme != AX_SCHEME_TCP && u.scheme != AX_SCHEME_UNIX) {
        ax__err(AX_EINVAL, "No connector available for URI scheme \"%s\" in %s yet",
                ax_scheme_name(u.scheme), canon);
        return NULL;
    }
    if (u.kind == AX_HOST_NAME) {
        ax__err(AX_EINVAL, "Connection to %s failed: hostnames need the resolver; give an IP "
                           "address",
                canon);
        return NULL;
    }
    if (u.scheme == AX_SCHEME_TCP && u.port == 0) {
        ax__err(AX_EINVAL, "Connection to %s failed: port 0 is not a destination", canon);
        return NULL;
    }
    ax_connect_req *r = calloc(1, sizeof *r);
    if (!r) {
        ax__err(AX_ENOMEM, "Connection to %s failed: out of memory", canon);
        return NULL;
    }
    snprintf(r->uri, sizeof r->uri, "%s", canon);
    r->loop = loop;
    r->cb = cb;
    r->arg = arg;
    r->io.kind = AX__IO_CONNECT;
    r->timeout_ms = opts && opts->timeout_ms > 0 ? (uint32_t)opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    int fd = ax_socket(ax_addr_family(&u.addr), SOCK_STREAM | AX_SOCK_NONBLOCK, 0);
    if (fd < 0) {
        free(r);
        return NULL;
    }
    r->io.fd = fd;
    if (opts && opts->bind && ax_bind(fd, opts->bind) < 0) {
        close(fd);
        free(r);
        return NULL;
    }
    int rc = connect(fd, &u.addr.u.sa, u.addr.len);
    int e = rc < 0 ? errno : 0;
    /* Link it first: every path below ends in finish(), which unlinks. */
    r->next = loop->connects;
    if (r->next)
        r->next->prev = r;
    loop->connects = r;
    ax__ref(loop);
    int again = e == EAGAIN && u.scheme == AX_SCHEME_UNIX;
    if (again) {
        r->addr = u.addr;
        r->pause_ms = 1;
        r->timer = ax_timer_start(loop, r->timeout_ms, 0, on_timeout, r);
        r->retry = r->timer ? ax_timer_start(loop, r->pause_ms, 0, on_retry, r) : NULL;
        if (r->retry)
            return r;
        r->result = AX_ENOMEM;
        if (ax__defer(loop, deferred_finish, r) == 0)
            return r;
        goto undo;
    }
    if (e == EINPROGRESS || e == EINTR) {
        r->timer = ax_timer_start(loop, r->timeout_ms, 0, on_timeout, r);
        if (!r->timer || ax__io_set(loop, &r->io, AX_WRITABLE) < 0) {
            r->result = ax_last_error()->code ? ax_last_error()->code : AX_ENOMEM;
            if (ax__defer(loop, deferred_finish, r) == 0)
                return r;
            goto undo;
        }
        return r;
    }
    /* Finished at once (unix sockets, or refused): report from the loop,
     * never from inside this call. */
    r->result = -e;
    if (ax__defer(loop, deferred_finish, r) == 0)
        return r;
undo:
    unlink_req(r);
    ax__unref(loop);
    stop_timers(r);
    close(fd);
    free(r);
    ax__err(AX_ENOMEM, "Connection to %s failed: out of memory", canon);
    return NULL;
}

void ax_connect_cancel(ax_connect_req *r)
{
    if (!r || !r->cb)
        return;
    ax_loop *loop = r->loop;
    ax_connect_cb cb = r->cb;
    /* A deferred finish may still hold the pointer: it checks cb. */
    r->cb = NULL;
    stop_timers(r);
    ax__io_forget(loop, &r->io);
    if (r->io.fd >= 0)
        close(r->io.fd);
    r->io.fd = -1;
    unlink_req(r);
    ax__unref(loop);
    /* The callback runs exactly once, cancelled or not, so whoever owns
     * arg can free it there (react/socket rejects the promise alike). */
    ax_error e;
    e.code = ax__err(AX_ECANCELED, "Connection to %s cancelled during TCP/IP handshake", r->uri);
    memcpy(e.message, ax_last_error()->message, sizeof e.message);
    cb(NULL, &e, r->arg);
    ax__defer(loop, free_req, r);
}

void ax__connect_free_all(ax_loop *loop)
{
    while (loop->connects)
        ax_connect_cancel(loop->connects);
}
