/* Error codes, names, texts, the per-thread last error and its message
 * format (src/core/error.c). */
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "core/internal.h"
#include "harness.h"

/* ------------------------------------------------------- names and texts */

TEST(strerror_negative_errno_codes)
{
    CHECK_EQ(AX_ECONNREFUSED, -ECONNREFUSED);
    CHECK_EQ(AX_EINVAL, -EINVAL);
    CHECK_EQ(AX_EAGAIN, -EWOULDBLOCK);
    CHECK_STR(ax_strerror(AX_ECONNREFUSED), "connection refused");
    CHECK_STR(ax_strerror(-ECONNREFUSED), "connection refused");
    CHECK_STR(ax_strerror(AX_EADDRINUSE), "address already in use");
    CHECK_STR(ax_strerror(AX_ETIMEDOUT), "connection timed out");
    CHECK_STR(ax_strerror(AX_EPIPE), "broken pipe");
    CHECK_STR(ax_errname(AX_ECONNREFUSED), "ECONNREFUSED");
    CHECK_STR(ax_errname(AX_EADDRINUSE), "EADDRINUSE");
    CHECK_STR(ax_errname(-EBADF), "EBADF");
    /* EOPNOTSUPP and ENOTSUP are one number on Linux; the table's name wins. */
    CHECK_STR(ax_errname(-EOPNOTSUPP), "ENOTSUP");
}

TEST(strerror_positive_errno_accepted)
{
    CHECK_STR(ax_strerror(ECONNREFUSED), "connection refused");
    CHECK_STR(ax_strerror(EACCES), "permission denied");
    CHECK_STR(ax_errname(EPIPE), "EPIPE");
    CHECK_STR(ax_errname(ETIMEDOUT), "ETIMEDOUT");
    CHECK_STR(ax_strerror(ENOENT), ax_strerror(-ENOENT));
}

/* Every row of the table maps back to its own name and a non-empty text. */
TEST(every_table_row_round_trips)
{
    static const struct {
        int code;
        const char *name;
        const char *text;
    } rows[] = {
#define ROW(name, code, text) {code, #name, text},
        AX_ERRNO_MAP(ROW)
#undef ROW
    };
    size_t n = sizeof rows / sizeof rows[0];
    CHECK(n > 60);
    for (size_t i = 0; i < n; i++) {
        CHECK(rows[i].code < 0);
        CHECK_STR(ax_errname(rows[i].code), rows[i].name);
        CHECK_STR(ax_strerror(rows[i].code), rows[i].text);
        CHECK(rows[i].text[0] != '\0');
        /* Texts are lower case so they can be embedded in sentences. */
        CHECK(rows[i].text[0] < 'A' || rows[i].text[0] > 'Z');
        for (size_t j = i + 1; j < n; j++)
            CHECK(rows[i].code != rows[j].code);
    }
}

TEST(axon_own_codes)
{
    CHECK(AX_ELINETOOLONG < -3000);
    CHECK(AX_ECTRUNC < -3000);
    CHECK(AX_EOF < -3000);
    CHECK_STR(ax_strerror(AX_ELINETOOLONG), "line too long");
    CHECK_STR(ax_errname(AX_ELINETOOLONG), "ELINETOOLONG");
    CHECK_STR(ax_strerror(AX_ECTRUNC), "ancillary data truncated");
    CHECK_STR(ax_errname(AX_ECTRUNC), "ECTRUNC");
    CHECK_STR(ax_strerror(AX_EOF), "end of file");
    CHECK_STR(ax_errname(AX_EOF), "EOF");
    CHECK_STR(ax_errname(AX_EAI_NONAME), "EAI_NONAME");
    CHECK_STR(ax_strerror(AX_EAI_NONAME), "unknown node or service");
    CHECK_STR(ax_errname(AX_EAI_AGAIN), "EAI_AGAIN");
    CHECK_STR(ax_strerror(AX_EAI_AGAIN), "temporary failure in name resolution");
    CHECK_STR(ax_errname(AX_EAI_SERVICE), "EAI_SERVICE");
    CHECK_STR(ax_errname(AX_EAI_FAMILY), "EAI_FAMILY");
    CHECK_STR(ax_errname(AX_EAI_ADDRFAMILY), "EAI_ADDRFAMILY");
    /* Positive forms of axon's own codes are accepted too. */
    CHECK_STR(ax_strerror(-AX_ELINETOOLONG), "line too long");
    CHECK_STR(ax_errname(-AX_EAI_NODATA), "EAI_NODATA");
}

