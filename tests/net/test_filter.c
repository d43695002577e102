/*
 * A connection's filter chain (src/net/filter.c) with two toy filters in
 * the shape TLS and the PROXY protocol will take: "flip" transforms every
 * byte both ways (xor 0x20), "hello" shakes hands (sends "HI\n", waits for
 * "HELLO\n") before the connection is handed over, answers the remote
 * address query, and writes "BYE\n" when the user ends. Checked: bytes up
 * and down through one and two filters, the hand-over after the handshake
 * (on_connection only then), a failed handshake reported to the server's
 * on_error, addresses from a filter, end through the chain, bytes a filter
 * passes up while the user paused held until resume.
 *
 * Loops come from axt_new_loop(), so AXON_BACKEND runs the file on each
 * backend: filters work on buffers, never on fds.
 */
#include <sys/socket.h>
#include <unistd.h>

#include "axt_loop.h"
#include "net/filter.h"

/* -------------------------------------------------------------- filters */

static void flip(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= 0x20;
}

static int flip_recv(ax__filter *f, const char *data, size_t n)
{
    char buf[65536];
    if (n == 0) {
        ax__filter_up(f, NULL, 0);
        return 0;
    }
    CHECK(n <= sizeof buf);
    memcpy(buf, data, n);
    flip(buf, n);
    ax__filter_up(f, buf, n);
    return 0;
}

static int flip_send(ax__filter *f, const struct iovec *iov, int n)
{
    int rc = 1;
    for (int i = 0; i < n && rc >= 0; i++) {
        char buf[4096];
        for (size_t off = 0; off < iov[i].iov_len && rc >= 0;) {
            size_t k = iov[i].iov_len - off < sizeof buf ? iov[i].iov_len - off : sizeof buf;
            memcpy(buf, (const char *)iov[i].iov_base + off, k);
            flip(buf, k);
            struct iovec v = {.iov_base = buf, .iov_len = k};
            rc = ax__filter_down(f, &v, 1);
            off += k;
        }
    }
    return rc;
}

static const ax__filter_ops flip_ops = {.name = "flip", .recv = flip_recv, .send = flip_send};

typedef struct hello {
    char line[16];
    size_t n;
    int fail_on_bad;
} hello;

static int hello_start(ax__filter *f)
{
    struct iovec v = {.iov_base = "HI\n", .iov_len = 3};
    return ax__filter_down(f, &v, 1) < 0 ? AX_EPIPE : 0;
}

static int hello_recv(ax__filter *f, const char *data, size_t n)
{
    hello *h = f->state;
    if (f->ready || n == 0) {
        ax__filter_up(f, data, n);
        return 0;
    }
    while (n && h->n < sizeof h->line) {
        char ch = *data++;
        n--;
        h->line[h->n++] = ch;
        if (ch != '\n')
            continue;
        if (h->n != 6 || memcmp(h->line, "HELLO\n", 6) != 0)
            return ax__err(AX_EPROTO, "bad hello");
        ax__filter_ready(f);
        if (n)
            ax__filter_up(f, data, n); /* what came right behind it */
        return 0;
    }
    return h->n == sizeof h->line ? ax__err(AX_EPROTO, "hello too long") : 0;
}

static void hello_end(ax__filter *f)
{
    struct iovec v = {.iov_base = "BYE\n", .iov_len = 4};
    ax__filter_down(f, &v, 1);
    ax__filter_end_down(f);
}

static const char *hello_query(ax__filter *f, int what)
{
    (void)f;
    return what == AX__Q_REMOTE ? "tcp://203.0.113.7:4242" : NULL;
}

static void hello_close(ax__filter *f)
{
    free(f->state);
}

static const ax__filter_ops hello_ops = {
    .name = "hello",
    .start = hello_start,
    .recv = hello_recv,
    .end = hello_end,
    .query = hello_query,
    .close = hello_close,
};

/* Passes bytes up one at a time: a user that pauses in on_data then meets
 * bytes the filter still passes up while paused. */
static int split_recv(ax__filter *f, const char *data, size_t n)
{
    if (n == 0)
        ax__filter_up(f, NULL, 0);
    for (size_t i = 0; i < n; i++)
        ax__filter_up(f, data + i, 1);
    return 0;
}

static const ax__filter_ops split_ops = {.name = "split", .recv = split_recv};

/* ------------------------------------------------------------ recorder */

typedef struct rec {
    ax_conn *c;
    char got[256];
    size_t len;
    int ends, closes, errors;
    int pause_after_first;
} rec;

static void r_data(ax_conn *c, const void *d, size_t n, void *arg)
{
    rec *r = arg;
    CHECK(r->len + n < sizeof r->got);
    memcpy(r->got + r->len, d, n);
    r->len += n;
    if (r->pause_after_first) {
        r->pause_after_first = 0;
        ax_conn_pause(c);
    }
}

