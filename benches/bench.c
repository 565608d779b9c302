/*
 * make bench: open+close pairs of a small cached file, side by side in one run.
 *
 *   bench fast CSV   throughput, driving-thread CPU and latency, with K = 1, 16, 256 pairs
 *                    in flight: synchronous calls (1 and 2 threads); libaopen driven as an
 *                    event loop drives it (epoll on aopen_ctx_fd, reap, submit), with default
 *                    options, with the nowait calls tried first, with AOPEN_OPT_NO_INLINE
 *                    (the pool path alone) and with NO_INLINE+NO_MOUNTS (the pool path
 *                    without attribution, to price it); libaopen driven by aopen_wait (reap
 *                    and dispatch); libuv's threadpool (if built with it); io_uring (if
 *                    built with liburing and the kernel allows it). Variants alternate, each
 *                    repeated; medians, min-max, ratios. Then the file calls (pread, stat,
 *                    readlink) against synchronous calls and libuv, and issue 30's targets:
 *                    per workload (open+close, a 4 KiB pread, stat by path), sync, libaopen
 *                    default and pool-only, libuv and io_uring at K = 1, 16, 256, with the
 *                    ratios the targets name, and io_uring with the safety checks a library
 *                    must make first (io_uring_checked: the ceiling of a safe ring engine). Then eventfd writes per completion and idle
 *                    CPU use. Appends rows to CSV.
 *                    With BENCH_BASELINE set to another build of libaopen.so, its wait+reap
 *                    variant runs alternating with this build's, loaded by dlopen.
 *                    Then the submit path alone: nanoseconds per aopen_submit and per
 *                    aclose_submit call on the pool path, with and without attribution.
 *   bench files CSV  the file calls and the read and stat targets' tables alone.
 *   bench targets CSV  the three targets' tables alone (about 90 s).
 *   bench slow CSV   with the slow_open shim preloaded: 64 opens delayed 200 ms each, wall
 *                    time with default options vs libuv's default pool; resident memory
 *                    per outstanding request.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aopen.h"
#ifdef HAVE_UV
#include <uv.h>
#endif
#ifdef HAVE_URING
#include <linux/openat2.h>
#include <liburing.h>
#endif

#define RUNS 5
#define RUN_SECS 0.3
#define MAX_LAT 2000000

static char file_path[4096];
static FILE *csv;
static const char *run_label = "";

/* One CSV row: run,metric,variant,k,repeat,value. */
#define ROW(metric, variant, k, rep, value)                                                   \
    fprintf(csv, "%s,%s,%s,%s,%s,%.4f\n", run_label, metric, variant, k, rep, (double)(value))

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, long rc) {
    fprintf(stderr, "bench: %s: %ld (%s)\n", what, rc, rc < 0 ? strerror((int)-rc) : "");
    exit(1);
}