TEST(unknown_codes)
{
    CHECK_STR(ax_strerror(-9999), "unknown error");
    CHECK_STR(ax_errname(-9999), "UNKNOWN");
    CHECK_STR(ax_strerror(-3999), "unknown error");
    CHECK_STR(ax_errname(-3999), "UNKNOWN");
    CHECK_STR(ax_strerror(INT_MIN), "unknown error");
    CHECK_STR(ax_errname(INT_MIN), "UNKNOWN");
    CHECK_STR(ax_strerror(INT_MAX), "unknown error");
    CHECK_STR(ax_errname(INT_MAX), "UNKNOWN");
    /* An errno the table does not list falls back to glibc's name and text. */
    CHECK_STR(ax_errname(-EDOM), "EDOM");
    CHECK_STR(ax_errname(ENOLINK), "ENOLINK");
    CHECK_STR(ax_strerror(-EDOM), strerrordesc_np(EDOM));
    /* In errno range but unused by the kernel. */
    CHECK_STR(ax_strerror(-4000), "unknown error");
    CHECK_STR(ax_errname(-4000), "UNKNOWN");
}

TEST(error_from_gai)
{
    CHECK_EQ(ax_error_from_gai(0), 0);
    CHECK_EQ(ax_error_from_gai(EAI_AGAIN), AX_EAI_AGAIN);
    CHECK_EQ(ax_error_from_gai(EAI_BADFLAGS), AX_EAI_BADFLAGS);
    CHECK_EQ(ax_error_from_gai(EAI_FAIL), AX_EAI_FAIL);
    CHECK_EQ(ax_error_from_gai(EAI_FAMILY), AX_EAI_FAMILY);
    CHECK_EQ(ax_error_from_gai(EAI_MEMORY), AX_EAI_MEMORY);
    CHECK_EQ(ax_error_from_gai(EAI_NODATA), AX_EAI_NODATA);
    CHECK_EQ(ax_error_from_gai(EAI_NONAME), AX_EAI_NONAME);
    CHECK_EQ(ax_error_from_gai(EAI_SERVICE), AX_EAI_SERVICE);
    CHECK_EQ(ax_error_from_gai(EAI_SOCKTYPE), AX_EAI_SOCKTYPE);
    CHECK_EQ(ax_error_from_gai(EAI_ADDRFAMILY), AX_EAI_ADDRFAMILY);
    /* EAI_SYSTEM carries its cause in errno. */
    errno = EMFILE;
    CHECK_EQ(ax_error_from_gai(EAI_SYSTEM), AX_EMFILE);
    errno = 0;
    CHECK_EQ(ax_error_from_gai(EAI_SYSTEM), AX_EAI_FAIL);
    /* Anything else is a permanent failure, never success. */
    CHECK_EQ(ax_error_from_gai(-12345), AX_EAI_FAIL);
}

/* ------------------------------------------------------------- last error */

TEST(last_error_from_double_bind)
{
    ax_addr a;
    CHECK_OK(ax_addr_from_ip(&a, "127.0.0.1", 0));
    int s1 = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_bind(s1, &a));
    ax_addr bound;
    CHECK_OK(ax_sockname(s1, &bound));
    unsigned port = ax_addr_port(&bound);
    CHECK(port != 0);

    int s2 = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    ax_clear_error();
    CHECK_EQ(ax_bind(s2, &bound), AX_EADDRINUSE);
    const ax_error *e = ax_last_error();
    CHECK_EQ(e->code, AX_EADDRINUSE);
    char want[128];
    snprintf(want, sizeof want, "bind to 127.0.0.1:%u failed: Address already in use (EADDRINUSE)",
             port);
    CHECK_STR(e->message, want);

    /* A later success does not clear it; reading it does not either. */
    ax_addr other;
    CHECK_OK(ax_sockname(s2, &other));
    CHECK_EQ(ax_last_error()->code, AX_EADDRINUSE);
    CHECK_STR(ax_last_error()->message, want);
    /* The pointer is stable for the thread. */
    CHECK(ax_last_error() == e);

    ax_clear_error();
    CHECK_EQ(e->code, 0);
    CHECK_STR(e->message, "");
    ax_close(s1);
    ax_close(s2);
}