static void r_end(ax_conn *c, void *arg)
{
    (void)c;
    ((rec *)arg)->ends++;
}

static void r_error(ax_conn *c, const ax_error *e, void *arg)
{
    (void)c, (void)e;
    ((rec *)arg)->errors++;
}

static void r_close(ax_conn *c, void *arg)
{
    (void)c;
    ((rec *)arg)->closes++;
}

static const ax_conn_events rec_ev = {
    .on_data = r_data, .on_end = r_end, .on_error = r_error, .on_close = r_close};

static size_t read_peer(ax_loop *loop, int fd, char *buf, size_t want)
{
    size_t got = axt_pump_read(loop, fd, buf, want, 3000, NULL);
    buf[got] = '\0';
    return got;
}

/* ---------------------------------------------------------------- tests */

/* One and then two transforming filters on a socket pair: bytes are
 * transformed on the way up and on the way down. */
TEST(flip_filters_transform_both_ways)
{
    ax_loop *loop = axt_new_loop();
    int sv[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sv));
    rec r = {0};
    CHECK_OK(ax_conn_open(loop, sv[0], sv[0], &r.c));
    CHECK_OK(ax__conn_push_filter(r.c, &flip_ops, NULL));
    CHECK_OK(ax__filter_start_all(r.c));
    ax_conn_set_events(r.c, &rec_ev, &r);
    CHECK_EQ(send(sv[1], "HELLO", 5, 0), 5);
    AXT_RUN_UNTIL(loop, r.len == 5, 3000);
    CHECK(memcmp(r.got, "hello", 5) == 0);
    CHECK_EQ(ax_conn_write(r.c, "world", 5), 1);
    char buf[64];
    CHECK_EQ(read_peer(loop, sv[1], buf, 5), 5);
    CHECK_STR(buf, "WORLD");
    ax_conn_close(r.c);
    CHECK_OK(ax_loop_run(loop));
    CHECK_EQ(r.closes, 1);
    close(sv[1]);

    /* Two flips cancel out. */
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sv));
    rec t = {0};
    CHECK_OK(ax_conn_open(loop, sv[0], sv[0], &t.c));
    CHECK_OK(ax__conn_push_filter(t.c, &flip_ops, NULL));
    CHECK_OK(ax__conn_push_filter(t.c, &flip_ops, NULL));
    CHECK_OK(ax__filter_start_all(t.c));
    ax_conn_set_events(t.c, &rec_ev, &t);
    CHECK_EQ(send(sv[1], "Same", 4, 0), 4);
    AXT_RUN_UNTIL(loop, t.len == 4, 3000);
    CHECK(memcmp(t.got, "Same", 4) == 0);
    static char big[200000];
    memset(big, 'x', sizeof big);
    CHECK(ax_conn_write(t.c, big, sizeof big) >= 0); /* queued below the filters */
    size_t total = 0;
    while (total < sizeof big) {
        size_t k = axt_pump_read(loop, sv[1], buf, sizeof buf, 3000, NULL);
        CHECK(k > 0);
        for (size_t i = 0; i < k; i++)
            CHECK_EQ(buf[i], 'x');
        total += k;
    }
    /* The end goes down the chain: the peer sees EOF. */
    ax_conn_end(t.c);
    int eof = 0;
    axt_pump_read(loop, sv[1], buf, sizeof buf, 3000, &eof);
    CHECK(eof);
    close(sv[1]);
    AXT_RUN_UNTIL(loop, t.closes == 1, 3000);
    ax_loop_free(loop);
}

static struct {
    ax_loop *loop;
    ax_server *s;
    int conns, server_errors;
    char errmsg[AX_ERROR_MAX];
    rec r;
    char remote[AX_URISTRLEN];
} H;

static int hello_setup(ax_server *s, ax_conn *c)
{
    (void)s;
    hello *h = calloc(1, sizeof *h);
    CHECK(h);
    return ax__conn_push_filter(c, &hello_ops, h);
}

static int hello_split_setup(ax_server *s, ax_conn *c)
{
    int rc = hello_setup(s, c);
    return rc < 0 ? rc : ax__conn_push_filter(c, &split_ops, NULL);
}

static void h_conn(ax_server *s, ax_conn *c, void *arg)
{
    (void)s, (void)arg;
    H.conns++;
    H.r.c = c;
    const char *a = ax_conn_remote_address(c);
    snprintf(H.remote, sizeof H.remote, "%s", a ? a : "(null)");
    ax_conn_set_events(c, &rec_ev, &H.r);
}

static void h_error(ax_server *s, const ax_error *e, void *arg)
{
    (void)s, (void)arg;
    H.server_errors++;
    snprintf(H.errmsg, sizeof H.errmsg, "%s", e->message);
}

