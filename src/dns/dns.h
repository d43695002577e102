/* Internal structures of the resolver (src/dns): the layer's per-loop
 * state, c-ares channels and their sockets, questions in flight, the
 * cache and the hosts file. */
#ifndef AXON_DNS_DNS_H
#define AXON_DNS_DNS_H

#include <ares.h>
#include <sys/stat.h>

#include <axon.h>
#include <axon/dns.h>

#include "loop/io.h"

#define DNS_NAME_MAX 256     /* a host name and its terminator */
#define DNS_MAX_ADDRS 64     /* addresses kept per answer */
#define DNS_MAX_CNAMES 8     /* CNAME links followed by hand */

typedef struct dns_state dns_state;
typedef struct dns_channel dns_channel;

/* A socket c-ares asked the loop to watch. */
typedef struct dns_sock {
    ax__io io;
    dns_channel *chan;
    struct dns_sock *next; /* the channel's sockets, then the closing list */
    int owed;              /* forgotten with completions still owed */
} dns_sock;

/* The hosts file, parsed and kept until it changes. */
typedef struct dns_hosts {
    char *path;        /* NULL: none */
    char *text;        /* the file */
    struct timespec mtime;
    off_t size;
    uint64_t checked;  /* loop ms of the last stat */
} dns_hosts;

/* One c-ares channel per set of options in use on the loop. */
struct dns_channel {
    dns_channel *next;
    dns_state *d;
    ares_channel ch;
    char *key;         /* the options, as text: channels with the same key are one */
    dns_hosts hosts;
    int timeout_ms, tries; /* as c-ares will use them (for messages) */
    ax_timer *timer;   /* c-ares' own timeouts */
    dns_sock *socks;
    size_t queries;    /* in flight on it */
};

/* An address of an answer, compactly. */
typedef struct dns_ip {
    uint8_t v6;    /* 0: IPv4 in b[0..4), 1: IPv6 */
    uint8_t b[16];
} dns_ip;

/* An answer (or a failure) for one name and record type. */
typedef struct dns_answer {
    int status;        /* ARES_SUCCESS or the c-ares status of the failure */
    uint32_t ttl_s;    /* how long it may be kept (0: not at all) */
    size_t n;
    dns_ip ips[DNS_MAX_ADDRS];
    char canonical[DNS_NAME_MAX];
    uint64_t elapsed_ms; /* timeouts: how long it took to give up */
} dns_answer;

/* A lookup waiting for a question's answer. */
typedef struct dns_waiter {
    struct dns_waiter *next;
    struct ax_resolve_req *req;
    int part; /* which of the lookup's questions (0, 1) */
} dns_waiter;

/* One question (name, type, channel) in flight, shared by every lookup
 * that asks it. */
typedef struct dns_query {
    struct dns_query *next;
    dns_channel *chan;
    int type;          /* ns_t_a (1) or ns_t_aaaa (28) */
    int hops;          /* CNAME links followed by hand */
    uint64_t started;  /* ms */
    dns_waiter *waiters;
    char name[DNS_NAME_MAX];
} dns_query;

/* A cached answer. */
typedef struct dns_entry {
    dns_channel *chan;
    int type;
    uint64_t expires;  /* loop ms */
    dns_answer ans;
    char name[DNS_NAME_MAX];
} dns_entry;

#define DNS_BUCKETS 256   /* cache hash buckets */
#define DNS_CACHE_MAX 1024 /* cached answers at most */

typedef struct dns_centry {
    struct dns_centry *next; /* in its bucket */
    dns_entry e;
} dns_centry;

struct dns_state {
    ax_loop *loop;
    dns_channel *chans;
    dns_query *queries;
    dns_sock *closed_socks;
    struct ax_resolve_req *reqs;  /* pending lookups, for teardown */
    dns_centry *buckets[DNS_BUCKETS];
    size_t ncache;
};

extern int ax__dns_slot;
extern uint8_t ax__kind_dns;

/* The resolver's state on loop, created on first use (NULL with the
 * message set if that fails). */
dns_state *ax__dns_get(ax_loop *loop);

/* The channel for opts (made on first use), or NULL with the message set. */
dns_channel *ax__dns_channel(dns_state *d, const ax_resolve_opts *opts);

/* Asks c-ares (search list and all) for name's records of type; the answer
 * comes to ax__dns_answered(q, ...). */
void ax__dns_ask(dns_query *q);

/* c-ares' timers: re-armed after every call into c-ares. */
void ax__dns_schedule(dns_channel *c);

/* A question got its answer (resolve.c): fills the cache, wakes waiters. */
void ax__dns_answered(dns_query *q, const dns_answer *ans);

/* Fills ans from a c-ares status and the raw DNS message (which may be
 * NULL): addresses with TTLs, the canonical name, and for "no such name"
 * or "no such record" the SOA minimum to keep that for. */
void ax__dns_parse(int status, const unsigned char *abuf, int alen, int type, dns_answer *ans);

/* The hosts file's addresses for name of family (AF_INET / AF_INET6) into
 * ans; 1 if the name is there (ans says ARES_ENODATA when only under the
 * other family), 0 if not. */
int ax__dns_hosts_lookup(dns_channel *c, const char *name, int family, dns_answer *ans);

/* Cache (cache.c). */
const dns_entry *ax__dns_cache_get(dns_state *d, dns_channel *c, const char *name, int type);
void ax__dns_cache_put(dns_state *d, dns_channel *c, const char *name, int type,
                       const dns_answer *ans);
void ax__dns_cache_drop_channel(dns_state *d, dns_channel *c);
void ax__dns_cache_free(dns_state *d);

/* Requests (resolve.c), for the layer's hooks. */
void ax__dns_cancel_all(dns_state *d);
void ax__dns_flush(dns_state *d);

/* Type names for messages ("A", "AAAA"). */
const char *ax__dns_type_name(int type);

#endif
