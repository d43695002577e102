/* Socket options (src/core/opt.c): every AX_OPT_* set and read back, real
 * effects, errors and names. */
#include <limits.h>
#include <sys/time.h>
#include <net/if.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* Sets an int option to v and checks it reads back as v. */
static void int_round_trip(int fd, ax_opt opt, int v)
{
    CHECK_OK(ax_setopt_int(fd, opt, v));
    int got = v + 12345;
    CHECK_OK(ax_getopt_int(fd, opt, &got));
    if (got != v)
        axt_fail(__FILE__, __LINE__, "%s: set %d, got %d", ax_opt_name(opt), v, got);
}

static void bool_opt(int fd, ax_opt opt)
{
    int_round_trip(fd, opt, 1);
    int_round_trip(fd, opt, 0);
    int_round_trip(fd, opt, 1);
}

TEST(socket_level_int_options)
{
    int t = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    bool_opt(t, AX_OPT_REUSEADDR);
    bool_opt(t, AX_OPT_REUSEPORT);
    bool_opt(t, AX_OPT_KEEPALIVE);
    bool_opt(t, AX_OPT_OOBINLINE);
    int v = 0;
    /* Buffer sizes come back doubled by the kernel. */
    CHECK_OK(ax_setopt_int(t, AX_OPT_SNDBUF, 65536));
    CHECK_OK(ax_getopt_int(t, AX_OPT_SNDBUF, &v));
    CHECK_EQ(v, 2 * 65536);
    CHECK_OK(ax_setopt_int(t, AX_OPT_RCVBUF, 32768));
    CHECK_OK(ax_getopt_int(t, AX_OPT_RCVBUF, &v));
    CHECK_EQ(v, 2 * 32768);
    CHECK_OK(ax_getopt_int(t, AX_OPT_TYPE, &v));
    CHECK_EQ(v, SOCK_STREAM);
    CHECK_OK(ax_getopt_int(t, AX_OPT_ERROR, &v));
    CHECK_EQ(v, 0);
    ax_close(t);

    int u = CHECK_OK(ax_socket(AF_INET, SOCK_DGRAM, 0));
    bool_opt(u, AX_OPT_BROADCAST);
    CHECK_OK(ax_getopt_int(u, AX_OPT_TYPE, &v));
    CHECK_EQ(v, SOCK_DGRAM);
    ax_close(u);

    int x = CHECK_OK(ax_socket(AF_UNIX, SOCK_STREAM, 0));
    bool_opt(x, AX_OPT_PASSCRED);
    ax_close(x);
}

TEST(so_error_reports_and_clears)
{
    ax_addr a;
    CHECK_OK(ax_addr_from_ip(&a, "127.0.0.1", 0));
    int holder = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_bind(holder, &a)); /* bound, not listening: refuses */
    CHECK_OK(ax_sockname(holder, &a));
    int c = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM | AX_SOCK_NONBLOCK, 0));
    int rc = ax_connect_fd(c, &a, -1);
    CHECK(rc == AX_EINPROGRESS || rc == AX_ECONNREFUSED);
    if (rc == AX_EINPROGRESS) {
        struct pollfd p = {.fd = c, .events = POLLOUT};
        CHECK_EQ(poll(&p, 1, 2000), 1);
        int v = 0;
        CHECK_OK(ax_getopt_int(c, AX_OPT_ERROR, &v));
        CHECK_EQ(v, AX_ECONNREFUSED);
    }
    int v = 1;
    CHECK_OK(ax_getopt_int(c, AX_OPT_ERROR, &v));
    CHECK_EQ(v, 0);
    ax_close(c);
    ax_close(holder);
}

TEST(tcp_int_options)
{
    int t = CHECK_OK(ax_socket(AF_INET6, SOCK_STREAM, 0));
    bool_opt(t, AX_OPT_TCP_NODELAY);
    int_round_trip(t, AX_OPT_TCP_KEEPIDLE, 30);
    int_round_trip(t, AX_OPT_TCP_KEEPIDLE, 7200);
    int_round_trip(t, AX_OPT_TCP_KEEPINTVL, 7);
    int_round_trip(t, AX_OPT_TCP_KEEPCNT, 4);
    int_round_trip(t, AX_OPT_TCP_NOTSENT_LOWAT, 16384);
    bool_opt(t, AX_OPT_IPV6_V6ONLY);
    /* The kernel's own range checks come through with the option named. */
    CHECK_EQ(ax_setopt_int(t, AX_OPT_TCP_KEEPCNT, 0), AX_EINVAL);
    CHECK_ERRMSG("setsockopt TCP_KEEPCNT on fd ");
    ax_close(t);
}

