/*
 * 21-netcat-client: connects to an address and joins it to this process's
 * stdin and stdout, like a small netcat (ReactPHP react/socket's
 * examples/21-netcat-client.php).
 *
 *   21-netcat-client 127.0.0.1:8000
 *   echo hello | 21-netcat-client unix:///tmp/echo.sock
 *
 * Both directions run at once with back-pressure: stdin goes to the
 * connection, the connection to stdout. When stdin ends, the connection is
 * half-closed (the server still sends); the program exits when both
 * directions have ended, or after an error, which is printed as axon words
 * it ("Connection to tcp://127.0.0.1:9 failed: Connection refused
 * (ECONNREFUSED)"). SIGINT or SIGTERM stops it at once.
 */
#include <axon.h>
#include <signal.h>
#include <stdio.h>

typedef struct netcat {
    ax_loop *loop;
    ax_conn *conn;  /* the socket, NULL once closed */
    ax_conn *stdio; /* stdin + stdout as one connection, NULL once closed */
    int failed;
} netcat;

static void on_error(ax_conn *c, const ax_error *err, void *arg)
{
    (void)c;
    netcat *nc = arg;
    fprintf(stderr, "%s\n", err->message);
    nc->failed = 1;
}

/* A connection that closes normally has ended both ways, and then stdio
 * has ended too (or will, once stdout is flushed). After an error, stdin
 * has nowhere to go any more: close stdio as well. */
static void on_conn_close(ax_conn *c, void *arg)
{
    (void)c;
    netcat *nc = arg;
    nc->conn = NULL;
    if (nc->failed && nc->stdio)
        ax_conn_close(nc->stdio);
}

/* stdio closed: normally after both directions ended, but also when stdout
 * failed (its reader went away). Either way nothing more will be read from
 * stdin: send what is queued and half-close. Ending twice is harmless. */
static void on_stdio_close(ax_conn *c, void *arg)
{
    (void)c;
    netcat *nc = arg;
    nc->stdio = NULL;
    if (nc->conn)
        ax_conn_end(nc->conn);
}

static const ax_conn_events conn_events = {.on_error = on_error, .on_close = on_conn_close};
static const ax_conn_events stdio_events = {.on_error = on_error, .on_close = on_stdio_close};

static void on_connect(ax_conn *conn, const ax_error *err, void *arg)
{
    netcat *nc = arg;
    if (err) {
        fprintf(stderr, "%s\n", err->message);
        nc->failed = 1;
        return; /* nothing else holds the loop: ax_loop_run() returns */
    }
    nc->conn = conn;
    ax_conn_set_events(conn, &conn_events, nc);
    /* fds 0 and 1 become one duplex "connection" that reads stdin and
     * writes stdout, so the same pipe code serves both directions. */
    if (ax_conn_open(nc->loop, 0, 1, &nc->stdio) < 0) {
        fprintf(stderr, "%s\n", ax_last_error()->message);
        nc->failed = 1;
        ax_conn_close(conn);
        return;
    }
    ax_conn_set_events(nc->stdio, &stdio_events, nc);
    /* Each pipe pauses its source while the destination's queue is full
     * and ends the destination when the source ends: stdin's EOF becomes a
     * FIN to the server, the server's FIN closes our stdout. */
    ax_conn_pipe(nc->stdio, conn, NULL);
    ax_conn_pipe(conn, nc->stdio, NULL);
}

static void on_signal(ax_signal *sig, int signo, void *arg)
{
    (void)sig;
    (void)signo;
    netcat *nc = arg;
    ax_loop_stop(nc->loop);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s ADDRESS   (127.0.0.1:8000, tcp://[::1]:80, "
                        "unix:///path)\n", argv[0]);
        return 2;
    }
    /* stdout may be a pipe whose reader exits first; the write then fails
     * with EPIPE (reported through on_error) instead of killing us. */
    signal(SIGPIPE, SIG_IGN);
    netcat nc = {.loop = ax_loop_new(NULL)};
    if (!nc.loop) {
        fprintf(stderr, "%s\n", ax_last_error()->message);
        return 1;
    }
    ax_signal *sigs[2] = {ax_signal_watch(nc.loop, SIGINT, on_signal, &nc),
                          ax_signal_watch(nc.loop, SIGTERM, on_signal, &nc)};
    if (!sigs[0] || !sigs[1] || !ax_connect(nc.loop, argv[1], NULL, on_connect, &nc)) {
        fprintf(stderr, "%s\n", ax_last_error()->message);
        ax_loop_free(nc.loop);
        return 1;
    }
    /* Unlike a server, the client should exit by itself once everything
     * is done: the signal watchers must not keep the loop running. */
    ax_signal_set_ref(sigs[0], 0);
    ax_signal_set_ref(sigs[1], 0);
    int rc = ax_loop_run(nc.loop);
    /* Cancels a pending connect and closes what is still open. */
    ax_loop_free(nc.loop);
    return rc < 0 || nc.failed ? 1 : 0;
}
