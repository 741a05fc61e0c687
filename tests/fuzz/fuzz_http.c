/* fuzz_http.c: libFuzzer target for the HTTP header lines the libcurl layer parses itself
 * (status line, Accept-Ranges, Content-Range). Any bytes, never NUL-terminated (as libcurl
 * hands them over), must give an answer in range and never a read past the end. It must
 * never write files or print. */
#include "../../shim/http.c"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so AddressSanitizer catches a read one past the end. */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    long st = carom__http_status(buf, size);
    if (st != 0 && (st < 100 || st > 999))
        abort();
    (void)carom__http_accept_ranges(buf, size);
    int64_t cr = carom__http_content_range_start(buf, size);
    if (cr < -1)
        abort();
    free(buf);
    return 0;
}
