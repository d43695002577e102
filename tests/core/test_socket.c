/* The direct layer's socket calls (src/core/socket.c): create,
 * bind/listen/accept, listen and connect by URI, names, shutdown, close,
 * blocking mode. Atmark, select and writes are in test_io.c. */
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static int cloexec(int fd)
{
    int f = fcntl(fd, F_GETFD);
    return f >= 0 && (f & FD_CLOEXEC);
}

static int nonblocking(int fd)
{
    int f = fcntl(fd, F_GETFL);
    return f >= 0 && (f & O_NONBLOCK);
}

static int sock_type(int fd)
{
    int t = -1;
    CHECK_OK(ax_getopt_int(fd, AX_OPT_TYPE, &t));
    return t;
}

static int is_listening(int fd)
{
    int v = -1;
    socklen_t l = sizeof v;
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l), 0);
    return v;
}

static unsigned port_of(int fd)
{
    ax_addr a;
    CHECK_OK(ax_sockname(fd, &a));
    return ax_addr_port(&a);
}

/* A TCP socket bound to 127.0.0.1 but not listening: while it is held, its
 * port surely refuses connections. */
static int closed_port(unsigned *port)
{
    ax_addr a;
    CHECK_OK(ax_addr_from_ip(&a, "127.0.0.1", 0));
    int fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_bind(fd, &a));
    *port = port_of(fd);
    return fd;
}

/* One byte each way. */
static void ping(int a, int b)
{
    char c = 0;
    CHECK_EQ(ax_write(a, "p", 1), 1);
    CHECK_EQ(ax_read(b, &c, 1), 1);
    CHECK_EQ(c, 'p');
    CHECK_EQ(ax_write(b, "q", 1), 1);
    CHECK_EQ(ax_read(a, &c, 1), 1);
    CHECK_EQ(c, 'q');
}

/* A connected TCP pair over loopback ("127.0.0.1" or "::1"). */
static void tcp_pair(const char *ip, int *client, int *server)
{
    ax_addr a;
    CHECK_OK(ax_addr_from_ip(&a, ip, 0));
    int l = CHECK_OK(ax_socket(ax_addr_family(&a), SOCK_STREAM, 0));
    CHECK_OK(ax_bind(l, &a));
    CHECK_OK(ax_listen(l, 0));
    CHECK_OK(ax_sockname(l, &a));
    *client = CHECK_OK(ax_socket(ax_addr_family(&a), SOCK_STREAM, 0));
    CHECK_OK(ax_connect_fd(*client, &a, 2000));
    *server = CHECK_OK(ax_accept(l, NULL, 0));
    ax_close(l);
}

/* ------------------------------------------------------------------ create */

TEST(socket_families_and_types)
{
    static const int fams[] = {AF_INET, AF_INET6, AF_UNIX};
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
    for (size_t f = 0; f < 3; f++)
        for (size_t t = 0; t < 2; t++) {
            int fd = CHECK_OK(ax_socket(fams[f], types[t], 0));
            CHECK(cloexec(fd));
            CHECK(!nonblocking(fd));
            CHECK_EQ(sock_type(fd), types[t]);
            ax_close(fd);
        }
    int fd = CHECK_OK(ax_socket(AF_UNIX, SOCK_SEQPACKET, 0));
    CHECK(cloexec(fd));
    CHECK_EQ(sock_type(fd), SOCK_SEQPACKET);
    ax_close(fd);

    /* SEQPACKET on IP needs SCTP, which is not there. */
    int rc = ax_socket(AF_INET, SOCK_SEQPACKET, 0);
    CHECK(rc == AX_ESOCKTNOSUPPORT || rc == AX_EPROTONOSUPPORT);
    CHECK_ERRMSG("socket(AF_INET, SOCK_SEQPACKET, 0) failed: ");
    rc = ax_socket(AF_INET6, SOCK_SEQPACKET, 0);
    CHECK(rc == AX_ESOCKTNOSUPPORT || rc == AX_EPROTONOSUPPORT);
    CHECK_ERRMSG("socket(AF_INET6, SOCK_SEQPACKET, 0) failed: ");

    CHECK_EQ(ax_socket(12345, SOCK_STREAM, 0), AX_EAFNOSUPPORT);
    CHECK_ERRMSG("socket(unknown family, SOCK_STREAM, 0) failed: Address family not supported "
                 "(EAFNOSUPPORT)");
}

