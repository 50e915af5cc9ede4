/* SPDX-License-Identifier: MIT */
/*
 * cm_json.c: a strict RFC 8259 reader that hands over the top-level
 * members of a JSON object.
 *
 * A recursive descent over the bytes, one function per production of the
 * RFC's grammar. Recursion is bounded by max_depth; nothing is allocated
 * while scanning.
 */
#include "cm_json.h"

#include "cm_utf8.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The cursor of one scan. */
typedef struct {
  const unsigned char *b;
  size_t len;
  size_t i;
  unsigned max_depth;
} cm_json_in_t;

/* Advances past JSON whitespace (RFC 8259 section 2). */
static void cm_json_space(cm_json_in_t *in) {
  while (in->i < in->len) {
    unsigned char c = in->b[in->i];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      return;
    in->i++;
  }
}

/* Returns the value of the 4 hex digits at s, or -1 when one is not. */
static long cm_json_hex4(const unsigned char *s) {
  long v = 0;
  for (int k = 0; k < 4; k++) {
    unsigned c = s[k];
    if (c >= '0' && c <= '9')
      c -= '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
      c = (c | 0x20) - 'a' + 10;
    else
      return -1;
    v = v * 16 + (long)c;
  }
  return v;
}

/* Reads a \uXXXX escape at in->i (just after the backslash and 'u' have
 * been seen: in->i points at the first hex digit). Returns the code unit
 * and advances, or -1. */
static long cm_json_u_escape(cm_json_in_t *in) {
  if (in->len - in->i < 4)
    return -1;
  long u = cm_json_hex4(in->b + in->i);
  if (u >= 0)
    in->i += 4;
  return u;
}

/* Scans a string; in->i is at the opening quote. Returns 0 with in->i
 * after the closing quote and *escaped set when it held an escape, or -1
 * (section 7: no raw control character, valid escapes, and here also
 * strict UTF-8 and paired surrogate escapes). */
static int cm_json_string(cm_json_in_t *in, int *escaped) {
  in->i++;
  while (in->i < in->len) {
    unsigned c = in->b[in->i];
    if (c == '"') {
      in->i++;
      return 0;
    }
    if (c < 0x20)
      return -1;
    if (c >= 0x80) {
      size_t k = cm_utf8_decode(in->b + in->i, in->len - in->i, NULL);
      if (k == 0)
        return -1;
      in->i += k;
      continue;
    }
    in->i++;
    if (c != '\\')
      continue;
    *escaped = 1;
    if (in->i >= in->len)
      return -1;
    c = in->b[in->i++];
    if (strchr("\"\\/bfnrt", (int)c) != NULL && c != '\0')
      continue;
    if (c != 'u')
      return -1;
    long u = cm_json_u_escape(in);
    if (u < 0 || (u >= 0xdc00 && u <= 0xdfff))
      return -1;
    if (u >= 0xd800 && u <= 0xdbff) {
      if (in->len - in->i < 2 || in->b[in->i] != '\\' ||
          in->b[in->i + 1] != 'u')
        return -1;
      in->i += 2;
      long lo = cm_json_u_escape(in);
      if (lo < 0xdc00 || lo > 0xdfff)
        return -1;
    }
  }
  return -1;
}

/* Returns how many digits start the n bytes at s. */
static size_t cm_json_digits(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  return i;
}

size_t cm_json_number_len(const char *s, size_t n) {
  size_t i = 0, k;
  if (i < n && s[i] == '-')
    i++;
  if (i < n && s[i] == '0')
    i++;
  else if ((k = cm_json_digits(s + i, n - i)) > 0)
    i += k;
  else
    return 0;
  if (i < n && s[i] == '.') {
    if ((k = cm_json_digits(s + i + 1, n - i - 1)) == 0)
      return 0;
    i += 1 + k;
  }
  if (i < n && (s[i] | 0x20) == 'e') {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    if ((k = cm_json_digits(s + i, n - i)) == 0)
      return 0;
    i += k;
  }
  return i;
}

