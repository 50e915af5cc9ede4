/* SPDX-License-Identifier: MIT */
/*
 * test_queue.c: unit tests for src/vacquery/vq_queue.c: the bounded hand-off
 * between the receive thread and the worker thread.
 */
#include "vacquery/vq_queue.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vq_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A datagram whose payload is "dg-<n>". */
static vq_datagram_t *dg(int n) {
  char text[32];
  int len = snprintf(text, sizeof(text), "dg-%d", n);
  struct sockaddr_in from;
  memset(&from, 0, sizeof(from));
  from.sin_family = AF_INET;
  from.sin_port = htons((uint16_t)(1000 + n));
  from.sin_addr.s_addr = htonl(0xC0000200u | (unsigned)(n & 0xff));
  vq_datagram_t *d =
      vq_datagram_new(text, (size_t)len, (const struct sockaddr *)&from,
                      sizeof(from), 1000 + (uint64_t)n);
  assert_non_null(d);
  return d;
}

/* Checks that d is dg(n) and frees it. */
static void expect_dg(vq_datagram_t *d, int n) {
  char text[32];
  int len = snprintf(text, sizeof(text), "dg-%d", n);
  if (d->len != (size_t)len || memcmp(d->data, text, (size_t)len) != 0)
    fail_msg("got datagram \"%.*s\", expected \"%s\"", (int)d->len, d->data,
             text);
  free(d);
}

/* 1542931201.25 s since the epoch in cdtime_t ticks (2^30 per second). */
#define T_2018 ((UINT64_C(1542931201) << 30) + (UINT64_C(1) << 28))

/* Issue 9: receive times one tick apart (two datagrams of one batch) stay
 * one tick apart; as a double they were the same time. */
static void test_receive_time_keeps_every_tick(void **state) {
  (void)state;
  uint64_t t = UINT64_C(1764806400) << 30; /* 2025-12-04 00:00 UTC */
  vq_datagram_t *a = vq_datagram_new("a", 1, NULL, 0, t);
  vq_datagram_t *b = vq_datagram_new("b", 1, NULL, 0, t + 1);
  assert_non_null(a);
  assert_non_null(b);
  assert_true(b->received - a->received == 1);
  assert_true(a->received == t);
  free(a);
  free(b);
}

static void test_datagram_new_copies_everything(void **state) {
  (void)state;
  char payload[] = "{\"message_type\": \"factory_status\"}";
  struct sockaddr_in6 from;
  memset(&from, 0, sizeof(from));
  from.sin6_family = AF_INET6;
  from.sin6_port = htons(8884);
  assert_int_equal(inet_pton(AF_INET6, "2001:db8::5", &from.sin6_addr), 1);
  vq_datagram_t *d =
      vq_datagram_new(payload, sizeof(payload) - 1, (struct sockaddr *)&from,
                      sizeof(from), T_2018 + 1);
  assert_non_null(d);
  payload[0] = 'X'; /* the datagram holds a copy */
  assert_int_equal(d->len, sizeof(payload) - 1);
  assert_memory_equal(d->data, "{\"message_type\"", 15);
  assert_true(d->received == T_2018 + 1);
  assert_memory_equal(&d->from, &from, sizeof(from));
  free(d);

  /* without a source address, and empty */
  d = vq_datagram_new("", 0, NULL, 0, 5);
  assert_non_null(d);
  assert_int_equal(d->len, 0);
  assert_int_equal(d->from.ss_family, 0);
  free(d);

  /* an address longer than sockaddr_storage is not copied */
  char big[sizeof(struct sockaddr_storage) + 16];
  memset(big, 0x7f, sizeof(big));
  d = vq_datagram_new("x", 1, (struct sockaddr *)big, sizeof(big), 5);
  assert_non_null(d);
  assert_int_equal(d->from.ss_family, 0);
  free(d);
}

static void test_push_pop_preserves_order(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(8, SIZE_MAX);
  assert_non_null(q);
  vq_datagram_t *in[5];
  for (int i = 0; i < 5; i++)
    in[i] = dg(i);
  assert_int_equal(vq_queue_push(q, in, 5), 5);
  assert_int_equal(vq_queue_length(q), 5);
  vq_datagram_t *out[10];
  assert_int_equal(vq_queue_pop(q, out, 3, 0), 3);
  for (int i = 0; i < 3; i++)
    expect_dg(out[i], i);
  assert_int_equal(vq_queue_length(q), 2);
  assert_int_equal(vq_queue_pop(q, out, 10, 0), 2);
  expect_dg(out[0], 3);
  expect_dg(out[1], 4);
  assert_int_equal(vq_queue_length(q), 0);
  vq_queue_destroy(q);
}

