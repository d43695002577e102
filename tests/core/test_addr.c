/* ax_addr_*: parsing literals, formatting (scope ids kept), URIs from
 * addresses, the builders, accessors and equality. */
#include <arpa/inet.h>
#include <net/if.h>
#include <stddef.h>

#include "harness.h"

/* Formats addr and expects exactly want. */
#define CHECK_FMT(addr, want)                                                 \
    do {                                                                      \
        char b_[AX_ADDRSTRLEN];                                               \
        CHECK_EQ(ax_addr_format((addr), b_, sizeof b_), strlen(want));        \
        CHECK_STR(b_, (want));                                                \
    } while (0)

static const size_t sun_off = offsetof(struct sockaddr_un, sun_path);

static unsigned lo_index(void)
{
    unsigned i = if_nametoindex("lo");
    CHECK(i > 0);
    return i;
}

/* ---------------------------------------------------------- ax_addr_parse */

TEST(parse_ipv4)
{
    ax_addr a;
    CHECK_OK(ax_addr_parse("1.2.3.4:80", &a));
    CHECK_EQ(ax_addr_family(&a), AF_INET);
    CHECK_EQ(a.len, sizeof(struct sockaddr_in));
    CHECK_EQ(ntohl(a.u.in.sin_addr.s_addr), 0x01020304);
    CHECK_EQ(ax_addr_port(&a), 80);
    CHECK_FMT(&a, "1.2.3.4:80");
}

TEST(parse_ipv6_and_scope)
{
    ax_addr a;
    CHECK_OK(ax_addr_parse("[::1]:80", &a));
    CHECK_EQ(ax_addr_family(&a), AF_INET6);
    CHECK_EQ(a.len, sizeof(struct sockaddr_in6));
    CHECK_EQ(ax_addr_port(&a), 80);
    CHECK_EQ(a.u.in6.sin6_scope_id, 0);
    CHECK(IN6_IS_ADDR_LOOPBACK(&a.u.in6.sin6_addr));
    CHECK_FMT(&a, "[::1]:80");

    CHECK_OK(ax_addr_parse("[fe80::1%lo]:80", &a));
    CHECK_EQ(a.u.in6.sin6_scope_id, lo_index());
    CHECK_FMT(&a, "[fe80::1%lo]:80");
}

TEST(parse_uri_forms)
{
    ax_addr a;
    CHECK_OK(ax_addr_parse("udp://1.2.3.4:53", &a));
    CHECK_EQ(ax_addr_family(&a), AF_INET);
    CHECK_EQ(ax_addr_port(&a), 53);
    CHECK_OK(ax_addr_parse("tls://[2001:db8::2]:443", &a));
    CHECK_EQ(ax_addr_family(&a), AF_INET6);
    CHECK_OK(ax_addr_parse("unix:///run/x.sock", &a));
    CHECK_EQ(ax_addr_family(&a), AF_UNIX);
    CHECK_STR(a.u.un.sun_path, "/run/x.sock");
    CHECK_FMT(&a, "/run/x.sock");
    CHECK_OK(ax_addr_parse("unix://@name", &a));
    CHECK_EQ(a.len, sun_off + 5);
    CHECK_EQ(a.u.un.sun_path[0], '\0');
    CHECK_FMT(&a, "@name");
}

TEST(parse_rejects_names_and_fd)
{
    ax_addr a;
    memset(&a, 0x55, sizeof a);
    CHECK_EQ(ax_addr_parse("localhost:80", &a), AX_EINVAL);
    CHECK_ERRMSG("Invalid URI \"localhost:80\" given: host is not an IP literal (EINVAL)");
    CHECK_EQ(a.len, 0);
    CHECK_EQ(ax_addr_family(&a), AF_UNSPEC);
    CHECK_EQ(ax_addr_parse("tls://example.com:443", &a), AX_EINVAL);
    CHECK_ERRMSG("host is not an IP literal");
    CHECK_EQ(ax_addr_parse("fd://3", &a), AX_EINVAL);
    CHECK_ERRMSG("Invalid URI \"fd://3\" given: fd:// has no address");
}

TEST(parse_passes_uri_errors)
{
    ax_addr a;
    CHECK_EQ(ax_addr_parse("1.2.3.4:65536", &a), AX_EINVAL);
    CHECK_ERRMSG("port 65536 out of range");
    CHECK_EQ(ax_addr_parse("[fe80::1%nosuchif0]:1", &a), AX_ENODEV);
    CHECK_ERRMSG("unknown network interface \"nosuchif0\"");
    CHECK_EQ(ax_addr_parse(NULL, &a), AX_EINVAL);
    CHECK_EQ(a.len, 0);
    CHECK_EQ(ax_addr_parse("1.2.3.4:1", NULL), AX_EINVAL);
}

