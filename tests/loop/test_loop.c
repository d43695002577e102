/*
 * The event loop (src/loop/loop.c, timer.c, the backends): backend choice,
 * run/stop, timers, deferred calls, cross-thread posts, embedding through
 * ax_loop_fd(), the clock, and ax_loop_free() with calls queued during
 * teardown. It links without the network layer (tests/CMakeLists.txt): the
 * loop depends on nothing above it. ax_loop_free() with live network
 * handles is in tests/net/test_net.c.
 * Signals and fd watchers (src/loop/signal.c) are in test_signal.c.
 *
 * Loops that do not name a backend come from axt_new_loop(), so
 * AXON_BACKEND=poll runs the file on the poll backend (test_loop_poll).
 */
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "axt_loop.h"

static void nop(void *arg) { (void)arg; }

static void nop_timer(ax_timer *t, void *arg) { (void)t; (void)arg; }

/* A watcher on a pipe nothing writes to: keeps the loop alive, asleep. */
static void silent_cb(ax_watch *w, int fd, unsigned revents, void *arg)
{
    (void)w, (void)fd, (void)revents, (void)arg;
    axt_fail(__FILE__, __LINE__, "the silent pipe became ready");
}

typedef struct orderlog {
    int v[64], n;
} orderlog;

static void log_add(orderlog *l, int v) { CHECK(l->n < 64); l->v[l->n++] = v; }

/* ---------------------------------------------------------- backends */

static void check_backend(const char *opt, const char *env, const char *want)
{
    if (env)
        setenv("AXON_BACKEND", env, 1);
    else
        unsetenv("AXON_BACKEND");
    ax_loop_opts o = {.backend = opt};
    ax_loop *loop = ax_loop_new(&o);
    CHECK(loop != NULL);
    CHECK_STR(ax_loop_backend(loop), want);
    ax_loop_free(loop);
}

/* What "auto" gives here: io_uring where the kernel takes it (this
 * machine's does; a machine whose kernel refuses it gets epoll, with the
 * reason in ax_loop_backend_note). */
static const char *auto_backend(void)
{
    ax_loop_opts o = {.backend = "io_uring"};
    ax_loop *l = ax_loop_new(&o);
    if (!l)
        return "epoll";
    ax_loop_free(l);
    return "io_uring";
}

TEST(backend_names_and_env_override)
{
    unsetenv("AXON_BACKEND");
    const char *dflt = auto_backend();
    check_backend("io_uring", NULL, "io_uring");
    check_backend("epoll", NULL, "epoll");
    check_backend("poll", NULL, "poll");
    check_backend(NULL, NULL, dflt); /* the Linux default */
    check_backend("auto", NULL, dflt);
    check_backend(NULL, "poll", "poll"); /* AXON_BACKEND overrides "auto" */
    check_backend("auto", "poll", "poll");
    check_backend("", "poll", "poll");
    check_backend("epoll", "poll", "epoll"); /* an explicit name wins */
    check_backend("io_uring", "epoll", "io_uring");
    check_backend(NULL, "epoll", "epoll");
    check_backend(NULL, "io_uring", "io_uring");
    check_backend(NULL, "auto", dflt);
    unsetenv("AXON_BACKEND");
    ax_loop *loop = ax_loop_new(NULL); /* opts may be NULL */
    CHECK_STR(ax_loop_backend(loop), dflt);
    CHECK(ax_loop_backend_note(loop) == NULL); /* no fallback happened */
    ax_loop_free(loop);
}

/* Containers often forbid io_uring (Docker's seccomp profile answers
 * io_uring_setup with EPERM). With such a filter in place, "auto" falls
 * back to epoll and says why; a forced io_uring fails and names the reason
 * rather than falling back in silence. */
