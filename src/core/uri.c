/*
 * URI parsing and formatting for the forms listed in axon/addr.h, and the
 * "Invalid URI "..." given: ..." messages that addr.c shares.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/internal.h"

/*
 * Caps on the escaped copies of the offending text and of the explanation
 * in a message. With the fixed words around them they stay under
 * AX_ERROR_MAX, so a very long input is cut in the quote and the part that
 * says what is wrong always survives.
 */
#define QUOTE_MAX 200
#define WHY_MAX 240

/* Shorthand for the common failure: the URI being parsed is malformed. */
#define BAD(...) ax__invalid(AX_EINVAL, "URI", text, __VA_ARGS__)

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A precision for "%.*s": the messages never need more than this, and it
 * keeps a huge length from overflowing the int. */
static int prec(size_t n)
{
    return n > 1000 ? 1000 : (int)n;
}

/* ------------------------------------------------------------ messages */

/* The length of the well-formed, printable UTF-8 sequence at s (n bytes
 * available), or 0 when the bytes there should be escaped instead. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xBF;
    size_t len;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        /* C1 controls (U+0080..U+009F) are as unreadable as C0 ones. */
        if (c == 0xC2)
            lo = 0xA0;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        if (c == 0xF4)
            hi = 0x8F; /* beyond U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return len;
}

const char *ax__escape(char *dst, size_t cap, const char *src, size_t n)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, safe = 0, i = 0;
    if (cap < 4) {
        if (cap > 0)
            dst[0] = '\0';
        return dst;
    }
    while (i < n) {
        char piece[5];
        size_t w = utf8_len(s + i, n - i), pl;
        if (s[i] >= 0x20 && s[i] < 0x7f) {
            piece[0] = (char)s[i];
            w = pl = 1;
        } else if (w > 0) {
            memcpy(piece, s + i, w);
            pl = w;
        } else {
            snprintf(piece, sizeof piece, "\\x%02x", (unsigned)s[i]);
            w = 1;
            pl = 4;
        }
        if (o + pl > cap - 1) {
            /* Cut at the last piece boundary that leaves room for "...". */
            memcpy(dst + safe, "...", 4);
            return dst;
        }
        memcpy(dst + o, piece, pl);
        o += pl;
        i += w;
        if (o <= cap - 4)
            safe = o;
    }
    dst[o] = '\0';
    return dst;
}

