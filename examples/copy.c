/*
 * copy: an epoll loop copies a file with open, read, write, fsync and close, every one of
 * them submitted to libaopen, while a 100 ms heartbeat keeps ticking.
 *
 *   build/examples/copy DIR     (make test runs it with the slow-open shim delaying every
 *                                open under DIR by 1 s, as a slow mount would)
 *
 * It writes DIR/src (1 MiB) first, synchronously, through a relative path the shim does not
 * match; then copies DIR/src to DIR/dst through the library in 64 KiB chunks, two in flight,
 * each read delivered into its buffer and written from it. Exits 1 if the copy differs, a
 * call fails, or a heartbeat gap shows the loop was blocked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "aopen.h"

#define SIZE (1 << 20)
#define CHUNK (64 << 10)
#define INFLIGHT 2

static aopen_ctx *ctx;
static int src = -1, dst = -1, opened, closed, done, failed;
static int64_t next_offset; /* the next chunk to read */
static int reading;         /* chunks read or written but not finished */
static unsigned char bufs[INFLIGHT][CHUNK];
static int64_t buf_offset[INFLIGHT];

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

/* Starts reading chunk `b` at the next offset, if any is left. */
static void read_next(int b) {
    if (next_offset >= SIZE)
        return;
    buf_offset[b] = next_offset;
    next_offset += CHUNK;
    reading++;
    int64_t id = aopen_read_submit(ctx, src, bufs[b], CHUNK, buf_offset[b], on_read, (void *)(intptr_t)b);
    if (id < 0)
        fail("read submit", (int)id);
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

static void on_write(const aopen_completion *c) {
    int b = (int)(intptr_t)c->user_data;
    if (c->result != CHUNK)
        return fail("write", c->result < 0 ? c->result : -EIO);
    reading--;
    read_next(b);
    if (reading == 0) /* every chunk written: make it durable, then close */
        aopen_fsync_submit(ctx, dst, 0, on_fsync, NULL);
}

static void on_read(const aopen_completion *c) {
    int b = (int)(intptr_t)c->user_data;
    if (c->result != CHUNK) /* bufs[b] holds the bytes now: delivery copied them in */
        return fail("read", c->result < 0 ? c->result : -EIO);
    int64_t id = aopen_write_submit(ctx, dst, bufs[b], CHUNK, buf_offset[b], on_write, (void *)(intptr_t)b);
    if (id < 0)
        fail("write submit", (int)id);
}

static void on_open(const aopen_completion *c) {
    if (c->result < 0)
        return fail("open", c->result);
    *(int *)c->user_data = c->result;
    if (++opened < 2)
        return;
    for (int b = 0; b < INFLIGHT; b++)
        read_next(b);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    /* The source, written synchronously through a path the shim does not match. */
    if (chdir(argv[1]) != 0)
        return perror(argv[1]), 1;
    unsigned char *data = malloc(SIZE);
    for (int i = 0; i < SIZE; i++)
        data[i] = (unsigned char)(i * 7 + i / 4096);
    int fd = open("src", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, data, SIZE) != SIZE || close(fd) != 0)
        return perror("src"), 1;

    char src_path[4096], dst_path[4096];
    snprintf(src_path, sizeof src_path, "%s/src", argv[1]);
    snprintf(dst_path, sizeof dst_path, "%s/dst", argv[1]);
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
    aopen_submit(ctx, src_path, O_RDONLY, 0, on_open, &src);
    aopen_submit(ctx, dst_path, O_WRONLY | O_CREAT | O_TRUNC, 0600, on_open, &dst);
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
                    printf("[%5.2fs] heartbeat; %lld of %d KiB read\n", t - t0, (long long)next_offset / 1024,
                           SIZE / 1024);
                }
            } else {
                aopen_dispatch(ctx, 0);
            }
        }
    }
    double took = now() - t0;
    aopen_ctx_free(ctx);

    /* Check the copy, synchronously, now that the loop is over. */
    unsigned char *copy = malloc(SIZE);
    fd = open("dst", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd < 0 ? -1 : read(fd, copy, SIZE);
    char extra;
    int same = got == SIZE && read(fd, &extra, 1) == 0 && memcmp(copy, data, SIZE) == 0;
    if (fd >= 0)
        close(fd);
    if (!done || failed || !same) {
        fprintf(stderr, "copy failed: done %d failed %d identical %d\n", done, failed, same);
        return 1;
    }
    if (longest_gap > 0.5) {
        fprintf(stderr, "the loop was blocked: a heartbeat gap of %.0f ms\n", longest_gap * 1000);
        return 1;
    }
    printf("copied %d KiB in %.2f s (slow opens included); %d heartbeats, longest gap %.0f ms\n", SIZE / 1024,
           took, beats, longest_gap * 1000);
    free(copy);
    free(data);
    return 0;
}
