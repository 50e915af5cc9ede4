/* SPDX-License-Identifier: MIT */
/*
 * test_cm_ring.c: the bounded FIFO ring shared by vacquery's hand-off and
 * write_elasticsearch's queue: order, full, wrap-around, growth up to the
 * bound, overflow reported (and counted by the caller) and bad sizes.
 */
#include "common/cm_ring.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cm_test.h"

/* Pops everything from r (ints) and checks it is want[0..n-1]. */
static void expect_ints(cm_ring_t *r, const int *want, size_t n) {
  int got[64];
  size_t k = cm_ring_pop(r, got, COUNT(got));
  CHECK_INT("popped", k, n);
  for (size_t i = 0; i < n; i++)
    if (got[i] != want[i])
      fail_msg("item %zu = %d, expected %d", i, got[i], want[i]);
  CHECK_INT("empty after", cm_ring_len(r), 0);
}

static void test_full(void **state) {
  (void)state;
  cm_ring_t r;
  assert_int_equal(cm_ring_init(&r, sizeof(int), 4, 4), 0);
  const int in[] = {10, 11, 12, 13, 14, 15};
  CHECK_INT("takes what fits", cm_ring_push(&r, in, 6), 4);
  CHECK_INT("len", cm_ring_len(&r), 4);
  CHECK_INT("full takes none", cm_ring_push(&r, in + 4, 2), 0);
  expect_ints(&r, (const int[]){10, 11, 12, 13}, 4);
  CHECK_INT("pop empty", cm_ring_pop(&r, (int[1]){0}, 1), 0);
  CHECK_INT("room again", cm_ring_push(&r, in + 4, 2), 2);
  expect_ints(&r, (const int[]){14, 15}, 2);
  cm_ring_free(&r);
}

static void test_wrap_around(void **state) {
  (void)state;
  cm_ring_t r;
  assert_int_equal(cm_ring_init(&r, sizeof(int), 4, 4), 0);
  int out[4];
  CHECK_INT("push 3", cm_ring_push(&r, (const int[]){1, 2, 3}, 3), 3);
  CHECK_INT("pop 2", cm_ring_pop(&r, out, 2), 2);
  CHECK_INT("first", out[0], 1);
  CHECK_INT("second", out[1], 2);
  /* head is at slot 2: these go to slots 3, 0 and 1. */
  CHECK_INT("push 3 across the end",
            cm_ring_push(&r, (const int[]){4, 5, 6}, 3), 3);
  CHECK_INT("now full", cm_ring_push(&r, (const int[]){7}, 1), 0);
  expect_ints(&r, (const int[]){3, 4, 5, 6}, 4);
  /* Many laps, one item in flight at a time. */
  for (int i = 0; i < 37; i++) {
    CHECK_INT("lap push", cm_ring_push(&r, &i, 1), 1);
    CHECK_INT("lap pop", cm_ring_pop(&r, out, 4), 1);
    CHECK_INT("lap item", out[0], i);
  }
  cm_ring_free(&r);
}

/* The receive thread's pattern: push a batch, count what did not fit. */
static void test_drop_counted(void **state) {
  (void)state;
  cm_ring_t r;
  assert_int_equal(cm_ring_init(&r, sizeof(int), 5, 5), 0);
  size_t dropped = 0;
  int out[5];
  dropped += 3 - cm_ring_push(&r, (const int[]){1, 2, 3}, 3);
  CHECK_INT("none dropped yet", dropped, 0);
  dropped += 4 - cm_ring_push(&r, (const int[]){4, 5, 6, 7}, 4);
  CHECK_INT("6 and 7 dropped", dropped, 2);
  CHECK_INT("pop 1", cm_ring_pop(&r, out, 1), 1);
  dropped += 2 - cm_ring_push(&r, (const int[]){8, 9}, 2);
  CHECK_INT("9 dropped too", dropped, 3);
  expect_ints(&r, (const int[]){2, 3, 4, 5, 8}, 5);
  cm_ring_free(&r);
}

/* Storage starts small and doubles up to the bound, also while the items
 * wrap around the end. */
static void test_grows_to_the_bound(void **state) {
  (void)state;
  cm_ring_t r;
  assert_int_equal(cm_ring_init(&r, sizeof(int), 9, 2), 0);
  int out[9];
  CHECK_INT("push 2", cm_ring_push(&r, (const int[]){1, 2}, 2), 2);
  CHECK_INT("pop 1", cm_ring_pop(&r, out, 1), 1);
  CHECK_INT("push past the reserve, wrapped",
            cm_ring_push(&r, (const int[]){3, 4, 5, 6, 7, 8, 9, 10, 11}, 9), 8);
  CHECK_INT("len is the bound", cm_ring_len(&r), 9);
  CHECK_INT("storage stops at the bound", r.cap, 9);
  expect_ints(&r, (const int[]){2, 3, 4, 5, 6, 7, 8, 9, 10}, 9);
  cm_ring_free(&r);
}

/* Items of any fixed size, copied by value (es_sender keeps structs). */
typedef struct {
  char *p;
  size_t len;
  char tag[9];
} item_t;

static void test_struct_items(void **state) {
  (void)state;
  cm_ring_t r;
  assert_int_equal(cm_ring_init(&r, sizeof(item_t), 3, 1), 0);
  item_t in[3] = {{NULL, 1, "one"}, {NULL, 2, "two"}, {NULL, 3, "three"}};
  CHECK_INT("push", cm_ring_push(&r, in, 3), 3);
  memset(in, 0, sizeof(in)); /* the ring holds copies */
  item_t out[3];
  CHECK_INT("pop", cm_ring_pop(&r, out, 3), 3);
  CHECK_CSTR("tag 0", out[0].tag, "one");
  CHECK_CSTR("tag 2", out[2].tag, "three");
  CHECK_INT("len 1", out[1].len, 2);
  cm_ring_free(&r);
  CHECK_INT("freed is empty", cm_ring_len(&r), 0);
}

static void test_bad_sizes(void **state) {
  (void)state;
  cm_ring_t r;
  CHECK_INT("item size 0", cm_ring_init(&r, 0, 4, 4), -1);
  CHECK_INT("max 0", cm_ring_init(&r, sizeof(int), 0, 4), -1);
  CHECK_INT("reserve overflows", cm_ring_init(&r, 16, SIZE_MAX, SIZE_MAX / 8),
            -1);
  CHECK_INT("reserve 0 still works", cm_ring_init(&r, sizeof(int), 3, 0), 0);
  CHECK_INT("push", cm_ring_push(&r, (const int[]){1, 2, 3, 4}, 4), 3);
  expect_ints(&r, (const int[]){1, 2, 3}, 3);
  cm_ring_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full),
      cmocka_unit_test(test_wrap_around),
      cmocka_unit_test(test_drop_counted),
      cmocka_unit_test(test_grows_to_the_bound),
      cmocka_unit_test(test_struct_items),
      cmocka_unit_test(test_bad_sizes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
