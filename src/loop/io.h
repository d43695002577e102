/*
 * src/loop/io.h - what the loop offers the layers above it (net, and later
 * dns, dgram, tls): the I/O handle they embed, the kinds of handle they
 * register, a per-loop slot for each layer's state, and the operations a
 * handle asks of the loop. The loop never names a layer: it calls what a
 * layer registered.
 *
 * One path for readiness and completion backends. A layer asks for one of
 * three things on an io and always hears back through its kind's entry
 * points, whatever the backend:
 *   - AX_READABLE / AX_WRITABLE: readiness, kind->ready(revents). On a
 *     completion backend the loop arms a poll for it.
 *   - AX__RECV (sockets): bytes, kind->received(data, n). A readiness
 *     backend performs the recv() into the loop's buffer when the socket is
 *     readable; io_uring delivers a provided buffer from a multishot recv.
 *     The data is valid only during the call either way.
 *   - AX__ACCEPT (listening sockets): new fds, kind->accepted(fd). A
 *     readiness backend performs the accept4() calls; io_uring's multishot
 *     accept hands them over.
 * Writes stay the layer's own (a direct send() first, then AX_WRITABLE for
 * what is queued), which is one code path on every backend.
 *
 * Lifetimes. Before closing an fd its io is forgotten (ax__io_forget). On
 * a completion backend the kernel may still owe completions that name the
 * io; ax__io_forget() then returns 1 and the io's memory must stay until
 * kind->released() is called. Nothing here allocates on a close.
 */
#ifndef AXON_LOOP_IO_H
#define AXON_LOOP_IO_H

#include <stdalign.h>
#include <sys/types.h>

#include <axon.h>

#include "core/internal.h"

/* Asked of the loop beside AX_READABLE (0x1) and AX_WRITABLE (0x4). */
#define AX__RECV 0x40u   /* deliver a socket's bytes through kind->received */
#define AX__ACCEPT 0x80u /* deliver accepted fds through kind->accepted */

/* The handle every watched object embeds (first, or at an 8-aligned
 * offset: completion backends keep tag bits in the low bits of its
 * address). 8 bytes. */
typedef struct ax__io {
    alignas(8) int fd; /* -1 once closed: late events for it are dropped */
    uint8_t kind;      /* the registered kind: what its events mean */
    uint8_t want;      /* AX_READABLE | AX_WRITABLE | AX__RECV | AX__ACCEPT */
    uint8_t bstate;    /* the backend's own bits */
    uint8_t inflight;  /* completions the kernel still owes (io_uring) */
} ax__io;

/* What an io of a kind means to the layer that registered the kind. Any
 * entry the kind never asks for may be NULL. Each runs on the loop's
 * thread, from the loop's dispatch. */
typedef struct ax__kind {
    const char *name;
    /* Readiness asked with AX_READABLE / AX_WRITABLE (AX_FDERROR and
     * AX_HANGUP may come too; see ax__revents). */
    void (*ready)(ax_loop *loop, ax__io *io, unsigned revents);
    /* AX__RECV: n > 0 bytes at data (valid only during the call), 0 the
     * peer's end of stream, < 0 an error code (never AX_EAGAIN). */
    void (*received)(ax_loop *loop, ax__io *io, const char *data, ssize_t n);
    /* AX__ACCEPT: fd >= 0 a new non-blocking, close-on-exec socket the
     * kind now owns; < 0 an error code (AX_EMFILE, ...; never AX_EAGAIN). */
    void (*accepted)(ax_loop *loop, ax__io *io, int fd);
    /* A send submitted with ax__io_send() ended: n >= 0 bytes went out
     * (perhaps fewer than asked), or an error code. */
    void (*sent)(ax_loop *loop, ax__io *io, ssize_t n);
    /* A forgotten io whose last owed completion arrived: its memory may
     * go. Only completion backends call it (see ax__io_forget). */
    void (*released)(ax_loop *loop, ax__io *io);
} ax__kind;

/* Registers a kind once per process (idempotent, thread-safe) and returns
 * its id for ax__io.kind, or AX_ENOSPC when the table (31 kinds) is full. */
int ax__kind_register(const ax__kind *kind);

/* A layer's per-loop state: the loop keeps a slot for it and calls these
 * while it is freed (ax_loop_free) and when the layer asked for a flush. */
typedef struct ax__layer {
    const char *name;
    /* Closes every handle of the layer on loop (their close callbacks may
     * run, and may open more). Returns 1 if there was anything to close. */
    int (*close_all)(ax_loop *loop, void *state);
    /* Runs the work the layer queued with ax__loop_flush_later(): closed
     * handles' callbacks and frees, after the callback stack unwound. */
    void (*flush)(ax_loop *loop, void *state);
    /* Frees the state; nothing of the layer is left on loop. */
    void (*fini)(ax_loop *loop, void *state);
} ax__layer;

