/*
 * Signal watchers (src/loop/signal.c) on every backend: delivery through
 * the signalfd, the thread's mask given back when the thread's last
 * watcher stops (across loops), unreferenced watchers.
 *
 * Loops come from axt_new_loop(), so AXON_BACKEND runs the file on each
 * backend (tests/CMakeLists.txt registers one run per backend).
 */
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "axt_loop.h"

/* ------------------------------------------------------------ signals */

typedef struct sigrec {
    ax_loop *loop;
    int count, last, stop_self, stop_loop;
} sigrec;

static void sig_cb(ax_signal *s, int signo, void *arg)
{
    sigrec *r = arg;
    r->count++;
    r->last = signo;
    if (r->stop_self)
        ax_signal_stop(s);
    if (r->stop_loop)
        ax_loop_stop(r->loop);
}

static void kill_self(ax_timer *t, void *arg)
{
    (void)t;
    CHECK_EQ(kill(getpid(), (int)(intptr_t)arg), 0);
}

TEST(signal_delivered_and_mask_restored)
{
    ax_loop *loop = axt_new_loop();
    CHECK(!axt_sig_blocked(SIGUSR1));
    sigrec r = {.loop = loop, .stop_self = 1};
    CHECK(ax_signal_watch(loop, SIGUSR1, sig_cb, &r) != NULL);
    CHECK(axt_sig_blocked(SIGUSR1));
    CHECK(ax_timer_start(loop, 10, 0, kill_self, (void *)(intptr_t)SIGUSR1) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0); /* the watcher stops itself */
    CHECK_EQ(r.count, 1);
    CHECK_EQ(r.last, SIGUSR1);
    CHECK(!axt_sig_blocked(SIGUSR1)); /* the last watcher gave it back */
    CHECK(ax_signal_watch(loop, SIGKILL, sig_cb, &r) == NULL);
    CHECK_EQ(ax_last_error()->code, AX_EINVAL);
    CHECK(ax_signal_watch(loop, 0, sig_cb, &r) == NULL);
    ax_loop_free(loop);
}

TEST(signal_two_watchers_and_prior_mask)
{
    ax_loop *loop = axt_new_loop();
    sigset_t one; /* SIGUSR2 was blocked before axon: it stays blocked */
    sigemptyset(&one);
    sigaddset(&one, SIGUSR2);
    CHECK_EQ(pthread_sigmask(SIG_BLOCK, &one, NULL), 0);
    sigrec a = {.loop = loop}, b = {.loop = loop}, c = {.loop = loop};
    ax_signal *sa = ax_signal_watch(loop, SIGUSR1, sig_cb, &a);
    ax_signal *sb = ax_signal_watch(loop, SIGUSR1, sig_cb, &b);
    ax_signal *sc = ax_signal_watch(loop, SIGUSR2, sig_cb, &c);
    CHECK(sa && sb && sc);
    CHECK_EQ(kill(getpid(), SIGUSR1), 0);
    CHECK_EQ(kill(getpid(), SIGUSR2), 0);
    AXT_RUN_UNTIL(loop, a.count && b.count && c.count, 3000);
    CHECK_EQ(a.count + b.count + c.count, 3);
    CHECK_EQ(c.last, SIGUSR2);
    ax_signal_stop(sa);
    CHECK(axt_sig_blocked(SIGUSR1)); /* b still watches it */
    ax_signal_stop(sb);
    CHECK(!axt_sig_blocked(SIGUSR1));
    ax_signal_stop(sc);
    CHECK(axt_sig_blocked(SIGUSR2));
    CHECK_EQ(ax_loop_run(loop), 0);
    ax_loop_free(loop);
}

/* The blocked mask belongs to the thread, not the loop: two loops on one
 * thread watch SIGUSR1; stopping loop A's watcher must keep the signal
 * blocked for loop B, which then still receives it (it used to be
 * unblocked, and the next SIGUSR1 killed the process). */
