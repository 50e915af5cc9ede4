/* SPDX-License-Identifier: MIT */
/*
 * gm_metric.h: a collectd value (plain structs, no collectd types) to the
 * parameters of one Ganglia gmetric.
 *
 * Naming: the Ganglia host is the value list's ganglia_host when the
 * caller sets one (write_gmond: a factory's own name), else its host. The
 * metric is "[<prefix>.]<type>[.<type_instance>].<ds>" for a short name
 * (the host already says what the values are about), else
 * "[<prefix>.]<plugin>[.<plugin_instance>].<type>[.<type_instance>].<ds>".
 * Units come from a table the caller configures (gm_units_t), matched on
 * the DS name. Every byte outside [A-Za-z0-9_.-] becomes '_' (Ganglia
 * rejects '"').
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

/* The identifier of a value list and its interval in seconds, and how the
 * caller wants it named in Ganglia (see the naming rules above). */
typedef struct {
  const char *host, *plugin, *plugin_instance, *type, *type_instance;
  double interval;
  const char *ganglia_host; /* NULL or "": the host */
  const char *name_prefix;  /* NULL or "": none */
  int short_name;           /* 1: no plugin and plugin instance in the name */
} gm_vl_t;

/* One units rule: a DS name pattern (exact, or "*suffix"), its Ganglia
 * units, and whether the quantity counts whole things (sent as uint32). */
typedef struct {
  char *pattern;
  char *units;
  int integral;
} gm_unit_rule_t;

/* The units table, first match wins. Start with GM_UNITS_INIT. */
typedef struct {
  gm_unit_rule_t *rules;
  size_t num;
} gm_units_t;

#define GM_UNITS_INIT                                                          \
  { NULL, 0 }

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
  const char *units;        /* owned by the units table, or static "" */
  gm_slope_t slope;
  unsigned tmax, dmax;
} gm_metric_t;

/* Appends a rule (strings copied) to u. Returns 0, or -1 when out of
 * memory or pattern or units is NULL or pattern is empty. */
int gm_units_add(gm_units_t *u, const char *pattern, const char *units,
                 int integral);

/* Frees every rule; u is empty and usable again. */
void gm_units_free(gm_units_t *u);

/*
 * Fills out with the gmetric for value v of data source ds of value list
 * vl: names as above, the Ganglia type and units chosen by DS name from
 * units (see gm_metric_units; NULL: no units), slope "both" for gauges and
 * "positive" for counters (DERIVE/COUNTER values are sent as uint32 modulo
 * 2^32, as an RRD COUNTER expects), tmax = the interval rounded up (at least
 * 1), dmax as given. Returns GM_OK, or a reason why nothing should be sent (out
 * is then unspecified). No allocation.
 */
gm_status_t gm_metric_map(const gm_vl_t *vl, const gm_ds_t *ds,
                          const gm_value_t *v, unsigned dmax,
                          const gm_units_t *units, gm_metric_t *out);

/*
 * Returns the units of the first rule of u (NULL: none) whose pattern
 * matches ds_name, or "" when none does, and stores in *integral whether
 * the quantity is a whole number (sent as uint32 when in range). The
 * string is owned by u.
 */
const char *gm_metric_units(const gm_units_t *u, const char *ds_name,
                            int *integral);

/* Returns the name of a gm_status_t (static), for log lines. */
const char *gm_status_name(gm_status_t s);

/*
 * Writes the Ganglia-safe form of src into dst (size bytes): every byte
 * outside [A-Za-z0-9_.-] becomes '_'. Returns the length, or -1 when src is
 * empty or does not fit.
 */
int gm_name_clean(char *dst, size_t size, const char *src);

#endif
