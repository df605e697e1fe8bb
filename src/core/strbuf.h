/*
 * strbuf.h — a growable byte buffer (git's strbuf invariant: buf is never NULL and always
 * NUL-terminated, so it can be handed to C string functions at any time).
 *
 * Every strbuf has a size cap (default 64 MiB); an append past it fails with HK_E(TOOLARGE)
 * instead of growing without bound.
 */
#ifndef HK_CORE_STRBUF_H
#define HK_CORE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct hk_strbuf {
    char *buf;  /* never NULL; NUL-terminated */
    size_t len; /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated (0 while buf points at the shared empty string) */
    size_t max; /* size cap */
};

#define HK_STRBUF_DEFAULT_MAX ((size_t)64 << 20)

void hk_strbuf_init(struct hk_strbuf *sb, size_t max /* 0 = default */);
/** Frees the memory and leaves sb empty and usable. */
void hk_strbuf_release(struct hk_strbuf *sb);
/** Empties sb, keeping its memory. */
void hk_strbuf_reset(struct hk_strbuf *sb);
int hk_strbuf_add(struct hk_strbuf *sb, const void *data, size_t len);
int hk_strbuf_adds(struct hk_strbuf *sb, const char *s);
int hk_strbuf_addch(struct hk_strbuf *sb, char c);
int hk_strbuf_addf(struct hk_strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int hk_strbuf_vaddf(struct hk_strbuf *sb, const char *fmt, va_list ap);
/** Hands the buffer to the caller (new; caller frees) and leaves sb empty. Never NULL. */
char *hk_strbuf_detach(struct hk_strbuf *sb, size_t *len);

#endif
