/*
 * `axon listen` against real peers (socat, ncat, netcat-openbsd and the
 * test's own sockets): one-shot transfers, half-close, --echo, --chat,
 * --exec/--sh-exec, inherited fd:// listeners, -k broadcast, limits and
 * timeouts. Every address is loopback or a Unix socket in the test's own
 * directory (or an abstract name carrying the test's pid). Helpers:
 * tests/lib/axt_cli.h.
 */
#include "axt_cli.h"

/* ------------------------------------------------------ one-shot listen */

/* axon listen with regular files as stdin/stdout, and a peer: argv with
 * argv[slot] = prefix + the address axon listens on (without its scheme).
 * 1 MiB each way, every byte compared. */
static void oneshot_files(const char *listen_uri, const char **argv, int slot,
                          const char *prefix, const char *tool)
{
    enum { N = 1 << 20 };
    unsigned char *a_data, *p_data;
    const char *a_in = random_file("axon.in", N, 11, &a_data);
    const char *p_in = random_file("peer.in", N, 22, &p_data);
    char a_out[256], p_out[256];
    int ai = open_in(a_in), ao = open_out("axon.out", a_out, sizeof a_out);
    proc ax = axon(ai, ao, PIPE, "listen", "-v", listen_uri, (const char *)NULL);
    close(ai);
    close(ao);
    char uri[AX_URISTRLEN];
    listening(&ax, uri, sizeof uri);

    char target[400];
    const char *addr = strncmp(uri, "tcp://", 6) == 0     ? uri + 6
                       : strncmp(uri, "unix://@", 8) == 0 ? uri + 8
                                                          : uri + 7;
    snprintf(target, sizeof target, "%s%s", prefix, addr);
    argv[slot] = target;
    int pi = open_in(p_in), po = open_out("peer.out", p_out, sizeof p_out);
    proc peer = spawn_io(argv, pi, po, NUL);
    close(pi);
    close(po);

    int st = finish(&peer, ms(20000));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        axt_fail(__FILE__, __LINE__, "%s ended with status 0x%x", tool, (unsigned)st);
    st = finish(&ax, ms(20000));
    check_exit(&ax, st, 0);
    buf got = {0};
    read_file(p_out, &got);
    check_same(a_data, N, got.p, got.n);
    got.n = 0;
    read_file(a_out, &got);
    check_same(p_data, N, got.p, got.n);
    char want[1024];
    snprintf(want, sizeof want, "closed: %d bytes in, %d bytes out", N, N);
    expect_err(&ax, want, 0);
}

TEST_T(listen_tcp_socat_1mib_both_ways, 60)
{
    char t[16];
    snprintf(t, sizeof t, "-t%d", 5 * axt_scale());
    const char *argv[] = {"socat", t, NULL, "STDIO", NULL};
    oneshot_files("tcp://127.0.0.1:0", argv, 2, "TCP:", "socat");
}

TEST_T(listen_tcp_ncat_1mib_both_ways, 60)
{
    /* ncat wants host and port apart; the address is 127.0.0.1:PORT. */
    enum { N = 1 << 20 };
    unsigned char *p_data;
    const char *p_in = random_file("peer.in", N, 33, &p_data);
    unsigned char *a_data = malloc(N);
    keep(a_data);
    axt_fill_bytes(a_data, N, 44);
    proc ax = axon(PIPE, PIPE, PIPE, "listen", "-v", "127.0.0.1:0", (const char *)NULL);
    char uri[AX_URISTRLEN], port[16];
    listening(&ax, uri, sizeof uri);
    snprintf(port, sizeof port, "%u", port_of(uri));
    char p_out[256];
    int pi = open_in(p_in), po = open_out("peer.out", p_out, sizeof p_out);
    const char *argv[] = {"ncat", "127.0.0.1", port, NULL};
    proc peer = spawn_io(argv, pi, po, NUL);
    close(pi);
    close(po);
    /* axon's stdin and stdout are pipes here: fed and drained at once. */
    buf got = {0};
    pump(&ax, a_data, N, &got, ms(20000));
    check_exit(&ax, finish(&ax, ms(10000)), 0);
    check_same(p_data, N, got.p, got.n);
    int st = finish(&peer, ms(10000));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    got.n = 0;
    read_file(p_out, &got);
    check_same(a_data, N, got.p, got.n);
}