/* --------------------------------------------------------- ax_addr_format */

TEST(format_unix_variants)
{
    ax_addr a;
    memset(&a, 0, sizeof a);
    a.u.un.sun_family = AF_UNIX;
    a.len = (socklen_t)sun_off; /* unnamed, as getsockname() reports it */
    CHECK_FMT(&a, "");
    a.len = (socklen_t)sizeof a.u.un; /* zeroed sun_path, full length */
    CHECK_FMT(&a, "");

    /* A path without its terminator counted in len. */
    memcpy(a.u.un.sun_path, "/p", 2);
    a.len = (socklen_t)(sun_off + 2);
    CHECK_FMT(&a, "/p");

    /* An abstract name with a NUL byte inside shows it as '@'. */
    memset(&a.u.un.sun_path, 0, sizeof a.u.un.sun_path);
    memcpy(a.u.un.sun_path, "\0a\0b", 4);
    a.len = (socklen_t)(sun_off + 4);
    CHECK_FMT(&a, "@a@b");

    /* The longest path and abstract name fit AX_ADDRSTRLEN. */
    char name[120], buf[AX_ADDRSTRLEN];
    memset(name, 'a', 108);
    name[108] = '\0';
    name[0] = '@';
    CHECK_OK(ax_addr_from_unix(&a, name));
    CHECK_EQ(ax_addr_format(&a, buf, sizeof buf), 108);
    CHECK_STR(buf, name);
    name[0] = '/';
    name[107] = '\0';
    CHECK_OK(ax_addr_from_unix(&a, name));
    CHECK_EQ(ax_addr_format(&a, buf, sizeof buf), 107);
    CHECK_STR(buf, name);
}

TEST(format_numeric_scope)
{
    ax_addr a;
    char ifname[IF_NAMESIZE];
    CHECK_OK(ax_addr_from_ip(&a, "fe80::2%4000000000", 7));
    CHECK(if_indextoname(4000000000u, ifname) == NULL);
    CHECK_FMT(&a, "[fe80::2%4000000000]:7");
    CHECK_OK(ax_addr_from_ip(&a, "fe80::2%1", 7));
    CHECK(if_indextoname(1, ifname) != NULL);
    char want[64];
    snprintf(want, sizeof want, "[fe80::2%%%s]:7", ifname);
    CHECK_FMT(&a, want);
}

