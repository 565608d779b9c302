/* read, write, fsync, unlink, mkdir, rename, ftruncate, getdents and stat on a real FUSE
 * filesystem whose calls hang (hangfs): for each call, the submit returns at once and the loop stays live while the
 * call hangs in the daemon; a cancel and a timeout are delivered at once; 20 hung calls do
 * not starve opens on the local filesystem; and once the daemon answers, every abandoned
 * worker returns and nothing is left open. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

static struct hangfs *fs;
static struct others others;

struct call {
    const char *name;
    enum hangfs_op op;
};

static const struct call calls[] = {
    {"fsync", HANGFS_FSYNC},       {"unlink", HANGFS_UNLINK}, {"mkdir", HANGFS_MKDIR}, {"rename", HANGFS_RENAME},
    {"truncate", HANGFS_TRUNCATE}, {"read", HANGFS_READ},     {"write", HANGFS_WRITE}, {"readdir", HANGFS_READDIR},
};

static const unsigned char CANARY = 0x5A;
/* The hung reads' buffers: checked after the daemon answers (never written: cancelled and
 * timed out). */
static unsigned char read_bufs[2][4096], dirent_bufs[2][4096];
enum { NCALLS = sizeof calls / sizeof calls[0] };

/* Descriptors the fd calls use, one per file, opened on hangfs (opens there do not hang). */
static int fds[64];
static int nfds;

/* Submits call `k` on file number `i` of its directory (timed: it must not wait). */
static int64_t submit(aopen_ctx *ctx, int k, int i) {
    char rel[64], to[64];
    snprintf(rel, sizeof rel, "%s/f%d", calls[k].name, i);
    switch (calls[k].op) {
    case HANGFS_FSYNC:
    case HANGFS_TRUNCATE:
    case HANGFS_READ:
    case HANGFS_WRITE: {
        int fd = open(hangfs_path(fs, rel), O_RDWR | O_CLOEXEC);
        CHECK(fd >= 0, "open %s: %s", rel, strerror(errno));
        CHECK(nfds < 64, "too many fds");
        fds[nfds++] = fd;
        if (calls[k].op == HANGFS_READ) {
            CHECK(i < 2, "one read buffer per case");
            memset(read_bufs[i], CANARY, sizeof read_bufs[i]);
            return TIMED(aopen_read_submit(ctx, fd, read_bufs[i], sizeof read_bufs[i], 0, NULL, NULL));
        }
        if (calls[k].op == HANGFS_WRITE)
            return TIMED(aopen_write_submit(ctx, fd, "data", 4, 0, NULL, NULL));
        return calls[k].op == HANGFS_FSYNC ? TIMED(aopen_fsync_submit(ctx, fd, 0, NULL, NULL))
                                           : TIMED(aopen_ftruncate_submit(ctx, fd, 0, NULL, NULL));
    }
    case HANGFS_UNLINK:
        return TIMED(aopen_unlink_submit(ctx, hangfs_path(fs, rel), 0, NULL, NULL));
    case HANGFS_READDIR: {
        /* One directory per case: a hung listing holds its directory's lock. */
        snprintf(rel, sizeof rel, "readdir+%d", i);
        int fd = open(hangfs_path(fs, rel), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd >= 0, "open %s: %s", rel, strerror(errno));
        fds[nfds++] = fd;
        CHECK(i < 2, "one listing buffer per case");
        memset(dirent_bufs[i], CANARY, sizeof dirent_bufs[i]);
        return TIMED(aopen_getdents_submit(ctx, fd, dirent_bufs[i], sizeof dirent_bufs[i], NULL, NULL));
    }
    case HANGFS_MKDIR:
        snprintf(rel, sizeof rel, "mkdir/new%d", i);
        return TIMED(aopen_mkdir_submit(ctx, hangfs_path(fs, rel), 0700, NULL, NULL));
    default:
        snprintf(to, sizeof to, "rename/new%d", i);
        return TIMED(aopen_rename_submit(ctx, hangfs_path(fs, rel), hangfs_path(fs, to), 0, NULL, NULL));
    }
}

/* Each call hangs in the daemon; a local open completes meanwhile; the cancel is delivered
 * at once. */
