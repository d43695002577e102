/*
 * src/loop/loop_impl.h - the loop structure and what the files of
 * src/loop share (timers, signals, watchers, the backends). Nothing above
 * src/loop includes this: layers see src/loop/io.h.
 */
#ifndef AXON_LOOP_LOOP_IMPL_H
#define AXON_LOOP_LOOP_IMPL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "loop/backend.h"

typedef struct ax__call {
    struct ax__call *next;
    void (*fn)(void *arg);
    void *arg;
} ax__call;

typedef struct ax__callq {
    ax__call *head, *tail;
} ax__callq;

/* The loop's own kinds; layers' kinds are registered after them. */
enum { AX__KIND_WATCH = 1, AX__KIND_WAKE, AX__KIND_SIGNAL, AX__KIND_FIRST_FREE };
#define AX__MAX_KINDS 32
extern const ax__kind *ax__kinds[AX__MAX_KINDS];


struct ax_loop {
    ax__loop_head head; /* first: layers read it directly (io.h) */
    const ax__backend *be;
    int bfd;             /* the backend's fd (epoll, io_uring), -1 if none */
    void *b;             /* the backend's state */
    atomic_int stop;
    int depth;           /* > 0 while ax_loop_run_once() runs (its callbacks) */

    ax_timer **heap;     /* armed timers, a min-heap on (due, seq) */
    size_t nheap, capheap;
    uint64_t timer_seq;
    ax_timer *timers;    /* every timer not yet stopped, armed or not */
    size_t ntimers;

    ax__callq defers;    /* ax_loop_defer() */
    ax__call *spare;     /* recycled call nodes */
    ax__callq posts;     /* from other threads, under post_mu */
    pthread_mutex_t post_mu;
    atomic_int posted;   /* posts waiting: keeps the loop alive */
    ax__io wake;         /* eventfd for posts and stop */

    ax__io sigio;        /* signalfd, -1 until the first watcher */
    sigset_t sigmask;    /* signals the signalfd carries */
    ax_signal *signals;  /* watchers, stopped ones unlinked when it is safe */
    int signals_dead;    /* stopped watchers wait in the list */
    ax_watch *watches;   /* fd watchers */
    ax_watch *closed_watches; /* stopped, freed after the dispatch batch */


    char *rbuf;          /* the shared read buffer, AX__READ_BUF bytes */
    ax_loop_opts opts;   /* as given (sizes for completion backends) */
    char fallback[AX_ERROR_MAX]; /* why "auto" did not get io_uring, or "" */
};

void ax__io_accept_ready(ax_loop *loop, ax__io *io);

/*
 * A readiness backend's report for io. For an io that wants its bytes or
 * new fds, the loop performs the recv() or accept4() here, so its kind
 * hears the same entry points a completion backend calls. Inline: this is
 * the per-event hot path of epoll and poll.
 */
__attribute__((always_inline)) static inline void ax__io_ready(ax_loop *loop, ax__io *io,
                                                             unsigned revents)
{
    if (io->fd < 0)
        return; /* closed earlier in this batch; freed after it */
    const ax__kind *k = ax__kinds[io->kind];
    unsigned want = io->want;
    if (want == AX__RECV && revents == AX_READABLE) {
        /* The common event: a connection's bytes. */
        ssize_t n = recv(io->fd, loop->rbuf, AX__READ_BUF, 0);
        if (n >= 0 || (n = ax__io_result(n)) != AX_EAGAIN)
            k->received(loop, io, loop->rbuf, n);
        return;
    }
    if (!(want & (AX__RECV | AX__ACCEPT))) {
        k->ready(loop, io, revents);
        return;
    }
    if ((want & AX_WRITABLE) && (revents & (AX_WRITABLE | AX_FDERROR))) {
        k->ready(loop, io, revents & (AX_WRITABLE | AX_FDERROR | AX_HANGUP));
        if (io->fd < 0)
            return;
        want = io->want;
    }
    if (!(revents & AX_READABLE))
        return;
    if (want & AX__RECV) {
        ssize_t n = recv(io->fd, loop->rbuf, AX__READ_BUF, 0);
        if (n < 0 && (n = ax__io_result(n)) == AX_EAGAIN)
            return;
        k->received(loop, io, loop->rbuf, n);
    } else if (want & AX__ACCEPT) {
        ax__io_accept_ready(loop, io);
    }
}

/* Timers (timer.c). */
int ax__timer_next(const ax_loop *loop); /* ms to the earliest, 0 if due, -1 if none */
void ax__timer_run(ax_loop *loop);       /* the due timers armed before this pass */
void ax__timer_free_all(ax_loop *loop);

/* Signals (signal.c) and fd watchers (watch.c). */
void ax__signal_io(ax_loop *loop);
void ax__signal_sweep(ax_loop *loop);    /* unlinks stopped watchers */
int ax__signal_close_all(ax_loop *loop); /* 1 if any was open */
void ax__watch_io(ax_loop *loop, ax__io *io, unsigned revents);
void ax__watch_sweep(ax_loop *loop);     /* frees stopped watchers */
int ax__watch_close_all(ax_loop *loop);
void ax__watch_released(ax_loop *loop, ax__io *io);

#endif
