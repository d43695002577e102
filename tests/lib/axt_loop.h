/*
 * Helpers for the tests of the event-driven layer (test_loop, test_server,
 * test_conn): a loop on the backend the environment asks for, running the
 * loop until a condition holds, and small process and stream utilities.
 * Header-only (static inline), so a test uses what it needs.
 *
 * Backend: axt_new_loop() calls ax_loop_new(NULL), which honours
 * AXON_BACKEND=epoll|poll; tests/CMakeLists.txt runs each of these test
 * programs a second time with AXON_BACKEND=poll. The helper checks that
 * the loop really got the backend asked for.
 */
#ifndef AXON_TEST_AXT_LOOP_H
#define AXON_TEST_AXT_LOOP_H

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "harness.h"

static inline ax_loop *axt_new_loop(void)
{
    ax_loop *loop = ax_loop_new(NULL);
    CHECK(loop != NULL);
    const char *want = getenv("AXON_BACKEND");
    if (want && *want && strcmp(want, "auto") != 0)
        CHECK_STR(ax_loop_backend(loop), want);
    return loop;
}

static inline int axt_is_poll(const ax_loop *loop)
{
    return strcmp(ax_loop_backend(loop), "poll") == 0;
}

/* A timer callback that sets the int arg points to. */
static inline void axt_set_flag(ax_timer *t, void *arg)
{
    (void)t;
    *(int *)arg = 1;
}

/* Whether signo is blocked in the calling thread. */
static inline int axt_sig_blocked(int signo)
{
    sigset_t cur;
    CHECK_EQ(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
    return sigismember(&cur, signo);
}

/* Runs the loop in steps of at most 10 ms until cond holds, for at most ms
 * (scaled); fails the test if it never does. */
#define AXT_RUN_UNTIL(loop, cond, ms)                                         \
    do {                                                                      \
        double axt_end = axt_now_ms() + (double)(ms) * axt_scale();           \
        while (!(cond) && axt_now_ms() < axt_end)                             \
            CHECK_OK(ax_loop_run_once((loop), 10));                           \
        CHECK(cond);                                                          \
    } while (0)

/* Runs the loop for ms of wall time. */
static inline void axt_run_for(ax_loop *loop, int ms)
{
    double end = axt_now_ms() + ms;
    while (axt_now_ms() < end)
        CHECK_OK(ax_loop_run_once(loop, 10));
}

/* Reads from a peer socket while the loop runs, until want bytes came,
 * EOF or an error (*eof = 1, may be NULL), or ms (scaled) passed. */
static inline size_t axt_pump_read(ax_loop *loop, int fd, void *buf, size_t want, int ms,
                                   int *eof)
{
    size_t got = 0;
    int e = 0;
    double end = axt_now_ms() + (double)ms * axt_scale();
    while (got < want && !e && axt_now_ms() < end) {
        CHECK_OK(ax_loop_run_once(loop, 2));
        ssize_t n = recv(fd, (char *)buf + got, want - got, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            e = 1;
        else if (n > 0)
            got += (size_t)n;
    }
    if (eof)
        *eof = e;
    return got;
}

/* A PRNG byte stream (xorshift64*), the same whatever the chunking, with
 * an xor-rotate hash of everything handed out. */
typedef struct axt_gen {
    uint64_t s, w;
    unsigned used;
    uint64_t hash; /* xor-rotate over every word handed out */
} gen;

static inline gen gen_new(uint64_t seed)
{
    gen g = {.s = seed | 1, .used = 8};
    return g;
}

static inline uint64_t gen_word(gen *g)
{
    g->s ^= g->s >> 12;
    g->s ^= g->s << 25;
    g->s ^= g->s >> 27;
    g->w = g->s * UINT64_C(2685821657736338717);
    g->hash = ((g->hash << 7) | (g->hash >> 57)) ^ g->w;
    return g->w;
}

static inline void gen_fill(gen *g, unsigned char *p, size_t n)
{
    while (n > 0 && g->used < 8) {
        *p++ = (unsigned char)(g->w >> (8 * g->used++));
        n--;
    }
    while (n >= 8) {
        uint64_t w = gen_word(g);
        memcpy(p, &w, 8); /* little-endian: the same bytes as below */
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        gen_word(g);
        g->used = 0;
        while (n > 0) {
            *p++ = (unsigned char)(g->w >> (8 * g->used++));
            n--;
        }
    }
}

/* Compares n received bytes with the stream; returns the first bad offset
 * or -1. */
static inline long gen_check(gen *g, const unsigned char *p, size_t n)
{
    unsigned char want[65536];
    for (size_t off = 0; off < n;) {
        size_t k = n - off < sizeof want ? n - off : sizeof want;
        gen_fill(g, want, k);
        if (memcmp(want, p + off, k) != 0)
            for (size_t i = 0; i < k; i++)
                if (want[i] != p[off + i])
                    return (long)(off + i);
        off += k;
    }
    return -1;
}

#endif