static int test_cancel_while_hung(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    for (int k = 0; k < NCALLS; k++) {
        long before = hangfs_waiting(fs, calls[k].op);
        int64_t id = submit(ctx, k, 0);
        CHECK(id > 0, "%s submit: %lld", calls[k].name, (long long)id);
        CHECK_EQ(hangfs_wait_waiting(fs, calls[k].op, before + 1, 5000), before + 1);
        int r = result_of(ctx, TIMED(aopen_submit(ctx, fast_path("healthy"), O_RDONLY, 0, NULL, NULL)));
        CHECK(r >= 0, "a local open while %s hangs: %d", calls[k].name, r);
        close(r);
        double t0 = now_ms();
        CHECK_EQ(TIMED(aopen_cancel(ctx, (uint64_t)id)), 0);
        CHECK_EQ(result_of(ctx, id), -ECANCELED);
        double ms = now_ms() - t0;
        printf("%-8s hung in the daemon; cancel delivered in %.2f ms\n", calls[k].name, ms);
        CHECK(ms < 1000, "%s: cancel took %.0f ms", calls[k].name, ms);
    }
    aopen_stats_snapshot s = stats_of(ctx);
    CHECK_EQ(s.abandoned_threads, NCALLS);
    /* Every cancel is delivered, yet the hung read's and listing's buffers and the write's
     * copy stay counted against the budget until their syscalls return. */
    CHECK(s.abandoned_buffer_bytes >= 2 * 4096 + 4, "abandoned_buffer_bytes %llu",
          (unsigned long long)s.abandoned_buffer_bytes);
    CHECK_EQ(s.abandoned_buffer_bytes, s.buffer_bytes);
    aopen_ctx_free(ctx); /* returns at once: the abandoned workers finish after themselves */
    return 0;
}

static struct statx kept;  /* checked after the daemon answers */
static struct statx *freed; /* freed at once: valgrind or ASan would see a late write */

static int intact(const void *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != CANARY)
            return 0;
    return 1;
}

/* A stat hung in the daemon's lookup is cancelled at once; its buffers are never written,
 * not even when the daemon answers later. (Two directories: lookups in one are serialized.) */
static int test_cancelled_hung_stat_never_writes(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    memset(&kept, CANARY, sizeof kept);
    freed = malloc(sizeof *freed);
    memset(freed, CANARY, sizeof *freed);
    long before = hangfs_waiting(fs, HANGFS_GETATTR);
    int64_t a = TIMED(aopen_stat_submit(ctx, hangfs_path(fs, "getattr/f0"), 0, STATX_BASIC_STATS, &kept, NULL, NULL));
    int64_t b = TIMED(aopen_stat_submit(ctx, hangfs_path(fs, "getattr+b/f1"), 0, STATX_BASIC_STATS, freed, NULL, NULL));
    CHECK(a > 0 && b > 0, "stat submit");
    CHECK_EQ(hangfs_wait_waiting(fs, HANGFS_GETATTR, before + 2, 5000), before + 2);
    double t0 = now_ms();
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)a), 0);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)b), 0);
    CHECK_EQ(result_of(ctx, a), -ECANCELED);
    CHECK_EQ(result_of(ctx, b), -ECANCELED);
    printf("stat     hung in the daemon; cancel delivered in %.2f ms\n", now_ms() - t0);
    CHECK(intact(&kept, sizeof kept) && intact(freed, sizeof *freed), "a cancelled stat wrote its buffer");
    free(freed);
    aopen_ctx_free(ctx);
    return 0;
}

static struct statx fstat_kept; /* checked after the daemon answers */

/* An fstat has a fast path on local filesystems only: on FUSE, whose getattr hangs, the
 * submit returns at once, the call hangs on a worker, and its cancel is delivered at once.
 * (The file is opened while the daemon answers: its lookup is a getattr too.) */
static int test_hung_fstat_goes_to_a_worker(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    hangfs_release(fs);
    int fd = open(hangfs_path(fs, "getattr+fd/f"), O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open getattr+fd/f: %s", strerror(errno));
    hangfs_rehang(fs);
    sleep_ms(50); /* the daemon looks for its release file every 5 ms */
    memset(&fstat_kept, CANARY, sizeof fstat_kept);
    long before = hangfs_waiting(fs, HANGFS_GETATTR);
    int64_t id = TIMED(aopen_fstat_submit(ctx, fd, STATX_BASIC_STATS, &fstat_kept, NULL, NULL));
    CHECK(id > 0, "fstat submit: %lld", (long long)id);
    CHECK_EQ(hangfs_wait_waiting(fs, HANGFS_GETATTR, before + 1, 5000), before + 1);
    double t0 = now_ms();
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)id), 0);
    CHECK_EQ(result_of(ctx, id), -ECANCELED);
    printf("fstat    hung in the daemon; cancel delivered in %.2f ms\n", now_ms() - t0);
    CHECK_EQ(stats_of(ctx).inline_completions, 0);
    fds[nfds++] = fd;
    aopen_ctx_free(ctx);
    return 0;
}

