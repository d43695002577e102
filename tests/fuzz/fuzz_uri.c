/*
 * libFuzzer target for ax_uri_parse() / ax_uri_format() and
 * ax_addr_parse() / ax_addr_format(). Whatever parses must format, and the
 * formatted text must parse back to the same thing; whatever fails must
 * leave a well-formed message. Any broken promise aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <axon.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts, saying which promise broke, so a crash report explains itself. */
static void require(int ok, const char *why)
{
    if (!ok) {
        fprintf(stderr, "fuzz_uri: %s\n", why);
        abort();
    }
}

/* A failure must leave a message of the promised shape: it names the code
 * in " (ENAME)" at the end, fits the buffer and has no control bytes. */
static void check_message(int code, const char *prefix)
{
    const ax_error *e = ax_last_error();
    size_t n = strnlen(e->message, sizeof e->message);
    require(code < 0 && e->code == code, "last error code differs from the return value");
    require(n < sizeof e->message, "message not terminated");
    require(strncmp(e->message, prefix, strlen(prefix)) == 0, "message prefix");
    require(n > 3 && e->message[n - 1] == ')', "message does not end in (ENAME)");
    for (size_t i = 0; i < n; i++)
        require((unsigned char)e->message[i] >= 0x20 && e->message[i] != 0x7f,
                "control byte in message");
}

static void same_uri(const ax_uri *a, const ax_uri *b)
{
    require(a->scheme == b->scheme, "scheme changed in round trip");
    require(a->kind == b->kind, "kind changed in round trip");
    require(strcmp(a->host, b->host) == 0, "host changed in round trip");
    require(a->port == b->port, "port changed in round trip");
    require(a->fd == b->fd, "fd changed in round trip");
    require(a->addr.len == b->addr.len, "address length changed in round trip");
    require(ax_addr_equal(&a->addr, &b->addr), "address changed in round trip");
}

static void fuzz_uri(const char *text)
{
    ax_uri u, v;
    int r = ax_uri_parse(text, &u);
    if (r < 0) {
        /* The text may have been cut or escaped in the message, so only
         * its fixed start is certain. */
        require(r == AX_EINVAL || r == AX_ENODEV || r == AX_ENAMETOOLONG, "unexpected code");
        check_message(r, "Invalid URI \"");
        require(u.kind == AX_HOST_NONE && u.addr.len == 0 && u.fd == -1,
                "failed parse left output set");
        return;
    }
    require(r == 0, "success is not 0");
    require(u.scheme != AX_SCHEME_NONE, "no scheme after success");
    require(strnlen(u.host, sizeof u.host) < sizeof u.host, "host not terminated");

    char buf[AX_URISTRLEN];
    int n = ax_uri_format(&u, buf, sizeof buf);
    require(n > 0, "a parsed URI does not format");
    require((size_t)n == strlen(buf), "format length is wrong");
    r = ax_uri_parse(buf, &v);
    require(r == 0, "formatted URI does not parse");
    same_uri(&u, &v);

    /* Formatting is stable, and exact-size and short buffers behave. */
    char again[AX_URISTRLEN];
    require(ax_uri_format(&v, again, sizeof again) == n && strcmp(buf, again) == 0,
            "format is not stable");
    require(ax_uri_format(&u, again, (size_t)n + 1) == n, "exact buffer refused");
    memset(again, 'x', sizeof again);
    require(ax_uri_format(&u, again, (size_t)n) == AX_ENOSPC, "short buffer accepted");
    require(again[0] == '\0' && again[n] == 'x', "short buffer not left empty");
}

static void fuzz_addr(const char *text)
{
    ax_addr a, b;
    int r = ax_addr_parse(text, &a);
    if (r < 0) {
        check_message(r, "Invalid URI \"");
        require(a.len == 0, "failed parse left address set");
        return;
    }
    int family = ax_addr_family(&a);
    require(family == AF_INET || family == AF_INET6 || family == AF_UNIX, "odd family");

    char s[AX_ADDRSTRLEN];
    int n = ax_addr_format(&a, s, sizeof s);
    require(n >= 0 && (size_t)n == strlen(s), "a parsed address does not format");

    char uri[AX_URISTRLEN];
    ax_scheme scheme = family == AF_UNIX ? AX_SCHEME_UNIX : AX_SCHEME_TCP;
    require(ax_addr_to_uri(&a, scheme, uri, sizeof uri) > 0, "address does not make a URI");
    require(ax_addr_parse(uri, &b) == 0, "URI of an address does not parse");
    require(ax_addr_equal(&a, &b) && a.len == b.len, "address changed via URI");

    if (family == AF_UNIX) {
        /* Parsed names have no NUL bytes, so the text is exact. */
        require(ax_addr_from_unix(&b, s) == 0, "formatted Unix name does not build");
    } else {
        require(ax_addr_parse(s, &b) == 0, "formatted address does not parse");
    }
    require(ax_addr_equal(&a, &b), "address changed in round trip");
    if (n > 0)
        require(ax_addr_format(&a, s, (size_t)n) == AX_ENOSPC, "short buffer accepted");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    if (size > 0)
        memcpy(text, data, size);
    text[size] = '\0';
    fuzz_uri(text);
    fuzz_addr(text);
    free(text);
    return 0;
}
