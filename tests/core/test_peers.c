/*
 * The direct layer against real peers: socat, ncat and netcat-openbsd talk
 * to axon over TCP (v4 and v6), UDP (v4 and v6) and Unix sockets (paths,
 * abstract names, datagrams), in both directions, and every byte that
 * crosses is checked. Everything stays on loopback or in the test's own
 * temporary directory.
 */
#include "harness.h"

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

static int ms(int base)
{
    return base * axt_scale();
}

/* socat's -t: how long it lingers for the other direction after one ends. */
static const char *socat_t(void)
{
    static char buf[16];
    snprintf(buf, sizeof buf, "%d", 5 * axt_scale());
    return buf;
}

static void wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r != 1)
        axt_fail(__FILE__, __LINE__, "fd %d not readable within %d ms", fd, timeout_ms);
}

static int accept_within(int lfd, int timeout_ms, ax_addr *peer)
{
    wait_readable(lfd, timeout_ms);
    return CHECK_OK(ax_accept(lfd, peer, 0));
}

static uint16_t local_port(int fd)
{
    ax_addr a;
    CHECK_OK(ax_sockname(fd, &a));
    return ax_addr_port(&a);
}

static void check_same(const unsigned char *want, const unsigned char *got, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (want[i] != got[i])
            axt_fail(__FILE__, __LINE__, "byte %zu of %zu differs: sent 0x%02x, got 0x%02x", i,
                     n, want[i], got[i]);
}

static void check_exit_ok(pid_t pid, int timeout_ms, const char *what)
{
    int st = axt_wait(pid, timeout_ms);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        axt_fail(__FILE__, __LINE__, "%s ended badly (status 0x%x)", what, (unsigned)st);
}

/*
 * Waits until /proc/net/<proto> (and its v6 twin) shows a socket on local
 * port `port` in kernel state `state` (0x0A = TCP LISTEN, 0x07 = a bound
 * UDP socket). Unlike a probe connection this uses up nothing, so it suits
 * peers that serve a single connection or datagram.
 * (A candidate for the harness: axt_wait_bound.)
 */
static void wait_bound(const char *proto, uint16_t port, unsigned state, int timeout_ms)
{
    for (int waited = 0;; waited += 5) {
        for (int v6 = 0; v6 < 2; v6++) {
            char path[64], line[512];
            snprintf(path, sizeof path, "/proc/net/%s%s", proto, v6 ? "6" : "");
            FILE *f = fopen(path, "r");
            if (!f)
                continue;
            int found = 0;
            while (!found && fgets(line, sizeof line, f)) {
                unsigned lport, st;
                if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &lport, &st) ==
                        2 &&
                    lport == port && st == state)
                    found = 1;
            }
            fclose(f);
            if (found)
                return;
        }
        if (waited > timeout_ms)
            axt_fail(__FILE__, __LINE__, "no %s socket on port %u after %d ms", proto, port,
                     timeout_ms);
        usleep(5000);
    }
}

/* Waits until a Unix socket file exists at path. */
static void wait_socket_file(const char *path, int timeout_ms)
{
    struct stat st;
    for (int waited = 0; stat(path, &st) < 0 || !S_ISSOCK(st.st_mode); waited += 5) {
        if (waited > timeout_ms)
            axt_fail(__FILE__, __LINE__, "no socket file %s after %d ms", path, timeout_ms);
        usleep(5000);
    }
}

/*
 * A client peer (argv, already pointed at lfd's address) sends one line
 * ended by "\r\n" and then closes its stdin, which makes it end its sending
 * side. axon accepts, reads the line with a line reader, replies, sees the
 * end of the stream and closes; the peer must print exactly the reply and
 * exit 0.
 */
