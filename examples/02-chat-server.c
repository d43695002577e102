/*
 * 02-chat-server: every line a client sends goes to all the other clients,
 * prefixed with the sender's address (ReactPHP react/socket's
 * examples/02-chat-server.php):
 *
 *   tcp://127.0.0.1:40000: hello
 *
 *   02-chat-server [listen-uri]          default 127.0.0.1:0
 *
 * Connect a few `nc 127.0.0.1 PORT` and type. The server logs joins and
 * leaves on stdout as "[tcp://127.0.0.1:40000 connected]" and
 * "[... disconnected]". SIGINT or SIGTERM stops it cleanly.
 */
#include <stdlib.h>
#include <string.h>

#include "serve.h"

/* TCP delivers a byte stream, not messages: one line may arrive in
 * several reads and one read may hold several lines. Each client keeps its
 * unfinished line, and a limit stops a client that never sends "\n" from
 * making the server buffer without end. */
#define MAX_LINE 1024

typedef struct chat chat;

typedef struct client {
    struct client *prev, *next;
    chat *room;
    ax_conn *conn;
    int gone;                     /* told to leave: ignore what it still sends */
    size_t len;                   /* bytes of the unfinished line */
    char line[MAX_LINE];
    char address[AX_URISTRLEN];   /* kept: the connection forgets it on close */
} client;

struct chat {
    client *clients;
};

/* Sends "<address>: <text>\n" to everyone but the sender. One writev per
 * client sends the four pieces together, without assembling them first. */
static void broadcast(client *from, const char *text, size_t len)
{
    if (len && text[len - 1] == '\r')
        len--; /* telnet-style "\r\n" line ends */
    if (len == 0)
        return; /* like ReactPHP's example: nothing to say, nothing sent */
    struct iovec iov[4] = {
        {.iov_base = from->address, .iov_len = strlen(from->address)},
        {.iov_base = (char *)(uintptr_t)": ", .iov_len = 2},
        {.iov_base = (char *)(uintptr_t)text, .iov_len = len},
        {.iov_base = (char *)(uintptr_t)"\n", .iov_len = 1},
    };
    for (client *c = from->room->clients; c; c = c->next) {
        if (c == from || c->gone)
            continue;
        /* 0 means this client's queue passed its high-water mark (64 KiB
         * of unread chat): it is not reading. Dropping it keeps one
         * stalled client from growing a queue on the server forever. */
        if (ax_conn_writev(c->conn, iov, 4) == 0) {
            c->gone = 1;
            ax_conn_close(c->conn);
        }
    }
}

static void on_data(ax_conn *conn, const void *data, size_t len, void *arg)
{
    (void)conn;
    client *c = arg;
    const char *p = data, *end = p + len;
    while (p < end && !c->gone) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        if (c->len + n > MAX_LINE) {
            /* Tell the sender why, then let ax_conn_end() flush that and
             * close; later bytes from it are ignored. */
            c->gone = 1;
            static const char msg[] = "error: line longer than 1024 bytes\n";
            ax_conn_write(c->conn, msg, sizeof msg - 1);
            ax_conn_end(c->conn);
            return;
        }
        memcpy(c->line + c->len, p, n);
        c->len += n;
        if (!nl)
            return; /* the rest of the line comes in a later read */
        broadcast(c, c->line, c->len);
        c->len = 0;
        p = nl + 1;
    }
}

/* The client half-closed: what it typed last still counts as a line. Then
 * end our side too, which closes the connection once flushed. */
static void on_end(ax_conn *conn, void *arg)
{
    client *c = arg;
    if (!c->gone && c->len)
        broadcast(c, c->line, c->len);
    c->len = 0;
    ax_conn_end(conn);
}

/* Every connection ends here exactly once, however it ended (EOF, reset,
 * dropped, or the server shutting down): the one place to forget it. */
static void on_close(ax_conn *conn, void *arg)
{
    (void)conn;
    client *c = arg;
    printf("[%s disconnected]\n", c->address);
    fflush(stdout);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->room->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static void on_error(ax_conn *conn, const ax_error *err, void *arg)
{
    (void)conn;
    client *c = arg;
    fprintf(stderr, "%s: %s\n", c->address, err->message);
}

static const ax_conn_events client_events = {
    .on_data = on_data,
    .on_end = on_end,
    .on_error = on_error,
    .on_close = on_close,
};

static void on_connection(ax_server *s, ax_conn *conn, void *arg)
{
    (void)s;
    chat *room = arg;
    client *c = calloc(1, sizeof *c);
    if (!c) {
        ax_conn_close(conn);
        return;
    }
    /* A Unix-socket client usually has no address of its own. */
    const char *addr = ax_conn_remote_address(conn);
    snprintf(c->address, sizeof c->address, "%s", addr ? addr : "unix://");
    c->room = room;
    c->conn = conn;
    c->next = room->clients;
    if (c->next)
        c->next->prev = c;
    room->clients = c;
    ax_conn_set_events(conn, &client_events, c);
    printf("[%s connected]\n", c->address);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    chat room = {0};
    ax_server_opts opts = {.on_connection = on_connection, .arg = &room};
    /* serve.h: listen, run until SIGINT/SIGTERM, then close the clients
     * still connected (their on_close frees them). */
    return serve(argc, argv, &opts);
}
