/* SPDX-License-Identifier: MIT */
/* cm_name.c: path-safe names and log-safe text (see cm_name.h). */
#include "cm_name.h"

/* Returns 1 for the bytes that may stay as they are in a path node. */
static int cm_name_keep(unsigned char c, int flags) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         (c == '.' && (flags & CM_NAME_KEEP_DOTS));
}

int cm_name_sanitise(char *dst, size_t size, const char *src, size_t len,
                     int flags) {
  if (size == 0)
    return -1;
  dst[0] = '\0';
  if (src == NULL || len == 0 || len >= size)
    return -1;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)src[i];
    dst[i] = cm_name_keep(c, flags) ? (char)c : '_';
  }
  dst[len] = '\0';
  return (int)len;
}

char *cm_text_printable(char *dst, size_t size, const char *src, size_t len) {
  size_t n = 0;
  if (size == 0)
    return dst;
  for (; src != NULL && n < len && n + 1 < size && src[n] != '\0'; n++) {
    unsigned char c = (unsigned char)src[n];
    dst[n] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  dst[n] = '\0';
  return dst;
}
