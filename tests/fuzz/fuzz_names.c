/* libFuzzer target: the job_id <-> file name codec.
 *
 *   - any bytes as an id: names_encode either refuses it (empty: -EINVAL,
 *     too long: -ENAMETOOLONG) or gives a name without '/', control bytes or
 *     a leading '.', which names_decode turns back into exactly the id;
 *   - any bytes up to the first NUL as a name: names_decode either refuses
 *     it or gives an id that encodes back to exactly that name.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

#define REQUIRE(cond)                                                             \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "fuzz_names: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                              \
        }                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *id = (const char *)data;
    char name[NAME_MAX_BYTES + 1], back[NAME_MAX_BYTES + 1];

    int n = names_encode(id, size, name);
    if (size == 0) {
        REQUIRE(n == -EINVAL);
    } else if (n < 0) {
        REQUIRE(n == -ENAMETOOLONG);
        REQUIRE(size > NAME_MAX_BYTES / 3);
    } else {
        REQUIRE(n <= NAME_MAX_BYTES && (size_t)n >= size && strlen(name) == (size_t)n);
        for (int i = 0; i < n; i++) {
            unsigned char c = (unsigned char)name[i];
            REQUIRE(c != '/' && c >= 0x20 && c != 0x7f);
        }
        REQUIRE(name[0] != '.' && !names_is_probe(name));
        int m = names_decode(name, back);
        REQUIRE(m >= 0 && (size_t)m == size && memcmp(back, id, size) == 0);
    }

    /* the same bytes as a name the kernel could pass */
    char *text = malloc(size + 1);
    char *out = malloc(size + 1);
    REQUIRE(text && out);
    memcpy(text, data, size);
    text[size] = '\0';
    int m = names_decode(text, out);
    if (m < 0) {
        REQUIRE(m == -ENOENT);
    } else {
        REQUIRE(m > 0 && (size_t)m <= strlen(text));
        n = names_encode(out, (size_t)m, name);
        REQUIRE(n >= 0 && strcmp(name, text) == 0);
    }
    free(text);
    free(out);
    return 0;
}
