/* ax_uri_parse() and ax_uri_format(): every accepted form field by field,
 * every malformed form with its code and message, and round trips. */
#include <arpa/inet.h>
#include <limits.h>
#include <net/if.h>
#include <stddef.h>

#include "core/internal.h"
#include "harness.h"

/* Parses text, expecting failure with code; checks that the message quotes
 * the text in the fixed form and names the problem (sub). */
#define CHECK_BAD(text, want, sub)                                            \
    do {                                                                      \
        ax_uri u_;                                                            \
        CHECK_EQ(ax_uri_parse((text), &u_), (want));                          \
        CHECK_EQ(ax_last_error()->code, (want));                              \
        char pre_[AX_ERROR_MAX];                                              \
        snprintf(pre_, sizeof pre_, "Invalid URI \"%s\" given: ", (text));    \
        CHECK_ERRMSG(pre_);                                                   \
        CHECK(strncmp(ax_last_error()->message, pre_, strlen(pre_)) == 0);    \
        CHECK_ERRMSG(sub);                                                    \
        char tail_[32];                                                       \
        snprintf(tail_, sizeof tail_, " (%s)", ax_errname(want));             \
        size_t ml_ = strlen(ax_last_error()->message);                        \
        CHECK(ml_ > strlen(tail_) &&                                          \
              strcmp(ax_last_error()->message + ml_ - strlen(tail_), tail_) == 0); \
        /* A failed parse leaves the output cleared. */                       \
        CHECK_EQ(u_.kind, AX_HOST_NONE);                                      \
        CHECK_EQ(u_.addr.len, 0);                                             \
        CHECK_EQ(u_.fd, -1);                                                  \
    } while (0)

/* Parses text and formats it again, expecting the canonical form. */
#define CHECK_CANON(text, canon)                                              \
    do {                                                                      \
        ax_uri u_;                                                            \
        char b_[AX_URISTRLEN];                                                \
        CHECK_OK(ax_uri_parse((text), &u_));                                  \
        CHECK_EQ(ax_uri_format(&u_, b_, sizeof b_), strlen(canon));           \
        CHECK_STR(b_, (canon));                                               \
    } while (0)

/* 63 letters: the longest DNS label. */
#define LABEL63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static char *repeat(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

/* ------------------------------------------------------- accepted forms */

TEST(tcp_ipv4)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("tcp://1.2.3.4:80", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_TCP);
    CHECK_EQ(u.scheme_given, 1);
    CHECK_EQ(u.kind, AX_HOST_IPV4);
    CHECK_STR(u.host, "1.2.3.4");
    CHECK_EQ(u.port, 80);
    CHECK_EQ(u.fd, -1);
    CHECK_EQ(u.addr.len, sizeof(struct sockaddr_in));
    CHECK_EQ(u.addr.u.in.sin_family, AF_INET);
    CHECK_EQ(ntohs(u.addr.u.in.sin_port), 80);
    CHECK_EQ(ntohl(u.addr.u.in.sin_addr.s_addr), 0x01020304);
}

TEST(udp_ipv6)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("udp://[2001:db8::1]:53", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_UDP);
    CHECK_EQ(u.scheme_given, 1);
    CHECK_EQ(u.kind, AX_HOST_IPV6);
    CHECK_STR(u.host, "2001:db8::1");
    CHECK_EQ(u.port, 53);
    CHECK_EQ(u.addr.len, sizeof(struct sockaddr_in6));
    CHECK_EQ(u.addr.u.in6.sin6_family, AF_INET6);
    CHECK_EQ(ntohs(u.addr.u.in6.sin6_port), 53);
    CHECK_EQ(u.addr.u.in6.sin6_scope_id, 0);
    struct in6_addr want;
    CHECK_EQ(inet_pton(AF_INET6, "2001:db8::1", &want), 1);
    CHECK(memcmp(&want, &u.addr.u.in6.sin6_addr, sizeof want) == 0);
}

