/*
 * axon/loop.h - the event loop: I/O readiness, timers, deferred calls,
 * cross-thread posts, signals and raw fd watchers.
 *
 * Threads: a loop and every handle on it belong to the thread that runs
 * the loop. Only ax_loop_post() and ax_loop_stop() may be called from
 * other threads.
 *
 * Handles (timers, signal watchers, fd watchers, servers, connections)
 * live until their stop/close call (or ax_loop_free): a timer that fired
 * is still valid until stopped. A handle stopped or closed inside a
 * callback is freed after the callbacks return, so touching it until then
 * is safe; closing never allocates, so it cannot fail.
 *
 * Backends: "io_uring" (the default where the kernel allows it: a
 * completion backend with multishot accept and multishot recv into a ring
 * of buffers the loop provides), "epoll" (the fallback when io_uring is
 * refused -- an old kernel, a seccomp filter as in Docker, or
 * kernel.io_uring_disabled) and "poll" (portable). Chosen at ax_loop_new(),
 * or forced with ax_loop_opts.backend or AXON_BACKEND=io_uring|epoll|poll.
 * Everything below behaves the same on each.
 */
#ifndef AXON_LOOP_H
#define AXON_LOOP_H

#include <stdbool.h>

#include "common.h"
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_loop ax_loop;
typedef struct ax_timer ax_timer;
typedef struct ax_signal ax_signal;
typedef struct ax_watch ax_watch;

typedef struct ax_loop_opts {
    /* NULL or "auto" (io_uring, else epoll), "io_uring", "epoll", "poll";
     * AXON_BACKEND overrides "auto". A backend named here must start, or
     * ax_loop_new() fails saying why (no silent fallback). */
    const char *backend;
    /* io_uring sizes; 0 picks the default. Rounded up to powers of two. */
    unsigned uring_entries;    /* submission queue entries (512; completions: 8x) */
    unsigned recv_buffers;     /* provided receive buffers shared by the loop (256) */
    unsigned recv_buffer_size; /* bytes each (16384) */
    /* io_uring: queue every write and submit it with the loop's next wait,
     * instead of writing with send() at once and waiting (a poll) only for
     * room for what the socket did not take, as on epoll. The default
     * (direct) measured equal CPU per request and a third of the userland
     * instructions (bench/results-latest.md). AXON_URING_SENDS=submit or
     * =direct overrides this. */
    bool uring_submit_sends;
} ax_loop_opts;

/*
 * A new loop; opts may be NULL. Returns NULL on failure with the reason in
 * ax_last_error() (unknown backend name, a named backend that cannot start,
 * out of fds, ...). The caller owns the loop and frees it with
 * ax_loop_free(). On io_uring, the thread that first runs the loop becomes
 * the ring's only submitter (IORING_SETUP_SINGLE_ISSUER), so a loop may be
 * made on one thread and run on another, but then only there.
 */
AX_EXTERN ax_loop *ax_loop_new(const ax_loop_opts *opts);

/*
 * Runs until nothing active is left (no started timer, watcher, server,
 * connection or pending call that holds a reference) or ax_loop_stop() is
 * called (a stop that arrives before ax_loop_run() makes it return at once).
 * Returns 0, or an error from the backend.
 */
AX_EXTERN int ax_loop_run(ax_loop *loop);

/*
 * One iteration: waits up to timeout_ms for I/O (< 0: until something
 * happens; 0: just poll), then runs due timers and deferred calls. Returns
 * 1 if handles are still active, 0 if none, or an error.
 */
AX_EXTERN int ax_loop_run_once(ax_loop *loop, int timeout_ms);

/* Makes ax_loop_run() return after the current iteration. Thread-safe. */
AX_EXTERN void ax_loop_stop(ax_loop *loop);

/*
 * Queues fn(arg) to run on the loop's thread, waking the loop. Thread-safe.
 * Calls run in the order posted. The loop stays alive until they ran.
 * Returns 0 or AX_ENOMEM.
 */
AX_EXTERN int ax_loop_post(ax_loop *loop, void (*fn)(void *arg), void *arg);

/*
 * Queues fn(arg) to run at the end of the current (or next) iteration,
 * after I/O and timers. Loop thread only. A call deferred from a deferred
 * call runs in the next iteration, so deferring cannot starve I/O.
 */
AX_EXTERN int ax_loop_defer(ax_loop *loop, void (*fn)(void *arg), void *arg);

/* "io_uring", "epoll" or "poll". Static string. */
AX_EXTERN const char *ax_loop_backend(const ax_loop *loop);

/* Why "auto" fell back from io_uring to epoll ("io_uring: setting up a ring
 * failed: Operation not permitted (EPERM)"), or NULL when it did not. The
 * string belongs to the loop. */
AX_EXTERN const char *ax_loop_backend_note(const ax_loop *loop);

/* Monotonic milliseconds, cached when the loop last woke from waiting for
 * I/O (every backend refreshes it before it runs any callback). */
AX_EXTERN uint64_t ax_loop_now(const ax_loop *loop);

/* Refreshes the cached time (for long callbacks). */
AX_EXTERN void ax_loop_update_time(ax_loop *loop);

/*
 * An fd that becomes readable when the loop has I/O or a post waiting, so
 * this loop can be embedded into another program's loop: watch the fd
 * there, sleep no longer than ax_loop_timeout() (timers and deferred calls
 * do not make the fd readable), and call ax_loop_run_once(loop, 0) when it
 * is readable or the timeout passes. On io_uring this is the ring's fd
 * (readable when completions wait); AX_ENOTSUP on the poll backend.
 */
