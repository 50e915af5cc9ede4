/* SPDX-License-Identifier: MIT */
/*
 * test_json_strict.c: datagrams that are not RFC 8259 JSON are rejected as
 * not_json by vq_parse(), while strict-but-valid JSON still parses. Every
 * datagram is a real factory_status example (factory_status-vac-man.json,
 * shortened) with one fault planted.
 */
#include "vacquery/vq_message.h"
#include "vacquery/vq_reason.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vq_test.h"

#include <stdlib.h>
#include <string.h>

/* The example up to the site value, and the rest after it. */
#define HEAD                                                                   \
  "{\"message_type\": \"factory_status\", \"daemon_version\": \"Vac 03.01.00 " \
  "vacd-factory\", \"space\": \"vac01.tier2.hep.manchester.ac.uk\", "          \
  "\"factory\": \"vac101.tier2.hep.manchester.ac.uk\", \"site\": "
#define SITE "\"UKI-NORTHGRID-MAN-HEP\""
#define TAIL ", \"running_processors\": 28, \"load_average\": 27.63}"
#define WITH_SITE(v) HEAD v TAIL
#define WITH_X(v) HEAD SITE ", \"x\": " v TAIL

typedef struct {
  const char *name, *bytes;
  size_t len;
} dgram_t;
#define D(n, s)                                                                \
  { n, s, sizeof(s) - 1 }

/* Parses len bytes from an exactly-sized, unterminated heap copy; returns
 * the reason. The caller clears *m. */
static vq_reason_t parse_bytes(vq_parser_t *p, const dgram_t *d,
                               vq_message_t *m) {
  char *buf = malloc(d->len > 0 ? d->len : 1);
  assert_non_null(buf);
  memcpy(buf, d->bytes, d->len);
  vq_reason_t r = vq_parse(p, buf, d->len, m);
  free(buf);
  return r;
}

/* Returns 1 if d is rejected as not_json and leaves no values behind,
 * else prints why and returns 0. */
static int check_rejected(const dgram_t *d) {
  vq_parser_t *p = vq_parser_create();
  assert_non_null(p);
  vq_message_t m;
  vq_reason_t r = parse_bytes(p, d, &m);
  int ok = r == VQ_REJ_NOT_JSON && m.root == NULL &&
           isnan(m.num[VQ_N_RUNNING_PROCESSORS]) &&
           m.str[VQ_S_SITE].ptr == NULL;
  if (!ok)
    print_error("[%s] reason %s, expected not_json and no values\n", d->name,
                vq_reason_name(r));
  vq_message_clear(&m);
  vq_parser_destroy(p);
  return ok;
}

static void check_all_rejected(const dgram_t *d, size_t n) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++)
    bad += !check_rejected(&d[i]);
  if (bad > 0)
    fail_msg("%zu of %zu datagrams not rejected as not_json", bad, n);
}
#define REJECT_ALL(...)                                                        \
  do {                                                                         \
    static const dgram_t cases_[] = {__VA_ARGS__};                             \
    check_all_rejected(cases_, COUNT(cases_));                                 \
  } while (0)

static void test_raw_control_characters_in_strings(void **state) {
  (void)state;
  REJECT_ALL(D("raw NUL in site", WITH_SITE("\"UKI\0MAN\"")),
             D("raw tab in site", WITH_SITE("\"UKI\tMAN\"")),
             D("raw newline in site", WITH_SITE("\"UKI\nMAN\"")),
             D("raw 0x1f in site", WITH_SITE("\"UKI\x1fMAN\"")),
             D("raw newline in a key", HEAD SITE ", \"a\nb\": 1" TAIL));
}

static void test_invalid_utf8(void **state) {
  (void)state;
  REJECT_ALL(D("lone continuation byte", WITH_SITE("\"UKI\x80\"")),
             D("truncated 2-byte sequence", WITH_SITE("\"Z\xc3\"")),
             D("overlong slash", WITH_SITE("\"\xc0\xaf\"")),
             D("0xff byte", WITH_SITE("\"\xff\"")),
             D("UTF-8 encoded surrogate", WITH_SITE("\"\xed\xa0\x80\"")),
             D("above U+10FFFF", WITH_SITE("\"\xf4\x90\x80\x80\"")));
}

static void test_lone_surrogates(void **state) {
  (void)state;
  REJECT_ALL(D("lone high surrogate", WITH_SITE("\"\\ud800\"")),
             D("lone low surrogate", WITH_SITE("\"\\udc00\"")),
             D("high then letter", WITH_SITE("\"\\ud83dx\"")),
             D("high then BMP escape", WITH_SITE("\"\\ud83d\\u0041\"")),
             D("two high surrogates", WITH_SITE("\"\\ud83d\\ud83d\"")));
}