TEST(socket_raw)
{
    int fd = ax_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (fd >= 0) {
        CHECK(cloexec(fd));
        CHECK_EQ(sock_type(fd), SOCK_RAW);
        ax_close(fd);
    } else {
        CHECK_EQ(fd, AX_EPERM);
        CHECK_ERRMSG("socket(AF_INET, SOCK_RAW, 1) failed: Operation not permitted (EPERM)");
    }
}

TEST(socket_nonblock_flag)
{
    int fd = CHECK_OK(ax_socket(AF_INET6, SOCK_STREAM | AX_SOCK_NONBLOCK, 0));
    CHECK(nonblocking(fd));
    CHECK(cloexec(fd));
    CHECK_EQ(sock_type(fd), SOCK_STREAM);
    ax_close(fd);
}

TEST(socketpair_basics)
{
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    CHECK(cloexec(sp[0]) && cloexec(sp[1]));
    CHECK(!nonblocking(sp[0]) && !nonblocking(sp[1]));
    ping(sp[0], sp[1]);
    ax_close(sp[0]);
    ax_close(sp[1]);

    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_DGRAM | AX_SOCK_NONBLOCK, sp));
    CHECK(nonblocking(sp[0]) && nonblocking(sp[1]));
    CHECK_EQ(sock_type(sp[1]), SOCK_DGRAM);
    char c;
    CHECK_EQ(ax_read(sp[1], &c, 1), AX_EAGAIN);
    ax_close(sp[0]);
    ax_close(sp[1]);

    CHECK_EQ(ax_socketpair(AF_INET, SOCK_STREAM, sp), AX_ENOTSUP);
    CHECK_ERRMSG("socketpair(AF_INET, SOCK_STREAM) failed: ");
    CHECK_EQ(ax_socketpair(AF_UNIX, SOCK_STREAM, NULL), AX_EINVAL);
}

/* ------------------------------------------------ bind, listen, accept */

static void round_trip(const char *ip)
{
    ax_addr a;
    CHECK_OK(ax_addr_from_ip(&a, ip, 0));
    int l = CHECK_OK(ax_socket(ax_addr_family(&a), SOCK_STREAM, 0));
    CHECK_OK(ax_bind(l, &a));
    CHECK_OK(ax_listen(l, 0));
    CHECK(is_listening(l));
    ax_addr la;
    CHECK_OK(ax_sockname(l, &la));
    CHECK(ax_addr_port(&la) != 0);

    int c = CHECK_OK(ax_socket(ax_addr_family(&a), SOCK_STREAM, 0));
    CHECK_OK(ax_connect_fd(c, &la, 2000));
    ax_addr peer, csock;
    memset(&peer, 0xAA, sizeof peer);
    int s = CHECK_OK(ax_accept(l, &peer, 0));
    CHECK_OK(ax_sockname(c, &csock));
    CHECK(ax_addr_equal(&peer, &csock));
    CHECK(cloexec(s));
    CHECK(!nonblocking(s));
    ping(c, s);

    int c2 = CHECK_OK(ax_socket(ax_addr_family(&a), SOCK_STREAM, 0));
    CHECK_OK(ax_connect_fd(c2, &la, 2000));
    int s2 = CHECK_OK(ax_accept(l, NULL, AX_SOCK_NONBLOCK));
    CHECK(nonblocking(s2));
    CHECK(cloexec(s2));
    char b;
    CHECK_EQ(ax_read(s2, &b, 1), AX_EAGAIN);

    /* Nothing pending on a non-blocking listener. */
    CHECK_OK(ax_set_nonblock(l, 1));
    CHECK_EQ(ax_accept(l, NULL, 0), AX_EAGAIN);
    int fds[] = {l, c, s, c2, s2};
    for (size_t i = 0; i < 5; i++)
        CHECK_OK(ax_close(fds[i]));
}

TEST(bind_listen_accept_v4)
{
    round_trip("127.0.0.1");
}

TEST(bind_listen_accept_v6)
{
    round_trip("::1");
}