TEST(timeouts_round_trip)
{
    int fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    int_round_trip(fd, AX_OPT_RCVTIMEO, 1500);
    int_round_trip(fd, AX_OPT_RCVTIMEO, 0);
    /* The kernel keeps timeouts in jiffies: use whole multiples of 1/HZ
     * for any common HZ (100, 250, 300, 1000). */
    int_round_trip(fd, AX_OPT_SNDTIMEO, 500);
    int_round_trip(fd, AX_OPT_SNDTIMEO, 3000);
    CHECK_EQ(ax_setopt_int(fd, AX_OPT_RCVTIMEO, -5), AX_EINVAL);
    CHECK_ERRMSG("SO_RCVTIMEO");
    CHECK_ERRMSG("-5 ms is negative");
    /* The failed set left the old value. */
    int v = 0;
    CHECK_OK(ax_getopt_int(fd, AX_OPT_RCVTIMEO, &v));
    CHECK_EQ(v, 0);
    /* A timeout set by other code that no int of ms can hold (30 days)
     * reads back saturated, not wrapped to a negative. */
    struct timeval tv = {.tv_sec = 30L * 86400};
    CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    CHECK_OK(ax_getopt_int(fd, AX_OPT_SNDTIMEO, &v));
    CHECK_EQ(v, INT_MAX);
    ax_close(fd);
}

TEST(rcvtimeo_makes_read_give_up)
{
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    CHECK_OK(ax_setopt_int(sp[0], AX_OPT_RCVTIMEO, 200));
    char b;
    double t0 = axt_now_ms();
    CHECK_EQ(ax_read(sp[0], &b, 1), AX_EAGAIN);
    double took = axt_now_ms() - t0;
    CHECK(took >= 150);
    CHECK(took < 5000);
    ax_close(sp[0]);
    ax_close(sp[1]);
}

TEST(linger)
{
    int fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    ax_linger l = {1, 5}, got = {-1, -1};
    size_t len = sizeof got;
    CHECK_OK(ax_setopt(fd, AX_OPT_LINGER, &l, sizeof l));
    CHECK_OK(ax_getopt(fd, AX_OPT_LINGER, &got, &len));
    CHECK_EQ(len, sizeof got);
    CHECK(got.onoff != 0);
    CHECK_EQ(got.linger, 5);
    l = (ax_linger){0, 0};
    CHECK_OK(ax_setopt(fd, AX_OPT_LINGER, &l, sizeof l));
    CHECK_OK(ax_getopt(fd, AX_OPT_LINGER, &got, &len));
    CHECK_EQ(got.onoff, 0);
    CHECK_EQ(ax_setopt(fd, AX_OPT_LINGER, &l, sizeof(int)), AX_EINVAL);
    CHECK_ERRMSG("value must be ax_linger");
    ax_close(fd);
}

/* A congestion control the kernel offers: cubic, else reno, else the
 * first listed. */
static void pick_congestion(char *out, size_t len)
{
    char avail[512] = "";
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_congestion_control", "r");
    if (f) {
        if (!fgets(avail, sizeof avail, f))
            avail[0] = '\0';
        fclose(f);
    }
    char *save = NULL, *first = NULL;
    int cubic = 0, reno = 0;
    for (char *t = strtok_r(avail, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
        if (!first)
            first = t;
        cubic |= strcmp(t, "cubic") == 0;
        reno |= strcmp(t, "reno") == 0;
    }
    snprintf(out, len, "%s", cubic ? "cubic" : reno ? "reno" : first ? first : "reno");
}

TEST(tcp_congestion)
{
    char want[32];
    pick_congestion(want, sizeof want);
    int fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_setopt(fd, AX_OPT_TCP_CONGESTION, want, strlen(want) + 1));
    char got[32];
    size_t len = sizeof got;
    memset(got, 'x', sizeof got);
    CHECK_OK(ax_getopt(fd, AX_OPT_TCP_CONGESTION, got, &len));
    CHECK_STR(got, want);
    CHECK_EQ(len, strlen(want) + 1);

    CHECK(ax_setopt(fd, AX_OPT_TCP_CONGESTION, "no-such-algo", 13) < 0);
    char msg[64];
    snprintf(msg, sizeof msg, "setsockopt TCP_CONGESTION on fd %d failed: ", fd);
    CHECK_ERRMSG(msg);
    /* Unchanged by the failure. */
    len = sizeof got;
    CHECK_OK(ax_getopt(fd, AX_OPT_TCP_CONGESTION, got, &len));
    CHECK_STR(got, want);
    len = 1;
    CHECK_EQ(ax_getopt(fd, AX_OPT_TCP_CONGESTION, got, &len), AX_EINVAL);
    ax_close(fd);
}

