/* The direct layer's data calls (src/core/io.c): select, write on sockets
 * and pipes without SIGPIPE, write-all with its timeout; and ax_atmark,
 * which needs the same out-of-band setup as select's exception set. */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* A connected TCP pair over 127.0.0.1. */
static void tcp_pair(int *client, int *server)
{
    int l = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char uri[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(l, uri, sizeof uri));
    *client = CHECK_OK(ax_connect_uri(uri, NULL));
    *server = CHECK_OK(ax_accept(l, NULL, 0));
    ax_close(l);
}

/* Sends "abc" and then one out-of-band byte from c to s, and waits until
 * s has the urgent byte. */
static void send_oob(int c, int s)
{
    CHECK_OK(ax_setopt_int(c, AX_OPT_TCP_NODELAY, 1));
    CHECK_EQ(ax_send(c, "abc", 3, 0), 3);
    CHECK_EQ(ax_send(c, "X", 1, MSG_OOB), 1);
    struct pollfd p = {.fd = s, .events = POLLPRI};
    CHECK_EQ(poll(&p, 1, 3000), 1);
    CHECK(p.revents & POLLPRI);
}

/* ------------------------------------------------------------- atmark */

TEST(atmark_with_oob_data)
{
    int c, s;
    tcp_pair(&c, &s);
    send_oob(c, s);
    char buf[16];
    size_t got = 0;
    int at, reads = 0;
    while ((at = CHECK_OK(ax_atmark(s))) == 0) {
        ssize_t n = CHECK_OK(ax_read(s, buf + got, sizeof buf - got));
        CHECK(n > 0);
        got += (size_t)n;
        CHECK(++reads < 10);
    }
    CHECK_EQ(at, 1);
    CHECK(reads >= 1); /* not at the mark before "abc" was read */
    CHECK_EQ(got, 3);
    CHECK(memcmp(buf, "abc", 3) == 0);
    char oob = 0;
    CHECK_EQ(ax_recv(s, &oob, 1, MSG_OOB), 1);
    CHECK_EQ(oob, 'X');

    int p[2];
    CHECK_EQ(pipe(p), 0);
    CHECK(ax_atmark(p[0]) < 0);
    CHECK_ERRMSG("SIOCATMARK on fd");
    close(p[0]);
    close(p[1]);
    ax_close(c);
    ax_close(s);
}

/* ------------------------------------------------------------- select */

TEST(select_compacts_arrays)
{
    int a[2], b[2], c[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, a));
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, b));
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, c));
    CHECK_EQ(ax_write(c[1], "x", 1), 1);
    CHECK_EQ(ax_write(a[1], "y", 1), 1);

    int r[] = {c[0], b[0], a[0]};
    int w[] = {b[0], a[0]};
    size_t nr = 3, nw = 2;
    CHECK_EQ(ax_select(r, &nr, w, &nw, NULL, NULL, 1000), 4);
    CHECK_EQ(nr, 2);
    CHECK_EQ(r[0], c[0]); /* order kept */
    CHECK_EQ(r[1], a[0]);
    CHECK_EQ(nw, 2);
    CHECK_EQ(w[0], b[0]);
    CHECK_EQ(w[1], a[0]);

    /* Only reads asked for, one ready. */
    int r2[] = {b[0], c[0]};
    size_t nr2 = 2;
    CHECK_EQ(ax_select(r2, &nr2, NULL, NULL, NULL, NULL, 1000), 1);
    CHECK_EQ(nr2, 1);
    CHECK_EQ(r2[0], c[0]);

    /* A peer that hung up counts as readable. */
    ax_close(b[1]);
    int r3[] = {b[0]};
    size_t nr3 = 1;
    CHECK_EQ(ax_select(r3, &nr3, NULL, NULL, NULL, NULL, 1000), 1);
    CHECK_EQ(nr3, 1);
    int fds[] = {a[0], a[1], b[0], c[0], c[1]};
    for (size_t i = 0; i < 5; i++)
        ax_close(fds[i]);
}

TEST(select_exception_oob)
{
    int c, s, sp[2];
    tcp_pair(&c, &s);
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    int e[] = {sp[0], c, s};
    size_t ne = 3;
    CHECK_EQ(ax_select(NULL, NULL, NULL, NULL, e, &ne, 50), 0);
    CHECK_EQ(ne, 0);
    send_oob(c, s);
    int e2[] = {sp[0], c, s};
    ne = 3;
    CHECK_EQ(ax_select(NULL, NULL, NULL, NULL, e2, &ne, 1000), 1);
    CHECK_EQ(ne, 1);
    CHECK_EQ(e2[0], s);
    ax_close(sp[0]);
    ax_close(sp[1]);
    ax_close(c);
    ax_close(s);
}

TEST(select_timeout)
{
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    int r[] = {sp[0], sp[1]};
    size_t nr = 2;
    double t0 = axt_now_ms();
    CHECK_EQ(ax_select(r, &nr, NULL, NULL, NULL, NULL, 150), 0);
    CHECK(axt_now_ms() - t0 >= 120);
    CHECK_EQ(nr, 0);
    t0 = axt_now_ms();
    CHECK_EQ(ax_select(NULL, NULL, NULL, NULL, NULL, NULL, 100), 0);
    CHECK(axt_now_ms() - t0 >= 80);
    ax_close(sp[0]);
    ax_close(sp[1]);
}

