/*
 * test_pii.c — encryption at rest, look-up hashes, key files, phone normalisation and masks.
 */
#include "unit.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/pii.h"

#define KEY_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static void seal_open__round_trips_and_never_repeats_ciphertext(void **state)
{
    (void)state;
    struct hk_keyring kr;
    struct hk_err err;
    assert_int_equal(hk_keyring_load(&kr, "/nonexistent/never-used", KEY_A, &err), 0);
    const char *phone = "+8613812345678";
    unsigned char s1[128], s2[128];
    size_t n1 = hk_pii_seal(&kr, phone, strlen(phone), s1);
    size_t n2 = hk_pii_seal(&kr, phone, strlen(phone), s2);
    assert_int_equal(n1, hk_pii_sealed_size(strlen(phone)));
    assert_int_equal(n1, n2);
    assert_memory_not_equal(s1, s2, n1); /* random nonce per value */
    for (size_t i = 0; i + 11 <= n1; i++)
        assert_false(memcmp(s1 + i, "13812345678", 11) == 0);
    char out[64];
    assert_int_equal(hk_pii_open(&kr, s1, n1, out, sizeof out, &err), 0);
    assert_string_equal(out, phone);
}

/* Pooled nonces: every value opens, and no nonce repeats across several refills of the pool. */
static void seal_pooled__opens_and_never_repeats_a_nonce(void **state)
{
    (void)state;
    enum { N = 3 * HK_NONCE_POOL + 5 };
    struct hk_keyring kr;
    struct hk_err err;
    struct hk_nonce_pool pool;
    assert_int_equal(hk_keyring_load(&kr, "/nonexistent/never-used", KEY_A, &err), 0);
    hk_nonce_pool_init(&pool);
    const char *phone = "+8613812345678";
    size_t size = hk_pii_sealed_size(strlen(phone));
    unsigned char *sealed = malloc(N * size);
    assert_non_null(sealed);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(hk_pii_seal_pooled(&kr, &pool, phone, strlen(phone), sealed + i * size),
                         size);
        char out[64];
        assert_int_equal(hk_pii_open(&kr, sealed + i * size, size, out, sizeof out, &err), 0);
        assert_string_equal(out, phone);
    }
    for (size_t i = 0; i < N; i++) /* nonce = the first 24 bytes */
        for (size_t j = i + 1; j < N; j++)
            assert_false(memcmp(sealed + i * size, sealed + j * size, 24) == 0);
    hk_nonce_pool_wipe(&pool);
    free(sealed);
}

static void open__rejects_other_key_and_tampering(void **state)
{
    (void)state;
    struct hk_keyring a, b;
    struct hk_err err;
    assert_int_equal(hk_keyring_load(&a, "/x", KEY_A, &err), 0);
    assert_int_equal(hk_keyring_load(&b, "/x", KEY_B, &err), 0);
    unsigned char s[128];
    size_t n = hk_pii_seal(&a, "张三", strlen("张三"), s);
    char out[64];
    assert_int_equal(hk_pii_open(&b, s, n, out, sizeof out, &err), HK_E(INVAL));
    assert_contains(hk_err_message(&err), "key");
    s[n - 1] ^= 1;
    assert_int_equal(hk_pii_open(&a, s, n, out, sizeof out, &err), HK_E(INVAL));
}

static void hash__is_keyed_and_deterministic(void **state)
{
    (void)state;
    struct hk_keyring a, b;
    struct hk_err err;
    assert_int_equal(hk_keyring_load(&a, "/x", KEY_A, &err), 0);
    assert_int_equal(hk_keyring_load(&b, "/x", KEY_B, &err), 0);
    char h1[HK_PII_HASH_HEX + 1], h2[HK_PII_HASH_HEX + 1], h3[HK_PII_HASH_HEX + 1];
    hk_pii_hash(&a, "+8613812345678", 14, h1);
    hk_pii_hash(&a, "+8613812345678", 14, h2);
    hk_pii_hash(&b, "+8613812345678", 14, h3);
    assert_string_equal(h1, h2);
    assert_string_not_equal(h1, h3);
    assert_int_equal(HK_PII_HASH_HEX, 32);
    assert_int_equal(strlen(h1), HK_PII_HASH_HEX);
    assert_int_equal(strspn(h1, "0123456789abcdef"), HK_PII_HASH_HEX);
}

/* The hash is the first 16 bytes of the 32-byte keyed BLAKE2b stores held before migration 0012
   (which keeps their first 32 digits), not a BLAKE2b with a 16-byte output. */