TEST(bind_errors)
{
    int fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_EQ(ax_bind(fd, NULL), AX_EINVAL);
    CHECK_ERRMSG("no address given");
    ax_addr a;
    CHECK_OK(ax_addr_from_ip(&a, "::1", 0));
    CHECK(ax_bind(fd, &a) < 0); /* an IPv6 address on an IPv4 socket */
    CHECK_ERRMSG("bind to [::1]:0 failed: ");
    ax_close(fd);
}

/* ------------------------------------------------------------ listen_uri */

static void listen_tcp(const char *uri, const char *prefix)
{
    int fd = CHECK_OK(ax_listen_uri(uri, NULL));
    CHECK(cloexec(fd));
    CHECK(!nonblocking(fd));
    CHECK(is_listening(fd));
    int v = 0;
    CHECK_OK(ax_getopt_int(fd, AX_OPT_REUSEADDR, &v));
    CHECK_EQ(v, 1);
    char buf[AX_URISTRLEN], want[AX_URISTRLEN];
    int n = CHECK_OK(ax_sockname_uri(fd, buf, sizeof buf));
    CHECK_EQ(n, strlen(buf));
    unsigned port = port_of(fd);
    CHECK(port != 0);
    snprintf(want, sizeof want, "%s%u", prefix, port);
    CHECK_STR(buf, want);
    int c = CHECK_OK(ax_connect_uri(buf, NULL));
    int s = CHECK_OK(ax_accept(fd, NULL, 0));
    ping(c, s);
    ax_close(c);
    ax_close(s);
    ax_close(fd);
}

TEST(listen_uri_tcp_v4)
{
    listen_tcp("tcp://127.0.0.1:0", "tcp://127.0.0.1:");
    listen_tcp("127.0.0.1:0", "tcp://127.0.0.1:");
}

TEST(listen_uri_tcp_v6)
{
    listen_tcp("tcp://[::1]:0", "tcp://[::1]:");
}

TEST(listen_uri_options)
{
    ax_listen_opts o = {.no_reuseaddr = true, .reuseport = true, .nonblock = true, .v6only = 1};
    int fd = CHECK_OK(ax_listen_uri("tcp://[::1]:0", &o));
    int v = -1;
    CHECK_OK(ax_getopt_int(fd, AX_OPT_REUSEADDR, &v));
    CHECK_EQ(v, 0);
    CHECK_OK(ax_getopt_int(fd, AX_OPT_REUSEPORT, &v));
    CHECK_EQ(v, 1);
    CHECK_OK(ax_getopt_int(fd, AX_OPT_IPV6_V6ONLY, &v));
    CHECK_EQ(v, 1);
    CHECK(nonblocking(fd));
    CHECK_EQ(ax_accept(fd, NULL, 0), AX_EAGAIN);
    ax_close(fd);

    /* Dual stack: an IPv4-mapped loopback address binds only with
     * v6only off, and then IPv4 clients reach it. */
    o = (ax_listen_opts){.v6only = 1};
    CHECK_EQ(ax_listen_uri("tcp://[::ffff:127.0.0.1]:0", &o), AX_EINVAL);
    o.v6only = -1;
    fd = CHECK_OK(ax_listen_uri("tcp://[::ffff:127.0.0.1]:0", &o));
    CHECK_OK(ax_getopt_int(fd, AX_OPT_IPV6_V6ONLY, &v));
    CHECK_EQ(v, 0);
    char uri[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", port_of(fd));
    int c = CHECK_OK(ax_connect_uri(uri, NULL));
    int s = CHECK_OK(ax_accept(fd, NULL, 0));
    ping(c, s);
    ax_close(c);
    ax_close(s);
    ax_close(fd);

    CHECK_EQ(ax_listen_uri("tls://127.0.0.1:0", NULL), AX_EINVAL);
    CHECK_ERRMSG("Failed to listen on \"tls://127.0.0.1:0\": the direct layer does not speak TLS");
    CHECK_EQ(ax_listen_uri("fd://3", NULL), AX_EINVAL);
    CHECK_ERRMSG("the direct layer takes tcp://, udp:// and unix:// URIs, not fd:// (EINVAL)");
}

TEST(listen_uri_udp)
{
    int fd = CHECK_OK(ax_listen_uri("udp://127.0.0.1:0", NULL));
    CHECK_EQ(sock_type(fd), SOCK_DGRAM);
    CHECK(!is_listening(fd));
    char buf[AX_URISTRLEN], want[64];
    CHECK_OK(ax_sockname_uri(fd, buf, sizeof buf));
    snprintf(want, sizeof want, "udp://127.0.0.1:%u", port_of(fd));
    CHECK_STR(buf, want);

    /* A connected datagram socket to it. */
    int c = CHECK_OK(ax_connect_uri(buf, NULL));
    CHECK_EQ(sock_type(c), SOCK_DGRAM);
    char pb[AX_URISTRLEN];
    CHECK_OK(ax_peername_uri(c, pb, sizeof pb));
    CHECK_STR(pb, want);
    CHECK_EQ(ax_write(c, "dgram", 5), 5);
    ax_addr from, csock;
    char data[16];
    CHECK_EQ(ax_recvfrom(fd, data, sizeof data, 0, &from), 5);
    CHECK(memcmp(data, "dgram", 5) == 0);
    CHECK_OK(ax_sockname(c, &csock));
    CHECK(ax_addr_equal(&from, &csock));
    ax_close(c);
    ax_close(fd);
}

static void unix_uri(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "unix://%s/%s", axt_tmpdir(), name);
}

