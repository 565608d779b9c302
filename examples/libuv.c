/*
 * libaopen in a libuv loop: a uv_poll_t watches the context fd and dispatches completions,
 * while a uv timer ticks every 100 ms. Four files under DIR (default /tmp) are opened,
 * written and closed through libaopen; with the slow_open shim delaying each open, the
 * opens overlap and the timer never stalls.
 *
 *   cc libuv.c $(pkg-config --cflags --libs aopen libuv) && ./a.out [DIR]
 *
 * Exits 1 if the timer stalled (a gap over 300 ms) or a file has the wrong size.
 */
#include <aopen.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#define NFILES 4
static const char text[] = "written through libaopen from a libuv loop\n";

static aopen_ctx *ctx;
static uv_poll_t poll_handle;
static uv_timer_t timer;
static char paths[NFILES][512];
static int closed, ticks, failures;
static uint64_t start, last_tick, worst_gap;

static void on_close(const aopen_completion *c) {
    printf("[%4llu ms] closed %s: %d\n", (unsigned long long)(uv_now(uv_default_loop()) - start),
           (const char *)c->user_data, c->result);
    failures += c->result != 0;
    if (++closed == NFILES) { /* all done: let the loop end */
        uv_poll_stop(&poll_handle);
        uv_timer_stop(&timer);
    }
}

static void on_open(const aopen_completion *c) {
    const char *path = c->user_data;
    printf("[%4llu ms] opened %s: fd %d\n", (unsigned long long)(uv_now(uv_default_loop()) - start), path,
           c->result);
    if (c->result < 0 || write(c->result, text, sizeof text - 1) != sizeof text - 1 ||
        aclose_submit(ctx, c->result, on_close, c->user_data) < 0) {
        failures++;
        on_close(&(aopen_completion){.user_data = c->user_data, .result = -1});
    }
}

/* The context fd is readable: run the ready callbacks on this (the loop's) thread. */
static void on_readable(uv_poll_t *handle, int status, int events) {
    (void)handle;
    (void)events;
    if (status == 0)
        aopen_dispatch(ctx, 0);
}

static void on_tick(uv_timer_t *t) {
    uint64_t now = uv_now(t->loop);
    if (now - last_tick > worst_gap)
        worst_gap = now - last_tick;
    last_tick = now;
    ticks++;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    uv_loop_t *loop = uv_default_loop();
    if (aopen_ctx_new(NULL, &ctx) != 0)
        return 1;
    uv_poll_init(loop, &poll_handle, aopen_ctx_fd(ctx));
    uv_poll_start(&poll_handle, UV_READABLE, on_readable);
    uv_timer_init(loop, &timer);
    uv_timer_start(&timer, on_tick, 100, 100);
    start = last_tick = uv_now(loop);

    for (int i = 0; i < NFILES; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/aopen-libuv-%d.txt", dir, i);
        if (aopen_submit(ctx, paths[i], O_WRONLY | O_CREAT | O_TRUNC, 0644, on_open, paths[i]) <= 0)
            return 1;
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uint64_t took = uv_now(loop) - start;

    aopen_ctx_free(ctx);
    uv_close((uv_handle_t *)&poll_handle, NULL);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    for (int i = 0; i < NFILES; i++) {
        struct stat st;
        failures += stat(paths[i], &st) != 0 || st.st_size != sizeof text - 1;
        unlink(paths[i]);
    }
    printf("libuv: %d files opened, written and closed in %llu ms; %d timer ticks, longest gap %llu ms\n",
           NFILES, (unsigned long long)took, ticks, (unsigned long long)worst_gap);
    return failures || worst_gap > 300 ? 1 : 0;
}
