/*
 * ax_resolve() (src/dns) against a real DNS server: dnsmasq on loopback
 * with the zone of tests/lib/axt_dns.h, and servers of our own that never
 * answer or answer garbage. Literals, localhost and the hosts file never
 * reach a server (the servers given are ones that would never answer).
 * Runs on every backend (AXON_BACKEND).
 */
#include <arpa/inet.h>
#include <unistd.h>

#include "axt_dns.h"
#include "axt_loop.h"
#include "harness.h"

/* One lookup's outcome. */
typedef struct res {
    int calls, code, n;
    int sync; /* called from inside ax_resolve() */
    uint32_t ttl;
    char addrs[8][AX_ADDRSTRLEN];
    char canonical[256];
    char msg[AX_ERROR_MAX];
    double at; /* when, ms */
} res;

static int inside;

static void on_res(const ax_resolve_result *r, const ax_error *err, void *arg)
{
    res *o = arg;
    o->calls++;
    o->sync = inside;
    o->at = axt_now_ms();
    if (err) {
        o->code = err->code;
        snprintf(o->msg, sizeof o->msg, "%s", err->message);
        CHECK(r == NULL);
        return;
    }
    CHECK(r != NULL && r->n > 0);
    o->n = (int)r->n;
    o->ttl = r->ttl_s;
    snprintf(o->canonical, sizeof o->canonical, "%s", r->canonical);
    for (size_t i = 0; i < r->n && i < 8; i++) {
        char t[AX_ADDRSTRLEN];
        CHECK_OK(ax_addr_format(&r->addrs[i], t, sizeof t));
        CHECK_EQ(ax_addr_port(&r->addrs[i]), 0);
        snprintf(o->addrs[i], sizeof o->addrs[i], "%s", t);
    }
}

static ax_resolve_req *ask(ax_loop *loop, const char *host, int family, const ax_resolve_opts *o,
                           res *r)
{
    inside = 1;
    ax_resolve_req *q = ax_resolve(loop, host, family, o, on_res, r);
    inside = 0;
    return q;
}

