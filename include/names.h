/* job_id <-> file name: the reversible encoding (README, "The tree").
 *
 * Bytes '/', '%', control bytes (0x00-0x1f, 0x7f) and a leading '.' are
 * written as %XX (upper-case hex); so is the first byte of an id equal to a
 * reserved name of jobs/ (by-status, by-domain, by-date). Everything else,
 * UTF-8 included, is kept. Decoding accepts only the canonical form, so every
 * id has exactly one name and no two names reach the same job.
 */
#ifndef SCRAPEFS_NAMES_H
#define SCRAPEFS_NAMES_H

#include <stddef.h>

#define NAME_MAX_BYTES 255

/* Encodes id[0..len) into out (at least NAME_MAX_BYTES + 1 bytes), NUL-terminated.
 * Returns the name's length, -EINVAL for an empty id, -ENAMETOOLONG when the
 * name would exceed 255 bytes. */
int names_encode(const char *id, size_t len, char *out);

/* Decodes a file name into out (at least strlen(name) + 1 bytes; the id may
 * contain NUL bytes, so use the returned length; a NUL follows it). Returns
 * the id's length, or
 * -ENOENT when the name is not the canonical encoding of any id. */
int names_decode(const char *name, char *out);

/* A by-domain or by-date directory's name: encoded like an id, and when
 * that would end in ".jsonl" the dot before "jsonl" is written %2E, so no
 * directory is ever named like the X.jsonl file of another one (encoding the
 * first byte instead would still let "a.jsonl.jsonl" meet the file of
 * "a.jsonl"). Returns the length or a negative errno, as names_encode. */
int names_encode_group(const char *s, size_t len, char *out);

/* True for names that can never be job ids (they start with '.'): shells and
 * editors probe such names and they must cost no request. */
int names_is_probe(const char *name);

#endif
