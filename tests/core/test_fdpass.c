/*
 * File descriptors and credentials passed between two processes over a
 * Unix socket. The parent (a test) listens on a Unix path and re-executes
 * this very binary as the child: the environment variable AXT_FDPASS_CHILD
 * ("<mode> <socket path>") sends the new process down child_main() from a
 * constructor, before the harness's main() ever runs. The child has gone
 * through exec, so it holds nothing of the parent's but what crosses the
 * socket; it connects, does its part and reports back, and the parent
 * asserts on the report and on what it can see from its own side.
 */
#include "harness.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_ENV "AXT_FDPASS_CHILD"

/* ------------------------------------------------------------- shared */

static uint64_t fnv1a(const void *data, size_t n, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211u;
    }
    return h;
}
#define FNV_INIT 14695981039346656037u

static void wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r != 1)
        axt_fail(__FILE__, __LINE__, "fd %d not readable within %d ms", fd, timeout_ms);
}

static int is_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl >= 0 && (fl & FD_CLOEXEC);
}

/* The known file the parent passes: a text head and binary bytes. */
static const char file_head[] = "axon fd passing\nline two\t(tab)\n";
enum { FILE_TAIL = 4000, ECHO_BYTES = 64 * 1024, ECHO_CHUNK = 8192 };

/* -------------------------------------------------------------- child */

static int child_connect(const char *path)
{
    char uri[AX_URISTRLEN];
    snprintf(uri, sizeof uri, "unix://%s", path);
    ax_connect_opts o = {.timeout_ms = 5000};
    return CHECK_OK(ax_connect_uri(uri, &o));
}

/* The report goes back as plain bytes; closing the socket ends it. */
static void child_report(int sock, const char *report)
{
    CHECK_OK(ax_write_all(sock, report, strlen(report), 5000, NULL));
    CHECK_OK(ax_close(sock));
}

/* "io": a file and a TCP connection arrive; read the one, echo through
 * the other. */
static void child_io(int sock)
{
    char msg[200];
    int fds[4] = {-1, -1, -1, -1};
    size_t nfds = 4;
    ssize_t n = CHECK_OK(ax_recv_fds(sock, msg, sizeof msg - 1, fds, &nfds, NULL));
    msg[n] = '\0';
    CHECK_EQ(nfds, 2);
    unsigned seed;
    CHECK(sscanf(msg, "seed=%u", &seed) == 1);

    static unsigned char buf[16384];
    size_t flen = 0;
    uint64_t fh = FNV_INIT;
    for (int i = 0; i < 1000; i++) {
        ssize_t r = CHECK_OK(ax_read(fds[0], buf, sizeof buf));
        if (r == 0)
            break;
        fh = fnv1a(buf, (size_t)r, fh);
        flen += (size_t)r;
    }

    char peer[AX_URISTRLEN];
    CHECK_OK(ax_peername_uri(fds[1], peer, sizeof peer));
    static unsigned char out[ECHO_BYTES], in[ECHO_CHUNK];
    axt_fill_bytes(out, sizeof out, seed);
    size_t same = 0;
    for (size_t off = 0; off < sizeof out; off += ECHO_CHUNK) {
        CHECK_OK(ax_write_all(fds[1], out + off, ECHO_CHUNK, 5000, NULL));
        size_t got = axt_read_all(fds[1], (char *)in, ECHO_CHUNK, 5000);
        for (size_t i = 0; i < got && out[off + i] == in[i]; i++)
            same++;
        if (got != ECHO_CHUNK || same != off + ECHO_CHUNK)
            break;
    }

    char report[512];
    snprintf(report, sizeof report,
             "file: %zu bytes, fnv %016llx\ntcp: peer %s, %zu of %d bytes echoed intact\n"
             "cloexec: %d %d\n",
             flen, (unsigned long long)fh, peer, same, ECHO_BYTES, is_cloexec(fds[0]),
             is_cloexec(fds[1]));
    ax_close(fds[0]);
    ax_close(fds[1]);
    child_report(sock, report);
}

