/*
 * 03-http-server: a minimal keep-alive HTTP/1.1 server that answers every
 * request with "Hello World!" (ReactPHP react/socket's
 * examples/03-http-server.php, plus keep-alive and pipelining).
 *
 *   03-http-server [listen-uri]          default 127.0.0.1:0
 *   curl http://127.0.0.1:8080/    wrk -c100 http://127.0.0.1:8080/
 *
 * It parses just enough HTTP to find where each request ends: the header
 * block up to "\r\n\r\n" (which may arrive split over many reads, or with
 * several pipelined requests in one read), and a Content-Length body to
 * skip. A real server wants a real parser; this shows the buffering.
 * SIGINT or SIGTERM stops it cleanly.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve.h"

/* Requests whose header block does not fit get a 400: a client must not be
 * able to make the server buffer without limit. */
#define MAX_HEADER 8192

static const char hello[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            "Content-Length: 13\r\n";
static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                          "Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n";

typedef struct http {
    int closing;      /* the last response ends the connection: ignore input */
    size_t len;       /* bytes in buf: the start of the next request */
    size_t scanned;   /* of which were already searched for "\r\n\r\n" */
    size_t body_left; /* body bytes of the current request still to skip */
    char buf[MAX_HEADER];
} http;

/* Answers 400 and ends the connection after flushing it; what the client
 * still sends is ignored. */
static void reject(ax_conn *c, http *h)
{
    ax_conn_write(c, bad, sizeof bad - 1);
    h->closing = 1;
    ax_conn_end(c);
}

/* The value of header "name" (names are case-insensitive) and its length
 * up to the end of its line, or NULL. */
static const char *header(const char *head, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n + strspn(p + 3 + n, " \t");
            const char *e = strstr(v, "\r\n");
            *len = e ? (size_t)(e - v) : strlen(v);
            return v;
        }
    }
    return NULL;
}

static int has_token(const char *v, size_t len, const char *token)
{
    size_t n = strlen(token);
    for (size_t i = 0; v && i + n <= len; i++)
        if (strncasecmp(v + i, token, n) == 0)
            return 1;
    return 0;
}

/* Answers one request whose header block (NUL-terminated, without the
 * final "\r\n\r\n") is head. Returns the body length to skip, or -1. */
static long long respond(ax_conn *c, http *h, const char *head)
{
    size_t vlen = 0, clen = 0, tlen;
    const char *conn = header(head, "Connection", &vlen);
    const char *cl = header(head, "Content-Length", &clen);
    const char *eol = head + strcspn(head, "\r");
    /* HTTP/1.1 keeps the connection open unless asked not to; HTTP/1.0
     * closes it unless asked to keep it. */
    int http10 = eol - head >= 8 && memcmp(eol - 8, "HTTP/1.0", 8) == 0;
    int close_it = has_token(conn, vlen, "close") ||
                   (http10 && !has_token(conn, vlen, "keep-alive"));
    char *end = NULL;
    long long body = cl ? strtoll(cl, &end, 10) : 0;
    if (body < 0 || (cl && end == cl) || header(head, "Transfer-Encoding", &tlen)) {
        /* A chunked body (or a bad length) leaves no way to find where the
         * next request starts: give up on this connection. */
        reject(c, h);
        return -1;
    }
    /* One writev: the fixed headers, "Connection: close" if closing, the
     * blank line and (except for HEAD) the body. */
    struct iovec iov[4];
    int n = 0;
    iov[n++] = (struct iovec){(void *)(uintptr_t)hello, sizeof hello - 1};
    if (close_it)
        iov[n++] = (struct iovec){(void *)(uintptr_t) "Connection: close\r\n", 19};
    iov[n++] = (struct iovec){(void *)(uintptr_t) "\r\n", 2};
    if (strncmp(head, "HEAD ", 5) != 0)
        iov[n++] = (struct iovec){(void *)(uintptr_t) "Hello World!\n", 13};
    /* 0: the client is not reading its responses (a pipelining flood).
     * Stop reading its requests until the queue drains. */
    if (ax_conn_writev(c, iov, n) == 0)
        ax_conn_pause(c);
    if (close_it) {
        h->closing = 1;
        ax_conn_end(c); /* flush the response, then FIN */
    }
    return body;
}

/* Answers every complete request in h->buf, then keeps the unfinished
 * rest at its start. */
static void parse(ax_conn *c, http *h)
{
    size_t off = 0;
    while (!h->closing) {
        /* Resume the search 3 bytes back: the terminator may straddle the
         * boundary between two reads. */
        size_t from = off + (h->scanned > 3 ? h->scanned - 3 : 0);
        char *end = memmem(h->buf + from, h->len - from, "\r\n\r\n", 4);
        if (!end) {
            h->scanned = h->len - off;
            break;
        }
        *end = '\0'; /* the block as one string: the "\r\n\r\n" is consumed */
        long long body = respond(c, h, h->buf + off);
        off = (size_t)(end + 4 - h->buf);
        h->scanned = 0;
        if (body > 0) {
            size_t here = h->len - off < (size_t)body ? h->len - off : (size_t)body;
            off += here;
            h->body_left = (size_t)body - here;
        }
    }
    memmove(h->buf, h->buf + off, h->len - off);
    h->len -= off;
}

static void on_data(ax_conn *c, const void *data, size_t len, void *arg)
{
    http *h = arg;
    const char *p = data;
    while (len > 0 && !h->closing) {
        size_t k;
        if (h->body_left) {
            k = len < h->body_left ? len : h->body_left;
            h->body_left -= k;
        } else {
            k = len < sizeof h->buf - h->len ? len : sizeof h->buf - h->len;
            memcpy(h->buf + h->len, p, k);
            h->len += k;
            parse(c, h);
            if (h->len == sizeof h->buf && !h->closing)
                reject(c, h); /* a full buffer and still no end of the headers */
        }
        p += k;
        len -= k;
    }
}

static void on_drain(ax_conn *c, void *arg)
{
    (void)arg;
    ax_conn_resume(c);
}

static void on_close(ax_conn *c, void *arg)
{
    (void)c;
    free(arg);
}

/* No on_end: when the client half-closes, the connection flushes the
 * responses still queued, ends its side and closes (the default). */
static const ax_conn_events http_events = {
    .on_data = on_data,
    .on_drain = on_drain,
    .on_close = on_close,
};

static void on_connection(ax_server *s, ax_conn *c, void *arg)
{
    (void)s;
    (void)arg;
    http *h = calloc(1, sizeof *h);
    if (h)
        ax_conn_set_events(c, &http_events, h);
    else
        ax_conn_close(c);
}

int main(int argc, char **argv)
{
    /* Small responses go out at once instead of waiting for Nagle's
     * algorithm; idle keep-alive clients are closed after a minute. */
    ax_server_opts opts = {
        .on_connection = on_connection, .nodelay = true, .idle_timeout_ms = 60000};
    return serve(argc, argv, &opts); /* serve.h: listen, run, clean up */
}