TEST(select_more_than_1024_fds)
{
    enum { PAIRS = 700 };
    struct rlimit rl;
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * PAIRS + 64) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    static int pairs[PAIRS][2], r[PAIRS];
    for (size_t i = 0; i < PAIRS; i++) {
        CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, pairs[i]));
        r[i] = pairs[i][0];
    }
    int hi = pairs[PAIRS - 1][0];
    CHECK(hi > 1024);
    CHECK_EQ(ax_write(pairs[PAIRS - 1][1], "!", 1), 1);
    CHECK_EQ(ax_write(pairs[3][1], "!", 1), 1);
    size_t nr = PAIRS;
    CHECK_EQ(ax_select(r, &nr, NULL, NULL, NULL, NULL, 2000), 2);
    CHECK_EQ(nr, 2);
    CHECK_EQ(r[0], pairs[3][0]);
    CHECK_EQ(r[1], hi);
    for (size_t i = 0; i < PAIRS; i++) {
        ax_close(pairs[i][0]);
        ax_close(pairs[i][1]);
    }
}

TEST(select_closed_fd_is_ebadf)
{
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    int gone = sp[1];
    ax_close(gone);
    int r[] = {sp[0], gone};
    size_t nr = 2;
    CHECK_EQ(ax_select(r, &nr, NULL, NULL, NULL, NULL, 100), AX_EBADF);
    char want[64];
    snprintf(want, sizeof want, "select: fd %d is not open (EBADF)", gone);
    CHECK_STR(ax_last_error()->message, want);
    ax_close(sp[0]);
}

/* ------------------------------------------------------------ write */

TEST(write_to_closed_peer_is_epipe_not_sigpipe)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would now kill the test */
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    ax_close(sp[1]);
    CHECK_EQ(ax_write(sp[0], "x", 1), AX_EPIPE);
    char want[64];
    snprintf(want, sizeof want, "write to fd %d failed: Broken pipe (EPIPE)", sp[0]);
    CHECK_STR(ax_last_error()->message, want);
    CHECK_EQ(ax_send(sp[0], "x", 1, 0), AX_EPIPE);
    size_t w = 99;
    CHECK_EQ(ax_write_all(sp[0], "xyz", 3, -1, &w), AX_EPIPE);
    CHECK_EQ(w, 0);
    ax_close(sp[0]);

    /* A pipe whose reader is gone: write(2) itself would raise SIGPIPE. */
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    close(p[0]);
    CHECK_EQ(ax_write(p[1], "x", 1), AX_EPIPE);
    CHECK_EQ(ax_write_all(p[1], "xy", 2, 100, NULL), AX_EPIPE);
    close(p[1]);
    /* No SIGPIPE was left pending for later either. */
    sigset_t pend;
    sigpending(&pend);
    CHECK(!sigismember(&pend, SIGPIPE));
}

TEST(write_on_pipe)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    CHECK_EQ(ax_write(p[1], "hello", 5), 5);
    CHECK_OK(ax_write_all(p[1], " world", 6, 1000, NULL));
    char buf[16] = {0};
    CHECK_EQ(ax_read(p[0], buf, sizeof buf), 11);
    CHECK_STR(buf, "hello world");
    close(p[0]);
    close(p[1]);
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

TEST_T(write_all_large_nonblocking, 60)
{
    const size_t len = 8u << 20;
    unsigned char *buf = malloc(len);
    CHECK(buf != NULL);
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)((i * 2654435761u) >> 13);
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* Reader: checksum everything until EOF, answer with count+sum. */
        free(buf);
        close(sp[0]);
        static unsigned char chunk[65536];
        uint64_t res[2] = {0, 14695981039346656037ULL};
        ssize_t n;
        while ((n = read(sp[1], chunk, sizeof chunk)) > 0) {
            res[0] += (uint64_t)n;
            res[1] = fnv1a(res[1], chunk, (size_t)n);
        }
        if (write(sp[1], res, sizeof res) != (ssize_t)sizeof res)
            _exit(1);
        _exit(0);
    }
    ax_close(sp[1]);
    CHECK_OK(ax_set_nonblock(sp[0], 1));
    size_t written = 0;
    CHECK_OK(ax_write_all(sp[0], buf, len, -1, &written));
    CHECK_EQ(written, len);
    CHECK_OK(ax_shutdown(sp[0], SHUT_WR));
    uint64_t res[2];
    CHECK_EQ(axt_read_all(sp[0], (char *)res, sizeof res, 30000), sizeof res);
    CHECK_EQ(res[0], len);
    CHECK(res[1] == fnv1a(14695981039346656037ULL, buf, len));
    int st = axt_wait(pid, 10000);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ax_close(sp[0]);
    free(buf);
}

TEST(write_all_timeout_reports_partial_count)
{
    const size_t len = 4u << 20;
    char *buf = calloc(1, len);
    CHECK(buf != NULL);
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM | AX_SOCK_NONBLOCK, sp));
    size_t written = 0;
    double t0 = axt_now_ms();
    CHECK_EQ(ax_write_all(sp[0], buf, len, 200, &written), AX_ETIMEDOUT);
    CHECK(axt_now_ms() - t0 >= 150);
    CHECK(written > 0 && written < len);
    char want[128];
    snprintf(want, sizeof want, "write to fd %d timed out after 200 ms with %zu of %zu bytes written",
             sp[0], written, len);
    CHECK_ERRMSG(want);
    /* Exactly the reported bytes reached the peer. */
    size_t got = 0;
    ssize_t n;
    while ((n = ax_read(sp[1], buf, len)) > 0)
        got += (size_t)n;
    CHECK_EQ(n, AX_EAGAIN);
    CHECK_EQ(got, written);
    ax_close(sp[0]);
    ax_close(sp[1]);
    free(buf);
}
