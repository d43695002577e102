/* ax_connect(): a non-blocking connect with a timeout, ending in a
 * connection or an error in ReactPHP's words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/filter.h"

#define DEFAULT_TIMEOUT_MS 60000

struct ax_connect_req {
    ax__io io;
    ax_loop *loop;
    ax_connect_req *prev, *next; /* the net state's pending requests, then
                                    (next only) its closing list */
    ax_connect_cb cb;            /* NULL once called */
    void *arg;
    ax_timer *timer;
    ax_timer *retry;   /* a Unix listener's queue was full: try again */
    ax_conn *opening;  /* connected, its filters shaking hands */
    /* Filters for the new connection (TLS); NULL for a plain one. */
    int (*setup)(ax_connect_req *r, ax_conn *c);
    uint32_t pause_ms; /* the retry's next pause */
    int result;        /* a result known at once, reported by the timer */
    uint32_t timeout_ms;
    uint8_t owed;      /* completions still owed for io (io_uring) */
    uint8_t pending;   /* still on the pending list */
    ax_addr addr;
    char uri[AX_URISTRLEN];
};

/* ------------------------------------------------------------ lists */

static void unlink_req(ax_connect_req *r)
{
    if (!r->pending)
        return;
    ax__net *n = ax__net_of(r->loop);
    if (r->prev)
        r->prev->next = r->next;
    else
        n->connects = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->pending = 0;
    ax__unref(r->loop);
}

/* Done with r: freed after the current callbacks (the closing list). */
static void release(ax_connect_req *r)
{
    ax__net *n = ax__net_of(r->loop);
    unlink_req(r);
    if (r->owed)
        return; /* connect_released() frees it, after the kernel's last word */
    r->next = n->closed_reqs;
    n->closed_reqs = r;
    ax__loop_flush_later(r->loop, ax__net_slot);
}

void ax__connect_flush(ax__net *n)
{
    while (n->closed_reqs) {
        ax_connect_req *r = n->closed_reqs;
        n->closed_reqs = r->next;
        free(r);
    }
}

static void connect_released(ax_loop *loop, ax__io *io)
{
    (void)loop;
    ax_connect_req *r = (ax_connect_req *)io;
    if (r->cb || r->opening)
        r->owed = 0; /* finished with the fd, not with the request */
    else
        free(r);
}

static void stop_timers(ax_connect_req *r)
{
    ax_timer_stop(r->timer);
    ax_timer_stop(r->retry);
    r->timer = r->retry = NULL;
}

/* Stops watching the socket and hands its fd over (or -1). */
static int take_fd(ax_connect_req *r)
{
    int fd = r->io.fd;
    if (fd >= 0 && ax__io_forget(r->loop, &r->io))
        r->owed = 1;
    r->io.fd = -1;
    return fd;
}

/* ------------------------------------------------------------ finish */

