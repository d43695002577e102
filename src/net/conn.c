/* Connections: creating and closing them, the read path (bytes from the
 * loop, through the filters, to on_data), half-close from the peer, pause
 * and resume. The write path is in write.c, the filter chain in filter.c. */
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/filter.h"

static const ax_conn_events no_events;

ax_loop *ax_conn_loop(const ax_conn *c)
{
    return ax__conn_loop(c);
}

ax_server *ax_conn_server(const ax_conn *c)
{
    return (c->flags & CF_CLIENT) ? NULL : c->owner.server;
}

static uint32_t stamp(const ax_loop *loop)
{
    return (uint32_t)ax__loop_now(loop);
}

/* Aux states a loop keeps for reuse: a connection that queues a reply per
 * request takes one and gives it back each time (io_uring queues every
 * write), and a list beats malloc() there. */
#define SPARE_AUX 64 /* none in sanitizer builds (!AX_CONN_SLAB): every state is
                        freed, so a late use shows */

ax__aux *ax__conn_aux(ax_conn *c)
{
    if (c->aux)
        return c->aux;
    ax__net *n = ax__net_of(ax__conn_loop(c));
    ax__aux *a = n->spare_aux;
    if (a) {
        n->spare_aux = (ax__aux *)a->conn;
        n->nspare_aux--;
    } else if (!(a = malloc(sizeof *a))) {
        return NULL;
    }
    memset(a, 0, sizeof *a);
    a->conn = c;
    a->out.fd = -1;
    c->aux = a;
    return a;
}

void ax__conn_aux_trim(ax_conn *c)
{
    const ax__aux *a = c->aux;
    /* Only when nothing in it is in use: the queue drained, and no
     * address, pipe, filter, held bytes, error, mark or second fd. */
    if (!a || a->head || (c->flags & (CF_SPLIT | CF_FAILED | CF_SENDING)) || a->high_water ||
        a->remote || a->local || a->pipe_dst || a->pipe_src || a->top || a->held)
        return;
    ax__net *n = ax__net_of(ax__conn_loop(c));
    if (AX_CONN_SLAB && n->nspare_aux < SPARE_AUX) {
        c->aux->conn = (ax_conn *)n->spare_aux;
        n->spare_aux = c->aux;
        n->nspare_aux++;
    } else {
        free(c->aux);
    }
    c->aux = NULL;
}

void *ax_conn_arg(const ax_conn *c)
{
    return c->arg;
}

int ax_conn_fd(const ax_conn *c)
{
    return c->io.fd;
}

void ax_conn_set_events(ax_conn *c, const ax_conn_events *ev, void *arg)
{
    c->ev = ev ? ev : &no_events;
    c->arg = arg;
}

/* --------------------------------------------------------- interest */

/* Recomputes what the loop should watch: reading unless paused or ended
 * (a handshake reads even while the user paused), writing while bytes are
 * queued. A socket's bytes come through the loop (AX__RECV, the same on
 * every backend); a pipe or file is read here on readiness. */
void ax__conn_update(ax_conn *c)
{
    if (c->flags & CF_CLOSED)
        return;
    ax_loop *loop = ax__conn_loop(c);
    unsigned stop = c->flags & (CF_PAUSED | CF_PIPE_PAUSED);
    if (c->flags & CF_OPENING)
        stop = 0;
    unsigned rd = stop || (c->flags & CF_RD_EOF) || c->io.fd < 0 ? 0
                  : c->tp == TP_SOCKET                            ? AX__RECV
                                                                  : AX_READABLE;
    /* (A loop that submits sends hands the queue over itself: no poll.) */
    unsigned wr = c->aux && c->aux->queued && !(c->flags & CF_SUBMIT) ? AX_WRITABLE : 0;
    if (c->flags & CF_SPLIT) {
        if (c->io.fd >= 0 && c->io.want != rd)
            ax__io_set(loop, &c->io, rd);
        if (c->aux->out.fd >= 0 && c->aux->out.want != wr)
            ax__io_set(loop, &c->aux->out, wr);
    } else if (c->io.want != (rd | wr)) {
        ax__io_set(loop, &c->io, rd | wr);
    }
}

/* ------------------------------------------------------------ create */

/* Connections come from slabs rather than one malloc each: an idle
 * connection then costs exactly sizeof(struct ax_conn) (56 bytes on
 * x86-64) plus its slot in the table, with no allocator header. Slots
 * are reused; slabs go back with the loop. */
