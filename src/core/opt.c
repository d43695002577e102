/* set_option/get_option with symbolic names and typed values. */
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "core/internal.h"

typedef enum kind {
    K_INT,    /* int, passed through */
    K_MS,     /* int milliseconds <-> struct timeval */
    K_LINGER, /* ax_linger <-> struct linger */
    K_STR,    /* NUL-terminated name */
    K_ERR,    /* SO_ERROR: int, negated */
    K_MCAST,  /* ax_mcast -> group_req / group_source_req, set only */
    K_FAMILY  /* int; level and name depend on the socket's family */
} kind;

typedef struct optdef {
    const char *name;  /* the C name users know */
    const char *alias; /* short form for the CLI */
    int level, optname;
    int optname6; /* K_FAMILY, K_MCAST: the IPv6 option */
    kind k;
    const char *type; /* for messages */
} optdef;

static const optdef opts[AX_OPT__COUNT] = {
    [AX_OPT_REUSEADDR] = {"SO_REUSEADDR", "reuseaddr", SOL_SOCKET, SO_REUSEADDR, 0, K_INT, "int"},
    [AX_OPT_REUSEPORT] = {"SO_REUSEPORT", "reuseport", SOL_SOCKET, SO_REUSEPORT, 0, K_INT, "int"},
    [AX_OPT_KEEPALIVE] = {"SO_KEEPALIVE", "keepalive", SOL_SOCKET, SO_KEEPALIVE, 0, K_INT, "int"},
    [AX_OPT_LINGER] = {"SO_LINGER", "linger", SOL_SOCKET, SO_LINGER, 0, K_LINGER, "ax_linger"},
    [AX_OPT_RCVTIMEO] = {"SO_RCVTIMEO", "rcvtimeo", SOL_SOCKET, SO_RCVTIMEO, 0, K_MS,
                         "int (milliseconds)"},
    [AX_OPT_SNDTIMEO] = {"SO_SNDTIMEO", "sndtimeo", SOL_SOCKET, SO_SNDTIMEO, 0, K_MS,
                         "int (milliseconds)"},
    [AX_OPT_SNDBUF] = {"SO_SNDBUF", "sndbuf", SOL_SOCKET, SO_SNDBUF, 0, K_INT, "int"},
    [AX_OPT_RCVBUF] = {"SO_RCVBUF", "rcvbuf", SOL_SOCKET, SO_RCVBUF, 0, K_INT, "int"},
    [AX_OPT_BROADCAST] = {"SO_BROADCAST", "broadcast", SOL_SOCKET, SO_BROADCAST, 0, K_INT, "int"},
    [AX_OPT_OOBINLINE] = {"SO_OOBINLINE", "oobinline", SOL_SOCKET, SO_OOBINLINE, 0, K_INT, "int"},
    [AX_OPT_PASSCRED] = {"SO_PASSCRED", "passcred", SOL_SOCKET, SO_PASSCRED, 0, K_INT, "int"},
    [AX_OPT_TYPE] = {"SO_TYPE", "type", SOL_SOCKET, SO_TYPE, 0, K_INT, "int"},
    [AX_OPT_ERROR] = {"SO_ERROR", "error", SOL_SOCKET, SO_ERROR, 0, K_ERR, "int"},
    [AX_OPT_TCP_NODELAY] = {"TCP_NODELAY", "nodelay", IPPROTO_TCP, TCP_NODELAY, 0, K_INT, "int"},
    [AX_OPT_TCP_KEEPIDLE] = {"TCP_KEEPIDLE", "keepidle", IPPROTO_TCP, TCP_KEEPIDLE, 0, K_INT,
                             "int (seconds)"},
    [AX_OPT_TCP_KEEPINTVL] = {"TCP_KEEPINTVL", "keepintvl", IPPROTO_TCP, TCP_KEEPINTVL, 0, K_INT,
                              "int (seconds)"},
    [AX_OPT_TCP_KEEPCNT] = {"TCP_KEEPCNT", "keepcnt", IPPROTO_TCP, TCP_KEEPCNT, 0, K_INT, "int"},
    [AX_OPT_TCP_NOTSENT_LOWAT] = {"TCP_NOTSENT_LOWAT", "notsent_lowat", IPPROTO_TCP,
                                  TCP_NOTSENT_LOWAT, 0, K_INT, "int (bytes)"},
    [AX_OPT_TCP_CONGESTION] = {"TCP_CONGESTION", "congestion", IPPROTO_TCP, TCP_CONGESTION, 0,
                               K_STR, "char[] name"},
    [AX_OPT_IPV6_V6ONLY] = {"IPV6_V6ONLY", "v6only", IPPROTO_IPV6, IPV6_V6ONLY, 0, K_INT, "int"},
    [AX_OPT_MCAST_JOIN] = {"MCAST_JOIN_GROUP", "mcast_join", 0, MCAST_JOIN_GROUP,
                           MCAST_JOIN_SOURCE_GROUP, K_MCAST, "ax_mcast"},
    [AX_OPT_MCAST_LEAVE] = {"MCAST_LEAVE_GROUP", "mcast_leave", 0, MCAST_LEAVE_GROUP,
                            MCAST_LEAVE_SOURCE_GROUP, K_MCAST, "ax_mcast"},
    [AX_OPT_MCAST_BLOCK_SOURCE] = {"MCAST_BLOCK_SOURCE", "mcast_block_source", 0,
                                   MCAST_BLOCK_SOURCE, MCAST_BLOCK_SOURCE, K_MCAST,
                                   "ax_mcast with source"},
    [AX_OPT_MCAST_UNBLOCK_SOURCE] = {"MCAST_UNBLOCK_SOURCE", "mcast_unblock_source", 0,
                                     MCAST_UNBLOCK_SOURCE, MCAST_UNBLOCK_SOURCE, K_MCAST,
                                     "ax_mcast with source"},
    [AX_OPT_MCAST_TTL] = {"IP_MULTICAST_TTL", "mcast_ttl", IPPROTO_IP, IP_MULTICAST_TTL,
                          IPV6_MULTICAST_HOPS, K_FAMILY, "int"},
    [AX_OPT_MCAST_LOOP] = {"IP_MULTICAST_LOOP", "mcast_loop", IPPROTO_IP, IP_MULTICAST_LOOP,
                           IPV6_MULTICAST_LOOP, K_FAMILY, "int"},
    [AX_OPT_MCAST_IF] = {"IP_MULTICAST_IF", "mcast_if", IPPROTO_IP, IP_MULTICAST_IF,
                         IPV6_MULTICAST_IF, K_FAMILY, "unsigned (interface index)"},
};

