/* test_core_shm.c: Criterion tests of the shared table's file name (carom_shm_name) and of
 * the errnos that feed the cushion (carom_cushion_io_errno). The name is what the shim and
 * every tool must agree on, so it is checked against the spelling docs/scoreboard.md gives. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../core/carom_core.h"

Test(core_shm, name_is_uid_and_sixteen_hex_digits)
{
    char buf[CAROM_SHM_NAME_MAX];
    cr_assert(carom_shm_name(buf, sizeof buf, 1000, UINT64_C(0x00ab0000000000ff)));
    cr_assert_str_eq(buf, "/dev/shm/carom-1000-00ab0000000000ff");
    cr_assert(carom_shm_name(buf, sizeof buf, 0, 0));
    cr_assert_str_eq(buf, "/dev/shm/carom-0-0000000000000000");
}

Test(core_shm, name_matches_printf_for_every_uid_width)
{
    const unsigned uids[] = {0, 7, 10, 99, 65534, 4294967295u};
    const uint64_t hashes[] = {0, 1, UINT64_C(0xffffffffffffffff), UINT64_C(0x0123456789abcdef)};
    for (size_t i = 0; i < sizeof uids / sizeof uids[0]; i++)
        for (size_t j = 0; j < sizeof hashes / sizeof hashes[0]; j++) {
            char want[64], got[CAROM_SHM_NAME_MAX];
            snprintf(want, sizeof want, "/dev/shm/carom-%u-%016llx", uids[i],
                     (unsigned long long)hashes[j]);
            cr_assert(carom_shm_name(got, sizeof got, uids[i], hashes[j]));
            cr_assert_str_eq(got, want);
        }
}

Test(core_shm, name_that_does_not_fit_is_refused_and_emptied)
{
    char want[64];
    snprintf(want, sizeof want, "/dev/shm/carom-%u-%016llx", 4294967295u, 0ull);
    char buf[64];
    size_t need = strlen(want) + 1;
    cr_assert(need <= CAROM_SHM_NAME_MAX);
    memset(buf, 'x', sizeof buf);
    cr_assert_not(carom_shm_name(buf, need - 1, 4294967295u, 0));
    cr_assert_eq(buf[0], 0);
    cr_assert(carom_shm_name(buf, need, 4294967295u, 0));
    cr_assert_str_eq(buf, want);
    cr_assert_not(carom_shm_name(NULL, 0, 1, 1));
}

Test(core_shm, endpoint_errnos_feed_the_cushion_others_do_not)
{
    const int feed[] = {ECONNRESET, EPIPE, ETIMEDOUT, ECONNABORTED, ENETRESET, EHOSTUNREACH,
                        ENETUNREACH};
    const int own[] = {0, EAGAIN, EWOULDBLOCK, EINTR, EBADF, EINVAL, EFAULT, ENOTCONN, EINPROGRESS,
                       ENOMEM, EMSGSIZE};
    for (size_t i = 0; i < sizeof feed / sizeof feed[0]; i++)
        cr_assert(carom_cushion_io_errno(feed[i]), "errno %d feeds the cushion", feed[i]);
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        cr_assert_not(carom_cushion_io_errno(own[i]), "errno %d is the program's", own[i]);
}
