/*
 * axon/socket.h - the direct layer: blocking (or non-blocking) calls on plain
 * int file descriptors, with everything PHP's ext/sockets offers.
 *
 * Rules that hold for every function here:
 *  - every fd axon creates is close-on-exec;
 *  - no call raises SIGPIPE (MSG_NOSIGNAL on every send);
 *  - EINTR is retried inside the call (close() is never retried: on Linux
 *    the fd is gone either way);
 *  - failure returns a negative ax_errcode and records a message with
 *    context in ax_last_error(); on a non-blocking fd "would block" is
 *    AX_EAGAIN, as from the kernel;
 *  - fds are owned by the caller; axon never closes an fd it did not create
 *    in that same call (failed calls close what they created).
 *
 * Threads: every function is safe to call from any thread; calls on the same
 * fd from two threads at once are ordered only as the kernel orders them,
 * and an ax_line_reader must not be shared between threads.
 *
 * docs/php-parity.md maps each PHP socket_* function to its call here.
 */
#ifndef AXON_SOCKET_H
#define AXON_SOCKET_H

#include <stdbool.h>
#include <sys/uio.h>

#include "addr.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flag OR-ed into ax_socket()'s type, ax_socketpair()'s type and
 * ax_accept()'s flags: create the fd non-blocking. */
#define AX_SOCK_NONBLOCK 0x40000000

/* ------------------------------------------------------------------ create */

/*
 * socket_create(): a new socket of family AF_INET, AF_INET6 or AF_UNIX and
 * type SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET or SOCK_RAW (raw needs
 * CAP_NET_RAW: AX_EPERM otherwise), optionally | AX_SOCK_NONBLOCK. protocol
 * 0 picks the default. Returns the fd (caller owns it) or an error.
 */
AX_EXTERN int ax_socket(int family, int type, int protocol);

/*
 * socket_create_pair(): two connected sockets in fds[0], fds[1] (caller owns
 * both). family is normally AF_UNIX; type as for ax_socket().
 */
AX_EXTERN int ax_socketpair(int family, int type, int fds[2]);

/* Options for ax_listen_uri(); zero-initialise, then set what you need. */
typedef struct ax_listen_opts {
    int backlog;        /* <= 0: AX_DEFAULT_BACKLOG */
    bool reuseport;     /* SO_REUSEPORT */
    bool no_reuseaddr;  /* SO_REUSEADDR is on for tcp unless this is set */
    int v6only;         /* 0: kernel default, 1: on, -1: off (dual stack) */
    bool nonblock;      /* return a non-blocking fd */
    bool unlink_stale;  /* unix: remove a stale socket file nobody listens on */
    int type;           /* 0 picks from the scheme; SOCK_SEQPACKET for unix */
} ax_listen_opts;

#define AX_DEFAULT_BACKLOG 511

/*
 * socket_create_listen(), generalised to URIs: binds and, for stream and
 * seqpacket types, listens on "tcp://127.0.0.1:0", "[::]:8080",
 * "unix:///run/x.sock", "unix://@name" or "udp://0.0.0.0:5353" (bound, no
 * listen). The host must be an IP literal (AX_EINVAL otherwise, as
 * ReactPHP). A Unix path that exists is reported as AX_EADDRINUSE ("... is
 * in use by a listening socket" or "... exists (stale socket file?)"), and
 * removed only with opts->unlink_stale when nobody listens on it.
 * opts may be NULL. Returns the fd or an error:
 *     Failed to listen on "tcp://0.0.0.0:80": Permission denied (EACCES)
 */
AX_EXTERN int ax_listen_uri(const char *uri, const ax_listen_opts *opts);

/* ------------------------------------------------ bind, listen, accept */

/* socket_bind(): binds fd to addr (borrowed). */
AX_EXTERN int ax_bind(int fd, const ax_addr *addr);

/* socket_listen(): backlog <= 0 means AX_DEFAULT_BACKLOG. */
AX_EXTERN int ax_listen(int fd, int backlog);

