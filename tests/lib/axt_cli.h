/*
 * Helpers for the tests of the axon command-line tool: finding the binary,
 * spawning it (and peers) with pipes, reading its stderr line by line,
 * pumping stdin/stdout, and waiting for listeners. Header-only (static
 * inline), so a test file uses what it needs.
 *
 * The binary: $AXON_CLI, else AXON_CLI_PATH compiled in by CMake, else
 * tools/axon/axon next to the test's build directory. $AXON_CLI_WRAP runs
 * it under a wrapper, e.g.
 *   AXT_TIMEOUT_SCALE=10 AXON_CLI_WRAP="valgrind -q --leak-check=full
 *   --error-exitcode=9" build/tests/test_cli
 * so every exit-status check also checks the wrapper's verdict.
 */
#ifndef AXON_TEST_AXT_CLI_H
#define AXON_TEST_AXT_CLI_H

#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

/* Copies src into dst (len bytes), cut to fit. */
static inline void axt_copy(char *dst, size_t len, const char *src)
{
    size_t n = strnlen(src, len - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static inline int ms(int base)
{
    return base * axt_scale();
}

static inline const char *cli(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("AXON_CLI");
    if (env && *env)
        return env;
    if (!path[0]) {
#ifdef AXON_CLI_PATH
        snprintf(path, sizeof path, "%s", AXON_CLI_PATH);
#else
        /* argv[0] (valgrind keeps it, unlike /proc/self/exe): the build
         * tree's tests/ directory, next to tools/axon/. */
        char self[PATH_MAX - 32];
        snprintf(self, sizeof self, "%s", program_invocation_name);
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(self, sizeof self, ".");
        snprintf(path, sizeof path, "%s/../tools/axon/axon", self);
#endif
    }
    if (access(path, X_OK) != 0)
        axt_fail(__FILE__, __LINE__, "no axon binary at %s: build it, or set AXON_CLI", path);
    return path;
}

/* Test memory lives until the test's process exits: every block is kept
 * in this table, so leak checkers see it as reachable and no test needs a
 * free on each of its paths (a failed CHECK exits at once anyway). */
static void *volatile arena[1024]; /* volatile: the stores must stay */
static size_t narena;

static inline size_t keep(void *p)
{
    CHECK(p);
    CHECK(narena < sizeof arena / sizeof arena[0]);
    arena[narena] = p;
    return ++narena;
}

typedef struct buf {
    char *p;
    size_t n, cap;
    size_t slot; /* in arena, 0 until allocated */
} buf;

static inline void buf_add(buf *b, const void *d, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = realloc(b->p, cap);
        CHECK(b->p);
        b->cap = cap;
        if (b->slot)
            arena[b->slot - 1] = b->p;
        else
            b->slot = keep(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static inline const char *buf_str(const buf *b)
{
    return b->p ? b->p : "";
}

static inline void check_same(const void *want, size_t wn, const void *got, size_t gn)
{
    if (wn != gn)
        axt_fail(__FILE__, __LINE__, "got %zu bytes, want %zu", gn, wn);
    const unsigned char *a = want, *b = got;
    for (size_t i = 0; i < wn; i++)
        if (a[i] != b[i])
            axt_fail(__FILE__, __LINE__, "byte %zu of %zu differs", i, wn);
}

/* A file in the test's directory holding n pseudo-random bytes. */
static inline char *random_file(const char *name, size_t n, uint32_t seed, unsigned char **data)
{
    static char paths[4][256];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, 256, "%s/%s", axt_tmpdir(), name);
    unsigned char *d = malloc(n);
    keep(d);
    axt_fill_bytes(d, n, seed);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK_OK(ax_write_all(fd, d, n, -1, NULL));
    close(fd);
    *data = d;
    return path;
}

static inline int open_in(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    return fd;
}

static inline int open_out(const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", axt_tmpdir(), name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    return fd;
}

static inline void read_file(const char *path, buf *b)
{
    int fd = open_in(path);
    char tmp[65536];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof tmp)) > 0)
        buf_add(b, tmp, (size_t)n);
    close(fd);
}

/* ---------------------------------------------------------- processes */

enum { NUL = -1, PIPE = -2 };

typedef struct proc {
    pid_t pid;
    int in, out, err; /* our ends of its stdin/stdout/stderr pipes, or -1 */
    buf errb;         /* stderr so far */
    size_t errpos;    /* consumed by expect_err() up to here */
} proc;

/* Starts argv with stdin/stdout/stderr from fds (>= 0), pipes (PIPE) or
 * /dev/null (NUL). The child dies with the test. */
static inline proc spawn_io(const char *const argv[], int in, int out, int err)
{
    proc p = {.in = -1, .out = -1, .err = -1};
    int want[3] = {in, out, err}, child[3];
    for (int i = 0; i < 3; i++) {
        child[i] = want[i];
        if (want[i] == PIPE) {
            int pp[2];
            CHECK(pipe2(pp, O_CLOEXEC) == 0);
            child[i] = i == 0 ? pp[0] : pp[1];
            int mine = i == 0 ? pp[1] : pp[0];
            if (i == 0)
                p.in = mine;
            else if (i == 1)
                p.out = mine;
            else
                p.err = mine;
        }
    }
    p.pid = axt_spawn_std(argv, child);
    for (int i = 0; i < 3; i++)
        if (want[i] == PIPE)
            close(child[i]);
    return p;
}

