/*
 * segment.c — the segment language: lexer, recursive-descent parser straight to a resolved
 * plan (names -> dictionary ids, literals -> rationals in the field's unit), and the evaluator
 * that turns a plan into a bitmap over the engine's rows.
 *
 * Grammar and field meanings: docs/segments.md. Semantics kept here:
 *   - a comparison with a missing value is false; `not x` is live & ~x (the plain complement);
 *   - numeric comparisons are exact: literals are rationals num/den (yuan -> fen, 12h -> 12/24
 *     day, 0.35 -> 35/100) and ratios (aov, coupon_use_rate) compare by cross-multiplication in
 *     128 bits, so "aov >= 500" never suffers float rounding;
 *   - bought(category or product) without min_count is answered by the bought() index
 *     (index.c) when every zone has the same local date; otherwise bought(...) and event(...)
 *     scan the flat line / event arrays once; within=N (days) holds when days_ago < N, a within
 *     in hours h becomes days_ago < ceil(h / 24);
 *   - aov with whole-fen bounds compares the materialised key c_aov_key (engine_int.h).
 * Every leaf ANDs with the live bitmap, so merged-away rows are never members.
 *
 * Threading: compile/eval only read the engine; flat scans without min_count use the engine's
 * worker threads, each writing its own partial bitmap.
 */
#include "engine/segment.h"
#include "engine/engine_int.h"

#include "core/err.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

__extension__ typedef __int128 i128;

/* ---- plan --------------------------------------------------------------------------------- */

enum field {
    F_RECENCY,
    F_FIRST_ORDER,
    F_FREQUENCY,
    F_MONETARY,
    F_AOV,
    F_COUPON_RATE,
    F_REFUNDS,
    F_R,
    F_F,
    F_M,
    F_MAIN_CAT,
    F_PROVINCE,
    F_CITY,
    F_CHANNEL,
    F_SEGMENT,
    F_TIER
};

enum ftype { FT_DAYS, FT_COUNT, FT_MONEY, FT_RATE, FT_STR, FT_CHANNEL };

static const struct {
    const char *name;
    enum field f;
    enum ftype t;
} fields[] = {
    {"recency_days", F_RECENCY, FT_DAYS},
    {"first_order_days", F_FIRST_ORDER, FT_DAYS},
    {"frequency", F_FREQUENCY, FT_COUNT},
    {"monetary", F_MONETARY, FT_MONEY},
    {"aov", F_AOV, FT_MONEY},
    {"coupon_use_rate", F_COUPON_RATE, FT_RATE},
    {"refund_count", F_REFUNDS, FT_COUNT},
    {"r_score", F_R, FT_COUNT},
    {"f_score", F_F, FT_COUNT},
    {"m_score", F_M, FT_COUNT},
    {"main_category", F_MAIN_CAT, FT_STR},
    {"province", F_PROVINCE, FT_STR},
    {"city", F_CITY, FT_STR},
    {"channel", F_CHANNEL, FT_CHANNEL},
    {"rfm_segment", F_SEGMENT, FT_STR},
    {"rfm_tier", F_TIER, FT_STR},
};

static const char *const functions[] = {"bought", "event", "has_tag", "in_segment"};

enum nkind { N_AND, N_OR, N_NOT, N_NUM, N_STR, N_CHAN, N_BOUGHT, N_EVENT, N_TAG };

struct rat {
    int64_t num, den; /* den > 0 */
};

struct ival {
    bool has_lo, lo_incl, has_hi, hi_incl;
    struct rat lo, hi;
};

struct node {
    enum nkind kind;
    struct node *a, *b;
    enum field f;
    bool neg; /* N_NUM / N_STR / N_CHAN: "!=" (present and not matching) */
    struct ival *iv;
    size_t niv;
    uint32_t *ids; /* N_STR: value ids; N_CHAN: mask in ids[0] */
    size_t nids;
    uint32_t product, category, type, tag; /* HK_ENGINE_NONE = any */
    uint32_t shop;       /* RFM fields: a shop index (engine_int.h) or HK_SHOP_NONE = all shops */
    int32_t within_days; /* 0 = no limit */
    uint32_t min_count;
};

struct hk_segment {
    struct node *root;
};

static void node_free(struct node *n)
{
    if (!n)
        return;
    node_free(n->a);
    node_free(n->b);
    free(n->iv);
    free(n->ids);
    free(n);
}

void hk_segment_free(struct hk_segment *s)
{
    if (!s)
        return;
    node_free(s->root);
    free(s);
}

/* ---- lexer -------------------------------------------------------------------------------- */

enum tt { T_EOF, T_IDENT, T_STRING, T_NUMBER, T_LP, T_RP, T_COMMA, T_OP };
enum cmp { C_EQ, C_NE, C_GT, C_GE, C_LT, C_LE };

struct tok {
    enum tt t;
    const char *s; /* source text */
    size_t len;
    int line, col;
    enum cmp op;
    /* T_NUMBER: value = num / den, unit 0, 'd' or 'h' */
    int64_t num, den;
    char unit;
    /* T_STRING: unescaped value */
    char *str;
};

#define MAX_DEPTH     100
#define MAX_SEG_DEPTH 16

struct parser {
    const struct hk_engine *e;
    const struct hk_segment_resolver *res;
    const char *src, *p, *line_start;
    int line;
    struct tok tok;
    struct hk_err *err;
    int depth;
    const char *seg_stack[MAX_SEG_DEPTH];
    int nseg;
    const char *context; /* "in segment 'x': " prefix for errors, or "" */
};

static int col_of(const struct parser *ps, const char *at)
{
    int col = 1;
    for (const char *q = ps->line_start; q < at; q++)
        col += ((unsigned char)*q & 0xC0) != 0x80;
    return col;
}

static void describe(const struct tok *t, char *buf, size_t size)
{
    switch (t->t) {
    case T_EOF:
        snprintf(buf, size, "end of input");
        break;
    case T_STRING:
        snprintf(buf, size, "the string %.*s", (int)(t->len > 40 ? 40 : t->len), t->s);
        break;
    default:
        snprintf(buf, size, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->s);
        break;
    }
}

static int fail_at(struct parser *ps, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(struct parser *ps, int line, int col, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return hk_err_setf(ps->err, HK_E(INVAL), "expression", "%sline %d, column %d: %s", ps->context,
                       line, col, msg);
}

/* "expected X, found Y" at the current token. */
static int expected(struct parser *ps, const char *what)
{
    char found[80];
    describe(&ps->tok, found, sizeof(found));
    return fail_at(ps, ps->tok.line, ps->tok.col, "expected %s, found %s", what, found);
}

static bool is_ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(unsigned char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9') || c == '.';
}

static int lex_number(struct parser *ps, struct tok *t)
{
    const char *q = ps->p;
    bool negative = false;
    if (*q == '-') {
        negative = true;
        q++;
    }
    int64_t num = 0, den = 1;
    int digits = 0, decimals = 0;
    for (; *q >= '0' && *q <= '9'; q++, digits++) {
        if (num > (INT64_MAX / 1000000 - 9) / 10)
            return fail_at(ps, t->line, t->col, "number too large");
        num = num * 10 + (*q - '0');
    }
    if (*q == '.' && q[1] >= '0' && q[1] <= '9') {
        for (q++; *q >= '0' && *q <= '9'; q++) {
            if (++decimals > 6)
                return fail_at(ps, t->line, t->col, "at most 6 decimals in a number");
            num = num * 10 + (*q - '0');
            den *= 10;
        }
    }
    if (!digits)
        return fail_at(ps, t->line, t->col, "expected a digit after '-'");
    t->unit = 0;
    if ((*q == 'd' || *q == 'h') && !is_ident_char((unsigned char)q[1])) {
        t->unit = *q;
        q++;
    } else if (is_ident_char((unsigned char)*q)) {
        return fail_at(
            ps, t->line, t->col, "'%.*s' is not a number; durations are written 30d or 12h",
            (int)(strcspn(ps->p, " \t\r\n(),=<>!") ? strcspn(ps->p, " \t\r\n(),=<>!") : 1), ps->p);
    }
    t->t = T_NUMBER;
    t->num = negative ? -num : num;
    t->den = den;
    t->len = (size_t)(q - ps->p);
    ps->p = q;
    return 0;
}

static int lex_string(struct parser *ps, struct tok *t)
{
    char quote = *ps->p;
    const char *q = ps->p + 1;
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 4096);
    for (;; q++) {
        if (*q == '\0' || *q == '\n') {
            hk_strbuf_release(&sb);
            return fail_at(ps, t->line, t->col, "unterminated string: expected a closing %c",
                           quote);
        }
        if (*q == quote)
            break;
        if (*q == '\\' && (q[1] == '\\' || q[1] == '"' || q[1] == '\''))
            q++;
        if (hk_strbuf_addch(&sb, *q)) {
            hk_strbuf_release(&sb);
            return fail_at(ps, t->line, t->col, "string too long");
        }
    }
    q++;
    t->t = T_STRING;
    t->str = hk_strbuf_detach(&sb, NULL);
    t->len = (size_t)(q - ps->p);
    ps->p = q;
    return 0;
}

