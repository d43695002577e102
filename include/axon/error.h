/*
 * axon/error.h - error codes, their names and texts, and the per-thread last
 * error with a message in context.
 *
 * Every axon function that can fail returns a negative code on failure. For
 * system errors the code is -errno (AX_ECONNREFUSED == -ECONNREFUSED on
 * Linux), so codes compare equal to what the kernel reported. Errors that
 * have no errno (resolver failures, an oversized line, lost ancillary data)
 * have codes of their own below -3000.
 *
 * Each failure also records a message with context in a thread-local slot,
 * read with ax_last_error(), in the form users of ReactPHP know:
 *     bind to 0.0.0.0:80 failed: Permission denied (EACCES)
 *     Invalid URI "tcp://[::1" given: missing "]" after IPv6 address (EINVAL)
 */
#ifndef AXON_ERROR_H
#define AXON_ERROR_H

#include <errno.h>

#include "common.h"

/* XX(NAME, code, text): one row per error; feeds the enum, ax_strerror()
 * and ax_errname(). Texts are lower case so they can be embedded. */
#define AX_ERRNO_MAP(XX)                                                      \
    XX(E2BIG, -E2BIG, "argument list too long")                               \
    XX(EACCES, -EACCES, "permission denied")                                  \
    XX(EADDRINUSE, -EADDRINUSE, "address already in use")                     \
    XX(EADDRNOTAVAIL, -EADDRNOTAVAIL, "address not available")                \
    XX(EAFNOSUPPORT, -EAFNOSUPPORT, "address family not supported")           \
    XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                   \
    XX(EALREADY, -EALREADY, "connection already in progress")                 \
    XX(EBADF, -EBADF, "bad file descriptor")                                  \
    XX(EBUSY, -EBUSY, "resource busy or locked")                              \
    XX(ECANCELED, -ECANCELED, "operation canceled")                           \
    XX(ECONNABORTED, -ECONNABORTED, "software caused connection abort")       \
    XX(ECONNREFUSED, -ECONNREFUSED, "connection refused")                     \
    XX(ECONNRESET, -ECONNRESET, "connection reset by peer")                   \
    XX(EDESTADDRREQ, -EDESTADDRREQ, "destination address required")           \
    XX(EEXIST, -EEXIST, "file already exists")                                \
    XX(EFAULT, -EFAULT, "bad address in system call argument")                \
    XX(EHOSTDOWN, -EHOSTDOWN, "host is down")                                 \
    XX(EHOSTUNREACH, -EHOSTUNREACH, "host is unreachable")                    \
    XX(EINPROGRESS, -EINPROGRESS, "operation in progress")                    \
    XX(EINTR, -EINTR, "interrupted system call")                              \
    XX(EINVAL, -EINVAL, "invalid argument")                                   \
    XX(EIO, -EIO, "i/o error")                                                \
    XX(EISCONN, -EISCONN, "socket is already connected")                      \
    XX(EISDIR, -EISDIR, "illegal operation on a directory")                   \
    XX(ELOOP, -ELOOP, "too many symbolic links encountered")                  \
    XX(EMFILE, -EMFILE, "too many open files")                                \
    XX(EMSGSIZE, -EMSGSIZE, "message too long")                               \
    XX(ENAMETOOLONG, -ENAMETOOLONG, "name too long")                          \
    XX(ENETDOWN, -ENETDOWN, "network is down")                                \
    XX(ENETRESET, -ENETRESET, "connection reset by network")                  \
    XX(ENETUNREACH, -ENETUNREACH, "network is unreachable")                   \
    XX(ENFILE, -ENFILE, "file table overflow")                                \
    XX(ENOBUFS, -ENOBUFS, "no buffer space available")                        \
    XX(ENODEV, -ENODEV, "no such device")                                     \
    XX(ENOENT, -ENOENT, "no such file or directory")                          \
    XX(ENOMEM, -ENOMEM, "not enough memory")                                  \
    XX(ENOPROTOOPT, -ENOPROTOOPT, "protocol not available")                   \
    XX(ENOSPC, -ENOSPC, "no space left on device")                            \
    XX(ENOSYS, -ENOSYS, "function not implemented")                           \
    XX(ENOTCONN, -ENOTCONN, "socket is not connected")                        \
    XX(ENOTDIR, -ENOTDIR, "not a directory")                                  \
    XX(ENOTSOCK, -ENOTSOCK, "socket operation on non-socket")                 \
    XX(ENOTSUP, -ENOTSUP, "operation not supported")                          \
    XX(ENXIO, -ENXIO, "no such device or address")                            \
    XX(EPERM, -EPERM, "operation not permitted")                              \
    XX(EPIPE, -EPIPE, "broken pipe")                                          \
    XX(EPROTO, -EPROTO, "protocol error")                                     \
    XX(EPROTONOSUPPORT, -EPROTONOSUPPORT, "protocol not supported")           \
    XX(EPROTOTYPE, -EPROTOTYPE, "protocol wrong type for socket")             \
    XX(ERANGE, -ERANGE, "result too large")                                   \
    XX(EROFS, -EROFS, "read-only file system")                                \
    XX(ESHUTDOWN, -ESHUTDOWN, "cannot send after transport endpoint shutdown")\
    XX(ESOCKTNOSUPPORT, -ESOCKTNOSUPPORT, "socket type not supported")        \
    XX(ETIMEDOUT, -ETIMEDOUT, "connection timed out")                         \
    /* axon's own codes: conditions with no errno of their own */             \
    XX(EOF, -3001, "end of file")                                             \
    XX(ELINETOOLONG, -3002, "line too long")                                  \
    XX(ECTRUNC, -3003, "ancillary data truncated")                            \
    XX(EAI_AGAIN, -3010, "temporary failure in name resolution")              \
    XX(EAI_BADFLAGS, -3011, "bad address lookup flags")                       \
    XX(EAI_FAIL, -3012, "permanent failure in name resolution")               \
    XX(EAI_FAMILY, -3013, "address family not supported by lookup")           \
    XX(EAI_MEMORY, -3014, "out of memory during name resolution")             \
    XX(EAI_NODATA, -3015, "no address associated with name")                  \
    XX(EAI_NONAME, -3016, "unknown node or service")                          \
    XX(EAI_SERVICE, -3017, "service not available for socket type")           \
    XX(EAI_SOCKTYPE, -3018, "socket type not supported by lookup")            \
    XX(EAI_ADDRFAMILY, -3019, "host has no address in the requested family")

