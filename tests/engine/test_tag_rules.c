/*
 * test_tag_rules.c — rule tags derived into an engine (services/tag_rules.c) without a store:
 *   - the rules of the exact form `main_category = "c"` are filled in one pass over the rows;
 *     on random engines (merges, growth after the load, refunds to a net spend <= 0, buyers
 *     without categorised lines, cancelled-only customers) every rule tag's members are exactly
 *     what the rule's expression selects when evaluated on its own (the per-rule path), for the
 *     forms that take the one pass and for those that do not;
 *   - a tag gone from the store (deleted, or renamed away) is unknown by name at once: has_tag()
 *     of it is an error whose suggestion never offers it, hk_engine_dict_find/_name skip it, and
 *     it is known again when the store has it again or a customer is given it.
 */
#include "../unit/unit.h"

#include "core/err.h"
#include "core/tz.h"
#include "engine/engine.h"
#include "engine/segment.h"
#include "services/tag_rules.h"
#include "store/tags_repo.h"

#include <stdio.h>
#include <stdlib.h>

static int64_t at(const char *s)
{
    int64_t t = 0;
    struct hk_err err;
    assert_int_equal(hk_time_parse(s, strlen(s), NULL, &t, &err), 0);
    return t;
}

#define NOW at("2026-03-01T12:00:00+08:00")

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33) % n;
}

#define NCATS 24

static const char *cat_name(int c, char *buf, size_t size)
{
    if (c % 5 == 0)
        snprintf(buf, size, "女装/品类%d", c);
    else
        snprintf(buf, size, "cat%d", c);
    return buf;
}

static void random_order(struct hk_engine *e, int64_t order_id, int64_t cust, int64_t now)
{
    static const enum hk_order_status st[] = {
        HK_ORDER_PAID,      HK_ORDER_SHIPPED,  HK_ORDER_COMPLETED, HK_ORDER_COMPLETED,
        HK_ORDER_CANCELLED, HK_ORDER_REFUNDED, HK_ORDER_CREATED};
    struct hk_engine_line lines[4];
    size_t nl = rnd(5); /* 0..4 lines */
    int64_t paid = 0;
    for (size_t k = 0; k < nl; k++) {
        /* products 1..NCATS*2: two per category; NCATS*2+1..+4: no category */
        lines[k].product_id = 1 + rnd(NCATS * 2 + 4);
        lines[k].amount_fen = rnd(10) == 0 ? -(int64_t)rnd(3000) : (int64_t)rnd(50000);
        paid += lines[k].amount_fen;
    }
    struct hk_engine_order o = {order_id,
                                cust,
                                1,
                                st[rnd(sizeof st / sizeof st[0])],
                                true,
                                now - (int64_t)rnd(400) * 86400 - rnd(86400),
                                paid > 0 ? paid : 0,
                                rnd(8) == 0 ? rnd(5000) : 0,
                                rnd(3) == 0,
                                lines,
                                nl};
    struct hk_err err;
    assert_int_equal(hk_engine_apply_order(e, &o, &err), 0);
}

static struct hk_engine *random_engine(int ncust, int64_t now)
{
    struct hk_engine *e = NULL;
    struct hk_err err;
    assert_int_equal(hk_engine_new(NULL, &e, &err), 0);
    assert_int_equal(hk_engine_add_shop(e, 1, "Asia/Shanghai", &err), 0);
    char buf[64], ext[32];
    for (int p = 1; p <= NCATS * 2 + 4; p++) {
        snprintf(ext, sizeof ext, "P%d", p);
        const char *cat = p <= NCATS * 2 ? cat_name((p - 1) / 2, buf, sizeof buf) : "";
        assert_int_equal(hk_engine_add_product(e, p, ext, cat, &err), 0);
    }
    int64_t oid = 1;
    for (int c = 1; c <= ncust; c++) {
        struct hk_engine_customer cu = {c, "", "", 0};
        assert_int_equal(hk_engine_upsert_customer(e, &cu, &err), 0);
        int n = (int)rnd(5); /* 0..4 orders */
        for (int k = 0; k < n; k++)
            random_order(e, oid++, c, now);
    }
    assert_int_equal(hk_engine_load_finish(e, &err), 0);
    /* after the load: merges, new customers (the table grows), more orders */
    for (int k = 0; k < ncust / 20; k++) {
        int64_t w = 1 + rnd((uint32_t)ncust), l = 1 + rnd((uint32_t)ncust);
        if (w != l)
            (void)hk_engine_merge(e, w, l, &err); /* may name a loser merged already */
    }
    for (int c = ncust + 1; c <= ncust + ncust / 2; c++) {
        random_order(e, oid++, c, now);
        if (rnd(2))
            random_order(e, oid++, 1 + rnd((uint32_t)c), now);
    }
    assert_int_equal(hk_engine_rescore(e, now, &err), 0);
    return e;
}