/* Many rounds through a small ring: order survives wrap-around. */
static void test_order_across_wraparound(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(4, SIZE_MAX);
  int next_in = 0, next_out = 0;
  static const struct {
    size_t push, pop;
  } rounds[] = {{3, 2}, {3, 1}, {2, 4}, {4, 3}, {1, 2}, {4, 4}, {3, 3}};
  for (size_t r = 0; r < COUNT(rounds); r++) {
    vq_datagram_t *in[4];
    for (size_t i = 0; i < rounds[r].push; i++)
      in[i] = dg(next_in + (int)i);
    size_t took = vq_queue_push(q, in, rounds[r].push);
    for (size_t i = took; i < rounds[r].push; i++)
      free(in[i]); /* not taken: still ours */
    next_in += (int)took;
    vq_datagram_t *out[4];
    size_t got = vq_queue_pop(q, out, rounds[r].pop, 0);
    for (size_t i = 0; i < got; i++)
      expect_dg(out[i], next_out++);
    assert_int_equal(vq_queue_length(q), (size_t)(next_in - next_out));
  }
  vq_datagram_t *out[4];
  size_t got = vq_queue_pop(q, out, 4, 0);
  for (size_t i = 0; i < got; i++)
    expect_dg(out[i], next_out++);
  assert_int_equal(next_out, next_in);
  assert_true(next_in > 12);
  vq_queue_destroy(q);
}

/* push returns how many it took; the rest stay the caller's. */
static void test_push_takes_only_what_fits(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(4, SIZE_MAX);
  static const struct {
    size_t n, took, length;
  } steps[] = {
      {6, 4, 4}, /* 2 left over */
      {1, 0, 4}, /* full */
      {0, 0, 4},
  };
  int next = 0;
  for (size_t s = 0; s < COUNT(steps); s++) {
    vq_datagram_t *in[8];
    for (size_t i = 0; i < steps[s].n; i++)
      in[i] = dg(next + (int)i);
    size_t took = vq_queue_push(q, in, steps[s].n);
    if (took != steps[s].took)
      fail_msg("step %zu: push of %zu took %zu, expected %zu", s, steps[s].n,
               took, steps[s].took);
    /* the ones not taken are still valid and ours */
    for (size_t i = took; i < steps[s].n; i++)
      expect_dg(in[i], next + (int)i);
    next += (int)steps[s].n;
    assert_int_equal(vq_queue_length(q), steps[s].length);
  }
  vq_datagram_t *out[1];
  assert_int_equal(vq_queue_pop(q, out, 1, 0), 1);
  expect_dg(out[0], 0);
  vq_datagram_t *one = dg(99);
  assert_int_equal(vq_queue_push(q, &one, 1), 1);
  vq_datagram_t *all[8];
  assert_int_equal(vq_queue_pop(q, all, 8, 0), 4);
  expect_dg(all[0], 1);
  expect_dg(all[1], 2);
  expect_dg(all[2], 3);
  expect_dg(all[3], 99);
  vq_queue_destroy(q);
}

static void test_pop_times_out_empty(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(4, SIZE_MAX);
  static const int timeouts[] = {0, 50, 1200};
  for (size_t i = 0; i < COUNT(timeouts); i++) {
    vq_datagram_t *out[4] = {NULL};
    double t0 = now_mono();
    size_t got = vq_queue_pop(q, out, 4, timeouts[i]);
    double took = now_mono() - t0;
    assert_int_equal(got, 0);
    assert_null(out[0]);
    double want = timeouts[i] / 1000.0;
    if (took < want - 0.005 || took > want + 2.0)
      fail_msg("timeout %d ms took %.3f s", timeouts[i], took);
  }
  vq_queue_destroy(q);
}

static void test_pop_returns_at_once_when_not_empty(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(4, SIZE_MAX);
  vq_datagram_t *in = dg(1);
  assert_int_equal(vq_queue_push(q, &in, 1), 1);
  vq_datagram_t *out[4];
  double t0 = now_mono();
  assert_int_equal(vq_queue_pop(q, out, 4, 10000), 1);
  assert_true(now_mono() - t0 < 1.0);
  expect_dg(out[0], 1);
  vq_queue_destroy(q);
}

/* A popper blocked in another thread. */
typedef struct {
  vq_queue_t *q;
  int timeout_ms;
  size_t got;
  vq_datagram_t *items[4];
  double waited;
} popper_t;

static void *popper(void *arg) {
  popper_t *p = arg;
  double t0 = now_mono();
  p->got = vq_queue_pop(p->q, p->items, 4, p->timeout_ms);
  p->waited = now_mono() - t0;
  return NULL;
}