TEST_T(listen_unix_nc, 60)
{
    char uri[300];
    snprintf(uri, sizeof uri, "unix://%s/axon.sock", axt_tmpdir());
    const char *argv[] = {"nc", "-N", "-U", NULL, NULL};
    oneshot_files(uri, argv, 3, "", "nc");
    /* The socket file goes away with the listener. */
    struct stat sb;
    CHECK(stat(uri + 7, &sb) < 0 && errno == ENOENT);
}

TEST_T(listen_abstract_socat, 60)
{
    char uri[128], t[16];
    snprintf(uri, sizeof uri, "unix://@axon-cli-test-%d", (int)getpid());
    snprintf(t, sizeof t, "-t%d", 5 * axt_scale());
    const char *argv[] = {"socat", t, NULL, "STDIO", NULL};
    oneshot_files(uri, argv, 2, "ABSTRACT-CONNECT:", "socat");
}

TEST(listen_half_close_both_ways)
{
    proc ax = axon(PIPE, PIPE, PIPE, "listen", "-v", "tcp://[::1]:0", (const char *)NULL);
    char uri[AX_URISTRLEN];
    listening(&ax, uri, sizeof uri);
    CHECK(strncmp(uri, "tcp://[::1]:", 12) == 0);
    int c = connect_to(uri);
    peer_fin(&ax, c);
    ax_close(c);

    /* And the other way round: the client ends first, axon answers. */
    proc ax2 = axon(PIPE, PIPE, PIPE, "listen", "-v", "tcp://127.0.0.1:0", (const char *)NULL);
    listening(&ax2, uri, sizeof uri);
    c = connect_to(uri);
    send_str(c, "question\n");
    CHECK(shutdown(c, SHUT_WR) == 0);
    expect_str(ax2.out, "question\n");
    expect_eof(ax2.out, ms(5000));
    CHECK(still_running(ax2.pid));
    send_str(ax2.in, "answer\n");
    close(ax2.in);
    ax2.in = -1;
    expect_str(c, "answer\n");
    expect_eof(c, ms(5000));
    check_exit(&ax2, finish(&ax2, ms(5000)), 0);
    ax_close(c);
}

/* ------------------------------------------------------------ --echo */

