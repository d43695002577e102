/*
 * bench/common.h - the few helpers every benchmark server and the load
 * generator share: address parsing, the minimal HTTP/1.1 request counter
 * and the canned response, and the "ready" handshake with bench/run.sh.
 *
 * Everything is static inline so each program compiles it in and an
 * unused helper costs nothing (and raises no warning).
 */
#ifndef AXON_BENCH_COMMON_H
#define AXON_BENCH_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The response to every request, 77 bytes (Content-Length matches the body). */
#define HTTP_RESPONSE \
    "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\nhello world\n"
#define HTTP_RESPONSE_LEN (sizeof HTTP_RESPONSE - 1)
#define HTTP_BODY "hello world\n"

/* Responses are written in batches of up to this many copies from one block. */
#define HTTP_BATCH 64

enum bench_mode { MODE_ECHO, MODE_HTTP };

/*
 * Parses "127.0.0.1:PORT" or "[::1]:PORT" into *ss / *len. Returns 0, or -1
 * for anything else (a hostname is not accepted: the bench is loopback-only).
 */
static inline int bench_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon;
    const char *port_s;
    size_t hlen;
    char *end;
    long port;

    memset(ss, 0, sizeof *ss);
    if (strncmp(s, "tcp://", 6) == 0)
        s += 6;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        hlen = (size_t)(rb - s - 1);
        if (hlen >= sizeof host)
            return -1;
        memcpy(host, s + 1, hlen);
        port_s = rb + 2;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hlen = (size_t)(colon - s);
        if (hlen >= sizeof host)
            return -1;
        memcpy(host, s, hlen);
        port_s = colon + 1;
    }
    host[hlen] = '\0';
    port = strtol(port_s, &end, 10);
    if (*port_s == '\0' || *end != '\0' || port < 0 || port > 65535)
        return -1;

    if (s[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return -1;
        *len = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            return -1;
        *len = sizeof *a4;
    }
    return 0;
}

/*
 * Counts the requests that complete in p[0..n): a request ends at
 * "\r\n\r\n". *state is how much of that terminator the previous bytes
 * matched (0..3), so a terminator split across reads - even one byte per
 * read - is still found, and pipelined requests each count once. Only the
 * terminator matters: request bodies are not supported (the load has none).
 */
static inline size_t http_count(unsigned *state, const char *p, size_t n)
{
    const char *end = p + n;
    unsigned st = *state;
    size_t done = 0;

    while (p < end) {
        if (st == 0) {
            /* Most bytes are not '\r': skip to the next candidate fast. */
            p = memchr(p, '\r', (size_t)(end - p));
            if (!p)
                break;
            st = 1;
            p++;
            continue;
        }
        char c = *p++;
        switch (st) {
        case 1: st = c == '\n' ? 2 : c == '\r' ? 1 : 0; break;
        case 2: st = c == '\r' ? 3 : 0; break;
        default: /* 3: "\r\n\r" seen */
            if (c == '\n') {
                done++;
                st = 0;
            } else {
                st = c == '\r' ? 1 : 0;
            }
            break;
        }
    }
    *state = st;
    return done;
}

/* HTTP_BATCH copies of the response back to back, built by http_block(). */
static char http_block_buf[HTTP_BATCH * HTTP_RESPONSE_LEN];

static inline const char *http_block(void)
{
    if (http_block_buf[0] == '\0')
        for (size_t i = 0; i < HTTP_BATCH; i++)
            memcpy(http_block_buf + i * HTTP_RESPONSE_LEN, HTTP_RESPONSE, HTTP_RESPONSE_LEN);
    return http_block_buf;
}

/* Server command line: MODE ADDR. Exits with usage on anything else. */
static inline void bench_server_args(int argc, char **argv, enum bench_mode *mode,
                                     struct sockaddr_storage *ss, socklen_t *len)
{
    if (argc != 3 || (strcmp(argv[1], "echo") != 0 && strcmp(argv[1], "http") != 0) ||
        bench_parse_addr(argv[2], ss, len) != 0) {
        fprintf(stderr, "usage: %s echo|http IP:PORT\n", argv[0]);
        exit(2);
    }
    *mode = strcmp(argv[1], "http") == 0 ? MODE_HTTP : MODE_ECHO;
    (void)http_block();
}

/* Tells bench/run.sh the server listens. */
static inline void bench_ready(void)
{
    fputs("ready\n", stdout);
    fflush(stdout);
}

#endif
