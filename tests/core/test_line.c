/* The line reader (src/core/line.c) and binary ax_read over socketpairs. */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* A stream socketpair: [0] is read by the reader, [1] written by the test. */
static void pair(int sp[2])
{
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
}

static void put(int fd, const char *s)
{
    CHECK_OK(ax_write_all(fd, s, strlen(s), 2000, NULL));
}

/* The next line must be `want`, returned NUL-terminated. */
static void expect_line(ax_line_reader *r, const char *want)
{
    const char *line = NULL;
    size_t len = 12345;
    int rc = ax_read_line(r, &line, &len);
    if (rc != 1)
        axt_fail(__FILE__, __LINE__, "expected line \"%s\", got rc %d (%s)", want, rc,
                 ax_last_error()->message);
    CHECK_EQ(len, strlen(want));
    CHECK_EQ(line[len], '\0');
    CHECK(memcmp(line, want, len) == 0);
}

static void expect_eof(ax_line_reader *r)
{
    const char *line = NULL;
    size_t len = 0;
    CHECK_EQ(ax_read_line(r, &line, &len), 0);
}

/* Writes `text`, closes the writer, and checks the lines that come out. */
static void lines_of(const char *text, const char *const *want, size_t n)
{
    int sp[2];
    pair(sp);
    put(sp[1], text);
    ax_close(sp[1]);
    ax_line_reader r;
    CHECK_OK(ax_line_reader_init(&r, sp[0], 0));
    for (size_t i = 0; i < n; i++)
        expect_line(&r, want[i]);
    expect_eof(&r);
    expect_eof(&r); /* and stays there */
    ax_line_reader_free(&r);
    ax_close(sp[0]);
}

TEST(lf_lines)
{
    static const char *const want[] = {"one", "two", "", "three"};
    lines_of("one\ntwo\n\nthree\n", want, 4);
}

TEST(crlf_lines)
{
    static const char *const want[] = {"alpha", "beta", "", "gamma"};
    lines_of("alpha\r\nbeta\r\n\r\ngamma\r\n", want, 4);
}

TEST(lone_cr_lines)
{
    static const char *const want[] = {"a", "b", "c"};
    lines_of("a\rb\rc", want, 3);
}

TEST(empty_lines)
{
    /* "\n", "\n", "\r\n", "\r" (lone: a "\r" follows), "\r\n": five ends. */
    static const char *const want[] = {"", "", "", "", ""};
    lines_of("\n\n\r\n\r\r\n", want, 5);
}

TEST(mixed_terminators)
{
    static const char *const want[] = {"unix", "dos", "mac", "", "end"};
    lines_of("unix\ndos\r\nmac\r\n\nend", want, 5);
}

TEST(crlf_split_across_writes)
{
    int sp[2];
    pair(sp);
    ax_line_reader r;
    CHECK_OK(ax_line_reader_init(&r, sp[0], 0));
    /* The "\r" arrives alone: the line is handed out at once. */
    put(sp[1], "first\r");
    expect_line(&r, "first");
    /* Its "\n" comes in the next write and must not make an empty line. */
    put(sp[1], "\nsecond\n");
    expect_line(&r, "second");
    /* "\r" then "\r": the second is a line end of its own (an empty line). */
    put(sp[1], "third\r");
    expect_line(&r, "third");
    put(sp[1], "\rfourth\r");
    expect_line(&r, "");
    expect_line(&r, "fourth");
    /* A "\n" split off a line without "\r" before it. */
    put(sp[1], "fif");
    put(sp[1], "th");
    put(sp[1], "\n");
    expect_line(&r, "fifth");
    ax_close(sp[1]);
    expect_eof(&r);
    ax_line_reader_free(&r);
    ax_close(sp[0]);
}

TEST(one_byte_writes_from_a_child)
{
    int sp[2];
    pair(sp);
    static const char text[] = "hello world\r\nsecond\rthird\n\r\nlast";
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(sp[0]);
        for (size_t i = 0; i < sizeof text - 1; i++) {
            if (write(sp[1], &text[i], 1) != 1)
                _exit(1);
            usleep(300);
        }
        close(sp[1]);
        _exit(0);
    }
    ax_close(sp[1]);
    ax_line_reader r;
    CHECK_OK(ax_line_reader_init(&r, sp[0], 0));
    expect_line(&r, "hello world");
    expect_line(&r, "second");
    expect_line(&r, "third");
    expect_line(&r, "");
    expect_line(&r, "last");
    expect_eof(&r);
    int st = axt_wait(pid, 5000);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ax_line_reader_free(&r);
    ax_close(sp[0]);
}

