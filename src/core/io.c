/* The direct layer's data calls: read, write, send/recv, sendto/recvfrom,
 * write-all, and select. */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/internal.h"

ssize_t ax_read(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return AX_EAGAIN;
        return ax__syserr(ax__errno(), "read from fd %d failed", fd);
    }
}

/* write(2) on a pipe whose reader is gone raises SIGPIPE, which MSG_NOSIGNAL
 * cannot prevent there. Block it for this thread around the call, and
 * take back the one the write raised (unless one was already pending). */
ssize_t ax__writev_nosigpipe(int fd, const struct iovec *iov, int iovcnt)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t n = writev(fd, iov, iovcnt);
    int e = errno;
    if (n < 0 && e == EPIPE && !was_pending) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return n;
}

ssize_t ax_write(int fd, const void *buf, size_t len)
{
    for (;;) {
        /* send() with MSG_NOSIGNAL keeps a vanished peer from raising
         * SIGPIPE; on a pipe or file send() says ENOTSOCK and write() is
         * the right call. */
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
        {
            struct iovec v = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
            n = ax__writev_nosigpipe(fd, &v, 1);
        }
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return AX_EAGAIN;
        return ax__syserr(ax__errno(), "write to fd %d failed", fd);
    }
}

int ax_write_all(int fd, const void *buf, size_t len, int timeout_ms, size_t *written)
{
    const char *p = buf;
    size_t done = 0;
    int64_t deadline = timeout_ms < 0 ? 0 : ax__now_ms() + timeout_ms;
    int rc = 0;
    while (done < len) {
        ssize_t n = ax_write(fd, p + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n != AX_EAGAIN) {
            rc = n == 0 ? ax__err(AX_EIO, "write to fd %d made no progress", fd) : (int)n;
            break;
        }
        int left = -1;
        if (timeout_ms >= 0) {
            int64_t l = deadline - ax__now_ms();
            left = l > 0 ? (int)l : 0;
        }
        short rev = 0;
        int r = left == 0 ? 0 : ax__poll1(fd, POLLOUT, left, &rev);
        if (r == 0) {
            rc = ax__err(AX_ETIMEDOUT, "write to fd %d timed out after %d ms with %zu of %zu "
                                       "bytes written",
                         fd, timeout_ms, done, len);
            break;
        }
        if (r < 0) {
            rc = ax__syserr(r, "poll on fd %d failed", fd);
            break;
        }
    }
    if (written)
        *written = done;
    return rc;
}

ssize_t ax_send(int fd, const void *buf, size_t len, int flags)
{
    for (;;) {
        ssize_t n = send(fd, buf, len, flags | MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return AX_EAGAIN;
        return ax__syserr(ax__errno(), "send on fd %d failed", fd);
    }
}

ssize_t ax_recv(int fd, void *buf, size_t len, int flags)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, flags);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return AX_EAGAIN;
        return ax__syserr(ax__errno(), "recv on fd %d failed", fd);
    }
}

ssize_t ax_sendto(int fd, const void *buf, size_t len, int flags, const ax_addr *to)
{
    const struct sockaddr *sa = to && to->len ? &to->u.sa : NULL;
    socklen_t sl = sa ? to->len : 0;
    for (;;) {
        ssize_t n = sendto(fd, buf, len, flags | MSG_NOSIGNAL, sa, sl);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return AX_EAGAIN;
        char t[AX_ADDRSTRLEN] = "its connected peer";
        if (sa && ax_addr_format(to, t, sizeof t) < 0)
            strcpy(t, "(unprintable address)");
        return ax__syserr(ax__errno(), "sendto %s on fd %d failed", t, fd);
    }
}

ssize_t ax_recvfrom(int fd, void *buf, size_t len, int flags, ax_addr *from)
{
    for (;;) {
        ssize_t n;
        if (from) {
            memset(from, 0, sizeof *from);
            from->len = sizeof from->u;
            n = recvfrom(fd, buf, len, flags, &from->u.sa, &from->len);
        } else {
            n = recvfrom(fd, buf, len, flags, NULL, NULL);
        }
        if (n >= 0)
            return n;
        if (from)
            from->len = 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return AX_EAGAIN;
        return ax__syserr(ax__errno(), "recvfrom on fd %d failed", fd);
    }
}

/* Copies fds that are ready for `mask` from pfds[base..base+n) back into
 * arr, compacting it, and returns how many. */
static size_t compact(int *arr, const struct pollfd *pfds, size_t base, size_t n, short mask)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (pfds[base + i].revents & mask)
            arr[k++] = pfds[base + i].fd;
    return k;
}

int ax_select(int *rfds, size_t *nr, int *wfds, size_t *nw, int *efds, size_t *ne,
              int timeout_ms)
{
    size_t cr = rfds && nr ? *nr : 0, cw = wfds && nw ? *nw : 0, ce = efds && ne ? *ne : 0;
    size_t total = cr + cw + ce;
    struct pollfd small[64];
    struct pollfd *p = total <= 64 ? small : calloc(total, sizeof *p);
    if (!p)
        return ax__err(AX_ENOMEM, "select on %zu fds: out of memory", total);
    /* One pollfd per entry keeps the mapping back to each array simple;
     * poll() is fine with the same fd listed more than once. */
    for (size_t i = 0; i < cr; i++)
        p[i] = (struct pollfd){.fd = rfds[i], .events = POLLIN};
    for (size_t i = 0; i < cw; i++)
        p[cr + i] = (struct pollfd){.fd = wfds[i], .events = POLLOUT};
    for (size_t i = 0; i < ce; i++)
        p[cr + cw + i] = (struct pollfd){.fd = efds[i], .events = POLLPRI};

    int64_t deadline = timeout_ms < 0 ? 0 : ax__now_ms() + timeout_ms;
    int r;
    for (;;) {
        r = poll(p, (nfds_t)total, timeout_ms);
        if (r >= 0 || errno != EINTR)
            break;
        if (timeout_ms >= 0) {
            int64_t l = deadline - ax__now_ms();
            timeout_ms = l > 0 ? (int)l : 0;
        }
    }
    int rc;
    if (r < 0) {
        rc = ax__syserr(ax__errno(), "select on %zu fds failed", total);
        goto out;
    }
    for (size_t i = 0; i < total; i++) {
        if (p[i].revents & POLLNVAL) {
            rc = ax__err(AX_EBADF, "select: fd %d is not open", p[i].fd);
            goto out;
        }
    }
    /* A hung-up or failed fd counts as readable and writable, as select()
     * reports it: the next read or write returns the condition. */
    size_t kr = compact(rfds, p, 0, cr, POLLIN | POLLHUP | POLLERR | POLLRDHUP);
    size_t kw = compact(wfds, p, cr, cw, POLLOUT | POLLHUP | POLLERR);
    size_t ke = compact(efds, p, cr + cw, ce, POLLPRI);
    if (nr)
        *nr = kr;
    if (nw)
        *nw = kw;
    if (ne)
        *ne = ke;
    rc = (int)(kr + kw + ke);
out:
    if (p != small)
        free(p);
    return rc;
}
