/* Abandoned workers: hundreds of workers stuck in hung opens whose requests were cancelled
 * are counted (per context and process-wide), do not use up max_threads (healthy opens on
 * another mount still get workers), are capped process-wide (AOPEN_MAX_ABANDONED: at the
 * cap a blocked filesystem starts nothing, while other filesystems are still served, in
 * every context), let aopen_ctx_free return promptly, and when the hang finally ends their
 * descriptors are closed and the count drains back to zero: no descriptor leaks, and the
 * blocked filesystem's work resumes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include "helpers.h"

/* CPU time (ms) used so far by the library's watchdog threads. (The stuck workers' time
 * is the shim's: its hang polls for the release file.) */
static double watchdog_cpu_ms(void) {
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL, "opendir /proc/self/task");
    double ticks = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *close_paren = strrchr(buf, ')');
        if (strstr(buf, "(aopen-watchdog)") == NULL || close_paren == NULL)
            continue;
        unsigned long utime = 0, stime = 0;
        /* After "pid (comm) ": state and 10 more fields, then utime and stime. */
        sscanf(close_paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime);
        ticks += (double)(utime + stime);
    }
    closedir(d);
    return ticks * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* Waits up to 30 s for `ctx` to have `n` syscalls running. */
static void wait_running(aopen_ctx *ctx, uint32_t n) {
    WAIT_FOR(stats_of(ctx).running >= n, 30000);
    CHECK_EQ(stats_of(ctx).running, n);
}

/* Opens /dev/null (another mount than the hung test directory) `n` times through `ctx`. */
static void healthy_opens(aopen_ctx *ctx, int n) {
    for (int i = 0; i < n; i++) {
        int fd = result_of(ctx, aopen_submit(ctx, "/dev/null", O_RDONLY, 0, NULL, NULL));
        CHECK(fd >= 0, "healthy open beside abandoned workers: %d", fd);
        close(fd);
    }
}

static int n; /* hung opens in the first case: the process-wide cap */
static char release[4096], hung[4096];

/* Each case's hung opens hang until its own release file exists. */
static void hang(const char *release_name) {
    snprintf(release, sizeof release, "%s", fast_path(release_name));
    unlink(release);
    env_set("SLOW_OPEN_MS", "120000");
    env_set("SLOW_OPEN_RELEASE", release);
}

/* n hung opens, all cancelled: their workers are abandoned, counted and capped; at the cap
 * other filesystems are still served and the hung one waits without burning CPU; free
 * returns promptly; when the hang ends the count drains and nothing is left. */
