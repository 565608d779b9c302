/* Fairness by filesystem, with a budget dead filesystems cannot exhaust together (real FUSE
 * filesystems, hangfs). Three hung filesystems with 300 hung opens each, default options:
 * 2000 healthy opens on the local filesystem still complete promptly. And a filesystem is
 * one filesystem through every mount of it: opens through a bind mount of a hung one count
 * against the same share. When the hangs end every descriptor is delivered and closed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

enum { FS = 3 };

static struct others others;
static char hung_tag;

struct listing {
    int fuse_mounts;
    uint32_t running[8];
};

static void on_mount(const aopen_mount_stats *m, void *user) {
    struct listing *l = user;
    if (strcmp(m->fstype, "fuse") == 0 && l->fuse_mounts < 8)
        l->running[l->fuse_mounts++] = m->running;
}

int main(void) {
    int hung = under_valgrind() ? 40 : 300, healthy = under_valgrind() ? 200 : 2000;
    struct hangfs *fs[FS];
    for (int i = 0; i < FS; i++) {
        char name[16];
        snprintf(name, sizeof name, "hang%d", i);
        fs[i] = hangfs_mount(name);
    }
    /* A bind mount of the first: the same filesystem through another mount. */
    char bind[4096];
    snprintf(bind, sizeof bind, "%s/bind0", test_dir());
    CHECK(mkdir(bind, 0755) == 0, "mkdir");
    CHECK(mount(fs[0]->mnt, bind, "none", MS_BIND, NULL) == 0, "bind mount: %s", strerror(errno));
    make_file(fast_path("healthy"), "x");
    int base_fds = count_fds();

    /* Default options; only the queue is deep enough to hold every hung open. */
    aopen_ctx *ctx = new_ctx(0, 0, 4096, 0);
    for (int i = 0; i < hung; i++)
        for (int f = 0; f < FS; f++) {
            char path[4200];
            /* Half of the first filesystem's opens go through its bind mount. */
            if (f == 0 && i % 2)
                snprintf(path, sizeof path, "%s/open/f%d", bind, i);
            else
                snprintf(path, sizeof path, "%s/open/f%d", fs[f]->mnt, i);
            CHECK(aopen_submit(ctx, path, O_RDONLY, 0, NULL, &hung_tag) > 0, "submit %s", path);
        }
    aopen_stats_snapshot s = stats_of(ctx);
    long waiting[FS];
    /* Let the hung filesystems take all they can: until the opens waiting in the daemons
     * have not changed for 300 ms (a bind mount counted apart from its filesystem would
     * have started more by then), or 20 s. */
    double until = now_ms() + 20000, still_since = now_ms();
    long last = -1;
    while (now_ms() < until && now_ms() - still_since < 300) {
        long sum = 0;
        for (int f = 0; f < FS; f++)
            sum += hangfs_waiting(fs[f], HANGFS_OPEN);
        if (sum != last || sum == 0) {
            last = sum;
            still_since = now_ms();
        }
        sleep_ms(10);
    }
    for (int f = 0; f < FS; f++)
        waiting[f] = hangfs_waiting(fs[f], HANGFS_OPEN);

    struct load r = healthy_load(ctx, fast_path("healthy"), healthy, 64, 30000, &others);
    s = stats_of(ctx);
    struct listing l = {0};
    aopen_stats_mounts(ctx, 0, on_mount, &l);
    printf("hung opens waiting in the daemons: %ld %ld %ld (share %u); threads %u (peak %u)\n", waiting[0],
           waiting[1], waiting[2], s.per_mount_threads, s.threads, s.peak_threads);
    printf("healthy opens: %d of %d in %.0f ms, p50 %.2f ms, p99 %.2f ms; longest call %.2f ms\n", r.done, healthy,
           r.wall_ms, r.p50_ms, r.p99_ms, longest_call_ms);
    printf("filesystems listed by aopen_stats_mounts: %d\n", l.fuse_mounts);

    for (int f = 0; f < FS; f++)
        hangfs_release(fs[f]);
    int fds = collect_tagged(ctx, &others, &hung_tag, FS * hung, 30000);
    long unbalanced = 0;
    for (int f = 0; f < FS; f++)
        unbalanced += hangfs_wait_balanced(fs[f], 20000);
    aopen_ctx_free(ctx);
    wait_fds(base_fds, 5000);
    printf("after release: %d of %d hung opens delivered a descriptor; daemon opens %ld releases %ld; fds %d -> %d\n",
           fds, FS * hung, hangfs_done(fs[0], HANGFS_OPEN) + hangfs_done(fs[1], HANGFS_OPEN) + hangfs_done(fs[2], HANGFS_OPEN),
           hangfs_done(fs[0], HANGFS_RELEASE) + hangfs_done(fs[1], HANGFS_RELEASE) + hangfs_done(fs[2], HANGFS_RELEASE),
           base_fds, count_fds());

    CHECK_EQ(r.done, healthy);
    /* Natively only: a latency figure (make bench measures latency). Starvation shows
     * everywhere as healthy opens that never complete (r.done above). */
    if (!under_valgrind() && !getenv("AOPEN_UNDER_SANITIZER"))
        CHECK(r.p99_ms < 1000, "healthy p99 %.1f ms", r.p99_ms);
    CHECK(waiting[0] <= (long)s.per_mount_threads, "the bind mount shares the filesystem's share: %ld", waiting[0]);
    CHECK_EQ(l.fuse_mounts, FS);
    CHECK(s.peak_threads <= 4 * 128, "threads stay bounded: peak %u", s.peak_threads);
    CHECK_EQ(fds, FS * hung);
    CHECK_EQ(unbalanced, 0);
    CHECK_EQ(count_fds(), base_fds);
    umount2(bind, MNT_DETACH);
    return 0;
}
