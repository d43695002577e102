/* The write path: a direct write first, the write queue (with its
 * high-water mark) for what the socket did not take, flushing on
 * writability, and half-close after the flush. The filter chain sits above
 * this: what a filter passes down ends here, in ax__conn_raw_writev(). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/filter.h"

#define DEFAULT_HIGH_WATER (64 * 1024)
#define WBUF_MIN (16 * 1024)
#define MAX_IOV 64

size_t ax__conn_high_water(const ax_conn *c)
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

static uint32_t stamp(const ax_conn *c)
{
    return (uint32_t)ax__loop_now(ax__conn_loop(c));
}

/* Both directions are done: nothing more can happen. */
static void maybe_finish(ax_conn *c)
{
    if ((c->flags & CF_RD_EOF) && (c->flags & CF_WR_SHUT))
        ax_conn_close(c);
}

static void shut_write(ax_conn *c)
{
    c->flags |= CF_WR_SHUT;
    c->flags &= (uint16_t)~CF_SHUT_PENDING;
    ax__tp_shutdown(c);
    maybe_finish(c);
}

/* Queue buffers of the usual size are kept for reuse by the loop's
 * connections (a few of them): a loop that queues every write (io_uring's
 * submitted sends) would otherwise allocate and free one per response. */
#define SPARE_WBUFS 64 /* none in sanitizer builds (!AX_CONN_SLAB): every buffer
                          is freed, so a late use shows */

static ax__wbuf *wbuf_get(ax_conn *c, size_t cap)
{
    ax__net *n = ax__net_of(ax__conn_loop(c));
    ax__wbuf *b;
    if (cap == WBUF_MIN && n->spare_wbufs) {
        b = n->spare_wbufs;
        n->spare_wbufs = b->next;
        n->nspare_wbufs--;
    } else if (!(b = malloc(sizeof *b + cap))) {
        return NULL;
    }
    b->next = NULL;
    b->off = b->len = 0;
    b->cap = cap;
    return b;
}

static void wbuf_put(ax_conn *c, ax__wbuf *b)
{
    ax__net *n = ax__net_of(ax__conn_loop(c));
    if (AX_CONN_SLAB && b->cap == WBUF_MIN && n->nspare_wbufs < SPARE_WBUFS) {
        b->next = n->spare_wbufs;
        n->spare_wbufs = b;
        n->nspare_wbufs++;
    } else {
        free(b);
    }
}

/* w bytes of the queue went out: drop them. */
static void advance(ax_conn *c, size_t w)
{
    ax__aux *a = c->aux;
    a->queued -= w;
    while (w && a->head) {
        ax__wbuf *b = a->head;
        size_t in_b = b->len - b->off;
        if (w < in_b) {
            b->off += w;
            break;
        }
        w -= in_b;
        a->head = b->next;
        if (!a->head)
            a->tail = NULL;
        wbuf_put(c, b);
    }
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
        advance(c, (size_t)w);
    }
    return 0;
}

/* CF_SUBMIT: hands the queue's head buffer to the kernel unless a send is
 * in flight already; the buffer stays queued (alive) until its completion
 * (ax__conn_sent) says how much of it went. */
