/* SPDX-License-Identifier: MIT */
/*
 * es_doc.h: collectd value lists and notifications as Elasticsearch
 * documents: the JSON source, the deterministic _id, the target index and
 * the bulk "create" action that carries them.
 *
 * Pure C11: the plugin copies collectd's structs into the plain structs
 * below (borrowing their strings) and gets back malloc'd text.
 */
#ifndef ES_DOC_H
#define ES_DOC_H

#include "common/cm_buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of a document _id: 32 lowercase hex digits (128 bits). */
#define ES_ID_LEN 32

/* Longest index name we build (ES limit: 255 bytes). */
#define ES_INDEX_MAX 256

typedef enum { ES_KIND_METRICS = 0, ES_KIND_EVENTS = 1 } es_kind_t;

typedef enum { ES_MODE_DAILY = 0, ES_MODE_DATASTREAM = 1 } es_mode_t;

/* What a node writes: collectd's value lists and notifications as they are
 * (Format "collectd", the default), or the vacquery notifications as the
 * documents VacMon stored (Format "vacmon", see es_vacmon.h). */
typedef enum { ES_FORMAT_COLLECTD = 0, ES_FORMAT_VACMON = 1 } es_format_t;

typedef enum {
  ES_VAL_NULL = 0,
  ES_VAL_STRING,
  ES_VAL_INT,
  ES_VAL_UINT,
  ES_VAL_DOUBLE,
  ES_VAL_BOOL
} es_val_kind_t;

/* One named JSON value: a meta field or a data-source value. Strings are
 * borrowed. */
typedef struct {
  const char *key;
  es_val_kind_t kind;
  union {
    const char *s;
    int64_t i;
    uint64_t u;
    double d;
    bool b;
  } v;
} es_field_t;

/* The five collectd identifier fields (borrowed). */
typedef struct {
  const char *host, *plugin, *plugin_instance, *type, *type_instance;
} es_ident_t;

/* A value list. values[i].key is the DS name. */
typedef struct {
  es_ident_t id;
  uint64_t time_ns; /* value time, ns since the epoch */
  double interval;  /* seconds */
  const es_field_t *values;
  size_t values_num;
  const es_field_t *meta;
  size_t meta_num;
} es_metric_t;

/* A notification. severity is collectd's: 1 FAILURE, 2 WARNING, 4 OKAY. */
typedef struct {
  es_ident_t id;
  uint64_t time_ns;
  int severity;
  const char *message;
  const es_field_t *meta;
  size_t meta_num;
} es_event_t;

/* Returns "FAILURE", "WARNING", "OKAY" or "UNKNOWN" (static). */
const char *es_severity_name(int severity);

/* Returns 0 when s is first, 1 when it is second (any case), -1 otherwise
 * (NULL too). */
int es_choice_parse(const char *s, const char *first, const char *second);

/* Parses "collectd" or "vacmon" (any case) into *format. Returns 0 or -1. */
int es_format_parse(const char *s, es_format_t *format);

/* Parses "daily" or "datastream" (any case) into *mode. Returns 0 or -1. */
int es_mode_parse(const char *s, es_mode_t *mode);

/* Writes the index (or data stream) name for kind at time_ns into buf:
 * daily: <prefix>-<metrics|events>-YYYY.MM.DD (UTC date of time_ns);
 * datastream: <prefix>-<metrics|events>. Returns 0, or -1 when it does not
 * fit into size bytes. */
int es_index_name(char *buf, size_t size, es_mode_t mode, const char *prefix,
                  es_kind_t kind, uint64_t time_ns);

/* Writes time_ns as "YYYY-MM-DDTHH:MM:SS.mmmZ" (25 bytes with the NUL) into
 * buf. Returns 0, or -1 when size < 25 or the year is outside 0..9999. */
int es_timestamp(char *buf, size_t size, uint64_t time_ns);

/* Writes the deterministic _id (ES_ID_LEN hex digits + NUL) into out: the
 * 128-bit FNV-1a hash of the five identifier fields, each followed by a 0
 * byte, then time_ns (8 bytes, little endian), then message and a 0 byte
 * when message is not NULL. Same inputs, same _id. */
void es_doc_id(char out[ES_ID_LEN + 1], const es_ident_t *id, uint64_t time_ns,
               const char *message);

/* Returns 1 when key is one of the fixed top-level fields of a document of
 * that kind (then a meta field of that name is written as meta_<key>). */
int es_doc_fixed_field(es_kind_t kind, const char *key);

/* Appends the JSON source of a metric / event document to out (no newline).
 * Returns 0, or -1 when out is broken (out of memory) or the time cannot be
 * written. */
int es_metric_json(cm_buf_t *out, const es_metric_t *m);
int es_event_json(cm_buf_t *out, const es_event_t *e);

/* Appends the JSON value of f (a string, number, true/false, or null for
 * ES_VAL_NULL and non-finite doubles) to out. */
void es_field_json(cm_buf_t *out, const es_field_t *f);

/* Appends one bulk pair: {"create":{"_index":index,"_id":id}}\n<source>\n.
 * Returns 0 or -1 as cm_buf_add. */
int es_bulk_pair(cm_buf_t *out, const char *index, const char *id,
                 const char *source, size_t source_len);

/* Returns the bulk pair (create action for the index of mode and prefix at
 * the document's time, with its deterministic _id, then the source) of a
 * metric / event as a malloc'd string the caller frees, its length in
 * *len; NULL when out of memory, the time cannot be written or the index
 * name is too long. */
char *es_metric_pair(const es_metric_t *m, es_mode_t mode, const char *prefix,
                     size_t *len);
char *es_event_pair(const es_event_t *e, es_mode_t mode, const char *prefix,
                    size_t *len);

#endif
