/* Shared helpers for the C tests, one file per job in c-tests/helpers/ (each section below
 * names its file); the Makefile links them as one archive, so a test pulls in the jobs it
 * uses. One header: a test includes "helpers.h" and has them all. */
#ifndef AOPEN_TEST_HELPERS_H
#define AOPEN_TEST_HELPERS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "aopen.h"

/* Fails the case (see run_cases), else the test (exit 1), with the location and a message
 * unless `cond` holds. */
#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fprintf(stderr, "\n");                                                          \
            test_failed();                                                                  \
        }                                                                                   \
    } while (0)

/* CHECK that two integers are equal, printing both; each is evaluated once. */
#define CHECK_EQ(a, b)                                                                      \
    do {                                                                                    \
        long long a_ = (long long)(a), b_ = (long long)(b);                                 \
        CHECK(a_ == b_, "%s = %lld, expected %s = %lld", #a, a_, #b, b_);                   \
    } while (0)

/* Skips the case (see run_cases), else the test (exit 77), with a reason. */
#define SKIP(...) test_skipped(__VA_ARGS__)

/* ---- run.c: a test's cases, each on its own ---- */

/* One case of a test: `fn` sets up what it needs, checks one behaviour, tears down, and
 * returns 0 (pass), 77 (skip) or anything else (fail). */
struct test_case {
    const char *name;
    int (*fn)(void);
};
#define TEST_CASE(f) {#f, f}
/* Runs `cases` in order (only the one named by $TEST_CASE, if set), printing each one's name
 * and outcome. A SKIP on the thread running a case skips that case alone (never call it
 * from a library callback); elsewhere it exits 77 as always. A failed CHECK (or a case
 * returning neither 0 nor 77) ends the test at once with exit 1, naming the case: it may
 * fail inside a callback the library runs, where a jump back would cross the library's
 * frames. Returns the exit status: 77 if every case skipped, else 0. */
int run_cases(const struct test_case *cases, int n);
#define RUN_CASES(...)                                                                      \
    run_cases((const struct test_case[]){__VA_ARGS__},                                      \
              (int)(sizeof((const struct test_case[]){__VA_ARGS__}) / sizeof(struct test_case)))
/* Where CHECK and SKIP go: the end of the case, or of the process. test_skipped prints
 * "skip: " and the reason (printf's arguments). */
_Noreturn void test_failed(void);
_Noreturn void test_skipped(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- wait.c: time, and bounded waits for a state ---- */

/* Monotonic milliseconds. */
double now_ms(void);
/* Sleeps `ms` milliseconds. */
void sleep_ms(long ms);
/* Polls `cond` (an expression) every 2 ms until it holds or `timeout_ms` passes; evaluates
 * to whether it held. A bounded wait on a state, for states no helper below waits on. */
#define WAIT_FOR(cond, timeout_ms)                                                          \
    ({                                                                                      \
        double until_ = now_ms() + (timeout_ms);                                            \
        int held_;                                                                          \
        while (!(held_ = !!(cond)) && now_ms() < until_)                                    \
            sleep_ms(2);                                                                    \
        held_;                                                                              \
    })
/* Polls aopen_stats until exactly `running` syscalls are in progress (abandoned ones
 * included) and `queued` requests wait for a worker, or `timeout_ms` passes. Returns 1 if
 * that state was seen. */
int wait_stats(aopen_ctx *ctx, uint32_t running, uint32_t queued, int timeout_ms);
/* Waits (aopen_wait, nothing delivered) until `n` completions are ready or `timeout_ms`
 * passes; returns how many are ready. */
int wait_ready(aopen_ctx *ctx, int n, int timeout_ms);

/* ---- fds.c: descriptors and threads of this process ---- */

/* Open descriptors of this process (entries of /proc/self/fd, less the one used to list, the
 * library's watch on /proc/self/mountinfo, see mount_watch_fds, and the watchdog's
 * momentary reads of /proc/self/task/TID/stat). */
int count_fds(void);
/* Open descriptors of this process on a mountinfo file (the library keeps exactly one once
 * it has attributed a request to its mount). */
int mount_watch_fds(void);
/* Descriptors that could be the library's: eventfds and files under the test directory.
 * Unlike count_fds, blind to descriptors a tool such as valgrind keeps for itself. */
int count_lib_fds(void);
/* Waits up to `timeout_ms` for count_fds() to fall to `n` (descriptors the library closes
 * on a worker go a moment later); returns count_fds(). */
int wait_fds(int n, int timeout_ms);
/* Fills the descriptor table but for `spare` descriptors (RLIMIT_NOFILE lowered to 64 for
 * it, /dev/null opened until refused); fds_unfill() closes them and restores the limit.
 * Returns how many it opened (a CHECK fails if it could not). */
int fds_fill(int spare);
void fds_unfill(void);
/* Waits up to `timeout_ms` for count_threads() to fall to `n` (a thread that left a pool
 * may take a moment to leave /proc/self/task); returns count_threads(). */
int wait_threads(int n, int timeout_ms);
/* Prints this process's descriptors and what they refer to (for a failing fd check). */
void dump_fds(void);
/* Threads of this process (entries of /proc/self/task). */
int count_threads(void);
/* Whether `fd` polls readable right now. */
int readable(int fd);
/* The eventfd counter of `fd`, read from /proc/self/fdinfo without disturbing it. */
long long eventfd_count(int fd);

/* ---- env.c: the test's directories and files, the shim, preloading ---- */

/* The test's fast directory (AOPEN_TEST_DIR) and, under it, "slow/" (slowed by the shim). */
const char *test_dir(void);
/* Writes "<dir>/<name>" into a static buffer (one of 8 rotating) and returns it. Not
 * thread-safe: threads should use paths made before they start. */
const char *fast_path(const char *name);
const char *slow_path(const char *name);
/* Creates `path` holding `content`. */
void make_file(const char *path, const char *content);
/* Whether `path` exists. */
int file_exists(const char *path);
/* Re-executes this test without LD_PRELOAD (once), for tests of what the library does when
 * no interposer of open/close is loaded. */
void without_preload(char **argv);
/* Whether this process resolves open/open64/openat/openat64/close to anything but libc's own
 * (an interposer: the shim, or a sanitizer's runtime), as the library checks. */
int open_close_interposed(void);
/* Milliseconds the shim delays slow opens (SLOW_OPEN_MS); skips unless the shim is loaded. */
long require_shim(void);
/* Sets (or, with `value` NULL, unsets) an environment variable for the case, keeping its
 * value before; env_restore puts back every variable env_set changed. The runner restores
 * them after each case, so a case that fails midway leaves the next one the test's own. */
void env_set(const char *name, const char *value);
void env_restore(void);
/* Whether the test runs under valgrind (the check-valgrind target says so). */
int under_valgrind(void);

/* ---- ctx.c: contexts and their completions ---- */

/* A context with the given sizes (0 = default) and timeout. */
aopen_ctx *new_ctx(uint32_t threads, uint32_t max_threads, uint32_t queue_depth, uint32_t timeout_ms);
/* aopen_stats of `ctx`, which must succeed. */
aopen_stats_snapshot stats_of(aopen_ctx *ctx);
/* As new_ctx, with a per-mount share (`per_mount_threads`; 0 = default). */
aopen_ctx *new_ctx_share(uint32_t threads, uint32_t max_threads, uint32_t queue_depth, uint32_t timeout_ms,
                         uint32_t per_mount);

/* For a request just submitted as `id` (checked > 0): waits for its completion (the only
 * one outstanding) and returns its result. */
int result_of(aopen_ctx *ctx, int64_t id);

/* Reaps into `out` until `n` completions arrived or `timeout_ms` passed; returns the count. */
int reap_n(aopen_ctx *ctx, aopen_completion *out, int n, int timeout_ms);

/* ---- hangfs.c: hangfs mounts ---- */

/* hangfs (c-tests/hangfs/hangfs.c): a FUSE filesystem whose calls hang until released. */
#include "hangfs/hangfs.h"

struct hangfs {
    int pid;
    char mnt[4096], ctl[4096];
    struct hangfs_counts *counts;
    struct hangfs_dyn *dyn; /* behaviour of its "dyn*" directories (see hangfs_dyn_set) */
};
/* Mounts a hangfs at "<test dir>/<name>", first entering a private mount namespace (once
 * per process). Skips the test (77) without root, /dev/fuse or the daemon (AOPEN_HANGFS,
 * which make builds where libfuse3 is installed). The daemon dies with the test. */
struct hangfs *hangfs_mount(const char *name);
/* As hangfs_mount, shown in mountinfo as an sshfs mount of `source` ("server:/export"). */
struct hangfs *hangfs_mount_as(const char *name, const char *source);
/* "<mount>/<rel>" in a static buffer (one of 8 rotating). */
const char *hangfs_path(struct hangfs *h, const char *rel);
/* Ends every hang and delay of `h` (until hangfs_rehang). */
void hangfs_release(struct hangfs *h);
void hangfs_rehang(struct hangfs *h);
/* Calls of `op` answered so far, and waiting in a hang or delay now. */
long hangfs_done(struct hangfs *h, enum hangfs_op op);
long hangfs_waiting(struct hangfs *h, enum hangfs_op op);
/* Of the calls of `op` waiting now, those whose caller is named and not one of the `n`
 * thread ids in `tids` (sorted ascending). */
long hangfs_waiting_except(struct hangfs *h, enum hangfs_op op, const int *tids, int n);
/* The ids of this process's threads alive now, sorted ascending as hangfs_waiting_except
 * takes them, into `*tids` (grown with realloc); returns how many. */
int thread_ids(int **tids);
/* Waits up to `timeout_ms` for `waiting` calls of `op` to hang; returns how many do. */
long hangfs_wait_waiting(struct hangfs *h, enum hangfs_op op, long waiting, int timeout_ms);
/* Waits up to `timeout_ms` until every file opened on `h` was released (opens == releases
 * and nothing waits); returns opens - releases. */
long hangfs_wait_balanced(struct hangfs *h, int timeout_ms);
/* Sets how `op` behaves from now on in `h`'s "dyn*" directories: -1 answer at once, 0 hang,
 * MS > 0 delay MS ms. Calls hung or delayed already keep waiting unless the mode is -1. */
void hangfs_dyn_set(struct hangfs *h, enum hangfs_op op, long mode);
/* Ends the hangs and delays of `op` in `h`'s "dyn*" directories that started before this
 * call, whatever the mode. */
void hangfs_dyn_release(struct hangfs *h, enum hangfs_op op);
/* Kills the daemon (the kernel then fails its pending calls). */
void hangfs_kill(struct hangfs *h);

/* ---- load.c: a healthy load, driven as a loop would ---- */

/* The longest single library call a test made on its loop thread, in ms (see timed()). */
extern double longest_call_ms;
/* Times one library call made on the test's loop thread into longest_call_ms. */
#define TIMED(call)                                                                         \
    ({                                                                                      \
        double t0_ = now_ms();                                                              \
        __typeof__(call) r_ = (call);                                                       \
        double d_ = now_ms() - t0_;                                                         \
        if (d_ > longest_call_ms)                                                           \
            longest_call_ms = d_;                                                           \
        r_;                                                                                 \
    })

/* Completions a load run received that were not its own (for the test to account for). */
struct others {
    aopen_completion v[4096];
    int n;
};
/* What a healthy load achieved. */
struct load {
    int done, failed;
    double p50_ms, p99_ms, wall_ms;
};
/* Opens `path` (a healthy local file) `n` times through `ctx`, keeping at most `inflight`
 * in flight, for at most `budget_ms`, driven as a loop would (poll on the ctx fd, reap);
 * closes each descriptor itself. Completions of other requests go to `others`. Every
 * library call is TIMED. */
struct load healthy_load(aopen_ctx *ctx, const char *path, int n, int inflight, int budget_ms, struct others *others);

/* Reaps until `n` completions tagged `tag` (user_data) arrived, `others` first, or
 * `timeout_ms` passed: closes their descriptors through the library (aclose_submit), and
 * closes any other open's descriptor itself (a healthy open that finished after a load run).
 * Returns how many of the tagged completions carried a descriptor; CHECKs all `n` arrived. */
int collect_tagged(aopen_ctx *ctx, const struct others *others, const void *tag, int n, int timeout_ms);

/* ---- ids.c: indexes for opaque request ids ---- */

/* Request ids are opaque numbers. These number them 1, 2, ... in the order first seen, for
 * per-request arrays (at most ID_INDEXES - 1 of them). Not thread-safe. */
#define ID_INDEXES (1 << 20)
/* Gives `id` the next index; CHECKs that it had none (an id is never handed out twice). */
int id_add(uint64_t id);
/* The index of `id`, or 0 if it never had one. */
int id_index(uint64_t id);
/* The id of index `i` (0 if none). */
uint64_t id_at(int i);

#endif