static void serve_one_line(int lfd, const char *const argv[], const char *tool, int family)
{
    int to, from;
    pid_t pid = axt_spawn_pipes(argv, &to, &from);
    char line[96], want[96];
    snprintf(want, sizeof want, "hello from %s over %s", tool,
             family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "unix");
    int n = snprintf(line, sizeof line, "%s\r\n", want);
    CHECK_OK(ax_write_all(to, line, (size_t)n, ms(2000), NULL));
    close(to);

    ax_addr peer;
    int c = accept_within(lfd, ms(5000), &peer);
    CHECK_EQ(ax_addr_family(&peer), family);
    ax_line_reader r;
    CHECK_OK(ax_line_reader_init(&r, c, 128));
    const char *got;
    size_t len;
    CHECK_EQ(ax_read_line(&r, &got, &len), 1);
    CHECK_EQ(len, strlen(want));
    CHECK_STR(got, want);

    char reply[160];
    int rn = snprintf(reply, sizeof reply, "axon heard \"%s\" (%zu bytes)\n", want, len);
    CHECK_OK(ax_write_all(c, reply, (size_t)rn, ms(2000), NULL));
    CHECK_EQ(ax_read_line(&r, &got, &len), 0); /* the peer's end of stream */
    ax_line_reader_free(&r);
    CHECK_OK(ax_close(c));

    char out[256];
    size_t o = axt_read_all(from, out, sizeof out - 1, ms(5000));
    out[o] = '\0';
    CHECK_STR(out, reply);
    close(from);
    check_exit_ok(pid, ms(5000), tool);
}

/*
 * Connects to an echo server at uri and sends n pseudo-random bytes, then
 * reads the echo back and compares every byte. ECHO_BULK sends from a
 * forked writer, so neither direction can stall the other, ends its side
 * when done, and expects the echo to end right after the last byte (EOF
 * passed through the peer and back). ECHO_LOCKSTEP sends a chunk and reads
 * it back before the next, for relays that do blocking writes (ncat --exec
 * deadlocks when both its pipes fill) and drop the echo at the client's EOF.
 */
enum echo_mode { ECHO_BULK, ECHO_LOCKSTEP };

static void echo_roundtrip(const char *uri, size_t n, enum echo_mode mode, uint32_t seed)
{
    ax_connect_opts o = {.timeout_ms = ms(2000)};
    int fd = CHECK_OK(ax_connect_uri(uri, &o));
    unsigned char *out = malloc(n), *in = malloc(n + 1);
    CHECK(out && in);
    axt_fill_bytes(out, n, seed);
    size_t got = 0;
    if (mode == ECHO_LOCKSTEP) {
        enum { STEP = 16384 };
        for (size_t off = 0; off < n && got == off; off += STEP) {
            size_t k = n - off < STEP ? n - off : STEP;
            CHECK_OK(ax_write_all(fd, out + off, k, ms(5000), NULL));
            got += axt_read_all(fd, (char *)in + off, k, ms(5000));
        }
    } else {
        fflush(NULL);
        pid_t w = fork();
        CHECK(w >= 0);
        if (w == 0) {
            size_t written = 0;
            int rc = ax_write_all(fd, out, n, -1, &written);
            if (rc == 0)
                rc = ax_shutdown(fd, SHUT_WR);
            if (rc < 0)
                fprintf(stderr, "  writer: %s\n", ax_last_error()->message);
            free(out);
            free(in);
            _exit(rc == 0 && written == n ? 0 : 1);
        }
        got = axt_read_all(fd, (char *)in, n + 1, ms(10000));
        check_exit_ok(w, ms(10000), "writer");
    }
    CHECK_EQ(got, n);
    check_same(out, in, n);
    free(out);
    free(in);
    CHECK_OK(ax_close(fd));
}

/* Starts `argv` as a server and waits until uri accepts connections (the
 * probe connection uses one up, so servers here fork per connection). */
static pid_t start_server(const char *const argv[], const char *uri)
{
    pid_t pid = axt_spawn(argv, -1, -1);
    axt_wait_listening(uri, ms(5000));
    return pid;
}

/* --------------------------------------------------------------- TCP */