#define SLAB_SLOTS 72

typedef union conn_slot {
    union conn_slot *next;
    struct ax_conn c;
} conn_slot;

typedef struct conn_slab {
    struct conn_slab *next;
    conn_slot slots[SLAB_SLOTS];
} conn_slab;

#ifndef AX_CONN_SLAB
#define AX_CONN_SLAB 1
#endif

#if !AX_CONN_SLAB
/* Sanitizer and valgrind builds (AXON_CONN_SLAB=OFF) take one allocation
 * per connection, so a use after close is caught rather than landing in a
 * recycled slot. */
static ax_conn *conn_alloc(ax__net *n)
{
    (void)n;
    return calloc(1, sizeof(ax_conn));
}

static void conn_release(ax__net *n, ax_conn *c)
{
    (void)n;
    free(c);
}
#else
static ax_conn *conn_alloc(ax__net *n)
{
    conn_slot *s = n->conn_free;
    if (!s) {
        conn_slab *slab = malloc(sizeof *slab);
        if (!slab)
            return NULL;
        slab->next = n->conn_slabs;
        n->conn_slabs = slab;
        for (size_t i = 0; i < SLAB_SLOTS; i++)
            slab->slots[i].next = i + 1 < SLAB_SLOTS ? &slab->slots[i + 1] : NULL;
        s = &slab->slots[0];
    }
    n->conn_free = s->next;
    memset(&s->c, 0, sizeof s->c);
    return &s->c;
}

static void conn_release(ax__net *n, ax_conn *c)
{
    conn_slot *s = (conn_slot *)(void *)c;
    s->next = n->conn_free;
    n->conn_free = s;
}
#endif

void ax__conn_slabs_free(ax__net *n)
{
#if AX_CONN_SLAB
    conn_slab *slab = n->conn_slabs;
    while (slab) {
        conn_slab *next = slab->next;
        free(slab);
        slab = next;
    }
#endif
    n->conn_slabs = NULL;
    n->conn_free = NULL;
}

static int track(ax__net *n, ax_conn *c)
{
    if (n->nconns == n->capconns) {
        size_t cap = n->capconns ? n->capconns * 2 : 64;
        ax_conn **a = realloc(n->conns, cap * sizeof *a);
        if (!a)
            return AX_ENOMEM;
        n->conns = a;
        n->capconns = cap;
    }
    c->idx = (uint32_t)n->nconns;
    n->conns[n->nconns++] = c;
    return 0;
}

static void untrack(ax__net *n, ax_conn *c)
{
    ax_conn *last = n->conns[--n->nconns];
    n->conns[c->idx] = last;
    last->idx = c->idx;
}

/* A zeroed connection, tracked; NULL with the message set. */
static ax_conn *conn_create(ax_loop *loop, ax__net **np)
{
    ax__net *n = ax__net_get(loop);
    if (!n)
        return NULL;
    ax_conn *c = conn_alloc(n);
    if (!c || track(n, c) < 0) {
        if (c)
            conn_release(n, c);
        ax__err(AX_ENOMEM, "new connection: out of memory");
        return NULL;
    }
    c->io.kind = ax__kind_conn;
    c->ev = &no_events;
    c->last_active = stamp(loop);
    *np = n;
    return c;
}

static void conn_destroy(ax__net *n, ax_conn *c)
{
    untrack(n, c);
    free(c->aux);
    conn_release(n, c);
}

ax_conn *ax__conn_new(ax_loop *loop, int fd, ax_server *server)
{
    ax__net *n;
    ax_conn *c = conn_create(loop, &n);
    if (!c)
        return NULL;
    c->io.fd = fd;
    if (ax__loop_submits_sends(loop))
        c->flags |= CF_SUBMIT;
    if (server) {
        c->owner.server = server;
    } else {
        c->owner.loop = loop;
        c->flags |= CF_CLIENT;
    }
    if (ax__io_set(loop, &c->io, AX__RECV) < 0) {
        conn_destroy(n, c);
        return NULL;
    }
    ax__ref(loop);
    return c;
}

/* Undoes ax_conn_open()'s changes to the caller's fds after a failure. */
static int open_failed(int rc, const int fd[2], const int fl[2])
{
    for (int i = 0; i < 2; i++)
        if (fd[i] >= 0 && fl[i] >= 0 && (i == 0 || fd[1] != fd[0]))
            fcntl(fd[i], F_SETFL, fl[i]);
    return rc;
}