/* Scans a number (section 6). Returns 0 or -1. */
static int cm_json_number_text(cm_json_in_t *in) {
  size_t k = cm_json_number_len((const char *)in->b + in->i, in->len - in->i);
  in->i += k;
  return k > 0 ? 0 : -1;
}

/* Scans the literal word lit (true, false, null). Returns 0 or -1. */
static int cm_json_literal(cm_json_in_t *in, const char *lit) {
  size_t n = strlen(lit);
  if (in->len - in->i < n || memcmp(in->b + in->i, lit, n) != 0)
    return -1;
  in->i += n;
  return 0;
}

static int cm_json_value(cm_json_in_t *in, unsigned depth, cm_json_kind_t *kind,
                         int *escaped, cm_json_member_cb cb, void *ctx);

/* Scans an object (section 4) or an array (section 5) whose opening
 * bracket is at in->i, at nesting depth depth. Members of the object are
 * passed to cb when cb is not NULL. Returns CM_JSON_OK, CM_JSON_INVALID or
 * CM_JSON_STOPPED. */
static int cm_json_container(cm_json_in_t *in, unsigned depth, int object,
                             cm_json_member_cb cb, void *ctx) {
  if (depth > in->max_depth)
    return CM_JSON_INVALID;
  unsigned char close = object ? '}' : ']';
  in->i++;
  cm_json_space(in);
  if (in->i < in->len && in->b[in->i] == close) {
    in->i++;
    return CM_JSON_OK;
  }
  for (;;) {
    cm_json_member_t m = {0};
    if (object) {
      if (in->i >= in->len || in->b[in->i] != '"')
        return CM_JSON_INVALID;
      size_t k = in->i + 1;
      if (cm_json_string(in, &m.escaped) != 0)
        return CM_JSON_INVALID;
      m.key = (const char *)in->b + k;
      m.key_len = in->i - 1 - k;
      cm_json_space(in);
      if (in->i >= in->len || in->b[in->i] != ':')
        return CM_JSON_INVALID;
      in->i++;
      cm_json_space(in);
    }
    size_t v = in->i;
    int r = cm_json_value(in, depth + 1, &m.kind, &m.escaped, NULL, NULL);
    if (r != CM_JSON_OK)
      return r;
    if (cb != NULL) {
      int s = m.kind == CM_JSON_STRING;
      m.value = (const char *)in->b + v + s;
      m.value_len = in->i - v - 2 * (size_t)s;
      if (cb(ctx, &m) != 0)
        return CM_JSON_STOPPED;
    }
    cm_json_space(in);
    if (in->i >= in->len)
      return CM_JSON_INVALID;
    unsigned char c = in->b[in->i++];
    if (c == close)
      return CM_JSON_OK;
    if (c != ',')
      return CM_JSON_INVALID;
    cm_json_space(in);
  }
}

/* Scans one value at in->i, at nesting depth depth (for a container),
 * and sets *kind. Returns CM_JSON_OK, CM_JSON_INVALID or CM_JSON_STOPPED. */
static int cm_json_value(cm_json_in_t *in, unsigned depth, cm_json_kind_t *kind,
                         int *escaped, cm_json_member_cb cb, void *ctx) {
  if (in->i >= in->len)
    return CM_JSON_INVALID;
  switch (in->b[in->i]) {
  case '{':
    *kind = CM_JSON_OBJECT;
    return cm_json_container(in, depth, 1, cb, ctx);
  case '[':
    *kind = CM_JSON_ARRAY;
    return cm_json_container(in, depth, 0, NULL, NULL);
  case '"':
    *kind = CM_JSON_STRING;
    return cm_json_string(in, escaped) == 0 ? CM_JSON_OK : CM_JSON_INVALID;
  case 't':
    *kind = CM_JSON_TRUE;
    return cm_json_literal(in, "true") == 0 ? CM_JSON_OK : CM_JSON_INVALID;
  case 'f':
    *kind = CM_JSON_FALSE;
    return cm_json_literal(in, "false") == 0 ? CM_JSON_OK : CM_JSON_INVALID;
  case 'n':
    *kind = CM_JSON_NULL;
    return cm_json_literal(in, "null") == 0 ? CM_JSON_OK : CM_JSON_INVALID;
  default:
    *kind = CM_JSON_NUMBER;
    return cm_json_number_text(in) == 0 ? CM_JSON_OK : CM_JSON_INVALID;
  }
}

