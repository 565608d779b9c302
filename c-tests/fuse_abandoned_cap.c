/* At the process-wide cap on abandoned workers (AOPEN_MAX_ABANDONED), healthy filesystems
 * are still served (real FUSE filesystem, hangfs). A context's workers are all abandoned in
 * hung opens that were cancelled, which brings the process to the cap; healthy local opens
 * submitted then, in that context and in a new one with no worker yet, all complete within
 * a few seconds, while the hang lasts: the cap bounds threads stuck for nobody, so only a
 * blocked filesystem's requests wait at it. The abandoned count never passes the cap. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

enum { HEALTHY = 10 };

static struct hangfs *fs;
static int cap;
static aopen_ctx *stuck; /* the context whose workers are abandoned */

/* Submits HEALTHY opens of a local file to `ctx` in one burst and reaps for up to
 * `timeout_ms`: returns how many completed (each must succeed; closes them). */
static int healthy_burst(aopen_ctx *ctx, int timeout_ms) {
    for (int i = 0; i < HEALTHY; i++) {
        int64_t id = aopen_submit(ctx, fast_path("healthy"), O_RDONLY, 0, NULL, NULL);
        CHECK(id > 0, "healthy submit at the cap: %lld", (long long)id);
    }
    aopen_completion c[HEALTHY];
    int n = reap_n(ctx, c, HEALTHY, timeout_ms);
    for (int i = 0; i < n; i++) {
        CHECK(c[i].result >= 0, "healthy open at the cap: %d", c[i].result);
        close(c[i].result);
    }
    return n;
}

/* Fills `stuck` with hung opens (one share of them reach the daemon), cancels them all:
 * the process is at the cap. */
static void reach_the_cap(void) {
    int64_t ids[256];
    for (int i = 0; i < cap; i++)
        CHECK((ids[i] = aopen_submit(stuck, hangfs_path(fs, "open/f"), O_RDONLY, 0, NULL, NULL)) > 0, "submit");
    CHECK_EQ(hangfs_wait_waiting(fs, HANGFS_OPEN, cap, 20000), cap);
    for (int i = 0; i < cap; i++)
        CHECK_EQ(aopen_cancel(stuck, ids[i]), 0);
    aopen_completion c[256];
    CHECK_EQ(reap_n(stuck, c, cap, 5000), cap);
    aopen_stats_snapshot s = stats_of(stuck);
    CHECK_EQ(s.abandoned_threads, cap);
    CHECK_EQ(s.process_abandoned_threads, cap);
    CHECK_EQ(s.process_abandoned_cap, cap);
}

static int test_healthy_opens_in_the_capped_context(void) {
    double t0 = now_ms();
    int done = healthy_burst(stuck, 3000);
    aopen_stats_snapshot s = stats_of(stuck);
    printf("capped context: %d of %d healthy opens completed in %.0f ms; threads %u abandoned %u "
           "(process %u, cap %u)\n",
           done, HEALTHY, now_ms() - t0, s.threads, s.abandoned_threads, s.process_abandoned_threads,
           s.process_abandoned_cap);
    CHECK_EQ(done, HEALTHY);
    CHECK_EQ(s.process_abandoned_threads, cap);
    /* The abandoned workers, and at most `threads` others. */
    CHECK(s.threads <= (uint32_t)cap + 4, "threads %u", s.threads);
    return 0;
}

static int test_healthy_opens_in_a_new_context(void) {
    aopen_ctx *fresh = new_ctx(4, 16, 0, 0);
    double t0 = now_ms();
    int done = healthy_burst(fresh, 3000);
    aopen_stats_snapshot s = stats_of(fresh);
    printf("new context: %d of %d healthy opens completed in %.0f ms; threads %u (process abandoned %u)\n", done,
           HEALTHY, now_ms() - t0, s.threads, s.process_abandoned_threads);
    CHECK_EQ(done, HEALTHY);
    CHECK(s.threads <= 4, "threads %u", s.threads);
    aopen_ctx_free(fresh);
    return 0;
}

int main(void) {
    cap = under_valgrind() ? 16 : 64;
    char v[16];
    snprintf(v, sizeof v, "%d", cap);
    setenv("AOPEN_MAX_ABANDONED", v, 1); /* read when the first worker starts */
    fs = hangfs_mount("hang");
    make_file(fast_path("healthy"), "x");
    int base_fds = count_fds();
    /* One share is the cap: the hung filesystem's workers alone reach it. */
    stuck = new_ctx_share(4, (uint32_t)cap, 1024, 0, (uint32_t)cap);
    reach_the_cap();

    int r = test_healthy_opens_in_the_capped_context();
    r |= test_healthy_opens_in_a_new_context();

    hangfs_release(fs);
    CHECK_EQ(hangfs_wait_balanced(fs, 20000), 0);
    WAIT_FOR(stats_of(stuck).process_abandoned_threads == 0, 10000);
    CHECK_EQ(stats_of(stuck).process_abandoned_threads, 0);
    aopen_ctx_free(stuck);
    wait_fds(base_fds, 5000);
    CHECK_EQ(count_fds(), base_fds);
    return r;
}
