/* Running a test's cases, each on its own, and reporting which failed (see helpers.h). */
#define _GNU_SOURCE
#include "../helpers.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

/* Where SKIP returns to while a case runs, and on which thread of which process: anywhere
 * else (a thread the case started, a forked child, main outside the cases) it exits 77 as
 * it always did. A failed CHECK never jumps: it may fail inside a callback the library is
 * running (from aopen_dispatch), and a longjmp over the library's Rust frames is undefined
 * behaviour; a failed case may also have left hung work behind it. So the first failure
 * ends the test, naming its case. */
static jmp_buf case_exit;
static int in_case;
static pthread_t case_thread;
static pid_t case_pid;
static const char *case_name;

static int on_case_thread(void) {
    return in_case && getpid() == case_pid && pthread_equal(pthread_self(), case_thread);
}

void test_failed(void) {
    if (case_name != NULL && getpid() == case_pid)
        printf("FAIL %s\n", case_name);
    fflush(stdout);
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
    /* volatile: kept across the longjmp out of a skipped case */
    volatile int skipped = 0, ran = 0;
    const char *only = getenv("TEST_CASE"); /* run just this case (for debugging one) */
    for (volatile int i = 0; i < n; i++) {
        if (only != NULL && strcmp(only, cases[i].name) != 0)
            continue;
        ran++;
        case_name = cases[i].name;
        printf("---- %s\n", case_name);
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
            printf("skip %s\n", case_name);
        } else if (rc != 0) {
            test_failed();
        } else {
            printf("ok   %s\n", case_name);
        }
        case_name = NULL;
        fflush(stdout);
    }
    CHECK(ran > 0, "TEST_CASE=%s names no case", only);
    if (skipped == ran) {
        printf("skip: %s\n", skip_reason);
        return 77;
    }
    return 0;
}
