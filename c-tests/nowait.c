/* aopen_open_nowait (and aopen_open_nowait_statx) and aopen_close_nowait: an open or close the kernel can finish from its
 * caches on a local filesystem completes on the caller's thread; everything else returns
 * -EAGAIN at once (and a close leaves the descriptor open). aopen_submit and aclose_submit
 * on a quiet context take the same fast path, and deliver its result like any other. Under an LD_PRELOAD interposer
 * of open/close (the slow-open shim) nothing goes inline: the test checks that first, then
 * re-executes itself without the shim for the rest. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "helpers.h"

static aopen_ctx *ctx;

/* One completion of `ctx`, waited for up to 5 s. */
static aopen_completion one_completion(aopen_ctx *c) {
    aopen_completion done;
    memset(&done, 0, sizeof done);
    done.result = -ETIME;
    if (aopen_wait(c, 5000) > 0)
        aopen_reap(c, &done, 1);
    return done;
}

static int test_interposed_never_inline(void) {
    int fd = open(fast_path("f"), O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open");
    CHECK_EQ(aopen_open_nowait(ctx, fast_path("f"), O_RDONLY, 0), -EAGAIN);
    CHECK_EQ(aopen_close_nowait(ctx, fd), -EAGAIN);
    CHECK(fcntl(fd, F_GETFD) >= 0, "a refused close leaves the descriptor open");
    CHECK(aclose_submit(ctx, fd, NULL, NULL) > 0, "aclose_submit");
    CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    for (int i = 0; i < 2; i++) {
        aopen_completion c = one_completion(ctx);
        CHECK(c.result >= 0, "completed on a worker: %d", c.result);
        if (c.op == AOPEN_OP_OPEN)
            close(c.result);
    }
    CHECK_EQ(stats_of(ctx).inline_completions, 0);
    return 0;
}

static int test_local_file_inline(void) {
    int fds0 = count_fds();
    int fd = aopen_open_nowait(ctx, fast_path("f"), O_RDONLY, 0);
    CHECK(fd >= 0, "open_nowait of a cached local file: %d", fd);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "O_CLOEXEC added");
    CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK), "O_NONBLOCK (used to probe) cleared");
    char c = 0;
    CHECK(read(fd, &c, 1) == 1 && c == 'x', "it is the file");
    CHECK_EQ(aopen_close_nowait(ctx, fd), 0);
    CHECK_EQ(count_fds(), fds0);
    /* A file on another local mount (tmpfs), if the machine has one at /dev/shm. */
    int shm = open("/dev/shm/aopen-nowait", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (shm >= 0) {
        close(shm);
        CHECK(file_exists("/dev/shm/aopen-nowait"), "stat");
        fd = aopen_open_nowait(ctx, "/dev/shm/aopen-nowait", O_RDONLY, 0);
        unlink("/dev/shm/aopen-nowait");
        CHECK(fd >= 0, "a cached file on tmpfs: %d", fd);
        CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK), "O_NONBLOCK cleared");
        CHECK_EQ(aopen_close_nowait(ctx, fd), 0);
    }
    /* aopen_open_nowait_statx: the same open, and the descriptor's statx (what an fstat
     * gives); nothing written when no descriptor is returned. */
    struct statx sx, untouched;
    memset(&sx, 0x5A, sizeof sx);
    memcpy(&untouched, &sx, sizeof sx);
    CHECK_EQ(aopen_open_nowait_statx(ctx, fast_path("f"), O_RDONLY, 0, NULL), -EINVAL);
    CHECK_EQ(aopen_open_nowait_statx(ctx, fast_path("f"), O_RDONLY | O_ASYNC, 0, &sx), -EAGAIN);
    CHECK(memcmp(&sx, &untouched, sizeof sx) == 0, "out written by a refused open");
    fd = aopen_open_nowait_statx(ctx, fast_path("f"), O_RDONLY, 0, &sx);
    CHECK(fd >= 0, "open_nowait_statx of a cached local file: %d", fd);
    CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK), "O_NONBLOCK cleared");
    struct stat want;
    CHECK(fstat(fd, &want) == 0, "fstat");
    CHECK((sx.stx_mask & STATX_BASIC_STATS) == STATX_BASIC_STATS, "mask %#x", sx.stx_mask);
    CHECK_EQ(sx.stx_mode, want.st_mode);
    CHECK_EQ(sx.stx_ino, want.st_ino);
    CHECK_EQ(sx.stx_size, want.st_size);
    CHECK_EQ(sx.stx_blksize, want.st_blksize);
    CHECK_EQ(makedev(sx.stx_dev_major, sx.stx_dev_minor), want.st_dev);
    CHECK_EQ(sx.stx_mtime.tv_nsec, want.st_mtim.tv_nsec);
    CHECK_EQ(aopen_close_nowait(ctx, fd), 0);
    CHECK_EQ(count_fds(), fds0);
    /* Relative to the working directory. */
    CHECK(chdir(test_dir()) == 0, "chdir");
    fd = aopen_open_nowait(ctx, "f", O_RDONLY, 0);
    CHECK(fd >= 0, "relative: %d", fd);
    CHECK_EQ(aopen_close_nowait(ctx, fd), 0);
    /* A name never looked up is not in the cache: the lookup would ask the filesystem. Once
     * a lookup has cached its absence, the open completes: the file is not there. */
    int first = aopen_open_nowait(ctx, fast_path("missing"), O_RDONLY, 0);
    CHECK(first == -EAGAIN || first == -ENOENT, "uncached missing file: %d", first);
    CHECK(!file_exists(fast_path("missing")), "stat");
    CHECK_EQ(aopen_open_nowait(ctx, fast_path("missing"), O_RDONLY, 0), -ENOENT);
    /* Nothing was queued: no completion, no request counted. */
    CHECK_EQ(aopen_wait(ctx, 0), 0);
    CHECK_EQ(stats_of(ctx).submitted, 0);
    return 0;
}

