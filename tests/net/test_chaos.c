/*
 * Random operations from inside every callback, the way libuv's and curl's
 * engineers attack a loop: 64 client connections and the 64 server
 * connections they make, each callback of each picking at random among
 * writing, writing a lot, pausing, resuming (of itself or another), ending,
 * closing itself, closing another, piping, and nothing. Every connection
 * must get exactly one on_close, nothing may be touched after it (ASan,
 * valgrind), and the loop must end with nothing left. Then the same with
 * tiny io_uring receive buffers, so multishot receives run out of buffers
 * (ENOBUFS) and are re-armed mid-stream, and one stream must arrive whole
 * and in order.
 *
 * Loops come from axt_new_loop(), so AXON_BACKEND runs the file on each
 * backend; the completion backend is where closing with operations in
 * flight matters most.
 */
#include <unistd.h>

#include "axt_loop.h"

#define N 64
#ifndef AXT_SEED0
#define AXT_SEED0 1
#endif

typedef struct peer {
    ax_conn *c;
    int closes, index;
} peer;

static struct {
    ax_loop *loop;
    ax_server *srv;
    peer p[2 * N];
    int np, connects, accepted, callbacks, closed;
    uint64_t rng;
} X;

static unsigned pick(unsigned n)
{
    X.rng ^= X.rng << 13;
    X.rng ^= X.rng >> 7;
    X.rng ^= X.rng << 17;
    return (unsigned)(X.rng % n);
}

static peer *other(void)
{
    peer *q = &X.p[pick((unsigned)X.np)];
    return q->c ? q : NULL;
}

static void act(peer *p)
{
    static char big[256 * 1024];
    X.callbacks++;
    if (!p->c || X.callbacks > 200000)
        return;
    peer *q;
    switch (pick(12)) {
    case 0:
    case 1:
        ax_conn_write(p->c, "chaos", 5);
        break;
    case 2:
        ax_conn_write(p->c, big, sizeof big);
        break;
    case 3:
        ax_conn_pause(p->c);
        break;
    case 4:
        ax_conn_resume(p->c);
        break;
    case 5:
        if ((q = other()))
            ax_conn_resume(q->c);
        break;
    case 6:
        if (pick(4) == 0)
            ax_conn_end(p->c);
        break;
    case 7:
        if (pick(3) == 0)
            ax_conn_close(p->c);
        break;
    case 8:
        if ((q = other()) && pick(3) == 0)
            ax_conn_close(q->c);
        break;
    case 9:
        if ((q = other()) && q != p)
            ax_conn_pipe(p->c, q->c, NULL); /* may refuse: already piped */
        break;
    default:
        break;
    }
}

static void ch_data(ax_conn *c, const void *d, size_t n, void *arg)
{
    (void)c, (void)d, (void)n;
    act(arg);
}

static void ch_end(ax_conn *c, void *arg)
{
    (void)c;
    act(arg);
}

static void ch_drain(ax_conn *c, void *arg)
{
    (void)c;
    act(arg);
}

static void ch_error(ax_conn *c, const ax_error *e, void *arg)
{
    (void)c, (void)e;
    act(arg);
}

static void ch_close(ax_conn *c, void *arg)
{
    peer *p = arg;
    CHECK(p->c == c);
    p->closes++;
    CHECK_EQ(p->closes, 1);
    p->c = NULL;
    X.closed++;
    /* Close callbacks act on the others too. */
    peer *q = other();
    if (q && pick(2))
        act(q);
}

static const ax_conn_events ch_ev = {
    .on_data = ch_data, .on_end = ch_end, .on_drain = ch_drain, .on_error = ch_error,
    .on_close = ch_close};

static void adopt(ax_conn *c)
{
    CHECK(X.np < 2 * N);
    peer *p = &X.p[X.np];
    p->index = X.np++;
    p->c = c;
    ax_conn_set_events(c, &ch_ev, p);
    act(p);
}

static void ch_accept(ax_server *s, ax_conn *c, void *arg)
{
    (void)s, (void)arg;
    X.accepted++;
    adopt(c);
    if (X.accepted == N)
        ax_server_close(X.srv);
}

static void ch_connected(ax_conn *c, const ax_error *err, void *arg)
{
    (void)arg;
    X.connects++;
    if (err)
        return;
    adopt(c);
}

