/* socket_sendmsg()/socket_recvmsg() and the ancillary data built on them:
 * fd passing, credentials, packet info. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/internal.h"

size_t ax_cmsg_space(int level, int type, size_t n)
{
    size_t one;
    if (level == SOL_SOCKET && type == SCM_RIGHTS)
        return CMSG_SPACE(n * sizeof(int));
    if (level == SOL_SOCKET && type == SCM_CREDENTIALS)
        one = sizeof(struct ucred);
    else if (level == IPPROTO_IPV6 && type == IPV6_PKTINFO)
        one = sizeof(struct in6_pktinfo);
    else if (level == IPPROTO_IP && type == IP_PKTINFO)
        one = sizeof(struct in_pktinfo);
    else
        return 0;
    /* PHP's socket_cmsg_space() counts n separate messages of one item. */
    return n * CMSG_SPACE(one);
}

int ax_cmsg_add(ax_msg *msg, size_t cap, int level, int type, const void *data, size_t len)
{
    if (!msg || (!data && len))
        return ax__err(AX_EINVAL, "cmsg add: NULL message or data");
    size_t need = CMSG_SPACE(len);
    if (!msg->control || msg->controllen > cap || cap - msg->controllen < need)
        return ax__err(AX_ENOSPC, "cmsg add: %zu bytes of control data do not fit in %zu "
                                  "(size the buffer with ax_cmsg_space)",
                       need, cap);
    struct cmsghdr *c = (struct cmsghdr *)((char *)msg->control + msg->controllen);
    memset(c, 0, need);
    c->cmsg_level = level;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(len);
    if (len)
        memcpy(CMSG_DATA(c), data, len);
    msg->controllen += need;
    return 0;
}

/* Walks the control buffer of a received message like CMSG_FIRSTHDR /
 * CMSG_NXTHDR, without needing a struct msghdr from the caller. */
static struct msghdr as_msghdr(const ax_msg *m)
{
    struct msghdr h;
    memset(&h, 0, sizeof h);
    h.msg_control = m->control;
    h.msg_controllen = m->controllen;
    return h;
}

ssize_t ax_cmsg_find(const ax_msg *msg, int level, int type, size_t index, const void **data)
{
    if (!msg || !msg->control)
        return AX_ENOENT;
    struct msghdr h = as_msghdr(msg);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level != level || c->cmsg_type != type)
            continue;
        if (index-- > 0)
            continue;
        if (data)
            *data = CMSG_DATA(c);
        return (ssize_t)(c->cmsg_len - CMSG_LEN(0));
    }
    return AX_ENOENT;
}

static void fill_msghdr(struct msghdr *h, const ax_msg *m)
{
    memset(h, 0, sizeof *h);
    if (m->name && m->name->len) {
        h->msg_name = &m->name->u;
        h->msg_namelen = m->name->len;
    }
    h->msg_iov = m->iov;
    h->msg_iovlen = m->iovlen;
    h->msg_control = m->controllen ? m->control : NULL;
    h->msg_controllen = m->controllen;
}

ssize_t ax_sendmsg(int fd, const ax_msg *msg, int flags)
{
    if (!msg)
        return ax__err(AX_EINVAL, "sendmsg on fd %d: msg is NULL", fd);
    struct msghdr h;
    fill_msghdr(&h, msg);
    for (;;) {
        ssize_t n = sendmsg(fd, &h, flags | MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return AX_EAGAIN;
        return ax__syserr(ax__errno(), "sendmsg on fd %d failed", fd);
    }
}

ssize_t ax_recvmsg(int fd, ax_msg *msg, int flags)
{
    if (!msg)
        return ax__err(AX_EINVAL, "recvmsg on fd %d: msg is NULL", fd);
    struct msghdr h;
    memset(&h, 0, sizeof h);
    if (msg->name) {
        memset(msg->name, 0, sizeof *msg->name);
        h.msg_name = &msg->name->u;
        h.msg_namelen = sizeof msg->name->u;
    }
    h.msg_iov = msg->iov;
    h.msg_iovlen = msg->iovlen;
    h.msg_control = msg->control;
    h.msg_controllen = msg->control ? msg->controllen : 0;
    for (;;) {
        ssize_t n = recvmsg(fd, &h, flags | MSG_CMSG_CLOEXEC);
        if (n >= 0) {
            if (msg->name)
                msg->name->len = h.msg_namelen;
            msg->controllen = h.msg_controllen;
            msg->flags = h.msg_flags;
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return AX_EAGAIN;
        return ax__syserr(ax__errno(), "recvmsg on fd %d failed", fd);
    }
}

/* fds and credentials only travel over Unix sockets; anywhere else the
 * kernel drops the control message and the send "succeeds" with nothing
 * passed, so refuse up front and say why. */
static int need_unix(int fd, const char *what)
{
    int domain = 0;
    socklen_t l = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0)
        return ax__syserr(ax__errno(), "%s on fd %d failed", what, fd);
    if (domain == AF_UNIX)
        return 0;
    const char *kind = domain == AF_INET    ? "an IPv4"
                       : domain == AF_INET6 ? "an IPv6"
                                            : "a non-Unix";
    return ax__err(AX_ENOTSUP, "%s on fd %d: only a Unix socket can carry them, and this is %s "
                               "socket",
                   what, fd, kind);
}

ssize_t ax_send_fds(int fd, const void *buf, size_t len, const int *fds, size_t nfds)
{
    if (nfds > AX_MAX_FDS)
        return ax__err(AX_EINVAL, "send fds on fd %d: %zu fds is more than the kernel's %d", fd,
                       nfds, AX_MAX_FDS);
    if (nfds && !fds)
        return ax__err(AX_EINVAL, "send fds on fd %d: fds is NULL", fd);
    int rc = nfds ? need_unix(fd, "send fds") : 0;
    if (rc < 0)
        return rc;
    /* A stream socket needs at least one data byte to carry the fds. */
    char nul = 0;
    struct iovec iov = {.iov_base = len ? (void *)(uintptr_t)buf : &nul, .iov_len = len ? len : 1};
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(AX_MAX_FDS * sizeof(int))];
    } ctl;
    ax_msg m = {.iov = &iov, .iovlen = 1, .control = ctl.bytes};
    if (nfds)
        ax_cmsg_add(&m, sizeof ctl.bytes, SOL_SOCKET, SCM_RIGHTS, fds, nfds * sizeof(int));
    return ax_sendmsg(fd, &m, 0);
}

