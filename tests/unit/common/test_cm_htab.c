/* SPDX-License-Identifier: MIT */
/*
 * test_htab.c: unit tests for src/cm_htab.c: the open-addressing table
 * from byte strings to pointers.
 */
#include "common/cm_htab.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cm_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANY 100000

/* A value that carries its own key, as the table's users do. */
typedef struct {
  size_t index;
  size_t len;
  char key[24];
} item_t;

static int freed;
static void count_free(void *v) {
  freed++;
  free(v);
}

static item_t *mk_item(size_t index, const char *fmt) {
  item_t *it = calloc(1, sizeof(*it));
  assert_non_null(it);
  it->index = index;
  it->len = (size_t)snprintf(it->key, sizeof(it->key), fmt, index);
  return it;
}

static void test_put_get_next_many_keys(void **state) {
  (void)state;
  cm_htab_t *h = cm_htab_create();
  assert_non_null(h);
  for (size_t i = 0; i < MANY; i++) {
    item_t *it = mk_item(i, "factory-%zu");
    assert_int_equal(cm_htab_put(h, it->key, it->len, it), 0);
    if (cm_htab_count(h) != i + 1)
      fail_msg("count %zu after %zu puts", cm_htab_count(h), i + 1);
  }
  /* every key finds its own value */
  for (size_t i = 0; i < MANY; i++) {
    char key[24];
    int len = snprintf(key, sizeof(key), "factory-%zu", i);
    item_t *it = cm_htab_get(h, key, (size_t)len);
    if (it == NULL || it->index != i)
      fail_msg("key %s: got %s", key, it ? it->key : "NULL");
  }
  /* absent keys: other numbers, prefixes, extensions */
  static const char *const absent[] = {
      "factory-100000", "factory-",  "factory", "factory-00",
      "factory-1 ",     "Factory-1", ""};
  for (size_t i = 0; i < COUNT(absent); i++)
    if (cm_htab_get(h, absent[i], strlen(absent[i])) != NULL)
      fail_msg("absent key \"%s\" found", absent[i]);
  /* the key "factory-12" looked up with a shorter length is "factory-1" */
  item_t *one = cm_htab_get(h, "factory-12", 9);
  assert_non_null(one);
  assert_int_equal(one->index, 1);

  /* iteration visits each value exactly once */
  unsigned char *seen = calloc(MANY, 1);
  assert_non_null(seen);
  size_t iter = 0, n = 0;
  item_t *it;
  while ((it = cm_htab_next(h, &iter)) != NULL) {
    if (it->index >= MANY || seen[it->index]++)
      fail_msg("iteration returned index %zu twice or out of range", it->index);
    n++;
  }
  assert_int_equal(n, MANY);
  assert_null(cm_htab_next(h, &iter)); /* stays at the end */
  free(seen);

  freed = 0;
  cm_htab_destroy(h, count_free);
  assert_int_equal(freed, MANY);
}

/* Keys are byte strings: NULs inside and the length both matter. */
static void test_binary_keys_with_nul_bytes(void **state) {
  (void)state;
  static const struct {
    const char *bytes;
    size_t len;
  } keys[] = {
      {"a\0b", 3},
      {"a\0c", 3},
      {"a", 1},
      {"a\0", 2},
      {"", 0},
      {"\0", 1},
      {"\0\0", 2},
      {"\0\0\0", 3},
      {"b\0a", 3},
      {"\xff\0\xfe", 3},
      {"\x04\xc0\x00\x02\x01", 5}, /* an IPv4 source key of vq_sources */
      {"\x04\xc0\x00\x02\x02", 5},
  };
  cm_htab_t *h = cm_htab_create();
  int vals[COUNT(keys)];
  for (size_t i = 0; i < COUNT(keys); i++) {
    vals[i] = (int)i;
    assert_int_equal(cm_htab_put(h, keys[i].bytes, keys[i].len, &vals[i]), 0);
  }
  assert_int_equal(cm_htab_count(h), COUNT(keys));
  for (size_t i = 0; i < COUNT(keys); i++) {
    /* look up through a separate copy: equality is by content */
    char copy[8];
    memcpy(copy, keys[i].bytes, keys[i].len);
    int *v = cm_htab_get(h, copy, keys[i].len);
    if (v != &vals[i])
      fail_msg("binary key %zu (len %zu) found %d", i, keys[i].len,
               v ? *v : -1);
  }
  assert_null(cm_htab_get(h, "a\0d", 3));
  assert_null(cm_htab_get(h, "\0\0\0\0", 4));
  cm_htab_destroy(h, NULL); /* values are not heap objects here */
}