TEST_T(echo_serves_clients_at_once, 60)
{
    proc ax = axon(NUL, NUL, PIPE, "listen", "--echo", "-v", "tcp://127.0.0.1:0",
                   (const char *)NULL);
    char uri[AX_URISTRLEN], target[AX_URISTRLEN + 16], t[16];
    listening(&ax, uri, sizeof uri);
    snprintf(target, sizeof target, "TCP:%s", uri + 6);
    snprintf(t, sizeof t, "-t%d", 5 * axt_scale());
    enum { N = 512 * 1024 };
    unsigned char *d1, *d2;
    const char *in1 = random_file("c1.in", N, 1, &d1);
    const char *in2 = random_file("c2.in", N, 2, &d2);
    char out1[256], out2[256];
    int i1 = open_in(in1), o1 = open_out("c1.out", out1, sizeof out1);
    int i2 = open_in(in2), o2 = open_out("c2.out", out2, sizeof out2);
    const char *argv[] = {"socat", t, target, "STDIO", NULL};
    proc c[4];
    c[0] = spawn_io(argv, i1, o1, NUL);
    c[1] = spawn_io(argv, i2, o2, NUL);
    close(i1);
    close(o1);
    close(i2);
    close(o2);
    /* ncat and nc too, at the same time. */
    char port[16];
    snprintf(port, sizeof port, "%u", port_of(uri));
    const char *ncat_argv[] = {"ncat", "127.0.0.1", port, NULL};
    const char *nc_argv[] = {"nc", "-N", "127.0.0.1", port, NULL};
    c[2] = spawn_io(ncat_argv, PIPE, PIPE, NUL);
    c[3] = spawn_io(nc_argv, PIPE, PIPE, NUL);
    buf g3 = {0}, g4 = {0};
    pump(&c[2], "ncat says hi\n", 13, &g3, ms(10000));
    pump(&c[3], "nc says hi\n", 11, &g4, ms(10000));
    CHECK_STR(buf_str(&g3), "ncat says hi\n");
    CHECK_STR(buf_str(&g4), "nc says hi\n");
    for (int i = 0; i < 4; i++) {
        int st = finish(&c[i], ms(20000));
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    buf got = {0};
    read_file(out1, &got);
    check_same(d1, N, got.p, got.n);
    got.n = 0;
    read_file(out2, &got);
    check_same(d2, N, got.p, got.n);
    char want[1024];
    snprintf(want, sizeof want, "closed: %d bytes in, %d bytes out", N, N);
    expect_err(&ax, want, ms(5000));
    expect_err(&ax, want, ms(5000));
    CHECK(still_running(ax.pid));
    kill(ax.pid, SIGTERM);
    check_exit(&ax, finish(&ax, ms(10000)), 128 + SIGTERM);
}

/* ------------------------------------------------------------ --chat */

TEST_T(chat_relays_lines_between_three_clients, 60)
{
    proc ax = axon(NUL, NUL, PIPE, "listen", "--chat", "-v", "tcp://127.0.0.1:0",
                   (const char *)NULL);
    char uri[AX_URISTRLEN], target[AX_URISTRLEN + 16], t[16];
    listening(&ax, uri, sizeof uri);
    snprintf(target, sizeof target, "TCP:%s", uri + 6);
    snprintf(t, sizeof t, "-t%d", 5 * axt_scale());
    const char *argv[] = {"socat", t, "STDIO", target, NULL};
    proc c[3];
    char addr[3][AX_URISTRLEN];
    for (int i = 0; i < 3; i++) {
        c[i] = spawn_io(argv, PIPE, PIPE, NUL);
        connection_from(&ax, addr[i], sizeof addr[i]);
        CHECK(strncmp(addr[i], "tcp://127.0.0.1:", 16) == 0);
    }
    char want[1024];
    send_str(c[0].in, "hello from one\n");
    snprintf(want, sizeof want, "[%s] hello from one\n", addr[0]);
    expect_str(c[1].out, want);
    expect_str(c[2].out, want);

    /* A line in pieces arrives whole. */
    send_str(c[1].in, "par");
    usleep(50000);
    send_str(c[1].in, "tial line\nand a second\n");
    snprintf(want, sizeof want, "[%s] partial line\n[%s] and a second\n", addr[1], addr[1]);
    expect_str(c[0].out, want);
    expect_str(c[2].out, want);

    /* A last line without "\n" goes out when its sender ends; the sender
     * still hears the others afterwards. */
    send_str(c[2].in, "bye");
    close(c[2].in);
    c[2].in = -1;
    snprintf(want, sizeof want, "[%s] bye\n", addr[2]);
    expect_str(c[0].out, want);
    expect_str(c[1].out, want);
    send_str(c[0].in, "still there?\n");
    snprintf(want, sizeof want, "[%s] still there?\n", addr[0]);
    expect_str(c[1].out, want);
    expect_str(c[2].out, want);

    /* Nobody got anything else, their own lines included. */
    kill(ax.pid, SIGTERM);
    check_exit(&ax, finish(&ax, ms(10000)), 128 + SIGTERM);
    for (int i = 0; i < 3; i++) {
        buf rest = {0};
        pump(&c[i], NULL, 0, &rest, ms(10000));
        CHECK_STR(buf_str(&rest), "");
        finish(&c[i], ms(10000));
    }
}

/* ------------------------------------------------------- --exec, --sh-exec */

TEST_T(exec_cat_echoes_1mib, 60)
{
    enum { N = 1 << 20 };
    unsigned char *d;
    const char *in = random_file("c.in", N, 99, &d);
    proc ax = axon(NUL, NUL, PIPE, "listen", "-v", "--exec", "/bin/cat", "tcp://127.0.0.1:0",
                   (const char *)NULL);
    char uri[AX_URISTRLEN], target[AX_URISTRLEN + 16], t[16], out[256];
    listening(&ax, uri, sizeof uri);
    snprintf(target, sizeof target, "TCP:%s", uri + 6);
    snprintf(t, sizeof t, "-t%d", 5 * axt_scale());
    int i = open_in(in), o = open_out("c.out", out, sizeof out);
    const char *argv[] = {"socat", t, "STDIO", target, NULL};
    proc c = spawn_io(argv, i, o, NUL);
    close(i);
    close(o);
    int st = finish(&c, ms(20000));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    check_exit(&ax, finish(&ax, ms(10000)), 0); /* one client, then done */
    buf got = {0};
    read_file(out, &got);
    check_same(d, N, got.p, got.n);
    char want[1024];
    snprintf(want, sizeof want, "closed: %d bytes in, %d bytes out", N, N);
    expect_err(&ax, "running \"/bin/cat\" (pid ", 0);
    expect_err(&ax, want, 0);
}

TEST_T(sh_exec_keep_open_runs_one_command_per_client, 60)
{
    proc ax = axon(NUL, NUL, PIPE, "listen", "-k", "-v", "--sh-exec", "tr a-z A-Z",
                   "tcp://127.0.0.1:0", (const char *)NULL);
    char uri[AX_URISTRLEN], port[16];
    listening(&ax, uri, sizeof uri);
    snprintf(port, sizeof port, "%u", port_of(uri));
    const char *argv[] = {"nc", "-N", "127.0.0.1", port, NULL};
    for (int round = 0; round < 2; round++) {
        proc c = spawn_io(argv, PIPE, PIPE, NUL);
        buf got = {0};
        const char *msg = round ? "second client\n" : "hello, world\n";
        pump(&c, msg, strlen(msg), &got, ms(10000));
        CHECK_STR(buf_str(&got), round ? "SECOND CLIENT\n" : "HELLO, WORLD\n");
        int st = finish(&c, ms(10000));
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    expect_err(&ax, "exited with status 0", ms(5000));
    CHECK(still_running(ax.pid));
    kill(ax.pid, SIGINT);
    check_exit(&ax, finish(&ax, ms(10000)), 128 + SIGINT);
}

TEST(exec_missing_command_fails)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char uri[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(lfd, uri, sizeof uri));
    buf out = {0};
    proc p;
    CHECK_EQ(run_axon(&out, &p, "connect", "--exec", "/nonexistent/prog -x", uri, NULL), 1);
    CHECK_STR(buf_str(&p.errb),
              "axon: Cannot run \"/nonexistent/prog -x\": No such file or directory\n");
    int c = CHECK_OK(ax_accept(lfd, NULL, 0));
    expect_eof(c, ms(5000));
    ax_close(c);
    ax_close(lfd);
}

/* ------------------------------------------------------------- fd:// */

/* A parent passes a listening socket; axon serves on it, and a command it
 * runs does not inherit it. */
TEST(listen_on_inherited_fd)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char addr[AX_URISTRLEN], fduri[32];
    CHECK_OK(ax_sockname_uri(lfd, addr, sizeof addr));
    CHECK(fcntl(lfd, F_SETFD, 0) == 0);
    snprintf(fduri, sizeof fduri, "fd://%d", lfd);
    char script[64];
    snprintf(script, sizeof script, "cat; test -e /proc/self/fd/%d && echo LEAKED", lfd);
    proc ax = axon(NUL, NUL, PIPE, "listen", "-k", "-v", "--sh-exec", script, fduri,
                   (const char *)NULL);
    ax_close(lfd); /* axon holds its own copy now */
    char uri[AX_URISTRLEN];
    listening(&ax, uri, sizeof uri);
    CHECK_STR(uri, addr);
    int c = connect_to(addr);
    send_str(c, "through an inherited socket\n");
    CHECK(shutdown(c, SHUT_WR) == 0);
    expect_str(c, "through an inherited socket\n");
    expect_eof(c, ms(5000));
    kill(ax.pid, SIGTERM);
    check_exit(&ax, finish(&ax, ms(5000)), 128 + SIGTERM);
    ax_close(c);
}