TEST(backend_falls_back_to_epoll_when_io_uring_is_refused)
{
    unsetenv("AXON_BACKEND");
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    CHECK_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    CHECK_EQ(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
    ax_loop *loop = ax_loop_new(NULL);
    CHECK(loop != NULL);
    CHECK_STR(ax_loop_backend(loop), "epoll");
    const char *note = ax_loop_backend_note(loop);
    CHECK(note != NULL);
    CHECK(strstr(note, "io_uring: setting up a ring failed: Operation not permitted (EPERM)"));
    /* The fallback works: a timer and a post. */
    int fired = 0;
    CHECK(ax_timer_start(loop, 1, 0, axt_set_flag, &fired) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK(fired);
    ax_loop_free(loop);
    ax_loop_opts o = {.backend = "io_uring"};
    CHECK(ax_loop_new(&o) == NULL);
    CHECK_EQ(ax_last_error()->code, AX_EPERM);
    CHECK_ERRMSG("new loop: the io_uring backend cannot start: io_uring: setting up a ring "
                 "failed: Operation not permitted (EPERM)");
    setenv("AXON_BACKEND", "io_uring", 1);
    CHECK(ax_loop_new(NULL) == NULL);
    CHECK_ERRMSG("the io_uring backend cannot start");
}

TEST(backend_unknown_name)
{
    unsetenv("AXON_BACKEND");
    ax_loop_opts o = {.backend = "kqueue"};
    CHECK(ax_loop_new(&o) == NULL);
    CHECK_EQ(ax_last_error()->code, AX_EINVAL);
    CHECK_ERRMSG("unknown loop backend \"kqueue\"");
    CHECK_ERRMSG("(EINVAL)");
    setenv("AXON_BACKEND", "select", 1);
    ax_clear_error();
    CHECK(ax_loop_new(NULL) == NULL);
    CHECK_EQ(ax_last_error()->code, AX_EINVAL);
    CHECK_ERRMSG("\"select\"");
}

TEST(run_returns_when_idle)
{
    ax_loop *loop = axt_new_loop();
    CHECK_EQ(ax_loop_alive(loop), 0);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(ax_loop_run_once(loop, 0), 0);
    int fired = 0;
    CHECK(ax_timer_start(loop, 20, 0, axt_set_flag, &fired) != NULL);
    CHECK_EQ(ax_loop_alive(loop), 1);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(fired, 1);
    CHECK_EQ(ax_loop_alive(loop), 0);
    ax_loop_free(loop);
    ax_loop_free(NULL);
}

/* ------------------------------------------------------------- timers */

typedef struct tl {
    orderlog *log;
    int id;
} tl;

static void log_timer(ax_timer *t, void *arg)
{
    (void)t;
    log_add(((tl *)arg)->log, ((tl *)arg)->id);
}

TEST(timer_order_by_due_then_start)
{
    ax_loop *loop = axt_new_loop();
    orderlog log = {0};
    tl a[8];
    const uint64_t due[8] = {30, 10, 10, 0, 10, 20, 0, 30};
    for (int i = 0; i < 8; i++) {
        a[i] = (tl){&log, i};
        CHECK(ax_timer_start(loop, due[i], 0, log_timer, &a[i]) != NULL);
    }
    /* A stopped timer never fires. */
    ax_timer_stop(ax_timer_start(loop, 5, 5, log_timer, &a[0]));
    CHECK_EQ(ax_loop_run(loop), 0);
    const int want[8] = {3, 6, 1, 2, 4, 5, 0, 7}; /* ties in start order */
    CHECK_EQ(log.n, 8);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(log.v[i], want[i]);
    CHECK(ax_timer_start(NULL, 1, 0, log_timer, NULL) == NULL);
    CHECK(ax_timer_start(loop, 1, 0, NULL, NULL) == NULL);
    ax_loop_free(loop);
}

typedef struct rep {
    ax_loop *loop;
    int count, stop_at;
    uint64_t at[8];
} rep;

/* Repeating: stops itself inside its own callback at stop_at. */
static void repeat_cb(ax_timer *t, void *arg)
{
    rep *r = arg;
    r->at[r->count++] = ax_loop_now(r->loop);
    if (r->count == r->stop_at)
        ax_timer_stop(t);
}

/* One-shot: restarted from its callback twice. */
static void again_cb(ax_timer *t, void *arg)
{
    rep *r = arg;
    r->at[r->count++] = ax_loop_now(r->loop);
    if (r->count < 3)
        ax_timer_again(t, 10, 0);
}

/* Repeating every 1 ms, slowed to 30 ms from its first callback. */
static void slow_down_cb(ax_timer *t, void *arg)
{
    repeat_cb(t, arg);
    if (((rep *)arg)->count == 1)
        ax_timer_again(t, 30, 30);
}

TEST(timer_repeat_stop_and_again_inside_callback)
{
    ax_loop *loop = axt_new_loop();
    rep r = {.loop = loop, .stop_at = 5};
    uint64_t t0 = ax_loop_now(loop);
    CHECK(ax_timer_start(loop, 10, 15, repeat_cb, &r) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0); /* returns once it stopped itself */
    CHECK_EQ(r.count, 5);
    CHECK(r.at[0] >= t0 + 10);
    for (int i = 1; i < 5; i++)
        CHECK(r.at[i] >= r.at[i - 1] + 15);

    rep a = {.loop = loop};
    CHECK(ax_timer_start(loop, 5, 0, again_cb, &a) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(a.count, 3);
    CHECK(a.at[1] >= a.at[0] + 10 && a.at[2] >= a.at[1] + 10);

    rep s = {.loop = loop, .stop_at = 3};
    CHECK(ax_timer_start(loop, 1, 1, slow_down_cb, &s) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(s.count, 3);
    CHECK(s.at[1] >= s.at[0] + 30 && s.at[2] >= s.at[1] + 30);
    ax_loop_free(loop);
}

typedef struct starve {
    int timer_runs, io_runs, timer_runs_at_io;
} starve;

static void starve_timer(ax_timer *t, void *arg)
{
    starve *s = arg;
    if (++s->timer_runs < 1000 && s->io_runs == 0)
        ax_timer_again(t, 0, 0); /* else a one-shot: freed by the loop */
}

static void starve_io(ax_watch *w, int fd, unsigned revents, void *arg)
{
    (void)revents;
    starve *s = arg;
    char c;
    CHECK_EQ(read(fd, &c, 1), 1);
    s->io_runs++;
    s->timer_runs_at_io = s->timer_runs;
    ax_watch_stop(w);
}

TEST(zero_timer_rearmed_does_not_starve_io)
{
    ax_loop *loop = axt_new_loop();
    int sv[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sv));
    starve s = {0};
    CHECK(ax_timer_start(loop, 0, 0, starve_timer, &s) != NULL);
    for (int i = 0; i < 5; i++)
        CHECK_OK(ax_loop_run_once(loop, 0));
    CHECK_EQ(s.timer_runs, 5); /* once per iteration, not in a tight loop */
    CHECK(ax_watch_fd(loop, sv[0], AX_READABLE, starve_io, &s) != NULL);
    CHECK_EQ(write(sv[1], "x", 1), 1);
    for (int i = 0; i < 2000 && ax_loop_alive(loop); i++)
        CHECK_OK(ax_loop_run_once(loop, 0));
    CHECK_EQ(s.io_runs, 1);
    CHECK(s.timer_runs_at_io - 5 <= 1); /* I/O came in the next iteration */
    CHECK(s.timer_runs < 1000);
    CHECK_EQ(ax_loop_alive(loop), 0);
    close(sv[0]);
    close(sv[1]);
    ax_loop_free(loop);
}

/* -------------------------------------------------------------- defer */

typedef struct dfr {
    ax_loop *loop;
    orderlog log;
    int redefers, io_runs, redefers_at_io;
} dfr;

static void defer_log9(void *arg) { log_add(&((dfr *)arg)->log, 9); }

static void defer_io(ax_watch *w, int fd, unsigned revents, void *arg)
{
    (void)revents;
    dfr *d = arg;
    char c;
    CHECK_EQ(read(fd, &c, 1), 1);
    if (d->log.n == 0)
        CHECK_OK(ax_loop_defer(d->loop, defer_log9, d)); /* queued by the first I/O */
    log_add(&d->log, c - '0');
    d->io_runs++;
    d->redefers_at_io = d->redefers;
    ax_watch_stop(w);
}

TEST(defer_runs_after_io)
{
    ax_loop *loop = axt_new_loop();
    dfr d = {.loop = loop};
    int a[2], b[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, a));
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, b));
    CHECK(ax_watch_fd(loop, a[0], AX_READABLE, defer_io, &d) != NULL);
    CHECK(ax_watch_fd(loop, b[0], AX_READABLE, defer_io, &d) != NULL);
    CHECK_EQ(write(a[1], "1", 1), 1);
    CHECK_EQ(write(b[1], "2", 1), 1);
    /* Both are ready in one iteration: the call deferred by whichever ran
     * first waits for the other. */
    CHECK_OK(ax_loop_run_once(loop, 1000));
    CHECK_EQ(d.log.n, 3);
    CHECK_EQ(d.log.v[0] + d.log.v[1], 3);
    CHECK_EQ(d.log.v[2], 9);
    CHECK_EQ(ax_loop_defer(NULL, nop, NULL), AX_EINVAL);
    CHECK_EQ(ax_loop_defer(loop, NULL, NULL), AX_EINVAL);
    for (int i = 0; i < 2; i++)
        close(a[i]), close(b[i]);
    ax_loop_free(loop);
}

