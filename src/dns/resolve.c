/* ax_resolve(): a lookup of one name for one or both families. Each family
 * is a question answered by a literal, localhost, the hosts file, the
 * loop's cache, or a question in flight (shared) or new to c-ares; the
 * lookup ends when all its questions have their answers. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/dns.h"

struct ax_resolve_req {
    struct ax_resolve_req *prev, *next; /* the state's pending lookups */
    dns_state *d;
    dns_channel *chan;
    ax_resolve_cb cb;
    void *arg;
    ax_timer *report;   /* answers known at once are reported from the loop */
    int family;
    int parts, left;    /* questions, and those still unanswered */
    int starting;       /* inside ax_resolve(): do not call back */
    struct part {
        int type;
        dns_query *q;   /* waiting on it, or NULL */
        dns_waiter w;
        dns_answer ans;
    } part[2];
    char host[DNS_NAME_MAX];
};

/* ------------------------------------------------------------ messages */

/* The error for a failed answer to name's question of type, in react/dns's
 * words; returns the code. */
static int answer_error(const dns_answer *a, const char *name, int type, ax_error *e)
{
    const char *t = ax__dns_type_name(type);
    int code;
    switch (a->status) {
    case ARES_ENOTFOUND:
        code = ax__err(AX_EAI_NONAME, "DNS query for %s (%s) returned an error response "
                                      "(Non-Existent Domain / NXDOMAIN)",
                       name, t);
        break;
    case ARES_ENODATA:
        code = ax__err(AX_EAI_NODATA, "DNS query for %s (%s) did not return a valid answer "
                                      "(NOERROR / NODATA)",
                       name, t);
        break;
    case ARES_ESERVFAIL:
        code = ax__err(AX_EAI_AGAIN, "DNS query for %s (%s) returned an error response (Server "
                                     "Failure / SERVFAIL)",
                       name, t);
        break;
    case ARES_EREFUSED:
        code = ax__err(AX_EAI_FAIL, "DNS query for %s (%s) returned an error response (Query "
                                    "Refused / REFUSED)",
                       name, t);
        break;
    case ARES_EFORMERR:
    case ARES_ENOTIMP:
        code = ax__err(AX_EAI_FAIL, "DNS query for %s (%s) returned an error response (%s)", name,
                       t, a->status == ARES_EFORMERR ? "Format Error / FORMERR"
                                                     : "Not Implemented / NOTIMP");
        break;
    case ARES_ETIMEOUT: {
        uint64_t ms = a->elapsed_ms;
        if (ms >= 1000 && ms % 1000 < 100)
            code = ax__err(AX_ETIMEDOUT, "DNS query for %s (%s) timed out after %llu second%s",
                           name, t, (unsigned long long)(ms / 1000), ms < 2000 ? "" : "s");
        else
            code = ax__err(AX_ETIMEDOUT, "DNS query for %s (%s) timed out after %llu ms", name,
                           t, (unsigned long long)ms);
        break;
    }
    case ARES_EBADRESP:
        code = ax__err(-EBADMSG, "DNS query for %s (%s) failed: the server's answer could not be "
                                 "read",
                       name, t);
        break;
    case ARES_ECONNREFUSED:
        /* c-ares' word for every server refusing the question (REFUSED,
         * SERVFAIL, NOTIMP answers) or being unreachable. */
        code = ax__err(AX_ECONNREFUSED, "DNS query for %s (%s) failed: every DNS server refused "
                                        "it or could not be reached",
                       name, t);
        break;
    case ARES_EBADNAME:
        code = ax__err(AX_EINVAL, "DNS query for %s (%s) failed: not a host name", name, t);
        break;
    case ARES_ENOMEM:
        code = ax__err(AX_ENOMEM, "DNS query for %s (%s) failed: out of memory", name, t);
        break;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        code = ax__err(AX_ECANCELED, "DNS query for %s (%s) cancelled", name, t);
        break;
    default:
        code = ax__err(AX_EAI_FAIL, "DNS query for %s (%s) failed: %s", name, t,
                       ares_strerror(a->status));
        break;
    }
    e->code = code;
    memcpy(e->message, ax_last_error()->message, sizeof e->message);
    return code;
}

/* ----------------------------------------------------------- lifecycle */

