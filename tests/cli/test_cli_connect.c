/*
 * `axon connect` against real peers (socat, the test's own sockets): bulk
 * transfers both ways over TCP, Unix and abstract sockets, failures and
 * timeouts (exit status 1), half-close in each direction, --exec, idle
 * timeouts, and stdin/stdout sharing one socket. Every address is loopback
 * or a Unix socket in the test's own directory. Helpers: tests/lib/axt_cli.h.
 */
#include "axt_cli.h"

TEST(connect_failures_exit_1)
{
    unsigned port = axt_free_port(SOCK_STREAM);
    char uri[64], want[AX_URISTRLEN + 200];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", port);
    buf out = {0};
    proc p;
    CHECK_EQ(run_axon(&out, &p, "connect", uri, NULL), 1);
    snprintf(want, sizeof want,
             "axon: Connection to %s failed: Connection refused (ECONNREFUSED)\n", uri);
    CHECK_STR(buf_str(&p.errb), want);

    char path[128];
    snprintf(path, sizeof path, "unix://%s/nobody.sock", axt_tmpdir());
    proc q;
    CHECK_EQ(run_axon(&out, &q, "connect", path, NULL), 1);
    snprintf(want, sizeof want,
             "axon: Connection to %s failed: No such file or directory (ENOENT)\n", path);
    CHECK_STR(buf_str(&q.errb), want);

    /* Hostnames wait for the resolver: a clear error, not a hang. */
    proc r;
    CHECK_EQ(run_axon(&out, &r, "connect", "tcp://localhost:80", NULL), 1);
    CHECK(strstr(buf_str(&r.errb), "axon: Connection to tcp://localhost:80 failed: hostnames"));

    /* A port in use. */
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char busy[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(lfd, busy, sizeof busy));
    proc s;
    CHECK_EQ(run_axon(&out, &s, "listen", busy, NULL), 1);
    snprintf(want, sizeof want, "axon: Failed to listen on \"%s\": ", busy);
    CHECK(strncmp(buf_str(&s.errb), want, strlen(want)) == 0);
    CHECK(strstr(buf_str(&s.errb), "(EADDRINUSE)\n"));
    ax_close(lfd);
}

/* A listener whose accept queue is full drops SYNs: -w must give up. */
TEST(connect_wait_times_out)
{
    ax_addr a;
    CHECK_OK(ax_addr_parse("127.0.0.1:0", &a));
    int lfd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_bind(lfd, &a));
    CHECK(listen(lfd, 0) == 0);
    CHECK_OK(ax_sockname(lfd, &a));
    int fill[16];
    size_t nfill = 0;
    for (; nfill < 16; nfill++) {
        fill[nfill] = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM | AX_SOCK_NONBLOCK, 0));
        if (ax_connect_fd(fill[nfill], &a, -1) == 0)
            continue;
        struct pollfd pf = {.fd = fill[nfill], .events = POLLOUT};
        if (poll(&pf, 1, 300) == 0) {
            nfill++;
            break;
        }
    }
    char uri[64], want[1024];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", ax_addr_port(&a));
    buf out = {0};
    proc p;
    double t0 = axt_now_ms();
    CHECK_EQ(run_axon(&out, &p, "connect", "-w", "300ms", uri, NULL), 1);
    CHECK(axt_now_ms() - t0 >= 250);
    snprintf(want, sizeof want, "axon: Connection to %s timed out after 300 ms (ETIMEDOUT)\n",
             uri);
    CHECK_STR(buf_str(&p.errb), want);
    for (size_t i = 0; i < nfill; i++)
        ax_close(fill[i]);
    ax_close(lfd);
}

/* ------------------------------------------------------------- connect */

