/* aopen_stat_nowait: a stat the kernel can finish from its caches on a local filesystem
 * completes on the caller's thread with what a synchronous statx returns (following links or
 * not); an error from a local walk is returned as such; everything else is -EAGAIN at once
 * and writes nothing. It opens nothing of the caller's (an O_PATH look, closed by a raw
 * syscall), so it works the same under an LD_PRELOAD interposer of open/close: the test runs
 * under the slow-open shim. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static aopen_ctx *ctx;

/* The directory the local checks run in: the test directory (under /tmp), then one on a
 * tmpfs mounted elsewhere than "/" (/dev/shm), where the stat walks from "/" across a mount;
 * at(name) is a path in it (one of two buffers, so two can be in use at once). */
static char base[4096];
static int base_on_root; /* whether `base` is on the root mount */
static const char *at(const char *name) {
    static char bufs[2][8192];
    static int turn;
    char *b = bufs[turn ^= 1];
    snprintf(b, sizeof bufs[0], "%s/%s", base, name);
    return b;
}

/* aopen_stat_nowait(path, flags) and statx(path, flags) agree, field by field (or, with
 * `may_wait`, the stat is -EAGAIN and writes nothing). */
static void same_or_wait(const char *path, int flags, int may_wait) {
    struct statx want, got;
    memset(&got, 0xA5, sizeof got);
    CHECK(statx(AT_FDCWD, path, flags, STATX_BASIC_STATS | STATX_BTIME, &want) == 0, "statx %s", path);
    int rc = aopen_stat_nowait(ctx, path, flags, STATX_BASIC_STATS | STATX_BTIME, &got);
    if (may_wait && rc == -EAGAIN) {
        CHECK(((unsigned char *)&got)[0] == 0xA5, "written on -EAGAIN");
        return;
    }
    CHECK(rc == 0, "aopen_stat_nowait %s (flags %#x): %d", path, flags, rc);
    CHECK((got.stx_mask & want.stx_mask) == want.stx_mask, "mask %#x, statx's %#x", got.stx_mask, want.stx_mask);
    /* Every field statx answered, as statx answered it. */
#define SAME(field) CHECK_EQ(got.field, want.field)
    SAME(stx_mode); SAME(stx_ino); SAME(stx_nlink); SAME(stx_uid); SAME(stx_gid); SAME(stx_size);
    SAME(stx_blocks); SAME(stx_blksize); SAME(stx_dev_major); SAME(stx_dev_minor);
    SAME(stx_rdev_major); SAME(stx_rdev_minor);
    SAME(stx_atime.tv_sec); SAME(stx_atime.tv_nsec); SAME(stx_mtime.tv_sec); SAME(stx_mtime.tv_nsec);
    SAME(stx_ctime.tv_sec); SAME(stx_ctime.tv_nsec);
    if (want.stx_mask & STATX_BTIME) {
        SAME(stx_btime.tv_sec);
        SAME(stx_btime.tv_nsec);
    }
#undef SAME
}
static void same_as_statx(const char *path, int flags) { same_or_wait(path, flags, 0); }

/* Following a symlink from the caches alone fails (-EAGAIN) while the walk would update the
 * link's atime (relatime: an atime not after its ctime, or a day old), as a new link's is:
 * two ordinary walks through it, a moment apart, leave it one that needs no update. */
static void settle_link(const char *path) {
    struct stat st;
    for (int i = 0; i < 2; i++) {
        (void)stat(path, &st);
        sleep_ms(20);
    }
}

/* Files, directories, a FIFO and a device (never opened: an O_PATH look), symlinks followed
 * and not, absolute and relative paths: each as statx says. */
