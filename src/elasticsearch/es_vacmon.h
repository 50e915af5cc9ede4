/* SPDX-License-Identifier: MIT */
/*
 * es_vacmon.h: vacquery notifications as the documents VacMon stored
 * (write_elasticsearch Format "vacmon").
 *
 * One document per message notification (factory_status,
 * machinetype_status) and finished-machine notification (machine_status):
 * the message's fields at the top level with vacmond's legacy fix-ups, the
 * VO derived from fqan, time_received (epoch seconds of the notification's
 * time) and, for data streams, @timestamp. Each field is typed as the
 * index's mapping says (graphs/elasticsearch/vacmon-{factories,
 * machinetypes,machines}.json, embedded at build time): long, double,
 * keyword or date (epoch_second).
 *
 * Pure C11 over the plain structs of es_doc.h.
 */
#ifndef ES_VACMON_H
#define ES_VACMON_H

#include "es_doc.h"

#include <stdbool.h>
#include <stddef.h>

/* The three VacMon indices. */
typedef enum {
  ES_VM_FACTORIES = 0,
  ES_VM_MACHINETYPES = 1,
  ES_VM_MACHINES = 2,
  ES_VM_COUNT
} es_vm_index_t;

/* The type a VacMon mapping gives a field. */
typedef enum {
  ES_VM_UNMAPPED = 0, /* kept as it came, not indexed (dynamic false) */
  ES_VM_KEYWORD,
  ES_VM_LONG,
  ES_VM_DOUBLE,
  ES_VM_DATE /* epoch_second */
} es_vm_type_t;

/* The shipped templates, embedded at build time (es_templates.c). */
extern const char es_template_factories_json[];
extern const char es_template_machinetypes_json[];
extern const char es_template_machines_json[];

/* Returns the shipped template of ix (static). */
const char *es_vacmon_template_json(es_vm_index_t ix);

/* Returns "factories", "machinetypes" or "machines" (static). */
const char *es_vacmon_index_base(es_vm_index_t ix);

/* The field types of the three mappings, read once from the templates. */
typedef struct es_vacmon es_vacmon_t;

/* Parses the embedded templates. Returns a table the caller frees with
 * es_vacmon_free, or NULL with a message in err. */
es_vacmon_t *es_vacmon_new(char *err, size_t errlen);

/* Frees vm (NULL is ignored). */
void es_vacmon_free(es_vacmon_t *vm);

/* Returns the mapped type of field key in index ix. */
es_vm_type_t es_vacmon_type(const es_vacmon_t *vm, es_vm_index_t ix,
                            const char *key);

/* Sets *ix to the index of a vacquery notification (plugin "vacquery", type
 * "vacquery_message" with meta message_type factory_status or
 * machinetype_status, or type "vacquery_finished"). Returns 0, or -1 for
 * any other notification (which a vacmon node ignores). */
int es_vacmon_route(const es_event_t *e, es_vm_index_t *ix);

/* Writes "<base>" or "<prefix>-<base>" (prefix NULL or empty: none), with
 * "-YYYY.MM.DD" (UTC date of time_ns) in daily mode, into buf. Returns 0,
 * or -1 when it does not fit. */
int es_vacmon_index_name(char *buf, size_t size, es_mode_t mode,
                         const char *prefix, es_vm_index_t ix,
                         uint64_t time_ns);

/* Writes the name of the component template the VacMon templates compose,
 * "<prefix>-vacmon@custom" or "vacmon@custom", into buf. Returns 0/-1. */
int es_vacmon_component_name(char *buf, size_t size, const char *prefix);

/* Appends the document of e for index ix to out (no newline); with
 * timestamp, @timestamp (the notification's time) comes first. Returns 0,
 * or -1 when out of memory. */
int es_vacmon_json(const es_vacmon_t *vm, cm_buf_t *out, const es_event_t *e,
                   es_vm_index_t ix, bool timestamp);

/* Returns the bulk pair (create action into the index of mode and prefix
 * with a deterministic _id, es_doc_id of the event's identifier, time and
 * document text, then the document) of e as a malloc'd
 * string the caller frees, its length in *len. Returns NULL with
 * *ignored true when e is not a vacquery message or finished-machine
 * notification, NULL with *ignored false when out of memory or the index
 * name is too long. */
char *es_vacmon_pair(const es_vacmon_t *vm, const es_event_t *e, es_mode_t mode,
                     const char *prefix, size_t *len, bool *ignored);

#endif