TEST(last_error_replaced_by_next_failure)
{
    CHECK_EQ(ax_close(-1), AX_EBADF);
    CHECK_STR(ax_last_error()->message, "close of fd -1 failed: Bad file descriptor (EBADF)");
    CHECK_EQ(ax_shutdown(-1, 42), AX_EINVAL);
    CHECK_EQ(ax_last_error()->code, AX_EINVAL);
    CHECK_STR(ax_last_error()->message,
              "shutdown on fd -1: how must be SHUT_RD, SHUT_WR or SHUT_RDWR, not 42 (EINVAL)");
}

typedef struct thread_result {
    int code_at_start;
    char message_at_start[AX_ERROR_MAX];
    int code_after;
    char message_after[AX_ERROR_MAX];
    const ax_error *slot;
} thread_result;

static void *thread_main(void *arg)
{
    thread_result *r = arg;
    r->slot = ax_last_error();
    r->code_at_start = r->slot->code;
    snprintf(r->message_at_start, sizeof r->message_at_start, "%s", r->slot->message);
    (void)ax_shutdown(-7, 99);
    r->code_after = ax_last_error()->code;
    snprintf(r->message_after, sizeof r->message_after, "%s", ax_last_error()->message);
    return NULL;
}

TEST(last_error_is_thread_local)
{
    CHECK_EQ(ax_close(-1), AX_EBADF);
    char mine[AX_ERROR_MAX];
    snprintf(mine, sizeof mine, "%s", ax_last_error()->message);

    thread_result r;
    memset(&r, 0, sizeof r);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, thread_main, &r), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);

    /* The new thread started clean, then saw only its own failure. */
    CHECK_EQ(r.code_at_start, 0);
    CHECK_STR(r.message_at_start, "");
    CHECK_EQ(r.code_after, AX_EINVAL);
    CHECK(strstr(r.message_after, "shutdown on fd -7") != NULL);
    CHECK(r.slot != ax_last_error());
    /* And this thread's error is untouched by it. */
    CHECK_EQ(ax_last_error()->code, AX_EBADF);
    CHECK_STR(ax_last_error()->message, mine);
}

