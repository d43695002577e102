/*
 * loadgen - the one load generator for every benchmark server (plain epoll,
 * single thread, so the client side is identical whatever the server).
 *
 *   loadgen pingpong ADDR CONNS SECONDS   64-byte message, wait for the echo, repeat
 *   loadgen pump     ADDR CONNS SECONDS   write 64 KiB chunks flat out, read the echo
 *   loadgen pound    ADDR CONCURRENCY SECONDS  connect, 64 bytes, echo, close, repeat
 *   loadgen idle     ADDR N               N connections set up, then idle until
 *                                         stdin closes or SIGTERM/SIGINT
 *   loadgen requests ADDR CONNS COUNT     COUNT keep-alive HTTP requests, each checked
 *   loadgen pipeline ADDR                 HTTP pipelining / split-terminator check
 *   loadgen freeport                      prints a free loopback TCP port
 *
 * The first word of the first stdout line of a load mode is its mode and
 * the second the result (rt/s, Gbit/s, conn/s, requests); anything wrong
 * (refused, reset, a bad echo or response, a timeout) is an error on
 * stderr and exit status 1. Only loopback addresses are accepted.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common.h"

#define MSG 64
#define CHUNK 65536
#define MAX_EVENTS 256
#define REQUEST "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
#define REQUEST_LEN (sizeof REQUEST - 1)
#define REQUESTS_TIMEOUT_S 600.0 /* generous: the server may run under callgrind */

static struct sockaddr_storage addr;
static socklen_t addrlen;
static int ep;
static char msg[MSG];
static char chunk[CHUNK];
static char rbuf[CHUNK];

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long arg_num(const char *s, const char *what, long min, long max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max)
        fail("bad %s '%s' (want %ld..%ld)", what, s, min, max);
    return v;
}

static int is_loopback(void)
{
    if (addr.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&addr;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&addr;
    return IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
}

/* Raises the soft fd limit to the hard one: idle and pound want many fds. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        fail("fcntl: %s", strerror(errno));
}

/* A blocking connect (then made non-blocking), TCP_NODELAY on. */
static int dial(void)
{
    int one = 1;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("socket: %s", strerror(errno));
    while (connect(fd, (struct sockaddr *)&addr, addrlen) < 0)
        if (errno != EINTR)
            fail("connect: %s", strerror(errno));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_nonblock(fd);
    return fd;
}

static void ep_ctl(int op, int fd, uint32_t events, uint32_t id)
{
    struct epoll_event ev = {.events = events, .data.u32 = id};
    if (epoll_ctl(ep, op, fd, &ev) < 0)
        fail("epoll_ctl: %s", strerror(errno));
}

/* Waits for events until the deadline; returns how many (0 at the deadline). */
static int wait_until(struct epoll_event *evs, double deadline)
{
    for (;;) {
        double left = deadline - now();
        if (left <= 0)
            return 0;
        int n = epoll_wait(ep, evs, MAX_EVENTS, (int)(left * 1000) + 1);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            fail("epoll_wait: %s", strerror(errno));
    }
}

static void write_all_nb(int fd, const char *p, size_t n)
{
    /* Small messages on a socket with room: a short write means trouble. */
    ssize_t w = write(fd, p, n);
    if (w != (ssize_t)n)
        fail("write: %s", w < 0 ? strerror(errno) : "short write of a small message");
}

/* ------------------------------------------------------------- pingpong */

static int mode_pingpong(long conns, long seconds)
{
    int *fds = calloc((size_t)conns, sizeof *fds);
    size_t *got = calloc((size_t)conns, sizeof *got);
    char *in = malloc((size_t)conns * MSG);
    struct epoll_event evs[MAX_EVENTS];
    unsigned long long trips = 0;

    if (!fds || !got || !in)
        fail("out of memory");
    for (long i = 0; i < conns; i++) {
        fds[i] = dial();
        ep_ctl(EPOLL_CTL_ADD, fds[i], EPOLLIN, (uint32_t)i);
    }
    double t0 = now(), deadline = t0 + (double)seconds;
    for (long i = 0; i < conns; i++)
        write_all_nb(fds[i], msg, MSG);
    for (;;) {
        int n = wait_until(evs, deadline);
        if (n == 0)
            break;
        for (int j = 0; j < n; j++) {
            uint32_t i = evs[j].data.u32;
            char *dst = in + (size_t)i * MSG;
            ssize_t r = read(fds[i], dst + got[i], MSG - got[i]);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                fail("pingpong read: %s", r == 0 ? "server closed the connection" : strerror(errno));
            }
            got[i] += (size_t)r;
            if (got[i] < MSG)
                continue;
            if (memcmp(dst, msg, MSG) != 0)
                fail("pingpong: the echo differs from the message");
            got[i] = 0;
            trips++;
            write_all_nb(fds[i], msg, MSG);
        }
    }
    double el = now() - t0;
    printf("pingpong %.0f rt/s (%llu round trips, %ld conns, %.2f s)\n", (double)trips / el, trips,
           conns, el);
    return 0; /* exit closes the sockets */
}

