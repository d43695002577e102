/*
 * The event-driven examples (examples/01..91) against real peers: socat,
 * ncat, nc, curl and wrk talk to them, and whatever crosses is checked to
 * the byte. Each server starts on port 0 (or a Unix path in the test's own
 * directory) and is found through the "Listening on ..." line it prints;
 * each must exit 0 on SIGTERM/SIGINT.
 *
 * The programs are looked up in $AXON_EXAMPLES_DIR (ctest sets it; by
 * hand: AXON_EXAMPLES_DIR=build/examples build/tests/test_examples), or
 * else in examples/ beside the tests/ folder this program was built in.
 */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

/* AXT_TIMEOUT_SCALE stretches the harness's alarm (valgrind runs); stretch
 * our own waits the same way. */
static int ms(int base)
{
    const char *s = getenv("AXT_TIMEOUT_SCALE");
    int v = s ? atoi(s) : 1;
    return base * (v > 0 ? v : 1);
}

/* The path of an example program: in $AXON_EXAMPLES_DIR, else in the
 * build tree's examples/ next to this program's tests/ (for runs without
 * ctest, such as scripts/valgrind.sh). Fails clearly when it is missing. */
static const char *example(const char *name)
{
    static char path[4][1024];
    static int next;
    char *p = path[next++ % 4];
    const char *dir = getenv("AXON_EXAMPLES_DIR");
    if (dir && *dir) {
        snprintf(p, sizeof path[0], "%s/%s", dir, name);
    } else {
        char self[900];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        self[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(p, sizeof path[0], "%s/../examples/%s", self, name);
    }
    if (access(p, X_OK) < 0)
        axt_fail(__FILE__, __LINE__, "%s: %s (set AXON_EXAMPLES_DIR to the built examples)", p,
                 strerror(errno));
    return p;
}

/* One line from fd (without its "\n"), within timeout_ms; fails on EOF or
 * timeout. Reads a byte at a time so nothing after the line is consumed. */
static void read_line(int fd, char *buf, size_t max, int timeout_ms)
{
    double end = axt_now_ms() + timeout_ms;
    size_t n = 0;
    for (;;) {
        int left = (int)(end - axt_now_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            buf[n] = '\0';
            axt_fail(__FILE__, __LINE__, "no full line on fd %d within %d ms (got \"%s\")", fd,
                     timeout_ms, buf);
        }
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            buf[n] = '\0';
            axt_fail(__FILE__, __LINE__, "end of output on fd %d before a full line (got \"%s\")",
                     fd, buf);
        }
        if (ch == '\n' || n + 1 == max)
            break;
        buf[n++] = ch;
    }
    buf[n] = '\0';
}

#define EXPECT_LINE(fd, want)                                                 \
    do {                                                                      \
        char got_[2048];                                                      \
        read_line((fd), got_, sizeof got_, ms(3000));                         \
        CHECK_STR(got_, (want));                                              \
    } while (0)

static void put(int fd, const char *s)
{
    CHECK_OK(ax_write_all(fd, s, strlen(s), ms(3000), NULL));
}

/* Reads until EOF (fails if it takes longer than timeout_ms) and returns
 * the NUL-terminated bytes. */
static size_t read_to_eof(int fd, char *buf, size_t max, int timeout_ms)
{
    double t0 = axt_now_ms();
    size_t n = axt_read_all(fd, buf, max - 1, timeout_ms);
    buf[n] = '\0';
    if (n == max - 1 || axt_now_ms() - t0 >= timeout_ms)
        axt_fail(__FILE__, __LINE__, "no end of output on fd %d within %d ms (%zu bytes)", fd,
                 timeout_ms, n);
    return n;
}

static void check_exit(pid_t pid, int want, const char *what)
{
    int st = axt_wait(pid, ms(5000));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != want)
        axt_fail(__FILE__, __LINE__, "%s: status 0x%x, want exit %d", what, (unsigned)st, want);
}

typedef struct server {
    pid_t pid;
    int out;                    /* its stdout (and stderr, if merged) */
    char uri[AX_URISTRLEN];     /* from "Listening on <uri>" */
    char hostport[AX_URISTRLEN]; /* "127.0.0.1:41234" for tcp */
    char port[8];
    char socat[AX_URISTRLEN + 16]; /* socat's address for it: "TCP:...", "UNIX-CONNECT:..." */
} server;

