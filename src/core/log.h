/*
 * log.h — one key=value line per event.
 *
 *   ts=2026-03-01T08:00:00.123Z level=info event=http.request req=7f3a… method=GET path=/api/v1/x
 *   status=200 ms=3
 *
 * Values containing spaces, quotes or '=' are double-quoted with escapes. Every line passes a
 * redaction filter before it is written: anything shaped like a mobile number (11 digits starting
 * with 1, with or without +86), a bearer/API token (hk_…), a session cookie value or an e-mail
 * address is replaced by "[redacted]". Callers must still never pass PII on purpose; the filter
 * is the safety net, not the policy. Lines are at most 4 KiB; longer ones end in "…".
 * Details of what is matched: log.c.
 *
 * Thread safety: a logger may be shared by all threads; each line is written with one write(2).
 */
#ifndef HK_CORE_LOG_H
#define HK_CORE_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum hk_log_level { HK_LOG_DEBUG = 0, HK_LOG_INFO, HK_LOG_WARN, HK_LOG_ERROR, HK_LOG_OFF };

struct hk_log {
    int fd;                  /* where lines go (stderr by default) */
    enum hk_log_level level; /* lines below this level are dropped */
};

/** Initialises a logger writing to fd at the given level. */
void hk_log_init(struct hk_log *log, int fd, enum hk_log_level level);
/** Parses "debug|info|warn|error|off" ("warning" too); returns 0 or HK_E(INVAL). */
int hk_log_level_parse(const char *s, enum hk_log_level *out);

/**
 * Writes one line: level, event name, optional request id (NULL or "" to omit), then the pairs
 * given as alternating key, value C strings terminated by a NULL key:
 *   hk_log_kv(log, HK_LOG_INFO, "store.open", req, "backend", "sqlite", "path", p, NULL);
 * A NULL value is written as key=-. log may be NULL (nothing is written).
 */
void hk_log_kv(struct hk_log *log, enum hk_log_level level, const char *event, const char *req_id,
               ...);

/**
 * Redacts PII and secrets in place in a NUL-terminated line (shrinks it, never grows it): each
 * match becomes "[redacted]", or as many '*' when the match is shorter than that (a@qq.com).
 * Exposed for tests and for any other sink that writes user-influenced text.
 */
void hk_log_redact(char *line);

#endif
