/* SPDX-License-Identifier: MIT */
/*
 * vq_test.h: the shared unit-test checks (cm_test.h) plus those that
 * need the vacquery core: reasons compared by name, and one parser per
 * test program for the example files.
 */
#ifndef VQ_TEST_H
#define VQ_TEST_H

#include "common/cm_test.h"
#include "vacquery/vq_message.h"
#include "vacquery/vq_reason.h"

/* Compares two vq_reason_t values, naming both on failure. */
#define CHECK_REASON(ctx, a, e)                                                \
  do {                                                                         \
    vq_reason_t a_ = (a), e_ = (e);                                            \
    if (a_ != e_)                                                              \
      fail_msg("[%s] %s = %s, expected %s", (ctx), #a, vq_reason_name(a_),     \
               vq_reason_name(e_));                                            \
  } while (0)

/* The test program's parser, made and freed by the group fixtures below. */
static vq_parser_t *vq_test_parser;

/* cmocka group setup: makes vq_test_parser. Returns 0 or -1. */
static inline int vq_test_setup(void **state) {
  (void)state;
  vq_test_parser = vq_parser_create();
  return vq_test_parser != NULL ? 0 : -1;
}

/* cmocka group teardown: frees vq_test_parser. Returns 0. */
static inline int vq_test_teardown(void **state) {
  (void)state;
  vq_parser_destroy(vq_test_parser);
  vq_test_parser = NULL;
  return 0;
}

/* Parses the example file CM_FIXTURES/file into *m (the caller clears
 * it), with no NUL after the datagram, as received; fails the test unless
 * it is accepted. */
static inline void vq_test_parse_fixture(const char *file, vq_message_t *m) {
  size_t len;
  char *text = cm_test_read_fixture(file, &len);
  char *exact = malloc(len > 0 ? len : 1);
  assert_non_null(exact);
  memcpy(exact, text, len);
  free(text);
  vq_reason_t r = vq_parse(vq_test_parser, exact, len, m);
  free(exact);
  if (r != VQ_OK)
    fail_msg("%s: vq_parse() = %s", file, vq_reason_name(r));
}

#endif
