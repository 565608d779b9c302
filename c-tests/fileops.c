/* The calls beyond open and close: aopen_read_submit (and aopen_read_nowait),
 * aopen_write_submit, aopen_getdents_submit, aopen_fsync_submit, aopen_unlink_submit,
 * aopen_mkdir_submit, aopen_rename_submit, aopen_ftruncate_submit, aopen_stat_submit and
 * aopen_fstat_submit. Each runs its syscall on a worker and completes with 0 or -errno and
 * its own AOPEN_OP_*; bad input is refused at submit; a queued one that is cancelled never
 * runs; one already done cannot be cancelled (-EALREADY: it took effect). A stat's or
 * read's result reaches the caller's buffer only in the call that delivers it; a write's
 * data is copied at submit; the bytes held stay within the context's budget. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

#include <linux/magic.h>
#include <sys/vfs.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif

/* Reaps request `id`'s completion, checks its op, and returns its result. */
static int done(aopen_ctx *ctx, int64_t id, uint32_t op) {
    CHECK(id > 0, "submit: %lld", (long long)id);
    aopen_completion c;
    CHECK_EQ(reap_n(ctx, &c, 1, 10000), 1);
    CHECK_EQ(c.id, (uint64_t)id);
    CHECK_EQ(c.op, op);
    return c.result;
}