/* The live members of expr, evaluated alone. */
static uint64_t *eval(const struct hk_engine *e, const char *expr, int64_t now)
{
    struct hk_err err;
    struct hk_segment *seg = NULL;
    int rc = hk_segment_compile(e, expr, NULL, &seg, &err);
    if (rc)
        print_error("%s: %s\n", expr, hk_err_message(&err));
    assert_int_equal(rc, 0);
    size_t words = hk_segment_words(e);
    uint64_t *bits = malloc(words * sizeof(*bits));
    assert_non_null(bits);
    assert_int_equal(hk_segment_eval(e, seg, now, bits, NULL, &err), 0);
    hk_segment_free(seg);
    return bits;
}

static size_t popcount(const uint64_t *b, size_t words)
{
    size_t n = 0;
    for (size_t w = 0; w < words; w++)
        n += (size_t)__builtin_popcountll(b[w]);
    return n;
}

struct spec {
    char name[64];
    char expr[160];
    const char *kind;
};

static struct hk_tag_rules *rules_of(struct spec *s, size_t n)
{
    struct hk_tag_row *rows = calloc(n, sizeof *rows);
    assert_non_null(rows);
    for (size_t i = 0; i < n; i++) {
        rows[i].id = (int64_t)i + 1;
        rows[i].name = s[i].name;
        rows[i].kind = (char *)(s[i].kind ? s[i].kind : "rule");
        rows[i].expression = s[i].kind ? (char *)"" : s[i].expr;
    }
    struct hk_tag_rules *r = NULL;
    struct hk_err err;
    assert_int_equal(hk_tag_rules_from_rows(rows, n, &r, &err), 0);
    free(rows); /* the strings are the specs' */
    return r;
}

