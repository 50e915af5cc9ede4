/* SPDX-License-Identifier: MIT */
/* test_cm_sha256.c: SHA-256 against FIPS 180-4's published examples. */
#include "common/cm_sha256.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cm_test.h"

static void test_vectors(void **state) {
  (void)state;
  static const struct {
    const char *a, *b, *hex;
  } cases[] = {
      {"", "",
       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "",
       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"a", "bc",
       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
  };
  char hex[65];
  for (size_t i = 0; i < COUNT(cases); i++) {
    cm_sha256_hex2(cases[i].a, strlen(cases[i].a), cases[i].b,
                   strlen(cases[i].b), hex);
    CHECK_CSTR(cases[i].a, hex, cases[i].hex);
  }
}

static void test_million_a(void **state) {
  (void)state;
  cm_sha256_t c;
  uint8_t d[32];
  char chunk[1000];
  memset(chunk, 'a', sizeof(chunk));
  cm_sha256_init(&c);
  for (int i = 0; i < 1000; i++)
    cm_sha256_update(&c, chunk, sizeof(chunk));
  cm_sha256_final(&c, d);
  static const uint8_t want[32] = {
      0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7,
      0xe2, 0x84, 0xd7, 0x3e, 0x67, 0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97,
      0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
  assert_memory_equal(d, want, 32);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors),
      cmocka_unit_test(test_million_a),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