/* ---- latency samples (K=1 only) ---- */
static double *lat;
static long nlat;
static void lat_add(double s) {
    if (lat && nlat < MAX_LAT)
        lat[nlat++] = s;
}
static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- synchronous baselines ---- */
struct sync_arg {
    double until;
    long pairs;
};
static void *sync_loop(void *p) {
    struct sync_arg *a = p;
    while (now_s() < a->until) {
        int fd = open(file_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die("open", -errno);
        close(fd);
        a->pairs++;
    }
    return NULL;
}
static double run_sync(int threads) {
    struct sync_arg a[2] = {{0, 0}, {0, 0}};
    pthread_t t[2];
    double t0 = now_s();
    if (threads == 1) { /* on the calling thread, so its CPU is the driving thread's */
        a[0].until = t0 + RUN_SECS;
        sync_loop(&a[0]);
        return a[0].pairs / (now_s() - t0);
    }
    for (int i = 0; i < threads; i++) {
        a[i].until = t0 + RUN_SECS;
        pthread_create(&t[i], NULL, sync_loop, &a[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return (a[0].pairs + a[1].pairs) / (now_s() - t0);
}

/* ---- libaopen: K pairs in flight ---- */
/* The entry points a run uses: this build's, or a baseline build's loaded with dlopen. */
struct api {
    __typeof__(aopen_ctx_new) *ctx_new;
    __typeof__(aopen_ctx_free) *ctx_free;
    __typeof__(aopen_submit) *submit;
    __typeof__(aclose_submit) *close_submit;
    __typeof__(aopen_wait) *wait;
    __typeof__(aopen_reap) *reap;
    __typeof__(aopen_dispatch) *dispatch;
};
static const struct api this_build = {aopen_ctx_new, aopen_ctx_free, aopen_submit, aclose_submit,
                                      aopen_wait,    aopen_reap,     aopen_dispatch};
static struct api baseline;
static aopen_ctx *baseline_ctx;

/* Loads BENCH_BASELINE's libaopen.so into `baseline`; 0 if unset or unusable. */
static int load_baseline(void) {
    const char *path = getenv("BENCH_BASELINE");
    if (path == NULL || *path == '\0')
        return 0;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (h == NULL) {
        fprintf(stderr, "baseline %s: %s\n", path, dlerror());
        return 0;
    }
    void **slots[] = {(void **)&baseline.ctx_new, (void **)&baseline.ctx_free, (void **)&baseline.submit,
                      (void **)&baseline.close_submit, (void **)&baseline.wait, (void **)&baseline.reap,
                      (void **)&baseline.dispatch};
    const char *names[] = {"aopen_ctx_new", "aopen_ctx_free", "aopen_submit", "aclose_submit",
                           "aopen_wait",    "aopen_reap",     "aopen_dispatch"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((*slots[i] = dlsym(h, names[i])) == NULL)
            return 0;
    return 1;
}

struct ao {
    const struct api *api;
    aopen_ctx *ctx;
    double until, started[256];
    long pairs;
    int inflight;
};
static struct ao ao;

static void cb_pair(const aopen_completion *c);
static void ao_completed(const aopen_completion *c, int with_cb) {
    int slot = (int)(intptr_t)c->user_data;
    if (c->result < 0)
        die(c->op == AOPEN_OP_OPEN ? "open completion" : "close completion", c->result);
    if (c->op == AOPEN_OP_OPEN) {
        int64_t id = ao.api->close_submit(ao.ctx, c->result, with_cb ? cb_pair : NULL, c->user_data);
        if (id < 0)
            die("aclose_submit", (long)id);
        return;
    }
    ao.pairs++;
    lat_add(now_s() - ao.started[slot]);
    if (now_s() < ao.until) {
        ao.started[slot] = now_s();
        int64_t id = ao.api->submit(ao.ctx, file_path, O_RDONLY, 0, with_cb ? cb_pair : NULL, c->user_data);
        if (id < 0)
            die("aopen_submit", (long)id);
    } else {
        ao.inflight--;
    }
}
/* One callback for both ops: an open's completion submits the close, a close's the next open. */
static void cb_pair(const aopen_completion *c) { ao_completed(c, 1); }

static double run_api(const struct api *api, aopen_ctx *ctx, int k, int dispatch) {
    ao.api = api;
    ao.ctx = ctx;
    ao.pairs = 0;
    ao.inflight = k;
    double t0 = now_s();
    ao.until = t0 + RUN_SECS;
    for (int i = 0; i < k; i++) {
        ao.started[i] = now_s();
        int64_t id = api->submit(ctx, file_path, O_RDONLY, 0, dispatch ? cb_pair : NULL, (void *)(intptr_t)i);
        if (id < 0)
            die("aopen_submit", (long)id);
    }
    aopen_completion buf[512];
    while (ao.inflight > 0) {
        int w = api->wait(ctx, 5000);
        if (w <= 0)
            die("aopen_wait", w);
        if (dispatch) {
            api->dispatch(ctx, 0);
        } else {
            int n = api->reap(ctx, buf, 512);
            for (int i = 0; i < n; i++)
                ao_completed(&buf[i], 0);
        }
    }
    return ao.pairs / (now_s() - t0);
}

static double run_aopen(aopen_ctx *ctx, int k, int dispatch) { return run_api(&this_build, ctx, k, dispatch); }

/* ---- libaopen driven as an event loop drives it: epoll on the ctx fd, then reap ----
 * Each of K slots runs open+close pairs back to back. With `nowait` the loop first tries
 * aopen_open_nowait / aopen_close_nowait and submits only what returns -EAGAIN. A slot whose
 * pair completed inline is queued to start its next pair on the next loop turn (after
 * epoll_wait(0) and a reap), so inline pairs never starve delivered ones. */
struct ep {
    aopen_ctx *ctx;
    int nowait, inflight, todo[256], ntodo;
    long pairs;
    double until, started[256];
};
static struct ep ep;

static void ep_pair_done(int slot) {
    ep.pairs++;
    lat_add(now_s() - ep.started[slot]);
    if (now_s() < ep.until)
        ep.todo[ep.ntodo++] = slot;
    else
        ep.inflight--;
}
static void ep_close(int slot, int fd) {
    if (ep.nowait && aopen_close_nowait(ep.ctx, fd) == 0) {
        ep_pair_done(slot);
        return;
    }
    int64_t id = aclose_submit(ep.ctx, fd, NULL, (void *)(intptr_t)slot);
    if (id < 0)
        die("aclose_submit", (long)id);
}
static void ep_start(int slot) {
    ep.started[slot] = now_s();
    if (ep.nowait) {
        int fd = aopen_open_nowait(ep.ctx, file_path, O_RDONLY, 0);
        if (fd >= 0) {
            ep_close(slot, fd);
            return;
        }
        if (fd != -EAGAIN)
            die("aopen_open_nowait", fd);
    }
    int64_t id = aopen_submit(ep.ctx, file_path, O_RDONLY, 0, NULL, (void *)(intptr_t)slot);
    if (id < 0)
        die("aopen_submit", (long)id);
}
static double run_epoll(aopen_ctx *ctx, int k, int nowait) {
    int efd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    if (efd < 0 || epoll_ctl(efd, EPOLL_CTL_ADD, aopen_ctx_fd(ctx), &ev) != 0)
        die("epoll", -errno);
    ep.ctx = ctx;
    ep.nowait = nowait;
    ep.pairs = 0;
    ep.inflight = k;
    ep.ntodo = 0;
    double t0 = now_s();
    ep.until = t0 + RUN_SECS;
    for (int i = 0; i < k; i++)
        ep_start(i);
    aopen_completion buf[512];
    int todo[256];
    while (ep.inflight > 0) {
        /* Start the pairs of slots whose last pair completed inline, as one loop turn. */
        int n = ep.ntodo;
        memcpy(todo, ep.todo, sizeof(int) * (size_t)n);
        ep.ntodo = 0;
        for (int i = 0; i < n; i++)
            ep_start(todo[i]);
        if (ep.inflight == 0)
            break;
        struct epoll_event out;
        int r = epoll_wait(efd, &out, 1, ep.ntodo ? 0 : 5000);
        if (r < 0 && errno != EINTR)
            die("epoll_wait", -errno);
        if (r == 0 && ep.ntodo == 0)
            die("epoll_wait timed out", 0);
        int got = aopen_reap(ctx, buf, 512);
        for (int i = 0; i < got; i++) {
            int slot = (int)(intptr_t)buf[i].user_data;
            if (buf[i].result < 0)
                die(buf[i].op == AOPEN_OP_OPEN ? "open completion" : "close completion", buf[i].result);
            if (buf[i].op == AOPEN_OP_OPEN)
                ep_close(slot, buf[i].result);
            else
                ep_pair_done(slot);
        }
    }
    close(efd);
    return ep.pairs / (now_s() - t0);
}

/* ---- libuv: K pairs in flight through its threadpool ---- */
#ifdef HAVE_UV
struct uvslot {
    uv_fs_t req;
    double started;
};
static struct uvslot uvs[256];
static double uv_until;
static long uv_pairs;
static void uv_on_open(uv_fs_t *req);
static void uv_on_close(uv_fs_t *req) {
    struct uvslot *s = (struct uvslot *)req;
    if (req->result < 0)
        die("uv close", (long)req->result);
    uv_fs_req_cleanup(req);
    uv_pairs++;
    lat_add(now_s() - s->started);
    if (now_s() < uv_until) {
        s->started = now_s();
        uv_fs_open(req->loop, req, file_path, O_RDONLY, 0, uv_on_open);
    }
}
static void uv_on_open(uv_fs_t *req) {
    if (req->result < 0)
        die("uv open", (long)req->result);
    uv_file fd = (uv_file)req->result;
    uv_fs_req_cleanup(req);
    uv_fs_close(req->loop, req, fd, uv_on_close);
}
static double run_uv(int k) {
    uv_loop_t *loop = uv_default_loop();
    uv_pairs = 0;
    double t0 = now_s();
    uv_until = t0 + RUN_SECS;
    for (int i = 0; i < k; i++) {
        uvs[i].started = now_s();
        uv_fs_open(loop, &uvs[i].req, file_path, O_RDONLY, 0, uv_on_open);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_pairs / (now_s() - t0);
}
#endif

/* ---- the fast run ---- */
enum {
    SYNC1,
    SYNC2,
    AO_EPOLL,
    AO_EPOLL_NOWAIT,
    AO_EPOLL_NOINLINE,
    AO_EPOLL_NOMNT,
    AO_REAP,
    AO_DISPATCH,
    BASE_REAP,
    UV,
    URING,
    URING_SAFE,
    NKINDS
};
static const char *kind_name[] = {"sync, 1 thread",        "sync, 2 threads",        "epoll",
                                  "epoll, nowait first",   "epoll, NO_INLINE",       "epoll, NO_INL+NO_MNT",
                                  "wait+reap",             "wait+dispatch",          "baseline, wait+reap",
                                  "libuv 4-thread pool",   "io_uring",               "io_uring, checked"};
/* What a variant measures: open+close pairs (the fast run's table), or one of the file calls
 * issue 30's targets name (a 4 KiB pread of a cached 4 KiB file, stat by path of it). */
enum work { W_PAIRS, W_READ4K, W_STAT };
struct variant {
    int kind, k;
    double runs[RUNS];
    double cpu_us[RUNS]; /* the driving thread's CPU per pair or call (RUSAGE_THREAD) */
    int work;
};

static double thread_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void stats(const double *v, int n, double *med, double *lo, double *hi) {
    double s[RUNS];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof s[0], cmp_d);
    *med = s[n / 2];
    *lo = s[0];
    *hi = s[n - 1];
}

static void latency_line(const char *what, double (*fn)(void)) {
    lat = malloc(sizeof(double) * MAX_LAT);
    nlat = 0;
    fn();
    qsort(lat, (size_t)nlat, sizeof lat[0], cmp_d);
    double med = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(long)(nlat * 0.99)] : 0;
    printf("  %-22s median %6.1f us   p99 %7.1f us   (%ld pairs)\n", what, med * 1e6, p99 * 1e6, nlat);
    ROW("latency_k1_median_us", what, "1", "", med * 1e6);
    ROW("latency_k1_p99_us", what, "1", "", p99 * 1e6);
    free(lat);
    lat = NULL;
}
static aopen_ctx *lat_ctx;
static double lat_reap(void) { return run_aopen(lat_ctx, 1, 0); }
static double lat_base(void) { return run_api(&baseline, baseline_ctx, 1, 0); }
static double lat_dispatch(void) { return run_aopen(lat_ctx, 1, 1); }
static double lat_epoll(void) { return run_epoll(lat_ctx, 1, 0); }
static double lat_epoll_nowait(void) { return run_epoll(lat_ctx, 1, 1); }
#ifdef HAVE_UV
static double lat_uv(void) { return run_uv(1); }
#endif

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- the submit path alone ---- */
enum { SUBMIT_BATCH = 256, SUBMIT_ROUNDS = 400 };

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* SUBMIT_BATCH distinct files beside the bench file, for a run whose paths all differ. */
static char distinct[SUBMIT_BATCH][4200];

/* Median ns per aopen_submit and per aclose_submit over rounds of SUBMIT_BATCH back-to-back
 * calls (timing the calls only; the completions are drained between rounds); of the one
 * bench file, or of SUBMIT_BATCH distinct files (`spread`). */
static void submit_cost(const struct api *api, aopen_ctx *ctx, int spread, double *open_ns, double *close_ns) {
    static double o[SUBMIT_ROUNDS], c[SUBMIT_ROUNDS];
    aopen_completion done[SUBMIT_BATCH];
    int fds[SUBMIT_BATCH];
    for (int r = 0; r < SUBMIT_ROUNDS; r++) {
        double t0 = now_s();
        for (int i = 0; i < SUBMIT_BATCH; i++)
            if (api->submit(ctx, spread ? distinct[i] : file_path, O_RDONLY, 0, NULL, NULL) <= 0)
                die("submit", 0);
        o[r] = (now_s() - t0) / SUBMIT_BATCH * 1e9;
        int got = 0;
        while (got < SUBMIT_BATCH) {
            api->wait(ctx, -1);
            got += api->reap(ctx, done + got, (unsigned)(SUBMIT_BATCH - got));
        }
        for (int i = 0; i < SUBMIT_BATCH; i++)
            fds[i] = done[i].result;
        t0 = now_s();
        for (int i = 0; i < SUBMIT_BATCH; i++)
            if (api->close_submit(ctx, fds[i], NULL, NULL) <= 0)
                die("close submit", 0);
        c[r] = (now_s() - t0) / SUBMIT_BATCH * 1e9;
        for (got = 0; got < SUBMIT_BATCH;) {
            api->wait(ctx, -1);
            got += api->reap(ctx, done + got, (unsigned)(SUBMIT_BATCH - got));
        }
    }
    qsort(o, SUBMIT_ROUNDS, sizeof o[0], cmp_double);
    qsort(c, SUBMIT_ROUNDS, sizeof c[0], cmp_double);
    *open_ns = o[SUBMIT_ROUNDS / 2];
    *close_ns = c[SUBMIT_ROUNDS / 2];
}

static void submit_path(aopen_ctx *ctx, aopen_ctx *nomnt, int with_base) {
    for (int i = 0; i < SUBMIT_BATCH; i++) {
        snprintf(distinct[i], sizeof distinct[i], "%s.%d", file_path, i);
        int fd = open(distinct[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            die("create", -errno);
        close(fd);
    }
    printf("\nsubmit path alone (ns per call, median of %d rounds of %d):\n", SUBMIT_ROUNDS, SUBMIT_BATCH);
    printf("  %-40s %12s %12s %12s\n", "", "aopen_submit", "aclose_submit", "256 paths");
    struct {
        const char *name;
        const struct api *api;
        aopen_ctx *ctx;
    } rows[] = {{"libaopen, NO_INLINE (attribution)", &this_build, ctx},
                {"libaopen, NO_INLINE+NO_MOUNTS", &this_build, nomnt},
                {"baseline (lexical mount lookup)", &baseline, baseline_ctx}};
    for (int i = 0; i < (with_base ? 3 : 2); i++) {
        double o, c, spread_o, spread_c;
        submit_cost(rows[i].api, rows[i].ctx, 0, &o, &c);
        submit_cost(rows[i].api, rows[i].ctx, 1, &spread_o, &spread_c);
        printf("  %-40s %12.0f %12.0f %12.0f\n", rows[i].name, o, c, spread_o);
        ROW("submit_ns", rows[i].name, "", "open", o);
        ROW("submit_ns", rows[i].name, "", "close", c);
        ROW("submit_ns", rows[i].name, "", "open_256_paths", spread_o);
    }
    printf("  (\"256 paths\": aopen_submit cycling through 256 files, more than the path cache holds)\n");
    for (int i = 0; i < SUBMIT_BATCH; i++)
        unlink(distinct[i]);
}

/* The pool path (epoll, NO_INLINE) with `threads` workers, to re-check the default. */
static void thread_sweep(double sync1) {
    static const uint32_t counts[] = {2, 4, 8, 16};
    static const int ks[] = {16, 256};
    enum { N = sizeof counts / sizeof counts[0] };
    aopen_ctx *ctxs[N];
    double runs[2][N][RUNS];
    for (int t = 0; t < N; t++) {
        aopen_options o;
        memset(&o, 0, sizeof o);
        o.flags = AOPEN_OPT_NO_INLINE;
        o.threads = counts[t];
        int rc = aopen_ctx_new(&o, &ctxs[t]);
        if (rc)
            die("aopen_ctx_new", rc);
    }
    for (int r = 0; r < RUNS; r++) /* alternating, as above */
        for (int ki = 0; ki < 2; ki++)
            for (int t = 0; t < N; t++)
                runs[ki][t][r] = run_epoll(ctxs[t], ks[ki], 0);
    printf("\nworkers on the pool path (epoll, NO_INLINE, x sync1; the default is 2 per CPU, at least 4):\n");
    for (int ki = 0; ki < 2; ki++) {
        printf("  K=%-4d", ks[ki]);
        for (int t = 0; t < N; t++) {
            double med, lo, hi;
            stats(runs[ki][t], RUNS, &med, &lo, &hi);
            printf("   %2u threads %5.2fx", counts[t], med / sync1);
            char kk[8], tt[8];
            snprintf(kk, sizeof kk, "%d", ks[ki]);
            snprintf(tt, sizeof tt, "%u", counts[t]);
            ROW("pairs_per_s_by_threads", tt, kk, "", med);
        }
        printf("\n");
    }
    for (int t = 0; t < N; t++)
        aopen_ctx_free(ctxs[t]);
}

static aopen_ctx *ctx_with(unsigned flags) {
    aopen_options o;
    memset(&o, 0, sizeof o);
    o.flags = flags;
    aopen_ctx *ctx;
    int rc = aopen_ctx_new(flags ? &o : NULL, &ctx);
    if (rc)
        die("aopen_ctx_new", rc);
    return ctx;
}

static double run_work(int work, int kind, aopen_ctx *ctx, int k);
static double run_uring(int work, int k);
static double run_uring_safe(int work, int k);
static int uring_ok; /* io_uring is built in, set up, and has the ops the rows use */

/* Pairs (or, for a file-call workload, calls) per second of one variant, and the driving
 * thread's CPU per pair. */
static double run_variant(const struct variant *v, aopen_ctx *ctx, aopen_ctx *noinline, aopen_ctx *nomnt,
                          double *cpu_us) {
    double c0 = thread_cpu_s(), rate = 0, t0 = now_s();
    switch (v->work == W_PAIRS ? v->kind : -1) {
    case -1: /* a file-call workload */
        rate = run_work(v->work, v->kind, v->kind == AO_EPOLL_NOINLINE ? noinline : ctx, v->k); break;
    case SYNC1: rate = run_sync(1); break;
    case SYNC2: rate = run_sync(2); break;
    case AO_EPOLL: rate = run_epoll(ctx, v->k, 0); break;
    case AO_EPOLL_NOWAIT: rate = run_epoll(ctx, v->k, 1); break;
    case AO_EPOLL_NOINLINE: rate = run_epoll(noinline, v->k, 0); break;
    case AO_EPOLL_NOMNT: rate = run_epoll(nomnt, v->k, 0); break;
    case AO_REAP: rate = run_aopen(ctx, v->k, 0); break;
    case AO_DISPATCH: rate = run_aopen(ctx, v->k, 1); break;
    case BASE_REAP: rate = run_api(&baseline, baseline_ctx, v->k, 0); break;
#ifdef HAVE_UV
    case UV: rate = run_uv(v->k); break;
#endif
    case URING: rate = run_uring(W_PAIRS, v->k); break;
    case URING_SAFE: rate = run_uring_safe(W_PAIRS, v->k); break;
    }
    double pairs = rate * (now_s() - t0);
    *cpu_us = pairs > 0 && v->kind != SYNC2 ? (thread_cpu_s() - c0) / pairs * 1e6 : 0;
    return rate;
}

/* Whether this run has a variant kind: the baseline when loaded, libuv when built with it,
 * io_uring when built with it and the kernel lets us use it. */
static int kind_available(int kind, int with_base) {
#ifndef HAVE_UV
    if (kind == UV)
        return 0;
#endif
    return (kind != BASE_REAP || with_base) && ((kind != URING && kind != URING_SAFE) || uring_ok);
}

static const struct variant *find_variant(const struct variant *vs, int nv, int kind, int k) {
    for (int j = 0; j < nv; j++)
        if (vs[j].kind == kind && vs[j].k == k)
            return &vs[j];
    return NULL;
}

static double median_of(const struct variant *vs, int nv, int kind, int k) {
    const struct variant *v = find_variant(vs, nv, kind, k);
    double m = 0, a, b;
    if (v)
        stats(v->runs, RUNS, &m, &a, &b);
    return m;
}

/* Warms up every variant once (threads, caches, the fd table), then measures each RUNS
 * times, alternating. */
static void measure(struct variant *vs, int nv, aopen_ctx *ctx, aopen_ctx *noinline, aopen_ctx *nomnt) {
    for (int r = -1; r < RUNS; r++)
        for (int i = 0; i < nv; i++) {
            double cpu;
            double v = run_variant(&vs[i], ctx, noinline, nomnt, &cpu);
            if (r >= 0) {
                vs[i].runs[r] = v;
                vs[i].cpu_us[r] = cpu;
            }
        }
}

static void file_calls(void);
static void targets_heading(void);
static void target_table(const struct variant *vs, int nv, int work);
static void file_targets(void);

static void fast(void) {
    struct variant vs[2 + 3 * (NKINDS - 2)];
    int nv = 0;
    vs[nv++] = (struct variant){.kind = SYNC1};
    vs[nv++] = (struct variant){.kind = SYNC2};
    int ks[] = {1, 16, 256};
    int with_base = load_baseline();
    for (int i = 0; i < 3; i++)
        for (int kind = AO_EPOLL; kind < NKINDS; kind++) {
            if (!kind_available(kind, with_base))
                continue;
            vs[nv++] = (struct variant){.kind = kind, .k = ks[i]};
        }
    aopen_ctx *ctx = ctx_with(0);
    aopen_ctx *noinline = ctx_with(AOPEN_OPT_NO_INLINE);
    /* Without attribution: the same counters and queues, no syscall in submit. */
    aopen_ctx *nomnt = ctx_with(AOPEN_OPT_NO_MOUNTS | AOPEN_OPT_NO_INLINE);
    int rc;
    if (with_base && (rc = baseline.ctx_new(NULL, &baseline_ctx)))
        die("baseline aopen_ctx_new", rc);
    measure(vs, nv, ctx, noinline, nomnt);
    double sync1, lo, hi;
    stats(vs[0].runs, RUNS, &sync1, &lo, &hi);
    printf("open+close pairs of a cached file; %d alternating runs of %.1f s each; medians.\n"
           "epoll: the loop polls aopen_ctx_fd with epoll_wait, reaps, submits the close (default options);\n"
           "wait+reap / wait+dispatch: the loop blocks in aopen_wait; loop CPU: the driving thread's\n"
           "CPU time per pair (RUSAGE_THREAD)\n\n",
           RUNS, RUN_SECS);
    printf("  %-22s %4s %10s %21s %8s %8s %9s %9s\n", "variant", "K", "pairs/s", "min - max", "x sync1", "x libuv",
           with_base ? "x basel." : "", "loop CPU");
    for (int i = 0; i < nv; i++) {
        double med, cpu, a, b;
        stats(vs[i].runs, RUNS, &med, &lo, &hi);
        stats(vs[i].cpu_us, RUNS, &cpu, &a, &b);
        int own = vs[i].kind != SYNC1 && vs[i].kind != SYNC2;
        double uvmed = median_of(vs, nv, UV, vs[i].k), basemed = median_of(vs, nv, BASE_REAP, vs[i].k);
        char ks_[8] = "-", uvr[16] = "", baser[16] = "", cpus[16] = "";
        if (own)
            snprintf(ks_, sizeof ks_, "%d", vs[i].k);
        if (uvmed > 0 && own && vs[i].kind != UV)
            snprintf(uvr, sizeof uvr, "%7.2fx", med / uvmed);
        if (basemed > 0 && vs[i].kind == AO_REAP)
            snprintf(baser, sizeof baser, "%8.2fx", med / basemed);
        if (cpu > 0)
            snprintf(cpus, sizeof cpus, "%6.2f us", cpu);
        printf("  %-22s %4s %10.0f %10.0f - %-9.0f %7.2fx %8s %9s %9s\n", kind_name[vs[i].kind], ks_, med, lo, hi,
               med / sync1, uvr, baser, cpus);
        for (int r = 0; r < RUNS; r++) {
            char rep[8];
            snprintf(rep, sizeof rep, "%d", r);
            ROW("pairs_per_s", kind_name[vs[i].kind], ks_, rep, vs[i].runs[r]);
            ROW("loop_cpu_us_per_pair", kind_name[vs[i].kind], ks_, rep, vs[i].cpu_us[r]);
        }
    }
    /* The pool path with and without attribution: what attribution costs. */
    printf("\n  attribution cost on the pool path (epoll, NO_INLINE vs NO_INLINE+NO_MOUNTS):");
    for (int i = 0; i < 3; i++) {
        double with = median_of(vs, nv, AO_EPOLL_NOINLINE, ks[i]), without = median_of(vs, nv, AO_EPOLL_NOMNT, ks[i]);
        double cost = with > 0 ? (1 - with / without) * 100 : 0;
        char kk[8];
        snprintf(kk, sizeof kk, "%d", ks[i]);
        printf("  K=%d %.1f%%", ks[i], cost);
        ROW("attribution_cost_percent", "epoll, NO_INLINE", kk, "", cost);
    }
    printf("\n");
    thread_sweep(sync1);
    file_calls();
    targets_heading();
    target_table(vs, nv, W_PAIRS);
    file_targets();
    if (!with_base)
        printf("\n  (no baseline: set BENCH_BASELINE to another build's libaopen.so to compare)\n");
#ifndef HAVE_UV
    printf("\n  (libuv not built: pkg-config found no libuv; install libuv1-dev to compare)\n");
#endif

    submit_path(noinline, nomnt, with_base);

    printf("\nround trip at K=1 (open submitted to its close delivered):\n");
    lat_ctx = ctx;
    latency_line("libaopen, epoll", lat_epoll);
    latency_line("libaopen, epoll nowait", lat_epoll_nowait);
    latency_line("libaopen, reap", lat_reap);
    latency_line("libaopen, dispatch", lat_dispatch);
    if (with_base)
        latency_line("baseline, reap", lat_base);
#ifdef HAVE_UV
    latency_line("libuv", lat_uv);
#endif
    aopen_ctx_free(ctx);
    aopen_ctx_free(noinline);
    aopen_ctx_free(nomnt);
    if (with_base)
        baseline.ctx_free(baseline_ctx);

    /* eventfd writes per completion at K=256: a caller's eventfd is written, never read, so
     * its counter is the number of writes. */
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    aopen_options o;
    memset(&o, 0, sizeof o);
    o.flags = AOPEN_OPT_EVENTFD;
    o.eventfd = efd;
    if ((rc = aopen_ctx_new(&o, &ctx)))
        die("aopen_ctx_new", rc);
    run_aopen(ctx, 256, 0);
    uint64_t writes = 0;
    if (read(efd, &writes, 8) != 8)
        writes = 0;
    double per = writes / (2.0 * (double)ao.pairs);
    printf("\neventfd writes per completion at K=256 (reap): %.3f (%llu writes, %ld completions)\n", per,
           (unsigned long long)writes, 2 * ao.pairs);
    ROW("eventfd_writes_per_completion", "libaopen, reap", "256", "", per);

    /* Idle CPU: a context that has done work, then sits for 2 s. */
    sleep(1);
    double c0 = cpu_s(), t0 = now_s();
    sleep(2);
    double idle = (cpu_s() - c0) / (now_s() - t0);
    printf("idle context CPU use: %.4f%% of a core over 2 s\n", idle * 100);
    ROW("idle_cpu_percent", "libaopen", "", "", idle * 100);
    aopen_ctx_free(ctx);
    close(efd);
}


/* ---- the file calls beyond open/close: cached pread, stat and readlink by path, epoll-driven ---- */
enum fcall { FC_PREAD, FC_STAT, FC_READLINK };
struct fc {
    aopen_ctx *ctx;
    int call, fd, inflight;
    size_t size;
    long done;
    double until;
    unsigned char *bufs;
    struct statx *stx;
    const char *path; /* what stat calls name, the file fd reads */
};
static struct fc fc;
static char big_path[4200], link_path[4200];
/* readlink's target, and the bytes each readlink returns. */
#define LINK_TARGET "a/target/of/the/benchmark/link"
static char link_bufs[256][64];
/* Slots refused with -EAGAIN (the buffer budget: 256 reads of 1 MiB pass the default 64
 * MiB), resubmitted after the next reap, as a loop under back pressure would. */
static int fc_pending[256], fc_npending;

static void fc_submit(int slot) {
    if (now_s() >= fc.until) {
        fc.inflight--;
        return;
    }
    void *ud = (void *)(intptr_t)slot;
    int64_t id = fc.call == FC_PREAD ? aopen_read_submit(fc.ctx, fc.fd, fc.bufs + (size_t)slot * fc.size, fc.size, 0, NULL, ud)
                 : fc.call == FC_STAT ? aopen_stat_submit(fc.ctx, fc.path, 0, STATX_BASIC_STATS, &fc.stx[slot], NULL, ud)
                                      : aopen_readlink_submit(fc.ctx, link_path, link_bufs[slot], 64, NULL, ud);
    if (id == -EAGAIN)
        fc_pending[fc_npending++] = slot;
    else if (id < 0)
        die("file call submit", (long)id);
}

/* Calls per second with `k` in flight, driven as a loop would (epoll on the ctx fd, reap). */
static double run_fc(aopen_ctx *ctx, int call, int k, size_t size) {
    int efd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (efd < 0 || epoll_ctl(efd, EPOLL_CTL_ADD, aopen_ctx_fd(ctx), &ev) != 0)
        die("epoll", -errno);
    fc.ctx = ctx, fc.call = call, fc.size = size, fc.done = 0, fc.inflight = k, fc_npending = 0;
    double t0 = now_s();
    fc.until = t0 + RUN_SECS;
    for (int i = 0; i < k; i++)
        fc_submit(i);
    aopen_completion buf[256];
    while (fc.inflight > 0) {
        if (epoll_wait(efd, &ev, 1, 5000) <= 0)
            die("epoll_wait", -errno);
        int n = aopen_reap(ctx, buf, 256);
        for (int i = 0; i < n; i++) {
            long want = call == FC_PREAD ? (long)size : call == FC_READLINK ? (long)strlen(LINK_TARGET) : 0;
            if (buf[i].result != want)
                die("file call", buf[i].result);
            fc.done++;
            fc_submit((int)(intptr_t)buf[i].user_data);
        }
        int retry[256], nretry = fc_npending;
        memcpy(retry, fc_pending, sizeof retry[0] * (size_t)nretry);
        fc_npending = 0;
        for (int i = 0; i < nretry; i++)
            fc_submit(retry[i]);
    }
    close(efd);
    return fc.done / (now_s() - t0);
}

static double run_fc_sync(int call, size_t size) {
    double t0 = now_s(), until = t0 + RUN_SECS;
    long n = 0;
    struct statx st;
    while (now_s() < until)
        for (int i = 0; i < 64; i++, n++) {
            long r = call == FC_PREAD  ? (long)pread(fc.fd, fc.bufs, size, 0)
                     : call == FC_STAT ? statx(AT_FDCWD, fc.path, 0, STATX_BASIC_STATS, &st)
                                       : (long)readlink(link_path, link_bufs[0], 64);
            if (r != (call == FC_PREAD ? (long)size : call == FC_READLINK ? (long)strlen(LINK_TARGET) : 0))
                die("sync file call", -errno);
        }
    return n / (now_s() - t0);
}

#ifdef HAVE_UV
static uv_fs_t uv_fc[256];
static uv_buf_t uv_fc_buf[256];
static long uv_fc_done;
static int uv_fc_call;
static void uv_fc_next(uv_fs_t *req);
static void uv_fc_cb(uv_fs_t *req) {
    if (req->result < 0)
        die("uv file call", (long)req->result);
    uv_fs_req_cleanup(req);
    uv_fc_done++;
    if (now_s() < uv_until)
        uv_fc_next(req);
}
static void uv_fc_next(uv_fs_t *req) {
    int i = (int)(req - uv_fc);
    if (uv_fc_call == FC_PREAD)
        uv_fs_read(uv_default_loop(), req, fc.fd, &uv_fc_buf[i], 1, 0, uv_fc_cb);
    else if (uv_fc_call == FC_STAT)
        uv_fs_stat(uv_default_loop(), req, fc.path, uv_fc_cb);
    else
        uv_fs_readlink(uv_default_loop(), req, link_path, uv_fc_cb);
}
static double run_fc_uv(int call, int k, size_t size) {
    uv_fc_call = call;
    uv_fc_done = 0;
    double t0 = now_s();
    uv_until = t0 + RUN_SECS;
    for (int i = 0; i < k; i++) {
        uv_fc_buf[i] = uv_buf_init((char *)fc.bufs + (size_t)i * size, (unsigned)size);
        uv_fc_next(&uv_fc[i]);
    }
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    return uv_fc_done / (now_s() - t0);
}
#endif

/* Writes `size` bytes of 'x' (through `bytes`) to `path`, which stays in the page cache, and
 * leaves it open for reading in fc.fd, its path in fc.path. */
static void fc_file(const char *path, unsigned char *bytes, size_t size) {
    memset(bytes, 'x', size);
    int w = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w < 0 || write(w, bytes, size) != (ssize_t)size)
        die("write the file calls' file", -errno);
    close(w);
    fc.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fc.fd < 0)
        die("open the file calls' file", -errno);
    fc.path = path;
}

static void file_calls(void) {
    snprintf(big_path, sizeof big_path, "%s.big", file_path);
    snprintf(link_path, sizeof link_path, "%s.link", file_path);
    unlink(link_path);
    if (symlink(LINK_TARGET, link_path) != 0)
        die("symlink", -errno);
    size_t big = 1 << 20;
    fc.bufs = malloc(256 * big);
    fc.stx = calloc(256, sizeof *fc.stx);
    fc_file(big_path, fc.bufs, big);
    aopen_ctx *ctx = ctx_with(0);
    static const struct {
        const char *name;
        int call, k;
        size_t size;
    } rows[] = {
        {"pread 4 KiB", FC_PREAD, 1, 4096},  {"pread 4 KiB", FC_PREAD, 16, 4096}, {"pread 4 KiB", FC_PREAD, 256, 4096},
        {"pread 1 MiB", FC_PREAD, 1, 1 << 20}, {"pread 1 MiB", FC_PREAD, 16, 1 << 20}, {"pread 1 MiB", FC_PREAD, 256, 1 << 20},
        {"stat by path", FC_STAT, 1, 0},     {"stat by path", FC_STAT, 16, 0},
        {"readlink", FC_READLINK, 1, 0},     {"readlink", FC_READLINK, 16, 0},
    };
    enum { NR = sizeof rows / sizeof rows[0] };
    printf("\nfile calls on a cached file, epoll-driven, default options; %d alternating runs, medians:\n", RUNS);
    printf("  call            K        calls/s   x sync   x libuv\n");
    for (int r = 0; r < NR; r++) {
        double a[RUNS], sy[RUNS], uv[RUNS], med, lo, hi, ms, mu = 0;
        for (int i = 0; i < RUNS; i++) {
            a[i] = run_fc(ctx, rows[r].call, rows[r].k, rows[r].size);
            sy[i] = run_fc_sync(rows[r].call, rows[r].size);
#ifdef HAVE_UV
            uv[i] = run_fc_uv(rows[r].call, rows[r].k, rows[r].size);
#else
            uv[i] = 0;
#endif
        }
        stats(a, RUNS, &med, &lo, &hi);
        stats(sy, RUNS, &ms, &lo, &hi);
        stats(uv, RUNS, &mu, &lo, &hi);
        printf("  %-14s %4d %12.0f %7.2fx %8.2fx\n", rows[r].name, rows[r].k, med, med / ms, mu > 0 ? med / mu : 0);
        char kk[8];
        snprintf(kk, sizeof kk, "%d", rows[r].k);
        ROW("calls_per_s", rows[r].name, kk, "libaopen", med);
        ROW("calls_per_s", rows[r].name, kk, "sync", ms);
        ROW("calls_per_s", rows[r].name, kk, "libuv", mu);
    }
    aopen_ctx_free(ctx);
    close(fc.fd);
    unlink(big_path);
    unlink(link_path);
    free(fc.bufs);
    free(fc.stx);
}

/* ---- issue 30's targets: libaopen against io_uring and libuv, per workload ----
 * For each workload (open+close pairs, a 4 KiB pread, stat by path), K = 1, 16, 256 in flight,
 * the variants the targets name side by side: synchronous calls on the loop thread,
 * libaopen with default options and with AOPEN_OPT_NO_INLINE (both epoll-driven), libuv's
 * threadpool and io_uring. */

#ifdef HAVE_URING
static struct io_uring ring;
#endif

/* Sets up the io_uring the io_uring rows use, or prints why they are left out. */
static void uring_init(void) {
#ifdef HAVE_URING
    int rc = io_uring_queue_init(256, &ring, 0);
    if (rc < 0) {
        printf("(io_uring unavailable here: io_uring_queue_init: %s; its rows are left out)\n", strerror(-rc));
        return;
    }
    struct io_uring_probe *p = io_uring_get_probe_ring(&ring);
    static const int ops[] = {IORING_OP_OPENAT, IORING_OP_OPENAT2, IORING_OP_CLOSE, IORING_OP_READ, IORING_OP_STATX};
    uring_ok = p != NULL;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        uring_ok = uring_ok && io_uring_opcode_supported(p, ops[i]);
    if (p)
        io_uring_free_probe(p);
    if (!uring_ok) {
        printf("(this kernel's io_uring lacks OPENAT, OPENAT2, CLOSE, READ or STATX: its rows are left out)\n");
        io_uring_queue_exit(&ring);
    }
#else
    printf("(io_uring not built: pkg-config found no liburing; install liburing-dev to compare)\n");
#endif
}

#ifdef HAVE_URING
/* K requests in flight, driven the way io_uring's users drive it: each loop turn submits every
 * SQE queued and waits for at least one completion in one io_uring_submit_and_wait (one
 * io_uring_enter), then handles every CQE, each queuing its slot's next SQE. No SQPOLL. A
 * pair is OPENAT then CLOSE; a read is READ at offset 0 of fc.fd; a stat is STATX of fc.path.
 * user_data: the slot, shifted left once, | 1 for a close. */
static struct {
    int work, inflight;
    long done;
    double until;
} ur;

static void ur_queue(int slot, int close_fd) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (sqe == NULL)
        die("io_uring_get_sqe", 0);
    if (close_fd >= 0)
        io_uring_prep_close(sqe, close_fd);
    else if (ur.work == W_PAIRS)
        io_uring_prep_openat(sqe, AT_FDCWD, file_path, O_RDONLY | O_CLOEXEC, 0);
    else if (ur.work == W_READ4K)
        io_uring_prep_read(sqe, fc.fd, fc.bufs + (size_t)slot * 4096, 4096, 0);
    else
        io_uring_prep_statx(sqe, AT_FDCWD, fc.path, 0, STATX_BASIC_STATS, &fc.stx[slot]);
    io_uring_sqe_set_data64(sqe, (uint64_t)slot << 1 | (close_fd >= 0));
}


/* io_uring with the checks a library must make before it hands io_uring a call on a path or
 * descriptor of its caller's, each made the cheapest way there is; the ceiling of an engine
 * that puts those calls on a ring (issue 30, item 2). A call that may reach a network or FUSE
 * filesystem must never go to the ring (its inline open sends FUSE_OPEN from the loop's
 * thread, its io-wq workers are shared by every mount), nor may a FIFO or device be opened:
 * - an open is OPENAT2 from a directory found local (an O_PATH descriptor held open, as a
 *   library would cache it) with RESOLVE_CACHED | RESOLVE_NO_XDEV (the walk cannot leave that
 *   mount, nor wait), then one statx of the descriptor it returns: a regular file on that
 *   mount (else it would be closed and the open handed to a pool);
 * - a close is one statx of the descriptor (a regular file on a local mount: a close that
 *   runs no flush), then CLOSE: the descriptor number is the caller's, so what it names can
 *   change between calls;
 * - a read is that statx and one fcntl(F_GETFL), then READ with RWF_NOWAIT (never handed to
 *   io-wq: EAGAIN instead). The fcntl because a descriptor opened O_DIRECT must not go in:
 *   its READ completes later, from the kernel's task work, which interrupts the loop's
 *   thread in whatever syscall it sleeps (EINTR), and writes whole blocks past the end of
 *   the file;
 * - a stat by path is OPENAT2 with O_PATH as for an open, one statx of that descriptor on the
 *   loop's thread (io_uring's STATX takes no RESOLVE_ flags and always runs on io-wq), then
 *   CLOSE of it.
 * Nothing is handed to a pool here: every check passes on the cached local file. */
static struct {
    int dirfd;
    char name[4200];
    uint64_t mnt;
} urs;

/* The check: fd is a regular file on the file's mount (statx, as the library's checks are). */
static void urs_check(int fd) {
    struct statx st;
    if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE | STATX_MNT_ID, &st) != 0)
        die("statx of a descriptor", -errno);
    if (!S_ISREG(st.stx_mode) || st.stx_mnt_id != urs.mnt)
        die("io_uring checked: not a regular file on the file's mount", 0);
}

static void urs_queue_open(int slot, int path_only) {
    static struct open_how how_file = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_CACHED | RESOLVE_NO_XDEV};
    static struct open_how how_path = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_CACHED | RESOLVE_NO_XDEV};
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (sqe == NULL)
        die("io_uring_get_sqe", 0);
    io_uring_prep_openat2(sqe, urs.dirfd, urs.name, path_only ? &how_path : &how_file);
    io_uring_sqe_set_data64(sqe, (uint64_t)slot << 1);
}

