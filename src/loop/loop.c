/* The loop: backends, the kinds and layers registered by the layers above,
 * dispatch, iteration, deferred calls, cross-thread posts, stop, free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop/loop_impl.h"

#define ACCEPT_BATCH 64 /* accepts per readiness event: fairness to other fds */

/* ------------------------------------------------------- kinds, layers */

static void wake_ready(ax_loop *loop, ax__io *io, unsigned revents);
static void signal_ready(ax_loop *loop, ax__io *io, unsigned revents)
{
    (void)io, (void)revents;
    ax__signal_io(loop);
}

static const ax__kind watch_kind = {
    .name = "watch", .ready = ax__watch_io, .released = ax__watch_released};
static const ax__kind wake_kind = {.name = "wake", .ready = wake_ready};
static const ax__kind signal_kind = {.name = "signal", .ready = signal_ready};

const ax__kind *ax__kinds[AX__MAX_KINDS] = {
    [AX__KIND_WATCH] = &watch_kind,
    [AX__KIND_WAKE] = &wake_kind,
    [AX__KIND_SIGNAL] = &signal_kind,
};

static const ax__layer *layers[AX__MAX_LAYERS];
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;

/* Finds or adds p in table[first..n); the index, or AX_ENOSPC. */
static int registry_add(const void **table, int first, int n, const void *p)
{
    pthread_mutex_lock(&registry_mu);
    int id = AX_ENOSPC;
    for (int i = first; i < n; i++) {
        if (table[i] == p || !table[i]) {
            table[i] = p;
            id = i;
            break;
        }
    }
    pthread_mutex_unlock(&registry_mu);
    return id;
}

int ax__kind_register(const ax__kind *kind)
{
    int id = registry_add((const void **)ax__kinds, AX__KIND_FIRST_FREE, AX__MAX_KINDS, kind);
    if (id < 0)
        ax__err(id, "register kind \"%s\": the loop's table is full", kind->name);
    return id;
}

int ax__layer_register(const ax__layer *layer)
{
    int id = registry_add((const void **)layers, 0, AX__MAX_LAYERS, layer);
    if (id < 0)
        ax__err(id, "register layer \"%s\": the loop's table is full", layer->name);
    return id;
}

/* ------------------------------------------------------------ backends */

static const ax__backend *const backends[] = {&ax__uring_backend, &ax__epoll_backend,
                                                &ax__poll_backend};

static const ax__backend *find_backend(const char *name)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(name, backends[i]->name) == 0)
            return backends[i];
    return NULL;
}

/* The backend's state set up on loop, or an error with its message; a
 * failed init leaves nothing behind. */
static int start_backend(ax_loop *loop, const ax__backend *be)
{
    loop->be = be;
    loop->bfd = -1;
    loop->b = NULL;
    int rc = be->init(loop, &loop->opts);
    if (rc < 0) {
        be->fini(loop);
        loop->b = NULL;
        loop->bfd = -1;
    }
    return rc;
}

/* "auto" tries io_uring and falls back to epoll when the kernel (or a
 * seccomp filter, or kernel.io_uring_disabled) refuses it; a backend
 * named in opts or AXON_BACKEND must start or the loop is not made. */
static int pick_backend(ax_loop *loop, const char *want)
{
    const char *name = want;
    if (!name || !*name || strcmp(name, "auto") == 0) {
        const char *env = getenv("AXON_BACKEND");
        name = env && *env && strcmp(env, "auto") != 0 ? env : NULL;
    }
    if (name) {
        const ax__backend *be = find_backend(name);
        if (!be)
            return ax__err(AX_EINVAL, "unknown loop backend \"%s\" (want io_uring, epoll or poll)",
                           name);
        int rc = start_backend(loop, be);
        if (rc < 0) {
            char why[AX_ERROR_MAX];
            snprintf(why, sizeof why, "%s", ax_last_error()->message);
            ax__err(rc, "new loop: the %s backend cannot start: %s", name, why);
        }
        return rc;
    }
    if (start_backend(loop, &ax__uring_backend) == 0)
        return 0;
    snprintf(loop->fallback, sizeof loop->fallback, "%s", ax_last_error()->message);
    return start_backend(loop, &ax__epoll_backend);
}

ax_loop *ax_loop_new(const ax_loop_opts *opts)
{
    ax_loop *loop = calloc(1, sizeof *loop);
    char *rbuf = malloc(AX__READ_BUF);
    if (!loop || !rbuf) {
        free(loop);
        free(rbuf);
        ax__err(AX_ENOMEM, "new loop: out of memory");
        return NULL;
    }
    if (opts)
        loop->opts = *opts;
    const char *sends = getenv("AXON_URING_SENDS");
    if (sends && strcmp(sends, "submit") == 0)
        loop->opts.uring_submit_sends = true;
    else if (sends && strcmp(sends, "direct") == 0)
        loop->opts.uring_submit_sends = false;
    loop->rbuf = rbuf;
    loop->wake.fd = -1;
    loop->wake.kind = AX__KIND_WAKE;
    loop->sigio.fd = -1;
    loop->sigio.kind = AX__KIND_SIGNAL;
    sigemptyset(&loop->sigmask);
    pthread_mutex_init(&loop->post_mu, NULL);
    loop->head.now = (uint64_t)ax__now_ms();
    if (pick_backend(loop, opts ? opts->backend : NULL) < 0) {
        loop->be = NULL;
        goto fail;
    }
    loop->wake.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wake.fd < 0) {
        ax__syserr(ax__errno(), "new loop: eventfd failed");
        goto fail;
    }
    if (ax__io_set(loop, &loop->wake, AX_READABLE) < 0)
        goto fail;
    return loop;