TEST(tcp4_socat_client_sends_line)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char addr[64];
    snprintf(addr, sizeof addr, "TCP4:127.0.0.1:%u", local_port(lfd));
    const char *argv[] = {"socat", "-t", socat_t(), "-", addr, NULL};
    serve_one_line(lfd, argv, "socat", AF_INET);
    ax_close(lfd);
}

TEST(tcp4_socat_echo_server_1mib)
{
    unsigned port = axt_free_port(SOCK_STREAM);
    char spec[96], uri[64];
    snprintf(spec, sizeof spec, "TCP4-LISTEN:%u,bind=127.0.0.1,reuseaddr,fork", port);
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", port);
    const char *argv[] = {"socat", spec, "EXEC:cat", NULL};
    pid_t pid = start_server(argv, uri);
    echo_roundtrip(uri, (size_t)1 << 20, ECHO_BULK, 41);
    axt_stop(pid);
}

TEST(tcp6_socat_client_sends_line)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://[::1]:0", NULL));
    char addr[64];
    snprintf(addr, sizeof addr, "TCP6:[::1]:%u", local_port(lfd));
    const char *argv[] = {"socat", "-t", socat_t(), "-", addr, NULL};
    serve_one_line(lfd, argv, "socat", AF_INET6);
    ax_close(lfd);
}

TEST(tcp6_socat_echo_server)
{
    unsigned port = axt_free_port(SOCK_STREAM);
    char spec[96], uri[64];
    snprintf(spec, sizeof spec, "TCP6-LISTEN:%u,bind=[::1],reuseaddr,fork", port);
    snprintf(uri, sizeof uri, "tcp://[::1]:%u", port);
    const char *argv[] = {"socat", spec, "EXEC:cat", NULL};
    pid_t pid = start_server(argv, uri);
    echo_roundtrip(uri, (size_t)1 << 20, ECHO_BULK, 42);
    axt_stop(pid);
}

/* ncat --exec: lock-step echo (see echo_roundtrip). */
TEST(tcp6_ncat_echo_server)
{
    unsigned port = axt_free_port(SOCK_STREAM);
    char ps[16], uri[64];
    snprintf(ps, sizeof ps, "%u", port);
    snprintf(uri, sizeof uri, "tcp://[::1]:%u", port);
    const char *argv[] = {"ncat", "-6", "-l", "::1", ps, "--keep-open", "--exec", "/bin/cat",
                          NULL};
    pid_t pid = axt_spawn(argv, -1, -1);
    wait_bound("tcp", (uint16_t)port, 0x0A, ms(5000)); /* no probe needed */
    echo_roundtrip(uri, (size_t)1 << 20, ECHO_LOCKSTEP, 43);
    axt_stop(pid);
}

TEST(tcp4_ncat_client_sends_line)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char port[16];
    snprintf(port, sizeof port, "%u", local_port(lfd));
    const char *argv[] = {"ncat", "127.0.0.1", port, NULL};
    serve_one_line(lfd, argv, "ncat", AF_INET);
    ax_close(lfd);
}

TEST(tcp4_nc_client_sends_line)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char port[16];
    snprintf(port, sizeof port, "%u", local_port(lfd));
    /* -N: shut down the sending side at stdin's EOF (netcat-openbsd). */
    const char *argv[] = {"nc", "-N", "127.0.0.1", port, NULL};
    serve_one_line(lfd, argv, "nc", AF_INET);
    ax_close(lfd);
}

/* socat sends a block and then EOF; axon must see every byte, then end of
 * stream (twice: EOF stays EOF), and can still answer on its open half. */
