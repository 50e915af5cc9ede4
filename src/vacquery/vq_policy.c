/* SPDX-License-Identifier: MIT */
/* vq_policy.c: source networks and site cookies. */
#include "vq_policy.h"
#include "common/cm_name.h"
#include "vq_name.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vq_cidr_parse(const char *s, vq_cidr_t *c) {
  char buf[INET6_ADDRSTRLEN + 8];
  if (s == NULL || strlen(s) >= sizeof(buf))
    return -1;
  strcpy(buf, s);
  char *slash = strchr(buf, '/');
  long prefix = -1;
  if (slash != NULL) {
    char *end = NULL;
    *slash = '\0';
    if (slash[1] < '0' || slash[1] > '9')
      return -1;
    prefix = strtol(slash + 1, &end, 10);
    if (*end != '\0')
      return -1;
  }
  memset(c, 0, sizeof(*c));
  if (inet_pton(AF_INET, buf, c->addr) == 1) {
    c->family = AF_INET;
    if (prefix > 32)
      return -1;
    c->prefix = prefix < 0 ? 32 : (unsigned)prefix;
  } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
    c->family = AF_INET6;
    if (prefix > 128)
      return -1;
    c->prefix = prefix < 0 ? 128 : (unsigned)prefix;
  } else {
    return -1;
  }
  return 0;
}

/* Returns 1 when the first bits of a and b are equal. */
static int vq_prefix_eq(const unsigned char *a, const unsigned char *b,
                        unsigned bits) {
  unsigned bytes = bits / 8, rest = bits % 8;
  if (memcmp(a, b, bytes) != 0)
    return 0;
  if (rest == 0)
    return 1;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

int vq_cidr_match(const vq_cidr_t *c, const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return c->family == AF_INET &&
           vq_prefix_eq(c->addr, (const unsigned char *)&in->sin_addr,
                        c->prefix);
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    const unsigned char *a = in6->sin6_addr.s6_addr;
    if (c->family == AF_INET6)
      return vq_prefix_eq(c->addr, a, c->prefix);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
      return vq_prefix_eq(c->addr, a + 12, c->prefix);
  }
  return 0;
}

int vq_cidr_allowed(const vq_cidr_t *list, size_t n,
                    const struct sockaddr *sa) {
  if (n == 0)
    return 1;
  for (size_t i = 0; i < n; i++)
    if (vq_cidr_match(&list[i], sa))
      return 1;
  return 0;
}

/* Returns 1 when the len bytes at a equal the NUL-terminated b, taking
 * time that depends only on the lengths. */
static int vq_secret_eq(const char *a, size_t len, const char *b) {
  size_t blen = strlen(b);
  unsigned char diff = (unsigned char)(len != blen);
  for (size_t i = 0; i < blen; i++)
    diff |= (unsigned char)(b[i] ^ (i < len ? a[i] : 0));
  return diff == 0;
}

vq_reason_t vq_cookie_check(const vq_site_cookie_t *list, size_t n,
                            const vq_message_t *m) {
  /* Compare the names the values are stored under: "a.b" and "a_b" are
   * one host, so the cookie of either protects both. */
  vq_str_t site = m->str[VQ_S_SITE];
  char claimed[VQ_NAME_MAX];
  if (site.ptr == NULL ||
      cm_name_sanitise(claimed, sizeof(claimed), site.ptr, site.len, 0) < 0)
    return VQ_OK; /* no usable site: rejected later as missing or too long */
  for (size_t i = 0; i < n; i++) {
    char protected_site[VQ_NAME_MAX];
    if (cm_name_sanitise(protected_site, sizeof(protected_site), list[i].site,
                         strlen(list[i].site), 0) < 0 ||
        strcmp(protected_site, claimed) != 0)
      continue;
    vq_str_t cookie = m->str[VQ_S_COOKIE];
    if (cookie.ptr == NULL ||
        !vq_secret_eq(cookie.ptr, cookie.len, list[i].cookie))
      return VQ_REJ_COOKIE;
    return VQ_OK;
  }
  return VQ_OK;
}

char *vq_addr_format(const struct sockaddr *sa, char *buf, size_t size) {
  const void *a = NULL;
  if (sa->sa_family == AF_INET)
    a = &((const struct sockaddr_in *)sa)->sin_addr;
  else if (sa->sa_family == AF_INET6)
    a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
  if (a == NULL || inet_ntop(sa->sa_family, a, buf, (socklen_t)size) == NULL)
    snprintf(buf, size, "(unknown)");
  return buf;
}