static void urs_queue_read(int slot) {
    urs_check(fc.fd);
    int fl = fcntl(fc.fd, F_GETFL);
    if (fl < 0 || (fl & O_DIRECT))
        die("io_uring checked: a descriptor opened O_DIRECT", fl < 0 ? -errno : 0);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (sqe == NULL)
        die("io_uring_get_sqe", 0);
    io_uring_prep_read(sqe, fc.fd, fc.bufs + (size_t)slot * 4096, 4096, 0);
    sqe->rw_flags = RWF_NOWAIT;
    io_uring_sqe_set_data64(sqe, (uint64_t)slot << 1);
}

static void urs_start(int work, int slot) {
    if (work == W_READ4K)
        urs_queue_read(slot);
    else
        urs_queue_open(slot, work == W_STAT);
}

/* Runs `work` with k in flight on the ring, with the checks (checked) or without. */
static double run_ring(int work, int k, int checked) {
    if (checked) {
        const char *path = work == W_PAIRS ? file_path : fc.path;
        char dir[4200];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        snprintf(urs.name, sizeof urs.name, "%s", slash ? slash + 1 : dir);
        if (slash)
            slash[slash == dir] = '\0';
        else
            snprintf(dir, sizeof dir, ".");
        urs.dirfd = open(dir, O_PATH | O_CLOEXEC | O_DIRECTORY);
        struct statx st;
        if (urs.dirfd < 0 || statx(urs.dirfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &st) != 0)
            die("io_uring checked: the file's directory", -errno);
        urs.mnt = st.stx_mnt_id;
    }
    ur.work = work, ur.inflight = k, ur.done = 0;
    double t0 = now_s();
    ur.until = t0 + RUN_SECS;
    for (int i = 0; i < k; i++)
        checked ? urs_start(work, i) : ur_queue(i, -1);
    while (ur.inflight > 0) {
        int rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR)
            die("io_uring_submit_and_wait", rc);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            int slot = (int)(cqe->user_data >> 1), res = cqe->res, closed = cqe->user_data & 1;
            seen++;
            /* An open (or a checked stat's O_PATH walk): check what it reached, close it. */
            if (!closed && (work == W_PAIRS || (checked && work == W_STAT))) {
                if (res < 0)
                    die("io_uring openat", res);
                if (checked && work == W_STAT) {
                    struct statx sx;
                    if (statx(res, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_BASIC_STATS | STATX_MNT_ID, &sx) != 0 ||
                        sx.stx_mnt_id != urs.mnt)
                        die("io_uring checked: stat", -errno);
                } else if (checked) {
                    urs_check(res); /* what the open reached */
                    urs_check(res); /* the close's own check (a later call of the caller's) */
                }
                ur_queue(slot, res);
                continue;
            }
            if (res != (work == W_READ4K ? 4096 : 0))
                die("io_uring completion", res);
            ur.done++;
            if (now_s() >= ur.until)
                ur.inflight--;
            else if (checked)
                urs_start(work, slot);
            else
                ur_queue(slot, -1);
        }
        io_uring_cq_advance(&ring, seen);
    }
    if (checked)
        close(urs.dirfd);
    return ur.done / (now_s() - t0);
}