/*
 * socket_accept(): waits for (or, on a non-blocking fd, takes) a pending
 * connection. The new fd is close-on-exec, and non-blocking if flags has
 * AX_SOCK_NONBLOCK. peer (may be NULL) receives the peer's address.
 * Returns the new fd (caller owns it) or an error.
 */
AX_EXTERN int ax_accept(int fd, ax_addr *peer, int flags);

/* ------------------------------------------------------------ connect */

/*
 * socket_connect(): connects fd to addr. (Named _fd because ax_connect()
 * is the event loop's connector.) timeout_ms < 0 waits as long as the
 * kernel does; otherwise gives up after timeout_ms with AX_ETIMEDOUT. The
 * fd's blocking mode is left as it was; a non-blocking fd with timeout_ms <
 * 0 returns AX_EINPROGRESS like connect(2). A Unix listener whose accept
 * queue is full makes connect(2) say EAGAIN ("try again"): with a timeout
 * the call keeps trying (pauses of 1 ms growing to 64 ms) until it gets in
 * or the time is up; without one, a blocking fd waits in the kernel and a
 * non-blocking one gets AX_EAGAIN.
 */
AX_EXTERN int ax_connect_fd(int fd, const ax_addr *addr, int timeout_ms);

/* Options for ax_connect_uri() and the event loop's ax_connect();
 * zero-initialise. */
typedef struct ax_connect_opts {
    int timeout_ms;      /* per address tried; <= 0: none here, 60 s for ax_connect() */
    bool nonblock;       /* return the connected fd non-blocking */
    const ax_addr *bind; /* local address to bind first, or NULL */
    int family;          /* AF_UNSPEC (0), AF_INET or AF_INET6 for names */
} ax_connect_opts;

/*
 * Connects to "tcp://host:port", "host:port", "udp://host:port" (a connected
 * datagram socket), "unix:///path" or "unix://@name", resolving names with
 * getaddrinfo() and trying every address in order until one answers. opts
 * may be NULL. Returns the connected fd (caller owns it) or the last
 * attempt's error, e.g.
 *   Connection to tcp://127.0.0.1:9 failed: Connection refused (ECONNREFUSED)
 *   Connection to tcp://10.0.0.1:80 timed out after 2 seconds (ETIMEDOUT)
 */
AX_EXTERN int ax_connect_uri(const char *uri, const ax_connect_opts *opts);

/* ----------------------------------------------------------- read/write */

/*
 * socket_read(..., PHP_BINARY_READ): up to len bytes. Returns the count, 0
 * at end of stream, or an error (AX_EAGAIN on a non-blocking fd with no
 * data).
 */
AX_EXTERN ssize_t ax_read(int fd, void *buf, size_t len);

/*
 * socket_write(): writes up to len bytes once (a short count is possible).
 * Works on sockets (with MSG_NOSIGNAL) and, for convenience, on pipes and
 * files. Returns the count or an error; a peer that went away is AX_EPIPE,
 * never a signal.
 */
AX_EXTERN ssize_t ax_write(int fd, const void *buf, size_t len);

/*
 * Writes all len bytes, looping over short writes. On a non-blocking fd it
 * waits with poll() for room, up to timeout_ms in total (< 0: forever).
 * Returns 0 when everything was written, else an error; *written (may be
 * NULL) tells how many bytes went out either way, so nothing is lost
 * silently.
 */
AX_EXTERN int ax_write_all(int fd, const void *buf, size_t len, int timeout_ms,
                           size_t *written);

/* A buffered reader for socket_read(..., PHP_NORMAL_READ): lines ended by
 * "\n", "\r\n" or a lone "\r", with a size limit. Initialise with
 * ax_line_reader_init(), release with ax_line_reader_free(). */
typedef struct ax_line_reader {
    int fd;
    size_t max_line; /* longest line accepted, terminator excluded */
    char *buf;       /* owned; max_line + 1 bytes + slack */
    size_t cap, start, end, scan;
    bool skip_lf;    /* last line ended in "\r": drop a "\n" that follows */
    bool eof;
} ax_line_reader;

