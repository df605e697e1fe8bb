/*
 * pii.h — personal data at rest: phone numbers, real names and addresses are stored encrypted
 * (libsodium secretbox, XSalsa20-Poly1305, a random nonce per value) with a keyed hash beside
 * the values that must be found by exact match (phone, name). The 32-byte master key lives in a
 * key file (created at first run, mode 0600) or in HUIKE_KEY (64 hex digits) — never in the
 * database — and sub-keys for encryption and hashing are derived from it (crypto_kdf), so the
 * look-up hash cannot decrypt anything.
 *
 * Also the rules for what a phone number is: normalisation to +86 form for mainland mobiles and
 * the mask shown to roles without PII access (138****5678).
 *
 * Threads: a loaded keyring is immutable; share it freely.
 */
#ifndef HK_CORE_PII_H
#define HK_CORE_PII_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hk_err;

struct hk_keyring {
    unsigned char enc_key[32];  /* secretbox key */
    unsigned char hash_key[32]; /* generichash key for look-up hashes */
};

/**
 * Loads the master key: from hex_env when non-NULL and non-empty (64 hex digits), else from
 * key_path, creating that file with a new random key (mode 0600) when it does not exist.
 * Refuses a key file readable by group or others. Returns 0 or HK_E(INVAL)/HK_E(IO).
 */
int hk_keyring_load(struct hk_keyring *kr, const char *key_path, const char *hex_env,
                    struct hk_err *err);
/** Wipes the keys from memory. */
void hk_keyring_clear(struct hk_keyring *kr);

/** Bytes an encrypted value of len bytes takes (nonce + MAC + len). */
size_t hk_pii_sealed_size(size_t len);
/** Encrypts len bytes of plain into out (size >= hk_pii_sealed_size(len)). Returns bytes. */
size_t hk_pii_seal(const struct hk_keyring *kr, const char *plain, size_t len, unsigned char *out);

/**
 * A caller-owned supply of nonces for sealing many values (a bulk import): one call to the
 * system's random source fills HK_NONCE_POOL nonces instead of one call per value. The nonces
 * are exactly as random and as unique as hk_pii_seal's (independent 192-bit draws from the OS
 * CSPRNG, each used once: a nonce's bytes are wiped as it is taken). Not shared between
 * threads; do not copy a pool (a copy would hand out the same nonces) and do not keep one
 * across fork(). Wipe it with hk_nonce_pool_wipe when done.
 */
#define HK_NONCE_POOL 128
struct hk_nonce_pool {
    unsigned char buf[HK_NONCE_POOL * 24]; /* 24 = crypto_secretbox_NONCEBYTES */
    size_t next;                           /* bytes of buf already handed out */
};
void hk_nonce_pool_init(struct hk_nonce_pool *pool);
void hk_nonce_pool_wipe(struct hk_nonce_pool *pool);
/** hk_pii_seal with the nonce taken from pool (pool NULL: hk_pii_seal). */
size_t hk_pii_seal_pooled(const struct hk_keyring *kr, struct hk_nonce_pool *pool,
                          const char *plain, size_t len, unsigned char *out);
/**
 * Decrypts a sealed value into out (size >= sealed_len - overhead + 1, NUL-terminated).
 * Returns 0, or HK_E(INVAL) when the value was not sealed with this key or is corrupt.
 */
int hk_pii_open(const struct hk_keyring *kr, const unsigned char *sealed, size_t sealed_len,
                char *out, size_t size, struct hk_err *err);
/**
 * Hex digits of a look-up hash (hk_pii_hash): 16 bytes. They are the first 16 bytes of the
 * 32-byte keyed BLAKE2b (crypto_generichash, outlen 32, keyed with hash_key) that look-up hashes
 * were before migration 0012 — not a BLAKE2b with outlen 16, whose bytes differ — so a stored
 * 64-digit value becomes today's by keeping its first 32 digits, without the key
 * (sql/0012_short_hashes.sql). 128 bits keep exact-match look-ups free of collisions in
 * practice, at half the bytes in every row and index entry that holds one (a large part of what
 * a bulk import writes and sorts: identities_key, customers_phone_hash).
 */
#define HK_PII_HASH_HEX 32
/**
 * The look-up hash of a normalised value, as HK_PII_HASH_HEX lower-case hex digits and a NUL
 * into out (size >= HK_PII_HASH_HEX + 1). Stored in customers.phone_hash and name_hash and as
 * the value of phone and recipient identities. Thread-safe.
 */
void hk_pii_hash(const struct hk_keyring *kr, const char *value, size_t len, char *out);

#define HK_PHONE_MAX 24

/**
 * Normalises a mainland mobile number as sellers' files write it ("138 1234 5678",
 * "+86-138-1234-5678", "0086 13812345678", "'13812345678") to "+8613812345678".
 * Returns 0, or 1 when the input is not a mainland mobile number (landlines, foreign numbers,
 * masked values): then out holds the input with spaces and dashes removed, to keep as-is.
 */
int hk_phone_normalize(const char *in, size_t len, char *out, size_t size);
/** True when a value is masked by a marketplace (contains '*', or starts with "##" or "$$"). */
bool hk_pii_is_masked(const char *s, size_t len);
/**
 * The mask shown to roles without PII access: "+8613812345678" -> "138****5678"; other values
 * keep their first 3 and last 2 characters ("010****78"); short ones become "****".
 */
void hk_phone_mask(const char *phone, char *out, size_t size);

#endif
