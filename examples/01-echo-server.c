/*
 * 01-echo-server: sends every byte a client sends straight back to it
 * (ReactPHP react/socket's examples/01-echo-server.php).
 *
 *   01-echo-server [listen-uri]          default 127.0.0.1:0
 *   01-echo-server 127.0.0.1:8000
 *   01-echo-server unix:///tmp/echo.sock
 *
 * Try it with `socat - TCP:127.0.0.1:8000` or `ncat 127.0.0.1 8000`.
 * SIGINT or SIGTERM stops it cleanly. What every server example shares
 * (listening on the first argument, printing the address, the signals,
 * freeing everything) is in serve.h; read it next.
 */
#include "serve.h"

/* Bytes arrive in the loop's shared buffer, valid only during this call.
 * ax_conn_write() copies whatever the socket cannot take at once, so
 * writing them back needs no buffer of our own. */
static void on_data(ax_conn *c, const void *data, size_t len, void *arg)
{
    (void)arg;
    /* A client that sends faster than it reads would make the write queue
     * grow without bound. When the queue passes its high-water mark,
     * write() returns 0: stop reading until on_drain reports that the
     * queue went down, so that the kernel pushes back on the client. */
    if (ax_conn_write(c, data, len) == 0)
        ax_conn_pause(c);
}

static void on_drain(ax_conn *c, void *arg)
{
    (void)arg;
    ax_conn_resume(c);
}

/* There is no on_end: by default a connection whose peer half-closed
 * flushes what is queued, ends its own side and closes, which is exactly
 * what an echo server wants (the client gets all of its echo, then EOF). */
static const ax_conn_events echo_events = {
    .on_data = on_data,
    .on_drain = on_drain,
};

static void on_connection(ax_server *s, ax_conn *c, void *arg)
{
    (void)s;
    (void)arg;
    ax_conn_set_events(c, &echo_events, NULL);
}

int main(int argc, char **argv)
{
    ax_server_opts opts = {.on_connection = on_connection};
    return serve(argc, argv, &opts); /* serve.h: listen, run, clean up */
}
