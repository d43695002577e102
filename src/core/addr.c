/*
 * Socket addresses: building them from IP literals and Unix paths, turning
 * them back into text, and the small accessors of axon/addr.h.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

/* The longest Unix path, or abstract name, that fits sun_path: a path needs
 * its terminator and an abstract name needs its leading NUL byte. */
#define UNIX_NAME_MAX (sizeof(struct sockaddr_un) - offsetof(struct sockaddr_un, sun_path) - 1)

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A precision for "%.*s": messages never need more than this, and it keeps
 * a huge length from overflowing the int. */
static int prec(size_t n)
{
    return n > 1000 ? 1000 : (int)n;
}

/* True when s[0..n) holds only digits and dots, which is what we take to
 * mean "the user meant an IPv4 address" rather than a host name. */
static int digits_and_dots(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]) && s[i] != '.')
            return 0;
    }
    return n > 0;
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
    }
    return n > 0;
}

int ax__put(char *buf, size_t len, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (len > 0)
            buf[0] = '\0';
        return ax__err(AX_EINVAL, "Cannot format %s: output error", what);
    }
    if ((size_t)n >= len) {
        /* A cut-off address could be mistaken for a real one, so a
         * buffer that is too small gets nothing at all. */
        if (len > 0)
            buf[0] = '\0';
        return ax__err(AX_ENOSPC, "Cannot format %s into %zu bytes: %d needed", what, len,
                       n + 1);
    }
    return n;
}

/* Parses the scope id that followed '%': a decimal interface index, or an
 * interface name looked up now. */
static int parse_scope(const char *s, size_t n, uint32_t *scope, const char *what,
                       const char *text)
{
    if (n == 0)
        return ax__invalid(AX_EINVAL, what, text, "empty scope id after \"%%\"");
    if (all_digits(s, n)) {
        unsigned long long v = 0;
        for (size_t i = 0; i < n; i++) {
            v = v * 10 + (unsigned long long)(s[i] - '0');
            if (v > UINT32_MAX)
                return ax__invalid(AX_EINVAL, what, text, "scope id %.*s out of range",
                                   prec(n), s);
        }
        *scope = (uint32_t)v;
        return 0;
    }
    char name[IF_NAMESIZE];
    unsigned idx = 0;
    if (n < sizeof name) {
        memcpy(name, s, n);
        name[n] = '\0';
        idx = if_nametoindex(name);
    }
    if (idx == 0)
        return ax__invalid(AX_ENODEV, what, text, "unknown network interface \"%.*s\"",
                           prec(n), s);
    *scope = idx;
    return 0;
}