/* Ends the run: whatever is still open after the chaos is closed, once. */
static void stop_all(ax_timer *t, void *arg)
{
    (void)arg;
    ax_timer_stop(t);
    for (int i = 0; i < X.np; i++)
        if (X.p[i].c)
            ax_conn_close(X.p[i].c);
}

TEST_T(random_operations_from_every_callback, 120)
{
    for (uint64_t seed = AXT_SEED0; seed <= AXT_SEED0 + 3; seed++) {
        memset(&X, 0, sizeof X);
        X.rng = seed * 0x9E3779B97F4A7C15u;
        X.loop = axt_new_loop();
        ax_server_opts so = {.on_connection = ch_accept, .backlog = 1024};
        CHECK_OK(ax_server_listen(X.loop, "tcp://127.0.0.1:0", &so, &X.srv));
        ax_connect_opts co = {.timeout_ms = 10000};
        for (int i = 0; i < N; i++)
            CHECK(ax_connect(X.loop, ax_server_address(X.srv), &co, ch_connected, NULL));
        /* Bounded: the chaos runs for a while, then everything closes. */
        CHECK(ax_timer_start(X.loop, 300 * (uint64_t)axt_scale(), 0, stop_all, NULL) != NULL);
        CHECK_EQ(ax_loop_run(X.loop), 0);
        CHECK_EQ(X.connects, N);
        CHECK_EQ(X.closed, X.np);
        for (int i = 0; i < X.np; i++)
            CHECK_EQ(X.p[i].closes, 1);
        ax_loop_free(X.loop);
    }
}

/* ------------------------------------------------- buffers running out */

static struct {
    gen in;
    uint64_t got;
    long bad;
    int ended;
} S;

static void s_data(ax_conn *c, const void *d, size_t n, void *arg)
{
    (void)c, (void)arg;
    long b = gen_check(&S.in, d, n);
    if (b >= 0 && S.bad < 0)
        S.bad = (long)S.got + b;
    S.got += n;
    /* Pause now and then: a multishot receive is cancelled and re-armed
     * with bytes in flight, which must be held, not lost or reordered. */
    if (S.got % 7 == 0) {
        ax_conn_pause(c);
        ax_conn_resume(c);
    }
}

static void s_end(ax_conn *c, void *arg)
{
    (void)arg;
    S.ended = 1;
    ax_conn_close(c);
}

static const ax_conn_events s_ev = {.on_data = s_data, .on_end = s_end};

static void s_accept(ax_server *s, ax_conn *c, void *arg)
{
    (void)arg;
    ax_server_close(s);
    ax_conn_set_events(c, &s_ev, NULL);
}

/* Two 64-byte receive buffers for a 16 MiB stream (io_uring only; the
 * sizes are ignored elsewhere): the ring runs dry constantly. */
TEST_T(tiny_receive_buffers_keep_a_stream_whole, 120)
{
    memset(&S, 0, sizeof S);
    S.bad = -1;
    S.in = gen_new(42);
    const char *be = getenv("AXON_BACKEND");
    ax_loop_opts o = {.backend = be && *be ? be : NULL, .recv_buffers = 2, .recv_buffer_size = 64};
    ax_loop *loop = ax_loop_new(&o);
    CHECK(loop != NULL);
    ax_server_opts so = {.on_connection = s_accept};
    ax_server *srv;
    CHECK_OK(ax_server_listen(loop, "tcp://127.0.0.1:0", &so, &srv));
    int fd = CHECK_OK(ax_connect_uri(ax_server_address(srv), NULL));
    uint64_t total = (axt_scale() > 1 ? 1u : 16u) << 20;
    pid_t w = fork();
    CHECK(w >= 0);
    if (w == 0) {
        gen out = gen_new(42);
        static unsigned char buf[65536];
        for (uint64_t sent = 0; sent < total; sent += sizeof buf) {
            gen_fill(&out, buf, sizeof buf);
            if (ax_write_all(fd, buf, sizeof buf, 30000, NULL) < 0)
                _exit(1);
        }
        _exit(0);
    }
    close(fd);
    AXT_RUN_UNTIL(loop, S.got == total, 60000);
    CHECK_EQ(axt_wait(w, 10000), 0);
    AXT_RUN_UNTIL(loop, S.ended, 10000);
    CHECK_EQ(S.bad, -1);
    CHECK_EQ(ax_loop_run(loop), 0);
    ax_loop_free(loop);
}
