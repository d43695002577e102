/* Internal helpers shared by the core sources. Not installed. */
#ifndef AXON_CORE_INTERNAL_H
#define AXON_CORE_INTERNAL_H

#include <axon.h>

/*
 * Records code as the thread's last error with the message
 * "<fmt...> (<ENAME>)" and returns code, so callers can write
 * `return ax__err(AX_EINVAL, "Invalid URI \"%s\" given: ...", text);`.
 */
int ax__err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Same, with the error's text between: "<fmt...>: <Text> (<ENAME>)", the
 * form for system call failures:
 *   bind to 0.0.0.0:80 failed: Permission denied (EACCES)
 */
int ax__syserr(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* -errno of the current errno, for the common `return ax__syserr(ax__errno(), ...)` */
int ax__errno(void);

/* writev() on a pipe or file that turns the SIGPIPE a vanished reader
 * would raise into a plain EPIPE (MSG_NOSIGNAL only exists for sockets). */
struct iovec;
ssize_t ax__writev_nosigpipe(int fd, const struct iovec *iov, int iovcnt);

/* ax_uri_parse() followed by ax_uri_format() into canon (AX_URISTRLEN
 * bytes): every layer names the target in its messages canonically. */
int ax__uri_canon(const char *text, ax_uri *u, char *canon);

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t ax__now_ms(void);

/* poll() one fd for events, retrying EINTR with the remaining time.
 * Returns >0 ready (revents in *revents), 0 on timeout, or -errno. */
int ax__poll1(int fd, short events, int timeout_ms, short *revents);

/* "fd 5" style label of a socket for messages: its local URI if bound,
 * else "fd N". buf must hold AX_URISTRLEN. */
const char *ax__fd_label(int fd, char *buf, size_t len);

/* ---- addresses and URIs (addr.c, uri.c) ---- */

/*
 * Copies src[0..n) into dst (cap bytes) for quoting in a message: printable
 * ASCII and well-formed UTF-8 as they are, any other byte as \xNN, cut with
 * "..." when it does not fit. Returns dst.
 */
const char *ax__escape(char *dst, size_t cap, const char *src, size_t n);

/*
 * Records `Invalid <what> "<text>" given: <fmt...> (<ENAME>)` with the text
 * and the explanation escaped as by ax__escape() and the text shortened so
 * the explanation always fits, and returns code:
 *   return ax__invalid(AX_EINVAL, "URI", text, "missing port");
 */
int ax__invalid(int code, const char *what, const char *text, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * snprintf() into buf (len bytes) that fails with AX_ENOSPC, leaving buf
 * "", rather than truncating. Returns the length written. what names the
 * thing being formatted in the message ("address", "URI").
 */
int ax__put(char *buf, size_t len, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Builds *out (zeroed first) from the IP literal ip[0..n): "1.2.3.4",
 * "::1", "fe80::1%eth0" or "fe80::1%2", no brackets, with port. family is
 * AF_UNSPEC for either, or AF_INET / AF_INET6 to accept only that one.
 * Returns AF_INET or AF_INET6, or AX_EINVAL / AX_ENODEV (unknown scope
 * interface) recorded as ax__invalid(code, what, text, ...).
 */
int ax__ip_parse(const char *ip, size_t n, int family, uint16_t port, ax_addr *out,
                 const char *what, const char *text);

/*
 * Builds a Unix address (*out zeroed first) from a path, or from "@name"
 * for a Linux abstract name. Returns 0, or AX_EINVAL (empty) /
 * AX_ENAMETOOLONG (does not fit sun_path) recorded as ax__invalid().
 */
int ax__unix_parse(const char *name, ax_addr *out, const char *what, const char *text);

#endif
