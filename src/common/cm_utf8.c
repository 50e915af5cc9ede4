/* SPDX-License-Identifier: MIT */
/* cm_utf8.c: strict UTF-8 decoding (see cm_utf8.h). */
#include "cm_utf8.h"

size_t cm_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  if (n == 0)
    return 0;
  unsigned c = s[0];
  if (c < 0x80) {
    if (cp != NULL)
      *cp = c;
    return 1;
  }
  size_t k;
  unsigned lo = 0x80, hi = 0xbf; /* the allowed range of the second byte */
  if (c >= 0xc2 && c <= 0xdf) {
    k = 2;
    c &= 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    k = 3;
    lo = c == 0xe0 ? 0xa0 : lo; /* no overlong forms */
    hi = c == 0xed ? 0x9f : hi; /* no surrogates */
    c &= 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    k = 4;
    lo = c == 0xf0 ? 0x90 : lo; /* no overlong forms */
    hi = c == 0xf4 ? 0x8f : hi; /* nothing above U+10FFFF */
    c &= 0x07;
  } else {
    return 0;
  }
  if (n < k || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if (cp != NULL)
    *cp = c;
  return k;
}
