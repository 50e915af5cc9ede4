/* SPDX-License-Identifier: MIT */
/*
 * test_cm_json.c: cm_json_object_scan, cm_json_unescape and cm_json_number
 * against RFC 8259 (JSON) and RFC 3629 (UTF-8). The expectations come from
 * the RFCs and the contract in cm_json.h, not from the implementation.
 *
 * Every scanned buffer is first copied into a heap block of exactly its
 * length, so a read past len shows under ASan or valgrind.
 */
#include "common/cm_json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cm_test.h"

/* Nesting limit of the cases that do not test the limit itself. */
#define DEPTH 64

/* Most members one case of the member table expects. */
#define MAX_MEMBERS 8

/*
 * Returns a heap copy of the n bytes at s, in a block of exactly n bytes
 * (1 when n is 0, never read then). The caller frees it.
 */
static char *dup_exact(const char *s, size_t n) {
  char *p = malloc(n ? n : 1);
  if (p == NULL)
    fail_msg("out of memory");
  if (n)
    memcpy(p, s, n);
  return p;
}

/* Returns the name of a kind for failure messages (static storage). */
static const char *kind_name(cm_json_kind_t k) {
  switch (k) {
  case CM_JSON_STRING:
    return "STRING";
  case CM_JSON_NUMBER:
    return "NUMBER";
  case CM_JSON_TRUE:
    return "TRUE";
  case CM_JSON_FALSE:
    return "FALSE";
  case CM_JSON_NULL:
    return "NULL";
  case CM_JSON_OBJECT:
    return "OBJECT";
  case CM_JSON_ARRAY:
    return "ARRAY";
  }
  return "?";
}

/* What a callback saw: the members (copied), and when to stop. */
typedef struct {
  const char *buf; /* the scanned buffer, for the slice bounds check */
  size_t len;
  const char *name; /* the case, for failure messages */
  size_t calls;
  size_t stop_after; /* return stop_rc on this call (1-based); 0: never */
  int stop_rc;
  cm_json_member_t seen[MAX_MEMBERS];
} record_t;

/*
 * Records one member and checks that both slices lie inside the scanned
 * buffer. Returns r->stop_rc on call number r->stop_after, else 0.
 */
static int record_cb(void *ctx, const cm_json_member_t *m) {
  record_t *r = ctx;
  const char *end = r->buf + r->len;
  if (m->key < r->buf || m->key + m->key_len > end)
    fail_msg("[%s] member %zu: key slice outside the buffer", r->name,
             r->calls);
  if (m->value < r->buf || m->value + m->value_len > end)
    fail_msg("[%s] member %zu: value slice outside the buffer", r->name,
             r->calls);
  if (r->calls < MAX_MEMBERS)
    r->seen[r->calls] = *m;
  r->calls++;
  if (r->stop_after != 0 && r->calls == r->stop_after)
    return r->stop_rc;
  return 0;
}

/* Returns the return code's name for failure messages (static storage). */
static const char *rc_name(int rc) {
  switch (rc) {
  case CM_JSON_OK:
    return "OK";
  case CM_JSON_INVALID:
    return "INVALID";
  case CM_JSON_NOT_OBJECT:
    return "NOT_OBJECT";
  case CM_JSON_STOPPED:
    return "STOPPED";
  }
  return "?";
}

#define CHECK_RC(ctx, a, e)                                                    \
  do {                                                                         \
    int a_ = (a), e_ = (e);                                                    \
    if (a_ != e_)                                                              \
      fail_msg("[%s] %s = %s (%d), expected %s", (ctx), #a, rc_name(a_), a_,   \
               rc_name(e_));                                                   \
  } while (0)

/*
 * Scans a heap copy of exactly len bytes of s with record_cb, filling *r.
 * Returns the scan's return code.
 */
static int scan_copy(const char *name, const char *s, size_t len,
                     unsigned depth, record_t *r) {
  char *buf = dup_exact(s, len);
  memset(r, 0, sizeof(*r));
  r->buf = buf;
  r->len = len;
  r->name = name;
  int rc = cm_json_object_scan(buf, len, depth, record_cb, r);
  free(buf);
  r->buf = NULL;
  return rc;
}

/* ---- 1. return codes ---------------------------------------------------- */

typedef struct {
  const char *name;
  const char *text;
  size_t len; /* bytes scanned: all of text, or a slice of it */
  unsigned depth;
  int rc;
} scan_case_t;

/* A case scanning the whole literal (embedded NUL bytes included). */
#define T(name, lit, rc)                                                       \
  { name, lit, sizeof(lit) - 1, DEPTH, rc }
/* A case with its own nesting limit. */
#define TD(name, lit, depth, rc)                                               \
  { name, lit, sizeof(lit) - 1, depth, rc }
/* A case scanning only the first len bytes of the literal. */
#define TL(name, lit, len, rc)                                                 \
  { name, lit, len, DEPTH, rc }

