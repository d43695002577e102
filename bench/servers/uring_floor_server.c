/*
 * uring_floor_server - the minimal correct io_uring server, the "floor" an
 * io_uring backend is measured against: what io_uring does with no library
 * around it. One ring (SINGLE_ISSUER | DEFER_TASKRUN, or COOP_TASKRUN when
 * UFLOOR_COOP=1), one multishot accept, per connection one multishot recv
 * into a ring of 256 provided buffers of 16 KiB, each buffer given back as
 * soon as its bytes are handled. Responses are submitted as IORING_OP_SEND,
 * at most one in flight per connection; what comes meanwhile is appended to
 * a pending buffer and sent when the send completes (a short send resends
 * the rest). Everything queued in an iteration is submitted at once by
 * io_uring_submit_and_wait(), then all completions are drained. The request
 * handling is floor_server's. With more than 64 KiB queued behind the send
 * in flight the recv is cancelled, and armed again once all went out (the
 * back-pressure floor_server applies by pausing reads). A connection is
 * closed by shutdown() and a
 * cancel of its recv; the fd is closed (and its number free for accept)
 * only once its last operation has completed.
 *
 * UFLOOR_DIRECT=1 writes directly first and submits only what the socket
 * did not take (the epoll floor's way, and axon's), for comparison.
 *
 * usage: uring_floor_server echo|http IP:PORT   (prints "ready"; SIGTERM/SIGINT exit 0)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common.h"

#define SQ_ENTRIES 512
#define NBUFS 256         /* provided buffers (a power of two) */
#define BUF_SIZE 16384
#define BGID 0

enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_CANCEL, OP_SIGNAL };
#define UDATA(fd, op) ((uint64_t)(fd) << 8 | (op))

/* Per-fd state, indexed by fd (the table is sized to RLIMIT_NOFILE). */
struct conn {
    const char *sp;        /* the send in flight, sp[soff..slen), or NULL */
    size_t slen, soff;
    char *sbuf, *pend;     /* owned: echo bytes in flight; bytes queued behind them */
    size_t scap, pcap, plen;
    unsigned http;         /* request-terminator match state */
    unsigned inflight;     /* operations whose last CQE has not arrived */
    unsigned char open, closing, recv_armed, paused;
};

/* Back-pressure, as floor_server pauses reading while bytes wait: with more
 * than this queued behind the send in flight, the recv is cancelled, and
 * armed again once everything went out (a peer that sends and never reads
 * must not make the server buffer without bound). */
#define HIGH_WATER (64 * 1024)

static struct conn *fds;
static size_t nfds;
static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static enum bench_mode mode;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void die_err(const char *what, int err)
{
    fprintf(stderr, "uring_floor_server: %s: %s\n", what, strerror(err));
    exit(1);
}

/* An SQE; when the SQ is full, what is queued is submitted first. */
static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
        if (!sqe)
            die_err("io_uring_get_sqe", EBUSY);
    }
    return sqe;
}

static void arm_accept(int lfd)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, UDATA(lfd, OP_ACCEPT));
}

static void arm_recv(int fd)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, UDATA(fd, OP_RECV));
    fds[fd].recv_armed = 1;
    fds[fd].inflight++;
}

static void submit_send(int fd)
{
    struct conn *c = &fds[fd];
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_send(sqe, fd, c->sp + c->soff, c->slen - c->soff, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, UDATA(fd, OP_SEND));
    c->inflight++;
}

/* Gives buffer bid back to the kernel. */
static void buf_return(unsigned bid)
{
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(NBUFS), 0);
    io_uring_buf_ring_advance(br, 1);
}

/* Grows *p to hold need bytes: no more than that at first (an idle echo
 * connection keeps only what it echoed last), doubling after. */
static void grow(char **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t n = 2 * *cap > need ? 2 * *cap : need;
    char *np = realloc(*p, n);
    if (!np)
        die("realloc");
    *p = np;
    *cap = n;
}