int ax_conn_open(ax_loop *loop, int in_fd, int out_fd, ax_conn **out)
{
    if (!loop || !out || (in_fd < 0 && out_fd < 0))
        return ax__err(AX_EINVAL, "open connection: bad arguments");
    *out = NULL;
    struct stat st;
    int fd0 = in_fd >= 0 ? in_fd : out_fd;
    if (fstat(fd0, &st) < 0)
        return ax__syserr(ax__errno(), "open connection on fd %d failed", fd0);
    int is_sock = S_ISSOCK(st.st_mode) && in_fd == out_fd;
    /* The fds are borrowed until this succeeds: a failure leaves them with
     * the flags they came with. */
    const int fd[2] = {in_fd, out_fd};
    int fl[2] = {-1, -1};
    for (int i = 0; i < 2; i++) {
        if (fd[i] < 0 || (i == 1 && fd[1] == fd[0]))
            continue;
        fl[i] = fcntl(fd[i], F_GETFL);
        if (ax_set_nonblock(fd[i], 1) < 0)
            return open_failed(ax_last_error()->code, fd, fl);
    }
    ax__net *n;
    ax_conn *c = conn_create(loop, &n);
    if (!c)
        return open_failed(ax_last_error()->code, fd, fl);
    c->io.fd = in_fd;
    c->owner.loop = loop;
    c->flags = CF_CLIENT;
    c->tp = is_sock ? TP_SOCKET : TP_FD;
    if (is_sock && ax__loop_submits_sends(loop))
        c->flags |= CF_SUBMIT;
    if (in_fd < 0)
        c->flags |= CF_RD_EOF;
    if (out_fd != in_fd) {
        if (!ax__conn_aux(c)) {
            conn_destroy(n, c);
            return open_failed(ax__err(AX_ENOMEM, "open connection: out of memory"), fd, fl);
        }
        c->flags |= CF_SPLIT;
        c->aux->out.fd = out_fd;
        c->aux->out.kind = ax__kind_conn_out;
    }
    if (out_fd < 0)
        c->flags |= CF_WR_SHUT;
    int rc = in_fd >= 0 ? ax__io_set(loop, &c->io, is_sock ? AX__RECV : AX_READABLE) : 0;
    if (rc < 0) {
        if (rc == AX_EEXIST)
            ax__err(rc, "open connection: fd %d is already watched by this loop", in_fd);
        conn_destroy(n, c);
        return open_failed(rc, fd, fl);
    }
    ax__ref(loop);
    *out = c;
    return 0;
}

/* ------------------------------------------------------------- close */

static void free_conn(ax__net *n, ax_conn *c)
{
    /* Resumed after its close (an on_close resuming others): the resume
     * list must not outlive the connection. */
    for (size_t i = 0; i < n->nresumed;) {
        if (n->resumed[i] == c)
            n->resumed[i] = n->resumed[--n->nresumed];
        else
            i++;
    }
    if (c->aux) {
        ax__wbuf *b = c->aux->head;
        while (b) {
            ax__wbuf *next = b->next;
            free(b);
            b = next;
        }
        free(c->aux->remote);
        free(c->aux->local);
        free(c->aux->held);
        free(c->aux);
    }
    conn_release(n, c);
}

/* Closed connections, after the callback stack that closed them unwound:
 * on_error (if an error closed it) and on_close, then the memory. */
void ax__conn_flush(ax__net *n)
{
    while (n->closed) {
        ax_conn *c = n->closed;
        n->closed = c->next_closed;
        if (!n->closed)
            n->closed_tail = NULL;
        ax_error e = {.code = 0};
        if (c->flags & CF_FAILED) {
            e.code = c->aux->err;
            ax__syserr(e.code, "%s", c->aux->err_what);
            memcpy(e.message, ax_last_error()->message, sizeof e.message);
        }
        if (c->flags & CF_OPENING) {
            /* Never handed over (a filter's handshake failed or the
             * connection closed first): its owner hears of it instead. */
            if (!e.code) {
                e.code = AX_ECONNABORTED;
                ax__err(e.code, "Connection closed before it was set up");
                memcpy(e.message, ax_last_error()->message, sizeof e.message);
            }
            if (c->flags & CF_CONNECTED)
                ax__connect_open_failed(c, &e);
            else if (!(c->flags & CF_CLIENT))
                ax__server_open_failed(c->owner.server, &e);
        } else {
            if (e.code && c->ev->on_error)
                c->ev->on_error(c, &e, c->arg);
            if (c->ev->on_close)
                c->ev->on_close(c, c->arg);
        }
        ax__chain_close(c);
        /* The kernel may still owe completions naming it (io_uring): the
         * kind's released() frees it when the last one came. */
        if (!c->owed)
            free_conn(n, c);
    }
}

