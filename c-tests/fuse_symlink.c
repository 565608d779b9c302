/* Attribution through symlinks, ".." and relative paths (real FUSE filesystem, hangfs):
 * 300 hung opens spelled through a symlink in the test directory that points into a hung
 * FUSE mount, half of them relative to the working directory and through "..", are charged
 * to the FUSE filesystem, so 2000 healthy opens on the symlink's own filesystem complete
 * promptly with default options. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

static struct others others;
static char hung_tag;

struct listing {
    int fuse, other;
    uint32_t fuse_running;
};

static void on_mount(const aopen_mount_stats *m, void *user) {
    struct listing *l = user;
    if (strcmp(m->fstype, "fuse") == 0) {
        l->fuse++;
        l->fuse_running = m->running;
    } else if (m->blocked > 0) {
        l->other++;
    }
}

int main(void) {
    /* valgrind 3.19 does not know openat2 (it answers ENOSYS), so under it attribution
     * falls back to the lexical lookup, which is what this test shows to be wrong. */
    if (under_valgrind())
        SKIP("valgrind has no openat2: attribution through symlinks needs it");
    int hung = 300, healthy = 2000;
    struct hangfs *fs = hangfs_mount("hang");
    CHECK(symlink(hangfs_path(fs, "open"), fast_path("link")) == 0, "symlink: %s", strerror(errno));
    CHECK(mkdir(fast_path("sub"), 0755) == 0, "mkdir");
    make_file(fast_path("healthy"), "x");
    CHECK(chdir(test_dir()) == 0, "chdir");
    int base_fds = count_fds();
    aopen_ctx *ctx = new_ctx(0, 0, 4096, 0);
    for (int i = 0; i < hung; i++) {
        char path[4200];
        if (i % 2)
            snprintf(path, sizeof path, "sub/../link/f%d", i);
        else
            snprintf(path, sizeof path, "%s/f%d", fast_path("link"), i);
        CHECK(aopen_submit(ctx, path, O_RDONLY, 0, NULL, &hung_tag) > 0, "submit %s", path);
    }
    long waiting = hangfs_wait_waiting(fs, HANGFS_OPEN, stats_of(ctx).per_mount_threads, 5000);
    struct load r = healthy_load(ctx, fast_path("healthy"), healthy, 64, 30000, &others);
    sleep_ms(100); /* makes the hung opens older than the 50 ms the listing asks for */
    struct listing l = {0};
    aopen_stats_mounts(ctx, 50, on_mount, &l);
    printf("hung opens waiting in the daemon: %ld; healthy opens: %d of %d in %.0f ms, p50 %.2f ms, p99 %.2f ms; "
           "longest call %.2f ms; blocked listing: fuse %d (running %u), other %d\n",
           waiting, r.done, healthy, r.wall_ms, r.p50_ms, r.p99_ms, longest_call_ms, l.fuse, l.fuse_running, l.other);

    hangfs_release(fs);
    int fds = collect_tagged(ctx, &others, &hung_tag, hung, 30000);
    long unbalanced = hangfs_wait_balanced(fs, 20000);
    aopen_ctx_free(ctx);
    wait_fds(base_fds, 5000);
    printf("after release: %d of %d hung opens delivered a descriptor; daemon opens %ld releases %ld; fds %d -> %d\n",
           fds, hung, hangfs_done(fs, HANGFS_OPEN), hangfs_done(fs, HANGFS_RELEASE), base_fds, count_fds());
    CHECK_EQ(r.done, healthy);
    /* Natively only: a latency figure (make bench measures latency). Starvation shows
     * everywhere as healthy opens that never complete (r.done above). */
    if (!getenv("AOPEN_UNDER_SANITIZER"))
        CHECK(r.p99_ms < 1000, "healthy p99 %.1f ms", r.p99_ms);
    CHECK_EQ(l.fuse, 1);
    CHECK_EQ(l.other, 0);
    CHECK_EQ(fds, hung);
    CHECK_EQ(unbalanced, 0);
    CHECK_EQ(count_fds(), base_fds);
    return 0;
}
