/*
 * serve.h - the life of a server, shared by the server examples (01, 02,
 * 03, 91) so that each of them shows only what it does with connections.
 *
 * serve() listens on the address given as the first argument (like
 * ReactPHP's examples: "127.0.0.1:8080", "tcp://[::1]:0",
 * "unix:///tmp/x.sock"; default 127.0.0.1:0, a free port), prints
 * "Listening on <real address>", runs the loop until SIGINT or SIGTERM,
 * then frees everything and returns the exit status for main().
 */
#ifndef AXON_EXAMPLES_SERVE_H
#define AXON_EXAMPLES_SERVE_H

#include <axon.h>
#include <signal.h>
#include <stdio.h>

typedef struct serve_state {
    ax_loop *loop;
    ax_server *server;
} serve_state;

/* A server's errors (accept failed, out of fds) are not fatal: it keeps
 * listening, so they are only reported. */
static void serve_on_error(ax_server *s, const ax_error *err, void *arg)
{
    (void)s;
    (void)arg;
    fprintf(stderr, "%s\n", err->message);
}

/* Signals arrive as ordinary loop callbacks (through a signalfd), so
 * unlike in a signal handler it is safe to close things here. Closing the
 * server and stopping the loop hands control back to serve(). */
static void serve_on_signal(ax_signal *sig, int signo, void *arg)
{
    (void)sig;
    (void)signo;
    serve_state *st = arg;
    ax_server_close(st->server);
    ax_loop_stop(st->loop);
}

/* opts is the example's: its on_connection and arg; on_error defaults to
 * printing. */
static int serve(int argc, char **argv, ax_server_opts *opts)
{
    const char *uri = argc > 1 ? argv[1] : "127.0.0.1:0";
    serve_state st = {.loop = ax_loop_new(NULL)};
    if (!st.loop) {
        fprintf(stderr, "%s\n", ax_last_error()->message);
        return 1;
    }
    if (!opts->on_error)
        opts->on_error = serve_on_error;
    /* The signals are watched before the address is announced: whoever
     * reads that line may send SIGTERM at once. */
    if (ax_server_listen(st.loop, uri, opts, &st.server) < 0 ||
        !ax_signal_watch(st.loop, SIGINT, serve_on_signal, &st) ||
        !ax_signal_watch(st.loop, SIGTERM, serve_on_signal, &st)) {
        /* "Failed to listen on "tcp://127.0.0.1:80": Address already in
         * use (EADDRINUSE)": the library's message says it all. */
        fprintf(stderr, "%s\n", ax_last_error()->message);
        ax_loop_free(st.loop);
        return 1;
    }
    /* The real address, with the port the kernel chose for port 0. stdout
     * may be a pipe (fully buffered), hence the flush. */
    printf("Listening on %s\n", ax_server_address(st.server));
    fflush(stdout);

    int rc = ax_loop_run(st.loop);
    /* Closes the connections still open (their on_close runs, so their
     * state is freed) and the signal watchers, then the loop. */
    ax_loop_free(st.loop);
    return rc < 0 ? 1 : 0;
}

#endif
