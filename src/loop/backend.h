/*
 * The loop's internals shared by src/loop and src/net: the I/O handle
 * embedded in every watched object, the backend interface, and the loop
 * structure itself.
 *
 * Backends. epoll and poll are readiness backends: the loop asks them to
 * watch an ax__io for AX_READABLE/AX_WRITABLE and they report readiness,
 * after which the owner (a connection, a server, a watcher) performs the
 * read, write or accept itself through its transport.
 *
 * How io_uring fits (a later release, without reshaping the layers above):
 * a completion backend sets `completion = 1` and implements the optional
 * submit hooks below. The connection layer already funnels every read
 * through ax__conn_on_readable() -> transport->read() and every write
 * through the write queue's flush; with a completion backend the backend
 * arms a multishot recv on a provided-buffer ring instead of reporting
 * readiness, and on completion hands the filled ring buffer to the same
 * ax__conn_deliver() that the readiness path calls with the loop's read
 * buffer (so "data is valid only during on_data" holds for both). Writes
 * become submitted sends whose completion advances the same write queue;
 * a server arms a multishot accept and gets fds in ax__server_accepted().
 * Timers map to the loop's own heap plus one IORING_OP_TIMEOUT for the
 * earliest. Nothing above src/loop reads readiness bits directly except
 * through these entry points, which is what keeps that change local.
 */
#ifndef AXON_LOOP_BACKEND_H
#define AXON_LOOP_BACKEND_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include <axon.h>

#include "core/internal.h"

/* What an ax__io belongs to; the loop dispatches on it, which saves a
 * function pointer in every connection. */
enum {
    AX__IO_CONN = 1,
    AX__IO_CONN_OUT, /* the write side of a connection with two fds */
    AX__IO_SERVER,
    AX__IO_WATCH,
    AX__IO_CONNECT,
    AX__IO_WAKE,
    AX__IO_SIGNAL
};

typedef struct ax__io {
    int fd;            /* -1 once closed: late events for it are dropped */
    uint8_t kind;      /* AX__IO_* */
    uint8_t events;    /* AX_READABLE | AX_WRITABLE asked of the backend */
    uint8_t in_kernel; /* registered with the backend */
    uint8_t always;    /* epoll refused it (regular file): always ready */
} ax__io;

typedef struct ax__backend {
    const char *name;
    int completion; /* 0 for readiness backends; see above */
    int (*init)(ax_loop *loop);
    void (*fini)(ax_loop *loop);
    /* Watch io for events (0 = stop watching). */
    int (*set)(ax_loop *loop, ax__io *io, unsigned events);
    /* Forget io before its fd is closed. */
    void (*forget)(ax_loop *loop, ax__io *io);
    /* Wait up to timeout_ms and call ax__io_ready() for each ready io. */
    int (*wait)(ax_loop *loop, int timeout_ms);
} ax__backend;

extern const ax__backend ax__epoll_backend;
extern const ax__backend ax__poll_backend;

typedef struct ax__call {
    struct ax__call *next;
    void (*fn)(void *arg);
    void *arg;
} ax__call;

typedef struct ax__callq {
    ax__call *head, *tail;
} ax__callq;

#define AX__READ_BUF (64 * 1024)

struct ax_loop {
    const ax__backend *be;
    int bfd;    /* epoll fd */
    void *bdata; /* poll backend state */
    uint64_t now;
    atomic_int stop;
    int depth;     /* > 0 while ax_loop_run_once() runs (its callbacks) */
    size_t active; /* referenced handles keeping ax_loop_run() going */

    ax_timer **heap;
    size_t nheap, capheap;
    uint64_t timer_seq;

    ax__callq defers;    /* ax_loop_defer() and deferred frees */
    ax__call *spare;     /* recycled call nodes */
    ax__callq posts;     /* from other threads, under post_mu */
    pthread_mutex_t post_mu;
    atomic_int posted;   /* posts waiting: keeps the loop alive */
    ax__io wake;         /* eventfd for posts and stop */

    ax__io sigio;        /* signalfd, -1 until the first watcher */
    sigset_t sigmask;    /* signals the signalfd carries */
    ax_signal *signals;
    ax_watch *watches, *dead_watches;

    ax__io **always;     /* ios epoll refused, polled every iteration */
    size_t nalways, capalways;

    char *rbuf;          /* the shared read buffer, AX__READ_BUF bytes */

    ax_conn **conns;     /* every open connection, for sweeps and ax_loop_free */
    void *conn_free;     /* free connection slots (src/net/conn.c) */
    void *conn_slabs;    /* the slabs they live in */
    size_t nconns, capconns;
    ax_server *servers;  /* open servers, linked */
    ax_connect_req *connects; /* pending ax_connect() requests */
    uint64_t next_sweep; /* idle sweep due time, 0 if none */
};

/* Kernel readiness bits (poll's and epoll's are the same values, and so
 * are AX_*) to what the owner is told: a hang-up, error or invalid fd also
 * makes the fd readable (and an error writable) so the owner's next call
 * meets the condition. */
static inline unsigned ax__revents(uint32_t e)
{
    const uint32_t rdhup = 0x2000, nval = 0x20; /* POLLRDHUP/EPOLLRDHUP, POLLNVAL */
    unsigned r = e & (AX_READABLE | AX_WRITABLE | AX_FDERROR | AX_HANGUP);
    if (e & (rdhup | AX_HANGUP | AX_FDERROR | nval))
        r |= AX_READABLE;
    if (e & (AX_FDERROR | nval))
        r |= AX_WRITABLE | AX_FDERROR;
    return r;
}

/* Called by backends for each ready io. */
void ax__io_ready(ax_loop *loop, ax__io *io, unsigned revents);

/* Every backend calls this as soon as its wait returns, before it reports
 * any io: callbacks then see the time the loop woke, not the time it went
 * to sleep, so a timer or timeout they start is not shortened by however
 * long the loop slept. */
static inline void ax__loop_woke(ax_loop *loop)
{
    loop->now = (uint64_t)ax__now_ms();
}

/* Registers / updates / forgets io with the backend, keeping the
 * always-ready list for fds epoll cannot watch. */
int ax__io_set(ax_loop *loop, ax__io *io, unsigned events);
void ax__io_forget(ax_loop *loop, ax__io *io);

/* Deferred work; also used to free closed handles after the callback
 * stack unwinds. Returns 0 or AX_ENOMEM. */
int ax__defer(ax_loop *loop, void (*fn)(void *), void *arg);

/* Adds / removes a reference that keeps ax_loop_run() going. */
static inline void ax__ref(ax_loop *loop)
{
    loop->active++;
}
static inline void ax__unref(ax_loop *loop)
{
    loop->active--;
}

/* Entry points into src/net for the loop's dispatch. */
void ax__conn_io(ax_loop *loop, ax__io *io, unsigned revents);
void ax__server_io(ax_loop *loop, ax__io *io, unsigned revents);
void ax__connect_io(ax_loop *loop, ax__io *io, unsigned revents);
void ax__watch_io(ax_loop *loop, ax__io *io, unsigned revents);
void ax__signal_io(ax_loop *loop);
/* Idle-timeout sweep and teardown hooks of src/net. */
void ax__net_sweep(ax_loop *loop);
void ax__net_free_all(ax_loop *loop);
void ax__conn_slabs_free(ax_loop *loop);

#endif
