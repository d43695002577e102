/*
 * uv_server - the benchmark server on libuv, written the way libuv is meant
 * to be used at speed: reads land in one static buffer (alloc_cb), replies
 * go out with uv_try_write(), and only what the socket would not take is
 * copied into a uv_write() request; reading stops while such a write is
 * pending (back-pressure) and restarts from its callback.
 *
 * usage: uv_server echo|http IP:PORT     (prints "ready"; SIGTERM/SIGINT exit 0)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../common.h"

typedef struct conn {
    uv_tcp_t tcp;     /* first: a uv_handle_t * is a conn * */
    unsigned http;    /* request-terminator match state */
    unsigned writes;  /* uv_write() requests in flight */
} conn;

typedef struct wreq {
    uv_write_t req;
    conn *c;
    char data[];
} wreq;

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigterm, sigint;
static enum bench_mode mode;
static char rbuf[65536];

static void check(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "uv_server: %s: %s\n", what, uv_strerror(r));
        exit(1);
    }
}

static void on_closed(uv_handle_t *h)
{
    if (h->data == NULL) /* the conns set data to NULL; the rest are static */
        free(h);
}

static void conn_close(conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(rbuf, sizeof rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    conn *c = w->c;

    free(w);
    c->writes--;
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->writes == 0)
        check(uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read), "uv_read_start");
}

/* Writes now what the socket takes; copies the rest into a write request. */
static int out(conn *c, const char *p, size_t n)
{
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    size_t done = 0;

    if (c->writes == 0) {
        uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
        int r = uv_try_write(s, &b, 1);
        if (r == (int)n)
            return 0;
        if (r < 0 && r != UV_EAGAIN) {
            conn_close(c);
            return -1;
        }
        done = r > 0 ? (size_t)r : 0;
    }
    wreq *w = malloc(sizeof *w + (n - done));
    if (!w) {
        fputs("uv_server: out of memory\n", stderr);
        exit(1);
    }
    w->c = c;
    memcpy(w->data, p + done, n - done);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)(n - done));
    int r = uv_write(&w->req, s, &b, 1, on_written);
    if (r < 0) {
        free(w);
        conn_close(c);
        return -1;
    }
    if (c->writes++ == 0)
        uv_read_stop(s);
    return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = (conn *)s;

    if (nread < 0) { /* UV_EOF or an error */
        conn_close(c);
        return;
    }
    if (mode == MODE_ECHO) {
        out(c, buf->base, (size_t)nread);
        return;
    }
    size_t k = http_count(&c->http, buf->base, (size_t)nread);
    while (k > 0) {
        size_t b = k < HTTP_BATCH ? k : HTTP_BATCH;
        if (out(c, http_block(), b * HTTP_RESPONSE_LEN) < 0)
            return;
        k -= b;
    }
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0) {
        fprintf(stderr, "uv_server: accept: %s\n", uv_strerror(status));
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        fputs("uv_server: out of memory\n", stderr);
        exit(1);
    }
    check(uv_tcp_init(loop, &c->tcp), "uv_tcp_init");
    c->tcp.data = NULL;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    check(uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read), "uv_read_start");
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, on_closed);
}

static void on_signal(uv_signal_t *sig, int signo)
{
    (void)sig;
    (void)signo;
    /* Close every handle (server, signals, connections); uv_run then
     * returns because nothing is left. */
    uv_walk(loop, close_walk, NULL);
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t sslen;

    bench_server_args(argc, argv, &mode, &ss, &sslen);
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();

    check(uv_tcp_init(loop, &server), "uv_tcp_init");
    server.data = &server;
    check(uv_tcp_bind(&server, (const struct sockaddr *)&ss, 0), "uv_tcp_bind");
    check(uv_listen((uv_stream_t *)&server, 511, on_connection), "uv_listen");

    check(uv_signal_init(loop, &sigterm), "uv_signal_init");
    check(uv_signal_init(loop, &sigint), "uv_signal_init");
    sigterm.data = &sigterm;
    sigint.data = &sigint;
    check(uv_signal_start(&sigterm, on_signal, SIGTERM), "uv_signal_start");
    check(uv_signal_start(&sigint, on_signal, SIGINT), "uv_signal_start");
    bench_ready();

    check(uv_run(loop, UV_RUN_DEFAULT), "uv_run");
    check(uv_loop_close(loop), "uv_loop_close");
    return 0;
}
