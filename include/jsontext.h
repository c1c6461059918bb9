/* JSON as text: validate, walk and re-indent JSON without converting its
 * numbers or strings, so that 29.99, a 40-digit integer, 1e400 and "\u0000"
 * stay byte for byte what the API sent (jansson would print 29.989999999999998,
 * refuse the big integer and fail the whole page).
 *
 * Nothing here recurses: depth is bounded by memory only, so a hostile
 * 100,000-deep array cannot overflow the stack.
 */
#ifndef SCRAPEFS_JSONTEXT_H
#define SCRAPEFS_JSONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

struct jt_span {
    const char *p;
    size_t len;
};

enum jt_type { JT_INVALID, JT_OBJECT, JT_ARRAY, JT_STRING, JT_NUMBER, JT_TRUE, JT_FALSE, JT_NULL };

/* Validates the value starting at s[pos] (leading whitespace allowed).
 * Returns the offset just past it, or -1 when it is not valid JSON.
 * If depth is not NULL it receives the deepest nesting seen. */
ssize_t jt_skip_value(const char *s, size_t len, size_t pos, size_t *depth);

/* True when s[0..len) is exactly one JSON value, with optional whitespace. */
bool jt_validate(const char *s, size_t len);

/* The type of a valid value (by its first byte). */
enum jt_type jt_type_of(struct jt_span v);

/* Walks the members of a valid object or the elements of a valid array.
 * Begin returns false when v is not of that type. */
struct jt_iter {
    const char *s;
    size_t len, pos;
};
bool jt_object_begin(struct jt_iter *it, struct jt_span v);
/* Next member: key is the raw string token (with quotes), val the raw value.
 * Returns false at the end. */
bool jt_object_next(struct jt_iter *it, struct jt_span *key, struct jt_span *val);
bool jt_array_begin(struct jt_iter *it, struct jt_span v);
bool jt_array_next(struct jt_iter *it, struct jt_span *val);

/* Finds a member by (unescaped) key in a valid object: the first one wins. */
bool jt_object_get(struct jt_span obj, const char *key, struct jt_span *val);

/* Decodes a valid string token (with quotes) into a new NUL-terminated
 * buffer the caller frees; *outlen excludes the terminator (the text may hold
 * NUL bytes). Lone surrogates become U+FFFD. Returns NULL on OOM. */
char *jt_string_decode(struct jt_span str, size_t *outlen);

/* Compares a raw string token with a plain C string. */
bool jt_string_equals(struct jt_span str, const char *lit);

/* Appends v re-indented: two spaces, "key": value, [] and {} when empty,
 * tokens copied as they are. Containers deeper than JT_PRETTY_MAX_DEPTH are
 * written compactly, and a document whose indentation would grow past 16
 * times its size plus 1 MiB is written compactly whole: a hostile nesting cannot blow up
 * memory quadratically. */
#define JT_PRETTY_MAX_DEPTH 512
void jt_pretty(struct jt_span v, struct buf *out);
/* Appends v with all insignificant whitespace removed. */
void jt_compact(struct jt_span v, struct buf *out);

#endif