#define AX__MAX_LAYERS 8

/* Registers a layer once per process (idempotent, thread-safe); returns its
 * slot index, or AX_ENOSPC. */
int ax__layer_register(const ax__layer *layer);

/* The start of struct ax_loop: what layers read in their hot paths without
 * a call. Everything else of the loop is private to src/loop. */
typedef struct ax__loop_head {
    uint64_t now;                  /* loop ms, refreshed when the loop wakes */
    size_t active;                 /* referenced handles keeping ax_loop_run() going */
    unsigned flush;                /* layers with queued work (bits by slot) */
    void *slot[AX__MAX_LAYERS];    /* each layer's state, NULL until set */
    const struct ax__layer *layer[AX__MAX_LAYERS];
} ax__loop_head;

static inline ax__loop_head *ax__head(ax_loop *loop)
{
    return (ax__loop_head *)(void *)loop;
}

static inline uint64_t ax__loop_now(const ax_loop *loop)
{
    return ((const ax__loop_head *)(const void *)loop)->now;
}

static inline void *ax__loop_slot(ax_loop *loop, int slot)
{
    return ax__head(loop)->slot[slot];
}

/* Installs the layer's state in its slot (NULL clears it). */
static inline void ax__loop_set_slot(ax_loop *loop, int slot, const ax__layer *layer,
                                     void *state)
{
    ax__head(loop)->slot[slot] = state;
    ax__head(loop)->layer[slot] = state ? layer : NULL;
}

/* Asks the loop to call the layer's flush() after the current callbacks,
 * in this iteration; the loop does not sleep while one is pending. */
static inline void ax__loop_flush_later(ax_loop *loop, int slot)
{
    ax__head(loop)->flush |= 1u << slot;
}

/* Asks for what io wants (AX_READABLE, AX_WRITABLE, AX__RECV, AX__ACCEPT;
 * 0 for nothing, the io staying known to the loop). Returns 0 or an error
 * with its message (AX_EEXIST: the fd is already watched by this loop). */
int ax__io_set(ax_loop *loop, ax__io *io, unsigned want);

/* 1 if the loop submits sends (io_uring, unless ax_loop_opts asked for
 * direct writes): a layer then queues its bytes and hands them over with
 * ax__io_send() instead of writing itself. */
int ax__loop_submits_sends(const ax_loop *loop);

/* Submits a send of buf[0..len) on io's socket, at most one per io at a
 * time; buf must stay valid until kind->sent() reports it. Returns 0 or an
 * error (AX_ENOTSUP on a loop that does not submit sends). */
int ax__io_send(ax_loop *loop, ax__io *io, const void *buf, size_t len);

/* Forgets io before its fd is closed: nothing more is delivered for it.
 * Returns 1 if a completion backend still owes completions naming io (its
 * memory must stay until kind->released), else 0. */
int ax__io_forget(ax_loop *loop, ax__io *io);

/* References that keep ax_loop_run() going. */
static inline void ax__ref(ax_loop *loop)
{
    ax__head(loop)->active++;
}

static inline void ax__unref(ax_loop *loop)
{
    ax__head(loop)->active--;
}

/* The loop's shared read buffer (AX__READ_BUF bytes), for a layer that
 * reads an fd itself on readiness; its contents last until the next read. */
#define AX__READ_BUF (64 * 1024)
char *ax__loop_rbuf(ax_loop *loop);

/* Deferred work; returns 0 or AX_ENOMEM. Not used for closing. */
int ax__defer(ax_loop *loop, void (*fn)(void *), void *arg);

/* Kernel readiness bits (poll's and epoll's are the same values, and so
 * are AX_*) to what the owner is told: a hang-up, error or invalid fd also
 * makes the fd readable (and an error writable) so the owner's next call
 * meets the condition. */
static inline unsigned ax__revents(uint32_t e)
{
    const uint32_t rdhup = 0x2000, nval = 0x20; /* POLLRDHUP/EPOLLRDHUP, POLLNVAL */
    unsigned r = e & (AX_READABLE | AX_WRITABLE | AX_FDERROR | AX_HANGUP);
    if (e & (rdhup | AX_HANGUP | AX_FDERROR | nval))
        r |= AX_READABLE;
    if (e & (AX_FDERROR | nval))
        r |= AX_WRITABLE | AX_FDERROR;
    return r;
}

/* A send()/recv()/read()/write() result as an axon code: n itself, or
 * AX_EAGAIN for "try later" (EAGAIN, EINTR), or -errno. */
static inline ssize_t ax__io_result(ssize_t n)
{
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EINTR)
        return AX_EAGAIN;
    return -errno;
}

#endif