static void redefer(void *arg)
{
    dfr *d = arg;
    if (++d->redefers < 1000 && d->io_runs == 0)
        CHECK_OK(ax_loop_defer(d->loop, redefer, d));
}

TEST(defer_redeferring_itself_does_not_starve)
{
    ax_loop *loop = axt_new_loop();
    dfr d = {.loop = loop};
    int sv[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sv));
    CHECK_OK(ax_loop_defer(loop, redefer, &d));
    CHECK_EQ(ax_loop_alive(loop), 1); /* a pending call keeps it alive */
    CHECK_EQ(ax_loop_timeout(loop), 0);
    for (int i = 0; i < 3; i++)
        CHECK_OK(ax_loop_run_once(loop, 0));
    CHECK_EQ(d.redefers, 3); /* once per iteration */
    CHECK(ax_watch_fd(loop, sv[0], AX_READABLE, defer_io, &d) != NULL);
    CHECK_EQ(write(sv[1], "1", 1), 1);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(d.io_runs, 1);
    CHECK(d.redefers_at_io <= 4);
    close(sv[0]);
    close(sv[1]);
    ax_loop_free(loop);
}

/* --------------------------------------------------------- threads */

enum { NPOSTS = 2000 };

static struct {
    ax_loop *loop;
    atomic_int running; /* set on the loop thread once it is inside run */
    pthread_t loop_tid;
    int got[NPOSTS + 1], ngot, wrong_thread;
    ax_watch *keep; /* stopped by the last post */
    double t0, woke_at;
} P;

