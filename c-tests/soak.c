/* Soak: four threads submit opens of fast, slow (timed out) and failing paths with random
 * cancels, while one thread delivers, mixing dispatch and reap and closing half the fds
 * through aclose_submit. Every request must be delivered exactly once with a result its
 * kind allows; the descriptor count and RSS must be flat between phases; a watchdog fails
 * the run if progress stops. SOAK_REQUESTS sets the size (make soak: a million). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define SUBMITTERS 4
#define PHASES 4
#define TIMEOUT_MS 100

enum kind { FAST, SLOW, MISSING, CLOSE };

struct req {
    _Atomic unsigned char delivered;
    unsigned char kind;
    int fd; /* a close's descriptor: ours again if the close timed out */
};

static aopen_ctx *ctx;
static struct req *reqs; /* indexed by token; tokens [0, total) are opens, then closes */
static long per_phase, total_opens, max_tokens;
static atomic_long next_open, next_close, closes_submitted, delivered;
static atomic_long cancels, timeouts, fd_results, missing_results, close_results;
static atomic_int phase_go, stop;
static char path_fast[4096], path_slow[4096], path_missing[4096]; /* set before threads start */

/* Closes waiting for room: the delivering thread must never block on a full queue (only it
 * can make room), so it parks them here and retries after delivering. Its own thread only. */
static long parked[4096];
static int nparked;
static void handle(const aopen_completion *c);

static void submit_parked(void) {
    while (nparked > 0) {
        long ct = parked[nparked - 1];
        int64_t id = aclose_submit(ctx, reqs[ct].fd, handle, (void *)(intptr_t)ct);
        if (id == -EAGAIN)
            return;
        CHECK(id > 0, "close submit: %lld", (long long)id);
        nparked--;
    }
}

static long token_of(const aopen_completion *c) { return (long)(intptr_t)c->user_data; }

static void handle(const aopen_completion *c) {
    long t = token_of(c);
    CHECK(t >= 0 && t < max_tokens, "bad token %ld", t);
    CHECK(atomic_exchange(&reqs[t].delivered, 1) == 0, "token %ld delivered twice", t);
    int r = c->result;
    /* The deadline runs from submit, so anything can time out while queued behind slow
     * work; anything but a close can be cancelled. */
    int ended = r == -ECANCELED || r == -ETIMEDOUT;
    switch (reqs[t].kind) {
    case FAST:
        CHECK(r >= 0 || ended, "fast open: %d", r);
        break;
    case SLOW:
        CHECK(ended, "slow open: %d", r);
        break;
    case MISSING:
        CHECK(r == -ENOENT || ended, "missing open: %d", r);
        break;
    case CLOSE:
        CHECK(r == 0 || r == -ETIMEDOUT, "close: %d", r); /* closes are never cancelled here */
        close_results++;
        break;
    }
    if (r == -ECANCELED)
        cancels++;
    else if (r == -ETIMEDOUT)
        timeouts++;
    else if (r == -ENOENT)
        missing_results++;
    if (reqs[t].kind == CLOSE && r < 0)
        close(reqs[t].fd); /* the close timed out before it ran: the fd is ours again */
    if (c->op == AOPEN_OP_OPEN && r >= 0) {
        fd_results++;
        if (t % 2 == 0) { /* half the descriptors are closed through the library */
            long ct = atomic_fetch_add(&next_close, 1);
            reqs[ct].kind = CLOSE;
            reqs[ct].fd = r;
            closes_submitted++;
            CHECK(nparked < 4096, "too many parked closes");
            parked[nparked++] = ct;
            submit_parked();
        } else {
            close(r);
        }
    }
    delivered++; /* last: a phase is done when deliveries match submissions */
}

static void *submitter(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
    for (int phase = 0; phase < PHASES; phase++) {
        while (atomic_load(&phase_go) <= phase && !stop)
            sleep_ms(1);
        long end = (phase + 1) * per_phase;
        int64_t recent[8] = {0};
        for (;;) {
            long t = atomic_fetch_add(&next_open, 1);
            if (t >= end) {
                atomic_fetch_sub(&next_open, 1);
                break;
            }
            unsigned r = rand_r(&seed) % 1000;
            enum kind k = r < 10 ? SLOW : r < 60 ? MISSING : FAST;
            reqs[t].kind = (unsigned char)k;
            const char *path = k == SLOW ? path_slow : k == MISSING ? path_missing : path_fast;
            int64_t id;
            while ((id = aopen_submit(ctx, path, O_RDONLY, 0, handle, (void *)(intptr_t)t)) == -EAGAIN)
                sleep_ms(1); /* queue full: back off until a delivery makes room */
            CHECK(id > 0, "submit: %lld", (long long)id);
            recent[t % 8] = id;
            if (rand_r(&seed) % 50 == 0) { /* cancel a recent request: any outcome is fine */
                int rc = aopen_cancel(ctx, (uint64_t)recent[rand_r(&seed) % 8]);
                CHECK(rc == 0 || rc == -ENOENT || rc == -EALREADY, "cancel: %d", rc);
            }
        }
    }
    return NULL;
}