/* Closes the fd once nothing is in flight for it; the buffers stay for its next user. */
static void conn_release(int fd)
{
    struct conn *c = &fds[fd];
    close(fd);
    c->sp = NULL;
    c->slen = c->soff = c->plen = 0;
    c->http = c->inflight = 0;
    c->open = c->closing = c->recv_armed = c->paused = 0;
}

static void conn_close(int fd)
{
    struct conn *c = &fds[fd];
    if (c->closing)
        return;
    c->closing = 1;
    c->plen = 0;
    shutdown(fd, SHUT_RDWR);
    if (c->recv_armed) {
        struct io_uring_sqe *sqe = sqe_get();
        io_uring_prep_cancel64(sqe, UDATA(fd, OP_RECV), 0);
        io_uring_sqe_set_data64(sqe, UDATA(fd, OP_CANCEL));
        c->inflight++;
    }
    if (c->inflight == 0)
        conn_release(fd);
}

/*
 * Sends p[0..n), or queues it behind the send in flight. p must stay valid
 * until the send completes unless copy is set (then the bytes are copied).
 */
/* UFLOOR_DIRECT=1: write directly first (as the epoll floor and axon do)
 * and submit a send only for what the socket did not take; else every
 * response is a submitted send. The bench compares the two. */
static int direct;

static void out(int fd, const char *p, size_t n, int copy)
{
    struct conn *c = &fds[fd];
    if (direct && !c->sp) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w == (ssize_t)n)
            return;
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        }
    }
    if (c->sp) {
        grow(&c->pend, &c->pcap, c->plen + n);
        memcpy(c->pend + c->plen, p, n);
        c->plen += n;
        return;
    }
    if (copy) {
        grow(&c->sbuf, &c->scap, n);
        memcpy(c->sbuf, p, n);
        p = c->sbuf;
    }
    c->sp = p;
    c->slen = n;
    c->soff = 0;
    submit_send(fd);
}

static void on_data(int fd, const char *p, size_t n)
{
    if (mode == MODE_ECHO) {
        out(fd, p, n, 1);
        return;
    }
    size_t k = http_count(&fds[fd].http, p, n);
    while (k > 0) {
        size_t b = k < HTTP_BATCH ? k : HTTP_BATCH;
        out(fd, http_block(), b * HTTP_RESPONSE_LEN, 0);
        k -= b;
    }
}

static void pause_recv(int fd)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_cancel64(sqe, UDATA(fd, OP_RECV), 0);
    io_uring_sqe_set_data64(sqe, UDATA(fd, OP_CANCEL));
    fds[fd].paused = 1;
    fds[fd].inflight++;
}

static void on_recv(int fd, int res, unsigned flags)
{
    struct conn *c = &fds[fd];
    if (!(flags & IORING_CQE_F_MORE)) {
        c->recv_armed = 0;
        c->inflight--;
    }
    if (res > 0 && !c->closing)
        on_data(fd, bufs + (size_t)(flags >> IORING_CQE_BUFFER_SHIFT) * BUF_SIZE, (size_t)res);
    if (flags & IORING_CQE_F_BUFFER)
        buf_return(flags >> IORING_CQE_BUFFER_SHIFT);
    if (c->closing)
        return;
    if (res == 0 || (res < 0 && res != -ENOBUFS && res != -ECANCELED))
        conn_close(fd);
    else if (c->plen > HIGH_WATER && c->recv_armed && !c->paused)
        pause_recv(fd);
    else if (!c->recv_armed && !c->paused)
        arm_recv(fd);
}

static void on_send(int fd, int res)
{
    struct conn *c = &fds[fd];
    c->inflight--;
    if (c->closing)
        return;
    if (res < 0 && res != -EAGAIN && res != -EINTR) {
        conn_close(fd);
        return;
    }
    if (res > 0)
        c->soff += (size_t)res;
    if (c->soff < c->slen) {
        submit_send(fd);
        return;
    }
    c->sp = NULL;
    if (c->plen > 0) {
        /* The queued bytes become the send in flight: swap the buffers. */
        char *t = c->sbuf;
        size_t tc = c->scap;
        c->sbuf = c->pend;
        c->scap = c->pcap;
        c->pend = t;
        c->pcap = tc;
        c->sp = c->sbuf;
        c->slen = c->plen;
        c->soff = 0;
        c->plen = 0;
        submit_send(fd);
        return;
    }
    if (c->paused) {
        /* Everything went out: read again. */
        c->paused = 0;
        if (!c->recv_armed)
            arm_recv(fd);
    }
}

