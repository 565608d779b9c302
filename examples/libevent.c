/*
 * libaopen in a libevent loop: a persistent read event on the context fd dispatches
 * completions, while a timer event ticks every 100 ms. Four files under DIR (default
 * /tmp) are opened, written and closed through libaopen; with the slow_open shim delaying
 * each open, the opens overlap and the timer never stalls.
 *
 *   cc libevent.c $(pkg-config --cflags --libs aopen libevent) && ./a.out [DIR]
 *
 * Exits 1 if the timer stalled (a gap over 300 ms) or a file has the wrong size.
 */
#include <aopen.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define NFILES 4
static const char text[] = "written through libaopen from a libevent loop\n";

static aopen_ctx *ctx;
static struct event_base *base;
static char paths[NFILES][512];
static int closed, ticks, failures;
static double start, last_tick, worst_gap;

static double now_ms(void) {
    struct timeval tv;
    event_base_gettimeofday_cached(base, &tv);
    return tv.tv_sec * 1e3 + tv.tv_usec / 1e3;
}

static void on_close(const aopen_completion *c) {
    printf("[%4.0f ms] closed %s: %d\n", now_ms() - start, (const char *)c->user_data, c->result);
    failures += c->result != 0;
    if (++closed == NFILES)
        event_base_loopbreak(base);
}

static void on_open(const aopen_completion *c) {
    printf("[%4.0f ms] opened %s: fd %d\n", now_ms() - start, (const char *)c->user_data, c->result);
    if (c->result < 0 || write(c->result, text, sizeof text - 1) != sizeof text - 1 ||
        aclose_submit(ctx, c->result, on_close, c->user_data) < 0) {
        failures++;
        on_close(&(aopen_completion){.user_data = c->user_data, .result = -1});
    }
}

/* The context fd is readable: run the ready callbacks on this (the loop's) thread. */
static void on_readable(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    aopen_dispatch(arg, 0);
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    (void)arg;
    double now = now_ms();
    if (now - last_tick > worst_gap)
        worst_gap = now - last_tick;
    last_tick = now;
    ticks++;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    base = event_base_new();
    if (base == NULL || aopen_ctx_new(NULL, &ctx) != 0)
        return 1;
    struct event *ready = event_new(base, aopen_ctx_fd(ctx), EV_READ | EV_PERSIST, on_readable, ctx);
    struct event *timer = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval every = {0, 100000};
    event_add(ready, NULL);
    event_add(timer, &every);
    start = last_tick = now_ms();

    for (int i = 0; i < NFILES; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/aopen-libevent-%d.txt", dir, i);
        if (aopen_submit(ctx, paths[i], O_WRONLY | O_CREAT | O_TRUNC, 0644, on_open, paths[i]) <= 0)
            return 1;
    }
    event_base_dispatch(base);
    double took = now_ms() - start;

    event_free(ready);
    event_free(timer);
    aopen_ctx_free(ctx);
    event_base_free(base);
    for (int i = 0; i < NFILES; i++) {
        struct stat st;
        failures += stat(paths[i], &st) != 0 || st.st_size != sizeof text - 1;
        unlink(paths[i]);
    }
    printf("libevent: %d files opened, written and closed in %.0f ms; %d timer ticks, longest gap %.0f ms\n",
           NFILES, took, ticks, worst_gap);
    return failures || worst_gap > 300 ? 1 : 0;
}
