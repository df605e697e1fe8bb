/*
 * reader.c — one import file -> good orders + rejected rows (see reader.h).
 *
 * Design
 *   csv.c gives records, formats.c turns each into a converted row; this file groups
 *   consecutive rows that share an order number into orders and decides, per order, whether it
 *   is returned or withheld.
 *
 *   Look-ahead without copying: hk_reader_next reads rows until one belongs to a different
 *   order. That row stays "pending" in the tokenizer's buffer, converted but not yet copied
 *   anywhere, and the finished order is returned. The next call starts a new order with the
 *   pending row. So the arena only ever holds returned orders and the one being built, and
 *   hk_reader_recycle between calls frees exactly the returned ones.
 *
 *   All-or-nothing: an order is built in the arena from a mark; when one of its rows is bad the
 *   arena is rolled back to the mark and every row of the order is reported — the bad ones with
 *   their reason, the others as "rejected with order X: record N is bad". A row whose order
 *   number itself is unusable (empty, scientific notation, a record that could not be read)
 *   belongs to no order: it ends the current order and is reported on its own. (Should the same
 *   order number continue after it, the order arrives as two records; the importer merges them
 *   by natural key, as it does for an order that appears twice anywhere in a file.)
 *
 *   Flat memory: at most MAX_PENDING_ERRORS row errors are kept between two
 *   hk_reader_take_errors, and at most as many rows of one order are remembered for reporting;
 *   beyond that rows are counted (hk_reader_rejected) but not described. An order of more than
 *   MAX_ROWS_PER_ORDER rows is withheld.
 *
 * Invariants
 *   Row errors are appended in file order: the errors of an order's rows wait in the order's
 *   list and are flushed when it closes, before any row after it is looked at.
 *   `records` counts data records (not the header, not blank lines or rows of empty cells,
 *   not the header repeated where two exports were joined, not a spreadsheet's total row).
 *
 * Threads: a reader belongs to one thread.
 */
#include "ingest/reader.h"
#include "core/err.h"
#include "core/util.h"
#include "ingest/arena.h"
#include "ingest/csv.h"
#include "ingest/formats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ROWS_PER_ORDER 100000
#define MAX_PENDING_ERRORS 10000 /* row errors kept between two hk_reader_take_errors */

/* ---- record.h ---- */

static const char *const STATUS_NAMES[] = {
    [HK_ORDER_UNKNOWN] = "",
    [HK_ORDER_CREATED] = "created",
    [HK_ORDER_PAID] = "paid",
    [HK_ORDER_SHIPPED] = "shipped",
    [HK_ORDER_COMPLETED] = "completed",
    [HK_ORDER_REFUNDED] = "refunded",
    [HK_ORDER_CANCELLED] = "cancelled",
};

const char *hk_order_status_name(enum hk_order_status s)
{
    if ((size_t)s >= HK_ARRAY_LEN(STATUS_NAMES))
        return "";
    return STATUS_NAMES[s];
}

enum hk_order_status hk_order_status_parse(const char *s)
{
    if (!s || !*s)
        return HK_ORDER_UNKNOWN;
    for (size_t i = 1; i < HK_ARRAY_LEN(STATUS_NAMES); i++)
        if (strcmp(s, STATUS_NAMES[i]) == 0)
            return (enum hk_order_status)i;
    return HK_ORDER_UNKNOWN;
}

bool hk_order_status_counted(enum hk_order_status s)
{
    return s == HK_ORDER_PAID || s == HK_ORDER_SHIPPED || s == HK_ORDER_COMPLETED;
}

const char *hk_import_format_name(enum hk_import_format f)
{
    switch (f) {
    case HK_FMT_AUTO:
        return "auto";
    case HK_FMT_GENERIC:
        return "generic";
    case HK_FMT_TAOBAO_ORDERS:
    case HK_FMT_TAOBAO_DETAILS:
        return "taobao";
    case HK_FMT_DOUYIN:
        return "douyin";
    case HK_FMT_PDD:
        return "pdd";
    case HK_FMT_JD:
        return "jd";
    }
    return "";
}

