/* SPDX-License-Identifier: MIT */
/*
 * test_cm_buf.c: unit tests for src/common/cm_buf.c: the growable buffer and
 * the JSON text primitives.
 */
#include "common/cm_buf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cm_test.h"

#include <json-c/json.h>

static void test_add_grows_and_terminates(void **state) {
  (void)state;
  cm_buf_t b = CM_BUF_INIT;
  for (int i = 0; i < 1000; i++)
    assert_int_equal(cm_buf_adds(&b, "abcdefghij"), 0);
  assert_int_equal(b.len, 10000);
  assert_int_equal(b.data[b.len], '\0');
  assert_memory_equal(b.data + 9990, "abcdefghij", 10);
  assert_int_equal(cm_buf_ok(&b), 1);
  cm_buf_reset(&b);
  assert_int_equal(b.len, 0);
  CHECK_CSTR("reset", b.data, "");
  cm_buf_free(&b);
  assert_null(b.data);
}

/* A string and the JSON text an escaper must write for it. */
typedef struct {
  const char *in, *out;
} json_row_t;

/* Runs the escaper fn over rows: each output must equal the row's (literal)
 * text and be valid JSON for json-c; NULL must give "". */
static void check_json_rows(const json_row_t *rows, size_t n,
                            int (*fn)(cm_buf_t *, const char *)) {
  for (size_t i = 0; i < n; i++) {
    cm_buf_t b = CM_BUF_INIT;
    assert_int_equal(fn(&b, rows[i].in), 0);
    CHECK_CSTR(rows[i].out, b.data, rows[i].out);
    json_object *o = json_tokener_parse(b.data);
    if (o == NULL)
      fail_msg("[%s] not valid JSON", rows[i].out);
    json_object_put(o);
    cm_buf_free(&b);
  }
  cm_buf_t b = CM_BUF_INIT;
  fn(&b, NULL);
  CHECK_CSTR("NULL", b.data, "\"\"");
  cm_buf_free(&b);
}

static void test_json_str_table(void **state) {
  (void)state;
  static const json_row_t rows[] = {
      {"", "\"\""},
      {"plain", "\"plain\""},
      {"q\"b\\s", "\"q\\\"b\\\\s\""},
      {"tab\tnl\ncr\r", "\"tab\\u0009nl\\u000acr\\u000d\""},
      {"\x01\x1f", "\"\\u0001\\u001f\""},
      {"Z\xc3\xbcrich", "\"Z\xc3\xbcrich\""}, /* UTF-8 kept */
      {"\xe2\x82\xac \xf0\x9f\x98\x80", "\"\xe2\x82\xac \xf0\x9f\x98\x80\""},
      {"bad\xffx", "\"bad\xef\xbf\xbdx\""},                   /* invalid byte */
      {"cut\xc3", "\"cut\xef\xbf\xbd\""},                     /* truncated */
      {"over\xc0\xafz", "\"over\xef\xbf\xbd\xef\xbf\xbdz\""}, /* overlong */
      {"sur\xed\xa0\x80", "\"sur\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
      {"/slash", "\"/slash\""},
  };
  check_json_rows(rows, COUNT(rows), cm_buf_json_str);
}

/* cm_buf_json_str_ascii: the rows are what Python's json.dumps writes for
 * the same text (invalid UTF-8, which a Python str cannot hold, as U+FFFD
 * per byte). */
static void test_json_str_ascii_table(void **state) {
  (void)state;
  static const json_row_t rows[] = {
      {"", "\"\""},
      {"plain text 0-9 ~", "\"plain text 0-9 ~\""},
      {"q\"b\\s", "\"q\\\"b\\\\s\""},
      {"tab\tnl\ncr\r", "\"tab\\tnl\\ncr\\r\""},
      {"\b\f\v", "\"\\b\\f\\u000b\""},
      {"\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\""},
      {"Z\xc3\xbcrich", "\"Z\\u00fcrich\""},
      {"\xe2\x82\xac \xf0\x9f\x98\x80", "\"\\u20ac \\ud83d\\ude00\""},
      {"\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\"\\uffff\\udbff\\udfff\""},
      {"bad\xffx", "\"bad\\ufffdx\""},
      {"cut\xc3", "\"cut\\ufffd\""},
      {"over\xc0\xafz", "\"over\\ufffd\\ufffdz\""},
      {"sur\xed\xa0\x80", "\"sur\\ufffd\\ufffd\\ufffd\""},
      {"/slash", "\"/slash\""},
  };
  check_json_rows(rows, COUNT(rows), cm_buf_json_str_ascii);
}

static void test_json_numbers_table(void **state) {
  (void)state;
  static const struct {
    double d;
    const char *out;
  } rows[] = {
      {0, "0"},
      {1, "1"},
      {-2.5, "-2.5"},
      {0.1, "0.1"},
      {9.4, "9.4"},
      {1e300, "1e+300"},
      {NAN, "null"},
      {INFINITY, "null"},
      {-INFINITY, "null"},
      {2147483648.0, "2147483648"},
      {1.0 / 3, "0.3333333333333333"},
      {0.1 + 0.2, "0.30000000000000004"},
  };
  for (size_t i = 0; i < COUNT(rows); i++) {
    cm_buf_t b = CM_BUF_INIT;
    cm_buf_json_double(&b, rows[i].d);
    CHECK_CSTR(rows[i].out, b.data, rows[i].out);
    if (isfinite(rows[i].d))
      CHECK_NUM(rows[i].out, strtod(b.data, NULL), rows[i].d);
    cm_buf_free(&b);
  }
  cm_buf_t b = CM_BUF_INIT;
  cm_buf_json_int(&b, INT64_MIN);
  cm_buf_adds(&b, " ");
  cm_buf_json_uint(&b, UINT64_MAX);
  CHECK_CSTR("ints", b.data, "-9223372036854775808 18446744073709551615");
  cm_buf_free(&b);
}

static void test_steal_and_broken_buffer(void **state) {
  (void)state;
  cm_buf_t b = CM_BUF_INIT;
  size_t len = 99;
  char *s = cm_buf_steal(&b, &len); /* empty buffer: "" */
  assert_non_null(s);
  assert_int_equal(len, 0);
  CHECK_CSTR("empty", s, "");
  free(s);
  cm_buf_adds(&b, "abc");
  s = cm_buf_steal(&b, &len);
  CHECK_CSTR("steal", s, "abc");
  assert_int_equal(len, 3);
  assert_null(b.data);
  free(s);
  /* A request too large to satisfy breaks the buffer for good. */
  cm_buf_adds(&b, "x");
  assert_int_equal(cm_buf_add(&b, "y", SIZE_MAX - 2), -1);
  assert_int_equal(cm_buf_ok(&b), 0);
  assert_int_equal(cm_buf_adds(&b, "more"), -1);
  assert_int_equal(b.len, 1);
  assert_null(cm_buf_steal(&b, &len));
  assert_null(b.data);
  /* Reset clears the failure. */
  cm_buf_add(&b, "y", SIZE_MAX - 2);
  cm_buf_reset(&b);
  assert_int_equal(cm_buf_adds(&b, "ok"), 0);
  CHECK_CSTR("after reset", b.data, "ok");
  cm_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_grows_and_terminates),
      cmocka_unit_test(test_json_str_table),
      cmocka_unit_test(test_json_str_ascii_table),
      cmocka_unit_test(test_json_numbers_table),
      cmocka_unit_test(test_steal_and_broken_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
