/* Semantics 5: each request is delivered exactly once, in completion order, by dispatch
 * (callbacks on the calling thread; no callback: dropped and its fd closed) or by reap
 * (no callbacks; caller owns fds). Both return at most `max`; dispatch(0) drains what is
 * ready. Callbacks may submit (a close from an open's callback) and cancel. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define MAXR 64
static aopen_ctx *ctx;
static pthread_t main_thread;
static uint64_t seen[MAXR];
static int nseen;
static int closes_done;
static int opens_dispatched;
static int64_t victim = -1;
static int victim_rc = 1;

static void record(const aopen_completion *c) {
    CHECK(pthread_equal(pthread_self(), main_thread), "callback ran off the dispatching thread");
    for (int i = 0; i < nseen; i++)
        CHECK(seen[i] != c->id, "id %llu delivered twice", (unsigned long long)c->id);
    CHECK(nseen < MAXR, "too many");
    seen[nseen++] = c->id;
}

static void on_close(const aopen_completion *c) {
    record(c);
    CHECK_EQ(c->op, AOPEN_OP_CLOSE);
    CHECK_EQ(c->result, 0);
    CHECK(c->user_data == (void *)&closes_done, "user_data");
    closes_done++;
}

/* An open's callback that closes its fd through the library and cancels `victim`. */
static void on_open(const aopen_completion *c) {
    record(c);
    CHECK_EQ(c->op, AOPEN_OP_OPEN);
    CHECK(c->result >= 0, "open: %d", c->result);
    opens_dispatched++;
    CHECK(aclose_submit(ctx, c->result, on_close, &closes_done) > 0, "close from callback");
    if (victim > 0) {
        victim_rc = aopen_cancel(ctx, (uint64_t)victim);
        victim = -1;
    }
}

static long delay; /* the shim's slow-open delay, ms */
static int fds0;

/* Each case: a context of 4 workers and the callbacks' record cleared. */
static void setup(void) {
    nseen = closes_done = opens_dispatched = 0;
    victim = -1;
    victim_rc = 1;
    fds0 = count_fds();
    ctx = new_ctx(4, 4, 0, 0);
}

/* Nothing left running, delivered twice or open once the case is done (the library closes
 * what an abandoned open returns). */
static void teardown(void) {
    aopen_completion c[MAXR];
    CHECK(wait_stats(ctx, 0, 0, (int)delay + 10000), "work still running at the end of the case");
    CHECK_EQ(wait_fds(fds0 + 1, 5000), fds0 + 1);
    CHECK_EQ(aopen_dispatch(ctx, 0), 0);
    CHECK_EQ(aopen_reap(ctx, c, MAXR), 0);
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
}

/* Completion order, not submit order: a slow open then a fast one. */
static int test_completion_order(void) {
    setup();
    aopen_completion c[2];
    int64_t slow = aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL);
    CHECK(wait_stats(ctx, 1, 0, 5000), "the slow open never started");
    int64_t fast = aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL);
    CHECK(slow > 0 && fast > 0, "submit");
    CHECK_EQ(reap_n(ctx, c, 2, (int)delay + 5000), 2);
    CHECK_EQ(c[0].id, fast);
    CHECK_EQ(c[1].id, slow);
    close(c[0].result);
    close(c[1].result);
    teardown();
    return 0;
}

/* reap and dispatch honour max; dispatch(0) drains everything ready; callbacks run on the
 * dispatching thread and may submit (a close from an open's callback). */
static int test_max_and_drain(void) {
    setup();
    aopen_completion c[MAXR];
    for (int i = 0; i < 10; i++)
        CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, on_open, NULL) > 0, "submit");
    CHECK_EQ(wait_ready(ctx, 10, 5000), 10);
    CHECK_EQ(aopen_wait(ctx, 0), 10);
    CHECK_EQ(aopen_reap(ctx, c, 3), 3); /* reap ignores callbacks: the caller owns these fds */
    for (int i = 0; i < 3; i++)
        close(c[i].result);
    CHECK_EQ(aopen_dispatch(ctx, 2), 2);
    CHECK_EQ(opens_dispatched, 2);
    /* dispatch(0) takes every completion ready now: the 5 opens, and any of the 2 closes
     * submitted from the callbacks above that already finished. */
    int n = aopen_dispatch(ctx, 0);
    CHECK(n >= 5 && n <= 7, "dispatch(0) = %d", n);
    CHECK_EQ(opens_dispatched, 7);
    /* The 7 closes submitted from callbacks complete and are dispatched. */
    double end = now_ms() + 5000;
    while (closes_done < 7 && now_ms() < end) {
        aopen_wait(ctx, 100);
        aopen_dispatch(ctx, 0);
    }
    CHECK_EQ(closes_done, 7);
    CHECK_EQ(nseen, 14);
    CHECK_EQ(count_fds(), fds0 + 1);
    teardown();
    return 0;
}

/* A callback may cancel another request: the slow one below. */
static int test_callback_cancels(void) {
    setup();
    aopen_completion c[2];
    victim = aopen_submit(ctx, slow_path("s"), O_RDONLY, 0, NULL, NULL);
    int64_t trigger = aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, on_open, NULL);
    CHECK(victim > 0 && trigger > 0, "submit");
    int64_t victim_id = victim;
    double end = now_ms() + 5000;
    while (victim_rc == 1 && now_ms() < end) {
        aopen_wait(ctx, 100);
        aopen_dispatch(ctx, 1);
    }
    CHECK_EQ(victim_rc, 0);
    CHECK_EQ(reap_n(ctx, c, 2, 5000), 2); /* the cancelled slow open and the close */
    int cancelled = 0;
    for (int i = 0; i < 2; i++)
        if (c[i].id == (uint64_t)victim_id) {
            CHECK_EQ(c[i].result, -ECANCELED);
            cancelled++;
        } else {
            CHECK_EQ(c[i].op, AOPEN_OP_CLOSE);
        }
    CHECK_EQ(cancelled, 1);
    teardown(); /* the cancelled slow open returns and a worker closes its descriptor */
    return 0;
}

/* No callback: dispatch drops the completion and closes the fd it opened. */
static int test_no_callback_drops(void) {
    setup();
    for (int i = 0; i < 5; i++)
        CHECK(aopen_submit(ctx, fast_path("f"), O_RDONLY, 0, NULL, NULL) > 0, "submit");
    int dropped = 0;
    double end = now_ms() + 5000;
    while (dropped < 5 && now_ms() < end) {
        aopen_wait(ctx, 100);
        int n = aopen_dispatch(ctx, 0);
        CHECK(n >= 0, "dispatch %d", n);
        dropped += n;
    }
    CHECK_EQ(dropped, 5);
    CHECK_EQ(wait_fds(fds0 + 1, 5000), fds0 + 1);
    teardown();
    return 0;
}

int main(void) {
    delay = require_shim();
    main_thread = pthread_self();
    make_file(slow_path("s"), "x");
    make_file(fast_path("f"), "x");
    return RUN_CASES(TEST_CASE(test_completion_order), TEST_CASE(test_max_and_drain),
                     TEST_CASE(test_callback_cancels), TEST_CASE(test_no_callback_drops));
}
