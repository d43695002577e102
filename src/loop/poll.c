/* The poll backend: the portable fallback. One pollfd per watched io,
 * found by fd through a table, so set/forget are O(1). */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "loop/loop_impl.h"

_Static_assert(AX_READABLE == POLLIN && AX_WRITABLE == POLLOUT && AX_FDERROR == POLLERR &&
                   AX_HANGUP == POLLHUP && POLLRDHUP == 0x2000 && POLLNVAL == 0x20,
               "ax__revents() relies on AX_* being poll's bits");

typedef struct pstate {
    struct pollfd *pfds;
    ax__io **ios;
    size_t n, cap;
    int *slot;          /* fd -> index in pfds, -1 if absent */
    size_t nslot;
    struct pollfd *ready; /* scratch copy for dispatch */
    ax__io **ready_io;
} pstate;

#define IN_KERNEL 0x1u /* io->bstate: has a pollfd */

static int p_init(ax_loop *loop, const ax_loop_opts *opts)
{
    (void)opts;
    pstate *s = calloc(1, sizeof *s);
    if (!s)
        return ax__err(AX_ENOMEM, "new loop: out of memory");
    loop->b = s;
    return 0;
}

static void p_fini(ax_loop *loop)
{
    pstate *s = loop->b;
    if (!s)
        return;
    free(s->pfds);
    free(s->ios);
    free(s->slot);
    free(s->ready);
    free(s->ready_io);
    free(s);
    loop->b = NULL;
}

static int grow(pstate *s, int fd)
{
    if ((size_t)fd >= s->nslot) {
        size_t n = s->nslot ? s->nslot : 64;
        while (n <= (size_t)fd)
            n *= 2;
        int *sl = realloc(s->slot, n * sizeof *sl);
        if (!sl)
            return -1;
        for (size_t i = s->nslot; i < n; i++)
            sl[i] = -1;
        s->slot = sl;
        s->nslot = n;
    }
    if (s->n == s->cap) {
        size_t c = s->cap ? s->cap * 2 : 64;
        struct pollfd *p = realloc(s->pfds, c * sizeof *p);
        if (!p)
            return -1;
        s->pfds = p;
        ax__io **io = realloc(s->ios, c * sizeof *io);
        if (!io)
            return -1;
        s->ios = io;
        struct pollfd *r = realloc(s->ready, c * sizeof *r);
        if (!r)
            return -1;
        s->ready = r;
        ax__io **ri = realloc(s->ready_io, c * sizeof *ri);
        if (!ri)
            return -1;
        s->ready_io = ri;
        s->cap = c;
    }
    return 0;
}

static int p_forget(ax_loop *loop, ax__io *io)
{
    pstate *s = loop->b;
    if (!(io->bstate & IN_KERNEL))
        return 0;
    int i = s->slot[io->fd];
    size_t last = --s->n;
    if ((size_t)i != last) {
        s->pfds[i] = s->pfds[last];
        s->ios[i] = s->ios[last];
        s->slot[s->pfds[i].fd] = i;
    }
    s->slot[io->fd] = -1;
    io->bstate &= (uint8_t)~IN_KERNEL;
    return 0;
}

static int p_set(ax_loop *loop, ax__io *io, unsigned want)
{
    pstate *s = loop->b;
    short ev = 0;
    if (want & (AX_READABLE | AX__RECV | AX__ACCEPT))
        ev |= POLLIN | POLLRDHUP;
    if (want & AX_WRITABLE)
        ev |= POLLOUT;
    if (ev == 0) {
        p_forget(loop, io);
        return 0;
    }
    if (!(io->bstate & IN_KERNEL)) {
        /* One io per fd, as epoll has it (EEXIST): a second entry would
         * take over the fd's slot and corrupt the table on forget. */
        if ((size_t)io->fd < s->nslot && s->slot[io->fd] >= 0)
            return ax__err(AX_EEXIST, "fd %d is already watched by this loop", io->fd);
        if (grow(s, io->fd) < 0)
            return ax__err(AX_ENOMEM, "watch fd %d: out of memory", io->fd);
        s->slot[io->fd] = (int)s->n;
        s->pfds[s->n] = (struct pollfd){.fd = io->fd};
        s->ios[s->n] = io;
        s->n++;
        io->bstate |= IN_KERNEL;
    }
    s->pfds[s->slot[io->fd]].events = ev;
    return 0;
}

static int p_wait(ax_loop *loop, int timeout_ms)
{
    pstate *s = loop->b;
    int n = poll(s->pfds, (nfds_t)s->n, timeout_ms);
    ax__loop_woke(loop);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        return ax__syserr(ax__errno(), "poll failed");
    }
    /* Callbacks may add or forget ios and so reorder pfds: dispatch from a
     * copy of what was ready. */
    size_t k = 0;
    for (size_t i = 0; i < s->n && k < (size_t)n; i++) {
        if (s->pfds[i].revents) {
            s->ready[k] = s->pfds[i];
            s->ready_io[k++] = s->ios[i];
        }
    }
    for (size_t i = 0; i < k; i++) {
        short e = s->ready[i].revents;
        ax__io *io = s->ready_io[i];
        /* The io may have been forgotten (or its fd reused) by an earlier
         * callback in this batch. */
        if (io->fd != s->ready[i].fd || !(io->bstate & IN_KERNEL))
            continue;
        unsigned r = ax__revents((uint16_t)e);
        ax__io_ready(loop, io, r);
    }
    return n;
}

const ax__backend ax__poll_backend = {
    .name = "poll",
    .init = p_init,
    .fini = p_fini,
    .set = p_set,
    .forget = p_forget,
    .wait = p_wait,
};
