/*
 * event_server - the benchmark server on libevent 2.1, through its stream
 * API (evconnlistener + bufferevent), tuned only as the API offers: reads
 * and writes of up to 64 KiB asked for (bufferevent_set_max_single_read/
 * write, as the other servers use 64 KiB), echo by moving the input
 * evbuffer's chains to the output without copying, and reading paused
 * while more than 64 KiB waits to be written (back-pressure), resumed when
 * the output drains.
 *
 * Note: libevent 2.1's evbuffer_read() still caps each socket read at 4 KiB
 * (EVBUFFER_MAX_READ) whatever max_single_read says, and a bufferevent
 * writes one loop iteration after the read (EPOLLOUT on, then off: two
 * epoll_ctl calls per exchange). Both are libevent's own costs and show up
 * in pump and in instructions per request.
 *
 * usage: event_server echo|http IP:PORT     (prints "ready"; SIGTERM/SIGINT exit 0)
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common.h"

#define HIGH_WATER 65536

typedef struct conn {
    struct bufferevent *bev;
    struct conn *prev, *next; /* every open connection, to free them at exit */
    unsigned http;            /* request-terminator match state */
} conn;

static struct event_base *base;
static enum bench_mode mode;
static conn *conns;

static void conn_free(conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    bufferevent_free(c->bev);
    free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer *outb = bufferevent_get_output(bev);

    if (mode == MODE_ECHO) {
        evbuffer_add_buffer(outb, in);
    } else {
        size_t k = 0;
        struct evbuffer_iovec v[16];
        while (evbuffer_get_length(in) > 0) {
            int n = evbuffer_peek(in, -1, NULL, v, 16);
            size_t used = 0;
            if (n > 16)
                n = 16;
            for (int i = 0; i < n; i++) {
                k += http_count(&c->http, v[i].iov_base, v[i].iov_len);
                used += v[i].iov_len;
            }
            evbuffer_drain(in, used);
        }
        while (k > 0) {
            size_t b = k < HTTP_BATCH ? k : HTTP_BATCH;
            evbuffer_add(outb, http_block(), b * HTTP_RESPONSE_LEN);
            k -= b;
        }
    }
    if (evbuffer_get_length(outb) >= HIGH_WATER)
        bufferevent_disable(bev, EV_READ);
}

/* Called when the output has drained to the low-water mark (0). */
static void on_write(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (!(bufferevent_get_enabled(bev) & EV_READ))
        bufferevent_enable(bev, EV_READ);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_free(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    (void)arg;
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        fputs("event_server: out of memory\n", stderr);
        exit(1);
    }
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        fputs("event_server: bufferevent_socket_new failed\n", stderr);
        exit(1);
    }
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    bufferevent_set_max_single_read(c->bev, 65536);
    bufferevent_set_max_single_write(c->bev, 65536);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ);
}

static void on_listen_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    perror("event_server: accept"); /* EMFILE and the like: keep serving */
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    event_base_loopbreak(base);
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t sslen;

    bench_server_args(argc, argv, &mode, &ss, &sslen);
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    if (!base) {
        fputs("event_server: event_base_new failed\n", stderr);
        return 1;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        511, (struct sockaddr *)&ss, (int)sslen);
    if (!l) {
        perror("event_server: listen");
        return 1;
    }
    evconnlistener_set_error_cb(l, on_listen_error);
    struct event *st = evsignal_new(base, SIGTERM, on_signal, NULL);
    struct event *si = evsignal_new(base, SIGINT, on_signal, NULL);
    if (!st || !si || event_add(st, NULL) < 0 || event_add(si, NULL) < 0) {
        fputs("event_server: evsignal failed\n", stderr);
        return 1;
    }
    bench_ready();

    if (event_base_dispatch(base) < 0) {
        fputs("event_server: event_base_dispatch failed\n", stderr);
        return 1;
    }
    while (conns)
        conn_free(conns);
    event_free(st);
    event_free(si);
    evconnlistener_free(l);
    event_base_free(base);
    libevent_global_shutdown();
    return 0;
}