TEST(tcp4_half_close_then_reply)
{
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char addr[64];
    snprintf(addr, sizeof addr, "TCP4:127.0.0.1:%u", local_port(lfd));
    const char *argv[] = {"socat", "-t", socat_t(), "-", addr, NULL};
    int to, from;
    pid_t pid = axt_spawn_pipes(argv, &to, &from);

    enum { N = 48 * 1024 };
    static unsigned char sent[N], got[N + 16];
    axt_fill_bytes(sent, N, 7);
    CHECK_OK(ax_write_all(to, sent, N, ms(5000), NULL));
    close(to); /* socat: EOF on stdin -> shutdown(SHUT_WR) on the socket */

    int c = accept_within(lfd, ms(5000), NULL);
    size_t have = 0;
    for (int i = 0; i < 10000; i++) {
        ssize_t r = ax_read(c, got + have, sizeof got - have);
        CHECK_OK(r);
        if (r == 0)
            break;
        have += (size_t)r;
    }
    CHECK_EQ(have, N);
    check_same(sent, got, N);
    CHECK_EQ(ax_read(c, got, sizeof got), 0);

    const char reply[] = "got all 49152 bytes and your EOF; this half is still open\n";
    CHECK_OK(ax_write_all(c, reply, sizeof reply - 1, ms(2000), NULL));
    CHECK_OK(ax_close(c));
    char out[128];
    size_t o = axt_read_all(from, out, sizeof out - 1, ms(5000));
    out[o] = '\0';
    CHECK_STR(out, reply);
    close(from);
    check_exit_ok(pid, ms(5000), "socat");
    ax_close(lfd);
}

/* ---------------------------------------------------------------- UDP */

/* socat's UDP-LISTEN takes the first datagram's sender as its peer and
 * echoes what cat returns; each datagram must come back whole, from the
 * server's address. */
static void udp_echo(int family, const char *kind, const char *bind, const char *ip)
{
    unsigned port = axt_free_port(SOCK_DGRAM);
    char spec[96];
    snprintf(spec, sizeof spec, "%s:%u,bind=%s", kind, port, bind);
    const char *argv[] = {"socat", spec, "EXEC:cat", NULL};
    pid_t pid = axt_spawn(argv, -1, -1);
    wait_bound("udp", (uint16_t)port, 0x07, ms(5000));

    ax_addr srv, from;
    CHECK_OK(ax_addr_from_ip(&srv, ip, (uint16_t)port));
    int fd = CHECK_OK(ax_socket(family, SOCK_DGRAM, 0));
    static const size_t sizes[] = {1, 300, 1472, 8000};
    static unsigned char out[8000], in[9000];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        axt_fill_bytes(out, sizes[i], (uint32_t)(100 + i));
        CHECK_EQ(ax_sendto(fd, out, sizes[i], 0, &srv), sizes[i]);
        wait_readable(fd, ms(5000));
        CHECK_EQ(ax_recvfrom(fd, in, sizeof in, 0, &from), sizes[i]);
        check_same(out, in, sizes[i]);
        CHECK(ax_addr_equal(&from, &srv));
    }
    ax_close(fd);
    axt_stop(pid);
}

TEST(udp4_socat_echo)
{
    udp_echo(AF_INET, "UDP4-LISTEN", "127.0.0.1", "127.0.0.1");
}

TEST(udp6_socat_echo)
{
    udp_echo(AF_INET6, "UDP6-LISTEN", "[::1]", "::1");
}

/* axon as the UDP server: socat sends a line as one datagram, axon answers
 * to the sender's address and socat prints the answer. */
