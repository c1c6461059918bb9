/* JSON as text: validate, walk and re-indent JSON without converting its
 * numbers or strings, so that 29.99, a 40-digit integer, 1e400 and "\u0000"
 * stay byte for byte what the API sent (jansson would print 29.989999999999998,
 * refuse the big integer and fail the whole page).
 *
 * Nothing here recurses: depth is bounded by memory only, so a hostile
 * 100,000-deep array cannot overflow the stack.
 *
 * UTF-8: raw bytes inside strings are checked as jansson checks them (no
 * overlong forms, no surrogates, nothing above U+10FFFF). A validator says
 * "invalid" for bad UTF-8; the page parser instead accepts it and reports
 * it, so one odd job never fails its page, and the job's text is then
 * written with U+FFFD for each byte that is not UTF-8 (jt_compact_mend).
 */
#ifndef SCRAPEFS_JSONTEXT_H
#define SCRAPEFS_JSONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

struct jt_span {
    const char *p;
    size_t len;
};

enum jt_type { JT_INVALID, JT_OBJECT, JT_ARRAY, JT_STRING, JT_NUMBER, JT_TRUE, JT_FALSE, JT_NULL };

/* How a scan treats bytes of strings that are not UTF-8. */
enum jt_utf8 {
    JT_UTF8_STRICT, /* they make the text invalid (what jansson says) */
    JT_UTF8_REPORT, /* they are accepted and reported in bad_utf8 */
    JT_UTF8_TRUST,  /* not looked at: the text was scanned before */
};

struct jt_scan {
    enum jt_utf8 utf8; /* in */
    bool bad_utf8;     /* out, JT_UTF8_REPORT: some string holds bytes that are not UTF-8 */
    size_t depth;      /* out: the deepest nesting seen */
};

/* Skips the value starting at s[pos] (leading whitespace allowed),
 * validating it. Returns the offset just past it, or -1 when it is not valid
 * JSON. */
ssize_t jt_skip(const char *s, size_t len, size_t pos, struct jt_scan *sc);
/* Skips the string token at s[pos] (which is '"'); as jt_skip. */
ssize_t jt_skip_string(const char *s, size_t len, size_t pos, struct jt_scan *sc);
size_t jt_skip_ws(const char *s, size_t len, size_t pos);

/* jt_skip with strict UTF-8; depth (may be NULL) gets the deepest nesting. */
ssize_t jt_skip_value(const char *s, size_t len, size_t pos, size_t *depth);

/* True when s[0..len) is exactly one JSON value, with optional whitespace,
 * and valid UTF-8: the verdict jansson gives, but for the values jansson
 * refuses for its own limits (numbers out of its range, nesting beyond
 * 2048, \u escapes of lone surrogates), which are valid JSON. */
bool jt_validate(const char *s, size_t len);

/* The length of the UTF-8 sequence at s (s[0] >= 0x80), or 0 when it is not
 * one (jansson's rules). */
size_t jt_utf8_len(const unsigned char *s, size_t avail);

/* The type of a valid value (by its first byte). */
enum jt_type jt_type_of(struct jt_span v);

/* Walks the members of a valid object or the elements of a valid array.
 * Begin returns false when v is not of that type. The text must have been
 * validated: walking does not check UTF-8 again. */
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
/* The length jt_string_decode would give, without allocating. */
size_t jt_string_decoded_len(struct jt_span str);
/* Appends the decoded bytes of a valid string token. */
void jt_string_append(struct jt_span str, struct buf *out);

/* Compares a raw string token with a plain C string. */
bool jt_string_equals(struct jt_span str, const char *lit);

/* Appends v re-indented: two spaces, "key": value, [] and {} when empty,
 * tokens copied as they are. Containers deeper than JT_PRETTY_MAX_DEPTH are
 * written compactly. When the output would grow past `limit` bytes, v is
 * written compactly as a whole instead and false is returned (a hostile
 * nesting cannot blow up memory quadratically). */
#define JT_PRETTY_MAX_DEPTH 512
bool jt_pretty_limit(struct jt_span v, struct buf *out, size_t limit);
/* The limit scrapefs uses for a document of len bytes: 16 times its size
 * plus 1 MiB. */
size_t jt_pretty_budget(size_t len);
/* jt_pretty_limit with the budget of v's own length. */
void jt_pretty(struct jt_span v, struct buf *out);

/* Appends v with all insignificant whitespace removed. */
void jt_compact(struct jt_span v, struct buf *out);
/* The same, writing U+FFFD for every byte inside a string that is not part
 * of a valid UTF-8 sequence. */
void jt_compact_mend(struct jt_span v, struct buf *out);

#endif
