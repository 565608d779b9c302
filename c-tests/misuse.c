/* Misuse and random call sequences. A seeded random walk drives the C API: NULL arguments,
 * bad descriptors, unknown and delivered ids, huge max values, invalid timeouts, and
 * callbacks that re-enter (submit, cancel, dispatch, reap). It checks each result against a
 * model of the outstanding requests: ids unique; each delivered exactly once; -EAGAIN
 * exactly when the model's queue is full; cancel answers consistent with each request's
 * state; aopen_stats agreeing with the model (submitted, delivered, cancelled, and
 * submitted - delivered = outstanding) at every step; no descriptor left open. Also: aopen_ctx_free while another thread is blocked in
 * aopen_wait (that wait returns -ESHUTDOWN). MISUSE_STEPS and MISUSE_SEED set the walk. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define DEPTH 16
#define MAXIDS ID_INDEXES

enum state { NONE, OUT, DELIVERED };
static unsigned char st[MAXIDS];       /* by id_index */
static unsigned char is_close[MAXIDS]; /* by id_index */
static unsigned char cancelled[MAXIDS];
static unsigned char no_cb[MAXIDS]; /* submitted without a callback: dispatch drops it unseen */
static aopen_ctx *ctx;
static int outstanding, depth_in_callback;
static long delivered_n, dropped_n, submitted_n, eagain_n, cancel_ok_n, reentries;
/* Nesting of aopen_dispatch calls, and callbacks run at each level: what a dispatch
 * delivered beyond its own callbacks were completions without a callback, dropped. */
static int level;
static int cbs_at[16];
static unsigned seed;
static char path_f[4096], path_missing[4096], path_long[8192];

static unsigned rnd(unsigned n) { return (unsigned)(rand_r(&seed) % n); }
static int last_k; /* the newest id's index: cancels aim near it, where requests are live */

static void deliver(const aopen_completion *c);

/* aopen_stats against the model. */
static void check_stats(void) {
    aopen_stats_snapshot s = stats_of(ctx);
    CHECK_EQ(s.submitted, (uint64_t)submitted_n);
    CHECK_EQ(s.delivered, (uint64_t)(delivered_n + dropped_n));
    CHECK_EQ(s.submitted - s.delivered, (uint64_t)outstanding);
    CHECK_EQ(s.cancelled, (uint64_t)cancel_ok_n);
    CHECK_EQ(s.timed_out, 0);
    /* Owed closes (a dropped or cancelled open's fd) are queued too, beside the caller's. */
    CHECK(s.queued <= (uint64_t)outstanding + s.owed_closes, "queued %u > outstanding %d", s.queued, outstanding);
    CHECK(s.threads <= 4 + s.abandoned_threads + s.blocked_running, "threads %u", s.threads);
}
static void cb(const aopen_completion *c);

static int do_dispatch(unsigned max) {
    CHECK(level < 15, "dispatch nested too deep");
    cbs_at[++level] = 0;
    int n = aopen_dispatch(ctx, max);
    CHECK(n >= 0, "dispatch: %d", n);
    int dropped = n - cbs_at[level--];
    CHECK(dropped >= 0, "dispatch counted %d but ran more callbacks", n);
    outstanding -= dropped;
    dropped_n += dropped;
    return n;
}

static void submit_random(void) {
    int64_t id;
    int close_op = 0;
    aopen_cb f = rnd(2) ? cb : NULL;
    switch (rnd(6)) {
    case 0:
        id = aopen_submit(ctx, path_missing, O_RDONLY, 0, f, NULL);
        break;
    case 1:
        CHECK_EQ(aopen_submit(ctx, NULL, O_RDONLY, 0, f, NULL), -EINVAL);
        return;
    case 2:
        CHECK_EQ(aopen_submit(ctx, path_long, O_RDONLY, 0, f, NULL), -ENAMETOOLONG);
        return;
    case 3:
        CHECK_EQ(aclose_submit(ctx, -(int)rnd(1000) - 1, f, NULL), -EBADF);
        return;
    case 4: /* a descriptor number far above any open one: the close fails with EBADF */
        id = aclose_submit(ctx, 900000 + (int)rnd(1000), f, NULL);
        close_op = 1;
        break;
    default:
        id = aopen_submit(ctx, path_f, rnd(2) ? O_RDONLY : O_RDONLY | O_DIRECTORY, 0, f, NULL);
        break;
    }
    /* Back pressure exactly at the depth. Inside a dispatch, completions it dropped are not
     * yet counted off the model, so there only "full" can be checked. */
    if (id == -EAGAIN) {
        CHECK(level > 0 ? outstanding >= DEPTH : outstanding == DEPTH, "EAGAIN at %d of %d", outstanding,
              DEPTH);
        eagain_n++;
        return;
    }
    CHECK(id > 0, "submit: %lld", (long long)id);
    CHECK(level > 0 || outstanding < DEPTH, "submit accepted past the depth");
    int k = id_add((uint64_t)id); /* CHECKs that ids are never reused */
    st[k] = OUT;
    last_k = k;
    is_close[k] = (unsigned char)close_op;
    no_cb[k] = f == NULL;
    outstanding++;
    submitted_n++;
}

