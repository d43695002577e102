/* Connections: reading into the loop's buffer, the write queue with its
 * high-water mark, half-close, pause/resume and safe closing. */
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "net/net.h"

#define DEFAULT_HIGH_WATER (64 * 1024)
#define WBUF_MIN (16 * 1024)
#define MAX_IOV 64

static const ax_conn_events no_events;

ax_loop *ax__conn_loop(const ax_conn *c)
{
    return (c->flags & CF_CLIENT) ? c->owner.loop : c->owner.server->loop;
}

ax_loop *ax_conn_loop(const ax_conn *c)
{
    return ax__conn_loop(c);
}

ax_server *ax_conn_server(const ax_conn *c)
{
    return (c->flags & CF_CLIENT) ? NULL : c->owner.server;
}

static uint32_t stamp(const ax_loop *loop)
{
    return (uint32_t)loop->now;
}

ax__aux *ax__conn_aux(ax_conn *c)
{
    if (!c->aux) {
        c->aux = calloc(1, sizeof *c->aux);
        if (c->aux) {
            c->aux->conn = c;
            c->aux->out.fd = -1;
        }
    }
    return c->aux;
}

static size_t high_water(const ax_conn *c)
{
    if (c->aux && c->aux->high_water)
        return c->aux->high_water;
    if (!(c->flags & CF_CLIENT) && c->owner.server->o.high_water)
        return c->owner.server->o.high_water;
    return DEFAULT_HIGH_WATER;
}

size_t ax_conn_buffered(const ax_conn *c)
{
    return c->aux ? c->aux->queued : 0;
}

void ax_conn_set_high_water(ax_conn *c, size_t bytes)
{
    ax__aux *a = ax__conn_aux(c);
    if (a)
        a->high_water = bytes ? bytes : DEFAULT_HIGH_WATER;
}

void *ax_conn_arg(const ax_conn *c)
{
    return c->arg;
}

int ax_conn_fd(const ax_conn *c)
{
    return c->io.fd;
}

/* --------------------------------------------------------- interest */

/* Recomputes what the backend should watch: reading unless paused or
 * ended, writing while bytes are queued. */
void ax__conn_update(ax_conn *c)
{
    if (c->flags & CF_CLOSED)
        return;
    ax_loop *loop = ax__conn_loop(c);
    unsigned rd = (c->flags & (CF_PAUSED | CF_PIPE_PAUSED | CF_RD_EOF)) || c->io.fd < 0 ? 0
                                                                                     : AX_READABLE;
    unsigned wr = c->aux && c->aux->queued ? AX_WRITABLE : 0;
    if (c->flags & CF_SPLIT) {
        if (c->io.fd >= 0 && c->io.events != rd)
            ax__io_set(loop, &c->io, rd);
        if (c->aux->out.fd >= 0 && c->aux->out.events != wr)
            ax__io_set(loop, &c->aux->out, wr);
    } else if (c->io.events != (rd | wr)) {
        ax__io_set(loop, &c->io, rd | wr);
    }
}

/* ------------------------------------------------------------ create */

/* Connections come from slabs rather than one malloc each: an idle
 * connection then costs exactly sizeof(struct ax_conn) (56 bytes on
 * x86-64) plus its slot in loop->conns, with no allocator header. Slots
 * are reused; slabs go back with the loop. */
#define SLAB_SLOTS 72

typedef union conn_slot {
    union conn_slot *next;
    struct ax_conn c;
} conn_slot;

typedef struct conn_slab {
    struct conn_slab *next;
    conn_slot slots[SLAB_SLOTS];
} conn_slab;

#ifndef AX_CONN_SLAB
#define AX_CONN_SLAB 1
#endif

#if !AX_CONN_SLAB
/* Sanitizer and valgrind builds (AXON_CONN_SLAB=OFF) take one allocation
 * per connection, so a use after close is caught rather than landing in a
 * recycled slot. */
static ax_conn *conn_alloc(ax_loop *loop)
{
    (void)loop;
    return calloc(1, sizeof(ax_conn));
}