/*
 * Prepares r to read lines from fd (borrowed; the reader never closes it).
 * max_line == 0 means 8192. Returns 0 or AX_ENOMEM.
 */
AX_EXTERN int ax_line_reader_init(ax_line_reader *r, int fd, size_t max_line);

/* Frees the reader's buffer; fd is untouched. Safe on a zeroed reader. */
AX_EXTERN void ax_line_reader_free(ax_line_reader *r);

/*
 * Reads the next line. On 1, *line points at the line without its
 * terminator (valid until the next call on r; NUL-terminated) and *len is
 * its length. A final line without terminator is returned at end of stream.
 * Returns 0 at end of stream, or an error: AX_ELINETOOLONG when max_line
 * bytes arrived without a terminator (the bytes stay buffered: see
 * ax_line_reader_pending()), AX_EAGAIN on a non-blocking fd with no whole
 * line yet (partial bytes are kept for the next call), or a read error.
 */
AX_EXTERN int ax_read_line(ax_line_reader *r, const char **line, size_t *len);

/*
 * The bytes buffered and not yet returned as a line (for example after
 * AX_ELINETOOLONG). Returns their count and points *data at them.
 * ax_line_reader_consume() drops n of them (n > pending is clamped).
 */
AX_EXTERN size_t ax_line_reader_pending(const ax_line_reader *r,
                                        const char **data);
AX_EXTERN void ax_line_reader_consume(ax_line_reader *r, size_t n);

/* socket_send() / socket_recv(): flags are MSG_*; MSG_NOSIGNAL is added. */
AX_EXTERN ssize_t ax_send(int fd, const void *buf, size_t len, int flags);
AX_EXTERN ssize_t ax_recv(int fd, void *buf, size_t len, int flags);

/* socket_sendto(): to may be NULL on a connected socket. */
AX_EXTERN ssize_t ax_sendto(int fd, const void *buf, size_t len, int flags,
                            const ax_addr *to);

/* socket_recvfrom(): from (may be NULL) receives the sender's address. */
AX_EXTERN ssize_t ax_recvfrom(int fd, void *buf, size_t len, int flags,
                              ax_addr *from);

/* ------------------------------------------------ messages and cmsgs */

/* socket_sendmsg()/socket_recvmsg(): a message with scatter/gather data and
 * ancillary data. All pointers are borrowed from the caller. */
typedef struct ax_msg {
    ax_addr *name;      /* destination (send) / source (recv); may be NULL */
    struct iovec *iov;
    size_t iovlen;
    void *control;      /* ancillary buffer; size with ax_cmsg_space() */
    size_t controllen;  /* send: bytes used; recv: in = room, out = filled */
    int flags;          /* recv: MSG_TRUNC, MSG_CTRUNC, ... as returned */
} ax_msg;

/* socket_cmsg_space(): bytes of control buffer for n items of the given
 * level/type (SCM_RIGHTS: n fds; SCM_CREDENTIALS, IPV6_PKTINFO, IP_PKTINFO:
 * n structures). 0 for an unknown pair. */
AX_EXTERN size_t ax_cmsg_space(int level, int type, size_t n);

/*
 * Appends one control message to msg->control (room: cap bytes in total,
 * msg->controllen used so far). AX_ENOSPC if it does not fit.
 */
AX_EXTERN int ax_cmsg_add(ax_msg *msg, size_t cap, int level, int type,
                          const void *data, size_t len);

/*
 * Finds the index-th control message of level/type in a received msg and
 * points *data at its payload. Returns the payload length, or AX_ENOENT.
 */
AX_EXTERN ssize_t ax_cmsg_find(const ax_msg *msg, int level, int type,
                               size_t index, const void **data);

/* sendmsg(2) with MSG_NOSIGNAL. Returns bytes sent. */
AX_EXTERN ssize_t ax_sendmsg(int fd, const ax_msg *msg, int flags);

