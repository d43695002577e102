/* One question to c-ares (ares_search: the search list, ndots, the servers
 * in turn, TCP when an answer is truncated), and reading its answer: the
 * addresses with their TTLs, the canonical name, and for a name or record
 * that does not exist how long that may be believed (the SOA minimum in
 * the authority section, RFC 2308). */
#include <arpa/nameser.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/dns.h"

#define TTL_MAX (24 * 3600) /* nothing is kept longer than a day */

const char *ax__dns_type_name(int type)
{
    return type == ns_t_aaaa ? "AAAA" : type == ns_t_a ? "A" : "?";
}

/* ---------------------------------------------------------------- parse */

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Skips the (possibly compressed) name at *off; 0, or -1 if malformed. */
static int skip_name(const unsigned char *m, int len, int *off)
{
    int o = *off;
    while (o < len) {
        unsigned l = m[o];
        if (l == 0) {
            *off = o + 1;
            return 0;
        }
        if ((l & 0xC0) == 0xC0) { /* a pointer ends the name */
            if (o + 2 > len)
                return -1;
            *off = o + 2;
            return 0;
        }
        if (l & 0xC0)
            return -1;
        o += 1 + (int)l;
    }
    return -1;
}

/* Skips n resource records at *off. */
static int skip_rrs(const unsigned char *m, int len, int *off, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (skip_name(m, len, off) < 0 || *off + 10 > len)
            return -1;
        int rdlen = get16(m + *off + 8);
        *off += 10 + rdlen;
        if (*off > len)
            return -1;
    }
    return 0;
}

/* The negative TTL: min(SOA TTL, SOA MINIMUM) from the authority section,
 * or 0 when there is no SOA (then the failure is not kept). */
static uint32_t negative_ttl(const unsigned char *m, int len)
{
    if (!m || len < 12)
        return 0;
    unsigned qd = get16(m + 4), an = get16(m + 6), ns = get16(m + 8);
    int off = 12;
    for (unsigned i = 0; i < qd; i++) {
        if (skip_name(m, len, &off) < 0 || off + 4 > len)
            return 0;
        off += 4;
    }
    if (skip_rrs(m, len, &off, an) < 0)
        return 0;
    for (unsigned i = 0; i < ns; i++) {
        if (skip_name(m, len, &off) < 0 || off + 10 > len)
            return 0;
        unsigned type = get16(m + off);
        uint32_t ttl = get32(m + off + 4);
        int rdlen = get16(m + off + 8);
        off += 10;
        if (off + rdlen > len)
            return 0;
        if (type == ns_t_soa && rdlen >= 20) {
            uint32_t minimum = get32(m + off + rdlen - 4);
            return ttl < minimum ? ttl : minimum;
        }
        off += rdlen;
    }
    return 0;
}

static uint32_t cap_ttl(long t)
{
    return t <= 0 ? 0 : t > TTL_MAX ? TTL_MAX : (uint32_t)t;
}

void ax__dns_parse(int status, const unsigned char *abuf, int alen, int type, dns_answer *ans)
{
    memset(ans, 0, sizeof *ans);
    ans->status = status;
    if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
        ans->ttl_s = cap_ttl(negative_ttl(abuf, alen));
        return;
    }
    if (status != ARES_SUCCESS)
        return;
    struct hostent *h = NULL;
    int n = DNS_MAX_ADDRS, rc;
    long ttl = TTL_MAX;
    if (type == ns_t_a) {
        struct ares_addrttl t[DNS_MAX_ADDRS];
        rc = ares_parse_a_reply(abuf, alen, &h, t, &n);
        for (int i = 0; rc == ARES_SUCCESS && i < n; i++) {
            ans->ips[i].v6 = 0;
            memcpy(ans->ips[i].b, &t[i].ipaddr, 4);
            if (t[i].ttl < ttl)
                ttl = t[i].ttl;
        }
    } else {
        struct ares_addr6ttl t[DNS_MAX_ADDRS];
        rc = ares_parse_aaaa_reply(abuf, alen, &h, t, &n);
        for (int i = 0; rc == ARES_SUCCESS && i < n; i++) {
            ans->ips[i].v6 = 1;
            memcpy(ans->ips[i].b, &t[i].ip6addr, 16);
            if (t[i].ttl < ttl)
                ttl = t[i].ttl;
        }
    }
    if ((rc == ARES_SUCCESS || rc == ARES_ENODATA) && h && h->h_name) {
        size_t l = strlen(h->h_name);
        if (l < sizeof ans->canonical)
            memcpy(ans->canonical, h->h_name, l + 1); /* also for a chain that stops short */
    }
    if (h)
        ares_free_hostent(h);
    if (rc != ARES_SUCCESS || n == 0) {
        /* An answer of only CNAMEs, or records c-ares cannot read. */
        ans->status = rc == ARES_SUCCESS || rc == ARES_ENODATA ? ARES_ENODATA : ARES_EBADRESP;
        ans->ttl_s = ans->status == ARES_ENODATA ? cap_ttl(negative_ttl(abuf, alen)) : 0;
        return;
    }
    ans->n = (size_t)n;
    ans->ttl_s = cap_ttl(ttl);
}

/* ------------------------------------------------------------------ ask */

/* The name the answer's question asked (after the search list). */
static int question_name(const unsigned char *abuf, int alen, char *out, size_t cap)
{
    char *name = NULL;
    long len = 0;
    if (!abuf || alen < 12 || ares_expand_name(abuf + 12, abuf, alen, &name, &len) != ARES_SUCCESS)
        return -1;
    int ok = strlen(name) < cap;
    if (ok)
        memcpy(out, name, strlen(name) + 1);
    ares_free_string(name);
    return ok ? 0 : -1;
}

static void answered(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    dns_query *q = arg;
    dns_channel *c = q->chan;
    c->queries--;
    dns_answer ans;
    ax__dns_parse(status, abuf, alen, q->type, &ans);
    /* An answer of CNAMEs alone (an authoritative server does not follow
     * a chain out of what it holds, a forwarder may cut it): follow it
     * ourselves, a few links at most. */
    char asked[DNS_NAME_MAX];
    if (ans.status == ARES_ENODATA && ans.canonical[0] && q->hops < DNS_MAX_CNAMES &&
        question_name(abuf, alen, asked, sizeof asked) == 0 &&
        strcasecmp(asked, ans.canonical) != 0) {
        q->hops++;
        c->queries++;
        ares_query(c->ch, ans.canonical, ns_c_in, q->type, answered, q);
        ax__dns_schedule(c);
        return;
    }
    ans.elapsed_ms = (uint64_t)ax__now_ms() - q->started;
    ax__dns_answered(q, &ans);
}

void ax__dns_ask(dns_query *q)
{
    dns_channel *c = q->chan;
    c->queries++;
    q->started = (uint64_t)ax__now_ms();
    ares_search(c->ch, q->name, ns_c_in, q->type, answered, q);
    ax__dns_schedule(c);
}