TEST(listen_on_inherited_unix_fd_with_stdio)
{
    char path[256], uri[300];
    snprintf(path, sizeof path, "%s/inherited.sock", axt_tmpdir());
    snprintf(uri, sizeof uri, "unix://%s", path);
    int lfd = CHECK_OK(ax_listen_uri(uri, NULL));
    CHECK(fcntl(lfd, F_SETFD, 0) == 0);
    char fduri[32];
    snprintf(fduri, sizeof fduri, "fd://%d", lfd);
    proc ax = axon(PIPE, PIPE, PIPE, "listen", "-v", fduri, (const char *)NULL);
    ax_close(lfd);
    char got_uri[AX_URISTRLEN];
    listening(&ax, got_uri, sizeof got_uri);
    CHECK_STR(got_uri, uri);
    int c = connect_to(uri);
    const char *l = expect_err(&ax, "axon: connection from unix://(pid ", ms(5000));
    CHECK(strtol(l + strlen("axon: connection from unix://(pid "), NULL, 10) == getpid());
    send_str(c, "to axon\n");
    CHECK(shutdown(c, SHUT_WR) == 0);
    buf got = {0};
    send_str(ax.in, "to client\n");
    close(ax.in);
    ax.in = -1;
    pump(&ax, NULL, 0, &got, ms(5000));
    CHECK_STR(buf_str(&got), "to axon\n");
    expect_str(c, "to client\n");
    expect_eof(c, ms(5000));
    check_exit(&ax, finish(&ax, ms(5000)), 0);
    ax_close(c);
}