static void kick(ax_conn *c)
{
    ax__aux *a = c->aux;
    if ((c->flags & (CF_SENDING | CF_CLOSED)) || !a || !a->head)
        return;
    ax__wbuf *b = a->head;
    int rc = ax__io_send(ax__conn_loop(c), &c->io, b->data + b->off, b->len - b->off);
    if (rc < 0)
        ax__conn_fail(c, rc, "Unable to write to stream");
    else
        c->flags |= CF_SENDING;
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
                t = wbuf_get(c, len > WBUF_MIN ? len : WBUF_MIN);
                if (!t)
                    return AX_ENOMEM;
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
 * rest, or fail the connection (its on_error comes after the callbacks:
 * never inside this write call). */
static int after_write(ax_conn *c, const struct iovec *iov, int n, size_t total, ssize_t w)
{
    size_t done = 0;
    if (w >= 0) {
        done = (size_t)w;
        c->last_active = stamp(c);
        if (done == total)
            return 1;
    } else if (w != AX_EAGAIN) {
        ax__conn_fail(c, (int)w, "Unable to write to stream");
        return (int)w;
    }
    if (enqueue(c, iov, n, done) < 0)
        return ax__err(AX_ENOMEM, "write: out of memory queueing %zu bytes", total - done);
    ax__conn_update(c);
    if (c->aux->queued < ax__conn_high_water(c))
        return 1;
    c->flags |= CF_DRAIN;
    return 0;
}

/* CF_SUBMIT: every write is queued; the queue goes out by submitted sends. */
static int submit_write(ax_conn *c, const struct iovec *iov, int n, size_t total)
{
    if (enqueue(c, iov, n, 0) < 0)
        return ax__err(AX_ENOMEM, "write: out of memory queueing %zu bytes", total);
    c->last_active = stamp(c);
    kick(c);
    if (c->aux->queued < ax__conn_high_water(c))
        return 1;
    c->flags |= CF_DRAIN;
    return 0;
}

int ax__conn_raw_writev(ax_conn *c, const struct iovec *iov, int n)
{
    if (c->flags & (CF_CLOSED | CF_WR_SHUT))
        return ax__err(AX_EPIPE, "write on a closed connection");
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    if (total == 0)
        return 1;
    if (c->flags & CF_SUBMIT)
        return submit_write(c, iov, n, total);
    if (c->aux && c->aux->queued) {
        /* Behind queued bytes: order is kept by queueing these too. */
        return after_write(c, iov, n, total, 0);
    }
    /* Nothing queued: write straight from the caller's memory, and copy
     * only what the socket did not take. */
    return after_write(c, iov, n, total, ax__tp_writev(c, iov, n > IOV_MAX ? IOV_MAX : n));
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
    if (c->aux && c->aux->top)
        return ax__chain_send(c, iov, n);
    return ax__conn_raw_writev(c, iov, n);
}

/* ax_conn_write() past its fast path: w is the direct send()'s result, or
 * AX_EAGAIN when there was none (a queue, a filter, a pipe). */
__attribute__((noinline)) static int write_rest(ax_conn *c, const void *data, size_t len,
                                                ssize_t w, int sent)
{
    struct iovec v = {.iov_base = (void *)(uintptr_t)data, .iov_len = len};
    if (!sent)
        return ax_conn_writev(c, &v, 1);
    return after_write(c, &v, 1, len, ax__io_result(w));
}

int ax_conn_write(ax_conn *c, const void *data, size_t len)
{
    /* The common case costs one send(): a plain socket, nothing queued,
     * no filter. The rest is out of line, so this stays small. */
    if (c->tp == TP_SOCKET && len &&
        !(c->flags & (CF_CLOSED | CF_ENDING | CF_WR_SHUT | CF_SUBMIT)) && !c->aux) {
        ssize_t w = send(c->io.fd, data, len, MSG_NOSIGNAL);
        if (w == (ssize_t)len) {
            c->last_active = stamp(c);
            return 1;
        }
        return write_rest(c, data, len, w, 1);
    }
    return write_rest(c, data, len, 0, 0);
}

void ax__conn_raw_end(ax_conn *c)
{
    if (c->flags & (CF_CLOSED | CF_WR_SHUT))
        return;
    if (c->aux && c->aux->queued)
        c->flags |= CF_SHUT_PENDING; /* shut down when the flush completes */
    else
        shut_write(c);
}

void ax_conn_end(ax_conn *c)
{
    if (c->flags & (CF_CLOSED | CF_ENDING | CF_WR_SHUT))
        return;
    c->flags |= CF_ENDING; /* no more writes from the user */
    if (c->aux && c->aux->top)
        ax__chain_end(c); /* the filters end their streams, then the socket */
    else
        ax__conn_raw_end(c);
}

/* The queue moved (flushed on readiness, or a submitted send ended): the
 * half-close it waited for, and on_drain once below the mark. */
static void queue_moved(ax_conn *c)
{
    c->last_active = stamp(c);
    size_t q = c->aux ? c->aux->queued : 0;
    if (q == 0 && (c->flags & CF_SHUT_PENDING))
        shut_write(c);
    if (c->flags & CF_CLOSED)
        return;
    ax__conn_update(c);
    if (q == 0)
        ax__conn_aux_trim(c);
    if ((c->flags & CF_DRAIN) && q < ax__conn_high_water(c)) {
        c->flags &= (uint16_t)~CF_DRAIN;
        if (c->aux && c->aux->pipe_src)
            ax__pipe_drain(c);
        else if (c->ev->on_drain)
            c->ev->on_drain(c, c->arg);
    }
}

void ax__conn_writable(ax_conn *c)
{
    if (c->flags & CF_CLOSED)
        return;
    int rc = flush(c);
    if (rc < 0) {
        ax__conn_fail(c, rc, "Unable to write to stream");
        return;
    }
    queue_moved(c);
}

void ax__conn_sent(ax_conn *c, ssize_t n)
{
    c->flags &= (uint16_t)~CF_SENDING;
    if (c->flags & CF_CLOSED)
        return; /* the queue goes with the connection */
    if (n < 0) {
        ax__conn_fail(c, (int)n, "Unable to write to stream");
        return;
    }
    advance(c, (size_t)n);
    kick(c);
    queue_moved(c);
}
