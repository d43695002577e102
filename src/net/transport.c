/*
 * The raw transport under a connection's filters: how the bottom of the
 * chain reads and writes the fd. A socket's reads come from the loop
 * (AX__RECV: recv() on readiness backends, a provided buffer on io_uring);
 * pipes, ttys and files (ax_conn_open) are read here on readiness. Writes
 * of both go through here, from the direct write and from the queue.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/net.h"

static ssize_t sock_read(ax_conn *c, void *buf, size_t len)
{
    return ax__io_result(recv(c->io.fd, buf, len, 0));
}

static ssize_t sock_writev(ax_conn *c, const struct iovec *iov, int n)
{
    if (n == 1)
        return ax__io_result(send(c->io.fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL));
    /* sendmsg, unlike writev, takes MSG_NOSIGNAL. */
    struct msghdr m = {.msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = (size_t)n};
    return ax__io_result(sendmsg(c->io.fd, &m, MSG_NOSIGNAL));
}

static int sock_shutdown(ax_conn *c)
{
    return shutdown(c->io.fd, SHUT_WR) < 0 ? -errno : 0;
}

/* Pipes, ttys and files (ax_conn_open): read()/writev(), with a reader
 * that went away reported as EPIPE rather than a signal. */
static ssize_t fd_read(ax_conn *c, void *buf, size_t len)
{
    return ax__io_result(read(c->io.fd, buf, len));
}

static int out_fd(const ax_conn *c)
{
    return (c->flags & CF_SPLIT) ? c->aux->out.fd : c->io.fd;
}

static ssize_t fd_writev(ax_conn *c, const struct iovec *iov, int n)
{
    return ax__io_result(ax__writev_nosigpipe(out_fd(c), iov, n));
}

static int fd_shutdown(ax_conn *c)
{
    /* A separate output fd is closed so the reader at the other end sees
     * end of file; a shared one (a tty) cannot be half-closed. A socket
     * is shut down for writing first: another fd may hold the same socket
     * (stdin and stdout on one socket, as under socat EXEC:, inetd or
     * systemd Accept=yes), and then close() alone sends no FIN. */
    if ((c->flags & CF_SPLIT) && c->aux->out.fd >= 0) {
        int fd = c->aux->out.fd;
        if (ax__io_forget(ax__conn_loop(c), &c->aux->out))
            c->owed++;
        shutdown(fd, SHUT_WR); /* ENOTSOCK for a pipe or file: nothing to do */
        close(fd);
        c->aux->out.fd = -1;
    }
    return 0;
}

typedef struct transport {
    ssize_t (*read)(ax_conn *c, void *buf, size_t len);
    ssize_t (*writev)(ax_conn *c, const struct iovec *iov, int n);
    int (*shutdown)(ax_conn *c);
} transport;

static const transport transports[] = {
    [TP_SOCKET] = {sock_read, sock_writev, sock_shutdown},
    [TP_FD] = {fd_read, fd_writev, fd_shutdown},
};

ssize_t ax__tp_read(ax_conn *c, void *buf, size_t len)
{
    return transports[c->tp].read(c, buf, len);
}

ssize_t ax__tp_writev(ax_conn *c, const struct iovec *iov, int n)
{
    return transports[c->tp].writev(c, iov, n);
}

int ax__tp_shutdown(ax_conn *c)
{
    return transports[c->tp].shutdown(c);
}
