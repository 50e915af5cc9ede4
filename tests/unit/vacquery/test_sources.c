/* SPDX-License-Identifier: MIT */
/*
 * test_sources.c: unit tests for src/vacquery/vq_sources.c: per-source token
 * buckets with explicit times, log limiting, and the bounded table.
 */
#include "vacquery/vq_sources.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vq_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Up to 8 addresses alive at once, each with its own storage. */
static const struct sockaddr *sa(const char *a, unsigned port) {
  static struct sockaddr_storage ss[8];
  static int next;
  struct sockaddr_storage *s = &ss[next++ % 8];
  memset(s, 0, sizeof(*s));
  struct sockaddr_in *in = (struct sockaddr_in *)s;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)s;
  if (inet_pton(AF_INET, a, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
  } else if (inet_pton(AF_INET6, a, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
  } else {
    fail_msg("bad test address %s", a);
  }
  return (const struct sockaddr *)s;
}

/* One call and what it must return. */
typedef struct {
  const char *src;
  double t;
  int expect;
} step_t;

static void run_allow(vq_sources_t *s, const char *name, const step_t *steps,
                      size_t n) {
  for (size_t i = 0; i < n; i++) {
    int got = vq_sources_allow(s, sa(steps[i].src, 1000), steps[i].t);
    if (got != steps[i].expect)
      fail_msg("[%s] step %zu: allow(%s, t=%g) = %d, expected %d", name, i,
               steps[i].src, steps[i].t, got, steps[i].expect);
  }
}

/* Rate 1/s, burst 3: three at once, then one per second. */
static void test_token_bucket_burst_then_refill(void **state) {
  (void)state;
  vq_sources_t *s = vq_sources_create(100, 1.0, 3);
  assert_non_null(s);
  static const step_t steps[] =
      {
          {"192.0.2.1", 100, 1},  {"192.0.2.1", 100, 1},
          {"192.0.2.1", 100, 1},  {"192.0.2.1", 100, 0},   /* burst used up */
          {"192.0.2.1", 100, 0},  {"192.0.2.1", 100.5, 0}, /* half a token */
          {"192.0.2.1", 101, 1}, /* 0.5 + 0.5 = one token */
          {"192.0.2.1", 101, 0},  {"192.0.2.1", 102, 1},
          {"192.0.2.1", 103, 1},  {"192.0.2.1", 103, 0},
          {"192.0.2.1", 1000, 1}, /* long pause: refilled to the burst only */
          {"192.0.2.1", 1000, 1}, {"192.0.2.1", 1000, 1},
          {"192.0.2.1", 1000, 0},
      };
  run_allow(s, "rate 1 burst 3", steps, COUNT(steps));
  vq_sources_destroy(s);
}

static void test_token_bucket_fractional_rate(void **state) {
  (void)state;
  vq_sources_t *s = vq_sources_create(100, 0.5, 1);
  static const step_t steps[] = {
      {"2001:db8::1", 0, 1}, {"2001:db8::1", 1, 0}, {"2001:db8::1", 1.9, 0},
      {"2001:db8::1", 2, 1}, {"2001:db8::1", 3, 0}, {"2001:db8::1", 4, 1},
  };
  run_allow(s, "rate 0.5 burst 1", steps, COUNT(steps));
  vq_sources_destroy(s);
}

/* A high rate: 100/s with a burst of 10 admits ~100 per second. */
static void test_token_bucket_high_rate(void **state) {
  (void)state;
  vq_sources_t *s = vq_sources_create(100, 100, 10);
  int ok = 0;
  for (int i = 0; i < 1000; i++) /* 1000 datagrams over 1 s */
    ok += vq_sources_allow(s, sa("192.0.2.9", 5), 50 + i * 0.001);
  /* 10 burst + 100 * 0.999 s of refill */
  assert_in_range(ok, 108, 111);
  vq_sources_destroy(s);
}

/* A burst below 1 still lets one datagram through. */
static void test_burst_below_one_is_one(void **state) {
  (void)state;
  vq_sources_t *s = vq_sources_create(100, 1, 0);
  static const step_t steps[] = {
      {"192.0.2.1", 10, 1}, {"192.0.2.1", 10, 0}, {"192.0.2.1", 11, 1}};
  run_allow(s, "burst 0", steps, COUNT(steps));
  vq_sources_destroy(s);
}

/* Sources have separate buckets; the port is not part of a source; IPv6
 * and IPv4 addresses are different sources. */
static void test_sources_are_independent(void **state) {
  (void)state;
  vq_sources_t *s = vq_sources_create(100, 1, 2);
  static const step_t steps[] = {
      {"192.0.2.1", 10, 1},   {"192.0.2.1", 10, 1},   {"192.0.2.1", 10, 0},
      {"192.0.2.2", 10, 1},   {"192.0.2.2", 10, 1},   {"192.0.2.2", 10, 0},
      {"2001:db8::1", 10, 1}, {"2001:db8::1", 10, 1}, {"2001:db8::1", 10, 0},
      {"2001:db8::2", 10, 1},
  };
  run_allow(s, "independent", steps, COUNT(steps));
  /* another port of an exhausted address is the same source */
  assert_int_equal(vq_sources_allow(s, sa("192.0.2.1", 9999), 10), 0);
  assert_int_equal(vq_sources_allow(s, sa("2001:db8::1", 1), 10), 0);
  assert_int_equal(vq_sources_resets(s), 0);
  vq_sources_destroy(s);
}

static void test_rate_zero_is_unlimited(void **state) {
  (void)state;
  vq_sources_t *s = vq_sources_create(4, 0, 1);
  for (int i = 0; i < 10000; i++) {
    char a[32];
    snprintf(a, sizeof(a), "10.0.%d.%d", (i / 256) % 256, i % 256);
    if (vq_sources_allow(s, sa(a, 1), 5) != 1)
      fail_msg("rate 0 refused datagram %d", i);
    if (vq_sources_allow(s, sa("192.0.2.1", 1), 5) != 1)
      fail_msg("rate 0 refused repeat %d", i);
  }
  /* unlimited sources are not even tracked */
  assert_int_equal(vq_sources_resets(s), 0);
  vq_sources_destroy(s);
}

/* ---- log limiting ------------------------------------------------------ */

static void test_may_log_once_per_interval_per_source(void **state) {
  (void)state;
  vq_sources_t *s = vq_sources_create(100, 0, 1);
  static const struct {
    const char *src;
    double t;
    int expect;
  } steps[] = {
      {"192.0.2.1", 0, 1},    {"192.0.2.1", 0, 0},
      {"192.0.2.1", 30, 0},   {"192.0.2.2", 30, 1}, /* another source */
      {"2001:db8::1", 30, 1}, {"192.0.2.1", 59.9, 0},
      {"192.0.2.1", 60, 1}, /* a full interval later */
      {"192.0.2.1", 61, 0},   {"192.0.2.2", 61, 0},
      {"192.0.2.2", 90, 1},   {"192.0.2.1", 119, 0},
      {"192.0.2.1", 1000, 1}, {"2001:db8::1", 1000, 1},
  };
  for (size_t i = 0; i < COUNT(steps); i++) {
    int got = vq_sources_may_log(s, sa(steps[i].src, 7), steps[i].t, 60);
    if (got != steps[i].expect)
      fail_msg("step %zu: may_log(%s, t=%g) = %d, expected %d", i, steps[i].src,
               steps[i].t, got, steps[i].expect);
  }
  vq_sources_destroy(s);
}

/* Logging and rate limiting of one source do not disturb each other. */
static void test_may_log_and_allow_share_a_source(void **state) {
  (void)state;
  vq_sources_t *s = vq_sources_create(100, 1, 1);
  assert_int_equal(vq_sources_allow(s, sa("192.0.2.1", 1), 10), 1);
  assert_int_equal(vq_sources_allow(s, sa("192.0.2.1", 1), 10), 0);
  assert_int_equal(vq_sources_may_log(s, sa("192.0.2.1", 1), 10, 60), 1);
  assert_int_equal(vq_sources_allow(s, sa("192.0.2.1", 1), 10), 0);
  assert_int_equal(vq_sources_may_log(s, sa("192.0.2.1", 1), 11, 60), 0);
  assert_int_equal(vq_sources_allow(s, sa("192.0.2.1", 1), 11), 1);
  vq_sources_destroy(s);
}

/* ---- bounded table ----------------------------------------------------- */

static void test_table_resets_when_full(void **state) {
  (void)state;
  vq_sources_t *s = vq_sources_create(3, 1, 1);
  static const struct {
    const char *src;
    int expect;
    size_t resets;
  } steps[] = {
      {"192.0.2.1", 1, 0}, {"192.0.2.1", 0, 0}, /* A exhausted */
      {"192.0.2.2", 1, 0}, {"192.0.2.3", 1, 0}, /* table holds 3 */
      {"192.0.2.1", 0, 0}, /* A still known and still exhausted */
      {"192.0.2.4", 1, 1}, /* a 4th source empties the table */
      {"192.0.2.1", 1, 1}, /* A starts again with a full bucket */
      {"192.0.2.1", 0, 1}, {"192.0.2.4", 0, 1}, /* D kept after the reset */
      {"192.0.2.5", 1, 1},                      /* table: D, A, E */
      {"192.0.2.6", 1, 2},                      /* full again */
  };
  for (size_t i = 0; i < COUNT(steps); i++) {
    int got = vq_sources_allow(s, sa(steps[i].src, 1), 50);
    if (got != steps[i].expect)
      fail_msg("step %zu (%s): allow = %d, expected %d", i, steps[i].src, got,
               steps[i].expect);
    if (vq_sources_resets(s) != steps[i].resets)
      fail_msg("step %zu (%s): resets = %zu, expected %zu", i, steps[i].src,
               vq_sources_resets(s), steps[i].resets);
  }
  vq_sources_destroy(s);
}

/* A flood of spoofed addresses costs bounded memory: resets count up. */
static void test_table_reset_under_a_flood(void **state) {
  (void)state;
  vq_sources_t *s = vq_sources_create(1000, 10, 10);
  for (unsigned i = 0; i < 100000; i++) {
    char a[32];
    snprintf(a, sizeof(a), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255,
             i & 255);
    if (vq_sources_allow(s, sa(a, 1), 1) != 1)
      fail_msg("new source %s refused", a);
  }
  /* 1000 fit; every 1000 new ones after that empty the table once */
  assert_int_equal(vq_sources_resets(s), 99);
  vq_sources_destroy(s);
}

/* The log timer is per-table too: it restarts after a reset. */
static void test_may_log_after_reset(void **state) {
  (void)state;
  vq_sources_t *s = vq_sources_create(2, 0, 1);
  assert_int_equal(vq_sources_may_log(s, sa("192.0.2.1", 1), 0, 60), 1);
  assert_int_equal(vq_sources_may_log(s, sa("192.0.2.2", 1), 0, 60), 1);
  assert_int_equal(vq_sources_may_log(s, sa("192.0.2.1", 1), 1, 60), 0);
  assert_int_equal(vq_sources_may_log(s, sa("192.0.2.3", 1), 1, 60), 1);
  assert_int_equal(vq_sources_resets(s), 1);
  assert_int_equal(vq_sources_may_log(s, sa("192.0.2.1", 1), 2, 60), 1);
  vq_sources_destroy(s);
  vq_sources_destroy(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_bucket_burst_then_refill),
      cmocka_unit_test(test_token_bucket_fractional_rate),
      cmocka_unit_test(test_token_bucket_high_rate),
      cmocka_unit_test(test_burst_below_one_is_one),
      cmocka_unit_test(test_sources_are_independent),
      cmocka_unit_test(test_rate_zero_is_unlimited),
      cmocka_unit_test(test_may_log_once_per_interval_per_source),
      cmocka_unit_test(test_may_log_and_allow_share_a_source),
      cmocka_unit_test(test_table_resets_when_full),
      cmocka_unit_test(test_table_reset_under_a_flood),
      cmocka_unit_test(test_may_log_after_reset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
