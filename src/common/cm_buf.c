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

int cm_buf_json_str(cm_buf_t *b, const char *s) {
  cm_buf_add(b, "\"", 1);
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  while (*p != '\0') {
    const unsigned char *run = p;
    size_t n;
    /* Copy the longest run that needs no escaping in one go. */
    while (*p >= 0x20 && *p != '"' && *p != '\\' &&
           (n = cm_utf8_decode(p, 4, NULL)) > 0)
      p += n;
    cm_buf_add(b, run, (size_t)(p - run));
    if (*p == '\0')
      break;
    char esc[8];
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      cm_buf_add(b, esc, 2);
    } else if (*p < 0x20) {
      snprintf(esc, sizeof(esc), "\\u%04x", *p);
      cm_buf_add(b, esc, 6);
    } else {
      cm_buf_add(b, "\xEF\xBF\xBD", 3); /* U+FFFD for a bad byte */
    }
    p++;
  }
  return cm_buf_add(b, "\"", 1);
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
