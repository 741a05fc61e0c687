/* shm.c: the shared table's file name (/dev/shm/carom-<uid>-<config hash>), written once
 * for the shim that makes the table and the tools that open it, so both always name the
 * same file. It must never touch the file itself, and never use stdio or allocate: it
 * only formats the name. */
#include "carom_core.h"

bool carom_shm_name(char *buf, size_t len, unsigned uid, uint64_t cfg_hash)
{
    static const char prefix[] = "/dev/shm/carom-";
    static const char hex[] = "0123456789abcdef";
    char digits[10];
    size_t nd = 0;
    do
        digits[nd++] = (char)('0' + uid % 10);
    while ((uid /= 10) != 0);
    size_t need = sizeof prefix - 1 + nd + 1 + 16 + 1;
    if (!buf || len < need) {
        if (buf && len) buf[0] = 0;
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < sizeof prefix - 1; i++)
        buf[n++] = prefix[i];
    while (nd)
        buf[n++] = digits[--nd];
    buf[n++] = '-';
    for (int shift = 60; shift >= 0; shift -= 4)
        buf[n++] = hex[(cfg_hash >> shift) & 0xf];
    buf[n] = 0;
    return true;
}