static void conn_release(ax_loop *loop, ax_conn *c)
{
    (void)loop;
    free(c);
}
#else
static ax_conn *conn_alloc(ax_loop *loop)
{
    conn_slot *s = loop->conn_free;
    if (!s) {
        conn_slab *slab = malloc(sizeof *slab);
        if (!slab)
            return NULL;
        slab->next = loop->conn_slabs;
        loop->conn_slabs = slab;
        for (size_t i = 0; i < SLAB_SLOTS; i++)
            slab->slots[i].next = i + 1 < SLAB_SLOTS ? &slab->slots[i + 1] : NULL;
        s = &slab->slots[0];
    }
    loop->conn_free = s->next;
    memset(&s->c, 0, sizeof s->c);
    return &s->c;
}

static void conn_release(ax_loop *loop, ax_conn *c)
{
    conn_slot *s = (conn_slot *)(void *)c;
    s->next = loop->conn_free;
    loop->conn_free = s;
}
#endif

void ax__conn_slabs_free(ax_loop *loop)
{
    conn_slab *slab = loop->conn_slabs;
    while (slab) {
        conn_slab *next = slab->next;
        free(slab);
        slab = next;
    }
    loop->conn_slabs = NULL;
    loop->conn_free = NULL;
}



static int track(ax_loop *loop, ax_conn *c)
{
    if (loop->nconns == loop->capconns) {
        size_t cap = loop->capconns ? loop->capconns * 2 : 64;
        ax_conn **a = realloc(loop->conns, cap * sizeof *a);
        if (!a)
            return AX_ENOMEM;
        loop->conns = a;
        loop->capconns = cap;
    }
    c->idx = (uint32_t)loop->nconns;
    loop->conns[loop->nconns++] = c;
    return 0;
}

static void untrack(ax_loop *loop, ax_conn *c)
{
    ax_conn *last = loop->conns[--loop->nconns];
    loop->conns[c->idx] = last;
    last->idx = c->idx;
}

ax_conn *ax__conn_new(ax_loop *loop, int fd, ax_server *server)
{
    ax_conn *c = conn_alloc(loop);
    if (!c || track(loop, c) < 0) {
        if (c)
            conn_release(loop, c);
        ax__err(AX_ENOMEM, "new connection: out of memory");
        return NULL;
    }
    c->io.fd = fd;
    c->io.kind = AX__IO_CONN;
    c->ev = &no_events;
    if (server) {
        c->owner.server = server;
    } else {
        c->owner.loop = loop;
        c->flags |= CF_CLIENT;
    }
    c->last_active = stamp(loop);
    if (ax__io_set(loop, &c->io, AX_READABLE) < 0) {
        untrack(loop, c);
        conn_release(loop, c);
        return NULL;
    }
    ax__ref(loop);
    return c;
}

/* Undoes ax_conn_open()'s changes to the caller's fds after a failure. */
static int open_failed(int rc, const int fd[2], const int fl[2])
{
    for (int i = 0; i < 2; i++)
        if (fd[i] >= 0 && fl[i] >= 0 && (i == 0 || fd[1] != fd[0]))
            fcntl(fd[i], F_SETFL, fl[i]);
    return rc;
}

int ax_conn_open(ax_loop *loop, int in_fd, int out_fd, ax_conn **out)
{
    if (!loop || !out || (in_fd < 0 && out_fd < 0))
        return ax__err(AX_EINVAL, "open connection: bad arguments");
    *out = NULL;
    struct stat st;
    int fd0 = in_fd >= 0 ? in_fd : out_fd;
    if (fstat(fd0, &st) < 0)
        return ax__syserr(ax__errno(), "open connection on fd %d failed", fd0);
    int is_sock = S_ISSOCK(st.st_mode) && in_fd == out_fd;
    /* The fds are borrowed until this succeeds: a failure leaves them with
     * the flags they came with. */
    const int fd[2] = {in_fd, out_fd};
    int fl[2] = {-1, -1};
    for (int i = 0; i < 2; i++) {
        if (fd[i] < 0 || (i == 1 && fd[1] == fd[0]))
            continue;
        fl[i] = fcntl(fd[i], F_GETFL);
        if (ax_set_nonblock(fd[i], 1) < 0)
            return open_failed(ax_last_error()->code, fd, fl);
    }
    ax_conn *c = conn_alloc(loop);
    if (!c || track(loop, c) < 0) {
        if (c)
            conn_release(loop, c);
        return open_failed(ax__err(AX_ENOMEM, "open connection: out of memory"), fd, fl);
    }
    c->io.fd = in_fd;
    c->io.kind = AX__IO_CONN;
    c->ev = &no_events;
    c->owner.loop = loop;
    c->flags = CF_CLIENT;
    c->tp = is_sock ? TP_SOCKET : TP_FD;
    c->last_active = stamp(loop);
    if (in_fd < 0)
        c->flags |= CF_RD_EOF;
    if (out_fd != in_fd) {
        if (!ax__conn_aux(c)) {
            untrack(loop, c);
            conn_release(loop, c);
            return open_failed(ax__err(AX_ENOMEM, "open connection: out of memory"), fd, fl);
        }
        c->flags |= CF_SPLIT;
        c->aux->out.fd = out_fd;
        c->aux->out.kind = AX__IO_CONN_OUT;
    }
    if (out_fd < 0)
        c->flags |= CF_WR_SHUT;
    int rc = in_fd >= 0 ? ax__io_set(loop, &c->io, AX_READABLE) : 0;
    if (rc < 0) {
        if (rc == AX_EEXIST)
            ax__err(rc, "open connection: fd %d is already watched by this loop", in_fd);
        untrack(loop, c);
        free(c->aux);
        conn_release(loop, c);
        return open_failed(rc, fd, fl);
    }
    ax__ref(loop);
    *out = c;
    return 0;
}