TEST(ipv6_scope_by_name)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("[fe80::1%lo]:80", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_TCP);
    CHECK_EQ(u.scheme_given, 0);
    CHECK_EQ(u.kind, AX_HOST_IPV6);
    CHECK_STR(u.host, "fe80::1"); /* the scope lives in addr, not host */
    CHECK_EQ(u.port, 80);
    CHECK(if_nametoindex("lo") > 0);
    CHECK_EQ(u.addr.u.in6.sin6_scope_id, if_nametoindex("lo"));
}

TEST(ipv6_scope_by_number)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("tcp://[fe80::1%2]:8080", &u));
    CHECK_EQ(u.addr.u.in6.sin6_scope_id, 2);
    CHECK_EQ(u.port, 8080);
    CHECK_OK(ax_uri_parse("tcp://[fe80::1%4294967295]:1", &u));
    CHECK_EQ(u.addr.u.in6.sin6_scope_id, 4294967295u);
}

TEST(bare_host_port_is_tcp)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("example.com:8080", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_TCP);
    CHECK_EQ(u.scheme_given, 0);
    CHECK_EQ(u.kind, AX_HOST_NAME);
    CHECK_STR(u.host, "example.com");
    CHECK_EQ(u.port, 8080);
    CHECK_EQ(u.addr.len, 0);
    CHECK_EQ(u.fd, -1);

    CHECK_OK(ax_uri_parse("1.2.3.4:0", &u));
    CHECK_EQ(u.scheme_given, 0);
    CHECK_EQ(u.kind, AX_HOST_IPV4);
    CHECK_EQ(u.port, 0);
}

TEST(localhost_is_a_name)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("tcp://localhost:80", &u));
    CHECK_EQ(u.kind, AX_HOST_NAME);
    CHECK_STR(u.host, "localhost");
    CHECK_EQ(u.addr.len, 0);
}

TEST(tls_name)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("tls://host:443", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_TLS);
    CHECK_EQ(u.kind, AX_HOST_NAME);
    CHECK_STR(u.host, "host");
    CHECK_EQ(u.port, 443);
}

TEST(unix_path)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("unix:///run/x.sock", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_UNIX);
    CHECK_EQ(u.scheme_given, 1);
    CHECK_EQ(u.kind, AX_HOST_PATH);
    CHECK_STR(u.host, "/run/x.sock");
    CHECK_EQ(u.port, 0);
    CHECK_EQ(u.fd, -1);
    CHECK_EQ(u.addr.u.un.sun_family, AF_UNIX);
    CHECK_STR(u.addr.u.un.sun_path, "/run/x.sock");
    CHECK_EQ(u.addr.len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/x.sock") + 1);
}

TEST(unix_relative_path)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("unix://x.sock", &u));
    CHECK_EQ(u.kind, AX_HOST_PATH);
    CHECK_STR(u.host, "x.sock");
    CHECK_STR(u.addr.u.un.sun_path, "x.sock");
    /* ':' and '?' are ordinary path characters here. */
    CHECK_OK(ax_uri_parse("unix:///tmp/a:1?b c", &u));
    CHECK_STR(u.host, "/tmp/a:1?b c");
}

TEST(unix_abstract)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("unix://@name", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_UNIX);
    CHECK_EQ(u.kind, AX_HOST_ABSTRACT);
    CHECK_STR(u.host, "@name");
    CHECK_EQ(u.addr.u.un.sun_family, AF_UNIX);
    CHECK_EQ(u.addr.u.un.sun_path[0], '\0');
    CHECK(memcmp(u.addr.u.un.sun_path + 1, "name", 4) == 0);
    CHECK_EQ(u.addr.len, offsetof(struct sockaddr_un, sun_path) + 1 + 4);
}

TEST(unix_longest_fits)
{
    char text[200], path[120];
    ax_uri u;
    repeat(path, 'p', 107);
    path[0] = '/';
    snprintf(text, sizeof text, "unix://%s", path);
    CHECK_OK(ax_uri_parse(text, &u));
    CHECK_STR(u.host, path);
    CHECK_EQ(u.addr.len, sizeof(struct sockaddr_un));
    snprintf(text, sizeof text, "unix://@%s", repeat(path, 'a', 107));
    CHECK_OK(ax_uri_parse(text, &u));
    CHECK_EQ(u.addr.len, sizeof(struct sockaddr_un));
}