static int start_hello_server(void)
{
    memset(&H, 0, sizeof H);
    H.loop = axt_new_loop();
    ax_server_opts o = {.on_connection = h_conn, .on_error = h_error};
    CHECK_OK(ax_server_listen(H.loop, "tcp://127.0.0.1:0", &o, &H.s));
    H.s->setup = hello_setup;
    ax_connect_opts co = {.timeout_ms = 3000};
    return CHECK_OK(ax_connect_uri(ax_server_address(H.s), &co));
}

/* The handshake comes first: on_connection only after it, with the bytes
 * that followed the hello delivered, the remote address the filter's. */
TEST(handshake_before_hand_over)
{
    int fd = start_hello_server();
    char buf[64];
    CHECK_EQ(read_peer(H.loop, fd, buf, 3), 3);
    CHECK_STR(buf, "HI\n");
    CHECK_EQ(H.conns, 0);
    CHECK_EQ(send(fd, "HEL", 3, 0), 3);
    axt_run_for(H.loop, 50);
    CHECK_EQ(H.conns, 0); /* half a hello: still shaking hands */
    CHECK_EQ(send(fd, "LO\npayload", 10, 0), 10);
    AXT_RUN_UNTIL(H.loop, H.conns == 1 && H.r.len == 7, 3000);
    CHECK(memcmp(H.r.got, "payload", 7) == 0);
    CHECK_STR(H.remote, "tcp://203.0.113.7:4242");
    /* Ending goes through the filter: its goodbye, then FIN. */
    ax_conn_end(H.r.c);
    CHECK_EQ(read_peer(H.loop, fd, buf, 4), 4);
    CHECK_STR(buf, "BYE\n");
    int eof = 0;
    axt_pump_read(H.loop, fd, buf, sizeof buf, 3000, &eof);
    CHECK(eof);
    close(fd);
    AXT_RUN_UNTIL(H.loop, H.r.closes == 1, 3000);
    CHECK_EQ(H.r.ends, 1);
    CHECK_EQ(H.server_errors, 0);
    ax_loop_free(H.loop);
}

/* A bad handshake never reaches on_connection: the server's on_error
 * says why, and the peer is disconnected. */
TEST(failed_handshake_reported_to_the_server)
{
    int fd = start_hello_server();
    char buf[64];
    CHECK_EQ(read_peer(H.loop, fd, buf, 3), 3);
    CHECK_EQ(send(fd, "GET / HTTP/1.0\n", 15, 0), 15);
    int eof = 0;
    axt_pump_read(H.loop, fd, buf, sizeof buf, 3000, &eof);
    CHECK(eof);
    AXT_RUN_UNTIL(H.loop, H.server_errors == 1, 3000);
    CHECK_EQ(H.conns, 0);
    CHECK(strstr(H.errmsg, "Unable to read from stream"));
    CHECK(strstr(H.errmsg, "(EPROTO)"));
    /* A peer that leaves mid-handshake is reported too. */
    close(fd);
    fd = CHECK_OK(ax_connect_uri(ax_server_address(H.s), NULL));
    CHECK_EQ(read_peer(H.loop, fd, buf, 3), 3);
    close(fd);
    AXT_RUN_UNTIL(H.loop, H.server_errors == 2, 3000);
    CHECK_EQ(H.conns, 0);
    CHECK_EQ(ax_server_connection_count(H.s), 0);
    ax_loop_free(H.loop);
}

/* Bytes a filter passes up while the user paused are held, in order, and
 * delivered after ax_conn_resume (never inside it); an end behind them
 * comes after them. */
TEST(paused_bytes_are_held_until_resume)
{
    int fd = start_hello_server();
    H.s->setup = hello_split_setup;
    ax_close(fd);
    fd = CHECK_OK(ax_connect_uri(ax_server_address(H.s), NULL));
    H.r.pause_after_first = 1;
    char buf[64];
    CHECK_EQ(read_peer(H.loop, fd, buf, 3), 3);
    CHECK_EQ(send(fd, "HELLO\nfirst", 11, 0), 11);
    AXT_RUN_UNTIL(H.loop, H.r.len == 1, 3000);
    /* Paused after "f": "irst" came up while paused and is held. */
    CHECK_EQ(send(fd, "second", 6, 0), 6);
    CHECK(shutdown(fd, SHUT_WR) == 0);
    axt_run_for(H.loop, 50);
    CHECK_EQ(H.r.len, 1);
    CHECK_EQ(H.r.ends, 0);
    ax_conn_resume(H.r.c);
    CHECK_EQ(H.r.len, 1); /* not inside resume */
    AXT_RUN_UNTIL(H.loop, H.r.ends == 1, 3000);
    H.r.got[H.r.len] = '\0';
    CHECK_STR(H.r.got, "firstsecond");
    close(fd);
    ax_loop_free(H.loop);
}
