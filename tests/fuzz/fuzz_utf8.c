/* libFuzzer target: jt_validate's verdict against jansson's on the same bytes.
 *
 * scrapefs checks JSON text itself (it keeps numbers as sent, which jansson
 * cannot), so its validator must say what a real parser says: the same
 * "valid" or "invalid" for every input, UTF-8 included. The only
 * differences allowed are jansson's own limits on values that are valid
 * JSON: integers beyond 64 bits and reals beyond a double ("too big",
 * "overflow"), nesting past its 2048 levels, and \u escapes of lone
 * surrogates, which jansson refuses; and one jansson quirk the other way: a
 * raw NUL byte right after a number ends its input ("0\0" is valid to it).
 * Anything else aborts.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"

static int jansson_limit(const char *text)
{
    static const char *const limits[] = {"too big", "overflow", "maximum parsing depth",
                                         "nvalid Unicode"};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (strstr(text, limits[i]))
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    int ours = jt_validate((const char *)data, size);
    json_decref(j);
    if (ours == (j != NULL))
        return 0;
    if (ours && jansson_limit(err.text))
        return 0;
    if (!ours && memchr(data, '\0', size))
        return 0;
    fprintf(stderr, "fuzz_utf8: jt_validate says %s, jansson says %s (%s at %d)\n",
            ours ? "valid" : "invalid", j ? "valid" : "invalid", j ? "" : err.text,
            j ? 0 : err.position);
    abort();
}