/* Starts an example server on uri and reads its "Listening on" line. */
static void start(server *s, const char *name, const char *uri, int merge_stderr)
{
    const char *path = example(name);
    const char *plain[] = {path, uri, NULL};
    const char *merged[] = {"sh", "-c", "exec \"$0\" \"$1\" 2>&1", path, uri, NULL};
    s->pid = axt_spawn_pipes(merge_stderr ? merged : plain, NULL, &s->out);
    char line[AX_URISTRLEN];
    read_line(s->out, line, sizeof line, ms(5000));
    if (strncmp(line, "Listening on ", 13) != 0)
        axt_fail(__FILE__, __LINE__, "%s printed \"%s\"", name, line);
    snprintf(s->uri, sizeof s->uri, "%s", line + 13);
    const char *hp = strncmp(s->uri, "tcp://", 6) == 0 ? s->uri + 6 : s->uri;
    snprintf(s->hostport, sizeof s->hostport, "%s", hp);
    const char *colon = strrchr(hp, ':');
    snprintf(s->port, sizeof s->port, "%s", colon ? colon + 1 : "");
    if (strncmp(s->uri, "unix://", 7) == 0)
        snprintf(s->socat, sizeof s->socat, "UNIX-CONNECT:%s", s->uri + 7);
    else
        snprintf(s->socat, sizeof s->socat, "%s:%s", hp[0] == '[' ? "TCP6" : "TCP", hp);
}

/* Stops the server with signo (0: it was signalled already); it must exit
 * 0 and print nothing more. */
static void stop(server *s, int signo)
{
    if (signo)
        kill(s->pid, signo);
    check_exit(s->pid, 0, "server");
    char rest[4096];
    read_to_eof(s->out, rest, sizeof rest, ms(3000));
    CHECK_STR(rest, "");
    close(s->out);
}

/* A connected blocking TCP socket to the server, from the direct layer;
 * rcvbuf > 0 sets a small receive buffer first, so that the server meets
 * back-pressure sooner. */
static int dial_rcvbuf(const server *s, int rcvbuf)
{
    ax_addr a;
    CHECK_OK(ax_addr_parse(s->uri, &a));
    int fd = CHECK_OK(ax_socket(ax_addr_family(&a), SOCK_STREAM, 0));
    if (rcvbuf > 0)
        CHECK_OK(ax_setopt_int(fd, AX_OPT_RCVBUF, rcvbuf));
    CHECK_OK(ax_connect_fd(fd, &a, ms(3000)));
    CHECK_OK(ax_setopt_int(fd, AX_OPT_TCP_NODELAY, 1));
    return fd;
}

static int dial(const server *s)
{
    return dial_rcvbuf(s, 0);
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211u;
    return h;
}

/* n random bytes in a file under the test's directory; returns an fd open
 * for reading it, and the bytes in *data (caller frees). */
static int random_file(size_t n, unsigned char **data)
{
    unsigned char *d = malloc(n);
    CHECK(d);
    int r = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    CHECK(r >= 0);
    CHECK_EQ(axt_read_all(r, (char *)d, n, ms(3000)), n);
    close(r);
    char path[256];
    snprintf(path, sizeof path, "%s/random.bin", axt_tmpdir());
    int w = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(w >= 0);
    CHECK_OK(ax_write_all(w, d, n, -1, NULL));
    close(w);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    *data = d;
    return fd;
}

static void spawn_to_pipe(const char *const argv[], int in_fd, pid_t *pid, int *out)
{
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    *pid = axt_spawn(argv, in_fd, p[1]);
    close(p[1]);
    *out = p[0];
}

/* Runs argv with input (NULL: nothing) on its stdin, then EOF; returns all
 * it printed in out, after it exited with status code. */
static void run(const char *const argv[], const char *input, int code, char *out, size_t max)
{
    int to, from;
    pid_t pid = axt_spawn_pipes(argv, &to, &from);
    if (input)
        put(to, input);
    close(to);
    read_to_eof(from, out, max, ms(10000));
    check_exit(pid, code, argv[0]);
    close(from);
}

