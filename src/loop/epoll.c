/* The epoll backend: level-triggered, the ax__io pointer in epoll's data so
 * a ready event costs no lookup. epoll refuses regular files (EPERM); they
 * are always ready, so such ios are kept on a list and reported by hand at
 * every wait while they ask for events. */
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop/loop_impl.h"

_Static_assert(AX_READABLE == EPOLLIN && AX_WRITABLE == EPOLLOUT && AX_FDERROR == EPOLLERR &&
                   AX_HANGUP == EPOLLHUP && EPOLLRDHUP == 0x2000,
               "ax__revents() relies on AX_* being epoll's bits");

#define BATCH 256
#define IN_KERNEL 0x1u /* io->bstate: registered with epoll */
#define ALWAYS 0x2u    /* io->bstate: a regular file, on the always-ready list */

typedef struct estate {
    ax__io **always; /* ios epoll refused */
    size_t nalways, capalways;
} estate;

static int ep_init(ax_loop *loop, const ax_loop_opts *opts)
{
    (void)opts;
    if (!(loop->b = calloc(1, sizeof(estate))))
        return ax__err(AX_ENOMEM, "new loop: out of memory");
    loop->bfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->bfd < 0)
        return ax__syserr(ax__errno(), "new loop: epoll_create1 failed");
    return 0;
}

static void ep_fini(ax_loop *loop)
{
    estate *e = loop->b;
    if (loop->bfd >= 0)
        close(loop->bfd);
    loop->bfd = -1;
    if (e)
        free(e->always);
    free(e);
    loop->b = NULL;
}

static int add_always(ax_loop *loop, ax__io *io)
{
    estate *e = loop->b;
    if (e->nalways == e->capalways) {
        size_t cap = e->capalways ? e->capalways * 2 : 4;
        ax__io **a = realloc(e->always, cap * sizeof *a);
        if (!a)
            return ax__err(AX_ENOMEM, "watch fd %d: out of memory", io->fd);
        e->always = a;
        e->capalways = cap;
    }
    e->always[e->nalways++] = io;
    io->bstate |= ALWAYS;
    return 0;
}

static int ep_set(ax_loop *loop, ax__io *io, unsigned want)
{
    if (io->bstate & ALWAYS)
        return 0; /* reported by hand while it wants something */
    unsigned in = want & (AX_READABLE | AX__RECV | AX__ACCEPT) ? 1u : 0u;
    unsigned out = want & AX_WRITABLE ? 1u : 0u;
    unsigned have = io->want;
    if ((io->bstate & IN_KERNEL) && in == (have & (AX_READABLE | AX__RECV | AX__ACCEPT) ? 1u : 0u) &&
        out == (have & AX_WRITABLE ? 1u : 0u))
        return 0; /* the same to epoll: a switch between readiness and recv */
    /* No events wanted: leave the set entirely, since a registered fd
     * with an empty mask still reports EPOLLHUP/EPOLLERR, and a paused
     * connection whose peer hung up would spin. */
    if (!in && !out) {
        if (io->bstate & IN_KERNEL)
            epoll_ctl(loop->bfd, EPOLL_CTL_DEL, io->fd, NULL);
        io->bstate &= (uint8_t)~IN_KERNEL;
        return 0;
    }
    struct epoll_event ev = {.data.ptr = io};
    if (in)
        ev.events |= EPOLLIN | EPOLLRDHUP;
    if (out)
        ev.events |= EPOLLOUT;
    int op = (io->bstate & IN_KERNEL) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(loop->bfd, op, io->fd, &ev) < 0) {
        if (errno == EPERM && !(want & (AX__RECV | AX__ACCEPT)))
            return add_always(loop, io); /* a regular file */
        if (errno == EEXIST)
            return ax__err(AX_EEXIST, "fd %d is already watched by this loop", io->fd);
        return ax__syserr(ax__errno(), "epoll_ctl on fd %d failed", io->fd);
    }
    io->bstate |= IN_KERNEL;
    return 0;
}

static int ep_forget(ax_loop *loop, ax__io *io)
{
    estate *e = loop->b;
    if (io->bstate & ALWAYS) {
        for (size_t i = 0; i < e->nalways; i++) {
            if (e->always[i] == io) {
                e->always[i] = e->always[--e->nalways];
                break;
            }
        }
    }
    if (io->bstate & IN_KERNEL)
        epoll_ctl(loop->bfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->bstate = 0;
    return 0;
}

/* An always-ready io only counts while it asks for events: a paused one
 * must not make the loop spin. */
static int ep_busy(const ax_loop *loop)
{
    const estate *e = loop->b;
    for (size_t i = 0; i < e->nalways; i++)
        if (e->always[i]->want)
            return 1;
    return 0;
}

static void report_always(ax_loop *loop)
{
    estate *e = loop->b;
    /* By index from the end: a callback may forget itself. */
    for (size_t i = e->nalways; i-- > 0;) {
        if (i >= e->nalways)
            continue;
        ax__io *io = e->always[i];
        if (io->want)
            ax__io_ready(loop, io, io->want & (AX_READABLE | AX_WRITABLE));
    }
}

static int ep_wait(ax_loop *loop, int timeout_ms)
{
    struct epoll_event evs[BATCH];
    int n = epoll_wait(loop->bfd, evs, BATCH, timeout_ms);
    ax__loop_woke(loop);
    if (n < 0) {
        if (errno != EINTR)
            return ax__syserr(ax__errno(), "epoll_wait failed");
        n = 0;
    }
    for (int i = 0; i < n; i++)
        ax__io_ready(loop, evs[i].data.ptr, ax__revents(evs[i].events));
    if (((estate *)loop->b)->nalways)
        report_always(loop);
    return n;
}

const ax__backend ax__epoll_backend = {
    .name = "epoll",
    .init = ep_init,
    .fini = ep_fini,
    .set = ep_set,
    .forget = ep_forget,
    .wait = ep_wait,
    .busy = ep_busy,
};