TEST(final_line_without_terminator)
{
    static const char *const want[] = {"done", "tail"};
    lines_of("done\ntail", want, 2);
    static const char *const one[] = {"x"};
    lines_of("x", one, 1);
    lines_of("", NULL, 0);
}

TEST(oversized_line_keeps_bytes)
{
    int sp[2];
    pair(sp);
    ax_line_reader r;
    CHECK_OK(ax_line_reader_init(&r, sp[0], 8));
    CHECK_EQ(r.max_line, 8);
    put(sp[1], "0123456789abcdef\nok\n");
    ax_close(sp[1]);
    const char *line, *data;
    size_t len;
    CHECK_EQ(ax_read_line(&r, &line, &len), AX_ELINETOOLONG);
    char want[96];
    snprintf(want, sizeof want, "read line from fd %d: more than 8 bytes without a line end "
                                "(ELINETOOLONG)",
             sp[0]);
    CHECK_STR(ax_last_error()->message, want);
    size_t n = ax_line_reader_pending(&r, &data);
    CHECK(n > 8);
    CHECK(memcmp(data, "0123456789abcdef", n) == 0);
    /* Asking again changes nothing and loses nothing. */
    CHECK_EQ(ax_read_line(&r, &line, &len), AX_ELINETOOLONG);
    CHECK_EQ(ax_line_reader_pending(&r, &data), n);
    CHECK(memcmp(data, "0123456789abcdef", n) == 0);

    /* Consume the head and go on: the rest of the stream is intact. */
    ax_line_reader_consume(&r, n);
    CHECK_EQ(ax_line_reader_pending(&r, NULL), 0);
    static const char head[] = "0123456789abcdef";
    expect_line(&r, head + n);
    expect_line(&r, "ok");
    expect_eof(&r);
    ax_line_reader_free(&r);
    ax_close(sp[0]);
}

TEST(consume_part_and_clamp)
{
    int sp[2];
    pair(sp);
    ax_line_reader r;
    CHECK_OK(ax_line_reader_init(&r, sp[0], 4));
    put(sp[1], "abcdefg\nxy\n");
    ax_close(sp[1]);
    const char *line, *data;
    size_t len;
    CHECK_EQ(ax_read_line(&r, &line, &len), AX_ELINETOOLONG);
    CHECK_EQ(ax_line_reader_pending(&r, &data), 5);
    ax_line_reader_consume(&r, 2); /* drop "ab" */
    CHECK_EQ(ax_line_reader_pending(&r, &data), 3);
    CHECK(memcmp(data, "cde", 3) == 0);
    /* "cdefg" is still too long; drop two more and "efg" fits. */
    CHECK_EQ(ax_read_line(&r, &line, &len), AX_ELINETOOLONG);
    ax_line_reader_consume(&r, 2);
    CHECK_EQ(ax_line_reader_pending(&r, &data), 3);
    CHECK(memcmp(data, "efg", 3) == 0);
    expect_line(&r, "efg");
    expect_line(&r, "xy");
    ax_line_reader_consume(&r, 1000); /* nothing pending: clamped */
    CHECK_EQ(ax_line_reader_pending(&r, NULL), 0);
    expect_eof(&r);
    ax_line_reader_free(&r);
    ax_close(sp[0]);
}

TEST(line_of_exactly_max_line)
{
    static const char *const want[] = {"01234567", "01234567", "abc", "01234567"};
    int sp[2];
    pair(sp);
    put(sp[1], "01234567\n01234567\r\nabc\n01234567");
    ax_close(sp[1]);
    ax_line_reader r;
    CHECK_OK(ax_line_reader_init(&r, sp[0], 8));
    for (size_t i = 0; i < 4; i++)
        expect_line(&r, want[i]);
    expect_eof(&r);
    ax_line_reader_free(&r);
    ax_close(sp[0]);

    /* One byte more is too long, at end of stream too. */
    pair(sp);
    put(sp[1], "012345678");
    ax_close(sp[1]);
    CHECK_OK(ax_line_reader_init(&r, sp[0], 8));
    const char *line;
    size_t len;
    CHECK_EQ(ax_read_line(&r, &line, &len), AX_ELINETOOLONG);
    ax_line_reader_free(&r);
    ax_close(sp[0]);
}

