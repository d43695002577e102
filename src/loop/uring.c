/*
 * The io_uring backend: a completion backend (see backend.h).
 *
 *   - AX__ACCEPT: one multishot accept per listening io.
 *   - AX__RECV: one multishot recv per socket, its bytes in buffers the
 *     kernel picks from a ring the loop provides (bufs); a buffer is
 *     handed to the kind's received() and goes back to the ring as soon
 *     as that returns, so an idle connection holds none.
 *   - AX_READABLE / AX_WRITABLE: a one-shot poll, re-armed after each
 *     report while still wanted (level-triggered, as epoll's).
 *   - Writes are not submitted: the layers write directly and ask for
 *     AX_WRITABLE for what the socket did not take (one write path on
 *     every backend).
 *
 * Every armed operation counts in io->inflight until its final completion
 * (no IORING_CQE_F_MORE); so does every cancel we submit for it (its
 * target is matched by user_data, which must not name a new io living at
 * the same address before the cancel has run). A forgotten io whose count
 * reaches 0 is released to its kind, which frees it.
 *
 * user_data is the io's address with an operation tag in its low 3 bits
 * (ax__io is 8-aligned).
 *
 * Setup: SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them (else
 * COOP_TASKRUN, else nothing), created disabled (R_DISABLED) and enabled
 * by the thread that first waits on it, so a loop may be made on one
 * thread and run on another. Submission is batched: SQEs queue during an
 * iteration and go in with the next wait.
 */
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "loop/loop_impl.h"

/* The kernel fills provided buffers behind valgrind's back: a build with
 * -DAX_VALGRIND tells memcheck the bytes of a completion are defined. Not
 * by default: the client request costs a dozen instructions per receive
 * even outside valgrind (and valgrind 3.19 cannot run a threaded program
 * on io_uring anyway; the project's valgrind runs use epoll and poll). */
#ifdef AX_VALGRIND
#include <valgrind/memcheck.h>
#define DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#else
#define DEFINED(p, n) ((void)(p), (void)(n))
#endif

enum { T_POLL = 1, T_RECV, T_ACCEPT, T_CANCEL, T_SEND, TAG_MASK = 7 };

/* io->bstate bits (AX__B_ALWAYS, 0x80, is the loop's). */
enum {
    B_POLL_IN = 0x01,     /* the armed poll has POLLIN */
    B_POLL_OUT = 0x02,    /* ... and/or POLLOUT */
    B_MULTI = 0x04,       /* the multishot recv or accept is armed (a socket
                             is connected or listening, never both) */
    B_ACCEPTING = 0x08,   /* the multishot is an accept */
    B_KNOWN = 0x10,       /* the fd is marked in fdbits */
    B_DIRTY = 0x20,       /* on the dirty list: synced with the next wait */
    B_SENDING = 0x40,     /* a submitted send is in flight */
    B_MULTI_CANCEL = 0x80, /* a cancel was submitted for the multishot (one
                              for a poll is not tracked: a second is harmless) */
};

#define BGID 0 /* the provided-buffer group */

typedef struct ustate {
    struct io_uring ring;
    struct io_uring_buf_ring *br; /* the provided-buffer ring */
    size_t br_bytes;
    char *bufs;                   /* nbufs buffers of bufsize bytes */
    unsigned nbufs, bufsize;
    int enabled;                  /* IORING_REGISTER_ENABLE_RINGS done */
    size_t ops;                   /* operations (and cancels) not yet ended */
    uint64_t *fdbits;             /* fds an io watches: one io per fd, as epoll */
    size_t nfdbits;               /* words */
    ax__io **dirty;               /* ios whose want changed this iteration */
    size_t ndirty, capdirty;
    unsigned given;               /* buffers returned, not yet published */
} ustate;

#define DEFAULT_ENTRIES 512u
#define DEFAULT_BUFS 256u
#define DEFAULT_BUFSIZE (16u * 1024)

/* ------------------------------------------------------------- probe */

/* The opcodes and features this backend needs, checked once per process:
 * buffer rings and multishot accept/recv need 6.0. Returns 0, or an error
 * whose message says what is missing. */