fail:
    if (loop->wake.fd >= 0) {
        ax__io_forget(loop, &loop->wake);
        close(loop->wake.fd);
    }
    if (loop->be)
        loop->be->fini(loop);
    pthread_mutex_destroy(&loop->post_mu);
    free(loop->rbuf);
    free(loop);
    return NULL;
}

const char *ax_loop_backend(const ax_loop *loop)
{
    return loop->be->name;
}

const char *ax_loop_backend_note(const ax_loop *loop)
{
    return loop->fallback[0] ? loop->fallback : NULL;
}

uint64_t ax_loop_now(const ax_loop *loop)
{
    return loop->head.now;
}

void ax_loop_update_time(ax_loop *loop)
{
    loop->head.now = (uint64_t)ax__now_ms();
}

void ax__loop_woke(ax_loop *loop)
{
    loop->head.now = (uint64_t)ax__now_ms();
}

int ax_loop_fd(const ax_loop *loop)
{
    if (loop->bfd < 0)
        return ax__err(AX_ENOTSUP, "the %s backend has no fd to embed; use epoll",
                       loop->be->name);
    return loop->bfd;
}

char *ax__loop_rbuf(ax_loop *loop)
{
    return loop->rbuf;
}

/* Work that must run before the loop may sleep. */
static int work_pending(const ax_loop *loop)
{
    return loop->defers.head != NULL || loop->head.flush != 0;
}

/* ... or before an embedding host may sleep on ax_loop_fd(). */
static int submit_pending(const ax_loop *loop)
{
    return loop->be->unsubmitted && loop->be->unsubmitted(loop);
}

int ax_loop_alive(const ax_loop *loop)
{
    return loop->head.active > 0 || work_pending(loop) ||
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

static void wake_ready(ax_loop *loop, ax__io *io, unsigned revents)
{
    (void)io, (void)revents;
    run_posts(loop);
}

/* The layers' queued work (closed handles' callbacks and frees) and the
 * loop's own stopped watchers, after the callback stack unwound. */
static void run_closing(ax_loop *loop)
{
    while (loop->head.flush) {
        unsigned bits = loop->head.flush;
        loop->head.flush = 0;
        for (int i = 0; i < AX__MAX_LAYERS; i++)
            if ((bits & (1u << i)) && loop->head.layer[i])
                loop->head.layer[i]->flush(loop, loop->head.slot[i]);
    }
    if (loop->signals_dead)
        ax__signal_sweep(loop);
    if (loop->closed_watches)
        ax__watch_sweep(loop);
}

/* --------------------------------------------------------- dispatch */

int ax__io_set(ax_loop *loop, ax__io *io, unsigned want)
{
    int rc = loop->be->set(loop, io, want);
    if (rc == 0)
        io->want = (uint8_t)want;
    return rc;
}

int ax__loop_submits_sends(const ax_loop *loop)
{
    return loop->be->send != NULL && loop->opts.uring_submit_sends;
}

int ax__io_send(ax_loop *loop, ax__io *io, const void *buf, size_t len)
{
    if (!loop->be->send)
        return ax__err(AX_ENOTSUP, "the %s backend does not submit sends", loop->be->name);
    return loop->be->send(loop, io, buf, len);
}

int ax__io_forget(ax_loop *loop, ax__io *io)
{
    int owed = loop->be->forget(loop, io);
    io->want = 0;
    return owed;
}

/* The accept4() calls for an io that wants new fds on a readiness backend
 * (the rest of ax__io_ready is inline in loop_impl.h). */
void ax__io_accept_ready(ax_loop *loop, ax__io *io)
{
    const ax__kind *k = ax__kinds[io->kind];
    for (int i = 0; i < ACCEPT_BATCH && (io->want & AX__ACCEPT) && io->fd >= 0; i++) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            k->accepted(loop, io, -errno);
            return; /* that one's error; the rest wait for the next event */
        }
        k->accepted(loop, io, fd);
    }
}

void ax__io_accepted(ax_loop *loop, ax__io *io, int fd)
{
    if (io->fd >= 0)
        ax__kinds[io->kind]->accepted(loop, io, fd);
    else if (fd >= 0)
        close(fd); /* accepted as the server closed: nobody wants it */
}

void ax__io_polled(ax_loop *loop, ax__io *io, unsigned revents)
{
    if (io->fd >= 0)
        ax__kinds[io->kind]->ready(loop, io, revents);
}

