/*
 * copy: an epoll loop copies a file with open, fstat, read, write, fsync and close, every
 * one of them submitted to libaopen, while a 100 ms heartbeat keeps ticking.
 *
 *   build/examples/copy SRC DST
 *
 * make test runs it from hangfs, the FUSE test filesystem, where the source opens in 300 ms
 * and every read takes 50 ms inside the kernel, as on a slow network mount, to a local file
 * (c-tests/copy_test.sh). It copies in 64 KiB chunks, two in flight, each read delivered
 * into its buffer and written from it. Exits 1 if the copy differs (checked synchronously
 * once the loop is over), a call fails, or a heartbeat gap shows the loop was blocked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "aopen.h"

#define CHUNK (64 << 10)
#define INFLIGHT 2

static aopen_ctx *ctx;
static int src = -1, dst = -1, opened, closed, done, failed;
static struct statx src_stat;
static int64_t size, next_offset; /* the source's size, and the next chunk to read */
static int pending;               /* chunks being read or written */
static unsigned char bufs[INFLIGHT][CHUNK];
static struct {
    int64_t off;
    int len, got; /* the bytes asked of the read, and what it returned */
} chunk[INFLIGHT];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fail(const char *what, int err) {
    fprintf(stderr, "%s: %s\n", what, strerror(-err));
    failed = 1;
    done = 1;
}

static void on_read(const aopen_completion *c);

/* Reads the rest of chunk `b` (all of it, or what a short read left). */
static void read_chunk(int b) {
    int64_t id = aopen_read_submit(ctx, src, bufs[b], (size_t)chunk[b].len, chunk[b].off, on_read, (void *)(intptr_t)b);
    if (id < 0)
        fail("read submit", (int)id);
}

/* Starts chunk `b` at the next offset, if any is left. */
static void read_next(int b) {
    if (next_offset >= size)
        return;
    chunk[b].off = next_offset;
    chunk[b].len = size - next_offset < CHUNK ? (int)(size - next_offset) : CHUNK;
    next_offset += chunk[b].len;
    pending++;
    read_chunk(b);
}

static void on_close(const aopen_completion *c) {
    if (c->result < 0)
        fail("close", c->result);
    if (++closed == 2) /* both descriptors closed: the copy is over */
        done = 1;
}

static void on_fsync(const aopen_completion *c) {
    if (c->result < 0)
        fail("fsync", c->result);
    aclose_submit(ctx, src, on_close, NULL);
    aclose_submit(ctx, dst, on_close, NULL);
}

static void sync_when_done(void) {
    if (pending == 0 && next_offset >= size) /* every byte written: make it durable, then close */
        aopen_fsync_submit(ctx, dst, 0, on_fsync, NULL);
}

static void on_write(const aopen_completion *c) {
    int b = (int)(intptr_t)c->user_data;
    if (c->result != chunk[b].got)
        return fail("write", c->result < 0 ? c->result : -EIO);
    if (chunk[b].got < chunk[b].len) { /* a short read: read the rest of the chunk */
        chunk[b].off += chunk[b].got;
        chunk[b].len -= chunk[b].got;
        return read_chunk(b);
    }
    pending--;
    read_next(b);
    sync_when_done();
}

static void on_read(const aopen_completion *c) {
    int b = (int)(intptr_t)c->user_data;
    if (c->result <= 0) /* 0: the file shrank under us */
        return fail("read", c->result < 0 ? c->result : -EIO);
    chunk[b].got = c->result; /* bufs[b] holds the bytes now: delivery copied them in */
    int64_t id = aopen_write_submit(ctx, dst, bufs[b], (size_t)c->result, chunk[b].off, on_write, (void *)(intptr_t)b);
    if (id < 0)
        fail("write submit", (int)id);
}

static void on_fstat(const aopen_completion *c) {
    if (c->result < 0)
        return fail("fstat", c->result);
    size = (int64_t)src_stat.stx_size; /* src_stat was filled by this delivery */
    for (int b = 0; b < INFLIGHT; b++)
        read_next(b);
    sync_when_done();
}

static void on_open(const aopen_completion *c) {
    if (c->result < 0)
        return fail("open", c->result);
    *(int *)c->user_data = c->result;
    if (++opened == 2 && aopen_fstat_submit(ctx, src, STATX_SIZE, &src_stat, on_fstat, NULL) < 0)
        fail("fstat submit", -EAGAIN);
}

/* Whether `a` and `b` hold the same bytes (read synchronously, after the loop). */
static int same_files(const char *a, const char *b) {
    int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC), same = fa >= 0 && fb >= 0;
    static unsigned char x[CHUNK], y[CHUNK];
    while (same) {
        ssize_t n = read(fa, x, sizeof x);
        same = n >= 0 && read(fb, y, (size_t)n) == n && memcmp(x, y, (size_t)n) == 0;
        if (n == 0)
            break;
    }
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    return same;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SRC DST\n", argv[0]);
        return 2;
    }
    int rc = aopen_ctx_new(NULL, &ctx);
    if (rc != 0)
        return fprintf(stderr, "aopen_ctx_new: %s\n", strerror(-rc)), 1;
    int ep = epoll_create1(EPOLL_CLOEXEC), tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct itimerspec tick = {{0, 100000000}, {0, 100000000}};
    timerfd_settime(tfd, 0, &tick, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = aopen_ctx_fd(ctx)};
    epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
    ev.data.fd = tfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

    double t0 = now(), last_beat = t0, longest_gap = 0;
    int beats = 0;
    aopen_submit(ctx, argv[1], O_RDONLY, 0, on_open, &src);
    aopen_submit(ctx, argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600, on_open, &dst);
    while (!done && now() - t0 < 20) {
        struct epoll_event out[2];
        int n = epoll_wait(ep, out, 2, 1000);
        for (int i = 0; i < n; i++) {
            if (out[i].data.fd == tfd) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) > 0) {
                    double t = now();
                    if (t - last_beat > longest_gap)
                        longest_gap = t - last_beat;
                    last_beat = t;
                    beats++;
                    printf("[%5.2fs] heartbeat; %lld of %lld KiB read\n", t - t0, (long long)next_offset / 1024,
                           (long long)size / 1024);
                }
            } else {
                aopen_dispatch(ctx, 0);
            }
        }
    }
    double took = now() - t0;
    aopen_ctx_free(ctx);

    int same = done && !failed && same_files(argv[1], argv[2]);
    if (!done || failed || !same) {
        fprintf(stderr, "copy failed: done %d failed %d identical %d\n", done, failed, same);
        return 1;
    }
    if (longest_gap > 0.5) {
        fprintf(stderr, "the loop was blocked: a heartbeat gap of %.0f ms\n", longest_gap * 1000);
        return 1;
    }
    printf("copied %lld KiB in %.2f s; %d heartbeats, longest gap %.0f ms\n", (long long)size / 1024, took, beats,
           longest_gap * 1000);
    return 0;
}