int hk_import_format_parse(const char *s, enum hk_import_format *out, struct hk_err *err)
{
    static const struct {
        const char *name;
        enum hk_import_format f;
    } names[] = {
        {"auto", HK_FMT_AUTO},     {"generic", HK_FMT_GENERIC}, {"taobao", HK_FMT_TAOBAO_ORDERS},
        {"douyin", HK_FMT_DOUYIN}, {"pdd", HK_FMT_PDD},         {"jd", HK_FMT_JD}};
    for (size_t i = 0; s && i < HK_ARRAY_LEN(names); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].f;
            return 0;
        }
    }
    return hk_err_setf(err, HK_E(INVAL), "format",
                       "unknown format '%.40s'; accepted: auto, generic, taobao, douyin, pdd, jd",
                       s ? s : "");
}

/* ---- the reader ---- */

enum row_kind {
    ROW_GOOD,       /* converted; belongs to its order */
    ROW_MEMBER_BAD, /* bad, but its order number is known: withholds that order */
    ROW_LONE_BAD,   /* bad, and belongs to no order */
};

struct group_row {
    int64_t record, line;
    enum row_kind kind;
    size_t err; /* index into gerrs for bad rows */
};

struct hk_reader {
    int fd;
    struct hk_csv *csv;
    char *name; /* display name (owned) */
    int64_t size;
    int64_t records;

    struct hk_fmt_binding bind;
    struct hk_fmt_ctx ctx;
    struct hk_arena arena;
    struct hk_arena older[HK_READER_KEPT]; /* records kept by hk_reader_rotate, newest first */
    struct hk_order_builder ob;

    /* the row read but not yet consumed */
    bool pending, eof;
    enum row_kind pkind;
    struct hk_csv_row prow;
    struct hk_fmt_row conv;
    struct hk_str pkey; /* its order number (for ROW_GOOD / ROW_MEMBER_BAD) */
    struct hk_row_error perr;
    int64_t precord;
    struct hk_csv_field *pfill; /* the row's cells with second columns filled in (col2 only) */
    size_t cpfill;

    /* the order being built */
    bool in_group, group_bad, building;
    bool too_long;       /* withheld for having more than MAX_ROWS_PER_ORDER rows */
    int64_t group_rows;  /* rows of the order so far */
    int64_t group_extra; /* rows beyond the ones kept in grows */
    char *gkey;
    size_t gkey_len, gkey_cap;
    struct hk_arena_mark gmark;
    int64_t first_bad_record;
    struct group_row *grows;
    size_t ngrows, cgrows;
    struct hk_row_error *gerrs;
    size_t ngerrs, cgerrs;

    /* rejected rows not yet taken */
    struct hk_row_error *errs;
    size_t nerrs, cerrs;
    int64_t rejected; /* all rows rejected so far, kept or not */
};

static int grow(void **p, size_t *cap, size_t elem)
{
    size_t n = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, n * elem);
    if (!q)
        return HK_E(NOMEM);
    *p = q;
    *cap = n;
    return 0;
}

static int push_error(struct hk_reader *r, const struct hk_row_error *e)
{
    r->rejected++;
    if (r->nerrs >= MAX_PENDING_ERRORS)
        return 0; /* counted, not kept: memory stays flat however many rows are bad */
    if (r->nerrs == r->cerrs && grow((void **)&r->errs, &r->cerrs, sizeof(*r->errs)))
        return HK_E(NOMEM);
    r->errs[r->nerrs] = *e;
    r->errs[r->nerrs].file = r->name;
    r->nerrs++;
    return 0;
}

static void fill_error(struct hk_row_error *e, const char *column, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fill_error(struct hk_row_error *e, const char *column, const char *fmt, ...)
{
    va_list ap;
    hk_strlcpy(e->column, column ? column : "", sizeof(e->column));
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap); /* NOLINT(clang-analyzer-valist.*) */
    va_end(ap);
}