static void report(ax_connect_req *r, ax_connect_cb cb, int code)
{
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

/* Ends the request: either hands over a connection or reports code. */
static void finish(ax_connect_req *r, int code)
{
    ax_connect_cb cb = r->cb;
    stop_timers(r);
    int fd = take_fd(r);
    unlink_req(r);
    ax_conn *c = NULL;
    if (code == 0) {
        c = ax__conn_new(r->loop, fd, NULL);
        if (!c) {
            close(fd);
            code = ax_last_error()->code;
        }
    } else if (fd >= 0) {
        close(fd);
    }
    if (c && r->setup) {
        /* Filters shake hands first; the request waits for them. */
        c->flags |= CF_CONNECTED;
        c->arg = r;
        r->opening = c;
        int rc = r->setup(r, c);
        if (rc == 0 && c->aux && c->aux->top) {
            ax__conn_update(c);
            rc = ax__filter_start_all(c);
        }
        if (rc < 0)
            ax__conn_fail(c, rc, "Unable to set up the connection");
        else if (!(c->flags & CF_OPENING) && !(c->flags & CF_CLOSED))
            ax__conn_opened(c);
        return;
    }
    r->cb = NULL; /* ended: a cancel from inside cb is a no-op */
    if (c)
        cb(c, NULL, r->arg);
    else
        report(r, cb, code);
    release(r);
}

void ax__connect_opened(ax_conn *c)
{
    ax_connect_req *r = c->arg;
    ax_connect_cb cb = r->cb;
    c->flags &= (uint16_t)~CF_CONNECTED;
    c->arg = NULL;
    r->opening = NULL;
    r->cb = NULL;
    release(r);
    if (cb)
        cb(c, NULL, r->arg);
    else
        ax_conn_close(c); /* cancelled meanwhile */
}

void ax__connect_open_failed(ax_conn *c, const ax_error *err)
{
    ax_connect_req *r = c->arg;
    ax_connect_cb cb = r->cb;
    r->opening = NULL;
    r->cb = NULL;
    release(r);
    if (cb)
        cb(NULL, err, r->arg);
}

/* The request's timer: its timeout, or (re-armed to 0) the report of a
 * result known at once, so that cb never runs inside ax_connect(). */
#define AX__CONNECTED_AT_ONCE 1

static void on_timer(ax_timer *t, void *arg)
{
    (void)t;
    ax_connect_req *r = arg;
    int code = r->result == AX__CONNECTED_AT_ONCE ? 0 : r->result ? r->result : AX_ETIMEDOUT;
    finish(r, code);
}

/* A Unix connect that met a full accept queue (EAGAIN, "try again"): a
 * non-blocking connector cannot wait on the listener's queue, so it tries
 * again after a pause that doubles from 1 ms up to 64 ms, until it gets in
 * or the request's timeout ends it. */
static void on_retry(ax_timer *t, void *arg)
{
    ax_connect_req *r = arg;
    if (connect(r->io.fd, &r->addr.u.sa, r->addr.len) == 0) {
        finish(r, 0);
        return;
    }
    if (errno != EAGAIN && errno != EINTR) {
        finish(r, -errno);
        return;
    }
    if (r->pause_ms < 64)
        r->pause_ms *= 2;
    ax_timer_again(t, r->pause_ms, 0);
}

static void connect_ready(ax_loop *loop, ax__io *io, unsigned revents)
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

const ax__kind ax__connect_kind = {
    .name = "connect",
    .ready = connect_ready,
    .released = connect_released,
};

/* ------------------------------------------------------------ start */

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
    ax__net *n = ax__net_get(loop);
    if (!n)
        return NULL;
    ax_connect_req *r = calloc(1, sizeof *r);
    if (!r) {
        ax__err(AX_ENOMEM, "Connection to %s failed: out of memory", canon);
        return NULL;
    }
    snprintf(r->uri, sizeof r->uri, "%s", canon);
    r->loop = loop;
    r->cb = cb;
    r->arg = arg;
    r->io.kind = ax__kind_connect;
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
    r->timer = ax_timer_start(loop, r->timeout_ms, 0, on_timer, r);
    if (!r->timer) {
        close(fd);
        free(r);
        ax__err(AX_ENOMEM, "Connection to %s failed: out of memory", canon);
        return NULL;
    }
    int rc = connect(fd, &u.addr.u.sa, u.addr.len);
    int e = rc < 0 ? errno : 0;
    /* Pending from here on: every path below ends in finish() or a cancel. */
    r->next = n->connects;
    if (r->next)
        r->next->prev = r;
    n->connects = r;
    r->pending = 1;
    ax__ref(loop);
    if (e == EAGAIN && u.scheme == AX_SCHEME_UNIX) {
        r->addr = u.addr;
        r->pause_ms = 1;
        r->retry = ax_timer_start(loop, r->pause_ms, 0, on_retry, r);
        if (r->retry)
            return r;
        e = ENOMEM;
    } else if (e == EINPROGRESS || e == EINTR) {
        if (ax__io_set(loop, &r->io, AX_WRITABLE) == 0)
            return r;
        e = -ax_last_error()->code;
    }
    /* Finished at once (Unix sockets, a refusal, a failure to watch):
     * reported from the loop's next iteration, never from inside this
     * call (0 stands for success there, so a success is a code too). */
    r->result = e ? -e : AX__CONNECTED_AT_ONCE;
    ax_timer_again(r->timer, 0, 0);
    return r;
}

void ax_connect_cancel(ax_connect_req *r)
{
    if (!r || !r->cb)
        return;
    ax_connect_cb cb = r->cb;
    r->cb = NULL;
    stop_timers(r);
    int fd = take_fd(r);
    if (fd >= 0)
        close(fd);
    /* The callback runs exactly once, cancelled or not, so whoever owns
     * arg can free it there (react/socket rejects the promise alike). */
    ax_error e;
    e.code = ax__err(AX_ECANCELED, "Connection to %s cancelled during TCP/IP handshake", r->uri);
    memcpy(e.message, ax_last_error()->message, sizeof e.message);
    cb(NULL, &e, r->arg);
    if (r->opening)
        ax_conn_close(r->opening); /* its flush releases r */
    else
        release(r);
}

void ax__connect_cancel_all(ax__net *n)
{
    while (n->connects)
        ax_connect_cancel(n->connects);
}