/* "listener": a listening TCP socket arrives; serve one line on it. */
static void child_listener(int sock)
{
    char msg[32];
    int lfd = -1;
    size_t nfds = 1;
    CHECK_OK(ax_recv_fds(sock, msg, sizeof msg, &lfd, &nfds, NULL));
    CHECK_EQ(nfds, 1);
    wait_readable(lfd, 5000);
    int c = CHECK_OK(ax_accept(lfd, NULL, 0));
    ax_line_reader r;
    CHECK_OK(ax_line_reader_init(&r, c, 100));
    const char *line;
    size_t len;
    CHECK_EQ(ax_read_line(&r, &line, &len), 1);
    char reply[200];
    int rn = snprintf(reply, sizeof reply, "child %d accepted on a passed listener: \"%s\"\n",
                      (int)getpid(), line);
    CHECK_OK(ax_write_all(c, reply, (size_t)rn, 5000, NULL));
    ax_line_reader_free(&r);
    ax_close(c);
    ax_close(lfd);
    child_report(sock, "served one connection\n");
}

/* "trunc": three fds sent, room for one. */
static void child_trunc(int sock)
{
    int before = axt_count_fds();
    char msg[32];
    int fd = -1;
    size_t nfds = 1;
    ax_recv_info info;
    ssize_t rc = ax_recv_fds(sock, msg, sizeof msg, &fd, &nfds, &info);
    int extra = axt_count_fds() - before;
    char report[700];
    snprintf(report, sizeof report, "rc %zd, ctrunc %d, nfds %zu, new fds %d, sock %d\n%s\n",
             rc, (info.flags & MSG_CTRUNC) != 0, nfds, extra, sock, ax_last_error()->message);
    if (nfds == 1) {
        CHECK_EQ(ax_write(fd, "kept", 4), 4);
        ax_close(fd);
    }
    child_report(sock, report);
}

/* "cred": SO_PEERCRED and SCM_CREDENTIALS in both directions. */
static void child_cred(int sock)
{
    /* On before the parent can send, so its credentials get attached. */
    CHECK_OK(ax_setopt_int(sock, AX_OPT_PASSCRED, 1));
    ax_cred pc, rc;
    CHECK_OK(ax_peer_cred(sock, &pc));
    char go[4];
    CHECK_EQ(axt_read_all(sock, go, 2, 5000), 2); /* the parent's SO_PASSCRED is on */
    CHECK(memcmp(go, "go", 2) == 0);
    char report[200];
    int n = snprintf(report, sizeof report, "child sees listener pid %d uid %u gid %u\n",
                     (int)pc.pid, (unsigned)pc.uid, (unsigned)pc.gid);
    CHECK_EQ(ax_send_cred(sock, report, (size_t)n), n);

    char buf[64];
    ssize_t got = CHECK_OK(ax_recv_cred(sock, buf, sizeof buf - 1, &rc));
    buf[got] = '\0';
    CHECK_STR(buf, "over and out");
    CHECK_EQ(rc.pid, getppid());
    CHECK_EQ(rc.uid, getuid());
    CHECK_EQ(rc.gid, getgid());
    child_report(sock, "parent credentials verified\n");
}

__attribute__((constructor(101))) static void fdpass_child_main(void)
{
    const char *spec = getenv(CHILD_ENV);
    if (!spec)
        return;
    char mode[16], path[200];
    if (sscanf(spec, "%15s %199s", mode, path) != 2) {
        fprintf(stderr, "child: bad %s \"%s\"\n", CHILD_ENV, spec);
        _exit(2);
    }
    int sock = child_connect(path);
    if (strcmp(mode, "io") == 0)
        child_io(sock);
    else if (strcmp(mode, "listener") == 0)
        child_listener(sock);
    else if (strcmp(mode, "trunc") == 0)
        child_trunc(sock);
    else if (strcmp(mode, "cred") == 0)
        child_cred(sock);
    else
        _exit(3);
    _exit(0);
}

/* ------------------------------------------------------------- parent */

typedef struct {
    pid_t pid;
    int conn; /* the accepted connection from the child */
} child;

/* Listens, re-executes this binary as the child in `mode`, accepts its
 * connection and checks SO_PEERCRED names it. */
