/* Internal structures of connections, servers, the connector and the net
 * layer's per-loop state. */
#ifndef AXON_NET_NET_H
#define AXON_NET_NET_H

#include <sys/un.h>

#include <axon.h>

#include "loop/io.h"

/* Connection flags. */
enum {
    CF_CLOSED = 1u << 0,      /* ax_conn_close() ran; on_close pending */
    CF_ENDING = 1u << 1,      /* ax_conn_end() ran: no more writes from the user */
    CF_WR_SHUT = 1u << 2,     /* our side is shut down */
    CF_RD_EOF = 1u << 3,      /* the peer ended */
    CF_PAUSED = 1u << 4,      /* the user paused reading */
    CF_DRAIN = 1u << 5,       /* a write returned 0: on_drain owed */
    CF_CLIENT = 1u << 6,      /* owner is the loop, not a server */
    CF_PIPE_PAUSED = 1u << 7, /* paused by a pipe's back-pressure */
    CF_SPLIT = 1u << 8,       /* separate fd for writing (aux->out) */
    CF_FAILED = 1u << 9,      /* closed by an error: on_error before on_close */
    CF_OPENING = 1u << 10,    /* filters still shaking hands: not yet handed over */
    CF_EOF_HELD = 1u << 11,   /* the end arrived while paused: delivered on resume */
    CF_SHUT_PENDING = 1u << 12, /* the socket is shut down once the queue is flushed */
    CF_CONNECTED = 1u << 13,  /* made by ax_connect(): handed to its callback */
    CF_SUBMIT = 1u << 14,     /* the loop submits its sends (io_uring): writes are
                                 queued, the queue's head handed to the kernel */
    CF_SENDING = 1u << 15,    /* ... and one such send is in flight */
};

/* Transports: how the bottom of the chain reads and writes the fd. */
enum { TP_SOCKET = 0, TP_FD = 1 };

typedef struct ax__wbuf {
    struct ax__wbuf *next;
    size_t off, len, cap;
    char data[];
} ax__wbuf;

typedef struct ax__filter ax__filter;

/* State most connections never need: allocated on first use, so an idle
 * connection with nothing queued costs only struct ax_conn. */
typedef struct ax__aux {
    ax_conn *conn;
    ax__wbuf *head, *tail; /* write queue */
    size_t queued;
    size_t high_water;     /* 0: the server's or 64 KiB */
    char *remote, *local;  /* cached URIs */
    ax_conn *pipe_dst;     /* we pipe into it */
    ax_conn *pipe_src;     /* it pipes into us */
    ax__filter *top, *bottom; /* the filter chain, NULL for a plain connection */
    char *held;            /* bytes that arrived while paused (completion backends,
                              filters), delivered on resume: [heldoff, nheld) */
    size_t heldoff, nheld, capheld;
    bool pipe_no_end;
    int err;               /* CF_FAILED: the error on_error reports */
    const char *err_what;  /* ... and what failed ("Unable to write to stream") */
    ax__io out;            /* CF_SPLIT: the fd we write to */
} ax__aux;

struct ax_conn {
    ax__io io;                 /* the fd we read from (and write to, unless split) */
    union {
        struct {
            uint32_t idx;         /* position in the net state's table */
            uint32_t last_active; /* loop ms (truncated) of the last read or write */
        };
        ax_conn *next_closed;     /* once closed: the closing list */
    };
    uint16_t flags;            /* CF_* */
    uint8_t tp;                /* TP_* */
    uint8_t owed;              /* ios with completions still owed (io_uring) */
    const ax_conn_events *ev;
    void *arg;
    union {
        ax_server *server;     /* accepted from it */
        ax_loop *loop;         /* CF_CLIENT */
    } owner;
    ax__aux *aux;
};

struct ax_server {
    ax__io io;
    ax_loop *loop;
    ax_server *next;           /* the net state's servers, then its closing list */
    ax_server_opts o;
    size_t count;              /* open connections */
    uint8_t closed, paused, limit_paused, fd_paused, emfile_reported, unlink_path, owed;
    ax_timer *retry;           /* accept retry after EMFILE */
    /* Filters every accepted connection gets before on_connection (TLS,
     * PROXY protocol): returns 0 or an error that closes the connection. */
    int (*setup)(ax_server *s, ax_conn *c);
    dev_t path_dev;            /* unlink_path: the socket file we created, */
    ino_t path_ino;            /* removed at close only while still ours */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char address[AX_URISTRLEN];
};

static inline ax_loop *ax__conn_loop(const ax_conn *c)
{
    return (c->flags & CF_CLIENT) ? c->owner.loop : c->owner.server->loop;
}