/* run() whose whole output must be want, with exit status 0. */
static void run_expect(const char *const argv[], const char *input, const char *want)
{
    char out[8192];
    run(argv, input, 0, out, sizeof out);
    CHECK_STR(out, want);
}

/* A peer talked to through its stdin/stdout: its stdin ends now (to < 0:
 * it was closed already), and then it must print nothing more and exit 0. */
static void finish(pid_t pid, int to, int from)
{
    if (to >= 0)
        close(to);
    char rest[2048];
    read_to_eof(from, rest, sizeof rest, ms(5000));
    CHECK_STR(rest, "");
    check_exit(pid, 0, "peer");
    close(from);
}

/* ---------------------------------------------------------- 01 echo */

TEST_T(echo_socat_1mib, 30)
{
    server s;
    start(&s, "01-echo-server", "127.0.0.1:0", 0);
    CHECK(strncmp(s.uri, "tcp://127.0.0.1:", 16) == 0 && atoi(s.port) > 0);
    const size_t n = 1u << 20;
    unsigned char *sent;
    int in = random_file(n, &sent);
    const char *argv[] = {"socat", "-t", "5", "-", s.socat, NULL};
    pid_t pid;
    int out;
    spawn_to_pipe(argv, in, &pid, &out);
    close(in);
    unsigned char *got = malloc(n + 1);
    CHECK(got);
    size_t m = axt_read_all(out, (char *)got, n + 1, ms(15000));
    CHECK_EQ(m, n);
    CHECK(fnv1a(got, n) == fnv1a(sent, n));
    CHECK(memcmp(got, sent, n) == 0);
    check_exit(pid, 0, "socat");
    close(out);
    free(got);
    free(sent);
    stop(&s, SIGTERM);
}

/* A child process writes n bytes of buf into fd and exits 0 if all went. */
static pid_t writer(int fd, const void *buf, size_t n)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(ax_write_all(fd, buf, n, -1, NULL) == 0 ? 0 : 1);
    return pid;
}

TEST_T(echo_backpressure, 30)
{
    /* 16 MiB sent while nobody reads the echo for a while: the server's
     * queue fills, it stops reading (pause), and resumes on drain. Every
     * byte must come back, in order. */
    server s;
    start(&s, "01-echo-server", "127.0.0.1:0", 0);
    const size_t n = 16u << 20;
    unsigned char *sent = malloc(n), *got = malloc(n + 1);
    CHECK(sent && got);
    for (size_t i = 0; i < n; i++)
        sent[i] = (unsigned char)(i * 2654435761u >> 13);
    int fd = dial_rcvbuf(&s, 16384);
    pid_t w = writer(fd, sent, n);
    usleep(300 * 1000);
    CHECK_EQ(axt_read_all(fd, (char *)got, n, ms(20000)), n);
    CHECK(memcmp(got, sent, n) == 0);
    check_exit(w, 0, "writer");
    ax_close(fd);
    free(sent);
    free(got);
    stop(&s, SIGTERM);
}

TEST_T(echo_ncat_lines_and_sigint, 20)
{
    server s;
    start(&s, "01-echo-server", "127.0.0.1:0", 0);
    const char *argv[] = {"ncat", "127.0.0.1", s.port, NULL};
    int to, from;
    pid_t pid = axt_spawn_pipes(argv, &to, &from);
    put(to, "hello ncat\n");
    EXPECT_LINE(from, "hello ncat");
    put(to, "second line\n");
    EXPECT_LINE(from, "second line");
    /* ncat half-closes on stdin's EOF; the server ends too, ncat exits. */
    finish(pid, to, from);
    stop(&s, SIGINT);
}

TEST_T(echo_unix_and_ipv6, 20)
{
    char uri[300], path[256];
    snprintf(path, sizeof path, "%s/echo.sock", axt_tmpdir());
    snprintf(uri, sizeof uri, "unix://%s", path);
    server s;
    start(&s, "01-echo-server", uri, 0);
    CHECK_STR(s.uri, uri);
    const char *argv[] = {"socat", "-t", "5", "-", s.socat, NULL};
    run_expect(argv, "over a unix socket\n", "over a unix socket\n");
    stop(&s, SIGTERM);
    struct stat st;
    CHECK(stat(path, &st) < 0); /* the server removed its socket file */

    /* IPv6 loopback, where the machine has it. */
    int probe = ax_listen_uri("tcp://[::1]:0", NULL);
    if (probe < 0)
        return;
    ax_close(probe);
    start(&s, "01-echo-server", "tcp://[::1]:0", 0);
    CHECK(strncmp(s.uri, "tcp://[::1]:", 12) == 0);
    run_expect(argv, "over ipv6\n", "over ipv6\n"); /* argv points at the new s.socat */
    stop(&s, SIGTERM);
}

