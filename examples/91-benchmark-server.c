/*
 * 91-benchmark-server: counts the bytes each client sends and, when it
 * disconnects, prints how fast they came (ReactPHP react/socket's
 * examples/91-benchmark-server.php):
 *
 *   tcp://127.0.0.1:40000: 1073741824 bytes in 0.512 s (2000.0 MiB/s)
 *
 *   91-benchmark-server [listen-uri]     default 127.0.0.1:0
 *   dd if=/dev/zero bs=1M count=1024 | nc -N 127.0.0.1 PORT
 *
 * The numbers go to stderr, one line per connection. It measures how fast
 * the loop can read and throw data away; SIGINT or SIGTERM stops it.
 */
#include <stdlib.h>
#include <time.h>

#include "serve.h"

typedef struct counter {
    unsigned long long bytes;
    struct timespec start;
    char address[AX_URISTRLEN]; /* kept: the connection forgets it on close */
} counter;

static double seconds_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The data sits in the loop's read buffer and is simply dropped: nothing
 * is copied, so this is the cost of the read path alone. */
static void on_data(ax_conn *c, const void *data, size_t len, void *arg)
{
    (void)c;
    (void)data;
    counter *n = arg;
    n->bytes += len;
}

/* on_close runs once per connection, however it ended: the client's EOF
 * (then the default on_end ends our side and the connection closes), a
 * reset, or the server shutting down. */
static void on_close(ax_conn *c, void *arg)
{
    (void)c;
    counter *n = arg;
    double t = seconds_since(&n->start);
    fprintf(stderr, "%s: %llu bytes in %.3f s (%.1f MiB/s)\n", n->address, n->bytes, t,
            t > 0 ? (double)n->bytes / t / (1024.0 * 1024.0) : 0.0);
    free(n);
}

static void on_error(ax_conn *c, const ax_error *err, void *arg)
{
    (void)c;
    counter *n = arg;
    fprintf(stderr, "%s: %s\n", n->address, err->message);
}

static const ax_conn_events counter_events = {
    .on_data = on_data,
    .on_error = on_error,
    .on_close = on_close,
};

static void on_connection(ax_server *s, ax_conn *c, void *arg)
{
    (void)s;
    (void)arg;
    counter *n = calloc(1, sizeof *n);
    if (!n) {
        ax_conn_close(c);
        return;
    }
    const char *addr = ax_conn_remote_address(c);
    snprintf(n->address, sizeof n->address, "%s", addr ? addr : "unix://");
    clock_gettime(CLOCK_MONOTONIC, &n->start);
    ax_conn_set_events(c, &counter_events, n);
}

int main(int argc, char **argv)
{
    ax_server_opts opts = {.on_connection = on_connection};
    /* serve.h: listen, run until SIGINT/SIGTERM, clean up. Connections
     * still open then are closed, and report their counts. */
    return serve(argc, argv, &opts);
}