static void main_category__one_pass_equals_each_rule_alone(void **state)
{
    (void)state;
    int64_t now = NOW;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        rng_state = seed * 7919;
        struct hk_engine *e = random_engine(seed == 4 ? 70 : 1500 + (int)seed * 700, now);
        struct spec sp[NCATS + 12];
        size_t n = 0;
        char buf[64];
        static const char *const forms[] = {"main_category = \"%s\"", "main_category=\"%s\"",
                                            "  main_category == \"%s\"\n", "main_category = '%s'"};
        for (int c = 0; c < NCATS; c++) {
            snprintf(sp[n].name, sizeof sp[n].name, "爱好者%d", c);
            snprintf(sp[n].expr, sizeof sp[n].expr, forms[c % 4], cat_name(c, buf, sizeof buf));
            sp[n++].kind = NULL;
        }
        /* the same category twice; forms the one pass must leave to the general path */
        static const char *const others[][2] = {
            {"同类", "main_category = \"cat1\""},
            {"或者", "main_category = \"cat2\" or frequency >= 3"},
            {"并且", "main_category = \"cat3\" and frequency > 1"},
            {"不是", "main_category != \"cat4\""},
            {"列表", "main_category in (\"cat6\", \"cat7\")"},
            {"转义", "main_category = \"cat\\8\""},
            {"依赖", "has_tag(\"爱好者1\") and frequency >= 2"},
            {"非", "not main_category = \"cat9\""},
            {"大写", "MAIN_CATEGORY = \"cat11\""},
            {"未知", "main_category = \"no such category\""},
        };
        for (size_t k = 0; k < sizeof others / sizeof others[0]; k++) {
            snprintf(sp[n].name, sizeof sp[n].name, "%s", others[k][0]);
            snprintf(sp[n].expr, sizeof sp[n].expr, "%s", others[k][1]);
            sp[n++].kind = NULL;
        }
        struct hk_tag_rules *r = rules_of(sp, n);
        struct hk_tag_rules_result res;
        struct hk_err err;
        assert_int_equal(hk_tag_rules_derive(r, NULL, e, now, &res, &err), 0);
        assert_int_equal(res.rules, n);
        assert_int_equal(res.failed, 3); /* the escape (cat\8 is "cat8": unknown), 大写, 未知 */
        size_t words = hk_segment_words(e), nonempty = 0;
        for (size_t i = 0; i < n; i++) {
            char tagexpr[96];
            snprintf(tagexpr, sizeof tagexpr, "has_tag(\"%.80s\")", sp[i].name);
            uint64_t *got = eval(e, tagexpr, now);
            struct hk_segment *seg = NULL;
            if (hk_segment_compile(e, sp[i].expr, NULL, &seg, &err) != 0) {
                assert_int_equal(popcount(got, words), 0); /* a failing rule: nobody */
                free(got);
                continue;
            }
            hk_segment_free(seg);
            uint64_t *want = eval(e, sp[i].expr, now);
            if (memcmp(got, want, words * sizeof(*got)) != 0)
                fail_msg("seed %llu rule %s (%s): %zu members, alone %zu", (unsigned long long)seed,
                         sp[i].name, sp[i].expr, popcount(got, words), popcount(want, words));
            nonempty += popcount(want, words) > 0;
            free(got);
            free(want);
        }
        if (seed < 4)
            assert_true(nonempty >= NCATS); /* the data exercised the categories */
        /* the engine's pass itself (before assign masks anything): every category, one twice,
         * an id past the dictionary */
        uint32_t ncat = hk_engine_dict_size(e, HK_DICT_CATEGORY);
        uint32_t *cats = malloc((ncat + 2) * sizeof *cats);
        uint64_t **dst = malloc((ncat + 2) * sizeof *dst);
        assert_true(cats && dst);
        for (uint32_t c = 0; c < ncat + 2; c++) {
            cats[c] = c < ncat ? ncat - 1 - c : c == ncat ? 0 : ncat + 5;
            assert_non_null(dst[c] = malloc(words * sizeof(uint64_t)));
            memset(dst[c], 0xa5, words * sizeof(uint64_t));
        }
        assert_int_equal(hk_engine_main_category_bitmaps(e, cats, ncat + 2, dst, words, &err), 0);
        for (uint32_t c = 0; c < ncat + 2; c++) {
            if (cats[c] >= ncat) {
                assert_int_equal(popcount(dst[c], words), 0);
            } else {
                char ex[128];
                snprintf(ex, sizeof ex, "main_category = \"%s\"",
                         hk_engine_dict_name(e, HK_DICT_CATEGORY, cats[c]));
                uint64_t *want = eval(e, ex, now);
                assert_memory_equal(dst[c], want, words * sizeof(uint64_t));
                free(want);
            }
            free(dst[c]);
        }
        free(cats);
        free(dst);
        /* the data changes (a merge, new orders): derive again, still equal */
        assert_int_equal(hk_engine_merge(e, 2, 3, &err), 0);
        random_order(e, 999999, 5, now);
        assert_int_equal(hk_tag_rules_derive(r, NULL, e, now, &res, &err), 0);
        for (int c = 0; c < NCATS; c++) {
            char tagexpr[96];
            snprintf(tagexpr, sizeof tagexpr, "has_tag(\"%.80s\")", sp[c].name);
            uint64_t *got = eval(e, tagexpr, now), *want = eval(e, sp[c].expr, now);
            assert_memory_equal(got, want, words * sizeof(*got));
            free(got);
            free(want);
        }
        hk_tag_rules_free(r);
        hk_engine_free(e);
    }
}

/* An engine with ten buyers (customers 1..10, one paid order each). */
static struct hk_engine *small_engine(void)
{
    struct hk_engine *e = NULL;
    struct hk_err err;
    assert_int_equal(hk_engine_new(NULL, &e, &err), 0);
    assert_int_equal(hk_engine_add_shop(e, 1, "Asia/Shanghai", &err), 0);
    for (int i = 1; i <= 10; i++) {
        struct hk_engine_order o = {i,       i, 1,     HK_ORDER_PAID, true, NOW - 86400,
                                    100 * i, 0, false, NULL,          0};
        assert_int_equal(hk_engine_apply_order(e, &o, &err), 0);
    }
    assert_int_equal(hk_engine_load_finish(e, &err), 0);
    return e;
}