void ax__io_released(ax_loop *loop, ax__io *io)
{
    const ax__kind *k = ax__kinds[io->kind];
    if (k->released)
        k->released(loop, io);
}

/* --------------------------------------------------------- iteration */

/* The backend has something to report without waiting (epoll's regular
 * files, always ready). */
static int backend_busy(const ax_loop *loop)
{
    return loop->be->busy && loop->be->busy(loop);
}

static int wait_timeout(ax_loop *loop, int timeout_ms)
{
    if (atomic_load(&loop->stop) || work_pending(loop) || backend_busy(loop))
        return 0;
    /* (Unsubmitted operations go in with this very wait.) */
    int t = ax__timer_next(loop);
    if (timeout_ms < 0)
        return t;
    return t >= 0 && t < timeout_ms ? t : timeout_ms;
}

int ax_loop_timeout(const ax_loop *loop)
{
    if (work_pending(loop) || backend_busy(loop) || submit_pending(loop))
        return 0;
    return ax__timer_next(loop);
}

int ax_loop_run_once(ax_loop *loop, int timeout_ms)
{
    /* The backend refreshes the clock when its wait returns (before any
     * callback), so there is no clock read here. */
    loop->depth++;
    int rc = loop->be->wait(loop, wait_timeout(loop, timeout_ms));
    if (rc >= 0) {
        ax__timer_run(loop);
        run_closing(loop);
        if (loop->defers.head) {
            run_defers(loop);
            run_closing(loop);
        }
        /* A non-blocking iteration is how an embedding host drives the
         * loop: hand over what the callbacks queued (re-armed polls), so
         * the host can sleep on ax_loop_fd() until it completes. The
         * blocking run submits it with its next wait instead. */
        if (timeout_ms == 0 && loop->be->submit && submit_pending(loop))
            loop->be->submit(loop);
    }
    loop->depth--;
    return rc < 0 ? rc : ax_loop_alive(loop);
}

int ax_loop_run(ax_loop *loop)
{
    /* The stop flag is cleared when run returns, not when it starts: a
     * thread cannot tell whether the loop has entered run yet, and a stop
     * it sends just before must not be lost (the loop would sleep on). */
    loop->head.now = (uint64_t)ax__now_ms();
    while (ax_loop_alive(loop) && !atomic_load(&loop->stop)) {
        int rc = ax_loop_run_once(loop, -1);
        if (rc < 0)
            return rc;
    }
    atomic_store(&loop->stop, 0);
    /* What the last callbacks asked of the kernel (a closed socket's
     * cancels, which let it really close) goes in now, not whenever the
     * loop next runs. */
    if (loop->be->submit && submit_pending(loop))
        loop->be->submit(loop);
    return 0;
}

/* ------------------------------------------------------------- free */

/* Closes the layers' handles and runs what that queued, until the layers
 * have nothing left: their close callbacks run while timers, signals and
 * watchers still exist, since an owner typically stops its per-connection
 * handles there. Returns 1 if anything was closed. */
static int close_layers(ax_loop *loop)
{
    int any = 0, more;
    do {
        more = 0;
        for (int i = 0; i < AX__MAX_LAYERS; i++)
            if (loop->head.layer[i])
                more |= loop->head.layer[i]->close_all(loop, loop->head.slot[i]);
        run_closing(loop);
        while (loop->defers.head) {
            run_defers(loop);
            run_closing(loop);
        }
        any |= more;
    } while (more);
    return any;
}

void ax_loop_free(ax_loop *loop)
{
    if (!loop)
        return;
    /* Rounds until nothing is left: the layers' handles, then the loop's
     * own, then every queued call -- which may open, post or defer more,
     * hence the rounds. A call that re-posts itself for ever keeps this
     * going for ever, as it would keep ax_loop_run() going. */
    for (;;) {
        int any = close_layers(loop);
        any |= ax__signal_close_all(loop);
        any |= ax__watch_close_all(loop);
        any |= loop->timers != NULL;
        ax__timer_free_all(loop);
        run_closing(loop);
        if (!any && !loop->defers.head && !posts_waiting(loop))
            break;
        while (loop->defers.head)
            run_defers(loop);
        run_posts(loop);
        run_closing(loop);
    }
    /* Memory the kernel may still write into or name goes only once it
     * has returned every completion (io_uring). */
    if (loop->be->drain)
        loop->be->drain(loop);
    run_closing(loop);
    for (int i = 0; i < AX__MAX_LAYERS; i++)
        if (loop->head.layer[i])
            loop->head.layer[i]->fini(loop, loop->head.slot[i]);
    while (loop->spare) {
        ax__call *n = loop->spare->next;
        free(loop->spare);
        loop->spare = n;
    }
    ax__io_forget(loop, &loop->wake);
    close(loop->wake.fd);
    loop->be->fini(loop);
    pthread_mutex_destroy(&loop->post_mu);
    free(loop->rbuf);
    free(loop);
}
