/*
 * reader.h — reading one import file into canonical order records (record.h).
 *
 * A reader owns one open file. It detects the encoding (UTF-8 with or without BOM, else
 * GB18030, which is a superset of GBK) and converts to UTF-8 as it streams; parses CSV as the
 * seller centres write it (CRLF or LF, quoted fields with commas, doubled quotes and line breaks,
 * `="245600000000009335"`, a leading tab or `'` before ids and phones); finds columns by header
 * name (never by position; unknown columns ignored; a missing required column is an error that
 * names it); recognises the format from the header when asked for HK_FMT_AUTO; and turns rows
 * into orders, grouping consecutive rows that share an order number.
 *
 * Bad rows: a row that cannot be understood (unparseable amount, missing order number, an order
 * number mangled into scientific notation, an impossible date, an unknown status, invalid text
 * encoding) is reported as an hk_row_error with file, record, physical line, column and reason.
 * An order is all-or-nothing: if any of its rows is bad, the whole order is withheld and each of
 * its other rows is reported too ("rejected with order X: record N is bad"). Good orders are
 * returned; nothing good is dropped.
 *
 * Memory: flat in file size. Records and their strings live in the reader's arena and stay valid
 * until hk_reader_recycle(), so an importer can hold a batch of orders across several
 * hk_reader_next() calls and recycle after committing it.
 *
 * Threads: a reader is used by one thread.
 */
#ifndef HK_INGEST_READER_H
#define HK_INGEST_READER_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/record.h"

struct hk_err;
struct hk_tz;
struct hk_reader;

/** "generic", "taobao", "douyin", "pdd", "jd" (taobao orders/details both "taobao"); "auto". */
const char *hk_import_format_name(enum hk_import_format f);
/** Parses a --format value ("auto", "generic", "taobao", "douyin", "pdd", "jd"). */
int hk_import_format_parse(const char *s, enum hk_import_format *out, struct hk_err *err);

/**
 * Opens path and reads its header. fmt may be HK_FMT_AUTO (recognised from the header) or a
 * family: HK_FMT_TAOBAO_ORDERS given for a Taobao file is corrected to TAOBAO_DETAILS when the
 * header is a detail list, and vice versa. tz: the shop's zone, used for times written without
 * an offset (borrowed; must outlive the reader). display_name: how errors name the file (e.g.
 * the upload's original name; NULL = path). Returns 0 and a new reader, or HK_E(INVAL) naming
 * what is wrong with the header ("ExportOrderList.csv: missing required column 订单编号"),
 * HK_E(IO) when the file cannot be read.
 */
int hk_reader_open(const char *path, const char *display_name, enum hk_import_format fmt,
                   const struct hk_tz *tz, struct hk_reader **out, struct hk_err *err);
void hk_reader_close(struct hk_reader *r);

/** The format recognised for this file. */
enum hk_import_format hk_reader_format(const struct hk_reader *r);

/**
 * Produces the next good order in *out (borrowed from the reader's arena; valid until
 * hk_reader_recycle). Returns 1 when an order was produced, 0 at end of file, or a negative
 * HK_E code on an I/O failure (not for bad rows, which are reported and skipped).
 */
int hk_reader_next(struct hk_reader *r, const struct hk_order_rec **out, struct hk_err *err);

/** Frees the arena: every record returned so far becomes invalid. */
void hk_reader_recycle(struct hk_reader *r);
/** Batches of records an importer can hold besides the one it is reading (hk_reader_rotate). */
#define HK_READER_KEPT 2
/**
 * For an importer that holds several batches at once: starts a new generation of records. The
 * records returned before the HK_READER_KEPT-th last rotation become invalid; those returned
 * since stay valid (with HK_READER_KEPT 2: the current batch and the two before it).
 */
void hk_reader_rotate(struct hk_reader *r);

/**
 * Rows rejected since the last hk_reader_take_errors, in file order (borrowed until the next
 * reader call). Their file field points at the reader's display name.
 */
const struct hk_row_error *hk_reader_errors(const struct hk_reader *r, size_t *n);
/** Forgets the errors returned by hk_reader_errors. */
void hk_reader_take_errors(struct hk_reader *r);
/**
 * Rows rejected since the reader was opened, whether or not their hk_row_error was kept. At
 * most 10,000 errors are kept between two hk_reader_take_errors (a file of bad rows must not
 * fill memory); the rest are only counted here. Use this, not the number of errors seen, for
 * the import's `rejected` count.
 */
int64_t hk_reader_rejected(const struct hk_reader *r);

/** Data records read so far (header excluded). */
int64_t hk_reader_records(const struct hk_reader *r);
/** Bytes of the file consumed so far and its size, for progress. */
int64_t hk_reader_bytes_done(const struct hk_reader *r);
int64_t hk_reader_bytes_total(const struct hk_reader *r);

#endif