static const scan_case_t valid_cases[] = {
    T("empty object", "{}", CM_JSON_OK),
    T("whitespace around", " \t\r\n{}\n\r\t ", CM_JSON_OK),
    T("whitespace inside empty", "{ \t\r\n}", CM_JSON_OK),
    T("whitespace everywhere",
      " { \"a\" : 1 , \"b\" :\t[ 1 , 2 ] ,\n\"c\"\r:\n{ \"d\" : null } } ",
      CM_JSON_OK),
    T("one member", "{\"a\":1}", CM_JSON_OK),
    T("empty key and value", "{\"\":\"\"}", CM_JSON_OK),
    T("duplicate keys", "{\"a\":1,\"a\":2}", CM_JSON_OK),
    T("nested objects", "{\"a\":{\"b\":{\"c\":{}}}}", CM_JSON_OK),
    T("nested arrays", "{\"a\":[1,[2,[3,[]]],{\"x\":null}]}", CM_JSON_OK),
    T("empty nested containers", "{\"a\":{},\"b\":[],\"c\":[{}]}", CM_JSON_OK),
    T("literals", "{\"t\":true,\"f\":false,\"n\":null}", CM_JSON_OK),
    T("literals in array", "{\"a\":[true,false,null]}", CM_JSON_OK),
    T("string value", "{\"a\":\"hello world\"}", CM_JSON_OK),
    T("braces in strings", "{\"}\":\"{\",\"a\":[\"]\",\"[\"]}", CM_JSON_OK),
    T("escape quote", "{\"a\":\"\\\"\"}", CM_JSON_OK),
    T("escape backslash", "{\"a\":\"\\\\\"}", CM_JSON_OK),
    T("escape slash", "{\"a\":\"\\/\"}", CM_JSON_OK),
    T("escape b", "{\"a\":\"\\b\"}", CM_JSON_OK),
    T("escape f", "{\"a\":\"\\f\"}", CM_JSON_OK),
    T("escape n", "{\"a\":\"\\n\"}", CM_JSON_OK),
    T("escape r", "{\"a\":\"\\r\"}", CM_JSON_OK),
    T("escape t", "{\"a\":\"\\t\"}", CM_JSON_OK),
    T("escape u ASCII", "{\"a\":\"\\u0041\"}", CM_JSON_OK),
    T("escape u0000", "{\"a\":\"\\u0000\"}", CM_JSON_OK),
    T("escape u mixed-case hex", "{\"a\":\"\\u00e9\\u00E9\\uAbCd\"}",
      CM_JSON_OK),
    T("escape uFFFF", "{\"a\":\"\\uffff\"}", CM_JSON_OK),
    T("escape surrogate pair", "{\"a\":\"\\ud83d\\ude00\"}", CM_JSON_OK),
    T("escape surrogate pair upper", "{\"a\":\"x\\uD800\\uDC00y\"}",
      CM_JSON_OK),
    T("escape highest pair", "{\"a\":\"\\uDBFF\\uDFFF\"}", CM_JSON_OK),
    T("escaped backslash before quote", "{\"a\":\"x\\\\\",\"b\":1}",
      CM_JSON_OK),
    T("all escapes", "{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\"}",
      CM_JSON_OK),
    T("escape in key", "{\"\\n\\u0041\":1}", CM_JSON_OK),
    T("UTF-8 2 bytes", "{\"a\":\"\xC3\xA9\"}", CM_JSON_OK),
    T("UTF-8 3 bytes", "{\"a\":\"\xE2\x82\xAC\"}", CM_JSON_OK),
    T("UTF-8 4 bytes", "{\"a\":\"\xF0\x9F\x98\x80\"}", CM_JSON_OK),
    T("UTF-8 lowest of each length",
      "{\"a\":\"\xC2\x80\xE0\xA0\x80\xF0\x90\x80\x80\"}", CM_JSON_OK),
    T("UTF-8 highest of each length",
      "{\"a\":\"\xDF\xBF\xEF\xBF\xBF\xF4\x8F\xBF\xBF\"}", CM_JSON_OK),
    T("UTF-8 around surrogates", "{\"a\":\"\xED\x9F\xBF\xEE\x80\x80\"}",
      CM_JSON_OK),
    T("UTF-8 in key", "{\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\":1}",
      CM_JSON_OK),
    T("DEL is not a control", "{\"a\":\"\x7F\"}", CM_JSON_OK),
    T("number 0", "{\"a\":0}", CM_JSON_OK),
    T("number -0", "{\"a\":-0}", CM_JSON_OK),
    T("number 1.5", "{\"a\":1.5}", CM_JSON_OK),
    T("number 0.5", "{\"a\":0.5}", CM_JSON_OK),
    T("number -0.0", "{\"a\":-0.0}", CM_JSON_OK),
    T("number 1e5", "{\"a\":1e5}", CM_JSON_OK),
    T("number 1E+5", "{\"a\":1E+5}", CM_JSON_OK),
    T("number 1e-5", "{\"a\":1e-5}", CM_JSON_OK),
    T("number 0e0", "{\"a\":0e0}", CM_JSON_OK),
    T("number exponent leading zero", "{\"a\":1e05}", CM_JSON_OK),
    T("number -12.5e3", "{\"a\":-12.5e3}", CM_JSON_OK),
    T("number huge exponent", "{\"a\":1e999999999999999999}", CM_JSON_OK),
    T("number long digits",
      "{\"a\":12345678901234567890123456789012345678901234567890"
      "12345678901234567890123456789012345678901234567890}",
      CM_JSON_OK),
    T("number long fraction",
      "{\"a\":0.1234567890123456789012345678901234567890123456789}",
      CM_JSON_OK),
    T("numbers in array", "{\"a\":[0,-1,2.5,3e3,-4E-4]}", CM_JSON_OK),
    T("number before whitespace", "{\"a\":1 ,\"b\":2\n}", CM_JSON_OK),
    TD("depth 1 of 1", "{\"a\":1}", 1, CM_JSON_OK),
    TD("depth 3 of 3", "{\"a\":{\"b\":[1]}}", 3, CM_JSON_OK),
    TD("depth 3 of 3, arrays", "{\"a\":[[]]}", 3, CM_JSON_OK),
    TD("depth 4 of 4", "{\"a\":{\"b\":[[1]]}}", 4, CM_JSON_OK),
    TD("siblings do not add depth", "{\"a\":{\"b\":[1]},\"c\":[{\"d\":2}]}", 3,
       CM_JSON_OK),
    TL("slice ends before garbage", "{\"a\":1}garbage", 7, CM_JSON_OK),
    TL("slice ends before a digit", "{\"a\":12}3", 8, CM_JSON_OK),
    TL("slice ends before a second object", "{}{}", 2, CM_JSON_OK),
    TL("slice ends before a NUL", "{}\0", 2, CM_JSON_OK),
};

static const scan_case_t not_object_cases[] = {
    T("empty array", "[]", CM_JSON_NOT_OBJECT),
    T("array with spaces", " [ 1 , 2 ] ", CM_JSON_NOT_OBJECT),
    T("array of objects", "[{\"a\":1}]", CM_JSON_NOT_OBJECT),
    T("string", "\"s\"", CM_JSON_NOT_OBJECT),
    T("empty string", "\"\"", CM_JSON_NOT_OBJECT),
    T("string holding braces", "\"{}\"", CM_JSON_NOT_OBJECT),
    T("string with whitespace", "\n\"s\"\n", CM_JSON_NOT_OBJECT),
    T("number", "1", CM_JSON_NOT_OBJECT),
    T("number with whitespace", "\t1\t", CM_JSON_NOT_OBJECT),
    T("number -0", "-0", CM_JSON_NOT_OBJECT),
    T("number with exponent", "-1.5e3", CM_JSON_NOT_OBJECT),
    T("true", "true", CM_JSON_NOT_OBJECT),
    T("true with whitespace", " true ", CM_JSON_NOT_OBJECT),
    T("false", "false", CM_JSON_NOT_OBJECT),
    T("null", "null", CM_JSON_NOT_OBJECT),
    T("null with whitespace", "\r\nnull\r\n", CM_JSON_NOT_OBJECT),
    TL("slice: number before a brace", "1}", 1, CM_JSON_NOT_OBJECT),
};