/* Every cell empty or white space (also U+3000, U+00A0 or a stray byte-order mark, as a
   spreadsheet leaves in a "blank" row). */
static bool row_is_empty(const struct hk_csv_row *row)
{
    for (size_t i = 0; i < row->nfields; i++) {
        const struct hk_csv_field *f = &row->fields[i];
        if (f->len > 0 && (unsigned char)f->s[0] > ' ' && (unsigned char)f->s[0] < 0x80)
            return false; /* the common case, without trimming */
        if (hk_cell_trim((struct hk_str){f->s, f->len}).len > 0)
            return false;
    }
    return true;
}

/* The record's cells up to its last non-blank one (trailing empty cells, as a trailing comma
   makes, do not count). */
static size_t cells_used(const struct hk_csv_row *row)
{
    size_t n = row->nfields;
    while (n > 0) {
        const struct hk_csv_field *f = &row->fields[n - 1];
        size_t k = 0;
        while (k < f->len && (f->s[k] == ' ' || f->s[k] == '\t'))
            k++;
        if (k < f->len)
            break;
        n--;
    }
    return n;
}

static bool cell_is(const struct hk_csv_field *f, const char *text)
{
    struct hk_str v = hk_cell_trim((struct hk_str){f->s, f->len});
    size_t n = strlen(text);
    return v.len == n && memcmp(v.s, text, n) == 0;
}

/*
 * The header again, as in two exports joined into one file (`cat a.csv b.csv`, or copied below
 * each other in Excel; the second one's byte-order mark is trimmed like a space): the cells
 * under the order number and the status (when the format has one) are those columns' names.
 */
static bool row_is_header(const struct hk_reader *r, const struct hk_csv_row *row)
{
    static const enum hk_field key[] = {HK_F_ORDER_NO, HK_F_STATUS};
    int c0 = r->bind.col[HK_F_ORDER_NO];
    if (c0 >= 0 && (size_t)c0 < row->nfields && row->fields[c0].len > 0) {
        /* quick no: the cell starts like neither the name nor a space or byte-order mark */
        unsigned char a = (unsigned char)row->fields[c0].s[0];
        if (a != (unsigned char)r->bind.names[c0][0] && a != ' ' && a != '\t' && a != 0xEF &&
            a != 0xE3 && a != 0xC2)
            return false;
    }
    for (size_t k = 0; k < sizeof(key) / sizeof(key[0]); k++) {
        int col = r->bind.col[key[k]];
        if (col < 0 && key[k] == HK_F_STATUS)
            continue;
        if (col < 0 || (size_t)col >= row->nfields ||
            !cell_is(&row->fields[col], r->bind.names[col]))
            return false;
    }
    return true;
}

/*
 * A spreadsheet's total row, as a seller adds before saving (the first cell that is not empty
 * starts with 合计, 总计 or 汇总 — "合计", "合计：3笔" — and the order number is empty or is that
 * cell): it is no order, so it is skipped rather than reported. No order number starts so.
 */
static bool row_is_total(const struct hk_reader *r, const struct hk_csv_row *row)
{
    static const char *const words[] = {"合计", "总计", "汇总"};
    int c0 = r->bind.col[HK_F_ORDER_NO];
    if (c0 >= 0 && (size_t)c0 < row->nfields && row->fields[c0].len > 0 &&
        (unsigned char)row->fields[c0].s[0] > ' ' && (unsigned char)row->fields[c0].s[0] < 0x80)
        return false; /* quick no: an order number that starts with a digit or letter */
    const struct hk_csv_field *first = NULL;
    struct hk_str fv = {"", 0};
    for (size_t i = 0; i < row->nfields && !first; i++) {
        fv = hk_cell_trim((struct hk_str){row->fields[i].s, row->fields[i].len});
        if (fv.len > 0)
            first = &row->fields[i];
    }
    if (!first)
        return false;
    bool total = false;
    for (size_t k = 0; k < sizeof(words) / sizeof(words[0]) && !total; k++)
        total = fv.len >= strlen(words[k]) && memcmp(fv.s, words[k], strlen(words[k])) == 0;
    if (!total)
        return false;
    int col = r->bind.col[HK_F_ORDER_NO];
    if (col < 0 || (size_t)col >= row->nfields)
        return true;
    const struct hk_csv_field *no = &row->fields[col];
    return no == first || hk_cell_clean_id((struct hk_str){no->s, no->len}).len == 0;
}