static int probe(const struct io_uring *ring)
{
    struct io_uring_probe *p = io_uring_get_probe_ring((struct io_uring *)(uintptr_t)ring);
    if (!p)
        return ax__err(AX_ENOSYS, "io_uring: the kernel cannot say which operations it has");
    static const struct {
        int op;
        const char *name;
    } need[] = {{IORING_OP_POLL_ADD, "POLL_ADD"},
                {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
                {IORING_OP_ACCEPT, "ACCEPT"},
                {IORING_OP_RECV, "RECV"},
                {IORING_OP_SEND_ZC, "SEND_ZC (a 6.0 kernel, for multishot recv)"}};
    int rc = 0;
    for (size_t i = 0; i < sizeof need / sizeof need[0] && rc == 0; i++)
        if (!io_uring_opcode_supported(p, need[i].op))
            rc = ax__err(AX_ENOSYS, "io_uring: the kernel lacks %s", need[i].name);
    io_uring_free_probe(p);
    return rc;
}

/* -------------------------------------------------------------- setup */

static int ring_init(ustate *u, unsigned entries)
{
    static const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i] | IORING_SETUP_R_DISABLED | IORING_SETUP_SUBMIT_ALL |
                  IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 8;
        rc = io_uring_queue_init_params(entries, &u->ring, &p);
        if (rc != -EINVAL)
            break; /* EINVAL: an older kernel without these flags */
    }
    return rc;
}

static int bufs_init(ustate *u, unsigned nbufs, unsigned bufsize)
{
    u->nbufs = nbufs;
    u->bufsize = bufsize;
    u->br_bytes = nbufs * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1,
                    0);
    if (br == MAP_FAILED)
        return -errno;
    u->br = br;
    u->bufs = malloc((size_t)nbufs * bufsize);
    if (!u->bufs)
        return -ENOMEM;
    struct io_uring_buf_reg reg = {
        .ring_addr = (uintptr_t)br, .ring_entries = nbufs, .bgid = BGID};
    int rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (rc < 0)
        return rc;
    io_uring_buf_ring_init(u->br);
    int mask = io_uring_buf_ring_mask(nbufs);
    for (unsigned i = 0; i < nbufs; i++)
        io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * bufsize, bufsize, (unsigned short)i,
                              mask, (int)i);
    io_uring_buf_ring_advance(u->br, (int)nbufs);
    return 0;
}

static unsigned pow2_at_least(unsigned v, unsigned lo, unsigned hi)
{
    unsigned p = lo;
    while (p < v && p < hi)
        p <<= 1;
    return p;
}

static void u_fini(ax_loop *loop);

static int u_init(ax_loop *loop, const ax_loop_opts *opts)
{
    ustate *u = calloc(1, sizeof *u);
    if (!u)
        return ax__err(AX_ENOMEM, "new loop: out of memory");
    loop->b = u;
    u->ring.ring_fd = -1;
    unsigned entries = pow2_at_least(opts->uring_entries ? opts->uring_entries : DEFAULT_ENTRIES,
                                     8, 32768);
    unsigned nbufs = pow2_at_least(opts->recv_buffers ? opts->recv_buffers : DEFAULT_BUFS, 1,
                                   32768);
    unsigned bufsize = opts->recv_buffer_size ? opts->recv_buffer_size : DEFAULT_BUFSIZE;
    int rc = ring_init(u, entries);
    if (rc < 0) {
        u->ring.ring_fd = -1;
        return ax__syserr(rc, "io_uring: setting up a ring failed");
    }
    if ((rc = probe(&u->ring)) < 0)
        return rc;
    if ((rc = bufs_init(u, nbufs, bufsize)) < 0)
        return ax__syserr(rc, "io_uring: registering %u receive buffers of %u bytes failed", nbufs,
                          bufsize);
    loop->bfd = u->ring.ring_fd; /* readable when completions wait (ax_loop_fd) */
    return 0;
}

static void u_fini(ax_loop *loop)
{
    ustate *u = loop->b;
    if (!u)
        return;
    if (u->ring.ring_fd >= 0) {
        if (u->br)
            io_uring_unregister_buf_ring(&u->ring, BGID);
        io_uring_queue_exit(&u->ring);
    }
    if (u->br)
        munmap(u->br, u->br_bytes);
    free(u->bufs);
    free(u->fdbits);
    free(u->dirty);
    free(u);
    loop->b = NULL;
    loop->bfd = -1;
}

/* ------------------------------------------------------------ submit */

static int enable(ustate *u)
{
    if (u->enabled)
        return 0;
    if (syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) <
        0)
        return ax__syserr(ax__errno(), "io_uring: enabling the ring failed");
    u->enabled = 1;
    return 0;
}

