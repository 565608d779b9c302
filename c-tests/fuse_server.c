/* Network mounts are grouped by server (real FUSE mounts, hangfs shown as sshfs): two
 * exports of one dead server hold one share between them, not one each, and
 * aopen_stats_mounts lists them as one entry; an export of another server has its own. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

enum { SHARE = 8, HUNG = 20 };

static char tag;

static void on_mount(const aopen_mount_stats *m, void *user) {
    int *n = user;
    if (strncmp(m->fstype, "fuse", 4) == 0)
        (*n)++;
}

static void hang(aopen_ctx *ctx, struct hangfs *fs, int n) {
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "open/f%d", i);
        CHECK(aopen_submit(ctx, hangfs_path(fs, name), O_RDONLY, 0, NULL, &tag) > 0, "submit");
    }
}

int main(void) {
    struct hangfs *a = hangfs_mount_as("a", "srv1:/export/a");
    struct hangfs *b = hangfs_mount_as("b", "SRV1:/export/b");
    struct hangfs *c = hangfs_mount_as("c", "srv2:/export/c");
    int base_fds = count_fds();
    aopen_ctx *ctx = new_ctx_share(0, 64, 0, 0, SHARE);
    hang(ctx, a, HUNG);
    hang(ctx, b, HUNG);
    hang(ctx, c, HUNG);
    long on_c = hangfs_wait_waiting(c, HANGFS_OPEN, SHARE, 5000);
    sleep_ms(300); /* time for more to start, were the exports wrongly apart */
    long on_a = hangfs_waiting(a, HANGFS_OPEN), on_b = hangfs_waiting(b, HANGFS_OPEN);
    int listed = 0;
    aopen_stats_mounts(ctx, 0, on_mount, &listed);
    printf("hung opens running: srv1 %ld (+%ld), srv2 %ld; share %d; %d entries listed\n", on_a, on_b, on_c,
           SHARE, listed);
    for (int i = 0; i < 3; i++)
        hangfs_release(i == 0 ? a : i == 1 ? b : c);
    int fds = collect_tagged(ctx, NULL, &tag, 3 * HUNG, 30000);
    long unbalanced = hangfs_wait_balanced(a, 10000) + hangfs_wait_balanced(b, 10000) + hangfs_wait_balanced(c, 10000);
    aopen_ctx_free(ctx);
    wait_fds(base_fds, 5000);
    CHECK_EQ(on_a + on_b, SHARE);
    CHECK_EQ(on_c, SHARE);
    CHECK_EQ(listed, 2);
    CHECK_EQ(fds, 3 * HUNG);
    CHECK_EQ(unbalanced, 0);
    CHECK_EQ(count_fds(), base_fds);
    return 0;
}