static void unlink_req(ax_resolve_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else if (r->d->reqs == r)
        r->d->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* Stops waiting on the questions (they go on, and fill the cache). */
static void detach(ax_resolve_req *r)
{
    for (int i = 0; i < r->parts; i++) {
        dns_query *q = r->part[i].q;
        if (!q)
            continue;
        for (dns_waiter **pp = &q->waiters; *pp; pp = &(*pp)->next) {
            if (*pp == &r->part[i].w) {
                *pp = r->part[i].w.next;
                break;
            }
        }
        r->part[i].q = NULL;
    }
}

static void release(ax_resolve_req *r)
{
    ax_timer_stop(r->report);
    r->report = NULL;
    unlink_req(r);
    ax__unref(r->d->loop);
    free(r);
}

/* Builds the result (IPv6 first) or the error, and calls back once. */
static void finish(ax_resolve_req *r)
{
    ax_resolve_cb cb = r->cb;
    r->cb = NULL;
    detach(r);
    ax_addr addrs[2 * DNS_MAX_ADDRS];
    ax_resolve_result res = {.addrs = addrs, .canonical = r->host, .ttl_s = UINT32_MAX};
    const struct part *bad = NULL;
    for (int i = 0; i < r->parts; i++) {
        const dns_answer *a = &r->part[i].ans;
        if (a->status != ARES_SUCCESS) {
            /* Of two failures, "no such name" is the one to tell. */
            if (!bad || a->status == ARES_ENOTFOUND || r->part[i].type == ns_t_a)
                if (!bad || bad->ans.status != ARES_ENOTFOUND)
                    bad = &r->part[i];
            continue;
        }
        for (size_t k = 0; k < a->n; k++) {
            ax_addr *o = &addrs[res.n++];
            memset(o, 0, sizeof *o);
            if (a->ips[k].v6) {
                o->u.in6.sin6_family = AF_INET6;
                memcpy(&o->u.in6.sin6_addr, a->ips[k].b, 16);
                o->len = sizeof o->u.in6;
            } else {
                o->u.in.sin_family = AF_INET;
                memcpy(&o->u.in.sin_addr, a->ips[k].b, 4);
                o->len = sizeof o->u.in;
            }
        }
        if (a->ttl_s < res.ttl_s)
            res.ttl_s = a->ttl_s;
        if (a->canonical[0])
            res.canonical = a->canonical;
    }
    if (res.ttl_s == UINT32_MAX)
        res.ttl_s = 0;
    if (res.n > 0) {
        cb(&res, NULL, r->arg);
    } else {
        ax_error e;
        answer_error(&bad->ans, r->host, bad->type, &e);
        cb(NULL, &e, r->arg);
    }
    release(r);
}

static void on_report(ax_timer *t, void *arg)
{
    (void)t;
    finish(arg);
}

/* One question answered; the lookup ends with its last one. */
static void part_done(ax_resolve_req *r, int i, const dns_answer *a)
{
    r->part[i].ans = *a;
    r->part[i].q = NULL;
    if (--r->left > 0 || !r->cb)
        return;
    if (!r->starting) {
        finish(r);
        return;
    }
    /* Known at once: reported from the loop, never from ax_resolve(). */
    r->report = ax_timer_start(r->d->loop, 0, 0, on_report, r);
    if (!r->report)
        finish(r); /* out of memory: better now than never */
}

void ax__dns_answered(dns_query *q, const dns_answer *ans)
{
    dns_state *d = q->chan->d;
    for (dns_query **pp = &d->queries; *pp; pp = &(*pp)->next) {
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    }
    if (ans->status != ARES_ECANCELLED && ans->status != ARES_EDESTRUCTION)
        ax__dns_cache_put(d, q->chan, q->name, q->type, ans);
    dns_waiter *w = q->waiters;
    q->waiters = NULL;
    free(q);
    while (w) {
        dns_waiter *next = w->next;
        w->req->part[w->part].q = NULL;
        part_done(w->req, w->part, ans);
        w = next;
    }
}

/* ---------------------------------------------------------- questions */

static int literal(const char *host, int family, dns_answer *a)
{
    dns_ip v = {0};
    if (inet_pton(AF_INET, host, v.b) == 1)
        v.v6 = 0;
    else if (inet_pton(AF_INET6, host, v.b) == 1)
        v.v6 = 1;
    else
        return 0;
    memset(a, 0, sizeof *a);
    if ((family == AF_INET && v.v6) || (family == AF_INET6 && !v.v6)) {
        a->status = ARES_ENODATA;
        return 1;
    }
    a->status = ARES_SUCCESS;
    a->ips[a->n++] = v;
    return 1;
}

/* RFC 6761: "localhost" and names under it are the loopback, always. */
static int localhost(const char *host, int type, dns_answer *a)
{
    size_t n = strlen(host);
    if (n && host[n - 1] == '.')
        n--;
    if (!((n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
          (n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0)))
        return 0;
    memset(a, 0, sizeof *a);
    a->status = ARES_SUCCESS;
    a->n = 1;
    a->ips[0].v6 = type == ns_t_aaaa;
    if (type == ns_t_aaaa)
        a->ips[0].b[15] = 1;
    else
        memcpy(a->ips[0].b, "\x7f\0\0\x01", 4);
    return 1;
}

/* Answers part i from what is known, or asks (or joins a question). */
static void start_part(ax_resolve_req *r, int i, const ax_resolve_opts *o)
{
    struct part *p = &r->part[i];
    dns_answer a;
    int family = p->type == ns_t_aaaa ? AF_INET6 : AF_INET;
    if (literal(r->host, family, &a) || localhost(r->host, p->type, &a) ||
        ax__dns_hosts_lookup(r->chan, r->host, family, &a)) {
        part_done(r, i, &a);
        return;
    }
    int use_cache = !(o && o->no_cache);
    const dns_entry *e = use_cache ? ax__dns_cache_get(r->d, r->chan, r->host, p->type) : NULL;
    if (e) {
        part_done(r, i, &e->ans);
        return;
    }
    dns_query *q = NULL;
    if (use_cache)
        for (q = r->d->queries; q; q = q->next)
            if (q->chan == r->chan && q->type == p->type && strcasecmp(q->name, r->host) == 0)
                break;
    int fresh = q == NULL;
    if (fresh) {
        if (!(q = calloc(1, sizeof *q))) {
            memset(&a, 0, sizeof a);
            a.status = ARES_ENOMEM;
            part_done(r, i, &a);
            return;
        }
        q->chan = r->chan;
        q->type = p->type;
        memcpy(q->name, r->host, strlen(r->host) + 1);
        q->next = r->d->queries;
        r->d->queries = q;
    }
    p->q = q;
    p->w.req = r;
    p->w.part = i;
    p->w.next = q->waiters;
    q->waiters = &p->w;
    if (fresh)
        ax__dns_ask(q);
}

/* A host name's shape: labels of letters, digits, '-' and '_', 253 in all. */
static int check_host(const char *host)
{
    size_t n = strlen(host);
    if (n == 0 || n > 253)
        return ax__invalid(AX_EINVAL, "host", host, n ? "longer than 253 characters" : "empty");
    dns_ip v;
    if (inet_pton(AF_INET6, host, v.b) == 1)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = host[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return ax__invalid(AX_EINVAL, "host", host, "invalid character \"%c\" in host name",
                               c);
    }
    return 0;
}

ax_resolve_req *ax_resolve(ax_loop *loop, const char *host, int family,
                           const ax_resolve_opts *opts, ax_resolve_cb cb, void *arg)
{
    if (!loop || !host || !cb) {
        ax__err(AX_EINVAL, "resolve: loop, host or cb is NULL");
        return NULL;
    }
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) {
        ax__err(AX_EAI_FAMILY, "resolve %s: family %d is not AF_INET, AF_INET6 or AF_UNSPEC",
                host, family);
        return NULL;
    }
    if (check_host(host) < 0)
        return NULL;
    dns_state *d = ax__dns_get(loop);
    dns_channel *c = d ? ax__dns_channel(d, opts) : NULL;
    ax_resolve_req *r = c ? calloc(1, sizeof *r) : NULL;
    if (!r) {
        if (c)
            ax__err(AX_ENOMEM, "resolve %s: out of memory", host);
        return NULL;
    }
    r->d = d;
    r->chan = c;
    r->cb = cb;
    r->arg = arg;
    r->family = family;
    memcpy(r->host, host, strlen(host) + 1);
    if (family != AF_INET)
        r->part[r->parts++].type = ns_t_aaaa;
    if (family != AF_INET6)
        r->part[r->parts++].type = ns_t_a;
    r->left = r->parts;
    r->next = d->reqs;
    if (r->next)
        r->next->prev = r;
    d->reqs = r;
    ax__ref(loop);
    r->starting = 1;
    for (int i = 0; i < r->parts; i++)
        start_part(r, i, opts);
    r->starting = 0;
    return r;
}

void ax_resolve_cancel(ax_resolve_req *r)
{
    if (!r || !r->cb)
        return;
    ax_resolve_cb cb = r->cb;
    r->cb = NULL;
    detach(r);
    ax_error e;
    e.code = ax__err(AX_ECANCELED, "DNS query for %s (%s) cancelled", r->host,
                     r->family == AF_INET6 ? "AAAA" : "A");
    memcpy(e.message, ax_last_error()->message, sizeof e.message);
    cb(NULL, &e, r->arg);
    release(r);
}

void ax__dns_cancel_all(dns_state *d)
{
    while (d->reqs)
        ax_resolve_cancel(d->reqs);
}

void ax__dns_flush(dns_state *d)
{
    (void)d; /* lookups are freed as they end; nothing waits here yet */
}