/* The net layer's state on one loop (a slot of the loop, see loop/io.h). */
typedef struct ax__net {
    ax_loop *loop;
    ax_conn **conns;           /* every open connection, for sweeps and teardown */
    size_t nconns, capconns;
    void *conn_free;           /* free connection slots */
    void *conn_slabs;          /* the slabs they live in */
    ax_server *servers;        /* open servers */
    ax_connect_req *connects;  /* pending ax_connect() requests */
    ax_conn *closed, *closed_tail;   /* closed: on_close and free pending */
    ax_server *closed_servers;
    ax_connect_req *closed_reqs;
    ax_timer *sweep;           /* the idle sweep, while a server has a timeout */
    ax_conn **resumed;         /* resumed with bytes held: delivered in the flush */
    size_t nresumed, capresumed;
    struct ax__wbuf *spare_wbufs; /* queue buffers kept for reuse (write.c) */
    unsigned nspare_wbufs;
    ax__aux *spare_aux;        /* aux states kept for reuse (conn.c), linked by conn */
    unsigned nspare_aux;
} ax__net;

/* The kinds and the layer slot the net layer registered (net.c). */
extern int ax__net_slot;
extern uint8_t ax__kind_conn, ax__kind_conn_out, ax__kind_server, ax__kind_connect;

/* The net state of loop, created on first use; NULL with ax_last_error()
 * set if that fails. */
ax__net *ax__net_get(ax_loop *loop);

/* The net state of a loop that has one. */
static inline ax__net *ax__net_of(ax_loop *loop)
{
    return (ax__net *)ax__loop_slot(loop, ax__net_slot);
}


/* Creates a connection for a connected, non-blocking fd. server may be
 * NULL (a client connection). Returns NULL with ax_last_error() set. */
ax_conn *ax__conn_new(ax_loop *loop, int fd, ax_server *server);

/* Hands an opened connection to its owner: the filters (if any) are set up
 * and their handshakes started; the connection is handed over at once or
 * when they finish (ax__conn_opened). */
void ax__conn_opened(ax_conn *c);

/* Each module's closing list, worked through after the callbacks: close
 * callbacks, then frees (for net.c's flush). */
void ax__conn_flush_resumed(ax__net *n);
void ax__conn_flush(ax__net *n);
void ax__server_flush(ax__net *n);
void ax__connect_flush(ax__net *n);

/* Connections (conn.c), for net.c. */
void ax__conn_slabs_free(ax__net *n);
extern const ax__kind ax__conn_kind, ax__conn_out_kind;

/* Servers and connects (server.c, connect.c), for net.c. */
void ax__server_conn_closed(ax_server *s);
void ax__connect_cancel_all(ax__net *n);
extern const ax__kind ax__server_kind, ax__connect_kind;

/* Starts, re-times or stops the idle sweep after servers came or went. */
void ax__net_sweep_update(ax__net *n);

/* c's aux state, allocated on first use; NULL if out of memory. */
ax__aux *ax__conn_aux(ax_conn *c);

/* Frees c's aux state when nothing in it is in use any more (the write
 * queue drained), so a connection that once queued is small again. */
void ax__conn_aux_trim(ax_conn *c);

/* Recomputes what the loop watches for c (after flag changes). */
void ax__conn_update(ax_conn *c);

/* Bytes that came up the chain (or straight from the socket): to on_data,
 * a pipe, or held while paused. n == 0 is the end of the stream. */
void ax__conn_deliver(ax_conn *c, const char *data, size_t n);

/* Closes c reporting code through on_error first ("<what>: <Text> (E...)"). */
void ax__conn_fail(ax_conn *c, int code, const char *what);

/* The write path's bottom: queues or writes bytes that went down the chain
 * (write.c). Returns 1 (below the mark), 0 (over it) or an error. */
int ax__conn_raw_writev(ax_conn *c, const struct iovec *iov, int n);
/* The bottom's end: shut the socket down for writing once the queue is
 * flushed. */
void ax__conn_raw_end(ax_conn *c);
/* The loop said the fd is writable. */
void ax__conn_writable(ax_conn *c);
/* A submitted send ended (CF_SUBMIT): n bytes went out, or an error. */
void ax__conn_sent(ax_conn *c, ssize_t n);
size_t ax__conn_high_water(const ax_conn *c);

/* A pipe's back-pressure lifted: c reads again (conn.c). */
void ax__conn_pipe_resume(ax_conn *c);

/* A connection that was never handed over (its filters failed, or it
 * closed while they shook hands) is reported to its owner instead: the
 * server's on_error, or the connect callback. */
void ax__server_open_failed(ax_server *s, const ax_error *err);
void ax__connect_open_failed(ax_conn *c, const ax_error *err);

/* ax_connect() hands over its connection (connect.c). */
void ax__connect_opened(ax_conn *c);

/* Pipe hooks called by conn.c when c->aux has pipe links. */
void ax__pipe_data(ax_conn *src, const void *data, size_t len);
void ax__pipe_end(ax_conn *src);
void ax__pipe_drain(ax_conn *dst);
void ax__pipe_unlink(ax_conn *c);

/* The raw transport (transport.c). */
ssize_t ax__tp_read(ax_conn *c, void *buf, size_t len);
ssize_t ax__tp_writev(ax_conn *c, const struct iovec *iov, int n);
int ax__tp_shutdown(ax_conn *c);

#endif
