/* SPDX-License-Identifier: MIT */
/*
 * es_bulk.c: bulk bodies, response reading, dead letters (see es_bulk.h).
 */
#include "es_bulk.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int es_item_init(es_item_t *it, const char *pair, size_t len) {
  it->pair = malloc(len + 1);
  if (it->pair == NULL)
    return -1;
  memcpy(it->pair, pair, len);
  it->pair[len] = '\0';
  it->len = len;
  it->attempts = 0;
  it->done = 0;
  return 0;
}

void es_items_clear(es_item_t *items, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(items[i].pair);
    items[i].pair = NULL;
  }
}

int es_item_doc(const es_item_t *it, const char **doc, size_t *doc_len) {
  const char *nl = memchr(it->pair, '\n', it->len);
  if (nl == NULL)
    return -1;
  const char *d = nl + 1;
  size_t n = it->len - (size_t)(d - it->pair);
  if (n == 0 || d[n - 1] != '\n')
    return -1;
  *doc = d;
  *doc_len = n - 1;
  return 0;
}

/* Parses the action line of len bytes at line. Returns the _index string
 * (owned by *root, which the caller puts) or NULL. */
static const char *es_action_index(const char *line, size_t len,
                                   json_object **root) {
  *root = NULL;
  json_tokener *tok = json_tokener_new();
  if (tok == NULL)
    return NULL;
  json_object *o = json_tokener_parse_ex(tok, line, (int)len);
  if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
      json_tokener_get_parse_end(tok) != len) {
    json_object_put(o);
    json_tokener_free(tok);
    return NULL;
  }
  json_tokener_free(tok);
  *root = o;
  json_object *create, *index;
  if (!json_object_object_get_ex(o, "create", &create) ||
      !json_object_object_get_ex(create, "_index", &index) ||
      !json_object_is_type(index, json_type_string))
    return NULL;
  return json_object_get_string(index);
}

int es_item_index(const es_item_t *it, char *buf, size_t size) {
  const char *nl = memchr(it->pair, '\n', it->len);
  if (nl == NULL)
    return -1;
  json_object *root;
  const char *index = es_action_index(it->pair, (size_t)(nl - it->pair), &root);
  int rc = -1;
  if (index != NULL && strlen(index) < size) {
    strcpy(buf, index);
    rc = 0;
  }
  json_object_put(root);
  return rc;
}

int es_bulk_body(cm_buf_t *out, const es_item_t *items, size_t n) {
  for (size_t i = 0; i < n; i++)
    cm_buf_add(out, items[i].pair, items[i].len);
  return cm_buf_ok(out) ? 0 : -1;
}

es_req_t es_bulk_classify(long http_status, int transport_error) {
  if (transport_error != 0)
    return ES_REQ_RETRY;
  if (http_status >= 200 && http_status < 300)
    return ES_REQ_OK;
  if (http_status == 413)
    return ES_REQ_SPLIT;
  if (http_status == 400)
    return ES_REQ_REJECT;
  return ES_REQ_RETRY;
}

es_outcome_t es_item_outcome(int status) {
  if (status >= 200 && status < 300)
    return ES_ITEM_STORED;
  if (status == 409)
    return ES_ITEM_DUPLICATE;
  if (status == 429 || (status >= 500 && status < 600) || status <= 0)
    return ES_ITEM_RETRY;
  return ES_ITEM_DEAD;
}

/* Fills r from one response item {"<action>":{"status":...,"error":...}}. */
static void es_parse_item(json_object *item, es_result_t *r) {
  r->status = 0;
  r->reason[0] = '\0';
  json_object *inner = NULL;
  if (json_object_is_type(item, json_type_object)) {
    json_object_object_foreach(item, key, val) {
      (void)key;
      inner = val;
      break;
    }
  }
  json_object *status, *error;
  if (inner == NULL || !json_object_is_type(inner, json_type_object) ||
      !json_object_object_get_ex(inner, "status", &status) ||
      !json_object_is_type(status, json_type_int)) {
    r->outcome = ES_ITEM_RETRY;
    snprintf(r->reason, sizeof(r->reason), "malformed item in response");
    return;
  }
  r->status = json_object_get_int(status);
  r->outcome = es_item_outcome(r->status);
  if (!json_object_object_get_ex(inner, "error", &error))
    return;
  json_object *type, *reason;
  if (json_object_is_type(error, json_type_object)) {
    const char *t = json_object_object_get_ex(error, "type", &type)
                        ? json_object_get_string(type)
                        : "error";
    const char *why = json_object_object_get_ex(error, "reason", &reason)
                          ? json_object_get_string(reason)
                          : "";
    snprintf(r->reason, sizeof(r->reason), "%s: %s", t ? t : "error",
             why ? why : "");
  } else {
    snprintf(r->reason, sizeof(r->reason), "%s", json_object_get_string(error));
  }
}

