/* The fast path never runs on a real hung FUSE mount (hangfs): aopen_open_nowait of a file
 * whose open hangs, reached directly or through a symlink from the local test directory,
 * returns -EAGAIN at once and the daemon sees no open; aopen_stat_nowait of a file whose
 * lookup and getattr hang, of the mount's root and through a symlink, returns -EAGAIN at once
 * and the daemon sees no getattr; aopen_close_nowait of a FUSE
 * descriptor returns -EAGAIN and leaves it open (its close would flush). aopen_submit of the
 * hung open returns at once and the open waits on a worker, never inline. Runs without the
 * slow-open shim, which would turn the fast path off. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

int main(int argc, char **argv) {
    (void)argc;
    without_preload(argv);
    struct hangfs *fs = hangfs_mount("hang");
    make_file(fast_path("local"), "x");
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    CHECK(symlink(hangfs_path(fs, "open/f"), fast_path("link")) == 0, "symlink: %s", strerror(errno));
    double t0 = now_ms();
    int direct = aopen_open_nowait(ctx, hangfs_path(fs, "open/f"), O_RDONLY, 0);
    int via_link = aopen_open_nowait(ctx, fast_path("link"), O_RDONLY, 0);
    int healthy = aopen_open_nowait(ctx, hangfs_path(fs, "ok/f"), O_RDONLY, 0);
    /* The mount's root is in the cache (reached by crossing into the mount): refused by
     * its filesystem type, before any lookup in it. */
    int root_entry = aopen_open_nowait(ctx, hangfs_path(fs, "ok"), O_RDONLY | O_DIRECTORY, 0);
    double took = now_ms() - t0;
    long opens = hangfs_done(fs, HANGFS_OPEN) + hangfs_waiting(fs, HANGFS_OPEN);
    /* A FUSE descriptor: opened for real, then refused by close_nowait. */
    int fd = open(hangfs_path(fs, "ok/g"), O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open on hangfs");
    int closed = aopen_close_nowait(ctx, fd);
    printf("open_nowait on FUSE: %d (direct), %d (through a symlink), %d (not hung) in %.2f ms; daemon opens "
           "%ld; close_nowait of a FUSE fd: %d\n",
           direct, via_link, healthy, took, opens, closed);
    CHECK_EQ(direct, -EAGAIN);
    CHECK_EQ(via_link, -EAGAIN);
    CHECK_EQ(healthy, -EAGAIN);
    CHECK_EQ(root_entry, -EAGAIN);
    CHECK_EQ(opens, 0);
    CHECK_EQ(closed, -EAGAIN);
    CHECK(fcntl(fd, F_GETFD) >= 0, "the refused close left the descriptor open");
    close(fd);
    /* A fast path that waited on the hung mount would wait forever (opens == 0 above
     * shows it never asked); 1 s allows for valgrind and a loaded machine. */
    CHECK(took < 1000, "the fast path waited %.1f ms", took);

    /* Stats: a hung lookup and getattr, directly or through a symlink, followed or not; the
     * mount's root (cached, reached by crossing into the mount; "/." resolves its parent
     * there); nothing is written. */
    CHECK(symlink(hangfs_path(fs, "getattr/f"), fast_path("slink")) == 0, "symlink: %s", strerror(errno));
    struct statx st, untouched;
    memset(&st, 0x5A, sizeof st);
    memcpy(&untouched, &st, sizeof st);
    char root_dot[4096];
    snprintf(root_dot, sizeof root_dot, "%s/.", hangfs_path(fs, ""));
    const char *stat_paths[] = {hangfs_path(fs, "getattr/f"), hangfs_path(fs, "getattr"), fast_path("slink"),
                                hangfs_path(fs, ""), root_dot};
    long getattrs0 = hangfs_done(fs, HANGFS_GETATTR) + hangfs_waiting(fs, HANGFS_GETATTR);
    t0 = now_ms();
    for (int i = 0; i < 5; i++) {
        for (int nofollow = 0; nofollow < 2; nofollow++) {
            int rc = aopen_stat_nowait(ctx, stat_paths[i], nofollow ? AT_SYMLINK_NOFOLLOW : 0, STATX_BASIC_STATS, &st);
            CHECK(rc == -EAGAIN || (i == 2 && nofollow && rc == 0), "stat_nowait %s (nofollow %d): %d", stat_paths[i],
                  nofollow, rc);
            if (rc == 0) { /* the local link itself */
                CHECK(S_ISLNK(st.stx_mode), "lstat of the local link");
                memcpy(&st, &untouched, sizeof st);
            } else
                CHECK(memcmp(&st, &untouched, sizeof st) == 0, "out written by a refused stat");
        }
    }
    took = now_ms() - t0;
    long getattrs = hangfs_done(fs, HANGFS_GETATTR) + hangfs_waiting(fs, HANGFS_GETATTR) - getattrs0;
    printf("stat_nowait on FUSE: 10 calls in %.2f ms; daemon getattrs %ld\n", took, getattrs);
    CHECK_EQ(getattrs, 0);
    CHECK(took < 1000, "stat_nowait waited %.1f ms", took);

    /* aopen_submit takes the fast path only where aopen_open_nowait would: a hung FUSE open
     * returns at once and goes to a worker, where the daemon sees it wait. */
    t0 = now_ms();
    int64_t hung = aopen_submit(ctx, hangfs_path(fs, "open/f"), O_RDONLY, 0, NULL, NULL);
    took = now_ms() - t0;
    CHECK(hung > 0, "submit");
    CHECK(took < 1000, "aopen_submit of a hung FUSE open took %.1f ms", took);
    CHECK_EQ(hangfs_wait_waiting(fs, HANGFS_OPEN, 1, 5000), 1);
    CHECK_EQ(stats_of(ctx).inline_completions, 0);
    /* While it hangs the context is not quiet: a local cached file goes to the pool too
     * (the workers are the faster way with work in flight), and completes. */
    CHECK(aopen_submit(ctx, fast_path("local"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    aopen_completion c;
    CHECK(aopen_wait(ctx, 5000) == 1 && aopen_reap(ctx, &c, 1) == 1, "the local open completes");
    CHECK(c.result >= 0, "local open: %d", c.result);
    close(c.result);
    CHECK_EQ(stats_of(ctx).inline_completions, 0);
    hangfs_release(fs);
    CHECK(aopen_wait(ctx, 5000) == 1 && aopen_reap(ctx, &c, 1) == 1, "the FUSE open completes once released");
    CHECK(c.result >= 0, "FUSE open: %d", c.result);
    CHECK(aclose_submit(ctx, c.result, NULL, NULL) > 0, "aclose_submit");
    CHECK(aopen_wait(ctx, 5000) == 1 && aopen_reap(ctx, &c, 1) == 1 && c.result == 0, "its close");
    CHECK_EQ(stats_of(ctx).inline_completions, 0);
    aopen_ctx_free(ctx);
    return 0;
}
