/* ax_conn_pipe(): two links in the connections' aux state that conn.c's
 * read, end and drain paths consult, so no extra events tables or
 * allocations are needed and the user's on_error/on_close stay in place. */
#include "net/net.h"

int ax_conn_pipe(ax_conn *src, ax_conn *dst, const ax_pipe_opts *opts)
{
    if (!src || !dst || src == dst)
        return ax__err(AX_EINVAL, "pipe: a connection cannot pipe into itself");
    if ((src->aux && src->aux->pipe_dst) || (dst->aux && dst->aux->pipe_src))
        return ax__err(AX_EINVAL, "pipe: the source or destination is already piped");
    if ((src->flags | dst->flags) & CF_CLOSED)
        return ax__err(AX_EPIPE, "pipe: the source or destination is closed");
    ax__aux *sa = ax__conn_aux(src), *da = ax__conn_aux(dst);
    if (!sa || !da)
        return ax__err(AX_ENOMEM, "pipe: out of memory");
    sa->pipe_dst = dst;
    da->pipe_src = src;
    da->pipe_no_end = opts && opts->no_end;
    return 0;
}

void ax__pipe_data(ax_conn *src, const void *data, size_t len)
{
    ax_conn *dst = src->aux->pipe_dst;
    if (ax_conn_write(dst, data, len) == 0) {
        /* dst is over its mark: stop reading src until dst drains. */
        src->flags |= CF_PIPE_PAUSED;
        ax__conn_update(src);
    }
}

void ax__pipe_end(ax_conn *src)
{
    ax_conn *dst = src->aux->pipe_dst;
    if (!dst->aux->pipe_no_end)
        ax_conn_end(dst);
}

void ax__pipe_drain(ax_conn *dst)
{
    ax_conn *src = dst->aux->pipe_src;
    if (src->flags & CF_PIPE_PAUSED)
        ax__conn_pipe_resume(src);
}

void ax__pipe_unlink(ax_conn *c)
{
    if (!c->aux)
        return;
    ax_conn *dst = c->aux->pipe_dst, *src = c->aux->pipe_src;
    if (dst && dst->aux)
        dst->aux->pipe_src = NULL;
    if (src && src->aux) {
        src->aux->pipe_dst = NULL;
        /* Its destination is gone: do not leave it paused forever. */
        if (src->flags & CF_PIPE_PAUSED)
            ax__conn_pipe_resume(src);
    }
    c->aux->pipe_dst = c->aux->pipe_src = NULL;
}