/* Reads the next token into ps->tok. */
static int next(struct parser *ps)
{
    free(ps->tok.str);
    memset(&ps->tok, 0, sizeof(ps->tok));
    for (;;) {
        char c = *ps->p;
        if (c == '\n') {
            ps->line++;
            ps->line_start = ++ps->p;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            ps->p++;
        } else {
            break;
        }
    }
    struct tok *t = &ps->tok;
    t->s = ps->p;
    t->line = ps->line;
    t->col = col_of(ps, ps->p);
    unsigned char c = (unsigned char)*ps->p;
    if (c == '\0') {
        t->t = T_EOF;
        return 0;
    }
    if (is_ident_start(c)) {
        const char *q = ps->p;
        while (is_ident_char((unsigned char)*q))
            q++;
        t->t = T_IDENT;
        t->len = (size_t)(q - ps->p);
        ps->p = q;
        return 0;
    }
    if ((c >= '0' && c <= '9') || (c == '-' && ps->p[1] >= '0' && ps->p[1] <= '9'))
        return lex_number(ps, t);
    if (c == '"' || c == '\'')
        return lex_string(ps, t);
    t->len = 1;
    switch (c) {
    case '(':
        t->t = T_LP;
        break;
    case ')':
        t->t = T_RP;
        break;
    case ',':
        t->t = T_COMMA;
        break;
    case '=':
        t->t = T_OP;
        t->op = C_EQ;
        if (ps->p[1] == '=')
            t->len = 2;
        break;
    case '!':
        if (ps->p[1] != '=')
            return fail_at(ps, t->line, t->col, "expected '!=' (use 'not' to negate)");
        t->t = T_OP;
        t->op = C_NE;
        t->len = 2;
        break;
    case '<':
        t->t = T_OP;
        t->op = ps->p[1] == '=' ? C_LE : ps->p[1] == '>' ? C_NE : C_LT;
        t->len = ps->p[1] == '=' || ps->p[1] == '>' ? 2 : 1;
        break;
    case '>':
        t->t = T_OP;
        t->op = ps->p[1] == '=' ? C_GE : C_GT;
        t->len = ps->p[1] == '=' ? 2 : 1;
        break;
    default: {
        size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        return fail_at(ps, t->line, t->col,
                       "unexpected character '%.*s' (text values go in double quotes)", (int)n,
                       ps->p);
    }
    }
    ps->p += t->len;
    return 0;
}

static bool is_kw(const struct tok *t, const char *kw)
{
    if (t->t != T_IDENT || t->len != strlen(kw))
        return false;
    for (size_t i = 0; i < t->len; i++) {
        char c = t->s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != kw[i])
            return false;
    }
    return true;
}

/* ---- suggestions -------------------------------------------------------------------------- */

struct suggest {
    const char *want;
    size_t wlen;
    const char *best;
    size_t best_d;
};

static void suggest_add(struct suggest *s, const char *cand)
{
    if (!cand)
        return;
    size_t clen = strlen(cand);
    size_t d = hk_edit_distance(s->want, s->wlen, cand, clen);
    /* a name the user has started typing ("recency" -> "recency_days") is the best guess */
    if (s->wlen >= 3 && clen > s->wlen && memcmp(cand, s->want, s->wlen) == 0)
        d = 1;
    if (!s->best || d < s->best_d) {
        s->best = cand;
        s->best_d = d;
    }
}

/* Formats " (did you mean 'x'?)" into buf when the nearest candidate is close enough. */
static const char *suggestion(const struct suggest *s, char *buf, size_t size)
{
    size_t limit = s->wlen / 2 > 3 ? s->wlen / 2 : 3;
    if (s->best && s->best_d <= limit)
        snprintf(buf, size, " (did you mean '%s'?)", s->best);
    else
        buf[0] = '\0';
    return buf;
}

static int unknown_in_dict(struct parser *ps, const struct tok *at, const char *what,
                           const char *name, enum hk_dict_kind k)
{
    struct suggest s = {name, strlen(name), NULL, 0};
    uint32_t n = hk_engine_dict_size(ps->e, k);
    for (uint32_t i = 0; i < n; i++)
        suggest_add(&s, hk_engine_dict_name(ps->e, k, i));
    char sug[200];
    return fail_at(ps, at->line, at->col, "unknown %s \"%s\"%s", what, name,
                   suggestion(&s, sug, sizeof(sug)));
}

/* ---- parser ------------------------------------------------------------------------------- */

static struct node *new_node(struct parser *ps, enum nkind k)
{
    struct node *n = calloc(1, sizeof(*n));
    if (!n) {
        hk_err_set(ps->err, HK_E(NOMEM), "out of memory compiling a segment");
        return NULL;
    }
    n->kind = k;
    n->product = n->category = n->type = n->tag = HK_ENGINE_NONE;
    n->shop = HK_SHOP_NONE;
    return n;
}

static int parse_or(struct parser *ps, struct node **out);

/* A literal converted to the field's unit as a rational. */
static int literal_value(struct parser *ps, enum ftype ft, const char *fname, struct rat *out)
{
    struct tok *t = &ps->tok;
    if (t->t != T_NUMBER) {
        char what[160];
        snprintf(what, sizeof(what), "%s for %s",
                 ft == FT_DAYS    ? "a number of days or a duration (30d, 12h)"
                 : ft == FT_MONEY ? "an amount in yuan (500 or 99.90)"
                 : ft == FT_RATE  ? "a rate between 0 and 1"
                                  : "a whole number",
                 fname);
        return expected(ps, what);
    }
    struct rat v = {t->num, t->den};
    if (t->unit && ft != FT_DAYS)
        return fail_at(ps, t->line, t->col, "%s is not a duration field; write a plain number",
                       fname);
    if (ft == FT_DAYS && t->unit == 'h')
        v.den *= 24;
    if (ft == FT_MONEY) {
        if (v.den > 100 && (v.num * 100) % v.den != 0)
            return fail_at(ps, t->line, t->col, "amounts have at most 2 decimals (fen)");
        v.num *= 100; /* yuan -> fen */
    }
    *out = v;
    return next(ps);
}

static struct ival ival_for(enum cmp op, struct rat v)
{
    struct ival iv = {false, false, false, false, {0, 1}, {0, 1}};
    switch (op) {
    case C_EQ:
    case C_NE:
        iv.has_lo = iv.has_hi = iv.lo_incl = iv.hi_incl = true;
        iv.lo = iv.hi = v;
        break;
    case C_GT:
    case C_GE:
        iv.has_lo = true;
        iv.lo_incl = op == C_GE;
        iv.lo = v;
        break;
    case C_LT:
    case C_LE:
        iv.has_hi = true;
        iv.hi_incl = op == C_LE;
        iv.hi = v;
        break;
    }
    return iv;
}

static int push_ival(struct parser *ps, struct node *n, struct ival iv)
{
    struct ival *p = realloc(n->iv, (n->niv + 1) * sizeof(*p));
    if (!p)
        return hk_err_set(ps->err, HK_E(NOMEM), "out of memory compiling a segment");
    n->iv = p;
    n->iv[n->niv++] = iv;
    return 0;
}