static void udp_serve(const char *listen_uri, const char *kind, const char *host,
                      const char *peer_prefix)
{
    int lfd = CHECK_OK(ax_listen_uri(listen_uri, NULL));
    char addr[64];
    snprintf(addr, sizeof addr, "%s:%s:%u", kind, host, local_port(lfd));
    const char *argv[] = {"socat", "-t", socat_t(), "-", addr, NULL};
    int to, from;
    pid_t pid = axt_spawn_pipes(argv, &to, &from);
    const char msg[] = "ping over udp\n";
    CHECK_OK(ax_write_all(to, msg, sizeof msg - 1, ms(2000), NULL));

    wait_readable(lfd, ms(5000));
    char buf[256], who[AX_ADDRSTRLEN];
    ax_addr sender;
    CHECK_EQ(ax_recvfrom(lfd, buf, sizeof buf, 0, &sender), sizeof msg - 1);
    CHECK(memcmp(buf, msg, sizeof msg - 1) == 0);
    CHECK_OK(ax_addr_format(&sender, who, sizeof who));
    CHECK(strncmp(who, peer_prefix, strlen(peer_prefix)) == 0);
    CHECK(ax_addr_port(&sender) != 0);

    char reply[200];
    int n = snprintf(reply, sizeof reply, "pong to %s\n", who);
    CHECK_EQ(ax_sendto(lfd, reply, (size_t)n, 0, &sender), n);
    char out[256];
    size_t o = axt_read_all(from, out, (size_t)n, ms(5000));
    out[o] = '\0';
    CHECK_STR(out, reply);
    close(to);
    close(from);
    axt_stop(pid);
    ax_close(lfd);
}

TEST(udp4_axon_server)
{
    udp_serve("udp://127.0.0.1:0", "UDP4", "127.0.0.1", "127.0.0.1:");
}

TEST(udp6_axon_server)
{
    udp_serve("udp://[::1]:0", "UDP6", "[::1]", "[::1]:");
}

/* --------------------------------------------------------------- Unix */

TEST(unix_socat_client_sends_line)
{
    char path[128], uri[160], spec[160];
    snprintf(path, sizeof path, "%s/axon.sock", axt_tmpdir());
    snprintf(uri, sizeof uri, "unix://%s", path);
    snprintf(spec, sizeof spec, "UNIX-CONNECT:%s", path);
    int lfd = CHECK_OK(ax_listen_uri(uri, NULL));
    char name[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(lfd, name, sizeof name));
    CHECK_STR(name, uri);
    const char *argv[] = {"socat", "-t", socat_t(), "-", spec, NULL};
    serve_one_line(lfd, argv, "socat", AF_UNIX);
    ax_close(lfd);
}

TEST(unix_socat_echo_server)
{
    char path[128], uri[160], spec[160];
    snprintf(path, sizeof path, "%s/socat.sock", axt_tmpdir());
    snprintf(uri, sizeof uri, "unix://%s", path);
    snprintf(spec, sizeof spec, "UNIX-LISTEN:%s,fork", path);
    const char *argv[] = {"socat", spec, "EXEC:cat", NULL};
    pid_t pid = start_server(argv, uri);
    echo_roundtrip(uri, (size_t)256 << 10, ECHO_BULK, 44);
    axt_stop(pid);
}

TEST(unix_abstract_socat_client_sends_line)
{
    char uri[96], spec[96], name[AX_URISTRLEN];
    snprintf(uri, sizeof uri, "unix://@axon-peers-%d", (int)getpid());
    snprintf(spec, sizeof spec, "ABSTRACT-CONNECT:axon-peers-%d", (int)getpid());
    int lfd = CHECK_OK(ax_listen_uri(uri, NULL));
    CHECK_OK(ax_sockname_uri(lfd, name, sizeof name));
    CHECK_STR(name, uri);
    const char *argv[] = {"socat", "-t", socat_t(), "-", spec, NULL};
    serve_one_line(lfd, argv, "socat", AF_UNIX);
    ax_close(lfd);
}

TEST(unix_abstract_socat_echo_server)
{
    char uri[96], spec[96];
    snprintf(uri, sizeof uri, "unix://@axon-peers-%d-srv", (int)getpid());
    snprintf(spec, sizeof spec, "ABSTRACT-LISTEN:axon-peers-%d-srv,fork", (int)getpid());
    const char *argv[] = {"socat", spec, "EXEC:cat", NULL};
    pid_t pid = start_server(argv, uri);
    echo_roundtrip(uri, (size_t)256 << 10, ECHO_BULK, 45);
    axt_stop(pid);
}

/* socat's UNIX-RECVFROM answers each datagram (via cat) to its sender, so
 * axon's socket is bound to a path it can be answered at. */