TEST(fd_number)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("fd://3", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_FD);
    CHECK_EQ(u.kind, AX_HOST_NONE);
    CHECK_EQ(u.fd, 3);
    CHECK_STR(u.host, "");
    CHECK_EQ(u.port, 0);
    CHECK_EQ(u.addr.len, 0);
    CHECK_OK(ax_uri_parse("fd://0", &u));
    CHECK_EQ(u.fd, 0);
    CHECK_OK(ax_uri_parse("fd://2147483647", &u));
    CHECK_EQ(u.fd, INT_MAX);
}

TEST(port_bounds)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("tcp://1.2.3.4:0", &u));
    CHECK_EQ(u.port, 0);
    CHECK_OK(ax_uri_parse("tcp://1.2.3.4:65535", &u));
    CHECK_EQ(u.port, 65535);
    CHECK_EQ(ntohs(u.addr.u.in.sin_port), 65535);
}

TEST(scheme_case_insensitive)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("TCP://1.2.3.4:80", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_TCP);
    CHECK_OK(ax_uri_parse("Udp://[::1]:53", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_UDP);
    CHECK_OK(ax_uri_parse("UNIX:///x", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_UNIX);
    CHECK_OK(ax_uri_parse("Tls://h:1", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_TLS);
    CHECK_OK(ax_uri_parse("FD://7", &u));
    CHECK_EQ(u.scheme, AX_SCHEME_FD);
}

TEST(host_names)
{
    char text[400], host[320];
    ax_uri u;
    CHECK_OK(ax_uri_parse("tcp://my_host-1.example.com.:80", &u));
    CHECK_EQ(u.kind, AX_HOST_NAME);
    CHECK_STR(u.host, "my_host-1.example.com.");

    /* One 63-character label is fine. */
    snprintf(text, sizeof text, "tcp://%s.com:1", repeat(host, 'a', 63));
    CHECK_OK(ax_uri_parse(text, &u));

    /* 253 characters in all, and again with the optional final dot. */
    for (int i = 0; i < 4; i++)
        memcpy(host + i * 64, LABEL63 ".", 64);
    host[253] = '\0';
    CHECK_EQ(strlen(host), 253);
    snprintf(text, sizeof text, "tcp://%s:1", host);
    CHECK_OK(ax_uri_parse(text, &u));
    CHECK_STR(u.host, host);
    snprintf(text, sizeof text, "tcp://%s.:1", host);
    CHECK_OK(ax_uri_parse(text, &u));
    CHECK_EQ(strlen(u.host), 254);
}

TEST(ipv4_mapped_ipv6)
{
    ax_uri u;
    CHECK_OK(ax_uri_parse("[::FFFF:1.2.3.4]:9", &u));
    CHECK_EQ(u.kind, AX_HOST_IPV6);
    CHECK_STR(u.host, "::ffff:1.2.3.4");
    CHECK_OK(ax_uri_parse("[0:0:0:0:0:0:0:1]:9", &u));
    CHECK_STR(u.host, "::1"); /* host holds the canonical text */
}

/* ---------------------------------------------------------- malformed */

TEST(bad_empty_and_null)
{
    ax_uri u;
    CHECK_BAD("", AX_EINVAL, "empty URI");
    CHECK_EQ(ax_uri_parse(NULL, &u), AX_EINVAL);
    CHECK_ERRMSG("Invalid URI (null) given: URI is NULL (EINVAL)");
    CHECK_EQ(u.fd, -1);
    CHECK_EQ(ax_uri_parse("tcp://1.2.3.4:80", NULL), AX_EINVAL);
}

TEST(bad_host)
{
    CHECK_BAD("tcp://", AX_EINVAL, "given: empty host (EINVAL)");
    CHECK_BAD("tcp://:", AX_EINVAL, "given: empty host (EINVAL)");
    /* A port alone: say the host is missing and show forms that work. */
    CHECK_BAD("tcp://:80", AX_EINVAL,
              "given: missing host before port 80; give an address too, such as 0.0.0.0:80 or "
              "[::]:80 (every interface) or 127.0.0.1:80 (EINVAL)");
    CHECK_BAD(":80", AX_EINVAL, "missing host before port 80");
    CHECK_BAD("8080", AX_EINVAL,
              "Invalid URI \"8080\" given: missing host before port 8080; give an address too, "
              "such as 0.0.0.0:8080 or [::]:8080 (every interface) or 127.0.0.1:8080 (EINVAL)");
    CHECK_BAD("udp://53", AX_EINVAL, "missing host before port 53");
    CHECK_BAD("123456", AX_EINVAL, "invalid IPv4 address \"123456\"");
    CHECK_BAD("tcp://bad host:80", AX_EINVAL, "invalid character \" \" in host name");
    CHECK_BAD("tcp://a/b:80", AX_EINVAL, "invalid character \"/\" in host name");
    CHECK_BAD("tcp://a..b:80", AX_EINVAL, "empty label in host name \"a..b\"");
    CHECK_BAD("tcp://.a:80", AX_EINVAL, "empty label");
    CHECK_BAD("tcp://a..:80", AX_EINVAL, "empty label");
    CHECK_BAD("tcp://.:80", AX_EINVAL, "empty label");
    CHECK_BAD("]:80", AX_EINVAL, "invalid character \"]\"");
    CHECK_BAD("tcp://h%lo:80", AX_EINVAL, "invalid character \"%\"");
}

TEST(bad_host_lengths)
{
    char text[400], host[320];
    snprintf(text, sizeof text, "tcp://%s.com:1", repeat(host, 'a', 64));
    CHECK_BAD(text, AX_EINVAL, "label longer than 63 characters");
    for (int i = 0; i < 4; i++)
        memcpy(host + i * 64, LABEL63 ".", 64);
    host[254] = '\0';
    host[253] = 'b';
    snprintf(text, sizeof text, "tcp://%s:1", host);
    /* Too long to be quoted whole (see message_long_input_is_cut). */
    ax_uri u;
    CHECK_EQ(ax_uri_parse(text, &u), AX_EINVAL);
    CHECK_ERRMSG("Invalid URI \"tcp://aaaa");
    CHECK_ERRMSG("...\" given: host name is 254 characters long, longer than 253 (EINVAL)");
    snprintf(text, sizeof text, "tcp://%s:1", repeat(host, 'a', 300));
    CHECK_EQ(ax_uri_parse(text, &u), AX_EINVAL);
    CHECK_ERRMSG("label longer than 63");
}

TEST(bad_port)
{
    CHECK_BAD("tcp://1.2.3.4:65536", AX_EINVAL, "port 65536 out of range");
    CHECK_BAD("tcp://1.2.3.4:99999999999999999999", AX_EINVAL,
              "port 99999999999999999999 out of range");
    CHECK_BAD("tcp://1.2.3.4:8x", AX_EINVAL, "invalid port \"8x\"");
    CHECK_BAD("tcp://1.2.3.4:-1", AX_EINVAL, "invalid port \"-1\"");
    CHECK_BAD("tcp://1.2.3.4:", AX_EINVAL, "missing port");
    CHECK_BAD("tcp://1.2.3.4", AX_EINVAL, "missing port");
    CHECK_BAD("tcp://[::1]", AX_EINVAL, "missing port");
    CHECK_BAD("udp://host", AX_EINVAL, "missing port");
    CHECK_BAD("tls://host", AX_EINVAL, "missing port");
    CHECK_BAD("localhost", AX_EINVAL, "missing port");
}

TEST(bad_brackets)
{
    CHECK_BAD("tcp://[::1", AX_EINVAL, "missing \"]\" after IPv6 address");
    CHECK_BAD("[::1%", AX_EINVAL, "missing \"]\"");
    CHECK_BAD("[", AX_EINVAL, "missing \"]\"");
    CHECK_BAD("[]", AX_EINVAL, "empty IPv6 address in \"[]\"");
    CHECK_BAD("[]:80", AX_EINVAL, "empty IPv6 address");
    CHECK_BAD("tcp://[1.2.3.4]:80", AX_EINVAL, "\"1.2.3.4\" is not an IPv6 address");
    CHECK_BAD("tcp://[example.com]:80", AX_EINVAL, "\"example.com\" is not an IPv6 address");
    CHECK_BAD("tcp://[::g]:80", AX_EINVAL, "invalid IPv6 address \"::g\"");
    CHECK_BAD("tcp://[::1]x", AX_EINVAL, "unexpected \"x\" after \"]\"");
    CHECK_BAD("tcp://[::1]]:80", AX_EINVAL, "unexpected \"]:80\" after \"]\"");
}

TEST(bad_ipv6_without_brackets)
{
    CHECK_BAD("tcp://::1:80", AX_EINVAL, "IPv6 address must be in brackets");
    CHECK_BAD("2001:db8::1:53", AX_EINVAL, "IPv6 address must be in brackets");
    CHECK_BAD("fe80::1%lo:80", AX_EINVAL, "must be in brackets");
    CHECK_BAD("tcp://::1", AX_EINVAL, "must be in brackets");
}

TEST(bad_ipv4)
{
    CHECK_BAD("tcp://1.2.3.256:80", AX_EINVAL, "invalid IPv4 address \"1.2.3.256\"");
    CHECK_BAD("tcp://1.2.3:80", AX_EINVAL, "invalid IPv4 address \"1.2.3\"");
    CHECK_BAD("tcp://1.2.3.4.:80", AX_EINVAL, "invalid IPv4 address");
    CHECK_BAD("tcp://01.2.3.4:80", AX_EINVAL, "invalid IPv4 address");
    CHECK_BAD("tcp://1.2.3.4%lo:80", AX_EINVAL,
              "scope id \"%lo\" is only allowed on IPv6 addresses");
    CHECK_BAD("[1.2.3.4%lo]:80", AX_EINVAL, "is not an IPv6 address");
}

TEST(bad_scope)
{
    CHECK_BAD("[fe80::1%]:80", AX_EINVAL, "empty scope id after \"%\"");
    CHECK_BAD("[fe80::1%4294967296]:80", AX_EINVAL, "scope id 4294967296 out of range");
    CHECK_BAD("[fe80::1%nosuchif0]:80", AX_ENODEV, "unknown network interface \"nosuchif0\"");
    CHECK_BAD("[fe80::1%averyveryverylongifname]:80", AX_ENODEV,
              "unknown network interface \"averyveryverylongifname\"");
}

TEST(bad_scheme)
{
    CHECK_BAD("xyz://a:1", AX_EINVAL, "No connector available for URI scheme \"xyz\"");
    CHECK_BAD("http://example.com:80", AX_EINVAL, "URI scheme \"http\"");
    CHECK_BAD("tcpx://1.2.3.4:80", AX_EINVAL, "URI scheme \"tcpx\"");
    /* No "://": the whole text is a host and port. */
    CHECK_BAD("tcp:1.2.3.4:80", AX_EINVAL, "invalid port \"1.2.3.4:80\"");
}

TEST(bad_trailing_garbage)
{
    CHECK_BAD("tcp://1.2.3.4:80/path", AX_EINVAL, "unexpected \"/path\" after port 80");
    CHECK_BAD("tcp://1.2.3.4:80?x", AX_EINVAL, "unexpected \"?x\" after port 80");
    CHECK_BAD("tcp://1.2.3.4:80#f", AX_EINVAL, "unexpected \"#f\"");
    CHECK_BAD("tcp://1.2.3.4:80 ", AX_EINVAL, "unexpected \" \" after port 80");
    CHECK_BAD("tcp://1.2.3.4:80:90", AX_EINVAL, "invalid port \"80:90\"");
    CHECK_BAD(" tcp://1.2.3.4:80", AX_EINVAL, "invalid character \" \"");
    CHECK_BAD("tcp://[::1]:80/x", AX_EINVAL, "unexpected \"/x\" after port 80");
}

TEST(bad_unix)
{
    char text[300], path[200];
    CHECK_BAD("unix://", AX_EINVAL, "empty Unix socket path");
    CHECK_BAD("unix://@", AX_EINVAL, "empty abstract socket name");
    repeat(path, 'p', 108);
    path[0] = '/';
    snprintf(text, sizeof text, "unix://%s", path);
    CHECK_BAD(text, AX_ENAMETOOLONG,
              "Unix socket path is 108 bytes long, but sun_path holds at most 107");
    snprintf(text, sizeof text, "unix://@%s", repeat(path, 'a', 108));
    CHECK_BAD(text, AX_ENAMETOOLONG,
              "abstract socket name is 108 bytes long, but sun_path holds at most 107");
}

TEST(bad_fd)
{
    CHECK_BAD("fd://", AX_EINVAL, "missing fd number");
    CHECK_BAD("fd://x", AX_EINVAL, "invalid fd \"x\"");
    CHECK_BAD("fd://-1", AX_EINVAL, "invalid fd \"-1\"");
    CHECK_BAD("fd://3x", AX_EINVAL, "invalid fd \"3x\"");
    CHECK_BAD("fd://3:80", AX_EINVAL, "fd:// takes no port");
    CHECK_BAD("fd://99999999999", AX_EINVAL, "fd 99999999999 out of range (0..2147483647)");
    CHECK_BAD("fd://2147483648", AX_EINVAL, "fd 2147483648 out of range");
}

TEST(message_escapes_unprintable_bytes)
{
    ax_uri u;
    CHECK_EQ(ax_uri_parse("tcp://a\x01" "b:80", &u), AX_EINVAL);
    CHECK_ERRMSG("Invalid URI \"tcp://a\\x01b:80\" given: invalid character \"\\x01\"");
    CHECK_EQ(ax_uri_parse("tcp://1.2.3.4:80\n", &u), AX_EINVAL);
    CHECK_ERRMSG("Invalid URI \"tcp://1.2.3.4:80\\x0a\" given: unexpected \"\\x0a\" after port 80");
    /* Well-formed UTF-8 stays readable; a stray byte does not. */
    CHECK_EQ(ax_uri_parse("tcp://caf\xc3\xa9:80", &u), AX_EINVAL);
    CHECK_ERRMSG("Invalid URI \"tcp://caf\xc3\xa9:80\" given: invalid character \"\\xc3\"");
    CHECK_EQ(ax_uri_parse("x\xff://a:1", &u), AX_EINVAL);
    CHECK_ERRMSG("\"x\\xff://a:1\"");
}

TEST(message_long_input_is_cut)
{
    static char text[5000];
    ax_uri u;
    memcpy(text, "tcp://1.2.3.4:80/", 17);
    memset(text + 17, 'z', 4000);
    text[4017] = '\0';
    CHECK_EQ(ax_uri_parse(text, &u), AX_EINVAL);
    const char *m = ax_last_error()->message;
    CHECK(strlen(m) < AX_ERROR_MAX);
    CHECK(strncmp(m, "Invalid URI \"tcp://1.2.3.4:80/zzz", 33) == 0);
    CHECK_ERRMSG("...\" given: unexpected \"/zzz");
    CHECK(strcmp(m + strlen(m) - 9, " (EINVAL)") == 0);

    /* The explanation survives even when the input is cut. */
    memcpy(text, "tcp://", 6);
    memset(text + 6, 'a', 4000);
    memcpy(text + 4006, ":80", 4);
    CHECK_EQ(ax_uri_parse(text, &u), AX_EINVAL);
    CHECK_ERRMSG("...\" given: label longer than 63 characters in host name (EINVAL)");
}

TEST(escape_helper)
{
    char buf[16];
    CHECK_STR(ax__escape(buf, sizeof buf, "abc", 3), "abc");
    CHECK_STR(ax__escape(buf, sizeof buf, "a\0b", 3), "a\\x00b");
    CHECK_STR(ax__escape(buf, sizeof buf, "\x7f", 1), "\\x7f");
    CHECK_STR(ax__escape(buf, sizeof buf, "\xc2\x85", 2), "\\xc2\\x85"); /* C1 control */
    CHECK_STR(ax__escape(buf, sizeof buf, "\xe2\x82\xac", 3), "\xe2\x82\xac");
    CHECK_STR(ax__escape(buf, sizeof buf, "\xe2\x82", 2), "\\xe2\\x82"); /* cut sequence */
    /* 15 characters fit exactly; 16 need cutting to 12 plus "...". */
    CHECK_STR(ax__escape(buf, sizeof buf, "0123456789abcde", 15), "0123456789abcde");
    CHECK_STR(ax__escape(buf, sizeof buf, "0123456789abcdef", 16), "0123456789ab...");
    /* An escape is never split by the cut. */
    CHECK_STR(ax__escape(buf, sizeof buf, "0123456789a\x01zzzz", 16), "0123456789a...");
    CHECK_STR(ax__escape(buf, 4, "abcd", 4), "...");
}

/* ---------------------------------------------------------- formatting */

TEST(format_canonical)
{
    CHECK_CANON("tcp://1.2.3.4:80", "tcp://1.2.3.4:80");
    CHECK_CANON("1.2.3.4:80", "tcp://1.2.3.4:80");
    CHECK_CANON("TCP://[::1]:80", "tcp://[::1]:80");
    CHECK_CANON("[0::1]:80", "tcp://[::1]:80");
    CHECK_CANON("udp://[2001:DB8::1]:53", "udp://[2001:db8::1]:53");
    CHECK_CANON("tcp://[fe80::1%lo]:80", "tcp://[fe80::1%lo]:80");
    CHECK_CANON("example.com:80", "tcp://example.com:80");
    CHECK_CANON("tls://host:443", "tls://host:443");
    CHECK_CANON("unix:///run/x.sock", "unix:///run/x.sock");
    CHECK_CANON("unix://x.sock", "unix://x.sock");
    CHECK_CANON("unix://@name", "unix://@name");
    CHECK_CANON("fd://3", "fd://3");
    CHECK_CANON("fd://007", "fd://7");
    CHECK_CANON("tcp://1.2.3.4:0080", "tcp://1.2.3.4:80");
}

TEST(format_numeric_scope)
{
    /* The scope shows as an interface name when the index has one. */
    char want[64], ifname[IF_NAMESIZE];
    if (if_indextoname(2, ifname))
        snprintf(want, sizeof want, "tcp://[fe80::1%%%s]:80", ifname);
    else
        snprintf(want, sizeof want, "tcp://[fe80::1%%2]:80");
    CHECK_CANON("[fe80::1%2]:80", want);
    CHECK(if_indextoname(4000000000u, ifname) == NULL);
    CHECK_CANON("[fe80::1%4000000000]:80", "tcp://[fe80::1%4000000000]:80");
    CHECK_CANON("[fe80::1%0]:80", "tcp://[fe80::1]:80");
}

TEST(format_round_trips)
{
    static const char *const texts[] = {
        "tcp://1.2.3.4:80",      "udp://[2001:db8::1]:53", "[fe80::1%lo]:80",
        "[fe80::1%2]:80",        "host.example:1",         "unix:///run/x.sock",
        "unix://rel/x.sock",     "unix://@name",           "unix://@a b:c",
        "tls://host:443",        "fd://3",                 "tcp://0.0.0.0:0",
        "udp://[::]:65535",      "[::ffff:10.0.0.1]:7",    "a_b-c.d.:9",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        ax_uri a, b;
        char t1[AX_URISTRLEN], t2[AX_URISTRLEN];
        CHECK_OK(ax_uri_parse(texts[i], &a));
        CHECK_OK(ax_uri_format(&a, t1, sizeof t1));
        CHECK_OK(ax_uri_parse(t1, &b));
        CHECK_EQ(a.scheme, b.scheme);
        CHECK_EQ(a.kind, b.kind);
        CHECK_STR(a.host, b.host);
        CHECK_EQ(a.port, b.port);
        CHECK_EQ(a.fd, b.fd);
        CHECK(ax_addr_equal(&a.addr, &b.addr));
        CHECK_EQ(a.addr.len, b.addr.len);
        CHECK_OK(ax_uri_format(&b, t2, sizeof t2));
        CHECK_STR(t1, t2);
    }
}

TEST(format_too_small)
{
    ax_uri u;
    char buf[32];
    CHECK_OK(ax_uri_parse("tcp://1.2.3.4:80", &u));
    /* 16 characters: 17 bytes suffice, 16 do not. */
    CHECK_EQ(ax_uri_format(&u, buf, 17), 16);
    CHECK_STR(buf, "tcp://1.2.3.4:80");
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(ax_uri_format(&u, buf, 16), AX_ENOSPC);
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(buf[16], 'x'); /* nothing written past len */
    CHECK_ERRMSG("17 needed (ENOSPC)");
    CHECK_EQ(ax_uri_format(&u, buf, 1), AX_ENOSPC);
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(ax_uri_format(&u, NULL, 0), AX_ENOSPC);

    CHECK_OK(ax_uri_parse("unix://@name", &u));
    CHECK_EQ(ax_uri_format(&u, buf, 12), AX_ENOSPC);
    CHECK_EQ(ax_uri_format(&u, buf, 13), 12);
    CHECK_OK(ax_uri_parse("fd://12", &u));
    CHECK_EQ(ax_uri_format(&u, buf, 7), AX_ENOSPC);
    CHECK_EQ(ax_uri_format(&u, buf, 8), 7);
}

TEST(format_uses_uri_port)
{
    ax_uri u;
    char buf[AX_URISTRLEN];
    CHECK_OK(ax_uri_parse("[::1]:80", &u));
    u.port = 8080;
    CHECK_OK(ax_uri_format(&u, buf, sizeof buf));
    CHECK_STR(buf, "tcp://[::1]:8080");
    u.scheme = AX_SCHEME_UDP;
    CHECK_OK(ax_uri_format(&u, buf, sizeof buf));
    CHECK_STR(buf, "udp://[::1]:8080");
}

TEST(format_inconsistent)
{
    ax_uri u;
    char buf[AX_URISTRLEN];
    buf[0] = 'x';
    CHECK_EQ(ax_uri_format(NULL, buf, sizeof buf), AX_EINVAL);
    CHECK_EQ(buf[0], '\0');

    CHECK_OK(ax_uri_parse("tcp://1.2.3.4:80", &u));
    CHECK_EQ(ax_uri_format(&u, NULL, 5), AX_EINVAL);
    u.scheme = AX_SCHEME_NONE;
    CHECK_EQ(ax_uri_format(&u, buf, sizeof buf), AX_EINVAL);
    CHECK_ERRMSG("no scheme");
    u.scheme = AX_SCHEME_UNIX;
    CHECK_EQ(ax_uri_format(&u, buf, sizeof buf), AX_EINVAL);
    u.scheme = AX_SCHEME_FD;
    CHECK_EQ(ax_uri_format(&u, buf, sizeof buf), AX_EINVAL);
    u.scheme = AX_SCHEME_TCP;
    u.kind = AX_HOST_IPV6; /* addr is IPv4 */
    CHECK_EQ(ax_uri_format(&u, buf, sizeof buf), AX_EINVAL);
    CHECK_EQ(buf[0], '\0');

    CHECK_OK(ax_uri_parse("unix:///x", &u));
    u.kind = AX_HOST_ABSTRACT; /* host lacks '@' */
    CHECK_EQ(ax_uri_format(&u, buf, sizeof buf), AX_EINVAL);
    u.kind = AX_HOST_PATH;
    strcpy(u.host, "@x"); /* would read back as abstract */
    CHECK_EQ(ax_uri_format(&u, buf, sizeof buf), AX_EINVAL);

    CHECK_OK(ax_uri_parse("h:1", &u));
    u.host[0] = '\0';
    CHECK_EQ(ax_uri_format(&u, buf, sizeof buf), AX_EINVAL);
    memset(u.host, 'a', sizeof u.host); /* unterminated */
    CHECK_EQ(ax_uri_format(&u, buf, sizeof buf), AX_EINVAL);

    CHECK_OK(ax_uri_parse("fd://1", &u));
    u.fd = -1;
    CHECK_EQ(ax_uri_format(&u, buf, sizeof buf), AX_EINVAL);
}

TEST(longest_uri_fits_uristrlen)
{
    char text[400], host[320];
    ax_uri u;
    for (int i = 0; i < 4; i++)
        memcpy(host + i * 64, LABEL63 ".", 64);
    host[253] = '.';
    host[254] = '\0';
    snprintf(text, sizeof text, "tls://%s:65535", host);
    CHECK_OK(ax_uri_parse(text, &u));
    char buf[AX_URISTRLEN];
    CHECK_EQ(ax_uri_format(&u, buf, sizeof buf), strlen(text));
    CHECK_STR(buf, text);
}
