/*
 * libaopen in a GLib main loop: g_unix_fd_add puts a GSource on the context fd that
 * dispatches completions, while a 100 ms timeout source ticks. Four files under DIR
 * (default /tmp) are opened, written and closed through libaopen; with the slow_open shim
 * delaying each open, the opens overlap and the timer never stalls.
 *
 *   cc glib.c $(pkg-config --cflags --libs aopen glib-2.0) && ./a.out [DIR]
 *
 * Exits 1 if the timer stalled (a gap over 300 ms) or a file has the wrong size.
 */
#include <aopen.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define NFILES 4
static const char text[] = "written through libaopen from a GLib main loop\n";

static aopen_ctx *ctx;
static GMainLoop *loop;
static char paths[NFILES][512];
static int closed, ticks, failures;
static gint64 start, last_tick, worst_gap;

static void on_close(const aopen_completion *c) {
    printf("[%4lld ms] closed %s: %d\n", (long long)(g_get_monotonic_time() - start) / 1000,
           (const char *)c->user_data, c->result);
    failures += c->result != 0;
    if (++closed == NFILES)
        g_main_loop_quit(loop);
}

static void on_open(const aopen_completion *c) {
    printf("[%4lld ms] opened %s: fd %d\n", (long long)(g_get_monotonic_time() - start) / 1000,
           (const char *)c->user_data, c->result);
    if (c->result < 0 || write(c->result, text, sizeof text - 1) != sizeof text - 1 ||
        aclose_submit(ctx, c->result, on_close, c->user_data) < 0) {
        failures++;
        on_close(&(aopen_completion){.user_data = c->user_data, .result = -1});
    }
}

/* The context fd is readable: run the ready callbacks on this (the loop's) thread. */
static gboolean on_readable(gint fd, GIOCondition cond, gpointer data) {
    (void)fd;
    (void)cond;
    aopen_dispatch(data, 0);
    return G_SOURCE_CONTINUE;
}

static gboolean on_tick(gpointer data) {
    (void)data;
    gint64 now = g_get_monotonic_time();
    if (now - last_tick > worst_gap)
        worst_gap = now - last_tick;
    last_tick = now;
    ticks++;
    return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    if (aopen_ctx_new(NULL, &ctx) != 0)
        return 1;
    loop = g_main_loop_new(NULL, FALSE);
    guint ready = g_unix_fd_add(aopen_ctx_fd(ctx), G_IO_IN, on_readable, ctx);
    guint timer = g_timeout_add(100, on_tick, NULL);
    start = last_tick = g_get_monotonic_time();

    for (int i = 0; i < NFILES; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/aopen-glib-%d.txt", dir, i);
        if (aopen_submit(ctx, paths[i], O_WRONLY | O_CREAT | O_TRUNC, 0644, on_open, paths[i]) <= 0)
            return 1;
    }
    g_main_loop_run(loop);
    gint64 took = g_get_monotonic_time() - start;

    g_source_remove(ready);
    g_source_remove(timer);
    g_main_loop_unref(loop);
    aopen_ctx_free(ctx);
    for (int i = 0; i < NFILES; i++) {
        struct stat st;
        failures += stat(paths[i], &st) != 0 || st.st_size != sizeof text - 1;
        unlink(paths[i]);
    }
    printf("glib: %d files opened, written and closed in %lld ms; %d timer ticks, longest gap %lld ms\n",
           NFILES, (long long)took / 1000, ticks, (long long)worst_gap / 1000);
    return failures || worst_gap > 300000 ? 1 : 0;
}
