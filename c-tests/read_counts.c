/* A read never reports more bytes than it asked for. The reproduction of the over-long count
 * (a read served by a larger recycled buffer read that buffer's capacity): reads of a random
 * `len` (1 to 16384) at random offsets (some past the end) of a 64 KiB tmpfs file, each into
 * its own heap buffer, at depths 1, 64 and 256, on the inline path and on the pool path
 * (AOPEN_OPT_NO_INLINE), driven by epoll on the context's fd. Every result must equal what
 * pread(2) returns for the same range, byte for byte, and nothing past `len` may be written.
 * READ_COUNTS_N reads per depth and path (default 20000); READ_COUNTS_SEED picks the seed. */
#define _GNU_SOURCE
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE 65536
#define CANARY 64

static unsigned char content[FILE_SIZE];
static uint64_t rng;
static long over_long, reads_done;

static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

struct rd {
    unsigned char *buf;
    size_t len;
    int64_t offset;
};

static int in_flight;

static void on_read(const aopen_completion *c) {
    struct rd *r = c->user_data;
    long want = r->offset >= FILE_SIZE ? 0 : (long)(FILE_SIZE - r->offset < (int64_t)r->len ? FILE_SIZE - r->offset : (int64_t)r->len);
    if (c->result > (int32_t)r->len) { /* counted, and failed at the end */
        over_long++;
        want = (long)r->len;
    } else
        CHECK(c->result == want, "read of %zu at %lld: %d, pread gives %ld", r->len, (long long)r->offset, c->result, want);
    CHECK(memcmp(r->buf, content + (r->offset < FILE_SIZE ? r->offset : 0), (size_t)want) == 0,
          "read of %zu at %lld: wrong bytes", r->len, (long long)r->offset);
    for (size_t i = (size_t)want; i < r->len + CANARY; i++)
        CHECK(r->buf[i] == 0xa5, "read of %zu at %lld (result %d): byte %zu past the result written", r->len,
              (long long)r->offset, c->result, i);
    free(r->buf);
    free(r);
    in_flight--;
    reads_done++;
}

static void run(const char *path, uint32_t flags, int depth, long n) {
    aopen_options o = {0};
    o.flags = flags;
    o.queue_depth = 1024;
    aopen_ctx *ctx = NULL;
    CHECK_EQ(aopen_ctx_new(&o, &ctx), 0);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open %s", path);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, aopen_ctx_fd(ctx), &ev), 0);
    long before = over_long, submitted = 0;
    while (submitted < n || in_flight > 0) {
        while (submitted < n && in_flight < depth) {
            struct rd *r = malloc(sizeof *r);
            r->len = 1 + next_rand() % 16384;
            r->offset = (int64_t)(next_rand() % (FILE_SIZE + 8192));
            r->buf = malloc(r->len + CANARY);
            memset(r->buf, 0xa5, r->len + CANARY);
            int64_t id = aopen_read_submit(ctx, fd, r->buf, r->len, r->offset, on_read, r);
            if (id == -EAGAIN) { /* the buffer budget or depth: deliver first */
                free(r->buf);
                free(r);
                break;
            }
            CHECK(id > 0, "aopen_read_submit: %lld", (long long)id);
            in_flight++;
            submitted++;
        }
        CHECK(epoll_wait(ep, &ev, 1, 10000) == 1, "no completion in 10 s (%d in flight)", in_flight);
        CHECK(aopen_dispatch(ctx, 0) >= 0, "aopen_dispatch");
    }
    printf("%-9s depth %3d: %ld reads, %ld over-long\n", flags ? "pool" : "inline", depth, n, over_long - before);
    close(ep);
    close(fd);
    aopen_ctx_free(ctx);
}

int main(int argc, char **argv) {
    (void)argc;
    without_preload(argv); /* the inline path opens nothing here, but stay off the shim */
    const char *s = getenv("READ_COUNTS_SEED");
    rng = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) * 2654435761u + (uint64_t)getpid();
    if (rng == 0)
        rng = 1;
    printf("seed %llu (READ_COUNTS_SEED to repeat)\n", (unsigned long long)rng);
    long n = getenv("READ_COUNTS_N") ? atol(getenv("READ_COUNTS_N")) : 20000;
    if (under_valgrind())
        n /= 20;

    char path[] = "/dev/shm/aopen-read-counts.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp in /dev/shm");
    for (int i = 0; i < FILE_SIZE; i++)
        content[i] = (unsigned char)next_rand();
    CHECK_EQ(write(fd, content, FILE_SIZE), FILE_SIZE);
    close(fd);

    int depths[] = {1, 64, 256};
    for (int p = 0; p < 2; p++)
        for (int d = 0; d < 3; d++)
            run(path, p ? AOPEN_OPT_NO_INLINE : 0, depths[d], n);
    unlink(path);
    CHECK(over_long == 0, "%ld of %ld reads reported more bytes than asked for", over_long, reads_done);
    return 0;
}