static void test_non_finite_literals(void **state) {
  (void)state;
  REJECT_ALL(D("NaN", WITH_X("NaN")), D("Infinity", WITH_X("Infinity")),
             D("-Infinity", WITH_X("-Infinity")), D("nan", WITH_X("nan")),
             D("-inf", WITH_X("-inf")));
}

static void test_leading_zeros(void **state) {
  (void)state;
  REJECT_ALL(D("01", WITH_X("01")), D("-01", WITH_X("-01")),
             D("00", WITH_X("00")), D("007.5", WITH_X("007.5")));
}

static void test_trailing_bytes(void **state) {
  (void)state;
  REJECT_ALL(D("trailing letter", WITH_SITE(SITE) "x"),
             D("trailing comma", WITH_SITE(SITE) ","),
             D("trailing NUL", WITH_SITE(SITE) "\0"),
             D("space then junk", WITH_SITE(SITE) " \n]"));
}

static void test_json_extensions(void **state) {
  (void)state;
  REJECT_ALL(
      D("single-quoted value", WITH_SITE("'UKI-NORTHGRID-MAN-HEP'")),
      D("single-quoted key", HEAD SITE ", 'x': 1" TAIL),
      D("line comment", HEAD SITE " // c\n" TAIL),
      D("block comment", HEAD SITE " /* c */" TAIL),
      D("trailing comma in object", HEAD SITE TAIL ",}"),
      D("trailing comma before brace", HEAD SITE ", \"load_average\": 27.63,}"),
      D("trailing comma in array", WITH_X("[1, 2,]")),
      D("unquoted key", HEAD SITE ", x: 1" TAIL),
      D("bad escape", WITH_SITE("\"\\x41\"")),
      D("capitalised True", WITH_X("True")), D("plus sign", WITH_X("+1")),
      D("bare dot", WITH_X(".5")), D("dot without digits", WITH_X("1.")),
      D("hex number", WITH_X("0x10")));
}

/* Valid strict JSON: parses, with the values a user would read. */
static void test_strict_json_still_parses(void **state) {
  (void)state;
  static const struct {
    dgram_t d;
    const char *site;
    size_t site_len;
  } cases[] = {
      {D("escaped e acute", WITH_SITE("\"caf\\u00e9\"")), "caf\xc3\xa9", 5},
      {D("surrogate pair", WITH_SITE("\"x\\ud83d\\ude00\"")),
       "x\xf0\x9f\x98\x80", 5},
      {D("raw UTF-8 multibyte", WITH_SITE("\"Z\xc3\xbcrich\xe2\x98\x83\"")),
       "Z\xc3\xbcrich\xe2\x98\x83", 10},
      {D("raw 4-byte UTF-8", WITH_SITE("\"\xf0\x9f\x98\x80\"")),
       "\xf0\x9f\x98\x80", 4},
      {D("escaped control", WITH_SITE("\"a\\tb\\n\\u001f\"")), "a\tb\n\x1f", 5},
      {D("minus zero", WITH_X("-0")), "UKI-NORTHGRID-MAN-HEP", 21},
      {D("zero point five", WITH_X("[0, 0.5, -0.5, 1e5, 1E+5, 2e-3, 1e05, "
                                   "1e+05, 1E-05, 10, 100.005]")),
       "UKI-NORTHGRID-MAN-HEP", 21},
      {D("whitespace around", " \t\r\n" WITH_SITE(SITE) " \t\r\n"),
       "UKI-NORTHGRID-MAN-HEP", 21},
  };
  vq_parser_t *p = vq_parser_create();
  assert_non_null(p);
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_message_t m;
    vq_reason_t r = parse_bytes(p, &cases[i].d, &m);
    if (r != VQ_OK)
      fail_msg("[%s] rejected as %s", cases[i].d.name, vq_reason_name(r));
    vq_str_t s = m.str[VQ_S_SITE];
    if (s.ptr == NULL || s.len != cases[i].site_len ||
        memcmp(s.ptr, cases[i].site, s.len) != 0)
      fail_msg("[%s] site differs", cases[i].d.name);
    CHECK_NUM(cases[i].d.name, m.num[VQ_N_RUNNING_PROCESSORS], 28);
    CHECK_NUM(cases[i].d.name, m.num[VQ_N_LOAD_AVERAGE], 27.63);
    vq_message_clear(&m);
  }
  vq_parser_destroy(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_raw_control_characters_in_strings),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_lone_surrogates),
      cmocka_unit_test(test_non_finite_literals),
      cmocka_unit_test(test_leading_zeros),
      cmocka_unit_test(test_trailing_bytes),
      cmocka_unit_test(test_json_extensions),
      cmocka_unit_test(test_strict_json_still_parses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