TEST_T(connect_tcp_socat_1mib_both_ways, 60)
{
    enum { N = 1 << 20 };
    unsigned char *a_data, *p_data;
    const char *a_in = random_file("axon.in", N, 55, &a_data);
    const char *p_in = random_file("peer.in", N, 66, &p_data);
    unsigned port = axt_free_port(SOCK_STREAM);
    char listen_arg[96], t[16], p_out[256], a_out[256];
    snprintf(listen_arg, sizeof listen_arg, "TCP-LISTEN:%u,bind=127.0.0.1,reuseaddr", port);
    snprintf(t, sizeof t, "-t%d", 5 * axt_scale());
    int pi = open_in(p_in), po = open_out("peer.out", p_out, sizeof p_out);
    const char *argv[] = {"socat", t, listen_arg, "STDIO", NULL};
    proc peer = spawn_io(argv, pi, po, NUL);
    close(pi);
    close(po);
    wait_tcp_listen(port, ms(5000));

    char uri[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", port);
    int ai = open_in(a_in), ao = open_out("axon.out", a_out, sizeof a_out);
    proc ax = axon(ai, ao, PIPE, "connect", "-v", uri, (const char *)NULL);
    close(ai);
    close(ao);
    check_exit(&ax, finish(&ax, ms(20000)), 0);
    int st = finish(&peer, ms(20000));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char want[1024];
    snprintf(want, sizeof want, "axon: connected to %s\n", uri);
    CHECK(strncmp(buf_str(&ax.errb), want, strlen(want)) == 0);
    snprintf(want, sizeof want, "axon: %s closed: %d bytes in, %d bytes out", uri, N, N);
    expect_err(&ax, want, 0);
    buf got = {0};
    read_file(p_out, &got);
    check_same(a_data, N, got.p, got.n);
    got.n = 0;
    read_file(a_out, &got);
    check_same(p_data, N, got.p, got.n);
}

/* Unix path and abstract servers; axon's stdio are pipes. */
static void connect_unix(const char *socat_listen, const char *wait_name, const char *uri)
{
    enum { N = 256 * 1024 };
    unsigned char *p_data;
    const char *p_in = random_file("peer.in", N, 77, &p_data);
    unsigned char *a_data = malloc(N);
    keep(a_data);
    axt_fill_bytes(a_data, N, 88);
    char t[16], p_out[256];
    snprintf(t, sizeof t, "-t%d", 5 * axt_scale());
    int pi = open_in(p_in), po = open_out("peer.out", p_out, sizeof p_out);
    const char *argv[] = {"socat", t, socat_listen, "STDIO", NULL};
    proc peer = spawn_io(argv, pi, po, NUL);
    close(pi);
    close(po);
    wait_unix_listen(wait_name, ms(5000));
    proc ax = axon(PIPE, PIPE, PIPE, "connect", uri, (const char *)NULL);
    buf got = {0};
    pump(&ax, a_data, N, &got, ms(20000));
    check_exit(&ax, finish(&ax, ms(10000)), 0);
    CHECK_STR(buf_str(&ax.errb), "");
    check_same(p_data, N, got.p, got.n);
    int st = finish(&peer, ms(10000));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    got.n = 0;
    read_file(p_out, &got);
    check_same(a_data, N, got.p, got.n);
}

TEST_T(connect_unix_socat, 60)
{
    char path[256], listen_arg[300], uri[300];
    snprintf(path, sizeof path, "%s/srv.sock", axt_tmpdir());
    snprintf(listen_arg, sizeof listen_arg, "UNIX-LISTEN:%s", path);
    snprintf(uri, sizeof uri, "unix://%s", path);
    connect_unix(listen_arg, path, uri);
}

TEST_T(connect_abstract_socat, 60)
{
    char name[64], listen_arg[128], uri[128], wait_name[80];
    snprintf(name, sizeof name, "axon-cli-srv-%d", (int)getpid());
    snprintf(listen_arg, sizeof listen_arg, "ABSTRACT-LISTEN:%s", name);
    snprintf(uri, sizeof uri, "unix://@%s", name);
    snprintf(wait_name, sizeof wait_name, "@%s", name);
    connect_unix(listen_arg, wait_name, uri);
}

/* ----------------------------------------------------------- half-close */

/* EOF on axon's stdin reaches the peer as EOF, and the peer's answer sent
 * after that still comes out of axon's stdout. */
TEST(connect_stdin_eof_half_closes)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char uri[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(lfd, uri, sizeof uri));
    proc ax = axon(PIPE, PIPE, PIPE, "connect", uri, (const char *)NULL);
    int c = CHECK_OK(ax_accept(lfd, NULL, 0));
    send_str(ax.in, "request\n");
    close(ax.in);
    ax.in = -1;
    expect_str(c, "request\n");
    expect_eof(c, ms(5000));
    CHECK(still_running(ax.pid));
    send_str(c, "late reply\n");
    CHECK(shutdown(c, SHUT_WR) == 0);
    buf got = {0};
    pump(&ax, NULL, 0, &got, ms(5000));
    CHECK_STR(buf_str(&got), "late reply\n");
    check_exit(&ax, finish(&ax, ms(5000)), 0);
    ax_close(c);
    ax_close(lfd);
}

TEST(connect_peer_fin_closes_stdout)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char uri[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(lfd, uri, sizeof uri));
    proc ax = axon(PIPE, PIPE, PIPE, "connect", uri, (const char *)NULL);
    int c = CHECK_OK(ax_accept(lfd, NULL, 0));
    peer_fin(&ax, c);
    ax_close(c);
    ax_close(lfd);
}

TEST_T(connect_sh_exec_against_socat, 60)
{
    unsigned port = axt_free_port(SOCK_STREAM);
    char listen_arg[96], t[16], uri[64];
    snprintf(listen_arg, sizeof listen_arg, "TCP-LISTEN:%u,bind=127.0.0.1,reuseaddr", port);
    snprintf(t, sizeof t, "-t%d", 5 * axt_scale());
    const char *argv[] = {"socat", t, listen_arg, "STDIO", NULL};
    proc peer = spawn_io(argv, PIPE, PIPE, NUL);
    wait_tcp_listen(port, ms(5000));
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", port);
    proc ax = axon(NUL, NUL, PIPE, "connect", "--sh-exec", "tr a-z A-Z; echo done", uri,
                   (const char *)NULL);
    buf got = {0};
    pump(&peer, "ping\n", 5, &got, ms(10000));
    CHECK_STR(buf_str(&got), "PING\ndone\n");
    check_exit(&ax, finish(&ax, ms(10000)), 0);
    finish(&peer, ms(10000));
}