TEST(listen_uri_unix_path)
{
    char uri[AX_URISTRLEN], got[AX_URISTRLEN];
    unix_uri(uri, sizeof uri, "s.sock");
    CHECK(strncmp(uri, "unix:///", 8) == 0);
    int fd = CHECK_OK(ax_listen_uri(uri, NULL));
    CHECK(is_listening(fd));
    CHECK_EQ(sock_type(fd), SOCK_STREAM);
    CHECK_OK(ax_sockname_uri(fd, got, sizeof got));
    CHECK_STR(got, uri);

    int c = CHECK_OK(ax_connect_uri(uri, NULL));
    int s = CHECK_OK(ax_accept(fd, NULL, 0));
    CHECK_OK(ax_peername_uri(c, got, sizeof got));
    CHECK_STR(got, uri);
    CHECK_OK(ax_sockname_uri(c, got, sizeof got)); /* unnamed client */
    CHECK_STR(got, "unix://");
    ping(c, s);
    ax_close(c);
    ax_close(s);
    ax_close(fd);
}

TEST(listen_uri_unix_abstract)
{
    char uri[AX_URISTRLEN], got[AX_URISTRLEN];
    snprintf(uri, sizeof uri, "unix://@axon-test-%d", (int)getpid());
    int fd = CHECK_OK(ax_listen_uri(uri, NULL));
    CHECK_OK(ax_sockname_uri(fd, got, sizeof got));
    CHECK_STR(got, uri);
    int c = CHECK_OK(ax_connect_uri(uri, NULL));
    int s = CHECK_OK(ax_accept(fd, NULL, 0));
    CHECK_OK(ax_peername_uri(c, got, sizeof got));
    CHECK_STR(got, uri);
    ping(c, s);
    ax_close(c);
    ax_close(s);
    ax_close(fd);
}

TEST(listen_uri_unix_seqpacket)
{
    char uri[AX_URISTRLEN];
    unix_uri(uri, sizeof uri, "sp.sock");
    ax_listen_opts o = {.type = SOCK_SEQPACKET};
    int fd = CHECK_OK(ax_listen_uri(uri, &o));
    CHECK_EQ(sock_type(fd), SOCK_SEQPACKET);
    CHECK(is_listening(fd));
    ax_addr a;
    CHECK_OK(ax_sockname(fd, &a));
    int c = CHECK_OK(ax_socket(AF_UNIX, SOCK_SEQPACKET, 0));
    CHECK_OK(ax_connect_fd(c, &a, -1));
    int s = CHECK_OK(ax_accept(fd, NULL, 0));
    /* Record boundaries survive. */
    CHECK_EQ(ax_write(c, "one", 3), 3);
    CHECK_EQ(ax_write(c, "three", 5), 5);
    char buf[16];
    CHECK_EQ(ax_read(s, buf, sizeof buf), 3);
    CHECK_EQ(ax_read(s, buf, sizeof buf), 5);
    CHECK(memcmp(buf, "three", 5) == 0);
    ax_close(c);
    ax_close(s);
    ax_close(fd);
}