/* ----------------------------------------------------------------- pump */

static int mode_pump(long conns, long seconds)
{
    int *fds = calloc((size_t)conns, sizeof *fds);
    size_t *off = calloc((size_t)conns, sizeof *off);
    struct epoll_event evs[MAX_EVENTS];
    unsigned long long bytes = 0;

    if (!fds || !off)
        fail("out of memory");
    for (long i = 0; i < conns; i++) {
        fds[i] = dial();
        ep_ctl(EPOLL_CTL_ADD, fds[i], EPOLLIN | EPOLLOUT, (uint32_t)i);
    }
    double t0 = now(), deadline = t0 + (double)seconds;
    for (;;) {
        int n = wait_until(evs, deadline);
        if (n == 0)
            break;
        for (int j = 0; j < n; j++) {
            uint32_t i = evs[j].data.u32;
            uint32_t e = evs[j].events;
            if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                ssize_t r = read(fds[i], rbuf, sizeof rbuf);
                if (r == 0 || (r < 0 && errno != EAGAIN))
                    fail("pump read: %s", r == 0 ? "server closed the connection" : strerror(errno));
                if (r > 0)
                    bytes += (unsigned long long)r;
            }
            if (e & EPOLLOUT) {
                ssize_t w = write(fds[i], chunk + off[i], CHUNK - off[i]);
                if (w < 0 && errno != EAGAIN)
                    fail("pump write: %s", strerror(errno));
                if (w > 0)
                    off[i] = (off[i] + (size_t)w) % CHUNK;
            }
        }
    }
    double el = now() - t0;
    printf("pump %.3f Gbit/s (%llu bytes echoed back, %ld conns, %.2f s)\n",
           (double)bytes * 8 / el / 1e9, bytes, conns, el);
    return 0;
}

/* ---------------------------------------------------------------- pound */

struct slot {
    int fd;
    int connecting;
    size_t got;
};

/*
 * The client closes first, so every pound connection leaves a TIME_WAIT
 * socket on the client side, and Linux reuses such a port for the same
 * destination only after a second or two: with the default 28,000
 * ephemeral ports that caps connect() near 14,000/s, whatever the server.
 * To measure the server, IPv4 connections rotate over POUND_SOURCES
 * loopback source addresses (127.0.0.2, ...), each with its own ports;
 * IP_BIND_ADDRESS_NO_PORT leaves the port choice to connect().
 */
#define POUND_SOURCES 32

static void pound_bind_source(int fd)
{
    static unsigned next;
    int one = 1;

    if (addr.ss_family != AF_INET)
        return;
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(0x7f000002u + next++ % POUND_SOURCES)};
    if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&src, sizeof src) < 0)
        fail("pound bind: %s", strerror(errno));
}

