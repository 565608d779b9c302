/* Per-mount fairness: a hung mount can never starve the rest. In a private mount namespace
 * the test mounts a tmpfs on the shim's slow directory, where every open (and every close of
 * a file there) hangs until the test creates a release file. 200 hung opens there, then
 * 1000 opens of a healthy local file: all 1000 complete promptly, the hung mount holds
 * exactly its share of workers with the rest in its own queue, closes of its descriptors
 * join that queue (attributed by descriptor), aopen_stats_mounts names it, and when the
 * hang ends every descriptor is delivered or closed: nothing leaks. The tmpfs is mounted
 * after the library has read the mount table, so attribution relies on its refresh.
 * Needs root (for unshare and mount): skipped otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helpers.h"

enum { HUNG = 200, HEALTHY = 1000, MAX_THREADS = 64, SHARE = MAX_THREADS / 2, CLOSES = 4 };
enum { CANCEL_RUNNING = 10, CANCEL_QUEUED = 20 };

/* open(2) straight to the kernel, past the shim (which would hang it). */
static int raw_open(const char *path, int flags) {
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0644);
}

struct seen {
    int calls;
    aopen_mount_stats m;
    char point[4096], fstype[64];
};

static void on_mount(const aopen_mount_stats *m, void *user) {
    struct seen *s = user;
    s->calls++;
    s->m = *m;
    snprintf(s->point, sizeof s->point, "%s", m->mount_point);
    snprintf(s->fstype, sizeof s->fstype, "%s", m->fstype);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The fixture main makes once: a private namespace with a tmpfs on the shim's slow
 * directory, mounted after the library read the mount table. */
static char point[4096], hung_file[4096], healthy_file[4096];

/* A case's hung mount: every open or close under the tmpfs hangs until the case's release
 * file exists (variables set for the case; the runner restores them). */
struct hung {
    aopen_ctx *ctx;
    int fds0;
    int64_t ids[HUNG];
    char release[4096];
};

static void hang(struct hung *h, const char *release_name) {
    snprintf(h->release, sizeof h->release, "%s", fast_path(release_name));
    unlink(h->release);
    env_set("SLOW_OPEN_MS", "120000");
    env_set("SLOW_CLOSE_MS", "120000");
    env_set("SLOW_OPEN_RELEASE", h->release);
    h->fds0 = count_fds();
    h->ctx = new_ctx(4, MAX_THREADS, HUNG + HEALTHY + CLOSES, 0);
    CHECK_EQ(stats_of(h->ctx).per_mount_threads, SHARE); /* the default: half of max_threads */
    for (int i = 0; i < HUNG; i++)
        CHECK((h->ids[i] = aopen_submit(h->ctx, hung_file, O_RDONLY, 0, NULL, NULL)) > 0, "submit hung");
}

/* What came back after the release. */
struct drained {
    int opened, cancelled, closes;
};

/* The hang ends: every open completes or was cancelled, every close runs (`closes` of
 * them), the abandoned opens' late descriptors are closed by the library, and nothing is
 * left running or open. Frees the context. */
static struct drained release_and_drain(struct hung *h, int closes) {
    static aopen_completion c[HUNG + CLOSES];
    struct drained d = {0};
    aopen_ctx *ctx = h->ctx;
    make_file(h->release, "");
    int got = 0;
    double t0 = now_ms();
    while (got < HUNG + closes && now_ms() - t0 < 60000) {
        aopen_wait(ctx, 1000);
        int n = aopen_reap(ctx, c, HUNG + CLOSES);
        for (int k = 0; k < n; k++) {
            if (c[k].op == AOPEN_OP_CLOSE) {
                CHECK_EQ(c[k].result, 0);
                d.closes++;
            } else if (c[k].result == -ECANCELED) {
                d.cancelled++;
            } else {
                CHECK(c[k].result >= 0, "hung open: %d", c[k].result);
                close(c[k].result);
                d.opened++;
            }
        }
        got += n;
    }
    CHECK_EQ(got, HUNG + closes);
    CHECK_EQ(d.closes, closes);
    CHECK(wait_stats(ctx, 0, 0, 10000), "requests still running after the release");
    aopen_stats_snapshot s = stats_of(ctx);
    CHECK_EQ(s.running + s.abandoned_threads + s.queued, 0);
    CHECK_EQ(count_fds(), h->fds0 + 1 /* the eventfd */);
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), h->fds0);
    return d;
}