/* recvmsg(2) with MSG_CMSG_CLOEXEC so passed fds are close-on-exec.
 * Updates msg->controllen, msg->flags and *msg->name. Returns bytes read.
 * If SCM_RIGHTS fds arrived the caller owns them (see ax_recv_fds for a
 * call that cannot lose any). */
AX_EXTERN ssize_t ax_recvmsg(int fd, ax_msg *msg, int flags);

#define AX_MAX_FDS 253 /* SCM_MAX_FD */

/*
 * Sends len bytes (at least one; a zero-length payload is sent as one NUL
 * byte so the fds have something to ride on) with nfds file descriptors
 * (borrowed: the caller still owns and must close its copies). Only a
 * Unix socket carries fds: on any other socket (where the kernel would
 * drop them and report success) this fails with AX_ENOTSUP.
 */
AX_EXTERN ssize_t ax_send_fds(int fd, const void *buf, size_t len,
                              const int *fds, size_t nfds);

typedef struct ax_cred {
    pid_t pid;
    uid_t uid;
    gid_t gid;
} ax_cred;

/* What arrived beside the bytes of ax_recv_fds(). */
typedef struct ax_recv_info {
    int flags;     /* MSG_CTRUNC: more fds came than there was room for, and
                      the kernel (or axon) closed the rest; MSG_TRUNC: the
                      datagram or record was longer than len, its tail lost */
    bool has_cred; /* cred is set: the socket has SO_PASSCRED on */
    ax_cred cred;  /* the sender's SCM_CREDENTIALS */
} ax_recv_info;

/*
 * Receives up to len bytes and up to *nfds descriptors into fds (caller
 * owns the received fds, each close-on-exec); on return *nfds is how many
 * arrived. Returns the bytes read (0 with no fds = end of stream), also
 * when something beside them was lost, so a stream's framing is kept: if
 * the sender passed more fds than fit (the extra ones are closed), or a
 * datagram/seqpacket record was cut to len, info->flags says so
 * (MSG_CTRUNC, MSG_TRUNC) and ax_last_error() carries a message for a log
 * (AX_ECTRUNC, AX_EMSGSIZE). On a socket with SO_PASSCRED on (see
 * ax_recv_cred) the sender's credentials come in info too, and the fds
 * still arrive. info may be NULL. fds only pass over Unix sockets; see
 * ax_send_fds. Errors are negative codes as usual.
 */
AX_EXTERN ssize_t ax_recv_fds(int fd, void *buf, size_t len, int *fds, size_t *nfds,
                              ax_recv_info *info);

/* SO_PEERCRED: the credentials of the process at the other end of a
 * connected Unix socket, as of connect()/socketpair(). */
AX_EXTERN int ax_peer_cred(int fd, ax_cred *out);

/* Sends len bytes with an SCM_CREDENTIALS message carrying this process's
 * pid/uid/gid (the kernel checks them). Unix sockets only (AX_ENOTSUP). */
AX_EXTERN ssize_t ax_send_cred(int fd, const void *buf, size_t len);

/*
 * Receives up to len bytes and the sender's SCM_CREDENTIALS into *cred.
 * Turns SO_PASSCRED on first (it must be on before the data is sent for
 * the kernel to attach credentials to it: enable it early with
 * ax_setopt_int(fd, AX_OPT_PASSCRED, 1)). AX_ENOENT if none were attached.
 * fds passed with the data are closed here; to receive both, use
 * ax_recv_fds() with an ax_recv_info.
 */
AX_EXTERN ssize_t ax_recv_cred(int fd, void *buf, size_t len, ax_cred *cred);

/*
 * Receives a datagram with the address it was sent to and the interface it
 * arrived on (IP_PKTINFO / IPV6_PKTINFO; this call turns the receive option
 * on). from, to and ifindex may be NULL. Returns bytes read.
 */
AX_EXTERN ssize_t ax_recv_pktinfo(int fd, void *buf, size_t len, ax_addr *from,
                                  ax_addr *to, unsigned *ifindex);

/* ------------------------------------------------------------- select */

