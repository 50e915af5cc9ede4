/* SPDX-License-Identifier: MIT */
/*
 * gm_spoof.c: synthetic addresses and the registry of spoofed hosts.
 */
#include "gm_spoof.h"

#include "common/cm_htab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gm_hosts {
  gm_net_t net;
  cm_htab_t *by_name; /* name -> gm_host_t */
  cm_htab_t *by_addr; /* 4 bytes of addr -> gm_host_t */
};

int gm_net_parse(const char *s, gm_net_t *net, char *err, size_t errsize) {
  unsigned a, b, c, d, len;
  char tail;
  if (sscanf(s, "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &len, &tail) != 5) {
    snprintf(err, errsize, "\"%s\" is not a.b.c.d/len", s);
    return -1;
  }
  if (a > 255 || b > 255 || c > 255 || d > 255) {
    snprintf(err, errsize, "\"%s\": an octet is above 255", s);
    return -1;
  }
  if (len < 8 || len > 30) {
    snprintf(err, errsize, "\"%s\": prefix length must be 8..30", s);
    return -1;
  }
  uint32_t base = (a << 24) | (b << 16) | (c << 8) | d;
  uint32_t mask = 0xffffffffu << (32 - len);
  if ((base & ~mask) != 0) {
    snprintf(err, errsize, "\"%s\": host bits are not zero", s);
    return -1;
  }
  net->base = base;
  net->prefix = len;
  return 0;
}

uint32_t gm_net_address(const gm_net_t *net, const char *name, uint32_t probe) {
  uint32_t usable = (1u << (32 - net->prefix)) - 2; /* no .0, no broadcast */
  uint64_t h = cm_hash(name, strlen(name));
  uint32_t off = (uint32_t)((h ^ (h >> 32)) % usable);
  return net->base + 1 + (uint32_t)(((uint64_t)off + probe) % usable);
}

int gm_spoof_string(char *dst, size_t size, uint32_t addr, const char *name) {
  int n = snprintf(dst, size, "%u.%u.%u.%u:%s", addr >> 24, (addr >> 16) & 255,
                   (addr >> 8) & 255, addr & 255, name);
  return n < 0 || (size_t)n >= size ? -1 : n;
}

gm_hosts_t *gm_hosts_create(const gm_net_t *net) {
  gm_hosts_t *h = calloc(1, sizeof(*h));
  if (h == NULL)
    return NULL;
  h->net = *net;
  h->by_name = cm_htab_create();
  h->by_addr = cm_htab_create();
  if (h->by_name == NULL || h->by_addr == NULL) {
    gm_hosts_destroy(h);
    return NULL;
  }
  return h;
}

void gm_hosts_destroy(gm_hosts_t *h) {
  if (h == NULL)
    return;
  cm_htab_destroy(h->by_addr, NULL);
  cm_htab_destroy(h->by_name, free);
  free(h);
}

size_t gm_hosts_count(const gm_hosts_t *h) {
  return cm_htab_count(h->by_name);
}

/* Returns a new host for name with a free address, entered in both tables,
 * or NULL (network full, name too long, out of memory). */
static gm_host_t *gm_hosts_add(gm_hosts_t *h, const char *name) {
  size_t nl = strlen(name);
  uint32_t usable = (1u << (32 - h->net.prefix)) - 2;
  if (nl + 1 > sizeof(((gm_host_t *)0)->name) ||
      cm_htab_count(h->by_addr) >= usable)
    return NULL;
  gm_host_t *e = calloc(1, sizeof(*e));
  if (e == NULL)
    return NULL;
  memcpy(e->name, name, nl + 1);
  for (uint32_t probe = 0;; probe++) {
    e->addr = gm_net_address(&h->net, name, probe);
    if (cm_htab_get(h->by_addr, &e->addr, sizeof(e->addr)) == NULL)
      break;
    e->collided = 1;
  }
  if (gm_spoof_string(e->spoof, sizeof(e->spoof), e->addr, name) < 0 ||
      cm_htab_put(h->by_name, e->name, nl, e) != 0) {
    free(e);
    return NULL;
  }
  if (cm_htab_put(h->by_addr, &e->addr, sizeof(e->addr), e) != 0)
    return NULL; /* stays in by_name, freed with the registry */
  return e;
}

const gm_host_t *gm_hosts_touch(gm_hosts_t *h, const char *name, size_t route,
                                double now, double interval, double meta_period,
                                int *send_meta) {
  gm_host_t *e = cm_htab_get(h->by_name, name, strlen(name));
  if (e == NULL) {
    e = gm_hosts_add(h, name);
    if (e == NULL)
      return NULL;
    e->next_meta = now;
  }
  e->route = route;
  e->last_seen = now;
  if (meta_period <= 0) {
    *send_meta = 1;
    return e;
  }
  if (now >= e->next_meta) {
    e->meta_until = now + (interval > 0 ? interval : 0);
    e->next_meta = now + meta_period;
    *send_meta = 1;
    return e;
  }
  *send_meta = now <= e->meta_until;
  return e;
}

size_t gm_hosts_expire(gm_hosts_t *h, double now, double timeout) {
  size_t iter = 0, removed = 0;
  gm_host_t *e;
  while ((e = cm_htab_next(h->by_name, &iter)) != NULL)
    removed += now - e->last_seen > timeout;
  if (removed == 0)
    return 0;
  /* cm_htab has no delete: rebuild both tables from the survivors. */
  cm_htab_t *names = cm_htab_create(), *addrs = cm_htab_create();
  if (names == NULL || addrs == NULL) {
    cm_htab_destroy(names, NULL);
    cm_htab_destroy(addrs, NULL);
    return 0; /* try again next time */
  }
  iter = 0;
  while ((e = cm_htab_next(h->by_name, &iter)) != NULL) {
    if (now - e->last_seen > timeout ||
        cm_htab_put(names, e->name, strlen(e->name), e) != 0) {
      free(e);
      continue;
    }
    /* On failure the host keeps its address but it may be handed out
     * again: harmless compared with dropping the host. */
    (void)cm_htab_put(addrs, &e->addr, sizeof(e->addr), e);
  }
  cm_htab_destroy(h->by_name, NULL);
  cm_htab_destroy(h->by_addr, NULL);
  h->by_name = names;
  h->by_addr = addrs;
  return removed;
}

const gm_host_t *gm_hosts_next(const gm_hosts_t *h, size_t *iter) {
  return cm_htab_next(h->by_name, iter);
}