static const scan_case_t invalid_cases[] = {
    TL("empty buffer", "{}", 0, CM_JSON_INVALID),
    T("only whitespace", " \t\r\n ", CM_JSON_INVALID),
    T("trailing comma in object", "{\"a\":1,}", CM_JSON_INVALID),
    T("trailing comma in nested object", "{\"a\":{\"b\":1,}}", CM_JSON_INVALID),
    T("trailing comma in array", "{\"a\":[1,2,]}", CM_JSON_INVALID),
    T("lone comma in object", "{,}", CM_JSON_INVALID),
    T("leading comma in object", "{,\"a\":1}", CM_JSON_INVALID),
    T("lone comma in array", "{\"a\":[,]}", CM_JSON_INVALID),
    T("double comma in array", "{\"a\":[1,,2]}", CM_JSON_INVALID),
    T("double comma in object", "{\"a\":1,,\"b\":2}", CM_JSON_INVALID),
    T("missing colon", "{\"a\" 1}", CM_JSON_INVALID),
    T("missing colon in nested", "{\"a\":{\"b\" 1}}", CM_JSON_INVALID),
    T("double colon", "{\"a\"::1}", CM_JSON_INVALID),
    T("missing value", "{\"a\":}", CM_JSON_INVALID),
    T("key only", "{\"a\"}", CM_JSON_INVALID),
    T("value only", "{:1}", CM_JSON_INVALID),
    T("missing comma in object", "{\"a\":1 \"b\":2}", CM_JSON_INVALID),
    T("missing comma in array", "{\"a\":[1 2]}", CM_JSON_INVALID),
    T("array member without key", "{\"a\":1,2}", CM_JSON_INVALID),
    T("colon in array", "{\"a\":[\"b\":1]}", CM_JSON_INVALID),
    T("unquoted key", "{a:1}", CM_JSON_INVALID),
    T("number key", "{1:1}", CM_JSON_INVALID),
    T("literal key", "{true:1}", CM_JSON_INVALID),
    T("single-quoted key", "{'a':1}", CM_JSON_INVALID),
    T("single-quoted value", "{\"a\":'b'}", CM_JSON_INVALID),
    T("line comment", "{\"a\":1 // c\n}", CM_JSON_INVALID),
    T("line comment before", "// c\n{}", CM_JSON_INVALID),
    T("block comment", "{/* c */}", CM_JSON_INVALID),
    T("block comment after", "{}/* c */", CM_JSON_INVALID),
    T("hash comment", "{} # c", CM_JSON_INVALID),
    T("NaN", "{\"a\":NaN}", CM_JSON_INVALID),
    T("nan", "{\"a\":nan}", CM_JSON_INVALID),
    T("Infinity", "{\"a\":Infinity}", CM_JSON_INVALID),
    T("-Infinity", "{\"a\":-Infinity}", CM_JSON_INVALID),
    T("leading zero 01", "{\"a\":01}", CM_JSON_INVALID),
    T("leading zero -01", "{\"a\":-01}", CM_JSON_INVALID),
    T("leading zero 00", "{\"a\":00}", CM_JSON_INVALID),
    T("leading zero 00.5", "{\"a\":00.5}", CM_JSON_INVALID),
    T("leading zero in array", "{\"a\":[01]}", CM_JSON_INVALID),
    T("1.", "{\"a\":1.}", CM_JSON_INVALID),
    T("1.e5", "{\"a\":1.e5}", CM_JSON_INVALID),
    T(".5", "{\"a\":.5}", CM_JSON_INVALID),
    T("-.5", "{\"a\":-.5}", CM_JSON_INVALID),
    T("+1", "{\"a\":+1}", CM_JSON_INVALID),
    T("minus alone", "{\"a\":-}", CM_JSON_INVALID),
    T("double minus", "{\"a\":--1}", CM_JSON_INVALID),
    T("1e", "{\"a\":1e}", CM_JSON_INVALID),
    T("1e+", "{\"a\":1e+}", CM_JSON_INVALID),
    T("1E-", "{\"a\":1E-}", CM_JSON_INVALID),
    T("1e1.5", "{\"a\":1e1.5}", CM_JSON_INVALID),
    T("1.5.5", "{\"a\":1.5.5}", CM_JSON_INVALID),
    T("hex 0x1", "{\"a\":0x1}", CM_JSON_INVALID),
    T("number then letter", "{\"a\":1a}", CM_JSON_INVALID),
    T("raw NUL in string", "{\"a\":\"x\0y\"}", CM_JSON_INVALID),
    T("raw tab in string", "{\"a\":\"x\ty\"}", CM_JSON_INVALID),
    T("raw newline in string", "{\"a\":\"x\ny\"}", CM_JSON_INVALID),
    T("raw CR in string", "{\"a\":\"x\ry\"}", CM_JSON_INVALID),
    T("raw 0x1f in string", "{\"a\":\"x\x1Fy\"}", CM_JSON_INVALID),
    T("raw newline in key", "{\"x\ny\":1}", CM_JSON_INVALID),
    T("escape x", "{\"a\":\"\\x41\"}", CM_JSON_INVALID),
    T("escape u with 2 digits", "{\"a\":\"\\u12\"}", CM_JSON_INVALID),
    T("escape u with 3 digits then text", "{\"a\":\"\\u123x\"}",
      CM_JSON_INVALID),
    T("escape u with non-hex", "{\"a\":\"\\ug000\"}", CM_JSON_INVALID),
    T("escape U", "{\"a\":\"\\U0041\"}", CM_JSON_INVALID),
    T("escape a", "{\"a\":\"\\a\"}", CM_JSON_INVALID),
    T("escape single quote", "{\"a\":\"\\'\"}", CM_JSON_INVALID),
    T("escape 0", "{\"a\":\"\\0\"}", CM_JSON_INVALID),
    T("escape space", "{\"a\":\"\\ \"}", CM_JSON_INVALID),
    T("escape in key", "{\"\\x\":1}", CM_JSON_INVALID),
    T("backslash at end", "{\"a\":\"\\", CM_JSON_INVALID),
    T("lone high surrogate", "{\"a\":\"\\ud800\"}", CM_JSON_INVALID),
    T("lone high surrogate then text", "{\"a\":\"\\ud83dx\"}", CM_JSON_INVALID),
    T("lone low surrogate", "{\"a\":\"\\udc00\"}", CM_JSON_INVALID),
    T("lone low surrogate DFFF", "{\"a\":\"\\uDFFF\"}", CM_JSON_INVALID),
    T("high then non-low escape", "{\"a\":\"\\ud800\\u0041\"}",
      CM_JSON_INVALID),
    T("high then high", "{\"a\":\"\\ud800\\ud800\"}", CM_JSON_INVALID),
    T("high then other escape", "{\"a\":\"\\ud800\\n\"}", CM_JSON_INVALID),
    T("pair reversed", "{\"a\":\"\\ude00\\ud83d\"}", CM_JSON_INVALID),
    T("lone surrogate in key", "{\"\\ud800\":1}", CM_JSON_INVALID),
    T("UTF-8 stray continuation", "{\"a\":\"\x80\"}", CM_JSON_INVALID),
    T("UTF-8 overlong C0 80", "{\"a\":\"\xC0\x80\"}", CM_JSON_INVALID),
    T("UTF-8 overlong C1 BF", "{\"a\":\"\xC1\xBF\"}", CM_JSON_INVALID),
    T("UTF-8 overlong E0 80 80", "{\"a\":\"\xE0\x80\x80\"}", CM_JSON_INVALID),
    T("UTF-8 overlong F0 8F BF BF", "{\"a\":\"\xF0\x8F\xBF\xBF\"}",
      CM_JSON_INVALID),
    T("UTF-8 surrogate ED A0 80", "{\"a\":\"\xED\xA0\x80\"}", CM_JSON_INVALID),
    T("UTF-8 surrogate ED BF BF", "{\"a\":\"\xED\xBF\xBF\"}", CM_JSON_INVALID),
    T("UTF-8 above U+10FFFF", "{\"a\":\"\xF4\x90\x80\x80\"}", CM_JSON_INVALID),
    T("UTF-8 F5 lead", "{\"a\":\"\xF5\x80\x80\x80\"}", CM_JSON_INVALID),
    T("UTF-8 FF byte", "{\"a\":\"\xFF\"}", CM_JSON_INVALID),
    T("UTF-8 bad continuation",
      "{\"a\":\"\xE2\x82"
      "A\"}",
      CM_JSON_INVALID),
    T("UTF-8 2 bytes cut by the quote", "{\"a\":\"\xC3\"}", CM_JSON_INVALID),
    T("UTF-8 3 bytes cut by the quote", "{\"a\":\"\xE2\x82\"}",
      CM_JSON_INVALID),
    T("UTF-8 4 bytes cut by the quote", "{\"a\":\"\xF0\x9F\x98\"}",
      CM_JSON_INVALID),
    TL("UTF-8 cut by the end of the buffer", "{\"a\":\"\xE2\x82\xAC\"}", 8,
       CM_JSON_INVALID),
    T("UTF-8 invalid in key", "{\"\xC0\x80\":1}", CM_JSON_INVALID),
    T("UTF-8 outside a string", "{\"a\":1\xC2\xA0}", CM_JSON_INVALID),
    T("UTF-8 no-break space before", "\xC2\xA0{}", CM_JSON_INVALID),
    T("vertical tab is not whitespace", "\v{}", CM_JSON_INVALID),
    T("form feed is not whitespace", "{}\f", CM_JSON_INVALID),
    T("garbage after", "{}x", CM_JSON_INVALID),
    T("second object after", "{}{}", CM_JSON_INVALID),
    T("number after", "{} 1", CM_JSON_INVALID),
    T("comma after", "{},", CM_JSON_INVALID),
    T("extra closing brace", "{\"a\":1}}", CM_JSON_INVALID),
    T("closing bracket after", "{}]", CM_JSON_INVALID),
    T("NUL after", "{}\0", CM_JSON_INVALID),
    T("NUL after whitespace", "{} \0", CM_JSON_INVALID),
    T("NUL inside object", "{\0}", CM_JSON_INVALID),
    T("NUL before", "\0{}", CM_JSON_INVALID),
    T("unterminated string value", "{\"a\":\"b", CM_JSON_INVALID),
    T("unterminated string value, brace", "{\"a\":\"b}", CM_JSON_INVALID),
    T("unterminated key", "{\"a", CM_JSON_INVALID),
    T("unterminated object", "{\"a\":1", CM_JSON_INVALID),
    T("unterminated object after comma", "{\"a\":1,", CM_JSON_INVALID),
    T("open brace only", "{", CM_JSON_INVALID),
    T("unterminated nested array", "{\"a\":[1}", CM_JSON_INVALID),
    T("unterminated nested object", "{\"a\":{}", CM_JSON_INVALID),
    T("mismatched brackets", "{\"a\":[}]}", CM_JSON_INVALID),
    T("mismatched braces", "{\"a\":{]}", CM_JSON_INVALID),
    T("close brace only", "}", CM_JSON_INVALID),
    T("truncated literal tru", "{\"a\":tru}", CM_JSON_INVALID),
    T("truncated literal at end", "{\"a\":tru", CM_JSON_INVALID),
    T("truncated literal nul", "{\"a\":nul}", CM_JSON_INVALID),
    T("literal too long", "{\"a\":truex}", CM_JSON_INVALID),
    T("literal then digit", "{\"a\":false0}", CM_JSON_INVALID),
    T("capitalised True", "{\"a\":True}", CM_JSON_INVALID),
    T("capitalised NULL", "{\"a\":NULL}", CM_JSON_INVALID),
    T("capitalised FALSE", "{\"a\":FALSE}", CM_JSON_INVALID),
    T("undefined", "{\"a\":undefined}", CM_JSON_INVALID),
    T("invalid array", "[1,]", CM_JSON_INVALID),
    T("unterminated array", "[", CM_JSON_INVALID),
    T("invalid literal", "tru", CM_JSON_INVALID),
    T("invalid number", "01", CM_JSON_INVALID),
    T("unterminated string", "\"abc", CM_JSON_INVALID),
    T("two numbers", "1 2", CM_JSON_INVALID),
    T("two arrays", "[] []", CM_JSON_INVALID),
    T("array then garbage", "[1]x", CM_JSON_INVALID),
    TD("depth 4 over 3", "{\"a\":{\"b\":[[1]]}}", 3, CM_JSON_INVALID),
    TD("depth 4 over 3, arrays", "{\"a\":[[[]]]}", 3, CM_JSON_INVALID),
    TD("depth 4 over 3, objects", "{\"a\":{\"b\":{\"c\":{}}}}", 3,
       CM_JSON_INVALID),
    TD("depth 2 over 1", "{\"a\":[]}", 1, CM_JSON_INVALID),
    TD("depth 1 over 0", "{}", 0, CM_JSON_INVALID),
    TD("deep member after a shallow one", "{\"a\":[1],\"b\":[[[1]]]}", 3,
       CM_JSON_INVALID),
    TL("slice cuts the closing brace", "{\"a\":1}", 6, CM_JSON_INVALID),
    TL("slice cuts a literal", "{\"a\":true}", 8, CM_JSON_INVALID),
    TL("slice cuts a string", "{\"a\":\"bc\"}", 7, CM_JSON_INVALID),
    TL("slice cuts an escape", "{\"a\":\"\\u0041\"}", 10, CM_JSON_INVALID),
};

