/* SPDX-License-Identifier: MIT */
/*
 * cm_option.h: the range check of a numeric configuration option, with the
 * error text every plugin logs the same way. Pure C11: the plugin reads the
 * number with cf_util_get_double() and logs the text with ERROR().
 */
#ifndef CM_OPTION_H
#define CM_OPTION_H

#include <stddef.h>

/*
 * Returns 0 when min <= v <= max (NaN is never in range). Otherwise returns
 * -1 and writes "KEY: V is out of range [MIN, MAX]." into err (size bytes,
 * NUL-terminated, truncated to fit; err may be NULL when size is 0).
 */
int cm_option_range(const char *key, double v, double min, double max,
                    char *err, size_t size);

#endif