/* ------------------------------------------------------- -k broadcast */

TEST(keep_open_broadcasts_stdin_and_gathers_clients)
{
    proc ax = axon(PIPE, PIPE, PIPE, "listen", "-k", "-v", "tcp://127.0.0.1:0",
                   (const char *)NULL);
    char uri[AX_URISTRLEN], a1[AX_URISTRLEN], a2[AX_URISTRLEN];
    listening(&ax, uri, sizeof uri);
    int c1 = connect_to(uri);
    connection_from(&ax, a1, sizeof a1);
    int c2 = connect_to(uri);
    connection_from(&ax, a2, sizeof a2);
    send_str(ax.in, "to everyone\n");
    expect_str(c1, "to everyone\n");
    expect_str(c2, "to everyone\n");
    send_str(c1, "from one\n");
    expect_str(ax.out, "from one\n");
    send_str(c2, "from two\n");
    expect_str(ax.out, "from two\n");
    /* A client that ends still hears stdin; stdin's end ends them all. */
    CHECK(shutdown(c1, SHUT_WR) == 0);
    send_str(ax.in, "still\n");
    expect_str(c1, "still\n");
    expect_str(c2, "still\n");
    close(ax.in);
    ax.in = -1;
    expect_eof(c1, ms(5000));
    expect_eof(c2, ms(5000));
    char want[1024];
    snprintf(want, sizeof want, "axon: %s closed: 9 bytes in, 18 bytes out", a1);
    expect_err(&ax, want, ms(5000));
    /* Still accepting: a late client gets EOF at once (stdin is over). */
    int c3 = connect_to(uri);
    expect_eof(c3, ms(5000));
    CHECK(still_running(ax.pid));
    kill(ax.pid, SIGTERM);
    check_exit(&ax, finish(&ax, ms(5000)), 128 + SIGTERM);
    ax_close(c1);
    ax_close(c2);
    ax_close(c3);
}

/* ------------------------------------------------------ limits, timeouts */

TEST(max_conns_rejects_extra_clients)
{
    proc ax = axon(NUL, NUL, PIPE, "listen", "--echo", "--max-conns", "1", "-v",
                   "tcp://127.0.0.1:0", (const char *)NULL);
    char uri[AX_URISTRLEN];
    listening(&ax, uri, sizeof uri);
    int c1 = connect_to(uri);
    send_str(c1, "one\n");
    expect_str(c1, "one\n");
    int c2 = connect_to(uri); /* the kernel completes it; axon closes it */
    expect_eof(c2, ms(5000));
    expect_err(&ax, "Connection closed because server reached connection limit", ms(5000));
    send_str(c1, "still one\n");
    expect_str(c1, "still one\n");
    ax_close(c1);
    expect_err(&ax, "closed: 14 bytes in, 14 bytes out", ms(5000));
    int c3 = connect_to(uri);
    send_str(c3, "three\n");
    expect_str(c3, "three\n");
    kill(ax.pid, SIGTERM);
    check_exit(&ax, finish(&ax, ms(5000)), 128 + SIGTERM);
    ax_close(c2);
    ax_close(c3);
}

TEST(idle_timeout_closes_idle_clients)
{
    proc ax = axon(NUL, NUL, PIPE, "listen", "--echo", "-i", "400ms", "-v",
                   "tcp://127.0.0.1:0", (const char *)NULL);
    char uri[AX_URISTRLEN];
    listening(&ax, uri, sizeof uri);
    int c = connect_to(uri);
    double t0 = axt_now_ms();
    /* Activity keeps it open past the timeout... */
    for (int i = 0; i < 6; i++) {
        send_str(c, "x");
        expect_str(c, "x");
        usleep(50000);
    }
    CHECK(still_running(ax.pid));
    /* ...silence ends it: no sooner than 400 ms after the last "x". */
    expect_eof(c, ms(5000));
    if (axt_now_ms() - t0 < 250 + 400 - 100)
        axt_fail(__FILE__, __LINE__, "closed after %.0f ms; stderr:\n%s", axt_now_ms() - t0,
                 buf_str(&ax.errb));
    expect_err(&ax, "Connection idle for", ms(5000));
    kill(ax.pid, SIGTERM);
    check_exit(&ax, finish(&ax, ms(5000)), 128 + SIGTERM);
    ax_close(c);
}