void ax_conn_set_events(ax_conn *c, const ax_conn_events *ev, void *arg)
{
    c->ev = ev ? ev : &no_events;
    c->arg = arg;
}

/* ------------------------------------------------------------- close */

static void free_conn(ax_conn *c)
{
    if (c->aux) {
        ax__wbuf *b = c->aux->head;
        while (b) {
            ax__wbuf *n = b->next;
            free(b);
            b = n;
        }
        free(c->aux->remote);
        free(c->aux->local);
        free(c->aux);
    }
    conn_release(ax__conn_loop(c), c);
}

/* Runs after the callback stack that closed the connection unwinds. */
static void finish_close(void *arg)
{
    ax_conn *c = arg;
    if (c->ev->on_close)
        c->ev->on_close(c, c->arg);
    free_conn(c);
}

static void unpipe(ax_conn *c)
{
    if (!c->aux)
        return;
    ax_conn *dst = c->aux->pipe_dst, *src = c->aux->pipe_src;
    if (dst && dst->aux)
        dst->aux->pipe_src = NULL;
    if (src && src->aux) {
        src->aux->pipe_dst = NULL;
        /* Its destination is gone: do not leave it paused forever. */
        if (src->flags & CF_PIPE_PAUSED) {
            src->flags &= (uint16_t)~CF_PIPE_PAUSED;
            ax__conn_update(src);
        }
    }
    c->aux->pipe_dst = c->aux->pipe_src = NULL;
}

void ax_conn_close(ax_conn *c)
{
    if (!c || (c->flags & CF_CLOSED))
        return;
    ax_loop *loop = ax__conn_loop(c);
    c->flags |= CF_CLOSED;
    unpipe(c);
    if (c->io.fd >= 0) {
        ax__io_forget(loop, &c->io);
        close(c->io.fd);
    }
    if ((c->flags & CF_SPLIT) && c->aux->out.fd >= 0) {
        ax__io_forget(loop, &c->aux->out);
        close(c->aux->out.fd);
        c->aux->out.fd = -1;
    }
    c->io.fd = -1;
    untrack(loop, c);
    ax__unref(loop);
    if (!(c->flags & CF_CLIENT))
        ax__server_conn_closed(c->owner.server);
    if (ax__defer(loop, finish_close, c) < 0)
        finish_close(c); /* out of memory for the node: close synchronously */
}

/* Reports err through on_error, then closes. */
static void fail(ax_conn *c, int code, const char *what)
{
    if (c->flags & CF_CLOSED)
        return;
    ax_error e;
    e.code = code;
    ax__syserr(code, "%s", what);
    memcpy(e.message, ax_last_error()->message, sizeof e.message);
    if (c->ev->on_error)
        c->ev->on_error(c, &e, c->arg);
    ax_conn_close(c);
}

static void deferred_fail(void *arg)
{
    ax_conn *c = arg;
    if (!(c->flags & CF_CLOSED))
        fail(c, c->aux->err, "Unable to write to stream");
}

/* Both directions are done: nothing more can happen. */
static void maybe_finish(ax_conn *c)
{
    if ((c->flags & CF_RD_EOF) && (c->flags & CF_WR_SHUT))
        ax_conn_close(c);
}

/* ------------------------------------------------------------- write */

