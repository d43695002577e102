/*
 * Test DNS servers on loopback: a real dnsmasq with the test zone below and
 * no upstream, and two misbehaving servers of our own (one that never
 * answers, one that answers garbage). Nothing here sends a packet anywhere
 * but 127.0.0.1.
 *
 * The zone "test" (authoritative, so "no such name" and "no such record"
 * carry an SOA and are cached for its minimum):
 *   dual.test     192.0.2.10 and 2001:db8::10
 *   v4.test       192.0.2.4            v6.test   2001:db8::6
 *   x.sub.test    192.0.2.20           (for search + ndots)
 *   alias.test -> alias2.test -> dual.test   (a CNAME chain)
 *   big.test      60 A records 10.0.0.1..60 (> 512 bytes: truncated over
 *                 UDP, so the answer comes over TCP)
 * Answers carry a TTL of 60 s unless the test's extra lines set auth-ttl.
 */
#ifndef AXON_TEST_AXT_DNS_H
#define AXON_TEST_AXT_DNS_H

#include <sys/types.h>

typedef struct axt_dns {
    pid_t pid;
    unsigned short port;
    char servers[32]; /* "127.0.0.1:PORT", for ax_resolve_opts.servers */
    char log[256];    /* dnsmasq's query log */
} axt_dns;

/* Starts dnsmasq on a free port of 127.0.0.1 with the zone above and the
 * extra config lines (NULL: none); returns when it answers. Fails the test
 * if it cannot start (dnsmasq is a test dependency: scripts/deps.sh). It
 * dies with the test. */
void axt_dns_start(axt_dns *d, const char *extra);

/* Stops it. */
void axt_dns_stop(axt_dns *d);

/* How many questions of type ("A", "AAAA") for name dnsmasq has logged
 * (waits until the log is quiet for 100 ms). */
int axt_dns_queries(const axt_dns *d, const char *type, const char *name);

/* A bound UDP socket on 127.0.0.1 that never reads or answers: a DNS
 * server that has gone silent. Returns the fd (close it when done) and the
 * port. */
int axt_dns_silent(unsigned short *port);

/* A child process on 127.0.0.1:*port that answers every DNS query with
 * garbage: mode 0 random bytes, mode 1 a reply that echoes the question
 * but whose A record is cut short (a well-formed header, a broken body). */
pid_t axt_dns_garbage(unsigned short *port, int mode);

#endif