static void forget_and_close(ax_loop *loop, ax_conn *c, ax__io *io)
{
    if (io->fd < 0)
        return;
    if (ax__io_forget(loop, io))
        c->owed++;
    close(io->fd);
    io->fd = -1;
}

void ax_conn_close(ax_conn *c)
{
    if (!c || (c->flags & CF_CLOSED))
        return;
    ax_loop *loop = ax__conn_loop(c);
    ax__net *n = ax__net_of(loop);
    c->flags |= CF_CLOSED;
    ax__pipe_unlink(c);
    forget_and_close(loop, c, &c->io);
    if (c->flags & CF_SPLIT)
        forget_and_close(loop, c, &c->aux->out);
    untrack(n, c);
    ax__unref(loop);
    if (!(c->flags & CF_CLIENT))
        ax__server_conn_closed(c->owner.server);
    /* On the closing list (no allocation): on_close runs after the
     * current callbacks return, in the order the connections closed. */
    c->next_closed = NULL;
    if (n->closed_tail)
        n->closed_tail->next_closed = c;
    else
        n->closed = c;
    n->closed_tail = c;
    ax__loop_flush_later(loop, ax__net_slot);
}

/* Reports err through on_error, then closes. */
void ax__conn_fail(ax_conn *c, int code, const char *what)
{
    if (c->flags & CF_CLOSED)
        return;
    ax__aux *a = ax__conn_aux(c);
    if (a) {
        /* on_error comes from the closing list, before on_close, so it
         * never runs inside the call that met the error. */
        a->err = code;
        a->err_what = what;
        c->flags |= CF_FAILED;
    }
    ax_conn_close(c);
}

/* Both directions are done: nothing more can happen. */
static void maybe_finish(ax_conn *c)
{
    if ((c->flags & CF_RD_EOF) && (c->flags & CF_WR_SHUT))
        ax_conn_close(c);
}

/* ------------------------------------------------------------ reading */

/* Keeps bytes that arrived while the user paused reading (a completion
 * backend's recv in flight when the pause came, or a filter's output) for
 * ax_conn_resume(). */
static void hold(ax_conn *c, const char *data, size_t n)
{
    ax__aux *a = ax__conn_aux(c);
    if (a && a->heldoff && a->nheld + n > a->capheld) {
        /* Delivered bytes at the front: make room by moving the rest. */
        memmove(a->held, a->held + a->heldoff, a->nheld - a->heldoff);
        a->nheld -= a->heldoff;
        a->heldoff = 0;
    }
    if (a && a->nheld + n > a->capheld) {
        size_t cap = a->capheld ? a->capheld : 4096;
        while (cap < a->nheld + n)
            cap *= 2;
        char *h = realloc(a->held, cap);
        if (!h) {
            a = NULL;
        } else {
            a->held = h;
            a->capheld = cap;
        }
    }
    if (!a) {
        ax__conn_fail(c, AX_ENOMEM, "Unable to read from stream");
        return;
    }
    memcpy(a->held + a->nheld, data, n);
    a->nheld += n;
}

/* Held bytes not yet delivered. */
static size_t held(const ax_conn *c)
{
    return c->aux ? c->aux->nheld - c->aux->heldoff : 0;
}

static void on_eof(ax_conn *c)
{
    c->flags |= CF_RD_EOF;
    ax__conn_update(c);
    if (c->aux && c->aux->pipe_dst)
        ax__pipe_end(c);
    else if (c->ev->on_end)
        c->ev->on_end(c, c->arg);
    else
        ax_conn_end(c); /* react/socket's default: end our side too */
    if (!(c->flags & CF_CLOSED))
        maybe_finish(c);
}

/* To the user (or the pipe) now: nothing is held before these bytes. */
static void deliver_now(ax_conn *c, const char *data, size_t n)
{
    if (n == 0)
        on_eof(c);
    else if (c->aux && c->aux->pipe_dst)
        ax__pipe_data(c, data, n);
    else if (c->ev->on_data)
        c->ev->on_data(c, data, n, c->arg);
}