/*
 * Checks one table: every case returns its code; NOT_OBJECT and INVALID
 * cases before any member are not reported to the callback.
 */
static void check_scan_table(const scan_case_t *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    record_t r;
    int rc = scan_copy(cases[i].name, cases[i].text, cases[i].len,
                       cases[i].depth, &r);
    CHECK_RC(cases[i].name, rc, cases[i].rc);
    if (cases[i].rc == CM_JSON_NOT_OBJECT)
      CHECK_INT(cases[i].name, r.calls, 0);
  }
}

static void test_scan_valid(void **state) {
  (void)state;
  check_scan_table(valid_cases, COUNT(valid_cases));
}

static void test_scan_not_object(void **state) {
  (void)state;
  check_scan_table(not_object_cases, COUNT(not_object_cases));
}

static void test_scan_invalid(void **state) {
  (void)state;
  check_scan_table(invalid_cases, COUNT(invalid_cases));
}

/*
 * Every byte RFC 8259 calls a control character (U+0000 to U+001F) is
 * refused raw in a string value and in a key; space and DEL are taken.
 */
static void test_scan_control_chars(void **state) {
  (void)state;
  for (unsigned b = 0; b <= 0x7F; b++) {
    if (b > 0x20 && b != 0x7F)
      continue;
    char value[] = "{\"a\":\"x?y\"}";
    char key[] = "{\"x?y\":1}";
    value[7] = (char)b;
    key[3] = (char)b;
    int want = b < 0x20 ? CM_JSON_INVALID : CM_JSON_OK;
    char name[64];
    record_t r;
    snprintf(name, sizeof(name), "raw byte 0x%02x in a string value", b);
    CHECK_RC(name, scan_copy(name, value, sizeof(value) - 1, DEPTH, &r), want);
    snprintf(name, sizeof(name), "raw byte 0x%02x in a key", b);
    CHECK_RC(name, scan_copy(name, key, sizeof(key) - 1, DEPTH, &r), want);
  }
}