/* A free SQE, submitting what is queued when the queue is full. */
static struct io_uring_sqe *sqe_get(ax_loop *loop)
{
    ustate *u = loop->b;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    while (!sqe) {
        if (enable(u) < 0)
            return NULL;
        int rc = io_uring_submit(&u->ring);
        if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
            ax__syserr(rc, "io_uring: submitting failed");
            return NULL;
        }
        sqe = io_uring_get_sqe(&u->ring);
    }
    return sqe;
}

/* One more operation the kernel will end with a final completion. */
static void started(ax_loop *loop, ax__io *io)
{
    ustate *u = loop->b;
    io->inflight++;
    u->ops++;
}

static uint64_t ud(const ax__io *io, unsigned tag)
{
    return (uint64_t)(uintptr_t)io | tag;
}

static int arm_poll(ax_loop *loop, ax__io *io, unsigned want)
{
    unsigned mask = 0;
    if (want & AX_READABLE)
        mask |= POLLIN | POLLRDHUP;
    if (want & AX_WRITABLE)
        mask |= POLLOUT;
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (!sqe)
        return ax_last_error()->code;
    io_uring_prep_poll_add(sqe, io->fd, mask);
    io_uring_sqe_set_data64(sqe, ud(io, T_POLL));
    io->bstate |= (uint8_t)((want & AX_READABLE ? B_POLL_IN : 0) |
                            (want & AX_WRITABLE ? B_POLL_OUT : 0));
    started(loop, io);
    return 0;
}

/* The armed multishot's tag: an io that asked for AX__ACCEPT is a
 * listening socket, whatever it asks now. */
static unsigned multi_tag(const ax__io *io)
{
    return (io->bstate & B_ACCEPTING) ? T_ACCEPT : T_RECV;
}

static int arm_recv(ax_loop *loop, ax__io *io)
{
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (!sqe)
        return ax_last_error()->code;
    io_uring_prep_recv_multishot(sqe, io->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, ud(io, T_RECV));
    io->bstate = (uint8_t)((io->bstate | B_MULTI) & ~B_ACCEPTING);
    started(loop, io);
    return 0;
}

static int arm_accept(ax_loop *loop, ax__io *io)
{
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (!sqe)
        return ax_last_error()->code;
    io_uring_prep_multishot_accept(sqe, io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ud(io, T_ACCEPT));
    io->bstate |= B_MULTI | B_ACCEPTING;
    started(loop, io);
    return 0;
}

/* Asks the kernel to end io's armed operation tagged tag (mark, if not 0,
 * records that it was asked). */
static int cancel(ax_loop *loop, ax__io *io, unsigned tag, unsigned mark)
{
    if (mark && (io->bstate & mark))
        return 0; /* asked already */
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (!sqe)
        return ax_last_error()->code;
    io_uring_prep_cancel64(sqe, ud(io, tag), 0);
    io_uring_sqe_set_data64(sqe, ud(io, T_CANCEL));
    io->bstate |= (uint8_t)mark;
    started(loop, io);
    return 0;
}

/* Arms what io wants and is not armed, and cancels what is armed and no
 * longer wanted (an operation still ending is re-armed when its final
 * completion comes, see complete()). */
static int sync_io(ax_loop *loop, ax__io *io, unsigned want)
{
    int rc = 0;
    unsigned have = io->bstate;
    unsigned multi = want & (AX__RECV | AX__ACCEPT);
    if (multi && !(have & B_MULTI))
        rc = multi & AX__RECV ? arm_recv(loop, io) : arm_accept(loop, io);
    else if (!multi && (have & B_MULTI))
        rc = cancel(loop, io, multi_tag(io), B_MULTI_CANCEL);
    unsigned pw = want & (AX_READABLE | AX_WRITABLE);
    unsigned armed = (have & B_POLL_IN ? AX_READABLE : 0) | (have & B_POLL_OUT ? AX_WRITABLE : 0);
    if (rc == 0 && pw && !armed)
        rc = arm_poll(loop, io, pw);
    else if (rc == 0 && armed && (pw & ~armed))
        rc = cancel(loop, io, T_POLL, 0); /* re-armed wider when it ends */
    /* A poll armed for more than is wanted now is left to fire: its
     * report is filtered by want, and it is not re-armed. */
    return rc;
}

/* Marks io's fd as watched, refusing one another io watches already (the
 * kernel would take two polls on one fd; epoll and poll refuse it). */