void ax__conn_deliver(ax_conn *c, const char *data, size_t n)
{
    if (c->flags & CF_CLOSED)
        return;
    if (n == 0 && (c->flags & CF_OPENING)) {
        /* The peer left before the filters finished shaking hands. */
        ax__conn_fail(c, AX_ECONNRESET, "Connection lost during handshake");
        return;
    }
    if (c->flags & (CF_PAUSED | CF_PIPE_PAUSED | CF_OPENING) ||
        held(c) || (c->flags & CF_EOF_HELD)) {
        if (n)
            hold(c, data, n);
        else
            c->flags |= CF_EOF_HELD;
        return;
    }
    deliver_now(c, data, n);
}

/* Bytes (n > 0), the end (0) or an error (< 0) from the socket or fd. */
static inline void received(ax_conn *c, const char *data, ssize_t n)
{
    /* The per-event hot path: a plain connection, reading, bytes. */
    if (n > 0 && !c->aux && !(c->flags & (CF_CLOSED | CF_PAUSED | CF_PIPE_PAUSED))) {
        c->last_active = stamp(ax__conn_loop(c));
        if (c->ev->on_data)
            c->ev->on_data(c, data, (size_t)n, c->arg);
        return;
    }
    if (n < 0) {
        ax__conn_fail(c, (int)n, "Unable to read from stream");
        return;
    }
    if (n > 0)
        c->last_active = stamp(ax__conn_loop(c));
    if (c->aux && c->aux->top)
        ax__chain_recv(c, data, (size_t)n);
    else
        ax__conn_deliver(c, data, (size_t)n);
}

/* Delivers what was held while paused, then a held end. The buffer stays
 * (bytes keep arriving in bursts while a completion backend's recv is
 * being cancelled, up to the loop's receive buffers' worth) unless it grew
 * beyond 4 MiB. */
static void release_held(ax_conn *c)
{
    ax__aux *a = c->aux;
    while (a && a->heldoff < a->nheld &&
           !(c->flags & (CF_CLOSED | CF_PAUSED | CF_PIPE_PAUSED))) {
        size_t k = a->nheld - a->heldoff;
        if (k > AX__READ_BUF)
            k = AX__READ_BUF;
        /* on_data may hold nothing more (it is not a delivery path), but
         * it may pause, close, or be the last thing this buffer sees. */
        size_t off = a->heldoff;
        a->heldoff += k;
        deliver_now(c, a->held + off, k);
    }
    if (a && !(c->flags & CF_CLOSED) && a->heldoff == a->nheld) {
        a->heldoff = a->nheld = 0;
        if (a->capheld > 64 * AX__READ_BUF) {
            free(a->held);
            a->held = NULL;
            a->capheld = 0;
        }
    }
    if ((c->flags & CF_EOF_HELD) && !(c->flags & (CF_CLOSED | CF_PAUSED | CF_PIPE_PAUSED)) &&
        !held(c)) {
        c->flags &= (uint16_t)~CF_EOF_HELD;
        on_eof(c);
    }
}

/* -------------------------------------------------------------- pause */

void ax_conn_pause(ax_conn *c)
{
    c->flags |= CF_PAUSED;
    ax__conn_update(c);
}

/* Reading starts again: what arrived meanwhile goes first (held bytes, a
 * filter's output), from the net layer's flush, so that on_data never runs
 * inside ax_conn_resume(). */
static void resume_now(ax_conn *c)
{
    if (c->flags & (CF_CLOSED | CF_PAUSED | CF_PIPE_PAUSED))
        return;
    release_held(c);
    if (!(c->flags & CF_CLOSED) && c->aux && c->aux->top)
        ax__chain_resume(c);
}

void ax__conn_flush_resumed(ax__net *n)
{
    /* By index: delivering may resume more. A connection closed meanwhile
     * is still in memory: the closing list is worked through after this. */
    for (size_t i = 0; i < n->nresumed; i++)
        resume_now(n->resumed[i]);
    n->nresumed = 0;
}

/* Queues c for resume_now() after the current callbacks. */
static void queue_resume(ax_conn *c)
{
    ax_loop *loop = ax__conn_loop(c);
    ax__net *n = ax__net_of(loop);
    if (n->nresumed == n->capresumed) {
        size_t cap = n->capresumed ? n->capresumed * 2 : 16;
        ax_conn **r = realloc(n->resumed, cap * sizeof *r);
        if (!r) {
            ax__conn_fail(c, AX_ENOMEM, "Unable to read from stream");
            return;
        }
        n->resumed = r;
        n->capresumed = cap;
    }
    n->resumed[n->nresumed++] = c;
    ax__loop_flush_later(loop, ax__net_slot);
}