static int push_id(struct parser *ps, struct node *n, uint32_t id)
{
    uint32_t *p = realloc(n->ids, (n->nids + 1) * sizeof(*p));
    if (!p)
        return hk_err_set(ps->err, HK_E(NOMEM), "out of memory compiling a segment");
    n->ids = p;
    n->ids[n->nids++] = id;
    return 0;
}

/* Resolves a string value of a text field into an id (or channel bit). */
static int string_value(struct parser *ps, struct node *n, const char *fname)
{
    struct tok *t = &ps->tok;
    if (t->t != T_STRING) {
        char what[120];
        snprintf(what, sizeof(what), "a \"quoted\" value for %s", fname);
        return expected(ps, what);
    }
    const char *s = t->str;
    size_t len = strlen(s);
    uint32_t id = HK_ENGINE_NONE;
    const struct hk_engine *e = ps->e;
    switch (n->f) {
    case F_MAIN_CAT:
        id = hk_engine_dict_find(e, HK_DICT_CATEGORY, s, len);
        if (id == HK_ENGINE_NONE)
            return unknown_in_dict(ps, t, "category", s, HK_DICT_CATEGORY);
        break;
    case F_PROVINCE:
    case F_CITY: /* places nobody lives in simply match nobody */
        id = hk_engine_dict_find(e, n->f == F_CITY ? HK_DICT_CITY : HK_DICT_PROVINCE, s, len);
        break;
    case F_CHANNEL:
        id = hk_engine_dict_find(e, HK_DICT_CHANNEL, s, len);
        if (id == HK_ENGINE_NONE)
            return unknown_in_dict(ps, t, "channel", s, HK_DICT_CHANNEL);
        if (!n->nids && push_id(ps, n, 0))
            return HK_E(NOMEM);
        n->ids[0] |= (uint32_t)1 << id;
        return next(ps);
    case F_SEGMENT: {
        struct suggest sg = {s, len, NULL, 0};
        for (int i = 1; i <= HK_RFM_SEGMENTS && id == HK_ENGINE_NONE; i++) {
            if (strcmp(s, hk_rfm_segment_name(i)) == 0)
                id = (uint32_t)i;
            suggest_add(&sg, hk_rfm_segment_name(i));
        }
        if (id == HK_ENGINE_NONE) {
            char sug[200];
            return fail_at(ps, t->line, t->col, "unknown RFM segment \"%s\"%s", s,
                           suggestion(&sg, sug, sizeof(sug)));
        }
        break;
    }
    case F_TIER: {
        const struct hk_rfm_config *c =
            n->shop == HK_SHOP_NONE ? hk_engine_rfm_config(e) : hk_shop_cfg(e, n->shop);
        struct suggest sg = {s, len, NULL, 0};
        for (size_t i = 0; i < c->n_tiers && id == HK_ENGINE_NONE; i++) {
            if (strcmp(s, c->tiers[i].name) == 0)
                id = (uint32_t)(i + 1);
            suggest_add(&sg, c->tiers[i].name);
        }
        if (id == HK_ENGINE_NONE && strcmp(s, c->other_tier) == 0)
            id = (uint32_t)(c->n_tiers + 1);
        suggest_add(&sg, c->other_tier);
        if (id == HK_ENGINE_NONE) {
            char sug[200];
            return fail_at(ps, t->line, t->col, "unknown RFM tier \"%s\"%s", s,
                           suggestion(&sg, sug, sizeof(sug)));
        }
        break;
    }
    default:
        break;
    }
    if (id != HK_ENGINE_NONE && push_id(ps, n, id))
        return HK_E(NOMEM);
    return next(ps);
}

static bool is_rfm_field(enum field f)
{
    return f == F_R || f == F_F || f == F_M || f == F_SEGMENT || f == F_TIER;
}

/* `(shop = "name" | "channel:name" | id)` after an RFM field: sets n->shop. */
static int parse_shop_arg(struct parser *ps, struct node *n, const char *fname)
{
    int rc = next(ps); /* '(' */
    if (!rc && !(ps->tok.t == T_IDENT && hk_streq_n(ps->tok.s, ps->tok.len, "shop"))) {
        char what[120];
        snprintf(what, sizeof(what), "shop=\"name\" in %s(...)", fname);
        return expected(ps, what);
    }
    if (!rc)
        rc = next(ps);
    if (!rc && !(ps->tok.t == T_OP && ps->tok.op == C_EQ))
        rc = expected(ps, "'=' after shop");
    if (!rc)
        rc = next(ps);
    if (rc)
        return rc;
    struct tok *t = &ps->tok;
    char text[400];
    if (t->t == T_STRING)
        snprintf(text, sizeof(text), "%s", t->str);
    else if (t->t == T_NUMBER && t->den == 1 && !t->unit && t->num >= 0)
        snprintf(text, sizeof(text), "%lld", (long long)t->num);
    else
        return expected(ps, "a shop's \"name\" or its id");
    int64_t id = 0;
    struct hk_err rerr;
    if (hk_engine_shop_resolve(ps->e, text, &id, &rerr))
        return fail_at(ps, t->line, t->col, "%s", hk_err_message(&rerr));
    n->shop = id ? hk_engine_shop_index(ps->e, id) : HK_SHOP_NONE;
    rc = next(ps);
    if (!rc && ps->tok.t != T_RP)
        rc = expected(ps, "')' after the shop");
    return rc ? rc : next(ps);
}

