/* Name resolution and the addrinfo helpers (src/core/addrinfo.c). Only
 * numeric hosts, "localhost" (from /etc/hosts) and a .invalid name, which
 * fails without needing a network. */
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include "harness.h"

static size_t length(const ax_addrinfo *list)
{
    size_t n = 0;
    for (; list; list = list->next)
        n++;
    return n;
}

static void text_of(const ax_addr *a, char *buf, size_t len)
{
    CHECK_OK(ax_addr_format(a, buf, len));
}

TEST(numeric_host_and_port)
{
    ax_addrinfo hints = {.socktype = SOCK_STREAM}, *list = NULL;
    CHECK_OK(ax_getaddrinfo("127.0.0.1", "80", &hints, &list));
    CHECK(list != NULL);
    CHECK_EQ(length(list), 1);
    CHECK_EQ(list->family, AF_INET);
    CHECK_EQ(list->socktype, SOCK_STREAM);
    CHECK_EQ(list->protocol, IPPROTO_TCP);
    CHECK_EQ(ax_addr_family(&list->addr), AF_INET);
    CHECK_EQ(ax_addr_port(&list->addr), 80);
    char t[AX_ADDRSTRLEN];
    text_of(&list->addr, t, sizeof t);
    CHECK_STR(t, "127.0.0.1:80");
    ax_freeaddrinfo(list);

    CHECK_OK(ax_getaddrinfo("::1", "443", &hints, &list));
    CHECK_EQ(list->family, AF_INET6);
    text_of(&list->addr, t, sizeof t);
    CHECK_STR(t, "[::1]:443");
    ax_freeaddrinfo(list);

    /* No socktype: one entry per type the service could be. */
    CHECK_OK(ax_getaddrinfo("127.0.0.1", "53", NULL, &list));
    CHECK(length(list) >= 2);
    int stream = 0, dgram = 0;
    for (ax_addrinfo *ai = list; ai; ai = ai->next) {
        stream |= ai->socktype == SOCK_STREAM;
        dgram |= ai->socktype == SOCK_DGRAM;
        CHECK_EQ(ax_addr_port(&ai->addr), 53);
    }
    CHECK(stream && dgram);
    ax_freeaddrinfo(list);
}

TEST(localhost_with_family_hint)
{
    ax_addrinfo hints = {.family = AF_INET, .socktype = SOCK_STREAM}, *list = NULL;
    CHECK_OK(ax_getaddrinfo("localhost", "8080", &hints, &list));
    CHECK(list != NULL);
    for (ax_addrinfo *ai = list; ai; ai = ai->next) {
        CHECK_EQ(ai->family, AF_INET);
        char t[AX_ADDRSTRLEN];
        text_of(&ai->addr, t, sizeof t);
        CHECK_STR(t, "127.0.0.1:8080");
    }
    ax_freeaddrinfo(list);

    hints.flags = AI_CANONNAME;
    CHECK_OK(ax_getaddrinfo("localhost", NULL, &hints, &list));
    CHECK(list->canonname != NULL);
    CHECK_STR(list->canonname, "localhost");
    CHECK_EQ(ax_addr_port(&list->addr), 0);
    ax_freeaddrinfo(list);
}

TEST(service_names)
{
    ax_addrinfo hints = {.family = AF_INET, .socktype = SOCK_STREAM}, *list = NULL;
    CHECK_OK(ax_getaddrinfo("127.0.0.1", "http", &hints, &list));
    CHECK_EQ(ax_addr_port(&list->addr), 80);
    ax_freeaddrinfo(list);
    CHECK_OK(ax_getaddrinfo("127.0.0.1", "ssh", &hints, &list));
    CHECK_EQ(ax_addr_port(&list->addr), 22);
    ax_freeaddrinfo(list);

    int rc = ax_getaddrinfo("127.0.0.1", "no-such-service", &hints, &list);
    CHECK(rc == AX_EAI_SERVICE || rc == AX_EAI_NONAME);
    CHECK(list == NULL);
    CHECK_ERRMSG("getaddrinfo for \"127.0.0.1\" service \"no-such-service\" failed: ");
    CHECK_ERRMSG(ax_errname(rc));
}

TEST(passive_wildcard)
{
    ax_addrinfo hints = {.family = AF_INET, .socktype = SOCK_STREAM, .flags = AI_PASSIVE};
    ax_addrinfo *list = NULL;
    char t[AX_ADDRSTRLEN];
    CHECK_OK(ax_getaddrinfo(NULL, "8080", &hints, &list));
    text_of(&list->addr, t, sizeof t);
    CHECK_STR(t, "0.0.0.0:8080");
    ax_freeaddrinfo(list);

    hints.family = AF_INET6;
    CHECK_OK(ax_getaddrinfo(NULL, "8080", &hints, &list));
    text_of(&list->addr, t, sizeof t);
    CHECK_STR(t, "[::]:8080");
    ax_freeaddrinfo(list);

    /* Without AI_PASSIVE a NULL host means loopback. */
    hints.family = AF_INET;
    hints.flags = 0;
    CHECK_OK(ax_getaddrinfo(NULL, "8080", &hints, &list));
    text_of(&list->addr, t, sizeof t);
    CHECK_STR(t, "127.0.0.1:8080");
    ax_freeaddrinfo(list);
}

