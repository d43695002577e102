/*
 * axon/conn.h - connections: duplex byte streams on the loop, with
 * back-pressure, half-close and piping (react/socket's ConnectionInterface).
 *
 * Threads: a connection belongs to its loop's thread; no call here is
 * thread-safe.
 *
 * Lifetime: the loop owns every connection. It is freed after on_close
 * returns; on_close always comes exactly once (after ax_conn_close(), after
 * an error, or after both directions ended). Closing from inside any
 * callback is safe. After on_close the pointer must not be used.
 */
#ifndef AXON_CONN_H
#define AXON_CONN_H

#include <stdbool.h>
#include <sys/uio.h>

#include "common.h"
#include "error.h"
#include "loop.h"
#include "socket.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_conn ax_conn;

typedef struct ax_conn_events {
    /* Bytes arrived. data is the loop's buffer, valid only during the call. */
    void (*on_data)(ax_conn *c, const void *data, size_t len, void *arg);
    /* The peer half-closed (FIN). Writing is still possible; close or end
     * when done. Without on_end the connection ends its side after the
     * queued bytes are flushed (react/socket's default). */
    void (*on_end)(ax_conn *c, void *arg);
    /* The write queue fell below the high-water mark after a write returned
     * 0: write more. */
    void (*on_drain)(ax_conn *c, void *arg);
    /* A read or write failed (reset by peer, ...). on_close follows. */
    void (*on_error)(ax_conn *c, const ax_error *err, void *arg);
    /* The connection is closed and will be freed when this returns. */
    void (*on_close)(ax_conn *c, void *arg);
} ax_conn_events;

/*
 * Sets the callbacks (ev is borrowed and must outlive the connection;
 * a static const struct is typical) and their arg. Any member may be NULL.
 * Reading starts when the current callback returns.
 */
AX_EXTERN void ax_conn_set_events(ax_conn *c, const ax_conn_events *ev, void *arg);

/* The arg given to ax_conn_set_events(). */
AX_EXTERN void *ax_conn_arg(const ax_conn *c);

/*
 * Queues len bytes (copied if they cannot be written at once) and writes
 * as the socket allows; never drops or reorders bytes. Returns 1 if the
 * queue is below the high-water mark (keep writing), 0 if not (wait for
 * on_drain; the bytes were still accepted), AX_EPIPE if the connection is
 * ending or closed (nothing was queued), or the socket's own error
 * (AX_ECONNRESET, ...), in which case on_error and on_close follow from
 * the loop. On io_uring with ax_loop_opts.uring_submit_sends every
 * write is queued and submitted with the loop's next wait, so a socket's
 * error comes through on_error only.
 */
AX_EXTERN int ax_conn_write(ax_conn *c, const void *data, size_t len);

/* ax_conn_write() for n buffers, written with one writev() when possible. */
AX_EXTERN int ax_conn_writev(ax_conn *c, const struct iovec *iov, int n);

/* Flushes the queue, then half-closes (shutdown(SHUT_WR)). Reading goes on
 * until the peer ends too; then the connection closes. */
AX_EXTERN void ax_conn_end(ax_conn *c);

/* Closes now; queued bytes are dropped. on_close follows (deferred when
 * called from a callback of this connection). Idempotent. */
AX_EXTERN void ax_conn_close(ax_conn *c);

/* Stops / restarts delivering on_data (and reading from the socket, so the
 * kernel applies back-pressure to the peer). */
AX_EXTERN void ax_conn_pause(ax_conn *c);
AX_EXTERN void ax_conn_resume(ax_conn *c);

/* The write queue's soft limit in bytes (default 64 KiB). */
AX_EXTERN void ax_conn_set_high_water(ax_conn *c, size_t bytes);

/* Bytes queued and not yet written. */
AX_EXTERN size_t ax_conn_buffered(const ax_conn *c);

