/*
 * Connect timeouts against peers that never answer: a loopback listener
 * whose accept queue is full (Linux then drops SYNs), and a listener whose
 * SYNs are blackholed inside a network namespace the test creates. Also:
 * the caller's blocking mode survives a timed connect, and a name with
 * several addresses is tried address by address.
 *
 * Every address is loopback, in this process's namespaces or in ones the
 * test makes and that vanish with its child.
 */
#include "harness.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

static int is_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0);
    return (fl & O_NONBLOCK) != 0;
}

/* Waits up to timeout_ms for a non-blocking connect on fd to finish.
 * Returns 1 if it did (successfully), 0 if it is still pending. */
static int connect_finished(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int r;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    CHECK(r >= 0);
    if (r == 0)
        return 0;
    CHECK_EQ(ax_socket_error(fd), 0);
    return 1;
}

/*
 * A listener on 127.0.0.1 with backlog 0 that never accepts, filled with
 * non-blocking connections until one stays pending: Linux queues backlog
 * + 1 connections and then drops every further SYN, so a new connect gets
 * no answer at all. The fillers go to fill[] (closed by the caller).
 */
enum { MAX_FILL = 16 };

static int full_listener(ax_addr *addr, int fill[MAX_FILL], size_t *nfill)
{
    CHECK_OK(ax_addr_parse("127.0.0.1:0", addr));
    int lfd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_bind(lfd, addr));
    CHECK(listen(lfd, 0) == 0); /* ax_listen() reads 0 as "the default" */
    CHECK_OK(ax_sockname(lfd, addr));
    *nfill = 0;
    while (*nfill < MAX_FILL) {
        int fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM | AX_SOCK_NONBLOCK, 0));
        fill[(*nfill)++] = fd;
        int rc = ax_connect_fd(fd, addr, -1);
        if (rc == 0)
            continue;
        CHECK_EQ(rc, AX_EINPROGRESS);
        /* Loopback handshakes finish within the connect() call or right
         * after; give a slow machine a second look before calling it full. */
        if (!connect_finished(fd, 100) && !connect_finished(fd, 200))
            return lfd;
    }
    axt_fail(__FILE__, __LINE__, "the backlog-0 listener took %d connections without filling",
             MAX_FILL);
}

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ax_close(fds[i]);
}

/* ax_connect_uri(uri) with timeout_ms must fail after at least ~timeout_ms
 * with exactly "Connection to <uri> timed out after <text> (ETIMEDOUT)". */
static void expect_uri_timeout(const char *uri, int timeout_ms, const char *text)
{
    ax_connect_opts o = {.timeout_ms = timeout_ms};
    double t0 = axt_now_ms();
    int rc = ax_connect_uri(uri, &o);
    double el = axt_now_ms() - t0;
    if (rc >= 0)
        ax_close(rc);
    CHECK_EQ(rc, AX_ETIMEDOUT);
    char want[200];
    snprintf(want, sizeof want, "Connection to %s timed out after %s (ETIMEDOUT)", uri, text);
    CHECK_STR(ax_last_error()->message, want);
    CHECK_EQ(ax_last_error()->code, AX_ETIMEDOUT);
    if (el < timeout_ms - 50 || el > 5000.0 * axt_scale())
        axt_fail(__FILE__, __LINE__, "timeout of %d ms took %.0f ms", timeout_ms, el);
}

/* ----------------------------------------------------- full backlog */

TEST(full_backlog_connect_times_out)
{
    ax_addr a;
    int fill[MAX_FILL];
    size_t n;
    int lfd = full_listener(&a, fill, &n);
    char uri[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", ax_addr_port(&a));
    expect_uri_timeout(uri, 300, "300 ms");
    expect_uri_timeout(uri, 1000, "1 second");
    close_all(fill, n);
    ax_close(lfd);
}

/* ax_connect_fd() on the caller's blocking fd turns O_NONBLOCK on only for
 * its own wait: after a timeout, a refusal or a success the fd is blocking
 * again, and a non-blocking fd stays non-blocking. */
TEST(timed_connect_keeps_blocking_mode)
{
    ax_addr full;
    int fill[MAX_FILL];
    size_t n;
    int lfd = full_listener(&full, fill, &n);

    int fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK(!is_nonblocking(fd));
    double t0 = axt_now_ms();
    CHECK_EQ(ax_connect_fd(fd, &full, 300), AX_ETIMEDOUT);
    CHECK(axt_now_ms() - t0 >= 250);
    char want[200];
    snprintf(want, sizeof want,
             "Connection to tcp://127.0.0.1:%u timed out after 300 ms (ETIMEDOUT)",
             ax_addr_port(&full));
    CHECK_STR(ax_last_error()->message, want);
    CHECK(!is_nonblocking(fd));
    ax_close(fd);

    /* Success, on a blocking and on a non-blocking fd. */
    int srv = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    ax_addr ok;
    CHECK_OK(ax_sockname(srv, &ok));
    fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_connect_fd(fd, &ok, 2000));
    CHECK(!is_nonblocking(fd));
    int c = CHECK_OK(ax_accept(srv, NULL, 0));
    CHECK_EQ(ax_write(c, "blocking", 8), 8);
    char buf[16];
    CHECK_EQ(ax_read(fd, buf, sizeof buf), 8);
    CHECK(memcmp(buf, "blocking", 8) == 0);
    ax_close(c);
    ax_close(fd);

    fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM | AX_SOCK_NONBLOCK, 0));
    CHECK_OK(ax_connect_fd(fd, &ok, 2000));
    CHECK(is_nonblocking(fd));
    CHECK_EQ(ax_read(fd, buf, sizeof buf), AX_EAGAIN);
    ax_close(fd);

    /* A refusal (nothing listens any more) restores the mode as well. */
    ax_close(srv);
    fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_EQ(ax_connect_fd(fd, &ok, 2000), AX_ECONNREFUSED);
    CHECK(!is_nonblocking(fd));
    ax_close(fd);

    close_all(fill, n);
    ax_close(lfd);
}

