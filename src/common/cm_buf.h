/* SPDX-License-Identifier: MIT */
/*
 * cm_buf.h: a growable byte buffer and the JSON text primitives the
 * Elasticsearch writer builds its documents and bulk bodies with.
 *
 * Pure C11, no collectd headers. A buffer that failed to grow is "broken":
 * every later append is a no-op and cm_buf_ok() returns 0, so callers check
 * once at the end instead of after every append.
 */
#ifndef CM_BUF_H
#define CM_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  char *data; /* NUL-terminated when len > 0 or after any append */
  size_t len;
  size_t cap;
  bool failed;
} cm_buf_t;

#define CM_BUF_INIT                                                            \
  { NULL, 0, 0, false }

/* Appends n bytes of p. Returns 0, or -1 (and breaks the buffer) when out
 * of memory. */
int cm_buf_add(cm_buf_t *b, const void *p, size_t n);

/* Appends the NUL-terminated string s. Returns 0 or -1 as cm_buf_add. */
int cm_buf_adds(cm_buf_t *b, const char *s);

/* Appends s as a JSON string literal with its quotes: `"`, `\` and control
 * bytes are escaped, valid UTF-8 passes through, every byte of an invalid
 * UTF-8 sequence becomes U+FFFD. s NULL is written as "". Returns 0 or -1. */
int cm_buf_json_str(cm_buf_t *b, const char *s);

/* Appends s as a JSON string literal escaped as Python's json.dumps does
 * (ensure_ascii): `"` and `\` escaped, \b \t \n \f \r by letter, other
 * bytes below 0x20, DEL and every non-ASCII character as \uXXXX in lowercase
 * hex (a surrogate pair above U+FFFF), every byte of an invalid UTF-8
 * sequence as \ufffd. The output is pure ASCII. s NULL is written as "".
 * Returns 0 or -1. */
int cm_buf_json_str_ascii(cm_buf_t *b, const char *s);

/* Appends d as a JSON number with the fewest digits that read back as the
 * same double (at most 17), or null for NaN and infinities. Returns 0/-1. */
int cm_buf_json_double(cm_buf_t *b, double d);

/* Appends the signed or unsigned integer v in decimal. Returns 0 or -1. */
int cm_buf_json_int(cm_buf_t *b, int64_t v);
int cm_buf_json_uint(cm_buf_t *b, uint64_t v);

/* Returns 1 when no append has failed, else 0. */
int cm_buf_ok(const cm_buf_t *b);

/* Forgets the contents but keeps the memory (and clears a failure). */
void cm_buf_reset(cm_buf_t *b);

/* Returns the contents as a malloc'd string the caller frees (the buffer is
 * left empty), or NULL when the buffer is broken (it is then freed). */
char *cm_buf_steal(cm_buf_t *b, size_t *len);

/* Frees the memory; the buffer is empty and usable again. */
void cm_buf_free(cm_buf_t *b);

#endif
