/* SPDX-License-Identifier: MIT */
/*
 * cm_name.h: names safe for a metric path and text safe for a log line.
 *
 * A path node keeps [A-Za-z0-9_-] (and '.' when asked); every other byte
 * becomes '_'. Printable text turns control bytes into '?'. Pure C11.
 */
#ifndef CM_NAME_H
#define CM_NAME_H

#include <stddef.h>

/* Keep '.' in cm_name_sanitise (a dotted name stays dotted). */
#define CM_NAME_KEEP_DOTS 1

/*
 * Writes the sanitised form of the len bytes at src into dst (size bytes,
 * NUL-terminated); flags is 0 or CM_NAME_KEEP_DOTS. Returns the length
 * written, or -1 when it does not fit (dst then holds "" and must not be
 * used) or src is empty.
 */
int cm_name_sanitise(char *dst, size_t size, const char *src, size_t len,
                     int flags);

/*
 * Copies up to len bytes of src into dst (size bytes, always NUL-terminated,
 * truncated to fit) for a log line or a meta string: control bytes (below
 * 0x20, and 0x7f) become '?', so a sender cannot forge log lines; an
 * embedded NUL ends the text. dst may equal src. Returns dst.
 */
char *cm_text_printable(char *dst, size_t size, const char *src, size_t len);

#endif
