/*
 * ax_connect() (src/net/connect.c): success, refusal and timeout in their
 * exact words, cancelling (one ECANCELED callback, no fd left), Unix paths, names
 * refused up front, never calling back from inside ax_connect(); and
 * 10 000 concurrent connections through an axon echo server.
 *
 * Loops come from axt_new_loop(), so AXON_BACKEND=poll runs the file on
 * poll (registered as test_connect_poll). Under valgrind
 * (AXT_TIMEOUT_SCALE set) the echo run uses 1000 connections, not 10 000.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "axt_loop.h"

/* --------------------------------------------------------------- connect */

typedef struct cres {
    int calls;
    ax_conn *c;
    int code;
    char msg[AX_ERROR_MAX];
    int in_call;
    int sync_call;
} cres;

static void connect_cb(ax_conn *c, const ax_error *err, void *arg)
{
    cres *r = arg;
    r->calls++;
    r->sync_call |= r->in_call;
    r->c = c;
    if (err) {
        r->code = err->code;
        snprintf(r->msg, sizeof r->msg, "%s", err->message);
    } else {
        ax_conn_close(c);
    }
}

static ax_connect_req *start(ax_loop *loop, const char *uri, int timeout_ms, cres *r)
{
    ax_connect_opts o = {.timeout_ms = timeout_ms};
    r->in_call = 1;
    ax_connect_req *q = ax_connect(loop, uri, &o, connect_cb, r);
    r->in_call = 0;
    return q;
}