TEST(signal_two_loops_one_thread_share_the_mask)
{
    CHECK(!axt_sig_blocked(SIGUSR1));
    ax_loop *a = axt_new_loop(), *b = axt_new_loop();
    sigrec ra = {.loop = a}, rb = {.loop = b, .stop_loop = 1};
    ax_signal *sa = ax_signal_watch(a, SIGUSR1, sig_cb, &ra);
    ax_signal *sb = ax_signal_watch(b, SIGUSR1, sig_cb, &rb);
    CHECK(sa && sb);
    ax_signal_stop(sa);
    CHECK(axt_sig_blocked(SIGUSR1));
    CHECK(ax_timer_start(b, 10, 0, kill_self, (void *)(intptr_t)SIGUSR1) != NULL);
    CHECK_EQ(ax_loop_run(b), 0);
    CHECK_EQ(rb.count, 1);
    CHECK_EQ(ra.count, 0);
    ax_signal_stop(sb);
    CHECK(!axt_sig_blocked(SIGUSR1)); /* the last one on the thread */
    /* The other order, through ax_loop_free. */
    sa = ax_signal_watch(a, SIGUSR1, sig_cb, &ra);
    sb = ax_signal_watch(b, SIGUSR1, sig_cb, &rb);
    CHECK(sa && sb);
    ax_loop_free(b);
    CHECK(axt_sig_blocked(SIGUSR1));
    ax_loop_free(a);
    CHECK(!axt_sig_blocked(SIGUSR1));
}

TEST(signal_sigterm_stops_loop)
{
    ax_loop *loop = axt_new_loop();
    sigrec r = {.loop = loop, .stop_loop = 1};
    ax_signal *s = ax_signal_watch(loop, SIGTERM, sig_cb, &r);
    CHECK(s != NULL);
    int late = 0;
    ax_timer *t = ax_timer_start(loop, 8000, 0, axt_set_flag, &late);
    CHECK(ax_timer_start(loop, 20, 0, kill_self, (void *)(intptr_t)SIGTERM) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(r.count, 1);
    CHECK_EQ(r.last, SIGTERM);
    CHECK_EQ(late, 0);
    ax_timer_stop(t);
    ax_signal_stop(s);
    CHECK(!axt_sig_blocked(SIGTERM));
    ax_loop_free(loop);
}

/* ---------------------------------------------------------------- refs */

static void tick(ax_timer *t, void *arg) { (void)t; ++*(int *)arg; }

TEST(unref_timers_and_signals_do_not_keep_loop_alive)
{
    ax_loop *loop = axt_new_loop();
    int ticks = 0, done = 0;
    ax_timer *slow = ax_timer_start(loop, 10000, 0, tick, &ticks);
    ax_timer_set_ref(slow, 0);
    ax_timer_set_ref(slow, 0); /* idempotent */
    sigrec r = {.loop = loop};
    ax_signal *s = ax_signal_watch(loop, SIGUSR1, sig_cb, &r);
    ax_signal_set_ref(s, 0);
    CHECK_EQ(ax_loop_alive(loop), 0);
    CHECK_EQ(ax_loop_run(loop), 0); /* at once */
    /* An unreferenced repeating timer runs while a referenced one keeps
     * the loop going, and no longer. */
    ax_timer *fast = ax_timer_start(loop, 2, 2, tick, &ticks);
    ax_timer_set_ref(fast, 0);
    CHECK(ax_timer_start(loop, 60, 0, axt_set_flag, &done) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(done, 1);
    CHECK(ticks >= 3);
    int before = ticks;
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(ticks, before);
    ax_timer_set_ref(slow, 1);
    CHECK_EQ(ax_loop_alive(loop), 1);
    ax_timer_set_ref(slow, 0);
    ax_signal_set_ref(s, 1);
    CHECK_EQ(ax_loop_alive(loop), 1);
    ax_signal_stop(s);
    ax_timer_stop(fast);
    ax_timer_stop(slow);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(ax_loop_alive(loop), 0);
    ax_loop_free(loop);
}