static int test_local_files(void) {
    int fds0 = count_fds();
    make_file(at("f"), "some bytes");
    CHECK(mkdir(at("d"), 0700) == 0, "mkdir");
    CHECK(mkfifo(at("fifo"), 0600) == 0, "mkfifo");
    CHECK(symlink("f", at("link")) == 0, "symlink");
    CHECK(symlink("d", at("dlink")) == 0, "symlink");
    settle_link(at("link"));
    settle_link(at("dlink"));
    const char *names[] = {"f", "d", "fifo", "link", "dlink"};
    for (int i = 0; i < 5; i++) {
        same_as_statx(at(names[i]), 0);
        same_as_statx(at(names[i]), AT_SYMLINK_NOFOLLOW);
    }
    struct statx st;
    CHECK_EQ(aopen_stat_nowait(ctx, at("link"), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st), 0);
    CHECK(S_ISLNK(st.stx_mode), "lstat of a link is the link: %o", st.stx_mode);
    CHECK_EQ(aopen_stat_nowait(ctx, at("link"), 0, STATX_BASIC_STATS, &st), 0);
    CHECK(S_ISREG(st.stx_mode), "stat of a link is its target: %o", st.stx_mode);
    /* A trailing slash follows a link to a directory even with AT_SYMLINK_NOFOLLOW (under
     * a mount other than "/", such a path through a symlink is left to the pool). */
    char slash[8300];
    snprintf(slash, sizeof slash, "%s/", at("dlink"));
    same_or_wait(slash, AT_SYMLINK_NOFOLLOW, !base_on_root);
    snprintf(slash, sizeof slash, "%s/", at("d"));
    same_as_statx(slash, AT_SYMLINK_NOFOLLOW);
    snprintf(slash, sizeof slash, "%s//f", base);
    same_as_statx(slash, 0);
    same_as_statx("/dev/null", 0); /* devtmpfs: a device, its driver never runs */
    same_as_statx("/", 0);
    same_as_statx(base, AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC);
    CHECK(chdir(base) == 0, "chdir");
    same_as_statx("f", 0);
    same_as_statx("link", AT_SYMLINK_NOFOLLOW);
    same_as_statx("./d/../f", 0);
    CHECK_EQ(count_fds(), fds0); /* every O_PATH descriptor closed */
    CHECK_EQ(aopen_wait(ctx, 0), 0); /* nothing queued */
    CHECK_EQ(stats_of(ctx).submitted, 0);
    return 0;
}

/* Errors of a walk on a local filesystem are the stat's; out is never written then. */
static int test_errors(void) {
    struct statx st, untouched;
    memset(&st, 0x5A, sizeof st);
    memcpy(&untouched, &st, sizeof st);
    /* A name never looked up may not be cached yet; once a lookup cached its absence, the
     * answer is -ENOENT. */
    int first = aopen_stat_nowait(ctx, at("missing"), 0, STATX_BASIC_STATS, &st);
    CHECK(first == -EAGAIN || first == -ENOENT, "uncached missing file: %d", first);
    CHECK(!file_exists(at("missing")), "stat");
    /* (tmpfs, as in /dev/shm, keeps no negative dentry: there it stays uncached) */
    int again = aopen_stat_nowait(ctx, at("missing"), 0, STATX_BASIC_STATS, &st);
    CHECK(again == -ENOENT || (!base_on_root && again == -EAGAIN), "cached missing file: %d", again);
    char under_file[4096];
    snprintf(under_file, sizeof under_file, "%s/x", at("f"));
    CHECK_EQ(aopen_stat_nowait(ctx, under_file, 0, STATX_BASIC_STATS, &st), -ENOTDIR);
    CHECK(symlink("loop", at("loop")) == 0, "symlink");
    settle_link(at("loop"));
    CHECK_EQ(aopen_stat_nowait(ctx, at("loop"), 0, STATX_BASIC_STATS, &st), -ELOOP);
    CHECK(memcmp(&st, &untouched, sizeof st) == 0, "out written on failure");
    CHECK_EQ(aopen_stat_nowait(ctx, at("loop"), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st), 0);
    CHECK(S_ISLNK(st.stx_mode), "the looping link itself");
    /* Bad arguments. */
    CHECK_EQ(aopen_stat_nowait(NULL, at("f"), 0, STATX_BASIC_STATS, &st), -EINVAL);
    CHECK_EQ(aopen_stat_nowait(ctx, NULL, 0, STATX_BASIC_STATS, &st), -EINVAL);
    CHECK_EQ(aopen_stat_nowait(ctx, at("f"), 0, STATX_BASIC_STATS, NULL), -EINVAL);
    static char long_path[8192];
    memset(long_path, 'a', sizeof long_path - 1);
    CHECK_EQ(aopen_stat_nowait(ctx, long_path, 0, STATX_BASIC_STATS, &st), -ENAMETOOLONG);
    return 0;
}

/* What the fast path leaves to the pool: -EAGAIN, nothing written, and the submitted stat
 * still answers. */