static const optdef *lookup(ax_opt opt)
{
    if ((int)opt <= 0 || opt >= AX_OPT__COUNT)
        return NULL;
    return &opts[opt];
}

const char *ax_opt_name(ax_opt opt)
{
    const optdef *d = lookup(opt);
    return d ? d->name : NULL;
}

int ax_opt_lookup(const char *name)
{
    if (name)
        for (int i = 1; i < AX_OPT__COUNT; i++)
            if (strcasecmp(name, opts[i].name) == 0 || strcasecmp(name, opts[i].alias) == 0)
                return i;
    return ax__err(AX_EINVAL, "unknown socket option \"%s\"", name ? name : "(null)");
}

static int sock_family(int fd)
{
    ax_addr a;
    a.len = sizeof a.u;
    if (getsockname(fd, &a.u.sa, &a.len) < 0)
        return -errno;
    return a.u.sa.sa_family;
}

static int sys_fail(const optdef *d, const char *verb, int fd)
{
    return ax__syserr(ax__errno(), "%ssockopt %s on fd %d failed", verb, d->name, fd);
}

/* IP_MULTICAST_IF takes an address or an ip_mreqn on IPv4 but an index on
 * IPv6; an index is the one thing both can express. */
static int set_family_opt(int fd, const optdef *d, int fam, int v)
{
    int rc;
    if (fam == AF_INET6) {
        rc = setsockopt(fd, IPPROTO_IPV6, d->optname6, &v, sizeof v);
    } else if (d->optname == IP_MULTICAST_IF) {
        struct ip_mreqn m;
        memset(&m, 0, sizeof m);
        m.imr_ifindex = v;
        rc = setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
    } else if (d->optname == IP_MULTICAST_TTL || d->optname == IP_MULTICAST_LOOP) {
        unsigned char c = (unsigned char)v;
        if (v < 0 || v > 255)
            return ax__err(AX_EINVAL, "setsockopt %s on fd %d: %d is out of range 0..255",
                           d->name, fd, v);
        rc = setsockopt(fd, IPPROTO_IP, d->optname, &c, sizeof c);
    } else {
        rc = setsockopt(fd, IPPROTO_IP, d->optname, &v, sizeof v);
    }
    return rc < 0 ? sys_fail(d, "set", fd) : 0;
}

