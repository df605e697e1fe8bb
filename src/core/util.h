/*
 * util.h — small helpers with no better home: bounded string copies, checked integer parsing,
 * hex, random bytes and tokens (libsodium).
 *
 * The unsafe C functions (sprintf, strcpy, strcat, atoi, strtok) are not used anywhere in
 * huike; scripts/check-banned.sh enforces it. Use these instead.
 */
#ifndef HK_CORE_UTIL_H
#define HK_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/**
 * Copies at most size-1 bytes of src and NUL-terminates. Returns strlen(src): the copy was
 * truncated when that is >= size.
 */
size_t hk_strlcpy(char *dst, const char *src, size_t size);
/**
 * Bytes of the UTF-8 text s (n bytes) that fit in max, ending on a character boundary: n when
 * n <= max, else at most max, never half a character.
 */
size_t hk_utf8_cut(const char *s, size_t n, size_t max);
/** Duplicates n bytes of s as a NUL-terminated string (new; caller frees). NULL on OOM. */
char *hk_strndup(const char *s, size_t n);
/** strdup that accepts NULL (returns NULL). */
char *hk_strdup(const char *s);
/** True when s (len bytes) equals the NUL-terminated lit. */
bool hk_streq_n(const char *s, size_t len, const char *lit);

/** Parses a whole decimal int64 (optional sign, no spaces). Returns 0 or HK_E(INVAL). */
int hk_parse_int64(const char *s, size_t len, int64_t *out);

/** Lowercase hex of n bytes into out (size >= 2n+1). */
void hk_hex_encode(const unsigned char *in, size_t n, char *out);

/** Initialises libsodium once (thread-safe). Returns 0 or HK_E(INTERNAL). */
int hk_crypto_init(void);
/** Fills buf with n cryptographically random bytes. */
void hk_random_bytes(void *buf, size_t n);
/**
 * Writes a random URL-safe token: prefix followed by 43 base64url characters (256 bits), into
 * out (size >= strlen(prefix) + 44). Used for session ids, API tokens, request ids (shorter).
 */
void hk_random_token(const char *prefix, char *out, size_t size);
/** A 16-hex-digit request id into out (size >= 17). */
void hk_request_id(char *out, size_t size);
/** Hex of the 32-byte BLAKE2b hash of s: how session ids and API tokens are stored. out >= 65. */
void hk_token_hash(const char *s, size_t len, char *out);
/** Constant-time comparison of n bytes. */
bool hk_consttime_eq(const void *a, const void *b, size_t n);

#endif
