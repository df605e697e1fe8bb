/*
 * test_csv.c — the CSV tokenizer (src/ingest/csv.c) and the cell-cleaning helpers
 * (src/ingest/formats.c): quoting, line ends and physical line numbers, encodings (BOM, UTF-8,
 * GB18030 including characters cut by read boundaries), records that cannot be read and the
 * resynchronisation after them.
 *
 * Records are rendered as text ("L2:a|b\n" = line 2, fields a and b) so each case is one
 * string comparison.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/strbuf.h"
#include "ingest/csv.h"
#include "ingest/formats.h"

/* ---- helpers ---- */

/* An unlinked temporary file holding data, positioned at its start. */
static int temp_fd(const void *data, size_t n)
{
    char path[] = "/tmp/hk_test_csv_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static const char *problem_name(enum hk_csv_problem p)
{
    switch (p) {
    case HK_CSV_OK:
        return "ok";
    case HK_CSV_TOO_LONG:
        return "too_long";
    case HK_CSV_UNCLOSED_QUOTE:
        return "unclosed";
    case HK_CSV_BAD_ENCODING:
        return "bad_encoding";
    case HK_CSV_NUL:
        return "nul";
    }
    return "?";
}

/* Reads every record of fd into sb as "L<line>:f1|f2\n" (problems as "L<line>:!name\n"). */
static void render_fd(int fd, struct hk_strbuf *sb, enum hk_csv_encoding *enc)
{
    struct hk_csv *c;
    struct hk_err err;
    assert_int_equal(hk_csv_open(fd, &c, &err), 0);
    if (enc)
        *enc = hk_csv_encoding(c);
    struct hk_csv_row row;
    int rc;
    while ((rc = hk_csv_next(c, &row, &err)) == 1) {
        hk_strbuf_addf(sb, "L%lld:", (long long)row.line);
        if (row.problem != HK_CSV_OK) {
            hk_strbuf_addf(sb, "!%s\n", problem_name(row.problem));
            continue;
        }
        for (size_t i = 0; i < row.nfields; i++) {
            assert_int_equal(strlen(row.fields[i].s), row.fields[i].len);
            hk_strbuf_addf(sb, "%s%s", i ? "|" : "", row.fields[i].s);
        }
        hk_strbuf_addch(sb, '\n');
    }
    assert_int_equal(rc, 0);
    hk_csv_free(c);
}

static char *render(const void *data, size_t n, enum hk_csv_encoding *enc)
{
    int fd = temp_fd(data, n);
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    render_fd(fd, &sb, enc);
    close(fd);
    return hk_strbuf_detach(&sb, NULL);
}

#define assert_renders(text, expected)                                                             \
    do {                                                                                           \
        char *got_ = render(text, sizeof(text) - 1, NULL);                                         \
        assert_string_equal(got_, expected);                                                       \
        free(got_);                                                                                \
    } while (0)

/* UTF-8 -> GBK with iconv (the test's own conversion, independent of the reader's). */
static char *to_gbk(const char *utf8, size_t *out_len)
{
    iconv_t cd = iconv_open("GBK", "UTF-8");
    assert_true(cd != (iconv_t)-1);
    size_t inleft = strlen(utf8), cap = inleft + 16, outleft = cap;
    char *out = malloc(cap), *o = out, *in = (char *)utf8;
    assert_non_null(out);
    assert_true(iconv(cd, &in, &inleft, &o, &outleft) != (size_t)-1);
    iconv_close(cd);
    *out_len = cap - outleft;
    return out;
}

/* ---- tokenizing ---- */

static void csv_next__splits_quoted_fields_with_commas_quotes_and_breaks(void **state)
{
    (void)state;
    assert_renders("a,b,c\n"
                   "1,\"x, y\",\"he said \"\"hi\"\"\"\n"
                   "2,\"two\nlines\",\n"
                   "3,,\"\"\n",
                   "L1:a|b|c\n"
                   "L2:1|x, y|he said \"hi\"\n"
                   "L3:2|two\nlines|\n"
                   "L5:3||\n");
}

/* Unquoted cells end at the right byte whatever their length and alignment (the scanner looks
   at eight bytes a step): every stop (, CR LF NUL, the end of the file) at every offset. */
static void csv_next__finds_cell_ends_at_every_offset(void **state)
{
    (void)state;
    static const char cell[] = "0123456789é中文abcdefghijklmnop"; /* multi-byte too */
    static const char *const stops[][2] = {
        {",", "|z\n"}, {"\n", "\nL2:z\n"}, {"\r\n", "\nL2:z\n"}, {"\r", "\nL2:z\n"}, {"", "\n"}};
    char text[128], want[128];
    for (size_t k = 0; k < sizeof cell - 1; k++) {
        if (((unsigned char)cell[k] & 0xC0) == 0x80)
            continue; /* not between characters */
        for (size_t s = 0; s < sizeof stops / sizeof stops[0]; s++) {
            const char *tail = stops[s][0][0] ? "z\n" : "";
            int n = snprintf(text, sizeof text, "%.*s%s%s", (int)k, cell, stops[s][0], tail);
            assert_true(n >= 0 && (size_t)n < sizeof text);
            if (k == 0 && s > 0 && s < 4) { /* a blank line is skipped */
                snprintf(want, sizeof want, "L2:z\n");
            } else if (k == 0 && s == 4) {
                want[0] = '\0';
            } else {
                snprintf(want, sizeof want, "L1:%.*s%s", (int)k, cell, stops[s][1]);
            }
            char *got = render(text, (size_t)n, NULL);
            assert_string_equal(got, want);
            free(got);
        }
        /* a NUL k bytes in */
        memcpy(text, cell, k);
        static const char rest[] = "\0xyz,abcdefghijk\n";
        memcpy(text + k, rest, sizeof rest - 1);
        char *got = render(text, k + sizeof rest - 1, NULL);
        assert_string_equal(got, "L1:!nul\n");
        free(got);
    }
}

/* The same in the middle of a long text, where unquoted cells are copied sixteen bytes a step
   (eight on machines without SSE2): every cell length from 0 to 40 before each line end and a
   comma, a NUL at every offset, and cells that are wholly ASCII or wholly Chinese; the text
   before and after each record is a long run of plain cells. */
static void csv_next__finds_cell_ends_at_every_offset_in_long_text(void **state)
{
    (void)state;
    static const char *const stops[] = {",", "\n", "\r\n", "\r"};
    static const char ascii[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH";
    static const char *const pad = "p0,p1,p2,p3,p4,p5,p6,p7,p8,p9,pa,pb,pc,pd,pe,pf,pg,ph\n";
    struct hk_strbuf text, want;
    hk_strbuf_init(&text, 0);
    hk_strbuf_init(&want, 0);
    long line = 1;
    for (int chinese = 0; chinese < 2; chinese++) {
        for (size_t k = 0; k <= 40; k++) {
            char cell[256];
            size_t n = 0;
            for (size_t i = 0; i < k; i++) {
                if (chinese && n + 3 <= k) {
                    memcpy(cell + n, "中", 3);
                    n += 3;
                } else if (n < k) {
                    cell[n++] = ascii[i % (sizeof ascii - 1)];
                }
            }
            cell[n] = '\0';
            for (size_t s = 0; s < sizeof stops / sizeof stops[0]; s++) {
                hk_strbuf_addf(&text, "%s", pad);
                hk_strbuf_addf(
                    &want, "L%ld:p0|p1|p2|p3|p4|p5|p6|p7|p8|p9|pa|pb|pc|pd|pe|pf|pg|ph\n", line++);
                hk_strbuf_addf(&text, "x,%s%sz,%s\n", cell, stops[s], cell);
                if (s == 0) {
                    hk_strbuf_addf(&want, "L%ld:x|%s|z|%s\n", line++, cell, cell);
                } else {
                    hk_strbuf_addf(&want, "L%ld:x|%s\n", line++, cell);
                    hk_strbuf_addf(&want, "L%ld:z|%s\n", line++, cell);
                }
            }
        }
    }
    hk_strbuf_addf(&text, "%s", pad);
    hk_strbuf_addf(&want, "L%ld:p0|p1|p2|p3|p4|p5|p6|p7|p8|p9|pa|pb|pc|pd|pe|pf|pg|ph\n", line++);
    char *got = render(text.buf, text.len, NULL);
    assert_string_equal(got, want.buf);
    free(got);

    /* A NUL at every offset of a long cell flags that record only. */
    for (size_t k = 0; k < 40; k++) {
        hk_strbuf_reset(&text);
        hk_strbuf_addf(&text, "%s", pad);
        hk_strbuf_addf(&text, "x,%.*s", (int)k, ascii);
        hk_strbuf_addch(&text, '\0');
        hk_strbuf_addf(&text, "%s,y\n%s", ascii + k, pad);
        got = render(text.buf, text.len, NULL);
        assert_string_equal(got,
                            "L1:p0|p1|p2|p3|p4|p5|p6|p7|p8|p9|pa|pb|pc|pd|pe|pf|pg|ph\nL2:!nul\n"
                            "L3:p0|p1|p2|p3|p4|p5|p6|p7|p8|p9|pa|pb|pc|pd|pe|pf|pg|ph\n");
        free(got);
    }
    hk_strbuf_release(&text);
    hk_strbuf_release(&want);
}

static void csv_next__counts_lines_with_crlf_inside_and_outside_quotes(void **state)
{
    (void)state;
    assert_renders("h1,h2\r\n"
                   "\"a\r\nb\r\nc\",d\r\n"
                   "e,f\r\n",
                   "L1:h1|h2\n"
                   "L2:a\r\nb\r\nc|d\n"
                   "L5:e|f\n");
}

static void csv_next__accepts_lf_crlf_and_lone_cr_line_ends(void **state)
{
    (void)state;
    assert_renders("a,b\rc,d\r\ne,f\ng,h", "L1:a|b\nL2:c|d\nL3:e|f\nL4:g|h\n");
}

static void csv_next__skips_blank_lines_but_counts_them(void **state)
{
    (void)state;
    assert_renders("\n\na\n\r\n\nb\n\n", "L3:a\nL6:b\n");
}

static void csv_next__keeps_text_after_a_closing_quote(void **state)
{
    (void)state;
    /* Not RFC 4180, but what spreadsheets do: ="…" is text, and so is "ab"cd. */
    assert_renders("=\"245600000000009335\",\"ab\"cd,x\"y\n",
                   "L1:=\"245600000000009335\"|abcd|x\"y\n");
}

static void csv_next__reports_an_unclosed_quote_and_goes_on_at_the_next_line(void **state)
{
    (void)state;
    assert_renders("x,y\n1,\"oops\n2,b\n3,c\n", "L1:x|y\nL2:!unclosed\nL3:2|b\nL4:3|c\n");
}

static void csv_next__reports_a_record_over_1_mib_and_goes_on(void **state)
{
    (void)state;
    /* A quote opened on line 2 and never closed, followed by 1.5 MiB of lines. */
    struct hk_strbuf sb;
    hk_strbuf_init(&sb, 0);
    hk_strbuf_adds(&sb, "a,b\n1,\"never closed\n");
    for (int i = 0; i < 30000; i++)
        hk_strbuf_addf(&sb, "%06d,%s\n", i, "filler filler filler filler filler filler");
    char *got = render(sb.buf, sb.len, NULL);
    /* line 2 is reported, reading resumes at line 3 with the filler rows */
    const char *head = "L1:a|b\nL2:!too_long\nL3:000000|filler";
    assert_int_equal(strncmp(got, head, strlen(head)), 0);
    char *last = strstr(got, "L30002:029999|");
    assert_non_null(last);
    free(got);
    hk_strbuf_release(&sb);

    /* One single line longer than 1 MiB, then a good line. */
    hk_strbuf_init(&sb, 0);
    hk_strbuf_adds(&sb, "a\n");
    for (int i = 0; i < (1 << 20) + 100; i++)
        hk_strbuf_addch(&sb, 'x');
    hk_strbuf_adds(&sb, "\r\nok\n");
    got = render(sb.buf, sb.len, NULL);
    assert_string_equal(got, "L1:a\nL2:!too_long\nL3:ok\n");
    free(got);
    hk_strbuf_release(&sb);
}

static void csv_next__flags_a_nul_byte(void **state)
{
    (void)state;
    assert_renders("a,b\n1,x\0y\n2,z\n", "L1:a|b\nL2:!nul\nL3:2|z\n");
}

/* ---- encodings ---- */

static void csv_open__strips_a_utf8_bom(void **state)
{
    (void)state;
    enum hk_csv_encoding enc;
    const char *text = "\xEF\xBB\xBF订单编号,x\n1,2\n";
    char *got = render(text, strlen(text), &enc);
    assert_int_equal(enc, HK_CSV_UTF8_BOM);
    assert_string_equal(got, "L1:订单编号|x\nL2:1|2\n");
    free(got);
}

static void csv_open__refuses_utf16(void **state)
{
    (void)state;
    int fd = temp_fd("\xFF\xFEo\0r\0", 6);
    struct hk_csv *c;
    struct hk_err err;
    hk_err_clear(&err);
    assert_int_equal(hk_csv_open(fd, &c, &err), HK_E(INVAL));
    assert_non_null(strstr(err.msg, "UTF-16"));
    close(fd);
}

static void csv_open__refuses_utf16_without_a_bom(void **state)
{
    (void)state;
    static const char text[] = "o\0r\0d\0e\0r\0,\0n\0o\0\r\0\n\0"
                               "1\0,\0"
                               "2\0\n\0";
    int fd = temp_fd(text, sizeof(text) - 1);
    struct hk_csv *c;
    struct hk_err err;
    hk_err_clear(&err);
    assert_int_equal(hk_csv_open(fd, &c, &err), HK_E(INVAL));
    assert_string_equal(err.msg, "UTF-16 text: save as UTF-8 or GBK CSV");
    close(fd);
}

static void csv_open__refuses_excel_workbooks(void **state)
{
    (void)state;
    /* .xlsx is a zip, .xls an OLE compound file: both start with NULs soon after */
    static const char xlsx[] = "PK\x03\x04\x14\0\x06\0\x08\0\0\0!\0[Content_Types].xml";
    static const char xls[] = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0\0\0\0\0\0";
    const char *files[] = {xlsx, xls};
    size_t lens[] = {sizeof(xlsx) - 1, sizeof(xls) - 1};
    for (size_t i = 0; i < 2; i++) {
        int fd = temp_fd(files[i], lens[i]);
        struct hk_csv *c;
        struct hk_err err;
        hk_err_clear(&err);
        assert_int_equal(hk_csv_open(fd, &c, &err), HK_E(INVAL));
        assert_string_equal(err.msg, "this is an Excel workbook: save it as CSV (CSV UTF-8 or the "
                                     "marketplace's own CSV) and import that");
        close(fd);
    }
}

static void csv_open__reads_gbk_as_gb18030(void **state)
{
    (void)state;
    size_t n;
    char *gbk = to_gbk("订单编号,订单状态\r\n=\"1\",\"买家已付款，等待卖家发货\"\r\n", &n);
    enum hk_csv_encoding enc;
    char *got = render(gbk, n, &enc);
    assert_int_equal(enc, HK_CSV_GB18030);
    assert_string_equal(got, "L1:订单编号|订单状态\nL2:=\"1\"|买家已付款，等待卖家发货\n");
    free(got);
    free(gbk);
}

static void csv_next__flags_only_the_row_with_bytes_that_are_not_gb18030(void **state)
{
    (void)state;
    size_t n;
    char *gbk = to_gbk("编号,留言\r\n1,你好\r\n2,坏X字\r\n3,再见\r\n", &n);
    char *x = memchr(gbk, 'X', n);
    assert_non_null(x);
    *x = (char)0x80; /* never a GB18030 character */
    char *got = render(gbk, n, NULL);
    assert_string_equal(got, "L1:编号|留言\nL2:1|你好\nL3:!bad_encoding\nL4:3|再见\n");
    free(got);
    free(gbk);

    /* A file that ends in the middle of a character. */
    gbk = to_gbk("编号,留言\n1,你好\n2,再", &n);
    got = render(gbk, n - 1, NULL);
    assert_string_equal(got, "L1:编号|留言\nL2:1|你好\nL3:!bad_encoding\n");
    free(got);
    free(gbk);
}

static void csv_next__flags_a_row_that_is_not_utf8(void **state)
{
    (void)state;
    assert_renders("\xEF\xBB\xBF"
                   "a,b\n1,\xC3\x28\n2,ok\n",
                   "L1:a|b\nL2:!bad_encoding\nL3:2|ok\n");
}

struct pipe_job {
    int fd;
    const char *data;
    size_t len;
};

/* Writes the data in chunks of 1 to 7 bytes, so reads end inside characters. */
static void *trickle(void *arg)
{
    struct pipe_job *j = arg;
    size_t off = 0, k = 0;
    while (off < j->len) {
        size_t n = k++ % 7 + 1;
        if (n > j->len - off)
            n = j->len - off;
        ssize_t w = write(j->fd, j->data + off, n);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(j->fd);
    return NULL;
}

/* The expected rendering of the rows built by build_gbk_rows. */
static void build_rows(struct hk_strbuf *text, struct hk_strbuf *expect, int nrows)
{
    static const char *const words[] = {"碎花",     "连衣裙", "针织开衫", "真丝围巾", "帆布包",
                                        "「限量」", "€",      "𠀀",       "纯棉",     "樱花礼盒"};
    hk_strbuf_adds(text, "订单编号,标题,备注\r\n");
    hk_strbuf_adds(expect, "L1:订单编号|标题|备注\n");
    int line = 2;
    for (int i = 0; i < nrows; i++) {
        struct hk_strbuf title;
        hk_strbuf_init(&title, 0);
        for (int k = 0; k <= i % 13; k++)
            hk_strbuf_adds(&title, words[(i + k * 7) % 10]);
        bool multi = i % 97 == 0;
        hk_strbuf_addf(text, "=\"B%06d\",%s,%s\r\n", i, title.buf,
                       multi ? "\"第一行\r\n第二行,\"\"引号\"\"\"" : "普通");
        hk_strbuf_addf(expect, "L%d:=\"B%06d\"|%s|%s\n", line, i, title.buf,
                       multi ? "第一行\r\n第二行,\"引号\"" : "普通");
        line += multi ? 2 : 1;
        hk_strbuf_release(&title);
    }
}

static void csv_next__reassembles_gb18030_characters_cut_by_reads(void **state)
{
    (void)state;
    struct hk_strbuf text, expect, got;
    hk_strbuf_init(&text, 0);
    hk_strbuf_init(&expect, 0);
    hk_strbuf_init(&got, 0);
    build_rows(&text, &expect, 3000);
    iconv_t cd = iconv_open("GB18030", "UTF-8");
    assert_true(cd != (iconv_t)-1);
    size_t inleft = text.len, cap = text.len * 2, outleft = cap;
    char *gb = malloc(cap), *o = gb, *in = text.buf;
    assert_true(iconv(cd, &in, &inleft, &o, &outleft) != (size_t)-1);
    iconv_close(cd);

    int p[2];
    assert_int_equal(pipe(p), 0);
    struct pipe_job job = {p[1], gb, cap - outleft};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, trickle, &job), 0);
    render_fd(p[0], &got, NULL);
    pthread_join(th, NULL);
    close(p[0]);
    assert_string_equal(got.buf, expect.buf);
    free(gb);
    hk_strbuf_release(&text);
    hk_strbuf_release(&expect);
    hk_strbuf_release(&got);
}

static void csv_next__reads_a_gbk_file_larger_than_its_buffers(void **state)
{
    (void)state;
    struct hk_strbuf text, expect;
    hk_strbuf_init(&text, 0);
    hk_strbuf_init(&expect, 0);
    build_rows(&text, &expect, 60000); /* about 4 MiB of GB18030 */
    iconv_t cd = iconv_open("GB18030", "UTF-8");
    assert_true(cd != (iconv_t)-1);
    size_t inleft = text.len, cap = text.len * 2, outleft = cap;
    char *gb = malloc(cap), *o = gb, *in = text.buf;
    assert_true(iconv(cd, &in, &inleft, &o, &outleft) != (size_t)-1);
    iconv_close(cd);
    assert_true(cap - outleft > (size_t)3 << 20);
    char *got = render(gb, cap - outleft, NULL);
    assert_string_equal(got, expect.buf);
    free(got);
    free(gb);

    /* The same rows in UTF-8. */
    got = render(text.buf, text.len, NULL);
    assert_string_equal(got, expect.buf);
    free(got);
    hk_strbuf_release(&text);
    hk_strbuf_release(&expect);
}

static void utf8_valid__rejects_overlongs_surrogates_and_cut_characters(void **state)
{
    (void)state;
    const char *ok = "abc 中文 𠀀 €";
    assert_true(hk_utf8_valid((const unsigned char *)ok, strlen(ok)));
    assert_false(hk_utf8_valid((const unsigned char *)"\xC0\xAF", 2));         /* overlong */
    assert_false(hk_utf8_valid((const unsigned char *)"\xE0\x80\xAF", 3));     /* overlong */
    assert_false(hk_utf8_valid((const unsigned char *)"\xED\xA0\x80", 3));     /* surrogate */
    assert_false(hk_utf8_valid((const unsigned char *)"\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(hk_utf8_valid((const unsigned char *)"\xE4\xB8", 2));         /* cut */
    assert_int_equal(hk_utf8_valid_prefix((const unsigned char *)"ab\xE4\xB8", 4), 4);
    assert_int_equal(hk_utf8_valid_prefix((const unsigned char *)"ab\xFF\xB8", 4), 2);

    /* ASCII is skipped 16 and 8 bytes a step: a bad or a good character after every length of
       ASCII run, and a second one after it. */
    for (size_t k = 0; k <= 40; k++) {
        unsigned char buf[64];
        memset(buf, 'a', k);
        memcpy(buf + k, "\xFF", 1);
        assert_false(hk_utf8_valid(buf, k + 1));
        assert_int_equal(hk_utf8_valid_prefix(buf, k + 1), k);
        memcpy(buf + k, "中", 3);
        assert_true(hk_utf8_valid(buf, k + 3));
        assert_int_equal(hk_utf8_valid_prefix(buf, k + 3), k + 3);
        memset(buf + k + 3, 'b', 17);
        buf[k + 20] = 0x80; /* a stray continuation byte after a valid run */
        assert_false(hk_utf8_valid(buf, k + 21));
        assert_int_equal(hk_utf8_valid_prefix(buf, k + 21), k + 20);
    }

    /* Three-byte characters are checked a word at a time when four bytes are left: each bad
       sequence at every position in a run of Chinese, and E0 / ED, whose second byte has a
       narrower range, at their edges. */
    static const struct {
        const char *seq;
        bool ok;
    } three[] = {
        {"\xE0\xA0\x80", true},      {"\xE0\x9F\xBF", false}, {"\xED\x9F\xBF", true},
        {"\xED\xA0\x80", false},     {"\xEF\xBF\xBF", true},  {"\xE4\xB8\xC0", false},
        {"\xE4\x7F\x80", false},     {"\xE4\xB8", false},     {"\xF0\x90\x80\x80", true},
        {"\xF0\x8F\xBF\xBF", false},
    };
    for (size_t t = 0; t < sizeof three / sizeof three[0]; t++) {
        for (size_t before = 0; before < 6; before++) {
            for (size_t after = 0; after < 3; after++) {
                char buf[64];
                size_t n = 0;
                for (size_t i = 0; i < before; i++, n += 3)
                    memcpy(buf + n, "中", 3);
                size_t l = strlen(three[t].seq);
                memcpy(buf + n, three[t].seq, l);
                n += l;
                for (size_t i = 0; i < after; i++, n += 3)
                    memcpy(buf + n, "文", 3);
                assert_int_equal(hk_utf8_valid((const unsigned char *)buf, n), three[t].ok);
            }
        }
    }
}

/* ---- cell cleaning ---- */

static struct hk_str S(const char *s) {
    struct hk_str v = {s, strlen(s)};
    return v;
}

#define assert_str_view(v, expected)                                                               \
    do {                                                                                           \
        struct hk_str v_ = (v);                                                                    \
        assert_int_equal(v_.len, strlen(expected));                                                \
        assert_memory_equal(v_.s, expected, v_.len);                                               \
    } while (0)

static void
cell_trim__drops_spaces_tabs_and_wide_spaces(void **state)
{
    (void)state;
    assert_str_view(hk_cell_trim(S("\t6930000000000000001")), "6930000000000000001");
    assert_str_view(hk_cell_trim(S("  a b \t")), "a b");
    assert_str_view(hk_cell_trim(S("\xC2\xA0中文\xE3\x80\x80")), "中文");
    assert_str_view(hk_cell_trim(S(" \t ")), "");
    /* Characters whose first or last byte is also one of a space's are kept: 一 (E4 B8 80),
       あ (E3 81 82), 蠿 (E8 A0 BF), Ġ (C4 A0), ‘ (E2 80 98), ﹏ (EF B9 8F) */
    assert_str_view(hk_cell_trim(S("一")), "一");
    assert_str_view(hk_cell_trim(S("あ一")), "あ一");
    assert_str_view(hk_cell_trim(S("\xE3\x80\x80あ一\xE3\x80\x80")), "あ一");
    assert_str_view(hk_cell_trim(S("蠿Ġ")), "蠿Ġ");
    assert_str_view(hk_cell_trim(S("‘x’")), "‘x’");
    assert_str_view(hk_cell_trim(S("﹏")), "﹏");
    assert_str_view(hk_cell_trim(S("\xE2\x80\x8B一\xE2\x80\x8B")), "一");
    assert_str_view(hk_cell_trim(S("\xEF\xBB\xBF一\xC2\xA0")), "一");
    assert_str_view(hk_cell_trim(S("\x01a\x7F")), "\x01a\x7F");
    /* ... and a space is found at one end only */
    assert_str_view(hk_cell_trim(S("中文\xE3\x80\x80")), "中文");
    assert_str_view(hk_cell_trim(S("中\xC2\xA0")), "中");
    assert_str_view(hk_cell_trim(S("中\xE2\x80\x8B")), "中");
    assert_str_view(hk_cell_trim(S("中\xEF\xBB\xBF")), "中");
    assert_str_view(hk_cell_trim(S("a\t")), "a");
    assert_str_view(hk_cell_trim(S("\xE3\x80\x80中")), "中");
    assert_str_view(hk_cell_trim(S("\xC2\xA0中")), "中");
    assert_str_view(hk_cell_trim(S("\xE2\x80\x8B中")), "中");
    assert_str_view(hk_cell_trim(S("\xEF\xBB\xBF中")), "中");
    assert_str_view(hk_cell_trim(S(" 中")), "中");
}

static void cell_clean_id__unwraps_formulas_and_a_leading_quote(void **state)
{
    (void)state;
    assert_str_view(hk_cell_clean_id(S("=\"245600000000009335\"")), "245600000000009335");
    assert_str_view(hk_cell_clean_id(S(" =\" 245600000000009335 \" ")), "245600000000009335");
    assert_str_view(hk_cell_clean_id(S("'13800138001")), "13800138001");
    assert_str_view(hk_cell_clean_id(S("\t'13800138001 ")), "13800138001");
    assert_str_view(hk_cell_clean_id(S("=\"\"")), "");
    assert_str_view(hk_cell_clean_id(S("=SUM(A1)")), "=SUM(A1)");
}

static void cell_clean_id__leaves_full_width_digits_alone(void **state)
{
    (void)state;
    assert_str_view(hk_cell_clean_id(S("１２３４５")), "１２３４５");
}

static void cell_is_sci_notation__spots_ids_a_spreadsheet_mangled(void **state)
{
    (void)state;
    assert_true(hk_cell_is_sci_notation(S("2.456E+17")));
    assert_true(hk_cell_is_sci_notation(S("2.456e17")));
    assert_true(hk_cell_is_sci_notation(S("6.93E+18")));
    assert_true(hk_cell_is_sci_notation(S("2E+17")));
    assert_false(hk_cell_is_sci_notation(S("245600000000009335")));
    assert_false(hk_cell_is_sci_notation(S("260517-607198974342268")));
    assert_false(hk_cell_is_sci_notation(S("E17")));
    assert_false(hk_cell_is_sci_notation(S("2.4E")));
    assert_false(hk_cell_is_sci_notation(S("2.4E+17x")));
}

static void cell_is_masked__knows_masked_and_encrypted_values(void **state)
{
    (void)state;
    assert_true(hk_cell_is_masked(S("138****5678")));
    assert_true(hk_cell_is_masked(S("****")));
    assert_true(hk_cell_is_masked(S("王**")));
    assert_true(hk_cell_is_masked(S("##E1A2B3C4D5F6##")));
    assert_true(hk_cell_is_masked(S("$$AbCdEf0123$$")));
    assert_false(hk_cell_is_masked(S("13800138001")));
    assert_false(hk_cell_is_masked(S("浙江省杭州市西湖区文三路100号")));
    assert_false(hk_cell_is_masked(S("")));
}

static void status_fold__treats_both_comma_widths_alike(void **state)
{
    (void)state;
    char a[64], b[64], c[64];
    hk_status_fold(S("买家已付款，等待卖家发货"), a, sizeof(a));
    hk_status_fold(S(" 买家已付款,等待卖家发货 "), b, sizeof(b));
    hk_status_fold(S("买家已付款, 等待卖家发货"), c, sizeof(c));
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    hk_status_fold(S("（删除）锁定"), a, sizeof(a));
    assert_string_equal(a, "(删除)锁定");
    hk_status_fold(S("Shipped"), a, sizeof(a));
    assert_string_equal(a, "shipped");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_next__splits_quoted_fields_with_commas_quotes_and_breaks),
        cmocka_unit_test(csv_next__finds_cell_ends_at_every_offset_in_long_text),
        cmocka_unit_test(csv_next__counts_lines_with_crlf_inside_and_outside_quotes),
        cmocka_unit_test(csv_next__finds_cell_ends_at_every_offset),
        cmocka_unit_test(csv_next__accepts_lf_crlf_and_lone_cr_line_ends),
        cmocka_unit_test(csv_next__skips_blank_lines_but_counts_them),
        cmocka_unit_test(csv_next__keeps_text_after_a_closing_quote),
        cmocka_unit_test(csv_next__reports_an_unclosed_quote_and_goes_on_at_the_next_line),
        cmocka_unit_test(csv_next__reports_a_record_over_1_mib_and_goes_on),
        cmocka_unit_test(csv_next__flags_a_nul_byte),
        cmocka_unit_test(csv_open__strips_a_utf8_bom),
        cmocka_unit_test(csv_open__refuses_utf16),
        cmocka_unit_test(csv_open__refuses_utf16_without_a_bom),
        cmocka_unit_test(csv_open__refuses_excel_workbooks),
        cmocka_unit_test(csv_open__reads_gbk_as_gb18030),
        cmocka_unit_test(csv_next__flags_only_the_row_with_bytes_that_are_not_gb18030),
        cmocka_unit_test(csv_next__flags_a_row_that_is_not_utf8),
        cmocka_unit_test(csv_next__reassembles_gb18030_characters_cut_by_reads),
        cmocka_unit_test(csv_next__reads_a_gbk_file_larger_than_its_buffers),
        cmocka_unit_test(utf8_valid__rejects_overlongs_surrogates_and_cut_characters),
        cmocka_unit_test(cell_trim__drops_spaces_tabs_and_wide_spaces),
        cmocka_unit_test(cell_clean_id__unwraps_formulas_and_a_leading_quote),
        cmocka_unit_test(cell_clean_id__leaves_full_width_digits_alone),
        cmocka_unit_test(cell_is_sci_notation__spots_ids_a_spreadsheet_mangled),
        cmocka_unit_test(cell_is_masked__knows_masked_and_encrypted_values),
        cmocka_unit_test(status_fold__treats_both_comma_widths_alike),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
