/*
 * floor_server - the minimal correct epoll server, the "floor" the other
 * implementations are measured against: level-triggered, non-blocking
 * accept4, one read per readiness into a static buffer, written straight
 * back; only when a write is short is the rest copied aside and EPOLLOUT
 * asked for (and reading paused until it is flushed, so a slow reader
 * cannot make the server buffer without bound).
 *
 * usage: floor_server echo|http IP:PORT     (prints "ready"; SIGTERM/SIGINT exit 0)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common.h"

/* Per-fd state, indexed by fd (the table is sized to RLIMIT_NOFILE). */
struct fdstate {
    char *pending;     /* bytes a short write left over (malloc'd), or NULL */
    size_t plen, poff; /* pending[poff..plen) still to write */
    unsigned http;     /* request-terminator match state */
    unsigned open;
};

static struct fdstate *fds;
static size_t nfds;
static int ep;
static enum bench_mode mode;
static char rbuf[65536];

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void conn_close(int fd)
{
    free(fds[fd].pending);
    memset(&fds[fd], 0, sizeof fds[fd]);
    close(fd);
}

static int set_events(int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* Writes, or queues what the socket would not take. 0, or -1 if fd closed. */
static int out(int fd, const char *p, size_t n)
{
    struct fdstate *s = &fds[fd];
    ssize_t w = 0;

    if (!s->pending) {
        w = write(fd, p, n);
        if (w == (ssize_t)n)
            return 0;
        if (w < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                conn_close(fd);
                return -1;
            }
            w = 0;
        }
    }
    size_t rest = n - (size_t)w;
    char *np = realloc(s->pending, s->plen + rest);
    if (!np)
        die("realloc");
    memcpy(np + s->plen, p + w, rest);
    if (!s->pending && set_events(fd, EPOLLOUT) < 0)
        die("epoll_ctl");
    s->pending = np;
    s->plen += rest;
    return 0;
}

static void on_writable(int fd)
{
    struct fdstate *s = &fds[fd];
    ssize_t w = write(fd, s->pending + s->poff, s->plen - s->poff);

    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_close(fd);
        return;
    }
    s->poff += (size_t)w;
    if (s->poff == s->plen) {
        free(s->pending);
        s->pending = NULL;
        s->plen = s->poff = 0;
        if (set_events(fd, EPOLLIN) < 0)
            die("epoll_ctl");
    }
}

static void on_readable(int fd)
{
    ssize_t n = read(fd, rbuf, sizeof rbuf);

    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            conn_close(fd);
        return;
    }
    if (mode == MODE_ECHO) {
        out(fd, rbuf, (size_t)n);
        return;
    }
    size_t k = http_count(&fds[fd].http, rbuf, (size_t)n);
    while (k > 0) {
        size_t b = k < HTTP_BATCH ? k : HTTP_BATCH;
        if (out(fd, http_block(), b * HTTP_RESPONSE_LEN) < 0)
            return;
        k -= b;
    }
}

static void on_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                perror("accept4"); /* EMFILE and the like: keep serving */
            return;
        }
        if ((size_t)fd >= nfds) {
            close(fd);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            die("epoll_ctl");
        fds[fd].open = 1;
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct rlimit rl;
    sigset_t mask;
    int one = 1;

    bench_server_args(argc, argv, &mode, &ss, &sslen);
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit");
    nfds = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20) ? (1u << 20) : rl.rlim_cur;
    fds = calloc(nfds, sizeof *fds);
    if (!fds)
        die("calloc");

    int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket");
    if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        die("setsockopt");
    if (bind(lfd, (struct sockaddr *)&ss, sslen) < 0)
        die("bind");
    if (listen(lfd, 511) < 0)
        die("listen");

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        die("sigprocmask");
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        die("signalfd");

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    struct epoll_event sev = {.events = EPOLLIN, .data.fd = sfd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev) < 0)
        die("epoll_ctl");
    bench_ready();

    struct epoll_event evs[256];
    for (int stop = 0; !stop;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t e = evs[i].events;
            if (fd == lfd) {
                on_accept(lfd);
            } else if (fd == sfd) {
                stop = 1;
            } else if (fds[fd].open) {
                /* A closed fd's events later in this batch are skipped by
                 * the open check; an fd reused by accept in the same batch
                 * gets a harmless spurious read (EAGAIN). */
                if (fds[fd].pending) {
                    if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                        on_writable(fd);
                } else if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                    on_readable(fd);
                }
            }
        }
    }

    for (size_t fd = 0; fd < nfds; fd++)
        if (fds[fd].open)
            conn_close((int)fd);
    free(fds);
    close(ep);
    close(sfd);
    close(lfd);
    return 0;
}