static void post_cb(void *arg)
{
    int i = (int)(intptr_t)arg;
    P.wrong_thread += !pthread_equal(pthread_self(), P.loop_tid);
    if (P.ngot == 0)
        P.woke_at = axt_now_ms();
    if (P.ngot <= NPOSTS)
        P.got[P.ngot++] = i;
    if (i == NPOSTS - 1 && P.keep)
        ax_watch_stop(P.keep);
}

static void mark_running(ax_timer *t, void *arg) { (void)t; atomic_store((atomic_int *)arg, 1); }

static void *post_thread(void *arg)
{
    int n = (int)(intptr_t)arg;
    while (n == NPOSTS && !atomic_load(&P.running))
        usleep(1000);
    if (n == NPOSTS)
        usleep(50000); /* the loop is surely asleep by now */
    for (int i = 0; i < n; i++)
        if (ax_loop_post(P.loop, post_cb, (void *)(intptr_t)i) != 0)
            abort();
    return NULL;
}

static void start_loop_thread_test(int fds[2])
{
    P.loop = axt_new_loop();
    P.loop_tid = pthread_self();
    CHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
    P.keep = ax_watch_fd(P.loop, fds[0], AX_READABLE, silent_cb, NULL);
    CHECK(P.keep != NULL);
    CHECK(ax_timer_start(P.loop, 0, 0, mark_running, &P.running) != NULL);
}

