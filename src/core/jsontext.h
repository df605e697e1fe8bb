/*
 * jsontext.h — writing JSON text without a JSON library, for the few places below src/http/
 * that store a small JSON document as text (the imports table's file list and row errors).
 *
 * json_t (jansson) stays in src/http/ (docs/architecture.md); what is built here is plain text
 * that the HTTP layer later parses and serves. Only writing is offered: nothing below http/
 * reads JSON back.
 *
 * Invariant: the output is always valid JSON in UTF-8, whatever bytes the input holds —
 * control characters are escaped and invalid UTF-8 sequences become U+FFFD, so a stored
 * document never fails to parse because of a file's bad bytes.
 *
 * Threads: stateless.
 */
#ifndef HK_CORE_JSONTEXT_H
#define HK_CORE_JSONTEXT_H

#include <stddef.h>
#include <stdint.h>

struct hk_strbuf;

/**
 * Appends s (len bytes; (size_t)-1 = strlen) as a JSON string literal, quotes included.
 * Returns 0, or HK_E(NOMEM) / HK_E(TOOLARGE) from the strbuf (then sb may hold part of it).
 */
int hk_json_text_string(struct hk_strbuf *sb, const char *s, size_t len);

/** Appends "key": (a JSON string key and the colon). Errors as hk_json_text_string. */
int hk_json_text_key(struct hk_strbuf *sb, const char *key);

/** Appends v as a JSON number. Errors as hk_json_text_string. */
int hk_json_text_int(struct hk_strbuf *sb, int64_t v);

#endif