/* aopen_read_nowait never reads from FUSE, even a file whose reads answer at once. */
static int test_read_nowait_refuses_fuse(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    int fd = open(hangfs_path(fs, "plain/f"), O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open plain/f");
    char b[16];
    long reads = hangfs_done(fs, HANGFS_READ);
    CHECK_EQ(TIMED(aopen_read_nowait(ctx, fd, b, sizeof b, 0)), -EAGAIN);
    CHECK_EQ(hangfs_done(fs, HANGFS_READ), reads);
    close(fd);
    aopen_ctx_free(ctx);
    return 0;
}

/* With a 100 ms timeout each hung call is delivered -ETIMEDOUT. */
static int test_timeout_while_hung(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 100);
    for (int k = 0; k < NCALLS; k++) {
        double t0 = now_ms();
        int64_t id = submit(ctx, k, 1);
        CHECK_EQ(result_of(ctx, id), -ETIMEDOUT);
        double ms = now_ms() - t0;
        printf("%-8s timed out after %.0f ms\n", calls[k].name, ms);
        CHECK(ms < 2000, "%s: a 100 ms timeout fired after %.0f ms", calls[k].name, ms);
    }
    aopen_ctx_free(ctx);
    return 0;
}

/* 20 hung unlinks hold workers; opens on the local filesystem still complete. Only one
 * unlink per directory reaches the daemon: the kernel holds the directory's lock across
 * the call, so the others hang in the kernel waiting for it (and are counted running). */
static int test_hung_calls_do_not_starve_another_filesystem(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 4096, 0);
    int64_t ids[20];
    for (int i = 0; i < 20; i++)
        CHECK((ids[i] = submit(ctx, 1, 10 + i)) > 0, "submit");
    CHECK(wait_stats(ctx, 20, 0, 10000), "20 unlinks never all ran: %u running", stats_of(ctx).running);
    int healthy = under_valgrind() ? 200 : 2000;
    struct load r = healthy_load(ctx, fast_path("healthy"), healthy, 64, 30000, &others);
    printf("with 20 unlinks hung: %d of %d local opens in %.0f ms, p99 %.2f ms; longest call %.2f ms\n", r.done,
           healthy, r.wall_ms, r.p99_ms, longest_call_ms);
    CHECK_EQ(r.done, healthy);
    for (int i = 0; i < 20; i++)
        CHECK_EQ(aopen_cancel(ctx, (uint64_t)ids[i]), 0);
    aopen_completion c[20];
    CHECK_EQ(reap_n(ctx, c, 20, 2000), 20);
    aopen_ctx_free(ctx);
    return 0;
}

int main(void) {
    /* valgrind keeps its big lock across syscalls it does not expect to block (as it does
     * across close(2)), so one of these hung in the daemon freezes every thread. */
    if (under_valgrind())
        SKIP("these calls hang in the daemon, and valgrind holds its lock across some of them");
    fs = hangfs_mount("hang");
    make_file(fast_path("healthy"), "x");
    int fds0 = count_fds(), threads0 = count_threads();
    int failed = test_hung_fstat_goes_to_a_worker() || test_read_nowait_refuses_fuse() || test_cancel_while_hung() || test_cancelled_hung_stat_never_writes() || test_timeout_while_hung() ||
                 test_hung_calls_do_not_starve_another_filesystem();
    if (failed)
        return failed;
    /* The daemon answers: every abandoned worker returns and leaves. */
    hangfs_release(fs);
    WAIT_FOR(hangfs_waiting(fs, HANGFS_GETATTR) == 0, 10000);
    CHECK_EQ(hangfs_waiting(fs, HANGFS_GETATTR), 0);
    for (int k = 0; k < NCALLS; k++) {
        WAIT_FOR(hangfs_waiting(fs, calls[k].op) == 0, 10000);
        long left = hangfs_waiting(fs, calls[k].op);
        CHECK(left == 0, "%ld %s calls still wait in the daemon after release", left, calls[k].name);
    }
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    CHECK_EQ(hangfs_wait_balanced(fs, 10000), 0);
    CHECK_EQ(wait_fds(fds0, 5000), fds0);
    CHECK_EQ(wait_threads(threads0, 5000), threads0);
    /* Every worker has returned, the hung stats' included: the kept buffer is still intact. */
    CHECK(intact(&kept, sizeof kept), "a cancelled stat wrote its buffer after the daemon answered");
    CHECK(intact(&fstat_kept, sizeof fstat_kept), "a cancelled fstat wrote its buffer after the daemon answered");
    CHECK(intact(read_bufs, sizeof read_bufs), "a cancelled or timed-out read wrote its buffer");
    CHECK(intact(dirent_bufs, sizeof dirent_bufs), "a cancelled or timed-out getdents wrote its buffer");
    /* No library call on the loop thread waited for the hung filesystem (which would be
     * forever, until the release); 1 s allows for a sanitizer and a loaded machine. */
    CHECK(longest_call_ms < 1000, "a library call took %.0f ms", longest_call_ms);
    printf("after release: fds %d, threads %d, daemon calls still waiting 0\n", count_fds(), count_threads());
    return 0;
}