TEST_T(server_listen_error, 10)
{
    /* A port already taken: the library's message, exit 1. */
    int hold = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char uri[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(hold, uri, sizeof uri));
    const char *argv[] = {"sh", "-c", "exec \"$0\" \"$1\" 2>&1", example("01-echo-server"), uri,
                          NULL};
    char out[1024], want[1024];
    run(argv, NULL, 1, out, sizeof out);
    snprintf(want, sizeof want,
             "Failed to listen on \"%s\": Address already in use (EADDRINUSE)\n", uri);
    CHECK_STR(out, want);
    ax_close(hold);
}

/* ---------------------------------------------------------- 02 chat */

typedef struct peer {
    pid_t pid;
    int to, from;
    char addr[AX_URISTRLEN];
} peer;

/* Starts a client and learns its address from the server's join line. */
static void join(server *s, peer *p, const char *const argv[])
{
    p->pid = axt_spawn_pipes(argv, &p->to, &p->from);
    char line[AX_URISTRLEN];
    read_line(s->out, line, sizeof line, ms(5000));
    size_t n = strlen(line);
    const char *tail = " connected]";
    if (line[0] != '[' || n < strlen(tail) + 2 || strcmp(line + n - strlen(tail), tail) != 0)
        axt_fail(__FILE__, __LINE__, "not a join line: \"%s\"", line);
    line[n - strlen(tail)] = '\0';
    snprintf(p->addr, sizeof p->addr, "%s", line + 1);
    CHECK(strncmp(p->addr, "tcp://127.0.0.1:", 16) == 0);
}

/* The next line p receives must be "<from's address>: text". */
static void expect_msg(const peer *p, const peer *from, const char *text)
{
    char want[1024];
    snprintf(want, sizeof want, "%s: %s", from->addr, text);
    EXPECT_LINE(p->from, want);
}

static void expect_left(server *s, const peer *p)
{
    char want[512];
    snprintf(want, sizeof want, "[%s disconnected]", p->addr);
    EXPECT_LINE(s->out, want);
}

/* p's stdin ends; it must have received nothing more, and exit 0. */
static void leave(server *s, peer *p)
{
    finish(p->pid, p->to, p->from);
    expect_left(s, p);
}