int ax__ip_parse(const char *ip, size_t n, int family, uint16_t port, ax_addr *out,
                 const char *what, const char *text)
{
    memset(out, 0, sizeof *out);
    const char *pct = memchr(ip, '%', n);
    size_t an = pct ? (size_t)(pct - ip) : n;
    int v6 = memchr(ip, ':', an) != NULL;
    if (an == 0)
        return ax__invalid(AX_EINVAL, what, text, "empty IP address");
    if (!v6 && !digits_and_dots(ip, an))
        return ax__invalid(AX_EINVAL, what, text, "\"%.*s\" is not an %s address", prec(an), ip,
                           family == AF_INET6 ? "IPv6" : family == AF_INET ? "IPv4" : "IP");
    if (v6 && family == AF_INET)
        return ax__invalid(AX_EINVAL, what, text, "\"%.*s\" is not an IPv4 address", prec(an), ip);
    if (!v6 && family == AF_INET6)
        return ax__invalid(AX_EINVAL, what, text, "\"%.*s\" is not an IPv6 address", prec(an), ip);

    /* inet_pton() needs a terminated string; anything longer than the
     * longest IPv6 text cannot be valid anyway. */
    char buf[INET6_ADDRSTRLEN];
    if (an >= sizeof buf)
        return ax__invalid(AX_EINVAL, what, text, "invalid %s address \"%.*s\"",
                           v6 ? "IPv6" : "IPv4", prec(an), ip);
    memcpy(buf, ip, an);
    buf[an] = '\0';

    /* Fill a local copy so that no failure leaves *out half written. */
    ax_addr a;
    memset(&a, 0, sizeof a);
    if (!v6) {
        if (inet_pton(AF_INET, buf, &a.u.in.sin_addr) != 1)
            return ax__invalid(AX_EINVAL, what, text, "invalid IPv4 address \"%s\"", buf);
        if (pct)
            return ax__invalid(AX_EINVAL, what, text,
                               "scope id \"%.*s\" is only allowed on IPv6 addresses",
                               prec(n - an), pct);
        a.u.in.sin_family = AF_INET;
        a.u.in.sin_port = htons(port);
        a.len = (socklen_t)sizeof a.u.in;
    } else {
        if (inet_pton(AF_INET6, buf, &a.u.in6.sin6_addr) != 1)
            return ax__invalid(AX_EINVAL, what, text, "invalid IPv6 address \"%s\"", buf);
        uint32_t scope = 0;
        if (pct) {
            int r = parse_scope(pct + 1, n - an - 1, &scope, what, text);
            if (r < 0)
                return r;
        }
        a.u.in6.sin6_family = AF_INET6;
        a.u.in6.sin6_port = htons(port);
        a.u.in6.sin6_scope_id = scope;
        a.len = (socklen_t)sizeof a.u.in6;
    }
    *out = a;
    return v6 ? AF_INET6 : AF_INET;
}

int ax__unix_parse(const char *name, ax_addr *out, const char *what, const char *text)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(name);
    int abstract = name[0] == '@';
    const char *body = abstract ? name + 1 : name;
    size_t bn = abstract ? n - 1 : n;
    if (bn == 0)
        return ax__invalid(AX_EINVAL, what, text,
                           abstract ? "empty abstract socket name" : "empty Unix socket path");
    if (bn > UNIX_NAME_MAX)
        return ax__invalid(AX_ENAMETOOLONG, what, text,
                           "%s is %zu bytes long, but sun_path holds at most %zu",
                           abstract ? "abstract socket name" : "Unix socket path", bn,
                           (size_t)UNIX_NAME_MAX);
    struct sockaddr_un *sun = &out->u.un;
    sun->sun_family = AF_UNIX;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (abstract) {
        /* Linux abstract names have no terminator: every byte up to len is
         * part of the name, so len must count exactly the name. */
        memcpy(sun->sun_path + 1, body, bn);
        out->len = (socklen_t)(off + 1 + bn);
    } else {
        memcpy(sun->sun_path, body, bn);
        out->len = (socklen_t)(off + bn + 1);
    }
    return 0;
}

/*
 * The name in a Unix address: a path without its terminator, or an abstract
 * name without its leading NUL byte. *n is 0 for an unnamed socket; an
 * all-zero sun_path counts as unnamed too, since that is what a zeroed
 * sockaddr_un with a full length means in practice.
 */
static const char *unix_name(const ax_addr *a, size_t *n, int *abstract)
{
    const size_t off = offsetof(struct sockaddr_un, sun_path);
    const char *p = a->u.un.sun_path;
    size_t plen = a->len > off ? a->len - off : 0;
    if (plen > sizeof a->u.un.sun_path)
        plen = sizeof a->u.un.sun_path;
    *abstract = 0;
    *n = 0;
    if (plen == 0)
        return p;
    if (p[0] != '\0') {
        *n = strnlen(p, plen);
        return p;
    }
    size_t i = 1;
    while (i < plen && p[i] == '\0')
        i++;
    if (i == plen)
        return p;
    *abstract = 1;
    *n = plen - 1;
    return p + 1;
}

int ax_addr_family(const ax_addr *addr)
{
    if (!addr || addr->len < sizeof(sa_family_t))
        return AF_UNSPEC;
    return addr->u.sa.sa_family;
}