typedef struct ax_pipe_opts {
    bool no_end; /* do not end dst when src ends */
} ax_pipe_opts;

/*
 * Forwards everything src reads to dst with back-pressure: src is paused
 * while dst's queue is over its high-water mark and resumed on drain; dst
 * is ended when src ends (unless opts->no_end). Replaces src's on_data,
 * on_end and dst's on_drain; on_error and on_close stay the user's, and
 * src itself is left half-open after its end (close it in on_close of dst,
 * or when convenient). opts may be NULL. Returns 0 or AX_EINVAL (same
 * connection, or already piped).
 */
AX_EXTERN int ax_conn_pipe(ax_conn *src, ax_conn *dst, const ax_pipe_opts *opts);

/*
 * "tcp://127.0.0.1:5000", "tcp://[::1]:5000", "unix:///path"; NULL once
 * closed. The string belongs to the connection and lives until it closes.
 */
AX_EXTERN const char *ax_conn_remote_address(ax_conn *c);
AX_EXTERN const char *ax_conn_local_address(ax_conn *c);

/* The socket's fd (still owned by the connection), or -1 once closed. */
AX_EXTERN int ax_conn_fd(const ax_conn *c);

/* The loop the connection runs on. */
AX_EXTERN ax_loop *ax_conn_loop(const ax_conn *c);

/*
 * Wraps an already connected socket (or a pipe / tty pair: in_fd for
 * reading, out_fd for writing; pass the same fd twice for a socket) as a
 * connection on loop. On success the connection owns the fds (it closes
 * them) and has made them non-blocking; on failure they stay the caller's.
 * Either fd may be -1 for a one-way connection. Regular files work (they
 * are polled by hand, as epoll cannot watch them). Returns 0 and *out, or
 * an error.
 */
AX_EXTERN int ax_conn_open(ax_loop *loop, int in_fd, int out_fd, ax_conn **out);

/* -------------------------------------------------------------- connect */

typedef struct ax_connect_req ax_connect_req;

typedef void (*ax_connect_cb)(ax_conn *conn, const ax_error *err, void *arg);


/*
 * Connects to "tcp://1.2.3.4:80", "[::1]:80", "1.2.3.4:80" or "unix:///path"
 * without blocking, then calls cb(conn, NULL, arg) with a new connection
 * (set its events in cb) or cb(NULL, err, arg) with
 *   "Connection to tcp://127.0.0.1:9 failed: Connection refused (ECONNREFUSED)"
 *   "Connection to tcp://10.1.1.1:80 timed out after 2 seconds (ETIMEDOUT)".
 * opts (may be NULL; the struct of axon/socket.h): timeout_ms <= 0 means
 * 60 s (ReactPHP's default), bind and family as there; nonblock is ignored.
 * A Unix listener with a full accept queue is tried again (pauses of 1 ms
 * growing to 64 ms) until it takes the connection or the timeout ends it.
 * Hostnames need the resolver (a later release): AX_EINVAL for now.
 * Returns the request (valid until cb runs; cancel with ax_connect_cancel)
 * or NULL with ax_last_error() set, in which case cb is never called.
 */
AX_EXTERN ax_connect_req *ax_connect(ax_loop *loop, const char *uri,
                                     const ax_connect_opts *opts, ax_connect_cb cb,
                                     void *arg);

/*
 * Cancels a pending connect: the socket is closed and cb is called at once,
 * from inside this call, with cb(NULL, err, arg) where err->code is
 * AX_ECANCELED ("Connection to tcp://h:p cancelled during TCP/IP handshake
 * (ECANCELED)"), so cb runs exactly once whatever happens and arg can be
 * freed there. ax_loop_free() cancels the connects still pending the same
 * way. A no-op on NULL or on a request whose cb already ran (req is not
 * valid after that; do not call it then from elsewhere).
 */
AX_EXTERN void ax_connect_cancel(ax_connect_req *req);

#ifdef __cplusplus
}
#endif

#endif