TEST(unix_dgram_socat_echo)
{
    char srvp[128], clip[128], spec[160];
    snprintf(srvp, sizeof srvp, "%s/srv.sock", axt_tmpdir());
    snprintf(clip, sizeof clip, "%s/cli.sock", axt_tmpdir());
    snprintf(spec, sizeof spec, "UNIX-RECVFROM:%s,fork", srvp);
    const char *argv[] = {"socat", spec, "EXEC:cat", NULL};
    pid_t pid = axt_spawn(argv, -1, -1);
    wait_socket_file(srvp, ms(5000));

    ax_addr me, srv, from;
    CHECK_OK(ax_addr_from_unix(&me, clip));
    CHECK_OK(ax_addr_from_unix(&srv, srvp));
    int fd = CHECK_OK(ax_socket(AF_UNIX, SOCK_DGRAM, 0));
    CHECK_OK(ax_bind(fd, &me));
    static const size_t sizes[] = {1, 700, 8000};
    static unsigned char out[8000], in[9000];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        axt_fill_bytes(out, sizes[i], (uint32_t)(200 + i));
        CHECK_EQ(ax_sendto(fd, out, sizes[i], 0, &srv), sizes[i]);
        wait_readable(fd, ms(5000));
        CHECK_EQ(ax_recvfrom(fd, in, sizeof in, 0, &from), sizes[i]);
        check_same(out, in, sizes[i]);
        CHECK(ax_addr_equal(&from, &srv));
    }
    ax_close(fd);
    axt_stop(pid);
}

TEST(unix_dgram_axon_server)
{
    char srvp[128], clip[128], spec[300];
    snprintf(srvp, sizeof srvp, "%s/axon-dgram.sock", axt_tmpdir());
    snprintf(clip, sizeof clip, "%s/socat-dgram.sock", axt_tmpdir());
    ax_addr me;
    CHECK_OK(ax_addr_from_unix(&me, srvp));
    int fd = CHECK_OK(ax_socket(AF_UNIX, SOCK_DGRAM, 0));
    CHECK_OK(ax_bind(fd, &me));
    snprintf(spec, sizeof spec, "UNIX-SENDTO:%s,bind=%s", srvp, clip);
    const char *argv[] = {"socat", "-t", socat_t(), "-", spec, NULL};
    int to, from;
    pid_t pid = axt_spawn_pipes(argv, &to, &from);
    const char msg[] = "datagram from socat\n";
    CHECK_OK(ax_write_all(to, msg, sizeof msg - 1, ms(2000), NULL));

    wait_readable(fd, ms(5000));
    char buf[128], who[AX_ADDRSTRLEN];
    ax_addr sender;
    CHECK_EQ(ax_recvfrom(fd, buf, sizeof buf, 0, &sender), sizeof msg - 1);
    CHECK(memcmp(buf, msg, sizeof msg - 1) == 0);
    CHECK_OK(ax_addr_format(&sender, who, sizeof who));
    CHECK_STR(who, clip);
    const char reply[] = "datagram from axon\n";
    CHECK_EQ(ax_sendto(fd, reply, sizeof reply - 1, 0, &sender), sizeof reply - 1);
    char out[64];
    size_t o = axt_read_all(from, out, sizeof reply - 1, ms(5000));
    out[o] = '\0';
    CHECK_STR(out, reply);
    close(to);
    close(from);
    axt_stop(pid);
    ax_close(fd);
}

/* ------------------------------------------------- a peer that resets */

static void check_reset_error(int rc, int fd)
{
    if (rc != AX_ECONNRESET && rc != AX_EPIPE)
        axt_fail(__FILE__, __LINE__, "expected ECONNRESET or EPIPE, got %d %s: %s", rc,
                 ax_errname(rc), ax_last_error()->message);
    char want[160];
    snprintf(want, sizeof want, "write to fd %d failed: %s (%s)", fd,
             rc == AX_ECONNRESET ? "Connection reset by peer" : "Broken pipe", ax_errname(rc));
    CHECK_STR(ax_last_error()->message, want);
    CHECK_EQ(ax_last_error()->code, rc);
}

