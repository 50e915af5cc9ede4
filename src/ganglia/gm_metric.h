/* SPDX-License-Identifier: MIT */
/*
 * gm_metric.h: a collectd value (plain structs, no collectd types) to the
 * parameters of one Ganglia gmetric.
 *
 * Naming: for the vacquery plugin the Ganglia host is the factory
 * (plugin instance "<space>.<factory>"; the value list's host, the site,
 * when the plugin instance is empty) and the metric is
 * "<type>[.<type_instance>].<ds>". Any other plugin keeps its host and
 * gets "<plugin>[.<plugin_instance>].<type>[.<type_instance>].<ds>".
 * Every byte outside [A-Za-z0-9_.-] becomes '_' (Ganglia rejects '"').
 */
#ifndef GM_METRIC_H
#define GM_METRIC_H

#include <stddef.h>
#include <stdint.h>

/* Size of a Ganglia host or metric name buffer (collectd's identifiers are
 * at most 127 bytes each; a metric name joins up to five of them). */
#define GM_NAME_MAX 256
/* Size of a formatted value. */
#define GM_VALUE_MAX 48
/* The plugin whose values describe factories. */
#define GM_VACQUERY_PLUGIN "vacquery"

/* Same numbering as libganglia's enum ganglia_slope. */
typedef enum {
  GM_SLOPE_ZERO = 0,
  GM_SLOPE_POSITIVE = 1,
  GM_SLOPE_NEGATIVE = 2,
  GM_SLOPE_BOTH = 3,
} gm_slope_t;

/* collectd's data source kinds. */
typedef enum {
  GM_DS_GAUGE,
  GM_DS_DERIVE,
  GM_DS_COUNTER,
  GM_DS_ABSOLUTE,
} gm_ds_kind_t;

/* One value of a value list, as collectd's value_t. */
typedef union {
  double gauge;
  int64_t derive;
  uint64_t counter;
  uint64_t absolute;
} gm_value_t;

/* The identifier of a value list and its interval in seconds. */
typedef struct {
  const char *host, *plugin, *plugin_instance, *type, *type_instance;
  double interval;
} gm_vl_t;

/* One data source of the value list's type. */
typedef struct {
  const char *name;
  gm_ds_kind_t kind;
} gm_ds_t;

/* Result codes of gm_metric_map. */
typedef enum {
  GM_OK = 0,
  GM_SKIP_NAN,  /* a gauge without a value (NaN): nothing to send */
  GM_TOO_LONG,  /* a name does not fit GM_NAME_MAX */
  GM_BAD_INPUT, /* empty host, type or DS name, or an infinite gauge */
} gm_status_t;

/* The parameters of Ganglia_metric_set, plus the Ganglia host. */
typedef struct {
  char host[GM_NAME_MAX];   /* the (spoofed) Ganglia host name */
  char name[GM_NAME_MAX];   /* the metric name */
  char value[GM_VALUE_MAX]; /* formatted for type */
  const char *type;         /* "uint32", "float" or "double" (static) */
  const char *units;        /* static */
  gm_slope_t slope;
  unsigned tmax, dmax;
} gm_metric_t;

/*
 * Fills out with the gmetric for value v of data source ds of value list
 * vl: names as above, the Ganglia type and units chosen by DS name (see
 * gm_metric_units), slope "both" for gauges and "positive" for counters
 * (DERIVE/COUNTER values are sent as uint32 modulo 2^32, as an RRD COUNTER
 * expects), tmax = the interval rounded up (at least 1), dmax as given.
 * Returns GM_OK, or a reason why nothing should be sent (out is then
 * unspecified). No allocation.
 */
gm_status_t gm_metric_map(const gm_vl_t *vl, const gm_ds_t *ds,
                          const gm_value_t *v, unsigned dmax, gm_metric_t *out);

/*
 * Returns the Ganglia units for a DS name ("processors", "machines",
 * "HS06", "load", "KiB", "inodes", "s", "bytes", ...; "" when unknown) and
 * stores in *integral whether the quantity is a whole number (sent as
 * uint32 when in range). Returned strings are static.
 */
const char *gm_metric_units(const char *ds_name, int *integral);

/* Returns the name of a gm_status_t (static), for log lines. */
const char *gm_status_name(gm_status_t s);

/* Returns the libganglia name of a slope ("zero", "positive", ...). */
const char *gm_slope_name(gm_slope_t s);

/*
 * Writes the Ganglia-safe form of src into dst (size bytes): every byte
 * outside [A-Za-z0-9_.-] becomes '_'. Returns the length, or -1 when src is
 * empty or does not fit.
 */
int gm_name_clean(char *dst, size_t size, const char *src);

#endif