/*
 * Builds {"a":<n arrays>} in a heap block: the object plus n nested
 * arrays is n + 1 levels deep. Returns the block (caller frees), its
 * length in *len.
 */
static char *deep_text(size_t n, size_t *len) {
  static const char head[] = "{\"a\":";
  size_t hl = sizeof(head) - 1;
  *len = hl + 2 * n + 1;
  char *p = malloc(*len);
  if (p == NULL)
    fail_msg("out of memory");
  memcpy(p, head, hl);
  memset(p + hl, '[', n);
  memset(p + hl + n, ']', n);
  p[*len - 1] = '}';
  return p;
}

/*
 * Deep nesting: exactly at the limit is taken, one more refused, and a
 * text far deeper than the limit is refused (without the stack growing
 * with the text's depth).
 */
static void test_scan_deep(void **state) {
  (void)state;
  static const struct {
    const char *name;
    size_t arrays;
    unsigned depth;
    int rc;
  } cases[] = {
      {"200 levels of 200", 199, 200, CM_JSON_OK},
      {"201 levels over 200", 200, 200, CM_JSON_INVALID},
      {"100001 levels over 64", 100000, 64, CM_JSON_INVALID},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    size_t len;
    char *text = deep_text(cases[i].arrays, &len);
    record_t r;
    CHECK_RC(cases[i].name,
             scan_copy(cases[i].name, text, len, cases[i].depth, &r),
             cases[i].rc);
    free(text);
  }
}

/*
 * Property: a valid object cut anywhere before its closing brace is
 * INVALID (never OK: the object is not complete), and cut anywhere after
 * it (trailing whitespace only) is still OK. Each cut is scanned from a
 * block of exactly its length.
 */
static void test_scan_truncated(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(valid_cases); i++) {
    const scan_case_t *c = &valid_cases[i];
    size_t close = 0; /* one past the last '}' */
    for (size_t k = 0; k < c->len; k++)
      if (c->text[k] == '}')
        close = k + 1;
    assert_true(close > 0);
    for (size_t k = 0; k < c->len; k++) {
      char name[160];
      snprintf(name, sizeof(name), "%s, cut to %zu of %zu bytes", c->name, k,
               c->len);
      record_t r;
      int rc = scan_copy(name, c->text, k, c->depth, &r);
      CHECK_RC(name, rc, k < close ? CM_JSON_INVALID : CM_JSON_OK);
    }
  }
}

/* ---- 2. members --------------------------------------------------------- */

typedef struct {
  const char *key;
  cm_json_kind_t kind;
  const char *value;
  int escaped;
} want_member_t;

typedef struct {
  const char *name;
  const char *text;
  size_t n;
  want_member_t want[MAX_MEMBERS];
} member_case_t;

