/* SPDX-License-Identifier: MIT */
/* cm_option.c: numeric option range checks (see cm_option.h). */
#include "cm_option.h"

#include <stdio.h>

int cm_option_range(const char *key, double v, double min, double max,
                    char *err, size_t size) {
  if (v >= min && v <= max)
    return 0;
  if (size > 0)
    snprintf(err, size, "%s: %g is out of range [%g, %g].",
             key != NULL ? key : "?", v, min, max);
  return -1;
}
