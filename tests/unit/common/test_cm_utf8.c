/* SPDX-License-Identifier: MIT */
/*
 * test_cm_utf8.c: cm_utf8_decode against RFC 3629's table of well-formed
 * sequences (section 4) and the ill-formed cases named there.
 */
#include "common/cm_utf8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cm_test.h"

typedef struct {
  const char *name;
  const char *bytes;
  size_t n;    /* bytes the decoder may read */
  size_t len;  /* expected length, 0 for invalid */
  uint32_t cp; /* expected code point when valid */
} utf8_case_t;

static void test_decode_table(void **state) {
  (void)state;
  static const utf8_case_t cases[] = {
      {"ASCII", "A", 1, 1, 0x41},
      {"NUL is one byte", "\0", 1, 1, 0},
      {"2 bytes, lowest", "\xC2\x80", 2, 2, 0x80},
      {"2 bytes, e acute", "\xC3\xA9", 2, 2, 0xE9},
      {"2 bytes, highest", "\xDF\xBF", 2, 2, 0x7FF},
      {"3 bytes, lowest", "\xE0\xA0\x80", 3, 3, 0x800},
      {"3 bytes, euro", "\xE2\x82\xAC", 3, 3, 0x20AC},
      {"3 bytes, before surrogates", "\xED\x9F\xBF", 3, 3, 0xD7FF},
      {"3 bytes, after surrogates", "\xEE\x80\x80", 3, 3, 0xE000},
      {"3 bytes, U+FFFD", "\xEF\xBF\xBD", 3, 3, 0xFFFD},
      {"4 bytes, lowest", "\xF0\x90\x80\x80", 4, 4, 0x10000},
      {"4 bytes, emoji", "\xF0\x9F\x98\x80", 4, 4, 0x1F600},
      {"4 bytes, highest", "\xF4\x8F\xBF\xBF", 4, 4, 0x10FFFF},
      {"stray continuation", "\x80", 1, 0, 0},
      {"overlong C0", "\xC0\xAF", 2, 0, 0},
      {"overlong C1", "\xC1\xBF", 2, 0, 0},
      {"overlong E0", "\xE0\x9F\xBF", 3, 0, 0},
      {"overlong F0", "\xF0\x8F\xBF\xBF", 4, 0, 0},
      {"surrogate D800", "\xED\xA0\x80", 3, 0, 0},
      {"surrogate DFFF", "\xED\xBF\xBF", 3, 0, 0},
      {"above U+10FFFF", "\xF4\x90\x80\x80", 4, 0, 0},
      {"F5 lead", "\xF5\x80\x80\x80", 4, 0, 0},
      {"FF byte", "\xFF", 1, 0, 0},
      {"cut by n", "\xE2\x82\xAC", 2, 0, 0},
      {"cut by NUL", "\xE2\x82\0", 3, 0, 0},
      {"bad third byte", "\xE2\x82\x41", 3, 0, 0},
      {"n is 0", "A", 0, 0, 0},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    uint32_t cp = 0xDEADBEEF;
    size_t len =
        cm_utf8_decode((const unsigned char *)cases[i].bytes, cases[i].n, &cp);
    CHECK_INT(cases[i].name, len, cases[i].len);
    if (cases[i].len > 0)
      CHECK_INT(cases[i].name, cp, cases[i].cp);
    CHECK_INT(
        cases[i].name,
        cm_utf8_decode((const unsigned char *)cases[i].bytes, cases[i].n, NULL),
        cases[i].len);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