TEST(post_from_thread_wakes_loop_in_order)
{
    int p[2];
    start_loop_thread_test(p); /* nothing but a silent watcher: no timeout */
    pthread_t tid;
    CHECK_EQ(pthread_create(&tid, NULL, post_thread, (void *)(intptr_t)NPOSTS), 0);
    double t0 = axt_now_ms();
    CHECK_EQ(ax_loop_run(P.loop), 0);
    CHECK_EQ(pthread_join(tid, NULL), 0);
    CHECK_EQ(P.ngot, NPOSTS);
    for (int i = 0; i < NPOSTS; i++)
        CHECK_EQ(P.got[i], i);
    CHECK_EQ(P.wrong_thread, 0);
    CHECK(P.woke_at - t0 >= 40);
    CHECK_EQ(ax_loop_post(NULL, post_cb, NULL), AX_EINVAL);
    CHECK_EQ(ax_loop_post(P.loop, NULL, NULL), AX_EINVAL);
    close(p[0]);
    close(p[1]);
    ax_loop_free(P.loop);
}

TEST(post_before_run_keeps_loop_alive_and_free_runs_rest)
{
    P.loop = axt_new_loop();
    P.loop_tid = pthread_self();
    pthread_t tid;
    CHECK_EQ(pthread_create(&tid, NULL, post_thread, (void *)(intptr_t)10), 0);
    CHECK_EQ(pthread_join(tid, NULL), 0);
    CHECK_EQ(ax_loop_alive(P.loop), 1);
    CHECK_EQ(ax_loop_run(P.loop), 0);
    CHECK_EQ(P.ngot, 10);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(P.got[i], i);
    CHECK_EQ(ax_loop_post(P.loop, post_cb, (void *)(intptr_t)10), 0);
    ax_loop_free(P.loop); /* runs it rather than leaking it */
    CHECK_EQ(P.ngot, 11);
}

static void *stop_thread(void *arg)
{
    while (arg && !atomic_load(&P.running))
        usleep(1000);
    if (arg)
        usleep(50000);
    ax_loop_stop(P.loop);
    return NULL;
}

TEST(stop_from_thread)
{
    int p[2];
    start_loop_thread_test(p);
    pthread_t tid;
    CHECK_EQ(pthread_create(&tid, NULL, stop_thread, &P), 0);
    double t0 = axt_now_ms();
    CHECK_EQ(ax_loop_run(P.loop), 0);
    CHECK(axt_now_ms() - t0 >= 40);
    CHECK_EQ(pthread_join(tid, NULL), 0);
    CHECK_EQ(ax_loop_alive(P.loop), 1); /* stopped, not out of work */
    /* The stop was consumed: the next run goes on until the work ends. */
    int fired = 0;
    CHECK(ax_timer_start(P.loop, 30, 0, axt_set_flag, &fired) != NULL);
    ax_watch_stop(P.keep);
    CHECK_EQ(ax_loop_run(P.loop), 0);
    CHECK_EQ(fired, 1);

    /* A thread cannot know whether the loop is inside ax_loop_run() yet:
     * a stop that comes just before must not be lost (the loop would then
     * sleep forever; the test's alarm catches that). */
    P.keep = ax_watch_fd(P.loop, p[0], AX_READABLE, silent_cb, NULL);
    CHECK_EQ(pthread_create(&tid, NULL, stop_thread, NULL), 0);
    CHECK_EQ(pthread_join(tid, NULL), 0);
    CHECK_EQ(ax_loop_run(P.loop), 0);
    ax_watch_stop(P.keep);
    close(p[0]);
    close(p[1]);
    ax_loop_free(P.loop);
}