static int know(ustate *u, ax__io *io)
{
    size_t w = (size_t)io->fd / 64;
    uint64_t bit = UINT64_C(1) << ((size_t)io->fd % 64);
    if (w >= u->nfdbits) {
        size_t n = u->nfdbits ? u->nfdbits : 16;
        while (n <= w)
            n *= 2;
        uint64_t *b = realloc(u->fdbits, n * sizeof *b);
        if (!b)
            return ax__err(AX_ENOMEM, "watch fd %d: out of memory", io->fd);
        memset(b + u->nfdbits, 0, (n - u->nfdbits) * sizeof *b);
        u->fdbits = b;
        u->nfdbits = n;
    }
    if (u->fdbits[w] & bit)
        return ax__err(AX_EEXIST, "fd %d is already watched by this loop", io->fd);
    u->fdbits[w] |= bit;
    io->bstate |= B_KNOWN;
    return 0;
}

static void unknow(ustate *u, ax__io *io)
{
    if (!(io->bstate & B_KNOWN))
        return;
    u->fdbits[(size_t)io->fd / 64] &= ~(UINT64_C(1) << ((size_t)io->fd % 64));
    io->bstate &= (uint8_t)~B_KNOWN;
}

static void undirty(ustate *u, ax__io *io)
{
    if (!(io->bstate & B_DIRTY))
        return;
    for (size_t i = 0; i < u->ndirty; i++) {
        if (u->dirty[i] == io) {
            u->dirty[i] = u->dirty[--u->ndirty];
            break;
        }
    }
    io->bstate &= (uint8_t)~B_DIRTY;
}

/*
 * A change of want is not submitted at once: the io goes on the dirty list
 * and is brought in line with its want when the next wait submits. Changes
 * within one iteration then cost nothing (a pause and a resume), and a
 * server paused right after it was made never arms its accept (which
 * would take the connections already queued at once).
 */
static int u_set(ax_loop *loop, ax__io *io, unsigned want)
{
    ustate *u = loop->b;
    if (!(io->bstate & B_KNOWN)) {
        /* A new io: no tag bits may clash with its address. */
        if ((uintptr_t)io & TAG_MASK)
            return ax__err(AX_EINVAL, "io_uring: an io at %p is not 8-aligned", (void *)io);
        int rc = know(u, io);
        if (rc < 0)
            return rc;
    }
    if ((io->bstate & B_MULTI) && !(want & (AX__RECV | AX__ACCEPT)) && u->enabled) {
        /* A pause of an armed recv: every completion it posts until the
         * cancel runs is bytes the owner must hold, so cancel it now. */
        undirty(u, io);
        int rc = sync_io(loop, io, want);
        io_uring_submit(&u->ring);
        return rc;
    }
    if (io->bstate & B_DIRTY)
        return 0;
    if (u->ndirty == u->capdirty) {
        size_t cap = u->capdirty ? u->capdirty * 2 : 64;
        ax__io **d = realloc(u->dirty, cap * sizeof *d);
        if (!d)
            return sync_io(loop, io, want); /* no room to wait: in line now */
        u->dirty = d;
        u->capdirty = cap;
    }
    u->dirty[u->ndirty++] = io;
    io->bstate |= B_DIRTY;
    return 0;
}

/* Brings every dirty io in line with what it wants now (before a submit). */
static void sync_dirty(ax_loop *loop)
{
    ustate *u = loop->b;
    /* By index: syncing may submit (a full queue), never add. */
    for (size_t i = 0; i < u->ndirty; i++) {
        ax__io *io = u->dirty[i];
        io->bstate &= (uint8_t)~B_DIRTY;
        sync_io(loop, io, io->want);
    }
    u->ndirty = 0;
}


/* An SQE names its fd by number, resolved when it is submitted. The owner
 * closes io's fd as soon as this returns, and the number may be reused at
 * once (a new socket): an SQE still queued for it would then act on the
 * new file. So queued SQEs that name the fd go in now. */
static void submit_if_queued_for(ustate *u, int fd)
{
    const struct io_uring_sq *sq = &u->ring.sq;
    for (unsigned i = sq->sqe_head; i != sq->sqe_tail; i++) {
        const struct io_uring_sqe *sqe = &sq->sqes[i & sq->ring_mask];
        if (sqe->fd == fd && sqe->opcode != IORING_OP_ASYNC_CANCEL) {
            if (enable(u) == 0)
                io_uring_submit(&u->ring);
            return;
        }
    }
}

/* A listening socket's accept is cancelled at once and synchronously: the
 * armed accept holds the socket open, and a program that closes a server
 * may bind its address again right away. (Its final completion still
 * comes, -ECANCELED, in a later wait.) */