/* Resolves host and runs the loop until the answer. */
static void lookup(ax_loop *loop, const char *host, int family, const ax_resolve_opts *o, res *r)
{
    memset(r, 0, sizeof *r);
    CHECK(ask(loop, host, family, o, r) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK_EQ(r->calls, 1);
    CHECK_EQ(r->sync, 0);
}

TEST(literals_localhost_and_hosts_file_never_ask_a_server)
{
    unsigned short port;
    int silent = axt_dns_silent(&port);
    char servers[32], hosts[256];
    snprintf(servers, sizeof servers, "127.0.0.1:%u", port);
    snprintf(hosts, sizeof hosts, "%s/hosts", axt_tmpdir());
    FILE *f = fopen(hosts, "w");
    CHECK(f != NULL);
    fprintf(f, "# comment\n192.0.2.7  web.example  www.example # trailing\n"
               "2001:db8::7 web.example\n\n  10.1.2.3\tTabbed.Example\nbogus line\n");
    fclose(f);
    ax_resolve_opts o = {.servers = servers, .hosts_file = hosts, .timeout_ms = 5000};
    ax_loop *loop = axt_new_loop();
    res r;
    double t0 = axt_now_ms();
    lookup(loop, "192.0.2.1", AF_UNSPEC, &o, &r);
    CHECK_EQ(r.n, 1);
    CHECK_STR(r.addrs[0], "192.0.2.1:0");
    lookup(loop, "2001:db8::1", AF_INET6, &o, &r);
    CHECK_STR(r.addrs[0], "[2001:db8::1]:0");
    lookup(loop, "2001:db8::1", AF_INET, &o, &r); /* a literal of the other family */
    CHECK_EQ(r.code, AX_EAI_NODATA);
    lookup(loop, "localhost", AF_UNSPEC, &o, &r);
    CHECK_EQ(r.n, 2);
    CHECK_STR(r.addrs[0], "[::1]:0"); /* IPv6 first */
    CHECK_STR(r.addrs[1], "127.0.0.1:0");
    lookup(loop, "db.LocalHost.", AF_INET, &o, &r);
    CHECK_STR(r.addrs[0], "127.0.0.1:0");
    lookup(loop, "web.example", AF_UNSPEC, &o, &r);
    CHECK_EQ(r.n, 2);
    CHECK_STR(r.addrs[0], "[2001:db8::7]:0");
    CHECK_STR(r.addrs[1], "192.0.2.7:0");
    CHECK_EQ(r.ttl, 0);
    lookup(loop, "WWW.example.", AF_INET, &o, &r);
    CHECK_STR(r.addrs[0], "192.0.2.7:0");
    lookup(loop, "tabbed.example", AF_INET, &o, &r);
    CHECK_STR(r.addrs[0], "10.1.2.3:0");
    /* Known to the file under IPv4 only: no IPv6, and no DNS asked. */
    lookup(loop, "tabbed.example", AF_UNSPEC, &o, &r);
    CHECK_EQ(r.n, 1);
    lookup(loop, "tabbed.example", AF_INET6, &o, &r);
    CHECK_EQ(r.code, AX_EAI_NODATA);
    CHECK(axt_now_ms() - t0 < 1000); /* none of these waited for the silent server */

    /* The hosts file is read again once it changes. */
    usleep(1100 * 1000);
    f = fopen(hosts, "w");
    CHECK(f != NULL);
    fprintf(f, "192.0.2.99 web.example\n");
    fclose(f);
    lookup(loop, "web.example", AF_INET, &o, &r);
    CHECK_EQ(r.n, 1);
    CHECK_STR(r.addrs[0], "192.0.2.99:0");
    ax_loop_free(loop);
    close(silent);
}

TEST(dnsmasq_records_and_errors_in_react_words)
{
    axt_dns d;
    axt_dns_start(&d, NULL);
    ax_resolve_opts o = {.servers = d.servers, .hosts_file = ""};
    ax_loop *loop = axt_new_loop();
    res r;
    lookup(loop, "dual.test", AF_UNSPEC, &o, &r);
    CHECK_EQ(r.n, 2);
    CHECK_STR(r.addrs[0], "[2001:db8::10]:0");
    CHECK_STR(r.addrs[1], "192.0.2.10:0");
    CHECK_STR(r.canonical, "dual.test");
    CHECK(r.ttl > 0 && r.ttl <= 60);

    lookup(loop, "v4.test", AF_UNSPEC, &o, &r);
    CHECK_EQ(r.n, 1);
    CHECK_STR(r.addrs[0], "192.0.2.4:0");
    lookup(loop, "v6.test", AF_UNSPEC, &o, &r);
    CHECK_EQ(r.n, 1);
    CHECK_STR(r.addrs[0], "[2001:db8::6]:0");

    /* A CNAME chain: the addresses of its end, named canonically. */
    lookup(loop, "alias.test", AF_INET, &o, &r);
    CHECK_EQ(r.n, 1);
    CHECK_STR(r.addrs[0], "192.0.2.10:0");
    CHECK_STR(r.canonical, "dual.test");

    lookup(loop, "v4.test", AF_INET6, &o, &r);
    CHECK_EQ(r.code, AX_EAI_NODATA);
    CHECK_STR(r.msg, "DNS query for v4.test (AAAA) did not return a valid answer "
                     "(NOERROR / NODATA) (EAI_NODATA)");
    lookup(loop, "missing.test", AF_INET, &o, &r);
    CHECK_EQ(r.code, AX_EAI_NONAME);
    CHECK_STR(r.msg, "DNS query for missing.test (A) returned an error response "
                     "(Non-Existent Domain / NXDOMAIN) (EAI_NONAME)");
    /* Both families missing: one error, "no such name" named. */
    lookup(loop, "missing.test", AF_UNSPEC, &o, &r);
    CHECK_EQ(r.code, AX_EAI_NONAME);
    ax_loop_free(loop);
    axt_dns_stop(&d);
}

TEST(answer_over_512_bytes_comes_over_tcp)
{
    axt_dns d;
    axt_dns_start(&d, NULL);
    ax_resolve_opts o = {.servers = d.servers, .hosts_file = ""};
    ax_loop *loop = axt_new_loop();
    res r;
    lookup(loop, "big.test", AF_INET, &o, &r);
    CHECK_EQ(r.code, 0);
    CHECK_EQ(r.n, 60);
    ax_loop_free(loop);
    /* dnsmasq logs TCP questions like UDP ones: asked twice, the second
     * time over TCP after the truncated UDP answer. */
    CHECK_EQ(axt_dns_queries(&d, "A", "big.test"), 2);
    axt_dns_stop(&d);
}

TEST(cache_keeps_answers_and_absences_and_shares_questions)
{
    axt_dns d;
    axt_dns_start(&d, NULL);
    ax_resolve_opts o = {.servers = d.servers, .hosts_file = ""};
    ax_loop *loop = axt_new_loop();
    res r;
    /* Three lookups of one name at once: one question on the wire. */
    res a = {0}, b = {0}, c = {0};
    CHECK(ask(loop, "dual.test", AF_INET, &o, &a) != NULL);
    CHECK(ask(loop, "dual.test", AF_INET, &o, &b) != NULL);
    CHECK(ask(loop, "DUAL.test", AF_INET, &o, &c) != NULL);
    CHECK_EQ(ax_loop_run(loop), 0);
    CHECK(a.calls == 1 && b.calls == 1 && c.calls == 1);
    CHECK_STR(c.addrs[0], "192.0.2.10:0");
    /* Then from the cache, within the TTL. */
    lookup(loop, "dual.test", AF_INET, &o, &r);
    CHECK_STR(r.addrs[0], "192.0.2.10:0");
    CHECK_EQ(axt_dns_queries(&d, "A", "dual.test"), 1);
    /* A missing name is kept too (the SOA's minimum), so asking again
     * costs no round trip (curl #17084). */
    lookup(loop, "missing.test", AF_INET, &o, &r);
    lookup(loop, "missing.test", AF_INET, &o, &r);
    CHECK_EQ(r.code, AX_EAI_NONAME);
    CHECK_EQ(axt_dns_queries(&d, "A", "missing.test"), 1);
    /* no_cache asks every time; clearing the cache forgets. */
    ax_resolve_opts nc = o;
    nc.no_cache = true;
    lookup(loop, "dual.test", AF_INET, &nc, &r);
    CHECK_EQ(axt_dns_queries(&d, "A", "dual.test"), 2);
    ax_dns_cache_clear(loop);
    lookup(loop, "dual.test", AF_INET, &o, &r);
    CHECK_EQ(axt_dns_queries(&d, "A", "dual.test"), 3);
    ax_loop_free(loop);
    axt_dns_stop(&d);
}

TEST(cache_honours_the_ttl)
{
    axt_dns d;
    axt_dns_start(&d, "auth-ttl=1");
    ax_resolve_opts o = {.servers = d.servers, .hosts_file = ""};
    ax_loop *loop = axt_new_loop();
    res r;
    lookup(loop, "v4.test", AF_INET, &o, &r);
    CHECK_EQ(r.ttl, 1);
    lookup(loop, "v4.test", AF_INET, &o, &r);
    CHECK_EQ(axt_dns_queries(&d, "A", "v4.test"), 1);
    usleep(1200 * 1000);
    lookup(loop, "v4.test", AF_INET, &o, &r);
    CHECK_STR(r.addrs[0], "192.0.2.4:0");
    CHECK_EQ(axt_dns_queries(&d, "A", "v4.test"), 2);
    ax_loop_free(loop);
    axt_dns_stop(&d);
}

TEST(silent_server_times_out_then_the_next_answers)
{
    axt_dns d;
    axt_dns_start(&d, NULL);
    unsigned short port;
    int silent = axt_dns_silent(&port);
    char servers[80];
    snprintf(servers, sizeof servers, "127.0.0.1:%u,%s", port, d.servers);
    ax_resolve_opts o = {.servers = servers, .hosts_file = "", .timeout_ms = 300, .tries = 1};
    ax_loop *loop = axt_new_loop();
    res r;
    double t0 = axt_now_ms();
    lookup(loop, "v4.test", AF_INET, &o, &r);
    double took = r.at - t0;
    CHECK_EQ(r.code, 0);
    CHECK_STR(r.addrs[0], "192.0.2.4:0");
    CHECK(took >= 250);

    /* Only the silent one: the time it took, in react/dns's words. */
    snprintf(servers, sizeof servers, "127.0.0.1:%u", port);
    ax_resolve_opts s = {.servers = servers, .hosts_file = "", .timeout_ms = 1000, .tries = 1};
    t0 = axt_now_ms();
    lookup(loop, "v4.test", AF_INET, &s, &r);
    CHECK_EQ(r.code, AX_ETIMEDOUT);
    CHECK_STR(r.msg, "DNS query for v4.test (A) timed out after 1 second (ETIMEDOUT)");
    CHECK(r.at - t0 >= 950);
    ax_loop_free(loop);
    close(silent);
    axt_dns_stop(&d);
}

TEST(garbage_answers_are_clear_errors)
{
    unsigned short port;
    pid_t g = axt_dns_garbage(&port, 1);
    char servers[32];
    snprintf(servers, sizeof servers, "127.0.0.1:%u", port);
    ax_resolve_opts o = {.servers = servers, .hosts_file = "", .timeout_ms = 500, .tries = 1};
    ax_loop *loop = axt_new_loop();
    res r;
    lookup(loop, "x.test", AF_INET, &o, &r);
    CHECK_EQ(r.code, -EBADMSG);
    CHECK_STR(r.msg, "DNS query for x.test (A) failed: the server's answer could not be read "
                     "(EBADMSG)");
    axt_stop(g);
    /* Random bytes are not an answer to anything: the query times out. */
    g = axt_dns_garbage(&port, 0);
    snprintf(servers, sizeof servers, "127.0.0.1:%u", port);
    lookup(loop, "y.test", AF_INET, &o, &r);
    CHECK_EQ(r.code, AX_ETIMEDOUT);
    ax_loop_free(loop);
    axt_stop(g);
}

TEST(search_list_and_ndots_from_resolv_conf)
{
    axt_dns d;
    axt_dns_start(&d, NULL);
    char conf[256];
    snprintf(conf, sizeof conf, "%s/resolv.conf", axt_tmpdir());
    FILE *f = fopen(conf, "w");
    CHECK(f != NULL);
    /* The nameserver line names the (silent) port 53 of loopback: the
     * servers option replaces it; search, ndots, timeout and attempts stay. */
    fprintf(f, "nameserver 127.0.0.1\nsearch nothing.test test\noptions ndots:2 timeout:1 "
               "attempts:1\n");
    fclose(f);
    ax_resolve_opts o = {.servers = d.servers, .resolv_conf = conf, .hosts_file = ""};
    ax_loop *loop = axt_new_loop();
    res r;
    lookup(loop, "dual", AF_INET, &o, &r);
    CHECK_EQ(r.code, 0);
    CHECK_STR(r.addrs[0], "192.0.2.10:0");
    CHECK_STR(r.canonical, "dual.test");
    lookup(loop, "x.sub", AF_INET, &o, &r); /* one dot < ndots: the search list first */
    CHECK_STR(r.addrs[0], "192.0.2.20:0");
    CHECK_STR(r.canonical, "x.sub.test");
    CHECK_EQ(axt_dns_queries(&d, "A", "x.sub.nothing.test"), 1);
    ax_loop_free(loop);
    axt_dns_stop(&d);

    /* timeout:1 attempts:1 from the file: one second, then the error. */
    unsigned short port;
    int silent = axt_dns_silent(&port);
    char servers[32];
    snprintf(servers, sizeof servers, "127.0.0.1:%u", port);
    ax_resolve_opts s = {.servers = servers, .resolv_conf = conf, .hosts_file = ""};
    loop = axt_new_loop();
    lookup(loop, "v4.test", AF_INET, &s, &r);
    CHECK_STR(r.msg, "DNS query for v4.test (A) timed out after 1 second (ETIMEDOUT)");
    ax_loop_free(loop);
    close(silent);
}

TEST(cancel_calls_back_once_and_free_cancels_the_rest)
{
    unsigned short port;
    int silent = axt_dns_silent(&port);
    char servers[32];
    snprintf(servers, sizeof servers, "127.0.0.1:%u", port);
    ax_resolve_opts o = {.servers = servers, .hosts_file = ""};
    int fds = axt_count_fds();
    ax_loop *loop = axt_new_loop();
    res a = {0}, b = {0};
    ax_resolve_req *q = ask(loop, "slow.test", AF_UNSPEC, &o, &a);
    CHECK(q != NULL);
    CHECK_OK(ax_loop_run_once(loop, 50));
    ax_resolve_cancel(q);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.code, AX_ECANCELED);
    CHECK_STR(a.msg, "DNS query for slow.test (A) cancelled (ECANCELED)");
    ax_resolve_cancel(NULL);
    CHECK_EQ(ax_loop_run(loop), 0); /* nothing keeps it alive any more */
    CHECK(ask(loop, "slower.test", AF_INET, &o, &b) != NULL);
    CHECK_OK(ax_loop_run_once(loop, 20));
    ax_loop_free(loop);
    CHECK_EQ(b.calls, 1);
    CHECK_EQ(b.code, AX_ECANCELED);
    CHECK_EQ(axt_count_fds(), fds);
    close(silent);
}