static void cancel_random(void) {
    unsigned how = rnd(4);
    uint64_t id = how == 0   ? (uint64_t)rnd(1u << 30) << 31 | rnd(1u << 30) /* unknown */
                  : how == 1 ? id_at((int)rnd((unsigned)last_k + 2))       /* anything, or 0 */
                             : id_at(last_k - (last_k > 20 ? (int)rnd(20) : 0)); /* recent */
    int rc = aopen_cancel(ctx, id);
    int k = id_index(id);
    if (k == 0 || st[k] != OUT) {
        CHECK_EQ(rc, -ENOENT); /* unknown or already delivered */
        return;
    }
    if (rc == -ENOENT && no_cb[k]) { /* dropped unseen by a dispatch: now we know */
        st[k] = DELIVERED;
        return;
    }
    if (rc == 0) {
        CHECK(!cancelled[k], "id %llu cancelled twice", (unsigned long long)id);
        cancelled[k] = 1;
        cancel_ok_n++;
    } else {
        CHECK(rc == -EALREADY, "cancel: %d", rc);
        CHECK(is_close[k] || cancelled[k], "EALREADY for an open that was not cancelled");
    }
}

static void deliver(const aopen_completion *c) {
    int k = id_index(c->id);
    CHECK(k > 0, "id %llu never handed out", (unsigned long long)c->id);
    CHECK_EQ(st[k], OUT);
    st[k] = DELIVERED;
    outstanding--;
    delivered_n++;
    int r = c->result;
    if (cancelled[k] && !is_close[k])
        CHECK_EQ(r, -ECANCELED);
    if (c->op == AOPEN_OP_CLOSE) {
        CHECK(r == -EBADF || r == -ECANCELED, "close of a bad fd: %d", r);
    } else if (r >= 0) {
        CHECK(!cancelled[k], "a cancelled open delivered an fd");
        close(r);
    } else {
        CHECK(r == -ENOENT || r == -ENOTDIR || r == -ECANCELED, "open: %d", r);
    }
}

/* Callback: record, then sometimes re-enter the library. */
static void cb(const aopen_completion *c) {
    cbs_at[level]++;
    deliver(c);
    if (depth_in_callback > 3)
        return;
    depth_in_callback++;
    reentries++;
    aopen_completion buf[4];
    switch (rnd(5)) {
    case 0:
        submit_random();
        break;
    case 1:
        cancel_random();
        break;
    case 2:
        do_dispatch(rnd(3));
        break;
    case 3: {
        int n = aopen_reap(ctx, buf, 4);
        CHECK(n >= 0 && n <= 4, "nested reap: %d", n);
        for (int i = 0; i < n; i++)
            deliver(&buf[i]);
        break;
    }
    default:
        break;
    }
    depth_in_callback--;
}

static atomic_int waiter_started;

static void *blocked_waiter(void *arg) {
    int *rc = arg;
    atomic_store(&waiter_started, 1);
    *rc = aopen_wait(ctx, -1);
    return NULL;
}

static long steps; /* of the random walk */

/* Free while another thread is blocked in aopen_wait: the waiter is released with
 * -ESHUTDOWN, promptly. */
static int test_free_releases_a_blocked_waiter(void) {
    int fds0 = count_fds();
    for (int i = 0; i < 20; i++) {
        ctx = new_ctx(2, 2, 0, 0);
        int rc = 1;
        pthread_t t;
        atomic_store(&waiter_started, 0);
        CHECK(pthread_create(&t, NULL, blocked_waiter, &rc) == 0, "thread");
        /* The defined case is a waiter already blocked in aopen_wait (a free racing the
         * call's entry is a use during free, undefined as for free(3)): let it get there. */
        CHECK(WAIT_FOR(atomic_load(&waiter_started), 10000), "the waiter thread never started");
        sleep_ms(20 + i % 3 * 10); /* into aopen_wait, which nothing exposes: varied on purpose */
        double t0 = now_ms();
        aopen_ctx_free(ctx);
        pthread_join(t, NULL);
        /* An unreleased waiter never returns (the test's timeout); 2 s allows for valgrind. */
        CHECK(now_ms() - t0 < 2000, "the waiter was not released");
        CHECK_EQ(rc, -ESHUTDOWN);
    }
    CHECK_EQ(count_fds(), fds0);
    return 0;
}