/*
 * socket_select(): waits until some of the fds are readable (rfds),
 * writable (wfds) or have an exceptional condition such as out-of-band
 * data (efds). Each array may be NULL with its count pointer NULL or 0.
 * On return each array is compacted in place to the ready fds and its
 * count updated, as PHP rewrites its arrays. Any number of fds (poll()
 * based, no FD_SETSIZE limit). timeout_ms < 0 waits forever. Returns the
 * total number of ready entries (0 on timeout) or an error; AX_EBADF names
 * a closed fd.
 */
AX_EXTERN int ax_select(int *rfds, size_t *nr, int *wfds, size_t *nw, int *efds,
                        size_t *ne, int timeout_ms);

/* ------------------------------------------------------------ options */

/* Symbolic socket options for ax_setopt()/ax_getopt(). The value type of
 * each is given after it. */
typedef enum ax_opt {
    AX_OPT_REUSEADDR = 1,   /* int 0/1 */
    AX_OPT_REUSEPORT,       /* int 0/1 */
    AX_OPT_KEEPALIVE,       /* int 0/1 */
    AX_OPT_LINGER,          /* ax_linger */
    AX_OPT_RCVTIMEO,        /* int milliseconds, 0 = none */
    AX_OPT_SNDTIMEO,        /* int milliseconds, 0 = none */
    AX_OPT_SNDBUF,          /* int bytes (get returns the kernel's doubled figure) */
    AX_OPT_RCVBUF,          /* int bytes */
    AX_OPT_BROADCAST,       /* int 0/1 */
    AX_OPT_OOBINLINE,       /* int 0/1 */
    AX_OPT_PASSCRED,        /* int 0/1 */
    AX_OPT_TYPE,            /* int SOCK_* (get only) */
    AX_OPT_ERROR,           /* int negative code (get only; clears it) */
    AX_OPT_TCP_NODELAY,     /* int 0/1 */
    AX_OPT_TCP_KEEPIDLE,    /* int seconds */
    AX_OPT_TCP_KEEPINTVL,   /* int seconds */
    AX_OPT_TCP_KEEPCNT,     /* int count */
    AX_OPT_TCP_NOTSENT_LOWAT, /* int bytes */
    AX_OPT_TCP_CONGESTION,  /* char[] name, e.g. "cubic" (NUL-terminated) */
    AX_OPT_IPV6_V6ONLY,     /* int 0/1 */
    AX_OPT_MCAST_JOIN,      /* ax_mcast (source set: source-specific join) */
    AX_OPT_MCAST_LEAVE,     /* ax_mcast */
    AX_OPT_MCAST_BLOCK_SOURCE,   /* ax_mcast with source */
    AX_OPT_MCAST_UNBLOCK_SOURCE, /* ax_mcast with source */
    AX_OPT_MCAST_TTL,       /* int hops (IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS) */
    AX_OPT_MCAST_LOOP,      /* int 0/1 */
    AX_OPT_MCAST_IF,        /* unsigned interface index (0 = default) */
    AX_OPT__COUNT
} ax_opt;

typedef struct ax_linger {
    int onoff;  /* l_onoff */
    int linger; /* l_linger, seconds */
} ax_linger;

typedef struct ax_mcast {
    ax_addr group;      /* the group (port ignored) */
    unsigned ifindex;   /* 0: let the kernel choose */
    ax_addr source;     /* for source-specific calls; len 0 = any source */
} ax_mcast;

/*
 * set_option(): sets opt from val (len bytes of the type listed in ax_opt).
 * Multicast options pick the IPv4 or IPv6 level from the socket's family.
 * A wrong len is AX_EINVAL naming the option and the expected type; an
 * option the socket type does not support is the kernel's error
 * (AX_ENOPROTOOPT, AX_EOPNOTSUPP), named:
 *     setsockopt TCP_NODELAY on fd 5 failed: Operation not supported (ENOTSUP)
 */
AX_EXTERN int ax_setopt(int fd, ax_opt opt, const void *val, size_t len);