/* Whether `path` is on tmpfs or ramfs, whose files live in memory: there an open may create
 * or truncate on the caller's thread. */
static int in_memory(const char *path) {
    struct statfs sf;
    return statfs(path, &sf) == 0 && (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC);
}

/* An open that creates or truncates goes inline in a directory on tmpfs (/dev/shm, if the
 * machine has one there): it creates, truncates and answers EEXIST as open(2) does. */
static int test_create_in_memory(void) {
    if (!in_memory("/dev/shm"))
        return 0;
    char p[64];
    snprintf(p, sizeof p, "/dev/shm/aopen-nowait-create-%d", (int)getpid());
    int fd = aopen_open_nowait(ctx, p, O_WRONLY | O_CREAT | O_EXCL, 0640);
    CHECK(fd >= 0, "an O_CREAT on tmpfs, inline: %d", fd);
    struct stat sb;
    CHECK(fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode), "a regular file");
    CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK), "O_NONBLOCK cleared");
    CHECK(write(fd, "abc", 3) == 3, "write");
    CHECK_EQ(aopen_close_nowait(ctx, fd), 0);
    CHECK_EQ(aopen_open_nowait(ctx, p, O_WRONLY | O_CREAT | O_EXCL, 0640), -EEXIST);
    fd = aopen_open_nowait(ctx, p, O_RDWR | O_TRUNC, 0);
    CHECK(fd >= 0, "an O_TRUNC on tmpfs, inline: %d", fd);
    CHECK(fstat(fd, &sb) == 0 && sb.st_size == 0, "truncated");
    CHECK(write(fd, "abc", 3) == 3, "write");
    CHECK_EQ(aopen_close_nowait(ctx, fd), 0);
    /* aopen_submit on a quiet context takes the same way, and delivers its result. */
    uint64_t inline0 = stats_of(ctx).inline_completions;
    CHECK(aopen_submit(ctx, p, O_RDWR | O_TRUNC, 0, NULL, NULL) > 0, "submit");
    aopen_completion done = one_completion(ctx);
    CHECK(done.op == AOPEN_OP_OPEN && done.result >= 0, "a quiet O_TRUNC submit: %d", done.result);
    CHECK_EQ(stats_of(ctx).inline_completions, inline0 + 1);
    CHECK(fstat(done.result, &sb) == 0 && sb.st_size == 0, "truncated");
    CHECK(write(done.result, "abc", 3) == 3, "write");
    close(done.result);
    /* An aopen_submit the queue refuses (-EAGAIN: full) neither creates nor truncates. (A
     * quiet submit, which may take the same way, is admitted before it runs: another
     * thread's submit can fill the queue between the two.) */
    aopen_ctx *one = new_ctx(1, 1, 1, 0);
    CHECK(aopen_submit(one, p, O_RDONLY, 0, NULL, NULL) > 0, "submit"); /* (undelivered: the queue is full) */
    char q[80];
    snprintf(q, sizeof q, "%s.new", p);
    CHECK_EQ(aopen_submit(one, p, O_WRONLY | O_TRUNC, 0, NULL, NULL), -EAGAIN);
    CHECK_EQ(aopen_submit(one, q, O_WRONLY | O_CREAT, 0600, NULL, NULL), -EAGAIN);
    CHECK(stat(p, &sb) == 0 && sb.st_size == 3, "a refused O_TRUNC truncated the file");
    CHECK(!file_exists(q), "a refused O_CREAT created the file");
    aopen_completion c = one_completion(one);
    CHECK(c.op == AOPEN_OP_OPEN && c.result >= 0, "the first open: %d", c.result);
    close(c.result);
    CHECK(aopen_submit(one, p, O_WRONLY | O_TRUNC, 0, NULL, NULL) > 0, "with room, it runs");
    c = one_completion(one);
    CHECK(c.result >= 0 && stat(p, &sb) == 0 && sb.st_size == 0, "truncated: %d", c.result);
    close(c.result);
    aopen_ctx_free(one);
    unlink(p);
    return 0;
}