static void pound_start(struct slot *s, uint32_t id)
{
    s->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        fail("socket: %s", strerror(errno));
    pound_bind_source(s->fd);
    s->got = 0;
    if (connect(s->fd, (struct sockaddr *)&addr, addrlen) == 0) {
        s->connecting = 0;
        write_all_nb(s->fd, msg, MSG);
        ep_ctl(EPOLL_CTL_ADD, s->fd, EPOLLIN, id);
    } else if (errno == EINPROGRESS) {
        s->connecting = 1;
        ep_ctl(EPOLL_CTL_ADD, s->fd, EPOLLOUT, id);
    } else {
        fail("pound connect: %s", strerror(errno));
    }
}

static int mode_pound(long conc, long seconds)
{
    struct slot *slots = calloc((size_t)conc, sizeof *slots);
    struct epoll_event evs[MAX_EVENTS];
    unsigned long long done = 0;
    long active = conc;

    if (!slots)
        fail("out of memory");
    double t0 = now(), deadline = t0 + (double)seconds;
    for (long i = 0; i < conc; i++)
        pound_start(&slots[i], (uint32_t)i);
    /* After the deadline no new connection starts; those in flight finish
     * (bounded by a grace period) so the server ends with no half-done one. */
    while (active > 0) {
        double d = now() < deadline ? deadline : deadline + 5.0;
        int n = wait_until(evs, d);
        if (n == 0) {
            if (now() >= deadline + 5.0)
                fail("pound: %ld connections did not finish", active);
            continue;
        }
        for (int j = 0; j < n; j++) {
            uint32_t i = evs[j].data.u32;
            struct slot *s = &slots[i];
            if (s->connecting) {
                /* Writable: connected, or failed (the write then says why). */
                s->connecting = 0;
                write_all_nb(s->fd, msg, MSG);
                ep_ctl(EPOLL_CTL_MOD, s->fd, EPOLLIN, i);
                continue;
            }
            ssize_t r = read(s->fd, rbuf + s->got, MSG - s->got);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                fail("pound read: %s", r == 0 ? "server closed before echoing" : strerror(errno));
            }
            s->got += (size_t)r;
            if (s->got < MSG)
                continue;
            close(s->fd);
            if (now() < deadline) {
                done++;
                pound_start(s, i);
            } else {
                active--;
            }
        }
    }
    double el = deadline - t0;
    printf("pound %.0f conn/s (%llu connections, concurrency %ld, %.2f s)\n", (double)done / el,
           done, conc, el);
    return 0;
}

/* ----------------------------------------------------------------- idle */

static int mode_idle(long n)
{
    int *fds = calloc((size_t)n, sizeof *fds);
    sigset_t mask;
    char c;

    if (!fds)
        fail("out of memory");
    raise_nofile();
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0)
        fail("signalfd: %s", strerror(errno));

    for (long i = 0; i < n; i++) {
        fds[i] = dial();
        write_all_nb(fds[i], "x", 1);
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        if (poll(&p, 1, 10000) != 1 || read(fds[i], &c, 1) != 1)
            fail("idle: connection %ld got no echo", i);
    }
    printf("idle %ld\n", n);
    fflush(stdout);

    struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            fail("poll: %s", strerror(errno));
        }
        if (p[1].revents)
            break;
        if (p[0].revents) {
            char buf[256];
            ssize_t r = read(0, buf, sizeof buf);
            if (r <= 0)
                break; /* stdin closed */
        }
    }
    return 0; /* exit closes the connections */
}

/* ------------------------------------------------------------- requests */

struct hconn {
    int fd;
    size_t len;
    char buf[1024];
};

/*
 * Checks for one complete response at the start of h->buf. Returns its
 * length, 0 if more bytes are needed; fails on anything but our 200.
 */