static void hash__is_the_prefix_of_the_32_byte_keyed_blake2b(void **state)
{
    (void)state;
    struct hk_keyring kr;
    struct hk_err err;
    assert_int_equal(hk_keyring_load(&kr, "/x", KEY_A, &err), 0);
    static const char *const values[] = {"+8613812345678", "张三", "", "recipient|138****5678"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        const char *v = values[i];
        unsigned char full[32], short_out[16];
        char full_hex[65], short_hex[33], got[HK_PII_HASH_HEX + 1];
        assert_int_equal(crypto_generichash(full, sizeof full, (const unsigned char *)v, strlen(v),
                                            kr.hash_key, sizeof kr.hash_key),
                         0);
        sodium_bin2hex(full_hex, sizeof full_hex, full, sizeof full);
        hk_pii_hash(&kr, v, strlen(v), got);
        assert_int_equal(strlen(got), 32);
        assert_memory_equal(got, full_hex, 32);
        assert_int_equal(crypto_generichash(short_out, sizeof short_out, (const unsigned char *)v,
                                            strlen(v), kr.hash_key, sizeof kr.hash_key),
                         0);
        sodium_bin2hex(short_hex, sizeof short_hex, short_out, sizeof short_out);
        assert_string_not_equal(got, short_hex);
    }
    hk_keyring_clear(&kr);
}

static void keyring__rejects_bad_hex(void **state)
{
    (void)state;
    struct hk_keyring kr;
    struct hk_err err;
    assert_int_equal(hk_keyring_load(&kr, "/x", "abcd", &err), HK_E(INVAL));
    assert_contains(hk_err_message(&err), "64 hexadecimal");
}

static void key_file__created_once_owner_only_and_reused(void **state)
{
    (void)state;
    char dir[] = "/tmp/hk_pii_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/huike.key", dir);
    struct hk_keyring k1, k2;
    struct hk_err err;
    assert_int_equal(hk_keyring_load(&k1, path, NULL, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    assert_int_equal(hk_keyring_load(&k2, path, "", &err), 0);
    assert_memory_equal(&k1, &k2, sizeof k1);
    /* a key file others can read is refused */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(hk_keyring_load(&k2, path, NULL, &err), HK_E(INVAL));
    assert_contains(hk_err_message(&err), "chmod 600");
    unlink(path);
    rmdir(dir);
}

static void phone_normalize__accepts_the_ways_sellers_write_mobiles(void **state)
{
    (void)state;
    const char *ok[] = {"13812345678",  "138 1234 5678", "+86-138-1234-5678",  "0086 13812345678",
                        "'13812345678", "8613812345678", "(+86) 138-1234-5678"};
    char out[HK_PHONE_MAX];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(hk_phone_normalize(ok[i], strlen(ok[i]), out, sizeof out), 0);
        assert_string_equal(out, "+8613812345678");
    }
}

static void phone_normalize__keeps_non_mobiles_as_they_are(void **state)
{
    (void)state;
    char out[HK_PHONE_MAX];
    assert_int_equal(hk_phone_normalize("010-6552 1234", 13, out, sizeof out), 1);
    assert_string_equal(out, "01065521234");
    assert_int_equal(hk_phone_normalize("138****5678", 11, out, sizeof out), 1);
    assert_int_equal(hk_phone_normalize("+1 415 555 0100", 15, out, sizeof out), 1);
    assert_int_equal(hk_phone_normalize("12812345678", 11, out, sizeof out), 1);
}

static void masked__recognises_marketplace_masks(void **state)
{
    (void)state;
    assert_true(hk_pii_is_masked("138****5678", 11));
    assert_true(hk_pii_is_masked("##3f9a0c", 8));
    assert_true(hk_pii_is_masked("$$a1b2", 6));
    assert_false(hk_pii_is_masked("13812345678", 11));
    assert_false(hk_pii_is_masked("#1 street", 9));
}

static void phone_mask__shows_first_three_and_last_four(void **state)
{
    (void)state;
    char out[32];
    hk_phone_mask("+8613812345678", out, sizeof out);
    assert_string_equal(out, "138****5678");
    hk_phone_mask("075512345678", out, sizeof out);
    assert_string_equal(out, "075****78");
    hk_phone_mask("1234", out, sizeof out);
    assert_string_equal(out, "****");
    char small[6]; /* cut as snprintf cuts */
    hk_phone_mask("+8613812345678", small, sizeof small);
    assert_string_equal(small, "138**");
    assert_int_equal(hk_phone_normalize("13812345678", 11, small, sizeof small), 0);
    assert_string_equal(small, "+8613");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seal_open__round_trips_and_never_repeats_ciphertext),
        cmocka_unit_test(open__rejects_other_key_and_tampering),
        cmocka_unit_test(hash__is_keyed_and_deterministic),
        cmocka_unit_test(hash__is_the_prefix_of_the_32_byte_keyed_blake2b),
        cmocka_unit_test(keyring__rejects_bad_hex),
        cmocka_unit_test(key_file__created_once_owner_only_and_reused),
        cmocka_unit_test(phone_normalize__accepts_the_ways_sellers_write_mobiles),
        cmocka_unit_test(phone_normalize__keeps_non_mobiles_as_they_are),
        cmocka_unit_test(masked__recognises_marketplace_masks),
        cmocka_unit_test(phone_mask__shows_first_three_and_last_four),
        cmocka_unit_test(seal_pooled__opens_and_never_repeats_a_nonce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
