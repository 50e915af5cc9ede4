/* SPDX-License-Identifier: MIT */
/*
 * test_es_gzip.c: gzip request bodies (src/elasticsearch/es_gzip.c) are
 * gzip streams that zlib's own gunzip turns back into the body.
 */
#include "elasticsearch/es_gzip.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cm_test.h"

#include <zlib.h>

/* Gunzips in[0..len) into out (size bytes). Returns the length or -1. */
static long gunzip(const char *in, size_t len, char *out, size_t size) {
  z_stream z = {0};
  if (inflateInit2(&z, 15 + 16) != Z_OK) /* gzip only */
    return -1;
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)size;
  int rc = inflate(&z, Z_FINISH);
  long n = rc == Z_STREAM_END ? (long)z.total_out : -1;
  inflateEnd(&z);
  return n;
}

static void test_round_trip(void **state) {
  (void)state;
  static const char *const bodies[] = {
      "",
      "{\"create\":{\"_index\":\"vacmon-metrics-2026.11.23\"}}\n{\"n\":1}\n",
  };
  static char big[200000];
  for (size_t i = 0; i < sizeof(big) - 1; i++)
    big[i] = "{\"site\":\"UKI\"}\n"[i % 15];
  cm_buf_t b = CM_BUF_INIT;
  for (size_t k = 0; k < COUNT(bodies) + 1; k++) {
    const char *in = k < COUNT(bodies) ? bodies[k] : big;
    size_t len = strlen(in);
    assert_int_equal(es_gzip(&b, in, len), 0);
    /* The gzip magic and deflate method (RFC 1952). */
    assert_true(b.len >= 18);
    CHECK_INT("id1", (unsigned char)b.data[0], 0x1f);
    CHECK_INT("id2", (unsigned char)b.data[1], 0x8b);
    CHECK_INT("cm", (unsigned char)b.data[2], 8);
    static char back[200000];
    long n = gunzip(b.data, b.len, back, sizeof(back));
    CHECK_INT("length", n, (long)len);
    assert_memory_equal(back, in, len);
    if (k == COUNT(bodies))
      assert_true(b.len < len / 20); /* repetitive NDJSON shrinks */
  }
  cm_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