static size_t http_response_len(const struct hconn *h)
{
    const char *hdr_end = memmem(h->buf, h->len, "\r\n\r\n", 4);
    if (!hdr_end) {
        if (h->len == sizeof h->buf)
            fail("requests: response headers too long");
        return 0;
    }
    if (h->len < 13 || memcmp(h->buf, "HTTP/1.1 200 ", 13) != 0)
        fail("requests: not an HTTP/1.1 200 response: %.*s", (int)(hdr_end - h->buf), h->buf);
    long cl = -1;
    for (const char *p = h->buf; p < hdr_end;) {
        const char *eol = memmem(p, (size_t)(hdr_end + 2 - p), "\r\n", 2);
        if (eol - p > 15 && strncasecmp(p, "content-length:", 15) == 0)
            cl = strtol(p + 15, NULL, 10);
        p = eol + 2;
    }
    if (cl < 0)
        fail("requests: response without Content-Length");
    size_t total = (size_t)(hdr_end + 4 - h->buf) + (size_t)cl;
    if (total > sizeof h->buf)
        fail("requests: response too long");
    if (h->len < total)
        return 0;
    if ((size_t)cl != sizeof HTTP_BODY - 1 || memcmp(hdr_end + 4, HTTP_BODY, (size_t)cl) != 0)
        fail("requests: unexpected body");
    return total;
}

/* Reads what is there; returns complete responses consumed. Fails on EOF. */
static size_t http_read(struct hconn *h)
{
    size_t n = 0;
    ssize_t r = read(h->fd, h->buf + h->len, sizeof h->buf - h->len);
    if (r <= 0) {
        if (r < 0 && errno == EAGAIN)
            return 0;
        fail("requests read: %s", r == 0 ? "server closed the connection" : strerror(errno));
    }
    h->len += (size_t)r;
    size_t t;
    while ((t = http_response_len(h)) > 0) {
        memmove(h->buf, h->buf + t, h->len - t);
        h->len -= t;
        n++;
    }
    return n;
}

static int mode_requests(long conns, long count)
{
    struct hconn *hs = calloc((size_t)conns, sizeof *hs);
    struct epoll_event evs[MAX_EVENTS];
    long sent = 0, done = 0;

    if (!hs)
        fail("out of memory");
    for (long i = 0; i < conns; i++) {
        hs[i].fd = dial();
        ep_ctl(EPOLL_CTL_ADD, hs[i].fd, EPOLLIN, (uint32_t)i);
    }
    double t0 = now(), deadline = t0 + REQUESTS_TIMEOUT_S;
    for (long i = 0; i < conns && sent < count; i++, sent++)
        write_all_nb(hs[i].fd, REQUEST, REQUEST_LEN);
    while (done < count) {
        int n = wait_until(evs, deadline);
        if (n == 0)
            fail("requests: timed out with %ld of %ld done", done, count);
        for (int j = 0; j < n; j++) {
            struct hconn *h = &hs[evs[j].data.u32];
            size_t k = http_read(h);
            if (k > 1 || (k == 1 && h->len > 0))
                fail("requests: more responses than requests");
            if (k == 0)
                continue;
            done++;
            if (sent < count) {
                write_all_nb(h->fd, REQUEST, REQUEST_LEN);
                sent++;
            }
        }
    }
    double el = now() - t0;
    printf("requests %ld done (%.0f req/s, %ld conns, %.2f s)\n", done, (double)done / el, conns, el);
    return 0;
}

/* ------------------------------------------------------------- pipeline */

/* Waits (blocking, 5 s) until `want` responses came on h; fails on extra. */
static void expect_responses(struct hconn *h, size_t want, const char *what)
{
    size_t got = 0;
    double deadline = now() + 5.0;
    while (got < want) {
        struct pollfd p = {.fd = h->fd, .events = POLLIN};
        int left = (int)((deadline - now()) * 1000);
        if (left <= 0 || poll(&p, 1, left) != 1)
            fail("pipeline (%s): %zu of %zu responses", what, got, want);
        got += http_read(h);
    }
    /* Nothing more may follow. */
    struct pollfd p = {.fd = h->fd, .events = POLLIN};
    if (got != want || h->len != 0 || poll(&p, 1, 200) != 0)
        fail("pipeline (%s): more responses than requests", what);
    printf("  %s: %zu responses ok\n", what, want);
}

