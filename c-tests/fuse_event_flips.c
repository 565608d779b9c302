/* Mount events under load (issue 32): 1000 hang/release flips on each of two hangfs mounts
 * at once, with a 20 ms blocked threshold (aopen_options.blocked_ms), while the loop
 * resubmits its mount-event request slowly and twice stalls long enough for the bounded
 * queue (256) to overflow. Against the ground truth the test records (per mount, each flip's
 * hang, the moment the library refused a call there with fail-fast's EHOSTDOWN, the release
 * and the hung call's return): per mount the delivered events are in order, each one a
 * change of a flip that happened (blocked between a hang and its refusal, recovered between
 * its release and the hung call's return), none twice; delivered plus dropped equals the
 * changes the library saw (two per flip); the dropped counts add up to the context's total.
 * EVENT_FLIPS sets the flips per mount (skipped under valgrind: see main). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

enum { BLOCKED_MS = 20, MOUNTS = 2, MAX_EVENTS = 8192 };

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One flip of one mount, as the test made it (CLOCK_MONOTONIC ns, as the events' at_ns). */
struct flip {
    uint64_t hang, refused, release, returned;
};

/* A call a driver waits for; the loop thread delivers it. */
struct call {
    _Atomic int done;
    int result;
    struct statx stx;
};

static void on_call(const aopen_completion *c) {
    struct call *k = c->user_data;
    k->result = c->result;
    __atomic_store_n(&k->done, 1, __ATOMIC_RELEASE);
}

/* Submits a stat of `path` into `k` and waits for its delivery; its result. */
static int stat_and_wait(aopen_ctx *ctx, const char *path, struct call *k) {
    k->done = 0;
    int64_t id = aopen_stat_submit(ctx, path, 0, STATX_BASIC_STATS, &k->stx, on_call, k);
    CHECK(id > 0, "stat_submit %s: %lld", path, (long long)id);
    double until = now_ms() + 10000;
    while (!__atomic_load_n(&k->done, __ATOMIC_ACQUIRE)) {
        CHECK(now_ms() < until, "stat of %s undelivered after 10 s", path);
        usleep(200);
    }
    return k->result;
}

struct mount_run {
    struct hangfs *fs;
    char hung[8200], probe[8200];
    aopen_ctx *ctx;
    int flips;
    struct flip *log;
    _Atomic int made; /* flips finished */
    long probes;
};

/* One mount's driver: each flip hangs a stat in the daemon, probes with a stat elsewhere on
 * the mount until fail-fast refuses it (the library has marked the mount blocked), releases
 * the hang and waits for the hung stat to return (its return is what unmarks the mount). */