/* ------------------------------------------------------------ multicast */

static ax_mcast group(const char *ip, const char *source)
{
    ax_mcast m;
    memset(&m, 0, sizeof m);
    CHECK_OK(ax_addr_from_ip(&m.group, ip, 0));
    if (source)
        CHECK_OK(ax_addr_from_ip(&m.source, source, 0));
    m.ifindex = if_nametoindex("lo");
    CHECK(m.ifindex != 0);
    return m;
}

TEST(multicast_join_leave_v4)
{
    int fd = CHECK_OK(ax_listen_uri("udp://127.0.0.1:0", NULL));
    ax_mcast m = group("239.1.2.3", NULL);
    CHECK_OK(ax_setopt(fd, AX_OPT_MCAST_JOIN, &m, sizeof m));
    /* While joined (any source), one source can be blocked and unblocked. */
    ax_mcast b = group("239.1.2.3", "127.0.0.1");
    CHECK_OK(ax_setopt(fd, AX_OPT_MCAST_BLOCK_SOURCE, &b, sizeof b));
    CHECK_OK(ax_setopt(fd, AX_OPT_MCAST_UNBLOCK_SOURCE, &b, sizeof b));
    CHECK_OK(ax_setopt(fd, AX_OPT_MCAST_LEAVE, &m, sizeof m));
    /* Not a member any more: the kernel says so, with the option named. */
    CHECK(ax_setopt(fd, AX_OPT_MCAST_LEAVE, &m, sizeof m) < 0);
    CHECK_ERRMSG("setsockopt MCAST_LEAVE_GROUP on fd");

    /* Source-specific join and leave. */
    ax_mcast s = group("232.1.2.3", "127.0.0.1");
    CHECK_OK(ax_setopt(fd, AX_OPT_MCAST_JOIN, &s, sizeof s));
    CHECK_OK(ax_setopt(fd, AX_OPT_MCAST_LEAVE, &s, sizeof s));

    ax_mcast nosrc = group("239.1.2.3", NULL);
    CHECK_EQ(ax_setopt(fd, AX_OPT_MCAST_BLOCK_SOURCE, &nosrc, sizeof nosrc), AX_EINVAL);
    CHECK_ERRMSG("setsockopt MCAST_BLOCK_SOURCE on fd");
    CHECK_ERRMSG("a source address is required");
    CHECK_EQ(ax_setopt(fd, AX_OPT_MCAST_UNBLOCK_SOURCE, &nosrc, sizeof nosrc), AX_EINVAL);

    /* An IPv6 group on an IPv4 socket. */
    ax_mcast v6 = group("ff02::1:3", NULL);
    CHECK_EQ(ax_setopt(fd, AX_OPT_MCAST_JOIN, &v6, sizeof v6), AX_EINVAL);
    CHECK_ERRMSG("family does not match");
    /* Join is set-only. */
    size_t len = sizeof m;
    CHECK_EQ(ax_getopt(fd, AX_OPT_MCAST_JOIN, &m, &len), AX_EINVAL);
    CHECK_ERRMSG("set-only");
    ax_close(fd);
}

TEST(multicast_join_leave_v6)
{
    int fd = CHECK_OK(ax_listen_uri("udp://[::1]:0", NULL));
    ax_mcast m = group("ff02::1:3", NULL);
    CHECK_OK(ax_setopt(fd, AX_OPT_MCAST_JOIN, &m, sizeof m));
    CHECK_OK(ax_setopt(fd, AX_OPT_MCAST_LEAVE, &m, sizeof m));
    CHECK(ax_setopt(fd, AX_OPT_MCAST_LEAVE, &m, sizeof m) < 0);
    ax_mcast s = group("ff35::1:3", "::1");
    CHECK_OK(ax_setopt(fd, AX_OPT_MCAST_JOIN, &s, sizeof s));
    CHECK_OK(ax_setopt(fd, AX_OPT_MCAST_LEAVE, &s, sizeof s));
    ax_mcast v4 = group("239.1.2.3", NULL);
    CHECK_EQ(ax_setopt(fd, AX_OPT_MCAST_JOIN, &v4, sizeof v4), AX_EINVAL);
    ax_close(fd);

    /* Multicast needs an IP socket. */
    int u = CHECK_OK(ax_socket(AF_UNIX, SOCK_DGRAM, 0));
    CHECK_EQ(ax_setopt(u, AX_OPT_MCAST_JOIN, &m, sizeof m), AX_EAFNOSUPPORT);
    CHECK_ERRMSG("not an IP socket");
    CHECK_EQ(ax_setopt_int(u, AX_OPT_MCAST_TTL, 1), AX_EAFNOSUPPORT);
    int v;
    CHECK_EQ(ax_getopt_int(u, AX_OPT_MCAST_TTL, &v), AX_EAFNOSUPPORT);
    ax_close(u);
}

