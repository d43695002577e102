/* The loop: iteration, deferred calls, cross-thread posts, stop. */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/internal.h"
#include "loop/backend.h"
#include "loop/timer.h"

static const ax__backend *pick_backend(const char *name)
{
    if (!name || strcmp(name, "auto") == 0 || strcmp(name, "") == 0) {
        const char *env = getenv("AXON_BACKEND");
        if (env && *env && strcmp(env, "auto") != 0)
            name = env;
        else
            return &ax__epoll_backend;
    }
    if (strcmp(name, "epoll") == 0)
        return &ax__epoll_backend;
    if (strcmp(name, "poll") == 0)
        return &ax__poll_backend;
    return NULL;
}

ax_loop *ax_loop_new(const ax_loop_opts *opts)
{
    const char *want = opts ? opts->backend : NULL;
    const ax__backend *be = pick_backend(want);
    if (!be) {
        ax__err(AX_EINVAL, "unknown loop backend \"%s\" (want epoll or poll)",
                want && *want && strcmp(want, "auto") ? want : getenv("AXON_BACKEND"));
        return NULL;
    }
    ax_loop *loop = calloc(1, sizeof *loop);
    char *rbuf = malloc(AX__READ_BUF);
    if (!loop || !rbuf) {
        free(loop);
        free(rbuf);
        ax__err(AX_ENOMEM, "new loop: out of memory");
        return NULL;
    }
    loop->rbuf = rbuf;
    loop->be = be;
    loop->bfd = -1;
    loop->wake.fd = -1;
    loop->sigio.fd = -1;
    loop->sigio.kind = AX__IO_SIGNAL;
    sigemptyset(&loop->sigmask);
    pthread_mutex_init(&loop->post_mu, NULL);
    loop->now = (uint64_t)ax__now_ms();
    if (be->init(loop) < 0)
        goto fail;
    loop->wake.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wake.fd < 0) {
        ax__syserr(ax__errno(), "new loop: eventfd failed");
        goto fail;
    }
    loop->wake.kind = AX__IO_WAKE;
    if (ax__io_set(loop, &loop->wake, AX_READABLE) < 0)
        goto fail;
    return loop;
fail:
    if (loop->wake.fd >= 0)
        close(loop->wake.fd);
    if (loop->bfd >= 0 || loop->bdata)
        be->fini(loop);
    pthread_mutex_destroy(&loop->post_mu);
    free(loop->rbuf);
    free(loop);
    return NULL;
}

const char *ax_loop_backend(const ax_loop *loop)
{
    return loop->be->name;
}

uint64_t ax_loop_now(const ax_loop *loop)
{
    return loop->now;
}

void ax_loop_update_time(ax_loop *loop)
{
    loop->now = (uint64_t)ax__now_ms();
}

int ax_loop_fd(const ax_loop *loop)
{
    if (loop->bfd < 0)
        return ax__err(AX_ENOTSUP, "the %s backend has no fd to embed; use epoll",
                       loop->be->name);
    return loop->bfd;
}

int ax_loop_alive(const ax_loop *loop)
{
    return loop->active > 0 || loop->defers.head != NULL ||
           atomic_load_explicit(&loop->posted, memory_order_acquire) > 0;
}

static void wake(ax_loop *loop)
{
    uint64_t one = 1;
    /* A full eventfd counter (EAGAIN) still wakes the loop. */
    if (write(loop->wake.fd, &one, sizeof one) < 0) {
    }
}

void ax_loop_stop(ax_loop *loop)
{
    atomic_store(&loop->stop, 1);
    wake(loop);
}

/* ------------------------------------------------------------- calls */

static ax__call *new_call(ax_loop *loop, void (*fn)(void *), void *arg)
{
    ax__call *c = loop->spare;
    if (c)
        loop->spare = c->next;
    else if (!(c = malloc(sizeof *c)))
        return NULL;
    c->next = NULL;
    c->fn = fn;
    c->arg = arg;
    return c;
}

static void push(ax__callq *q, ax__call *c)
{
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
}

int ax__defer(ax_loop *loop, void (*fn)(void *), void *arg)
{
    ax__call *c = new_call(loop, fn, arg);
    if (!c)
        return ax__err(AX_ENOMEM, "defer: out of memory");
    push(&loop->defers, c);
    return 0;
}