/* The random walk over every call, valid and not: everything submitted is delivered
 * exactly once, and nothing is left open. */
static int test_random_walk(void) {
    int fds0 = count_fds();
    ctx = new_ctx(2, 4, DEPTH, 0);
    aopen_completion buf[64];
    for (long i = 0; i < steps; i++) {
        switch (rnd(10)) {
        case 0:
        case 1:
        case 2:
        case 3:
            submit_random();
            break;
        case 4:
            cancel_random();
            break;
        case 5:
            do_dispatch(rnd(2) ? 0xffffffffu : rnd(4));
            break;
        case 6: {
            unsigned max = rnd(65);
            int got = aopen_reap(ctx, rnd(8) == 0 ? NULL : buf, max);
            if (got == -EINVAL)
                break; /* NULL buffer with max > 0 */
            CHECK(got >= 0 && (unsigned)got <= max, "reap: %d of %u", got, max);
            for (int k = 0; k < got; k++)
                deliver(&buf[k]);
            break;
        }
        case 7: {
            int w = aopen_wait(ctx, rnd(3) == 0 ? -2 - (int)rnd(100) : (int)rnd(2));
            CHECK(w >= 0 || w == -EINVAL, "wait: %d", w);
            break;
        }
        case 8: /* NULL context everywhere */
            CHECK_EQ(aopen_dispatch(NULL, 1), -EINVAL);
            CHECK_EQ(aopen_reap(NULL, buf, 1), -EINVAL);
            CHECK_EQ(aopen_cancel(NULL, 1), -EINVAL);
            CHECK_EQ(aopen_wait(NULL, 0), -EINVAL);
            CHECK_EQ(aopen_submit(NULL, path_f, O_RDONLY, 0, NULL, NULL), -EINVAL);
            CHECK_EQ(aopen_stats(NULL, NULL), -EINVAL);
            CHECK_EQ(aopen_stats_mounts(NULL, 0, NULL, NULL), -EINVAL);
            break;
        default:
            CHECK(aopen_ctx_fd(ctx) >= 0, "ctx fd");
            check_stats();
            CHECK(aopen_stats_mounts(ctx, rnd(3), NULL, NULL) >= 0, "stats_mounts");
            break;
        }
    }
    /* Drain: everything submitted is delivered exactly once. */
    double end = now_ms() + 10000;
    while (outstanding > 0 && now_ms() < end) {
        aopen_wait(ctx, 50);
        int got = aopen_reap(ctx, buf, 64);
        for (int k = 0; k < got; k++)
            deliver(&buf[k]);
    }
    CHECK_EQ(outstanding, 0);
    CHECK_EQ(delivered_n + dropped_n, submitted_n);
    check_stats();
    CHECK(!readable(aopen_ctx_fd(ctx)), "readable with nothing ready");
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    printf("%ld submitted: %ld delivered once each, %ld dropped by dispatch (no callback); %ld EAGAIN at "
           "the depth, %ld cancels, %ld re-entries\n",
           submitted_n, delivered_n, dropped_n, eagain_n, cancel_ok_n, reentries);
    return 0;
}

int main(void) {
    const char *s = getenv("MISUSE_SEED");
    seed = s ? (unsigned)atol(s) : (unsigned)time(NULL);
    const char *n = getenv("MISUSE_STEPS");
    steps = n ? atol(n) : 100000;
    printf("seed %u (MISUSE_SEED=%u reproduces), %ld steps\n", seed, seed, steps);
    snprintf(path_f, sizeof path_f, "%s", fast_path("f"));
    snprintf(path_missing, sizeof path_missing, "%s", fast_path("missing"));
    memset(path_long, 'a', sizeof path_long - 1);
    path_long[0] = '/';
    make_file(path_f, "x");
    return RUN_CASES(TEST_CASE(test_free_releases_a_blocked_waiter), TEST_CASE(test_random_walk));
}
