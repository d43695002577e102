/*
 * axon/server.h - listening servers on the loop (react/socket's
 * SocketServer, LimitingServer and FdServer in one).
 *
 * Threads: a server belongs to its loop's thread; nothing here is
 * thread-safe.
 */
#ifndef AXON_SERVER_H
#define AXON_SERVER_H

#include <stdbool.h>

#include "common.h"
#include "conn.h"
#include "error.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_server ax_server;

/* The longest idle timeout a server takes: 2^31 - 1 ms, about 24.8 days
 * (activity is stamped in 32-bit loop milliseconds). */
#define AX_MAX_IDLE_TIMEOUT_MS 2147483647u

typedef struct ax_server_opts {
    /* A new connection: set its events here (ax_conn_set_events). Without
     * this callback connections are closed at once. */
    void (*on_connection)(ax_server *s, ax_conn *c, void *arg);
    /* A non-fatal error (accept failed, fd limit reached, connection limit
     * rejected a client); the server keeps listening. May be NULL. */
    void (*on_error)(ax_server *s, const ax_error *err, void *arg);
    void *arg;

    int backlog;             /* <= 0: 511 */
    bool reuseport;          /* SO_REUSEPORT */
    int v6only;              /* 0 kernel default, 1 on, -1 off */
    bool unlink_stale;       /* unix: remove a stale socket file nobody listens on */
    bool nodelay;            /* TCP_NODELAY on accepted sockets */
    int keepalive_s;         /* > 0: SO_KEEPALIVE with this idle time on accepted sockets */
    size_t max_connections;  /* 0: unlimited */
    bool pause_on_limit;     /* at the limit, pause accepting instead of rejecting */
    uint32_t idle_timeout_ms; /* close connections idle this long; 0: never; at most
                                 AX_MAX_IDLE_TIMEOUT_MS (longer: AX_EINVAL) */
    size_t high_water;       /* write-queue mark for accepted connections; 0: 64 KiB */
} ax_server_opts;

/*
 * Listens on "tcp://127.0.0.1:8080", "[::1]:0" (port 0 picks one),
 * "unix:///run/x.sock", "unix://@abstract" or "fd://3" (an inherited
 * listening socket, as systemd passes them: AX_ENOTSOCK if it is not a
 * socket, AX_EINVAL if it does not listen, AX_EEXIST if this loop already
 * watches it). On success the server owns the fd (made non-blocking and
 * close-on-exec, closed with the server); a failed listen leaves an fd://
 * fd open with the flags it had. opts is copied; arg is passed
 * to the callbacks. A hostname is rejected (must be an IP). Returns 0 and
 * *out, or an error with ax_last_error():
 *   Failed to listen on "tcp://127.0.0.1:80": Address already in use (EADDRINUSE)
 */
AX_EXTERN int ax_server_listen(ax_loop *loop, const char *uri, const ax_server_opts *opts,
                               ax_server **out);

/* The real address ("tcp://127.0.0.1:43012" after port 0), owned by the
 * server; NULL once closed. */
AX_EXTERN const char *ax_server_address(const ax_server *s);

/* Stop / restart accepting; pending connections wait in the backlog. */
AX_EXTERN void ax_server_pause(ax_server *s);
AX_EXTERN void ax_server_resume(ax_server *s);

/*
 * Stops listening and frees the server (after the current callback if
 * called from one). Connections already accepted stay open and stay valid;
 * they are the user's to close, and the server's idle timeout no longer
 * applies to them. Idempotent within a callback. A Unix socket
 * file the server created is removed, unless it was replaced since (the
 * same path now names another file: it is left alone).
 */
AX_EXTERN void ax_server_close(ax_server *s);

/* Connections accepted by this server and still open. */
AX_EXTERN size_t ax_server_connection_count(const ax_server *s);

/* The server a connection was accepted from, or NULL (a client connection
 * or one whose server closed). */
AX_EXTERN ax_server *ax_conn_server(const ax_conn *c);

#ifdef __cplusplus
}
#endif

#endif
