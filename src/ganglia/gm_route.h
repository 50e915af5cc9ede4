/* SPDX-License-Identifier: MIT */
/*
 * gm_route.h: which gmond channel set a site's values go to, and the
 * checks and text around gmond.conf files.
 *
 * A gmond reports one cluster, so a collectd that receives several sites
 * sends each site to its own gmond. Route 0 is the default (every site not
 * listed). Site names are compared in their sanitised form (the value
 * list's host, sanitised as cm_name_sanitise does), so a raw name like
 * "sim2.example.ac.uk" may be configured as it is.
 */
#ifndef GM_ROUTE_H
#define GM_ROUTE_H

#include <stddef.h>

typedef struct gm_routes gm_routes_t;

/* Returns an empty table, or NULL on allocation failure. */
gm_routes_t *gm_routes_create(void);

/* Frees the table. */
void gm_routes_destroy(gm_routes_t *r);

/* Sends site (raw or sanitised) to route. Returns 0, or -1 with a reason
 * in err: empty or too long, already routed, out of memory. */
int gm_routes_add(gm_routes_t *r, const char *site, size_t route, char *err,
                  size_t errsize);

/* Returns the route of a value list's host (a sanitised site), or 0. */
size_t gm_routes_lookup(const gm_routes_t *r, const char *host);

/* Exit codes of the child that tries a gmond.conf (libganglia's own
 * exit() calls use 1). */
enum {
  GM_CONF_CHILD_OK = 0,
  GM_CONF_CHILD_NO_CHANNEL = 3,
  GM_CONF_CHILD_NO_POOL = 4,
};

/* The line the child writes just before it exits with GM_CONF_CHILD_OK:
 * collectd ignores SIGCHLD, so waitpid may not report the exit status. */
#define GM_CONF_CHILD_MARK "write_gmond: gmond.conf usable\n"

/*
 * Returns the wait status to judge the child by: wstatus when waited is
 * non-zero, else exit 0 when output holds GM_CONF_CHILD_MARK and exit 1
 * (as libganglia's exit(1)) when not. Removes the mark from output (a
 * NUL-terminated buffer, changed in place).
 */
int gm_conf_child_status(int waited, int wstatus, char *output);

/* Returns 0 when path names a readable regular file, or -1 with a reason
 * naming it in err. */
int gm_conf_check_path(const char *path, char *err, size_t errsize);

/*
 * Writes into dst (size bytes) a gmond.conf holding one udp_send_channel
 * per host of hosts[0..n-1], all on port. Returns the length, or -1 with a
 * reason in err: no host, a host that is empty or holds a quote, space or
 * brace, a port outside 1..65535, or dst too small.
 */
int gm_conf_channels_text(char *dst, size_t size, const char *const *hosts,
                          size_t n, int port, char *err, size_t errsize);

/*
 * Writes into dst (size bytes) what the validation child's wait status
 * means for path, with the child's captured stderr output (may be NULL or
 * empty; control bytes become '?') appended. Returns 0 when the file is
 * usable (exit GM_CONF_CHILD_OK), -1 otherwise.
 */
int gm_conf_child_message(char *dst, size_t size, const char *path, int wstatus,
                          const char *output);

#endif
