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
  cm_htab_t *aliases; /* alias -> gm_alias_t */
};

/* An alias of a host, by name (hosts are freed at expiry; names stay). */
typedef struct {
  char alias[GM_NAME_MAX];
  char name[GM_NAME_MAX];
} gm_alias_t;

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
  h->aliases = cm_htab_create();
  if (h->by_name == NULL || h->by_addr == NULL || h->aliases == NULL) {
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
  cm_htab_destroy(h->aliases, free);
  free(h);
}

size_t gm_hosts_count(const gm_hosts_t *h) {
  return cm_htab_count(h->by_name);
}

/* Returns 1 when addr is free for host e (unused, or e's own). */
static int gm_addr_free(const gm_hosts_t *h, uint32_t addr,
                        const gm_host_t *e) {
  const gm_host_t *o = cm_htab_get(h->by_addr, &addr, sizeof(addr));
  return o == NULL || o == e;
}

/* Returns a new host for s with a free address, entered in both tables,
 * or NULL (network full, name too long, out of memory). */
static gm_host_t *gm_hosts_add(gm_hosts_t *h, const gm_sighting_t *s) {
  size_t nl = strlen(s->name);
  uint32_t usable = (1u << (32 - h->net.prefix)) - 2;
  if (nl + 1 > sizeof(((gm_host_t *)0)->name) ||
      (s->addr == 0 && cm_htab_count(h->by_addr) >= usable))
    return NULL;
  gm_host_t *e = calloc(1, sizeof(*e));
  if (e == NULL)
    return NULL;
  memcpy(e->name, s->name, nl + 1);
  if (s->space != NULL && strlen(s->space) < sizeof(e->space))
    strcpy(e->space, s->space);
  if (s->addr != 0 && gm_addr_free(h, s->addr, NULL)) {
    e->addr = s->addr;
    e->real = 1;
  } else {
    for (uint32_t probe = 0; probe <= usable; probe++) {
      e->addr = gm_net_address(&h->net, s->name, probe);
      if (gm_addr_free(h, e->addr, NULL))
        break;
      e->collided = 1;
    }
  }
  if (!gm_addr_free(h, e->addr, NULL) ||
      gm_spoof_string(e->spoof, sizeof(e->spoof), e->addr, e->name) < 0 ||
      cm_htab_put(h->by_name, e->name, nl, e) != 0) {
    free(e);
    return NULL;
  }
  if (cm_htab_put(h->by_addr, &e->addr, sizeof(e->addr), e) != 0)
    return NULL; /* stays in by_name, freed with the registry */
  return e;
}

/* Moves e to its real address addr when that is free. Returns nothing: a
 * host that cannot move keeps the address it has. */
static void gm_host_move(gm_hosts_t *h, gm_host_t *e, uint32_t addr) {
  char spoof[sizeof(e->spoof)];
  if (!gm_addr_free(h, addr, e) ||
      gm_spoof_string(spoof, sizeof(spoof), addr, e->name) < 0)
    return;
  uint32_t old = e->addr;
  e->addr = addr;
  if (cm_htab_get(h->by_addr, &e->addr, sizeof(e->addr)) == NULL &&
      cm_htab_put(h->by_addr, &e->addr, sizeof(e->addr), e) != 0) {
    e->addr = old;
    return;
  }
  /* The old entry of by_addr is keyed by the bytes of e->addr, which now
   * hold the new address: a lookup of the old address no longer matches it
   * (that address is free again) and the entry is dropped at the next
   * expiry, which rebuilds the table. */
  memcpy(e->spoof, spoof, sizeof(spoof));
  e->real = 1;
  e->next_meta = 0; /* the new host needs its metadata at once */
}

const gm_host_t *gm_hosts_touch(gm_hosts_t *h, const gm_sighting_t *s,
                                double now, double meta_period,
                                int *send_meta) {
  gm_host_t *e = cm_htab_get(h->by_name, s->name, strlen(s->name));
  if (e == NULL) {
    e = gm_hosts_add(h, s);
    if (e == NULL)
      return NULL;
    e->next_meta = now;
  } else if (s->addr != 0 && s->addr != e->addr) {
    gm_host_move(h, e, s->addr);
  }
  e->route = s->route;
  e->last_seen = now;
  if (meta_period <= 0) {
    *send_meta = 1;
    return e;
  }
  if (now >= e->next_meta) {
    e->meta_until = now + (s->interval > 0 ? s->interval : 0);
    e->next_meta = now + meta_period;
    *send_meta = 1;
    return e;
  }
  *send_meta = now <= e->meta_until;
  return e;
}

int gm_hosts_alias(gm_hosts_t *h, const char *alias, const char *name) {
  size_t al = strlen(alias), nl = strlen(name);
  if (h->aliases == NULL || al == 0 || al >= GM_NAME_MAX || nl >= GM_NAME_MAX)
    return -1;
  gm_alias_t *a = cm_htab_get(h->aliases, alias, al);
  if (a != NULL) {
    memcpy(a->name, name, nl + 1);
    return 0;
  }
  if ((a = calloc(1, sizeof(*a))) == NULL)
    return -1;
  memcpy(a->alias, alias, al + 1);
  memcpy(a->name, name, nl + 1);
  if (cm_htab_put(h->aliases, a->alias, al, a) != 0) {
    free(a);
    return -1;
  }
  return 0;
}

const char *gm_hosts_lookup_alias(const gm_hosts_t *h, const char *alias) {
  const gm_alias_t *a =
      h->aliases != NULL ? cm_htab_get(h->aliases, alias, strlen(alias)) : NULL;
  return a != NULL ? a->name : NULL;
}

uint32_t gm_addr_parse(const char *s) {
  unsigned a, b, c, d;
  char tail;
  if (s == NULL || sscanf(s, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) != 4 ||
      a > 255 || b > 255 || c > 255 || d > 255)
    return 0;
  return (a << 24) | (b << 16) | (c << 8) | d;
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
  /* Aliases of the hosts that are gone go too. */
  cm_htab_t *aliases = cm_htab_create();
  gm_alias_t *a;
  iter = 0;
  while ((a = cm_htab_next(h->aliases, &iter)) != NULL) {
    if (aliases == NULL ||
        cm_htab_get(names, a->name, strlen(a->name)) == NULL ||
        cm_htab_put(aliases, a->alias, strlen(a->alias), a) != 0)
      free(a);
  }
  cm_htab_destroy(h->aliases, NULL);
  h->aliases = aliases != NULL ? aliases : cm_htab_create();
  return removed;
}

const gm_host_t *gm_hosts_next(const gm_hosts_t *h, size_t *iter) {
  return cm_htab_next(h->by_name, iter);
}