/* 1000 opens of a healthy file beside 200 hung ones: all complete promptly, and so does the
 * close of each of their descriptors (attributed to the healthy mount); the hung mount
 * holds exactly its share of workers, the rest in its own queue. */
static int test_healthy_beside_hung(void) {
    static struct hung h;
    hang(&h, "release-healthy");
    aopen_ctx *ctx = h.ctx;
    static double submitted[HEALTHY], latency[HEALTHY];
    double t0 = now_ms();
    for (int i = 0; i < HEALTHY; i++) {
        submitted[i] = now_ms();
        int64_t id = aopen_submit(ctx, healthy_file, O_RDONLY, 0, NULL, (void *)(intptr_t)(i + 1));
        CHECK(id > 0, "submit healthy %d: %lld", i, (long long)id);
    }
    int done = 0, closed = 0;
    static aopen_completion c[HEALTHY];
    double took = 0;
    while (closed < HEALTHY && now_ms() - t0 < 30000) {
        CHECK(aopen_wait(ctx, 1000) >= 0, "wait");
        int n = aopen_reap(ctx, c, HEALTHY);
        for (int k = 0; k < n; k++) {
            if (c[k].user_data == (void *)(intptr_t)-1) {
                CHECK_EQ(c[k].op, AOPEN_OP_CLOSE);
                CHECK_EQ(c[k].result, 0);
                closed++;
                continue;
            }
            int i = (int)(intptr_t)c[k].user_data - 1;
            CHECK(i >= 0 && i < HEALTHY, "a hung request completed before the release (result %d)", c[k].result);
            CHECK(c[k].result >= 0, "healthy open: %d", c[k].result);
            latency[i] = now_ms() - submitted[i];
            CHECK(aclose_submit(ctx, c[k].result, NULL, (void *)(intptr_t)-1) > 0, "close submit");
            if (++done == HEALTHY)
                took = now_ms() - t0;
        }
    }
    CHECK(done == HEALTHY && closed == HEALTHY, "only %d opens and %d closes of %d completed", done, closed,
          HEALTHY);
    qsort(latency, HEALTHY, sizeof latency[0], cmp_double);
    printf("%d healthy opens beside %d hung: all in %.0f ms, latency median %.2f ms, p99 %.2f ms\n", HEALTHY,
           HUNG, took, latency[HEALTHY / 2], latency[HEALTHY * 99 / 100]);
    /* Promptly: a 2-core machine does 1000 local opens in well under a second; 10 s allows
     * for valgrind and a loaded machine. */
    CHECK(took < 10000, "healthy opens took %.0f ms", took);
    aopen_stats_snapshot s = stats_of(ctx);
    CHECK_EQ(s.running, SHARE);
    CHECK_EQ(s.queued, HUNG - SHARE);
    CHECK_EQ(s.queued_over_share, HUNG - SHARE);
    CHECK(s.threads <= MAX_THREADS, "threads %u", s.threads);
    struct drained d = release_and_drain(&h, 0);
    CHECK_EQ(d.opened, HUNG);
    return 0;
}

/* Closes of descriptors on the hung mount queue behind it, attributed by descriptor, and
 * aopen_stats_mounts names the mount with its share running and the rest queued. */
