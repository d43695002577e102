/* socket_addrinfo_lookup/connect/bind/explain on getaddrinfo(). */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/internal.h"

void ax_freeaddrinfo(ax_addrinfo *list)
{
    while (list) {
        ax_addrinfo *next = list->next;
        free(list->canonname);
        free(list);
        list = next;
    }
}

/* The results are copied into axon's own list so the caller never mixes
 * freeaddrinfo() and free() and the address is an ax_addr like everywhere
 * else. */
int ax_getaddrinfo(const char *host, const char *service, const ax_addrinfo *hints,
                   ax_addrinfo **out)
{
    if (!out)
        return ax__err(AX_EINVAL, "getaddrinfo: out is NULL");
    *out = NULL;
    if (!host && !service)
        return ax__err(AX_EINVAL, "getaddrinfo: host and service are both NULL");
    struct addrinfo h, *res = NULL;
    memset(&h, 0, sizeof h);
    if (hints) {
        h.ai_family = hints->family;
        h.ai_socktype = hints->socktype;
        h.ai_protocol = hints->protocol;
        h.ai_flags = hints->flags;
    }
    int g = getaddrinfo(host, service, &h, &res);
    if (g != 0) {
        int code = ax_error_from_gai(g);
        return ax__err(code, "getaddrinfo for \"%s\"%s%s%s failed: %s", host ? host : "(any)",
                       service ? " service \"" : "", service ? service : "", service ? "\"" : "",
                       g == EAI_SYSTEM ? ax_strerror(code) : gai_strerror(g));
    }
    ax_addrinfo *head = NULL, **tail = &head;
    for (struct addrinfo *r = res; r; r = r->ai_next) {
        if (r->ai_addrlen > sizeof head->addr.u)
            continue;
        ax_addrinfo *ai = calloc(1, sizeof *ai);
        if (!ai || (r->ai_canonname && !(ai->canonname = strdup(r->ai_canonname)))) {
            free(ai);
            freeaddrinfo(res);
            ax_freeaddrinfo(head);
            return ax__err(AX_ENOMEM, "getaddrinfo for \"%s\": out of memory",
                           host ? host : "(any)");
        }
        ai->family = r->ai_family;
        ai->socktype = r->ai_socktype;
        ai->protocol = r->ai_protocol;
        ai->flags = r->ai_flags;
        memcpy(&ai->addr.u, r->ai_addr, r->ai_addrlen);
        ai->addr.len = r->ai_addrlen;
        *tail = ai;
        tail = &ai->next;
    }
    freeaddrinfo(res);
    if (!head)
        return ax__err(AX_EAI_NODATA, "getaddrinfo for \"%s\" returned no usable address",
                       host ? host : "(any)");
    *out = head;
    return 0;
}

static int check_ai(const ax_addrinfo *ai, const char *what)
{
    if (!ai || ai->addr.len == 0)
        return ax__err(AX_EINVAL, "%s: no address info given", what);
    return 0;
}

int ax_addrinfo_connect(const ax_addrinfo *ai, int timeout_ms)
{
    int rc = check_ai(ai, "addrinfo connect");
    if (rc < 0)
        return rc;
    int fd = ax_socket(ai->family, ai->socktype ? ai->socktype : SOCK_STREAM, ai->protocol);
    if (fd < 0)
        return fd;
    rc = ax_connect_fd(fd, &ai->addr, timeout_ms);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int ax_addrinfo_bind(const ax_addrinfo *ai)
{
    int rc = check_ai(ai, "addrinfo bind");
    if (rc < 0)
        return rc;
    int type = ai->socktype ? ai->socktype : SOCK_STREAM;
    int fd = ax_socket(ai->family, type, ai->protocol);
    if (fd < 0)
        return fd;
    if (type == SOCK_STREAM)
        rc = ax_setopt_int(fd, AX_OPT_REUSEADDR, 1);
    if (rc == 0)
        rc = ax_bind(fd, &ai->addr);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static const char *name_or_num(char *buf, size_t len, const char *name, int num)
{
    if (name)
        return name;
    snprintf(buf, len, "%d", num);
    return buf;
}

int ax_addrinfo_explain(const ax_addrinfo *ai, char *buf, size_t len)
{
    int rc = check_ai(ai, "addrinfo explain");
    if (rc < 0)
        return rc;
    char fb[16], tb[16], a[AX_ADDRSTRLEN];
    const char *fam = ai->family == AF_INET    ? "AF_INET"
                      : ai->family == AF_INET6 ? "AF_INET6"
                      : ai->family == AF_UNIX  ? "AF_UNIX"
                                               : NULL;
    const char *type = ai->socktype == SOCK_STREAM      ? "SOCK_STREAM"
                       : ai->socktype == SOCK_DGRAM     ? "SOCK_DGRAM"
                       : ai->socktype == SOCK_SEQPACKET ? "SOCK_SEQPACKET"
                       : ai->socktype == SOCK_RAW       ? "SOCK_RAW"
                                                        : NULL;
    if (ax_addr_format(&ai->addr, a, sizeof a) < 0)
        snprintf(a, sizeof a, "(unprintable)");
    int n = snprintf(buf, len, "family=%s socktype=%s protocol=%d address=%s%s%s",
                     name_or_num(fb, sizeof fb, fam, ai->family),
                     name_or_num(tb, sizeof tb, type, ai->socktype), ai->protocol, a,
                     ai->canonname ? " canonname=" : "", ai->canonname ? ai->canonname : "");
    if (n < 0 || (size_t)n >= len)
        return ax__err(AX_ENOSPC, "addrinfo explain: %d bytes do not fit in %zu", n, len);
    return n;
}
