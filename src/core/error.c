/* Error codes, texts and the per-thread last error. */
#include <ctype.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/internal.h"

#define STR2(x) #x
#define STR(x) STR2(x)

const char *ax_version_string(void)
{
    return STR(AX_VERSION_MAJOR) "." STR(AX_VERSION_MINOR) "." STR(AX_VERSION_PATCH);
}

unsigned ax_version(void)
{
    return AX_VERSION_HEX;
}

const char *ax_strerror(int code)
{
    if (code > 0)
        code = -code;
    switch (code) {
#define AX__ERR_TEXT(name, c, text) \
    case (c):                       \
        return text;
        AX_ERRNO_MAP(AX__ERR_TEXT)
#undef AX__ERR_TEXT
    default:
        break;
    }
    /* An errno the table does not list: glibc knows it. */
    if (code < 0 && code > -4096) {
        const char *d = strerrordesc_np(-code);
        if (d)
            return d;
    }
    return "unknown error";
}

const char *ax_errname(int code)
{
    if (code > 0)
        code = -code;
    switch (code) {
#define AX__ERR_NAME(name, c, text) \
    case (c):                       \
        return #name;
        AX_ERRNO_MAP(AX__ERR_NAME)
#undef AX__ERR_NAME
    default:
        break;
    }
    if (code < 0 && code > -4096) {
        const char *n = strerrorname_np(-code);
        if (n)
            return n;
    }
    return "UNKNOWN";
}

int ax_error_from_gai(int gai_status)
{
    switch (gai_status) {
    case 0:
        return 0;
    case EAI_AGAIN:
        return AX_EAI_AGAIN;
    case EAI_BADFLAGS:
        return AX_EAI_BADFLAGS;
    case EAI_FAIL:
        return AX_EAI_FAIL;
    case EAI_FAMILY:
        return AX_EAI_FAMILY;
    case EAI_MEMORY:
        return AX_EAI_MEMORY;
    case EAI_NODATA:
        return AX_EAI_NODATA;
    case EAI_NONAME:
        return AX_EAI_NONAME;
    case EAI_SERVICE:
        return AX_EAI_SERVICE;
    case EAI_SOCKTYPE:
        return AX_EAI_SOCKTYPE;
    case EAI_ADDRFAMILY:
        return AX_EAI_ADDRFAMILY;
    case EAI_SYSTEM:
        return errno ? -errno : AX_EAI_FAIL;
    default:
        return AX_EAI_FAIL;
    }
}

static _Thread_local ax_error last_error;

const ax_error *ax_last_error(void)
{
    return &last_error;
}

void ax_clear_error(void)
{
    last_error.code = 0;
    last_error.message[0] = '\0';
}

/*
 * Appends the tail (" (ENAME)" or ": Text (ENAME)") after the formatted
 * context, marking a cut message with "...". The context is escaped as
 * ax__escape() does (control bytes and malformed UTF-8 become \xNN): it
 * often quotes what came from outside -- a Unix path, a peer's address --
 * and a message must stay one printable line, so that a path with an
 * ESC or a newline in it cannot forge a log line or a terminal sequence.
 */
__attribute__((format(printf, 3, 0))) static int record(int code, int with_text, const char *fmt, va_list ap)
{
    char *m = last_error.message;
    const size_t cap = sizeof last_error.message;
    char tail[160];
    const char *text = ax_strerror(code);
    if (with_text)
        snprintf(tail, sizeof tail, ": %c%s (%s)", toupper((unsigned char)text[0]), text + 1,
                 ax_errname(code));
    else
        snprintf(tail, sizeof tail, " (%s)", ax_errname(code));
    size_t tl = strlen(tail);
    /* Four times the room: whatever does not fit the message is cut with
     * "..." by the escape below anyway. */
    char raw[4 * AX_ERROR_MAX];
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    size_t rl = n < 0 ? 0 : (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1;
    ax__escape(m, cap - tl, raw, rl);
    memcpy(m + strlen(m), tail, tl + 1);
    last_error.code = code;
    return code;
}

int ax__err(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int ax__syserr(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(code, 1, fmt, ap);
    va_end(ap);
    return code;
}

int ax__errno(void)
{
    return errno ? -errno : AX_EIO;
}

int64_t ax__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ax__poll1(int fd, short events, int timeout_ms, short *revents)
{
    int64_t deadline = timeout_ms < 0 ? 0 : ax__now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, timeout_ms);
        if (r >= 0) {
            if (revents)
                *revents = p.revents;
            return r;
        }
        if (errno != EINTR)
            return -errno;
        if (timeout_ms >= 0) {
            int64_t left = deadline - ax__now_ms();
            timeout_ms = left > 0 ? (int)left : 0;
        }
    }
}

int ax_socket_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return ax__syserr(ax__errno(), "getsockopt SO_ERROR on fd %d failed", fd);
    return -err;
}