TEST(idle_timeout_ends_connect_and_one_shot_listen)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char uri[AX_URISTRLEN], want[1024];
    CHECK_OK(ax_sockname_uri(lfd, uri, sizeof uri));
    proc ax = axon(PIPE, NUL, PIPE, "connect", "--idle-timeout", "0.3", uri, (const char *)NULL);
    int c = CHECK_OK(ax_accept(lfd, NULL, 0));
    send_str(c, "a");
    double t0 = axt_now_ms();
    check_exit(&ax, finish(&ax, ms(5000)), 1);
    CHECK(axt_now_ms() - t0 >= 250);
    snprintf(want, sizeof want, "axon: %s: Connection idle for 300 ms closed (ETIMEDOUT)\n", uri);
    CHECK_STR(buf_str(&ax.errb), want);
    expect_eof(c, ms(5000));
    ax_close(c);
    ax_close(lfd);

    proc ax2 = axon(PIPE, NUL, PIPE, "listen", "-v", "-i", "300ms", "tcp://127.0.0.1:0",
                    (const char *)NULL);
    listening(&ax2, uri, sizeof uri);
    c = connect_to(uri);
    check_exit(&ax2, finish(&ax2, ms(5000)), 1);
    expect_err(&ax2, "Connection idle for 300 ms closed (ETIMEDOUT)", 0);
    expect_eof(c, ms(5000));
    ax_close(c);
}

/* A peer that talks every second keeps `connect -i 2` open. */
TEST_T(connect_idle_timeout_spares_a_peer_talking_every_second, 40)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char uri[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(lfd, uri, sizeof uri));
    proc ax = axon(PIPE, PIPE, PIPE, "connect", "-i", "2", uri, (const char *)NULL);
    int c = CHECK_OK(ax_accept(lfd, NULL, 0));
    for (int i = 0; i < 4; i++) {
        usleep(1000000);
        CHECK(still_running(ax.pid));
        send_str(c, "tick\n");
        char got[8] = {0};
        CHECK_EQ(axt_read_all(ax.out, got, 5, ms(3000)), 5);
        CHECK_STR(got, "tick\n");
    }
    ax_close(c);
    close(ax.in);
    ax.in = -1;
    check_exit(&ax, finish(&ax, ms(5000)), 0);
    CHECK_STR(buf_str(&ax.errb), "");
    ax_close(lfd);
}

/* stdin and stdout on one socket (socat EXEC:, inetd, systemd Accept=yes):
 * when the peer's FIN ends the output, the local side must see its EOF
 * (shutdown(SHUT_WR) on fd 1) although fd 0 keeps the socket open. */
TEST(connect_with_stdin_and_stdout_on_one_socket)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char uri[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(lfd, uri, sizeof uri));
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    proc ax = axon(sp[1], sp[1], PIPE, "connect", uri, (const char *)NULL);
    ax_close(sp[1]);
    int c = CHECK_OK(ax_accept(lfd, NULL, 0));
    send_str(sp[0], "hello"); /* and keep our side open: a request */
    expect_str(c, "hello");
    send_str(c, "world");
    ax_close(c); /* the reply, then FIN */
    expect_str(sp[0], "world");
    expect_eof(sp[0], ms(5000));
    ax_close(sp[0]);
    check_exit(&ax, finish(&ax, ms(5000)), 0);

    /* The same under socat's EXEC:, which gives the program one socket
     * pair end as both stdin and stdout. */
    char exec[PATH_MAX + 2 * AX_URISTRLEN + 32], quoted[2 * AX_URISTRLEN];
    size_t q = 0;
    for (const char *u = uri; *u; u++) { /* socat splits its address at ':' */
        if (*u == ':')
            quoted[q++] = '\\';
        quoted[q++] = *u;
    }
    quoted[q] = '\0';
    snprintf(exec, sizeof exec, "EXEC:%s connect %s", cli(), quoted);
    const char *argv[] = {"socat", "-", exec, NULL};
    proc so = spawn_io(argv, PIPE, PIPE, PIPE);
    send_str(so.in, "hello");
    c = CHECK_OK(ax_accept(lfd, NULL, 0));
    expect_str(c, "hello");
    send_str(c, "world");
    ax_close(c);
    buf out = {0};
    char tmp[64];
    ssize_t n;
    while ((n = read(so.out, tmp, sizeof tmp)) > 0) /* until socat's EOF */
        buf_add(&out, tmp, (size_t)n);
    CHECK_STR(buf_str(&out), "world");
    finish(&so, ms(5000));
    ax_close(lfd);
}
