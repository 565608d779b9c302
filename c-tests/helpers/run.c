/* Running a test's cases, each on its own, and reporting which failed (see helpers.h). */
#define _GNU_SOURCE
#include "../helpers.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

/* Where CHECK and SKIP return to while a case runs, and on which thread of which process:
 * anywhere else (a thread the case started, a forked child, main outside the cases) they
 * exit as they always did. */
static jmp_buf case_exit;
static int in_case;
static pthread_t case_thread;
static pid_t case_pid;

static int on_case_thread(void) {
    return in_case && getpid() == case_pid && pthread_equal(pthread_self(), case_thread);
}

void test_failed(void) {
    fflush(stdout);
    if (on_case_thread())
        longjmp(case_exit, 1);
    exit(1);
}

/* The last reason a case gave for skipping, repeated last when every case skipped (run.sh
 * shows a skipped test's last line). */
static char skip_reason[512];

void test_skipped(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(skip_reason, sizeof skip_reason, fmt, ap);
    va_end(ap);
    printf("skip: %s\n", skip_reason);
    fflush(stdout);
    if (on_case_thread())
        longjmp(case_exit, 77);
    exit(77);
}

int run_cases(const struct test_case *cases, int n) {
    /* volatile: kept across the longjmp out of a failed case */
    volatile int failed = 0, skipped = 0;
    char failed_names[1024] = "";
    for (volatile int i = 0; i < n; i++) {
        const char *name = cases[i].name;
        printf("---- %s\n", name);
        fflush(stdout);
        case_thread = pthread_self();
        case_pid = getpid();
        int rc = setjmp(case_exit);
        if (rc == 0) {
            in_case = 1;
            rc = cases[i].fn();
        }
        in_case = 0;
        env_restore();
        if (rc == 77) {
            skipped++;
            printf("skip %s\n", name);
        } else if (rc != 0) {
            failed++;
            printf("FAIL %s\n", name);
            size_t len = strlen(failed_names);
            snprintf(failed_names + len, sizeof failed_names - len, " %s", name);
        } else {
            printf("ok   %s\n", name);
        }
        fflush(stdout);
    }
    if (failed > 0) {
        printf("%d of %d cases failed:%s\n", failed, n, failed_names);
        return 1;
    }
    if (skipped == n) {
        printf("skip: %s\n", skip_reason);
        return 77;
    }
    return 0;
}
