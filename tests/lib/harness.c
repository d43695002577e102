/* The fork-based runner and peer helpers described in harness.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AXT_MAX_TESTS 256

static struct {
    const char *name;
    axt_fn fn;
    unsigned timeout_s;
} tests[AXT_MAX_TESTS];
static size_t ntests;
static char tmpdir[64];

void axt_register(const char *name, axt_fn fn, unsigned timeout_s)
{
    if (ntests == AXT_MAX_TESTS) {
        fprintf(stderr, "harness: more than %d tests in one file\n", AXT_MAX_TESTS);
        abort();
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    tests[ntests].timeout_s = timeout_s;
    ntests++;
}

void axt_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    exit(1);
}

int axt_ok(long long r, const char *expr, const char *file, int line)
{
    if (r < 0)
        axt_fail(file, line, "%s failed: %lld %s: %s", expr, r, ax_errname((int)r),
                 ax_last_error()->message);
    return (int)r;
}

double axt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

const char *axt_tmpdir(void)
{
    return tmpdir;
}

static int run_one(size_t i, unsigned scale, int nofork)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/axt-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 0;
    }
    double t0 = axt_now_ms();
    int ok;
    if (nofork) {
        tests[i].fn();
        ok = 1;
    } else {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 0;
        }
        if (pid == 0) {
            /* Own process group, so peers a test starts can be killed with it. */
            setpgid(0, 0);
            alarm(tests[i].timeout_s * scale);
            tests[i].fn();
            fflush(NULL);
            exit(0);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        kill(-pid, SIGKILL); /* anything the test left behind */
        ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (!ok) {
            if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
                fprintf(stderr, "  timed out after %us\n", tests[i].timeout_s * scale);
            else if (WIFSIGNALED(st))
                fprintf(stderr, "  killed by signal %d (%s)\n", WTERMSIG(st),
                        strsignal(WTERMSIG(st)));
            else
                fprintf(stderr, "  exit status %d\n", WEXITSTATUS(st));
        }
    }
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%s %s (%.0f ms)\n", ok ? "ok  " : "FAIL", tests[i].name, axt_now_ms() - t0);
    fflush(stdout);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < ntests; i++)
            printf("%s\n", tests[i].name);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN); /* tests write to peers that may be gone */
    unsigned scale = (unsigned)axt_scale();
    int nofork = getenv("AXT_NOFORK") != NULL;
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < ntests; i++) {
        if (argc > 1) {
            int want = 0;
            for (int a = 1; a < argc; a++)
                want |= strcmp(argv[a], tests[i].name) == 0;
            if (!want)
                continue;
        }
        if (run_one(i, scale, nofork))
            passed++;
        else
            failed++;
    }
    if (passed + failed == 0) {
        fprintf(stderr, "no test matched\n");
        return 2;
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* ---------------------------------------------------------------- peers */

unsigned short axt_free_port(int type)
{
    ax_addr a;
    CHECK_OK(ax_addr_parse("127.0.0.1:0", &a));
    int fd = CHECK_OK(ax_socket(AF_INET, type, 0));
    CHECK_OK(ax_bind(fd, &a));
    CHECK_OK(ax_sockname(fd, &a));
    ax_close(fd);
    return ax_addr_port(&a);
}

pid_t axt_spawn_std(const char *const argv[], const int fds[3])
{
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) < 0)
        axt_fail(__FILE__, __LINE__, "pipe2: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        axt_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        /* Move every source above 2 first, so dup2 cannot clobber one;
         * the copies close at exec, so the program holds only 0-2 (and
         * whatever the test left inheritable on purpose). */
        int src[3];
        for (int i = 0; i < 3; i++)
            src[i] = fds[i] == AXT_INHERIT ? -1
                                           : fcntl(fds[i] >= 0 ? fds[i] : devnull,
                                                   F_DUPFD_CLOEXEC, 10);
        for (int i = 0; i < 3; i++)
            if (src[i] >= 0)
                dup2(src[i], i);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], (char *const *)argv);
        int e = errno;
        if (write(errpipe[1], &e, sizeof e) < 0) {
        }
        _exit(127);
    }
    close(errpipe[1]);
    int e = 0;
    ssize_t n = read(errpipe[0], &e, sizeof e);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof e)
        axt_fail(__FILE__, __LINE__, "cannot run %s: %s (is it installed?)", argv[0],
                 strerror(e));
    return pid;
}