static void test_close_wakes_a_waiting_popper(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(4, SIZE_MAX);
  popper_t p = {.q = q, .timeout_ms = 30000};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, popper, &p), 0);
  sleep_ms(100); /* let it block */
  vq_queue_close(q);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(p.got, 0);
  if (p.waited > 10.0)
    fail_msg("popper was not woken by close (waited %.1f s)", p.waited);
  assert_true(p.waited >= 0.05);
  vq_queue_destroy(q);
}

static void test_push_wakes_a_waiting_popper(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(4, SIZE_MAX);
  popper_t p = {.q = q, .timeout_ms = 30000};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, popper, &p), 0);
  sleep_ms(100);
  vq_datagram_t *in = dg(7);
  assert_int_equal(vq_queue_push(q, &in, 1), 1);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(p.got, 1);
  assert_true(p.waited < 10.0);
  expect_dg(p.items[0], 7);
  vq_queue_destroy(q);
}

/* After close, pop returns what is left, then 0 without waiting. */
static void test_close_drains_then_returns_zero(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(4, SIZE_MAX);
  vq_datagram_t *in[2] = {dg(1), dg(2)};
  assert_int_equal(vq_queue_push(q, in, 2), 2);
  vq_queue_close(q);
  vq_datagram_t *out[4];
  assert_int_equal(vq_queue_pop(q, out, 1, 30000), 1);
  expect_dg(out[0], 1);
  assert_int_equal(vq_queue_pop(q, out, 4, 30000), 1);
  expect_dg(out[0], 2);
  double t0 = now_mono();
  assert_int_equal(vq_queue_pop(q, out, 4, 30000), 0);
  assert_true(now_mono() - t0 < 1.0);
  vq_queue_destroy(q);
}

/* destroy frees what is still queued (leak-checked by ASan / valgrind),
 * including a wrapped ring. */
static void test_destroy_frees_leftovers(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(3, SIZE_MAX);
  vq_datagram_t *in[3] = {dg(1), dg(2), dg(3)};
  assert_int_equal(vq_queue_push(q, in, 3), 3);
  vq_queue_destroy(q);

  q = vq_queue_create(3, SIZE_MAX);
  vq_datagram_t *a[3] = {dg(1), dg(2), dg(3)};
  assert_int_equal(vq_queue_push(q, a, 3), 3);
  vq_datagram_t *out[2];
  assert_int_equal(vq_queue_pop(q, out, 2, 0), 2);
  free(out[0]);
  free(out[1]);
  vq_datagram_t *b[2] = {dg(4), dg(5)}; /* wraps around the ring */
  assert_int_equal(vq_queue_push(q, b, 2), 2);
  assert_int_equal(vq_queue_length(q), 3);
  vq_queue_destroy(q);

  vq_queue_destroy(NULL);
}

/* ---- the byte budget ------------------------------------------------------
 * A datagram costs its payload length in bytes; the queue takes each one
 * that keeps it within both bounds and leaves the others, in their order,
 * at the end of the caller's array. */

/* A datagram of len bytes, every byte 'a' + tag % 26. */
static vq_datagram_t *sized(size_t len, int tag) {
  char *text = malloc(len > 0 ? len : 1);
  assert_non_null(text);
  memset(text, 'a' + tag % 26, len);
  vq_datagram_t *d = vq_datagram_new(text, len, NULL, 0, (uint64_t)tag);
  free(text);
  assert_non_null(d);
  return d;
}

/* Checks that d is sized(len, tag) and frees it. */
static void expect_sized(vq_datagram_t *d, size_t len, int tag) {
  if (d->len != len || d->received != (uint64_t)tag)
    fail_msg("got a %zu-byte datagram with tag %d, expected %zu bytes, tag %d",
             d->len, (int)d->received, len, tag);
  for (size_t i = 0; i < len; i++)
    if (d->data[i] != 'a' + tag % 26)
      fail_msg("byte %zu of datagram %d is '%c'", i, tag, d->data[i]);
  free(d);
}

/* Checks the queue's length and bytes. */
static void expect_held(vq_queue_t *q, size_t length, size_t bytes) {
  size_t l = vq_queue_length(q), b = vq_queue_bytes(q);
  if (l != length || b != bytes)
    fail_msg("queue holds %zu datagrams, %zu bytes; expected %zu, %zu", l, b,
             length, bytes);
}

