/* tests/tsan/main.c: runs the tests registered through the stand-in criterion.h, in one
 * process, and prints a Criterion-style synthesis line for tests/run.sh. Only for
 * ThreadSanitizer builds; it must never hide a failure (any failed assertion counts). */
#include <criterion/criterion.h>

jmp_buf crs_jmp;
static struct crs_test tests[1024];
static int ntests;

void crs_register(struct crs_test t)
{
    if (ntests < 1024)
        tests[ntests++] = t;
}

int main(void)
{
    int failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (setjmp(crs_jmp) == 0) {
            if (tests[i].init)
                tests[i].init();
            tests[i].fn();
            if (tests[i].fini)
                tests[i].fini();
        } else {
            printf("[FAIL] %s::%s\n", tests[i].suite, tests[i].name);
            failed++;
        }
    }
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0\n", ntests,
           ntests - failed, failed);
    return failed != 0;
}
