/* SPDX-License-Identifier: MIT */
/*
 * es_gzip.c: gzip request bodies (see es_gzip.h).
 */
#include "es_gzip.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

int es_gzip(cm_buf_t *out, const char *data, size_t len) {
  cm_buf_reset(out);
  if (len > UINT_MAX / 2)
    return -1;
  z_stream z = {0};
  /* windowBits 15 + 16: a gzip header and trailer instead of zlib's. */
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    return -1;
  uLong bound = deflateBound(&z, (uLong)len);
  char *buf = malloc(bound);
  int rc = -1;
  if (buf != NULL) {
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)bound;
    if (deflate(&z, Z_FINISH) == Z_STREAM_END &&
        cm_buf_add(out, buf, (size_t)z.total_out) == 0)
      rc = 0;
  }
  deflateEnd(&z);
  free(buf);
  if (rc != 0)
    cm_buf_reset(out);
  return rc;
}
