/* Messages and ancillary data (src/core/msg.c): cmsg helpers, fd passing,
 * credentials, packet info, scatter/gather sendmsg/recvmsg. */
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static int cloexec(int fd)
{
    int f = fcntl(fd, F_GETFD);
    return f >= 0 && (f & FD_CLOEXEC);
}

typedef union ctlbuf {
    struct cmsghdr align;
    char bytes[512];
} ctlbuf;

/* ----------------------------------------------------------- cmsg helpers */

TEST(cmsg_space_values)
{
    CHECK_EQ(ax_cmsg_space(SOL_SOCKET, SCM_RIGHTS, 1), CMSG_SPACE(sizeof(int)));
    CHECK_EQ(ax_cmsg_space(SOL_SOCKET, SCM_RIGHTS, 3), CMSG_SPACE(3 * sizeof(int)));
    CHECK_EQ(ax_cmsg_space(SOL_SOCKET, SCM_RIGHTS, 0), CMSG_SPACE(0));
    CHECK_EQ(ax_cmsg_space(SOL_SOCKET, SCM_CREDENTIALS, 1), CMSG_SPACE(sizeof(struct ucred)));
    CHECK_EQ(ax_cmsg_space(SOL_SOCKET, SCM_CREDENTIALS, 2),
             2 * CMSG_SPACE(sizeof(struct ucred)));
    CHECK_EQ(ax_cmsg_space(IPPROTO_IPV6, IPV6_PKTINFO, 1),
             CMSG_SPACE(sizeof(struct in6_pktinfo)));
    CHECK_EQ(ax_cmsg_space(IPPROTO_IP, IP_PKTINFO, 1), CMSG_SPACE(sizeof(struct in_pktinfo)));
    CHECK_EQ(ax_cmsg_space(SOL_SOCKET, 9999, 1), 0);
    CHECK_EQ(ax_cmsg_space(IPPROTO_TCP, SCM_RIGHTS, 1), 0);
    CHECK_EQ(ax_cmsg_space(IPPROTO_IP, IPV6_PKTINFO, 1), 0);
}

TEST(cmsg_add_find_round_trip)
{
    ctlbuf ctl;
    size_t cap = ax_cmsg_space(SOL_SOCKET, SCM_RIGHTS, 2) +
                 ax_cmsg_space(SOL_SOCKET, SCM_CREDENTIALS, 1);
    ax_msg m = {.control = ctl.bytes};
    int fds[2] = {7, 9};
    struct ucred uc = {.pid = 1234, .uid = 5, .gid = 6};
    CHECK_OK(ax_cmsg_add(&m, cap, SOL_SOCKET, SCM_RIGHTS, fds, sizeof fds));
    CHECK_EQ(m.controllen, CMSG_SPACE(sizeof fds));
    CHECK_OK(ax_cmsg_add(&m, cap, SOL_SOCKET, SCM_CREDENTIALS, &uc, sizeof uc));
    CHECK_EQ(m.controllen, cap);

    const void *data = NULL;
    CHECK_EQ(ax_cmsg_find(&m, SOL_SOCKET, SCM_RIGHTS, 0, &data), sizeof fds);
    CHECK(memcmp(data, fds, sizeof fds) == 0);
    CHECK_EQ(ax_cmsg_find(&m, SOL_SOCKET, SCM_CREDENTIALS, 0, &data), sizeof uc);
    struct ucred back;
    memcpy(&back, data, sizeof back);
    CHECK_EQ(back.pid, 1234);
    CHECK_EQ(back.uid, 5);
    CHECK_EQ(back.gid, 6);
    CHECK_EQ(ax_cmsg_find(&m, SOL_SOCKET, SCM_RIGHTS, 1, &data), AX_ENOENT);
    CHECK_EQ(ax_cmsg_find(&m, IPPROTO_IP, IP_PKTINFO, 0, &data), AX_ENOENT);

    /* Full: nothing more fits, and the buffer is unchanged. */
    int one = 3;
    CHECK_EQ(ax_cmsg_add(&m, cap, SOL_SOCKET, SCM_RIGHTS, &one, sizeof one), AX_ENOSPC);
    CHECK_ERRMSG("ax_cmsg_space");
    CHECK_EQ(m.controllen, cap);
    ax_msg small = {.control = ctl.bytes};
    CHECK_EQ(ax_cmsg_add(&small, CMSG_SPACE(sizeof(int)) - 1, SOL_SOCKET, SCM_RIGHTS, &one,
                         sizeof one),
             AX_ENOSPC);
    CHECK_EQ(small.controllen, 0);
    /* A second message of the same kind is found by index. */
    ax_msg two = {.control = ctl.bytes};
    int a = 11, b = 22;
    CHECK_OK(ax_cmsg_add(&two, sizeof ctl.bytes, SOL_SOCKET, SCM_RIGHTS, &a, sizeof a));
    CHECK_OK(ax_cmsg_add(&two, sizeof ctl.bytes, SOL_SOCKET, SCM_RIGHTS, &b, sizeof b));
    CHECK_EQ(ax_cmsg_find(&two, SOL_SOCKET, SCM_RIGHTS, 1, &data), sizeof b);
    CHECK_EQ(*(const int *)data, 22);
    ax_msg none = {0};
    CHECK_EQ(ax_cmsg_find(&none, SOL_SOCKET, SCM_RIGHTS, 0, &data), AX_ENOENT);
}

