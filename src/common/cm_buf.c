/* SPDX-License-Identifier: MIT */
/*
 * cm_buf.c: growable buffer and JSON text primitives (see cm_buf.h).
 */
#include "cm_buf.h"
#include "cm_utf8.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for n more bytes plus a NUL. Returns 0 or -1 (buffer broken). */
static int cm_buf_reserve(cm_buf_t *b, size_t n) {
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

int cm_buf_add(cm_buf_t *b, const void *p, size_t n) {
  if (cm_buf_reserve(b, n) != 0)
    return -1;
  if (n > 0)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int cm_buf_adds(cm_buf_t *b, const char *s) {
  return cm_buf_add(b, s, strlen(s));
}

/* Appends s as a JSON string literal; ascii selects json.dumps's escaping
 * (see cm_buf_json_str_ascii). Returns 0 or -1. */
static int cm_buf_json_text(cm_buf_t *b, const char *s, bool ascii) {
  static const char shorts[] = "btnvfr"; /* letters of codes 8..13 */
  cm_buf_add(b, "\"", 1);
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  while (*p != '\0') {
    const unsigned char *run = p;
    size_t n = 1;
    /* Copy the longest run that needs no escaping in one go. */
    while (*p >= 0x20 && *p != '"' && *p != '\\' &&
           (ascii ? *p < 0x7f : (n = cm_utf8_decode(p, 4, NULL)) > 0))
      p += n;
    cm_buf_add(b, run, (size_t)(p - run));
    if (*p == '\0')
      break;
    char esc[16];
    uint32_t cp = *p;
    size_t k = 1;
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      esc[2] = '\0';
    } else if (*p < 0x20) {
      if (ascii && *p >= 8 && *p <= 13 && *p != 11)
        snprintf(esc, sizeof(esc), "\\%c", shorts[*p - 8]);
      else
        snprintf(esc, sizeof(esc), "\\u%04x", *p);
    } else if ((k = cm_utf8_decode(p, 4, &cp)) == 0) {
      k = 1; /* U+FFFD for each byte of an invalid sequence */
      snprintf(esc, sizeof(esc), "%s", ascii ? "\\ufffd" : "\xEF\xBF\xBD");
    } else if (cp >= 0x10000) { /* ascii only: a surrogate pair */
      snprintf(esc, sizeof(esc), "\\u%04x\\u%04x",
               (unsigned)(0xD800 + ((cp - 0x10000) >> 10)),
               (unsigned)(0xDC00 + (cp & 0x3FF)));
    } else {
      snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
    }
    cm_buf_adds(b, esc);
    p += k;
  }
  return cm_buf_add(b, "\"", 1);
}

int cm_buf_json_str(cm_buf_t *b, const char *s) {
  return cm_buf_json_text(b, s, false);
}

int cm_buf_json_str_ascii(cm_buf_t *b, const char *s) {
  return cm_buf_json_text(b, s, true);
}

int cm_buf_json_double(cm_buf_t *b, double d) {
  if (!isfinite(d))
    return cm_buf_add(b, "null", 4);
  char tmp[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
    if (strtod(tmp, NULL) == d)
      break;
  }
  return cm_buf_adds(b, tmp);
}

int cm_buf_json_int(cm_buf_t *b, int64_t v) {
  char tmp[24];
  snprintf(tmp, sizeof(tmp), "%" PRId64, v);
  return cm_buf_adds(b, tmp);
}

int cm_buf_json_uint(cm_buf_t *b, uint64_t v) {
  char tmp[24];
  snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
  return cm_buf_adds(b, tmp);
}

int cm_buf_ok(const cm_buf_t *b) {
  return !b->failed;
}

void cm_buf_reset(cm_buf_t *b) {
  b->len = 0;
  b->failed = false;
  if (b->data != NULL)
    b->data[0] = '\0';
}

char *cm_buf_steal(cm_buf_t *b, size_t *len) {
  if (b->failed || cm_buf_reserve(b, 0) != 0) {
    cm_buf_free(b);
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

void cm_buf_free(cm_buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->failed = false;
}