static size_t count_ok(struct hk_engine *e, const char *expr)
{
    size_t n = 0;
    struct hk_err err;
    int rc = hk_segment_count(e, expr, NULL, NOW, &n, &err);
    if (rc)
        print_error("%s: %s\n", expr, hk_err_message(&err));
    assert_int_equal(rc, 0);
    return n;
}

/* The error of an expression that must not compile (copied into buf). */
static const char *compile_error(struct hk_engine *e, const char *expr, char *buf, size_t size)
{
    size_t n = 0;
    struct hk_err err;
    assert_int_equal(hk_segment_count(e, expr, NULL, NOW, &n, &err), HK_E(INVAL));
    snprintf(buf, size, "%s", hk_err_message(&err));
    return buf;
}

static void deleted__tag_is_unknown_at_once_and_known_again_when_recreated(void **state)
{
    (void)state;
    struct hk_engine *e = small_engine();
    struct hk_err err;
    char msg[512];
    struct spec v1[] = {
        {"sleepy", "", "manual"}, {"sleeper", "", "manual"}, {"buyers", "frequency >= 1", NULL}};
    struct hk_tag_rules *r1 = rules_of(v1, 3);
    assert_int_equal(hk_tag_rules_derive(r1, NULL, e, NOW, NULL, &err), 0);
    assert_int_equal(hk_engine_tag_set(e, 1, "sleepy", true, &err), 0);
    assert_int_equal(count_ok(e, "has_tag(\"sleepy\")"), 1);
    assert_int_equal(count_ok(e, "has_tag(\"buyers\")"), 10);
    /* a misspelling suggests the nearest name, the tag itself while it exists */
    assert_contains(compile_error(e, "has_tag(\"sleepyy\")", msg, sizeof msg),
                    "did you mean 'sleepy'?");

    /* sleepy deleted, the rule tag buyers renamed to 买家 (same rule) */
    struct spec v2[] = {{"sleeper", "", "manual"}, {"买家", "frequency >= 1", NULL}};
    struct hk_tag_rules *r2 = rules_of(v2, 2);
    size_t cleared = 0;
    assert_int_equal(hk_tag_rules_prepare(r2, r1, e, &cleared, &err), 0);
    assert_int_equal(cleared, 1); /* the vanished rule's members */
    assert_int_equal(hk_tag_rules_derive(r2, r1, e, NOW, NULL, &err), 0);
    compile_error(e, "has_tag(\"sleepy\")", msg, sizeof msg);
    assert_contains(msg, "line 1, column 9: unknown tag \"sleepy\"");
    assert_contains(msg, "did you mean 'sleeper'?");
    compile_error(e, "has_tag(\"sleepyy\")", msg, sizeof msg);
    assert_not_contains(msg, "'sleepy'");
    compile_error(e, "frequency >= 1 and not has_tag(\"buyers\")", msg, sizeof msg);
    assert_contains(msg, "unknown tag \"buyers\"");
    assert_int_equal(count_ok(e, "has_tag(\"买家\")"), 10);
    assert_int_equal(hk_engine_dict_find(e, HK_DICT_TAG, "sleepy", 6), HK_ENGINE_NONE);
    uint32_t nt = hk_engine_dict_size(e, HK_DICT_TAG);
    for (uint32_t t = 0; t < nt; t++) { /* names offered (autocomplete) skip both */
        const char *name = hk_engine_dict_name(e, HK_DICT_TAG, t);
        assert_true(!name || (strcmp(name, "sleepy") != 0 && strcmp(name, "buyers") != 0));
    }
    /* a derive again (nothing changed in the store) keeps them unknown */
    assert_int_equal(hk_tag_rules_derive(r2, r2, e, NOW, NULL, &err), 0);
    compile_error(e, "has_tag(\"buyers\")", msg, sizeof msg);

    /* the store's delete touched sleepy's member: its replay drops the tag */
    assert_int_equal(hk_engine_tag_set(e, 1, "sleepy", false, &err), 0);
    compile_error(e, "has_tag(\"sleepy\")", msg, sizeof msg); /* taking off does not revive */
    /* made again: known again, with nobody */
    struct spec v3[] = {
        {"sleeper", "", "manual"}, {"买家", "frequency >= 1", NULL}, {"sleepy", "", "manual"}};
    struct hk_tag_rules *r3 = rules_of(v3, 3);
    assert_int_equal(hk_tag_rules_derive(r3, r2, e, NOW, NULL, &err), 0);
    assert_int_equal(count_ok(e, "has_tag(\"sleepy\")"), 0);
    compile_error(e, "has_tag(\"buyers\")", msg, sizeof msg);
    /* a customer given a retired name (a replay that raced the delete): known again */
    assert_int_equal(hk_engine_tag_set(e, 4, "buyers", true, &err), 0);
    assert_int_equal(count_ok(e, "has_tag(\"buyers\")"), 1);
    /* and the next rules reload, where the store does not have it, retires it again */
    assert_int_equal(hk_tag_rules_derive(r3, r3, e, NOW, NULL, &err), 0);
    compile_error(e, "has_tag(\"buyers\")", msg, sizeof msg);
    /* hk_engine_tag_define names it again */
    assert_int_equal(hk_engine_tag_define(e, "buyers", &err), 0);
    assert_int_not_equal(hk_engine_dict_find(e, HK_DICT_TAG, "buyers", 6), HK_ENGINE_NONE);
    /* retiring an unknown name is a no-op */
    assert_int_equal(hk_engine_tag_retire(e, "never seen", &err), 0);
    hk_tag_rules_free(r1);
    hk_tag_rules_free(r2);
    hk_tag_rules_free(r3);
    hk_engine_free(e);
}