static void shut_write(ax_conn *c)
{
    c->flags |= CF_WR_SHUT;
    c->flags &= (uint16_t)~CF_ENDING;
    ax__tp_shutdown(c);
    maybe_finish(c);
}

/* Writes as much of the queue as the socket takes. Returns 0, or a
 * negative code after which the connection must fail. */
static int flush(ax_conn *c)
{
    ax__aux *a = c->aux;
    while (a && a->head) {
        struct iovec iov[MAX_IOV];
        int n = 0;
        for (ax__wbuf *b = a->head; b && n < MAX_IOV; b = b->next, n++) {
            iov[n].iov_base = b->data + b->off;
            iov[n].iov_len = b->len - b->off;
        }
        ssize_t w = ax__tp_writev(c, iov, n);
        if (w == AX_EAGAIN)
            break;
        if (w < 0)
            return (int)w;
        a->queued -= (size_t)w;
        size_t left = (size_t)w;
        while (left && a->head) {
            ax__wbuf *b = a->head;
            size_t in_b = b->len - b->off;
            if (left < in_b) {
                b->off += left;
                break;
            }
            left -= in_b;
            a->head = b->next;
            if (!a->head)
                a->tail = NULL;
            free(b);
        }
    }
    return 0;
}

/* Appends bytes to the queue, filling the tail buffer first. */
static int enqueue(ax_conn *c, const struct iovec *iov, int n, size_t skip)
{
    ax__aux *a = ax__conn_aux(c);
    if (!a)
        return AX_ENOMEM;
    for (int i = 0; i < n; i++) {
        const char *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        p += skip;
        len -= skip;
        skip = 0;
        while (len) {
            ax__wbuf *t = a->tail;
            if (!t || t->len == t->cap) {
                size_t cap = len > WBUF_MIN ? len : WBUF_MIN;
                t = malloc(sizeof *t + cap);
                if (!t)
                    return AX_ENOMEM;
                t->next = NULL;
                t->off = t->len = 0;
                t->cap = cap;
                if (a->tail)
                    a->tail->next = t;
                else
                    a->head = t;
                a->tail = t;
            }
            size_t k = t->cap - t->len < len ? t->cap - t->len : len;
            memcpy(t->data + t->len, p, k);
            t->len += k;
            a->queued += k;
            p += k;
            len -= k;
        }
    }
    return 0;
}

/* What follows a direct write of `total` bytes that returned w: queue the
 * rest, or fail the connection from a deferred call. */
static int after_write(ax_conn *c, const struct iovec *iov, int n, size_t total, ssize_t w)
{
    ax_loop *loop = ax__conn_loop(c);
    size_t done = 0;
    if (w >= 0) {
        done = (size_t)w;
        c->last_active = stamp(loop);
        if (done == total)
            return 1;
    } else if (w != AX_EAGAIN) {
        ax__aux *a = ax__conn_aux(c);
        if (a) {
            a->err = (int)w;
            c->flags |= CF_ENDING; /* refuse further writes */
            ax__defer(loop, deferred_fail, c);
        }
        return (int)w;
    }
    if (enqueue(c, iov, n, done) < 0)
        return ax__err(AX_ENOMEM, "write: out of memory queueing %zu bytes", total - done);
    ax__conn_update(c);
    if (c->aux->queued < high_water(c))
        return 1;
    c->flags |= CF_DRAIN;
    return 0;
}

static int refuse(const ax_conn *c)
{
    return ax__err(AX_EPIPE, "write on %s connection",
                   (c->flags & CF_CLOSED) ? "a closed" : "an ended");
}

int ax_conn_writev(ax_conn *c, const struct iovec *iov, int n)
{
    if (c->flags & (CF_CLOSED | CF_ENDING | CF_WR_SHUT))
        return refuse(c);
    if (n < 0 || (n > 0 && !iov))
        return ax__err(AX_EINVAL, "write: bad iovec");
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (total == 0)
        return 1;
    if (c->aux && c->aux->queued) {
        /* Behind queued bytes: order is kept by queueing these too. */
        return after_write(c, iov, n, total, 0);
    }
    /* Nothing queued: write straight from the caller's memory, and copy
     * only what the socket did not take. */
    return after_write(c, iov, n, total, ax__tp_writev(c, iov, n > IOV_MAX ? IOV_MAX : n));
}