AX_EXTERN int ax_loop_fd(const ax_loop *loop);

/* Milliseconds until the next timer is due, 0 if work is pending, -1 if
 * there is no timer. */
AX_EXTERN int ax_loop_timeout(const ax_loop *loop);

/* 1 if the loop has active, referenced handles or pending calls. */
AX_EXTERN int ax_loop_alive(const ax_loop *loop);

/*
 * Frees the loop. Handles still open are closed first (connections and
 * servers get their on_close; timers and watchers are just freed), then
 * the loop. Must not be called from inside the loop's own callbacks.
 */
AX_EXTERN void ax_loop_free(ax_loop *loop);

/* ---------------------------------------------------------------- timers */

typedef void (*ax_timer_cb)(ax_timer *timer, void *arg);

/*
 * Calls cb(timer, arg) after after_ms, then every repeat_ms if repeat_ms >
 * 0. A timer due now runs in the next iteration, after I/O is polled, so
 * a zero-delay timer re-armed from its own callback cannot starve I/O.
 *
 * The delay counts from the loop's clock. Inside the loop's callbacks
 * that is the time the loop woke for this iteration (as in libuv; call
 * ax_loop_update_time() first after a long computation). Outside them --
 * before ax_loop_run(), between ax_loop_run_once() calls, in on_close
 * callbacks run by ax_loop_free() -- the clock is read at the call, so a
 * timer started after the program did other work still waits its full
 * delay. Delays saturate: one too long to represent (UINT64_MAX, or a
 * negative number converted) never fires, and a repeat that long makes
 * the timer fire once.
 *
 * Returns NULL on AX_ENOMEM. The timer lives until ax_timer_stop() (or
 * ax_loop_free()), like libuv's: a one-shot timer that fired stays,
 * inactive and not keeping the loop alive, so a pointer to it never
 * dangles; restart it with ax_timer_again(), or stop it (also from its own
 * callback) when done with it.
 */
AX_EXTERN ax_timer *ax_timer_start(ax_loop *loop, uint64_t after_ms, uint64_t repeat_ms,
                                   ax_timer_cb cb, void *arg);

/* Re-arms a timer, armed or one that fired (also from its own callback),
 * with new delays. Never fails: ax_timer_start() kept room for it. */
AX_EXTERN void ax_timer_again(ax_timer *timer, uint64_t after_ms, uint64_t repeat_ms);

/* 1 if the timer is armed (will fire), 0 if it fired and was not
 * re-armed, or timer is NULL. */
AX_EXTERN int ax_timer_active(const ax_timer *timer);

/* Stops and frees the timer, armed or not. Safe inside its callback (it is
 * freed when the callback returns). NULL is a no-op. */
AX_EXTERN void ax_timer_stop(ax_timer *timer);

/* ref = 0: the timer does not keep ax_loop_run() going on its own. */
AX_EXTERN void ax_timer_set_ref(ax_timer *timer, int ref);

/* --------------------------------------------------------------- signals */

typedef void (*ax_signal_cb)(ax_signal *sig, int signo, void *arg);

/*
 * Watches signo through a signalfd: the signal is blocked in the calling
 * thread (block it in every thread of a threaded program, before creating
 * them) and delivered as cb(sig, signo, arg) on the loop. Typical use: stop
 * cleanly on SIGINT/SIGTERM. Returns NULL with ax_last_error() on failure.
 * The blocked mask is the thread's: when the last watcher of a signal on
 * this thread stops (whichever of the thread's loops it belongs to), the
 * signal is unblocked again unless it was blocked before the first.
 */
AX_EXTERN ax_signal *ax_signal_watch(ax_loop *loop, int signo, ax_signal_cb cb, void *arg);

/* Stops and frees the watcher. Safe inside its callback. */
AX_EXTERN void ax_signal_stop(ax_signal *sig);

/* ref = 0: the watcher does not keep ax_loop_run() going on its own. */
AX_EXTERN void ax_signal_set_ref(ax_signal *sig, int ref);

/* --------------------------------------------------------- fd watchers */

/* The values are poll()'s and epoll's own bits, so reporting them costs
 * no translation. */
#define AX_READABLE 0x1u
#define AX_WRITABLE 0x4u
#define AX_FDERROR 0x8u /* reported, never requested */
#define AX_HANGUP 0x10u /* reported, never requested */

typedef void (*ax_watch_cb)(ax_watch *w, int fd, unsigned revents, void *arg);

/*
 * Calls cb when fd (borrowed: the watcher never closes it) is readable
 * and/or writable as asked in events (level-triggered). A regular file,
 * which epoll cannot watch, is treated as always ready. Returns NULL with
 * ax_last_error() on failure (AX_EEXIST if fd is already watched).
 */
AX_EXTERN ax_watch *ax_watch_fd(ax_loop *loop, int fd, unsigned events, ax_watch_cb cb,
                                void *arg);

/* Changes the events watched (0 = none, still registered). */
AX_EXTERN int ax_watch_set(ax_watch *w, unsigned events);

/* Stops and frees the watcher. Safe inside its callback. */
AX_EXTERN void ax_watch_stop(ax_watch *w);

#ifdef __cplusplus
}
#endif

#endif