int ax__invalid(int code, const char *what, const char *text, const char *fmt, ...)
{
    char why[WHY_MAX], qwhy[WHY_MAX], qtext[QUOTE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (n < 0)
        why[0] = '\0';
    else if ((size_t)n >= sizeof why)
        memcpy(why + sizeof why - 4, "...", 4);
    /* The explanation quotes pieces of the text, so it is escaped too;
     * escaping leaves its own printable words alone. */
    ax__escape(qwhy, sizeof qwhy, why, strlen(why));
    ax__escape(qtext, sizeof qtext, text, strlen(text));
    return ax__err(code, "Invalid %s \"%s\" given: %s", what, qtext, qwhy);
}

/* ------------------------------------------------------------- parsing */

/*
 * Finds "scheme://" at the start of text. Returns how many bytes to skip,
 * 0 when there is no scheme (tcp is implied), or an error for a scheme we
 * have no connector for.
 */
static int parse_scheme(const char *text, ax_uri *u)
{
    size_t i = 0;
    if (is_alpha(text[0])) {
        while (is_alpha(text[i]) || is_digit(text[i]) || text[i] == '+' || text[i] == '-' ||
               text[i] == '.')
            i++;
    }
    if (i == 0 || strncmp(text + i, "://", 3) != 0) {
        u->scheme = AX_SCHEME_TCP;
        u->scheme_given = 0;
        return 0;
    }
    for (int s = AX_SCHEME_TCP; s <= AX_SCHEME_FD; s++) {
        const char *name = ax_scheme_name((ax_scheme)s);
        if (strlen(name) == i && strncasecmp(text, name, i) == 0) {
            u->scheme = (ax_scheme)s;
            u->scheme_given = 1;
            return (int)i + 3;
        }
    }
    return BAD("No connector available for URI scheme \"%.*s\"", prec(i), text);
}

/* Parses the digits after ':' as a port in 0..65535. */
static int parse_port(const char *text, const char *p, uint16_t *port)
{
    size_t n = 0;
    unsigned long v = 0;
    while (is_digit(p[n])) {
        if (v <= 65535)
            v = v * 10 + (unsigned long)(p[n] - '0');
        n++;
    }
    if (n == 0 && p[0] == '\0')
        return BAD("missing port");
    if (n > 0 && p[n] != '\0' && strchr("/?# \t\r\n", p[n]))
        return BAD("unexpected \"%s\" after port %.*s", p + n, prec(n), p);
    if (n == 0 || p[n] != '\0')
        return BAD("invalid port \"%s\"", p);
    if (v > 65535)
        return BAD("port %s out of range (0-65535)", p);
    *port = (uint16_t)v;
    return 0;
}

/*
 * Checks a DNS host name: letters, digits, '-' and '_' in dot-separated
 * labels of 1 to 63 characters, 253 in all, with one optional final dot.
 */
static int check_name(const char *text, const char *h, size_t n)
{
    size_t label = 0;
    size_t total = n > 0 && h[n - 1] == '.' ? n - 1 : n;
    for (size_t i = 0; i < total; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0)
                return BAD("empty label in host name \"%.*s\"", prec(n), h);
            label = 0;
            continue;
        }
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
            return BAD("invalid character \"%c\" in host name", c);
        if (++label > 63)
            return BAD("label longer than 63 characters in host name");
    }
    if (label == 0)
        return BAD("empty label in host name \"%.*s\"", prec(n), h);
    if (total > 253)
        return BAD("host name is %zu characters long, longer than 253", total);
    return 0;
}

/* True when s[0..n), up to a '%' scope or with a last ":port" removed, is
 * an IPv6 address: someone forgot the brackets. */
static int looks_ipv6(const char *s, size_t n)
{
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr a;
    const char *pct = memchr(s, '%', n);
    const char *last = s + n;
    while (last > s && last[-1] != ':')
        last--;
    size_t cand[2] = {pct ? (size_t)(pct - s) : n, last > s ? (size_t)(last - s - 1) : 0};
    for (int i = 0; i < 2; i++) {
        if (cand[i] == 0 || cand[i] >= sizeof buf)
            continue;
        memcpy(buf, s, cand[i]);
        buf[cand[i]] = '\0';
        if (inet_pton(AF_INET6, buf, &a) == 1)
            return 1;
    }
    return 0;
}

