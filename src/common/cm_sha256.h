/* SPDX-License-Identifier: MIT */
/*
 * cm_sha256.h: SHA-256 (FIPS 180-4), for the VacQuery query cookies. Not
 * for secrets: the cookie is an integrity check against stray replies.
 */
#ifndef CM_SHA256_H
#define CM_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* An incremental hash; start with cm_sha256_init. */
typedef struct {
  uint32_t h[8];
  uint64_t bytes;    /* message length so far */
  uint8_t block[64]; /* bytes not yet compressed */
  size_t used;       /* of block */
} cm_sha256_t;

/* Starts a new hash in c. */
void cm_sha256_init(cm_sha256_t *c);

/* Adds the len bytes at p to the message. */
void cm_sha256_update(cm_sha256_t *c, const void *p, size_t len);

/* Finishes the hash and writes the 32-byte digest to out; c must be
 * initialised again before it is reused. */
void cm_sha256_final(cm_sha256_t *c, uint8_t out[32]);

/* Writes the SHA-256 of the concatenation a || b (lengths in bytes) as 64
 * lowercase hex digits and a NUL into hex. */
void cm_sha256_hex2(const void *a, size_t alen, const void *b, size_t blen,
                    char hex[65]);

#endif