/* A rule tag follows `now` with no write (沉睡客户 on the 180th day), and a rule naming it through
 * has_tag follows in the same derive. */
static void rules__follow_now_and_rule_tags_they_name(void **state)
{
    (void)state;
    struct hk_engine *e = NULL;
    struct hk_err err;
    assert_int_equal(hk_engine_new(NULL, &e, &err), 0);
    assert_int_equal(hk_engine_add_shop(e, 1, "Asia/Shanghai", &err), 0);
    struct hk_engine_order o = {
        1, 1, 1, HK_ORDER_PAID, true, at("2025-09-03T23:00:00+08:00"), 1000, 0, false, NULL, 0};
    assert_int_equal(hk_engine_apply_order(e, &o, &err), 0);
    o.order_id = 2;
    o.customer_id = 2;
    o.paid_at = at("2026-02-20T10:00:00+08:00");
    assert_int_equal(hk_engine_apply_order(e, &o, &err), 0);
    assert_int_equal(hk_engine_load_finish(e, &err), 0);
    struct spec sp[] = {{"唤醒名单", "has_tag(\"沉睡客户\") and frequency >= 1", NULL},
                        {"沉睡客户", "recency_days >= 180", NULL}};
    struct hk_tag_rules *r = rules_of(sp, 2);
    assert_int_equal(hk_tag_rules_levels(r), 2);
    int64_t day179 = at("2026-03-01T23:59:59+08:00"), day180 = at("2026-03-02T00:00:00+08:00");
    assert_int_equal(hk_tag_rules_derive(r, NULL, e, day179, NULL, &err), 0);
    size_t n = 0;
    assert_int_equal(hk_segment_count(e, "has_tag(\"沉睡客户\")", NULL, day179, &n, &err), 0);
    assert_int_equal(n, 0);
    struct hk_tag_rules_result res;
    assert_int_equal(hk_tag_rules_derive(r, r, e, day180, &res, &err), 0);
    assert_int_equal(res.changed, 2);
    assert_int_equal(hk_segment_count(e, "has_tag(\"沉睡客户\")", NULL, day180, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(hk_segment_count(e, "has_tag(\"唤醒名单\")", NULL, day180, &n, &err), 0);
    assert_int_equal(n, 1);
    hk_tag_rules_free(r);
    hk_engine_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(main_category__one_pass_equals_each_rule_alone),
        cmocka_unit_test(deleted__tag_is_unknown_at_once_and_known_again_when_recreated),
        cmocka_unit_test(rules__follow_now_and_rule_tags_they_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