/* Takes every SCM_RIGHTS fd of m into fds[0..room) and closes the ones
 * beyond; returns how many it had to close. */
static size_t take_fds(const ax_msg *m, int *fds, size_t room, size_t *nfds)
{
    const void *data;
    ssize_t dl;
    size_t closed = 0;
    for (size_t k = 0; (dl = ax_cmsg_find(m, SOL_SOCKET, SCM_RIGHTS, k, &data)) >= 0; k++) {
        for (size_t i = 0; i < (size_t)dl / sizeof(int); i++) {
            int got;
            memcpy(&got, (const char *)data + i * sizeof(int), sizeof got);
            if (*nfds < room) {
                fds[(*nfds)++] = got;
            } else {
                /* CMSG_SPACE padding can let the kernel pass more than
                 * room without MSG_CTRUNC: that loss must show too. */
                close(got);
                closed++;
            }
        }
    }
    return closed;
}

ssize_t ax_recv_fds(int fd, void *buf, size_t len, int *fds, size_t *nfds, ax_recv_info *info)
{
    if (!nfds || (*nfds && !fds))
        return ax__err(AX_EINVAL, "recv fds on fd %d: NULL fds or nfds", fd);
    size_t room = *nfds > AX_MAX_FDS ? AX_MAX_FDS : *nfds;
    *nfds = 0;
    if (info)
        memset(info, 0, sizeof *info);
    /* Room for the fds and for the credentials a socket with SO_PASSCRED
     * gets with every message: without it the kernel has no space for the
     * fds and closes them all. */
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(AX_MAX_FDS * sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    ax_msg m = {.iov = &iov, .iovlen = 1, .control = ctl.bytes,
                .controllen = CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(room * sizeof(int))};
    ssize_t n = ax_recvmsg(fd, &m, 0);
    if (n < 0)
        return n;
    /* The caller owns every fd that arrived, whatever else went wrong. */
    size_t closed = take_fds(&m, fds, room, nfds);
    const void *data;
    struct ucred uc;
    int has_cred = ax_cmsg_find(&m, SOL_SOCKET, SCM_CREDENTIALS, 0, &data) >= (ssize_t)sizeof uc;
    if (has_cred)
        memcpy(&uc, data, sizeof uc);
    int fds_lost = (m.flags & MSG_CTRUNC) || closed;
    int data_cut = (m.flags & MSG_TRUNC) != 0;
    if (info) {
        info->flags = (fds_lost ? MSG_CTRUNC : 0) | (data_cut ? MSG_TRUNC : 0);
        /* Without SO_PASSCRED set before the data was sent the kernel
         * still attaches pid 0 and the overflow ids: that is none. */
        if (has_cred && uc.pid != 0) {
            info->has_cred = true;
            info->cred.pid = uc.pid;
            info->cred.uid = uc.uid;
            info->cred.gid = uc.gid;
        }
    }
    /* The bytes are returned whatever was lost beside them (a stream keeps
     * its framing); the loss is in info and, for a log, ax_last_error(). */
    if (fds_lost)
        ax__err(AX_ECTRUNC, "recv fds on fd %d: more fds arrived than the %zu there was room "
                            "for; %zu kept, the rest were closed",
                fd, room, *nfds);
    else if (data_cut)
        ax__err(AX_EMSGSIZE, "recv fds on fd %d: the message was longer than the %zu-byte "
                             "buffer; the rest of it was discarded",
                fd, len);
    return n;
}

int ax_peer_cred(int fd, ax_cred *out)
{
    struct ucred uc;
    socklen_t l = sizeof uc;
    if (!out)
        return ax__err(AX_EINVAL, "peer credentials on fd %d: out is NULL", fd);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &l) < 0)
        return ax__syserr(ax__errno(), "getsockopt SO_PEERCRED on fd %d failed", fd);
    out->pid = uc.pid;
    out->uid = uc.uid;
    out->gid = uc.gid;
    return 0;
}