static void stop_in_timer(ax_timer *t, void *arg) { (void)t; ax_loop_stop(arg); }

TEST(stop_from_callback)
{
    ax_loop *loop = axt_new_loop();
    int late = 0;
    CHECK(ax_timer_start(loop, 10, 0, stop_in_timer, loop) != NULL);
    ax_timer *t = ax_timer_start(loop, 5000, 0, axt_set_flag, &late);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(late, 0);
    ax_timer_stop(t);
    ax_loop_free(loop);
}

/* ---------------------------------------------------------- embedding */

static void count_io(ax_watch *w, int fd, unsigned revents, void *arg)
{
    (void)w, (void)revents;
    char c;
    CHECK_EQ(read(fd, &c, 1), 1);
    ++*(int *)arg;
}

static void count_post(void *arg) { ++*(int *)arg; }

static void *embed_thread(void *arg)
{
    usleep(20000);
    if (ax_loop_post(P.loop, count_post, arg) != 0)
        abort();
    return NULL;
}

/* A host program's plain poll() on the loop's fd. */
static int host_poll(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
    }
    CHECK(r >= 0);
    return r;
}

TEST(embed_loop_fd_in_host_poll)
{
    ax_loop *loop = P.loop = axt_new_loop();
    if (axt_is_poll(loop)) {
        CHECK_EQ(ax_loop_fd(loop), AX_ENOTSUP);
        CHECK_ERRMSG("poll");
        ax_loop_free(loop);
        return;
    }
    int lfd = CHECK_OK(ax_loop_fd(loop));
    int sv[2], io = 0, posts = 0, fired = 0;
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sv));
    ax_watch *w = ax_watch_fd(loop, sv[0], AX_READABLE, count_io, &io);
    /* io_uring has the watch to submit first: the host is told to run
     * once now rather than sleep on the fd. */
    if (ax_loop_timeout(loop) == 0)
        CHECK_OK(ax_loop_run_once(loop, 0));
    CHECK_EQ(ax_loop_timeout(loop), -1);
    CHECK_EQ(host_poll(lfd, 0), 0); /* nothing to do yet */
    CHECK_EQ(write(sv[1], "x", 1), 1); /* I/O */
    CHECK_EQ(host_poll(lfd, 5000), 1);
    CHECK_EQ(ax_loop_run_once(loop, 0), 1);
    CHECK_EQ(io, 1);
    CHECK_EQ(host_poll(lfd, 0), 0);
    pthread_t tid; /* a post from another thread */
    CHECK_EQ(pthread_create(&tid, NULL, embed_thread, &posts), 0);
    CHECK_EQ(host_poll(lfd, 5000), 1);
    CHECK_EQ(pthread_join(tid, NULL), 0);
    CHECK_EQ(ax_loop_run_once(loop, 0), 1);
    CHECK_EQ(posts, 1);
    /* A timer: the host sleeps for ax_loop_timeout(), then runs once. */
    CHECK(ax_timer_start(loop, 30, 0, axt_set_flag, &fired) != NULL);
    int t = ax_loop_timeout(loop);
    CHECK(t > 0 && t <= 30);
    double t0 = axt_now_ms();
    for (int i = 0; i < 20 && !fired; i++) {
        host_poll(lfd, ax_loop_timeout(loop));
        CHECK_OK(ax_loop_run_once(loop, 0));
    }
    CHECK_EQ(fired, 1);
    CHECK(axt_now_ms() - t0 >= 25);
    ax_watch_stop(w);
    CHECK_EQ(ax_loop_run_once(loop, 0), 0);
    close(sv[0]);
    close(sv[1]);
    ax_loop_free(loop);
}

