/* Semantics 12: every call but aopen_ctx_free may be made from any thread at any time.
 * Four threads submit opens (and cancel some) while the main thread delivers, alternating
 * dispatch and reap; the delivering callbacks submit the closes. Every request is
 * delivered exactly once and no descriptor is left open. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define SUBMITTERS 4
#define PER 2000
#define TOTAL (SUBMITTERS * PER)

static aopen_ctx *ctx;
static atomic_int opens_submitted, closes_submitted, cancels_ok;
static int opens_delivered, closes_delivered;

/* Only the main thread delivers, so the id registry needs no lock. */
static void note(uint64_t id) {
    CHECK(id > 0, "id 0");
    CHECK(id_index(id) == 0, "id %llu delivered twice", (unsigned long long)id);
    id_add(id);
}

static void on_close(const aopen_completion *c) {
    note(c->id);
    CHECK_EQ(c->result, 0);
    closes_delivered++;
}

static void handle(const aopen_completion *c) {
    note(c->id);
    if (c->op == AOPEN_OP_CLOSE) {
        CHECK_EQ(c->result, 0);
        closes_delivered++;
        return;
    }
    opens_delivered++;
    if (c->result >= 0) {
        int64_t r;
        while ((r = aclose_submit(ctx, c->result, on_close, NULL)) == -EAGAIN) {
            aopen_wait(ctx, 10); /* make room: wait for a completion, deliver one */
            aopen_dispatch(ctx, 1);
        }
        CHECK(r > 0, "close submit: %lld", (long long)r);
        atomic_fetch_add(&closes_submitted, 1);
    } else {
        CHECK_EQ(c->result, -ECANCELED);
    }
}

static void on_open(const aopen_completion *c) { handle(c); }

static void *submitter(void *arg) {
    const char *path = arg;
    for (int i = 0; i < PER; i++) {
        int64_t id;
        while ((id = aopen_submit(ctx, path, O_RDONLY, 0, on_open, NULL)) == -EAGAIN)
            sleep_ms(1); /* queue full: back off until a delivery makes room */
        CHECK(id > 0, "submit: %lld", (long long)id);
        atomic_fetch_add(&opens_submitted, 1);
        if (i % 7 == 0) {
            int rc = aopen_cancel(ctx, (uint64_t)id);
            CHECK(rc == 0 || rc == -ENOENT, "cancel: %d", rc);
            if (rc == 0)
                atomic_fetch_add(&cancels_ok, 1);
        }
    }
    return NULL;
}

int main(void) {
    make_file(fast_path("f"), "x");
    int fds0 = count_fds();
    ctx = new_ctx(4, 8, 256, 0);
    pthread_t th[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++)
        CHECK(pthread_create(&th[i], NULL, submitter, (void *)fast_path("f")) == 0, "thread");

    double end = now_ms() + 60000;
    aopen_completion c[64];
    int round = 0;
    while (now_ms() < end) {
        if (atomic_load(&opens_submitted) == TOTAL && opens_delivered == TOTAL &&
            closes_delivered == atomic_load(&closes_submitted))
            break;
        aopen_wait(ctx, 10);
        if (round++ % 2) {
            CHECK(aopen_dispatch(ctx, 0) >= 0, "dispatch");
        } else {
            int n = aopen_reap(ctx, c, 64);
            CHECK(n >= 0, "reap");
            for (int i = 0; i < n; i++)
                handle(&c[i]);
        }
    }
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(th[i], NULL);
    printf("%d opens (%d cancelled), %d closes delivered\n", opens_delivered,
           atomic_load(&cancels_ok), closes_delivered);
    CHECK_EQ(opens_delivered, TOTAL);
    CHECK_EQ(closes_delivered, atomic_load(&closes_submitted));
    CHECK_EQ(closes_delivered + atomic_load(&cancels_ok), TOTAL);
    CHECK_EQ(aopen_wait(ctx, 0), 0);
    aopen_ctx_free(ctx);
    CHECK_EQ(count_fds(), fds0);
    return 0;
}
