/* What already held against a real hung filesystem (hangfs), kept holding: cancel and
 * timeout of hung opens deliver at once; aopen_ctx_free returns at once with 300 workers
 * stuck; a killed daemon fails the stuck calls (delivered, nothing leaked); a lazy unmount
 * of a hung mount leaves the stuck calls to finish when released, and aopen_stats_mounts
 * still lists the detached filesystem under the mount point and type it had. Each case has
 * its own mount and context. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "helpers.h"

enum { BOUND_MS = 1000 };

static void submit_hung(aopen_ctx *ctx, struct hangfs *fs, int n, int64_t *ids) {
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "open/f%d", i);
        ids[i] = aopen_submit(ctx, hangfs_path(fs, name), O_RDONLY, 0, NULL, NULL);
        CHECK(ids[i] > 0, "submit: %lld", (long long)ids[i]);
    }
}

/* Reaps `n` completions, closing descriptors through the library; returns how many failed
 * with `err` (0: any error). */
static int reap_all(aopen_ctx *ctx, int n, int err) {
    aopen_completion c[64];
    int got = 0, matched = 0;
    double until = now_ms() + 20000;
    while (got < n && now_ms() < until) {
        aopen_wait(ctx, 100);
        int k = aopen_reap(ctx, c, 64);
        for (int i = 0; i < k; i++, got++) {
            if (c[i].result >= 0)
                CHECK_EQ(aclose_detach(ctx, c[i].result), 0);
            else if (err == 0 || c[i].result == -err)
                matched++;
        }
    }
    CHECK_EQ(got, n);
    return matched;
}

static int test_cancel(int base_fds) {
    struct hangfs *fs = hangfs_mount("cancel");
    aopen_ctx *ctx = new_ctx(0, 0, 0, 0);
    int64_t ids[20];
    submit_hung(ctx, fs, 20, ids);
    CHECK_EQ(hangfs_wait_waiting(fs, HANGFS_OPEN, 20, 5000), 20);
    double t0 = now_ms();
    for (int i = 0; i < 20; i++)
        CHECK_EQ(aopen_cancel(ctx, (uint64_t)ids[i]), 0);
    CHECK_EQ(reap_all(ctx, 20, ECANCELED), 20);
    double ms = now_ms() - t0;
    hangfs_release(fs);
    CHECK_EQ(hangfs_wait_balanced(fs, 10000), 0);
    aopen_ctx_free(ctx);
    printf("cancel of 20 hung opens: delivered in %.1f ms; daemon opens %ld releases %ld\n", ms,
           hangfs_done(fs, HANGFS_OPEN), hangfs_done(fs, HANGFS_RELEASE));
    CHECK(ms < BOUND_MS, "cancel took %.0f ms", ms);
    (void)base_fds;
    return 0;
}

static int test_timeout(void) {
    struct hangfs *fs = hangfs_mount("timeout");
    aopen_ctx *ctx = new_ctx(0, 0, 0, 200);
    int64_t ids[20];
    double t0 = now_ms();
    submit_hung(ctx, fs, 20, ids);
    CHECK_EQ(reap_all(ctx, 20, ETIMEDOUT), 20);
    double ms = now_ms() - t0;
    hangfs_release(fs);
    CHECK_EQ(hangfs_wait_balanced(fs, 10000), 0);
    aopen_ctx_free(ctx);
    printf("timeout (200 ms) of 20 hung opens: all delivered after %.1f ms\n", ms);
    CHECK(ms < 200 + BOUND_MS, "timeouts took %.0f ms", ms);
    return 0;
}

