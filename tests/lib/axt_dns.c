/* Test DNS servers on loopback (axt_dns.h). */
#include "axt_dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define DNSMASQ "/usr/sbin/dnsmasq"

/* A query for "probe.invalid" A with id, in wire format (a name no test
 * counts); returns its length. */
static size_t make_query(unsigned char *q, uint16_t id)
{
    static const unsigned char body[] = {0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, /* RD, 1 question */
                                         5, 'p', 'r', 'o', 'b', 'e', 7, 'i', 'n', 'v', 'a',
                                         'l', 'i', 'd', 0, 0, 1, 0, 1};
    q[0] = (unsigned char)(id >> 8);
    q[1] = (unsigned char)id;
    memcpy(q + 2, body, sizeof body);
    return 2 + sizeof body;
}

/* 1 once something answers DNS on 127.0.0.1:port. */
static int answers(unsigned short port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned char q[64], r[512];
    size_t n = make_query(q, 0x4242);
    int ok = 0;
    if (sendto(fd, q, n, 0, (struct sockaddr *)&sa, sizeof sa) == (ssize_t)n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ok = poll(&p, 1, 100) == 1 && recv(fd, r, sizeof r, 0) > 0;
    }
    close(fd);
    return ok;
}

/* Writes the config for port and starts dnsmasq; 0 once it answers, -1
 * if it exited at start (the port was taken meanwhile: UDP and TCP both
 * must be free). */
static int try_start(axt_dns *d, const char *extra, const char *conf, const char *big)
{
    d->port = axt_free_port(SOCK_DGRAM);
    snprintf(d->servers, sizeof d->servers, "127.0.0.1:%u", d->port);
    FILE *f = fopen(conf, "w");
    if (!f)
        axt_fail(__FILE__, __LINE__, "cannot write %s: %s", conf, strerror(errno));
    fprintf(f,
            "port=%u\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
            "keep-in-foreground\nuser=root\ngroup=root\npid-file=\nlog-queries\nlog-facility=%s\n"
            "addn-hosts=%s\n"
            "host-record=dual.test,192.0.2.10,2001:db8::10\n"
            "host-record=v4.test,192.0.2.4\nhost-record=v6.test,2001:db8::6\n"
            "host-record=x.sub.test,192.0.2.20\n"
            "cname=alias.test,alias2.test\ncname=alias2.test,dual.test\n"
            "local=/test/\nauth-server=ns.test,127.0.0.1\nauth-zone=test\n"
            "auth-soa=1,hostmaster.test,1200,120,604800\n"
            "%s\n%s\n",
            d->port, d->log, big, extra && strstr(extra, "auth-ttl=") ? "" : "auth-ttl=60",
            extra ? extra : "");
    fclose(f);
    char confarg[300];
    snprintf(confarg, sizeof confarg, "--conf-file=%s", conf);
    const char *argv[] = {DNSMASQ, confarg, NULL};
    const int fds[3] = {-1, -1, -1};
    d->pid = axt_spawn_std(argv, fds);
    double end = axt_now_ms() + 5000.0 * axt_scale();
    while (!answers(d->port)) {
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            d->pid = 0;
            return -1;
        }
        if (axt_now_ms() > end)
            axt_fail(__FILE__, __LINE__, "dnsmasq does not answer on port %u", d->port);
        usleep(10000);
    }
    return 0;
}

void axt_dns_start(axt_dns *d, const char *extra)
{
    memset(d, 0, sizeof *d);
    if (access(DNSMASQ, X_OK) < 0)
        axt_fail(__FILE__, __LINE__, "%s is missing: install dnsmasq-base (scripts/deps.sh test)",
                 DNSMASQ);
    const char *dir = axt_tmpdir();
    char conf[256], big[256];
    snprintf(conf, sizeof conf, "%s/dnsmasq.conf", dir);
    snprintf(big, sizeof big, "%s/hosts.big", dir);
    snprintf(d->log, sizeof d->log, "%s/dnsmasq.log", dir);
    FILE *f = fopen(big, "w");
    if (!f)
        axt_fail(__FILE__, __LINE__, "cannot write %s: %s", big, strerror(errno));
    for (int i = 1; i <= 60; i++)
        fprintf(f, "10.0.0.%d big.test\n", i);
    fclose(f);
    for (int i = 0; i < 10; i++)
        if (try_start(d, extra, conf, big) == 0)
            return;
    axt_fail(__FILE__, __LINE__, "dnsmasq exited at start ten times; config %s", conf);
}

void axt_dns_stop(axt_dns *d)
{
    if (d->pid > 0)
        axt_stop(d->pid);
    d->pid = 0;
}

static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

int axt_dns_queries(const axt_dns *d, const char *type, const char *name)
{
    char needle[300];
    snprintf(needle, sizeof needle, "[%s] %s from", type, name); /* query[A] or auth[A] */
    /* dnsmasq writes its log as it goes; wait until it is quiet. */
    int last = -1, n = count_lines(d->log, needle);
    for (int i = 0; i < 50 && n != last; i++) {
        usleep(100000);
        last = n;
        n = count_lines(d->log, needle);
    }
    return n;
}

int axt_dns_silent(unsigned short *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &l) < 0)
        axt_fail(__FILE__, __LINE__, "silent DNS server: %s", strerror(errno));
    *port = ntohs(sa.sin_port);
    return fd;
}

pid_t axt_dns_garbage(unsigned short *port, int mode)
{
    int fd = axt_dns_silent(port);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        axt_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid > 0) {
        close(fd);
        return pid;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(0);
    uint32_t x = 2463534242u;
    for (;;) {
        unsigned char q[512], r[600];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
        if (n < 12)
            continue;
        size_t len;
        if (mode == 0) {
            len = 40;
            for (size_t i = 0; i < len; i++) {
                x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                r[i] = (unsigned char)x;
            }
        } else {
            /* The question echoed, one answer claimed, and an A record
             * whose data is 4 bytes long but only 2 are there. */
            memcpy(r, q, (size_t)n);
            r[2] = 0x81, r[3] = 0x80;            /* response, RD, RA, NOERROR */
            r[6] = 0, r[7] = 1;                  /* ANCOUNT 1 */
            len = (size_t)n;
            static const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0};
            memcpy(r + len, rr, sizeof rr);
            len += sizeof rr;
        }
        sendto(fd, r, len, 0, (struct sockaddr *)&from, fl);
    }
}