int ax_addr_format(const ax_addr *addr, char *buf, size_t len)
{
    if (!addr || (!buf && len > 0))
        return ax__err(AX_EINVAL, "Cannot format address: %s is NULL", addr ? "buffer" : "address");
    int family = ax_addr_family(addr);
    char host[INET6_ADDRSTRLEN];
    switch (family) {
    case AF_INET:
        if (addr->len < sizeof(struct sockaddr_in))
            break;
        inet_ntop(AF_INET, &addr->u.in.sin_addr, host, sizeof host);
        return ax__put(buf, len, "address", "%s:%u", host, (unsigned)ntohs(addr->u.in.sin_port));
    case AF_INET6: {
        if (addr->len < sizeof(struct sockaddr_in6))
            break;
        const struct sockaddr_in6 *sin6 = &addr->u.in6;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        unsigned port = ntohs(sin6->sin6_port);
        if (sin6->sin6_scope_id == 0)
            return ax__put(buf, len, "address", "[%s]:%u", host, port);
        /* Keep the scope id: without it a link-local address is useless,
         * and an interface name reads better than its index. */
        char ifname[IF_NAMESIZE];
        if (if_indextoname(sin6->sin6_scope_id, ifname))
            return ax__put(buf, len, "address", "[%s%%%s]:%u", host, ifname, port);
        return ax__put(buf, len, "address", "[%s%%%u]:%u", host, (unsigned)sin6->sin6_scope_id,
                       port);
    }
    case AF_UNIX: {
        size_t n;
        int abstract;
        const char *name = unix_name(addr, &n, &abstract);
        char text[AX_ADDRSTRLEN];
        size_t o = 0;
        if (abstract)
            text[o++] = '@';
        /* An abstract name may hold NUL bytes; show them as '@' the way
         * ss(8) does, so the result stays one C string. */
        for (size_t i = 0; i < n; i++)
            text[o++] = name[i] ? name[i] : '@';
        text[o] = '\0';
        return ax__put(buf, len, "address", "%s", text);
    }
    default:
        return ax__err(AX_EAFNOSUPPORT, "Cannot format address of family %d", family);
    }
    return ax__err(AX_EINVAL, "Cannot format address: length %u is too short for its family",
                   (unsigned)addr->len);
}

int ax_addr_to_uri(const ax_addr *addr, ax_scheme scheme, char *buf, size_t len)
{
    if (!addr || (!buf && len > 0))
        return ax__err(AX_EINVAL, "Cannot format URI: %s is NULL", addr ? "buffer" : "address");
    int family = ax_addr_family(addr);
    int ip = family == AF_INET || family == AF_INET6;
    switch (scheme) {
    case AX_SCHEME_TCP:
    case AX_SCHEME_UDP:
    case AX_SCHEME_TLS:
        if (family == AF_UNIX)
            return ax__err(AX_EINVAL, "Cannot format a Unix address as a %s:// URI",
                           ax_scheme_name(scheme));
        if (!ip)
            return ax__err(AX_EAFNOSUPPORT, "Cannot format address of family %d as a URI", family);
        break;
    case AX_SCHEME_UNIX:
        if (ip)
            return ax__err(AX_EINVAL, "Cannot format an IP address as a unix:// URI");
        if (family != AF_UNIX)
            return ax__err(AX_EAFNOSUPPORT, "Cannot format address of family %d as a URI", family);
        break;
    case AX_SCHEME_NONE:
    case AX_SCHEME_FD:
    default:
        return ax__err(AX_EINVAL, "Cannot format an address as a URI with scheme %d (%s)",
                       (int)scheme, ax_scheme_name(scheme));
    }
    char text[AX_ADDRSTRLEN];
    int r = ax_addr_format(addr, text, sizeof text);
    if (r < 0)
        return r;
    return ax__put(buf, len, "URI", "%s://%s", ax_scheme_name(scheme), text);
}