/* ------------------------------------------------------- time, timeout */

TEST(timeout_values)
{
    ax_loop *loop = axt_new_loop();
    CHECK_OK(ax_loop_run_once(loop, 0)); /* io_uring: submits its wake-up poll */
    CHECK_EQ(ax_loop_timeout(loop), -1);
    ax_timer *t = ax_timer_start(loop, 500, 0, nop_timer, NULL);
    int v = ax_loop_timeout(loop);
    CHECK(v > 400 && v <= 500);
    ax_timer *u = ax_timer_start(loop, 100, 0, nop_timer, NULL);
    v = ax_loop_timeout(loop);
    CHECK(v > 50 && v <= 100);
    ax_timer_set_ref(u, 0); /* unreferenced timers still bound the sleep */
    CHECK(ax_loop_timeout(loop) <= 100);
    CHECK_OK(ax_loop_defer(loop, nop, NULL));
    CHECK_EQ(ax_loop_timeout(loop), 0);
    CHECK_OK(ax_loop_run_once(loop, 0));
    CHECK(ax_loop_timeout(loop) > 0);
    ax_timer_stop(t);
    ax_timer_stop(u);
    ax_timer *far = ax_timer_start(loop, UINT64_C(1) << 40, 0, nop_timer, NULL);
    CHECK(ax_loop_timeout(loop) > 0); /* capped, never negative */
    ax_timer_stop(far);
    ax_timer *due = ax_timer_start(loop, 0, 0, nop_timer, NULL);
    CHECK_EQ(ax_loop_timeout(loop), 0);
    ax_timer_stop(due);
    CHECK_EQ(ax_loop_timeout(loop), -1);
    ax_loop_free(loop);
}