static double run_uring(int work, int k) { return run_ring(work, k, 0); }
static double run_uring_safe(int work, int k) { return run_ring(work, k, 1); }
#else
static double run_uring(int work, int k) { return (void)work, (void)k, 0; }
static double run_uring_safe(int work, int k) { return (void)work, (void)k, 0; }
#endif

/* One run of a file-call workload (W_READ4K, W_STAT) by one variant: calls per second. */
static double run_work(int work, int kind, aopen_ctx *ctx, int k) {
    int call = work == W_READ4K ? FC_PREAD : FC_STAT;
    switch (kind) {
    case SYNC1: return run_fc_sync(call, 4096);
    case AO_EPOLL:
    case AO_EPOLL_NOINLINE: return run_fc(ctx, call, k, 4096);
#ifdef HAVE_UV
    case UV: return run_fc_uv(call, k, 4096);
#endif
    case URING: return run_uring(work, k);
    case URING_SAFE: return run_uring_safe(work, k);
    }
    die("run_work: no such variant", kind);
    return 0;
}

/* The variants the targets compare, with their names in these tables and the CSV. */
static const struct {
    int kind;
    const char *name;
} target_kinds[] = {
    {SYNC1, "sync"}, {AO_EPOLL, "aopen_default"}, {AO_EPOLL_NOINLINE, "aopen_pool"}, {UV, "libuv"}, {URING, "io_uring"},
    {URING_SAFE, "io_uring_checked"}};
