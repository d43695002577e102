/* A connection's addresses: what a filter says (the PROXY protocol gives
 * the client's), else the socket's own, formatted once and cached. */
#include <stdlib.h>
#include <string.h>

#include "net/filter.h"

static const char *address(ax_conn *c, int peer)
{
    if ((c->flags & CF_CLOSED) || c->io.fd < 0)
        return NULL;
    const char *f = ax__chain_query(c, peer ? AX__Q_REMOTE : AX__Q_LOCAL);
    if (f)
        return f;
    ax__aux *a = ax__conn_aux(c);
    if (!a)
        return NULL;
    char **slot = peer ? &a->remote : &a->local;
    if (*slot)
        return *slot;
    char buf[AX_URISTRLEN];
    int rc = peer ? ax_peername_uri(c->io.fd, buf, sizeof buf)
                  : ax_sockname_uri(c->io.fd, buf, sizeof buf);
    if (rc < 0)
        return NULL; /* a pipe or tty has no address */
    *slot = strdup(buf);
    return *slot;
}

const char *ax_conn_remote_address(ax_conn *c)
{
    return address(c, 1);
}

const char *ax_conn_local_address(ax_conn *c)
{
    return address(c, 0);
}