static void *deliverer(void *arg) {
    (void)arg;
    aopen_completion buf[64];
    for (unsigned round = 0; !stop; round++) {
        aopen_wait(ctx, 20);
        submit_parked();
        if (round % 2) {
            CHECK(aopen_dispatch(ctx, 0) >= 0, "dispatch");
        } else {
            int n = aopen_reap(ctx, buf, 64);
            CHECK(n >= 0, "reap");
            for (int i = 0; i < n; i++)
                handle(&buf[i]);
        }
    }
    return NULL;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    CHECK(f && fscanf(f, "%ld %ld", &pages, &resident) == 2, "statm");
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(void) {
    require_shim();
    setenv("SLOW_OPEN_MS", "200", 1); /* past the 100 ms timeout: every slow open times out */
    const char *n = getenv("SOAK_REQUESTS");
    total_opens = n ? atol(n) : 20000;
    per_phase = total_opens / PHASES;
    total_opens = per_phase * PHASES;
    max_tokens = total_opens * 2;
    reqs = calloc((size_t)max_tokens, sizeof *reqs);
    CHECK(reqs != NULL, "calloc");
    /* Fault in the test's own bookkeeping now, so RSS between phases measures the library.
     * (A volatile store per page: a memset of calloc'd memory may be optimised away.) */
    for (size_t b = 0; b < (size_t)max_tokens * sizeof *reqs; b += 4096)
        ((volatile char *)reqs)[b] = 0;
    atomic_store(&next_close, total_opens);
    snprintf(path_fast, sizeof path_fast, "%s", fast_path("f"));
    snprintf(path_slow, sizeof path_slow, "%s", slow_path("s"));
    snprintf(path_missing, sizeof path_missing, "%s", fast_path("missing"));
    make_file(path_fast, "x");
    make_file(path_slow, "x");
    int fds0 = count_fds();
    ctx = new_ctx(4, 64, 512, TIMEOUT_MS);

    pthread_t sub[SUBMITTERS], del;
    for (int i = 0; i < SUBMITTERS; i++)
        CHECK(pthread_create(&sub[i], NULL, submitter, (void *)(uintptr_t)(i + 1)) == 0, "thread");
    CHECK(pthread_create(&del, NULL, deliverer, NULL) == 0, "thread");

    double t0 = now_ms();
    long rss_after_first = 0;
    int fds_after_first = 0;
    for (int phase = 0; phase < PHASES; phase++) {
        atomic_store(&phase_go, phase + 1);
        long want = (phase + 1) * per_phase;
        long last = -1;
        double last_move = now_ms();
        /* Done when every open of the phase is submitted and every request (its closes
         * too) delivered. `delivered` is read first: a delivery in progress has already
         * counted the close it submitted, so it cannot look done early. */
        for (;;) {
            long d = delivered;
            if (atomic_load(&next_open) == want && d == want + closes_submitted)
                break;
            if (d != last) {
                last = d;
                last_move = now_ms();
            }
            CHECK(now_ms() - last_move < 15000, "no progress for 15 s in phase %d: %ld delivered",
                  phase + 1, d);
            sleep_ms(20);
        }
        /* Abandoned slow opens return and their descriptors are closed. */
        CHECK(wait_stats(ctx, 0, 0, 30000), "abandoned opens still running after phase %d", phase + 1);
        int fds = count_fds();
        long rss = rss_kib();
        printf("phase %d: %ld opens delivered, fds %d, rss %ld KiB, %.1f s\n", phase + 1, want, fds, rss,
               (now_ms() - t0) / 1000);
        if (phase == 0) {
            rss_after_first = rss;
            fds_after_first = fds;
        } else {
            CHECK_EQ(fds, fds_after_first);
            /* Under valgrind RSS is mostly valgrind's own (shadow memory, translations), and
             * memcheck checks leaks directly; the RSS bound applies to native runs. */
            if (!under_valgrind())
                CHECK(rss - rss_after_first < 8192, "RSS grew by %ld KiB", rss - rss_after_first);
        }
    }
    stop = 1;
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(sub[i], NULL);
    pthread_join(del, NULL);
    for (long t = 0; t < atomic_load(&next_close); t++)
        CHECK(reqs[t].delivered == 1, "token %ld never delivered", t);
    CHECK_EQ(aopen_wait(ctx, 0), 0);
    aopen_ctx_free(ctx);
    CHECK_EQ(wait_fds(fds0, 10000), fds0);
    printf("%ld requests (%ld opens, %ld closes) in %.1f s: %ld fds, %ld ENOENT, %ld timed out, %ld cancelled; "
           "each delivered exactly once\n",
           (long)delivered, total_opens, (long)close_results, (now_ms() - t0) / 1000, (long)fd_results,
           (long)missing_results, (long)timeouts, (long)cancels);
    free(reqs);
    return 0;
}