/* --------------------------------------------------------------- fd passing */

TEST(pass_three_fds)
{
    int sp[2], p[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/file", axt_tmpdir());
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHECK(f >= 0);
    int send[3] = {p[0], p[1], f};
    CHECK_EQ(ax_send_fds(sp[0], "fds", 3, send, 3), 3);

    int got[8];
    size_t n = 8;
    char buf[16];
    CHECK_EQ(ax_recv_fds(sp[1], buf, sizeof buf, got, &n, NULL), 3);
    CHECK(memcmp(buf, "fds", 3) == 0);
    CHECK_EQ(n, 3);
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < 3; j++)
            CHECK(got[i] != send[j]);
        CHECK(cloexec(got[i]));
        struct stat a, b;
        CHECK_EQ(fstat(got[i], &a), 0);
        CHECK_EQ(fstat(send[i], &b), 0);
        CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    }
    /* They work: write through the passed write end, read the original. */
    CHECK_EQ(ax_write(got[1], "via", 3), 3);
    CHECK_EQ(ax_read(p[0], buf, sizeof buf), 3);
    CHECK(memcmp(buf, "via", 3) == 0);
    CHECK_EQ(ax_write(p[1], "back", 4), 4);
    CHECK_EQ(ax_read(got[0], buf, sizeof buf), 4);
    CHECK(memcmp(buf, "back", 4) == 0);
    CHECK_EQ(ax_write(got[2], "data", 4), 4); /* shares the offset */
    CHECK_EQ(lseek(f, 0, SEEK_CUR), 4);
    for (size_t i = 0; i < 3; i++) {
        close(got[i]);
        close(send[i]);
    }
    ax_close(sp[0]);
    ax_close(sp[1]);
}