TEST(bad_input_is_refused_with_its_reason)
{
    ax_loop *loop = axt_new_loop();
    res r = {0};
    CHECK(ask(loop, "", AF_INET, NULL, &r) == NULL);
    CHECK_EQ(ax_last_error()->code, AX_EINVAL);
    CHECK_ERRMSG("Invalid host \"\" given: empty");
    CHECK(ask(loop, "a b", AF_INET, NULL, &r) == NULL);
    CHECK_ERRMSG("invalid character \" \" in host name");
    CHECK(ask(loop, "ok.test", 99, NULL, &r) == NULL);
    CHECK_EQ(ax_last_error()->code, AX_EAI_FAMILY);
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(ask(loop, longname, AF_INET, NULL, &r) == NULL);
    CHECK_ERRMSG("longer than 253 characters");
    ax_resolve_opts o = {.servers = "not an address"};
    CHECK(ask(loop, "ok.test", AF_INET, &o, &r) == NULL);
    CHECK_ERRMSG("Invalid DNS servers \"not an address\" given");
    CHECK(ax_resolve(loop, "ok.test", AF_INET, NULL, NULL, NULL) == NULL);
    CHECK_EQ(r.calls, 0);
    CHECK_EQ(ax_loop_run(loop), 0);
    ax_loop_free(loop);
}