TEST(multicast_ttl_loop_if_v4)
{
    int fd = CHECK_OK(ax_socket(AF_INET, SOCK_DGRAM, 0));
    int_round_trip(fd, AX_OPT_MCAST_TTL, 5);
    int_round_trip(fd, AX_OPT_MCAST_TTL, 255);
    int_round_trip(fd, AX_OPT_MCAST_LOOP, 0);
    int_round_trip(fd, AX_OPT_MCAST_LOOP, 1);
    CHECK_EQ(ax_setopt_int(fd, AX_OPT_MCAST_TTL, 256), AX_EINVAL);
    CHECK_ERRMSG("256 is out of range 0..255");
    CHECK_EQ(ax_setopt_int(fd, AX_OPT_MCAST_TTL, -1), AX_EINVAL);
    int v = 0;
    CHECK_OK(ax_getopt_int(fd, AX_OPT_MCAST_TTL, &v));
    CHECK_EQ(v, 255);
    CHECK_OK(ax_setopt_int(fd, AX_OPT_MCAST_IF, (int)if_nametoindex("lo")));
    CHECK_OK(ax_setopt_int(fd, AX_OPT_MCAST_IF, 0));
    CHECK_EQ(ax_getopt_int(fd, AX_OPT_MCAST_IF, &v), AX_ENOTSUP);
    CHECK_ERRMSG("getsockopt IP_MULTICAST_IF on fd");
    ax_close(fd);
}

TEST(multicast_ttl_loop_if_v6)
{
    int fd = CHECK_OK(ax_socket(AF_INET6, SOCK_DGRAM, 0));
    int_round_trip(fd, AX_OPT_MCAST_TTL, 7);
    int_round_trip(fd, AX_OPT_MCAST_TTL, 255);
    int_round_trip(fd, AX_OPT_MCAST_LOOP, 0);
    int_round_trip(fd, AX_OPT_MCAST_LOOP, 1);
    int_round_trip(fd, AX_OPT_MCAST_IF, (int)if_nametoindex("lo"));
    int_round_trip(fd, AX_OPT_MCAST_IF, 0);
    CHECK(ax_setopt_int(fd, AX_OPT_MCAST_TTL, 256) < 0);
    CHECK_ERRMSG("setsockopt IP_MULTICAST_TTL on fd");
    ax_close(fd);
}

/* ------------------------------------------------------------- errors */

TEST(wrong_length_is_einval)
{
    int fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    char c = 1;
    CHECK_EQ(ax_setopt(fd, AX_OPT_REUSEADDR, &c, 1), AX_EINVAL);
    char want[128];
    snprintf(want, sizeof want, "setsockopt SO_REUSEADDR on fd %d: value must be int (4 bytes), "
                                "got 1 bytes (EINVAL)",
             fd);
    CHECK_STR(ax_last_error()->message, want);
    long long big = 0;
    size_t len = sizeof big;
    CHECK_EQ(ax_getopt(fd, AX_OPT_TCP_NODELAY, &big, &len), AX_EINVAL);
    CHECK_ERRMSG("getsockopt TCP_NODELAY on fd");
    CHECK_ERRMSG("value must be int (4 bytes), got 8 bytes");
    CHECK_EQ(ax_setopt(fd, AX_OPT_RCVTIMEO, &big, sizeof big), AX_EINVAL);
    CHECK_ERRMSG("value must be int (milliseconds)");
    ax_close(fd);

    int u = CHECK_OK(ax_socket(AF_INET, SOCK_DGRAM, 0));
    ax_mcast m;
    memset(&m, 0, sizeof m);
    CHECK_EQ(ax_setopt(u, AX_OPT_MCAST_JOIN, &m, sizeof m - 1), AX_EINVAL);
    CHECK_ERRMSG("MCAST_JOIN_GROUP");
    CHECK_ERRMSG("value must be ax_mcast");
    CHECK_EQ(ax_setopt(u, AX_OPT_MCAST_LOOP, &c, 1), AX_EINVAL);
    ax_close(u);
}