static int set_mcast(int fd, const optdef *d, int fam, const ax_mcast *m)
{
    int level = fam == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
    if (ax_addr_family(&m->group) != fam)
        return ax__err(AX_EINVAL, "setsockopt %s on fd %d: the group's family does not match "
                                  "the socket's",
                       d->name, fd);
    int with_source = m->source.len != 0;
    int optname = with_source ? d->optname6 : d->optname;
    if (d->optname == MCAST_BLOCK_SOURCE || d->optname == MCAST_UNBLOCK_SOURCE) {
        if (!with_source)
            return ax__err(AX_EINVAL, "setsockopt %s on fd %d: a source address is required",
                           d->name, fd);
        optname = d->optname;
    }
    int rc;
    if (with_source) {
        struct group_source_req g;
        memset(&g, 0, sizeof g);
        g.gsr_interface = m->ifindex;
        memcpy(&g.gsr_group, &m->group.u, m->group.len);
        memcpy(&g.gsr_source, &m->source.u, m->source.len);
        rc = setsockopt(fd, level, optname, &g, sizeof g);
    } else {
        struct group_req g;
        memset(&g, 0, sizeof g);
        g.gr_interface = m->ifindex;
        memcpy(&g.gr_group, &m->group.u, m->group.len);
        rc = setsockopt(fd, level, optname, &g, sizeof g);
    }
    return rc < 0 ? sys_fail(d, "set", fd) : 0;
}

static int want_len(const optdef *d, const char *verb, int fd, size_t len, size_t need)
{
    if (len == need)
        return 0;
    return ax__err(AX_EINVAL, "%ssockopt %s on fd %d: value must be %s (%zu bytes), got %zu bytes",
                   verb, d->name, fd, d->type, need, len);
}

int ax_setopt(int fd, ax_opt opt, const void *val, size_t len)
{
    const optdef *d = lookup(opt);
    if (!d)
        return ax__err(AX_EINVAL, "setsockopt on fd %d: unknown option %d", fd, (int)opt);
    if (!val)
        return ax__err(AX_EINVAL, "setsockopt %s on fd %d: value is NULL", d->name, fd);
    if (opt == AX_OPT_TYPE || opt == AX_OPT_ERROR)
        return ax__err(AX_EINVAL, "setsockopt %s on fd %d: the option is read-only", d->name, fd);
    int rc = 0, v;
    switch (d->k) {
    case K_INT:
        if ((rc = want_len(d, "set", fd, len, sizeof(int))) < 0)
            return rc;
        rc = setsockopt(fd, d->level, d->optname, val, sizeof(int));
        break;
    case K_MS: {
        if ((rc = want_len(d, "set", fd, len, sizeof(int))) < 0)
            return rc;
        memcpy(&v, val, sizeof v);
        if (v < 0)
            return ax__err(AX_EINVAL, "setsockopt %s on fd %d: %d ms is negative", d->name, fd, v);
        struct timeval tv = {.tv_sec = v / 1000, .tv_usec = (v % 1000) * 1000};
        rc = setsockopt(fd, d->level, d->optname, &tv, sizeof tv);
        break;
    }
    case K_LINGER: {
        if ((rc = want_len(d, "set", fd, len, sizeof(ax_linger))) < 0)
            return rc;
        ax_linger al;
        memcpy(&al, val, sizeof al);
        struct linger l = {.l_onoff = al.onoff, .l_linger = al.linger};
        rc = setsockopt(fd, d->level, d->optname, &l, sizeof l);
        break;
    }
    case K_STR: {
        size_t n = strnlen(val, len);
        rc = setsockopt(fd, d->level, d->optname, val, (socklen_t)n);
        break;
    }
    case K_MCAST:
    case K_FAMILY: {
        int fam = sock_family(fd);
        if (fam < 0)
            return ax__syserr(fam, "setsockopt %s on fd %d failed", d->name, fd);
        if (fam != AF_INET && fam != AF_INET6)
            return ax__err(AX_EAFNOSUPPORT, "setsockopt %s on fd %d: not an IP socket", d->name,
                           fd);
        if (d->k == K_MCAST) {
            if ((rc = want_len(d, "set", fd, len, sizeof(ax_mcast))) < 0)
                return rc;
            return set_mcast(fd, d, fam, val);
        }
        if ((rc = want_len(d, "set", fd, len, sizeof(int))) < 0)
            return rc;
        memcpy(&v, val, sizeof v);
        return set_family_opt(fd, d, fam, v);
    }
    case K_ERR:
        break;
    }
    return rc < 0 ? sys_fail(d, "set", fd) : 0;
}