int ax_loop_defer(ax_loop *loop, void (*fn)(void *), void *arg)
{
    if (!loop || !fn)
        return ax__err(AX_EINVAL, "defer: loop or fn is NULL");
    return ax__defer(loop, fn, arg);
}

/* Runs the calls queued before this pass; ones they queue wait for the
 * next iteration, so a call that re-defers itself cannot starve I/O. */
static void run_defers(ax_loop *loop)
{
    ax__call *c = loop->defers.head;
    loop->defers.head = loop->defers.tail = NULL;
    while (c) {
        ax__call *next = c->next;
        c->fn(c->arg);
        c->next = loop->spare;
        loop->spare = c;
        c = next;
    }
}

int ax_loop_post(ax_loop *loop, void (*fn)(void *), void *arg)
{
    if (!loop || !fn)
        return ax__err(AX_EINVAL, "post: loop or fn is NULL");
    /* Not from the spare list: that belongs to the loop's thread. */
    ax__call *c = malloc(sizeof *c);
    if (!c)
        return ax__err(AX_ENOMEM, "post: out of memory");
    c->next = NULL;
    c->fn = fn;
    c->arg = arg;
    pthread_mutex_lock(&loop->post_mu);
    push(&loop->posts, c);
    atomic_fetch_add(&loop->posted, 1);
    pthread_mutex_unlock(&loop->post_mu);
    wake(loop);
    return 0;
}

static int posts_waiting(ax_loop *loop)
{
    return atomic_load_explicit(&loop->posted, memory_order_acquire) > 0;
}

static void run_posts(ax_loop *loop)
{
    uint64_t n;
    if (read(loop->wake.fd, &n, sizeof n) < 0) {
    }
    pthread_mutex_lock(&loop->post_mu);
    ax__call *c = loop->posts.head;
    loop->posts.head = loop->posts.tail = NULL;
    pthread_mutex_unlock(&loop->post_mu);
    while (c) {
        ax__call *next = c->next;
        c->fn(c->arg);
        atomic_fetch_sub(&loop->posted, 1);
        free(c);
        c = next;
    }
}

/* --------------------------------------------------------- iteration */

int ax__io_set(ax_loop *loop, ax__io *io, unsigned events)
{
    if (io->always) {
        io->events = (uint8_t)events;
        return 0;
    }
    int rc = loop->be->set(loop, io, events);
    if (rc != AX_EPERM)
        return rc;
    /* epoll cannot watch regular files (they are always ready); poll them
     * by hand every iteration instead. */
    if (loop->nalways == loop->capalways) {
        size_t cap = loop->capalways ? loop->capalways * 2 : 4;
        ax__io **a = realloc(loop->always, cap * sizeof *a);
        if (!a)
            return ax__err(AX_ENOMEM, "watch fd %d: out of memory", io->fd);
        loop->always = a;
        loop->capalways = cap;
    }
    loop->always[loop->nalways++] = io;
    io->always = 1;
    io->events = (uint8_t)events;
    ax_clear_error();
    return 0;
}

void ax__io_forget(ax_loop *loop, ax__io *io)
{
    if (io->always) {
        for (size_t i = 0; i < loop->nalways; i++) {
            if (loop->always[i] == io) {
                loop->always[i] = loop->always[--loop->nalways];
                break;
            }
        }
        io->always = 0;
    } else if (io->in_kernel) {
        loop->be->forget(loop, io);
    }
    io->events = 0;
}

void ax__io_ready(ax_loop *loop, ax__io *io, unsigned revents)
{
    if (io->fd < 0)
        return; /* closed earlier in this batch; freed after it */
    switch (io->kind) {
    case AX__IO_CONN:
    case AX__IO_CONN_OUT:
        ax__conn_io(loop, io, revents);
        break;
    case AX__IO_SERVER:
        ax__server_io(loop, io, revents);
        break;
    case AX__IO_CONNECT:
        ax__connect_io(loop, io, revents);
        break;
    case AX__IO_WATCH:
        ax__watch_io(loop, io, revents);
        break;
    case AX__IO_WAKE:
        run_posts(loop);
        break;
    case AX__IO_SIGNAL:
        ax__signal_io(loop);
        break;
    default:
        break;
    }
}