TEST(connect_success_refused_unix_hostname)
{
    ax_loop *loop = axt_new_loop();
    int lfd = CHECK_OK(ax_listen_uri("tcp://127.0.0.1:0", NULL));
    char addr[AX_URISTRLEN];
    CHECK_OK(ax_sockname_uri(lfd, addr, sizeof addr));
    cres ok = {0};
    CHECK(start(loop, addr, 0, &ok) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(ok.calls, 1);
    CHECK(ok.c != NULL);
    CHECK_EQ(ok.sync_call, 0);
    close(lfd);

    /* Refused: a bound port that does not listen. */
    int b = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    ax_addr a;
    CHECK_OK(ax_addr_parse("127.0.0.1:0", &a));
    CHECK_OK(ax_bind(b, &a));
    CHECK_OK(ax_sockname(b, &a));
    char uri[64], want[160];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%u", ax_addr_port(&a));
    snprintf(want, sizeof want,
             "Connection to tcp://127.0.0.1:%u failed: Connection refused (ECONNREFUSED)",
             ax_addr_port(&a));
    cres no = {0};
    CHECK(start(loop, uri + 6, 0, &no) != NULL); /* no scheme: tcp implied */
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(no.calls, 1);
    CHECK_EQ(no.code, AX_ECONNREFUSED);
    CHECK_STR(no.msg, want);
    close(b);

    /* Unix: connects at once, still reported from the loop. */
    char path[200];
    snprintf(path, sizeof path, "unix://%s/c.sock", axt_tmpdir());
    int ul = CHECK_OK(ax_listen_uri(path, NULL));
    cres u = {0};
    CHECK(start(loop, path, 0, &u) != NULL);
    CHECK_EQ(u.calls, 0);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(u.calls, 1);
    CHECK(u.c != NULL);
    CHECK_EQ(u.sync_call, 0);
    close(ul);
    snprintf(path, sizeof path, "unix://%s/missing.sock", axt_tmpdir());
    cres m = {0};
    CHECK(start(loop, path, 0, &m) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(m.code, AX_ENOENT);
    CHECK(strstr(m.msg, "missing.sock failed: No such file or directory (ENOENT)") != NULL);

    /* Names need the resolver: refused up front, cb never called. */
    cres h = {0};
    CHECK(start(loop, "localhost:80", 0, &h) == NULL);
    CHECK_EQ(ax_last_error()->code, AX_EINVAL);
    CHECK(start(loop, "tcp://127.0.0.1:0", 0, &h) == NULL);
    CHECK(start(loop, "udp://127.0.0.1:53", 0, &h) == NULL);
    CHECK(start(loop, "bogus", 0, &h) == NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(h.calls, 0);
    ax_loop_free(loop);
}

/* A listener with a full accept queue: further SYNs are dropped. */
static int full_listener(char *uri, size_t len, int fill[16], int *nfill)
{
    ax_addr a;
    CHECK_OK(ax_addr_parse("127.0.0.1:0", &a));
    int lfd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(ax_bind(lfd, &a));
    CHECK_EQ(listen(lfd, 0), 0);
    CHECK_OK(ax_sockname(lfd, &a));
    snprintf(uri, len, "tcp://127.0.0.1:%u", ax_addr_port(&a));
    for (*nfill = 0; *nfill < 16;) {
        int fd = CHECK_OK(ax_socket(AF_INET, SOCK_STREAM | AX_SOCK_NONBLOCK, 0));
        fill[(*nfill)++] = fd;
        connect(fd, &a.u.sa, a.len);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 200) == 0)
            return lfd; /* this one is left hanging: the queue is full */
    }
    axt_fail(__FILE__, __LINE__, "could not fill the accept queue");
}

TEST(connect_timeout_and_cancel)
{
    int fds_before = axt_count_fds();
    char uri[64];
    int fill[16], nfill;
    int lfd = full_listener(uri, sizeof uri, fill, &nfill);
    ax_loop *loop = axt_new_loop();
    cres t = {0};
    double t0 = axt_now_ms();
    CHECK(start(loop, uri, 300, &t) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    double took = axt_now_ms() - t0;
    CHECK_EQ(t.calls, 1);
    CHECK_EQ(t.code, AX_ETIMEDOUT);
    char want[160];
    snprintf(want, sizeof want, "Connection to %s timed out after 300 ms (ETIMEDOUT)", uri);
    CHECK_STR(t.msg, want);
    CHECK(took >= 280);

    /* Cancelled before it completes: one callback, at once, with
     * ECANCELED; no fd left behind. */
    int fds_mid = axt_count_fds();
    cres c = {0};
    ax_connect_req *q = start(loop, uri, 2000, &c);
    CHECK(q != NULL);
    CHECK_OK(ax_loop_run_once(loop, 50));
    ax_connect_cancel(q);
    CHECK_EQ(c.calls, 1);
    CHECK_EQ(c.code, AX_ECANCELED);
    snprintf(want, sizeof want, "Connection to %s cancelled during TCP/IP handshake (ECANCELED)",
             uri);
    CHECK_STR(c.msg, want);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(c.calls, 1);
    CHECK_EQ(axt_count_fds(), fds_mid);

    /* Cancelled while its result waits in a deferred report. */
    char path[200];
    snprintf(path, sizeof path, "unix://%s/c.sock", axt_tmpdir());
    int ul = CHECK_OK(ax_listen_uri(path, NULL));
    c = (cres){0};
    q = start(loop, path, 0, &c);
    CHECK(q != NULL);
    ax_connect_cancel(q);
    ax_connect_cancel(NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(c.calls, 1); /* the cancel's, not the deferred success */
    CHECK_EQ(c.code, AX_ECANCELED);
    close(ul);
    ax_loop_free(loop);
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    close(lfd);
    CHECK_EQ(axt_count_fds(), fds_before);
}

/* ------------------------------------------------- full unix backlog */

/* EAGAIN from a Unix connect is "the queue is full, try again": the
 * connector keeps trying within its timeout instead of failing at once. */
TEST_T(connect_unix_full_backlog_retries_within_timeout, 20)
{
    char path[200], uri[220];
    snprintf(path, sizeof path, "%s/full.sock", axt_tmpdir());
    snprintf(uri, sizeof uri, "unix://%s", path);
    int fill[64];
    size_t n;
    int lfd = axt_unix_full_listener(path, fill, 64, &n);
    ax_loop *loop = axt_new_loop();
    cres t = {0};
    double t0 = axt_now_ms();
    CHECK(start(loop, uri, 300, &t) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(t.calls, 1);
    CHECK_EQ(t.code, AX_ETIMEDOUT);
    CHECK(axt_now_ms() - t0 >= 280);
    char want[300];
    snprintf(want, sizeof want, "Connection to %s timed out after 300 ms (ETIMEDOUT)", uri);
    CHECK_STR(t.msg, want);
    /* Room appears after 300 ms: a connect with 3 s to go gets in. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        usleep(300000);
        _exit(accept(lfd, NULL, NULL) >= 0 ? 0 : 1);
    }
    cres ok = {0};
    t0 = axt_now_ms();
    CHECK(start(loop, uri, 3000, &ok) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(ok.calls, 1);
    CHECK(ok.c != NULL);
    CHECK(axt_now_ms() - t0 >= 250);
    CHECK_EQ(axt_wait(pid, 5000), 0);
    ax_loop_free(loop);
    for (size_t i = 0; i < n; i++)
        close(fill[i]);
    close(lfd);
}

/* ------------------------------------------------- from a callback */

static struct {
    ax_loop *loop;
    const char *target;
    cres res;
    double started, ended;
} FCB;

static void fcb_done(ax_conn *c, const ax_error *err, void *arg)
{
    FCB.ended = axt_now_ms();
    connect_cb(c, err, arg);
}

static void fcb_accept(ax_server *s, ax_conn *c, void *arg)
{
    (void)arg;
    ax_conn_close(c);
    ax_server_close(s);
    /* Started from an I/O callback after the loop slept 600 ms. */
    FCB.started = axt_now_ms();
    ax_connect_opts o = {.timeout_ms = 500};
    CHECK(ax_connect(FCB.loop, FCB.target, &o, fcb_done, &FCB.res) != NULL);
}

static void *late_client(void *arg)
{
    usleep(600000);
    int fd = CHECK_OK(ax_connect_uri(arg, NULL));
    close(fd);
    return NULL;
}

/* The loop's clock is refreshed before I/O callbacks run: a connect timeout
 * started in on_connection after a long sleep is not cut short by it. */
TEST(connect_timeout_started_in_callback_after_sleep_is_not_early)
{
    char uri[64];
    int fill[16], nfill;
    int lfd = full_listener(uri, sizeof uri, fill, &nfill);
    FCB.loop = axt_new_loop();
    FCB.target = uri;
    ax_server_opts so = {.on_connection = fcb_accept};
    ax_server *srv;
    CHECK_OK(ax_server_listen(FCB.loop, "tcp://127.0.0.1:0", &so, &srv));
    static char addr[AX_URISTRLEN];
    snprintf(addr, sizeof addr, "%s", ax_server_address(srv));
    pthread_t tid;
    CHECK_EQ(pthread_create(&tid, NULL, late_client, addr), 0);
    CHECK_EQ(ax_loop_run(FCB.loop), 0);
    CHECK_EQ(pthread_join(tid, NULL), 0);
    CHECK_EQ(FCB.res.calls, 1);
    CHECK_EQ(FCB.res.code, AX_ETIMEDOUT);
    CHECK(FCB.ended - FCB.started >= 480);
    ax_loop_free(FCB.loop);
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    close(lfd);
}

/* -------------------------------------------------------- 10 000 clients */

static void echo_data(ax_conn *c, const void *d, size_t n, void *arg)
{
    (void)arg;
    ax_conn_write(c, d, n);
}

static const ax_conn_events echo_ev = {.on_data = echo_data};

static void echo_accept(ax_server *s, ax_conn *c, void *arg)
{
    (void)s;
    (void)arg;
    ax_conn_set_events(c, &echo_ev, NULL);
}

typedef struct ctl {
    ax_server *srv;
    int out, done;
} ctl;

static void ctl_cb(ax_watch *w, int fd, unsigned revents, void *arg)
{
    (void)revents;
    ctl *x = arg;
    char b;
    if (read(fd, &b, 1) == 1) {
        size_t n = ax_server_connection_count(x->srv);
        CHECK_EQ(write(x->out, &n, sizeof n), (ssize_t)sizeof n);
        return;
    }
    ax_watch_stop(w); /* EOF: the test is done */
    x->done = 1;
}

static void raise_nofile(rlim_t n)
{
    struct rlimit rl = {n, n};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void echo_server_main(int port_out, int ctl_in, int ctl_out)
{
    raise_nofile(25000);
    ax_loop *loop = axt_new_loop();
    ctl x = {.out = ctl_out};
    ax_server_opts o = {.on_connection = echo_accept, .backlog = 4096};
    CHECK_OK(ax_server_listen(loop, "tcp://127.0.0.1:0", &o, &x.srv));
    const char *a = ax_server_address(x.srv);
    CHECK_EQ(write(port_out, a, strlen(a) + 1), (ssize_t)strlen(a) + 1);
    ax_watch *w = ax_watch_fd(loop, ctl_in, AX_READABLE, ctl_cb, &x);
    CHECK(w != NULL);
    while (!x.done)
        CHECK_OK(ax_loop_run_once(loop, -1));
    ax_loop_free(loop);
}

typedef struct cl {
    struct many *m;
    ax_conn *c;
    int idx;
    size_t got;
    char msg[32], in[32];
} cl;

typedef struct many {
    ax_loop *loop;
    char addr[AX_URISTRLEN];
    cl *cls;
    int n, started, inflight, connected, echoed, failed;
} many;

static void cl_data(ax_conn *c, const void *d, size_t n, void *arg)
{
    (void)c;
    cl *x = arg;
    if (x->got + n > 32) {
        x->m->failed++;
        return;
    }
    memcpy(x->in + x->got, d, n);
    x->got += n;
    if (x->got == 32) {
        if (memcmp(x->in, x->msg, 32) == 0)
            x->m->echoed++;
        else
            x->m->failed++;
    }
}

static void cl_error(ax_conn *c, const ax_error *e, void *arg)
{
    (void)c;
    (void)arg;
    fprintf(stderr, "  client error: %s\n", e->message);
}

static const ax_conn_events cl_ev = {.on_data = cl_data, .on_error = cl_error};

static void launch(many *m);

static void cl_connected(ax_conn *c, const ax_error *err, void *arg)
{
    cl *x = arg;
    many *m = x->m;
    m->inflight--;
    if (err) {
        fprintf(stderr, "  connect %d: %s\n", x->idx, err->message);
        m->failed++;
    } else {
        m->connected++;
        x->c = c;
        ax_conn_set_events(c, &cl_ev, x);
        CHECK_EQ(ax_conn_write(c, x->msg, 32), 1);
    }
    launch(m);
}

static void launch(many *m)
{
    while (m->started < m->n && m->inflight < 256) {
        cl *x = &m->cls[m->started];
        x->m = m;
        x->idx = m->started++;
        char tmp[64];
        snprintf(tmp, sizeof tmp, "connection %05d of many..................", x->idx);
        memcpy(x->msg, tmp, 32); /* distinct per connection */
        ax_connect_opts o = {.timeout_ms = 20000};
        m->inflight++;
        CHECK(ax_connect(m->loop, m->addr, &o, cl_connected, x) != NULL);
    }
}

TEST_T(ten_thousand_concurrent_connections, 90)
{
    raise_nofile(25000);
    many m = {.n = axt_scale() > 1 ? 1000 : 10000};
    int portp[2], cin[2], cout[2];
    CHECK_EQ(pipe(portp), 0);
    CHECK_OK(ax_socketpair(AF_UNIX, SOCK_STREAM, cin));
    CHECK_EQ(pipe(cout), 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(cin[0]);
        echo_server_main(portp[1], cin[1], cout[1]);
        _exit(0);
    }
    close(cin[1]);
    for (size_t i = 0; i < sizeof m.addr - 1; i++) { /* up to the NUL */
        CHECK_EQ(axt_read_all(portp[0], m.addr + i, 1, 10000), 1);
        if (m.addr[i] == '\0')
            break;
    }
    m.loop = axt_new_loop();
    m.cls = calloc((size_t)m.n, sizeof *m.cls);
    CHECK(m.cls != NULL);
    double t0 = axt_now_ms();
    launch(&m);
    AXT_RUN_UNTIL(m.loop, m.echoed + m.failed == m.n, 30000); /* the ~30 s bound */
    double took = axt_now_ms() - t0;
    CHECK_EQ(m.failed, 0);
    CHECK_EQ(m.echoed, m.n);
    CHECK_EQ(send(cin[0], "?", 1, 0), 1);
    size_t count = 0;
    CHECK_EQ(axt_read_all(cout[0], (char *)&count, sizeof count, 10000), sizeof count);
    printf("  %d concurrent connections echoed in %.0f ms (server holds %zu)\n", m.n, took,
           count);
    CHECK_EQ(count, (size_t)m.n);
    ax_loop_free(m.loop);
    close(cin[0]);
    CHECK(WIFEXITED(axt_wait(pid, 20000)));
    free(m.cls);
}