static int test_closes_queue_behind_hung_mount(void) {
    static struct hung h;
    hang(&h, "release-closes");
    aopen_ctx *ctx = h.ctx;
    CHECK(wait_stats(ctx, SHARE, HUNG - SHARE, 10000), "the hung mount never held its share");
    double t0 = now_ms();
    int hung_fds[CLOSES];
    for (int i = 0; i < CLOSES; i++) {
        CHECK((hung_fds[i] = raw_open(hung_file, O_RDONLY)) >= 0, "raw open");
        CHECK(aclose_submit(ctx, hung_fds[i], NULL, NULL) > 0, "close submit");
    }
    CHECK(wait_stats(ctx, SHARE, HUNG - SHARE + CLOSES, 10000), "the closes did not queue behind the mount");
    /* Time passing is the point: the mount's oldest request must be 100 ms old for the
     * 50 ms filter below and the oldest_ms check. */
    double old = now_ms() - t0;
    if (old < 100)
        sleep_ms(100 - (long)old);
    struct seen seen = {0};
    CHECK_EQ(aopen_stats_mounts(ctx, 50, on_mount, &seen), 1);
    CHECK(strcmp(seen.point, point) == 0, "blocked mount %s, expected %s", seen.point, point);
    CHECK(strcmp(seen.fstype, "tmpfs") == 0, "fstype %s", seen.fstype);
    CHECK_EQ(seen.m.running, SHARE);
    CHECK_EQ(seen.m.queued, HUNG - SHARE + CLOSES);
    CHECK_EQ(seen.m.blocked, HUNG + CLOSES);
    CHECK(seen.m.oldest_ms >= 100, "oldest %llu ms", (unsigned long long)seen.m.oldest_ms);
    printf("blocked: %s (%s) queued %u running %u oldest %llu ms\n", seen.point, seen.fstype, seen.m.queued,
           seen.m.running, (unsigned long long)seen.m.oldest_ms);
    struct drained d = release_and_drain(&h, CLOSES);
    CHECK_EQ(d.opened, HUNG);
    return 0;
}

/* Cancel some running and some queued hung opens: the running ones are abandoned and still
 * hold the mount's share; after the release they were delivered as cancelled and their
 * late descriptors closed by the library. */
static int test_cancel_hung(void) {
    static struct hung h;
    hang(&h, "release-cancel");
    aopen_ctx *ctx = h.ctx;
    CHECK(wait_stats(ctx, SHARE, HUNG - SHARE, 10000), "the hung mount never held its share");
    for (int i = 0; i < CANCEL_RUNNING; i++)
        CHECK_EQ(aopen_cancel(ctx, h.ids[i]), 0);
    for (int i = HUNG - CANCEL_QUEUED; i < HUNG; i++)
        CHECK_EQ(aopen_cancel(ctx, h.ids[i]), 0);
    aopen_stats_snapshot s = stats_of(ctx);
    CHECK_EQ(s.abandoned_threads, CANCEL_RUNNING);
    CHECK_EQ(s.running, SHARE);
    struct drained d = release_and_drain(&h, 0);
    CHECK_EQ(d.cancelled, CANCEL_RUNNING + CANCEL_QUEUED);
    CHECK_EQ(d.opened, HUNG - CANCEL_RUNNING - CANCEL_QUEUED);
    return 0;
}

int main(void) {
    require_shim();
    if (geteuid() != 0)
        SKIP("needs root to make a mount in a private mount namespace");
    if (unshare(CLONE_NEWNS) != 0)
        SKIP("unshare(CLONE_NEWNS): %s", strerror(errno));
    CHECK(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0, "make / private: %s", strerror(errno));
    /* The library reads the mount table now, before the tmpfs exists: it must notice the
     * new mount (POLLPRI on /proc/self/mountinfo) to attribute the hung opens to it. */
    aopen_ctx *probe = new_ctx(1, 1, 0, 0);
    int probe_fd = result_of(probe, aopen_submit(probe, "/", O_RDONLY, 0, NULL, NULL));
    CHECK(probe_fd >= 0, "probe open: %d", probe_fd);
    close(probe_fd);
    snprintf(point, sizeof point, "%s/slow", test_dir());
    CHECK(mount("aopen-hung", point, "tmpfs", 0, "size=1m") == 0, "mount tmpfs: %s", strerror(errno));
    sleep_ms(5); /* lookups poll for changes at most once a millisecond: time must pass */
    snprintf(hung_file, sizeof hung_file, "%s", slow_path("f"));
    snprintf(healthy_file, sizeof healthy_file, "%s", fast_path("f"));
    int fd = raw_open(hung_file, O_WRONLY | O_CREAT);
    CHECK(fd >= 0, "create %s", hung_file);
    close(fd); /* not under the shim's close delay: the cases set SLOW_CLOSE_MS */
    make_file(healthy_file, "x");
    aopen_ctx_free(probe);
    return RUN_CASES(TEST_CASE(test_healthy_beside_hung), TEST_CASE(test_closes_queue_behind_hung_mount),
                     TEST_CASE(test_cancel_hung));
}