/* For a record with bytes that are not text: the first column holding them. */
static int bad_text_column(const struct hk_csv_row *row)
{
    for (size_t i = 0; i < row->nfields; i++) {
        const struct hk_csv_field *f = &row->fields[i];
        if (memchr(f->s, '\0', f->len) || !hk_utf8_valid((const unsigned char *)f->s, f->len))
            return (int)i;
    }
    return -1;
}

static const char *column_name(const struct hk_reader *r, int col)
{
    return col >= 0 && (size_t)col < r->bind.ncols ? r->bind.names[col] : "";
}

/* Reads and classifies the next data row into the pending slot. 1, 0 at EOF, or < 0. */
static int read_row(struct hk_reader *r, struct hk_err *err)
{
    for (;;) {
        int rc = hk_csv_next(r->csv, &r->prow, err);
        if (rc <= 0)
            return rc;
        if (r->prow.problem == HK_CSV_OK &&
            (row_is_empty(&r->prow) || row_is_header(r, &r->prow) || row_is_total(r, &r->prow)))
            continue;
        r->records++;
        r->precord = r->records;
        memset(&r->perr, 0, sizeof(r->perr));
        r->perr.record = r->precord;
        r->perr.line = r->prow.line;
        r->pending = true;

        switch (r->prow.problem) {
        case HK_CSV_TOO_LONG:
            fill_error(&r->perr, "",
                       "the record is longer than %zu bytes (a quote that is never closed?); "
                       "reading goes on at the next line",
                       (size_t)HK_CSV_MAX_RECORD);
            r->pkind = ROW_LONE_BAD;
            return 1;
        case HK_CSV_UNCLOSED_QUOTE:
            fill_error(&r->perr, "",
                       "a quoted field is never closed; reading goes on at the next line");
            r->pkind = ROW_LONE_BAD;
            return 1;
        case HK_CSV_BAD_ENCODING:
        case HK_CSV_NUL: {
            int col = bad_text_column(&r->prow);
            if (r->prow.problem == HK_CSV_NUL)
                fill_error(&r->perr, column_name(r, col), "the text contains a NUL byte");
            else if (hk_csv_encoding(r->csv) == HK_CSV_GB18030)
                fill_error(&r->perr, column_name(r, col),
                           "the text has bytes that are not GBK/GB18030 characters");
            else
                fill_error(&r->perr, column_name(r, col),
                           "the text has bytes that are not UTF-8 characters");
            r->pkind = hk_fmt_peek_order_no(&r->bind, r->prow.fields, r->prow.nfields, &r->pkey)
                           ? ROW_MEMBER_BAD
                           : ROW_LONE_BAD;
            return 1;
        }
        case HK_CSV_OK:
            break;
        }
        size_t cells = cells_used(&r->prow);
        if (cells > r->bind.ncols) {
            /* e.g. 买家已付款,等待卖家发货 unquoted: every later cell would be read under the
               wrong column */
            fill_error(&r->perr, "",
                       "record %lld (line %lld) has %zu cells but the header has %zu: a cell "
                       "with a comma that is not in quotes?",
                       (long long)r->precord, (long long)r->prow.line, cells, r->bind.ncols);
            r->pkind = hk_fmt_peek_order_no(&r->bind, r->prow.fields, r->prow.nfields, &r->pkey)
                           ? ROW_MEMBER_BAD
                           : ROW_LONE_BAD;
            return 1;
        }
        const struct hk_csv_field *fcells = r->prow.fields;
        if (r->bind.any_col2) { /* a column twice in the header: rare, so copied only then */
            while (r->cpfill < r->prow.nfields)
                if (grow((void **)&r->pfill, &r->cpfill, sizeof(*r->pfill)))
                    return hk_err_set(err, HK_E(NOMEM), "out of memory");
            memcpy(r->pfill, r->prow.fields, r->prow.nfields * sizeof(*r->pfill));
            hk_fmt_fill_second_columns(&r->bind, r->pfill, r->prow.nfields);
            fcells = r->pfill;
        }
        rc = hk_fmt_convert(&r->bind, &r->ctx, fcells, r->prow.nfields, &r->conv, &r->perr);
        if (rc < 0)
            return hk_err_set(err, rc, "out of memory");
        if (rc == 0)
            r->pkind = ROW_GOOD;
        else
            r->pkind = r->conv.order_ok ? ROW_MEMBER_BAD : ROW_LONE_BAD;
        if (r->conv.order_ok)
            r->pkey = r->conv.v[HK_F_ORDER_NO];
        return 1;
    }
}

