/*
 * The net layer on a loop (src/net/net.c): ax_loop_free() with live handles
 * of every kind -- servers, accepted and connecting connections, a
 * connection with bytes queued, pending connects -- beside the loop's own
 * timers, watchers and signals; every close callback runs exactly once,
 * while the handles an owner stops there are still valid.
 *
 * Loops come from axt_new_loop(), so AXON_BACKEND runs the file on each
 * backend.
 */
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "axt_loop.h"

static void nop(void *arg) { (void)arg; }

static void nop_timer(ax_timer *t, void *arg) { (void)t; (void)arg; }

static void nop_watch(ax_watch *w, int fd, unsigned revents, void *arg)
{
    (void)w, (void)fd, (void)revents, (void)arg;
}

/* ------------------------------------------------------------ free all */

static struct {
    int conn_closes, server_conns, client_conns;
    ax_timer *timer;   /* the owner's per-connection handles, */
    ax_signal *signal; /* stopped from on_close during ax_loop_free */
    ax_watch *watch;
} L;

static void live_close(ax_conn *c, void *arg)
{
    (void)c, (void)arg;
    L.conn_closes++;
    if (L.timer)
        ax_timer_stop(L.timer);
    if (L.signal)
        ax_signal_stop(L.signal);
    if (L.watch)
        ax_watch_stop(L.watch);
    L.timer = NULL, L.signal = NULL, L.watch = NULL;
}

static const ax_conn_events live_ev = {.on_close = live_close};

static void live_accept(ax_server *s, ax_conn *c, void *arg)
{
    (void)s, (void)arg;
    L.server_conns++;
    ax_conn_set_events(c, &live_ev, NULL);
}

static void live_connected(ax_conn *c, const ax_error *err, void *arg)
{
    CHECK(err == NULL && arg == NULL);
    L.client_conns++;
    ax_conn_set_events(c, &live_ev, NULL);
}

static void nop_signal(ax_signal *s, int signo, void *arg) { (void)s, (void)signo, (void)arg; }

static int cancelled_connects;

/* ax_loop_free cancels a pending connect: its callback runs once, with
 * ECANCELED, so the owner of arg can free it. */
static void cancelled_connected(ax_conn *c, const ax_error *err, void *arg)
{
    CHECK(c == NULL && err != NULL);
    CHECK_EQ(err->code, AX_ECANCELED);
    free(arg);
    cancelled_connects++;
}

TEST(free_with_live_handles_of_every_kind)
{
    int fds_before = axt_count_fds();
    ax_loop *loop = axt_new_loop();
    ax_server_opts so = {.on_connection = live_accept};
    ax_server *srv;
    CHECK_OK(ax_server_listen(loop, "tcp://127.0.0.1:0", &so, &srv));
    CHECK(ax_connect(loop, ax_server_address(srv), NULL, live_connected, NULL) != NULL);
    AXT_RUN_UNTIL(loop, L.server_conns == 1 && L.client_conns == 1, 3000);
    int sv[2]; /* a connection on a socket pair, bytes queued */
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sv));
    ax_conn *c;
    CHECK_OK(ax_conn_open(loop, sv[0], sv[0], &c));
    ax_conn_set_events(c, &live_ev, NULL);
    static char big[1 << 20];
    CHECK(ax_conn_write(c, big, sizeof big) >= 0);
    CHECK(ax_conn_buffered(c) > 0);
    /* Timers (one-shot, repeating, unreferenced), watchers, signals. */
    CHECK(ax_timer_start(loop, 10000, 0, nop_timer, NULL) != NULL);
    CHECK(ax_timer_start(loop, 10000, 10000, nop_timer, NULL) != NULL);
    ax_timer_set_ref(ax_timer_start(loop, 10000, 0, nop_timer, NULL), 0);
    L.timer = ax_timer_start(loop, 10000, 0, nop_timer, NULL);
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    CHECK(ax_watch_fd(loop, p[0], AX_READABLE, nop_watch, NULL) != NULL);
    L.watch = ax_watch_fd(loop, p[1], AX_WRITABLE, nop_watch, NULL);
    CHECK(ax_signal_watch(loop, SIGUSR1, nop_signal, NULL) != NULL);
    L.signal = ax_signal_watch(loop, SIGUSR2, nop_signal, NULL);
    CHECK(L.timer && L.watch && L.signal);
    /* A pending connect, a pending defer, a pending post. */
    CHECK(ax_connect(loop, ax_server_address(srv), NULL, cancelled_connected, malloc(16)) !=
          NULL);
    CHECK_OK(ax_loop_defer(loop, nop, NULL));
    CHECK_OK(ax_loop_post(loop, nop, NULL));
    ax_loop_free(loop);
    /* Every connection got its on_close, and the handles freed there
     * were still valid at that point (ASan/valgrind tell). */
    CHECK_EQ(L.conn_closes, 3);
    CHECK_EQ(cancelled_connects, 1);
    CHECK(!axt_sig_blocked(SIGUSR1) && !axt_sig_blocked(SIGUSR2));
    close(sv[1]);
    close(p[0]);
    close(p[1]);
    CHECK_EQ(axt_count_fds(), fds_before);
    for (int i = 0; i < 20; i++)
        ax_loop_free(axt_new_loop());
    CHECK_EQ(axt_count_fds(), fds_before);
}