int cm_json_object_scan(const char *buf, size_t len, unsigned max_depth,
                        cm_json_member_cb cb, void *ctx) {
  cm_json_in_t in = {(const unsigned char *)buf, len, 0, max_depth};
  cm_json_kind_t kind = CM_JSON_NULL;
  int escaped = 0;
  cm_json_space(&in);
  int r = cm_json_value(&in, 1, &kind, &escaped, cb, ctx);
  if (r != CM_JSON_OK)
    return r;
  cm_json_space(&in);
  if (in.i != in.len)
    return CM_JSON_INVALID;
  return kind == CM_JSON_OBJECT ? CM_JSON_OK : CM_JSON_NOT_OBJECT;
}

/* Writes code point cp as UTF-8 at out; returns the bytes written. */
static size_t cm_json_put_utf8(uint32_t cp, char *out) {
  unsigned char *o = (unsigned char *)out;
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xc0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xe0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (unsigned char)(0xf0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (unsigned char)(0x80 | (cp & 0x3f));
  return 4;
}

size_t cm_json_unescape(const char *s, size_t len, char *out) {
  const unsigned char *b = (const unsigned char *)s;
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    if (b[i] != '\\') {
      out[o++] = (char)b[i++];
      continue;
    }
    unsigned char c = b[i + 1];
    i += 2;
    switch (c) {
    case 'b':
      out[o++] = '\b';
      break;
    case 'f':
      out[o++] = '\f';
      break;
    case 'n':
      out[o++] = '\n';
      break;
    case 'r':
      out[o++] = '\r';
      break;
    case 't':
      out[o++] = '\t';
      break;
    case 'u': {
      uint32_t cp = (uint32_t)cm_json_hex4(b + i);
      i += 4;
      if (cp >= 0xd800 && cp <= 0xdbff) { /* the scan checked the pair */
        uint32_t lo = (uint32_t)cm_json_hex4(b + i + 2);
        i += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      }
      o += cm_json_put_utf8(cp, out + o);
      break;
    }
    default: /* " \ / */
      out[o++] = (char)c;
    }
  }
  return o;
}

int cm_json_number(const char *s, size_t len, double *out) {
  size_t i = s[0] == '-';
  int neg = (int)i;
  uint64_t u = 0;
  int integer = len > i;
  for (size_t k = i; k < len && integer; k++) {
    unsigned d = (unsigned char)s[k] - '0';
    if (d > 9 || u > (UINT64_MAX - d) / 10)
      integer = 0;
    else
      u = u * 10 + d;
  }
  if (integer && (!neg || u <= (uint64_t)INT64_MAX + 1)) {
    *out = neg ? (u == (uint64_t)INT64_MAX + 1 ? (double)INT64_MIN
                                               : -(double)(int64_t)u)
               : (double)u;
    return 1;
  }
  /* strtod needs a terminated copy: the text is followed by other JSON. */
  char small[128];
  char *copy = len < sizeof(small) ? small : malloc(len + 1);
  if (copy == NULL) {
    *out = NAN;
    return 0;
  }
  memcpy(copy, s, len);
  copy[len] = '\0';
  *out = strtod(copy, NULL);
  if (copy != small)
    free(copy);
  return 0;
}