static int test_what_goes_to_the_pool(void) {
    struct statx st, untouched;
    memset(&st, 0x5A, sizeof st);
    memcpy(&untouched, &st, sizeof st);
    /* A symlink out of the directory's mount (to /proc): EXDEV inside, -EAGAIN out. */
    CHECK(symlink("/proc/self/status", at("out")) == 0, "symlink");
    CHECK_EQ(aopen_stat_nowait(ctx, at("out"), 0, STATX_BASIC_STATS, &st), -EAGAIN);
    /* Flags it does not take: the pool's (and the kernel's to check). */
    CHECK_EQ(aopen_stat_nowait(ctx, at("f"), AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &st), -EAGAIN);
    CHECK_EQ(aopen_stat_nowait(ctx, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &st), -EAGAIN);
    CHECK_EQ(aopen_stat_nowait(ctx, at("f"), 0x40000000, STATX_BASIC_STATS, &st), -EAGAIN);
    CHECK(memcmp(&st, &untouched, sizeof st) == 0, "out written by a refused stat");
    CHECK(aopen_stat_submit(ctx, at("out"), 0, STATX_BASIC_STATS, &st, NULL, NULL) > 0, "submit");
    aopen_completion c;
    CHECK(aopen_wait(ctx, 5000) == 1 && aopen_reap(ctx, &c, 1) == 1, "the stat completes");
    CHECK_EQ(c.result, 0);
    CHECK(S_ISREG(st.stx_mode), "through the link to /proc");
    /* No descriptor free for the walk's O_PATH look: EMFILE is no answer of statx's (which
     * needs none), so -EAGAIN, and the submitted stat answers. */
    fds_fill(0);
    int full = aopen_stat_nowait(ctx, at("f"), 0, STATX_BASIC_STATS, &st);
    int64_t sid = aopen_stat_submit(ctx, at("f"), 0, STATX_BASIC_STATS, &st, NULL, NULL);
    int waited = sid > 0 ? aopen_wait(ctx, 5000) : -1;
    int reaped = waited == 1 ? aopen_reap(ctx, &c, 1) : -1;
    fds_unfill();
    CHECK_EQ(full, -EAGAIN);
    CHECK(reaped == 1 && c.result == 0 && S_ISREG(st.stx_mode), "the submitted stat: id %lld, wait %d, result %d",
          (long long)sid, waited, reaped == 1 ? c.result : 0);
    /* AOPEN_OPT_NO_INLINE: never on the caller's thread. */
    aopen_options o;
    memset(&o, 0, sizeof o);
    o.flags = AOPEN_OPT_NO_INLINE;
    aopen_ctx *pool_only = NULL;
    CHECK_EQ(aopen_ctx_new(&o, &pool_only), 0);
    CHECK_EQ(aopen_stat_nowait(pool_only, at("f"), 0, STATX_BASIC_STATS, &st), -EAGAIN);
    aopen_ctx_free(pool_only);
    return 0;
}

/* A context inherited across fork is dead in the child. */
static int test_forked_child(void) {
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        struct statx st;
        _exit(aopen_stat_nowait(ctx, fast_path("f"), 0, STATX_BASIC_STATS, &st) == -ESHUTDOWN ? 0 : 1);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's stat_nowait did not return -ESHUTDOWN");
    return 0;
}

int main(void) {
    ctx = new_ctx(0, 0, 0, 0);
    if (under_valgrind()) {
        /* valgrind 3.19 does not know openat2 (it answers ENOSYS): every stat_nowait is then
         * -EAGAIN (submit it), with nothing written. */
        struct statx st;
        memset(&st, 0xA5, sizeof st);
        make_file(fast_path("v"), "x");
        CHECK_EQ(aopen_stat_nowait(ctx, fast_path("v"), 0, STATX_BASIC_STATS, &st), -EAGAIN);
        CHECK(((unsigned char *)&st)[0] == 0xA5, "written on -EAGAIN");
        aopen_ctx_free(ctx);
        SKIP("valgrind has no openat2: the rest needs the fast path");
    }
    /* The test directory is under /tmp, on a local filesystem. */
    snprintf(base, sizeof base, "%s", test_dir());
    base_on_root = 1;
    test_local_files();
    test_errors();
    /* A local filesystem mounted elsewhere than "/": /dev/shm, if a tmpfs of its own. */
    struct stat root_st, shm_st;
    if (stat("/", &root_st) == 0 && stat("/dev/shm", &shm_st) == 0 && shm_st.st_dev != root_st.st_dev &&
        access("/dev/shm", W_OK) == 0) {
        snprintf(base, sizeof base, "/dev/shm/aopen-stat-nowait.XXXXXX");
        CHECK(mkdtemp(base) != NULL, "mkdtemp %s", base);
        base_on_root = 0;
        test_local_files();
        test_errors();
        test_what_goes_to_the_pool();
        CHECK(chdir(test_dir()) == 0, "chdir");
        char cmd[8300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
        CHECK(system(cmd) == 0, "%s", cmd);
    } else {
        printf("(no writable /dev/shm of its own: the walk across a local mount is not checked)\n");
    }
    snprintf(base, sizeof base, "%s", test_dir());
    test_what_goes_to_the_pool();
    test_forked_child();
    aopen_ctx_free(ctx);
    return 0;
}
