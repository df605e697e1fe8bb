/*
 * pii.c — encryption at rest and look-up hashes for personal data, and phone-number rules.
 * See pii.h for the design. Sub-keys are derived from the master key with crypto_kdf under the
 * context "huikepii": id 1 for encryption, id 2 for look-up hashes.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/pii.h"
#include "core/util.h"

#define KDF_CONTEXT "huikepii"

static void derive(struct hk_keyring *kr, const unsigned char master[32])
{
    crypto_kdf_derive_from_key(kr->enc_key, sizeof kr->enc_key, 1, KDF_CONTEXT, master);
    crypto_kdf_derive_from_key(kr->hash_key, sizeof kr->hash_key, 2, KDF_CONTEXT, master);
}

static int load_hex(struct hk_keyring *kr, const char *hex, struct hk_err *err)
{
    unsigned char master[32];
    size_t n = 0;
    if (strlen(hex) != 64 || sodium_hex2bin(master, sizeof master, hex, 64, NULL, &n, NULL) != 0 ||
        n != 32)
        return hk_err_set(err, HK_E(INVAL), "HUIKE_KEY must be 64 hexadecimal digits (32 bytes)");
    derive(kr, master);
    sodium_memzero(master, sizeof master);
    return 0;
}

static int read_all(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const unsigned char *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Creates the key file atomically: write a temporary file, fsync, link it into place (which
   fails if another process won the race, in which case we read theirs). */
static int create_key_file(const char *path, struct hk_err *err)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return hk_err_set(err, HK_E(IO), "cannot create key file %s: %s", tmp, strerror(errno));
    unsigned char master[32];
    randombytes_buf(master, sizeof master);
    int ok = write_all(fd, master, sizeof master) == 0 && fsync(fd) == 0;
    sodium_memzero(master, sizeof master);
    close(fd);
    if (!ok) {
        unlink(tmp);
        return hk_err_set(err, HK_E(IO), "cannot write key file %s", tmp);
    }
    if (link(tmp, path) != 0 && errno != EEXIST) {
        int e = errno;
        unlink(tmp);
        return hk_err_set(err, HK_E(IO), "cannot create key file %s: %s", path, strerror(e));
    }
    unlink(tmp);
    return 0;
}

int hk_keyring_load(struct hk_keyring *kr, const char *key_path, const char *hex_env,
                    struct hk_err *err)
{
    if (hk_crypto_init() != 0)
        return hk_err_set(err, HK_E(INTERNAL), "cannot initialise libsodium");
    if (hex_env && hex_env[0])
        return load_hex(kr, hex_env, err);

    int rc;
    int fd = open(key_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if ((rc = create_key_file(key_path, err)) != 0)
            return rc;
        fd = open(key_path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return hk_err_set(err, HK_E(IO), "cannot open key file %s: %s", key_path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
        close(fd);
        return hk_err_set(err, HK_E(INVAL),
                          "key file %s must be readable by its owner only (chmod 600)", key_path);
    }
    unsigned char master[32];
    if (st.st_size != 32 || read_all(fd, master, sizeof master) != 0) {
        close(fd);
        return hk_err_set(err, HK_E(INVAL), "key file %s must hold exactly 32 bytes", key_path);
    }
    close(fd);
    derive(kr, master);
    sodium_memzero(master, sizeof master);
    return 0;
}

void hk_keyring_clear(struct hk_keyring *kr)
{
    sodium_memzero(kr, sizeof *kr);
}

size_t hk_pii_sealed_size(size_t len)
{
    return crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
}

size_t hk_pii_seal(const struct hk_keyring *kr, const char *plain, size_t len, unsigned char *out)
{
    unsigned char *nonce = out;
    randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, len,
                          nonce, kr->enc_key);
    return hk_pii_sealed_size(len);
}

void hk_nonce_pool_init(struct hk_nonce_pool *pool)
{
    pool->next = sizeof pool->buf; /* empty: filled on first use */
}

void hk_nonce_pool_wipe(struct hk_nonce_pool *pool)
{
    sodium_memzero(pool->buf, sizeof pool->buf);
    pool->next = sizeof pool->buf;
}

size_t hk_pii_seal_pooled(const struct hk_keyring *kr, struct hk_nonce_pool *pool,
                          const char *plain, size_t len, unsigned char *out)
{
    _Static_assert(sizeof pool->buf % crypto_secretbox_NONCEBYTES == 0, "whole nonces");
    if (!pool)
        return hk_pii_seal(kr, plain, len, out);
    if (pool->next + crypto_secretbox_NONCEBYTES > sizeof pool->buf) {
        randombytes_buf(pool->buf, sizeof pool->buf);
        pool->next = 0;
    }
    unsigned char *nonce = out, *src = pool->buf + pool->next;
    memcpy(nonce, src, crypto_secretbox_NONCEBYTES);
    sodium_memzero(src, crypto_secretbox_NONCEBYTES); /* never handed out twice */
    pool->next += crypto_secretbox_NONCEBYTES;
    crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, len,
                          nonce, kr->enc_key);
    return hk_pii_sealed_size(len);
}