static void on_accept(int lfd, int res, unsigned flags)
{
    if (!(flags & IORING_CQE_F_MORE))
        arm_accept(lfd);
    if (res < 0) {
        if (res != -ECONNABORTED && res != -EINTR && res != -EAGAIN)
            fprintf(stderr, "accept: %s\n", strerror(-res)); /* EMFILE and the like: keep serving */
        return;
    }
    if ((size_t)res >= nfds) {
        close(res);
        return;
    }
    fds[res].open = 1;
    arm_recv(res);
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    struct rlimit rl;
    sigset_t mask;
    int one = 1;
    int r;

    bench_server_args(argc, argv, &mode, &ss, &sslen);
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit");
    nfds = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20) ? (1u << 20) : rl.rlim_cur;
    fds = calloc(nfds, sizeof *fds);
    if (!fds)
        die("calloc");

    struct io_uring_params p = {.cq_entries = 8 * SQ_ENTRIES};
    const char *coop = getenv("UFLOOR_COOP");
    const char *dir = getenv("UFLOOR_DIRECT");
    direct = dir && strcmp(dir, "1") == 0;
    p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
    if (coop && strcmp(coop, "1") == 0)
        p.flags |= IORING_SETUP_COOP_TASKRUN;
    else
        p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    r = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
    if (r < 0)
        die_err("io_uring_queue_init_params (needs io_uring with DEFER_TASKRUN, "
                "Linux 6.1+, or COOP_TASKRUN with UFLOOR_COOP=1, and io_uring not disabled)",
                -r);

    size_t brsz = NBUFS * sizeof(struct io_uring_buf);
    br = mmap(NULL, brsz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (br == MAP_FAILED)
        die("mmap");
    bufs = malloc((size_t)NBUFS * BUF_SIZE);
    if (!bufs)
        die("malloc");
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)(uintptr_t)br, .ring_entries = NBUFS, .bgid = BGID};
    r = io_uring_register_buf_ring(&ring, &reg, 0);
    if (r < 0)
        die_err("io_uring_register_buf_ring (Linux 5.19+)", -r);
    io_uring_buf_ring_init(br);
    for (unsigned i = 0; i < NBUFS; i++)
        io_uring_buf_ring_add(br, bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(NBUFS), (int)i);
    io_uring_buf_ring_advance(br, NBUFS);

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

    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_poll_add(sqe, sfd, POLLIN);
    io_uring_sqe_set_data64(sqe, UDATA(sfd, OP_SIGNAL));
    arm_accept(lfd);
    bench_ready();

    for (int stop = 0; !stop;) {
        r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            die_err("io_uring_submit_and_wait", -r);
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            int fd = (int)(cqe->user_data >> 8);
            unsigned op = (unsigned)(cqe->user_data & 0xff);
            n++;
            switch (op) {
            case OP_ACCEPT: on_accept(fd, cqe->res, cqe->flags); break;
            case OP_RECV: on_recv(fd, cqe->res, cqe->flags); break;
            case OP_SEND: on_send(fd, cqe->res); break;
            case OP_CANCEL: fds[fd].inflight--; break;
            case OP_SIGNAL: stop = 1; break;
            }
            /* The fd's last CQE: now the fd may be closed and its number reused. */
            if ((op == OP_RECV || op == OP_SEND || op == OP_CANCEL) && fds[fd].closing &&
                fds[fd].inflight == 0)
                conn_release(fd);
        }
        io_uring_cq_advance(&ring, n);
    }

    for (size_t fd = 0; fd < nfds; fd++) {
        if (fds[fd].open)
            close((int)fd);
        free(fds[fd].sbuf);
        free(fds[fd].pend);
    }
    free(fds);
    io_uring_queue_exit(&ring);
    munmap(br, brsz);
    free(bufs);
    close(sfd);
    close(lfd);
    return 0;
}