TEST(read_only_and_bad_arguments)
{
    int fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_EQ(ax_setopt_int(fd, AX_OPT_TYPE, SOCK_DGRAM), AX_EINVAL);
    CHECK_ERRMSG("setsockopt SO_TYPE");
    CHECK_ERRMSG("read-only");
    int v = 0;
    CHECK_OK(ax_getopt_int(fd, AX_OPT_TYPE, &v));
    CHECK_EQ(v, SOCK_STREAM);
    CHECK_EQ(ax_setopt_int(fd, AX_OPT_ERROR, 0), AX_EINVAL);
    CHECK_EQ(ax_setopt_int(fd, (ax_opt)0, 1), AX_EINVAL);
    CHECK_ERRMSG("unknown option 0");
    CHECK_EQ(ax_setopt_int(fd, AX_OPT__COUNT, 1), AX_EINVAL);
    CHECK_EQ(ax_getopt_int(fd, (ax_opt)999, &v), AX_EINVAL);
    CHECK_ERRMSG("unknown option 999");
    CHECK_EQ(ax_setopt(fd, AX_OPT_REUSEADDR, NULL, sizeof(int)), AX_EINVAL);
    CHECK_EQ(ax_getopt(fd, AX_OPT_REUSEADDR, &v, NULL), AX_EINVAL);
    ax_close(fd);
    CHECK_EQ(ax_setopt_int(fd, AX_OPT_REUSEADDR, 1), AX_EBADF);
}

TEST(tcp_option_on_unix_socket)
{
    int fd = CHECK_OK(ax_socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_EQ(ax_setopt_int(fd, AX_OPT_TCP_NODELAY, 1), AX_ENOTSUP);
    char want[96];
    snprintf(want, sizeof want, "setsockopt TCP_NODELAY on fd %d failed: ", fd);
    CHECK(strncmp(ax_last_error()->message, want, strlen(want)) == 0);
    CHECK_ERRMSG("(ENOTSUP)");
    int v;
    CHECK(ax_getopt_int(fd, AX_OPT_TCP_NODELAY, &v) < 0);
    CHECK_ERRMSG("getsockopt TCP_NODELAY on fd");
    ax_close(fd);
}

/* -------------------------------------------------------------- names */

TEST(option_names_and_lookup)
{
    CHECK_STR(ax_opt_name(AX_OPT_REUSEADDR), "SO_REUSEADDR");
    CHECK_STR(ax_opt_name(AX_OPT_TCP_NODELAY), "TCP_NODELAY");
    CHECK_STR(ax_opt_name(AX_OPT_IPV6_V6ONLY), "IPV6_V6ONLY");
    CHECK(ax_opt_name((ax_opt)0) == NULL);
    CHECK(ax_opt_name(AX_OPT__COUNT) == NULL);
    CHECK(ax_opt_name((ax_opt)-3) == NULL);

    CHECK_EQ(ax_opt_lookup("SO_REUSEADDR"), AX_OPT_REUSEADDR);
    CHECK_EQ(ax_opt_lookup("reuseaddr"), AX_OPT_REUSEADDR);
    CHECK_EQ(ax_opt_lookup("So_ReuseAddr"), AX_OPT_REUSEADDR);
    CHECK_EQ(ax_opt_lookup("NODELAY"), AX_OPT_TCP_NODELAY);
    CHECK_EQ(ax_opt_lookup("tcp_nodelay"), AX_OPT_TCP_NODELAY);
    CHECK_EQ(ax_opt_lookup("mcast_join"), AX_OPT_MCAST_JOIN);
    CHECK_EQ(ax_opt_lookup("congestion"), AX_OPT_TCP_CONGESTION);

    /* Every option has a unique name that looks up to itself. */
    for (int i = 1; i < AX_OPT__COUNT; i++) {
        const char *n = ax_opt_name((ax_opt)i);
        CHECK(n != NULL && n[0] != '\0');
        CHECK_EQ(ax_opt_lookup(n), i);
        for (int j = i + 1; j < AX_OPT__COUNT; j++)
            CHECK(strcmp(n, ax_opt_name((ax_opt)j)) != 0);
    }

    CHECK_EQ(ax_opt_lookup("bogus"), AX_EINVAL);
    CHECK_STR(ax_last_error()->message, "unknown socket option \"bogus\" (EINVAL)");
    CHECK_EQ(ax_opt_lookup(""), AX_EINVAL);
    CHECK_EQ(ax_opt_lookup("SO_"), AX_EINVAL);
    CHECK_EQ(ax_opt_lookup(NULL), AX_EINVAL);
    CHECK_ERRMSG("(null)");
}