enum { NTARGET_KINDS = sizeof target_kinds / sizeof target_kinds[0], NTARGET_VARIANTS = 1 + 3 * (NTARGET_KINDS - 1) };
static const int target_ks[] = {1, 16, 256};
static const char *const work_metric[] = {"openclose", "read4k", "stat"};
static const char *const work_title[] = {
    "open+close pairs of a cached file",
    "4 KiB pread at offset 0 of a cached 4 KiB file, from a descriptor opened once",
    "stat by path (statx, STATX_BASIC_STATS) of that cached 4 KiB file"};

static const char *target_name(int kind) {
    for (int j = 0; j < NTARGET_KINDS; j++)
        if (target_kinds[j].kind == kind)
            return target_kinds[j].name;
    return "?";
}

/* A workload's variants the targets compare (vs has room for NTARGET_VARIANTS): the
 * synchronous loop once (it has no depth), the others at each K. Returns how many. */
static int target_variants(struct variant *vs, int work) {
    int nv = 0;
    vs[nv++] = (struct variant){.kind = SYNC1, .work = work};
    for (int i = 0; i < 3; i++)
        for (int j = 1; j < NTARGET_KINDS; j++)
            if (kind_available(target_kinds[j].kind, 0))
                vs[nv++] = (struct variant){.kind = target_kinds[j].kind, .k = target_ks[i], .work = work};
    return nv;
}