/* 10 datagrams, 1000 bytes: four of 300 bytes reach the bytes first. */
static void test_byte_bound_before_count(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(10, 1000);
  assert_non_null(q);
  vq_datagram_t *in[4] = {sized(300, 0), sized(300, 1), sized(300, 2),
                          sized(300, 3)};
  assert_int_equal(vq_queue_push(q, in, 4), 3);
  expect_held(q, 3, 900);
  expect_sized(in[3], 300, 3); /* not taken: still ours */
  vq_datagram_t *out[10];
  assert_int_equal(vq_queue_pop(q, out, 10, 0), 3);
  for (int i = 0; i < 3; i++)
    expect_sized(out[i], 300, i);
  vq_queue_destroy(q);
}

/* 3 datagrams, 1 MB: five of 100 bytes reach the count first. */
static void test_count_bound_before_bytes(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(3, 1000000);
  vq_datagram_t *in[5];
  for (int i = 0; i < 5; i++)
    in[i] = sized(100, i);
  assert_int_equal(vq_queue_push(q, in, 5), 3);
  expect_held(q, 3, 300);
  expect_sized(in[3], 100, 3);
  expect_sized(in[4], 100, 4);
  vq_queue_destroy(q); /* frees the three it holds */
}

/* Datagrams that add up to the budget exactly all fit; one byte more does
 * not. A single datagram of exactly the budget fits an empty queue (the
 * plugin's smallest QueueBytes is MaxDatagramSize, 65507 at most). */
static void test_exact_fit(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(10, 1000);
  vq_datagram_t *in[2] = {sized(400, 0), sized(600, 1)};
  assert_int_equal(vq_queue_push(q, in, 2), 2);
  expect_held(q, 2, 1000);
  vq_datagram_t *one = sized(1, 2);
  assert_int_equal(vq_queue_push(q, &one, 1), 0);
  expect_held(q, 2, 1000);
  expect_sized(one, 1, 2);
  vq_queue_destroy(q);

  q = vq_queue_create(10, 65507);
  vq_datagram_t *big = sized(65507, 3);
  assert_int_equal(vq_queue_push(q, &big, 1), 1);
  expect_held(q, 1, 65507);
  vq_datagram_t *out[1];
  assert_int_equal(vq_queue_pop(q, out, 1, 0), 1);
  expect_sized(out[0], 65507, 3);
  vq_queue_destroy(q);
}

/* What the worker pops no longer counts: the room comes back. */
static void test_bytes_released_after_pop(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(10, 1000);
  vq_datagram_t *in[2] = {sized(600, 0), sized(400, 1)};
  assert_int_equal(vq_queue_push(q, in, 2), 2);
  vq_datagram_t *d = sized(300, 2);
  assert_int_equal(vq_queue_push(q, &d, 1), 0); /* full */
  vq_datagram_t *out[10];
  assert_int_equal(vq_queue_pop(q, out, 1, 0), 1);
  expect_sized(out[0], 600, 0);
  expect_held(q, 1, 400);
  assert_int_equal(vq_queue_push(q, &d, 1), 1); /* fits now */
  expect_held(q, 2, 700);
  assert_int_equal(vq_queue_pop(q, out, 10, 0), 2);
  expect_sized(out[0], 400, 1);
  expect_sized(out[1], 300, 2);
  expect_held(q, 0, 0);
  d = sized(1000, 3); /* the whole budget again */
  assert_int_equal(vq_queue_push(q, &d, 1), 1);
  expect_held(q, 1, 1000);
  vq_queue_destroy(q);
}

/* A datagram larger than the whole budget never fits, not even an empty
 * queue; smaller ones after it in the same push still do, in order. */
static void test_datagram_larger_than_budget(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(10, 1000);
  vq_datagram_t *d = sized(1001, 0);
  assert_int_equal(vq_queue_push(q, &d, 1), 0);
  expect_held(q, 0, 0);
  expect_sized(d, 1001, 0);

  vq_datagram_t *in[4] = {sized(1001, 1), sized(10, 2), sized(2000, 3),
                          sized(20, 4)};
  assert_int_equal(vq_queue_push(q, in, 4), 2);
  expect_held(q, 2, 30);
  /* the two it did not take, in their order, at the end */
  expect_sized(in[2], 1001, 1);
  expect_sized(in[3], 2000, 3);
  vq_datagram_t *out[10];
  assert_int_equal(vq_queue_pop(q, out, 10, 0), 2);
  expect_sized(out[0], 10, 2);
  expect_sized(out[1], 20, 4);
  vq_queue_destroy(q);
}

/* A zero-length datagram costs no bytes: it fits a queue whose bytes are
 * used up, and only the count bounds it. */
