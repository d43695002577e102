/*
 * axon/dns.h - asynchronous name resolution on the loop (react/dns), on
 * c-ares: no thread, no blocking call, on every backend.
 *
 * A name is looked up the way the system would, with the loop's own
 * cache in front:
 *   - an IP literal is its own answer (no DNS); "localhost" and names under
 *     ".localhost" are 127.0.0.1 and ::1 and never leave the machine;
 *   - /etc/hosts (or opts->hosts_file);
 *   - the loop's cache: answers kept for their TTL, and "no such name" or
 *     "no such record" kept for the zone's SOA minimum (RFC 2308), so a
 *     missing name does not cost a round trip each time; identical lookups
 *     in flight share one query;
 *   - DNS, with /etc/resolv.conf's nameservers, search list, ndots, timeout
 *     and attempts (or opts), over UDP, retried over TCP when an answer is
 *     truncated.
 *
 * Threads: the loop's thread only, as every handle of the loop.
 */
#ifndef AXON_DNS_H
#define AXON_DNS_H

#include <stdbool.h>

#include "addr.h"
#include "common.h"
#include "error.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_resolve_req ax_resolve_req;

/* Options for a lookup; zero-initialise. Lookups with the same options
 * share a c-ares channel (and so its sockets) on the loop. */
typedef struct ax_resolve_opts {
    /* "IP[:PORT]" or several separated by commas ("192.0.2.1,[2001:db8::1]:5353");
     * NULL: the nameservers of resolv.conf. */
    const char *servers;
    /* Another resolv.conf to read (NULL: /etc/resolv.conf). */
    const char *resolv_conf;
    /* Another hosts file (NULL: /etc/hosts; "" for none). */
    const char *hosts_file;
    int timeout_ms; /* per try per server; 0: resolv.conf's timeout (5 s) */
    int tries;      /* 0: resolv.conf's attempts (2) */
    bool no_cache;  /* neither read nor fill the loop's cache */
} ax_resolve_opts;

/* The answer: n addresses (port 0) of the families asked for, IPv6 first
 * when both were, valid only during the call; or err (n == 0). ttl_s is
 * how long the answer may be kept (0 for literals and hosts-file answers). */
typedef struct ax_resolve_result {
    const ax_addr *addrs;
    size_t n;
    uint32_t ttl_s;
    const char *canonical; /* the name the records belong to (after CNAMEs), or the host */
} ax_resolve_result;

typedef void (*ax_resolve_cb)(const ax_resolve_result *res, const ax_error *err, void *arg);

/*
 * Looks host up: family AF_INET (A records), AF_INET6 (AAAA) or AF_UNSPEC
 * (both, in parallel; an error only when both fail). opts may be NULL. cb
 * is called exactly once, never from inside this call: with the addresses,
 * or with an error in react/dns's words, e.g.
 *   DNS query for example.invalid (A) returned an error response
 *     (Non-Existent Domain / NXDOMAIN)                       AX_EAI_NONAME
 *   DNS query for v4.example (AAAA) did not return a valid answer
 *     (NOERROR / NODATA)                                     AX_EAI_NODATA
 *   DNS query for x.example (AAAA) timed out after 5 seconds  AX_ETIMEDOUT
 *   DNS query for x.example (A) failed: the server's answer could not be
 *     read (EBADMSG)
 * Returns the request (valid until cb runs) or NULL with ax_last_error()
 * (a name that cannot be a host name, bad opts), cb then never called.
 */
AX_EXTERN ax_resolve_req *ax_resolve(ax_loop *loop, const char *host, int family,
                                     const ax_resolve_opts *opts, ax_resolve_cb cb, void *arg);

/* Cancels a lookup: cb is called at once, from inside this call, with
 * AX_ECANCELED ("DNS query for x (A) cancelled"). A no-op on NULL or on a
 * request whose cb already ran. */
AX_EXTERN void ax_resolve_cancel(ax_resolve_req *req);

/* Forgets every cached answer on loop (e.g. after the network changed). */
AX_EXTERN void ax_dns_cache_clear(ax_loop *loop);

#ifdef __cplusplus
}
#endif

#endif
