/* SPDX-License-Identifier: MIT */
/*
 * cm_test.h: checks shared by the cmocka unit tests.
 *
 * Include after <cmocka.h>. Every CHECK_* names the case (ctx) and the
 * expression in its failure message, so a table-driven test says which row
 * failed. Header-only: each test program is one translation unit.
 */
#ifndef CM_TEST_H
#define CM_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CM_FIXTURES
#define CM_FIXTURES "tests/fixtures/examples"
#endif

/* Number of elements of a static array. */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Returns 1 when a equals e within a relative 1e-9; NaN equals only NaN. */
static inline int cm_test_num_eq(double a, double e) {
  if (isnan(e))
    return isnan(a);
  if (isnan(a))
    return 0;
  return fabs(a - e) <= 1e-9 * fmax(1.0, fabs(e));
}

#define CHECK_NUM(ctx, a, e)                                                   \
  do {                                                                         \
    double a_ = (a), e_ = (e);                                                 \
    if (!cm_test_num_eq(a_, e_))                                               \
      fail_msg("[%s] %s = %.17g, expected %.17g", (ctx), #a, a_, e_);          \
  } while (0)

#define CHECK_INT(ctx, a, e)                                                   \
  do {                                                                         \
    long long a_ = (long long)(a), e_ = (long long)(e);                        \
    if (a_ != e_)                                                              \
      fail_msg("[%s] %s = %lld, expected %lld", (ctx), #a, a_, e_);            \
  } while (0)

#define CHECK_CSTR(ctx, a, e)                                                  \
  do {                                                                         \
    const char *a_ = (a), *e_ = (e);                                           \
    if (strcmp(a_, e_) != 0)                                                   \
      fail_msg("[%s] %s = \"%s\", expected \"%s\"", (ctx), #a, a_, e_);        \
  } while (0)

/*
 * Reads the whole file CM_FIXTURES/name. Returns a NUL-terminated buffer
 * the caller frees and stores its length in *len; fails the test when the
 * file cannot be read.
 */
static inline char *cm_test_read_fixture(const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", CM_FIXTURES, name);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open fixture %s", path);
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 4096 + 1 > cap) {
      cap = cap ? 2 * cap : 8192;
      char *nb = realloc(buf, cap);
      if (nb == NULL)
        fail_msg("out of memory reading %s", path);
      buf = nb;
    }
    size_t r = fread(buf + n, 1, 4096, f);
    n += r;
    if (r < 4096)
      break;
  }
  fclose(f);
  buf[n] = '\0';
  *len = n;
  return buf;
}

#endif