static void targets_heading(void) {
    printf("\nissue 30's targets, each workload's variants side by side in this run (%d alternating runs of "
           "%.1f s; medians):\n"
           "sync: the calls on the loop thread; aopen_default: libaopen with default options and aopen_pool: "
           "with\nAOPEN_OPT_NO_INLINE (the pool alone), both driven by epoll on aopen_ctx_fd and aopen_reap; "
           "libuv: its\n4-thread pool; io_uring: one io_uring_submit_and_wait per loop turn, no SQPOLL; io_uring_checked:\n"
           "the same with the checks a library must make first on its caller's paths and descriptors (the\n"
           "ceiling of a safe ring engine: see bench.c). "
           "Targets: aopen_default\n>= 0.9x io_uring and aopen_pool >= 1.25x libuv at every K; aopen_default's "
           "loop CPU per op at\nK=256 no more than io_uring's.\n",
           RUNS, RUN_SECS);
}

/* One target ratio, kind's median over ref's at each K (met when at least `want`), printed
 * and appended to the CSV as METRIC_target_ratio. */
static void target_ratio_line(const struct variant *vs, int nv, int work, int kind, int ref, double want) {
    char metric[64], what[64];
    snprintf(metric, sizeof metric, "%s_target_ratio", work_metric[work]);
    snprintf(what, sizeof what, "%s x %s", target_name(kind), target_name(ref));
    printf("  target %-25s >= %.2fx:", what, want);
    int shown = 0;
    for (int i = 0; i < 3; i++) {
        int k = target_ks[i];
        double a = median_of(vs, nv, kind, k), b = median_of(vs, nv, ref, k);
        if (a <= 0 || b <= 0)
            continue;
        shown++;
        char kk[8];
        snprintf(kk, sizeof kk, "%d", k);
        printf("  K=%d %.2fx %s", k, a / b, a / b >= want ? "met" : "NOT met");
        ROW(metric, what, kk, "", a / b);
    }
    if (!shown)
        printf("  (no %s rows)", target_name(ref));
    printf("\n");
}

