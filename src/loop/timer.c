/* Timers on a binary min-heap ordered by (due, sequence), so timers due at
 * the same time run in the order they were armed. A timer lives until
 * ax_timer_stop() (or ax_loop_free): one that fired stays, inactive, so a
 * pointer to it never dangles. */
#include <stdlib.h>

#include "loop/loop_impl.h"

#define NOT_IN_HEAP ((size_t)-1)

struct ax_timer {
    ax_loop *loop;
    ax_timer *prev, *next; /* loop->timers: every timer not yet stopped */
    ax_timer_cb cb;
    void *arg;
    uint64_t due, repeat, seq;
    size_t idx;       /* position in the heap, NOT_IN_HEAP when idle */
    uint8_t ref;      /* counts toward ax_loop_alive while armed */
    uint8_t running;  /* inside its callback */
    uint8_t stopped;  /* ax_timer_stop() was called inside the callback */
};

static int before(const ax_timer *a, const ax_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void place(ax_loop *loop, size_t i, ax_timer *t)
{
    loop->heap[i] = t;
    t->idx = i;
}

static void sift_up(ax_loop *loop, size_t i)
{
    ax_timer *t = loop->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(t, loop->heap[p]))
            break;
        place(loop, i, loop->heap[p]);
        i = p;
    }
    place(loop, i, t);
}

static void sift_down(ax_loop *loop, size_t i)
{
    ax_timer *t = loop->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= loop->nheap)
            break;
        if (c + 1 < loop->nheap && before(loop->heap[c + 1], loop->heap[c]))
            c++;
        if (!before(loop->heap[c], t))
            break;
        place(loop, i, loop->heap[c]);
        i = c;
    }
    place(loop, i, t);
}

/* Room in the heap for every live timer, kept from ax_timer_start: re-arming
 * one (ax_timer_again) then never needs memory and cannot fail. */
static int heap_reserve(ax_loop *loop, size_t total)
{
    if (total <= loop->capheap)
        return 0;
    size_t cap = loop->capheap ? loop->capheap * 2 : 16;
    ax_timer **h = realloc(loop->heap, cap * sizeof *h);
    if (!h)
        return AX_ENOMEM;
    loop->heap = h;
    loop->capheap = cap;
    return 0;
}

static void heap_add(ax_loop *loop, ax_timer *t)
{
    place(loop, loop->nheap++, t);
    sift_up(loop, t->idx);
    if (t->ref)
        ax__ref(loop);
}

static void heap_remove(ax_loop *loop, ax_timer *t)
{
    size_t i = t->idx;
    if (i == NOT_IN_HEAP)
        return;
    t->idx = NOT_IN_HEAP;
    if (t->ref)
        ax__unref(loop);
    ax_timer *last = loop->heap[--loop->nheap];
    if (i == loop->nheap)
        return;
    place(loop, i, last);
    if (i > 0 && before(last, loop->heap[(i - 1) / 2]))
        sift_up(loop, i);
    else
        sift_down(loop, i);
}

/* Due after_ms from the loop's clock. Outside the loop's callbacks that
 * clock may be stale (the program did something else since the loop last
 * woke), so it is read first; inside them it is the time the loop woke.
 * The sum saturates: a delay too long to represent never fires, rather
 * than wrapping round to fire at once. */
static void arm(ax_timer *t, uint64_t after_ms)
{
    ax_loop *loop = t->loop;
    if (loop->depth == 0)
        loop->head.now = (uint64_t)ax__now_ms();
    uint64_t now = loop->head.now;
    t->due = after_ms > UINT64_MAX - now ? UINT64_MAX : now + after_ms;
    t->seq = loop->timer_seq++;
}

ax_timer *ax_timer_start(ax_loop *loop, uint64_t after_ms, uint64_t repeat_ms, ax_timer_cb cb,
                         void *arg)
{
    if (!loop || !cb) {
        ax__err(AX_EINVAL, "timer start: loop or cb is NULL");
        return NULL;
    }
    ax_timer *t = calloc(1, sizeof *t);
    if (!t || heap_reserve(loop, loop->ntimers + 1) < 0) {
        free(t);
        ax__err(AX_ENOMEM, "timer start: out of memory");
        return NULL;
    }
    t->loop = loop;
    t->cb = cb;
    t->arg = arg;
    t->repeat = repeat_ms;
    t->ref = 1;
    t->idx = NOT_IN_HEAP;
    t->next = loop->timers;
    if (t->next)
        t->next->prev = t;
    loop->timers = t;
    loop->ntimers++;
    arm(t, after_ms);
    heap_add(loop, t);
    return t;
}

void ax_timer_again(ax_timer *t, uint64_t after_ms, uint64_t repeat_ms)
{
    heap_remove(t->loop, t);
    t->repeat = repeat_ms;
    t->stopped = 0;
    arm(t, after_ms);
    /* Room for every live timer is kept by ax_timer_start. */
    heap_add(t->loop, t);
}

int ax_timer_active(const ax_timer *t)
{
    return t && t->idx != NOT_IN_HEAP;
}

static void unlink_timer(ax_timer *t)
{
    t->loop->ntimers--;
    if (t->prev)
        t->prev->next = t->next;
    else
        t->loop->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

void ax_timer_stop(ax_timer *t)
{
    if (!t || t->stopped)
        return;
    heap_remove(t->loop, t);
    unlink_timer(t);
    if (t->running)
        t->stopped = 1; /* freed when the callback returns */
    else
        free(t);
}

void ax_timer_set_ref(ax_timer *t, int ref)
{
    uint8_t r = ref != 0;
    if (r == t->ref)
        return;
    if (t->idx != NOT_IN_HEAP) {
        if (r)
            ax__ref(t->loop);
        else
            ax__unref(t->loop);
    }
    t->ref = r;
}

int ax__timer_next(const ax_loop *loop)
{
    if (loop->nheap == 0)
        return -1;
    uint64_t due = loop->heap[0]->due, now = loop->head.now;
    if (due <= now)
        return 0;
    uint64_t d = due - now;
    return d > 86400000u ? 86400000 : (int)d;
}

void ax__timer_run(ax_loop *loop)
{
    /* Timers armed during this pass (including one re-armed with delay 0
     * from its own callback) have seq >= limit and wait for the next
     * iteration, after I/O has been polled. */
    uint64_t limit = loop->timer_seq;
    while (loop->nheap > 0) {
        ax_timer *t = loop->heap[0];
        if (t->due > loop->head.now || t->seq >= limit)
            break;
        heap_remove(loop, t);
        if (t->repeat) {
            arm(t, t->repeat);
            heap_add(loop, t);
        }
        t->running = 1;
        t->cb(t, t->arg);
        t->running = 0;
        if (t->stopped)
            free(t); /* stopped in its callback */
    }
}

void ax__timer_free_all(ax_loop *loop)
{
    while (loop->timers) {
        ax_timer *t = loop->timers;
        heap_remove(loop, t);
        unlink_timer(t);
        free(t);
    }
    free(loop->heap);
    loop->heap = NULL;
    loop->capheap = 0;
}
