/*
 * hung: a dead mount beside a healthy one. An epoll loop opens (and closes) a local file 500
 * times a second through libaopen. After 3 s it also starts opening files on a mount that
 * hangs (the slow_open shim holds every open there for an hour), 20 a second, each with a
 * 2 s timeout. Every second it prints the healthy opens' latency and aopen_stats: the hung
 * mount's requests pile up in their own queue, its timed-out workers are abandoned but hold
 * only its share, and healthy opens keep their latency. A mount-event request
 * (aopen_mount_event_submit, resubmitted from its callback) prints each change of a
 * filesystem as the library sees it: the hung mount's BLOCKED within a fraction of a second.
 *
 *   make demo-hung     (needs root for a private tmpfs mount, or /dev/shm on its own mount)
 *
 * The hung mount: as root, a tmpfs in a private mount namespace; otherwise a directory in
 * /dev/shm when that is a different mount from /tmp. Exits 1 if a healthy open ever took
 * over 1 s or the hung mount's workers exceeded its share; 77 if no separate mount exists.
 * DEMO_SECONDS (default 10) sets the run's length.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "aopen.h"

#define RATE_PER_TICK 5 /* healthy opens per 10 ms tick: 500/s */
#define HUNG_EVERY 5    /* ticks between hung opens: 20/s */
#define MAX_LAT 4096

static aopen_ctx *ctx;
static double t0;
static int failures;
static double lat[MAX_LAT], all_before[1 << 16], all_during[1 << 16];
static int nlat, nbefore, nduring, hang_started;
static long healthy_done, hung_timed_out;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, int n, int p) {
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[(size_t)n * (size_t)p / 100 - (p == 100)];
}

/* A healthy open's user_data is its submit time in microseconds (never 0). */
static void on_healthy_open(const aopen_completion *c) {
    double ms = (now() - t0) * 1e3 - (double)(uintptr_t)c->user_data / 1e3;
    if (c->result < 0) {
        fprintf(stderr, "healthy open failed: %s\n", strerror(-c->result));
        failures++;
        return;
    }
    if (ms > 1000) {
        fprintf(stderr, "a healthy open took %.0f ms\n", ms);
        failures++;
    }
    if (nlat < MAX_LAT)
        lat[nlat++] = ms;
    if (hang_started && nduring < (int)(sizeof all_during / sizeof *all_during))
        all_during[nduring++] = ms;
    if (!hang_started && nbefore < (int)(sizeof all_before / sizeof *all_before))
        all_before[nbefore++] = ms;
    healthy_done++;
    aclose_submit(ctx, c->result, NULL, NULL);
}

static void on_hung_open(const aopen_completion *c) {
    if (c->result == -ETIMEDOUT)
        hung_timed_out++;
    else if (c->result >= 0)
        close(c->result);
}

/* Mount events: one request always pending, resubmitted from its own callback, so every
 * change of a filesystem this context uses is printed as it happens. */
static struct aopen_mount_event mount_event;
static long blocked_events;

static void on_mount_event(const aopen_completion *c) {
    if (c->result < 0)
        return; /* -ECANCELED when the context is freed */
    static const char *kinds[] = {"?", "BLOCKED", "RECOVERED", "GONE"};
    const struct aopen_mount_event *e = &mount_event;
    printf("  [%.1fs] mount event: %s %s (%s)", now() - t0, kinds[e->kind <= 3 ? e->kind : 0], e->mount_point,
           e->fstype);
    if (e->kind == AOPEN_MOUNT_BLOCKED) {
        printf(", %u calls stuck", e->stuck);
        blocked_events++;
    }
    printf("\n");
    if (aopen_mount_event_submit(ctx, &mount_event, on_mount_event, NULL) < 0)
        failures++;
}

static void print_mount(const aopen_mount_stats *m, void *user) {
    (void)user;
    printf("         blocked mount %s (%s): %u queued, %u in syscalls (%u abandoned), oldest %.1f s\n",
           m->mount_point, m->fstype, m->queued, m->running, m->abandoned, m->oldest_ms / 1e3);
}

static void report(int second, uint32_t share) {
    aopen_stats_snapshot s;
    if (aopen_stats(ctx, &s) != 0)
        return;
    printf("[%2ds] %s healthy: %4d opens, p50 %6.3f ms, p99 %6.3f ms | threads %3u idle %2u abandoned %2u | "
           "queued %3u (over share %3u) running %2u\n",
           second, second > 3 ? "HUNG " : "     ", nlat, pct(lat, nlat, 50), pct(lat, nlat, 99), s.threads,
           s.idle_threads, s.abandoned_threads, s.queued, s.queued_over_share, s.running);
    aopen_stats_mounts(ctx, 1000, print_mount, NULL);
    nlat = 0;
    /* The hung mount never holds more than its share (healthy opens are instant). */
    if (s.running > share + RATE_PER_TICK * 4) {
        fprintf(stderr, "%u syscalls running with a share of %u\n", s.running, share);
        failures++;
    }
    fflush(stdout);
}