/* axon with the given arguments (NULL-terminated), under $AXON_CLI_WRAP. */
static inline proc axon(int in, int out, int err, ...)
{
    const char *argv[64];
    size_t n = 0;
    static char wrap[512];
    const char *w = getenv("AXON_CLI_WRAP");
    if (w && *w) {
        snprintf(wrap, sizeof wrap, "%s", w);
        for (char *t = strtok(wrap, " "); t && n < 40; t = strtok(NULL, " "))
            argv[n++] = t;
    }
    argv[n++] = cli();
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 63)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return spawn_io(argv, in, out, err);
}

static inline void read_err(proc *p)
{
    char tmp[4096];
    ssize_t n = read(p->err, tmp, sizeof tmp);
    if (n > 0) {
        buf_add(&p->errb, tmp, (size_t)n);
    } else if (n == 0 || errno != EINTR) {
        close(p->err);
        p->err = -1;
    }
}

/* Waits until a line of p's stderr after the last match contains needle;
 * returns that line (without "\n", valid until the next call). */
static inline const char *expect_err(proc *p, const char *needle, int timeout_ms)
{
    static char line[1024];
    double end = axt_now_ms() + timeout_ms;
    for (;;) {
        const char *base = buf_str(&p->errb) + p->errpos;
        const char *hit = strstr(base, needle);
        const char *eol = hit ? strchr(hit, '\n') : NULL;
        if (eol) {
            const char *bol = hit;
            while (bol > base && bol[-1] != '\n')
                bol--;
            snprintf(line, sizeof line, "%.*s", (int)(eol - bol), bol);
            p->errpos = (size_t)(eol + 1 - buf_str(&p->errb));
            return line;
        }
        int left = (int)(end - axt_now_ms());
        if (left <= 0 || p->err < 0)
            axt_fail(__FILE__, __LINE__, "no \"%s\" on stderr; got:\n%s", needle,
                     buf_str(&p->errb));
        struct pollfd pf = {.fd = p->err, .events = POLLIN};
        if (poll(&pf, 1, left) > 0)
            read_err(p);
    }
}

/* Writes in[0..inlen) to p's stdin and closes it (unless in is NULL and
 * keep_in), while reading its stdout into out (NULL: discard) until EOF,
 * and its stderr into p->errb. */
static inline void pump(proc *p, const void *in, size_t inlen, buf *out, int timeout_ms)
{
    double end = axt_now_ms() + timeout_ms;
    size_t off = 0;
    if (p->in >= 0)
        CHECK(fcntl(p->in, F_SETFL, O_NONBLOCK) == 0);
    while (p->in >= 0 || p->out >= 0) {
        if (p->in >= 0 && off == inlen) {
            close(p->in);
            p->in = -1;
            continue;
        }
        struct pollfd pf[3] = {{.fd = p->in, .events = POLLOUT},
                               {.fd = p->out, .events = POLLIN},
                               {.fd = p->err, .events = POLLIN}};
        int left = (int)(end - axt_now_ms());
        if (left <= 0)
            axt_fail(__FILE__, __LINE__, "pump: timed out after %d ms (%zu of %zu bytes in)",
                     timeout_ms, off, inlen);
        if (poll(pf, 3, left) <= 0)
            continue;
        if (pf[0].revents) {
            ssize_t w = write(p->in, (const char *)in + off, inlen - off);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                axt_fail(__FILE__, __LINE__, "pump: write: %s", strerror(errno));
        }
        if (pf[1].revents) {
            char tmp[65536];
            ssize_t n = read(p->out, tmp, sizeof tmp);
            if (n > 0 && out)
                buf_add(out, tmp, (size_t)n);
            if (n == 0 || (n < 0 && errno != EINTR)) {
                close(p->out);
                p->out = -1;
            }
        }
        if (pf[2].revents)
            read_err(p);
    }
}

/* Waits for p to exit, then collects the rest of its stderr. Returns the
 * waitpid() status. */
static inline int finish(proc *p, int timeout_ms)
{
    int st = axt_wait(p->pid, timeout_ms);
    if (p->in >= 0)
        close(p->in);
    if (p->out >= 0)
        close(p->out);
    p->in = p->out = -1;
    while (p->err >= 0)
        read_err(p);
    return st;
}

static inline void check_exit(proc *p, int st, int code)
{
    if (!WIFEXITED(st))
        axt_fail(__FILE__, __LINE__, "pid %d killed by signal %d; stderr:\n%s", (int)p->pid,
                 WTERMSIG(st), buf_str(&p->errb));
    if (WEXITSTATUS(st) != code)
        axt_fail(__FILE__, __LINE__, "pid %d exited %d, want %d; stderr:\n%s", (int)p->pid,
                 WEXITSTATUS(st), code, buf_str(&p->errb));
}

/* Runs axon to completion with no input; returns the exit code after
 * checking it was not killed. */
