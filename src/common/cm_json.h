/* SPDX-License-Identifier: MIT */
/*
 * cm_json.h: a strict RFC 8259 reader for flat JSON objects that allocates
 * nothing.
 *
 * cm_json_object_scan() checks that a buffer holds exactly one JSON text
 * (whitespace around it allowed) and that the text is an object, and hands
 * each top-level member to a callback as raw slices of the buffer. Nested
 * objects and arrays are checked but not split. Everything RFC 8259 does
 * not allow is refused: comments, single quotes, trailing commas, NaN and
 * Infinity, leading zeros, "1." and ".5", raw control characters and
 * invalid UTF-8 in strings, unpaired UTF-16 surrogate escapes, and any byte
 * after the text but whitespace.
 */
#ifndef CM_JSON_H
#define CM_JSON_H

#include <stddef.h>

typedef enum {
  CM_JSON_STRING = 0,
  CM_JSON_NUMBER,
  CM_JSON_TRUE,
  CM_JSON_FALSE,
  CM_JSON_NULL,
  CM_JSON_OBJECT,
  CM_JSON_ARRAY
} cm_json_kind_t;

/* One top-level member. The slices point into the scanned buffer. */
typedef struct {
  const char *key; /* between the quotes, escapes not decoded */
  size_t key_len;
  cm_json_kind_t kind;
  const char *value; /* a string: between the quotes, escapes not decoded;
                        anything else: the whole value text */
  size_t value_len;
  int escaped; /* 1 when key or (string) value holds a backslash escape */
} cm_json_member_t;

/* Called once per top-level member, in document order (duplicate keys
 * included). Returns 0 to go on, anything else to stop the scan. */
typedef int (*cm_json_member_cb)(void *ctx, const cm_json_member_t *m);

enum {
  CM_JSON_OK = 0,
  CM_JSON_INVALID = -1,    /* not one RFC 8259 JSON text */
  CM_JSON_NOT_OBJECT = -2, /* valid JSON, but not an object */
  CM_JSON_STOPPED = -3     /* the callback returned non-zero */
};

/*
 * Scans the len bytes at buf (need not be NUL-terminated). Containers may
 * nest max_depth deep, the top-level object counting as 1; deeper is
 * CM_JSON_INVALID. Returns CM_JSON_OK, CM_JSON_INVALID, CM_JSON_NOT_OBJECT
 * or CM_JSON_STOPPED. On CM_JSON_INVALID the callback may already have
 * seen the members before the fault: callers keep nothing until OK.
 * cb may be NULL: the scan then only validates.
 */
int cm_json_object_scan(const char *buf, size_t len, unsigned max_depth,
                        cm_json_member_cb cb, void *ctx);

/*
 * Decodes the escapes of a string slice that cm_json_object_scan() passed
 * (so known to be valid) into out, which must have room for len bytes
 * (decoding never lengthens). Writes no terminating NUL. Returns the
 * decoded length. \u0000 decodes to a NUL byte.
 */
size_t cm_json_unescape(const char *s, size_t len, char *out);

/*
 * Returns the length of the RFC 8259 number (-? int frac? exp?, no
 * leading zeros) at the start of the n bytes at s, or 0 when they do not
 * start with one or it is cut short (a '.' or an exponent without digits:
 * no JSON text goes on like that). A string holding exactly one number
 * has it equal to n.
 */
size_t cm_json_number_len(const char *s, size_t n);

/*
 * Reads the text of a number that cm_json_object_scan() passed. Returns 1
 * when it is an integer (no fraction, no exponent) that fits int64_t or
 * uint64_t, 0 otherwise; either way *out holds the nearest double (an
 * overflowing exponent gives an infinity; NaN if a number of 128 digits
 * or more finds no memory for its copy).
 */
int cm_json_number(const char *s, size_t len, double *out);

#endif
