/* SPDX-License-Identifier: MIT */
/*
 * cm_utf8.h: strict UTF-8 (RFC 3629) decoding, one implementation for the
 * parser's pre-scan, the JSON writers and vacquery-send.
 */
#ifndef CM_UTF8_H
#define CM_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decodes the UTF-8 sequence at s, reading at most n bytes. Returns its
 * length (1 to 4) and stores the code point in *cp (when cp is not NULL),
 * or returns 0 when the bytes are not a valid sequence: a stray
 * continuation byte, an overlong form, a surrogate, a value above U+10FFFF,
 * or a sequence cut short by n or by a NUL.
 */
size_t cm_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
