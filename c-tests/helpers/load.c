/* A healthy load driven as a loop would, and collecting tagged completions (see helpers.h). */
#define _GNU_SOURCE
#include "../helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

double longest_call_ms;

static int cmp_ms(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char load_tag;

struct load healthy_load(aopen_ctx *ctx, const char *path, int n, int inflight, int budget_ms, struct others *others) {
    struct load r = {0};
    double *lat = calloc((size_t)n, sizeof *lat), *started = calloc((size_t)n + 1, sizeof *started);
    CHECK(lat != NULL && started != NULL, "calloc");
    int64_t *ids = calloc((size_t)n, sizeof *ids);
    CHECK(ids != NULL, "calloc");
    int submitted = 0, outstanding = 0;
    double t0 = now_ms(), end = t0 + budget_ms;
    struct pollfd p = {.fd = aopen_ctx_fd(ctx), .events = POLLIN};
    aopen_completion c[256];
    while ((r.done + r.failed < n) && now_ms() < end) {
        while (submitted < n && outstanding < inflight) {
            int64_t id = TIMED(aopen_submit(ctx, path, O_RDONLY, 0, NULL, &load_tag));
            if (id == -EAGAIN)
                break;
            CHECK(id > 0, "healthy submit: %lld", (long long)id);
            ids[submitted] = id;
            started[submitted++] = now_ms();
            outstanding++;
        }
        int left = (int)(end - now_ms());
        poll(&p, 1, left < 10 ? (left > 0 ? left : 0) : 10);
        int got = TIMED(aopen_reap(ctx, c, 256));
        CHECK(got >= 0, "reap: %d", got);
        for (int i = 0; i < got; i++) {
            if (c[i].user_data != &load_tag) {
                CHECK(others != NULL && others->n < (int)(sizeof others->v / sizeof others->v[0]), "stray completion");
                others->v[others->n++] = c[i];
                continue;
            }
            outstanding--;
            int k = 0;
            while (k < submitted && ids[k] != (int64_t)c[i].id)
                k++;
            CHECK(k < submitted, "unknown id");
            if (c[i].result >= 0) {
                close(c[i].result);
                lat[r.done++] = now_ms() - started[k];
            } else {
                r.failed++;
            }
        }
    }
    r.wall_ms = now_ms() - t0;
    qsort(lat, (size_t)r.done, sizeof *lat, cmp_ms);
    if (r.done > 0) {
        r.p50_ms = lat[r.done / 2];
        r.p99_ms = lat[(r.done * 99) / 100 < r.done ? (r.done * 99) / 100 : r.done - 1];
    }
    free(lat);
    free(started);
    free(ids);
    return r;
}

int collect_tagged(aopen_ctx *ctx, const struct others *others, const void *tag, int n, int timeout_ms) {
    int got = 0, fds = 0;
    aopen_completion c[256];
    int pending = others ? others->n : 0;
    const aopen_completion *batch = others ? others->v : c;
    double until = now_ms() + timeout_ms;
    for (;;) {
        for (int i = 0; i < pending; i++) {
            const aopen_completion *x = &batch[i];
            if (x->user_data != tag) {
                if (x->op == AOPEN_OP_OPEN && x->result >= 0)
                    close(x->result);
                continue;
            }
            got++;
            if (x->result >= 0) {
                CHECK(aclose_submit(ctx, x->result, NULL, NULL) > 0, "aclose_submit");
                fds++;
            }
        }
        if (got >= n || now_ms() >= until)
            break;
        aopen_wait(ctx, 100);
        pending = aopen_reap(ctx, c, 256);
        CHECK(pending >= 0, "reap: %d", pending);
        batch = c;
    }
    CHECK_EQ(got, n);
    return fds;
}
