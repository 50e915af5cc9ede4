/* SPDX-License-Identifier: MIT */
/*
 * gm_route.c: site-to-channel routing and gmond.conf helpers.
 */
#include "gm_route.h"

#include "common/cm_htab.h"
#include "common/cm_name.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct gm_routes {
  cm_htab_t *sites; /* sanitised site -> gm_site_t */
};

typedef struct {
  char name[128]; /* a collectd host name (DATA_MAX_NAME_LEN) */
  size_t route;
} gm_site_t;

gm_routes_t *gm_routes_create(void) {
  gm_routes_t *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  r->sites = cm_htab_create();
  if (r->sites == NULL) {
    free(r);
    return NULL;
  }
  return r;
}

void gm_routes_destroy(gm_routes_t *r) {
  if (r == NULL)
    return;
  cm_htab_destroy(r->sites, free);
  free(r);
}

int gm_routes_add(gm_routes_t *r, const char *site, size_t route, char *err,
                  size_t errsize) {
  gm_site_t *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    snprintf(err, errsize, "out of memory");
    return -1;
  }
  int n = cm_name_sanitise(s->name, sizeof(s->name), site, strlen(site), 0);
  const char *why = n < 0 ? "empty or too long"
                    : cm_htab_get(r->sites, s->name, (size_t)n) ? "routed twice"
                                                                : NULL;
  s->route = route;
  if (why == NULL && cm_htab_put(r->sites, s->name, (size_t)n, s) != 0)
    why = "out of memory";
  if (why != NULL) {
    snprintf(err, errsize, "site \"%s\": %s", site, why);
    free(s);
    return -1;
  }
  return 0;
}

size_t gm_routes_lookup(const gm_routes_t *r, const char *host) {
  const gm_site_t *s = cm_htab_get(r->sites, host, strlen(host));
  return s ? s->route : 0;
}

int gm_conf_check_path(const char *path, char *err, size_t errsize) {
  struct stat st;
  if (path == NULL || path[0] == '\0') {
    snprintf(err, errsize, "GmondConf: empty path");
    return -1;
  }
  if (stat(path, &st) != 0) {
    snprintf(err, errsize, "GmondConf \"%s\": %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errsize, "GmondConf \"%s\": not a regular file", path);
    return -1;
  }
  if (access(path, R_OK) != 0) {
    snprintf(err, errsize, "GmondConf \"%s\": %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

int gm_conf_channels_text(char *dst, size_t size, const char *const *hosts,
                          size_t n, int port, char *err, size_t errsize) {
  if (n == 0) {
    snprintf(err, errsize, "Host: no host given");
    return -1;
  }
  if (port < 1 || port > 65535) {
    snprintf(err, errsize, "Port %d: not in 1..65535", port);
    return -1;
  }
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    if (hosts[i][0] == '\0' || strpbrk(hosts[i], "\"'{} \t\r\n#/") != NULL) {
      snprintf(err, errsize, "Host \"%s\": not a host name or address",
               hosts[i]);
      return -1;
    }
    int w = snprintf(dst + len, size - len,
                     "udp_send_channel {\n  host = \"%s\"\n  port = %d\n}\n",
                     hosts[i], port);
    if (w < 0 || (size_t)w >= size - len) {
      snprintf(err, errsize, "Host: too many or too long host names");
      return -1;
    }
    len += (size_t)w;
  }
  return (int)len;
}

int gm_conf_child_status(int waited, int wstatus, char *output) {
  char *mark = strstr(output, GM_CONF_CHILD_MARK);
  if (mark != NULL) {
    size_t ml = strlen(GM_CONF_CHILD_MARK);
    memmove(mark, mark + ml, strlen(mark + ml) + 1);
  }
  if (waited)
    return wstatus;
  /* The same encoding as the wait macros: exit code in bits 8..15. */
  return mark != NULL ? 0 : 1 << 8;
}

int gm_conf_child_message(char *dst, size_t size, const char *path, int wstatus,
                          const char *output) {
  char out[512] = "";
  if (output != NULL) {
    /* Lines joined with spaces, then any other control byte made safe. */
    size_t l = 0;
    for (; output[l] != '\0' && l + 1 < sizeof(out); l++)
      out[l] = output[l] == '\n' || output[l] == '\r' ? ' ' : output[l];
    out[l] = '\0';
    cm_text_printable(out, sizeof(out), out, l);
    while (l > 0 && out[l - 1] == ' ')
      out[--l] = '\0';
  }
  const char *what;
  int rc = -1;
  if (WIFSIGNALED(wstatus)) {
    snprintf(dst, size,
             "GmondConf \"%s\": libganglia died (signal %d) "
             "reading it%s%s",
             path, WTERMSIG(wstatus), out[0] ? ": " : "", out);
    return -1;
  }
  switch (WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1) {
  case GM_CONF_CHILD_OK:
    what = "usable";
    rc = 0;
    break;
  case GM_CONF_CHILD_NO_CHANNEL:
    what = "has no udp_send_channel";
    break;
  case GM_CONF_CHILD_NO_POOL:
    what = "could not be tried (APR pool)";
    break;
  case 1:
    what = "rejected by libganglia (parse error, or a channel it cannot "
           "open)";
    break;
  default:
    what = "could not be tried";
    break;
  }
  snprintf(dst, size, "GmondConf \"%s\": %s%s%s", path, what,
           out[0] ? ": " : "", out);
  return rc;
}
