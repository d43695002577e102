/*
 * axon/addr.h - socket addresses and URIs.
 *
 * ax_addr holds any address axon deals with (IPv4, IPv6 with scope id, Unix
 * path, Linux abstract name) with its length. ax_uri is a parsed URI of the
 * forms every layer accepts:
 *
 *     tcp://1.2.3.4:80     udp://[2001:db8::1]:53    [fe80::1%eth0]:80
 *     host:port (= tcp)    unix:///run/x.sock        unix://@name (abstract)
 *     tls://host:443       fd://3                    port 0 = pick a free one
 *
 * Hostnames are kept as names for the resolver. Every malformed input is
 * rejected with AX_EINVAL (AX_ENAMETOOLONG for a Unix path longer than
 * sun_path, AX_ENODEV for an unknown scope interface) and ax_last_error()
 * names the bad part:  Invalid URI "tcp://[::1" given: missing "]" ... (EINVAL)
 *
 * All functions here are pure computations on caller-owned memory and are
 * safe to call from any thread.
 */
#ifndef AXON_ADDR_H
#define AXON_ADDR_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Buffer sizes, terminator included, that always suffice. */
#define AX_ADDRSTRLEN 128 /* ax_addr_format(): "[ffff:...%ifname]:65535", "/path" */
#define AX_URISTRLEN 320  /* ax_uri_format(), ax_addr_to_uri(), a hostname URI */
#define AX_HOSTLEN 256    /* ax_uri.host: a DNS name (253) or a Unix path (108) */

typedef struct ax_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
        struct sockaddr_storage ss;
    } u;
    socklen_t len; /* bytes of u in use; 0 = empty */
} ax_addr;

typedef enum ax_scheme {
    AX_SCHEME_NONE = 0,
    AX_SCHEME_TCP,
    AX_SCHEME_UDP,
    AX_SCHEME_UNIX,
    AX_SCHEME_TLS,
    AX_SCHEME_FD
} ax_scheme;

/* What a URI's host part turned out to be. */
typedef enum ax_host_kind {
    AX_HOST_NONE = 0, /* fd:// */
    AX_HOST_IPV4,     /* addr holds the address and port */
    AX_HOST_IPV6,     /* addr holds it, with scope id */
    AX_HOST_NAME,     /* a DNS name in host; needs resolving */
    AX_HOST_PATH,     /* unix: a filesystem path in host; addr is set */
    AX_HOST_ABSTRACT  /* unix: an abstract name, host is "@name"; addr is set */
} ax_host_kind;

typedef struct ax_uri {
    ax_scheme scheme;
    int scheme_given;      /* 0 when the text had no scheme and tcp was implied */
    ax_host_kind kind;
    char host[AX_HOSTLEN]; /* name, canonical IP text without brackets or scope,
                              path, "@name" */
    uint16_t port;
    int fd;                /* fd:// only, else -1 */
    ax_addr addr;          /* IP literals and unix; empty for names and fd:// */
} ax_uri;

/*
 * Parses a URI (forms above) into *out. Returns 0, or AX_EINVAL /
 * AX_ENAMETOOLONG / AX_ENODEV with ax_last_error() naming the bad part:
 * empty host, port out of 0..65535, unterminated "[", an IPv6 address
 * without brackets, an unknown scheme ("No connector available for URI
 * scheme "x""), a Unix path that does not fit sun_path, trailing garbage,
 * a bad fd number (fd:// takes 0..INT_MAX). A port is required for tcp,
 * udp and tls; unix and fd take none. Everything after "unix://" is the
 * path, ':' and '?' included. Hosts of digits and dots must be valid IPv4
 * ("1.2.3.256" is an error, not a name); other hosts are kept as names of
 * letters, digits, '-', '_' and '.' (labels of 1..63, 253 in all, one
 * final '.' allowed) with addr left empty. The quoted text in the message
 * has unprintable bytes escaped as \xNN and is cut with "..." if long.
 * text: borrowed; out: caller-owned, fully overwritten (cleared on failure).
 */
AX_EXTERN int ax_uri_parse(const char *text, ax_uri *out);