/*
 * get_option(): reads opt into val; *len is the room on entry and the bytes
 * stored on return. The join/leave/block options are set-only (AX_EINVAL).
 */
AX_EXTERN int ax_getopt(int fd, ax_opt opt, void *val, size_t *len);

/* Convenience for the int-valued options. */
AX_EXTERN int ax_setopt_int(int fd, ax_opt opt, int val);
AX_EXTERN int ax_getopt_int(int fd, ax_opt opt, int *val);

/* "SO_REUSEADDR", "TCP_NODELAY", ... for an option; NULL if unknown. */
AX_EXTERN const char *ax_opt_name(ax_opt opt);

/* The option for a name as above (case-insensitive; "reuseaddr" and
 * "SO_REUSEADDR" both work), or AX_EINVAL naming it. */
AX_EXTERN int ax_opt_lookup(const char *name);

/* set_block / set_nonblock: on != 0 makes fd non-blocking. */
AX_EXTERN int ax_set_nonblock(int fd, int on);

/* ------------------------------------------------------- names, misc */

/* getsockname()/getpeername() as an ax_addr. */
AX_EXTERN int ax_sockname(int fd, ax_addr *out);
AX_EXTERN int ax_peername(int fd, ax_addr *out);

/*
 * The same as URI text ("tcp://127.0.0.1:8080", "udp://[::1]:53",
 * "unix:///path"): the scheme follows the socket's type. Returns the length
 * or an error (AX_ENOSPC if buf is too small; AX_URISTRLEN suffices).
 */
AX_EXTERN int ax_sockname_uri(int fd, char *buf, size_t len);
AX_EXTERN int ax_peername_uri(int fd, char *buf, size_t len);

/* socket_shutdown(): how is SHUT_RD, SHUT_WR or SHUT_RDWR. */
AX_EXTERN int ax_shutdown(int fd, int how);

/* socket_close(): closes fd; never retried on EINTR (the fd is gone). */
AX_EXTERN int ax_close(int fd);

/* socket_atmark(): 1 if the read pointer is at the out-of-band mark, 0 if
 * not, or an error. */
AX_EXTERN int ax_atmark(int fd);

/* ------------------------------------------------------------ addrinfo */

typedef struct ax_addrinfo {
    int family, socktype, protocol, flags;
    ax_addr addr;
    char *canonname;           /* owned by the list; may be NULL */
    struct ax_addrinfo *next;
} ax_addrinfo;

/*
 * socket_addrinfo_lookup(): resolves host (name or literal; NULL for a
 * wildcard with AI_PASSIVE) and service (port number or name; may be NULL)
 * with getaddrinfo(). hints may be NULL; its family, socktype, protocol and
 * flags are used. On success *out is a list the caller frees with
 * ax_freeaddrinfo(). Errors are AX_EAI_* with the name in the message:
 *     getaddrinfo for "nonexistent.invalid" failed: Unknown node or service (EAI_NONAME)
 */
AX_EXTERN int ax_getaddrinfo(const char *host, const char *service,
                             const ax_addrinfo *hints, ax_addrinfo **out);
AX_EXTERN void ax_freeaddrinfo(ax_addrinfo *list);

/* socket_addrinfo_connect(): a socket for ai, connected with timeout_ms as
 * for ax_connect_fd(). Returns the fd or an error. */
AX_EXTERN int ax_addrinfo_connect(const ax_addrinfo *ai, int timeout_ms);

/* socket_addrinfo_bind(): a socket for ai, bound to ai->addr (SO_REUSEADDR
 * on for stream sockets). Returns the fd or an error. */
AX_EXTERN int ax_addrinfo_bind(const ax_addrinfo *ai);

/* socket_addrinfo_explain(): a line of text describing ai:
 * "family=AF_INET6 socktype=SOCK_STREAM protocol=6 address=[::1]:80".
 * Returns the length or AX_ENOSPC. */
AX_EXTERN int ax_addrinfo_explain(const ax_addrinfo *ai, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
