/* The net layer on a loop: its kinds and slot, its per-loop state, the
 * closing lists it works through after callbacks, the idle sweep (an
 * ordinary timer) and teardown. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

int ax__net_slot = -1;
uint8_t ax__kind_conn, ax__kind_conn_out, ax__kind_server, ax__kind_connect;

static void net_flush(ax_loop *loop, void *state);
static int net_close_all(ax_loop *loop, void *state);
static void net_fini(ax_loop *loop, void *state);

static const ax__layer net_layer = {
    .name = "net", .close_all = net_close_all, .flush = net_flush, .fini = net_fini};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered; /* 1 on success, else the error */

static void net_register(void)
{
    int ids[4];
    const ax__kind *kinds[4] = {&ax__conn_kind, &ax__conn_out_kind, &ax__server_kind,
                                &ax__connect_kind};
    for (int i = 0; i < 4; i++) {
        if ((ids[i] = ax__kind_register(kinds[i])) < 0) {
            registered = ids[i];
            return;
        }
    }
    int slot = ax__layer_register(&net_layer);
    if (slot < 0) {
        registered = slot;
        return;
    }
    ax__kind_conn = (uint8_t)ids[0];
    ax__kind_conn_out = (uint8_t)ids[1];
    ax__kind_server = (uint8_t)ids[2];
    ax__kind_connect = (uint8_t)ids[3];
    ax__net_slot = slot;
    registered = 1;
}

ax__net *ax__net_get(ax_loop *loop)
{
    pthread_once(&once, net_register);
    if (registered != 1) {
        ax__err(registered, "the loop has no room for the net layer");
        return NULL;
    }
    ax__net *n = ax__net_of(loop);
    if (n)
        return n;
    n = calloc(1, sizeof *n);
    if (!n) {
        ax__err(AX_ENOMEM, "net layer: out of memory");
        return NULL;
    }
    n->loop = loop;
    ax__loop_set_slot(loop, ax__net_slot, &net_layer, n);
    return n;
}

/* ------------------------------------------------------------ closing */

/* Closed handles, after the callback stack that closed them unwound:
 * their close callbacks, then their memory (unless the kernel still owes
 * completions that name them; their kinds' released() frees them then). */
static void net_flush(ax_loop *loop, void *state)
{
    (void)loop;
    ax__net *n = state;
    ax__conn_flush_resumed(n);
    ax__conn_flush(n);
    ax__server_flush(n);
    ax__connect_flush(n);
}

static int net_close_all(ax_loop *loop, void *state)
{
    (void)loop;
    ax__net *n = state;
    int any = n->servers || n->nconns || n->connects;
    while (n->servers)
        ax_server_close(n->servers);
    while (n->nconns)
        ax_conn_close(n->conns[n->nconns - 1]);
    ax__connect_cancel_all(n);
    if (n->sweep) {
        ax_timer_stop(n->sweep);
        n->sweep = NULL;
    }
    return any;
}

static void net_fini(ax_loop *loop, void *state)
{
    ax__net *n = state;
    ax__conn_slabs_free(n);
    free(n->conns);
    free(n->resumed);
    while (n->spare_aux) {
        ax__aux *a = n->spare_aux;
        n->spare_aux = (ax__aux *)a->conn;
        free(a);
    }
    while (n->spare_wbufs) {
        ax__wbuf *b = n->spare_wbufs;
        n->spare_wbufs = b->next;
        free(b);
    }
    ax__loop_set_slot(loop, ax__net_slot, &net_layer, NULL);
    free(n);
}

/* --------------------------------------------------------- idle sweep */

/* How often a server's idle timeout is checked: twice within a short one,
 * every 500 ms otherwise. */
static uint64_t sweep_step(const ax_server *s)
{
    uint32_t t = s->o.idle_timeout_ms;
    return t < 1000 ? t / 2 + 1 : 500;
}

/* Closes connections idle longer than their server allows. */
static void sweep(ax_timer *t, void *arg)
{
    (void)t;
    ax__net *n = arg;
    uint32_t now = (uint32_t)ax__loop_now(n->loop);
    for (size_t i = n->nconns; i-- > 0;) {
        if (i >= n->nconns)
            continue;
        ax_conn *c = n->conns[i];
        if ((c->flags & CF_CLIENT) || !c->owner.server->o.idle_timeout_ms)
            continue;
        uint32_t idle = now - c->last_active;
        if (idle >= c->owner.server->o.idle_timeout_ms) {
            ax_error e = {.code = AX_ETIMEDOUT};
            ax__err(AX_ETIMEDOUT, "Connection idle for %u ms closed", idle);
            memcpy(e.message, ax_last_error()->message, sizeof e.message);
            if (c->ev->on_error)
                c->ev->on_error(c, &e, c->arg);
            ax_conn_close(c);
        }
    }
}

/* Starts, re-times or stops the sweep after servers came or went: the
 * shortest step any open server needs, never later than one already due
 * (another server's longer timeout must not let these connections live
 * far past their limit). */
void ax__net_sweep_update(ax__net *n)
{
    uint64_t step = 0;
    for (ax_server *s = n->servers; s; s = s->next)
        if (s->o.idle_timeout_ms && (!step || sweep_step(s) < step))
            step = sweep_step(s);
    if (!step) {
        if (n->sweep)
            ax_timer_stop(n->sweep);
        n->sweep = NULL;
        return;
    }
    if (!n->sweep) {
        n->sweep = ax_timer_start(n->loop, step, step, sweep, n);
        if (n->sweep)
            ax_timer_set_ref(n->sweep, 0); /* servers keep the loop alive */
        return;
    }
    ax_timer_again(n->sweep, step, step);
}
