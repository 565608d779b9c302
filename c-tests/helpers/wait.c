/* Time, and bounded waits for a state of a context (see helpers.h). */
#define _GNU_SOURCE
#include "../helpers.h"

#include <time.h>

double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int wait_stats(aopen_ctx *ctx, uint32_t running, uint32_t queued, int timeout_ms) {
    double until = now_ms() + timeout_ms;
    for (;;) {
        aopen_stats_snapshot st = stats_of(ctx);
        if (st.running == running && st.queued == queued)
            return 1;
        if (now_ms() >= until)
            return 0;
        sleep_ms(1);
    }
}

int wait_ready(aopen_ctx *ctx, int n, int timeout_ms) {
    double until = now_ms() + timeout_ms;
    for (;;) {
        int ready = aopen_wait(ctx, 0);
        if (ready < 0 || ready >= n || now_ms() >= until)
            return ready;
        if (ready == 0)
            aopen_wait(ctx, (int)(until - now_ms()) + 1); /* sleeps until the first */
        else
            sleep_ms(1); /* aopen_wait returns at once while any is ready */
    }
}