static const member_case_t member_cases[] = {
    {"empty object", "{}", 0, {{0}}},
    {"one number", "{\"a\":1}", 1, {{"a", CM_JSON_NUMBER, "1", 0}}},
    {"whitespace is not in the slices",
     " { \"a\" : 1 , \"b\" : \"x\" , \"c\" : [ 1 ] , \"d\" : true } ",
     4,
     {{"a", CM_JSON_NUMBER, "1", 0},
      {"b", CM_JSON_STRING, "x", 0},
      {"c", CM_JSON_ARRAY, "[ 1 ]", 0},
      {"d", CM_JSON_TRUE, "true", 0}}},
    {"every kind",
     "{\"s\":\"v\",\"n\":-12.5e3,\"t\":true,\"f\":false,\"z\":null,"
     "\"o\":{\"x\":[1, 2]},\"a\":[ 1 , {\"y\":2} ]}",
     7,
     {{"s", CM_JSON_STRING, "v", 0},
      {"n", CM_JSON_NUMBER, "-12.5e3", 0},
      {"t", CM_JSON_TRUE, "true", 0},
      {"f", CM_JSON_FALSE, "false", 0},
      {"z", CM_JSON_NULL, "null", 0},
      {"o", CM_JSON_OBJECT, "{\"x\":[1, 2]}", 0},
      {"a", CM_JSON_ARRAY, "[ 1 , {\"y\":2} ]", 0}}},
    {"numbers as written",
     "{\"a\":0,\"b\":-0,\"c\":1E+5,\"d\":0.000,\"e\":1e-5}",
     5,
     {{"a", CM_JSON_NUMBER, "0", 0},
      {"b", CM_JSON_NUMBER, "-0", 0},
      {"c", CM_JSON_NUMBER, "1E+5", 0},
      {"d", CM_JSON_NUMBER, "0.000", 0},
      {"e", CM_JSON_NUMBER, "1e-5", 0}}},
    {"number before whitespace and brace",
     "{\"a\":12 }",
     1,
     {{"a", CM_JSON_NUMBER, "12", 0}}},
    {"empty key and value", "{\"\":\"\"}", 1, {{"", CM_JSON_STRING, "", 0}}},
    {"empty containers",
     "{\"o\":{},\"a\":[]}",
     2,
     {{"o", CM_JSON_OBJECT, "{}", 0}, {"a", CM_JSON_ARRAY, "[]", 0}}},
    {"duplicate keys in order",
     "{\"a\":1,\"b\":2,\"a\":\"3\",\"a\":null}",
     4,
     {{"a", CM_JSON_NUMBER, "1", 0},
      {"b", CM_JSON_NUMBER, "2", 0},
      {"a", CM_JSON_STRING, "3", 0},
      {"a", CM_JSON_NULL, "null", 0}}},
    {"brackets inside nested strings",
     "{\"o\":{\"s\":\"}]{[\\\"\"} ,\"p\":1}",
     2,
     {{"o", CM_JSON_OBJECT, "{\"s\":\"}]{[\\\"\"}", 0},
      {"p", CM_JSON_NUMBER, "1", 0}}},
    {"escaped key", "{\"a\\nb\":1}", 1, {{"a\\nb", CM_JSON_NUMBER, "1", 1}}},
    {"escaped key, literal value",
     "{\"\\u0041\":true}",
     1,
     {{"\\u0041", CM_JSON_TRUE, "true", 1}}},
    {"escaped quote in value",
     "{\"k\":\"x\\\"y\"}",
     1,
     {{"k", CM_JSON_STRING, "x\\\"y", 1}}},
    {"escaped backslash ends value",
     "{\"k\":\"a\\\\\",\"j\":\"b\"}",
     2,
     {{"k", CM_JSON_STRING, "a\\\\", 1}, {"j", CM_JSON_STRING, "b", 0}}},
    {"surrogate pair in value",
     "{\"k\":\"\\ud83d\\ude00\"}",
     1,
     {{"k", CM_JSON_STRING, "\\ud83d\\ude00", 1}}},
    {"escaped flag is per member",
     "{\"a\":\"\\t\",\"b\":\"t\",\"\\/\":\"c\"}",
     3,
     {{"a", CM_JSON_STRING, "\\t", 1},
      {"b", CM_JSON_STRING, "t", 0},
      {"\\/", CM_JSON_STRING, "c", 1}}},
    {"raw UTF-8 is not an escape",
     "{\"\xC3\xA9\":\"\xE2\x82\xAC\xF0\x9F\x98\x80\"}",
     1,
     {{"\xC3\xA9", CM_JSON_STRING, "\xE2\x82\xAC\xF0\x9F\x98\x80", 0}}},
    {"escapes inside a nested object are not the member's",
     "{\"o\":{\"k\":\"\\n\"},\"a\":[\"\\t\"]}",
     2,
     {{"o", CM_JSON_OBJECT, "{\"k\":\"\\n\"}", 0},
      {"a", CM_JSON_ARRAY, "[\"\\t\"]", 0}}},
};

/* Returns 1 when the slice p/n holds exactly the C string s. */
static int slice_is(const char *p, size_t n, const char *s) {
  return n == strlen(s) && memcmp(p, s, n) == 0;
}

static void test_members(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(member_cases); i++) {
    const member_case_t *c = &member_cases[i];
    /* The slices point into the scanned copy: it lives until checked. */
    size_t len = strlen(c->text);
    char *buf = dup_exact(c->text, len);
    record_t r;
    memset(&r, 0, sizeof(r));
    r.buf = buf;
    r.len = len;
    r.name = c->name;
    int rc = cm_json_object_scan(buf, len, DEPTH, record_cb, &r);
    CHECK_RC(c->name, rc, CM_JSON_OK);
    CHECK_INT(c->name, r.calls, c->n);
    for (size_t j = 0; j < c->n; j++) {
      const cm_json_member_t *m = &r.seen[j];
      const want_member_t *w = &c->want[j];
      if (!slice_is(m->key, m->key_len, w->key))
        fail_msg("[%s] member %zu key = \"%.*s\", expected \"%s\"", c->name, j,
                 (int)m->key_len, m->key, w->key);
      if (m->kind != w->kind)
        fail_msg("[%s] member %zu kind = %s, expected %s", c->name, j,
                 kind_name(m->kind), kind_name(w->kind));
      if (!slice_is(m->value, m->value_len, w->value))
        fail_msg("[%s] member %zu value = \"%.*s\", expected \"%s\"", c->name,
                 j, (int)m->value_len, m->value, w->value);
      if (m->escaped != w->escaped)
        fail_msg("[%s] member %zu escaped = %d, expected %d", c->name, j,
                 m->escaped, w->escaped);
    }
    free(buf);
  }
}

/* The callback receives the ctx given to the scan, unchanged. */
static int ctx_cb(void *ctx, const cm_json_member_t *m) {
  (void)m;
  (*(int *)ctx)++;
  return 0;
}