static int test_at_the_cap(void) {
    hang("release-cap");
    int fds0 = count_fds(), threads0 = count_threads();
    /* n hung opens, each with a worker (share = max_threads = n: one mount may use all). */
    aopen_ctx *ctx = new_ctx_share(4, (uint32_t)n, (uint32_t)n + 64, 0, (uint32_t)n);
    int64_t *ids = calloc((size_t)n, sizeof *ids);
    CHECK(ids != NULL, "calloc");
    for (int i = 0; i < n; i++)
        CHECK((ids[i] = aopen_submit(ctx, hung, O_RDONLY, 0, NULL, NULL)) > 0, "submit");
    wait_running(ctx, (uint32_t)n);
    aopen_stats_snapshot s = stats_of(ctx);
    /* One worker each; once their filesystem is marked blocked they are off the budget, so
     * the pool may have topped up its base workers (4) for other work. */
    CHECK(s.threads >= (uint32_t)n && s.threads <= (uint32_t)n + 4, "threads %u for %d hung opens", s.threads, n);
    CHECK_EQ(s.abandoned_threads, 0);

    /* Cancel them all: every worker is abandoned, and counted. */
    for (int i = 0; i < n; i++)
        CHECK_EQ(aopen_cancel(ctx, ids[i]), 0);
    aopen_completion *c = calloc((size_t)n, sizeof *c);
    CHECK(c != NULL, "calloc");
    CHECK_EQ(aopen_reap(ctx, c, (unsigned)n), n);
    for (int i = 0; i < n; i++)
        CHECK_EQ(c[i].result, -ECANCELED);
    s = stats_of(ctx);
    CHECK_EQ(s.abandoned_threads, (uint32_t)n);
    CHECK_EQ(s.process_abandoned_threads, (uint32_t)n);
    CHECK_EQ(s.process_abandoned_cap, (uint32_t)n);
    CHECK_EQ(s.running, (uint32_t)n);
    CHECK_EQ(s.cancelled, (uint64_t)n);

    /* At the cap, other filesystems are still served: in this context, and in a new one
     * with no worker yet (fuse_abandoned_cap.c shows it against a real hung filesystem). */
    healthy_opens(ctx, 4);
    aopen_ctx *other = new_ctx(4, 16, 0, 0);
    healthy_opens(other, 4);
    CHECK(stats_of(other).threads <= 4, "threads %u", stats_of(other).threads);
    /* The hung filesystem's next request waits, and without burning CPU: its syscalls are
     * all marked blocked, so the watchdog has nothing to look at. The sleep is the
     * measurement: a second of waiting at the cap. */
    CHECK(aopen_submit(ctx, hung, O_RDONLY, 0, NULL, NULL) > 0, "submit at the cap");
    double c0 = watchdog_cpu_ms(), w0 = now_ms();
    sleep_ms(1000);
    double cpu_ms = watchdog_cpu_ms() - c0;
    printf("waiting at the cap: watchdogs used %.0f ms CPU in %.0f ms\n", cpu_ms, now_ms() - w0);
    CHECK(under_valgrind() || cpu_ms <= 50, "watchdogs used %.0f ms of CPU in 1 s at the cap", cpu_ms);
    CHECK_EQ(stats_of(ctx).queued, 1);
    CHECK_EQ(stats_of(ctx).process_abandoned_threads, (uint32_t)n);

    /* Free with n abandoned workers returns promptly; their syscalls still run. */
    double t0 = now_ms();
    aopen_ctx_free(ctx);
    double free_ms = now_ms() - t0;
    printf("free with %d abandoned workers: %.2f ms\n", n, free_ms);
    /* A free that waited for them would wait for the release, which comes after it. */
    CHECK(free_ms < 5000, "free took %.0f ms", free_ms);
    CHECK_EQ(stats_of(other).process_abandoned_threads, (uint32_t)n);

    /* The hang ends: every late descriptor is closed, every abandoned thread leaves. */
    make_file(release, "");
    WAIT_FOR(stats_of(other).process_abandoned_threads == 0, 30000);
    CHECK_EQ(stats_of(other).process_abandoned_threads, 0);
    /* Below the cap again: the other context starts workers and serves opens. */
    healthy_opens(other, 10);
    aopen_ctx_free(other);
    WAIT_FOR(count_threads() <= threads0 && count_fds() == fds0, 10000);
    CHECK_EQ(count_fds(), fds0);
    CHECK_EQ(count_threads(), threads0);
    free(ids);
    free(c);
    return 0;
}

/* Abandoned workers do not use up max_threads: with the budget (8) full of abandoned
 * workers, healthy opens on another mount still get new ones. */
static int test_off_the_budget(void) {
    hang("release-budget");
    int fds0 = count_fds();
    aopen_ctx *ctx = new_ctx_share(2, 8, 64, 0, 8);
    int64_t ids[8];
    aopen_completion c[8];
    for (int i = 0; i < 8; i++)
        CHECK((ids[i] = aopen_submit(ctx, hung, O_RDONLY, 0, NULL, NULL)) > 0, "submit");
    wait_running(ctx, 8);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(aopen_cancel(ctx, ids[i]), 0);
    CHECK_EQ(aopen_reap(ctx, c, 8), 8);
    /* A new hung-mount request waits: the abandoned ones still hold that mount's share. */
    CHECK(aopen_submit(ctx, hung, O_RDONLY, 0, NULL, NULL) > 0, "submit");
    healthy_opens(ctx, 20);
    aopen_stats_snapshot s = stats_of(ctx);
    CHECK(s.threads > 8, "no worker beyond the 8 abandoned: %u threads", s.threads);
    CHECK_EQ(s.abandoned_threads, 8);
    CHECK_EQ(s.queued_over_share, 1);
    make_file(release, "");
    aopen_completion last;
    CHECK_EQ(reap_n(ctx, &last, 1, 30000), 1);
    CHECK(last.result >= 0, "late hung open: %d", last.result);
    close(last.result);
    WAIT_FOR(stats_of(ctx).abandoned_threads == 0, 10000);
    CHECK_EQ(stats_of(ctx).abandoned_threads, 0);
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

int main(void) {
    require_shim();
    /* Hundreds natively; fewer under valgrind, which runs one thread at a time. */
    n = under_valgrind() ? 40 : 300;
    char cap[16];
    snprintf(cap, sizeof cap, "%d", n);
    setenv("AOPEN_MAX_ABANDONED", cap, 1); /* read once, when the process's first worker starts */
    snprintf(hung, sizeof hung, "%s", slow_path("f"));
    make_file(hung, "x");
    return RUN_CASES(TEST_CASE(test_at_the_cap), TEST_CASE(test_off_the_budget));
}
