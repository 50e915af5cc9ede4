/* SPDX-License-Identifier: MIT */
/*
 * es_retry.c: exponential backoff with full jitter (see es_retry.h).
 */
#include "es_retry.h"

double es_retry_delay(const es_retry_t *p, unsigned attempt, double u) {
  double cap = p->initial;
  for (unsigned i = 0; i < attempt && cap < p->max; i++)
    cap *= 2;
  if (cap > p->max)
    cap = p->max;
  if (!(u >= 0)) /* also NaN */
    u = 0;
  if (u >= 1)
    u = 0.999999999;
  return u * cap;
}

bool es_retry_give_up(const es_retry_t *p, unsigned attempts) {
  return p->max_retries > 0 && attempts >= p->max_retries;
}

double es_retry_random(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9E3779B97F4A7C15u;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return (double)((x * 0x2545F4914F6CDD1Du) >> 11) / 9007199254740992.0;
}