static void test_members_ctx(void **state) {
  (void)state;
  int calls = 0;
  static const char text[] = "{\"a\":1,\"b\":2}";
  CHECK_RC("ctx passed through",
           cm_json_object_scan(text, sizeof(text) - 1, DEPTH, ctx_cb, &calls),
           CM_JSON_OK);
  CHECK_INT("ctx passed through", calls, 2);
}

/*
 * A callback returning non-zero stops the scan with CM_JSON_STOPPED after
 * exactly that many calls, whatever the non-zero value.
 */
static void test_members_stop(void **state) {
  (void)state;
  static const char four[] = "{\"a\":1,\"b\":[2],\"c\":{\"d\":3},\"e\":\"f\"}";
  static const struct {
    const char *name;
    const char *text;
    size_t stop_after;
    int stop_rc;
    int rc;
    size_t calls;
  } cases[] = {
      {"no stop", four, 0, 0, CM_JSON_OK, 4},
      {"stop at 1", four, 1, 1, CM_JSON_STOPPED, 1},
      {"stop at 2 (array)", four, 2, 1, CM_JSON_STOPPED, 2},
      {"stop at 3 (object)", four, 3, 1, CM_JSON_STOPPED, 3},
      {"stop at the last member", four, 4, 1, CM_JSON_STOPPED, 4},
      {"stop with -1", four, 2, -1, CM_JSON_STOPPED, 2},
      {"stop with 42", four, 1, 42, CM_JSON_STOPPED, 1},
      {"stop with a value equal to a return code", four, 1, CM_JSON_INVALID,
       CM_JSON_STOPPED, 1},
      {"no member, no stop", "{}", 1, 1, CM_JSON_OK, 0},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    size_t len = strlen(cases[i].text);
    char *buf = dup_exact(cases[i].text, len);
    record_t r;
    memset(&r, 0, sizeof(r));
    r.buf = buf;
    r.len = len;
    r.name = cases[i].name;
    r.stop_after = cases[i].stop_after;
    r.stop_rc = cases[i].stop_rc;
    int rc = cm_json_object_scan(buf, len, DEPTH, record_cb, &r);
    free(buf);
    CHECK_RC(cases[i].name, rc, cases[i].rc);
    CHECK_INT(cases[i].name, r.calls, cases[i].calls);
  }
}

/* ---- 3. cm_json_unescape ------------------------------------------------ */

typedef struct {
  const char *name;
  const char *in;
  size_t in_len;
  const char *out;
  size_t out_len;
} unescape_case_t;

/* A case; both sides are literals, embedded NUL bytes included. */
#define U(name, in, out)                                                       \
  { name, in, sizeof(in) - 1, out, sizeof(out) - 1 }

static const unescape_case_t unescape_cases[] = {
    U("empty", "", ""),
    U("plain text", "hello, world", "hello, world"),
    U("quote", "\\\"", "\""),
    U("backslash", "\\\\", "\\"),
    U("slash", "\\/", "/"),
    U("b", "\\b", "\b"),
    U("f", "\\f", "\f"),
    U("n", "\\n", "\n"),
    U("r", "\\r", "\r"),
    U("t", "\\t", "\t"),
    U("u0041", "\\u0041", "A"),
    U("u0000 is a NUL byte", "\\u0000", "\0"),
    U("NUL byte inside text", "a\\u0000b", "a\0b"),
    U("u001f", "\\u001f", "\x1F"),
    U("u007f", "\\u007f", "\x7F"),
    U("u0080", "\\u0080", "\xC2\x80"),
    U("u00e9", "\\u00e9", "\xC3\xA9"),
    U("u00E9 upper-case hex", "\\u00E9", "\xC3\xA9"),
    U("u07ff", "\\u07ff", "\xDF\xBF"),
    U("u0800", "\\u0800", "\xE0\xA0\x80"),
    U("u20ac", "\\u20ac", "\xE2\x82\xAC"),
    U("ud7ff", "\\ud7ff", "\xED\x9F\xBF"),
    U("ue000", "\\ue000", "\xEE\x80\x80"),
    U("uffff", "\\uffff", "\xEF\xBF\xBF"),
    U("pair ud83d ude00", "\\ud83d\\ude00", "\xF0\x9F\x98\x80"),
    U("pair uD800 uDC00", "\\uD800\\uDC00", "\xF0\x90\x80\x80"),
    U("pair uDBFF uDFFF", "\\uDBFF\\uDFFF", "\xF4\x8F\xBF\xBF"),
    U("raw UTF-8 passed through", "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80",
      "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"),
    U("escaped backslash before u", "\\\\u0041", "\\u0041"),
    U("mixed", "a\\tb\\\"c\\\\d\\/e\\u00e9f",
      "a\tb\"c\\d/e\xC3\xA9"
      "f"),
    U("every escape", "\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\ud83d\\ude00",
      "\"\\/\b\f\n\r\tA\xF0\x9F\x98\x80"),
    U("escapes side by side", "\\n\\n\\u0000\\u0000", "\n\n\0\0"),
};

static void test_unescape(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(unescape_cases); i++) {
    const unescape_case_t *c = &unescape_cases[i];
    char *in = dup_exact(c->in, c->in_len);
    /* exactly the room the header asks for */
    char *out = dup_exact(c->in, c->in_len);
    size_t n = cm_json_unescape(in, c->in_len, out);
    CHECK_INT(c->name, n, c->out_len);
    if (memcmp(out, c->out, c->out_len) != 0)
      fail_msg("[%s] decoded bytes differ", c->name);
    free(out);
    free(in);
  }
}

/* ---- 4. cm_json_number -------------------------------------------------- */

typedef enum { EXACT, POS_INF, NEG_INF, NEG_ZERO } num_check_t;

typedef struct {
  const char *name;
  const char *text;
  int rc;
  num_check_t check;
  double value; /* nearest double; the compiler rounds the literal */
} number_case_t;