/* Makes `dir` a hung mount of its own; returns 0, or -1 if no separate mount is possible. */
static int make_hung_mount(char *dir, size_t len) {
    if (geteuid() == 0 && unshare(CLONE_NEWNS) == 0 && mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0) {
        snprintf(dir, len, "/tmp/aopen-hung-XXXXXX");
        if (mkdtemp(dir) != NULL && mount("aopen-hung", dir, "tmpfs", 0, "size=1m") == 0)
            return 0;
    }
    struct stat a, b;
    if (stat("/dev/shm", &a) == 0 && stat("/tmp", &b) == 0 && a.st_dev != b.st_dev) {
        snprintf(dir, len, "/dev/shm/aopen-hung-XXXXXX");
        if (mkdtemp(dir) != NULL)
            return 0;
    }
    return -1;
}

int main(void) {
    const char *pre = getenv("LD_PRELOAD");
    if (pre == NULL || strstr(pre, "slow_open") == NULL) {
        fprintf(stderr, "run with the slow_open shim preloaded: make demo-hung\n");
        return 1;
    }
    char dead[256], healthy[] = "/tmp/aopen-healthy-XXXXXX", path[300];
    if (make_hung_mount(dead, sizeof dead) != 0) {
        fprintf(stderr, "no separate mount for the hung files: run as root, or with /dev/shm mounted\n");
        return 77;
    }
    int hfd = mkstemp(healthy);
    if (hfd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(hfd);
    snprintf(path, sizeof path, "%s/", dead);
    setenv("SLOW_OPEN_PREFIX", path, 1); /* every open under it hangs for an hour */
    setenv("SLOW_OPEN_MS", "3600000", 1);
    snprintf(path, sizeof path, "%s/file", dead);
    int seconds = getenv("DEMO_SECONDS") ? atoi(getenv("DEMO_SECONDS")) : 10;

    aopen_options o;
    memset(&o, 0, sizeof o);
    o.max_threads = 64;
    o.timeout_ms = 2000;
    int rc = aopen_ctx_new(&o, &ctx);
    if (rc != 0) {
        fprintf(stderr, "aopen_ctx_new: %s\n", strerror(-rc));
        return 1;
    }
    aopen_stats_snapshot s0;
    aopen_stats(ctx, &s0);
    if (aopen_mount_event_submit(ctx, &mount_event, on_mount_event, NULL) < 0) {
        fprintf(stderr, "aopen_mount_event_submit failed\n");
        failures++;
    }
    printf("healthy file %s, hung mount %s (share %u of %d workers); the hang starts at 3 s\n", healthy, dead,
           s0.per_mount_threads, o.max_threads);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct itimerspec its = {{0, 10000000}, {0, 10000000}};
    timerfd_settime(tfd, 0, &its, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = tfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    ev.data.fd = aopen_ctx_fd(ctx);
    epoll_ctl(ep, EPOLL_CTL_ADD, aopen_ctx_fd(ctx), &ev);

    t0 = now();
    long ticks = 0;
    int second = 0;
    while (second < seconds) {
        struct epoll_event got[2];
        int n = epoll_wait(ep, got, 2, -1);
        for (int i = 0; i < n; i++) {
            if (got[i].data.fd != tfd) {
                aopen_dispatch(ctx, 0);
                continue;
            }
            uint64_t expirations;
            if (read(tfd, &expirations, sizeof expirations) != sizeof expirations)
                continue;
            ticks++;
            for (int k = 0; k < RATE_PER_TICK; k++) {
                uintptr_t us = (uintptr_t)((now() - t0) * 1e6) + 1;
                int64_t id = aopen_submit(ctx, healthy, O_RDONLY, 0, on_healthy_open, (void *)us);
                if (id < 0) {
                    fprintf(stderr, "healthy submit: %s\n", strerror((int)-id));
                    failures++;
                }
            }
            hang_started = now() - t0 >= 3;
            if (hang_started && ticks % HUNG_EVERY == 0)
                aopen_submit(ctx, path, O_RDONLY, 0, on_hung_open, NULL);
            if (now() - t0 >= second + 1)
                report(++second, s0.per_mount_threads);
        }
    }
    printf("healthy opens: %ld; before the hang p50 %.3f ms p99 %.3f ms; beside the hung mount p50 %.3f ms "
           "p99 %.3f ms; %ld hung opens timed out\n",
           healthy_done, pct(all_before, nbefore, 50), pct(all_before, nbefore, 99), pct(all_during, nduring, 50),
           pct(all_during, nduring, 99), hung_timed_out);
    double f0 = now();
    aopen_ctx_free(ctx);
    printf("aopen_ctx_free with the hung mount's workers stuck: %.2f ms\n", (now() - f0) * 1e3);
    unlink(healthy);
    umount2(dead, MNT_DETACH); /* fails harmlessly for the /dev/shm directory */
    rmdir(dead);
    if (nduring == 0 || hung_timed_out == 0) {
        fprintf(stderr, "the hang never took effect\n");
        failures++;
    }
    if (blocked_events == 0) {
        fprintf(stderr, "no mount event said the hung mount was blocked\n");
        failures++;
    }
    printf("%s\n", failures ? "FAILED" : "OK: healthy opens kept their latency beside a hung mount");
    return failures ? 1 : 0;
}
