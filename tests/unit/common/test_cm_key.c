/* SPDX-License-Identifier: MIT */
/*
 * test_cm_key.c: composite keys (joined with '/' or NUL), entries with the
 * key inline, and the doubling array.
 */
#include "common/cm_key.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cm_test.h"

static void test_join(void **state) {
  (void)state;
  char buf[16];
  const char *three[] = {"site", "sp.f", "ti"};
  CHECK_INT("slash", cm_key_join(buf, sizeof(buf), three, NULL, 3, '/'), 12);
  CHECK_CSTR("slash", buf, "site/sp.f/ti");
  CHECK_INT("NUL", cm_key_join(buf, sizeof(buf), three, NULL, 3, '\0'), 12);
  assert_memory_equal(buf, "site\0sp.f\0ti", 13);
  const size_t lens[] = {2, 1, 0};
  CHECK_INT("slices", cm_key_join(buf, sizeof(buf), three, lens, 3, '/'), 5);
  CHECK_CSTR("slices", buf, "si/s/");
  CHECK_INT("exactly fits", cm_key_join(buf, 13, three, NULL, 3, '/'), 12);
  CHECK_INT("one short", cm_key_join(buf, 12, three, NULL, 3, '/'), -1);
  CHECK_INT("none", cm_key_join(buf, sizeof(buf), three, NULL, 0, '/'), 0);
  CHECK_CSTR("none", buf, "");
  CHECK_INT("size 0", cm_key_join(buf, 0, three, NULL, 0, '/'), -1);
}

typedef struct {
  int value;
  char key[];
} entry_t;

static void test_entry(void **state) {
  (void)state;
  entry_t *e =
      cm_key_entry_new(sizeof(entry_t), "a\0b", 3, NULL, NULL, 0, NULL);
  assert_non_null(e);
  CHECK_INT("zeroed", e->value, 0);
  assert_memory_equal(e->key, "a\0b\0", 4);
  free(e);
  const char *strs[3] = {"site", "xyz", ""}, *out[3];
  const size_t lens[3] = {4, 2, 0};
  e = cm_key_entry_new(sizeof(entry_t), "k", 1, strs, lens, 3, out);
  assert_non_null(e);
  assert_memory_equal(e->key, "k\0site\0xy\0\0", 11);
  CHECK_CSTR("first", out[0], "site");
  CHECK_CSTR("cut to its length", out[1], "xy");
  CHECK_CSTR("empty", out[2], "");
  CHECK_INT("inside the block", out[2] == e->key + 10, 1);
  free(e);
}

static void test_vec(void **state) {
  (void)state;
  int *v = NULL;
  size_t cap = 0;
  for (size_t i = 0; i < 100; i++) {
    assert_int_equal(cm_vec_reserve((void **)&v, &cap, i + 1, sizeof(*v)), 0);
    v[i] = (int)i;
  }
  CHECK_INT("capacity doubles from 4", cap, 128);
  CHECK_INT("contents kept", v[99] + v[0] + v[64], 99 + 0 + 64);
  CHECK_INT("no growth needed", cm_vec_reserve((void **)&v, &cap, 10, 4), 0);
  CHECK_INT("same", cap, 128);
  CHECK_INT("overflow", cm_vec_reserve((void **)&v, &cap, SIZE_MAX, 8), -1);
  CHECK_INT("unchanged", cap, 128);
  free(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_join),
      cmocka_unit_test(test_entry),
      cmocka_unit_test(test_vec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