static int mode_pipeline(void)
{
    static const char req2[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /b HTTP/1.1\r\nHost: x\r\nX: \r\r\n\r\n";
    struct hconn *h = calloc(1, sizeof *h);
    char *burst = malloc(100 * REQUEST_LEN);

    if (!h || !burst)
        fail("out of memory");
    h->fd = dial();
    /* 100 requests in one write. */
    for (int i = 0; i < 100; i++)
        memcpy(burst + (size_t)i * REQUEST_LEN, REQUEST, REQUEST_LEN);
    if (write(h->fd, burst, 100 * REQUEST_LEN) != (ssize_t)(100 * REQUEST_LEN))
        fail("pipeline: write failed");
    expect_responses(h, 100, "100 pipelined in one write");
    /* Two requests (one with a stray "\r" before the end), one byte per
     * write with pauses, so every terminator is split across reads. */
    for (size_t i = 0; i < sizeof req2 - 1; i++) {
        write_all_nb(h->fd, req2 + i, 1);
        usleep(2000);
    }
    expect_responses(h, 2, "2 sent one byte at a time");
    printf("pipeline ok\n");
    return 0;
}

/* ------------------------------------------------------------- freeport */

/* A free port below the kernel's ephemeral range (read from
 * /proc/sys/net/ipv4/ip_local_port_range, 32768 if unreadable): a server
 * listening on an ephemeral port can meet a SYN whose 4-tuple matches one
 * of the many TIME_WAIT client sockets the idle and pound loads leave
 * behind, and be refused; below the range no client socket ever sits. */
static int mode_freeport(void)
{
    unsigned lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%u %u", &lo, &hi) != 2)
            lo = 32768;
        fclose(f);
    }
    unsigned top = lo > 11000 ? lo : 11000, base = 10000;
    unsigned start = (unsigned)getpid() * 7919u;
    for (unsigned i = 0; i < top - base; i++) {
        unsigned port = base + (start + i) % (top - base);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                .sin_port = htons((uint16_t)port)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            fail("freeport: %s", strerror(errno));
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) {
            printf("%u\n", port);
            return 0;
        }
    }
    fail("freeport: no free port below %u", top);
    return 1;
}

static void usage(void)
{
    fputs("usage: loadgen pingpong|pump ADDR CONNS SECONDS\n"
          "       loadgen pound ADDR CONCURRENCY SECONDS\n"
          "       loadgen idle ADDR N\n"
          "       loadgen requests ADDR CONNS COUNT\n"
          "       loadgen pipeline ADDR\n"
          "       loadgen freeport\n"
          "ADDR: 127.0.0.1:PORT or [::1]:PORT (loopback only)\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "freeport") == 0)
        return mode_freeport();
    if (argc < 3)
        usage();
    const char *m = argv[1];
    if (bench_parse_addr(argv[2], &addr, &addrlen) != 0)
        fail("bad address '%s' (want IP:PORT)", argv[2]);
    if (!is_loopback())
        fail("'%s' is not a loopback address", argv[2]);
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < MSG; i++)
        msg[i] = (char)('a' + i % 26);
    memset(chunk, 'x', sizeof chunk);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        fail("epoll_create1: %s", strerror(errno));

    if (strcmp(m, "pipeline") == 0 && argc == 3)
        return mode_pipeline();
    if (strcmp(m, "idle") == 0 && argc == 4)
        return mode_idle(arg_num(argv[3], "N", 1, 1000000));
    if (argc != 5)
        usage();
    if (strcmp(m, "requests") == 0)
        return mode_requests(arg_num(argv[3], "CONNS", 1, 10000),
                             arg_num(argv[4], "COUNT", 1, 1000000000));
    long conns = arg_num(argv[3], "CONNS", 1, 10000);
    long secs = arg_num(argv[4], "SECONDS", 1, 3600);
    if (strcmp(m, "pingpong") == 0)
        return mode_pingpong(conns, secs);
    if (strcmp(m, "pump") == 0)
        return mode_pump(conns, secs);
    if (strcmp(m, "pound") == 0)
        return mode_pound(conns, secs);
    usage();
    return 2;
}
