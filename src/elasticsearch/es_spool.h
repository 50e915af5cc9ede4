/* SPDX-License-Identifier: MIT */
/*
 * es_spool.h: the on-disk spool of the Elasticsearch writer.
 *
 * A directory of append-only segment files named <20-digit sequence>.ndjson,
 * each holding whole bulk pairs (action line + source line). Chunks are
 * appended to the newest segment until it reaches the segment size; then a
 * new segment starts. The total is bounded: before a chunk would push it
 * past the maximum, the oldest segments are deleted and their documents
 * counted as dropped. Replay reads the oldest segment whole, and the caller
 * deletes it once every document in it is resolved, so order is kept and
 * the spool survives a restart (segments are found again at open).
 *
 * Durability: every append is written with one write(2) loop and then
 * fdatasync(2)'d; creating and deleting a segment fsyncs the directory. A
 * torn last line after a crash is ignored at replay. Other files in the
 * directory (e.g. dead-letter.ndjson) are left alone.
 *
 * Not thread-safe: the caller serialises all calls on one spool.
 */
#ifndef ES_SPOOL_H
#define ES_SPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct es_spool es_spool_t;

/* Opens (creating it and its parents, mode 0750) the spool directory dir,
 * bounded by max_bytes in total, with segments of about segment_bytes.
 * Checks that a file can be created there. Returns the spool (the caller
 * closes it), or NULL with a message in err (errlen bytes). */
es_spool_t *es_spool_open(const char *dir, uint64_t max_bytes,
                          uint64_t segment_bytes, char *err, size_t errlen);

/* Appends len bytes of whole bulk pairs (ndocs documents). Deletes the
 * oldest segments first when needed to stay within the maximum, adding
 * their documents to *dropped; a chunk larger than the maximum is not
 * written and its ndocs are added to *dropped. Returns 0 (also for such a
 * dropped chunk), or -errno when writing failed (nothing of the chunk is
 * left in the spool). */
int es_spool_append(es_spool_t *sp, const char *data, size_t len, size_t ndocs,
                    uint64_t *dropped);

/* Reads the oldest segment: *data is a malloc'd copy the caller frees, of
 * *len bytes of complete lines, and *seq names the segment for
 * es_spool_remove. The segment is closed for appends. Returns 1 when a
 * segment was read, 0 when the spool is empty, -errno on a read error. */
int es_spool_oldest(es_spool_t *sp, char **data, size_t *len, uint64_t *seq);

/* Deletes segment seq (no error if it is already gone or unknown). The
 * spool forgets it even when the file cannot be deleted (then -errno is
 * returned and a restart would replay it once more). Returns 0 or -errno. */
int es_spool_remove(es_spool_t *sp, uint64_t seq);

/* Returns the bytes in the spool's segments. */
uint64_t es_spool_bytes(const es_spool_t *sp);

/* Closes the spool (the files stay). NULL is ignored. */
void es_spool_close(es_spool_t *sp);

#endif