TEST_T(chat_three_clients, 30)
{
    server s;
    start(&s, "02-chat-server", "127.0.0.1:0", 0);
    const char *socat[] = {"socat", "-t", "5", "-", s.socat, NULL};
    const char *nc[] = {"nc", "-N", "127.0.0.1", s.port, NULL};
    const char *ncat[] = {"ncat", "127.0.0.1", s.port, NULL};
    peer a, b, c, d;
    join(&s, &a, socat);
    join(&s, &b, nc);
    join(&s, &c, ncat);

    /* A line goes to everyone but its sender. */
    put(a.to, "hello\n");
    expect_msg(&b, &a, "hello");
    expect_msg(&c, &a, "hello");

    /* A line in two reads is kept until its "\n"; "\r\n" ends a line too. */
    put(b.to, "par");
    usleep(100 * 1000);
    put(b.to, "tial\r\n");
    expect_msg(&a, &b, "partial");
    expect_msg(&c, &b, "partial");

    /* Two lines in one read are two messages, in order. */
    put(c.to, "one\ntwo\n");
    expect_msg(&a, &c, "one");
    expect_msg(&a, &c, "two");
    expect_msg(&b, &c, "one");
    expect_msg(&b, &c, "two");

    /* An overlong line: its sender is told and dropped; nobody gets it. */
    join(&s, &d, socat);
    char big[1200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    put(d.to, big);
    EXPECT_LINE(d.from, "error: line longer than 1024 bytes");
    leave(&s, &d);

    /* An unfinished line still counts when its sender leaves. */
    put(c.to, "bye");
    close(c.to);
    expect_msg(&a, &c, "bye");
    expect_msg(&b, &c, "bye");
    finish(c.pid, -1, c.from);
    expect_left(&s, &c);

    put(b.to, "last\n");
    expect_msg(&a, &b, "last");
    /* Neither ever received its own lines. */
    leave(&s, &a);
    leave(&s, &b);
    stop(&s, SIGTERM);
}

TEST_T(chat_shutdown_with_clients, 15)
{
    server s;
    start(&s, "02-chat-server", "127.0.0.1:0", 0);
    const char *socat[] = {"socat", "-t", "5", "-", s.socat, NULL};
    peer a;
    join(&s, &a, socat);
    put(a.to, "half a li");
    /* SIGTERM with a client connected: it is closed and logged, no crash,
     * exit 0 (valgrind runs check that nothing leaks). */
    kill(s.pid, SIGTERM);
    expect_left(&s, &a);
    stop(&s, 0);
    finish(a.pid, a.to, a.from);
}

TEST_T(chat_drops_client_that_does_not_read, 30)
{
    server s;
    start(&s, "02-chat-server", "127.0.0.1:0", 0);
    /* A small receive buffer, never read: the server's queue for it grows
     * past 64 KiB once the kernel buffers are full. */
    int rcvbuf = 4096;
    int stalled = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_setopt_int(stalled, AX_OPT_RCVBUF, rcvbuf));
    ax_addr a;
    CHECK_OK(ax_addr_parse(s.uri, &a));
    CHECK_OK(ax_connect_fd(stalled, &a, ms(3000)));
    char line[AX_URISTRLEN], want[AX_URISTRLEN + 32], me[AX_URISTRLEN];
    read_line(s.out, line, sizeof line, ms(3000));
    CHECK_OK(ax_sockname_uri(stalled, me, sizeof me));
    snprintf(want, sizeof want, "[%s connected]", me);
    CHECK_STR(line, want);

    int talker = dial(&s);
    read_line(s.out, line, sizeof line, ms(3000));
    char msg[1001];
    memset(msg, 'm', sizeof msg - 1);
    msg[sizeof msg - 1] = '\n';
    /* Up to 64 MiB, until the server gives up on the stalled client. */
    struct pollfd p = {.fd = s.out, .events = POLLIN};
    for (int i = 0; i < 65536 && poll(&p, 1, 0) == 0; i++)
        CHECK_OK(ax_write_all(talker, msg, sizeof msg, ms(5000), NULL));
    snprintf(want, sizeof want, "[%s disconnected]", me);
    EXPECT_LINE(s.out, want);
    ax_close(talker);
    read_line(s.out, line, sizeof line, ms(3000)); /* the talker's leave */
    ax_close(stalled);
    stop(&s, SIGTERM);
}

/* ---------------------------------------------------------- 03 http */

#define OK_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
#define OK_RESP OK_HEAD "\r\nHello World!\n"
#define OK_CLOSE OK_HEAD "Connection: close\r\n\r\nHello World!\n"
#define BAD_RESP                                                              \
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n" \
    "Connection: close\r\n\r\nBad Request\n"
#define GET "GET / HTTP/1.1\r\nHost: x\r\n"

TEST_T(http_curl_and_keepalive, 20)
{
    server s;
    start(&s, "03-http-server", "127.0.0.1:0", 0);
    char url[AX_URISTRLEN + 16];
    snprintf(url, sizeof url, "http://%s/", s.hostport);
    char out[8192];

    const char *plain[] = {"curl", "-s", "-w", "%{http_code}", url, NULL};
    run_expect(plain, NULL, "Hello World!\n200");

    /* Two URLs in one curl run reuse the connection. */
    const char *twice[] = {"sh", "-c", "exec curl -sv \"$0\" \"$0\" 2>&1", url, NULL};
    run(twice, NULL, 0, out, sizeof out);
    if (!strstr(out, "Re-using existing connection"))
        axt_fail(__FILE__, __LINE__, "curl opened a second connection:\n%s", out);
    char *first = strstr(out, "Hello World!\n");
    CHECK(first && strstr(first + 1, "Hello World!\n"));

    /* HEAD: the headers without the body, and keep-alive still works. */
    const char *head[] = {"curl", "-s", "-I", url, NULL};
    run_expect(head, NULL, OK_HEAD "\r\n");
    stop(&s, SIGTERM);
}

