/* SPDX-License-Identifier: MIT */
/*
 * vq_policy.h: who may send, and what a site's messages must carry.
 *
 * AllowFrom networks (CIDR, IPv4 and IPv6; an IPv4-mapped IPv6 source
 * matches IPv4 networks) and per-site shared-secret cookies.
 */
#ifndef VQ_POLICY_H
#define VQ_POLICY_H

#include "vq_message.h"

#include <stddef.h>
#include <sys/socket.h>

typedef struct {
  int family; /* AF_INET or AF_INET6 */
  unsigned char addr[16];
  unsigned prefix;
} vq_cidr_t;

/* Parses "192.0.2.0/24", "2001:db8::/32" or a bare address (a host).
 * Returns 0 and fills *c, or -1 when s is not a valid network. */
int vq_cidr_parse(const char *s, vq_cidr_t *c);

/* Returns 1 when the address sa belongs to network c, else 0. */
int vq_cidr_match(const vq_cidr_t *c, const struct sockaddr *sa);

/* Returns 1 when sa matches any of the n networks, or when n is 0. */
int vq_cidr_allowed(const vq_cidr_t *list, size_t n, const struct sockaddr *sa);

typedef struct {
  const char *site;   /* raw site name, as in the messages */
  const char *cookie; /* the secret its messages must carry */
} vq_site_cookie_t;

/* Returns VQ_OK when m's site has no cookie among the n entries or m
 * carries it, else VQ_REJ_COOKIE. Sites are compared by their sanitised
 * names (the host their values are stored under), so "a.b", "a_b" and
 * "a/b" share the cookie of any of them. The cookie is compared in
 * constant time. */
vq_reason_t vq_cookie_check(const vq_site_cookie_t *list, size_t n,
                            const vq_message_t *m);

/* Writes the address of sa (no port) into buf. Returns buf. */
char *vq_addr_format(const struct sockaddr *sa, char *buf, size_t size);

#endif