TEST(listen_uri_rejects_hostname)
{
    CHECK_EQ(ax_listen_uri("tcp://localhost:0", NULL), AX_EINVAL);
    CHECK_STR(ax_last_error()->message, "Failed to listen on \"tcp://localhost:0\": host must be "
                                        "an IP address, not a name (EINVAL)");
}

TEST(listen_uri_unix_path_in_use)
{
    char uri[AX_URISTRLEN];
    unix_uri(uri, sizeof uri, "live.sock");
    int fd = CHECK_OK(ax_listen_uri(uri, NULL));
    ax_listen_opts o = {.unlink_stale = true};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(ax_listen_uri(uri, i ? &o : NULL), AX_EADDRINUSE);
        CHECK_ERRMSG("is in use by a listening socket (EADDRINUSE)");
        CHECK_ERRMSG(uri);
    }
    /* The live listener was left alone. */
    int c = CHECK_OK(ax_connect_uri(uri, NULL));
    int s = CHECK_OK(ax_accept(fd, NULL, 0));
    ax_close(s);
    ax_close(c);
    ax_close(fd);
}

/* A live listener whose accept queue is full is still a live listener:
 * the stale-socket check says so at once instead of blocking in connect. */
TEST_T(listen_uri_unix_path_busy_listener_is_in_use, 10)
{
    char uri[AX_URISTRLEN];
    unix_uri(uri, sizeof uri, "busy.sock");
    int fill[64];
    size_t n;
    int lfd = axt_unix_full_listener(uri + strlen("unix://"), fill, 64, &n);
    ax_listen_opts o = {.unlink_stale = true};
    CHECK_EQ(ax_listen_uri(uri, &o), AX_EADDRINUSE); /* it hung here */
    CHECK_ERRMSG("is in use by a listening socket (EADDRINUSE)");
    struct stat st;
    CHECK_EQ(stat(uri + strlen("unix://"), &st), 0); /* not unlinked */
    for (size_t i = 0; i < n; i++)
        ax_close(fill[i]);
    ax_close(lfd);
}

TEST(listen_uri_unix_stale_file)
{
    char uri[AX_URISTRLEN], path[AX_URISTRLEN];
    unix_uri(uri, sizeof uri, "stale.sock");
    snprintf(path, sizeof path, "%s/stale.sock", axt_tmpdir());
    ax_close(CHECK_OK(ax_listen_uri(uri, NULL))); /* leaves the file */
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);

    CHECK_EQ(ax_listen_uri(uri, NULL), AX_EADDRINUSE);
    CHECK_ERRMSG("exists (stale socket file? remove it or set unlink_stale) (EADDRINUSE)");
    CHECK_EQ(stat(path, &st), 0);
    CHECK(S_ISSOCK(st.st_mode));

    ax_listen_opts o = {.unlink_stale = true};
    int fd = CHECK_OK(ax_listen_uri(uri, &o));
    int c = CHECK_OK(ax_connect_uri(uri, NULL));
    int s = CHECK_OK(ax_accept(fd, NULL, 0));
    ping(c, s);
    ax_close(s);
    ax_close(c);
    ax_close(fd);
}

TEST(listen_uri_unix_not_a_socket)
{
    char uri[AX_URISTRLEN], path[AX_URISTRLEN];
    unix_uri(uri, sizeof uri, "plain");
    snprintf(path, sizeof path, "%s/plain", axt_tmpdir());
    int f = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    CHECK(f >= 0);
    CHECK_EQ(write(f, "keep", 4), 4);
    close(f);
    ax_listen_opts o = {.unlink_stale = true};
    CHECK_EQ(ax_listen_uri(uri, &o), AX_EADDRINUSE);
    CHECK_ERRMSG("exists and is not a socket (EADDRINUSE)");
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ(st.st_size, 4);
}

TEST(listen_uri_tcp_address_in_use)
{
    int fd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char uri[64], want[160];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", port_of(fd));
    CHECK_EQ(ax_listen_uri(uri, NULL), AX_EADDRINUSE);
    snprintf(want, sizeof want,
             "Failed to listen on \"%s\": Address already in use (EADDRINUSE)", uri);
    CHECK_STR(ax_last_error()->message, want);
    ax_close(fd);
}

/* ------------------------------------------------------------ connect */

