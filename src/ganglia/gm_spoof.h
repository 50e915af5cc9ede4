/* SPDX-License-Identifier: MIT */
/*
 * gm_spoof.h: spoofed Ganglia hosts.
 *
 * gmond keys a spoofed host by the IP part of "ip:hostname", so every
 * host needs its own address. A host seen with a real address (a factory's
 * datagrams come from it) takes that address, so that its metrics join the
 * host the machine's own gmond reports. Otherwise, or when another host
 * already holds that address, the address is derived from the host name
 * (FNV-1a hash into a private network, SpoofNetwork), so it is the same
 * after a restart; a name whose synthetic address is already taken gets the
 * next free one (then the address depends on arrival order, logged).
 *
 * The registry also keeps, per host, the route (gmond channel set) it goes
 * to, when it was last seen (heartbeats stop after HostTimeout) and when
 * its metadata is due again (MetadataInterval). Not thread-safe; callers
 * lock. Times are seconds on any monotonic-enough clock.
 */
#ifndef GM_SPOOF_H
#define GM_SPOOF_H

#include "gm_metric.h"

#include <stddef.h>
#include <stdint.h>

/* An IPv4 network for synthetic addresses. */
typedef struct {
  uint32_t base; /* host order, host bits zero */
  unsigned prefix;
} gm_net_t;

/* Parses "a.b.c.d/len" with len 8..30 (host bits must be zero). Returns 0,
 * or -1 with a reason in err (errsize bytes). */
int gm_net_parse(const char *s, gm_net_t *net, char *err, size_t errsize);

/* Returns the probe-th candidate address (host order) for name in net:
 * never the network or broadcast address. */
uint32_t gm_net_address(const gm_net_t *net, const char *name, uint32_t probe);

/* Writes "a.b.c.d:name" into dst (size bytes). Returns the length, or -1
 * when it does not fit. */
int gm_spoof_string(char *dst, size_t size, uint32_t addr, const char *name);

/* One spoofed host. */
typedef struct {
  char name[GM_NAME_MAX];
  char spoof[GM_NAME_MAX + 16]; /* "ip:name" */
  char space[GM_NAME_MAX];      /* the first space seen, "" when none */
  uint32_t addr;
  int real; /* addr is the host's own (not synthetic) */
  size_t route;
  double last_seen;
  double next_meta;  /* metadata window opens again at this time */
  double meta_until; /* metadata goes with values until this time */
  int collided;      /* the hash address was taken: a later probe used */
} gm_host_t;

typedef struct gm_hosts gm_hosts_t;

/* Returns an empty registry for net (copied), or NULL on allocation
 * failure. */
gm_hosts_t *gm_hosts_create(const gm_net_t *net);

/* Frees the registry and every host. */
void gm_hosts_destroy(gm_hosts_t *h);

/* Returns the number of hosts. */
size_t gm_hosts_count(const gm_hosts_t *h);

/* One sighting of a host: a value list about it. */
typedef struct {
  const char *name;  /* the Ganglia host name, already clean */
  uint32_t addr;     /* its own IPv4 address (host order), or 0: unknown */
  const char *space; /* NULL or the space the values belong to */
  size_t route;      /* the gmond channel set it goes to */
  double interval;   /* the value list's interval, seconds */
} gm_sighting_t;

/*
 * Records sighting s at time now. Adds the host when new, with s->addr when
 * given and free, else a synthetic address; a host known with a synthetic
 * address moves to s->addr once that is given and free. The first space
 * seen stays the host's space. *send_meta is set to 1 when the values of
 * this host should carry metadata: for s->interval seconds (so that every
 * value list of the host gets it once) from the
 * moment the window opens, which is at first sight and then every
 * meta_period seconds (meta_period <= 0: always). Returns the host (owned
 * by the registry, valid until the next gm_hosts_expire), or NULL when the
 * network is full or memory runs out.
 */
const gm_host_t *gm_hosts_touch(gm_hosts_t *h, const gm_sighting_t *s,
                                double now, double meta_period, int *send_meta);

/*
 * Remembers that value lists identified by alias (write_gmond: a plugin
 * instance "<space>.<factory>") belong to host name, for the value lists
 * that do not name their host themselves. Returns 0, or -1 when out of
 * memory or a name does not fit. An alias lives until its host expires.
 */
int gm_hosts_alias(gm_hosts_t *h, const char *alias, const char *name);

/* Returns the host name remembered for alias (owned by the registry, valid
 * until the next gm_hosts_alias or gm_hosts_expire), or NULL. */
const char *gm_hosts_lookup_alias(const gm_hosts_t *h, const char *alias);

/* Parses a dotted IPv4 address ("192.0.2.7"). Returns it in host order, or
 * 0 when s is NULL or not such an address. */
uint32_t gm_addr_parse(const char *s);

/* Removes the hosts not seen for more than timeout seconds before now.
 * Returns how many were removed. */
size_t gm_hosts_expire(gm_hosts_t *h, double now, double timeout);

/* Iterates: start with *iter = 0; returns the next host or NULL. The
 * registry must not change during an iteration. */
const gm_host_t *gm_hosts_next(const gm_hosts_t *h, size_t *iter);

#endif