static void *driver(void *arg) {
    struct mount_run *m = arg;
    struct call hung, probe;
    for (int i = 0; i < m->flips; i++) {
        struct flip *f = &m->log[i];
        hangfs_dyn_set(m->fs, HANGFS_GETATTR, 0);
        f->hang = mono_ns();
        hung.done = 0;
        int64_t id = aopen_stat_submit(m->ctx, m->hung, 0, STATX_BASIC_STATS, &hung.stx, on_call, &hung);
        CHECK(id > 0, "stat_submit: %lld", (long long)id);
        CHECK_EQ(hangfs_wait_waiting(m->fs, HANGFS_GETATTR, 1, 10000), 1);
        for (;;) {
            m->probes++;
            int r = stat_and_wait(m->ctx, m->probe, &probe);
            if (r == -EHOSTDOWN)
                break;
            CHECK_EQ(r, 0);
            usleep(1000);
        }
        f->refused = mono_ns();
        f->release = mono_ns();
        hangfs_dyn_set(m->fs, HANGFS_GETATTR, -1);
        hangfs_dyn_release(m->fs, HANGFS_GETATTR);
        while (!__atomic_load_n(&hung.done, __ATOMIC_ACQUIRE))
            usleep(200);
        f->returned = mono_ns();
        CHECK(hung.result == 0, "flip %d: the hung stat returned %d", i, hung.result);
        __atomic_store_n(&m->made, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* One delivered event. */
struct seen {
    uint32_t kind;
    uint64_t fs_id, at_ns, dropped;
    int mount; /* the index of the mount it names, -1 for none */
};
static struct seen seen[MAX_EVENTS];
static int nseen;
static const char *mnts[MOUNTS];

struct pending {
    _Atomic int done;
    int result;
    aopen_mount_event ev;
};

static void on_event(const aopen_completion *c) {
    struct pending *p = c->user_data;
    p->result = c->result;
    p->done = 1;
}

static void ask(aopen_ctx *ctx, struct pending *p) {
    memset(p, 0, sizeof *p);
    int64_t id = aopen_mount_event_submit(ctx, &p->ev, on_event, p);
    CHECK(id > 0, "mount_event_submit: %lld", (long long)id);
}

/* Keeps the delivered event in `p`; whether there was one. */
static int take(struct pending *p) {
    if (!p->done)
        return 0;
    CHECK_EQ(p->result, 0);
    CHECK(nseen < MAX_EVENTS, "too many events");
    struct seen *s = &seen[nseen++];
    s->kind = p->ev.kind, s->fs_id = p->ev.fs_id, s->at_ns = p->ev.at_ns, s->dropped = p->ev.dropped;
    s->mount = -1;
    for (int m = 0; m < MOUNTS; m++)
        if (strcmp(p->ev.mount_point, mnts[m]) == 0)
            s->mount = m;
    return 1;
}

static int flips_made(struct mount_run *runs) {
    int n = 0;
    for (int m = 0; m < MOUNTS; m++)
        n += __atomic_load_n(&runs[m].made, __ATOMIC_ACQUIRE);
    return n;
}

/* Per mount, matches each delivered event to its flip: a slot 2k (blocked, seen between flip
 * k's hang and its refusal) or 2k+1 (recovered, between its release and the hung call's
 * return); slots must rise strictly. Returns the events of that mount. */
static int check_mount(const struct mount_run *m, int idx, uint64_t fs_id) {
    long last = -1;
    int k = 0, n = 0;
    for (int e = 0; e < nseen; e++) {
        const struct seen *s = &seen[e];
        if (s->fs_id != fs_id)
            continue;
        n++;
        CHECK(s->mount == idx, "event %d names mount %d, not %s", e, s->mount, m->fs->mnt);
        int rec = s->kind == AOPEN_MOUNT_RECOVERED;
        CHECK(rec || s->kind == AOPEN_MOUNT_BLOCKED, "event %d: kind %u", e, s->kind);
        while (k < m->flips && (rec ? m->log[k].returned : m->log[k].refused) < s->at_ns)
            k++;
        CHECK(k < m->flips, "event %d (%s at %llu) after the last flip", e, rec ? "recovered" : "blocked",
              (unsigned long long)s->at_ns);
        const struct flip *f = &m->log[k];
        uint64_t from = rec ? f->release : f->hang;
        CHECK(s->at_ns >= from, "event %d (%s) at %llu ns matches no flip: flip %d's window starts at %llu", e,
              rec ? "recovered" : "blocked", (unsigned long long)s->at_ns, k, (unsigned long long)from);
        long slot = 2L * k + rec;
        CHECK(slot > last, "event %d (slot %ld) out of order or repeated after slot %ld", e, slot, last);
        last = slot;
    }
    return n;
}

static int test_flips(void) {
    int flips = getenv("EVENT_FLIPS") ? atoi(getenv("EVENT_FLIPS")) : 1000;
    struct mount_run runs[MOUNTS];
    memset(runs, 0, sizeof runs);
    const char *names[MOUNTS] = {"flip_a", "flip_b"};
    for (int m = 0; m < MOUNTS; m++) {
        runs[m].fs = hangfs_mount(names[m]);
        mnts[m] = runs[m].fs->mnt;
        snprintf(runs[m].hung, sizeof runs[m].hung, "%s", hangfs_path(runs[m].fs, "dyn/f"));
        snprintf(runs[m].probe, sizeof runs[m].probe, "%s", hangfs_path(runs[m].fs, "plain/f"));
        runs[m].flips = flips;
        runs[m].log = calloc((size_t)flips, sizeof *runs[m].log);
        CHECK(runs[m].log != NULL, "calloc");
    }
    aopen_options o;
    memset(&o, 0, sizeof o);
    o.blocked_ms = BLOCKED_MS;
    o.flags = AOPEN_OPT_FAIL_FAST;
    aopen_ctx *ctx;
    CHECK_EQ(aopen_ctx_new(&o, &ctx), 0);
    struct pending p;
    ask(ctx, &p);
    double t0 = now_ms();
    pthread_t th[MOUNTS];
    for (int m = 0; m < MOUNTS; m++) {
        runs[m].ctx = ctx;
        CHECK(pthread_create(&th[m], NULL, driver, &runs[m]) == 0, "pthread_create");
    }
    /* The loop: completions at once, the next mount-event request 5 ms after an event, and
     * twice (a quarter and three fifths of the way) none until 150 more flips (300 changes,
     * past the queue's 256) were made. */
    int total = MOUNTS * flips, stall_at[2] = {total / 4, total * 3 / 5}, stalls = 0, stalled_until = -1;
    int asked = 1;
    double next_ask = 0;
    while (flips_made(runs) < total) {
        aopen_wait(ctx, 2);
        aopen_dispatch(ctx, 0);
        if (asked && take(&p))
            asked = 0, next_ask = now_ms() + 5;
        int made = flips_made(runs);
        if (stalls < 2 && made >= stall_at[stalls] && stalled_until < 0)
            stalled_until = made + 150;
        if (stalled_until >= 0 && made >= stalled_until)
            stalled_until = -1, stalls++;
        if (!asked && stalled_until < 0 && now_ms() >= next_ask)
            ask(ctx, &p), asked = 1;
    }
    for (int m = 0; m < MOUNTS; m++)
        pthread_join(th[m], NULL);
    /* Drain: every change left, then 500 ms of nothing. */
    double quiet_until = now_ms() + 500;
    while (now_ms() < quiet_until) {
        if (!asked)
            ask(ctx, &p), asked = 1;
        aopen_wait(ctx, 10);
        aopen_dispatch(ctx, 0);
        if (take(&p))
            asked = 0, quiet_until = now_ms() + 500;
    }
    double wall = now_ms() - t0;
    uint64_t dropped = 0;
    for (int e = 0; e < nseen; e++)
        dropped += seen[e].dropped;
    uint64_t ids[MOUNTS] = {0, 0};
    for (int e = 0; e < nseen; e++)
        for (int m = 0; m < MOUNTS; m++)
            if (ids[m] == 0 && seen[e].mount == m)
                ids[m] = seen[e].fs_id;
    int per[MOUNTS], delivered = 0;
    for (int m = 0; m < MOUNTS; m++) {
        CHECK(ids[m] != 0, "no event of %s", runs[m].fs->mnt);
        per[m] = check_mount(&runs[m], m, ids[m]);
        delivered += per[m];
    }
    printf("%d flips on each of 2 mounts (blocked_ms %d) in %.1f s: events delivered %d (%d and %d), dropped %llu, "
           "of %d changes; probes %ld and %ld\n",
           flips, BLOCKED_MS, wall / 1000, delivered, per[0], per[1], (unsigned long long)dropped, 2 * total,
           runs[0].probes, runs[1].probes);
    CHECK(delivered == nseen, "%d events of neither mount", nseen - delivered);
    CHECK_EQ(delivered + (long long)dropped, 2 * total);
    CHECK_EQ(stats_of(ctx).mount_events_dropped, dropped);
    CHECK(dropped > 0, "the queue never overflowed");
    aopen_ctx_free(ctx);
    for (int m = 0; m < MOUNTS; m++) {
        CHECK_EQ(hangfs_wait_balanced(runs[m].fs, 10000), 0);
        free(runs[m].log);
    }
    return 0;
}

int main(void) {
    /* Each flip hangs a stat in the daemon, and valgrind keeps its big lock across a statx it
     * does not expect to block, so every thread froze behind it (the run timed out). */
    if (under_valgrind())
        SKIP("its stats hang in the daemon, and valgrind holds its lock across them");
    return RUN_CASES(TEST_CASE(test_flips));
}