int ax_addr_from_ip(ax_addr *out, const char *ip, uint16_t port)
{
    if (!out)
        return ax__err(AX_EINVAL, "Invalid IP address given: output address is NULL");
    if (!ip) {
        memset(out, 0, sizeof *out);
        return ax__err(AX_EINVAL, "Invalid IP address (null) given: address is NULL");
    }
    if (ip[0] == '[') {
        memset(out, 0, sizeof *out);
        return ax__invalid(AX_EINVAL, "IP address", ip, "write the address without brackets");
    }
    int r = ax__ip_parse(ip, strlen(ip), AF_UNSPEC, port, out, "IP address", ip);
    return r < 0 ? r : 0;
}

int ax_addr_from_unix(ax_addr *out, const char *path)
{
    if (!out)
        return ax__err(AX_EINVAL, "Invalid Unix socket path given: output address is NULL");
    if (!path) {
        memset(out, 0, sizeof *out);
        return ax__err(AX_EINVAL, "Invalid Unix socket path (null) given: path is NULL");
    }
    return ax__unix_parse(path, out, "Unix socket path", path);
}

int ax_addr_parse(const char *text, ax_addr *out)
{
    if (!out)
        return ax__err(AX_EINVAL, "Invalid URI given: output address is NULL");
    memset(out, 0, sizeof *out);
    ax_uri uri;
    int r = ax_uri_parse(text, &uri);
    if (r < 0)
        return r;
    switch (uri.kind) {
    case AX_HOST_NAME:
        return ax__invalid(AX_EINVAL, "URI", text, "host is not an IP literal");
    case AX_HOST_NONE:
        return ax__invalid(AX_EINVAL, "URI", text, "fd:// has no address");
    default:
        *out = uri.addr;
        return 0;
    }
}

uint16_t ax_addr_port(const ax_addr *addr)
{
    switch (ax_addr_family(addr)) {
    case AF_INET:
        return ntohs(addr->u.in.sin_port);
    case AF_INET6:
        return ntohs(addr->u.in6.sin6_port);
    default:
        return 0;
    }
}

int ax_addr_set_port(ax_addr *addr, uint16_t port)
{
    int family = ax_addr_family(addr);
    switch (family) {
    case AF_INET:
        addr->u.in.sin_port = htons(port);
        return 0;
    case AF_INET6:
        addr->u.in6.sin6_port = htons(port);
        return 0;
    default:
        return ax__err(AX_EAFNOSUPPORT, "Cannot set port %u on %s", (unsigned)port,
                       family == AF_UNIX ? "a Unix address"
                       : family == AF_UNSPEC ? "an empty address"
                                             : "an address of an unknown family");
    }
}

int ax_addr_equal(const ax_addr *a, const ax_addr *b)
{
    if (!a || !b)
        return 0;
    int family = ax_addr_family(a);
    if (family != ax_addr_family(b))
        return 0;
    switch (family) {
    case AF_UNSPEC:
        return 1;
    case AF_INET:
        return a->u.in.sin_port == b->u.in.sin_port &&
               a->u.in.sin_addr.s_addr == b->u.in.sin_addr.s_addr;
    case AF_INET6:
        return a->u.in6.sin6_port == b->u.in6.sin6_port &&
               a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id &&
               memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, sizeof a->u.in6.sin6_addr) == 0;
    case AF_UNIX: {
        /* Compare names, not lengths: a path's length may or may not count
         * its terminator depending on who filled the address in. */
        size_t na, nb;
        int aa, ab;
        const char *pa = unix_name(a, &na, &aa);
        const char *pb = unix_name(b, &nb, &ab);
        return aa == ab && na == nb && memcmp(pa, pb, na) == 0;
    }
    default: {
        size_t n = a->len < sizeof a->u ? a->len : sizeof a->u;
        return a->len == b->len && memcmp(&a->u, &b->u, n) == 0;
    }
    }
}

const char *ax_scheme_name(ax_scheme scheme)
{
    switch (scheme) {
    case AX_SCHEME_TCP:
        return "tcp";
    case AX_SCHEME_UDP:
        return "udp";
    case AX_SCHEME_UNIX:
        return "unix";
    case AX_SCHEME_TLS:
        return "tls";
    case AX_SCHEME_FD:
        return "fd";
    case AX_SCHEME_NONE:
    default:
        return "";
    }
}