#ifdef __cplusplus
extern "C" {
#endif

/* AX_ECONNREFUSED, AX_EINVAL, ... AX_ELINETOOLONG, AX_EAI_NONAME. */
typedef enum ax_errcode {
#define AX__ERR_ENUM(name, code, text) AX_##name = (code),
    AX_ERRNO_MAP(AX__ERR_ENUM)
#undef AX__ERR_ENUM
    AX__ERR_LAST_UNUSED = 0
} ax_errcode;

/* Longest message ax_last_error() keeps, terminator included; longer ones
 * are cut at a character boundary and end in "...". */
#define AX_ERROR_MAX 512

/* An error code with its message in context. Asynchronous failures hand one
 * of these to callbacks; the direct layer records one per thread. */
typedef struct ax_error {
    int code;                    /* negative ax_errcode, 0 when no error */
    char message[AX_ERROR_MAX];  /* "Connection to tcp://h:p failed: ... (ECONNREFUSED)" */
} ax_error;

/*
 * The lower-case text for a code ("connection refused"). Accepts a negative
 * code, or a positive errno for convenience. Unknown codes give
 * "unknown error". The string is static. Thread-safe.
 */
AX_EXTERN const char *ax_strerror(int code);

/*
 * The symbolic name for a code ("ECONNREFUSED", "ELINETOOLONG"). Unknown
 * codes give "UNKNOWN". The string is static. Thread-safe.
 */
AX_EXTERN const char *ax_errname(int code);

/*
 * The last error recorded on the calling thread by a failed axon call, like
 * PHP's socket_last_error() and socket_strerror() together. Successful calls
 * do not clear it; reading it does not clear it either (PHP does the same).
 * The pointer is to thread-local storage owned by axon and stays valid for
 * the life of the thread; the contents change with the next failure.
 */
AX_EXTERN const ax_error *ax_last_error(void);

/* Clears the calling thread's last error (PHP's socket_clear_error()). */
AX_EXTERN void ax_clear_error(void);

/*
 * The pending error on a socket (SO_ERROR), as a negative code, or 0 when
 * none. Reading it clears it in the kernel, as getsockopt(SO_ERROR) does.
 * PHP keeps a per-socket last error; this is the kernel's equivalent.
 */
AX_EXTERN int ax_socket_error(int fd);

/*
 * Maps a getaddrinfo() EAI_* return value to an AX_EAI_* code, or, for
 * EAI_SYSTEM, to -errno. Thread-safe.
 */
AX_EXTERN int ax_error_from_gai(int gai_status);

#ifdef __cplusplus
}
#endif

#endif
