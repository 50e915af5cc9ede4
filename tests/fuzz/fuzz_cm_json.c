/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cm_json.c: libFuzzer target that checks cm_json against json-c.
 *
 * json-c's strict mode is more lenient than RFC 8259 in places (raw control
 * characters, lone surrogates, leading zeros), so it can only be the oracle
 * one way: whatever cm_json accepts as an object, json-c must accept too,
 * with the same top-level keys, the same kind of value under each, the same
 * decoded strings and the same numbers (json-c saturates integers beyond
 * 64 bits: those are not compared). A mismatch aborts. Build with `make fuzz`.
 */
#include "common/cm_json.h"

#include <json-c/json.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper than cm_json is asked to go, so that depth never disagrees. */
#define FZ_DEPTH 8

/* The json-c type a member of this kind must have. */
static int fz_same_type(cm_json_kind_t k, json_type t) {
  switch (k) {
  case CM_JSON_STRING:
    return t == json_type_string;
  case CM_JSON_NUMBER:
    return t == json_type_int || t == json_type_double;
  case CM_JSON_TRUE:
  case CM_JSON_FALSE:
    return t == json_type_boolean;
  case CM_JSON_NULL:
    return t == json_type_null;
  case CM_JSON_OBJECT:
    return t == json_type_object;
  case CM_JSON_ARRAY:
    return t == json_type_array;
  }
  return 0;
}

/* Aborts with a message: libFuzzer keeps the input. */
static void fz_fail(const char *what, const char *key, size_t len) {
  fprintf(stderr, "cm_json and json-c disagree: %s (key %.*s)\n", what,
          (int)len, key);
  abort();
}

/* The members of one scan, keys decoded. */
typedef struct {
  cm_json_member_t m[4096];
  char *key[4096];
  size_t key_len[4096];
  size_t num;
} fz_members_t;

/* cm_json_member_cb: keeps one member (the list is long enough for the
 * -max_len the target runs with; more members are not compared). */
static int fz_collect(void *ctx, const cm_json_member_t *m) {
  fz_members_t *f = ctx;
  if (f->num == sizeof(f->m) / sizeof(f->m[0]))
    return 0;
  char *key = malloc(m->key_len + 1);
  size_t n = cm_json_unescape(m->key, m->key_len, key);
  key[n] = '\0';
  f->m[f->num] = *m;
  f->key[f->num] = key;
  f->key_len[f->num++] = n;
  return 0;
}

/* Checks member i, the last of its key, against json-c's value v. */
static void fz_compare(const fz_members_t *f, size_t i, json_object *v) {
  const cm_json_member_t *m = &f->m[i];
  const char *key = f->key[i];
  size_t klen = f->key_len[i];
  if (!fz_same_type(m->kind, json_object_get_type(v)))
    fz_fail("type", key, klen);
  if (m->kind == CM_JSON_STRING) {
    char *val = malloc(m->value_len + 1);
    size_t n = cm_json_unescape(m->value, m->value_len, val);
    if ((size_t)json_object_get_string_len(v) != n ||
        memcmp(json_object_get_string(v), val, n) != 0)
      fz_fail("string value", key, klen);
    free(val);
  } else if (m->kind == CM_JSON_NUMBER) {
    double d;
    int integer = cm_json_number(m->value, m->value_len, &d);
    double j = json_object_get_type(v) == json_type_double
                   ? json_object_get_double(v)
               : d >= 0 ? (double)json_object_get_uint64(v)
                        : (double)json_object_get_int64(v);
    if (integer && json_object_get_type(v) != json_type_int)
      fz_fail("integer read as a double", key, klen);
    /* json-c saturates integers beyond 64 bits: compare the others. */
    if ((integer || json_object_get_type(v) == json_type_double) && j != d &&
        !(j != j && d != d))
      fz_fail("number value", key, klen);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size > 0 ? size : 1); /* exactly size bytes */
  if (size > 0)
    memcpy(buf, data, size);
  static fz_members_t f;
  f.num = 0;
  int r = cm_json_object_scan(buf, size, FZ_DEPTH, fz_collect, &f);
  if (r == CM_JSON_OK || r == CM_JSON_NOT_OBJECT) {
    json_tokener *tok = json_tokener_new_ex(FZ_DEPTH + 2);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tok, buf, (int)size);
    if (root == NULL && json_tokener_get_error(tok) == json_tokener_continue)
      root = json_tokener_parse_ex(tok, "", 1);
    enum json_tokener_error e = json_tokener_get_error(tok);
    if (e != json_tokener_success)
      fz_fail(json_tokener_error_desc(e), "", 0);
    int object = json_object_get_type(root) == json_type_object;
    if (object != (r == CM_JSON_OK))
      fz_fail("object or not", "", 0);
    for (size_t i = 0; object && i < f.num; i++) {
      int last = memchr(f.key[i], '\0', f.key_len[i]) == NULL;
      for (size_t k = i + 1; last && k < f.num; k++)
        last = f.key_len[k] != f.key_len[i] ||
               memcmp(f.key[k], f.key[i], f.key_len[i]) != 0;
      json_object *v = NULL;
      if (last && !json_object_object_get_ex(root, f.key[i], &v))
        fz_fail("key missing in json-c", f.key[i], f.key_len[i]);
      if (last)
        fz_compare(&f, i, v);
    }
    json_object_put(root);
    json_tokener_free(tok);
  }
  for (size_t i = 0; i < f.num; i++)
    free(f.key[i]);
  free(buf);
  return 0;
}
