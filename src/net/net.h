/* Internal structures of connections, servers and the connector. */
#ifndef AXON_NET_NET_H
#define AXON_NET_NET_H

#include <axon.h>
#include <axon/conn.h>
#include <axon/loop.h>
#include <axon/server.h>

#include "loop/backend.h"

/* Connection flags. */
enum {
    CF_CLOSED = 1u << 0,    /* ax_conn_close() ran; on_close pending */
    CF_ENDING = 1u << 1,    /* ax_conn_end(): shut down after the flush */
    CF_WR_SHUT = 1u << 2,   /* our side is shut down */
    CF_RD_EOF = 1u << 3,    /* the peer ended */
    CF_PAUSED = 1u << 4,    /* the user paused reading */
    CF_DRAIN = 1u << 5,     /* a write returned 0: on_drain owed */
    CF_CLIENT = 1u << 6,    /* owner is the loop, not a server */
    CF_PIPE_PAUSED = 1u << 7, /* paused by a pipe's back-pressure */
    CF_SPLIT = 1u << 8,     /* separate fd for writing (aux->out) */
};

/* Transports: the bottom of the filter chain. TLS and the PROXY protocol
 * will be further entries whose functions call the one below them. */
enum { TP_SOCKET = 0, TP_FD = 1 };

typedef struct ax__wbuf {
    struct ax__wbuf *next;
    size_t off, len, cap;
    char data[];
} ax__wbuf;

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
    bool pipe_no_end;
    int err;               /* a failure to report from a deferred call */
    ax__io out;            /* CF_SPLIT: the fd we write to */
} ax__aux;

struct ax_conn {
    ax__io io;                 /* the fd we read from (and write to, unless split) */
    uint16_t flags;            /* CF_* */
    uint8_t tp;                /* TP_* */
    uint8_t spare;
    uint32_t idx;              /* position in loop->conns */
    uint32_t last_active;      /* loop ms (truncated) of the last read or write */
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
    ax_server *next;           /* loop->servers */
    ax_server_opts o;
    size_t count;              /* open connections */
    uint8_t closed, paused, limit_paused, fd_paused, emfile_reported, unlink_path;
    ax_timer *retry;           /* accept retry after EMFILE */
    dev_t path_dev;            /* unlink_path: the socket file we created, */
    ino_t path_ino;            /* removed at close only while still ours */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char address[AX_URISTRLEN];
};

ax_loop *ax__conn_loop(const ax_conn *c);

/* Creates a connection for a connected, non-blocking fd. server may be
 * NULL (a client connection). Returns NULL with ax_last_error() set. */
ax_conn *ax__conn_new(ax_loop *loop, int fd, ax_server *server);

/* Cancels every pending ax_connect() (ax_loop_free). */
void ax__connect_free_all(ax_loop *loop);

/* The server's connection went away. */
void ax__server_conn_closed(ax_server *s);

/* c's aux state, allocated on first use; NULL if out of memory. */
ax__aux *ax__conn_aux(ax_conn *c);

/* Recomputes what the loop watches for c (after flag changes). */
void ax__conn_update(ax_conn *c);

/* Pipe hooks called by conn.c when c->aux has pipe links. */
void ax__pipe_data(ax_conn *src, const void *data, size_t len);
void ax__pipe_end(ax_conn *src);
void ax__pipe_drain(ax_conn *dst);

/* Transport entry points. */
ssize_t ax__tp_read(ax_conn *c, void *buf, size_t len);
ssize_t ax__tp_writev(ax_conn *c, const struct iovec *iov, int n);
int ax__tp_shutdown(ax_conn *c);

#endif