TEST(nonblocking_partial_line)
{
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM | AX_SOCK_NONBLOCK, sp));
    ax_line_reader r;
    CHECK_OK(ax_line_reader_init(&r, sp[0], 0));
    const char *line, *data;
    size_t len;
    CHECK_EQ(ax_read_line(&r, &line, &len), AX_EAGAIN);
    put(sp[1], "part");
    CHECK_EQ(ax_read_line(&r, &line, &len), AX_EAGAIN);
    CHECK_EQ(ax_line_reader_pending(&r, &data), 4);
    CHECK(memcmp(data, "part", 4) == 0);
    put(sp[1], "ial\nnext");
    expect_line(&r, "partial");
    CHECK_EQ(ax_read_line(&r, &line, &len), AX_EAGAIN);
    CHECK_EQ(ax_line_reader_pending(&r, &data), 4);
    CHECK(memcmp(data, "next", 4) == 0);
    /* A "\r" at the end of what arrived ends the line; a later "\n" is
     * swallowed even though it arrives after an EAGAIN. */
    put(sp[1], "\r");
    expect_line(&r, "next");
    CHECK_EQ(ax_read_line(&r, &line, &len), AX_EAGAIN);
    put(sp[1], "\nz\n");
    expect_line(&r, "z");
    ax_close(sp[1]);
    expect_eof(&r);
    ax_line_reader_free(&r);
    ax_close(sp[0]);
}

TEST(default_max_line)
{
    int sp[2];
    pair(sp);
    ax_line_reader r;
    CHECK_OK(ax_line_reader_init(&r, sp[0], 0));
    CHECK_EQ(r.max_line, 8192);
    char *big = malloc(8194);
    CHECK(big != NULL);
    memset(big, 'a', 8192);
    big[8192] = '\n';
    CHECK_OK(ax_write_all(sp[1], big, 8193, 2000, NULL));
    memset(big, 'b', 8194);
    CHECK_OK(ax_write_all(sp[1], big, 8194, 2000, NULL));
    ax_close(sp[1]);
    const char *line;
    size_t len;
    CHECK_EQ(ax_read_line(&r, &line, &len), 1);
    CHECK_EQ(len, 8192);
    CHECK(line[0] == 'a' && line[8191] == 'a' && line[8192] == '\0');
    CHECK_EQ(ax_read_line(&r, &line, &len), AX_ELINETOOLONG);
    CHECK_ERRMSG("more than 8192 bytes");
    ax_line_reader_free(&r);
    ax_close(sp[0]);
    free(big);
}

TEST(reader_misuse_and_read_errors)
{
    ax_line_reader r;
    memset(&r, 0, sizeof r);
    ax_line_reader_free(&r); /* safe on a zeroed reader */
    ax_line_reader_free(NULL);
    const char *line;
    size_t len;
    CHECK_EQ(ax_read_line(&r, &line, &len), AX_EINVAL);
    CHECK_EQ(ax_line_reader_init(NULL, 0, 0), AX_EINVAL);

    /* A read error is reported as such. */
    int sp[2];
    pair(sp);
    int fd = sp[0];
    ax_close(sp[1]);
    ax_close(sp[0]);
    CHECK_OK(ax_line_reader_init(&r, fd, 0));
    CHECK_EQ(ax_read_line(&r, &line, &len), AX_EBADF);
    CHECK_ERRMSG("read from fd");
    CHECK_EQ(ax_read_line(&r, &line, NULL), AX_EINVAL);
    ax_line_reader_free(&r);
    CHECK(r.buf == NULL);
}

/* ------------------------------------------------------------ binary read */

TEST(binary_read_and_eof)
{
    int sp[2];
    pair(sp);
    static const char bin[] = {'a', '\n', 'b', '\r', '\0', 'c'};
    CHECK_EQ(ax_write(sp[1], bin, sizeof bin), sizeof bin);
    char buf[32];
    CHECK_EQ(ax_read(sp[0], buf, sizeof buf), sizeof bin);
    CHECK(memcmp(buf, bin, sizeof bin) == 0);
    /* A short buffer takes what fits; the rest waits. */
    CHECK_EQ(ax_write(sp[1], "0123456789", 10), 10);
    CHECK_EQ(ax_read(sp[0], buf, 4), 4);
    CHECK(memcmp(buf, "0123", 4) == 0);
    CHECK_EQ(ax_read(sp[0], buf, sizeof buf), 6);
    CHECK(memcmp(buf, "456789", 6) == 0);

    CHECK_OK(ax_set_nonblock(sp[0], 1));
    CHECK_EQ(ax_read(sp[0], buf, sizeof buf), AX_EAGAIN);
    ax_close(sp[1]);
    CHECK_EQ(ax_read(sp[0], buf, sizeof buf), 0);
    CHECK_EQ(ax_read(sp[0], buf, sizeof buf), 0);
    ax_close(sp[0]);
    CHECK_EQ(ax_read(sp[0], buf, sizeof buf), AX_EBADF);
    char want[64];
    snprintf(want, sizeof want, "read from fd %d failed: Bad file descriptor (EBADF)", sp[0]);
    CHECK_STR(ax_last_error()->message, want);
}
