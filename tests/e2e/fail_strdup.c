/* SPDX-License-Identifier: MIT */
/*
 * fail_strdup.c: an LD_PRELOAD library for the end-to-end test of the
 * vacquery plugin's out-of-memory paths. Its strdup() fails (NULL, ENOMEM)
 * when called from vacquery.so with the string in $VQ_FAIL_STRDUP, and
 * copies as usual otherwise (collectd's own copies are never failed).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Returns a malloc'd copy of s, or NULL (errno ENOMEM) for the planted
 * failure: s equal to $VQ_FAIL_STRDUP and the caller inside vacquery.so. */
char *strdup(const char *s) {
  const char *fail = getenv("VQ_FAIL_STRDUP");
  Dl_info info;
  if (fail != NULL && strcmp(s, fail) == 0 &&
      dladdr(__builtin_return_address(0), &info) != 0 &&
      info.dli_fname != NULL && strstr(info.dli_fname, "vacquery.so")) {
    errno = ENOMEM;
    return NULL;
  }
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}