static int cancel_accept_now(ustate *u, ax__io *io)
{
    if (enable(u) < 0)
        return -1;
    struct io_uring_sync_cancel_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.addr = ud(io, T_ACCEPT);
    reg.fd = -1;
    reg.timeout.tv_sec = reg.timeout.tv_nsec = -1;
    int rc = io_uring_register_sync_cancel(&u->ring, &reg);
    if (rc != 0 && rc != -ENOENT && rc != -EALREADY)
        return -1;
    /* With DEFER_TASKRUN the cancelled request lets go of the socket only
     * when its task work runs: run it now. */
    io_uring_submit_and_get_events(&u->ring);
    return 0;
}

static int u_forget(ax_loop *loop, ax__io *io)
{
    ustate *u = loop->b;
    undirty(u, io);
    unsigned have = io->bstate;
    unknow(u, io);
    submit_if_queued_for(u, io->fd);
    if ((have & B_MULTI) && (have & B_ACCEPTING) && cancel_accept_now(u, io) == 0)
        io->bstate |= B_MULTI_CANCEL;
    else if (have & B_MULTI)
        cancel(loop, io, multi_tag(io), B_MULTI_CANCEL);
    if (have & (B_POLL_IN | B_POLL_OUT))
        cancel(loop, io, T_POLL, 0);
    if (have & B_SENDING)
        cancel(loop, io, T_SEND, 0); /* a peer that never reads must not pin it */
    return io->inflight > 0;
}

/* A submitted send of buf[0..len) (valid until kind->sent()): one per io
 * at a time; it goes in with the next wait, with everything else. */
static int u_send(ax_loop *loop, ax__io *io, const void *buf, size_t len)
{
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (!sqe)
        return ax_last_error()->code;
    io_uring_prep_send(sqe, io->fd, buf, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud(io, T_SEND));
    io->bstate |= B_SENDING;
    started(loop, io);
    return 0;
}

/* Unsubmitted work: the embedding host must call ax_loop_run_once() now
 * rather than wait on the ring's fd for completions of SQEs not yet in. */
static int u_unsubmitted(const ax_loop *loop)
{
    const ustate *u = loop->b;
    return !u->enabled || u->ndirty > 0 || io_uring_sq_ready(&u->ring) > 0;
}

static void u_submit(ax_loop *loop)
{
    ustate *u = loop->b;
    if (enable(u) < 0)
        return;
    sync_dirty(loop);
    io_uring_submit(&u->ring);
}

/* ------------------------------------------------------------ complete */

static void publish(ustate *u)
{
    if (u->given) {
        io_uring_buf_ring_advance(u->br, (int)u->given);
        u->given = 0;
    }
}

/* Returns a buffer to the ring; the ring's tail moves (making it visible
 * to the kernel again) every few buffers and at the end of each batch of
 * completions, which saves a store-release per receive. */
static void give_back(ustate *u, unsigned bid)
{
    io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * u->bufsize, u->bufsize,
                          (unsigned short)bid, (int)u->nbufs - 1, (int)u->given);
    if (++u->given == 16)
        publish(u);
}

/* One operation of io ended (its final completion, or a cancel's). The
 * last one of a forgotten io releases it to its kind. */
static void op_done(ax_loop *loop, ax__io *io)
{
    ustate *u = loop->b;
    u->ops--;
    if (--io->inflight == 0 && io->fd < 0)
        ax__io_released(loop, io);
}