/* The peer (a forked axon process) reads a little, then closes with
 * SO_LINGER {1, 0} - an RST - while this process is blocked writing. With
 * SIGPIPE at its default action, a missing MSG_NOSIGNAL would kill us. */
TEST(reset_by_linger0_peer_mid_write)
{
    signal(SIGPIPE, SIG_DFL);
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char uri[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", local_port(lfd));
    fflush(NULL);
    pid_t peer = fork();
    CHECK(peer >= 0);
    if (peer == 0) {
        int c = ax_accept(lfd, NULL, 0);
        static char sink[65536];
        size_t have = 0;
        while (c >= 0 && have < sizeof sink) {
            ssize_t r = ax_read(c, sink, sizeof sink - have);
            if (r <= 0)
                _exit(2);
            have += (size_t)r;
        }
        usleep(200 * 1000); /* let the writer fill every buffer and block */
        ax_linger lg = {1, 0};
        int rc = c < 0 ? c : ax_setopt(c, AX_OPT_LINGER, &lg, sizeof lg);
        ax_close(c);
        _exit(rc < 0 ? 3 : 0);
    }
    ax_close(lfd);
    int fd = CHECK_OK(ax_connect_uri(uri, NULL));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = calloc(1, CHUNK);
    CHECK(buf);
    int rc = 0;
    size_t written = CHUNK, total = 0;
    for (int i = 0; i < 512 && rc == 0; i++) {
        rc = ax_write_all(fd, buf, CHUNK, ms(10000), &written);
        total += written;
    }
    free(buf);
    check_reset_error(rc, fd);
    CHECK(written < CHUNK);
    CHECK(total >= 65536);
    /* The connection is gone for good: later writes fail too, still
     * without a signal. */
    CHECK_EQ(ax_write(fd, "x", 1), AX_EPIPE);
    check_exit_ok(peer, ms(5000), "resetting peer");
    ax_close(fd);
}

/* socat stops reading (cat's stdin is a `sleep` that never reads), the
 * buffers fill, a non-blocking write times out part way; then socat is
 * killed with our bytes unread, so its kernel answers with an RST. */
TEST(reset_by_killed_socat_mid_write)
{
    signal(SIGPIPE, SIG_DFL);
    unsigned port = axt_free_port(SOCK_STREAM);
    char spec[96], uri[64];
    snprintf(spec, sizeof spec, "TCP4-LISTEN:%u,bind=127.0.0.1,reuseaddr", port);
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", port);
    const char *argv[] = {"socat", "-u", spec, "EXEC:sleep 10", NULL};
    pid_t pid = axt_spawn(argv, -1, -1);
    wait_bound("tcp", (uint16_t)port, 0x0A, ms(5000)); /* single-use: no probe */

    ax_connect_opts o = {.timeout_ms = ms(2000), .nonblock = true};
    int fd = CHECK_OK(ax_connect_uri(uri, &o));
    size_t len = (size_t)64 << 20, written = 0;
    unsigned char *buf = calloc(1, len);
    CHECK(buf);
    int rc = ax_write_all(fd, buf, len, ms(500), &written);
    CHECK_EQ(rc, AX_ETIMEDOUT);
    CHECK(written > 0 && written < len);
    char want[200];
    snprintf(want, sizeof want,
             "write to fd %d timed out after %d ms with %zu of %zu bytes written (ETIMEDOUT)", fd,
             ms(500), written, len);
    CHECK_STR(ax_last_error()->message, want);

    kill(pid, SIGKILL);
    axt_wait(pid, ms(5000));
    size_t more = 0;
    rc = ax_write_all(fd, buf + written, len - written, ms(5000), &more);
    free(buf);
    check_reset_error(rc, fd);
    CHECK(more < len - written);
    CHECK_EQ(ax_write(fd, "x", 1), AX_EPIPE);
    ax_close(fd);
}