/* tcp, udp and tls: "[v6%scope]:port", "v4:port" or "name:port". */
static int parse_inet(const char *text, const char *rest, ax_uri *u)
{
    const char *host, *after;
    size_t hn;
    int r, bracketed = rest[0] == '[';
    if (bracketed) {
        const char *close = strchr(rest, ']');
        if (!close)
            return BAD("missing \"]\" after IPv6 address");
        host = rest + 1;
        hn = (size_t)(close - host);
        after = close + 1;
        if (hn == 0)
            return BAD("empty IPv6 address in \"[]\"");
        if (after[0] != '\0' && after[0] != ':')
            return BAD("unexpected \"%s\" after \"]\"", after);
    } else {
        size_t n = strlen(rest);
        const char *colon = strchr(rest, ':');
        if (colon && strchr(colon + 1, ':') && looks_ipv6(rest, n))
            return BAD("IPv6 address must be in brackets, as in \"[::1]:80\"");
        host = rest;
        hn = colon ? (size_t)(colon - rest) : n;
        after = rest + hn;
        /* "8080" or ":8080": a port with no host. Say so, and show the
         * forms that work, rather than call 8080 a bad IPv4 address. */
        const char *port = colon ? colon + 1 : rest;
        size_t pn = strspn(port, "0123456789");
        if ((hn == 0 || !colon) && pn > 0 && pn <= 5 && port[pn] == '\0')
            return BAD("missing host before port %s; give an address too, such as "
                       "0.0.0.0:%s or [::]:%s (every interface) or 127.0.0.1:%s",
                       port, port, port, port);
        if (hn == 0)
            return BAD("empty host");
    }

    const char *pct = memchr(host, '%', hn);
    size_t head = pct ? (size_t)(pct - host) : hn;
    size_t i = 0, digits = 0;
    for (; i < head && (is_digit(host[i]) || host[i] == '.'); i++)
        digits += is_digit(host[i]) ? 1u : 0u;
    if (bracketed || (i == head && digits > 0)) {
        /* Bracketed text must be IPv6; digits and dots must be IPv4 (a
         * typo like 1.2.3.256 is an error, not a host name to look up). */
        r = ax__ip_parse(host, hn, bracketed ? AF_INET6 : AF_INET, 0, &u->addr, "URI", text);
        if (r < 0)
            return r;
        u->kind = r == AF_INET6 ? AX_HOST_IPV6 : AX_HOST_IPV4;
    } else {
        r = check_name(text, host, hn);
        if (r < 0)
            return r;
        u->kind = AX_HOST_NAME;
        /* check_name() allowed at most 254 bytes, so this fits host. */
        memcpy(u->host, host, hn);
        u->host[hn] = '\0';
    }

    if (after[0] == '\0')
        return BAD("missing port");
    r = parse_port(text, after + 1, &u->port);
    if (r < 0)
        return r;
    if (u->kind == AX_HOST_IPV4) {
        u->addr.u.in.sin_port = htons(u->port);
        inet_ntop(AF_INET, &u->addr.u.in.sin_addr, u->host, sizeof u->host);
    } else if (u->kind == AX_HOST_IPV6) {
        /* host is the canonical text, so "[0:0::1]" and "[::1]" agree. */
        u->addr.u.in6.sin6_port = htons(u->port);
        inet_ntop(AF_INET6, &u->addr.u.in6.sin6_addr, u->host, sizeof u->host);
    }
    return 0;
}

/* unix: everything after "//" is the path, or "@name" for an abstract
 * socket. A path may contain ':' and '?', so nothing is cut off as a port
 * or query. */
static int parse_unix(const char *text, const char *rest, ax_uri *u)
{
    int r = ax__unix_parse(rest, &u->addr, "URI", text);
    if (r < 0)
        return r;
    u->kind = rest[0] == '@' ? AX_HOST_ABSTRACT : AX_HOST_PATH;
    /* ax__unix_parse() limits it to sun_path, well under AX_HOSTLEN. */
    snprintf(u->host, sizeof u->host, "%s", rest);
    return 0;
}

/* fd: a decimal descriptor number in 0..INT_MAX and nothing else. */
static int parse_fd(const char *text, const char *rest, ax_uri *u)
{
    size_t n = 0;
    unsigned long long v = 0;
    while (is_digit(rest[n])) {
        if (v <= INT_MAX)
            v = v * 10 + (unsigned long long)(rest[n] - '0');
        n++;
    }
    if (rest[0] == '\0')
        return BAD("missing fd number");
    if (n > 0 && rest[n] == ':')
        return BAD("fd:// takes no port");
    if (n == 0 || rest[n] != '\0')
        return BAD("invalid fd \"%s\": expected a number in 0..%d", rest, INT_MAX);
    if (v > INT_MAX)
        return BAD("fd %s out of range (0..%d)", rest, INT_MAX);
    u->kind = AX_HOST_NONE;
    u->fd = (int)v;
    return 0;
}