TEST(nonexistent_name)
{
    ax_addrinfo *list = (ax_addrinfo *)&list; /* must be reset */
    int rc = ax_getaddrinfo("nonexistent.invalid", "80", NULL, &list);
    CHECK(rc <= AX_EAI_AGAIN && rc >= AX_EAI_ADDRFAMILY);
    CHECK(list == NULL);
    CHECK_EQ(ax_last_error()->code, rc);
    CHECK_ERRMSG("getaddrinfo for \"nonexistent.invalid\" service \"80\" failed: ");
    char tail[32];
    snprintf(tail, sizeof tail, "(%s)", ax_errname(rc));
    CHECK_ERRMSG(tail);

    CHECK_EQ(ax_getaddrinfo("nonexistent.invalid", NULL, NULL, &list), rc);
    CHECK_ERRMSG("getaddrinfo for \"nonexistent.invalid\" failed: ");
}

TEST(resolver_errors_map_to_own_codes)
{
    ax_addrinfo hints = {.family = 12345}, *list = NULL;
    CHECK_EQ(ax_getaddrinfo("127.0.0.1", "80", &hints, &list), AX_EAI_FAMILY);
    CHECK_ERRMSG("(EAI_FAMILY)");
    hints = (ax_addrinfo){.flags = 0x7fff0000};
    CHECK_EQ(ax_getaddrinfo("127.0.0.1", "80", &hints, &list), AX_EAI_BADFLAGS);
    hints = (ax_addrinfo){.socktype = 12345};
    CHECK_EQ(ax_getaddrinfo("127.0.0.1", "80", &hints, &list), AX_EAI_SOCKTYPE);
    /* An IPv4 literal asked for as IPv6 is not there. */
    hints = (ax_addrinfo){.family = AF_INET6, .flags = AI_NUMERICHOST};
    int rc = ax_getaddrinfo("127.0.0.1", "80", &hints, &list);
    CHECK(rc == AX_EAI_ADDRFAMILY || rc == AX_EAI_NONAME);
    CHECK(list == NULL);

    CHECK_EQ(ax_getaddrinfo(NULL, NULL, NULL, &list), AX_EINVAL);
    CHECK_ERRMSG("host and service are both NULL");
    CHECK_EQ(ax_getaddrinfo("127.0.0.1", "80", NULL, NULL), AX_EINVAL);
    ax_freeaddrinfo(NULL);
}

static void bind_listen_connect(const char *ip)
{
    ax_addrinfo hints = {.socktype = SOCK_STREAM, .flags = AI_NUMERICHOST}, *list = NULL;
    CHECK_OK(ax_getaddrinfo(ip, "0", &hints, &list));
    int l = CHECK_OK(ax_addrinfo_bind(list));
    ax_freeaddrinfo(list);
    int v = 0;
    CHECK_OK(ax_getopt_int(l, AX_OPT_REUSEADDR, &v));
    CHECK_EQ(v, 1);
    CHECK_OK(ax_listen(l, 0));
    ax_addr la;
    CHECK_OK(ax_sockname(l, &la));
    char port[8];
    snprintf(port, sizeof port, "%u", ax_addr_port(&la));

    CHECK_OK(ax_getaddrinfo(ip, port, &hints, &list));
    int c = CHECK_OK(ax_addrinfo_connect(list, 2000));
    ax_freeaddrinfo(list);
    ax_addr peer, cs;
    int s = CHECK_OK(ax_accept(l, &peer, 0));
    CHECK_OK(ax_sockname(c, &cs));
    CHECK(ax_addr_equal(&peer, &cs));
    CHECK_EQ(ax_write(c, "hi", 2), 2);
    char b[4];
    CHECK_EQ(ax_read(s, b, sizeof b), 2);
    CHECK(memcmp(b, "hi", 2) == 0);
    ax_close(c);
    ax_close(s);
    ax_close(l);
}

TEST(addrinfo_bind_and_connect_v4)
{
    bind_listen_connect("127.0.0.1");
}

TEST(addrinfo_bind_and_connect_v6)
{
    bind_listen_connect("::1");
}

