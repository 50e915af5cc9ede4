/* SPDX-License-Identifier: MIT */
/*
 * vq_htab.h: an open-addressing hash table from byte strings to pointers.
 *
 * The table does not copy keys: a key must stay valid for as long as its
 * entry, which is easiest when the key lives inside the value. Not
 * thread-safe; callers lock.
 */
#ifndef VQ_HTAB_H
#define VQ_HTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct vq_htab vq_htab_t;

/* Returns a new empty table, or NULL on allocation failure. */
vq_htab_t *vq_htab_create(void);

/* Frees the table, calling free_value (if not NULL) on every value. */
void vq_htab_destroy(vq_htab_t *h, void (*free_value)(void *));

/* Removes every entry, calling free_value (if not NULL) on each value. */
void vq_htab_clear(vq_htab_t *h, void (*free_value)(void *));

/* Returns the value stored under the len bytes at key, or NULL. */
void *vq_htab_get(const vq_htab_t *h, const void *key, size_t len);

/* Stores value under key (which must not be present yet and must outlive
 * the entry). Returns 0, or -1 on allocation failure. */
int vq_htab_put(vq_htab_t *h, const void *key, size_t len, void *value);

/* Returns the number of entries. */
size_t vq_htab_count(const vq_htab_t *h);

/* Iterates: start with *iter = 0; returns the next value, or NULL at the
 * end. The table must not change during an iteration. */
void *vq_htab_next(const vq_htab_t *h, size_t *iter);

/* Returns the 64-bit FNV-1a hash of len bytes. */
uint64_t vq_hash(const void *key, size_t len);

#endif