/* A workload's table: each variant's ops/s (median, min - max), x the synchronous loop, the
 * ratios the targets name, the loop thread's CPU per op; then the targets, met or not. */
static void target_table(const struct variant *vs, int nv, int work) {
    char metric[64], cpu_metric[64];
    snprintf(metric, sizeof metric, "%s_ops_per_s", work_metric[work]);
    snprintf(cpu_metric, sizeof cpu_metric, "%s_loop_cpu_us_per_op", work_metric[work]);
    double sync = median_of(vs, nv, SYNC1, 0);
    printf("\n%s:\n", work_title[work]);
    printf("  %-16s %4s %10s %21s %8s %10s %8s %9s\n", "variant", "K", "ops/s", "min - max", "x sync", "x io_uring",
           "x libuv", "loop CPU");
    for (int i = -1; i < 3; i++) /* the synchronous row first, then each K */
        for (int j = 0; j < NTARGET_KINDS; j++) {
            int kind = target_kinds[j].kind, k = i < 0 ? 0 : target_ks[i];
            const struct variant *v = (i < 0) == (kind == SYNC1) ? find_variant(vs, nv, kind, k) : NULL;
            if (v == NULL)
                continue;
            double med, lo, hi, cpu, a, b;
            stats(v->runs, RUNS, &med, &lo, &hi);
            stats(v->cpu_us, RUNS, &cpu, &a, &b);
            char ks[8] = "-", x_uring[16] = "", x_uv[16] = "";
            if (k)
                snprintf(ks, sizeof ks, "%d", k);
            double uring = median_of(vs, nv, URING, k), uv = median_of(vs, nv, UV, k);
            if (kind == AO_EPOLL && uring > 0)
                snprintf(x_uring, sizeof x_uring, "%.2fx", med / uring);
            if (kind == AO_EPOLL_NOINLINE && uv > 0)
                snprintf(x_uv, sizeof x_uv, "%.2fx", med / uv);
            printf("  %-16s %4s %10.0f %10.0f - %-9.0f %7.2fx %10s %8s %6.2f us\n", target_kinds[j].name, ks, med, lo,
                   hi, med / sync, x_uring, x_uv, cpu);
            for (int r = 0; r < RUNS; r++) {
                char rep[8];
                snprintf(rep, sizeof rep, "%d", r);
                ROW(metric, target_kinds[j].name, ks, rep, v->runs[r]);
                ROW(cpu_metric, target_kinds[j].name, ks, rep, v->cpu_us[r]);
            }
        }
    target_ratio_line(vs, nv, work, AO_EPOLL, URING, 0.9);
    target_ratio_line(vs, nv, work, AO_EPOLL, URING_SAFE, 0.9);
    target_ratio_line(vs, nv, work, AO_EPOLL_NOINLINE, UV, 1.25);
    const struct variant *ao = find_variant(vs, nv, AO_EPOLL, 256), *ur_ = find_variant(vs, nv, URING, 256);
    if (ao && ur_) {
        double ca, cu, a, b;
        stats(ao->cpu_us, RUNS, &ca, &a, &b);
        stats(ur_->cpu_us, RUNS, &cu, &a, &b);
        printf("  target loop CPU per op at K=256, aopen_default <= io_uring: %.2f us vs %.2f us: %s\n", ca, cu,
               ca <= cu ? "met" : "NOT met");
    }
}

