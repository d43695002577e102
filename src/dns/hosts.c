/* The hosts file (/etc/hosts, or the channel's): read when first needed
 * and again when it changes (looked at most once a second), searched for
 * a name's addresses of one family. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dns/dns.h"

#define HOSTS_MAX (1 << 20) /* a hosts file larger than this is cut */

/* Reads the file if it changed since it was read. */
static void refresh(dns_channel *c)
{
    dns_hosts *h = &c->hosts;
    uint64_t now = (uint64_t)ax__now_ms();
    if (h->text && now - h->checked < 1000)
        return;
    h->checked = now;
    struct stat st;
    if (stat(h->path, &st) < 0) {
        free(h->text);
        h->text = NULL;
        return;
    }
    if (h->text && st.st_size == h->size && st.st_mtim.tv_sec == h->mtime.tv_sec &&
        st.st_mtim.tv_nsec == h->mtime.tv_nsec)
        return;
    int fd = open(h->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t cap = st.st_size > 0 && st.st_size < HOSTS_MAX ? (size_t)st.st_size : HOSTS_MAX;
    char *text = malloc(cap + 1);
    ssize_t n = text ? read(fd, text, cap) : -1;
    close(fd);
    if (n < 0) {
        free(text);
        return;
    }
    text[n] = '\0';
    free(h->text);
    h->text = text;
    h->size = st.st_size;
    h->mtime = st.st_mtim;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

int ax__dns_hosts_lookup(dns_channel *c, const char *name, int family, dns_answer *ans)
{
    if (!c->hosts.path)
        return 0;
    refresh(c);
    if (!c->hosts.text)
        return 0;
    size_t nlen = strlen(name);
    if (nlen && name[nlen - 1] == '.')
        nlen--; /* "host." is "host" */
    memset(ans, 0, sizeof *ans);
    int other = 0;
    for (const char *line = c->hosts.text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        const char *hash = memchr(line, '#', (size_t)(end - line));
        const char *stop = hash ? hash : end;
        /* The address, then the names. */
        const char *p = line;
        while (p < stop && is_blank(*p))
            p++;
        const char *ip = p;
        while (p < stop && !is_blank(*p))
            p++;
        char addr[INET6_ADDRSTRLEN];
        size_t alen = (size_t)(p - ip);
        dns_ip v = {0};
        int ok = alen > 0 && alen < sizeof addr;
        if (ok) {
            memcpy(addr, ip, alen);
            addr[alen] = '\0';
            char *pct = strchr(addr, '%'); /* a scope: not for a name's answer */
            if (pct)
                *pct = '\0';
            v.v6 = strchr(addr, ':') != NULL;
            ok = inet_pton(v.v6 ? AF_INET6 : AF_INET, addr, v.b) == 1;
        }
        int mine = family == (v.v6 ? AF_INET6 : AF_INET);
        while (ok && p < stop) {
            while (p < stop && is_blank(*p))
                p++;
            const char *nm = p;
            while (p < stop && !is_blank(*p))
                p++;
            if ((size_t)(p - nm) == nlen && nlen && strncasecmp(nm, name, nlen) == 0) {
                if (!mine)
                    other = 1;
                else if (ans->n < DNS_MAX_ADDRS)
                    ans->ips[ans->n++] = v;
                break;
            }
        }
        line = *end ? end + 1 : end;
    }
    if (!ans->n && !other)
        return 0;
    /* A name the file knows under the other family only has no address
     * of this one: DNS is not asked (as glibc's "files" source). */
    ans->status = ans->n ? ARES_SUCCESS : ARES_ENODATA;
    memcpy(ans->canonical, name, nlen);
    ans->canonical[nlen] = '\0';
    return 1;
}
