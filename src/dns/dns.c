/* The resolver on the loop: its layer slot and kind, c-ares channels (one
 * per set of options), the sockets c-ares asks to have watched, and
 * c-ares' own timeouts as a loop timer. No thread, no blocking call. */
#include <arpa/nameser.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/dns.h"

int ax__dns_slot = -1;
uint8_t ax__kind_dns;

static void dns_close_flush(ax_loop *loop, void *state);
static int dns_close_all(ax_loop *loop, void *state);
static void dns_fini(ax_loop *loop, void *state);
static void sock_ready(ax_loop *loop, ax__io *io, unsigned revents);
static void sock_released(ax_loop *loop, ax__io *io);

static const ax__layer dns_layer = {
    .name = "dns", .close_all = dns_close_all, .flush = dns_close_flush, .fini = dns_fini};
static const ax__kind dns_kind = {
    .name = "dns socket", .ready = sock_ready, .released = sock_released};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered; /* 1, or the error */

static void dns_register(void)
{
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
        registered = AX_ENOMEM;
        return;
    }
    int kind = ax__kind_register(&dns_kind);
    int slot = kind < 0 ? kind : ax__layer_register(&dns_layer);
    if (slot < 0) {
        registered = slot;
        return;
    }
    ax__kind_dns = (uint8_t)kind;
    ax__dns_slot = slot;
    registered = 1;
}

dns_state *ax__dns_get(ax_loop *loop)
{
    pthread_once(&once, dns_register);
    if (registered != 1) {
        ax__err(registered, "the loop has no room for the resolver");
        return NULL;
    }
    dns_state *d = ax__loop_slot(loop, ax__dns_slot);
    if (d)
        return d;
    if (!(d = calloc(1, sizeof *d))) {
        ax__err(AX_ENOMEM, "resolver: out of memory");
        return NULL;
    }
    d->loop = loop;
    ax__loop_set_slot(loop, ax__dns_slot, &dns_layer, d);
    return d;
}

/* ------------------------------------------------------------ sockets */

static dns_sock *find_sock(dns_channel *c, int fd)
{
    for (dns_sock *s = c->socks; s; s = s->next)
        if (s->io.fd == fd)
            return s;
    return NULL;
}

static void drop_sock(dns_channel *c, dns_sock *s)
{
    for (dns_sock **pp = &c->socks; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    s->owed = ax__io_forget(c->d->loop, &s->io);
    s->io.fd = -1; /* c-ares closes it */
    if (s->owed)
        return; /* sock_released() frees it */
    /* Freed after the dispatch batch that may still name it. */
    s->next = c->d->closed_socks;
    c->d->closed_socks = s;
    ax__loop_flush_later(c->d->loop, ax__dns_slot);
}

/* c-ares says what it wants of a socket (both 0: it is about to close it). */
static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    dns_channel *c = data;
    dns_sock *s = find_sock(c, fd);
    unsigned want = (readable ? AX_READABLE : 0u) | (writable ? AX_WRITABLE : 0u);
    if (!want) {
        if (s)
            drop_sock(c, s);
        return;
    }
    if (!s) {
        if (!(s = calloc(1, sizeof *s)))
            return; /* c-ares times the query out */
        s->io.fd = fd;
        s->io.kind = ax__kind_dns;
        s->chan = c;
        s->next = c->socks;
        c->socks = s;
    }
    if (ax__io_set(c->d->loop, &s->io, want) < 0) {
        c->socks = s->next; /* just added, or c-ares will retry */
        free(s);
    }
}

static void sock_ready(ax_loop *loop, ax__io *io, unsigned revents)
{
    (void)loop;
    dns_sock *s = (dns_sock *)io;
    dns_channel *c = s->chan;
    int fd = io->fd;
    /* An error or hang-up is for the read side to find. */
    ares_process_fd(c->ch, revents & (AX_READABLE | AX_FDERROR | AX_HANGUP) ? fd : ARES_SOCKET_BAD,
                    revents & AX_WRITABLE ? fd : ARES_SOCKET_BAD);
    ax__dns_schedule(c);
}