/* --------------------------------------------- a blackhole in a netns */

static int run_quiet(const char *cmd)
{
    char full[512];
    snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
    int st = system(full);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int have_tool(const char *name)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s", name);
    return run_quiet(cmd);
}

static void lo_up(void)
{
    int s = CHECK_OK(ax_socket(AF_INET, SOCK_DGRAM, 0));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    CHECK(ioctl(s, SIOCGIFFLAGS, &ifr) == 0);
    ifr.ifr_flags = (short)(ifr.ifr_flags | IFF_UP);
    CHECK(ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
    ax_close(s);
}

/*
 * Makes SYNs to lfd's port vanish, by the first mechanism that works:
 * tc netem loss 100% on lo, an nftables or iptables DROP rule, or (needing
 * nothing beyond the kernel) a socket filter on the listener that drops
 * every packet before TCP sees it. AXT_BLACKHOLE=netem|nft|iptables|
 * sockfilter forces one. Returns its name, or NULL with why[] saying what
 * was missing.
 */
static const char *blackhole(int lfd, unsigned port, char *why, size_t wl)
{
    const char *force = getenv("AXT_BLACKHOLE");
    char cmd[300];
    size_t used = 0;
    why[0] = '\0';
#define WANT(m) (!force || strcmp(force, (m)) == 0)
#define WHY(...) (used += (size_t)snprintf(why + used, used < wl ? wl - used : 0, __VA_ARGS__))
    if (WANT("netem")) {
        if (have_tool("modprobe"))
            run_quiet("modprobe sch_netem");
        if (!have_tool("tc"))
            WHY("netem: tc (iproute2) not installed; ");
        else if (run_quiet("tc qdisc add dev lo root netem loss 100%"))
            return "tc netem loss 100%";
        else
            WHY("netem: `tc qdisc add dev lo root netem loss 100%%` failed (no sch_netem "
                "in this kernel?); ");
    }
    if (WANT("nft")) {
        snprintf(cmd, sizeof cmd,
                 "nft add table inet axt && nft 'add chain inet axt in { type filter hook input "
                 "priority 0; }' && nft add rule inet axt in tcp dport %u drop",
                 port);
        if (!have_tool("nft"))
            WHY("nft: not installed; ");
        else if (run_quiet(cmd))
            return "nftables drop rule";
        else
            WHY("nft: adding the drop rule failed; ");
    }
    if (WANT("iptables")) {
        snprintf(cmd, sizeof cmd, "iptables -w -A INPUT -p tcp --dport %u -j DROP", port);
        if (!have_tool("iptables"))
            WHY("iptables: not installed; ");
        else if (run_quiet(cmd))
            return "iptables drop rule";
        else
            WHY("iptables: adding the drop rule failed; ");
    }
    if (WANT("sockfilter")) {
        struct sock_filter drop_all[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
        struct sock_fprog prog = {.len = 1, .filter = drop_all};
        if (setsockopt(lfd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0)
            return "socket filter dropping every packet";
        WHY("sockfilter: SO_ATTACH_FILTER failed: %s; ", strerror(errno));
    }
#undef WANT
#undef WHY
    return NULL;
}

/* In a child with a network namespace of its own (only lo, brought up
 * here): a listener that first answers, then has its SYNs blackholed. */
static void netns_child(void)
{
    if (unshare(CLONE_NEWNET) < 0)
        axt_fail(__FILE__, __LINE__, "unshare(CLONE_NEWNET) failed: %s (needs root or "
                 "CAP_SYS_ADMIN)", strerror(errno));
    lo_up();
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    ax_addr a;
    CHECK_OK(ax_sockname(lfd, &a));
    char uri[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", ax_addr_port(&a));

    /* The namespace works: the same connect succeeds before the blackhole. */
    ax_connect_opts o = {.timeout_ms = 2000};
    int fd = CHECK_OK(ax_connect_uri(uri, &o));
    int c = CHECK_OK(ax_accept(lfd, NULL, 0));
    ax_close(c);
    ax_close(fd);

    char why[600];
    const char *how = blackhole(lfd, ax_addr_port(&a), why, sizeof why);
    if (!how)
        axt_fail(__FILE__, __LINE__, "cannot blackhole traffic in the namespace: %s", why);
    fprintf(stderr, "  (blackhole: %s)\n", how);
    expect_uri_timeout(uri, 400, "400 ms");
    ax_close(lfd);
}

TEST(netns_blackhole_connect_times_out)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        netns_child();
        fflush(NULL);
        _exit(0);
    }
    int st = axt_wait(pid, 15000 * axt_scale());
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        axt_fail(__FILE__, __LINE__, "namespace child failed (status 0x%x), see above",
                 (unsigned)st);
}

/* ------------------------------------------- every address in turn */

/* "localhost:PORT" with only 127.0.0.1 listening: wherever localhost
 * resolves to ::1 first, the first attempt is refused and the next one
 * must be made. */
TEST(localhost_connects_with_only_ipv4_listening)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    ax_addr a, peer;
    CHECK_OK(ax_sockname(lfd, &a));
    ax_addrinfo hints = {.socktype = SOCK_STREAM}, *list = NULL;
    CHECK_OK(ax_getaddrinfo("localhost", NULL, &hints, &list));
    int has_v6 = 0;
    for (ax_addrinfo *ai = list; ai; ai = ai->next)
        has_v6 |= ai->family == AF_INET6;
    ax_freeaddrinfo(list);
    if (!has_v6)
        fprintf(stderr, "  (note: localhost has no ::1 address here - /etc/hosts lacks "
                        "\"::1 localhost\"; the next test forces the case)\n");
    char uri[64];
    snprintf(uri, sizeof uri, "localhost:%u", ax_addr_port(&a));
    ax_connect_opts o = {.timeout_ms = 2000};
    int fd = CHECK_OK(ax_connect_uri(uri, &o));
    CHECK_OK(ax_peername(fd, &peer));
    CHECK(ax_addr_equal(&peer, &a));
    ax_close(fd);
    ax_close(lfd);
}

/*
 * The same with localhost resolving to ::1 and then 127.0.0.1 for sure: a
 * child with a mount namespace of its own bind-mounts such a hosts file
 * over /etc/hosts (glibc reads it on every lookup). Then, with nothing
 * listening at all, the error is the last address's.
 */
static void hosts_child(void)
{
    char hosts[128];
    snprintf(hosts, sizeof hosts, "%s/hosts", axt_tmpdir());
    FILE *f = fopen(hosts, "w");
    CHECK(f);
    fputs("::1 localhost\n127.0.0.1 localhost\n", f);
    fclose(f);
    if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount(hosts, "/etc/hosts", "none", MS_BIND, NULL) < 0)
        axt_fail(__FILE__, __LINE__, "cannot bind-mount a hosts file in a mount namespace: %s",
                 strerror(errno));

    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    ax_addr a, peer;
    CHECK_OK(ax_sockname(lfd, &a));
    char port[8], uri[64], fmt[AX_ADDRSTRLEN], want[160];
    snprintf(port, sizeof port, "%u", ax_addr_port(&a));
    ax_addrinfo hints = {.socktype = SOCK_STREAM}, *list = NULL;
    CHECK_OK(ax_getaddrinfo("localhost", port, &hints, &list));
    CHECK(list && list->next && !list->next->next);
    CHECK_OK(ax_addr_format(&list->addr, fmt, sizeof fmt));
    snprintf(want, sizeof want, "[::1]:%s", port);
    CHECK_STR(fmt, want);
    CHECK_OK(ax_addr_format(&list->next->addr, fmt, sizeof fmt));
    snprintf(want, sizeof want, "127.0.0.1:%s", port);
    CHECK_STR(fmt, want);
    ax_freeaddrinfo(list);

    snprintf(uri, sizeof uri, "tcp://localhost:%s", port);
    ax_connect_opts o = {.timeout_ms = 2000};
    int fd = CHECK_OK(ax_connect_uri(uri, &o));
    CHECK_OK(ax_peername(fd, &peer));
    CHECK(ax_addr_equal(&peer, &a));
    ax_close(fd);

    ax_close(lfd); /* now both addresses refuse */
    CHECK_EQ(ax_connect_uri(uri, &o), AX_ECONNREFUSED);
    snprintf(want, sizeof want,
             "Connection to tcp://127.0.0.1:%s failed: Connection refused (ECONNREFUSED)", port);
    CHECK_STR(ax_last_error()->message, want);
}

TEST(localhost_v6_first_falls_back_to_v4)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        hosts_child();
        fflush(NULL);
        _exit(0);
    }
    int st = axt_wait(pid, 10000 * axt_scale());
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        axt_fail(__FILE__, __LINE__, "hosts child failed (status 0x%x), see above",
                 (unsigned)st);
}
