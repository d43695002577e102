/*
 * src/net/filter.h - a connection's transport as a chain of filters (TLS,
 * the PROXY protocol reader) over the raw socket, in the spirit of curl's
 * connection filters.
 *
 * Filters transform buffers, never fds: bytes the loop received (from
 * recv() into its buffer on epoll/poll, or a provided buffer on io_uring)
 * enter at the bottom filter and go up with ax__filter_up(); what the user
 * writes enters at the top and goes down with ax__filter_down() to the
 * connection's own write queue. So a filter works the same on readiness
 * and completion backends, and conn.c never asks what a filter is.
 *
 * A plain connection has no chain (aux->top == NULL) and pays nothing.
 *
 * Handshakes: a filter starts unready. Until every filter of the chain is
 * ready the connection is not handed over (no on_connection, no connect
 * callback), the user's pause does not stop reading, and bytes that reach
 * the top are held. A filter calls ax__filter_ready() when its handshake is
 * done; the connection is handed over when the last one is.
 *
 * Every hook may be NULL; the default passes through.
 */
#ifndef AXON_NET_FILTER_H
#define AXON_NET_FILTER_H

#include "net/net.h"

/* What ax__filter_query() asks. */
enum {
    AX__Q_REMOTE = 1, /* the remote address as a URI (PROXY overrides it) */
    AX__Q_LOCAL,      /* the local address as a URI */
    AX__Q_ALPN,       /* the negotiated application protocol */
};

typedef struct ax__filter_ops {
    const char *name;
    /* The layer below is connected: start the handshake (write the first
     * flight with ax__filter_down). A filter without a handshake is ready
     * at once. Returns 0 or an error code that fails the connection. */
    int (*start)(ax__filter *f);
    /* Bytes from below: n > 0 bytes, n == 0 the end of the stream. Pass
     * them up (transformed) with ax__filter_up(); handshake replies go down
     * with ax__filter_down(). Returns 0 or an error code. */
    int (*recv)(ax__filter *f, const char *data, size_t n);
    /* Bytes from above to pass down (transformed) with ax__filter_down().
     * Returns 1 (below the write queue's mark), 0 (over it) or an error. */
    int (*send)(ax__filter *f, const struct iovec *iov, int n);
    /* The user ended its side: write what ends the filter's stream, then
     * call ax__filter_end_down(). */
    void (*end)(ax__filter *f);
    /* Reading resumed after a pause: pass up what the filter held back. */
    void (*resume)(ax__filter *f);
    /* The connection is closing: free what the filter holds (not f). */
    void (*close)(ax__filter *f);
    /* Answers a query (AX__Q_*) or returns NULL to let the filter below
     * answer. The string lives as long as the filter. */
    const char *(*query)(ax__filter *f, int what);
} ax__filter_ops;

struct ax__filter {
    const ax__filter_ops *ops;
    ax_conn *conn;
    ax__filter *below, *above; /* NULL: the socket below / the user above */
    bool ready;                /* handshake done */
    void *state;               /* the filter's own, given to ax__conn_push_filter */
};

/* Pushes a filter on top of c's chain (before the connection is opened:
 * from a server's setup hook, or right after ax_conn_open()). The filter
 * memory is the connection's; state is the filter's own and is freed by its
 * close hook. Returns 0 or AX_ENOMEM. */
int ax__conn_push_filter(ax_conn *c, const ax__filter_ops *ops, void *state);

/* Starts the chain's handshakes (bottom first); returns 0 or an error. */
int ax__filter_start_all(ax_conn *c);

/* Bytes (or, with n == 0, the end) from f up to the next filter or to the
 * user. */
void ax__filter_up(ax__filter *f, const char *data, size_t n);

/* Bytes from f down to the next filter or to the socket's write queue.
 * Returns 1 / 0 (the queue's mark) or an error code. */
int ax__filter_down(ax__filter *f, const struct iovec *iov, int n);

/* f's stream is ended: end the filter below (or shut the socket down). */
void ax__filter_end_down(ax__filter *f);

/* f finished its handshake. */
void ax__filter_ready(ax__filter *f);

/* f failed: the connection closes with on_error(code, "<what>: ..."). */
void ax__filter_fail(ax__filter *f, int code, const char *what);

/* Chain entry points for conn.c and write.c. */
void ax__chain_recv(ax_conn *c, const char *data, size_t n);
int ax__chain_send(ax_conn *c, const struct iovec *iov, int n);
void ax__chain_end(ax_conn *c);
void ax__chain_resume(ax_conn *c);
void ax__chain_close(ax_conn *c);
const char *ax__chain_query(ax_conn *c, int what);

#endif