static void test_zero_length_datagram(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(3, 100);
  vq_datagram_t *full = sized(100, 0);
  assert_int_equal(vq_queue_push(q, &full, 1), 1);
  vq_datagram_t *in[3] = {sized(0, 1), sized(0, 2), sized(0, 3)};
  assert_int_equal(vq_queue_push(q, in, 3), 2);
  expect_held(q, 3, 100);
  expect_sized(in[2], 0, 3);
  vq_datagram_t *out[3];
  assert_int_equal(vq_queue_pop(q, out, 3, 0), 3);
  expect_sized(out[0], 100, 0);
  expect_sized(out[1], 0, 1);
  expect_sized(out[2], 0, 2);
  expect_held(q, 0, 0);
  vq_queue_destroy(q);

  /* a budget of 0 bytes takes zero-length datagrams only */
  q = vq_queue_create(2, 0);
  vq_datagram_t *mix[3] = {sized(1, 4), sized(0, 5), sized(0, 6)};
  assert_int_equal(vq_queue_push(q, mix, 3), 2);
  expect_held(q, 2, 0);
  expect_sized(mix[2], 1, 4);
  vq_queue_destroy(q);
}

/* One producer thread, one consumer: every datagram arrives once, in
 * order, while the queue is often full. The producer counts the pushes
 * the full queue refused and the queue length it saw then. */
#define PC_CAPACITY 16
typedef struct {
  vq_queue_t *q;
  int n;
  atomic_size_t refused;
  atomic_size_t length_at_refusal; /* max over refusals */
} producer_t;

static void *producer(void *arg) {
  producer_t *p = arg;
  for (int i = 0; i < p->n;) {
    vq_datagram_t *d = dg(i);
    if (vq_queue_push(p->q, &d, 1) == 1)
      i++;
    else {
      free(d);
      size_t len = vq_queue_length(p->q);
      if (len > atomic_load(&p->length_at_refusal))
        atomic_store(&p->length_at_refusal, len);
      atomic_fetch_add(&p->refused, 1);
      sched_yield();
    }
  }
  return NULL;
}

static void test_producer_consumer_threads(void **state) {
  (void)state;
  vq_queue_t *q = vq_queue_create(PC_CAPACITY, SIZE_MAX);
  producer_t p = {.q = q, .n = 20000};
  atomic_init(&p.refused, 0);
  atomic_init(&p.length_at_refusal, 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, producer, &p), 0);
  int next = 0, waits = 0, next_wait = 0;
  while (next < p.n) {
    /* Every 1000 datagrams, let the producer run into a full queue (for
     * at most 5 s). */
    if (next >= next_wait && p.n - next > 2 * PC_CAPACITY) {
      size_t before = atomic_load(&p.refused);
      struct timespec t0, t;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      do {
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 5)
          fail_msg("the producer never found the queue full (at %d)", next);
      } while (atomic_load(&p.refused) == before);
      waits++;
      next_wait += 1000;
    }
    vq_datagram_t *out[7];
    size_t got = vq_queue_pop(q, out, 7, 5000);
    if (got == 0)
      fail_msg("consumer timed out at %d", next);
    for (size_t i = 0; i < got; i++)
      expect_dg(out[i], next++);
  }
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(vq_queue_length(q), 0);
  /* the queue was full, and refused only when it held its capacity */
  assert_true(waits >= 19);
  assert_true(atomic_load(&p.refused) >= (size_t)waits);
  assert_int_equal(atomic_load(&p.length_at_refusal), PC_CAPACITY);
  vq_queue_destroy(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_receive_time_keeps_every_tick),
      cmocka_unit_test(test_datagram_new_copies_everything),
      cmocka_unit_test(test_push_pop_preserves_order),
      cmocka_unit_test(test_order_across_wraparound),
      cmocka_unit_test(test_push_takes_only_what_fits),
      cmocka_unit_test(test_pop_times_out_empty),
      cmocka_unit_test(test_pop_returns_at_once_when_not_empty),
      cmocka_unit_test(test_close_wakes_a_waiting_popper),
      cmocka_unit_test(test_push_wakes_a_waiting_popper),
      cmocka_unit_test(test_close_drains_then_returns_zero),
      cmocka_unit_test(test_destroy_frees_leftovers),
      cmocka_unit_test(test_producer_consumer_threads),
      cmocka_unit_test(test_byte_bound_before_count),
      cmocka_unit_test(test_count_bound_before_bytes),
      cmocka_unit_test(test_exact_fit),
      cmocka_unit_test(test_bytes_released_after_pop),
      cmocka_unit_test(test_datagram_larger_than_budget),
      cmocka_unit_test(test_zero_length_datagram),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
