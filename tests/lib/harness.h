/*
 * A small fork-based test runner. Each TEST() runs in its own child process
 * with a timeout (SIGALRM kills it), so one crash or hang fails one test.
 * The run ends with "N passed, N failed" alone on a line; the exit status is
 * non-zero when any test failed.
 *
 *   ./test_x              run every test in the file
 *   ./test_x NAME...      run the named tests only
 *   ./test_x --list       list the tests
 *   AXT_NOFORK=1          run in-process (for gdb)
 *   AXT_TIMEOUT_SCALE=N   multiply every timeout (valgrind runs use 10)
 */
#ifndef AXON_TEST_HARNESS_H
#define AXON_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <axon.h>

typedef void (*axt_fn)(void);
void axt_register(const char *name, axt_fn fn, unsigned timeout_s);
_Noreturn void axt_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define AXT_DEFAULT_TIMEOUT 20

#define TEST_T(name, secs)                                                    \
    static void name(void);                                                   \
    __attribute__((constructor)) static void axt_reg_##name(void)            \
    {                                                                         \
        axt_register(#name, name, secs);                                      \
    }                                                                         \
    static void name(void)

#define TEST(name) TEST_T(name, AXT_DEFAULT_TIMEOUT)

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond))                                                          \
            axt_fail(__FILE__, __LINE__, "CHECK(%s) [last error: %s]", #cond, \
                     ax_last_error()->message);                               \
    } while (0)

#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        long long axt_a = (long long)(a), axt_b = (long long)(b);             \
        if (axt_a != axt_b)                                                   \
            axt_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld [%s]", #a,  \
                     #b, axt_a, axt_b, ax_last_error()->message);             \
    } while (0)

#define CHECK_STR(a, b)                                                       \
    do {                                                                      \
        const char *axt_a = (a), *axt_b = (b);                                \
        if (!axt_a || !axt_b || strcmp(axt_a, axt_b) != 0)                    \
            axt_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a,   \
                     #b, axt_a ? axt_a : "(null)", axt_b ? axt_b : "(null)"); \
    } while (0)

/* The expression must be >= 0 (an axon call that succeeded). Yields it as
 * an int. */
#define CHECK_OK(expr) axt_ok((long long)(expr), #expr, __FILE__, __LINE__)
int axt_ok(long long r, const char *expr, const char *file, int line);

/* Substring check on the last error's message. */
#define CHECK_ERRMSG(sub)                                                     \
    do {                                                                      \
        if (!strstr(ax_last_error()->message, (sub)))                        \
            axt_fail(__FILE__, __LINE__, "last error \"%s\" lacks \"%s\"",    \
                     ax_last_error()->message, (sub));                        \
    } while (0)

/* ---- helpers for tests that talk to real peers ---- */

/* A free TCP (or UDP with SOCK_DGRAM) port on 127.0.0.1 at the time of the
 * call. */
unsigned short axt_free_port(int type);

/* Starts argv[0] (looked up in PATH) with fds[0..2] as its stdin, stdout
 * and stderr (-1: /dev/null; AXT_INHERIT: the test's own), an empty signal
 * mask and SIGPIPE's default action. The child dies with the test
 * (PR_SET_PDEATHSIG). Fails the test if the program is missing. */
#define AXT_INHERIT (-100)
pid_t axt_spawn_std(const char *const argv[], const int fds[3]);

/* axt_spawn_std() with the test's stderr. */
pid_t axt_spawn(const char *const argv[], int in_fd, int out_fd);

/* Like axt_spawn, but returns pipes to the child's stdin (*to) and from its
 * stdout (*from); either pointer may be NULL. */
pid_t axt_spawn_pipes(const char *const argv[], int *to, int *from);

/* Sends SIGTERM, waits; returns the exit status as from waitpid(). */
int axt_stop(pid_t pid);

/* Waits for the child to exit within timeout_ms; returns its waitpid status,
 * or fails the test on timeout. */
int axt_wait(pid_t pid, int timeout_ms);

/* Polls until something accepts connections on uri (tcp or unix), up to
 * timeout_ms; fails the test otherwise. */
void axt_wait_listening(const char *uri, int timeout_ms);

/* Reads from fd until EOF or max bytes, with an overall timeout; returns the
 * count. */
size_t axt_read_all(int fd, char *buf, size_t max, int timeout_ms);

/* AXT_TIMEOUT_SCALE (valgrind runs set 10), at least 1: stretches a
 * test's own waits, and tells the big tests to scale their sizes down. */
int axt_scale(void);

/* Milliseconds on CLOCK_MONOTONIC. */
double axt_now_ms(void);

/* How many fds this process has open (from /proc/self/fd), to prove a
 * call leaked none. */
int axt_count_fds(void);

/* A Unix stream listener bound to path (a file path, or "@name" for an
 * abstract one) whose accept queue is full: it never accepts, and
 * non-blocking connects were made until the kernel said EAGAIN. The
 * fillers go to fill[] (up to max; *n of them), to be closed by the
 * caller with the listener. Returns the listener's fd. */
int axt_unix_full_listener(const char *path, int *fill, size_t max, size_t *n);

/* Deterministic bytes (xorshift32 from seed; 0 picks a fixed one) that are
 * not a short repeating pattern. */
void axt_fill_bytes(unsigned char *buf, size_t n, uint32_t seed);

/* A fresh directory under /tmp for this test (removed by the runner). */
const char *axt_tmpdir(void);

#endif
