/*
 * 00-direct-demo: a tour of axon's direct layer (the PHP ext/sockets
 * equivalent) in one program.
 *
 *   1. a listener and a client exchange a line over TCP;
 *   2. a child process receives an open fd over a Unix socket and writes
 *      through it;
 *   3. the errors users meet, as axon reports them.
 *
 * usage: 00-direct-demo [listen-uri]     (default tcp://127.0.0.1:0)
 */
#include <axon.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

_Noreturn static void die(const char *what)
{
    fprintf(stderr, "demo: %s: %s\n", what, ax_last_error()->message);
    exit(1);
}

/* Part 1: the server side reads one line with the line reader (PHP's
 * PHP_NORMAL_READ) and answers; the client is a forked process. */
static void line_exchange(const char *listen_uri)
{
    int lfd = ax_listen_uri(listen_uri, NULL);
    if (lfd < 0)
        die("listen");
    char where[AX_URISTRLEN];
    ax_sockname_uri(lfd, where, sizeof where);
    printf("[1] listening on %s\n", where);
    fflush(stdout);

    pid_t pid = fork();
    if (pid == 0) {
        ax_close(lfd);
        ax_connect_opts o = {.timeout_ms = 2000};
        int c = ax_connect_uri(where, &o);
        if (c < 0)
            die("connect");
        const char *hello = "hello from the client\n";
        if (ax_write_all(c, hello, strlen(hello), 2000, NULL) < 0)
            die("write");
        ax_line_reader r;
        const char *line;
        size_t len;
        if (ax_line_reader_init(&r, c, 256) < 0 || ax_read_line(&r, &line, &len) != 1)
            die("read reply");
        printf("[1] client got: \"%s\"\n", line);
        ax_line_reader_free(&r);
        ax_close(c);
        exit(0);
    }
    ax_addr peer;
    int s = ax_accept(lfd, &peer, 0);
    if (s < 0)
        die("accept");
    char pt[AX_ADDRSTRLEN];
    ax_addr_format(&peer, pt, sizeof pt);
    ax_line_reader r;
    const char *line;
    size_t len;
    if (ax_line_reader_init(&r, s, 256) < 0 || ax_read_line(&r, &line, &len) != 1)
        die("read line");
    printf("[1] server got \"%s\" from %s\n", line, pt);
    char reply[300];
    int n = snprintf(reply, sizeof reply, "you said %zu bytes\n", len);
    if (ax_write_all(s, reply, (size_t)n, 2000, NULL) < 0)
        die("reply");
    ax_line_reader_free(&r);
    waitpid(pid, NULL, 0);
    ax_close(s);
    ax_close(lfd);
}

/* Part 2: SCM_RIGHTS. The parent passes the write end of a pipe; the
 * child writes into it through the fd it received. */
static void fd_passing(void)
{
    int sp[2], pp[2];
    if (ax_socketpair(AF_UNIX, SOCK_STREAM, sp) < 0 || pipe(pp) < 0)
        die("socketpair/pipe");
    pid_t pid = fork();
    if (pid == 0) {
        ax_close(sp[0]);
        ax_close(pp[0]);
        ax_close(pp[1]);
        int got[4];
        size_t ngot = 4;
        char tag[16];
        ssize_t n = ax_recv_fds(sp[1], tag, sizeof tag - 1, got, &ngot, NULL);
        if (n < 0 || ngot != 1)
            die("recv fds");
        tag[n] = '\0';
        ax_cred cred;
        ax_peer_cred(sp[1], &cred);
        char msg[128];
        int m = snprintf(msg, sizeof msg, "written by pid %d through passed fd %d (tag %s)\n",
                         (int)getpid(), got[0], tag);
        ax_write_all(got[0], msg, (size_t)m, 1000, NULL);
        printf("[2] child: got fd %d from pid %d, uid %d\n", got[0], (int)cred.pid,
               (int)cred.uid);
        fflush(stdout);
        exit(0);
    }
    ax_close(sp[1]);
    if (ax_send_fds(sp[0], "pipe", 4, &pp[1], 1) < 0)
        die("send fds");
    ax_close(pp[1]); /* the child holds its own copy now */
    char buf[256];
    ssize_t n = ax_read(pp[0], buf, sizeof buf - 1);
    waitpid(pid, NULL, 0);
    buf[n > 0 ? n : 0] = '\0';
    printf("[2] parent read from the pipe: %s", buf);
    ax_close(pp[0]);
    ax_close(sp[0]);
}

/* Part 3: every failure carries a code and a message naming what went
 * wrong. */
static void show(const char *what, long rc)
{
    printf("[3] %-28s -> %s: %s\n", what, ax_errname((int)rc), ax_last_error()->message);
}

static void errors(void)
{
    ax_uri u;
    show("parse \"tcp://[::1\"", ax_uri_parse("tcp://[::1", &u));
    show("parse \"tcp://h:65536\"", ax_uri_parse("tcp://h:65536", &u));
    show("parse \"gopher://h:70\"", ax_uri_parse("gopher://h:70", &u));

    /* A port that surely refuses: bound, never listening. */
    int hold = ax_listen_uri("udp://127.0.0.1:0", NULL);
    char uri[AX_URISTRLEN];
    ax_sockname_uri(hold, uri, sizeof uri);
    memcpy(uri, "tcp", 3);
    int closed = ax_socket(AF_INET, SOCK_STREAM, 0);
    ax_addr a;
    ax_addr_parse(uri, &a);
    ax_bind(closed, &a);
    show("connect to a closed port", ax_connect_uri(uri, NULL));
    ax_close(closed);
    ax_close(hold);

    int sp[2];
    ax_socketpair(AF_UNIX, SOCK_STREAM, sp);
    ax_write_all(sp[0], "this line is far too long\n", 26, 1000, NULL);
    ax_line_reader r;
    const char *line = NULL;
    size_t len = 0;
    ax_line_reader_init(&r, sp[1], 8);
    show("read a 25-byte line, max 8", ax_read_line(&r, &line, &len));
    ax_line_reader_free(&r);
    ax_close(sp[0]);
    ax_close(sp[1]);
}

int main(int argc, char **argv)
{
    /* Line-buffered so forked children never repeat buffered output. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("axon %s direct-layer demo\n", ax_version_string());
    line_exchange(argc > 1 ? argv[1] : "tcp://127.0.0.1:0");
    fd_passing();
    errors();
    return 0;
}
