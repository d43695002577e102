/*
 * fd watchers (src/loop/watch.c) on every backend: pipes (level-triggered
 * readable/writable, ax_watch_set, stopping inside the callback, hang-up),
 * one registration per fd, and regular files, which epoll refuses and the
 * loop then treats as always ready.
 *
 * Loops come from axt_new_loop(), so AXON_BACKEND runs the file on each
 * backend (tests/CMakeLists.txt registers one run per backend).
 */
#include <fcntl.h>
#include <unistd.h>

#include "axt_loop.h"

/* ------------------------------------------------------------ watchers */

typedef struct pw {
    int reads, writes, stop_after;
    unsigned last;
    char got[8];
} pw;

static void pipe_reader(ax_watch *w, int fd, unsigned revents, void *arg)
{
    pw *x = arg;
    x->last = revents;
    CHECK(revents & AX_READABLE);
    char c;
    CHECK_EQ(read(fd, &c, 1), 1); /* one byte per call: level-triggered */
    x->got[x->reads++] = c;
    if (x->reads == x->stop_after)
        ax_watch_stop(w); /* inside its own callback */
}

static void pipe_writer(ax_watch *w, int fd, unsigned revents, void *arg)
{
    (void)fd;
    pw *x = arg;
    CHECK(revents & AX_WRITABLE);
    if (++x->writes == 1)
        CHECK_OK(ax_watch_set(w, 0)); /* registered, but no more calls */
    else
        ax_watch_stop(w);
}

TEST(watch_pipe_readable_writable_set_stop)
{
    ax_loop *loop = axt_new_loop();
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    pw x = {.stop_after = 3};
    CHECK(ax_watch_fd(loop, p[0], AX_READABLE, pipe_reader, &x) != NULL);
    CHECK_EQ(ax_loop_run_once(loop, 0), 1);
    CHECK_EQ(x.reads, 0);
    CHECK_EQ(write(p[1], "abcd", 4), 4);
    CHECK_EQ(ax_loop_run(loop), 0); /* stopped itself after three bytes */
    CHECK_EQ(x.reads, 3);
    CHECK(memcmp(x.got, "abc", 3) == 0);
    char c; /* the fd was borrowed: still open, the last byte unread */
    CHECK_EQ(read(p[0], &c, 1), 1);

    ax_watch *w = ax_watch_fd(loop, p[1], AX_WRITABLE, pipe_writer, &x);
    CHECK(w != NULL);
    axt_run_for(loop, 50);
    CHECK_EQ(x.writes, 1);
    CHECK_EQ(ax_loop_alive(loop), 1); /* still registered */
    CHECK_OK(ax_watch_set(w, AX_READABLE)); /* a write end never reads */
    axt_run_for(loop, 30);
    CHECK_EQ(x.writes, 1);
    CHECK_OK(ax_watch_set(w, AX_WRITABLE | AX_HANGUP)); /* AX_HANGUP ignored */
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(x.writes, 2);
    close(p[0]);
    close(p[1]);
    ax_loop_free(loop);
}

static void hup_cb(ax_watch *w, int fd, unsigned revents, void *arg)
{
    (void)fd;
    *(unsigned *)arg = revents;
    ax_watch_stop(w);
}

TEST(watch_hangup_same_fd_and_bad_args)
{
    ax_loop *loop = axt_new_loop();
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    unsigned rev = 0;
    ax_watch *w = ax_watch_fd(loop, p[0], AX_READABLE, hup_cb, &rev);
    CHECK(w != NULL);
    /* epoll refuses a second registration of one fd; poll must refuse it
     * too rather than corrupt its fd table. */
    ax_clear_error();
    CHECK(ax_watch_fd(loop, p[0], AX_READABLE, hup_cb, &rev) == NULL);
    CHECK_EQ(ax_last_error()->code, AX_EEXIST);
    close(p[1]);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK((rev & AX_READABLE) && (rev & AX_HANGUP));
    /* Stopped, the fd can be watched again. */
    w = ax_watch_fd(loop, p[0], AX_READABLE, hup_cb, &rev);
    CHECK(w != NULL);
    ax_watch_stop(w);
    ax_watch_stop(NULL);
    close(p[0]);
    CHECK(ax_watch_fd(loop, -1, AX_READABLE, hup_cb, &rev) == NULL);
    CHECK_EQ(ax_last_error()->code, AX_EINVAL);
    CHECK(ax_watch_fd(loop, 0, AX_READABLE, NULL, &rev) == NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    ax_loop_free(loop);
}

typedef struct filew {
    int calls, eof;
    size_t bytes;
} filew;

static void file_cb(ax_watch *w, int fd, unsigned revents, void *arg)
{
    filew *f = arg;
    CHECK(revents & AX_READABLE);
    f->calls++;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    CHECK(n >= 0);
    f->eof += n == 0;
    f->bytes += (size_t)n;
    if (f->eof == 2)
        ax_watch_stop(w);
}

static int make_file(size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/data", axt_tmpdir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    char buf[1000];
    memset(buf, 'f', sizeof buf);
    for (size_t done = 0, k; done < len; done += k) {
        k = len - done < sizeof buf ? len - done : sizeof buf;
        CHECK_EQ(write(fd, buf, k), (ssize_t)k);
    }
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* epoll refuses regular files (EPERM); the loop treats them as always
 * ready instead. poll reports them ready by itself. */
TEST(watch_regular_file_always_ready)
{
    ax_loop *loop = axt_new_loop();
    int fd = make_file(10000);
    filew f = {0};
    CHECK(ax_watch_fd(loop, fd, AX_READABLE, file_cb, &f) != NULL);
    if (!axt_is_poll(loop))
        CHECK_EQ(ax_loop_timeout(loop), 0); /* always ready: do not sleep */
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(f.bytes, 10000);
    CHECK_EQ(f.calls, 5); /* 4096 + 4096 + 1808 + EOF + EOF */
    close(fd);
    ax_loop_free(loop);
}

/* One that wants no events must not make the loop spin, nor make
 * ax_loop_timeout() say 0. */
TEST(watch_regular_file_idle_does_not_spin)
{
    ax_loop *loop = axt_new_loop();
    int fd = make_file(10);
    filew f = {0};
    ax_watch *w = ax_watch_fd(loop, fd, AX_READABLE, file_cb, &f);
    CHECK_OK(ax_watch_set(w, 0));
    /* (io_uring submits the poll it queued, which then reports nothing.) */
    CHECK_OK(ax_loop_run_once(loop, 0));
    CHECK_EQ(ax_loop_timeout(loop), -1);
    int fired = 0, iters = 0;
    CHECK(ax_timer_start(loop, 200, 0, axt_set_flag, &fired) != NULL);
    int t = ax_loop_timeout(loop);
    CHECK(t > 100 && t <= 200);
    for (; !fired && iters < 100000; iters++)
        CHECK_OK(ax_loop_run_once(loop, -1));
    CHECK(iters <= 5); /* slept until the timer rather than spinning */
    CHECK_EQ(f.calls, 0);
    CHECK_OK(ax_watch_set(w, AX_READABLE));
    if (!axt_is_poll(loop))
        CHECK_EQ(ax_loop_timeout(loop), 0);
    ax_watch_stop(w);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(ax_loop_timeout(loop), -1);
    close(fd);
    ax_loop_free(loop);
}

