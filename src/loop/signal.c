/* Signal watchers on one signalfd per loop. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/internal.h"
#include "loop/loop_impl.h"

struct ax_signal {
    ax_loop *loop;
    ax_signal *next;
    ax_signal_cb cb;
    void *arg;
    int signo;
    uint8_t ref;
    uint8_t dead; /* stopped; unlinked and freed by a deferred call */
};

static int watched(const ax_loop *loop, int signo, const ax_signal *except)
{
    for (const ax_signal *s = loop->signals; s; s = s->next)
        if (s->signo == signo && s != except && !s->dead)
            return 1;
    return 0;
}

/*
 * The blocked-signal mask belongs to the thread, and one thread may run
 * several loops: the signal is blocked when the thread's first loop starts
 * watching it and given back (unblocked, unless it was blocked before) when
 * the thread's last loop stops. Loops and their handles are used on one
 * thread (axon/loop.h), so thread-local counts need no lock.
 */
static _Thread_local unsigned thread_watchers[NSIG];
static _Thread_local sigset_t thread_was_blocked;

static void thread_hold(int signo)
{
    if (thread_watchers[signo]++ > 0)
        return;
    sigset_t one, old;
    sigemptyset(&one);
    sigaddset(&one, signo);
    pthread_sigmask(SIG_BLOCK, &one, &old);
    if (sigismember(&old, signo))
        sigaddset(&thread_was_blocked, signo);
    else
        sigdelset(&thread_was_blocked, signo);
}

static void thread_release(int signo)
{
    if (thread_watchers[signo] == 0 || --thread_watchers[signo] > 0)
        return;
    if (!sigismember(&thread_was_blocked, signo)) {
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, signo);
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    }
}

ax_signal *ax_signal_watch(ax_loop *loop, int signo, ax_signal_cb cb, void *arg)
{
    if (!loop || !cb || signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP) {
        ax__err(AX_EINVAL, "signal watch: bad arguments (signal %d)", signo);
        return NULL;
    }
    ax_signal *s = calloc(1, sizeof *s);
    if (!s) {
        ax__err(AX_ENOMEM, "signal watch: out of memory");
        return NULL;
    }
    if (!sigismember(&loop->sigmask, signo)) {
        sigset_t next = loop->sigmask;
        sigaddset(&next, signo);
        int fd = signalfd(loop->sigio.fd, &next, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0) {
            ax__syserr(ax__errno(), "signal watch: signalfd for signal %d failed", signo);
            free(s);
            return NULL;
        }
        if (loop->sigio.fd < 0) {
            loop->sigio.fd = fd;
            if (ax__io_set(loop, &loop->sigio, AX_READABLE) < 0) {
                close(fd);
                loop->sigio.fd = -1;
                free(s);
                return NULL;
            }
        }
        thread_hold(signo);
        loop->sigmask = next;
    }
    s->loop = loop;
    s->cb = cb;
    s->arg = arg;
    s->signo = signo;
    s->ref = 1;
    s->next = loop->signals;
    loop->signals = s;
    ax__ref(loop);
    return s;
}

void ax__signal_sweep(ax_loop *loop)
{
    loop->signals_dead = 0;
    ax_signal **pp = &loop->signals;
    while (*pp) {
        ax_signal *s = *pp;
        if (s->dead) {
            *pp = s->next;
            free(s);
        } else {
            pp = &s->next;
        }
    }
}

void ax_signal_stop(ax_signal *s)
{
    if (!s || s->dead)
        return;
    ax_loop *loop = s->loop;
    if (s->ref)
        ax__unref(loop);
    s->dead = 1;
    if (!watched(loop, s->signo, s)) {
        /* This loop's last watcher of the signal: the loop stops carrying
         * it, and the thread's mask is given back if no other loop of the
         * thread still watches it. */
        sigdelset(&loop->sigmask, s->signo);
        signalfd(loop->sigio.fd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
        thread_release(s->signo);
    }
    /* Unlinking now could pull the list out from under ax__signal_io: the
     * loop sweeps it after the callbacks (no allocation on a stop). */
    loop->signals_dead = 1;
}

void ax_signal_set_ref(ax_signal *s, int ref)
{
    uint8_t r = ref != 0;
    if (s->dead || r == s->ref)
        return;
    if (r)
        ax__ref(s->loop);
    else
        ax__unref(s->loop);
    s->ref = r;
}

void ax__signal_io(ax_loop *loop)
{
    struct signalfd_siginfo si[8];
    for (;;) {
        ssize_t n = read(loop->sigio.fd, si, sizeof si);
        if (n <= 0)
            return;
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
            int signo = (int)si[i].ssi_signo;
            for (ax_signal *s = loop->signals; s; s = s->next)
                if (s->signo == signo && !s->dead)
                    s->cb(s, signo, s->arg);
        }
    }
}

int ax__signal_close_all(ax_loop *loop)
{
    int any = 0;
    for (ax_signal *s = loop->signals; s; s = s->next) {
        if (!s->dead) {
            ax_signal_stop(s);
            any = 1;
        }
    }
    ax__signal_sweep(loop);
    if (loop->sigio.fd >= 0) {
        ax__io_forget(loop, &loop->sigio);
        close(loop->sigio.fd);
        loop->sigio.fd = -1;
    }
    return any;
}