TEST_T(http_pipelined_socat, 20)
{
    server s;
    start(&s, "03-http-server", "127.0.0.1:0", 0);
    const char *argv[] = {"socat", "-t", "5", "-", s.socat, NULL};
    /* One write: a GET, a POST whose body must be skipped, a HEAD, a GET
     * that closes, and a request after it that must be ignored. Each
     * response differs, so their order shows. */
    run_expect(argv,
               GET "\r\n"
               "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nGET / HTTP"
               "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
               GET "Connection: close\r\n\r\n"
               GET "\r\n",
               OK_RESP OK_RESP OK_HEAD "\r\n" OK_CLOSE);
    stop(&s, SIGTERM);
}

TEST_T(http_pipelining_flood, 30)
{
    /* 100000 pipelined requests while nobody reads the responses for a
     * while: the server must stop reading when its queue fills and still
     * answer every request, in order, once the client reads. */
    server s;
    start(&s, "03-http-server", "127.0.0.1:0", 0);
    const char req[] = GET "\r\n";
    const size_t count = 100000, rlen = sizeof req - 1, plen = strlen(OK_RESP);
    char *reqs = malloc(count * rlen), *got = malloc(count * plen + 1);
    CHECK(reqs && got);
    for (size_t i = 0; i < count; i++)
        memcpy(reqs + i * rlen, req, rlen);
    int fd = dial_rcvbuf(&s, 16384);
    pid_t w = writer(fd, reqs, count * rlen);
    usleep(300 * 1000);
    CHECK_EQ(axt_read_all(fd, got, count * plen, ms(20000)), count * plen);
    for (size_t i = 0; i < count; i++)
        if (memcmp(got + i * plen, OK_RESP, plen) != 0)
            axt_fail(__FILE__, __LINE__, "response %zu is wrong", i);
    check_exit(w, 0, "writer");
    ax_close(fd);
    free(reqs);
    free(got);
    stop(&s, SIGTERM);
}

TEST_T(http_split_requests, 20)
{
    server s;
    start(&s, "03-http-server", "127.0.0.1:0", 0);
    int fd = dial(&s);
    /* One byte per write, so the end of the headers arrives in pieces. */
    const char *req = GET "Accept: */*\r\n\r\n";
    for (const char *p = req; *p; p++) {
        CHECK_OK(ax_write_all(fd, p, 1, ms(3000), NULL));
        usleep(1000);
    }
    char out[1024];
    CHECK_EQ(axt_read_all(fd, out, strlen(OK_RESP), ms(3000)), strlen(OK_RESP));
    out[strlen(OK_RESP)] = '\0';
    CHECK_STR(out, OK_RESP);
    /* Split inside "\r\n\r\n", with the next request in the same piece. */
    put(fd, GET "\r");
    usleep(20 * 1000);
    put(fd, "\n" GET "Conn");
    usleep(20 * 1000);
    put(fd, "ection: close\r\n\r\n");
    read_to_eof(fd, out, sizeof out, ms(5000));
    CHECK_STR(out, OK_RESP OK_CLOSE);
    ax_close(fd);
    stop(&s, SIGTERM);
}