static void test_clear_empties_and_table_is_reusable(void **state) {
  (void)state;
  cm_htab_t *h = cm_htab_create();
  for (size_t i = 0; i < 1000; i++) {
    item_t *it = mk_item(i, "k%zu");
    assert_int_equal(cm_htab_put(h, it->key, it->len, it), 0);
  }
  freed = 0;
  cm_htab_clear(h, count_free);
  assert_int_equal(freed, 1000);
  assert_int_equal(cm_htab_count(h), 0);
  assert_null(cm_htab_get(h, "k1", 2));
  size_t iter = 0;
  assert_null(cm_htab_next(h, &iter));

  /* reuse after clear */
  for (size_t i = 0; i < 50; i++) {
    item_t *it = mk_item(i, "again%zu");
    assert_int_equal(cm_htab_put(h, it->key, it->len, it), 0);
  }
  assert_int_equal(cm_htab_count(h), 50);
  item_t *it = cm_htab_get(h, "again49", 7);
  assert_non_null(it);
  assert_int_equal(it->index, 49);
  assert_null(cm_htab_get(h, "k49", 3));

  /* clear without a free function leaves the values alone */
  item_t *keep[50];
  iter = 0;
  size_t n = 0;
  while ((it = cm_htab_next(h, &iter)) != NULL)
    keep[n++] = it;
  assert_int_equal(n, 50);
  cm_htab_clear(h, NULL);
  assert_int_equal(cm_htab_count(h), 0);
  for (size_t i = 0; i < n; i++)
    free(keep[i]); /* still valid: ASan would flag a double free */
  freed = 0;
  cm_htab_destroy(h, count_free);
  assert_int_equal(freed, 0);
}

static void test_empty_table(void **state) {
  (void)state;
  cm_htab_t *h = cm_htab_create();
  assert_int_equal(cm_htab_count(h), 0);
  assert_null(cm_htab_get(h, "x", 1));
  assert_null(cm_htab_get(h, "", 0));
  size_t iter = 0;
  assert_null(cm_htab_next(h, &iter));
  cm_htab_destroy(h, count_free);
  cm_htab_destroy(NULL, NULL);
}

/* FNV-1a 64-bit reference values. */
static void test_hash_is_fnv1a_64(void **state) {
  (void)state;
  static const struct {
    const char *s;
    size_t len;
    uint64_t h;
  } cases[] = {
      {"", 0, 0xcbf29ce484222325ULL},
      {"a", 1, 0xaf63dc4c8601ec8cULL},
      {"foobar", 6, 0x85944171f73967e8ULL},
      {"\0", 1, 0xaf63bd4c8601b7dfULL},
  };
  for (size_t i = 0; i < COUNT(cases); i++)
    if (cm_hash(cases[i].s, cases[i].len) != cases[i].h)
      fail_msg("hash of case %zu = %016llx, expected %016llx", i,
               (unsigned long long)cm_hash(cases[i].s, cases[i].len),
               (unsigned long long)cases[i].h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_get_next_many_keys),
      cmocka_unit_test(test_binary_keys_with_nul_bytes),
      cmocka_unit_test(test_clear_empties_and_table_is_reusable),
      cmocka_unit_test(test_empty_table),
      cmocka_unit_test(test_hash_is_fnv1a_64),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
