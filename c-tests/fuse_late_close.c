/* Every worker in a syscall is accounted (real FUSE filesystem, hangfs): 64 opens with a
 * 100 ms timeout of files that open in 300 ms and then hang in close. All time out; each
 * open that reached the daemon before its timeout (on a loaded machine a few are still queued
 * then, and never run) leaves a late descriptor whose close then hangs on a worker. Those closes must show in aopen_stats
 * (running, abandoned) and aopen_stats_mounts, the pool must grow past them so that 2000
 * healthy opens on the local filesystem complete, and timeouts must keep firing meanwhile.
 * When the hang ends every late descriptor is closed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static struct others others;

static void on_mount(const aopen_mount_stats *m, void *user) {
    if (strcmp(m->fstype, "fuse") == 0)
        *(uint32_t *)user = m->running;
}

int main(void) {
    /* valgrind keeps its big lock across close(2) (it does not expect close to block), so
     * one close hung in FUSE's flush would freeze every thread of the process. */
    if (under_valgrind())
        SKIP("closes hang in this test, and valgrind holds its lock across close(2)");
    struct hangfs *fs = hangfs_mount("hang");
    int late = under_valgrind() ? 16 : 64, healthy = under_valgrind() ? 200 : 2000;
    make_file(fast_path("healthy"), "x");
    int base_fds = count_fds();
    aopen_ctx *ctx = new_ctx(0, 0, 4096, 100);
    for (int i = 0; i < late; i++) {
        char name[32];
        snprintf(name, sizeof name, "open-300+flush/f%d", i);
        CHECK(aopen_submit(ctx, hangfs_path(fs, name), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    }
    aopen_completion c[64];
    int timed_out = 0;
    double until = now_ms() + 10000;
    while (timed_out < late && now_ms() < until) {
        aopen_wait(ctx, 100);
        int n = aopen_reap(ctx, c, 64);
        for (int i = 0; i < n; i++) {
            CHECK_EQ(c[i].result, -ETIMEDOUT);
            timed_out++;
        }
    }
    CHECK_EQ(timed_out, late);
    /* Settled: no open still in the daemon, and a hung close for every open that finished. */
    long started = -1, hung = -1;
    WAIT_FOR((started = hangfs_done(fs, HANGFS_OPEN), hung = hangfs_waiting(fs, HANGFS_FLUSH),
              hangfs_waiting(fs, HANGFS_OPEN) == 0 && hung == started && stats_of(ctx).queued == 0),
             10000);
    aopen_stats_snapshot s = stats_of(ctx);
    uint32_t fuse_running = 0;
    aopen_stats_mounts(ctx, 0, on_mount, &fuse_running);
    printf("opens that reached the daemon: %ld of %d; late closes hung in it: %ld; stats: threads %u running %u abandoned %u idle %u; "
           "hangfs listed with %u running\n",
           started, late, hung, s.threads, s.running, s.abandoned_threads, s.idle_threads, fuse_running);

    /* Timeouts still fire while the late closes hang (the watchdog never closes). */
    double t0 = now_ms();
    int64_t id = aopen_submit(ctx, hangfs_path(fs, "open/probe"), O_RDONLY, 0, NULL, NULL);
    int probe = result_of(ctx, id);
    double probe_ms = now_ms() - t0;

    struct load r = healthy_load(ctx, fast_path("healthy"), healthy, 64, 30000, &others);
    printf("healthy opens: %d of %d in %.0f ms, p50 %.2f ms, p99 %.2f ms; longest call %.2f ms; "
           "timeout of a new open after %.0f ms\n",
           r.done, healthy, r.wall_ms, r.p50_ms, r.p99_ms, longest_call_ms, probe_ms);

    hangfs_release(fs);
    long unbalanced = hangfs_wait_balanced(fs, 20000);
    aopen_ctx_free(ctx);
    wait_fds(base_fds, 5000);
    printf("daemon opens %ld releases %ld; fds %d -> %d\n", hangfs_done(fs, HANGFS_OPEN),
           hangfs_done(fs, HANGFS_RELEASE), base_fds, count_fds());

    /* The pool grew far past its 4 workers: at least half the opens started in 100 ms.
     * Natively only: how many threads start in 100 ms is up to the scheduler, and a
     * sanitizer slows each start. Everywhere some must start, or nothing here is tested. */
    if (!getenv("AOPEN_UNDER_SANITIZER"))
        CHECK(started >= late / 2, "only %ld of %d opens started before their timeout", started, late);
    CHECK(started >= 1, "no open started before its timeout");
    CHECK_EQ(hung, started);
    CHECK(s.running >= (uint32_t)hung && s.abandoned_threads >= (uint32_t)hung,
          "late closes are counted: running %u abandoned %u", s.running, s.abandoned_threads);
    CHECK(fuse_running >= (uint32_t)hung, "aopen_stats_mounts shows the hung closes: %u", fuse_running);
    CHECK_EQ(probe, -ETIMEDOUT);
    CHECK(probe_ms < 2000, "a timeout fired %.0f ms late", probe_ms);
    CHECK_EQ(r.done, healthy);
    CHECK_EQ(unbalanced, 0);
    CHECK_EQ(count_fds(), base_fds);
    return 0;
}