static int test_free_with_300_stuck(void) {
    int n = under_valgrind() ? 40 : 300;
    struct hangfs *fs = hangfs_mount("free");
    aopen_ctx *ctx = new_ctx_share(0, (uint32_t)n, (uint32_t)n, 0, (uint32_t)n);
    int64_t ids[300];
    submit_hung(ctx, fs, n, ids);
    long stuck = hangfs_wait_waiting(fs, HANGFS_OPEN, n, 20000);
    double t0 = now_ms();
    aopen_ctx_free(ctx);
    double ms = now_ms() - t0;
    hangfs_release(fs);
    CHECK_EQ(hangfs_wait_balanced(fs, 20000), 0);
    printf("free with %ld workers stuck: %.2f ms; after release daemon opens %ld releases %ld\n", stuck, ms,
           hangfs_done(fs, HANGFS_OPEN), hangfs_done(fs, HANGFS_RELEASE));
    CHECK_EQ(stuck, n);
    /* A free that waited for the stuck workers would wait for the release, which comes
     * after it: 1 s allows for valgrind and a loaded machine. */
    CHECK(ms < 1000, "free took %.1f ms", ms);
    return 0;
}

/* Mounts `name`, makes a context and hangs 20 opens there. */
static struct hangfs *hang20(const char *name, aopen_ctx **ctx) {
    struct hangfs *fs = hangfs_mount(name);
    *ctx = new_ctx(0, 0, 0, 0);
    int64_t ids[20];
    submit_hung(*ctx, fs, 20, ids);
    CHECK_EQ(hangfs_wait_waiting(fs, HANGFS_OPEN, 20, 5000), 20);
    return fs;
}

static int test_daemon_killed(void) {
    aopen_ctx *ctx;
    struct hangfs *fs = hang20("killed", &ctx);
    double t0 = now_ms();
    hangfs_kill(fs);
    int failed = reap_all(ctx, 20, 0);
    printf("daemon killed: %d of 20 stuck opens failed, delivered in %.1f ms\n", failed, now_ms() - t0);
    CHECK_EQ(failed, 20);
    aopen_ctx_free(ctx);
    return 0;
}

/* What aopen_stats_mounts lists: the first entry's name. */
struct listed {
    int n;
    char point[4096], fstype[64];
};

static void on_mount(const aopen_mount_stats *m, void *user) {
    struct listed *l = user;
    if (l->n++ == 0) {
        snprintf(l->point, sizeof l->point, "%s", m->mount_point);
        snprintf(l->fstype, sizeof l->fstype, "%s", m->fstype);
    }
}

static int test_lazy_unmount(void) {
    aopen_ctx *ctx;
    struct hangfs *fs = hang20("lazy", &ctx);
    CHECK(umount2(fs->mnt, MNT_DETACH) == 0, "umount -l: %s", strerror(errno));
    sleep_ms(20); /* past the mount table's poll interval: the listing re-reads it */
    struct listed l = {0};
    CHECK_EQ(aopen_stats_mounts(ctx, 0, on_mount, &l), 1);
    printf("detached, listed as %s (%s)\n", l.point, l.fstype);
    CHECK(strcmp(l.point, fs->mnt) == 0, "listed as '%s', mounted at %s", l.point, fs->mnt);
    CHECK(strcmp(l.fstype, "fuse") == 0, "type '%s'", l.fstype);
    hangfs_release(fs);
    int failed = reap_all(ctx, 20, 0);
    /* Every descriptor's close reached the daemon (a flush each). Releases are not
     * counted here: when the last file of a lazily unmounted FUSE filesystem closes, the
     * kernel tears the superblock down and the daemon may not see that file's release. */
    WAIT_FOR(hangfs_done(fs, HANGFS_FLUSH) >= 20, 10000);
    printf("lazy unmount while hung: %d of 20 failed; daemon opens %ld flushes %ld releases %ld\n", failed,
           hangfs_done(fs, HANGFS_OPEN), hangfs_done(fs, HANGFS_FLUSH), hangfs_done(fs, HANGFS_RELEASE));
    CHECK_EQ(hangfs_done(fs, HANGFS_OPEN), 20);
    CHECK_EQ(hangfs_done(fs, HANGFS_FLUSH), 20);
    aopen_ctx_free(ctx);
    return 0;
}

int main(void) {
    int base_fds = count_fds();
    test_cancel(base_fds);
    test_timeout();
    test_free_with_300_stuck();
    test_lazy_unmount();
    test_daemon_killed();
    CHECK_EQ(wait_fds(base_fds, 5000), base_fds);
    return 0;
}