int ax_getopt(int fd, ax_opt opt, void *val, size_t *len)
{
    const optdef *d = lookup(opt);
    if (!d)
        return ax__err(AX_EINVAL, "getsockopt on fd %d: unknown option %d", fd, (int)opt);
    if (!val || !len)
        return ax__err(AX_EINVAL, "getsockopt %s on fd %d: value or len is NULL", d->name, fd);
    int rc, v = 0;
    socklen_t sl;
    switch (d->k) {
    case K_INT:
    case K_ERR:
        if ((rc = want_len(d, "get", fd, *len, sizeof(int))) < 0)
            return rc;
        sl = sizeof v;
        if (getsockopt(fd, d->level, d->optname, &v, &sl) < 0)
            return sys_fail(d, "get", fd);
        if (d->k == K_ERR)
            v = -v;
        memcpy(val, &v, sizeof v);
        return 0;
    case K_MS: {
        if ((rc = want_len(d, "get", fd, *len, sizeof(int))) < 0)
            return rc;
        struct timeval tv;
        sl = sizeof tv;
        if (getsockopt(fd, d->level, d->optname, &tv, &sl) < 0)
            return sys_fail(d, "get", fd);
        /* Set by other code, the kernel's value may not fit an int of
         * milliseconds: saturate rather than wrap to a negative time. */
        long long total = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
        v = total > INT_MAX ? INT_MAX : (int)total;
        memcpy(val, &v, sizeof v);
        return 0;
    }
    case K_LINGER: {
        if ((rc = want_len(d, "get", fd, *len, sizeof(ax_linger))) < 0)
            return rc;
        struct linger l;
        sl = sizeof l;
        if (getsockopt(fd, d->level, d->optname, &l, &sl) < 0)
            return sys_fail(d, "get", fd);
        ax_linger al = {.onoff = l.l_onoff, .linger = l.l_linger};
        memcpy(val, &al, sizeof al);
        return 0;
    }
    case K_STR: {
        if (*len < 2)
            return ax__err(AX_EINVAL, "getsockopt %s on fd %d: buffer too small", d->name, fd);
        sl = (socklen_t)(*len - 1);
        if (getsockopt(fd, d->level, d->optname, val, &sl) < 0)
            return sys_fail(d, "get", fd);
        ((char *)val)[sl] = '\0';
        *len = strlen(val) + 1;
        return 0;
    }
    case K_FAMILY: {
        if ((rc = want_len(d, "get", fd, *len, sizeof(int))) < 0)
            return rc;
        int fam = sock_family(fd);
        if (fam != AF_INET && fam != AF_INET6)
            return ax__err(AX_EAFNOSUPPORT, "getsockopt %s on fd %d: not an IP socket", d->name,
                           fd);
        if (fam == AF_INET6) {
            sl = sizeof v;
            if (getsockopt(fd, IPPROTO_IPV6, d->optname6, &v, &sl) < 0)
                return sys_fail(d, "get", fd);
        } else if (d->optname == IP_MULTICAST_IF) {
            /* Linux answers IPv4 IP_MULTICAST_IF with an address, never
             * the index that was set, so there is nothing honest to
             * return. */
            return ax__err(AX_ENOTSUP, "getsockopt %s on fd %d: IPv4 sockets cannot report the "
                                       "interface index",
                           d->name, fd);
        } else {
            unsigned char c = 0;
            sl = sizeof c;
            if (getsockopt(fd, IPPROTO_IP, d->optname, &c, &sl) < 0)
                return sys_fail(d, "get", fd);
            v = c;
        }
        memcpy(val, &v, sizeof v);
        return 0;
    }
    case K_MCAST:
        break;
    }
    return ax__err(AX_EINVAL, "getsockopt %s on fd %d: the option is set-only", d->name, fd);
}

int ax_setopt_int(int fd, ax_opt opt, int val)
{
    return ax_setopt(fd, opt, &val, sizeof val);
}

int ax_getopt_int(int fd, ax_opt opt, int *val)
{
    size_t len = sizeof *val;
    return ax_getopt(fd, opt, val, &len);
}
