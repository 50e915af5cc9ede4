/* SPDX-License-Identifier: MIT */
/*
 * cm_htab.h: an open-addressing hash table from byte strings to pointers.
 *
 * The table does not copy keys: a key must stay valid for as long as its
 * entry, which is easiest when the key lives inside the value. Not
 * thread-safe; callers lock.
 */
#ifndef CM_HTAB_H
#define CM_HTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct cm_htab cm_htab_t;

/* Returns a new empty table, or NULL on allocation failure. */
cm_htab_t *cm_htab_create(void);

/* Frees the table, calling free_value (if not NULL) on every value. */
void cm_htab_destroy(cm_htab_t *h, void (*free_value)(void *));

/* Removes every entry, calling free_value (if not NULL) on each value. */
void cm_htab_clear(cm_htab_t *h, void (*free_value)(void *));

/* Returns the value stored under the len bytes at key, or NULL. */
void *cm_htab_get(const cm_htab_t *h, const void *key, size_t len);

/* Stores value under key (which must not be present yet and must outlive
 * the entry). Returns 0, or -1 on allocation failure. */
int cm_htab_put(cm_htab_t *h, const void *key, size_t len, void *value);

/* Returns the number of entries. */
size_t cm_htab_count(const cm_htab_t *h);

/* Iterates: start with *iter = 0; returns the next value, or NULL at the
 * end. The table must not change during an iteration. */
void *cm_htab_next(const cm_htab_t *h, size_t *iter);

/* Returns the 64-bit FNV-1a hash of len bytes. */
uint64_t cm_hash(const void *key, size_t len);

#endif
