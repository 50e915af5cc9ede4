/* SPDX-License-Identifier: MIT */
/*
 * vq_test.h: the shared unit-test checks (cm_test.h) plus the one that
 * needs the vacquery core: reasons compared by name.
 */
#ifndef VQ_TEST_H
#define VQ_TEST_H

#include "common/cm_test.h"
#include "vacquery/vq_reason.h"

/* Compares two vq_reason_t values, naming both on failure. */
#define CHECK_REASON(ctx, a, e)                                                \
  do {                                                                         \
    vq_reason_t a_ = (a), e_ = (e);                                            \
    if (a_ != e_)                                                              \
      fail_msg("[%s] %s = %s, expected %s", (ctx), #a, vq_reason_name(a_),     \
               vq_reason_name(e_));                                            \
  } while (0)

#endif
