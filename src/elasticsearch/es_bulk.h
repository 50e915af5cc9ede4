/* SPDX-License-Identifier: MIT */
/*
 * es_bulk.h: Elasticsearch _bulk requests: queued items, the NDJSON body,
 * what to do with the HTTP answer and with each item of the response, the
 * dead-letter line, and items read back from spooled NDJSON.
 *
 * Pure C11 with json-c. Behaviour follows the ES 8 / OpenSearch 2 bulk
 * docs: HTTP 200 even when items fail, items in request order.
 */
#ifndef ES_BULK_H
#define ES_BULK_H

#include "common/cm_buf.h"

#include <stddef.h>
#include <stdint.h>

/* One document ready to send: its bulk pair (action line, source line, each
 * ending in '\n'), owned by the item. */
typedef struct {
  char *pair;
  size_t len;
  uint32_t attempts; /* times it was answered "retry" */
  int done;          /* stored or dead-lettered: not to be sent again */
} es_item_t;

/* What the whole HTTP exchange asks for. */
typedef enum {
  ES_REQ_OK,     /* 2xx: read the items */
  ES_REQ_RETRY,  /* no answer, 408, 429, 5xx, 401/403/404 and other 4xx
                    that are configuration problems: back off, resend */
  ES_REQ_SPLIT,  /* 413: send each half on its own */
  ES_REQ_REJECT, /* 400: the body was refused; split, a lone item is dead */
} es_req_t;

/* What became of one item. */
typedef enum {
  ES_ITEM_STORED,    /* 2xx */
  ES_ITEM_DUPLICATE, /* 409 on create: stored by an earlier attempt */
  ES_ITEM_RETRY,     /* 429, 5xx, or missing from the response */
  ES_ITEM_DEAD,      /* other 4xx: never accepted */
} es_outcome_t;

typedef struct {
  es_outcome_t outcome;
  int status;       /* the item's HTTP status, 0 when missing */
  char reason[256]; /* "<error type>: <error reason>" for DEAD and RETRY */
} es_result_t;

/* Makes an item from a bulk pair (copied). Returns 0, or -1 when out of
 * memory. */
int es_item_init(es_item_t *it, const char *pair, size_t len);

/* Frees the items' pairs (not the array). */
void es_items_clear(es_item_t *items, size_t n);

/* Sets *doc / *doc_len to the source line of it (without its '\n'). Returns
 * 0, or -1 when the pair has no two lines. */
int es_item_doc(const es_item_t *it, const char **doc, size_t *doc_len);

/* Writes the _index of it's action line into buf. Returns 0, or -1 when the
 * action line is not {"create":{"_index":"..."...}} or it does not fit. */
int es_item_index(const es_item_t *it, char *buf, size_t size);

/* Appends the NDJSON body for items[0..n) to out. Returns 0 or -1 (OOM). */
int es_bulk_body(cm_buf_t *out, const es_item_t *items, size_t n);

/* Classifies the HTTP outcome: transport_error non-zero means no HTTP
 * answer (connection refused, timeout, ...). */
es_req_t es_bulk_classify(long http_status, int transport_error);

/* Maps one item status to an outcome. */
es_outcome_t es_item_outcome(int status);

/* Reads a _bulk response body for a request of n items into res[0..n).
 * Items missing from a partial response are ES_ITEM_RETRY. Returns 0, or -1
 * when the body is not a JSON object with an "items" array (res is then
 * unchanged and the caller resends everything). */
int es_bulk_parse(const char *body, size_t len, size_t n, es_result_t *res);

/* Appends the dead-letter line for it to out:
 * {"reason":...,"status":...,"index":...,"doc":<source>}\n. Returns 0/-1. */
int es_dead_letter(cm_buf_t *out, const es_item_t *it, const char *reason,
                   int status);

/* Splits NDJSON text of bulk pairs (as spooled) into new items appended to
 * *items (a malloc'd array of *n, grown as needed). A trailing incomplete
 * pair is ignored; a line that should be an action line but is not a
 * create with an _index (or whose source line is not an object) is skipped
 * on its own and counted in *bad, so one lost line does not shift the rest.
 * Returns the number of items added, or -1 when out of memory (items added so
 * far stay in *items). */
long es_items_from_ndjson(const char *data, size_t len, es_item_t **items,
                          size_t *n, size_t *bad);

#endif