ssize_t ax_send_cred(int fd, const void *buf, size_t len)
{
    int rc = need_unix(fd, "send credentials");
    if (rc < 0)
        return rc;
    struct ucred uc = {.pid = getpid(), .uid = getuid(), .gid = getgid()};
    char nul = 0;
    struct iovec iov = {.iov_base = len ? (void *)(uintptr_t)buf : &nul, .iov_len = len ? len : 1};
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(struct ucred))];
    } ctl;
    ax_msg m = {.iov = &iov, .iovlen = 1, .control = ctl.bytes};
    ax_cmsg_add(&m, sizeof ctl.bytes, SOL_SOCKET, SCM_CREDENTIALS, &uc, sizeof uc);
    return ax_sendmsg(fd, &m, 0);
}

ssize_t ax_recv_cred(int fd, void *buf, size_t len, ax_cred *cred)
{
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
        return ax__syserr(ax__errno(), "setsockopt SO_PASSCRED on fd %d failed", fd);
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(AX_MAX_FDS * sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    ax_msg m = {.iov = &iov, .iovlen = 1, .control = ctl.bytes, .controllen = sizeof ctl.bytes};
    ssize_t n = ax_recvmsg(fd, &m, 0);
    if (n < 0)
        return n;
    /* fds sent alongside are not ours to keep: close them rather than leak. */
    const void *data;
    ssize_t dl;
    for (size_t k = 0; (dl = ax_cmsg_find(&m, SOL_SOCKET, SCM_RIGHTS, k, &data)) >= 0; k++)
        for (size_t i = 0; i < (size_t)dl / sizeof(int); i++) {
            int got;
            memcpy(&got, (const char *)data + i * sizeof(int), sizeof got);
            close(got);
        }
    /* With SO_PASSCRED on only at receive time the kernel still attaches
     * SCM_CREDENTIALS, filled with pid 0 and the overflow uid/gid: that is
     * no credentials, and no process has pid 0. */
    struct ucred uc = {.pid = 0};
    if (ax_cmsg_find(&m, SOL_SOCKET, SCM_CREDENTIALS, 0, &data) >= (ssize_t)sizeof uc)
        memcpy(&uc, data, sizeof uc);
    if (uc.pid == 0)
        return ax__err(AX_ENOENT, "recv credentials on fd %d: no SCM_CREDENTIALS arrived with "
                                  "the data (was SO_PASSCRED on before it was sent?)",
                       fd);
    if (cred) {
        cred->pid = uc.pid;
        cred->uid = uc.uid;
        cred->gid = uc.gid;
    }
    return n;
}

ssize_t ax_recv_pktinfo(int fd, void *buf, size_t len, ax_addr *from, ax_addr *to,
                        unsigned *ifindex)
{
    ax_addr local;
    if (ax_sockname(fd, &local) < 0)
        return ax_last_error()->code;
    int fam = ax_addr_family(&local), one = 1, rc;
    if (fam == AF_INET6)
        rc = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
    else if (fam == AF_INET)
        rc = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    else
        return ax__err(AX_EAFNOSUPPORT, "recv pktinfo on fd %d: not an IP socket", fd);
    if (rc < 0)
        return ax__syserr(ax__errno(), "enabling packet info on fd %d failed", fd);
    union {
        struct cmsghdr align;
        char bytes[256];
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    ax_msg m = {.name = from, .iov = &iov, .iovlen = 1, .control = ctl.bytes,
                .controllen = sizeof ctl.bytes};
    ssize_t n = ax_recvmsg(fd, &m, 0);
    if (n < 0)
        return n;
    const void *data;
    if (to)
        memset(to, 0, sizeof *to);
    if (ifindex)
        *ifindex = 0;
    if (fam == AF_INET6 &&
        ax_cmsg_find(&m, IPPROTO_IPV6, IPV6_PKTINFO, 0, &data) >= (ssize_t)sizeof(struct in6_pktinfo)) {
        struct in6_pktinfo pi;
        memcpy(&pi, data, sizeof pi);
        if (to) {
            to->u.in6.sin6_family = AF_INET6;
            to->u.in6.sin6_addr = pi.ipi6_addr;
            to->u.in6.sin6_port = local.u.in6.sin6_port;
            to->len = sizeof to->u.in6;
        }
        if (ifindex)
            *ifindex = (unsigned)pi.ipi6_ifindex;
    } else if (fam == AF_INET &&
               ax_cmsg_find(&m, IPPROTO_IP, IP_PKTINFO, 0, &data) >= (ssize_t)sizeof(struct in_pktinfo)) {
        struct in_pktinfo pi;
        memcpy(&pi, data, sizeof pi);
        if (to) {
            to->u.in.sin_family = AF_INET;
            to->u.in.sin_addr = pi.ipi_addr;
            to->u.in.sin_port = local.u.in.sin_port;
            to->len = sizeof to->u.in;
        }
        if (ifindex)
            *ifindex = (unsigned)pi.ipi_ifindex;
    }
    return n;
}