TEST(connect_uri_refused)
{
    unsigned port;
    int holder = closed_port(&port);
    char uri[64], want[160];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", port);
    snprintf(want, sizeof want,
             "Connection to %s failed: Connection refused (ECONNREFUSED)", uri);
    CHECK_EQ(ax_connect_uri(uri, NULL), AX_ECONNREFUSED);
    CHECK_STR(ax_last_error()->message, want);
    /* Without a scheme the message shows the canonical URI. */
    CHECK_EQ(ax_connect_uri(uri + 6, NULL), AX_ECONNREFUSED);
    CHECK_STR(ax_last_error()->message, want);
    ax_close(holder);
}

TEST(connect_uri_localhost_tries_every_address)
{
    int l = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    unsigned port = port_of(l);
    char uri[64];
    snprintf(uri, sizeof uri, "localhost:%u", port);
    /* Whatever "localhost" resolves to here (::1 first is common), only
     * 127.0.0.1 listens, so success means the list was walked to it. */
    ax_addrinfo hints = {.socktype = SOCK_STREAM}, *list = NULL;
    CHECK_OK(ax_getaddrinfo("localhost", "1", &hints, &list));
    int has_v4 = 0;
    for (ax_addrinfo *ai = list; ai; ai = ai->next)
        has_v4 |= ai->family == AF_INET;
    ax_freeaddrinfo(list);
    CHECK(has_v4);

    int c = CHECK_OK(ax_connect_uri(uri, NULL));
    int s = CHECK_OK(ax_accept(l, NULL, 0));
    char got[AX_URISTRLEN], want[64];
    CHECK_OK(ax_peername_uri(c, got, sizeof got));
    snprintf(want, sizeof want, "tcp://127.0.0.1:%u", port);
    CHECK_STR(got, want);
    ping(c, s);
    ax_close(c);
    ax_close(s);
    ax_close(l);

    /* With nothing listening, the last attempt's error names an address. */
    int holder = closed_port(&port);
    snprintf(uri, sizeof uri, "tcp://localhost:%u", port);
    CHECK_EQ(ax_connect_uri(uri, NULL), AX_ECONNREFUSED);
    CHECK_ERRMSG("failed: Connection refused (ECONNREFUSED)");
    ax_close(holder);
}

TEST(connect_uri_invalid_targets)
{
    CHECK_EQ(ax_connect_uri("tls://127.0.0.1:443", NULL), AX_EINVAL);
    CHECK_ERRMSG("Connection to tls://127.0.0.1:443 failed: the direct layer does not speak TLS");
    CHECK_EQ(ax_connect_uri("fd://3", NULL), AX_EINVAL);
    CHECK_ERRMSG("the direct layer takes tcp://, udp:// and unix:// URIs, not fd:// (EINVAL)");
    CHECK_EQ(ax_connect_uri("tcp://127.0.0.1:0", NULL), AX_EINVAL);
    CHECK_STR(ax_last_error()->message,
              "Connection to tcp://127.0.0.1:0 failed: port 0 is not a destination (EINVAL)");
    CHECK_EQ(ax_connect_uri("udp://[::1]:0", NULL), AX_EINVAL);
    CHECK_ERRMSG("port 0 is not a destination");
}

TEST(connect_uri_nonblock_option)
{
    int l = CHECK_OK(ax_listen_uri("tcp://[::1]:0", NULL));
    char uri[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(l, uri, sizeof uri));
    ax_connect_opts o = {.nonblock = true, .timeout_ms = 2000};
    int c = CHECK_OK(ax_connect_uri(uri, &o));
    CHECK(nonblocking(c));
    CHECK(cloexec(c));
    int c2 = CHECK_OK(ax_connect_uri(uri, NULL));
    CHECK(!nonblocking(c2));
    int s = CHECK_OK(ax_accept(l, NULL, 0));
    int s2 = CHECK_OK(ax_accept(l, NULL, 0));
    char b;
    CHECK_EQ(ax_read(c, &b, 1), AX_EAGAIN);
    int fds[] = {l, c, c2, s, s2};
    for (size_t i = 0; i < 5; i++)
        ax_close(fds[i]);
}