/* The idle clock of a one-shot listen starts when the client arrives, not
 * when the loop last woke: a client that comes 1.5 s after the start of a
 * 1 s idle timeout still gets its data through. */
TEST(listen_idle_timeout_counts_from_the_client_not_the_start)
{
    proc ax = axon(PIPE, PIPE, PIPE, "listen", "-v", "-i", "1s", "tcp://127.0.0.1:0",
                   (const char *)NULL);
    char uri[AX_URISTRLEN];
    listening(&ax, uri, sizeof uri);
    usleep(1500000);
    int c = connect_to(uri);
    send_str(c, "hello\n");
    char got[16] = {0};
    CHECK_EQ(axt_read_all(ax.out, got, 6, ms(3000)), 6);
    CHECK_STR(got, "hello\n");
    ax_close(c);
    close(ax.in);
    ax.in = -1;
    check_exit(&ax, finish(&ax, ms(5000)), 0);
}

/* A live Unix listener with a full accept queue is in use: listen says
 * so at once instead of hanging on its probe. */
TEST_T(listen_on_busy_unix_path_says_in_use, 15)
{
    char path[256], uri[300];
    snprintf(path, sizeof path, "%s/busy.sock", axt_tmpdir());
    snprintf(uri, sizeof uri, "unix://%s", path);
    int fill[64];
    size_t n;
    int lfd = axt_unix_full_listener(path, fill, 64, &n);
    buf out = {0};
    proc p;
    CHECK_EQ(run_axon(&out, &p, "listen", uri, NULL), 1); /* it hung here */
    CHECK(strstr(buf_str(&p.errb), "is in use by a listening socket (EADDRINUSE)"));
    for (size_t i = 0; i < n; i++)
        close(fill[i]);
    close(lfd);
}

/* One chat client that never reads pauses everyone (back-pressure) only
 * until --stall-timeout: then it is dropped and the others go on. */
TEST_T(chat_drops_a_client_that_stops_reading, 60)
{
    proc ax = axon(NUL, NUL, PIPE, "listen", "--chat", "-v", "--stall-timeout", "1s",
                   "tcp://127.0.0.1:0", (const char *)NULL);
    char uri[AX_URISTRLEN], addr[AX_URISTRLEN];
    listening(&ax, uri, sizeof uri);
    /* The stuck one: a tiny receive window, never read. */
    ax_addr a;
    CHECK_OK(ax_addr_parse(uri + strlen("tcp://"), &a));
    int stuck = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_setopt_int(stuck, AX_OPT_RCVBUF, 4096));
    CHECK_OK(ax_connect_fd(stuck, &a, ms(5000)));
    connection_from(&ax, addr, sizeof addr);
    int talker = connect_to(uri);
    connection_from(&ax, addr, sizeof addr);
    int listener = connect_to(uri);
    connection_from(&ax, addr, sizeof addr);
    /* 4 MiB of lines: far more than the stuck client's buffers hold. */
    enum { LINES = 4096, LEN = 1024 };
    static char line[LEN];
    memset(line, 'x', LEN - 1);
    line[LEN - 1] = '\n';
    pid_t w = fork();
    CHECK(w >= 0);
    if (w == 0) {
        for (int i = 0; i < LINES; i++)
            if (ax_write_all(talker, line, LEN, 30000, NULL) < 0)
                _exit(1);
        _exit(0);
    }
    /* The listener gets every line, prefix included, within the time. */
    size_t per = strlen(addr) + 3 + LEN, want = (size_t)LINES * per, got = 0;
    static char sink[65536];
    double end = axt_now_ms() + ms(30000);
    while (got < want && axt_now_ms() < end) {
        size_t k = axt_read_all(listener, sink, sizeof sink < want - got ? sizeof sink : want - got,
                                ms(5000));
        if (k == 0)
            break;
        got += k;
    }
    CHECK_EQ(got, want);
    CHECK_EQ(axt_wait(w, ms(10000)), 0);
    const char *l = expect_err(&ax, "took nothing of its", ms(5000));
    CHECK(strstr(l, " queued bytes for 1000 ms: dropped"));
    ax_close(stuck);
    ax_close(talker);
    ax_close(listener);
    kill(ax.pid, SIGTERM);
    check_exit(&ax, finish(&ax, ms(10000)), 128 + SIGTERM);
}
