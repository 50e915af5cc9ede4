/* SPDX-License-Identifier: MIT */
/*
 * es_buf.c: growable buffer and JSON text primitives (see es_buf.h).
 */
#include "es_buf.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for n more bytes plus a NUL. Returns 0 or -1 (buffer broken). */
static int es_buf_reserve(es_buf_t *b, size_t n) {
  if (b->failed)
    return -1;
  if (n > SIZE_MAX / 2 - b->len) {
    b->failed = true;
    return -1;
  }
  size_t need = b->len + n + 1;
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap *= 2;
  char *d = realloc(b->data, cap);
  if (d == NULL) {
    b->failed = true;
    return -1;
  }
  b->data = d;
  b->cap = cap;
  return 0;
}

int es_buf_add(es_buf_t *b, const void *p, size_t n) {
  if (es_buf_reserve(b, n) != 0)
    return -1;
  if (n > 0)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int es_buf_adds(es_buf_t *b, const char *s) {
  return es_buf_add(b, s, strlen(s));
}

/* Returns the length of the valid UTF-8 sequence at s (1..4), or 0 when the
 * bytes at s do not start one (overlong forms and surrogates are invalid). */
static size_t es_utf8_len(const unsigned char *s) {
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  size_t n;
  unsigned min;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    min = 0x80;
    c &= 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    min = 0x800;
    c &= 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    min = 0x10000;
    c &= 0x07;
  } else {
    return 0;
  }
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
    return 0;
  return n;
}

int es_buf_json_str(es_buf_t *b, const char *s) {
  es_buf_add(b, "\"", 1);
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  while (*p != '\0') {
    const unsigned char *run = p;
    size_t n;
    /* Copy the longest run that needs no escaping in one go. */
    while (*p >= 0x20 && *p != '"' && *p != '\\' && (n = es_utf8_len(p)) > 0)
      p += n;
    es_buf_add(b, run, (size_t)(p - run));
    if (*p == '\0')
      break;
    char esc[8];
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      es_buf_add(b, esc, 2);
    } else if (*p < 0x20) {
      snprintf(esc, sizeof(esc), "\\u%04x", *p);
      es_buf_add(b, esc, 6);
    } else {
      es_buf_add(b, "\xEF\xBF\xBD", 3); /* U+FFFD for a bad byte */
    }
    p++;
  }
  return es_buf_add(b, "\"", 1);
}

int es_buf_json_double(es_buf_t *b, double d) {
  if (!isfinite(d))
    return es_buf_add(b, "null", 4);
  char tmp[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
    if (strtod(tmp, NULL) == d)
      break;
  }
  return es_buf_adds(b, tmp);
}

int es_buf_json_int(es_buf_t *b, int64_t v) {
  char tmp[24];
  snprintf(tmp, sizeof(tmp), "%" PRId64, v);
  return es_buf_adds(b, tmp);
}

int es_buf_json_uint(es_buf_t *b, uint64_t v) {
  char tmp[24];
  snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
  return es_buf_adds(b, tmp);
}

int es_buf_ok(const es_buf_t *b) {
  return !b->failed;
}

void es_buf_reset(es_buf_t *b) {
  b->len = 0;
  b->failed = false;
  if (b->data != NULL)
    b->data[0] = '\0';
}

char *es_buf_steal(es_buf_t *b, size_t *len) {
  if (b->failed || es_buf_reserve(b, 0) != 0) {
    es_buf_free(b);
    return NULL;
  }
  char *d = b->data;
  d[b->len] = '\0';
  if (len != NULL)
    *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return d;
}

void es_buf_free(es_buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->failed = false;
}