static void sock_released(ax_loop *loop, ax__io *io)
{
    (void)loop;
    free(io);
}

/* -------------------------------------------------------------- timers */

static void on_timer(ax_timer *t, void *arg)
{
    (void)t;
    dns_channel *c = arg;
    ares_process_fd(c->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    ax__dns_schedule(c);
}

void ax__dns_schedule(dns_channel *c)
{
    if (!c->queries) {
        if (c->timer && ax_timer_active(c->timer))
            ax_timer_again(c->timer, UINT64_MAX, 0); /* idle: never */
        return;
    }
    struct timeval tv, *tvp = ares_timeout(c->ch, NULL, &tv);
    uint64_t ms = tvp ? (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000 : 1000;
    if (ms == 0)
        ms = 1;
    if (!c->timer) {
        c->timer = ax_timer_start(c->d->loop, ms, 0, on_timer, c);
        if (c->timer)
            ax_timer_set_ref(c->timer, 0); /* lookups keep the loop alive */
        return;
    }
    ax_timer_again(c->timer, ms, 0);
}

/* ------------------------------------------------------------ channels */

/* The options as a key, and what c-ares is given for them. */
static char *options_key(const ax_resolve_opts *o)
{
    char *k = NULL;
    if (asprintf(&k, "%s|%s|%s|%d|%d", o->servers ? o->servers : "",
                 o->resolv_conf ? o->resolv_conf : "", o->hosts_file ? o->hosts_file : "-",
                 o->timeout_ms, o->tries) < 0)
        return NULL;
    return k;
}

static void channel_free(dns_channel *c)
{
    if (c->ch)
        ares_destroy(c->ch); /* its queries end with ARES_EDESTRUCTION */
    while (c->socks)
        drop_sock(c, c->socks);
    ax_timer_stop(c->timer);
    free(c->hosts.path);
    free(c->hosts.text);
    free(c->key);
    free(c);
}

/* "timeout:N" and "attempts:N" in an options line (resolv.conf or
 * RES_OPTIONS), which c-ares 1.18 does not read (it takes ndots, retrans,
 * retry and rotate); glibc's limits: 30 s, 5 attempts. */
static void parse_options(const char *line, int *timeout_ms, int *tries)
{
    for (const char *p = line; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        long v;
        if (strncmp(p, "timeout:", 8) == 0 && (v = strtol(p + 8, NULL, 10)) > 0)
            *timeout_ms = (int)(v > 30 ? 30 : v) * 1000;
        else if (strncmp(p, "attempts:", 9) == 0 && (v = strtol(p + 9, NULL, 10)) > 0)
            *tries = (int)(v > 5 ? 5 : v);
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
}

static void conf_options(const char *path, int *timeout_ms, int *tries)
{
    FILE *f = fopen(path, "re");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n#;")] = '\0';
            if (strncmp(line, "options", 7) == 0 && (line[7] == ' ' || line[7] == '\t'))
                parse_options(line + 8, timeout_ms, tries);
        }
        fclose(f);
    }
    const char *env = getenv("RES_OPTIONS");
    if (env)
        parse_options(env, timeout_ms, tries);
}

static int channel_init(dns_channel *c, const ax_resolve_opts *o)
{
    struct ares_options ao;
    memset(&ao, 0, sizeof ao);
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS;
    ao.sock_state_cb = sock_state;
    ao.sock_state_cb_data = c;
    ao.flags = ARES_FLAG_NOALIASES; /* no HOSTALIASES file from the environment */
    int timeout_ms = 0, tries = 0;
    conf_options(o->resolv_conf ? o->resolv_conf : "/etc/resolv.conf", &timeout_ms, &tries);
    if (o->timeout_ms > 0)
        timeout_ms = o->timeout_ms;
    if (o->tries > 0)
        tries = o->tries;
    if (timeout_ms > 0) {
        ao.timeout = timeout_ms;
        mask |= ARES_OPT_TIMEOUTMS;
    }
    if (tries > 0) {
        ao.tries = tries;
        mask |= ARES_OPT_TRIES;
    }
    if (o->resolv_conf) {
        ao.resolvconf_path = (char *)(uintptr_t)o->resolv_conf;
        mask |= ARES_OPT_RESOLVCONF;
    }
    int rc = ares_init_options(&c->ch, &ao, mask);
    if (rc != ARES_SUCCESS) {
        c->ch = NULL;
        return ax__err(rc == ARES_ENOMEM ? AX_ENOMEM : AX_EINVAL,
                       "resolver: cannot set up c-ares%s%s: %s", o->resolv_conf ? " with " : "",
                       o->resolv_conf ? o->resolv_conf : "", ares_strerror(rc));
    }
    if (o->servers && (rc = ares_set_servers_ports_csv(c->ch, o->servers)) != ARES_SUCCESS)
        return ax__err(AX_EINVAL, "Invalid DNS servers \"%s\" given: want IP[:PORT], several "
                                  "separated by commas (%s)",
                       o->servers, ares_strerror(rc));
    /* What it will use, for "timed out after" messages. */
    struct ares_options got;
    int optmask = 0;
    if (ares_save_options(c->ch, &got, &optmask) == ARES_SUCCESS) {
        c->timeout_ms = got.timeout;
        c->tries = got.tries;
        ares_destroy_options(&got);
    }
    if (o->hosts_file && !*o->hosts_file)
        c->hosts.path = NULL;
    else if (!(c->hosts.path = strdup(o->hosts_file ? o->hosts_file : "/etc/hosts")))
        return ax__err(AX_ENOMEM, "resolver: out of memory");
    return 0;
}

dns_channel *ax__dns_channel(dns_state *d, const ax_resolve_opts *opts)
{
    static const ax_resolve_opts none;
    const ax_resolve_opts *o = opts ? opts : &none;
    char *key = options_key(o);
    if (!key) {
        ax__err(AX_ENOMEM, "resolver: out of memory");
        return NULL;
    }
    for (dns_channel *c = d->chans; c; c = c->next) {
        if (strcmp(c->key, key) == 0) {
            free(key);
            return c;
        }
    }
    dns_channel *c = calloc(1, sizeof *c);
    if (!c) {
        free(key);
        ax__err(AX_ENOMEM, "resolver: out of memory");
        return NULL;
    }
    c->d = d;
    c->key = key;
    if (channel_init(c, o) < 0) {
        channel_free(c);
        return NULL;
    }
    c->next = d->chans;
    d->chans = c;
    return c;
}

/* ------------------------------------------------------------- layer */

static void dns_close_flush(ax_loop *loop, void *state)
{
    (void)loop;
    dns_state *d = state;
    while (d->closed_socks) {
        dns_sock *s = d->closed_socks;
        d->closed_socks = s->next;
        free(s);
    }
    ax__dns_flush(d);
}

/* ax_loop_free: every lookup is cancelled (its callback runs) and the
 * channels go (c-ares ends their questions with ARES_EDESTRUCTION and
 * closes their sockets, which go on the closing list, or wait for the
 * kernel's last completions on io_uring). */
static int dns_close_all(ax_loop *loop, void *state)
{
    (void)loop;
    dns_state *d = state;
    int any = d->reqs != NULL || d->chans != NULL;
    ax__dns_cancel_all(d);
    while (d->chans) {
        dns_channel *c = d->chans;
        d->chans = c->next;
        ax__dns_cache_drop_channel(d, c);
        channel_free(c);
    }
    return any;
}

static void dns_fini(ax_loop *loop, void *state)
{
    dns_state *d = state;
    dns_close_flush(loop, d);
    ax__dns_cache_free(d);
    ax__loop_set_slot(loop, ax__dns_slot, &dns_layer, NULL);
    free(d);
}