int ax_conn_write(ax_conn *c, const void *data, size_t len)
{
    struct iovec v = {.iov_base = (void *)(uintptr_t)data, .iov_len = len};
    /* The common case costs one send(): a plain socket, nothing queued. */
    if (c->tp == TP_SOCKET && len && !(c->flags & (CF_CLOSED | CF_ENDING | CF_WR_SHUT)) &&
        !(c->aux && c->aux->queued)) {
        ssize_t w = send(c->io.fd, data, len, MSG_NOSIGNAL);
        if (w == (ssize_t)len) {
            c->last_active = stamp(ax__conn_loop(c));
            return 1;
        }
        if (w < 0)
            w = (errno == EAGAIN || errno == EINTR) ? AX_EAGAIN : -errno;
        return after_write(c, &v, 1, len, w);
    }
    return ax_conn_writev(c, &v, 1);
}

void ax_conn_end(ax_conn *c)
{
    if (c->flags & (CF_CLOSED | CF_ENDING | CF_WR_SHUT))
        return;
    if (c->aux && c->aux->queued)
        c->flags |= CF_ENDING; /* shut down when the flush completes */
    else
        shut_write(c);
}

/* ------------------------------------------------------------- pause */

void ax_conn_pause(ax_conn *c)
{
    c->flags |= CF_PAUSED;
    ax__conn_update(c);
}

void ax_conn_resume(ax_conn *c)
{
    c->flags &= (uint16_t)~CF_PAUSED;
    ax__conn_update(c);
}

/* ------------------------------------------------------------ events */

static void on_writable(ax_conn *c)
{
    int rc = flush(c);
    if (rc < 0) {
        fail(c, rc, "Unable to write to stream");
        return;
    }
    c->last_active = stamp(ax__conn_loop(c));
    size_t q = c->aux ? c->aux->queued : 0;
    if (q == 0 && (c->flags & CF_ENDING))
        shut_write(c);
    if (c->flags & CF_CLOSED)
        return;
    ax__conn_update(c);
    if ((c->flags & CF_DRAIN) && q < high_water(c)) {
        c->flags &= (uint16_t)~CF_DRAIN;
        if (c->aux && c->aux->pipe_src)
            ax__pipe_drain(c);
        else if (c->ev->on_drain)
            c->ev->on_drain(c, c->arg);
    }
}

static void on_eof(ax_conn *c)
{
    c->flags |= CF_RD_EOF;
    ax__conn_update(c);
    if (c->aux && c->aux->pipe_dst)
        ax__pipe_end(c);
    else if (c->ev->on_end)
        c->ev->on_end(c, c->arg);
    else
        ax_conn_end(c); /* react/socket's default: end our side too */
    if (!(c->flags & CF_CLOSED))
        maybe_finish(c);
}

static void on_readable(ax_conn *c, ax_loop *loop)
{
    ssize_t n;
    if (c->tp == TP_SOCKET) {
        /* The plain-socket read inline: this is the per-event hot path. */
        n = recv(c->io.fd, loop->rbuf, AX__READ_BUF, 0);
        if (n < 0)
            n = (errno == EAGAIN || errno == EINTR) ? AX_EAGAIN : -errno;
    } else {
        n = ax__tp_read(c, loop->rbuf, AX__READ_BUF);
    }
    if (n > 0) {
        c->last_active = stamp(loop);
        if (c->aux && c->aux->pipe_dst)
            ax__pipe_data(c, loop->rbuf, (size_t)n);
        else if (c->ev->on_data)
            c->ev->on_data(c, loop->rbuf, (size_t)n, c->arg);
    } else if (n == 0) {
        on_eof(c);
    } else if (n != AX_EAGAIN) {
        fail(c, (int)n, "Unable to read from stream");
    }
}

void ax__conn_io(ax_loop *loop, ax__io *io, unsigned revents)
{
    ax_conn *c;
    if (io->kind == AX__IO_CONN_OUT) {
        /* The write side of a split connection lives in its aux. */
        c = ((ax__aux *)((char *)io - offsetof(ax__aux, out)))->conn;
        revents &= AX_WRITABLE | AX_FDERROR | AX_HANGUP;
        if (revents)
            on_writable(c);
        return;
    }
    c = (ax_conn *)io;
    if ((revents & AX_WRITABLE) && !(c->flags & CF_SPLIT))
        on_writable(c);
    if ((revents & AX_READABLE) &&
        !(c->flags & (CF_CLOSED | CF_PAUSED | CF_PIPE_PAUSED | CF_RD_EOF)))
        on_readable(c, loop);
}
