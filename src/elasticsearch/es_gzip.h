/* SPDX-License-Identifier: MIT */
/*
 * es_gzip.h: gzip (RFC 1952) request bodies for Compress true, with zlib.
 */
#ifndef ES_GZIP_H
#define ES_GZIP_H

#include "common/cm_buf.h"

#include <stddef.h>

/* Replaces the contents of out with the gzip stream of data[0..len).
 * Returns 0, or -1 when zlib or memory fails (out is then reset). */
int es_gzip(cm_buf_t *out, const char *data, size_t len);

#endif
