/* The metadata, link and copy calls and aopen_call_submit on local files: each result is
 * what the synchronous call returns for the same input (successes and errors: ENOENT,
 * EEXIST, EINVAL, and EACCES / EPERM as an unprivileged user), what they change is what the
 * synchronous call changes, and output buffers are written only with a successful result
 * (a readlink never past what it reports). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

/* 0 or -errno of a synchronous call returning 0 / -1. */
static int sync_rc(long r) { return r < 0 ? -errno : (int)r; }

/* The result of one request just submitted as `id`. */
static int lib(aopen_ctx *ctx, int64_t id) { return result_of(ctx, id); }

/* The library's result must be the synchronous call's. */
#define SAME(libcall, synccall)                                                             \
    do {                                                                                    \
        int s_ = sync_rc(synccall);                                                         \
        int l_ = lib(ctx, libcall);                                                         \
        CHECK(l_ == s_, "%s = %d, the syscall (%s) gives %d", #libcall, l_, #synccall, s_); \
    } while (0)

static const char *p(const char *name) { return fast_path(name); }

static int test_links(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    make_file(p("file"), "hello");
    /* symlink: created, then EEXIST; the twin made synchronously. */
    SAME(aopen_symlink_submit(ctx, "some/target", p("l1"), NULL, NULL), symlink("some/target", p("l2")));
    SAME(aopen_symlink_submit(ctx, "x", p("l1"), NULL, NULL), symlink("x", p("l2")));
    SAME(aopen_symlink_submit(ctx, "x", p("missing/l"), NULL, NULL), symlink("x", p("missing/l")));
    /* readlink: the whole target, a truncated one, errors; nothing past the result written. */
    char buf[64], want[64];
    for (size_t len = 1; len <= 20; len += 3) {
        memset(buf, 0x5a, sizeof buf);
        int r = lib(ctx, aopen_readlink_submit(ctx, p("l1"), buf, len, NULL, NULL));
        long w = readlink(p("l2"), want, len);
        CHECK_EQ(r, w);
        CHECK(memcmp(buf, want, (size_t)r) == 0, "readlink bytes differ");
        for (size_t i = (size_t)r; i < sizeof buf; i++)
            CHECK(buf[i] == 0x5a, "readlink of %zu wrote byte %zu past its result %d", len, i, r);
    }
    memset(buf, 0x5a, sizeof buf);
    SAME(aopen_readlink_submit(ctx, p("file"), buf, sizeof buf, NULL, NULL), readlink(p("file"), want, sizeof want));
    SAME(aopen_readlink_submit(ctx, p("nope"), buf, sizeof buf, NULL, NULL), readlink(p("nope"), want, sizeof want));
    CHECK(buf[0] == 0x5a, "a failed readlink wrote its buffer");
    CHECK_EQ(aopen_readlink_submit(ctx, NULL, buf, 1, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_readlink_submit(ctx, p("l1"), NULL, 1, NULL, NULL), -EINVAL);
    /* link: made, then EEXIST, ENOENT; following a symlink or not. */
    SAME(aopen_link_submit(ctx, p("file"), p("h1"), 0, NULL, NULL), link(p("file"), p("h2")));
    SAME(aopen_link_submit(ctx, p("file"), p("h1"), 0, NULL, NULL), link(p("file"), p("h2")));
    SAME(aopen_link_submit(ctx, p("nope"), p("h3"), 0, NULL, NULL), link(p("nope"), p("h4")));
    SAME(aopen_link_submit(ctx, p("l1"), p("h5"), 0, NULL, NULL), linkat(AT_FDCWD, p("l2"), AT_FDCWD, p("h6"), 0));
    SAME(aopen_link_submit(ctx, p("l1"), p("h7"), AT_SYMLINK_FOLLOW, NULL, NULL),
         linkat(AT_FDCWD, p("l2"), AT_FDCWD, p("h8"), AT_SYMLINK_FOLLOW)); /* dangling: ENOENT */
    SAME(aopen_link_submit(ctx, p("file"), p("h9"), 0x4000, NULL, NULL),
         linkat(AT_FDCWD, p("file"), AT_FDCWD, p("h10"), 0x4000)); /* a bad flag: EINVAL */
    struct stat a, b;
    CHECK(lstat(p("h1"), &a) == 0 && stat(p("file"), &b) == 0 && a.st_ino == b.st_ino && b.st_nlink == 3,
          "the hard links are not the file");
    CHECK(lstat(p("h5"), &a) == 0 && S_ISLNK(a.st_mode), "a link of a symlink without FOLLOW is the symlink");
    aopen_ctx_free(ctx);
    return 0;
}

static int test_access_and_statfs(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    make_file(p("acc"), "x");
    chmod(p("acc"), 0400);
    int modes[] = {F_OK, R_OK, W_OK, X_OK, R_OK | W_OK, 0x40 /* bad: EINVAL */};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        SAME(aopen_access_submit(ctx, p("acc"), modes[i], 0, NULL, NULL),
             syscall(SYS_faccessat2, AT_FDCWD, p("acc"), modes[i], 0));
        SAME(aopen_access_submit(ctx, p("acc"), modes[i], AT_EACCESS, NULL, NULL),
             syscall(SYS_faccessat2, AT_FDCWD, p("acc"), modes[i], AT_EACCESS));
    }
    SAME(aopen_access_submit(ctx, p("nope"), F_OK, 0, NULL, NULL), access(p("nope"), F_OK));
    SAME(aopen_access_submit(ctx, p("acc/below"), F_OK, 0, NULL, NULL), access(p("acc/below"), F_OK));

    struct statfs got, want;
    memset(&got, 0x5a, sizeof got);
    SAME(aopen_statfs_submit(ctx, test_dir(), &got, NULL, NULL), statfs(test_dir(), &want));
    CHECK(got.f_type == want.f_type && got.f_bsize == want.f_bsize && got.f_namelen == want.f_namelen &&
              got.f_frsize == want.f_frsize && got.f_blocks == want.f_blocks &&
              memcmp(&got.f_fsid, &want.f_fsid, sizeof got.f_fsid) == 0 && got.f_flags == want.f_flags,
          "statfs fields differ");
    memset(&got, 0x5a, sizeof got);
    SAME(aopen_statfs_submit(ctx, p("nope"), &got, NULL, NULL), statfs(p("nope"), &want));
    CHECK(((unsigned char *)&got)[0] == 0x5a, "a failed statfs wrote its output");
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    SAME(aopen_fstatfs_submit(ctx, fd, &got, NULL, NULL), fstatfs(fd, &want));
    CHECK(got.f_type == want.f_type, "fstatfs type %lx, syscall %lx", (long)got.f_type, (long)want.f_type);
    close(fd);
    CHECK_EQ(aopen_fstatfs_submit(ctx, -1, &got, NULL, NULL), -EBADF);
    CHECK_EQ(aopen_statfs_submit(ctx, test_dir(), NULL, NULL, NULL), -EINVAL);
    aopen_ctx_free(ctx);
    return 0;
}

static int test_modes_owners_times(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    make_file(p("m"), "x");
    struct stat st;
    SAME(aopen_chmod_submit(ctx, p("m"), 0640, NULL, NULL), chmod(p("m"), 0640));
    CHECK(stat(p("m"), &st) == 0 && (st.st_mode & 07777) == 0640, "chmod: mode %o", st.st_mode & 07777);
    SAME(aopen_chmod_submit(ctx, p("nope"), 0640, NULL, NULL), chmod(p("nope"), 0640));
    int fd = open(p("m"), O_RDWR | O_CLOEXEC);
    SAME(aopen_fchmod_submit(ctx, fd, 0604, NULL, NULL), fchmod(fd, 0604));
    CHECK(stat(p("m"), &st) == 0 && (st.st_mode & 07777) == 0604, "fchmod: mode %o", st.st_mode & 07777);

    SAME(aopen_chown_submit(ctx, p("m"), 12, 34, 0, NULL, NULL), chown(p("m"), 12, 34));
    CHECK(stat(p("m"), &st) == 0 && st.st_uid == 12 && st.st_gid == 34, "chown: %d:%d", st.st_uid, st.st_gid);
    SAME(aopen_fchown_submit(ctx, fd, (uid_t)-1, 56, NULL, NULL), fchown(fd, (uid_t)-1, 56));
    CHECK(stat(p("m"), &st) == 0 && st.st_uid == 12 && st.st_gid == 56, "fchown: %d:%d", st.st_uid, st.st_gid);
    symlink(p("m"), p("ml"));
    SAME(aopen_chown_submit(ctx, p("ml"), 7, 8, AT_SYMLINK_NOFOLLOW, NULL, NULL),
         fchownat(AT_FDCWD, p("ml"), 7, 8, AT_SYMLINK_NOFOLLOW));
    CHECK(lstat(p("ml"), &st) == 0 && st.st_uid == 7 && stat(p("m"), &st) == 0 && st.st_uid == 12,
          "chown NOFOLLOW changed the target");
    SAME(aopen_chown_submit(ctx, p("nope"), 1, 1, 0, NULL, NULL), chown(p("nope"), 1, 1));

    struct timespec ts[2] = {{1000, 5}, {2000, 7}};
    SAME(aopen_utimens_submit(ctx, p("m"), ts, 0, NULL, NULL), utimensat(AT_FDCWD, p("m"), ts, 0));
    CHECK(stat(p("m"), &st) == 0 && st.st_atim.tv_sec == 1000 && st.st_mtim.tv_sec == 2000 &&
              st.st_mtim.tv_nsec == 7,
          "utimens: %ld %ld", (long)st.st_atim.tv_sec, (long)st.st_mtim.tv_sec);
    struct timespec omit[2] = {{0, UTIME_OMIT}, {3000, 0}};
    SAME(aopen_futimens_submit(ctx, fd, omit, NULL, NULL), futimens(fd, omit));
    CHECK(stat(p("m"), &st) == 0 && st.st_atim.tv_sec == 1000 && st.st_mtim.tv_sec == 3000, "futimens OMIT");
    time_t before = time(NULL);
    SAME(aopen_utimens_submit(ctx, p("m"), NULL, 0, NULL, NULL), utimensat(AT_FDCWD, p("m"), NULL, 0));
    CHECK(stat(p("m"), &st) == 0 && st.st_mtim.tv_sec >= before, "utimens NULL is now");
    struct timespec bad[2] = {{0, 2000000000}, {0, 0}};
    SAME(aopen_utimens_submit(ctx, p("m"), bad, 0, NULL, NULL), utimensat(AT_FDCWD, p("m"), bad, 0));
    SAME(aopen_utimens_submit(ctx, p("nope"), NULL, 0, NULL, NULL), utimensat(AT_FDCWD, p("nope"), NULL, 0));
    close(fd);
    aopen_ctx_free(ctx);
    return 0;
}

static int test_allocation_and_copies(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    int fd = open(p("alloc"), O_RDWR | O_CREAT | O_CLOEXEC, 0600), twin = open(p("alloc2"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    SAME(aopen_fallocate_submit(ctx, fd, 0, 0, 65536, NULL, NULL), fallocate(twin, 0, 0, 65536));
    SAME(aopen_fallocate_submit(ctx, fd, FALLOC_FL_KEEP_SIZE, 65536, 65536, NULL, NULL),
         fallocate(twin, FALLOC_FL_KEEP_SIZE, 65536, 65536));
    SAME(aopen_fallocate_submit(ctx, fd, 0x7000, 0, 10, NULL, NULL), fallocate(twin, 0x7000, 0, 10));
    struct stat a, b;
    CHECK(fstat(fd, &a) == 0 && fstat(twin, &b) == 0 && a.st_size == 65536 && a.st_size == b.st_size &&
              a.st_blocks == b.st_blocks,
          "fallocate: size %lld blocks %lld, twin %lld %lld", (long long)a.st_size, (long long)a.st_blocks,
          (long long)b.st_size, (long long)b.st_blocks);
    CHECK_EQ(aopen_fallocate_submit(ctx, fd, 0, 0, 0, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_fallocate_submit(ctx, -1, 0, 0, 1, NULL, NULL), -EBADF);
    close(twin);

    /* copy_file_range: at offsets, and at both file positions (advanced like the twin's). */
    char src[8192];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (char)(i * 7 + 1);
    int in = open(p("src"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHECK_EQ(write(in, src, sizeof src), (long)sizeof src);
    int out = open(p("dst"), O_RDWR | O_CREAT | O_CLOEXEC, 0600), out2 = open(p("dst2"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int in2 = open(p("src"), O_RDONLY | O_CLOEXEC);
    loff_t oi = 100, oo = 5;
    SAME(aopen_copy_file_range_submit(ctx, in, 100, out, 5, 3000, 0, NULL, NULL),
         copy_file_range(in2, &oi, out2, &oo, 3000, 0));
    lseek(in, 7000, SEEK_SET), lseek(in2, 7000, SEEK_SET);
    SAME(aopen_copy_file_range_submit(ctx, in, -1, out, -1, 5000, 0, NULL, NULL),
         copy_file_range(in2, NULL, out2, NULL, 5000, 0)); /* short: 1192 left */
    CHECK_EQ(lseek(in, 0, SEEK_CUR), lseek(in2, 0, SEEK_CUR));
    CHECK_EQ(lseek(out, 0, SEEK_CUR), lseek(out2, 0, SEEK_CUR));
    SAME(aopen_copy_file_range_submit(ctx, in, -1, out, -1, 10, 0, NULL, NULL),
         copy_file_range(in2, NULL, out2, NULL, 10, 0)); /* at the end: 0 */
    SAME(aopen_copy_file_range_submit(ctx, in, 0, out, 0, 10, 1, NULL, NULL),
         copy_file_range(in2, &oi, out2, &oo, 10, 1)); /* a bad flag */
    char got[16384], want[16384];
    long gn = pread(out, got, sizeof got, 0), wn = pread(out2, want, sizeof want, 0);
    CHECK(gn == wn && memcmp(got, want, (size_t)gn) == 0, "copies differ (%ld, %ld bytes)", gn, wn);
    CHECK_EQ(aopen_copy_file_range_submit(ctx, in, -2, out, 0, 1, 0, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_copy_file_range_submit(ctx, -1, 0, out, 0, 1, 0, NULL, NULL), -EBADF);

    /* sendfile: into a pipe, at an offset and at the file position. */
    int pipefd[2];
    CHECK(pipe2(pipefd, O_CLOEXEC) == 0, "pipe");
    CHECK_EQ(lib(ctx, aopen_sendfile_submit(ctx, pipefd[1], in, 1000, 500, NULL, NULL)), 500);
    char pbuf[600];
    CHECK_EQ(read(pipefd[0], pbuf, sizeof pbuf), 500);
    CHECK(memcmp(pbuf, src + 1000, 500) == 0, "sendfile at an offset: wrong bytes");
    lseek(in, 8000, SEEK_SET);
    CHECK_EQ(lib(ctx, aopen_sendfile_submit(ctx, pipefd[1], in, -1, 500, NULL, NULL)), 192);
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 8192);
    CHECK_EQ(read(pipefd[0], pbuf, sizeof pbuf), 192);
    CHECK(memcmp(pbuf, src + 8000, 192) == 0, "sendfile at the position: wrong bytes");
    SAME(aopen_sendfile_submit(ctx, pipefd[0], in, 0, 10, NULL, NULL), sendfile(pipefd[0], in, NULL, 10));
    CHECK_EQ(aopen_sendfile_submit(ctx, pipefd[1], in, -5, 1, NULL, NULL), -EINVAL);
    close(pipefd[0]), close(pipefd[1]), close(in), close(in2), close(out), close(out2), close(fd);
    aopen_ctx_free(ctx);
    return 0;
}

static long caller_tid;
static int call_ran_on;
static int on_worker(void *arg) {
    call_ran_on = (int)syscall(SYS_gettid);
    return *(int *)arg;
}

static int test_call(void) {
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    caller_tid = syscall(SYS_gettid);
    int v = 42;
    CHECK_EQ(lib(ctx, aopen_call_submit(ctx, on_worker, &v, p("."), -1, NULL, NULL)), 42);
    CHECK(call_ran_on != 0 && call_ran_on != caller_tid, "the function ran on the caller's thread");
    v = -ENOSPC;
    CHECK_EQ(lib(ctx, aopen_call_submit(ctx, on_worker, &v, NULL, 0, NULL, NULL)), -ENOSPC);
    CHECK_EQ(lib(ctx, aopen_call_submit(ctx, on_worker, &v, NULL, -1, NULL, NULL)), -ENOSPC);
    CHECK_EQ(aopen_call_submit(ctx, NULL, &v, NULL, -1, NULL, NULL), -EINVAL);
    CHECK_EQ(aopen_call_submit(NULL, on_worker, &v, NULL, -1, NULL, NULL), -EINVAL);
    aopen_ctx_free(ctx);
    return 0;
}

/* As an unprivileged user (a child that dropped root): the permission errors match. */
static int test_unprivileged(void) {
    if (geteuid() != 0)
        return 0; /* already unprivileged: the cases above ran as such */
    make_file(p("root-only"), "x");
    chmod(p("root-only"), 0600);
    chmod(test_dir(), 0755);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(3);
        aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
        SAME(aopen_access_submit(ctx, p("root-only"), R_OK, 0, NULL, NULL), access(p("root-only"), R_OK));
        SAME(aopen_chmod_submit(ctx, p("root-only"), 0666, NULL, NULL), chmod(p("root-only"), 0666));
        SAME(aopen_chown_submit(ctx, p("root-only"), 65534, 65534, 0, NULL, NULL), chown(p("root-only"), 65534, 65534));
        struct timespec ts[2] = {{1, 0}, {1, 0}};
        SAME(aopen_utimens_submit(ctx, p("root-only"), ts, 0, NULL, NULL), utimensat(AT_FDCWD, p("root-only"), ts, 0));
        SAME(aopen_symlink_submit(ctx, "x", p("nobody-link"), NULL, NULL), symlink("x", p("nobody-link2")));
        SAME(aopen_link_submit(ctx, p("root-only"), p("nobody-hard"), 0, NULL, NULL),
             link(p("root-only"), p("nobody-hard2")));
        aopen_ctx_free(ctx);
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the unprivileged cases failed (status %d)", status);
    return 0;
}

int main(int argc, char **argv) {
    (void)argc;
    without_preload(argv);
    test_links();
    test_access_and_statfs();
    test_modes_owners_times();
    test_allocation_and_copies();
    test_call();
    test_unprivileged();
    return 0;
}