static void resumed(ax_conn *c)
{
    ax__conn_update(c);
    if (held(c) || (c->flags & CF_EOF_HELD) || (c->aux && c->aux->top))
        queue_resume(c);
}

void ax_conn_resume(ax_conn *c)
{
    c->flags &= (uint16_t)~CF_PAUSED;
    resumed(c);
}

void ax__conn_pipe_resume(ax_conn *c)
{
    c->flags &= (uint16_t)~CF_PIPE_PAUSED;
    resumed(c);
}

/* ------------------------------------------------------------- opening */

/* The chain is ready (or there is none): hand the connection over. */
static void hand_over(ax_conn *c);

void ax__conn_opened(ax_conn *c)
{
    if (!(c->flags & CF_OPENING)) {
        hand_over(c);
        return;
    }
    c->flags &= (uint16_t)~CF_OPENING;
    ax__conn_update(c);
    hand_over(c);
    if (!(c->flags & CF_CLOSED) && (held(c) || (c->flags & CF_EOF_HELD)))
        queue_resume(c);
}

static void hand_over(ax_conn *c)
{
    if (c->flags & CF_CONNECTED) {
        /* ax_connect() hands it over from its own code (connect.c). */
        ax__connect_opened(c);
        return;
    }
    if (c->flags & CF_CLIENT)
        return; /* ax_conn_open(): the caller holds it already */
    ax_server *s = c->owner.server;
    if (s->o.on_connection)
        s->o.on_connection(s, c, s->o.arg);
    else
        ax_conn_close(c);
}

/* ------------------------------------------------------------- events */

static void conn_ready(ax_loop *loop, ax__io *io, unsigned revents)
{
    ax_conn *c = (ax_conn *)io;
    if ((revents & (AX_WRITABLE | AX_FDERROR)) && !(c->flags & CF_SPLIT))
        ax__conn_writable(c);
    /* A pipe or file (ax_conn_open): read on readiness, as a socket's
     * bytes would have come from the loop. */
    if ((revents & AX_READABLE) && (c->io.want & AX_READABLE) && !(c->flags & CF_CLOSED)) {
        char *buf = ax__loop_rbuf(loop);
        ssize_t n = ax__tp_read(c, buf, AX__READ_BUF);
        if (n != AX_EAGAIN)
            received(c, buf, n);
    }
}

static void conn_received(ax_loop *loop, ax__io *io, const char *data, ssize_t n)
{
    (void)loop;
    received((ax_conn *)io, data, n);
}

static void conn_sent(ax_loop *loop, ax__io *io, ssize_t n)
{
    (void)loop;
    ax__conn_sent((ax_conn *)io, n);
}

static ax_conn *out_owner(ax__io *io)
{
    return ((ax__aux *)(void *)((char *)io - offsetof(ax__aux, out)))->conn;
}

static void conn_released(ax_loop *loop, ax__io *io, ax_conn *c)
{
    (void)io;
    /* The last owed completion of a closed connection: once on_close ran
     * (it is no longer on the closing list), the memory can go. */
    if (--c->owed == 0) {
        ax__net *n = ax__net_of(loop);
        for (ax_conn *p = n->closed; p; p = p->next_closed)
            if (p == c)
                return; /* the flush frees it */
        free_conn(n, c);
    }
}

static void conn_released_in(ax_loop *loop, ax__io *io)
{
    conn_released(loop, io, (ax_conn *)io);
}

static void conn_released_out(ax_loop *loop, ax__io *io)
{
    conn_released(loop, io, out_owner(io));
}

static void conn_out_ready(ax_loop *loop, ax__io *io, unsigned revents)
{
    (void)loop;
    if (revents & (AX_WRITABLE | AX_FDERROR | AX_HANGUP))
        ax__conn_writable(out_owner(io));
}

const ax__kind ax__conn_kind = {
    .name = "connection",
    .ready = conn_ready,
    .received = conn_received,
    .sent = conn_sent,
    .released = conn_released_in,
};

const ax__kind ax__conn_out_kind = {
    .name = "connection output",
    .ready = conn_out_ready,
    .released = conn_released_out,
};