static int group_push(struct hk_reader *r, enum row_kind kind, const struct hk_row_error *e,
                      int64_t record, int64_t line)
{
    r->group_rows++;
    if (kind == ROW_MEMBER_BAD && !r->group_bad) {
        r->group_bad = true;
        r->first_bad_record = record;
    }
    if (r->ngrows >= MAX_PENDING_ERRORS) {
        /* Rows this far into one order could never be reported one by one (at most
           MAX_PENDING_ERRORS are kept per call): count them only, so memory stays flat. */
        r->group_extra++;
        return 0;
    }
    if (r->ngrows == r->cgrows && grow((void **)&r->grows, &r->cgrows, sizeof(*r->grows)))
        return HK_E(NOMEM);
    struct group_row *g = &r->grows[r->ngrows++];
    g->record = record;
    g->line = line;
    g->kind = kind;
    g->err = 0;
    if (kind != ROW_GOOD) {
        if (r->ngerrs == r->cgerrs && grow((void **)&r->gerrs, &r->cgerrs, sizeof(*r->gerrs)))
            return HK_E(NOMEM);
        g->err = r->ngerrs;
        r->gerrs[r->ngerrs++] = *e;
    }
    return 0;
}

static int group_open(struct hk_reader *r, struct hk_str key)
{
    if (key.len + 1 > r->gkey_cap) {
        size_t n = key.len + 1 > 64 ? key.len + 1 : 64;
        char *k = realloc(r->gkey, n);
        if (!k)
            return HK_E(NOMEM);
        r->gkey = k;
        r->gkey_cap = n;
    }
    memcpy(r->gkey, key.s, key.len);
    r->gkey[key.len] = '\0';
    r->gkey_len = key.len;
    r->in_group = true;
    r->group_bad = false;
    r->building = false;
    r->first_bad_record = 0;
    r->ngrows = 0;
    r->ngerrs = 0;
    r->group_rows = 0;
    r->group_extra = 0;
    r->too_long = false;
    r->gmark = hk_arena_mark(&r->arena);
    return 0;
}

/* Ends the open order: 1 and *out when it is good, 0 when it was withheld. */
static int group_close(struct hk_reader *r, const struct hk_order_rec **out, struct hk_err *err)
{
    int rc;
    r->in_group = false;
    if (!r->group_bad) {
        rc = hk_order_builder_finish(&r->ob, &r->bind, &r->arena, out);
        if (rc)
            return hk_err_set(err, rc, "out of memory");
        return 1;
    }
    hk_arena_rollback(&r->arena, r->gmark);
    for (size_t i = 0; i < r->ngrows; i++) {
        const struct group_row *g = &r->grows[i];
        if (g->kind == ROW_MEMBER_BAD) {
            rc = push_error(r, &r->gerrs[g->err]);
        } else {
            struct hk_row_error e;
            memset(&e, 0, sizeof(e));
            e.record = g->record;
            e.line = g->line;
            if (r->too_long)
                fill_error(&e, "", "rejected with order %.120s: the order has more than %d rows",
                           r->gkey, MAX_ROWS_PER_ORDER);
            else
                fill_error(&e, "", "rejected with order %.120s: record %lld is bad", r->gkey,
                           (long long)r->first_bad_record);
            rc = push_error(r, &e);
        }
        if (rc)
            return hk_err_set(err, rc, "out of memory");
    }
    r->rejected += r->group_extra;
    return 0;
}