static int test_what_must_wait(void) {
    /* The kernel cannot create or truncate from its caches (but where the files live in
     * memory: test_create_in_memory). */
    if (!in_memory(test_dir())) {
        CHECK_EQ(aopen_open_nowait(ctx, fast_path("new"), O_WRONLY | O_CREAT, 0600), -EAGAIN);
        CHECK_EQ(aopen_open_nowait(ctx, fast_path("f"), O_WRONLY | O_TRUNC, 0), -EAGAIN);
        CHECK(!file_exists(fast_path("new")), "a punted O_CREAT created nothing");
    }
    CHECK_EQ(aopen_open_nowait(ctx, test_dir(), O_TMPFILE | O_RDWR, 0600), -EAGAIN);
    /* A symlink out of the directory's mount (to /proc): EXDEV inside, -EAGAIN out. */
    CHECK(symlink("/proc/self/status", fast_path("out")) == 0, "symlink");
    CHECK_EQ(aopen_open_nowait(ctx, fast_path("out"), O_RDONLY, 0), -EAGAIN);
    /* A descriptor that is not a local file (a pipe) is not closed inline. */
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    CHECK_EQ(aopen_close_nowait(ctx, p[0]), -EAGAIN);
    CHECK(fcntl(p[0], F_GETFD) >= 0, "still open");
    close(p[0]);
    close(p[1]);
    /* Only regular files and directories: a FIFO's open would wait for a writer, a device's
     * open and close run its driver. Neither blocks here, and neither is opened at all: the
     * fast path looks at what a path is through an O_PATH descriptor (a probing open would
     * wake a FIFO's peer, and run a device's driver). */
    CHECK(mkfifo(fast_path("fifo"), 0600) == 0, "mkfifo");
    CHECK(!file_exists(fast_path("nothing")) && file_exists(fast_path("fifo")), "stat");
    int fds0 = count_fds();
    uint64_t owed0 = stats_of(ctx).owed_closes;
    double t0 = now_ms();
    CHECK_EQ(aopen_open_nowait(ctx, fast_path("fifo"), O_RDONLY, 0), -EAGAIN);
    CHECK_EQ(aopen_open_nowait(ctx, "/dev/null", O_RDONLY, 0), -EAGAIN);
    /* An open of the FIFO would block forever (no writer); 1 s allows for valgrind. */
    CHECK(now_ms() - t0 < 1000, "the fast path blocked %.0f ms", now_ms() - t0);
    CHECK_EQ(count_fds(), fds0);
    /* A FIFO's write end with no reader: -ENXIO would be O_NONBLOCK's answer; a blocking open
     * waits for a reader, so it goes to the pool. */
    CHECK_EQ(aopen_open_nowait(ctx, fast_path("fifo"), O_WRONLY, 0), -EAGAIN);
    CHECK_EQ(stats_of(ctx).owed_closes, owed0); /* nothing was opened to close */
    int dev = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK_EQ(aopen_close_nowait(ctx, dev), -EAGAIN);
    close(dev);
    /* Submitted, the write end waits on a worker for a reader, as open(2) would. */
    int64_t w = aopen_submit(ctx, fast_path("fifo"), O_WRONLY, 0, NULL, NULL);
    CHECK(w > 0, "submit");
    CHECK(wait_stats(ctx, 1, 0, 5000), "the FIFO open never started");
    CHECK_EQ(aopen_ctx_fd(ctx) >= 0 && !readable(aopen_ctx_fd(ctx)), 1);
    int reader = open(fast_path("fifo"), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(reader >= 0, "open the reader");
    int writer = result_of(ctx, w);
    CHECK(writer >= 0, "the FIFO's write end: %d", writer);
    close(writer);
    close(reader);
    CHECK_EQ(aopen_close_nowait(ctx, -1), -EBADF);
    CHECK_EQ(aopen_close_nowait(ctx, 1000000), -EBADF);
    CHECK_EQ(aopen_open_nowait(NULL, fast_path("f"), O_RDONLY, 0), -EINVAL);
    CHECK_EQ(aopen_open_nowait(ctx, NULL, O_RDONLY, 0), -EINVAL);
    return 0;
}

static int called;
static void count_call(const aopen_completion *c) {
    (void)c;
    called++;
}

/* aopen_submit / aclose_submit on a quiet context take the fast path: the call completes in
 * submit, and is delivered like any other (eventfd, then dispatch or reap), never inside
 * submit. What the fast path must not do goes to the pool and still completes. */
static int test_submit_inline(void) {
    uint64_t inline0 = stats_of(ctx).inline_completions;
    called = 0;
    CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, count_call, NULL) > 0, "submit");
    CHECK_EQ(called, 0);
    CHECK_EQ(stats_of(ctx).inline_completions, inline0 + 1);
    CHECK_EQ(aopen_wait(ctx, 0), 1);
    CHECK_EQ(aopen_dispatch(ctx, 0), 1);
    CHECK_EQ(called, 1);
    CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    aopen_completion c = one_completion(ctx);
    CHECK(c.op == AOPEN_OP_OPEN && c.result >= 0, "inline open delivered: %d", c.result);
    CHECK(!(fcntl(c.result, F_GETFL) & O_NONBLOCK), "O_NONBLOCK cleared");
    CHECK(aclose_submit(ctx, c.result, NULL, NULL) > 0, "aclose_submit");
    c = one_completion(ctx);
    CHECK(c.op == AOPEN_OP_CLOSE && c.result == 0, "inline close delivered: %d", c.result);
    CHECK_EQ(stats_of(ctx).inline_completions, inline0 + 3);
    /* Punted: creating, truncating (where the files do not live in memory), and a symlink
     * out of the mount (EXDEV) go to the pool. */
    const char *punted[] = {fast_path("created"), fast_path("f"), fast_path("out")};
    int flags[] = {O_WRONLY | O_CREAT, O_WRONLY | O_TRUNC, O_RDONLY};
    for (int i = in_memory(test_dir()) ? 2 : 0; i < 3; i++) {
        CHECK(aopen_submit(ctx, punted[i], flags[i], 0600, NULL, NULL) > 0, "submit %s", punted[i]);
        c = one_completion(ctx);
        CHECK(c.result >= 0, "%s completes on a worker: %d", punted[i], c.result);
        close(c.result);
        CHECK_EQ(stats_of(ctx).inline_completions, inline0 + 3);
    }
    make_file(fast_path("f"), "x");
    return 0;
}

