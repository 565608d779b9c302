/* Semantics 11: aopen_ctx_free returns promptly with workers stuck in hung opens, calls no
 * callbacks, runs no queued request, closes every descriptor opened for undelivered or
 * abandoned requests (now, or when a stuck open returns), closes its own eventfd and
 * leaves a caller's eventfd open and unwritten; and once it returns no worker writes the
 * caller's read buffers (workers copy a read's bytes to the caller themselves). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"

static int callbacks;
static void cb(const aopen_completion *c) {
    (void)c;
    callbacks++;
}

static long delay; /* the shim's slow-open delay, ms */

/* Polls aopen_stats until at least `n` syscalls run. */
static void wait_running(aopen_ctx *ctx, uint32_t n) {
    WAIT_FOR(stats_of(ctx).running >= n, 5000);
    CHECK(stats_of(ctx).running >= n, "only %u syscalls running, want %u", stats_of(ctx).running, n);
}

static int test_free_with_stuck_workers(void) {
    int fds0 = count_fds();
    /* Own eventfd: 4 stuck opens, 2 completed-undelivered opens, queued opens that would
     * create files, and a queued close of a descriptor we hand over. */
    aopen_ctx *ctx = new_ctx(4, 6, 0, 0);
    for (int i = 0; i < 2; i++)
        CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, cb, NULL) > 0, "submit");
    CHECK_EQ(wait_ready(ctx, 2, 5000), 2);
    for (int i = 0; i < 6; i++)
        CHECK(aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, cb, NULL) > 0, "submit");
    char name[32];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "never%d", i);
        CHECK(aopen_submit(ctx, slow_path(name), O_WRONLY | O_CREAT, 0600, cb, NULL) > 0, "submit");
    }
    int handed = open(fast_path("f"), O_RDONLY | O_CLOEXEC);
    CHECK(aclose_submit(ctx, handed, cb, NULL) > 0, "close submit");
    /* The slow opens' filesystem gets its share, half of max_threads: 3 workers stuck. */
    wait_running(ctx, 3);
    CHECK(count_fds() >= fds0 + 1 + 2 + 1, "fds before free");
    double t0 = now_ms();
    aopen_ctx_free(ctx);
    double took = now_ms() - t0;
    printf("free with 3 workers stuck in %ld ms opens: %.2f ms\n", delay, took);
    /* A free that waited for the stuck opens would take `delay`; half of it allows for
     * valgrind and a loaded machine. */
    CHECK(took < delay / 2, "free took %.1f ms", took);
    CHECK_EQ(callbacks, 0);
    /* Every descriptor is closed by a worker, never by aopen_ctx_free itself (a close can
     * hang in a filesystem's flush): the done opens' and the queued close's, which wait for
     * their filesystem's share (held by the stuck opens), and the stuck opens' own when
     * they return. */
    wait_fds(fds0, (int)delay + 3000);
    printf("every descriptor closed %.0f ms after free\n", now_ms() - t0);
    if (count_fds() != fds0)
        dump_fds();
    CHECK_EQ(count_fds(), fds0);
    sleep_ms(500); /* time for a late descriptor to appear: that none does is the check */
    CHECK_EQ(count_fds(), fds0);
    CHECK_EQ(callbacks, 0);
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "never%d", i);
        CHECK(!file_exists(slow_path(name)), "a queued open ran after free");
    }
    return 0;
}

/* A caller's eventfd stays open and is not written after free, even when stuck opens
 * return later. */
static int test_caller_eventfd_untouched(void) {
    int fds0 = count_fds();
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    aopen_options o;
    memset(&o, 0, sizeof o);
    o.flags = AOPEN_OPT_EVENTFD;
    o.eventfd = efd;
    aopen_ctx *ctx = NULL;
    CHECK_EQ(aopen_ctx_new(&o, &ctx), 0);
    for (int i = 0; i < 3; i++)
        CHECK(aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, cb, NULL) > 0, "submit");
    wait_running(ctx, 3);
    double t0 = now_ms();
    aopen_ctx_free(ctx);
    CHECK(now_ms() - t0 < delay / 2, "free took %.1f ms", now_ms() - t0);
    /* The stuck opens return and their descriptors are closed: nothing may signal then. */
    sleep_ms(delay); /* the stuck opens return (the context is gone: no state to wait on) */
    CHECK_EQ(wait_fds(fds0 + 1, 3000), fds0 + 1);
    CHECK(fcntl(efd, F_GETFD) >= 0, "caller eventfd closed");
    CHECK_EQ(eventfd_count(efd), 0);
    close(efd);
    CHECK_EQ(count_fds(), fds0);
    CHECK_EQ(callbacks, 0);
    return 0;
}

/* Freeing an idle context leaves no library thread behind. */
static int test_idle_free_leaves_no_thread(void) {
    int fds0 = count_fds();
    /* The earlier cases' workers leave once their stuck opens return: let them go first. */
    wait_threads(1, 10000);
    int threads0 = count_threads();
    aopen_ctx *ctx = new_ctx(4, 4, 0, 0);
    for (int i = 0; i < 8; i++)
        CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    CHECK(aopen_wait(ctx, 5000) > 0, "wait");
    CHECK(count_threads() > threads0, "no threads started");
    aopen_ctx_free(ctx);
    /* A thread that has left the pool may take a moment to leave /proc/self/task. */
    CHECK_EQ(wait_threads(threads0, 10000), threads0);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

/* Frees a context at random moments while its workers finish reads, whose bytes they copy
 * into the caller's buffers, then unmaps the buffers at once: a worker still copying after
 * the free returned would fault. */
static int test_free_while_workers_copy_reads(void) {
    enum { READS = 16, LEN = 256 << 10 };
    char path[4096];
    snprintf(path, sizeof path, "%s", fast_path("big"));
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0, "create");
    static char block[LEN];
    memset(block, 'r', sizeof block);
    CHECK_EQ(write(fd, block, sizeof block), (long)sizeof block);
    unsigned seed = (unsigned)now_ms();
    printf("seed %u\n", seed);
    srand(seed);
    long delivered = 0;
    for (int round = 0; round < 200; round++) {
        aopen_options o = {.flags = AOPEN_OPT_NO_INLINE, .threads = 4};
        aopen_ctx *ctx;
        CHECK_EQ(aopen_ctx_new(&o, &ctx), 0);
        char *bufs = mmap(NULL, (size_t)READS * LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(bufs != MAP_FAILED, "mmap");
        for (int i = 0; i < READS; i++)
            CHECK(aopen_read_submit(ctx, fd, bufs + (size_t)i * LEN, LEN, 0, NULL, NULL) > 0, "read submit");
        /* Free at once, after some reads are ready, or after all are. */
        int when = rand() % 3;
        if (when > 0)
            delivered += wait_ready(ctx, when == 1 ? 1 + rand() % READS : READS, 5000) > 0;
        aopen_ctx_free(ctx);
        CHECK_EQ(munmap(bufs, (size_t)READS * LEN), 0);
    }
    printf("200 frees with reads being copied (%ld after some were ready)\n", delivered);
    close(fd);
    return 0;
}

int main(void) {
    delay = require_shim();
    make_file(slow_path("s"), "x");
    make_file(fast_path("f"), "x");
    return test_free_with_stuck_workers() || test_caller_eventfd_untouched() || test_idle_free_leaves_no_thread() ||
           test_free_while_workers_copy_reads();
}
