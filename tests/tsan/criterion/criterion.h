/* tests/tsan/criterion/criterion.h: a stand-in for the slice of Criterion's API the unit
 * tests use, for ThreadSanitizer builds only: Criterion's BoxFort arena cannot start under
 * TSan (Snaipe/Criterion#274). It runs tests in one process, in order; it must never be
 * used for ordinary builds, where the real Criterion isolates each test. */
#ifndef CAROM_TSAN_CRITERION_H
#define CAROM_TSAN_CRITERION_H
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct crs_test {
    const char *suite, *name;
    void (*fn)(void);
    void (*init)(void), (*fini)(void);
};
void crs_register(struct crs_test t);
extern jmp_buf crs_jmp;

struct crs_opts {
    void (*init)(void), (*fini)(void);
    double timeout;
    int exit_code, signal;
    bool disabled;
    const char *description;
};

#define Test(s, n, ...)                                                                           \
    static void s##__##n(void);                                                                   \
    __attribute__((constructor)) static void reg_##s##__##n(void)                                 \
    {                                                                                             \
        struct crs_opts o = {0, __VA_ARGS__};                                                     \
        crs_register((struct crs_test){#s, #n, s##__##n, o.init, o.fini});                        \
    }                                                                                             \
    static void s##__##n(void)

#define CRS_FAIL(...)                                                                             \
    do {                                                                                          \
        fprintf(stderr, "%s:%d: assertion failed\n", __FILE__, __LINE__);                         \
        longjmp(crs_jmp, 1);                                                                      \
    } while (0)
#define cr_assert(c, ...) do { if (!(c)) CRS_FAIL(); } while (0)
#define cr_expect(c, ...) cr_assert(c)
#define cr_assert_fail(...) CRS_FAIL()
#define cr_assert_not(c, ...) cr_assert(!(c))
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b))
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b))
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b))
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b))
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b))
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b))
#define cr_assert_null(p, ...) cr_assert((p) == NULL)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0)
#define cr_assert_str_neq(a, b, ...) cr_assert(strcmp((a), (b)) != 0)
#define cr_assert_str_empty(a, ...) cr_assert((a)[0] == 0)
#define cr_assert_str_not_empty(a, ...) cr_assert((a)[0] != 0)
#define cr_assert_float_eq(a, b, eps, ...) cr_assert(((a) - (b)) <= (eps) && ((b) - (a)) <= (eps))
#define cr_expect_eq cr_assert_eq
#define cr_expect_neq cr_assert_neq
#define cr_expect_str_eq cr_assert_str_eq
#define cr_log_info(...) ((void)0)
#define cr_log_warn(...) ((void)0)
#endif
