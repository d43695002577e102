/* Raw fd watchers: level-triggered readiness of an fd the caller owns. */
#include <stdlib.h>

#include "loop/loop_impl.h"

struct ax_watch {
    ax__io io;
    ax_loop *loop;
    ax_watch *next;  /* loop->watches, then loop->closed_watches */
    ax_watch_cb cb;
    void *arg;
    int owed;        /* stopped with completions still owed (io_uring) */
};

ax_watch *ax_watch_fd(ax_loop *loop, int fd, unsigned events, ax_watch_cb cb, void *arg)
{
    if (!loop || !cb || fd < 0) {
        ax__err(AX_EINVAL, "watch fd %d: bad arguments", fd);
        return NULL;
    }
    ax_watch *w = calloc(1, sizeof *w);
    if (!w) {
        ax__err(AX_ENOMEM, "watch fd %d: out of memory", fd);
        return NULL;
    }
    w->io.fd = fd;
    w->io.kind = AX__KIND_WATCH;
    w->loop = loop;
    w->cb = cb;
    w->arg = arg;
    int rc = ax__io_set(loop, &w->io, events & (AX_READABLE | AX_WRITABLE));
    if (rc < 0) {
        if (rc == AX_EEXIST)
            ax__err(rc, "watch fd %d: it is already watched by this loop", fd);
        free(w);
        return NULL;
    }
    w->next = loop->watches;
    loop->watches = w;
    ax__ref(loop);
    return w;
}

int ax_watch_set(ax_watch *w, unsigned events)
{
    if (w->io.fd < 0)
        return ax__err(AX_EINVAL, "watch set: the watcher is stopped");
    return ax__io_set(w->loop, &w->io, events & (AX_READABLE | AX_WRITABLE));
}

void ax_watch_stop(ax_watch *w)
{
    if (!w || w->io.fd < 0)
        return;
    ax_loop *loop = w->loop;
    w->owed = ax__io_forget(loop, &w->io);
    w->io.fd = -1;
    ax__unref(loop);
    for (ax_watch **pp = &loop->watches; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    /* Freed after the dispatch batch that may still hold a pointer to it;
     * or, on io_uring, after the kernel's last completion for it, which
     * comes in a later wait. */
    if (w->owed)
        return;
    w->next = loop->closed_watches;
    loop->closed_watches = w;
}

void ax__watch_io(ax_loop *loop, ax__io *io, unsigned revents)
{
    (void)loop;
    ax_watch *w = (ax_watch *)io;
    w->cb(w, io->fd, revents, w->arg);
}

void ax__watch_sweep(ax_loop *loop)
{
    while (loop->closed_watches) {
        ax_watch *w = loop->closed_watches;
        loop->closed_watches = w->next;
        free(w);
    }
}

void ax__watch_released(ax_loop *loop, ax__io *io)
{
    (void)loop;
    free(io);
}

int ax__watch_close_all(ax_loop *loop)
{
    int any = loop->watches != NULL;
    while (loop->watches)
        ax_watch_stop(loop->watches);
    ax__watch_sweep(loop);
    return any;
}