int ax_uri_parse(const char *text, ax_uri *out)
{
    if (!out)
        return ax__err(AX_EINVAL, "Invalid URI given: output is NULL");
    memset(out, 0, sizeof *out);
    out->fd = -1;
    if (!text)
        return ax__err(AX_EINVAL, "Invalid URI (null) given: URI is NULL");
    if (text[0] == '\0')
        return BAD("empty URI");

    /* Parse into a local so a failure leaves *out cleared, not half set. */
    ax_uri u;
    memset(&u, 0, sizeof u);
    u.fd = -1;
    int r = parse_scheme(text, &u);
    if (r < 0)
        return r;
    const char *rest = text + r;
    switch (u.scheme) {
    case AX_SCHEME_UNIX:
        r = parse_unix(text, rest, &u);
        break;
    case AX_SCHEME_FD:
        r = parse_fd(text, rest, &u);
        break;
    default:
        r = parse_inet(text, rest, &u);
        break;
    }
    if (r < 0)
        return r;
    *out = u;
    return 0;
}

/* ---------------------------------------------------------- formatting */

int ax_uri_format(const ax_uri *uri, char *buf, size_t len)
{
    if (buf && len > 0)
        buf[0] = '\0';
    if (!uri || (!buf && len > 0))
        return ax__err(AX_EINVAL, "Cannot format URI: %s is NULL", uri ? "buffer" : "URI");
    const char *scheme = ax_scheme_name(uri->scheme);
    const char *host = uri->host;
    if (strnlen(host, sizeof uri->host) == sizeof uri->host)
        return ax__err(AX_EINVAL, "Cannot format URI: host is not terminated");

    switch (uri->scheme) {
    case AX_SCHEME_FD:
        if (uri->kind != AX_HOST_NONE || uri->fd < 0)
            return ax__err(AX_EINVAL, "Cannot format fd:// URI with kind %d and fd %d",
                           (int)uri->kind, uri->fd);
        return ax__put(buf, len, "URI", "fd://%d", uri->fd);
    case AX_SCHEME_UNIX:
        /* A relative path starting with '@' would read back as abstract. */
        if ((uri->kind == AX_HOST_PATH && host[0] != '\0' && host[0] != '@') ||
            (uri->kind == AX_HOST_ABSTRACT && host[0] == '@' && host[1] != '\0'))
            return ax__put(buf, len, "URI", "unix://%s", host);
        return ax__err(AX_EINVAL, "Cannot format unix:// URI with host kind %d", (int)uri->kind);
    case AX_SCHEME_TCP:
    case AX_SCHEME_UDP:
    case AX_SCHEME_TLS:
        break;
    case AX_SCHEME_NONE:
    default:
        return ax__err(AX_EINVAL, "Cannot format URI: no scheme (%d)", (int)uri->scheme);
    }

    switch (uri->kind) {
    case AX_HOST_NAME:
        if (host[0] == '\0')
            break;
        return ax__put(buf, len, "URI", "%s://%s:%u", scheme, host, (unsigned)uri->port);
    case AX_HOST_IPV4:
    case AX_HOST_IPV6: {
        int want = uri->kind == AX_HOST_IPV4 ? AF_INET : AF_INET6;
        if (ax_addr_family(&uri->addr) != want)
            break;
        /* The address carries the scope id; the port comes from the URI
         * so that changing uri->port is enough. */
        ax_addr a = uri->addr;
        char text[AX_ADDRSTRLEN];
        ax_addr_set_port(&a, uri->port);
        int r = ax_addr_format(&a, text, sizeof text);
        if (r < 0)
            return r;
        return ax__put(buf, len, "URI", "%s://%s", scheme, text);
    }
    default:
        break;
    }
    return ax__err(AX_EINVAL, "Cannot format %s:// URI with host kind %d", scheme,
                   (int)uri->kind);
}

int ax__uri_canon(const char *text, ax_uri *u, char *canon)
{
    int rc = ax_uri_parse(text, u);
    if (rc < 0)
        return rc;
    if (ax_uri_format(u, canon, AX_URISTRLEN) < 0)
        canon[0] = '\0';
    return 0;
}
