/* SPDX-License-Identifier: MIT */
/* cm_sha256.c: SHA-256 as FIPS 180-4 section 6.2 describes it. */
#include "cm_sha256.h"

#include <string.h>

static const uint32_t cm_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/* Returns x rotated right by n bits. */
static uint32_t cm_ror(uint32_t x, unsigned n) {
  return (x >> n) | (x << (32 - n));
}

/* Compresses one 64-byte block into c->h. */
static void cm_sha256_block(cm_sha256_t *c, const uint8_t *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
           (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 =
        cm_ror(w[i - 15], 7) ^ cm_ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 =
        cm_ror(w[i - 2], 17) ^ cm_ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = c->h[0], b = c->h[1], d = c->h[3], e = c->h[4], f = c->h[5],
           g = c->h[6], h = c->h[7], cc = c->h[2];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (cm_ror(e, 6) ^ cm_ror(e, 11) ^ cm_ror(e, 25)) +
                  ((e & f) ^ (~e & g)) + cm_sha256_k[i] + w[i];
    uint32_t t2 = (cm_ror(a, 2) ^ cm_ror(a, 13) ^ cm_ror(a, 22)) +
                  ((a & b) ^ (a & cc) ^ (b & cc));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = cc;
    cc = b;
    b = a;
    a = t1 + t2;
  }
  c->h[0] += a;
  c->h[1] += b;
  c->h[2] += cc;
  c->h[3] += d;
  c->h[4] += e;
  c->h[5] += f;
  c->h[6] += g;
  c->h[7] += h;
}

void cm_sha256_init(cm_sha256_t *c) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                 0xa54ff53a, 0x510e527f, 0x9b05688c,
                                 0x1f83d9ab, 0x5be0cd19};
  memcpy(c->h, h0, sizeof(h0));
  c->bytes = 0;
  c->used = 0;
}

void cm_sha256_update(cm_sha256_t *c, const void *p, size_t len) {
  const uint8_t *b = p;
  c->bytes += len;
  while (len > 0) {
    size_t take = 64 - c->used < len ? 64 - c->used : len;
    memcpy(c->block + c->used, b, take);
    c->used += take;
    b += take;
    len -= take;
    if (c->used == 64) {
      cm_sha256_block(c, c->block);
      c->used = 0;
    }
  }
}

void cm_sha256_final(cm_sha256_t *c, uint8_t out[32]) {
  uint64_t bits = c->bytes * 8;
  uint8_t pad = 0x80;
  cm_sha256_update(c, &pad, 1);
  pad = 0;
  while (c->used != 56)
    cm_sha256_update(c, &pad, 1);
  uint8_t len[8];
  for (int i = 0; i < 8; i++)
    len[i] = (uint8_t)(bits >> (56 - 8 * i));
  cm_sha256_update(c, len, 8);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t)(c->h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
    out[4 * i + 3] = (uint8_t)c->h[i];
  }
}

void cm_sha256_hex2(const void *a, size_t alen, const void *b, size_t blen,
                    char hex[65]) {
  static const char digits[] = "0123456789abcdef";
  cm_sha256_t c;
  uint8_t d[32];
  cm_sha256_init(&c);
  cm_sha256_update(&c, a, alen);
  cm_sha256_update(&c, b, blen);
  cm_sha256_final(&c, d);
  for (int i = 0; i < 32; i++) {
    hex[2 * i] = digits[d[i] >> 4];
    hex[2 * i + 1] = digits[d[i] & 15];
  }
  hex[64] = '\0';
}