TEST(now_is_monotonic_and_cached)
{
    ax_loop *loop = axt_new_loop();
    uint64_t a = ax_loop_now(loop);
    usleep(20000);
    CHECK_EQ(ax_loop_now(loop), a); /* cached */
    ax_loop_update_time(loop);
    uint64_t b = ax_loop_now(loop);
    CHECK(b >= a + 15);
    rep r = {.loop = loop, .stop_at = 5};
    CHECK(ax_timer_start(loop, 5, 5, repeat_cb, &r) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK(r.at[0] >= b + 5);
    for (int i = 1; i < 5; i++)
        CHECK(r.at[i] >= r.at[i - 1] + 5);
    ax_loop_free(loop);
}

/* ------------------------------------------------------------- clock */

/* A writer thread: sleeps, then writes one byte to the pipe. */
typedef struct late_write {
    int fd, after_ms;
} late_write;

static void *late_writer(void *arg)
{
    late_write *w = arg;
    usleep((useconds_t)w->after_ms * 1000);
    CHECK_EQ(write(w->fd, "x", 1), 1);
    return NULL;
}

static struct {
    ax_loop *loop;
    double started, fired;
} CLK;

static void clk_fired(ax_timer *t, void *arg)
{
    (void)t, (void)arg;
    CLK.fired = axt_now_ms();
}

static void clk_readable(ax_watch *w, int fd, unsigned revents, void *arg)
{
    (void)revents, (void)arg;
    char c;
    CHECK_EQ(read(fd, &c, 1), 1);
    ax_watch_stop(w);
    /* Started from an I/O callback after the loop slept for a while. */
    CLK.started = axt_now_ms();
    CHECK(ax_timer_start(CLK.loop, 200, 0, clk_fired, NULL) != NULL);
}

/* The backend refreshes the clock when its wait returns, before the I/O
 * callbacks run: a timer they start is not shortened by the sleep. */
TEST(timer_started_from_io_after_sleep_waits_full_delay)
{
    CLK.loop = axt_new_loop();
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    CHECK(ax_watch_fd(CLK.loop, p[0], AX_READABLE, clk_readable, NULL) != NULL);
    late_write w = {.fd = p[1], .after_ms = 400};
    pthread_t tid;
    CHECK_EQ(pthread_create(&tid, NULL, late_writer, &w), 0);
    CHECK_EQ(ax_loop_run(CLK.loop), 0);
    CHECK_EQ(pthread_join(tid, NULL), 0);
    CHECK(CLK.fired > 0);
    /* A loose lower bound only: never early (it fired at once before). */
    CHECK(CLK.fired - CLK.started >= 190);
    close(p[0]);
    close(p[1]);
    ax_loop_free(CLK.loop);
}

/* A timer started before ax_loop_run(), after the program did other work
 * since ax_loop_new(), still waits its full delay from the start call. */
TEST(timer_started_before_run_after_a_delay_waits_full_delay)
{
    ax_loop *loop = axt_new_loop();
    usleep(300000);
    double started = axt_now_ms();
    int fired = 0;
    CHECK(ax_timer_start(loop, 200, 0, axt_set_flag, &fired) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK(fired);
    CHECK(axt_now_ms() - started >= 190);
    ax_loop_free(loop);
}

static int huge_fires;

static void huge_cb(ax_timer *t, void *arg)
{
    (void)t, (void)arg;
    huge_fires++;
}

/* Delays too long to represent saturate: they never fire (rather than
 * wrap round to fire at once), and such a repeat fires once. */
TEST(huge_timer_values_saturate)
{
    ax_loop *loop = axt_new_loop();
    ax_timer *a = ax_timer_start(loop, UINT64_MAX, 0, huge_cb, NULL);
    ax_timer *b = ax_timer_start(loop, (uint64_t)(int64_t)-1000, 0, huge_cb, NULL);
    ax_timer *c = ax_timer_start(loop, UINT64_MAX - 1, UINT64_MAX, huge_cb, NULL);
    ax_timer *d = ax_timer_start(loop, 0, UINT64_MAX, huge_cb, NULL);
    CHECK(a && b && c && d);
    CHECK_EQ(ax_loop_timeout(loop), 0); /* d is due */
    axt_run_for(loop, 300);
    CHECK_EQ(huge_fires, 1); /* d once, then never again */
    int t = ax_loop_timeout(loop);
    CHECK(t > 1000); /* nothing due soon: no busy loop */
    ax_timer_again(a, UINT64_MAX, UINT64_MAX);
    axt_run_for(loop, 50);
    CHECK_EQ(huge_fires, 1);
    ax_timer_stop(a);
    ax_timer_stop(b);
    ax_timer_stop(c);
    ax_timer_stop(d);
    CHECK_EQ(ax_loop_run(loop), 0);
    ax_loop_free(loop);
}

/* -------------------------------------------------------- teardown */

static struct {
    ax_loop *loop;
    int posted, deferred, timers;
} TD;

static void td_timer(ax_timer *t, void *arg) { (void)t, (void)arg; }

static void td_defer(void *arg)
{
    (void)arg;
    TD.deferred++;
}

/* A posted call that posts and defers again, three levels deep, and
 * starts a timer: all of it runs (or is freed) inside ax_loop_free. */
static void td_post(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    TD.posted++;
    CHECK_OK(ax_loop_defer(TD.loop, td_defer, NULL));
    if (ax_timer_start(TD.loop, 60000, 0, td_timer, NULL))
        TD.timers++;
    if (depth < 3)
        CHECK_OK(ax_loop_post(TD.loop, td_post, (void *)(depth + 1)));
}

TEST(free_runs_calls_queued_during_teardown)
{
    TD.loop = axt_new_loop();
    CHECK_OK(ax_loop_post(TD.loop, td_post, (void *)(intptr_t)0));
    ax_loop_free(TD.loop); /* LeakSanitizer and valgrind check the rest */
    CHECK_EQ(TD.posted, 4);
    CHECK_EQ(TD.deferred, 4);
    CHECK_EQ(TD.timers, 4);
}