int hk_reader_next(struct hk_reader *r, const struct hk_order_rec **out, struct hk_err *err)
{
    int rc;
    for (;;) {
        if (!r->pending && !r->eof) {
            rc = read_row(r, err);
            if (rc < 0)
                return rc;
            if (rc == 0)
                r->eof = true;
        }
        if (!r->pending) {
            if (r->in_group) {
                rc = group_close(r, out, err);
                if (rc != 0)
                    return rc;
                continue;
            }
            return 0;
        }

        /* A row of another order, or one whose order cannot be told, ends the open order. */
        if (r->in_group && (r->pkind == ROW_LONE_BAD || r->pkey.len != r->gkey_len ||
                            memcmp(r->pkey.s, r->gkey, r->gkey_len) != 0)) {
            rc = group_close(r, out, err); /* the pending row stays for the next order */
            if (rc != 0)
                return rc;
            continue;
        }
        if (r->pkind == ROW_LONE_BAD) {
            if ((rc = push_error(r, &r->perr)))
                return hk_err_set(err, rc, "out of memory");
            r->pending = false;
            continue;
        }
        if (!r->in_group && (rc = group_open(r, r->pkey)))
            return hk_err_set(err, rc, "out of memory");

        enum row_kind kind = r->pkind;
        if (r->group_rows >= MAX_ROWS_PER_ORDER && !r->group_bad) {
            r->group_bad = r->too_long = true;
            r->first_bad_record = r->precord;
        }
        if (kind == ROW_GOOD && !r->group_bad) {
            if (!r->building) {
                rc = hk_order_builder_start(&r->ob, &r->bind, &r->arena, &r->conv, r->name,
                                            r->precord, r->prow.line);
                if (rc)
                    return hk_err_set(err, rc, "out of memory");
                r->building = true;
            }
            rc = hk_order_builder_add(&r->ob, &r->bind, &r->arena, &r->conv, r->precord,
                                      r->prow.line, &r->perr);
            if (rc < 0)
                return hk_err_set(err, rc, "out of memory");
            if (rc == 1)
                kind = ROW_MEMBER_BAD;
        }
        rc = group_push(r, kind, &r->perr, r->precord, r->prow.line);
        if (rc)
            return hk_err_set(err, rc, "out of memory");
        r->pending = false;
    }
}

/* ---- open / close ---- */

