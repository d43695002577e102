/* The epoll backend: level-triggered, the ax__io pointer in epoll's data so
 * a ready event costs no lookup. */
#include <sys/epoll.h>
#include <unistd.h>

#include "loop/loop_impl.h"

_Static_assert(AX_READABLE == EPOLLIN && AX_WRITABLE == EPOLLOUT && AX_FDERROR == EPOLLERR &&
                   AX_HANGUP == EPOLLHUP && EPOLLRDHUP == 0x2000,
               "ax__revents() relies on AX_* being epoll's bits");

#define BATCH 256
#define IN_KERNEL 0x1u /* io->bstate: registered with epoll */

static int ep_init(ax_loop *loop, const ax_loop_opts *opts)
{
    (void)opts;
    loop->bfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->bfd < 0)
        return ax__syserr(ax__errno(), "new loop: epoll_create1 failed");
    return 0;
}

static void ep_fini(ax_loop *loop)
{
    if (loop->bfd >= 0)
        close(loop->bfd);
    loop->bfd = -1;
}

static int ep_set(ax_loop *loop, ax__io *io, unsigned want)
{
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
        if (errno == EPERM)
            return AX_EPERM; /* a regular file: the loop polls it by hand */
        if (errno == EEXIST)
            return ax__err(AX_EEXIST, "fd %d is already watched by this loop", io->fd);
        return ax__syserr(ax__errno(), "epoll_ctl on fd %d failed", io->fd);
    }
    io->bstate |= IN_KERNEL;
    return 0;
}

static int ep_forget(ax_loop *loop, ax__io *io)
{
    if (io->bstate & IN_KERNEL)
        epoll_ctl(loop->bfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->bstate &= (uint8_t)~IN_KERNEL;
    return 0;
}

static int ep_wait(ax_loop *loop, int timeout_ms)
{
    struct epoll_event evs[BATCH];
    int n = epoll_wait(loop->bfd, evs, BATCH, timeout_ms);
    ax__loop_woke(loop);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        return ax__syserr(ax__errno(), "epoll_wait failed");
    }
    for (int i = 0; i < n; i++)
        ax__io_ready(loop, evs[i].data.ptr, ax__revents(evs[i].events));
    return n;
}

const ax__backend ax__epoll_backend = {
    .name = "epoll",
    .init = ep_init,
    .fini = ep_fini,
    .set = ep_set,
    .forget = ep_forget,
    .wait = ep_wait,
};
