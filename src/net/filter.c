/* The filter chain of a connection (see filter.h): bytes up from the
 * socket through each filter to the user, bytes down from the user through
 * each filter to the write queue, handshakes before the hand-over. */
#include <stdlib.h>
#include <string.h>

#include "net/filter.h"

int ax__conn_push_filter(ax_conn *c, const ax__filter_ops *ops, void *state)
{
    ax__aux *a = ax__conn_aux(c);
    ax__filter *f = calloc(1, sizeof *f);
    if (!a || !f) {
        free(f);
        return ax__err(AX_ENOMEM, "connection filter \"%s\": out of memory", ops->name);
    }
    f->ops = ops;
    f->conn = c;
    f->state = state;
    f->below = a->top;
    if (a->top)
        a->top->above = f;
    else
        a->bottom = f;
    a->top = f;
    c->flags |= CF_OPENING;
    return 0;
}

static bool all_ready(const ax_conn *c)
{
    for (const ax__filter *f = c->aux->bottom; f; f = f->above)
        if (!f->ready)
            return false;
    return true;
}

int ax__filter_start_all(ax_conn *c)
{
    for (ax__filter *f = c->aux->bottom; f && !(c->flags & CF_CLOSED); f = f->above) {
        if (!f->ops->start) {
            f->ready = true;
            continue;
        }
        int rc = f->ops->start(f);
        if (rc < 0)
            return rc;
    }
    /* Filters without a handshake (or done at once): hand over now. */
    if ((c->flags & CF_OPENING) && !(c->flags & CF_CLOSED) && all_ready(c))
        ax__conn_opened(c);
    return 0;
}

void ax__filter_ready(ax__filter *f)
{
    ax_conn *c = f->conn;
    bool was = f->ready;
    f->ready = true;
    /* Every filter below was started before f: all ready is the chain's
     * end of handshakes (ax__filter_start_all checks it for the rest). */
    if (!was && (c->flags & CF_OPENING) && !(c->flags & CF_CLOSED) && all_ready(c))
        ax__conn_opened(c);
}

void ax__filter_fail(ax__filter *f, int code, const char *what)
{
    ax__conn_fail(f->conn, code, what);
}

void ax__filter_up(ax__filter *f, const char *data, size_t n)
{
    ax_conn *c = f->conn;
    if (c->flags & CF_CLOSED)
        return;
    ax__filter *up = f->above;
    if (!up) {
        ax__conn_deliver(c, data, n);
        return;
    }
    int rc = up->ops->recv ? up->ops->recv(up, data, n) : (ax__filter_up(up, data, n), 0);
    if (rc < 0)
        ax__conn_fail(c, rc, "Unable to read from stream");
}

int ax__filter_down(ax__filter *f, const struct iovec *iov, int n)
{
    ax__filter *down = f->below;
    if (!down)
        return ax__conn_raw_writev(f->conn, iov, n);
    if (!down->ops->send)
        return ax__filter_down(down, iov, n);
    return down->ops->send(down, iov, n);
}

void ax__filter_end_down(ax__filter *f)
{
    ax__filter *down = f->below;
    if (!down)
        ax__conn_raw_end(f->conn);
    else if (down->ops->end)
        down->ops->end(down);
    else
        ax__filter_end_down(down);
}

/* ------------------------------------------------------ conn.c, write.c */

void ax__chain_recv(ax_conn *c, const char *data, size_t n)
{
    ax__filter *f = c->aux->bottom;
    int rc = f->ops->recv ? f->ops->recv(f, data, n) : (ax__filter_up(f, data, n), 0);
    if (rc < 0)
        ax__conn_fail(c, rc, "Unable to read from stream");
}

int ax__chain_send(ax_conn *c, const struct iovec *iov, int n)
{
    ax__filter *f = c->aux->top;
    int rc = f->ops->send ? f->ops->send(f, iov, n) : ax__filter_down(f, iov, n);
    if (rc < 0 && rc != AX_EPIPE && rc != AX_ENOMEM)
        ax__conn_fail(c, rc, "Unable to write to stream");
    return rc;
}

void ax__chain_end(ax_conn *c)
{
    ax__filter *f = c->aux->top;
    if (f->ops->end)
        f->ops->end(f);
    else
        ax__filter_end_down(f);
}

void ax__chain_resume(ax_conn *c)
{
    for (ax__filter *f = c->aux->bottom; f && !(c->flags & CF_CLOSED); f = f->above)
        if (f->ops->resume)
            f->ops->resume(f);
}

void ax__chain_close(ax_conn *c)
{
    if (!c->aux)
        return;
    ax__filter *f = c->aux->top;
    while (f) {
        ax__filter *below = f->below;
        if (f->ops->close)
            f->ops->close(f);
        free(f);
        f = below;
    }
    c->aux->top = c->aux->bottom = NULL;
}

const char *ax__chain_query(ax_conn *c, int what)
{
    if (!c->aux)
        return NULL;
    for (ax__filter *f = c->aux->top; f; f = f->below) {
        const char *r = f->ops->query ? f->ops->query(f, what) : NULL;
        if (r)
            return r;
    }
    return NULL;
}