/* True if s is well-formed UTF-8. */
static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int extra = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2
                                   : (*p & 0xF8) == 0xF0 ? 3
                                                         : -1;
        if (extra < 0)
            return 0;
        p++;
        for (int i = 0; i < extra; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

TEST(long_message_is_truncated_with_tail_kept)
{
    /* Through the public API: a 2000-byte option name. */
    char name[2001];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    CHECK_EQ(ax_opt_lookup(name), AX_EINVAL);
    const char *m = ax_last_error()->message;
    CHECK_EQ(strlen(m), AX_ERROR_MAX - 1);
    CHECK(strncmp(m, "unknown socket option \"xxx", 26) == 0);
    CHECK(ends_with(m, "xxx... (EINVAL)"));

    /* The system-error form keeps its text too. */
    ax__syserr(AX_ECONNREFUSED, "Connection to %s failed", name);
    m = ax_last_error()->message;
    CHECK_EQ(ax_last_error()->code, AX_ECONNREFUSED);
    CHECK(strlen(m) < AX_ERROR_MAX);
    CHECK(strncmp(m, "Connection to xxx", 17) == 0);
    CHECK(ends_with(m, "xxx...: Connection refused (ECONNREFUSED)"));
}

TEST(message_truncation_boundary)
{
    /* " (EINVAL)" is 9 bytes: a context of 511 - 9 bytes fits exactly. */
    const size_t tail = strlen(" (EINVAL)");
    char ctx[AX_ERROR_MAX + 1];
    size_t fit = AX_ERROR_MAX - 1 - tail;
    memset(ctx, 'a', fit);
    ctx[fit] = '\0';
    ax__err(AX_EINVAL, "%s", ctx);
    const char *m = ax_last_error()->message;
    CHECK_EQ(strlen(m), AX_ERROR_MAX - 1);
    CHECK(strstr(m, "...") == NULL);
    CHECK(ends_with(m, "a (EINVAL)"));

    /* One byte more and it is cut. */
    memset(ctx, 'a', fit + 1);
    ctx[fit + 1] = '\0';
    ax__err(AX_EINVAL, "%s", ctx);
    m = ax_last_error()->message;
    CHECK_EQ(strlen(m), AX_ERROR_MAX - 1);
    CHECK(ends_with(m, "a... (EINVAL)"));
}

TEST(truncation_keeps_utf8_characters_whole)
{
    /* "é" is two bytes; whatever the cut position, no half character may
     * remain before the "...". Try both parities. */
    for (int shift = 0; shift < 4; shift++) {
        char ctx[1200];
        size_t o = 0;
        for (int i = 0; i < shift; i++)
            ctx[o++] = 'a';
        while (o + 2 < sizeof ctx - 1) {
            ctx[o++] = (char)0xC3;
            ctx[o++] = (char)0xA9;
        }
        ctx[o] = '\0';
        ax__err(AX_EINVAL, "%s", ctx);
        const char *m = ax_last_error()->message;
        CHECK(strlen(m) < AX_ERROR_MAX);
        CHECK(ends_with(m, "... (EINVAL)"));
        CHECK(valid_utf8(m));
        /* At most one character's worth of room is given up. */
        CHECK(strlen(m) >= AX_ERROR_MAX - 1 - 3);
    }
}

/* A message quotes what came from outside (here a Unix path with an ESC
 * sequence and a newline): it stays one printable line, so the path can
 * neither forge a second log line nor drive the terminal. */
TEST(control_bytes_from_paths_are_escaped)
{
    char uri[300];
    snprintf(uri, sizeof uri, "unix://%s/a\x1b" "[31mred\naxon: forged", axt_tmpdir());
    CHECK(ax_connect_uri(uri, NULL) < 0);
    const char *m = ax_last_error()->message;
    for (const char *p = m; *p; p++)
        CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
    CHECK(strstr(m, "a\\x1b[31mred\\x0aaxon: forged"));
    CHECK(ends_with(m, "No such file or directory (ENOENT)"));
    /* The same through the listen and server messages. */
    char file[200];
    snprintf(file, sizeof file, "%s/\a" "bell", axt_tmpdir());
    FILE *f = fopen(file, "w");
    CHECK(f);
    fclose(f);
    snprintf(uri, sizeof uri, "unix://%s", file);
    CHECK_EQ(ax_listen_uri(uri, NULL), AX_EADDRINUSE);
    CHECK(strstr(ax_last_error()->message, "\\x07bell exists and is not a socket"));
    CHECK(!strchr(ax_last_error()->message, '\a'));
}

/* ---------------------------------------------------------- socket error */

TEST(socket_error_after_refused_nonblocking_connect)
{
    /* A port bound but not listening is surely closed while we hold it. */
    ax_addr a;
    CHECK_OK(ax_addr_from_ip(&a, "127.0.0.1", 0));
    int holder = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_bind(holder, &a));
    CHECK_OK(ax_sockname(holder, &a));

    int fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM | AX_SOCK_NONBLOCK, 0));
    CHECK_EQ(ax_socket_error(fd), 0);
    int rc = connect(fd, &a.u.sa, a.len);
    CHECK_EQ(rc, -1);
    CHECK(errno == EINPROGRESS || errno == ECONNREFUSED);
    if (errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        CHECK_EQ(poll(&p, 1, 5000), 1);
        CHECK_EQ(ax_socket_error(fd), AX_ECONNREFUSED);
    }
    /* Reading it cleared it. */
    CHECK_EQ(ax_socket_error(fd), 0);

    CHECK_EQ(ax_socket_error(-1), AX_EBADF);
    CHECK_ERRMSG("getsockopt SO_ERROR on fd -1 failed: Bad file descriptor (EBADF)");
    ax_close(fd);
    ax_close(holder);
}

TEST(version)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", AX_VERSION_MAJOR, AX_VERSION_MINOR, AX_VERSION_PATCH);
    CHECK_STR(ax_version_string(), want);
    CHECK_EQ(ax_version(), AX_VERSION_HEX);
    CHECK_EQ(AX_VERSION_HEX,
             (AX_VERSION_MAJOR << 16) | (AX_VERSION_MINOR << 8) | AX_VERSION_PATCH);
}