static void complete(ax_loop *loop, const struct io_uring_cqe *cqe)
{
    ustate *u = loop->b;
    ax__io *io = (ax__io *)(uintptr_t)(cqe->user_data & ~(uint64_t)TAG_MASK);
    unsigned tag = (unsigned)(cqe->user_data & TAG_MASK);
    int res = cqe->res;
    unsigned flags = cqe->flags;
    /* The common completion first: bytes for a connection, more to come. */
    if (tag == T_RECV && res > 0 && (flags & (IORING_CQE_F_MORE | IORING_CQE_F_BUFFER)) ==
                                        (IORING_CQE_F_MORE | IORING_CQE_F_BUFFER)) {
        unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        char *data = u->bufs + (size_t)bid * u->bufsize;
        DEFINED(data, (size_t)res);
        ax__io_received(loop, io, data, res);
        give_back(u, bid);
        return;
    }
    int more = (flags & IORING_CQE_F_MORE) != 0;
    switch (tag) {
    case T_RECV: {
        if (!more)
            io->bstate &= (uint8_t) ~(B_MULTI | B_MULTI_CANCEL);
        if (cqe->flags & IORING_CQE_F_BUFFER) {
            unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
            if (res > 0) {
                char *data = u->bufs + (size_t)bid * u->bufsize;
                DEFINED(data, (size_t)res);
                ax__io_received(loop, io, data, res);
            }
            give_back(u, bid); /* at once: eager refill */
        } else if (res == 0 || (res < 0 && res != -ENOBUFS && res != -ECANCELED)) {
            ax__io_received(loop, io, NULL, res);
        }
        /* ENOBUFS (every buffer was in use), the end of a multishot the
         * kernel chose, or a cancel for a pause that was lifted: arm again
         * while the bytes are wanted (nothing was consumed). */
        if (!more) {
            if (io->fd >= 0 && (io->want & AX__RECV) && res != 0 && !(io->bstate & B_MULTI))
                arm_recv(loop, io);
            op_done(loop, io);
        }
        return;
    }
    case T_ACCEPT:
        if (!more)
            io->bstate &= (uint8_t) ~(B_MULTI | B_MULTI_CANCEL);
        if (res != -ECANCELED)
            ax__io_accepted(loop, io, res);
        if (!more) {
            if (io->fd >= 0 && (io->want & AX__ACCEPT) && !(io->bstate & B_MULTI))
                arm_accept(loop, io);
            op_done(loop, io);
        }
        return;
    case T_POLL: {
        unsigned armed = (io->bstate & B_POLL_IN ? AX_READABLE : 0) |
                         (io->bstate & B_POLL_OUT ? AX_WRITABLE : 0);
        io->bstate &= (uint8_t) ~(B_POLL_IN | B_POLL_OUT);
        if (res > 0 && io->fd >= 0) {
            unsigned rev = ax__revents((uint32_t)res);
            /* Level-triggered: report only what is still wanted. */
            rev &= (io->want & (AX_READABLE | AX_WRITABLE)) | AX_FDERROR | AX_HANGUP;
            if (rev & (armed | AX_FDERROR | AX_HANGUP))
                ax__io_polled(loop, io, rev);
        }
        if (io->fd >= 0 && (io->want & (AX_READABLE | AX_WRITABLE)) &&
            !(io->bstate & (B_POLL_IN | B_POLL_OUT)))
            arm_poll(loop, io, io->want & (AX_READABLE | AX_WRITABLE));
        op_done(loop, io);
        return;
    }
    case T_SEND:
        io->bstate &= (uint8_t)~B_SENDING;
        if (res != -ECANCELED)
            ax__io_sent(loop, io, res);
        op_done(loop, io);
        return;
    case T_CANCEL:
        op_done(loop, io);
        return;
    default:
        return;
    }
}

/* ---------------------------------------------------------------- wait */

static int u_wait(ax_loop *loop, int timeout_ms)
{
    ustate *u = loop->b;
    int rc = enable(u);
    if (rc < 0)
        return rc;
    sync_dirty(loop);
    struct io_uring_cqe *cqe = NULL;
    if (timeout_ms == 0) {
        rc = io_uring_submit_and_get_events(&u->ring);
    } else if (timeout_ms < 0) {
        rc = io_uring_submit_and_wait(&u->ring, 1);
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
                                       .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
        rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
    }
    ax__loop_woke(loop);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
        return ax__syserr(rc, "io_uring: waiting failed");
    /* Completions callbacks add, and ones posted meanwhile, are taken in
     * this pass too (the tail is read again each time). */
    unsigned head, n = 0, total = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe)
    {
        complete(loop, cqe);
        n++;
        if (n == 256) {
            io_uring_cq_advance(&u->ring, n);
            total += n;
            n = 0;
        }
    }
    io_uring_cq_advance(&u->ring, n);
    publish(u);
    return (int)(total + n);
}

/* ax_loop_free: every completion still owed to a forgotten io comes in
 * (their cancels went in with the first wait), so their memory can go. */
static void u_drain(ax_loop *loop)
{
    ustate *u = loop->b;
    /* Everything but the loop's wake-up poll is closed by now. */
    for (int i = 0; u->ops > loop->wake.inflight && i < 1000; i++)
        if (u_wait(loop, 10) < 0)
            break;
}

const ax__backend ax__uring_backend = {
    .name = "io_uring",
    .completion = 1,
    .init = u_init,
    .fini = u_fini,
    .set = u_set,
    .forget = u_forget,
    .wait = u_wait,
    .drain = u_drain,
    .unsubmitted = u_unsubmitted,
    .submit = u_submit,
    .send = u_send,
};