TEST(addrinfo_bind_udp)
{
    ax_addrinfo hints = {.socktype = SOCK_DGRAM}, *list = NULL;
    CHECK_OK(ax_getaddrinfo("127.0.0.1", "0", &hints, &list));
    int fd = CHECK_OK(ax_addrinfo_bind(list));
    ax_freeaddrinfo(list);
    int v = -1;
    CHECK_OK(ax_getopt_int(fd, AX_OPT_TYPE, &v));
    CHECK_EQ(v, SOCK_DGRAM);
    char uri[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(fd, uri, sizeof uri));
    CHECK(strncmp(uri, "udp://127.0.0.1:", 16) == 0);
    ax_close(fd);
}

TEST(addrinfo_connect_refused_and_bind_in_use)
{
    ax_addr a;
    CHECK_OK(ax_addr_from_ip(&a, "127.0.0.1", 0));
    int holder = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_bind(holder, &a));
    CHECK_OK(ax_sockname(holder, &a));
    char port[8];
    snprintf(port, sizeof port, "%u", ax_addr_port(&a));
    ax_addrinfo hints = {.socktype = SOCK_STREAM}, *list = NULL;
    CHECK_OK(ax_getaddrinfo("127.0.0.1", port, &hints, &list));
    CHECK_EQ(ax_addrinfo_connect(list, 2000), AX_ECONNREFUSED);
    char want[128];
    snprintf(want, sizeof want,
             "Connection to tcp://127.0.0.1:%s failed: Connection refused (ECONNREFUSED)", port);
    CHECK_STR(ax_last_error()->message, want);
    CHECK_EQ(ax_addrinfo_bind(list), AX_EADDRINUSE);
    snprintf(want, sizeof want, "bind to 127.0.0.1:%s failed: Address already in use (EADDRINUSE)",
             port);
    CHECK_STR(ax_last_error()->message, want);
    ax_freeaddrinfo(list);
    ax_close(holder);

    CHECK_EQ(ax_addrinfo_connect(NULL, 100), AX_EINVAL);
    CHECK_ERRMSG("addrinfo connect: no address info given");
    CHECK_EQ(ax_addrinfo_bind(NULL), AX_EINVAL);
}

TEST(explain)
{
    ax_addrinfo hints = {.socktype = SOCK_STREAM}, *list = NULL;
    CHECK_OK(ax_getaddrinfo("127.0.0.1", "80", &hints, &list));
    char buf[256];
    const char *want = "family=AF_INET socktype=SOCK_STREAM protocol=6 address=127.0.0.1:80";
    int n = CHECK_OK(ax_addrinfo_explain(list, buf, sizeof buf));
    CHECK_STR(buf, want);
    CHECK_EQ(n, strlen(want));
    /* The exact room works; one byte less does not. */
    CHECK_EQ(ax_addrinfo_explain(list, buf, (size_t)n + 1), n);
    CHECK_EQ(ax_addrinfo_explain(list, buf, (size_t)n), AX_ENOSPC);
    CHECK_EQ(ax_addrinfo_explain(list, buf, 10), AX_ENOSPC);
    CHECK_ERRMSG("(ENOSPC)");
    ax_freeaddrinfo(list);

    hints.socktype = SOCK_DGRAM;
    CHECK_OK(ax_getaddrinfo("::1", "53", &hints, &list));
    CHECK_OK(ax_addrinfo_explain(list, buf, sizeof buf));
    CHECK_STR(buf, "family=AF_INET6 socktype=SOCK_DGRAM protocol=17 address=[::1]:53");
    ax_freeaddrinfo(list);

    hints = (ax_addrinfo){.family = AF_INET, .socktype = SOCK_STREAM, .flags = AI_CANONNAME};
    CHECK_OK(ax_getaddrinfo("localhost", "80", &hints, &list));
    CHECK_OK(ax_addrinfo_explain(list, buf, sizeof buf));
    CHECK_STR(buf, "family=AF_INET socktype=SOCK_STREAM protocol=6 address=127.0.0.1:80 "
                   "canonname=localhost");
    ax_freeaddrinfo(list);

    /* Unknown numbers are shown as numbers. */
    ax_addrinfo odd;
    memset(&odd, 0, sizeof odd);
    CHECK_OK(ax_addr_from_ip(&odd.addr, "127.0.0.1", 1));
    odd.family = 99;
    odd.socktype = 77;
    CHECK_OK(ax_addrinfo_explain(&odd, buf, sizeof buf));
    CHECK_STR(buf, "family=99 socktype=77 protocol=0 address=127.0.0.1:1");
    CHECK_EQ(ax_addrinfo_explain(NULL, buf, sizeof buf), AX_EINVAL);
}

TEST(freeaddrinfo_null_and_lists)
{
    ax_freeaddrinfo(NULL);
    ax_addrinfo *list = NULL;
    CHECK_OK(ax_getaddrinfo("localhost", "1", NULL, &list));
    CHECK(length(list) >= 1);
    ax_freeaddrinfo(list); /* valgrind checks nothing is left */
}
