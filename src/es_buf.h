/* SPDX-License-Identifier: MIT */
/*
 * es_buf.h: a growable byte buffer and the JSON text primitives the
 * Elasticsearch writer builds its documents and bulk bodies with.
 *
 * Pure C11, no collectd headers. A buffer that failed to grow is "broken":
 * every later append is a no-op and es_buf_ok() returns 0, so callers check
 * once at the end instead of after every append.
 */
#ifndef ES_BUF_H
#define ES_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  char *data; /* NUL-terminated when len > 0 or after any append */
  size_t len;
  size_t cap;
  bool failed;
} es_buf_t;

#define ES_BUF_INIT                                                            \
  { NULL, 0, 0, false }

/* Appends n bytes of p. Returns 0, or -1 (and breaks the buffer) when out
 * of memory. */
int es_buf_add(es_buf_t *b, const void *p, size_t n);

/* Appends the NUL-terminated string s. Returns 0 or -1 as es_buf_add. */
int es_buf_adds(es_buf_t *b, const char *s);

/* Appends s as a JSON string literal with its quotes: `"`, `\` and control
 * bytes are escaped, valid UTF-8 passes through, every byte of an invalid
 * UTF-8 sequence becomes U+FFFD. s NULL is written as "". Returns 0 or -1. */
int es_buf_json_str(es_buf_t *b, const char *s);

/* Appends d as a JSON number with the fewest digits that read back as the
 * same double (at most 17), or null for NaN and infinities. Returns 0/-1. */
int es_buf_json_double(es_buf_t *b, double d);

/* Appends the signed or unsigned integer v in decimal. Returns 0 or -1. */
int es_buf_json_int(es_buf_t *b, int64_t v);
int es_buf_json_uint(es_buf_t *b, uint64_t v);

/* Returns 1 when no append has failed, else 0. */
int es_buf_ok(const es_buf_t *b);

/* Forgets the contents but keeps the memory (and clears a failure). */
void es_buf_reset(es_buf_t *b);

/* Returns the contents as a malloc'd string the caller frees (the buffer is
 * left empty), or NULL when the buffer is broken (it is then freed). */
char *es_buf_steal(es_buf_t *b, size_t *len);

/* Frees the memory; the buffer is empty and usable again. */
void es_buf_free(es_buf_t *b);

#endif