static child start_child(const char *mode)
{
    char path[160], uri[200], spec[240], self[PATH_MAX];
    snprintf(path, sizeof path, "%s/fdpass.sock", axt_tmpdir());
    snprintf(uri, sizeof uri, "unix://%s", path);
    snprintf(spec, sizeof spec, "%s %s", mode, path);
    int lfd = CHECK_OK(ax_listen_uri(uri, NULL));
    /* The binary's own path, not "/proc/self/exe": under valgrind that
     * link names valgrind itself, and readlink() is what it rewrites. */
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(sl > 0);
    self[sl] = '\0';
    const char *argv[] = {self, NULL};
    setenv(CHILD_ENV, spec, 1);
    child c = {.pid = axt_spawn(argv, -1, -1)};
    unsetenv(CHILD_ENV);
    wait_readable(lfd, 5000 * axt_scale());
    c.conn = CHECK_OK(ax_accept(lfd, NULL, 0));
    ax_close(lfd);
    ax_cred pc;
    CHECK_OK(ax_peer_cred(c.conn, &pc));
    CHECK_EQ(pc.pid, c.pid);
    CHECK_EQ(pc.uid, getuid());
    CHECK_EQ(pc.gid, getgid());
    return c;
}

/* Reads the child's report up to its EOF and compares it exactly. */
static void expect_report(child *c, const char *want)
{
    char got[1024];
    size_t n = axt_read_all(c->conn, got, sizeof got - 1, 5000 * axt_scale());
    got[n] = '\0';
    int st = axt_wait(c->pid, 5000 * axt_scale());
    CHECK_STR(got, want);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        axt_fail(__FILE__, __LINE__, "child ended with status 0x%x", (unsigned)st);
    ax_close(c->conn);
}

TEST(fdpass_file_and_tcp_socket)
{
    /* A socat echo server for the TCP connection that will change hands. */
    unsigned port = axt_free_port(SOCK_STREAM);
    char spec[96], tcp_uri[64];
    snprintf(spec, sizeof spec, "TCP4-LISTEN:%u,bind=127.0.0.1,reuseaddr,fork", port);
    snprintf(tcp_uri, sizeof tcp_uri, "tcp://127.0.0.1:%u", port);
    const char *argv[] = {"socat", spec, "EXEC:cat", NULL};
    pid_t echo = axt_spawn(argv, -1, -1);
    axt_wait_listening(tcp_uri, 5000 * axt_scale());

    char fpath[160];
    snprintf(fpath, sizeof fpath, "%s/passed.bin", axt_tmpdir());
    static unsigned char tail[FILE_TAIL];
    axt_fill_bytes(tail, sizeof tail, 99);
    FILE *f = fopen(fpath, "wb");
    CHECK(f && fwrite(file_head, 1, sizeof file_head - 1, f) == sizeof file_head - 1 &&
          fwrite(tail, 1, sizeof tail, f) == sizeof tail && fclose(f) == 0);
    uint64_t fh = fnv1a(tail, sizeof tail, fnv1a(file_head, sizeof file_head - 1, FNV_INIT));

    child c = start_child("io");
    int fds[2];
    fds[0] = open(fpath, O_RDONLY | O_CLOEXEC);
    CHECK(fds[0] >= 0);
    ax_connect_opts o = {.timeout_ms = 2000};
    fds[1] = CHECK_OK(ax_connect_uri(tcp_uri, &o));
    const unsigned seed = 424242;
    char msg[64];
    int mn = snprintf(msg, sizeof msg, "seed=%u", seed);
    CHECK_EQ(ax_send_fds(c.conn, msg, (size_t)mn, fds, 2), mn);
    /* Our copies go; the ones in flight keep the file and connection. */
    ax_close(fds[0]);
    ax_close(fds[1]);

    char want[512];
    snprintf(want, sizeof want,
             "file: %zu bytes, fnv %016llx\ntcp: peer %s, %d of %d bytes echoed intact\n"
             "cloexec: 1 1\n",
             sizeof file_head - 1 + FILE_TAIL, (unsigned long long)fh, tcp_uri, ECHO_BYTES,
             ECHO_BYTES);
    expect_report(&c, want);
    axt_stop(echo);
}

/* Socket hand-off: the parent binds, the child serves (as a supervisor
 * passes a listener to a worker). A real client (socat) talks to it. */
