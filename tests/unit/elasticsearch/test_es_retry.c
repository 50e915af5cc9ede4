/* SPDX-License-Identifier: MIT */
/*
 * test_es_retry.c: unit tests for src/elasticsearch/es_retry.c: backoff with
 * full jitter.
 */
#include "elasticsearch/es_retry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cm_test.h"

static void test_delay_table(void **state) {
  (void)state;
  const es_retry_t p = {.initial = 0.5, .max = 30, .max_retries = 0};
  static const struct {
    unsigned attempt;
    double u, expect;
  } rows[] = {
      {0, 0.5, 0.25},
      {0, 0.999999, 0.4999995},
      {1, 0.5, 0.5},
      {2, 0.5, 1.0},
      {5, 1.0 - 1e-12, 16},
      {6, 0.5, 15},
      {7, 0.5, 15},
      {1000, 0.5, 15},
      {3, 0, 0},
      {3, -1, 0},
      {3, NAN, 0},
      {3, 2, 3.999999996},
      {4000000000u, 0.25, 7.5},
  };
  for (size_t i = 0; i < COUNT(rows); i++) {
    char ctx[64];
    snprintf(ctx, sizeof(ctx), "attempt %u u %g", rows[i].attempt, rows[i].u);
    double d = es_retry_delay(&p, rows[i].attempt, rows[i].u);
    if (fabs(d - rows[i].expect) > 1e-6)
      fail_msg("[%s] delay %.9g, expected %.9g", ctx, d, rows[i].expect);
    if (d > p.max || d < 0)
      fail_msg("[%s] delay %g outside [0, max]", ctx, d);
  }
}

static void test_give_up(void **state) {
  (void)state;
  const es_retry_t forever = {.initial = 1, .max = 2, .max_retries = 0};
  const es_retry_t three = {.initial = 1, .max = 2, .max_retries = 3};
  assert_false(es_retry_give_up(&forever, 0));
  assert_false(es_retry_give_up(&forever, 1000000));
  assert_false(es_retry_give_up(&three, 2));
  assert_true(es_retry_give_up(&three, 3));
  assert_true(es_retry_give_up(&three, 4));
}

static void test_random_uniform_and_deterministic(void **state) {
  (void)state;
  uint64_t s1 = 42, s2 = 42, zero = 0;
  double sum = 0;
  int low = 0;
  for (int i = 0; i < 100000; i++) {
    double a = es_retry_random(&s1), b = es_retry_random(&s2);
    assert_true(a == b);
    assert_true(a >= 0 && a < 1);
    sum += a;
    low += a < 0.5;
  }
  CHECK_NUM("mean", fabs(sum / 100000 - 0.5) < 0.01, 1);
  CHECK_NUM("half below 0.5", fabs(low / 100000.0 - 0.5) < 0.01, 1);
  double z = es_retry_random(&zero); /* zero state gets a fixed seed */
  assert_true(zero != 0);
  assert_true(z >= 0 && z < 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delay_table),
      cmocka_unit_test(test_give_up),
      cmocka_unit_test(test_random_uniform_and_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