static int parse_comparison(struct parser *ps, int fi, struct node **out)
{
    enum ftype ft = fields[fi].t;
    const char *fname = fields[fi].name;
    struct node *n = new_node(ps, ft == FT_STR ? N_STR : ft == FT_CHANNEL ? N_CHAN : N_NUM);
    if (!n)
        return HK_E(NOMEM);
    n->f = fields[fi].f;
    int rc = next(ps);
    if (!rc && ps->tok.t == T_LP) {
        if (is_rfm_field(n->f))
            rc = parse_shop_arg(ps, n, fname);
        else
            rc = fail_at(ps, ps->tok.line, ps->tok.col,
                         "%s takes no arguments (only the RFM fields take shop=...)", fname);
    }
    bool text = ft == FT_STR || ft == FT_CHANNEL;
    if (!rc && ps->tok.t == T_OP) {
        enum cmp op = ps->tok.op;
        if (text && op != C_EQ && op != C_NE) {
            rc = fail_at(ps, ps->tok.line, ps->tok.col,
                         "%s is text: compare it with =, != or in (...)", fname);
        } else {
            n->neg = op == C_NE;
            rc = next(ps);
            if (!rc && text) {
                rc = string_value(ps, n, fname);
            } else if (!rc) {
                struct rat v;
                rc = literal_value(ps, ft, fname, &v);
                if (!rc)
                    rc = push_ival(ps, n, ival_for(op, v));
            }
        }
    } else if (!rc && is_kw(&ps->tok, "in")) {
        rc = next(ps);
        if (!rc && ps->tok.t != T_LP)
            rc = expected(ps, "'(' after 'in'");
        if (!rc)
            rc = next(ps);
        while (!rc) {
            if (text) {
                rc = string_value(ps, n, fname);
            } else {
                struct rat v;
                rc = literal_value(ps, ft, fname, &v);
                if (!rc)
                    rc = push_ival(ps, n, ival_for(C_EQ, v));
            }
            if (rc)
                break;
            if (ps->tok.t == T_RP) {
                rc = next(ps);
                break;
            }
            if (ps->tok.t != T_COMMA)
                rc = expected(ps, "',' or ')' in the list");
            else
                rc = next(ps);
        }
    } else if (!rc && is_kw(&ps->tok, "between")) {
        if (text) {
            rc =
                fail_at(ps, ps->tok.line, ps->tok.col, "%s is text: between needs a number", fname);
        } else {
            struct rat lo, hi;
            rc = next(ps);
            if (!rc)
                rc = literal_value(ps, ft, fname, &lo);
            if (!rc && !is_kw(&ps->tok, "and"))
                rc = expected(ps, "'and' in 'between ... and ...'");
            if (!rc)
                rc = next(ps);
            if (!rc)
                rc = literal_value(ps, ft, fname, &hi);
            if (!rc) {
                struct ival iv = {true, true, true, true, lo, hi};
                rc = push_ival(ps, n, iv);
            }
        }
    } else if (!rc) {
        rc = expected(ps, text ? "=, != or 'in' after a text field"
                               : "a comparison (= != > >= < <=), 'in' or 'between'");
    }
    if (rc) {
        node_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

/* Parses a `within=` or `min_count=` value. */
static int arg_number(struct parser *ps, const char *arg, bool duration, int64_t *out)
{
    struct tok *t = &ps->tok;
    if (t->t != T_NUMBER || t->num <= 0 || (t->unit && !duration))
        return expected(ps, duration ? "a positive duration for within (30d, 12h)"
                                     : "a positive whole number for min_count");
    if (t->den != 1)
        return fail_at(ps, t->line, t->col, "%s must be a whole number", arg);
    int64_t v = t->num;
    if (duration && t->unit == 'h')
        v = (v + 23) / 24; /* days_ago * 24 < h  <=>  days_ago < ceil(h / 24) */
    if (v > 1000000)
        return fail_at(ps, t->line, t->col, "%s is too large", arg);
    *out = v;
    return next(ps);
}

static int parse_string_arg(struct parser *ps, const char *fname, char **out)
{
    if (ps->tok.t != T_STRING) {
        char what[120];
        snprintf(what, sizeof(what), "a \"quoted\" name in %s(...)", fname);
        return expected(ps, what);
    }
    *out = ps->tok.str;
    ps->tok.str = NULL;
    return next(ps);
}

static int compile_saved(struct parser *ps, const struct tok *at, const char *name,
                         struct node **out);

static int parse_call(struct parser *ps, int fn, struct node **out)
{
    const char *fname = functions[fn];
    int rc = next(ps); /* the name */
    if (!rc && ps->tok.t != T_LP)
        rc = expected(ps, "'(' after the function name");
    if (!rc)
        rc = next(ps);
    if (rc)
        return rc;
    if (fn >= 2) { /* has_tag("x") / in_segment("x") */
        struct tok at = ps->tok;
        at.str = NULL;
        char *name = NULL;
        rc = parse_string_arg(ps, fname, &name);
        if (!rc && ps->tok.t != T_RP)
            rc = expected(ps, "')'");
        if (!rc && fn == 2) {
            uint32_t id = hk_engine_dict_find(ps->e, HK_DICT_TAG, name, strlen(name));
            if (id == HK_ENGINE_NONE) {
                rc = unknown_in_dict(ps, &at, "tag", name, HK_DICT_TAG);
            } else {
                struct node *n = new_node(ps, N_TAG);
                rc = n ? 0 : HK_E(NOMEM);
                if (n) {
                    n->tag = id;
                    *out = n;
                }
            }
        } else if (!rc) {
            rc = compile_saved(ps, &at, name, out);
        }
        free(name);
        if (!rc)
            rc = next(ps); /* ')' */
        if (rc && *out) {
            node_free(*out);
            *out = NULL;
        }
        return rc;
    }
    struct node *n = new_node(ps, fn == 0 ? N_BOUGHT : N_EVENT);
    if (!n)
        return HK_E(NOMEM);
    n->min_count = 1;
    const char *const args_bought[] = {"product", "category", "within", "min_count"};
    const char *const args_event[] = {"type", "within", "min_count"};
    const char *const *args = fn == 0 ? args_bought : args_event;
    size_t nargs = fn == 0 ? 4 : 3;
    unsigned seen = 0;
    while (!rc && ps->tok.t != T_RP) {
        if (ps->tok.t != T_IDENT) {
            char what[120];
            snprintf(what, sizeof(what), "an argument name (%s) or ')'",
                     fn == 0 ? "product, category, within, min_count" : "type, within, min_count");
            rc = expected(ps, what);
            break;
        }
        size_t ai = nargs;
        for (size_t i = 0; i < nargs; i++)
            if (hk_streq_n(ps->tok.s, ps->tok.len, args[i]))
                ai = i;
        if (ai == nargs) {
            char name[64], sug[200];
            snprintf(name, sizeof(name), "%.*s", (int)(ps->tok.len > 60 ? 60 : ps->tok.len),
                     ps->tok.s);
            struct suggest sg = {name, strlen(name), NULL, 0};
            for (size_t i = 0; i < nargs; i++)
                suggest_add(&sg, args[i]);
            rc = fail_at(ps, ps->tok.line, ps->tok.col, "%s() has no argument '%s'%s", fname, name,
                         suggestion(&sg, sug, sizeof(sug)));
            break;
        }
        if (seen & (1u << ai)) {
            rc = fail_at(ps, ps->tok.line, ps->tok.col, "argument '%s' given twice", args[ai]);
            break;
        }
        seen |= 1u << ai;
        rc = next(ps);
        if (!rc && !(ps->tok.t == T_OP && ps->tok.op == C_EQ))
            rc = expected(ps, "'=' after the argument name");
        if (!rc)
            rc = next(ps);
        if (rc)
            break;
        const char *an = args[ai];
        if (strcmp(an, "within") == 0 || strcmp(an, "min_count") == 0) {
            int64_t v = 0;
            rc = arg_number(ps, an, an[0] == 'w', &v);
            if (!rc && an[0] == 'w')
                n->within_days = (int32_t)v;
            else if (!rc)
                n->min_count = (uint32_t)v;
        } else {
            struct tok at = ps->tok;
            char *val = NULL;
            rc = parse_string_arg(ps, fname, &val);
            if (!rc) {
                enum hk_dict_kind k = an[0] == 'p'   ? HK_DICT_PRODUCT
                                      : an[0] == 'c' ? HK_DICT_CATEGORY
                                                     : HK_DICT_EVENT_TYPE;
                uint32_t id = hk_engine_dict_find(ps->e, k, val, strlen(val));
                if (id == HK_ENGINE_NONE)
                    rc = unknown_in_dict(ps, &at,
                                         k == HK_DICT_PRODUCT    ? "product"
                                         : k == HK_DICT_CATEGORY ? "category"
                                                                 : "event type",
                                         val, k);
                else if (k == HK_DICT_PRODUCT)
                    n->product = id;
                else if (k == HK_DICT_CATEGORY)
                    n->category = id;
                else
                    n->type = id;
            }
            free(val);
        }
        if (!rc && ps->tok.t == T_COMMA) {
            rc = next(ps);
            if (!rc && ps->tok.t == T_RP)
                rc = expected(ps, "an argument after ','");
        } else if (!rc && ps->tok.t != T_RP) {
            rc = expected(ps, "',' or ')'");
        }
    }
    if (!rc)
        rc = next(ps); /* ')' */
    if (rc) {
        node_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

static int parse_primary(struct parser *ps, struct node **out)
{
    struct tok *t = &ps->tok;
    if (t->t == T_LP) {
        int rc = next(ps);
        if (!rc)
            rc = parse_or(ps, out);
        if (!rc && ps->tok.t != T_RP) {
            rc = expected(ps, "')' or 'and' / 'or'");
            node_free(*out);
            *out = NULL;
        }
        if (!rc)
            rc = next(ps);
        return rc;
    }
    if (t->t != T_IDENT)
        return expected(ps, "a field, a function (bought, event, has_tag, in_segment), 'not' or "
                            "'('");
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
        if (hk_streq_n(t->s, t->len, functions[i]))
            return parse_call(ps, (int)i, out);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (hk_streq_n(t->s, t->len, fields[i].name))
            return parse_comparison(ps, (int)i, out);
    if (is_kw(t, "and") || is_kw(t, "or") || is_kw(t, "in") || is_kw(t, "between"))
        return expected(ps, "a field, a function or '(' before this keyword");
    char name[80], sug[200];
    snprintf(name, sizeof(name), "%.*s", (int)(t->len > 70 ? 70 : t->len), t->s);
    struct suggest sg = {name, strlen(name), NULL, 0};
    const char *p = t->s + t->len;
    while (*p == ' ' || *p == '\t')
        p++;
    bool call = *p == '(';
    if (call)
        for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
            suggest_add(&sg, functions[i]);
    else
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
            suggest_add(&sg, fields[i].name);
    return fail_at(ps, t->line, t->col, "unknown %s '%s'%s", call ? "function" : "field", name,
                   suggestion(&sg, sug, sizeof(sug)));
}

static int parse_not(struct parser *ps, struct node **out)
{
    /* every operand passes here once per level: the top level is depth 1, and each '(' or
     * 'not' adds one, so MAX_DEPTH levels of nesting (docs/segments.md) are allowed */
    if (++ps->depth > MAX_DEPTH + 1)
        return fail_at(ps, ps->tok.line, ps->tok.col, "expression nested too deeply");
    int rc;
    if (is_kw(&ps->tok, "not")) {
        struct node *n = new_node(ps, N_NOT);
        rc = n ? next(ps) : HK_E(NOMEM);
        if (!rc)
            rc = parse_not(ps, &n->a);
        if (rc)
            node_free(n);
        else
            *out = n;
    } else {
        rc = parse_primary(ps, out);
    }
    ps->depth--;
    return rc;
}

static int parse_binary(struct parser *ps, bool is_or, struct node **out)
{
    struct node *left = NULL;
    int rc = is_or ? parse_binary(ps, false, &left) : parse_not(ps, &left);
    while (!rc && is_kw(&ps->tok, is_or ? "or" : "and")) {
        struct node *n = new_node(ps, is_or ? N_OR : N_AND);
        if (!n) {
            rc = HK_E(NOMEM);
            break;
        }
        n->a = left;
        left = n;
        rc = next(ps);
        if (!rc)
            rc = is_or ? parse_binary(ps, false, &n->b) : parse_not(ps, &n->b);
    }
    if (rc) {
        node_free(left);
        return rc;
    }
    *out = left;
    return 0;
}

static int parse_or(struct parser *ps, struct node **out)
{
    return parse_binary(ps, true, out); /* nesting is counted in parse_not */
}

/* Parses a whole expression: or_expr then end of input. */
static int parse_all(struct parser *ps, const char *src, struct node **out)
{
    if (strlen(src) > HK_SEGMENT_MAX_LEN)
        return hk_err_setf(ps->err, HK_E(INVAL), "expression",
                           "%sthe expression is longer "
                           "than %d bytes",
                           ps->context, HK_SEGMENT_MAX_LEN);
    ps->src = ps->p = ps->line_start = src;
    ps->line = 1;
    memset(&ps->tok, 0, sizeof(ps->tok));
    struct node *root = NULL;
    int rc = next(ps);
    if (!rc && ps->tok.t == T_EOF)
        rc = expected(ps, "an expression");
    if (!rc)
        rc = parse_or(ps, &root);
    if (!rc && ps->tok.t == T_RP)
        rc = fail_at(ps, ps->tok.line, ps->tok.col, "unmatched ')'");
    else if (!rc && ps->tok.t != T_EOF)
        rc = expected(ps, "'and', 'or' or the end of the expression");
    free(ps->tok.str);
    ps->tok.str = NULL;
    if (rc) {
        node_free(root);
        return rc;
    }
    *out = root;
    return 0;
}

static int compile_saved(struct parser *ps, const struct tok *at, const char *name,
                         struct node **out)
{
    const struct hk_segment_resolver *res = ps->res;
    const char *expr = res && res->lookup ? res->lookup(res->ctx, name) : NULL;
    if (!expr) {
        struct suggest sg = {name, strlen(name), NULL, 0};
        for (size_t i = 0; res && res->names && i < res->n_names; i++)
            suggest_add(&sg, res->names[i]);
        char sug[200];
        return fail_at(ps, at->line, at->col, "unknown segment \"%s\"%s", name,
                       suggestion(&sg, sug, sizeof(sug)));
    }
    for (int i = 0; i < ps->nseg; i++)
        if (strcmp(ps->seg_stack[i], name) == 0)
            return fail_at(ps, at->line, at->col,
                           "segment \"%s\" refers to itself through in_segment", name);
    if (ps->nseg >= MAX_SEG_DEPTH)
        return fail_at(ps, at->line, at->col, "in_segment nested more than %d deep", MAX_SEG_DEPTH);
    struct parser sub = *ps;
    char ctx[200];
    snprintf(ctx, sizeof(ctx), "%sin segment \"%s\": ", ps->context, name);
    sub.context = ctx;
    sub.seg_stack[sub.nseg++] = name;
    sub.depth = 0;
    int rc = parse_all(&sub, expr, out);
    return rc;
}

int hk_segment_compile(const struct hk_engine *e, const char *expr,
                       const struct hk_segment_resolver *res, struct hk_segment **out,
                       struct hk_err *err)
{
    struct parser ps;
    memset(&ps, 0, sizeof(ps));
    ps.e = e;
    ps.res = res;
    ps.err = err;
    ps.context = "";
    struct node *root = NULL;
    int rc = parse_all(&ps, expr ? expr : "", &root);
    if (rc)
        return rc;
    struct hk_segment *s = malloc(sizeof(*s));
    if (!s) {
        node_free(root);
        return hk_err_set(err, HK_E(NOMEM), "out of memory compiling a segment");
    }
    s->root = root;
    *out = s;
    return 0;
}

/* ---- evaluation --------------------------------------------------------------------------- */

size_t hk_segment_words(const struct hk_engine *e)
{
    size_t w = hk_engine_words(e);
    return w ? w : 1;
}

struct ev {
    const struct hk_engine *e;
    int32_t today[HK_MAX_ZONES];
    bool one_today; /* every zone has the same local date */
    size_t words;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Integer interval [lo, hi] equivalent to a rational interval over integers; false if empty. */
static bool int_range(const struct ival *iv, int64_t *lo, int64_t *hi)
{
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    if (iv->has_lo) {
        int64_t f = floor_div(iv->lo.num, iv->lo.den);
        bool exact = f * iv->lo.den == iv->lo.num;
        *lo = iv->lo_incl ? (exact ? f : f + 1) : f + 1;
    }
    if (iv->has_hi) {
        int64_t f = floor_div(iv->hi.num, iv->hi.den);
        bool exact = f * iv->hi.den == iv->hi.num;
        *hi = iv->hi_incl ? f : (exact ? f - 1 : f);
    }
    return *lo <= *hi;
}

/* p/q within iv (q > 0). */
static bool ratio_in(int64_t p, int64_t q, const struct ival *iv)
{
    if (iv->has_lo) {
        i128 l = (i128)p * iv->lo.den, r = (i128)iv->lo.num * q;
        if (iv->lo_incl ? l < r : l <= r)
            return false;
    }
    if (iv->has_hi) {
        i128 l = (i128)p * iv->hi.den, r = (i128)iv->hi.num * q;
        if (iv->hi_incl ? l > r : l >= r)
            return false;
    }
    return true;
}

struct num_ctx {
    const struct ev *ev;
    const struct node *n;
    int64_t *lo, *hi; /* integer ranges (not for ratio fields) */
    size_t nr;
    bool aov_key; /* aov with whole-fen bounds: ranges over c_aov_key (engine_int.h) */
    uint64_t *out;
};

/* Bits of rows in [w0*64, w1*64) ∩ [0, nc) whose col value lies in [lo, hi] (lo > INT64_MIN,
 * so the missing value INT64_MIN never qualifies): one compare per row, no branches. */
static void range_bits_i32(const int32_t *col, size_t nc, size_t w0, size_t w1, int64_t lo,
                           int64_t hi, uint64_t *out)
{
    /* clamp to the column's range; the missing value INT32_MIN stays outside */
    lo = lo < INT32_MIN + 1 ? INT32_MIN + 1 : lo;
    hi = hi > INT32_MAX ? INT32_MAX : hi;
    uint32_t span = (uint32_t)(hi - lo), ulo = (uint32_t)lo;
    for (size_t w = w0; w < w1; w++) {
        uint64_t bits = 0;
        size_t base = w * 64, end = base + 64 < nc ? 64 : nc - base;
        const int32_t *c = col + base;
        if (hi < lo)
            end = 0;
#if defined(__SSE2__)
        if (end == 64) {
            /* unsigned (c - lo) <= span as a signed compare after flipping the sign bits;
             * 4 rows per compare, movemask packs the 4 results into bits */
            const __m128i vlo = _mm_set1_epi32((int32_t)ulo);
            const __m128i vspan = _mm_set1_epi32((int32_t)(span ^ 0x80000000u));
            const __m128i flip = _mm_set1_epi32(INT32_MIN);
            for (size_t j = 0; j < 64; j += 4) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(c + j));
                v = _mm_xor_si128(_mm_sub_epi32(v, vlo), flip);
                __m128i gt = _mm_cmpgt_epi32(v, vspan);
                bits |= (uint64_t)(~_mm_movemask_ps(_mm_castsi128_ps(gt)) & 15) << j;
            }
            out[w] = bits;
            continue;
        }
#endif
        for (size_t j = 0; j < end; j++)
            bits |= (uint64_t)((uint32_t)c[j] - ulo <= span) << j;
        out[w] = bits;
    }
}

/* The integer value of an integer field for row r; false when missing. */
static inline bool int_value(const struct ev *ev, enum field f, size_t r, int64_t *v)
{
    const struct hk_engine *e = ev->e;
    switch (f) {
    case F_RECENCY:
        if (!e->c_freq[r])
            return false;
        *v = (int64_t)ev->today[e->c_last_zone[r]] - e->c_last_day[r];
        return true;
    case F_FIRST_ORDER:
        if (!e->c_freq[r])
            return false;
        *v = (int64_t)ev->today[e->c_first_zone[r]] - e->c_first_day[r];
        return true;
    case F_FREQUENCY:
        *v = e->c_freq[r];
        return true;
    case F_MONETARY:
        *v = e->c_monetary[r];
        return true;
    case F_REFUNDS:
        *v = e->c_refunds[r];
        return true;
    case F_R:
        *v = e->c_r[r];
        return e->c_r[r] != 0;
    case F_F:
        *v = e->c_f[r];
        return e->c_f[r] != 0;
    case F_M:
        *v = e->c_m[r];
        return e->c_m[r] != 0;
    default:
        return false;
    }
}

static inline bool in_ranges(int64_t v, const int64_t *lo, const int64_t *hi, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if ((uint64_t)v - (uint64_t)lo[k] <= (uint64_t)hi[k] - (uint64_t)lo[k])
            return true;
    return false;
}

static void num_range(void *arg, size_t lo_row, size_t hi_row)
{
    struct num_ctx *c = arg;
    const struct hk_engine *e = c->ev->e;
    const struct node *n = c->n;
    enum field f = n->f;
    size_t w0 = lo_row / 64, w1 = (hi_row + 63) / 64;
    /* Fast path: one zone, a day field with one range -> a range on the stored day column. */
    if ((f == F_RECENCY || f == F_FIRST_ORDER) && c->ev->one_today && c->nr == 1 && !n->neg) {
        const int32_t *col = f == F_RECENCY ? e->c_last_day : e->c_first_day;
        int64_t t = c->ev->today[0];
        /* days_ago in [lo, hi]  <=>  day in [t - hi, t - lo]; HK_DAY_NONE never qualifies */
        int64_t dlo = c->hi[0] == INT64_MAX ? INT32_MIN + 1 : t - c->hi[0];
        int64_t dhi = c->lo[0] == INT64_MIN ? INT32_MAX : t - c->lo[0];
        if (dlo < INT32_MIN + 1)
            dlo = INT32_MIN + 1;
        range_bits_i32(col, e->nc, w0, w1, dlo, dhi, c->out);
        return;
    }
    if (c->aov_key) {
        const int32_t *col = e->c_aov_key;
        if (c->nr == 1 && !n->neg) {
            range_bits_i32(col, e->nc, w0, w1, c->lo[0], c->hi[0], c->out);
            return;
        }
        for (size_t w = w0; w < w1; w++) {
            uint64_t bits = 0;
            size_t base = w * 64, end = base + 64 < e->nc ? 64 : e->nc - base;
            for (size_t j = 0; j < end; j++) {
                int64_t v = col[base + j];
                if (v == INT32_MIN)
                    continue;
                bits |= (uint64_t)(in_ranges(v, c->lo, c->hi, c->nr) != n->neg) << j;
            }
            c->out[w] = bits;
        }
        return;
    }
    if (f == F_AOV || f == F_COUPON_RATE) {
        for (size_t w = w0; w < w1; w++) {
            uint64_t bits = 0;
            size_t base = w * 64, end = base + 64 < e->nc ? 64 : e->nc - base;
            for (size_t j = 0; j < end; j++) {
                size_t r = base + j;
                uint32_t q = e->c_freq[r];
                if (!q)
                    continue;
                int64_t p = f == F_AOV ? e->c_monetary[r] : (int64_t)e->c_coupon[r];
                bool m = false;
                for (size_t k = 0; k < n->niv && !m; k++)
                    m = ratio_in(p, q, &n->iv[k]);
                bits |= (uint64_t)(m != n->neg) << j;
            }
            c->out[w] = bits;
        }
        return;
    }
    for (size_t w = w0; w < w1; w++) {
        uint64_t bits = 0;
        size_t base = w * 64, end = base + 64 < e->nc ? 64 : e->nc - base;
        for (size_t j = 0; j < end; j++) {
            int64_t v;
            if (!int_value(c->ev, f, base + j, &v))
                continue;
            bits |= (uint64_t)(in_ranges(v, c->lo, c->hi, c->nr) != n->neg) << j;
        }
        c->out[w] = bits;
    }
}

/* An RFM field of one shop: the rows whose entry for the shop has a score (non-zero) that
 * matches, ranges (numbers) or ids (text) as for the all-shops fields. One sequential pass over
 * the entries on the calling thread: at 10M orders a split over rows on two threads measured
 * no faster when a core was free and slower when the machine was loaded. */
static void eval_shop_field(const struct ev *ev, const struct node *n, const int64_t *lo,
                            const int64_t *hi, size_t nr, uint64_t *out)
{
    const struct hk_engine *e = ev->e;
    memset(out, 0, ev->words * 8);
    const uint8_t *col = n->f == F_R         ? e->ps_r
                         : n->f == F_F       ? e->ps_f
                         : n->f == F_M       ? e->ps_m
                         : n->f == F_SEGMENT ? e->ps_seg
                                             : e->ps_tier;
    for (size_t i = 0; i < e->nps; i++) {
        uint32_t r = e->ps_row[i];
        if (r == HK_DEAD || e->ps_shop[i] != n->shop || !col[i])
            continue;
        bool m = false;
        if (n->kind == N_NUM)
            m = in_ranges(col[i], lo, hi, nr);
        else
            for (size_t k = 0; k < n->nids && !m; k++)
                m = n->ids[k] == col[i];
        if (m != n->neg)
            out[r >> 6] |= (uint64_t)1 << (r & 63);
    }
}

static bool e_aov_wide(const struct hk_engine *e)
{
    return __atomic_load_n(&e->aov_wide_rows, __ATOMIC_RELAXED) != 0;
}

static void eval_num(const struct ev *ev, const struct node *n, uint64_t *out)
{
    struct num_ctx c;
    memset(&c, 0, sizeof(c));
    c.ev = ev;
    c.n = n;
    c.out = out;
    bool ratio = n->f == F_AOV || n->f == F_COUPON_RATE;
    if (n->f == F_AOV) {
        /* whole-fen bounds X: aov > X <=> key >= 2X + 1, aov >= X <=> key >= 2X, aov < X <=>
         * key <= 2X - 1, aov <= X <=> key <= 2X (key = 2 floor(aov) + fractional) */
        bool whole = true;
        for (size_t k = 0; k < n->niv; k++) {
            const struct ival *iv = &n->iv[k];
            if ((iv->has_lo && iv->lo.num % iv->lo.den) || (iv->has_hi && iv->hi.num % iv->hi.den))
                whole = false;
        }
        if (whole && !e_aov_wide(ev->e)) {
            ratio = false;
            c.aov_key = true;
        }
    }
    if (c.aov_key) {
        c.lo = malloc((n->niv ? n->niv : 1) * sizeof(int64_t));
        c.hi = malloc((n->niv ? n->niv : 1) * sizeof(int64_t));
        if (!c.lo || !c.hi) {
            free(c.lo);
            free(c.hi);
            memset(out, 0, ev->words * 8);
            return;
        }
        for (size_t k = 0; k < n->niv; k++) {
            const struct ival *iv = &n->iv[k];
            int64_t lo = INT64_MIN, hi = INT64_MAX;
            if (iv->has_lo)
                lo = 2 * (iv->lo.num / iv->lo.den) + (iv->lo_incl ? 0 : 1);
            if (iv->has_hi)
                hi = 2 * (iv->hi.num / iv->hi.den) - (iv->hi_incl ? 0 : 1);
            if (lo <= hi) {
                c.lo[c.nr] = lo;
                c.hi[c.nr] = hi;
                c.nr++;
            }
        }
    } else if (!ratio) {
        c.lo = malloc((n->niv ? n->niv : 1) * sizeof(int64_t));
        c.hi = malloc((n->niv ? n->niv : 1) * sizeof(int64_t));
        if (!c.lo || !c.hi) {
            free(c.lo);
            free(c.hi);
            memset(out, 0, ev->words * 8);
            return;
        }
        for (size_t k = 0; k < n->niv; k++)
            if (int_range(&n->iv[k], &c.lo[c.nr], &c.hi[c.nr]))
                c.nr++;
    }
    if (n->shop != HK_SHOP_NONE)
        eval_shop_field(ev, n, c.lo, c.hi, c.nr, out);
    else
        hk_engine_parallel(ev->e, ev->e->nc, num_range, &c);
    free(c.lo);
    free(c.hi);
}

static void eval_str(const struct ev *ev, const struct node *n, uint64_t *out)
{
    const struct hk_engine *e = ev->e;
    size_t nc = e->nc;
    if (n->shop != HK_SHOP_NONE) {
        eval_shop_field(ev, n, NULL, NULL, 0, out);
        return;
    }
    if (n->kind == N_CHAN) {
        uint32_t mask = n->nids ? n->ids[0] : 0;
        for (size_t w = 0; w < ev->words; w++) {
            uint64_t bits = 0;
            size_t base = w * 64, end = base + 64 < nc ? 64 : nc - base;
            for (size_t j = 0; j < end; j++) {
                uint32_t ch = e->c_channels[base + j];
                bool m = n->neg ? (ch != 0 && !(ch & mask)) : (ch & mask) != 0;
                bits |= (uint64_t)m << j;
            }
            out[w] = bits;
        }
        return;
    }
    for (size_t w = 0; w < ev->words; w++) {
        uint64_t bits = 0;
        size_t base = w * 64, end = base + 64 < nc ? 64 : nc - base;
        for (size_t j = 0; j < end; j++) {
            size_t r = base + j;
            uint32_t v;
            bool present;
            switch (n->f) {
            case F_MAIN_CAT:
                v = e->c_main_cat[r];
                present = v != HK_CAT_NONE && e->c_freq[r];
                break;
            case F_PROVINCE:
                v = e->c_province[r];
                present = v != HK_ENGINE_NONE;
                break;
            case F_CITY:
                v = e->c_city[r];
                present = v != HK_ENGINE_NONE;
                break;
            case F_SEGMENT:
                v = e->c_seg[r];
                present = v != 0;
                break;
            default:
                v = e->c_tier[r];
                present = v != 0;
                break;
            }
            if (!present)
                continue;
            bool m = false;
            for (size_t k = 0; k < n->nids && !m; k++)
                m = n->ids[k] == v;
            bits |= (uint64_t)(m != n->neg) << j;
        }
        out[w] = bits;
    }
}

struct scan_ctx {
    const struct ev *ev;
    const struct node *n;
    uint64_t *parts[64]; /* per thread */
    int nparts;
    bool oom;
};

/* Hands a thread's partial bitmap to the first free slot (taken: the caller ORs and frees). */
static void stash(struct scan_ctx *c, uint64_t *bits)
{
    for (int i = 0; i < 64; i++) {
        uint64_t *expect = NULL;
        if (__atomic_compare_exchange_n(&c->parts[i], &expect, bits, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return;
    }
    free(bits);
    c->oom = true;
}

/* Cut-off: a line/event of zone z qualifies when day > cut[z] (days_ago < within). */
static void cutoffs(const struct ev *ev, int32_t within, int32_t *cut)
{
    for (uint32_t z = 0; z < ev->e->nzones; z++)
        cut[z] = within ? ev->today[z] - within : INT32_MIN;
}

static void bought_range(void *arg, size_t lo, size_t hi)
{
    struct scan_ctx *c = arg;
    const struct hk_engine *e = c->ev->e;
    const struct node *n = c->n;
    uint64_t *bits = calloc(c->ev->words, 8);
    if (!bits) {
        c->oom = true;
        return;
    }
    int32_t cut[HK_MAX_ZONES];
    cutoffs(c->ev, n->within_days, cut);
    uint32_t prod = n->product, cat = n->category;
    int32_t cut0 = cut[0];
    bool one = c->ev->one_today;
    for (size_t l = lo; l < hi; l++) {
        int32_t d = e->l_day[l];
        if (d == HK_DAY_NONE)
            continue;
        if (cat != HK_ENGINE_NONE && e->l_cat[l] != cat)
            continue;
        if (prod != HK_ENGINE_NONE && e->l_prod[l] != prod)
            continue;
        if (d <= (one ? cut0 : cut[e->s_zone[e->o_shop[e->l_ord[l]]]]))
            continue;
        uint32_t r = e->l_cust[l];
        bits[r >> 6] |= (uint64_t)1 << (r & 63);
    }
    stash(c, bits);
}

/* bought(...) without product or category: any counted order, lines or not. */
static void orders_range(void *arg, size_t lo, size_t hi)
{
    struct scan_ctx *c = arg;
    const struct hk_engine *e = c->ev->e;
    uint64_t *bits = calloc(c->ev->words, 8);
    if (!bits) {
        c->oom = true;
        return;
    }
    int32_t cut[HK_MAX_ZONES];
    cutoffs(c->ev, c->n->within_days, cut);
    for (size_t o = lo; o < hi; o++) {
        if (!(e->o_flags[o] & HK_OF_COUNTED) || e->o_day[o] <= cut[e->s_zone[e->o_shop[o]]])
            continue;
        uint32_t r = e->o_cust[o];
        bits[r >> 6] |= (uint64_t)1 << (r & 63);
    }
    stash(c, bits);
}

/* min_count: the count of row r's qualifying orders (or events), from its history (a
 * customer's lines are grouped by order). */
static uint32_t row_count(const struct ev *ev, const struct node *n, size_t r, const int32_t *cut)
{
    const struct hk_engine *e = ev->e;
    bool is_event = n->kind == N_EVENT;
    uint32_t cnt = 0;
    if (is_event) {
        for (uint32_t i = e->c_estart[r]; i < e->c_estart[r] + e->c_ecount[r]; i++)
            if (e->e_day[i] != HK_DAY_NONE &&
                (n->type == HK_ENGINE_NONE || e->e_type[i] == n->type) &&
                e->e_day[i] > cut[e->e_zone[i]])
                cnt++;
    } else if (n->product == HK_ENGINE_NONE && n->category == HK_ENGINE_NONE) {
        for (uint32_t o = e->c_ostart[r]; o < e->c_ostart[r] + e->c_ocount[r]; o++)
            cnt += (e->o_flags[o] & HK_OF_COUNTED) && e->o_day[o] > cut[e->s_zone[e->o_shop[o]]];
    } else {
        uint32_t last = HK_DEAD;
        for (uint32_t l = e->c_lstart[r]; l < e->c_lstart[r] + e->c_lcount[r]; l++) {
            if (e->l_day[l] == HK_DAY_NONE ||
                (n->category != HK_ENGINE_NONE && e->l_cat[l] != n->category) ||
                (n->product != HK_ENGINE_NONE && e->l_prod[l] != n->product) ||
                e->l_day[l] <= cut[e->s_zone[e->o_shop[e->l_ord[l]]]] || e->l_ord[l] == last)
                continue;
            last = e->l_ord[l];
            cnt++;
        }
    }
    return cnt;
}

static void eval_bought_counted(const struct ev *ev, const struct node *n, uint64_t *out)
{
    const struct hk_engine *e = ev->e;
    memset(out, 0, ev->words * 8);
    int32_t cut[HK_MAX_ZONES];
    cutoffs(ev, n->within_days, cut);
    for (size_t r = 0; r < e->nc; r++)
        if (row_count(ev, n, r, cut) >= n->min_count)
            out[r >> 6] |= (uint64_t)1 << (r & 63);
}

/*
 * min_count for one category or product at one cut-off day: the index's per-entry order counts
 * settle most rows; only the candidates it cannot settle (a window, a changed row) are walked.
 * False when the index cannot answer (then every row is walked).
 */
static bool eval_bought_counted_ix(const struct ev *ev, const struct node *n, uint64_t *out)
{
    const struct hk_engine *e = ev->e;
    if (n->kind != N_BOUGHT || !ev->one_today ||
        (n->product == HK_ENGINE_NONE) == (n->category == HK_ENGINE_NONE))
        return false;
    bool prod = n->product != HK_ENGINE_NONE;
    int32_t cut1 = n->within_days ? ev->today[0] - n->within_days : INT32_MIN;
    uint64_t *maybe = malloc(ev->words * 8);
    if (!maybe || hk_index_bought_count(e, prod, prod ? n->product : n->category, cut1,
                                        n->min_count, out, maybe, ev->words)) {
        free(maybe);
        return false;
    }
    int32_t cut[HK_MAX_ZONES];
    cutoffs(ev, n->within_days, cut);
    for (size_t w = 0; w < ev->words; w++)
        for (uint64_t b = maybe[w]; b; b &= b - 1) {
            size_t r = w * 64 + (size_t)__builtin_ctzll(b);
            if (row_count(ev, n, r, cut) >= n->min_count)
                out[w] |= (uint64_t)1 << (r & 63);
        }
    free(maybe);
    return true;
}

static void event_range(void *arg, size_t lo, size_t hi)
{
    struct scan_ctx *c = arg;
    const struct hk_engine *e = c->ev->e;
    const struct node *n = c->n;
    uint64_t *bits = calloc(c->ev->words, 8);
    if (!bits) {
        c->oom = true;
        return;
    }
    int32_t cut[HK_MAX_ZONES];
    cutoffs(c->ev, n->within_days, cut);
    for (size_t i = lo; i < hi; i++) {
        if (e->e_day[i] == HK_DAY_NONE || (n->type != HK_ENGINE_NONE && e->e_type[i] != n->type))
            continue;
        if (e->e_day[i] <= cut[e->e_zone[i]])
            continue;
        uint32_t r = e->e_cust[i];
        bits[r >> 6] |= (uint64_t)1 << (r & 63);
    }
    stash(c, bits);
}

static int eval_scan(const struct ev *ev, const struct node *n, uint64_t *out)
{
    const struct hk_engine *e = ev->e;
    if (n->min_count > 1) {
        if (!eval_bought_counted_ix(ev, n, out))
            eval_bought_counted(ev, n, out);
        return 0;
    }
    /* one category or one product, one cut-off day for every zone: the index */
    if (n->kind == N_BOUGHT && ev->one_today &&
        (n->product == HK_ENGINE_NONE) != (n->category == HK_ENGINE_NONE)) {
        bool prod = n->product != HK_ENGINE_NONE;
        int32_t cut = n->within_days ? ev->today[0] - n->within_days : INT32_MIN;
        if (hk_index_bought(e, prod, prod ? n->product : n->category, cut, out, ev->words))
            return 0;
    }
    struct scan_ctx c;
    memset(&c, 0, sizeof(c));
    c.ev = ev;
    c.n = n;
    if (n->kind == N_BOUGHT && n->product == HK_ENGINE_NONE && n->category == HK_ENGINE_NONE)
        hk_engine_parallel(e, e->no, orders_range, &c);
    else if (n->kind == N_BOUGHT)
        hk_engine_parallel(e, e->nl, bought_range, &c);
    else
        hk_engine_parallel(e, e->ne, event_range, &c);
    memset(out, 0, ev->words * 8);
    for (int i = 0; i < 64 && c.parts[i]; i++) {
        for (size_t w = 0; w < ev->words; w++)
            out[w] |= c.parts[i][w];
        free(c.parts[i]);
    }
    return c.oom ? HK_E(NOMEM) : 0;
}

static int eval_node(const struct ev *ev, const struct node *n, uint64_t *out)
{
    const struct hk_engine *e = ev->e;
    size_t words = ev->words;
    int rc = 0;
    switch (n->kind) {
    case N_AND:
    case N_OR: {
        rc = eval_node(ev, n->a, out);
        if (rc)
            return rc;
        uint64_t *tmp = malloc(words * 8);
        if (!tmp)
            return HK_E(NOMEM);
        rc = eval_node(ev, n->b, tmp);
        if (n->kind == N_AND)
            for (size_t w = 0; w < words; w++)
                out[w] &= tmp[w];
        else
            for (size_t w = 0; w < words; w++)
                out[w] |= tmp[w];
        free(tmp);
        return rc;
    }
    case N_NOT:
        rc = eval_node(ev, n->a, out);
        for (size_t w = 0; w < words; w++)
            out[w] = ~out[w];
        break;
    case N_NUM:
        eval_num(ev, n, out);
        break;
    case N_STR:
    case N_CHAN:
        eval_str(ev, n, out);
        break;
    case N_BOUGHT:
    case N_EVENT:
        rc = eval_scan(ev, n, out);
        break;
    case N_TAG: {
        const uint64_t *b = hk_engine_tag_bits(e, n->tag);
        if (b)
            memcpy(out, b, words * 8);
        else
            memset(out, 0, words * 8);
        break;
    }
    }
    for (size_t w = 0; w < words && w < hk_engine_words(e); w++)
        out[w] &= e->live[w];
    return rc;
}

int hk_segment_eval(const struct hk_engine *e, const struct hk_segment *s, int64_t now,
                    uint64_t *bits, size_t *count, struct hk_err *err)
{
    struct ev ev;
    memset(&ev, 0, sizeof(ev));
    ev.e = e;
    ev.words = hk_segment_words(e);
    hk_engine_today(e, now, ev.today);
    ev.one_today = true;
    for (uint32_t z = 1; z < e->nzones; z++)
        ev.one_today = ev.one_today && ev.today[z] == ev.today[0];
    memset(bits, 0, ev.words * 8);
    if (e->nc == 0) {
        if (count)
            *count = 0;
        return 0;
    }
    int rc = eval_node(&ev, s->root, bits);
    if (rc)
        return hk_err_set(err, rc, "out of memory evaluating a segment");
    if (count) {
        size_t c = 0;
        for (size_t w = 0; w < ev.words; w++)
            c += (size_t)__builtin_popcountll(bits[w]);
        *count = c;
    }
    return 0;
}

int hk_segment_count(const struct hk_engine *e, const char *expr,
                     const struct hk_segment_resolver *res, int64_t now, size_t *count,
                     struct hk_err *err)
{
    struct hk_segment *s;
    int rc = hk_segment_compile(e, expr, res, &s, err);
    if (rc)
        return rc;
    uint64_t *bits = malloc(hk_segment_words(e) * 8);
    if (!bits) {
        hk_segment_free(s);
        return hk_err_set(err, HK_E(NOMEM), "out of memory evaluating a segment");
    }
    rc = hk_segment_eval(e, s, now, bits, count, err);
    free(bits);
    hk_segment_free(s);
    return rc;
}
