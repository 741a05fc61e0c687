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

/* One test; kept apart so that no local of the loop lives across the longjmp. */
static int run_one(int i)
{
    if (setjmp(crs_jmp) != 0) {
        printf("[FAIL] %s::%s\n", tests[i].suite, tests[i].name);
        return 1;
    }
    if (tests[i].init)
        tests[i].init();
    tests[i].fn();
    if (tests[i].fini)
        tests[i].fini();
    return 0;
}

int main(void)
{
    int failed = 0;
    for (int i = 0; i < ntests; i++)
        failed += run_one(i);
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0\n", ntests,
           ntests - failed, failed);
    return failed != 0;
}