int hk_reader_open(const char *path, const char *display_name, enum hk_import_format fmt,
                   const struct hk_tz *tz, struct hk_reader **out, struct hk_err *err)
{
    const char *name = display_name ? display_name : path;
    struct hk_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return hk_err_set(err, HK_E(NOMEM), "out of memory");
    r->fd = -1;
    hk_arena_init(&r->arena, 0);
    for (size_t i = 0; i < HK_READER_KEPT; i++)
        hk_arena_init(&r->older[i], 0);
    hk_order_builder_init(&r->ob);
    hk_fmt_ctx_init(&r->ctx, tz);
    hk_fmt_row_init(&r->conv);
    int rc;
    struct hk_err inner;
    hk_err_clear(&inner);

    r->name = hk_strdup(name);
    if (!r->name) {
        rc = hk_err_set(err, HK_E(NOMEM), "out of memory");
        goto fail;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        rc = hk_err_set(err, HK_E(IO), "%s: cannot open: %s", name, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(r->fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            rc = hk_err_set(err, HK_E(IO), "%s: is a directory, not a file", name);
            goto fail;
        }
        if (S_ISREG(st.st_mode))
            r->size = st.st_size;
    }
    rc = hk_csv_open(r->fd, &r->csv, &inner);
    if (rc) {
        rc = hk_err_set(err, rc, "%s: %s", name, hk_err_message(&inner));
        goto fail;
    }

    /* The header: the first record that is not blank. */
    struct hk_csv_row hdr;
    for (;;) {
        rc = hk_csv_next(r->csv, &hdr, &inner);
        if (rc < 0) {
            rc = hk_err_set(err, rc, "%s: %s", name, hk_err_message(&inner));
            goto fail;
        }
        if (rc == 0) {
            rc = hk_err_set(err, HK_E(INVAL), "%s: the file is empty (no header row)", name);
            goto fail;
        }
        if (hdr.problem != HK_CSV_OK) {
            rc = hk_err_set(err, HK_E(INVAL), "%s: line %lld: the header row cannot be read (%s)",
                            name, (long long)hdr.line,
                            hdr.problem == HK_CSV_BAD_ENCODING ? "bytes that are not text"
                            : hdr.problem == HK_CSV_NUL        ? "a NUL byte"
                                                               : "a quote that is never closed");
            goto fail;
        }
        if (!row_is_empty(&hdr))
            break;
    }
    rc = hk_fmt_bind(hdr.fields, hdr.nfields, fmt, &r->bind, &inner);
    if (rc) {
        rc = hk_err_set(err, rc, "%s: %s", name, hk_err_message(&inner));
        if (err)
            hk_strlcpy(err->field, inner.field, sizeof(err->field));
        goto fail;
    }
    *out = r;
    return 0;
fail:
    hk_reader_close(r);
    return rc;
}

void hk_reader_close(struct hk_reader *r)
{
    if (!r)
        return;
    hk_csv_free(r->csv);
    if (r->fd >= 0)
        close(r->fd);
    hk_fmt_binding_release(&r->bind);
    hk_order_builder_release(&r->ob);
    hk_arena_release(&r->arena);
    for (size_t i = 0; i < HK_READER_KEPT; i++)
        hk_arena_release(&r->older[i]);
    free(r->gkey);
    free(r->grows);
    free(r->gerrs);
    free(r->errs);
    free(r->pfill);
    free(r->name);
    free(r);
}

enum hk_import_format hk_reader_format(const struct hk_reader *r)
{
    return r->bind.format;
}

void hk_reader_recycle(struct hk_reader *r)
{
    /* Between calls no order is being built (hk_reader_next returns only after closing one). */
    hk_arena_reset(&r->arena);
    for (size_t i = 0; i < HK_READER_KEPT; i++)
        hk_arena_reset(&r->older[i]);
}

void hk_reader_rotate(struct hk_reader *r)
{
    /* The arenas move down the ring (their chunks are on the heap, so the structs move
       freely); the oldest, reset, takes the next records and keeps its chunks for them. */
    struct hk_arena t = r->older[HK_READER_KEPT - 1];
    memmove(&r->older[1], &r->older[0], (HK_READER_KEPT - 1) * sizeof(r->older[0]));
    r->older[0] = r->arena;
    r->arena = t;
    hk_arena_reset(&r->arena);
}

const struct hk_row_error *hk_reader_errors(const struct hk_reader *r, size_t *n)
{
    *n = r->nerrs;
    return r->errs;
}

void hk_reader_take_errors(struct hk_reader *r)
{
    r->nerrs = 0;
}

int64_t hk_reader_rejected(const struct hk_reader *r)
{
    return r->rejected;
}

int64_t hk_reader_records(const struct hk_reader *r)
{
    return r->records;
}

int64_t hk_reader_bytes_done(const struct hk_reader *r)
{
    return hk_csv_bytes_done(r->csv);
}

int64_t hk_reader_bytes_total(const struct hk_reader *r)
{
    return r->size;
}