/*
 * Writes the canonical text of a parsed URI ("tcp://[::1]:80",
 * "unix:///run/x.sock", "fd://3") into buf. IP literals come from
 * uri->addr (with its scope id) and uri->port. Returns the length written,
 * AX_ENOSPC if buf (len bytes) is too small, or AX_EINVAL if the scheme,
 * kind and fields do not agree; buf is always terminated when len > 0 (it
 * is left "" on failure, never truncated).
 */
AX_EXTERN int ax_uri_format(const ax_uri *uri, char *buf, size_t len);

/*
 * Parses a literal address: "1.2.3.4:80", "[::1]:80", "[fe80::1%eth0]:80",
 * a URI with an IP literal ("udp://1.2.3.4:53"), or a Unix one
 * ("unix:///path", "unix://@name"). A hostname is rejected with AX_EINVAL
 * ("host is not an IP literal"): resolve it with ax_getaddrinfo(); fd://
 * is AX_EINVAL too. Errors are those of ax_uri_parse(). out is zeroed
 * first.
 */
AX_EXTERN int ax_addr_parse(const char *text, ax_addr *out);

/*
 * Formats an address as "1.2.3.4:80", "[::1]:80", "[fe80::1%eth0]:80"
 * (the scope id as the interface name when it has one, else its number),
 * "/path" or "@abstract" (NUL bytes inside an abstract name shown as '@',
 * as ss(8) does); an unnamed Unix socket gives "". Returns the length,
 * AX_ENOSPC if buf is too small (AX_ADDRSTRLEN always suffices; buf is
 * left ""), AX_EAFNOSUPPORT for another family or an empty address, or
 * AX_EINVAL if len is too short for the family.
 */
AX_EXTERN int ax_addr_format(const ax_addr *addr, char *buf, size_t len);

/*
 * Formats an address as a URI under a scheme: "tcp://127.0.0.1:8080",
 * "udp://[::1]:53", "unix:///path", "unix://@name", and "unix://" for an
 * unnamed Unix socket. An IP address with AX_SCHEME_UNIX, a Unix one with
 * tcp/udp/tls, or AX_SCHEME_FD / AX_SCHEME_NONE is AX_EINVAL; an address
 * of another family (or empty) is AX_EAFNOSUPPORT.
 */
AX_EXTERN int ax_addr_to_uri(const ax_addr *addr, ax_scheme scheme, char *buf,
                             size_t len);

/*
 * Builds an address from an IP literal (no brackets; "fe80::1%eth0" or
 * "fe80::1%2" takes a scope) and a port, the way PHP's
 * socket_bind($s, "::1", 80) takes them. out is zeroed first. AX_EINVAL for
 * anything else (message "Invalid IP address "..." given: ..."), AX_ENODEV
 * for an unknown scope interface.
 */
AX_EXTERN int ax_addr_from_ip(ax_addr *out, const char *ip, uint16_t port);

/*
 * Builds a Unix address from a path, or from "@name" for a Linux abstract
 * name. AX_ENAMETOOLONG if it does not fit sun_path (107 bytes of path or
 * of abstract name), AX_EINVAL if empty. out is zeroed first; len counts a
 * path's terminator but no padding after an abstract name.
 */
AX_EXTERN int ax_addr_from_unix(ax_addr *out, const char *path);

/* AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC for an empty address. */
AX_EXTERN int ax_addr_family(const ax_addr *addr);

/* The port of an IP address in host order; 0 for other families. */
AX_EXTERN uint16_t ax_addr_port(const ax_addr *addr);

/* Sets the port of an IP address; AX_EAFNOSUPPORT for other families. */
AX_EXTERN int ax_addr_set_port(ax_addr *addr, uint16_t port);

/* 1 if both hold the same family, address, port (and scope / path), else 0
 * (also for NULL). IPv6 flow labels are ignored; Unix addresses compare by
 * name, whether or not len counts a path's terminator. */
AX_EXTERN int ax_addr_equal(const ax_addr *a, const ax_addr *b);

/* The scheme's name ("tcp"), or "" for AX_SCHEME_NONE. */
AX_EXTERN const char *ax_scheme_name(ax_scheme scheme);

#ifdef __cplusplus
}
#endif

#endif
