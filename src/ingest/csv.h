/*
 * csv.h — streaming CSV tokenizer for import files (internal to ingest/).
 *
 * Reads a file descriptor in large blocks, works out the text encoding once at the start and
 * hands out one record at a time as NUL-terminated UTF-8 fields:
 *
 *   - Encoding: a UTF-8 BOM means UTF-8 (the BOM is dropped). Otherwise the first 64 KiB are
 *     checked: valid UTF-8 means UTF-8, anything else GB18030 (a superset of GBK and GB2312),
 *     converted with iconv(3) as the file streams. A UTF-16 BOM is refused with a hint.
 *   - Quoting (RFC 4180): a field that starts with '"' runs to the matching '"'; '""' inside is
 *     one '"'; commas and line breaks inside are data. A '"' elsewhere is an ordinary character,
 *     and text after a closing quote is kept (as spreadsheets do) rather than refused.
 *   - Line ends: CRLF, LF or a lone CR end a record. Line breaks inside quotes are counted, so
 *     each record knows the physical line (1-based) it starts on.
 *
 * A record that cannot be read is still returned, with `problem` set, so the caller can report
 * it with its line number (with its fields when they could be split, so its order is known): a
 * record longer than HK_CSV_MAX_RECORD bytes, a quoted field still open at the end of the file
 * (both resume at the line after the record's first line, so one stray quote costs one row, not the
 * rest of the file), text that is not valid in the file's encoding, or a NUL byte. Blank lines are
 * skipped (but counted as lines).
 *
 * Memory: one data buffer (block + longest record), one record buffer and a field index, all
 * allocated at open; nothing is allocated per record or per field. Fields are valid until the
 * next hk_csv_next call.
 *
 * Threads: one tokenizer belongs to one thread.
 */
#ifndef HK_INGEST_CSV_H
#define HK_INGEST_CSV_H

#include <stddef.h>
#include <stdint.h>

struct hk_err;
struct hk_csv;

#define HK_CSV_MAX_RECORD ((size_t)1 << 20) /* bytes of one record, line breaks included */

enum hk_csv_encoding {
    HK_CSV_UTF8 = 0, /* no BOM, valid UTF-8 */
    HK_CSV_UTF8_BOM,
    HK_CSV_GB18030, /* GBK/GB2312/GB18030, converted to UTF-8 */
};

enum hk_csv_problem {
    HK_CSV_OK = 0,
    HK_CSV_TOO_LONG,       /* the record is longer than HK_CSV_MAX_RECORD */
    HK_CSV_UNCLOSED_QUOTE, /* a quoted field is still open at the end of the file */
    HK_CSV_BAD_ENCODING,   /* bytes that are not text in the file's encoding */
    HK_CSV_NUL,            /* a NUL byte */
};

struct hk_csv_field {
    const char *s; /* NUL-terminated; borrowed until the next hk_csv_next */
    size_t len;
};

struct hk_csv_row {
    const struct hk_csv_field *fields; /* nfields entries; none for TOO_LONG / UNCLOSED_QUOTE */
    size_t nfields;
    int64_t line;   /* 1-based physical line where the record starts */
    int64_t nlines; /* physical lines it spans (>= 1) */
    enum hk_csv_problem problem;
};

/**
 * Starts reading fd (borrowed; the caller closes it after hk_csv_free). Reads the first block
 * to detect the encoding. Returns 0 and a new tokenizer in *out; HK_E(IO) when fd cannot be
 * read, HK_E(INVAL) for a UTF-16 file, HK_E(NOMEM).
 */
int hk_csv_open(int fd, struct hk_csv **out, struct hk_err *err);
void hk_csv_free(struct hk_csv *c);

/**
 * Reads the next record into *row (fields borrowed until the next call). Returns 1 for a
 * record (check row->problem), 0 at the end of the file, HK_E(IO) on a read error.
 */
int hk_csv_next(struct hk_csv *c, struct hk_csv_row *row, struct hk_err *err);

enum hk_csv_encoding hk_csv_encoding(const struct hk_csv *c);
/** "UTF-8", "UTF-8 with BOM", "GB18030". */
const char *hk_csv_encoding_name(enum hk_csv_encoding e);
/** Bytes of the file read and not waiting in a buffer: progress, approximate within a block. */
int64_t hk_csv_bytes_done(const struct hk_csv *c);

/** True when s[0..n) is valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
int hk_utf8_valid(const unsigned char *s, size_t n);
/**
 * Length of the longest prefix of s[0..n) that is valid UTF-8 or ends in an incomplete but so far
 * valid sequence; equals n when the text is fine up to a cut in the middle of a character.
 */
size_t hk_utf8_valid_prefix(const unsigned char *s, size_t n);

#endif