TEST(fdpass_listener_handoff)
{
    child c = start_child("listener");
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    ax_addr a;
    CHECK_OK(ax_sockname(lfd, &a));
    CHECK_EQ(ax_send_fds(c.conn, "L", 1, &lfd, 1), 1);
    ax_close(lfd);

    char addr[64], tsec[16];
    snprintf(addr, sizeof addr, "TCP4:127.0.0.1:%u", ax_addr_port(&a));
    snprintf(tsec, sizeof tsec, "%d", 5 * axt_scale());
    const char *argv[] = {"socat", "-t", tsec, "-", addr, NULL};
    int to, from;
    pid_t client = axt_spawn_pipes(argv, &to, &from);
    CHECK_OK(ax_write_all(to, "hello worker\n", 13, 2000, NULL));
    close(to);
    char out[200], want[200];
    size_t n = axt_read_all(from, out, sizeof out - 1, 5000 * axt_scale());
    out[n] = '\0';
    snprintf(want, sizeof want, "child %d accepted on a passed listener: \"hello worker\"\n",
             (int)c.pid);
    CHECK_STR(out, want);
    close(from);
    int st = axt_wait(client, 5000 * axt_scale());
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    expect_report(&c, "served one connection\n");
}

/* More fds than the receiver has room for: it keeps the first and the
 * byte, reports MSG_CTRUNC (and AX_ECTRUNC for a log), and the others are
 * closed - the parent sees their pipes hit
 * EOF, so no copy survives anywhere. */
TEST(fdpass_truncated_fds_are_closed)
{
    child c = start_child("trunc");
    int p[3][2], w[3];
    for (int i = 0; i < 3; i++) {
        CHECK(pipe2(p[i], O_CLOEXEC) == 0);
        w[i] = p[i][1];
    }
    CHECK_EQ(ax_send_fds(c.conn, "3", 1, w, 3), 1);
    for (int i = 0; i < 3; i++)
        close(p[i][1]);

    char got[800];
    size_t n = axt_read_all(c.conn, got, sizeof got - 1, 5000 * axt_scale());
    got[n] = '\0';
    int sock = -1;
    const char *sp = strstr(got, "sock ");
    if (!sp || sscanf(sp, "sock %d", &sock) != 1)
        axt_fail(__FILE__, __LINE__, "unexpected report \"%s\"", got);
    char want[800];
    snprintf(want, sizeof want,
             "rc 1, ctrunc 1, nfds 1, new fds 1, sock %d\nrecv fds on fd %d: more fds "
             "arrived than the 1 there was room for; 1 kept, the rest were closed (ECTRUNC)\n",
             sock, sock);
    CHECK_STR(got, want);
    int st = axt_wait(c.pid, 5000 * axt_scale());
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    char buf[8];
    size_t k = axt_read_all(p[0][0], buf, sizeof buf, 2000);
    CHECK_EQ(k, 4);
    CHECK(memcmp(buf, "kept", 4) == 0);
    for (int i = 1; i < 3; i++) {
        wait_readable(p[i][0], 2000);
        CHECK_EQ(read(p[i][0], buf, sizeof buf), 0); /* every write end is gone */
    }
    for (int i = 0; i < 3; i++)
        close(p[i][0]);
    ax_close(c.conn);
}

TEST(credentials_across_processes)
{
    child c = start_child("cred"); /* checks SO_PEERCRED names the child */
    /* SO_PASSCRED must be on before the child's data leaves for the kernel
     * to attach its credentials: the child waits for "go". */
    CHECK_OK(ax_setopt_int(c.conn, AX_OPT_PASSCRED, 1));
    CHECK_EQ(ax_write(c.conn, "go", 2), 2);
    char buf[200], want[200];
    ax_cred cr;
    ssize_t n = CHECK_OK(ax_recv_cred(c.conn, buf, sizeof buf - 1, &cr));
    buf[n] = '\0';
    snprintf(want, sizeof want, "child sees listener pid %d uid %u gid %u\n", (int)getpid(),
             (unsigned)getuid(), (unsigned)getgid());
    CHECK_STR(buf, want);
    CHECK_EQ(cr.pid, c.pid);
    CHECK_EQ(cr.uid, getuid());
    CHECK_EQ(cr.gid, getgid());
    CHECK_EQ(ax_send_cred(c.conn, "over and out", 12), 12);
    expect_report(&c, "parent credentials verified\n");
}
