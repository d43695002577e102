/*
 * axon_server - the benchmark server on axon's event-driven layer:
 * ax_server_listen() + ax_conn_set_events() + ax_conn_write(). Echo writes
 * each on_data chunk back (axon copies only what the socket does not take)
 * and pauses reading while the write queue is over its high-water mark,
 * resuming on drain; http counts request terminators and writes the canned
 * response for each.
 *
 * usage: axon_server echo|http IP:PORT     (prints "ready"; SIGTERM/SIGINT exit 0)
 */
#include <axon.h>
#include <axon/conn.h>
#include <axon/loop.h>
#include <axon/server.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common.h"

static enum bench_mode mode;

static void on_drain(ax_conn *c, void *arg)
{
    (void)arg;
    ax_conn_resume(c);
}

static void out(ax_conn *c, const void *p, size_t n)
{
    /* 0: queued over the high-water mark, wait for on_drain; AX_EPIPE: the
     * connection is going away and on_close follows. */
    if (ax_conn_write(c, p, n) == 0)
        ax_conn_pause(c);
}

static void on_echo_data(ax_conn *c, const void *data, size_t len, void *arg)
{
    (void)arg;
    out(c, data, len);
}

static void on_http_data(ax_conn *c, const void *data, size_t len, void *arg)
{
    size_t k = http_count(arg, data, len);
    while (k > 0) {
        size_t b = k < HTTP_BATCH ? k : HTTP_BATCH;
        out(c, http_block(), b * HTTP_RESPONSE_LEN);
        k -= b;
    }
}

static void on_http_close(ax_conn *c, void *arg)
{
    (void)c;
    free(arg);
}

static const ax_conn_events echo_events = {
    .on_data = on_echo_data,
    .on_drain = on_drain,
};

static const ax_conn_events http_events = {
    .on_data = on_http_data,
    .on_drain = on_drain,
    .on_close = on_http_close,
};

static void on_connection(ax_server *s, ax_conn *c, void *arg)
{
    (void)s;
    (void)arg;
    if (mode == MODE_ECHO) {
        ax_conn_set_events(c, &echo_events, NULL);
        return;
    }
    unsigned *state = calloc(1, sizeof *state);
    if (!state) {
        fputs("axon_server: out of memory\n", stderr);
        exit(1);
    }
    ax_conn_set_events(c, &http_events, state);
}

static void on_server_error(ax_server *s, const ax_error *err, void *arg)
{
    (void)s;
    (void)arg;
    fprintf(stderr, "axon_server: %s\n", err->message); /* EMFILE and the like: keep serving */
}

struct ctx {
    ax_loop *loop;
    ax_server *server;
    ax_signal *sigs[2];
};

static void on_signal(ax_signal *sig, int signo, void *arg)
{
    struct ctx *x = arg;
    (void)sig;
    (void)signo;
    if (x->server) {
        ax_server_close(x->server);
        x->server = NULL;
    }
    ax_loop_stop(x->loop);
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char uri[128];
    struct ctx x = {0};

    bench_server_args(argc, argv, &mode, &ss, &sslen);
    snprintf(uri, sizeof uri, "%s%s", strncmp(argv[2], "tcp://", 6) == 0 ? "" : "tcp://", argv[2]);

    /* The bench compares io_uring's sends with AXON_URING_SENDS=submit
     * (every write queued and submitted) against the default (direct). */
    x.loop = ax_loop_new(NULL);
    if (!x.loop) {
        fprintf(stderr, "axon_server: %s\n", ax_last_error()->message);
        return 1;
    }
    ax_server_opts opts = {
        .on_connection = on_connection,
        .on_error = on_server_error,
        .backlog = 511,
    };
    if (ax_server_listen(x.loop, uri, &opts, &x.server) < 0) {
        fprintf(stderr, "axon_server: %s\n", ax_last_error()->message);
        return 1;
    }
    x.sigs[0] = ax_signal_watch(x.loop, SIGTERM, on_signal, &x);
    x.sigs[1] = ax_signal_watch(x.loop, SIGINT, on_signal, &x);
    if (!x.sigs[0] || !x.sigs[1]) {
        fprintf(stderr, "axon_server: %s\n", ax_last_error()->message);
        return 1;
    }
    bench_ready();

    int r = ax_loop_run(x.loop);
    if (r < 0)
        fprintf(stderr, "axon_server: loop: %s\n", ax_strerror(r));
    ax_signal_stop(x.sigs[0]);
    ax_signal_stop(x.sigs[1]);
    ax_loop_free(x.loop); /* closes the connections still open */
    return r < 0;
}
