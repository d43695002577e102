/*
 * src/loop/backend.h - the interface every backend implements, private to
 * src/loop. The layers above see only src/loop/io.h.
 *
 * A backend watches ios for what they want (io->want) and reports through
 * the loop's dispatch:
 *   - readiness backends (epoll, poll) report readiness with
 *     ax__io_ready(); for an io that wants AX__RECV or AX__ACCEPT the loop
 *     then performs the recv() or accept4() itself (ax__io_ready does), so
 *     the kind hears the same "received" / "accepted" entry points a
 *     completion backend calls;
 *   - a completion backend (io_uring) submits operations and calls
 *     ax__io_received(), ax__io_accepted() and ax__io_ready() from its
 *     completions, and ax__io_released() when a forgotten io's last owed
 *     completion arrives.
 * Every backend calls ax__loop_woke() as soon as its wait returns, before
 * it reports anything.
 */
#ifndef AXON_LOOP_BACKEND_H
#define AXON_LOOP_BACKEND_H

#include "loop/io.h"

typedef struct ax__backend {
    const char *name;
    int completion; /* 1: io_uring-style; ios may owe completions */
    /* Sets up the backend's state in loop->b (and loop->bfd if it has an
     * fd to embed). Returns 0 or an error with its message. */
    int (*init)(ax_loop *loop, const ax_loop_opts *opts);
    void (*fini)(ax_loop *loop);
    /* Makes the kernel watch io for want (io->want is updated by the
     * caller after success). 0 = stop watching, io stays registered or
     * not as the backend likes. io->bstate is the backend's own. */
    int (*set)(ax_loop *loop, ax__io *io, unsigned want);
    /* Forgets io before its fd is closed; returns 1 if completions are
     * still owed (completion backends). */
    int (*forget)(ax_loop *loop, ax__io *io);
    /* Waits up to timeout_ms (< 0: no limit) and reports what happened. */
    int (*wait)(ax_loop *loop, int timeout_ms);
    /* Completion backends: waits for every completion still owed to a
     * forgotten io (each ends in ax__io_released), before the layers free
     * their state at ax_loop_free. NULL for readiness backends. */
    void (*drain)(ax_loop *loop);
    /* 1 when the next wait has something to report at once (epoll's
     * regular files, always ready): the loop must not sleep. May be NULL. */
    int (*busy)(const ax_loop *loop);
    /* Completion backends: 1 while operations wait to be submitted, which
     * the next wait does; an embedding host must not sleep on the loop's
     * fd before it (ax_loop_timeout says 0). submit() hands them over
     * without waiting (when ax_loop_run returns). May be NULL. */
    int (*unsubmitted)(const ax_loop *loop);
    void (*submit)(ax_loop *loop);
    /* Completion backends: a submitted send (see ax__io_send). NULL: the
     * layers write themselves. */
    int (*send)(ax_loop *loop, ax__io *io, const void *buf, size_t len);
} ax__backend;

extern const ax__backend ax__epoll_backend;
extern const ax__backend ax__poll_backend;
extern const ax__backend ax__uring_backend;

/* Entry points for the backends (ax__io_ready, the readiness one, is
 * inline in loop_impl.h). */

/* Bytes received for io (also after the owner stopped asking, in a pause:
 * bytes already read are never dropped; the owner holds them). */
static inline void ax__io_received(ax_loop *loop, ax__io *io, const char *data, ssize_t n)
{
    extern const ax__kind *ax__kinds[];
    if (io->fd >= 0)
        ax__kinds[io->kind]->received(loop, io, data, n);
}

/* A submitted send ended: n bytes went out, or an error. */
static inline void ax__io_sent(ax_loop *loop, ax__io *io, ssize_t n)
{
    extern const ax__kind *ax__kinds[];
    if (io->fd >= 0)
        ax__kinds[io->kind]->sent(loop, io, n);
}

/* Readiness a completion backend polled for (AX_READABLE / AX_WRITABLE
 * only: no recv or accept is performed). */
void ax__io_polled(ax_loop *loop, ax__io *io, unsigned revents);
void ax__io_accepted(ax_loop *loop, ax__io *io, int fd);
void ax__io_released(ax_loop *loop, ax__io *io);

/* The wait returned: loop->now becomes the time it woke, before any
 * callback runs, so a timer or timeout started there is not shortened by
 * however long the loop slept. */
void ax__loop_woke(ax_loop *loop);

#endif