pid_t axt_spawn(const char *const argv[], int in_fd, int out_fd)
{
    const int fds[3] = {in_fd, out_fd, AXT_INHERIT};
    return axt_spawn_std(argv, fds);
}

pid_t axt_spawn_pipes(const char *const argv[], int *to, int *from)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if ((to && pipe2(in, O_CLOEXEC) < 0) || (from && pipe2(out, O_CLOEXEC) < 0))
        axt_fail(__FILE__, __LINE__, "pipe2: %s", strerror(errno));
    const int fds[3] = {in[0], out[1], AXT_INHERIT};
    pid_t pid = axt_spawn_std(argv, fds);
    if (to) {
        close(in[0]);
        *to = in[1];
    }
    if (from) {
        close(out[1]);
        *from = out[0];
    }
    return pid;
}

int axt_wait(pid_t pid, int timeout_ms)
{
    double end = axt_now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            axt_fail(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
        if (axt_now_ms() > end)
            axt_fail(__FILE__, __LINE__, "child %d still running after %d ms", (int)pid,
                     timeout_ms);
        usleep(2000);
    }
}

int axt_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return st;
}

void axt_wait_listening(const char *uri, int timeout_ms)
{
    double end = axt_now_ms() + timeout_ms;
    ax_connect_opts o = {.timeout_ms = 200};
    for (;;) {
        int fd = ax_connect_uri(uri, &o);
        if (fd >= 0) {
            ax_close(fd);
            return;
        }
        if (axt_now_ms() > end)
            axt_fail(__FILE__, __LINE__, "nothing listens on %s after %d ms: %s", uri,
                     timeout_ms, ax_last_error()->message);
        usleep(5000);
    }
}

size_t axt_read_all(int fd, char *buf, size_t max, int timeout_ms)
{
    double end = axt_now_ms() + timeout_ms;
    size_t got = 0;
    while (got < max) {
        int left = (int)(end - axt_now_ms());
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, left);
        if (r <= 0)
            continue;
        ssize_t n = read(fd, buf + got, max - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

int axt_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own fd */
}

int axt_scale(void)
{
    const char *s = getenv("AXT_TIMEOUT_SCALE");
    int v = s ? atoi(s) : 1;
    return v > 0 ? v : 1;
}

int axt_unix_full_listener(const char *path, int *fill, size_t max, size_t *n)
{
    ax_addr a;
    CHECK_OK(ax_addr_from_unix(&a, path));
    int lfd = CHECK_OK(ax_socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_OK(ax_bind(lfd, &a));
    CHECK(listen(lfd, 1) == 0);
    *n = 0;
    while (*n < max) {
        int fd = CHECK_OK(ax_socket(AF_UNIX, SOCK_STREAM | AX_SOCK_NONBLOCK, 0));
        if (connect(fd, &a.u.sa, a.len) < 0) {
            int e = errno;
            close(fd);
            if (e == EAGAIN)
                return lfd;
            axt_fail(__FILE__, __LINE__, "filling %s: %s", path, strerror(e));
        }
        fill[(*n)++] = fd;
    }
    axt_fail(__FILE__, __LINE__, "%s took %zu connections without filling", path, max);
}

void axt_fill_bytes(unsigned char *buf, size_t n, uint32_t seed)
{
    uint32_t x = seed ? seed : 0x9e3779b9u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)(x >> 24);
    }
}