static const number_case_t number_cases[] = {
    {"0", "0", 1, EXACT, 0.0},
    {"-0", "-0", 1, EXACT, 0.0},
    {"1", "1", 1, EXACT, 1.0},
    {"-42", "-42", 1, EXACT, -42.0},
    {"2^53 + 1 rounds to even", "9007199254740993", 1, EXACT,
     9007199254740992.0},
    {"INT64_MAX", "9223372036854775807", 1, EXACT, 9223372036854775807.0},
    {"INT64_MIN", "-9223372036854775808", 1, EXACT, -9223372036854775808.0},
    {"INT64_MAX + 1 fits uint64", "9223372036854775808", 1, EXACT,
     9223372036854775808.0},
    {"UINT64_MAX", "18446744073709551615", 1, EXACT, 18446744073709551615.0},
    {"20 digits fitting uint64", "12345678901234567890", 1, EXACT,
     12345678901234567890.0},
    {"2^64", "18446744073709551616", 0, EXACT, 18446744073709551616.0},
    {"20 digits over uint64", "99999999999999999999", 0, EXACT,
     99999999999999999999.0},
    {"INT64_MIN - 1", "-9223372036854775809", 0, EXACT, -9223372036854775809.0},
    {"-UINT64_MAX", "-18446744073709551615", 0, EXACT, -18446744073709551615.0},
    {"40 digits", "1234567890123456789012345678901234567890", 0, EXACT,
     1234567890123456789012345678901234567890.0},
    {"-40 digits", "-9999999999999999999999999999999999999999", 0, EXACT,
     -9999999999999999999999999999999999999999.0},
    {"1.5", "1.5", 0, EXACT, 1.5},
    {"1.0 has a fraction", "1.0", 0, EXACT, 1.0},
    {"0.1", "0.1", 0, EXACT, 0.1},
    {"-12.5e3", "-12.5e3", 0, EXACT, -12500.0},
    {"1e3 has an exponent", "1e3", 0, EXACT, 1000.0},
    {"1E+3", "1E+3", 0, EXACT, 1000.0},
    {"1e-3", "1e-3", 0, EXACT, 0.001},
    {"1e05", "1e05", 0, EXACT, 100000.0},
    {"0e0", "0e0", 0, EXACT, 0.0},
    {"100e-2", "100e-2", 0, EXACT, 1.0},
    {"pi, long fraction", "3.14159265358979323846264338327950288", 0, EXACT,
     3.14159265358979323846264338327950288},
    {"largest double", "1.7976931348623157e308", 0, EXACT,
     1.7976931348623157e308},
    {"smallest normal", "2.2250738585072014e-308", 0, EXACT,
     2.2250738585072014e-308},
    {"smallest subnormal", "4.9406564584124654e-324", 0, EXACT,
     4.9406564584124654e-324},
    {"-0.0", "-0.0", 0, NEG_ZERO, 0.0},
    {"1e400 is +infinity", "1e400", 0, POS_INF, 0.0},
    {"-1e400 is -infinity", "-1e400", 0, NEG_INF, 0.0},
    {"1e-400 is 0", "1e-400", 0, EXACT, 0.0},
    {"huge exponent", "1e999999999999999999", 0, POS_INF, 0.0},
    {"tiny exponent", "1e-999999999999999999", 0, EXACT, 0.0},
};

/*
 * Reads one number from s/len and checks it against c. Returns nothing;
 * fails the test naming the case (and how it was stored, in how).
 */
static void check_number(const number_case_t *c, const char *how, const char *s,
                         size_t len) {
  char name[160];
  snprintf(name, sizeof(name), "%s, %s", c->name, how);
  double v = -12345.678;
  int rc = cm_json_number(s, len, &v);
  CHECK_INT(name, rc, c->rc);
  switch (c->check) {
  case EXACT:
    if (!(v == c->value))
      fail_msg("[%s] value = %.17g, expected exactly %.17g", name, v, c->value);
    break;
  case POS_INF:
    if (!(isinf(v) && v > 0))
      fail_msg("[%s] value = %.17g, expected +inf", name, v);
    break;
  case NEG_INF:
    if (!(isinf(v) && v < 0))
      fail_msg("[%s] value = %.17g, expected -inf", name, v);
    break;
  case NEG_ZERO:
    if (!(v == 0.0 && signbit(v)))
      fail_msg("[%s] value = %.17g, expected -0", name, v);
    break;
  }
}

/*
 * Each number is read from a block of exactly its length, then from a
 * buffer where digits follow the slice (the slice must end at len).
 */
static void test_number(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(number_cases); i++) {
    const number_case_t *c = &number_cases[i];
    size_t len = strlen(c->text);
    char *exact = dup_exact(c->text, len);
    check_number(c, "exact block", exact, len);
    free(exact);
    char longer[128];
    snprintf(longer, sizeof(longer), "%s5e7", c->text);
    check_number(c, "digits after the slice", longer, len);
  }
}

/*
 * The length of the number at the start of a text: the RFC's grammar
 * (-? int frac? exp?, no leading zero), stopping at the first byte that
 * cannot go on; 0 for no number or one cut short. Each text is read from
 * a block of exactly its length.
 */
static void test_number_len(void **state) {
  (void)state;
  static const struct {
    const char *text;
    size_t len;
  } cases[] = {
      {"0", 1},         {"-0", 2},   {"7", 1},     {"28", 2},
      {"-12.5e3", 7},   {"1E+5", 4}, {"1e-5", 4},  {"0.000", 5},
      {"12.50E-3", 8},  {"01", 1},   {"00", 1},    {"-01", 2},
      {"1 ", 1},        {"1,", 1},   {"1}", 1},    {"1e5x", 3},
      {"", 0},          {"-", 0},    {"+1", 0},    {".5", 0},
      {"1.", 0},        {"1.e3", 0}, {"1e", 0},    {"1e+", 0},
      {"-a", 0},        {" 1", 0},   {"NaN", 0},   {"Infinity", 0},
      {"-Infinity", 0}, {"0x10", 1}, {"1.5.5", 3}, {"\"28\"", 0},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    size_t len = strlen(cases[i].text);
    char *exact = dup_exact(cases[i].text, len);
    size_t got = cm_json_number_len(exact, len);
    free(exact);
    if (got != cases[i].len)
      fail_msg("cm_json_number_len(\"%s\") = %zu, expected %zu", cases[i].text,
               got, cases[i].len);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scan_valid),
      cmocka_unit_test(test_scan_not_object),
      cmocka_unit_test(test_scan_invalid),
      cmocka_unit_test(test_scan_control_chars),
      cmocka_unit_test(test_scan_deep),
      cmocka_unit_test(test_scan_truncated),
      cmocka_unit_test(test_members),
      cmocka_unit_test(test_members_ctx),
      cmocka_unit_test(test_members_stop),
      cmocka_unit_test(test_unescape),
      cmocka_unit_test(test_number),
      cmocka_unit_test(test_number_len),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