TEST(connect_with_timeout_on_fd)
{
    int l = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    ax_addr a;
    CHECK_OK(ax_sockname(l, &a));
    int c = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_connect_fd(c, &a, 2000));
    CHECK(!nonblocking(c)); /* mode restored */
    int n = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM | AX_SOCK_NONBLOCK, 0));
    CHECK_OK(ax_connect_fd(n, &a, 2000));
    CHECK(nonblocking(n));
    int s1 = CHECK_OK(ax_accept(l, NULL, 0));
    int s2 = CHECK_OK(ax_accept(l, NULL, 0));
    CHECK_EQ(ax_connect_fd(c, NULL, 100), AX_EINVAL);
    int fds[] = {l, c, n, s1, s2};
    for (size_t i = 0; i < 5; i++)
        ax_close(fds[i]);
}

TEST(connect_timeout_when_backlog_full)
{
    /* With listen(0) one connection fills the accept queue; the kernel then
     * drops further SYNs, so the next connect can only time out. */
    ax_addr a;
    CHECK_OK(ax_addr_from_ip(&a, "127.0.0.1", 0));
    int l = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_bind(l, &a));
    CHECK_EQ(listen(l, 0), 0);
    CHECK_OK(ax_sockname(l, &a));
    int c1 = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_connect_fd(c1, &a, 2000));
    struct pollfd p = {.fd = l, .events = POLLIN};
    CHECK_EQ(poll(&p, 1, 2000), 1); /* c1 is in the accept queue */

    int c2 = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    double t0 = axt_now_ms();
    CHECK_EQ(ax_connect_fd(c2, &a, 300), AX_ETIMEDOUT);
    CHECK(axt_now_ms() - t0 >= 250);
    char want[128];
    snprintf(want, sizeof want, "Connection to tcp://127.0.0.1:%u timed out after 300 ms (ETIMEDOUT)",
             ax_addr_port(&a));
    CHECK_STR(ax_last_error()->message, want);
    CHECK(!nonblocking(c2));
    ax_close(c2);

    char uri[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", ax_addr_port(&a));
    ax_connect_opts o = {.timeout_ms = 1000};
    CHECK_EQ(ax_connect_uri(uri, &o), AX_ETIMEDOUT);
    CHECK_ERRMSG("timed out after 1 second (ETIMEDOUT)");
    ax_close(c1);
    ax_close(l);
}

/* For a Unix socket EAGAIN from connect() means the listener's queue is
 * full, "try again": a connect with a timeout keeps trying until it gets
 * in or the time is up, then says it timed out. */