static inline int run_axon(buf *out, proc *p, ...)
{
    const char *args[16];
    size_t n = 0;
    va_list ap;
    va_start(ap, p);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 15)
        args[n++] = a;
    va_end(ap);
    while (n < 15)
        args[n++] = NULL;
    *p = axon(NUL, PIPE, PIPE, args[0], args[1], args[2], args[3], args[4], args[5], args[6],
              args[7], args[8], args[9], args[10], args[11], args[12], args[13], args[14],
              (const char *)NULL);
    pump(p, NULL, 0, out, ms(10000));
    int st = finish(p, ms(10000));
    if (!WIFEXITED(st))
        axt_fail(__FILE__, __LINE__, "axon killed by signal %d", WTERMSIG(st));
    return WEXITSTATUS(st);
}

/* "axon: listening on URI" from a -v run: copies the URI. */
static inline void listening(proc *p, char *uri, size_t len)
{
    const char *l = expect_err(p, "axon: listening on ", ms(10000));
    axt_copy(uri, len, l + strlen("axon: listening on "));
}

static inline unsigned port_of(const char *uri)
{
    const char *c = strrchr(uri, ':');
    CHECK(c);
    return (unsigned)atoi(c + 1);
}

/* The peer address from "axon: connection from ADDR". */
static inline void connection_from(proc *p, char *addr, size_t len)
{
    const char *l = expect_err(p, "axon: connection from ", ms(10000));
    axt_copy(addr, len, l + strlen("axon: connection from "));
}

/* Waits until /proc/net/tcp shows a listener on 127.0.0.1:port; unlike a
 * probe connection this uses up nothing of a one-shot peer. */
static inline void wait_tcp_listen(unsigned port, int timeout_ms)
{
    for (int waited = 0;; waited += 5) {
        FILE *f = fopen("/proc/net/tcp", "r");
        CHECK(f);
        char line[512];
        int found = 0;
        while (!found && fgets(line, sizeof line, f)) {
            unsigned lport, st;
            if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &lport, &st) == 2 &&
                lport == port && st == 0x0A)
                found = 1;
        }
        fclose(f);
        if (found)
            return;
        if (waited > timeout_ms)
            axt_fail(__FILE__, __LINE__, "nothing listens on port %u", port);
        usleep(5000);
    }
}

/* The same for a Unix socket path ("@name" for an abstract one). */
static inline void wait_unix_listen(const char *path, int timeout_ms)
{
    for (int waited = 0;; waited += 5) {
        FILE *f = fopen("/proc/net/unix", "r");
        CHECK(f);
        char line[512];
        int found = 0;
        while (!found && fgets(line, sizeof line, f)) {
            unsigned flags;
            char p[300];
            if (sscanf(line, "%*s %*x %*x %x %*x %*x %*u %299s", &flags, p) == 2 &&
                (flags & 0x10000) && strcmp(p, path) == 0)
                found = 1;
        }
        fclose(f);
        if (found)
            return;
        if (waited > timeout_ms)
            axt_fail(__FILE__, __LINE__, "nothing listens on %s", path);
        usleep(5000);
    }
}

static inline int connect_to(const char *uri)
{
    ax_connect_opts o = {.timeout_ms = ms(5000)};
    return CHECK_OK(ax_connect_uri(uri, &o));
}

static inline void send_str(int fd, const char *s)
{
    CHECK_OK(ax_write_all(fd, s, strlen(s), ms(5000), NULL));
}

/* Reads exactly strlen(want) bytes and compares them. */
static inline void expect_str(int fd, const char *want)
{
    size_t n = strlen(want);
    char *got = calloc(1, n + 1);
    CHECK(got);
    size_t k = axt_read_all(fd, got, n, ms(5000));
    got[k] = '\0';
    CHECK_STR(got, want);
    free(got);
}

/* The next read on fd sees the end of the stream (or a reset). */
static inline void expect_eof(int fd, int timeout_ms)
{
    char c;
    size_t k = axt_read_all(fd, &c, 1, timeout_ms);
    CHECK_EQ(k, 0);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    CHECK_EQ(poll(&pf, 1, 0), 1); /* EOF, not a timeout */
}

static inline int still_running(pid_t pid)
{
    int st;
    return waitpid(pid, &st, WNOHANG) == 0;
}

/* The peer's FIN closes axon's stdout while axon keeps sending stdin;
 * axon exits once stdin ends too. */
static inline void peer_fin(proc *ax, int c)
{
    send_str(c, "bye\n");
    CHECK(shutdown(c, SHUT_WR) == 0);
    buf got = {0};
    char tmp[64];
    size_t k = axt_read_all(ax->out, tmp, sizeof tmp, ms(5000));
    buf_add(&got, tmp, k);
    CHECK_STR(buf_str(&got), "bye\n"); /* and then EOF: stdout is closed */
    CHECK(still_running(ax->pid));
    send_str(ax->in, "more\n");
    expect_str(c, "more\n");
    close(ax->in);
    ax->in = -1;
    expect_eof(c, ms(5000));
    check_exit(ax, finish(ax, ms(5000)), 0);
}

#endif