/* The read and stat workloads' tables, their variants alternating in one measurement. */
static void file_targets(void) {
    static char small_path[4200];
    snprintf(small_path, sizeof small_path, "%s.4k", file_path);
    fc.bufs = malloc(256 * 4096);
    fc.stx = calloc(256, sizeof *fc.stx);
    fc_file(small_path, fc.bufs, 4096);
    aopen_ctx *ctx = ctx_with(0), *pool = ctx_with(AOPEN_OPT_NO_INLINE);
    struct variant vs[2 * NTARGET_VARIANTS];
    int nread = target_variants(vs, W_READ4K), nstat = target_variants(vs + nread, W_STAT);
    measure(vs, nread + nstat, ctx, pool, NULL);
    target_table(vs, nread, W_READ4K);
    target_table(vs + nread, nstat, W_STAT);
    aopen_ctx_free(ctx);
    aopen_ctx_free(pool);
    close(fc.fd);
    unlink(small_path);
    free(fc.bufs);
    free(fc.stx);
}

/* bench targets: the three workloads' tables alone (the fast run prints them after its own). */
static void targets(void) {
    struct variant vs[NTARGET_VARIANTS];
    int nv = target_variants(vs, W_PAIRS);
    aopen_ctx *ctx = ctx_with(0), *pool = ctx_with(AOPEN_OPT_NO_INLINE);
    measure(vs, nv, ctx, pool, NULL);
    aopen_ctx_free(ctx);
    aopen_ctx_free(pool);
    targets_heading();
    target_table(vs, nv, W_PAIRS);
    file_targets();
}

/* ---- the slow run (shim preloaded) ---- */
static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (!f || fscanf(f, "%ld %ld", &pages, &res) != 2)
        die("statm", 0);
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

#ifdef HAVE_UV
static int uv_slow_done;
static void uv_slow_close(uv_fs_t *req) {
    uv_fs_req_cleanup(req);
    uv_slow_done++;
}
static void uv_slow_open(uv_fs_t *req) {
    uv_file fd = (uv_file)req->result;
    uv_fs_req_cleanup(req);
    uv_fs_close(req->loop, req, fd, uv_slow_close);
}
#endif

static void slow(const char *slow_file) {
    aopen_ctx *ctx;
    int rc = aopen_ctx_new(NULL, &ctx);
    if (rc)
        die("aopen_ctx_new", rc);
    double t0 = now_s();
    for (int i = 0; i < 64; i++)
        if (aopen_submit(ctx, slow_file, O_RDONLY, 0, NULL, NULL) <= 0)
            die("submit", 0);
    aopen_completion c[64];
    int got = 0;
    while (got < 64) {
        aopen_wait(ctx, -1);
        got += aopen_reap(ctx, c + got, (unsigned)(64 - got));
    }
    double ao_wall = now_s() - t0;
    for (int i = 0; i < 64; i++)
        close(c[i].result);
    aopen_ctx_free(ctx);
    printf("64 opens delayed 200 ms each:\n  libaopen, default options  %7.0f ms\n", ao_wall * 1e3);
    ROW("slow64_wall_ms", "libaopen", "64", "", ao_wall * 1e3);
#ifdef HAVE_UV
    static uv_fs_t reqs[64];
    uv_loop_t *loop = uv_default_loop();
    t0 = now_s();
    for (int i = 0; i < 64; i++)
        uv_fs_open(loop, &reqs[i], slow_file, O_RDONLY, 0, uv_slow_open);
    uv_run(loop, UV_RUN_DEFAULT);
    double uv_wall = now_s() - t0;
    printf("  libuv, default 4-thread pool %5.0f ms   (libaopen %.1fx faster)\n", uv_wall * 1e3, uv_wall / ao_wall);
    ROW("slow64_wall_ms", "libuv", "64", "", uv_wall * 1e3);
#endif

    /* Memory per outstanding request: 100000 opens queued behind one blocked worker. */
    aopen_options o;
    memset(&o, 0, sizeof o);
    o.threads = 1;
    o.max_threads = 1;
    o.queue_depth = 100001;
    if ((rc = aopen_ctx_new(&o, &ctx)))
        die("aopen_ctx_new", rc);
    if (aopen_submit(ctx, slow_file, O_RDONLY, 0, NULL, NULL) <= 0) /* pins the only worker */
        die("submit", 0);
    usleep(50000);
    long before = rss_kib();
    for (int i = 0; i < 100000; i++)
        if (aopen_submit(ctx, file_path, O_RDONLY, 0, NULL, NULL) <= 0)
            die("submit", 0);
    long after = rss_kib();
    size_t plen = strlen(file_path) + 1;
    double per = (after - before) * 1024.0 / 100000;
    printf("resident memory per queued request: %.0f bytes, of which the path copy is %zu "
           "(100000 queued: +%ld KiB)\n",
           per, plen, after - before);
    ROW("bytes_per_request", "libaopen", "100000", "", per);
    ROW("bytes_per_request_beyond_path", "libaopen", "100000", "", per - (double)plen);
    aopen_ctx_free(ctx); /* the pinned open returns later and is closed by its worker */
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench fast|files|targets|slow CSV [FILE] [SLOW_FILE]\n");
        return 2;
    }
    csv = fopen(argv[2], "a");
    if (!csv)
        die("open csv", -errno);
    if (getenv("BENCH_RUN"))
        run_label = getenv("BENCH_RUN");
    snprintf(file_path, sizeof file_path, "%s", argc > 3 ? argv[3] : "/tmp/aopen-bench-file");
    int fd = open(file_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        die("create bench file", -errno);
    if (write(fd, "x", 1) != 1)
        die("write", -errno);
    close(fd);
    if (strcmp(argv[1], "slow") != 0)
        uring_init();
    if (strcmp(argv[1], "fast") == 0)
        fast();
    else if (strcmp(argv[1], "files") == 0) { /* only the file-call rows (fast runs them too) */
        file_calls();
        targets_heading();
        file_targets();
    } else if (strcmp(argv[1], "targets") == 0) /* only the targets' tables (fast prints them too) */
        targets();
    else
        slow(argc > 4 ? argv[4] : "/tmp/aopen-bench-slow/file");
    fclose(csv);
    return 0;
}