int hk_pii_open(const struct hk_keyring *kr, const unsigned char *sealed, size_t sealed_len,
                char *out, size_t size, struct hk_err *err)
{
    const size_t overhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
    if (sealed_len < overhead || sealed_len - overhead + 1 > size)
        return hk_err_set(err, HK_E(INVAL), "encrypted value has a wrong size");
    size_t len = sealed_len - overhead;
    if (crypto_secretbox_open_easy((unsigned char *)out, sealed + crypto_secretbox_NONCEBYTES,
                                   sealed_len - crypto_secretbox_NONCEBYTES, sealed,
                                   kr->enc_key) != 0)
        return hk_err_set(err, HK_E(INVAL),
                          "encrypted value cannot be opened with this key (wrong key file?)");
    out[len] = '\0';
    return 0;
}

/* The first HK_PII_HASH_HEX / 2 bytes of a 32-byte keyed BLAKE2b: a prefix of the hash stores
   held before 0012, so migrating them needs no key (pii.h). The outlen stays 32 on purpose:
   BLAKE2b's output length is a parameter of the hash, and outlen 16 gives other bytes. */
void hk_pii_hash(const struct hk_keyring *kr, const char *value, size_t len, char *out)
{
    unsigned char h[32];
    _Static_assert(HK_PII_HASH_HEX % 2 == 0 && HK_PII_HASH_HEX / 2 <= sizeof h, "a prefix of h");
    crypto_generichash(h, sizeof h, (const unsigned char *)value, len, kr->hash_key,
                       sizeof kr->hash_key);
    hk_hex_encode(h, HK_PII_HASH_HEX / 2, out);
}

bool hk_pii_is_masked(const char *s, size_t len)
{
    if (len >= 2 && ((s[0] == '#' && s[1] == '#') || (s[0] == '$' && s[1] == '$')))
        return true;
    return memchr(s, '*', len) != NULL;
}

/* out = a b c (lengths na, nb, nc), cut to size - 1 bytes as snprintf would: both run for every
   new phone of an import, where snprintf cost ~800 instructions a call. */
static void concat3(char *out, size_t size, const char *a, size_t na, const char *b, size_t nb,
                    const char *c, size_t nc)
{
    if (!size)
        return;
    const char *part[3] = {a, b, c};
    size_t len[3] = {na, nb, nc}, at = 0;
    for (int i = 0; i < 3; i++) {
        size_t n = len[i] < size - 1 - at ? len[i] : size - 1 - at;
        memcpy(out + at, part[i], n);
        at += n;
    }
    out[at] = '\0';
}

int hk_phone_normalize(const char *in, size_t len, char *out, size_t size)
{
    char digits[HK_PHONE_MAX + 8];
    size_t nd = 0, nraw = 0;
    bool plus = false, other = false;
    char raw[HK_PHONE_MAX + 8];
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == ' ' || c == '-' || c == '\t' || c == '\'' || c == '(' || c == ')')
            continue;
        if (nraw + 1 < sizeof raw)
            raw[nraw++] = c;
        if (c == '+' && nd == 0 && !plus) {
            plus = true;
            continue;
        }
        if (c >= '0' && c <= '9') {
            if (nd + 1 < sizeof digits)
                digits[nd++] = c;
            else
                other = true;
            continue;
        }
        other = true;
    }
    raw[nraw] = '\0';
    digits[nd] = '\0';
    const char *d = digits;
    if (!other) {
        if (nd == 13 && strncmp(d, "86", 2) == 0)
            d += 2;
        else if (nd == 15 && strncmp(d, "0086", 4) == 0)
            d += 4;
        else if (plus)
            d = NULL; /* +<other country> */
        if (d && strlen(d) == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9') {
            concat3(out, size, "+86", 3, d, 11, "", 0);
            return 0;
        }
    }
    hk_strlcpy(out, raw, size);
    return 1;
}

void hk_phone_mask(const char *phone, char *out, size_t size)
{
    const char *p = phone;
    if (strncmp(p, "+86", 3) == 0)
        p += 3;
    size_t n = strlen(p);
    if (n < 6) {
        hk_strlcpy(out, "****", size);
        return;
    }
    size_t tail = n == 11 ? 4 : 2;
    concat3(out, size, p, 3, "****", 4, p + n - tail, tail);
}