TEST_T(http_connection_close, 20)
{
    server s;
    start(&s, "03-http-server", "127.0.0.1:0", 0);
    char out[1024];
    /* We keep our side open: the server must end the connection itself. */
    int fd = dial(&s);
    put(fd, GET "Connection: close\r\n\r\n");
    read_to_eof(fd, out, sizeof out, ms(5000));
    CHECK_STR(out, OK_CLOSE);
    ax_close(fd);
    /* HTTP/1.0 closes unless asked to keep alive. */
    fd = dial(&s);
    put(fd, "GET / HTTP/1.0\r\n\r\n");
    read_to_eof(fd, out, sizeof out, ms(5000));
    CHECK_STR(out, OK_CLOSE);
    ax_close(fd);
    fd = dial(&s);
    put(fd, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    read_to_eof(fd, out, sizeof out, ms(5000));
    CHECK_STR(out, OK_RESP OK_CLOSE);
    ax_close(fd);
    stop(&s, SIGTERM);
}

/* A header block of exactly len bytes, "\r\n\r\n" included. */
static char *header_block(size_t len)
{
    const char *start = GET "X-Pad: ";
    char *b = malloc(len + 1);
    CHECK(b && len > strlen(start) + 4);
    memset(b, 'a', len);
    memcpy(b, start, strlen(start));
    memcpy(b + len - 4, "\r\n\r\n", 4);
    b[len] = '\0';
    return b;
}

TEST_T(http_header_limit, 20)
{
    server s;
    start(&s, "03-http-server", "127.0.0.1:0", 0);
    char out[1024];
    /* 8 KiB exactly still fits. */
    int fd = dial(&s);
    char *block = header_block(8192);
    put(fd, block);
    CHECK_EQ(axt_read_all(fd, out, strlen(OK_RESP), ms(3000)), strlen(OK_RESP));
    out[strlen(OK_RESP)] = '\0';
    CHECK_STR(out, OK_RESP);
    ax_close(fd);
    free(block);
    /* One byte more is a 400, then the end of the connection. */
    fd = dial(&s);
    block = header_block(8193);
    put(fd, block);
    read_to_eof(fd, out, sizeof out, ms(5000));
    CHECK_STR(out, BAD_RESP);
    ax_close(fd);
    free(block);
    /* Headers that never end: the 400 comes without waiting for more. */
    fd = dial(&s);
    block = header_block(20000);
    block[9000] = '\0';
    put(fd, block);
    read_to_eof(fd, out, sizeof out, ms(5000));
    CHECK_STR(out, BAD_RESP);
    ax_close(fd);
    free(block);
    /* And the same through curl. */
    char url[AX_URISTRLEN + 16], hdr[9100];
    snprintf(url, sizeof url, "http://%s/", s.hostport);
    memset(hdr, 'b', sizeof hdr - 1);
    hdr[sizeof hdr - 1] = '\0';
    memcpy(hdr, "X-Big: ", 7);
    const char *curl[] = {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", hdr, url,
                          NULL};
    run_expect(curl, NULL, "400");
    stop(&s, SIGTERM);
}

TEST_T(http_wrk_smoke, 30)
{
    server s;
    start(&s, "03-http-server", "127.0.0.1:0", 0);
    char url[AX_URISTRLEN + 16];
    snprintf(url, sizeof url, "http://%s/", s.hostport);
    const char *argv[] = {"wrk", "-t1", "-c10", "-d1s", url, NULL};
    char out[8192];
    run(argv, NULL, 0, out, sizeof out);
    /* "  12345 requests in 1.00s, 1.23MB read" */
    const char *p = strstr(out, " requests in ");
    if (!p)
        axt_fail(__FILE__, __LINE__, "unexpected wrk output:\n%s", out);
    while (p > out && p[-1] >= '0' && p[-1] <= '9')
        p--;
    long requests = atol(p);
    if (requests <= 0 || strstr(out, "Non-2xx") || strstr(out, "Socket errors"))
        axt_fail(__FILE__, __LINE__, "wrk saw errors:\n%s", out);
    stop(&s, SIGTERM);
}

/* --------------------------------------------------------- 21 netcat */

TEST_T(netcat_halfclose_against_socat, 30)
{
    /* socat serves "cat" per connection: it echoes, and ends its side once
     * our side ended. */
    unsigned short port = axt_free_port(SOCK_STREAM);
    char listen[64], uri[64];
    snprintf(listen, sizeof listen, "TCP-LISTEN:%u,bind=127.0.0.1,reuseaddr,fork", port);
    snprintf(uri, sizeof uri, "127.0.0.1:%u", port);
    const char *echo[] = {"socat", listen, "EXEC:cat", NULL};
    pid_t srv = axt_spawn(echo, -1, -1);
    axt_wait_listening(uri, ms(5000));

    const char *argv[] = {example("21-netcat-client"), uri, NULL};
    int to, from;
    pid_t pid = axt_spawn_pipes(argv, &to, &from);
    /* More than any pipe or socket buffer holds, from a writer of its own
     * so that the pipes never wait on each other. */
    const size_t n = 512 * 1024;
    unsigned char *sent;
    int file = random_file(n, &sent);
    close(file);
    pid_t w = writer(to, sent, n);
    close(to); /* the writer holds the only write end: its exit is stdin's EOF */
    unsigned char *got = malloc(n + 1);
    CHECK(got);
    CHECK_EQ(axt_read_all(from, (char *)got, n + 1, ms(15000)), n);
    CHECK(memcmp(got, sent, n) == 0);
    check_exit(w, 0, "writer");
    check_exit(pid, 0, "21-netcat-client");
    close(from);
    free(got);
    free(sent);
    kill(srv, SIGTERM);
    axt_wait(srv, ms(5000));
}

TEST_T(netcat_against_echo_example_unix, 20)
{
    char uri[300];
    snprintf(uri, sizeof uri, "unix://%s/e.sock", axt_tmpdir());
    server s;
    start(&s, "01-echo-server", uri, 0);
    const char *argv[] = {example("21-netcat-client"), uri, NULL};
    int to, from;
    pid_t pid = axt_spawn_pipes(argv, &to, &from);
    /* The echo comes while our side is still open, and again after. */
    put(to, "ping\n");
    EXPECT_LINE(from, "ping");
    finish(pid, to, from);
    run_expect(argv, "pong\n", "pong\n");
    /* SIGTERM in mid-conversation: a clean exit 0. */
    pid = axt_spawn_pipes(argv, &to, &from);
    put(to, "still here\n");
    EXPECT_LINE(from, "still here");
    kill(pid, SIGTERM);
    check_exit(pid, 0, "21-netcat-client");
    close(to);
    close(from);
    stop(&s, SIGTERM);
}

TEST_T(netcat_errors, 15)
{
    unsigned short port = axt_free_port(SOCK_STREAM);
    char uri[64], want[256], out[1024];
    snprintf(uri, sizeof uri, "127.0.0.1:%u", port);
    const char *refused[] = {"sh", "-c", "exec \"$0\" \"$1\" 2>&1", example("21-netcat-client"),
                             uri, NULL};
    run(refused, NULL, 1, out, sizeof out);
    snprintf(want, sizeof want,
             "Connection to tcp://127.0.0.1:%u failed: Connection refused (ECONNREFUSED)\n",
             port);
    CHECK_STR(out, want);

    const char *bad[] = {"sh", "-c", "exec \"$0\" \"$1\" 2>&1", example("21-netcat-client"),
                         "gopher://127.0.0.1:70", NULL};
    run(bad, NULL, 1, out, sizeof out);
    if (!strstr(out, "gopher") || !strstr(out, "(EINVAL)"))
        axt_fail(__FILE__, __LINE__, "unexpected message: %s", out);
}

/* ------------------------------------------------------ 91 benchmark */

TEST_T(benchmark_counts_bytes, 20)
{
    server s;
    start(&s, "91-benchmark-server", "127.0.0.1:0", 1);
    const size_t n = 1u << 20;
    char *buf = calloc(1, n);
    CHECK(buf);
    int fd = dial(&s);
    char me[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(fd, me, sizeof me));
    CHECK_OK(ax_write_all(fd, buf, n, ms(5000), NULL));
    ax_close(fd);
    /* "tcp://127.0.0.1:P: 1048576 bytes in 0.002 s (512.3 MiB/s)" */
    char line[512], want[512];
    read_line(s.out, line, sizeof line, ms(5000));
    snprintf(want, sizeof want, "%s: 1048576 bytes in ", me);
    if (strncmp(line, want, strlen(want)) != 0 || !strstr(line, " s (") ||
        !strstr(line, " MiB/s)"))
        axt_fail(__FILE__, __LINE__, "unexpected line \"%s\"", line);

    /* A connection still open at SIGTERM is reported on the way out. */
    fd = dial(&s);
    CHECK_OK(ax_sockname_uri(fd, me, sizeof me));
    CHECK_OK(ax_write_all(fd, buf, 1000, ms(5000), NULL));
    usleep(100 * 1000);
    kill(s.pid, SIGTERM);
    read_line(s.out, line, sizeof line, ms(5000));
    snprintf(want, sizeof want, "%s: 1000 bytes in ", me);
    CHECK(strncmp(line, want, strlen(want)) == 0);
    stop(&s, 0);
    ax_close(fd);
    free(buf);
}