/* A writer that opens the FIFO (waiting for a reader), writes and goes. */
static int writer_opened;
static void *fifo_writer(void *path) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    __atomic_store_n(&writer_opened, 1, __ATOMIC_SEQ_CST);
    if (fd >= 0) {
        if (write(fd, "through the pipe", 16) != 16)
            perror("write");
        close(fd);
    }
    return NULL;
}

/* A FIFO opened through the library keeps FIFO semantics: with a writer waiting in its own
 * open, the read end pairs with it and gets its data. (A probing open on the fast path
 * used to wake the writer, which wrote into a pipe the probe's close then destroyed, and
 * the real open waited for a writer that never came.) */
static int test_fifo_pairs_with_a_waiting_writer(void) {
    const char *fifo = fast_path("fifo2");
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fifo_writer, (void *)fifo) == 0, "pthread_create");
    sleep_ms(50); /* for the writer to reach open(2): nothing exposes that it waits there */
    CHECK_EQ(aopen_open_nowait(ctx, fifo, O_RDONLY, 0), -EAGAIN);
    sleep_ms(100); /* time for a wrongly woken writer to open: that it does not is the check */
    CHECK(!__atomic_load_n(&writer_opened, __ATOMIC_SEQ_CST), "the fast path's look at the FIFO woke its writer");
    int fd = result_of(ctx, aopen_submit(ctx, fifo, O_RDONLY, 0, NULL, NULL));
    CHECK(fd >= 0, "open the FIFO: %d", fd);
    char buf[32] = {0};
    CHECK_EQ(read(fd, buf, sizeof buf), 16);
    CHECK(memcmp(buf, "through the pipe", 16) == 0, "read %s", buf);
    close(fd);
    pthread_join(t, NULL);
    return 0;
}

/* The same behind a symlink made just now on tmpfs, opened with O_CREAT (the tmpfs way of an
 * open that may create): the symlink's first walk is no cached walk (its access time is due),
 * and must not be taken for a missing name, whose open would run unprobed and wake the
 * writer. */