TEST_T(connect_unix_full_backlog_waits_for_room_then_times_out, 20)
{
    char uri[AX_URISTRLEN];
    unix_uri(uri, sizeof uri, "full.sock");
    int fill[64];
    size_t n;
    int lfd = axt_unix_full_listener(uri + strlen("unix://"), fill, 64, &n);
    ax_connect_opts o = {.timeout_ms = 300};
    double t0 = axt_now_ms();
    CHECK_EQ(ax_connect_uri(uri, &o), AX_ETIMEDOUT);
    CHECK(axt_now_ms() - t0 >= 280);
    char want[AX_URISTRLEN + 64];
    snprintf(want, sizeof want, "Connection to %s timed out after 300 ms (ETIMEDOUT)", uri);
    CHECK_STR(ax_last_error()->message, want);
    /* The same through ax_connect_fd on the caller's blocking fd. */
    ax_addr a;
    CHECK_OK(ax_addr_from_unix(&a, uri + strlen("unix://")));
    int fd = CHECK_OK(ax_socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_EQ(ax_connect_fd(fd, &a, 200), AX_ETIMEDOUT);
    CHECK(!nonblocking(fd));
    ax_close(fd);
    /* Room appears after 300 ms: a 3 s connect gets in. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        usleep(300000);
        int c = accept(lfd, NULL, NULL);
        _exit(c >= 0 ? 0 : 1);
    }
    o.timeout_ms = 3000;
    t0 = axt_now_ms();
    fd = CHECK_OK(ax_connect_uri(uri, &o));
    CHECK(axt_now_ms() - t0 >= 250);
    ax_close(fd);
    CHECK_EQ(axt_wait(pid, 5000), 0);
    for (size_t i = 0; i < n; i++)
        ax_close(fill[i]);
    ax_close(lfd);
}

TEST(connect_nonblocking_in_progress)
{
    int l = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    ax_addr a;
    CHECK_OK(ax_sockname(l, &a));
    int c = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM | AX_SOCK_NONBLOCK, 0));
    CHECK_EQ(ax_connect_fd(c, &a, -1), AX_EINPROGRESS);
    struct pollfd p = {.fd = c, .events = POLLOUT};
    CHECK_EQ(poll(&p, 1, 2000), 1);
    CHECK_EQ(ax_socket_error(c), 0);
    ax_addr peer;
    CHECK_OK(ax_peername(c, &peer));
    CHECK(ax_addr_equal(&peer, &a));
    CHECK(nonblocking(c));
    ax_close(c);
    ax_close(l);
}

/* ------------------------------------------------------- names, misc */

TEST(names)
{
    int c, s;
    tcp_pair("127.0.0.1", &c, &s);
    char cs[AX_URISTRLEN], sp[AX_URISTRLEN], want[64];
    CHECK_OK(ax_sockname_uri(c, cs, sizeof cs));
    CHECK_OK(ax_peername_uri(s, sp, sizeof sp));
    CHECK_STR(cs, sp);
    CHECK_OK(ax_peername_uri(c, cs, sizeof cs));
    snprintf(want, sizeof want, "tcp://127.0.0.1:%u", port_of(s));
    CHECK_STR(cs, want);
    CHECK_EQ(ax_sockname_uri(c, cs, 5), AX_ENOSPC);
    ax_close(c);
    ax_close(s);

    int u = CHECK_OK(ax_socket(AF_INET6, SOCK_STREAM, 0));
    ax_addr a;
    CHECK_EQ(ax_peername(u, &a), AX_ENOTCONN);
    CHECK_EQ(a.len, 0);
    char msg[128];
    snprintf(msg, sizeof msg, "getpeername on fd %d failed: Socket is not connected (ENOTCONN)",
             u);
    CHECK_STR(ax_last_error()->message, msg);
    CHECK_EQ(ax_peername_uri(u, cs, sizeof cs), AX_ENOTCONN);
    CHECK_EQ(ax_sockname(u, NULL), AX_EINVAL);
    CHECK_EQ(ax_sockname(-1, &a), AX_EBADF);
    ax_close(u);
}

TEST(shutdown_write_then_eof)
{
    int c, s;
    tcp_pair("::1", &c, &s);
    CHECK_OK(ax_shutdown(c, SHUT_WR));
    char b[8];
    CHECK_EQ(ax_read(s, b, sizeof b), 0);
    /* The other direction still works. */
    CHECK_EQ(ax_write(s, "back", 4), 4);
    CHECK_EQ(axt_read_all(c, b, 4, 2000), 4);
    CHECK(memcmp(b, "back", 4) == 0);
    CHECK_EQ(ax_write(c, "x", 1), AX_EPIPE);

    CHECK_EQ(ax_shutdown(c, 7), AX_EINVAL);
    CHECK_ERRMSG("how must be SHUT_RD, SHUT_WR or SHUT_RDWR, not 7 (EINVAL)");
    int u = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_EQ(ax_shutdown(u, SHUT_RDWR), AX_ENOTCONN);
    ax_close(u);
    ax_close(c);
    ax_close(s);
}

TEST(close_twice_is_ebadf)
{
    int fd = CHECK_OK(ax_socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_OK(ax_close(fd));
    CHECK_EQ(ax_close(fd), AX_EBADF);
    char want[96];
    snprintf(want, sizeof want, "close of fd %d failed: Bad file descriptor (EBADF)", fd);
    CHECK_STR(ax_last_error()->message, want);
}

TEST(set_nonblock_on_off)
{
    int fd = CHECK_OK(ax_socket(AF_INET, SOCK_DGRAM, 0));
    CHECK_OK(ax_set_nonblock(fd, 1));
    CHECK(nonblocking(fd));
    CHECK_OK(ax_set_nonblock(fd, 1));
    CHECK(nonblocking(fd));
    CHECK_OK(ax_set_nonblock(fd, 0));
    CHECK(!nonblocking(fd));
    CHECK(cloexec(fd));
    ax_close(fd);
    CHECK_EQ(ax_set_nonblock(fd, 1), AX_EBADF);
    CHECK_ERRMSG("fcntl F_GETFL on fd");
}