int es_bulk_parse(const char *body, size_t len, size_t n, es_result_t *res) {
  if (body == NULL || len == 0 || len > (size_t)0x7fffffff)
    return -1;
  json_tokener *tok = json_tokener_new_ex(64);
  if (tok == NULL)
    return -1;
  json_object *root = json_tokener_parse_ex(tok, body, (int)len);
  enum json_tokener_error err = json_tokener_get_error(tok);
  size_t end = root != NULL ? json_tokener_get_parse_end(tok) : 0;
  json_tokener_free(tok);
  while (end < len && strchr(" \t\r\n", body[end]) != NULL && body[end])
    end++;
  if (end < len)
    err = json_tokener_error_parse_unexpected; /* something after it */
  json_object *items;
  if (root == NULL || err != json_tokener_success ||
      !json_object_is_type(root, json_type_object) ||
      !json_object_object_get_ex(root, "items", &items) ||
      !json_object_is_type(items, json_type_array)) {
    json_object_put(root);
    return -1;
  }
  size_t got = json_object_array_length(items);
  for (size_t i = 0; i < n; i++) {
    if (i < got) {
      es_parse_item(json_object_array_get_idx(items, i), &res[i]);
    } else {
      res[i].outcome = ES_ITEM_RETRY;
      res[i].status = 0;
      snprintf(res[i].reason, sizeof(res[i].reason),
               "missing from a partial response");
    }
  }
  json_object_put(root);
  return 0;
}

int es_dead_letter(cm_buf_t *out, const es_item_t *it, const char *reason,
                   int status) {
  char index[300];
  const char *doc;
  size_t doc_len;
  if (es_item_index(it, index, sizeof(index)) != 0)
    index[0] = '\0';
  cm_buf_adds(out, "{\"reason\":");
  cm_buf_json_str(out, reason);
  cm_buf_adds(out, ",\"status\":");
  cm_buf_json_int(out, status);
  cm_buf_adds(out, ",\"index\":");
  cm_buf_json_str(out, index);
  cm_buf_adds(out, ",\"doc\":");
  if (es_item_doc(it, &doc, &doc_len) == 0)
    cm_buf_add(out, doc, doc_len);
  else
    cm_buf_adds(out, "null");
  cm_buf_adds(out, "}\n");
  return cm_buf_ok(out) ? 0 : -1;
}

long es_items_from_ndjson(const char *data, size_t len, es_item_t **items,
                          size_t *n, size_t *bad) {
  size_t lines = 0;
  for (const char *p = data; (p = memchr(p, '\n', len - (size_t)(p - data)));
       p++)
    lines++;
  if (lines / 2 > 0) {
    es_item_t *grown = realloc(*items, (*n + lines / 2) * sizeof(**items));
    if (grown == NULL)
      return -1;
    *items = grown;
  }
  long added = 0;
  size_t pos = 0;
  while (pos < len) {
    const char *a = data + pos;
    const char *nl1 = memchr(a, '\n', len - pos);
    if (nl1 == NULL)
      break;
    const char *s = nl1 + 1;
    const char *nl2 = memchr(s, '\n', len - (size_t)(s - data));
    if (nl2 == NULL)
      break;
    json_object *root;
    int ok = es_action_index(a, (size_t)(nl1 - a), &root) != NULL && nl2 > s &&
             s[0] == '{';
    json_object_put(root);
    if (!ok) {
      /* Skip one line only, so a lost line does not shift every pair. */
      (*bad)++;
      pos += (size_t)(nl1 + 1 - a);
      continue;
    }
    size_t pair_len = (size_t)(nl2 + 1 - a);
    pos += pair_len;
    if (es_item_init(&(*items)[*n], a, pair_len) != 0)
      return -1;
    (*n)++;
    added++;
  }
  return added;
}
