/* A pool full of workers stuck on filesystems not yet marked blocked still serves a healthy
 * request within a bound (real FUSE filesystems, hangfs). Two filesystems whose opens hang
 * take every one of max_threads workers (one share each, default options); a burst of 16
 * healthy opens, with nothing submitted after it, must all complete: no further submit is
 * needed to wake the watchdog, which marks the two filesystems blocked by their syscalls'
 * age and grows the pool past them. The documented bound (README, "Hung filesystems") is a
 * few tens of ms past BLOCKED_THRESHOLD (200 ms) after the oldest stuck syscall started;
 * the check allows 3 s, for a loaded machine, valgrind and sanitizers. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

enum { FS = 2, BURST = 16 };

static char hung_tag, healthy_tag;

/* The burst's completions, reaped as a loop would (no submit in between): how many arrived,
 * and the longest wait of one from the burst's submit. Closes their descriptors. */
static int burst_done(aopen_ctx *ctx, double t0, int timeout_ms, double *longest_ms) {
    aopen_completion c[BURST];
    int got = 0;
    *longest_ms = 0;
    double until = t0 + timeout_ms;
    while (got < BURST && now_ms() < until) {
        int w = aopen_wait(ctx, 20);
        CHECK(w >= 0, "aopen_wait: %d", w);
        int r = aopen_reap(ctx, c, BURST);
        CHECK(r >= 0, "aopen_reap: %d", r);
        for (int i = 0; i < r; i++) {
            CHECK(c[i].user_data == &healthy_tag, "only healthy opens complete, got result %d", c[i].result);
            CHECK(c[i].result >= 0, "healthy open: %d", c[i].result);
            close(c[i].result);
            got++;
            *longest_ms = now_ms() - t0;
        }
    }
    if (got < BURST)
        *longest_ms = now_ms() - t0;
    return got;
}

/* Two hung filesystems named `a` and `b` fill a context's pool; `settle_ms` after the
 * daemons hold a share each, a burst of healthy opens is submitted and nothing more. Returns
 * the longest wait of one of them (the test fails if any of them did not complete). */
static double burst_beside_a_full_pool(const char *a, const char *b, int settle_ms) {
    /* Default options natively (max_threads 128, share 64); a small pool of the same shape
     * under valgrind, which runs one thread at a time. */
    int small = under_valgrind();
    int hung = small ? 20 : 300;
    struct hangfs *fs[FS] = {hangfs_mount(a), hangfs_mount(b)};
    make_file(fast_path("healthy"), "x");
    int base_fds = count_fds();
    aopen_ctx *ctx = small ? new_ctx_share(4, 16, 256, 0, 8) : new_ctx(0, 0, 4096, 0);
    uint32_t share = stats_of(ctx).per_mount_threads;

    for (int i = 0; i < hung; i++)
        for (int f = 0; f < FS; f++)
            CHECK(aopen_submit(ctx, hangfs_path(fs[f], "open/f"), O_RDONLY, 0, NULL, &hung_tag) > 0, "submit");
    for (int f = 0; f < FS; f++)
        CHECK_EQ(hangfs_wait_waiting(fs[f], HANGFS_OPEN, share, 20000), share);
    /* The pool is full (2 shares = max_threads). */
    sleep_ms(settle_ms);
    aopen_stats_snapshot s = stats_of(ctx);
    printf("%d ms after the pool filled: running %u threads %u idle %u abandoned %u queued %u (over share %u) "
           "blocked_running %u\n",
           settle_ms, s.running, s.threads, s.idle_threads, s.abandoned_threads, s.queued, s.queued_over_share,
           s.blocked_running);

    double t0 = now_ms();
    for (int i = 0; i < BURST; i++)
        CHECK(aopen_submit(ctx, fast_path("healthy"), O_RDONLY, 0, NULL, &healthy_tag) > 0, "submit healthy");
    double longest_ms;
    int done = burst_done(ctx, t0, 5000, &longest_ms);
    s = stats_of(ctx);
    printf("healthy opens: %d of %d, longest wait %.1f ms; then running %u threads %u blocked_running %u\n", done,
           BURST, longest_ms, s.running, s.threads, s.blocked_running);

    for (int f = 0; f < FS; f++)
        hangfs_release(fs[f]);
    int fds = collect_tagged(ctx, NULL, &hung_tag, FS * hung, 30000);
    long unbalanced = 0;
    for (int f = 0; f < FS; f++)
        unbalanced += hangfs_wait_balanced(fs[f], 20000);
    aopen_ctx_free(ctx);
    wait_fds(base_fds, 5000);

    CHECK_EQ(done, BURST);
    CHECK_EQ(fds, FS * hung);
    CHECK_EQ(unbalanced, 0);
    CHECK_EQ(count_fds(), base_fds);
    return longest_ms;
}

/* The case: the growth that filled the pool is long over. */
static int test_burst_long_after_the_pool_filled(void) {
    double longest_ms = burst_beside_a_full_pool("hang0", "hang1", 400);
    CHECK(longest_ms < 3000, "a healthy open waited %.0f ms", longest_ms);
    return 0;
}

/* The burst right away: it waits for the filesystems to be marked, within the bound. */
static int test_burst_as_the_pool_fills(void) {
    double longest_ms = burst_beside_a_full_pool("hang2", "hang3", 0);
    CHECK(longest_ms < 3000, "a healthy open waited %.0f ms", longest_ms);
    return 0;
}

int main(void) {
    int r = test_burst_long_after_the_pool_filled();
    r |= test_burst_as_the_pool_fills();
    return r;
}
