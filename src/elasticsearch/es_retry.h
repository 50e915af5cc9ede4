/* SPDX-License-Identifier: MIT */
/*
 * es_retry.h: exponential backoff with full jitter for the Elasticsearch
 * writer. Pure: the random number is passed in, so tests are exact.
 */
#ifndef ES_RETRY_H
#define ES_RETRY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  double initial;       /* seconds, > 0 */
  double max;           /* seconds, >= initial */
  unsigned max_retries; /* 0: retry forever */
} es_retry_t;

/* Returns the delay before attempt number attempt (0 for the first retry):
 * u * min(max, initial * 2^attempt), u in [0, 1) ("full jitter"; values of
 * u outside [0, 1) are clamped). Never more than max. */
double es_retry_delay(const es_retry_t *p, unsigned attempt, double u);

/* Returns true when an item that has been answered "retry" attempts times
 * is to be given up (max_retries reached; never when max_retries is 0). */
bool es_retry_give_up(const es_retry_t *p, unsigned attempts);

/* Returns a uniform double in [0, 1) from the xorshift64* state *s (a zero
 * state is replaced by a fixed non-zero seed) and advances *s. */
double es_retry_random(uint64_t *s);

#endif