TEST(format_longest_ipv6)
{
    ax_addr a;
    CHECK_OK(ax_addr_from_ip(&a, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295",
                             65535));
    char buf[AX_ADDRSTRLEN];
    int n = CHECK_OK(ax_addr_format(&a, buf, sizeof buf));
    CHECK(n < AX_ADDRSTRLEN);
    CHECK_STR(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
}

TEST(format_too_small)
{
    ax_addr a;
    char buf[16];
    CHECK_OK(ax_addr_parse("1.2.3.4:80", &a));
    CHECK_EQ(ax_addr_format(&a, buf, 11), 10);
    CHECK_STR(buf, "1.2.3.4:80");
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(ax_addr_format(&a, buf, 10), AX_ENOSPC);
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(buf[10], 'x');
    CHECK_ERRMSG("Cannot format address into 10 bytes: 11 needed (ENOSPC)");
    CHECK_EQ(ax_addr_format(&a, NULL, 0), AX_ENOSPC);

    CHECK_OK(ax_addr_parse("[fe80::1%lo]:80", &a));
    CHECK_EQ(ax_addr_format(&a, buf, 15), AX_ENOSPC); /* 15 characters */
    CHECK_EQ(ax_addr_format(&a, buf, 16), 15);
    CHECK_STR(buf, "[fe80::1%lo]:80");

    /* An unnamed Unix address needs just the terminator. */
    memset(&a, 0, sizeof a);
    a.u.un.sun_family = AF_UNIX;
    a.len = (socklen_t)sun_off;
    CHECK_EQ(ax_addr_format(&a, buf, 1), 0);
    CHECK_EQ(ax_addr_format(&a, buf, 0), AX_ENOSPC);
}

TEST(format_unsupported)
{
    ax_addr a;
    char buf[AX_ADDRSTRLEN];
    memset(&a, 0, sizeof a);
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(ax_addr_format(&a, buf, sizeof buf), AX_EAFNOSUPPORT);
    CHECK_ERRMSG("family 0 (EAFNOSUPPORT)");
    a.u.sa.sa_family = AF_PACKET;
    a.len = 20;
    CHECK_EQ(ax_addr_format(&a, buf, sizeof buf), AX_EAFNOSUPPORT);
    /* An IPv6 family with a short length is not read past len. */
    a.u.sa.sa_family = AF_INET6;
    a.len = (socklen_t)sizeof(struct sockaddr_in);
    CHECK_EQ(ax_addr_format(&a, buf, sizeof buf), AX_EINVAL);
    CHECK_EQ(ax_addr_format(NULL, buf, sizeof buf), AX_EINVAL);
    CHECK_OK(ax_addr_parse("1.2.3.4:1", &a));
    CHECK_EQ(ax_addr_format(&a, NULL, 4), AX_EINVAL);
}

/* --------------------------------------------------------- ax_addr_to_uri */

TEST(to_uri)
{
    ax_addr a;
    char buf[AX_URISTRLEN];
    CHECK_OK(ax_addr_parse("127.0.0.1:8080", &a));
    CHECK_EQ(ax_addr_to_uri(&a, AX_SCHEME_TCP, buf, sizeof buf), 20);
    CHECK_STR(buf, "tcp://127.0.0.1:8080");
    CHECK_OK(ax_addr_to_uri(&a, AX_SCHEME_TLS, buf, sizeof buf));
    CHECK_STR(buf, "tls://127.0.0.1:8080");
    CHECK_OK(ax_addr_parse("[::1]:53", &a));
    CHECK_OK(ax_addr_to_uri(&a, AX_SCHEME_UDP, buf, sizeof buf));
    CHECK_STR(buf, "udp://[::1]:53");
    CHECK_OK(ax_addr_parse("[fe80::1%lo]:53", &a));
    CHECK_OK(ax_addr_to_uri(&a, AX_SCHEME_UDP, buf, sizeof buf));
    CHECK_STR(buf, "udp://[fe80::1%lo]:53");

    CHECK_OK(ax_addr_from_unix(&a, "/run/x.sock"));
    CHECK_OK(ax_addr_to_uri(&a, AX_SCHEME_UNIX, buf, sizeof buf));
    CHECK_STR(buf, "unix:///run/x.sock");
    CHECK_OK(ax_addr_from_unix(&a, "@name"));
    CHECK_OK(ax_addr_to_uri(&a, AX_SCHEME_UNIX, buf, sizeof buf));
    CHECK_STR(buf, "unix://@name");
    a.len = (socklen_t)sun_off;
    CHECK_EQ(ax_addr_to_uri(&a, AX_SCHEME_UNIX, buf, sizeof buf), 7);
    CHECK_STR(buf, "unix://");
}

TEST(to_uri_mismatch)
{
    ax_addr ip, un, empty;
    char buf[AX_URISTRLEN];
    memset(&empty, 0, sizeof empty);
    CHECK_OK(ax_addr_parse("1.2.3.4:1", &ip));
    CHECK_OK(ax_addr_from_unix(&un, "/x"));
    CHECK_EQ(ax_addr_to_uri(&ip, AX_SCHEME_UNIX, buf, sizeof buf), AX_EINVAL);
    CHECK_ERRMSG("IP address as a unix:// URI");
    CHECK_EQ(ax_addr_to_uri(&un, AX_SCHEME_TCP, buf, sizeof buf), AX_EINVAL);
    CHECK_ERRMSG("Unix address as a tcp:// URI");
    CHECK_EQ(ax_addr_to_uri(&un, AX_SCHEME_UDP, buf, sizeof buf), AX_EINVAL);
    CHECK_EQ(ax_addr_to_uri(&un, AX_SCHEME_TLS, buf, sizeof buf), AX_EINVAL);
    CHECK_EQ(ax_addr_to_uri(&ip, AX_SCHEME_FD, buf, sizeof buf), AX_EINVAL);
    CHECK_EQ(ax_addr_to_uri(&ip, AX_SCHEME_NONE, buf, sizeof buf), AX_EINVAL);
    CHECK_EQ(ax_addr_to_uri(&ip, (ax_scheme)42, buf, sizeof buf), AX_EINVAL);
    CHECK_EQ(ax_addr_to_uri(&empty, AX_SCHEME_TCP, buf, sizeof buf), AX_EAFNOSUPPORT);
    CHECK_EQ(ax_addr_to_uri(&empty, AX_SCHEME_UNIX, buf, sizeof buf), AX_EAFNOSUPPORT);
    CHECK_EQ(ax_addr_to_uri(NULL, AX_SCHEME_TCP, buf, sizeof buf), AX_EINVAL);
    CHECK_EQ(ax_addr_to_uri(&ip, AX_SCHEME_TCP, buf, 13), AX_ENOSPC);
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(ax_addr_to_uri(&ip, AX_SCHEME_TCP, buf, 16), 15);
}

/* -------------------------------------------------------------- builders */

TEST(from_ip)
{
    ax_addr a;
    CHECK_OK(ax_addr_from_ip(&a, "10.0.0.1", 443));
    CHECK_EQ(ax_addr_family(&a), AF_INET);
    CHECK_EQ(ax_addr_port(&a), 443);
    CHECK_FMT(&a, "10.0.0.1:443");
    CHECK_OK(ax_addr_from_ip(&a, "::", 0));
    CHECK_FMT(&a, "[::]:0");
    CHECK_OK(ax_addr_from_ip(&a, "fe80::1%lo", 80));
    CHECK_EQ(a.u.in6.sin6_scope_id, lo_index());
    CHECK_FMT(&a, "[fe80::1%lo]:80");
    CHECK_OK(ax_addr_from_ip(&a, "fe80::1%2", 80));
    CHECK_EQ(a.u.in6.sin6_scope_id, 2);
}

TEST(from_ip_zeroes_everything)
{
    ax_addr a, b;
    memset(&a, 0xab, sizeof a);
    CHECK_OK(ax_addr_from_ip(&a, "1.2.3.4", 5));
    memset(&b, 0, sizeof b);
    b.u.in.sin_family = AF_INET;
    b.u.in.sin_port = htons(5);
    b.u.in.sin_addr.s_addr = htonl(0x01020304);
    b.len = (socklen_t)sizeof b.u.in;
    CHECK(memcmp(&a, &b, sizeof a) == 0);
}

TEST(from_ip_errors)
{
    ax_addr a;
    CHECK_EQ(ax_addr_from_ip(&a, "[::1]", 1), AX_EINVAL);
    CHECK_ERRMSG(
        "Invalid IP address \"[::1]\" given: write the address without brackets (EINVAL)");
    CHECK_EQ(a.len, 0);
    CHECK_EQ(ax_addr_from_ip(&a, "example.com", 1), AX_EINVAL);
    CHECK_ERRMSG("\"example.com\" is not an IP address");
    CHECK_EQ(ax_addr_from_ip(&a, "", 1), AX_EINVAL);
    CHECK_ERRMSG("empty IP address");
    CHECK_EQ(ax_addr_from_ip(&a, "1.2.3.256", 1), AX_EINVAL);
    CHECK_ERRMSG("invalid IPv4 address \"1.2.3.256\"");
    CHECK_EQ(ax_addr_from_ip(&a, "1::2::3", 1), AX_EINVAL);
    CHECK_ERRMSG("invalid IPv6 address \"1::2::3\"");
    CHECK_EQ(ax_addr_from_ip(&a, "1.2.3.4%lo", 1), AX_EINVAL);
    CHECK_ERRMSG("scope id \"%lo\" is only allowed on IPv6 addresses");
    CHECK_EQ(ax_addr_from_ip(&a, "fe80::1%", 1), AX_EINVAL);
    CHECK_ERRMSG("empty scope id");
    CHECK_EQ(ax_addr_from_ip(&a, "fe80::1%nosuchif0", 1), AX_ENODEV);
    CHECK_ERRMSG("unknown network interface \"nosuchif0\" (ENODEV)");
    CHECK_EQ(a.len, 0);
    CHECK_EQ(ax_addr_from_ip(&a, "fe80::1%99999999999", 1), AX_EINVAL);
    CHECK_ERRMSG("scope id 99999999999 out of range");
    CHECK_EQ(ax_addr_from_ip(&a, NULL, 1), AX_EINVAL);
    CHECK_EQ(ax_addr_from_ip(NULL, "1.2.3.4", 1), AX_EINVAL);
}

TEST(from_unix)
{
    ax_addr a;
    CHECK_OK(ax_addr_from_unix(&a, "/p"));
    CHECK_EQ(ax_addr_family(&a), AF_UNIX);
    CHECK_EQ(a.len, sun_off + 3);
    CHECK_STR(a.u.un.sun_path, "/p");
    CHECK_OK(ax_addr_from_unix(&a, "@name"));
    CHECK_EQ(a.len, sun_off + 1 + 4);
    CHECK_EQ(a.u.un.sun_path[0], '\0');
    CHECK(memcmp(a.u.un.sun_path + 1, "name", 4) == 0);
    CHECK_EQ(ax_addr_port(&a), 0);

    char path[200];
    memset(path, 'p', 107);
    path[107] = '\0';
    CHECK_OK(ax_addr_from_unix(&a, path));
    CHECK_EQ(a.len, sizeof(struct sockaddr_un));
    path[107] = 'p';
    path[108] = '\0';
    CHECK_EQ(ax_addr_from_unix(&a, path), AX_ENAMETOOLONG);
    CHECK_ERRMSG("Unix socket path is 108 bytes long, but sun_path holds at most 107 "
                 "(ENAMETOOLONG)");
    CHECK_EQ(a.len, 0);
    path[0] = '@';
    CHECK_OK(ax_addr_from_unix(&a, path)); /* '@' and a 107-byte name */
    CHECK_EQ(a.len, sizeof(struct sockaddr_un));
    path[108] = 'p';
    path[109] = '\0';
    CHECK_EQ(ax_addr_from_unix(&a, path), AX_ENAMETOOLONG);
    CHECK_ERRMSG("abstract socket name is 108 bytes long");
}

TEST(from_unix_errors)
{
    ax_addr a;
    CHECK_EQ(ax_addr_from_unix(&a, ""), AX_EINVAL);
    CHECK_ERRMSG("Invalid Unix socket path \"\" given: empty Unix socket path (EINVAL)");
    CHECK_EQ(ax_addr_from_unix(&a, "@"), AX_EINVAL);
    CHECK_ERRMSG("empty abstract socket name");
    CHECK_EQ(ax_addr_from_unix(&a, NULL), AX_EINVAL);
    CHECK_EQ(ax_addr_from_unix(NULL, "/p"), AX_EINVAL);
}

/* ----------------------------------------------------------- accessors */

TEST(family_and_port)
{
    ax_addr a;
    memset(&a, 0, sizeof a);
    CHECK_EQ(ax_addr_family(&a), AF_UNSPEC);
    CHECK_EQ(ax_addr_family(NULL), AF_UNSPEC);
    CHECK_EQ(ax_addr_port(&a), 0);
    CHECK_EQ(ax_addr_port(NULL), 0);
    a.u.sa.sa_family = AF_INET; /* len 0 still means empty */
    CHECK_EQ(ax_addr_family(&a), AF_UNSPEC);
}

TEST(set_port)
{
    ax_addr a;
    CHECK_OK(ax_addr_parse("1.2.3.4:1", &a));
    CHECK_OK(ax_addr_set_port(&a, 65535));
    CHECK_EQ(ax_addr_port(&a), 65535);
    CHECK_FMT(&a, "1.2.3.4:65535");
    CHECK_OK(ax_addr_parse("[fe80::1%lo]:1", &a));
    CHECK_OK(ax_addr_set_port(&a, 0));
    CHECK_EQ(ax_addr_port(&a), 0);
    CHECK_FMT(&a, "[fe80::1%lo]:0");

    CHECK_OK(ax_addr_from_unix(&a, "/p"));
    CHECK_EQ(ax_addr_set_port(&a, 80), AX_EAFNOSUPPORT);
    CHECK_ERRMSG("Cannot set port 80 on a Unix address (EAFNOSUPPORT)");
    CHECK_STR(a.u.un.sun_path, "/p");
    memset(&a, 0, sizeof a);
    CHECK_EQ(ax_addr_set_port(&a, 80), AX_EAFNOSUPPORT);
    CHECK_EQ(ax_addr_set_port(NULL, 80), AX_EAFNOSUPPORT);
}

TEST(equal)
{
    ax_addr a, b;
    CHECK_OK(ax_addr_parse("1.2.3.4:80", &a));
    CHECK_OK(ax_addr_from_ip(&b, "1.2.3.4", 80));
    CHECK(ax_addr_equal(&a, &b));
    CHECK_OK(ax_addr_set_port(&b, 81));
    CHECK(!ax_addr_equal(&a, &b));
    CHECK_OK(ax_addr_from_ip(&b, "1.2.3.5", 80));
    CHECK(!ax_addr_equal(&a, &b));
    CHECK_OK(ax_addr_from_ip(&b, "::ffff:1.2.3.4", 80));
    CHECK(!ax_addr_equal(&a, &b));

    CHECK_OK(ax_addr_parse("[fe80::1%lo]:80", &a));
    CHECK_OK(ax_addr_from_ip(&b, "fe80::1", 80));
    CHECK(!ax_addr_equal(&a, &b)); /* the scope counts */
    b.u.in6.sin6_scope_id = lo_index();
    CHECK(ax_addr_equal(&a, &b));
    b.u.in6.sin6_flowinfo = htonl(5); /* the flow label does not */
    CHECK(ax_addr_equal(&a, &b));

    CHECK(!ax_addr_equal(&a, NULL));
    CHECK(!ax_addr_equal(NULL, &a));
}

TEST(equal_unix)
{
    ax_addr a, b;
    CHECK_OK(ax_addr_from_unix(&a, "/p"));
    CHECK_OK(ax_addr_parse("unix:///p", &b));
    CHECK(ax_addr_equal(&a, &b));
    b.len--; /* the same path without its terminator counted */
    CHECK(ax_addr_equal(&a, &b));
    CHECK_OK(ax_addr_from_unix(&b, "/q"));
    CHECK(!ax_addr_equal(&a, &b));
    CHECK_OK(ax_addr_from_unix(&b, "/p/"));
    CHECK(!ax_addr_equal(&a, &b));

    CHECK_OK(ax_addr_from_unix(&a, "@p"));
    CHECK_OK(ax_addr_parse("unix://@p", &b));
    CHECK(ax_addr_equal(&a, &b));
    CHECK_OK(ax_addr_from_unix(&b, "p"));
    CHECK(!ax_addr_equal(&a, &b)); /* abstract "p" is not the path "p" */
    CHECK_OK(ax_addr_from_unix(&b, "@pp"));
    CHECK(!ax_addr_equal(&a, &b));

    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    CHECK(ax_addr_equal(&a, &b)); /* both empty */
    a.u.un.sun_family = b.u.un.sun_family = AF_UNIX;
    a.len = (socklen_t)sun_off;
    b.len = (socklen_t)sizeof b.u.un;
    CHECK(ax_addr_equal(&a, &b)); /* both unnamed */
    CHECK_OK(ax_addr_parse("1.2.3.4:1", &b));
    CHECK(!ax_addr_equal(&a, &b));
}

TEST(round_trips)
{
    static const char *const texts[] = {
        "0.0.0.0:0", "255.255.255.255:65535", "[::]:1", "[2001:db8::1]:53",
        "[fe80::1%lo]:80", "[fe80::1%4000000000]:80", "[::ffff:1.2.3.4]:9",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        ax_addr a, b;
        char t[AX_ADDRSTRLEN], u[AX_URISTRLEN];
        CHECK_OK(ax_addr_parse(texts[i], &a));
        CHECK_OK(ax_addr_format(&a, t, sizeof t));
        CHECK_STR(t, texts[i]);
        CHECK_OK(ax_addr_parse(t, &b));
        CHECK(ax_addr_equal(&a, &b));
        CHECK_OK(ax_addr_to_uri(&a, AX_SCHEME_UDP, u, sizeof u));
        CHECK_OK(ax_addr_parse(u, &b));
        CHECK(ax_addr_equal(&a, &b));
    }
    static const char *const names[] = {"/run/x.sock", "rel.sock", "@abstract", "@a b"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ax_addr a, b;
        char t[AX_ADDRSTRLEN], u[AX_URISTRLEN];
        CHECK_OK(ax_addr_from_unix(&a, names[i]));
        CHECK_OK(ax_addr_format(&a, t, sizeof t));
        CHECK_STR(t, names[i]);
        CHECK_OK(ax_addr_to_uri(&a, AX_SCHEME_UNIX, u, sizeof u));
        CHECK_OK(ax_addr_parse(u, &b));
        CHECK(ax_addr_equal(&a, &b));
        CHECK_EQ(a.len, b.len);
    }
}

TEST(scheme_names)
{
    CHECK_STR(ax_scheme_name(AX_SCHEME_NONE), "");
    CHECK_STR(ax_scheme_name(AX_SCHEME_TCP), "tcp");
    CHECK_STR(ax_scheme_name(AX_SCHEME_UDP), "udp");
    CHECK_STR(ax_scheme_name(AX_SCHEME_UNIX), "unix");
    CHECK_STR(ax_scheme_name(AX_SCHEME_TLS), "tls");
    CHECK_STR(ax_scheme_name(AX_SCHEME_FD), "fd");
    CHECK_STR(ax_scheme_name((ax_scheme)99), "");
}