TEST(pass_fd_with_empty_payload)
{
    int sp[2], p[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    CHECK_EQ(ax_send_fds(sp[0], NULL, 0, &p[1], 1), 1);
    int got = -1;
    size_t n = 1;
    char buf[4] = {'?', '?'};
    CHECK_EQ(ax_recv_fds(sp[1], buf, sizeof buf, &got, &n, NULL), 1);
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(n, 1);
    CHECK(got >= 0 && cloexec(got));
    CHECK_EQ(ax_write(got, "z", 1), 1);
    CHECK_EQ(ax_read(p[0], buf, 1), 1);
    CHECK_EQ(buf[0], 'z');
    close(got);

    /* Plain data with no fds: nfds comes back 0; end of stream is 0. */
    CHECK_EQ(ax_send_fds(sp[0], "hi", 2, NULL, 0), 2);
    n = 4;
    int none[4];
    CHECK_EQ(ax_recv_fds(sp[1], buf, sizeof buf, none, &n, NULL), 2);
    CHECK_EQ(n, 0);
    ax_close(sp[0]);
    n = 4;
    CHECK_EQ(ax_recv_fds(sp[1], buf, sizeof buf, none, &n, NULL), 0);
    CHECK_EQ(n, 0);

    int many[AX_MAX_FDS + 1] = {0};
    CHECK_EQ(ax_send_fds(sp[1], "x", 1, many, AX_MAX_FDS + 1), AX_EINVAL);
    CHECK_EQ(ax_recv_fds(sp[1], buf, sizeof buf, NULL, NULL, NULL), AX_EINVAL);
    close(p[0]);
    close(p[1]);
    ax_close(sp[1]);
}

static void truncated(size_t room)
{
    int sp[2], p[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    int before = axt_count_fds();
    int send[4] = {p[0], p[1], p[0], p[1]};
    CHECK_EQ(ax_send_fds(sp[0], "four", 4, send, 4), 4);
    CHECK_EQ(ax_send_fds(sp[0], "next", 4, NULL, 0), 4);
    int got[4] = {-1, -1, -1, -1};
    size_t n = room;
    char buf[8] = {0};
    ax_recv_info info;
    /* The bytes come back beside the loss: the stream keeps its framing. */
    CHECK_EQ(ax_recv_fds(sp[1], buf, 4, room ? got : NULL, &n, &info), 4);
    CHECK_STR(buf, "four");
    CHECK_EQ(n, room);
    CHECK_EQ(info.flags, MSG_CTRUNC);
    CHECK_EQ(ax_last_error()->code, AX_ECTRUNC);
    char want[64];
    snprintf(want, sizeof want, "%zu kept, the rest were closed (ECTRUNC)", room);
    CHECK_ERRMSG(want);
    size_t none = 0;
    CHECK_EQ(ax_recv_fds(sp[1], buf, 4, NULL, &none, &info), 4);
    CHECK_STR(buf, "next");
    CHECK_EQ(info.flags, 0);
    CHECK_EQ(axt_count_fds(), before + (int)room);
    for (size_t i = 0; i < room; i++) {
        CHECK(cloexec(got[i]));
        struct stat a, b;
        CHECK_EQ(fstat(got[i], &a), 0);
        CHECK_EQ(fstat(send[i], &b), 0);
        CHECK(a.st_ino == b.st_ino);
        close(got[i]);
    }
    CHECK_EQ(axt_count_fds(), before); /* nothing leaked */
    close(p[0]);
    close(p[1]);
    ax_close(sp[0]);
    ax_close(sp[1]);
}

TEST(pass_more_fds_than_room)
{
    truncated(2);
    truncated(1);
    truncated(0);
}

TEST(pass_two_fds_room_for_one)
{
    /* CMSG_SPACE(sizeof(int)) has room for two ints, so the kernel hands
     * over both fds without MSG_CTRUNC; the one without room must still
     * be reported, not dropped silently. */
    int sp[2], p[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    int before = axt_count_fds();
    CHECK_EQ(ax_send_fds(sp[0], "two", 3, p, 2), 3);
    int got = -1;
    size_t n = 1;
    char buf[8];
    ax_recv_info info;
    CHECK_EQ(ax_recv_fds(sp[1], buf, sizeof buf, &got, &n, &info), 3);
    CHECK_EQ(n, 1);
    CHECK_EQ(info.flags, MSG_CTRUNC);
    CHECK_ERRMSG("1 kept, the rest were closed (ECTRUNC)");
    CHECK_EQ(axt_count_fds(), before + 1);
    CHECK(cloexec(got));
    CHECK_EQ(ax_write(got, "r", 1), AX_EBADF); /* p[0], a read end */
    close(got);
    CHECK_EQ(axt_count_fds(), before);
    close(p[0]);
    close(p[1]);
    ax_close(sp[0]);
    ax_close(sp[1]);
}

/* With SO_PASSCRED on (as ax_recv_cred's documentation advises) every
 * message carries credentials too: both arrive, no fd is lost. */
TEST(pass_fds_with_passcred_on)
{
    int sp[2], p[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    CHECK_OK(ax_setopt_int(sp[1], AX_OPT_PASSCRED, 1));
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    CHECK_EQ(ax_send_fds(sp[0], "two", 3, p, 2), 3);
    int got[2] = {-1, -1};
    size_t n = 2;
    char buf[8];
    ax_recv_info info;
    CHECK_EQ(ax_recv_fds(sp[1], buf, sizeof buf, got, &n, &info), 3);
    CHECK_EQ(n, 2);
    CHECK_EQ(info.flags, 0);
    CHECK(info.has_cred);
    CHECK_EQ(info.cred.pid, getpid());
    CHECK_EQ(info.cred.uid, getuid());
    CHECK_EQ(ax_write(got[1], "w", 1), 1);
    CHECK_EQ(ax_read(p[0], buf, 1), 1);
    close(got[0]);
    close(got[1]);
    /* Room for one, credentials beside it: one kept, the loss reported
     * as too many fds, not blamed on a missing credential. */
    CHECK_EQ(ax_send_fds(sp[0], "two", 3, p, 2), 3);
    n = 1;
    CHECK_EQ(ax_recv_fds(sp[1], buf, sizeof buf, got, &n, &info), 3);
    CHECK_EQ(n, 1);
    CHECK_EQ(info.flags, MSG_CTRUNC);
    CHECK(info.has_cred);
    close(got[0]);
    close(p[0]);
    close(p[1]);
    ax_close(sp[0]);
    ax_close(sp[1]);
}

/* A TCP socket drops SCM_RIGHTS and reports success: refuse instead. */
TEST(send_fds_over_tcp_is_refused)
{
    int l = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char uri[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(l, uri, sizeof uri));
    int c = CHECK_OK(ax_connect_uri(uri, NULL));
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    CHECK_EQ(ax_send_fds(c, "x", 1, p, 1), AX_ENOTSUP);
    CHECK_ERRMSG("only a Unix socket can carry them, and this is an IPv4 socket (ENOTSUP)");
    CHECK_EQ(ax_send_cred(c, "x", 1), AX_ENOTSUP);
    CHECK_ERRMSG("send credentials on fd");
    CHECK_EQ(ax_send_fds(c, "x", 1, NULL, 0), 1); /* no fds: a plain send */
    CHECK_EQ(ax_send_fds(p[1], "x", 1, p, 1), AX_ENOTSOCK);
    close(p[0]);
    close(p[1]);
    ax_close(c);
    ax_close(l);
}

/* A datagram or record longer than the buffer is cut by the kernel; the
 * call says so (MSG_TRUNC) instead of passing the cut one off as whole. */
TEST(recv_fds_reports_truncated_datagrams)
{
    static const int types[] = {SOCK_DGRAM, SOCK_SEQPACKET};
    for (size_t t = 0; t < 2; t++) {
        int sp[2], p[2];
        CHECK_OK(ax_socketpair(AF_UNIX, types[t], sp));
        CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
        CHECK_EQ(ax_send_fds(sp[0], "0123456789", 10, p, 1), 10);
        char buf[8] = {0};
        int got = -1;
        size_t n = 1;
        ax_recv_info info;
        CHECK_EQ(ax_recv_fds(sp[1], buf, 4, &got, &n, &info), 4);
        CHECK_STR(buf, "0123");
        CHECK_EQ(n, 1);
        CHECK_EQ(info.flags, MSG_TRUNC);
        CHECK_EQ(ax_last_error()->code, AX_EMSGSIZE);
        CHECK_ERRMSG("the message was longer than the 4-byte buffer");
        close(got);
        /* A whole one is not flagged. */
        CHECK_EQ(ax_send_fds(sp[0], "abc", 3, NULL, 0), 3);
        n = 0;
        CHECK_EQ(ax_recv_fds(sp[1], buf, 4, NULL, &n, &info), 3);
        CHECK_EQ(info.flags, 0);
        close(p[0]);
        close(p[1]);
        ax_close(sp[0]);
        ax_close(sp[1]);
    }
}

/* ----------------------------------------------------------- credentials */

TEST(peer_cred)
{
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    ax_cred c;
    CHECK_OK(ax_peer_cred(sp[0], &c));
    CHECK_EQ(c.pid, getpid());
    CHECK_EQ(c.uid, getuid());
    CHECK_EQ(c.gid, getgid());
    CHECK_EQ(ax_peer_cred(sp[0], NULL), AX_EINVAL);
    ax_close(sp[0]);
    ax_close(sp[1]);

    /* Across a real connect from another process. */
    char uri[AX_URISTRLEN];
    snprintf(uri, sizeof uri, "unix://%s/cred.sock", axt_tmpdir());
    int l = CHECK_OK(ax_listen_uri(uri, NULL));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(l);
        int fd = ax_connect_uri(uri, NULL);
        char b;
        if (fd < 0)
            _exit(1);
        (void)!read(fd, &b, 1); /* until the parent is done */
        close(fd);
        _exit(0);
    }
    int s = CHECK_OK(ax_accept(l, NULL, 0));
    CHECK_OK(ax_peer_cred(s, &c));
    CHECK_EQ(c.pid, pid);
    ax_close(s);
    int st = axt_wait(pid, 5000);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ax_close(l);
}

TEST(send_and_recv_cred)
{
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    CHECK_OK(ax_setopt_int(sp[1], AX_OPT_PASSCRED, 1));
    CHECK_EQ(ax_send_cred(sp[0], "who", 3), 3);
    ax_cred c = {0, 0, 0};
    char buf[8];
    CHECK_EQ(ax_recv_cred(sp[1], buf, sizeof buf, &c), 3);
    CHECK(memcmp(buf, "who", 3) == 0);
    CHECK_EQ(c.pid, getpid());
    CHECK_EQ(c.uid, getuid());
    CHECK_EQ(c.gid, getgid());

    /* From a child: its own pid arrives. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(sp[1]);
        ssize_t n = ax_send_cred(sp[0], "kid", 3);
        close(sp[0]);
        _exit(n == 3 ? 0 : 1);
    }
    CHECK_EQ(ax_recv_cred(sp[1], buf, sizeof buf, &c), 3);
    CHECK_EQ(c.pid, pid);
    int st = axt_wait(pid, 5000);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ax_close(sp[0]);
    ax_close(sp[1]);
}

TEST(recv_cred_without_credentials)
{
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, sp));
    /* SO_PASSCRED is off when the data is sent: no credentials ride on it. */
    CHECK_EQ(ax_write(sp[0], "anon", 4), 4);
    ax_cred c = {77, 77, 77};
    char buf[8];
    CHECK_EQ(ax_recv_cred(sp[1], buf, sizeof buf, &c), AX_ENOENT);
    CHECK_ERRMSG("no SCM_CREDENTIALS arrived");
    CHECK_EQ(c.pid, 77);
    ax_close(sp[0]);
    ax_close(sp[1]);
}

/* ----------------------------------------------------------- packet info */

static void pktinfo(const char *ip)
{
    char uri[64];
    snprintf(uri, sizeof uri, strchr(ip, ':') ? "udp://[%s]:0" : "udp://%s:0", ip);
    int s = CHECK_OK(ax_listen_uri(uri, NULL));
    CHECK_OK(ax_set_nonblock(s, 1));
    ax_addr local, from, to, csock;
    CHECK_OK(ax_sockname(s, &local));
    char buf[16];
    /* The first call turns the option on; IPv4 records the interface only
     * for datagrams queued after that. */
    CHECK_EQ(ax_recv_pktinfo(s, buf, sizeof buf, NULL, NULL, NULL), AX_EAGAIN);

    int c = CHECK_OK(ax_listen_uri(uri, NULL)); /* a client bound to loopback */
    CHECK_EQ(ax_sendto(c, "pkt", 3, 0, &local), 3);
    CHECK_OK(ax_sockname(c, &csock));
    struct pollfd p = {.fd = s, .events = POLLIN};
    CHECK_EQ(poll(&p, 1, 2000), 1);
    unsigned ifindex = 0;
    memset(&to, 0, sizeof to);
    CHECK_EQ(ax_recv_pktinfo(s, buf, sizeof buf, &from, &to, &ifindex), 3);
    CHECK(memcmp(buf, "pkt", 3) == 0);
    CHECK(ax_addr_equal(&to, &local));
    CHECK(ax_addr_equal(&from, &csock));
    CHECK(if_nametoindex("lo") != 0);
    CHECK_EQ(ifindex, if_nametoindex("lo"));
    ax_close(c);
    ax_close(s);
}

TEST(recv_pktinfo_v4)
{
    pktinfo("127.0.0.1");
}

TEST(recv_pktinfo_v6)
{
    pktinfo("::1");
}

TEST(recv_pktinfo_needs_ip_socket)
{
    int sp[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_DGRAM, sp));
    char b[4];
    CHECK_EQ(ax_recv_pktinfo(sp[0], b, sizeof b, NULL, NULL, NULL), AX_EAFNOSUPPORT);
    CHECK_ERRMSG("not an IP socket");
    ax_close(sp[0]);
    ax_close(sp[1]);
}

/* ------------------------------------------------------ sendmsg/recvmsg */

TEST(sendmsg_recvmsg_scatter_gather)
{
    int s = CHECK_OK(ax_listen_uri("udp://127.0.0.1:0", NULL));
    int c = CHECK_OK(ax_listen_uri("udp://127.0.0.1:0", NULL));
    ax_addr dest, csock, from;
    CHECK_OK(ax_sockname(s, &dest));
    char p1[] = "ab", p2[] = "cde", p3[] = "f";
    struct iovec out[3] = {{p1, 2}, {p2, 3}, {p3, 1}};
    ax_msg m = {.name = &dest, .iov = out, .iovlen = 3};
    CHECK_EQ(ax_sendmsg(c, &m, 0), 6);
    CHECK_OK(ax_sockname(c, &csock));

    char a[2], b[2], rest[10];
    struct iovec in[3] = {{a, 2}, {b, 2}, {rest, sizeof rest}};
    ax_msg r = {.name = &from, .iov = in, .iovlen = 3};
    CHECK_EQ(ax_recvmsg(s, &r, 0), 6);
    CHECK(memcmp(a, "ab", 2) == 0);
    CHECK(memcmp(b, "cd", 2) == 0);
    CHECK(memcmp(rest, "ef", 2) == 0);
    CHECK(ax_addr_equal(&from, &csock));
    CHECK_EQ(r.flags & MSG_TRUNC, 0);
    CHECK_EQ(r.controllen, 0);

    /* A buffer too short for the datagram: MSG_TRUNC is reported. */
    CHECK_EQ(ax_sendto(c, "0123456789", 10, 0, &dest), 10);
    struct iovec shortv = {rest, 4};
    ax_msg t = {.iov = &shortv, .iovlen = 1};
    CHECK_EQ(ax_recvmsg(s, &t, 0), 4);
    CHECK(t.flags & MSG_TRUNC);
    CHECK(memcmp(rest, "0123", 4) == 0);
    /* With MSG_TRUNC asked for, the real length comes back. */
    CHECK_EQ(ax_sendto(c, "0123456789", 10, 0, &dest), 10);
    t.flags = 0;
    CHECK_EQ(ax_recvmsg(s, &t, MSG_TRUNC), 10);
    CHECK(t.flags & MSG_TRUNC);

    CHECK_EQ(ax_sendmsg(c, NULL, 0), AX_EINVAL);
    CHECK_EQ(ax_recvmsg(s, NULL, 0), AX_EINVAL);
    ax_close(c);
    ax_close(s);
}

TEST(recvmsg_with_fds_is_cloexec_and_ctrunc)
{
    int sp[2], p[2];
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_DGRAM, sp));
    CHECK_EQ(pipe(p), 0); /* not close-on-exec here */
    CHECK_EQ(ax_send_fds(sp[0], "m", 1, p, 2), 1);
    ctlbuf ctl;
    char d[4];
    struct iovec iov = {d, sizeof d};
    ax_msg m = {.iov = &iov, .iovlen = 1, .control = ctl.bytes,
                .controllen = ax_cmsg_space(SOL_SOCKET, SCM_RIGHTS, 2)};
    CHECK_EQ(ax_recvmsg(sp[1], &m, 0), 1);
    CHECK_EQ(m.flags & MSG_CTRUNC, 0);
    const void *data;
    CHECK_EQ(ax_cmsg_find(&m, SOL_SOCKET, SCM_RIGHTS, 0, &data), 2 * sizeof(int));
    int got[2];
    memcpy(got, data, sizeof got);
    CHECK(cloexec(got[0]) && cloexec(got[1]));
    close(got[0]);
    close(got[1]);

    /* Three fds, room for one (CMSG_SPACE's padding may fit a second):
     * the kernel reports MSG_CTRUNC and hands over what fitted. */
    int three[3] = {p[0], p[1], p[0]};
    CHECK_EQ(ax_send_fds(sp[0], "m", 1, three, 3), 1);
    m.controllen = ax_cmsg_space(SOL_SOCKET, SCM_RIGHTS, 1);
    CHECK_EQ(ax_recvmsg(sp[1], &m, 0), 1);
    CHECK(m.flags & MSG_CTRUNC);
    ssize_t len = ax_cmsg_find(&m, SOL_SOCKET, SCM_RIGHTS, 0, &data);
    CHECK(len >= (ssize_t)sizeof(int) && len <= 2 * (ssize_t)sizeof(int));
    memcpy(got, data, (size_t)len);
    for (size_t i = 0; i < (size_t)len / sizeof(int); i++)
        close(got[i]);
    close(p[0]);
    close(p[1]);
    ax_close(sp[0]);
    ax_close(sp[1]);
}