static int test_each_call_does_what_it_says(void) {
    int fds0 = count_fds();
    aopen_ctx *ctx = new_ctx(2, 2, 0, 0);
    const char *dir = fast_path("ops.d"), *a = fast_path("ops.d/a"), *b = fast_path("ops.d/b");
    rmdir(dir);
    CHECK_EQ(done(ctx, aopen_mkdir_submit(ctx, dir, 0750, NULL, NULL), AOPEN_OP_MKDIR), 0);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0750, /* umask 022 */
          "mkdir made no 0750 directory");
    CHECK_EQ(done(ctx, aopen_mkdir_submit(ctx, dir, 0750, NULL, NULL), AOPEN_OP_MKDIR), -EEXIST);

    int fd = open(a, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHECK(write(fd, "hello", 5) == 5, "write");
    CHECK_EQ(done(ctx, aopen_ftruncate_submit(ctx, fd, 2, NULL, NULL), AOPEN_OP_FTRUNCATE), 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 2, "ftruncate left %lld bytes", (long long)st.st_size);
    CHECK_EQ(done(ctx, aopen_fsync_submit(ctx, fd, 0, NULL, NULL), AOPEN_OP_FSYNC), 0);
    CHECK_EQ(done(ctx, aopen_fsync_submit(ctx, fd, AOPEN_FSYNC_DATASYNC, NULL, NULL), AOPEN_OP_FSYNC), 0);
    close(fd);
    /* The descriptor's number is the caller's business: a closed one fails in the syscall. */
    CHECK_EQ(done(ctx, aopen_fsync_submit(ctx, fd, 0, NULL, NULL), AOPEN_OP_FSYNC), -EBADF);
    int ro = open(a, O_RDONLY | O_CLOEXEC);
    CHECK_EQ(done(ctx, aopen_ftruncate_submit(ctx, ro, 0, NULL, NULL), AOPEN_OP_FTRUNCATE), -EINVAL);
    close(ro);

    CHECK_EQ(done(ctx, aopen_rename_submit(ctx, a, b, 0, NULL, NULL), AOPEN_OP_RENAME), 0);
    CHECK(!file_exists(a) && file_exists(b), "rename did not move a to b");
    make_file(a, "x");
    CHECK_EQ(done(ctx, aopen_rename_submit(ctx, a, b, RENAME_NOREPLACE, NULL, NULL), AOPEN_OP_RENAME), -EEXIST);
    CHECK_EQ(done(ctx, aopen_unlink_submit(ctx, a, 0, NULL, NULL), AOPEN_OP_UNLINK), 0);
    CHECK_EQ(done(ctx, aopen_unlink_submit(ctx, b, 0, NULL, NULL), AOPEN_OP_UNLINK), 0);
    CHECK_EQ(done(ctx, aopen_unlink_submit(ctx, b, 0, NULL, NULL), AOPEN_OP_UNLINK), -ENOENT);
    CHECK_EQ(done(ctx, aopen_unlink_submit(ctx, dir, 0, NULL, NULL), AOPEN_OP_UNLINK), -EISDIR);
    CHECK_EQ(done(ctx, aopen_unlink_submit(ctx, dir, AT_REMOVEDIR, NULL, NULL), AOPEN_OP_UNLINK), 0);
    CHECK(!file_exists(dir), "rmdir left the directory");
    aopen_stats_snapshot s = stats_of(ctx);
    CHECK_EQ(s.submitted, 14);
    CHECK_EQ(s.inline_completions, 0); /* none of these has a non-blocking form */
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

static int test_bad_input_is_refused_at_submit(void) {
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    char long_path[PATH_MAX + 8];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    CHECK_EQ(aopen_fsync_submit(NULL, 0, 0, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_fsync_submit(ctx, -1, 0, NULL, NULL), -EBADF);
    CHECK_EQ(aopen_fsync_submit(ctx, 0, 4, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_unlink_submit(ctx, NULL, 0, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_unlink_submit(ctx, "x", 1, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_unlink_submit(ctx, long_path, 0, NULL, NULL), -ENAMETOOLONG);
    CHECK_EQ(aopen_mkdir_submit(ctx, NULL, 0700, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_mkdir_submit(ctx, long_path, 0700, NULL, NULL), -ENAMETOOLONG);
    CHECK_EQ(aopen_rename_submit(ctx, "x", NULL, 0, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_rename_submit(ctx, NULL, "x", 0, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_rename_submit(ctx, long_path, "x", 0, NULL, NULL), -ENAMETOOLONG);
    CHECK_EQ(aopen_ftruncate_submit(ctx, -1, 0, NULL, NULL), -EBADF);
    CHECK_EQ(aopen_ftruncate_submit(ctx, 0, -1, NULL, NULL), -EINVAL);
    CHECK_EQ(stats_of(ctx).submitted, 0);
    aopen_ctx_free(ctx);
    return 0;
}

/* One worker, pinned by a slow open: the calls queue behind it, are cancelled, and never
 * run. A call already done is delivered with its result (-EALREADY to the cancel). */
static int test_cancelled_queued_calls_never_run(void) {
    long delay = require_shim();
    int fds0 = count_fds();
    make_file(slow_path("s"), "x");
    make_file(fast_path("keep"), "x");
    unlink(fast_path("never.d"));
    rmdir(fast_path("never.d"));
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    int64_t pin = aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL);
    CHECK(wait_stats(ctx, 1, 0, 5000), "the slow open never started");
    int fd = open(fast_path("keep"), O_RDWR | O_CLOEXEC);
    int64_t ids[5] = {
        aopen_mkdir_submit(ctx, fast_path("never.d"), 0700, NULL, NULL),
        aopen_unlink_submit(ctx, fast_path("keep"), 0, NULL, NULL),
        aopen_rename_submit(ctx, fast_path("keep"), fast_path("moved"), 0, NULL, NULL),
        aopen_ftruncate_submit(ctx, fd, 0, NULL, NULL),
        aopen_fsync_submit(ctx, fd, 0, NULL, NULL),
    };
    for (int i = 0; i < 5; i++) {
        CHECK(ids[i] > 0, "submit %d: %lld", i, (long long)ids[i]);
        CHECK_EQ(aopen_cancel(ctx, (uint64_t)ids[i]), 0);
    }
    aopen_completion c[5];
    CHECK_EQ(reap_n(ctx, c, 5, 1000), 5);
    for (int i = 0; i < 5; i++)
        CHECK(c[i].id == (uint64_t)ids[i] && c[i].result == -ECANCELED, "call %d: %d", i, c[i].result);
    int r = result_of(ctx, pin);
    CHECK(r >= 0, "slow open: %d", r);
    close(r);
    CHECK(wait_stats(ctx, 0, 0, (int)delay + 5000), "the pool never went idle");
    CHECK(!file_exists(fast_path("never.d")) && !file_exists(fast_path("moved")), "a cancelled call ran");
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == 1 && file_exists(fast_path("keep")), "a cancelled call ran");

    int64_t sync = aopen_fsync_submit(ctx, fd, 0, NULL, NULL);
    CHECK_EQ(wait_ready(ctx, 1, 5000), 1);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)sync), -EALREADY);
    CHECK_EQ(done(ctx, sync, AOPEN_OP_FSYNC), 0);
    close(fd);
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

static const unsigned char CANARY = 0xA5;

static int untouched(const struct statx *st) {
    const unsigned char *p = (const unsigned char *)st;
    for (size_t i = 0; i < sizeof *st; i++)
        if (p[i] != CANARY)
            return 0;
    return 1;
}

static int test_stat_and_fstat(void) {
    aopen_ctx *ctx = new_ctx(2, 2, 0, 0);
    const char *f = fast_path("stat.f");
    make_file(f, "12345");
    struct statx want, got;
    CHECK_EQ(statx(AT_FDCWD, f, 0, STATX_BASIC_STATS, &want), 0);

    /* The result is in the buffer by delivery (the worker copies it as the stat returns). */
    memset(&got, CANARY, sizeof got);
    int64_t id = aopen_stat_submit(ctx, f, 0, STATX_BASIC_STATS, &got, NULL, NULL);
    CHECK_EQ(done(ctx, id, AOPEN_OP_STAT), 0);
    CHECK(got.stx_ino == want.stx_ino && got.stx_size == 5 && got.stx_mode == want.stx_mode, "stat: ino %llu size %llu",
          (unsigned long long)got.stx_ino, (unsigned long long)got.stx_size);

    int fd = open(f, O_RDONLY | O_CLOEXEC);
    memset(&got, CANARY, sizeof got);
    CHECK_EQ(done(ctx, aopen_fstat_submit(ctx, fd, STATX_SIZE | STATX_INO, &got, NULL, NULL), AOPEN_OP_STAT), 0);
    CHECK(got.stx_ino == want.stx_ino && got.stx_size == 5, "fstat");
    close(fd);

    /* A failed stat leaves the buffer alone. */
    memset(&got, CANARY, sizeof got);
    CHECK_EQ(done(ctx, aopen_stat_submit(ctx, fast_path("no-such"), 0, STATX_BASIC_STATS, &got, NULL, NULL),
                  AOPEN_OP_STAT),
             -ENOENT);
    CHECK(untouched(&got), "a failed stat wrote the buffer");
    CHECK_EQ(done(ctx, aopen_fstat_submit(ctx, fd, STATX_SIZE, &got, NULL, NULL), AOPEN_OP_STAT), -EBADF);
    CHECK(untouched(&got), "a failed fstat wrote the buffer");

    CHECK_EQ(aopen_stat_submit(ctx, f, 0, STATX_SIZE, NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_stat_submit(ctx, NULL, 0, STATX_SIZE, &got, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_fstat_submit(ctx, -1, STATX_SIZE, &got, NULL, NULL), -EBADF);
    CHECK_EQ(aopen_fstat_submit(ctx, 0, STATX_SIZE, NULL, NULL, NULL), -EINVAL);
    aopen_ctx_free(ctx);
    return 0;
}

/* A cancelled stat never touches its buffer, which the caller frees at once (valgrind and
 * ASan would see a late write). */
static int test_cancelled_stat_never_writes(void) {
    long delay = require_shim();
    make_file(slow_path("s"), "x");
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    int64_t pin = aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL);
    CHECK(wait_stats(ctx, 1, 0, 5000), "the slow open never started");
    struct statx *buf = malloc(sizeof *buf);
    memset(buf, CANARY, sizeof *buf);
    int64_t id = aopen_stat_submit(ctx, slow_path("s"), 0, STATX_BASIC_STATS, buf, NULL, NULL);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)id), 0);
    CHECK_EQ(done(ctx, id, AOPEN_OP_STAT), -ECANCELED);
    CHECK(untouched(buf), "a cancelled stat wrote the buffer");
    free(buf);
    int r = result_of(ctx, pin);
    close(r);
    CHECK(wait_stats(ctx, 0, 0, (int)delay + 5000), "the pool never went idle");
    aopen_ctx_free(ctx);
    return 0;
}

static int test_read_and_write(void) {
    aopen_ctx *ctx = new_ctx(2, 2, 0, 0);
    const char *f = fast_path("rw.f");
    int fd = open(f, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char data[] = "hello world";
    int64_t w = aopen_write_submit(ctx, fd, data, 11, 0, NULL, NULL);
    memset(data, 'X', sizeof data); /* the library has its own copy */
    CHECK_EQ(done(ctx, w, AOPEN_OP_WRITE), 11);

    /* The bytes are in the buffer by delivery, never past the length asked for; a worker's
     * library copy counts against the budget until then, a read the fast path made inside
     * the submit (straight into the buffer) holds none. */
    unsigned char buf[64];
    memset(buf, CANARY, sizeof buf);
    uint64_t inline0 = stats_of(ctx).inline_completions;
    int64_t r = aopen_read_submit(ctx, fd, buf, 5, 6, NULL, NULL);
    CHECK_EQ(wait_ready(ctx, 1, 5000), 1);
    CHECK_EQ(stats_of(ctx).buffer_bytes, stats_of(ctx).inline_completions > inline0 ? 0 : 5);
    CHECK_EQ(done(ctx, r, AOPEN_OP_READ), 5);
    CHECK(memcmp(buf, "world", 5) == 0 && buf[5] == CANARY, "read: %.5s", buf);
    CHECK_EQ(stats_of(ctx).buffer_bytes, 0);
    CHECK_EQ(done(ctx, aopen_read_submit(ctx, fd, buf, sizeof buf, 11, NULL, NULL), AOPEN_OP_READ), 0); /* EOF */

    /* Offset -1 reads and writes at the file position and moves it. */
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(done(ctx, aopen_read_submit(ctx, fd, buf, 6, -1, NULL, NULL), AOPEN_OP_READ), 6);
    CHECK_EQ(done(ctx, aopen_read_submit(ctx, fd, buf + 6, 5, -1, NULL, NULL), AOPEN_OP_READ), 5);
    CHECK(memcmp(buf, "hello world", 11) == 0, "positional reads: %.11s", buf);
    CHECK_EQ(done(ctx, aopen_write_submit(ctx, fd, "!", 1, -1, NULL, NULL), AOPEN_OP_WRITE), 1);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 12);
    CHECK_EQ(done(ctx, aopen_write_submit(ctx, fd, NULL, 0, 0, NULL, NULL), AOPEN_OP_WRITE), 0);

    /* Bad input. */
    CHECK_EQ(aopen_read_submit(ctx, -1, buf, 1, 0, NULL, NULL), -EBADF);
    CHECK_EQ(aopen_read_submit(ctx, fd, buf, 1, -2, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_read_submit(ctx, fd, NULL, 1, 0, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_write_submit(ctx, fd, NULL, 1, 0, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_write_submit(ctx, -1, "x", 1, 0, NULL, NULL), -EBADF);
    CHECK_EQ(aopen_read_submit(ctx, fd, buf, (size_t)INT_MAX + 1, 0, NULL, NULL), -EINVAL);
    int ro = open(f, O_RDONLY | O_CLOEXEC);
    CHECK_EQ(done(ctx, aopen_write_submit(ctx, ro, "x", 1, 0, NULL, NULL), AOPEN_OP_WRITE), -EBADF);
    close(ro);
    close(fd);
    aopen_ctx_free(ctx);
    return 0;
}

/* Bytes held in library memory (undelivered read buffers and write copies) stay under the
 * context's budget: -EAGAIN past it, -EINVAL for one request larger than all of it. */
static int test_buffer_budget(void) {
    aopen_options o;
    memset(&o, 0, sizeof o);
    o.buffer_budget_kib = 1;
    aopen_ctx *ctx;
    CHECK_EQ(aopen_ctx_new(&o, &ctx), 0);
    int fd = open(fast_path("rw.f"), O_RDWR | O_CLOEXEC);
    static char big[2048];
    CHECK_EQ(aopen_read_submit(ctx, fd, big, 1025, 0, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_write_submit(ctx, fd, big, 1025, 0, NULL, NULL), -EINVAL);
    /* At the file position: never the fast path, a worker's read into library memory. */
    int64_t a = aopen_read_submit(ctx, fd, big, 800, -1, NULL, NULL);
    CHECK(a > 0, "read: %lld", (long long)a);
    CHECK_EQ(aopen_write_submit(ctx, fd, big, 300, 4096, NULL, NULL), -EAGAIN); /* 800 held */
    /* A cached read within one page goes straight into the caller's buffer inside the
     * submit: it holds none of the budget. */
    int64_t b = aopen_read_submit(ctx, fd, big + 1024, 300, 0, NULL, NULL);
    CHECK(b > 0, "inline read: %lld", (long long)b);
    CHECK_EQ(stats_of(ctx).inline_completions, 1);
    CHECK_EQ(stats_of(ctx).submitted, 2);
    CHECK_EQ(wait_ready(ctx, 2, 5000), 2);
    CHECK_EQ(stats_of(ctx).buffer_bytes, 800); /* done, not yet delivered: still held */
    aopen_completion c[2];
    CHECK_EQ(reap_n(ctx, c, 2, 5000), 2);
    for (int i = 0; i < 2; i++)
        CHECK(c[i].op == AOPEN_OP_READ && c[i].result >= 0 && (c[i].id == (uint64_t)a || c[i].id == (uint64_t)b),
              "completion %d: id %llu result %d", i, (unsigned long long)c[i].id, c[i].result);
    CHECK_EQ(stats_of(ctx).buffer_bytes, 0);
    CHECK_EQ(done(ctx, aopen_write_submit(ctx, fd, big, 1024, 4096, NULL, NULL), AOPEN_OP_WRITE), 1024);
    close(fd);
    aopen_ctx_free(ctx);
    return 0;
}

/* A cached read at an offset and an fstat, on a local filesystem, complete inside the
 * submit (the fast path), and are still delivered like any other: the read straight into
 * the caller's buffer, within its length; the fstat's result copied by the reap. A read at
 * the file position always goes to a worker. */
static int test_cached_read_and_fstat_complete_inline(void) {
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    const char *f = fast_path("inline.f");
    make_file(f, "0123456789");
    int fd = open(f, O_RDONLY | O_CLOEXEC);
    char buf[8];
    memset(buf, CANARY, sizeof buf);
    int64_t id = aopen_read_submit(ctx, fd, buf, sizeof buf, 2, NULL, NULL);
    CHECK(id > 0, "read submit: %lld", (long long)id);
    CHECK_EQ(stats_of(ctx).inline_completions, 1);
    CHECK(readable(aopen_ctx_fd(ctx)), "an inline completion is ready at once");
    CHECK(memcmp(buf, "23456789", 8) == 0, "the inline read's bytes are not in the buffer: %.8s", buf);
    CHECK_EQ(stats_of(ctx).buffer_bytes, 0); /* no library buffer */
    CHECK_EQ(done(ctx, id, AOPEN_OP_READ), 8);
    CHECK(memcmp(buf, "23456789", 8) == 0, "inline read: %.8s", buf);
    /* Within its length: the next bytes of a larger buffer stay as they were. */
    char big[16];
    memset(big, CANARY, sizeof big);
    CHECK_EQ(done(ctx, aopen_read_submit(ctx, fd, big, 6, 4, NULL, NULL), AOPEN_OP_READ), 6);
    CHECK(memcmp(big, "456789", 6) == 0 && (unsigned char)big[6] == CANARY, "inline read: %.7s", big);

    struct statx st;
    memset(&st, CANARY, sizeof st);
    id = aopen_fstat_submit(ctx, fd, STATX_SIZE, &st, NULL, NULL);
    CHECK_EQ(stats_of(ctx).inline_completions, 3);
    CHECK(untouched(&st), "an inline fstat wrote its buffer before delivery");
    CHECK_EQ(done(ctx, id, AOPEN_OP_STAT), 0);
    CHECK(st.stx_size == 10, "fstat size %llu", (unsigned long long)st.stx_size);

    CHECK_EQ(done(ctx, aopen_read_submit(ctx, fd, buf, 4, -1, NULL, NULL), AOPEN_OP_READ), 4);
    CHECK(memcmp(buf, "0123", 4) == 0, "positional read: %.4s", buf);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 4);
    CHECK_EQ(stats_of(ctx).inline_completions, 3);
    close(fd);
    aopen_ctx_free(ctx);
    return 0;
}

enum { PARTLY = 8 << 20 }; /* large enough that its second half is its own folios */

/* Drops the page cache of the second half of `fd` (PARTLY bytes); then whether the first half
 * is all resident and the second half not at all, as mincore(2) sees it. (Not a RWF_NOWAIT
 * read to check: on uncached pages that starts reading them in.) */
static int evict_second_half(int fd) {
    if (posix_fadvise(fd, PARTLY / 2, PARTLY / 2, POSIX_FADV_DONTNEED) != 0)
        return 0;
    void *map = mmap(NULL, PARTLY, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return 0;
    long page = sysconf(_SC_PAGESIZE), pages = PARTLY / page;
    unsigned char *vec = malloc((size_t)pages);
    int ok = vec != NULL && mincore(map, PARTLY, vec) == 0;
    for (long i = 0; ok && i < pages; i++)
        ok = (vec[i] & 1) == (i < pages / 2);
    free(vec);
    munmap(map, PARTLY);
    return ok;
}

/* A read whose data is only partly cached goes to a worker and returns all of it, as a
 * blocking pread would (no short read a caller could take for the end of the file);
 * aopen_read_nowait returns the cached part. A short read at the end of a cached file is
 * the answer, and completes inline. */
static int test_partly_cached_read_goes_to_a_worker(void) {
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    const char *f = fast_path("partly.f");
    char *data = malloc(PARTLY), *got = malloc(PARTLY);
    CHECK(data && got, "malloc");
    for (size_t i = 0; i < PARTLY; i++)
        data[i] = (char)(i * 13 + i / 4096);
    int fd = open(f, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(write(fd, data, PARTLY) == PARTLY && fsync(fd) == 0, "write %s", f);
    if (evict_second_half(fd)) {
        CHECK_EQ(done(ctx, aopen_read_submit(ctx, fd, got, PARTLY, 0, NULL, NULL), AOPEN_OP_READ), PARTLY);
        CHECK(memcmp(got, data, PARTLY) == 0, "the read returned other bytes");
        CHECK_EQ(stats_of(ctx).inline_completions, 0);
        CHECK(evict_second_half(fd), "the second half stayed cached");
        CHECK_EQ(aopen_read_nowait(ctx, fd, got, PARTLY, 0), PARTLY / 2);
    } else {
        printf("skip partly cached read: the page cache of %s could not be half dropped\n", f);
    }
    close(fd);
    make_file(fast_path("short.f"), "0123456789");
    fd = open(fast_path("short.f"), O_RDONLY | O_CLOEXEC);
    uint64_t inline0 = stats_of(ctx).inline_completions;
    CHECK_EQ(done(ctx, aopen_read_submit(ctx, fd, got, 4096, 4, NULL, NULL), AOPEN_OP_READ), 6);
    CHECK_EQ(stats_of(ctx).inline_completions, inline0 + 1);
    close(fd);
    free(data);
    free(got);
    aopen_ctx_free(ctx);
    return 0;
}

/* A descriptor opened with O_DIRECT reads and writes through the library's buffers, which
 * are page-aligned, whatever the alignment of the caller's (here deliberately off by one). */
static int test_o_direct(void) {
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    const char *f = fast_path("direct.f");
    static char data[8192], got[4097];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7 + 3);
    make_file(f, "");
    int w = open(f, O_WRONLY | O_CLOEXEC);
    CHECK(write(w, data, sizeof data) == (ssize_t)sizeof data && fsync(w) == 0, "write");
    close(w);
    int fd = open(f, O_RDWR | O_DIRECT | O_CLOEXEC);
    if (fd < 0 && errno == EINVAL) {
        printf("skip O_DIRECT: the test directory's filesystem refuses it\n");
        aopen_ctx_free(ctx);
        return 0;
    }
    CHECK(fd >= 0, "open O_DIRECT: %s", strerror(errno));
    CHECK_EQ(done(ctx, aopen_read_submit(ctx, fd, got + 1, 4096, 4096, NULL, NULL), AOPEN_OP_READ), 4096);
    CHECK(memcmp(got + 1, data + 4096, 4096) == 0, "O_DIRECT read returned other bytes");
    memset(got, 'w', sizeof got);
    CHECK_EQ(done(ctx, aopen_write_submit(ctx, fd, got + 1, 4096, 0, NULL, NULL), AOPEN_OP_WRITE), 4096);
    close(fd);
    int r = open(f, O_RDONLY | O_CLOEXEC);
    CHECK(read(r, data, 4096) == 4096 && data[0] == 'w' && data[4095] == 'w', "the O_DIRECT write");
    close(r);
    aopen_ctx_free(ctx);
    return 0;
}

/* A cancelled read never touches its buffer, which the caller frees at once. (At the file
 * position, so that it queues behind the pinned worker instead of completing inline.) */
static int test_cancelled_read_never_writes(void) {
    long delay = require_shim();
    make_file(slow_path("s"), "x");
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    int64_t pin = aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL);
    CHECK(wait_stats(ctx, 1, 0, 5000), "the slow open never started");
    int fd = open(fast_path("rw.f"), O_RDONLY | O_CLOEXEC);
    unsigned char *buf = malloc(64);
    memset(buf, CANARY, 64);
    int64_t id = aopen_read_submit(ctx, fd, buf, 64, -1, NULL, NULL);
    CHECK_EQ(aopen_cancel(ctx, (uint64_t)id), 0);
    CHECK_EQ(done(ctx, id, AOPEN_OP_READ), -ECANCELED);
    for (int i = 0; i < 64; i++)
        CHECK(buf[i] == CANARY, "a cancelled read wrote byte %d", i);
    free(buf);
    CHECK_EQ(stats_of(ctx).buffer_bytes, 0);
    close(result_of(ctx, pin));
    CHECK(wait_stats(ctx, 0, 0, (int)delay + 5000), "the pool never went idle");
    close(fd);
    aopen_ctx_free(ctx);
    return 0;
}

/* The names in `len` bytes of linux_dirent64 records, counted into `seen` (a, b, c). */
static void count_names(const unsigned char *buf, int len, int seen[3]) {
    for (int off = 0; off < len;) {
        unsigned short reclen;
        memcpy(&reclen, buf + off + 16, sizeof reclen); /* d_ino(8) d_off(8) d_reclen(2) */
        const char *name = (const char *)buf + off + 19;  /* after d_type(1) */
        if (strlen(name) == 1 && name[0] >= 'a' && name[0] <= 'c')
            seen[name[0] - 'a']++;
        off += reclen;
    }
}

static int test_getdents(void) {
    aopen_ctx *ctx = new_ctx(2, 2, 0, 0);
    const char *d = fast_path("dents.d");
    mkdir(d, 0700);
    make_file(fast_path("dents.d/a"), "");
    make_file(fast_path("dents.d/b"), "");
    make_file(fast_path("dents.d/c"), "");
    int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    unsigned char buf[64]; /* small: the listing takes more than one call */
    int seen[3] = {0}, calls = 0, n;
    do {
        memset(buf, CANARY, sizeof buf);
        n = done(ctx, aopen_getdents_submit(ctx, dfd, buf, sizeof buf, NULL, NULL), AOPEN_OP_GETDENTS);
        CHECK(n >= 0, "getdents: %d", n);
        count_names(buf, n, seen);
        calls++;
    } while (n > 0 && calls < 100);
    CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1, "names seen %d %d %d", seen[0], seen[1], seen[2]);
    CHECK(calls >= 3, "a 64-byte buffer listed 5 entries in %d calls", calls);
    CHECK_EQ(aopen_getdents_submit(ctx, -1, buf, sizeof buf, NULL, NULL), -EBADF);
    CHECK_EQ(aopen_getdents_submit(ctx, dfd, NULL, 8, NULL, NULL), -EINVAL);
    int f = open(fast_path("dents.d/a"), O_RDONLY | O_CLOEXEC);
    CHECK_EQ(done(ctx, aopen_getdents_submit(ctx, f, buf, sizeof buf, NULL, NULL), AOPEN_OP_GETDENTS), -ENOTDIR);
    close(f);
    close(dfd);
    aopen_ctx_free(ctx);
    return 0;
}

/* aopen_read_nowait reads a cached local file on this thread, and says -EAGAIN for what is
 * not a local regular file. */
static int test_read_nowait(void) {
    aopen_ctx *ctx = new_ctx(1, 1, 0, 0);
    const char *f = fast_path("nowait.f");
    make_file(f, "cached bytes");
    int fd = open(f, O_RDONLY | O_CLOEXEC);
    char buf[32] = {0};
    int n = aopen_read_nowait(ctx, fd, buf, sizeof buf, 0);
    CHECK_EQ(n, 12);
    CHECK(memcmp(buf, "cached bytes", 12) == 0, "read_nowait: %s", buf);
    CHECK_EQ(aopen_read_nowait(ctx, fd, buf, 6, -1), 6); /* the file position */
    CHECK_EQ(aopen_read_nowait(ctx, fd, buf, 6, -1), 6);
    CHECK(memcmp(buf, " bytes", 6) == 0, "positional read_nowait");
    CHECK_EQ(aopen_read_nowait(ctx, fd, buf, sizeof buf, 100), 0); /* EOF */
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    CHECK_EQ(aopen_read_nowait(ctx, p[0], buf, sizeof buf, -1), -EAGAIN);
    close(p[0]);
    close(p[1]);
    CHECK_EQ(aopen_read_nowait(ctx, -1, buf, 1, 0), -EBADF);
    CHECK_EQ(aopen_read_nowait(ctx, fd, NULL, 1, 0), -EINVAL);
    CHECK_EQ(aopen_read_nowait(ctx, fd, buf, 1, -2), -EINVAL);
    CHECK_EQ(stats_of(ctx).submitted, 0);
    aopen_ctx_free(ctx);
    aopen_options o;
    memset(&o, 0, sizeof o);
    o.flags = AOPEN_OPT_NO_INLINE;
    CHECK_EQ(aopen_ctx_new(&o, &ctx), 0);
    CHECK_EQ(aopen_read_nowait(ctx, fd, buf, sizeof buf, 0), -EAGAIN);
    aopen_ctx_free(ctx);
    close(fd);
    return 0;
}

/* tmpfs refuses RWF_NOWAIT (EOPNOTSUPP) and keeps its files' data in memory: a read of a
 * tmpfs file at an offset completes inside the submit and in aopen_read_nowait (a plain
 * pread), with the bytes pread(2) returns, short at the end of the file. */
static int test_tmpfs_reads_inline(void) {
    struct statfs sfs;
    if (statfs("/dev/shm", &sfs) != 0 || sfs.f_type != TMPFS_MAGIC) {
        printf("skip tmpfs reads: /dev/shm is not a tmpfs\n");
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/aopen-fileops-%d", (int)getpid());
    make_file(path, "tmpfs holds this in memory");
    aopen_ctx *ctx;
    aopen_options o = {0};
    CHECK_EQ(aopen_ctx_new(&o, &ctx), 0);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open %s", path);
    char got[64] = {0};
    CHECK_EQ(aopen_read_nowait(ctx, fd, got, sizeof got, 6), 20);
    CHECK(memcmp(got, "holds this in memory", 20) == 0, "read_nowait: %.20s", got);
    memset(got, 0, sizeof got);
    uint64_t inline0 = stats_of(ctx).inline_completions;
    CHECK_EQ(done(ctx, aopen_read_submit(ctx, fd, got, 5, 0, NULL, NULL), AOPEN_OP_READ), 5);
    CHECK(memcmp(got, "tmpfs", 5) == 0, "read_submit: %.5s", got);
    CHECK_EQ(stats_of(ctx).inline_completions, inline0 + 1);
    close(fd);
    unlink(path);
    aopen_ctx_free(ctx);
    return 0;
}

int main(void) {
    umask(022);
    return test_each_call_does_what_it_says() || test_bad_input_is_refused_at_submit() ||
           test_cancelled_queued_calls_never_run() || test_stat_and_fstat() || test_cancelled_stat_never_writes() || test_read_and_write() ||
           test_buffer_budget() || test_cached_read_and_fstat_complete_inline() ||
           test_partly_cached_read_goes_to_a_worker() || test_o_direct() || test_cancelled_read_never_writes() || test_getdents() || test_read_nowait() ||
           test_tmpfs_reads_inline();
}
