/* The loop's cache of answers: a hash of (channel, type, name), entries
 * kept until their TTL (positive answers) or the zone's SOA minimum
 * ("no such name", "no such record"; RFC 2308) runs out, at most
 * DNS_CACHE_MAX of them (the one that expires first makes room). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/dns.h"

static unsigned bucket(const dns_channel *c, const char *name, int type)
{
    uint32_t h = 2166136261u ^ (uint32_t)type ^ (uint32_t)(uintptr_t)c;
    for (const char *p = name; *p; p++) {
        char ch = *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p; /* names are case-blind */
        h = (h ^ (unsigned char)ch) * 16777619u;
    }
    return h % DNS_BUCKETS;
}

static void unlink_entry(dns_state *d, unsigned b, dns_centry *e)
{
    for (dns_centry **pp = &d->buckets[b]; *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            d->ncache--;
            free(e);
            return;
        }
    }
}

const dns_entry *ax__dns_cache_get(dns_state *d, dns_channel *c, const char *name, int type)
{
    unsigned b = bucket(c, name, type);
    uint64_t now = (uint64_t)ax__now_ms();
    for (dns_centry *e = d->buckets[b]; e; e = e->next) {
        if (e->e.chan != c || e->e.type != type || strcasecmp(e->e.name, name) != 0)
            continue;
        if (e->e.expires <= now) {
            unlink_entry(d, b, e);
            return NULL;
        }
        return &e->e;
    }
    return NULL;
}

/* Makes room: drops expired entries, else the one that expires first. */
static void evict(dns_state *d)
{
    uint64_t now = (uint64_t)ax__now_ms();
    dns_centry *first = NULL;
    unsigned first_b = 0;
    for (unsigned b = 0; b < DNS_BUCKETS; b++) {
        for (dns_centry *e = d->buckets[b], *next; e; e = next) {
            next = e->next;
            if (e->e.expires <= now)
                unlink_entry(d, b, e);
            else if (!first || e->e.expires < first->e.expires)
                first = e, first_b = b;
        }
    }
    if (d->ncache >= DNS_CACHE_MAX && first)
        unlink_entry(d, first_b, first);
}

void ax__dns_cache_put(dns_state *d, dns_channel *c, const char *name, int type,
                       const dns_answer *ans)
{
    if (ans->ttl_s == 0)
        return;
    unsigned b = bucket(c, name, type);
    for (dns_centry *e = d->buckets[b]; e; e = e->next) {
        if (e->e.chan == c && e->e.type == type && strcasecmp(e->e.name, name) == 0) {
            unlink_entry(d, b, e);
            break;
        }
    }
    if (d->ncache >= DNS_CACHE_MAX)
        evict(d);
    dns_centry *e = malloc(sizeof *e);
    if (!e)
        return; /* a cache is an optimisation */
    e->e.chan = c;
    e->e.type = type;
    e->e.expires = (uint64_t)ax__now_ms() + (uint64_t)ans->ttl_s * 1000;
    e->e.ans = *ans;
    memcpy(e->e.name, name, strlen(name) + 1);
    e->next = d->buckets[b];
    d->buckets[b] = e;
    d->ncache++;
}

void ax__dns_cache_drop_channel(dns_state *d, dns_channel *c)
{
    for (unsigned b = 0; b < DNS_BUCKETS; b++)
        for (dns_centry *e = d->buckets[b], *next; e; e = next) {
            next = e->next;
            if (e->e.chan == c)
                unlink_entry(d, b, e);
        }
}

void ax__dns_cache_free(dns_state *d)
{
    for (unsigned b = 0; b < DNS_BUCKETS; b++) {
        while (d->buckets[b]) {
            dns_centry *e = d->buckets[b];
            d->buckets[b] = e->next;
            free(e);
        }
    }
    d->ncache = 0;
}

void ax_dns_cache_clear(ax_loop *loop)
{
    dns_state *d = ax__dns_get(loop);
    if (d)
        ax__dns_cache_free(d);
}