static int test_fifo_behind_a_new_symlink_in_memory(void) {
    if (!in_memory("/dev/shm"))
        return 0;
    char fifo[64], link[64];
    snprintf(fifo, sizeof fifo, "/dev/shm/aopen-nowait-fifo-%d", (int)getpid());
    snprintf(link, sizeof link, "/dev/shm/aopen-nowait-link-%d", (int)getpid());
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    CHECK(symlink(strrchr(fifo, '/') + 1, link) == 0, "symlink");
    signal(SIGPIPE, SIG_IGN); /* (a wrongly woken writer's write fails, not the test) */
    __atomic_store_n(&writer_opened, 0, __ATOMIC_SEQ_CST);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fifo_writer, (void *)fifo) == 0, "pthread_create");
    sleep_ms(50);
    CHECK_EQ(aopen_open_nowait(ctx, link, O_RDONLY | O_CREAT, 0600), -EAGAIN);
    sleep_ms(100);
    CHECK(!__atomic_load_n(&writer_opened, __ATOMIC_SEQ_CST), "an inline O_CREAT through the symlink woke the writer");
    int fd = open(fifo, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open the FIFO");
    char buf[32] = {0};
    CHECK_EQ(read(fd, buf, sizeof buf), 16);
    close(fd);
    pthread_join(t, NULL);
    unlink(link);
    unlink(fifo);
    return 0;
}

static int test_no_inline_option(void) {
    aopen_options o;
    memset(&o, 0, sizeof o);
    o.flags = AOPEN_OPT_NO_INLINE;
    aopen_ctx *pool_only = NULL;
    CHECK_EQ(aopen_ctx_new(&o, &pool_only), 0);
    CHECK_EQ(aopen_open_nowait(pool_only, fast_path("f"), O_RDONLY, 0), -EAGAIN);
    int fd = open(fast_path("f"), O_RDONLY | O_CLOEXEC);
    CHECK_EQ(aopen_close_nowait(pool_only, fd), -EAGAIN);
    close(fd);
    CHECK(aopen_submit(pool_only, fast_path("f"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    aopen_completion c = one_completion(pool_only);
    CHECK(c.result >= 0, "open on a worker: %d", c.result);
    close(c.result);
    CHECK_EQ(stats_of(pool_only).inline_completions, 0);
    aopen_ctx_free(pool_only);
    return 0;
}

/* One descriptor free: open(2) succeeds, so the fast path, whose own O_PATH descriptors
 * would leave its open none, answers a descriptor or -EAGAIN (the pool's open decides),
 * never -EMFILE; on a local file whose name is cached (the probe skipped) and an uncached
 * path alike. */
static int test_one_descriptor_free(void) {
    const char *paths[] = {fast_path("f"), "/dev/shm/aopen-nowait-one"};
    int shm = open(paths[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    int n = shm >= 0 ? 2 : 1;
    if (shm >= 0)
        close(shm);
    for (int i = 0; i < n; i++) {
        int fd = aopen_open_nowait(ctx, paths[i], O_RDONLY, 0); /* (found plain: probe skipped next) */
        CHECK(fd >= 0, "open_nowait %s: %d", paths[i], fd);
        close(fd);
        fds_fill(1);
        int got = aopen_open_nowait(ctx, paths[i], O_RDONLY, 0);
        int sys = got >= 0 ? -1 : open(paths[i], O_RDONLY | O_CLOEXEC);
        if (got >= 0)
            close(got);
        if (sys >= 0)
            close(sys);
        fds_unfill();
        CHECK(got >= 0 || got == -EAGAIN, "open_nowait %s with one descriptor free: %d (open(2): %d)", paths[i], got,
              sys);
    }
    if (shm >= 0)
        unlink(paths[1]);
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    make_file(fast_path("f"), "x");
    ctx = new_ctx(0, 0, 0, 0);
    if (getenv("LD_PRELOAD") != NULL) {
        test_interposed_never_inline();
        aopen_ctx_free(ctx);
        without_preload(argv);
    }
    if (open_close_interposed())
        SKIP("open or close is interposed even without LD_PRELOAD (a sanitizer runtime?): "
             "the library rightly never goes inline");
    /* The test directory is under /tmp, on a local filesystem. */
    test_local_file_inline();
    test_what_must_wait();
    test_create_in_memory();
    test_submit_inline();
    test_fifo_pairs_with_a_waiting_writer();
    test_fifo_behind_a_new_symlink_in_memory();
    test_no_inline_option();
    test_one_descriptor_free();
    aopen_ctx_free(ctx);
    return 0;
}