/* An always-ready io (a regular file on epoll) only counts as pending work
 * while it asks for events: a paused one must not make the loop spin. */
static int always_pending(const ax_loop *loop)
{
    for (size_t i = 0; i < loop->nalways; i++)
        if (loop->always[i]->events)
            return 1;
    return 0;
}

static int wait_timeout(ax_loop *loop, int timeout_ms)
{
    if (loop->defers.head || always_pending(loop) || atomic_load(&loop->stop))
        return 0;
    int t = ax_loop_timeout(loop);
    if (timeout_ms < 0)
        return t;
    return t >= 0 && t < timeout_ms ? t : timeout_ms;
}

int ax_loop_timeout(const ax_loop *loop)
{
    if (loop->defers.head || always_pending(loop))
        return 0;
    int t = ax__timer_next(loop);
    if (loop->next_sweep) {
        int64_t s = (int64_t)loop->next_sweep - (int64_t)loop->now;
        int st = s > 0 ? (int)(s > 86400000 ? 86400000 : s) : 0;
        if (t < 0 || st < t)
            t = st;
    }
    return t;
}

static void poll_always(ax_loop *loop)
{
    /* Iterate by index from the end: a callback may forget itself. */
    for (size_t i = loop->nalways; i-- > 0;) {
        if (i >= loop->nalways)
            continue;
        ax__io *io = loop->always[i];
        if (io->events)
            ax__io_ready(loop, io, io->events);
    }
}

int ax_loop_run_once(ax_loop *loop, int timeout_ms)
{
    /* The backend refreshes loop->now when its wait returns (before any
     * callback), so there is no clock read here. */
    loop->depth++;
    int rc = loop->be->wait(loop, wait_timeout(loop, timeout_ms));
    if (rc >= 0) {
        if (loop->nalways)
            poll_always(loop);
        ax__timer_run(loop);
        if (loop->next_sweep && loop->now >= loop->next_sweep)
            ax__net_sweep(loop);
        run_defers(loop);
    }
    loop->depth--;
    return rc < 0 ? rc : ax_loop_alive(loop);
}

int ax_loop_run(ax_loop *loop)
{
    /* The stop flag is cleared when run returns, not when it starts: a
     * thread cannot tell whether the loop has entered run yet, and a stop
     * it sends just before must not be lost (the loop would sleep on). */
    loop->now = (uint64_t)ax__now_ms();
    while (ax_loop_alive(loop) && !atomic_load(&loop->stop)) {
        int rc = ax_loop_run_once(loop, -1);
        if (rc < 0)
            return rc;
    }
    atomic_store(&loop->stop, 0);
    return 0;
}

void ax_loop_free(ax_loop *loop)
{
    if (!loop)
        return;
    /* Rounds until nothing is left: close the network handles and run
     * what that queued (on_close callbacks run while timers, signals and
     * watchers still exist, since an owner typically stops its
     * per-connection handles there), then the rest of the handles, then
     * every queued call -- which may open, post or defer more, hence the
     * rounds. A call that re-posts itself for ever keeps this going for
     * ever, as it would keep ax_loop_run() going. */
    for (;;) {
        do {
            ax__net_free_all(loop);
            while (loop->defers.head)
                run_defers(loop);
        } while (loop->servers || loop->nconns || loop->connects);
        ax__signal_free_all(loop);
        ax__watch_free_all(loop);
        ax__timer_free_all(loop);
        if (!loop->defers.head && !posts_waiting(loop))
            break;
        while (loop->defers.head)
            run_defers(loop);
        run_posts(loop);
    }
    while (loop->spare) {
        ax__call *n = loop->spare->next;
        free(loop->spare);
        loop->spare = n;
    }
    ax__io_forget(loop, &loop->wake);
    close(loop->wake.fd);
    loop->be->fini(loop);
    pthread_mutex_destroy(&loop->post_mu);
    free(loop->always);
    free(loop->conns);
    ax__conn_slabs_free(loop);
    free(loop->rbuf);
    free(loop);
}
