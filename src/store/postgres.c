/*
 * postgres.c — the PostgreSQL backend of the store (libpq), for teams and for several huike
 * processes sharing one database.
 *
 * Connections: PQconnectdbParams with the caller's URL (a connect_timeout of 10 s unless the URL
 * sets one), then client_encoding UTF8, client_min_messages = warning (no NOTICE chatter from
 * IF NOT EXISTS) and bytea_output = hex. Notices are dropped rather than printed to stderr.
 * A connection is "usable" while libpq says it is OK and nothing arrived on its socket while it
 * sat idle in the pool; if something did (the server sends a FATAL message before it closes a
 * terminated backend), a SELECT 1 decides. store.c reconnects the ones that are not.
 *
 * Statements: each named statement is prepared server-side (PQprepare) under a name made from a
 * per-connection counter and the sanitised statement name ("hk12_user_by_login"), so names are
 * unique per connection and recognisable in pg_stat_activity. PQdescribePrepared tells the
 * parameter and column counts. The first step sends PQexecPrepared with every parameter as text
 * (int64 in decimal, double with 17 significant digits) except blobs, which go binary (format
 * 1); the whole result comes back at once and later steps walk its rows, which is why
 * statements on one connection can be interleaved. Results are text: int64 and double are
 * parsed, bytea is decoded from its hex form ("\x...") into a per-column buffer that lives until
 * the next step or reset.
 *
 * Errors: SQLSTATE 23505 (unique) and 23503 (foreign key) are CONFLICT; a lost connection,
 * class 08, admin shutdown, too many connections, serialization failure, deadlock, lock or
 * statement timeout are UNAVAILABLE; everything else is STORE. Only the server's primary
 * message is used, never DETAIL (which quotes the row); for class 22 (data exceptions, whose
 * primary message can quote the offending value) a fixed message replaces it.
 *
 * Threading: a connection and its statements are used by one thread at a time (the pool's
 * promise); libpq is thread-safe across connections.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "store/store_int.h"

#define PG_BYTEA_OID 17
#define PG_NAME_MAX  63
/* pg_advisory_lock key held while migrating: "huike" in ASCII (0x6875696b65). */
#define PG_MIGRATE_LOCK   "SELECT pg_advisory_lock(448646441829)"
#define PG_MIGRATE_UNLOCK "SELECT pg_advisory_unlock(448646441829)"

struct pg_conn {
    PGconn *pg;
    unsigned seq; /* makes server-side statement names unique on this connection */
};

struct pg_param {
    bool set;   /* bound and not NULL */
    int format; /* 0 text, 1 binary */
    int len;
    const char *data; /* num or heap */
    char num[32];     /* short values live here */
    char *heap;       /* longer ones here (owned, reused) */
    size_t cap;
};

struct pg_blob {
    unsigned char *buf; /* decoded bytea, owned, reused */
    size_t cap;
    size_t len;
    int row; /* the row buf holds, -1 for none */
};

struct pg_stmt {
    struct pg_conn *c;
    const char *name; /* borrowed from struct hk_stmt */
    char pgname[PG_NAME_MAX + 1];
    int nparams;
    int nfields;
    struct pg_param *params;
    const char **values;
    int *lengths;
    int *formats;
    PGresult *res; /* of the execution in progress */
    int nrows;
    int row;
    bool finished;
    int64_t changes;
    struct pg_blob *blobs; /* nfields, made on first use */
};

/* Copies the first line of msg into buf, with tabs as spaces. */
static void first_line(char *buf, size_t size, const char *msg)
{
    size_t n = 0;
    if (!msg)
        msg = "";
    while (*msg == ' ' || *msg == '\n')
        msg++;
    for (; msg[n] && msg[n] != '\n' && n + 1 < size; n++)
        buf[n] = msg[n] == '\t' ? ' ' : msg[n];
    buf[n] = '\0';
}

static bool sqlstate_is(const char *state, const char *want)
{
    return state && strcmp(state, want) == 0;
}

static int pg_fail(PGconn *pg, const PGresult *r, const char *what, struct hk_err *err)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[256];
    char reason[320];
    enum hk_store_fault fault = HK_FAULT_OTHER;

    first_line(line, sizeof(line), primary ? primary : PQerrorMessage(pg));
    if (PQstatus(pg) == CONNECTION_BAD || (state && strncmp(state, "08", 2) == 0) ||
        sqlstate_is(state, "57P01") || sqlstate_is(state, "57P02") || sqlstate_is(state, "57P03") ||
        sqlstate_is(state, "53300") || sqlstate_is(state, "40001") || sqlstate_is(state, "40P01") ||
        sqlstate_is(state, "55P03") || sqlstate_is(state, "57014")) {
        fault = HK_FAULT_UNAVAILABLE;
    } else if (sqlstate_is(state, "23505") || sqlstate_is(state, "23503")) {
        fault = HK_FAULT_CONSTRAINT;
    } else if (state && strncmp(state, "22", 2) == 0) {
        /* Data exceptions quote the value they choke on; values may be PII. */
        hk_strlcpy(line, "a bound value is not valid for its column or operation", sizeof(line));
    } else if (sqlstate_is(state, "53200")) {
        fault = HK_FAULT_NOMEM;
    }
    if (state)
        snprintf(reason, sizeof(reason), "%s (SQLSTATE %s)", line, state);
    else
        snprintf(reason, sizeof(reason), "%s", line[0] ? line : "the server did not answer");
    return hk_store_fail(err, fault, what, reason);
}

/* Runs a command without parameters; true when it succeeded. Fills err otherwise. */
static int pg_exec(struct pg_conn *c, const char *what, const char *sql, struct hk_err *err)
{
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
        rc = pg_fail(c->pg, r, what, err);
    PQclear(r);
    return rc;
}

static void pg_ignore_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int pg_connect(const char *url, int busy_timeout_ms, void **conn, struct hk_err *err)
{
    static const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname",
                                       NULL};
    const char *vals[] = {"10", "huike", url, NULL};
    struct pg_conn *c = NULL;
    char line[256];
    int rc;

    (void)busy_timeout_ms;
    c = calloc(1, sizeof(*c));
    if (!c)
        return hk_store_fail(err, HK_FAULT_NOMEM, "connect to PostgreSQL", NULL);
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg) {
        rc = hk_store_fail(err, HK_FAULT_NOMEM, "connect to PostgreSQL", NULL);
        goto fail;
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        first_line(line, sizeof(line), PQerrorMessage(c->pg));
        rc = hk_store_fail(err, HK_FAULT_UNAVAILABLE, "connect to PostgreSQL", line);
        goto fail;
    }
    PQsetNoticeProcessor(c->pg, pg_ignore_notice, NULL);
    rc = pg_exec(c, "connect to PostgreSQL",
                 "SET client_encoding = 'UTF8'; SET client_min_messages = warning;"
                 " SET bytea_output = 'hex'",
                 err);
    if (rc < 0)
        goto fail;
    *conn = c;
    return 0;

fail:
    PQfinish(c->pg);
    free(c);
    return rc;
}

static void pg_disconnect(void *conn)
{
    struct pg_conn *c = conn;
    PQfinish(c->pg);
    free(c);
}

static bool pg_usable(void *conn)
{
    struct pg_conn *c = conn;
    if (PQstatus(c->pg) != CONNECTION_OK)
        return false;
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        return false; /* the pool only holds idle connections; anything else is a leftover */
    struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
    if (p.fd < 0)
        return false;
    int n = poll(&p, 1, 0);
    if (n == 0)
        return true;
    /* Something arrived while idle: usually the FATAL before a terminated backend closes. */
    if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK)
        return false;
    PGnotify *nt;
    while ((nt = PQnotifies(c->pg)))
        PQfreemem(nt);
    PGresult *r = PQexec(c->pg, "SELECT 1");
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQstatus(c->pg) == CONNECTION_OK;
    PQclear(r);
    return ok;
}

static int pg_ping(void *conn, struct hk_err *err)
{
    return pg_exec(conn, "ping", "SELECT 1", err);
}

static int pg_exec_script(void *conn, const char *what, const char *sql, struct hk_err *err)
{
    return pg_exec(conn, what, sql, err);
}

static int pg_begin(void *conn, enum hk_tx_mode mode, struct hk_err *err)
{
    (void)mode; /* row locks and constraints serialise writers; nothing to take up front */
    return pg_exec(conn, "begin", "BEGIN", err);
}

static int pg_commit(void *conn, struct hk_err *err)
{
    struct pg_conn *c = conn;
    PGresult *r = PQexec(c->pg, "COMMIT");
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_fail(c->pg, r, "commit", err);
    else if (strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
        /* COMMIT of a transaction that had failed: the server rolled it back instead. */
        rc = hk_store_fail(err, HK_FAULT_OTHER, "commit",
                           "an earlier statement failed, so the transaction was rolled back "
                           "(roll back to a savepoint after an expected error)");
    PQclear(r);
    return rc;
}

static void pg_rollback(void *conn)
{
    struct pg_conn *c = conn;
    PQclear(PQexec(c->pg, "ROLLBACK"));
}

static int pg_savepoint_sql(void *conn, const char *what, const char *verb, const char *name,
                            struct hk_err *err)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "%s \"%s\"", verb, name); /* quoted: "outer" is a keyword */
    return pg_exec(conn, what, sql, err);
}

static int pg_savepoint(void *conn, const char *name, struct hk_err *err)
{
    return pg_savepoint_sql(conn, "savepoint", "SAVEPOINT", name, err);
}

static int pg_savepoint_release(void *conn, const char *name, struct hk_err *err)
{
    return pg_savepoint_sql(conn, "release savepoint", "RELEASE SAVEPOINT", name, err);
}

static int pg_savepoint_rollback(void *conn, const char *name, struct hk_err *err)
{
    return pg_savepoint_sql(conn, "rollback to savepoint", "ROLLBACK TO SAVEPOINT", name, err);
}

static int pg_migration_lock(void *conn, struct hk_err *err)
{
    return pg_exec(conn, "migration lock", PG_MIGRATE_LOCK, err);
}

static void pg_migration_unlock(void *conn)
{
    struct pg_conn *c = conn;
    PQclear(PQexec(c->pg, PG_MIGRATE_UNLOCK));
}

/* The load lock: a session advisory lock ("huike" in ASCII plus 3; the migration lock's key,
   identities_key's are plus 1 and 2: ingest_repo.c). */
static int pg_load_lock(void *conn, int *token, bool *got, struct hk_err *err)
{
    struct pg_conn *c = conn;
    PGresult *r = PQexec(c->pg, "SELECT pg_try_advisory_lock(448646441832)");
    int rc = 0;
    *token = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        rc = pg_fail(c->pg, r, "load lock", err);
    else
        *got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return rc;
}

static void pg_load_unlock(void *conn, int token)
{
    struct pg_conn *c = conn;
    (void)token;
    if (!c)
        return; /* disconnected: the lock went with the session */
    PQclear(PQexec(c->pg, "SELECT pg_advisory_unlock(448646441832)"));
}

static void pg_finalize(void *stmt)
{
    struct pg_stmt *s = stmt;
    if (!s)
        return;
    PQclear(s->res);
    for (int i = 0; i < s->nparams; i++)
        free(s->params[i].heap);
    if (s->blobs)
        for (int i = 0; i < s->nfields; i++)
            free(s->blobs[i].buf);
    free(s->blobs);
    free(s->params);
    free(s->values);
    free(s->lengths);
    free(s->formats);
    free(s);
}

static int pg_prepare(void *conn, const char *name, const char *sql, void **out, struct hk_err *err)
{
    struct pg_conn *c = conn;
    struct pg_stmt *s = NULL;
    PGresult *r = NULL;
    int rc;

    s = calloc(1, sizeof(*s));
    if (!s)
        return hk_store_fail(err, HK_FAULT_NOMEM, name, NULL);
    s->c = c;
    s->name = name;
    s->row = -1;
    /* Server-side name: hk<seq>_<name with anything but [a-z0-9_] as '_'>, cut to 63 bytes. */
    int n = snprintf(s->pgname, sizeof(s->pgname), "hk%u_", ++c->seq);
    for (const char *p = name; *p && n < PG_NAME_MAX; p++, n++) {
        char ch = *p;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        s->pgname[n] = ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) ? ch : '_';
    }
    s->pgname[n] = '\0';

    r = PQprepare(c->pg, s->pgname, sql, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = pg_fail(c->pg, r, name, err);
        goto fail;
    }
    PQclear(r);
    r = PQdescribePrepared(c->pg, s->pgname);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = pg_fail(c->pg, r, name, err);
        goto fail;
    }
    s->nparams = PQnparams(r);
    s->nfields = PQnfields(r);
    PQclear(r);
    r = NULL;
    if (s->nparams > 0) {
        size_t np = (size_t)s->nparams;
        s->params = calloc(np, sizeof(*s->params));
        s->values = calloc(np, sizeof(*s->values));
        s->lengths = calloc(np, sizeof(*s->lengths));
        s->formats = calloc(np, sizeof(*s->formats));
        if (!s->params || !s->values || !s->lengths || !s->formats) {
            rc = hk_store_fail(err, HK_FAULT_NOMEM, name, NULL);
            goto fail;
        }
    }
    *out = s;
    return 0;

fail:
    PQclear(r);
    pg_finalize(s);
    return rc;
}

/* The parameter slot for idx (1-based), or NULL when out of range. */
static struct pg_param *param_at(struct pg_stmt *s, int idx)
{
    return idx >= 1 && idx <= s->nparams ? &s->params[idx - 1] : NULL;
}

static int param_store(struct pg_param *p, const void *data, size_t len, int format)
{
    if (len > (size_t)INT32_MAX - 1)
        return HK_E(INVAL);
    char *dst = p->num;
    if (len + 1 > sizeof(p->num)) {
        if (len + 1 > p->cap) {
            char *b = realloc(p->heap, len + 1);
            if (!b)
                return HK_E(NOMEM);
            p->heap = b;
            p->cap = len + 1;
        }
        dst = p->heap;
    }
    if (len)
        memcpy(dst, data, len);
    dst[len] = '\0'; /* text parameters are read as C strings */
    p->data = dst;
    p->set = true;
    p->format = format;
    p->len = (int)len;
    return 0;
}

static int pg_bind_int64(void *stmt, int idx, int64_t v)
{
    struct pg_param *p = param_at(stmt, idx);
    if (!p)
        return HK_E(INVAL);
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRId64, v);
    return param_store(p, buf, (size_t)n, 0);
}

static int pg_bind_double(void *stmt, int idx, double v)
{
    struct pg_param *p = param_at(stmt, idx);
    if (!p)
        return HK_E(INVAL);
    char buf[32];
    int n;
    if (isnan(v))
        n = snprintf(buf, sizeof(buf), "NaN");
    else if (isinf(v))
        n = snprintf(buf, sizeof(buf), "%s", v > 0 ? "Infinity" : "-Infinity");
    else
        n = snprintf(buf, sizeof(buf), "%.17g", v);
    return param_store(p, buf, (size_t)n, 0);
}

static int pg_bind_text(void *stmt, int idx, const char *s, size_t len)
{
    struct pg_param *p = param_at(stmt, idx);
    return p ? param_store(p, s, len, 0) : HK_E(INVAL);
}

static int pg_bind_blob(void *stmt, int idx, const void *data, size_t len)
{
    struct pg_param *p = param_at(stmt, idx);
    return p ? param_store(p, data, len, 1) : HK_E(INVAL);
}

static int pg_bind_null(void *stmt, int idx)
{
    struct pg_param *p = param_at(stmt, idx);
    if (!p)
        return HK_E(INVAL);
    p->set = false;
    return 0;
}

/* Rows changed, from the command tag: "INSERT 0 3", "UPDATE 2", "DELETE 1", "MERGE 4". */
static int64_t pg_tag_changes(PGresult *r)
{
    const char *tag = PQcmdStatus(r);
    if (strncmp(tag, "INSERT", 6) != 0 && strncmp(tag, "UPDATE", 6) != 0 &&
        strncmp(tag, "DELETE", 6) != 0 && strncmp(tag, "MERGE", 5) != 0)
        return 0;
    const char *n = PQcmdTuples(r);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(n, &end, 10);
    return errno == 0 && end != n ? (int64_t)v : 0;
}

static int pg_step(void *stmt, struct hk_err *err)
{
    struct pg_stmt *s = stmt;
    if (s->finished)
        return HK_DONE;
    if (!s->res) {
        for (int i = 0; i < s->nparams; i++) {
            struct pg_param *p = &s->params[i];
            s->values[i] = p->set ? p->data : NULL;
            s->lengths[i] = p->len;
            s->formats[i] = p->format;
        }
        s->res =
            PQexecPrepared(s->c->pg, s->pgname, s->nparams, s->values, s->lengths, s->formats, 0);
        ExecStatusType st = PQresultStatus(s->res);
        if (st == PGRES_TUPLES_OK) {
            s->nrows = PQntuples(s->res);
        } else if (st == PGRES_COMMAND_OK || st == PGRES_EMPTY_QUERY) {
            s->nrows = 0;
        } else {
            int rc = pg_fail(s->c->pg, s->res, s->name, err);
            PQclear(s->res);
            s->res = NULL;
            s->finished = true;
            return rc;
        }
        s->changes = pg_tag_changes(s->res);
        s->row = -1;
    }
    if (++s->row < s->nrows)
        return HK_ROW;
    PQclear(s->res);
    s->res = NULL;
    s->finished = true;
    return HK_DONE;
}

static int64_t pg_changes(void *stmt)
{
    return ((struct pg_stmt *)stmt)->changes;
}

static void pg_reset(void *stmt)
{
    struct pg_stmt *s = stmt;
    PQclear(s->res);
    s->res = NULL;
    s->finished = false;
    s->row = -1;
    s->nrows = 0;
    for (int i = 0; i < s->nparams; i++)
        s->params[i].set = false;
    if (s->blobs)
        for (int i = 0; i < s->nfields; i++)
            s->blobs[i].row = -1;
}

static int pg_columns(void *stmt)
{
    return ((struct pg_stmt *)stmt)->nfields;
}

/* store.c only reads columns while on a row; a result with fewer fields still reads NULL. */
static bool cell_null(struct pg_stmt *s, int col)
{
    return !s->res || col >= PQnfields(s->res) || PQgetisnull(s->res, s->row, col);
}

static bool pg_is_null(void *stmt, int col)
{
    return cell_null(stmt, col);
}

static int64_t pg_column_int64(void *stmt, int col)
{
    struct pg_stmt *s = stmt;
    if (cell_null(s, col))
        return 0;
    const char *v = PQgetvalue(s->res, s->row, col);
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno == 0 && end != v && *end == '\0')
        return (int64_t)x;
    if (v[0] == 't' && v[1] == '\0') /* boolean */
        return 1;
    if (v[0] == 'f' && v[1] == '\0')
        return 0;
    double d = strtod(v, &end); /* numeric, e.g. "12.50" from an average */
    if (end != v && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
        return (int64_t)d;
    return 0;
}

static double pg_column_double(void *stmt, int col)
{
    struct pg_stmt *s = stmt;
    if (cell_null(s, col))
        return 0.0;
    const char *v = PQgetvalue(s->res, s->row, col);
    if (v[0] == 't' && v[1] == '\0')
        return 1.0;
    char *end = NULL;
    double d = strtod(v, &end);
    return end != v ? d : 0.0;
}

static const char *pg_column_text(void *stmt, int col, size_t *len)
{
    struct pg_stmt *s = stmt;
    if (cell_null(s, col))
        return NULL;
    if (len)
        *len = (size_t)PQgetlength(s->res, s->row, col);
    return PQgetvalue(s->res, s->row, col);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static const void *pg_column_blob(void *stmt, int col, size_t *len)
{
    struct pg_stmt *s = stmt;
    if (cell_null(s, col))
        return NULL;
    const char *v = PQgetvalue(s->res, s->row, col);
    size_t n = (size_t)PQgetlength(s->res, s->row, col);
    if (PQftype(s->res, col) != PG_BYTEA_OID || n < 2 || v[0] != '\\' || v[1] != 'x' ||
        col >= s->nfields) {
        if (len) /* not a hex bytea: the bytes as the server sent them */
            *len = n;
        return v;
    }
    if (!s->blobs) {
        s->blobs = calloc((size_t)s->nfields, sizeof(*s->blobs));
        if (!s->blobs)
            return NULL;
        for (int i = 0; i < s->nfields; i++)
            s->blobs[i].row = -1;
    }
    struct pg_blob *b = &s->blobs[col];
    if (b->row != s->row) {
        size_t out = (n - 2) / 2;
        if (out + 1 > b->cap) {
            unsigned char *nb = realloc(b->buf, out + 1);
            if (!nb)
                return NULL;
            b->buf = nb;
            b->cap = out + 1;
        }
        for (size_t i = 0; i < out; i++) {
            int hi = hexval(v[2 + 2 * i]), lo = hexval(v[3 + 2 * i]);
            b->buf[i] = (unsigned char)((hi < 0 || lo < 0) ? 0 : (hi << 4 | lo));
        }
        b->buf[out] = 0;
        b->len = out;
        b->row = s->row;
    }
    if (len)
        *len = b->len;
    return b->buf;
}

/* ---- bulk loading: COPY ... FROM STDIN, text format --------------------------------------- */

#define PG_COPY_FLUSH (256 * 1024) /* bytes buffered before PQputCopyData */

struct pg_copy {
    struct pg_conn *c;
    char *buf; /* the rows not yet sent */
    size_t len, cap;
    int col; /* values written in the current row */
};

static int copy_reserve(struct pg_copy *p, size_t more)
{
    if (p->len + more <= p->cap)
        return 0;
    size_t cap = p->cap ? p->cap : PG_COPY_FLUSH + 4096;
    while (cap < p->len + more)
        cap *= 2;
    char *b = realloc(p->buf, cap);
    if (!b)
        return HK_E(NOMEM);
    p->buf = b;
    p->cap = cap;
    return 0;
}

/* The separator before a value (a tab after the first column), with room for more bytes. */
static char *copy_field(struct pg_copy *p, size_t more)
{
    if (copy_reserve(p, more + 1) < 0)
        return NULL;
    if (p->col++)
        p->buf[p->len++] = '\t';
    return p->buf + p->len;
}

static int pg_copy_begin(void *conn, const char *table, const char *columns, int ncols, void **out,
                         struct hk_err *err)
{
    (void)ncols;
    struct pg_conn *c = conn;
    struct pg_copy *p = calloc(1, sizeof(*p));
    size_t size = strlen(table) + strlen(columns) + 32;
    char *sql = malloc(size);
    if (!p || !sql) {
        free(p);
        free(sql);
        return hk_store_fail(err, HK_FAULT_NOMEM, "copy", "out of memory");
    }
    snprintf(sql, size, "COPY %s (%s) FROM STDIN", table, columns);
    PGresult *r = PQexec(c->pg, sql);
    free(sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        int rc = pg_fail(c->pg, r, "copy", err);
        PQclear(r);
        free(p);
        return rc;
    }
    PQclear(r);
    p->c = c;
    *out = p;
    return 0;
}

static int pg_copy_int64(void *copy, int64_t v)
{
    struct pg_copy *p = copy;
    char *d = copy_field(p, 24);
    if (!d)
        return HK_E(NOMEM);
    p->len += (size_t)snprintf(d, 24, "%" PRId64, v);
    return 0;
}

static int pg_copy_text(void *copy, const char *s, size_t len)
{
    struct pg_copy *p = copy;
    char *d = copy_field(p, len * 2);
    if (!d)
        return HK_E(NOMEM);
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        switch (ch) {
        case '\\':
            *d++ = '\\';
            *d++ = '\\';
            break;
        case '\t':
            *d++ = '\\';
            *d++ = 't';
            break;
        case '\n':
            *d++ = '\\';
            *d++ = 'n';
            break;
        case '\r':
            *d++ = '\\';
            *d++ = 'r';
            break;
        default:
            *d++ = ch;
        }
    }
    p->len = (size_t)(d - p->buf);
    return 0;
}

static int pg_copy_blob(void *copy, const void *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    struct pg_copy *p = copy;
    char *d = copy_field(p, 3 + len * 2);
    if (!d)
        return HK_E(NOMEM);
    *d++ = '\\'; /* bytea's "\x..." with its backslash escaped for COPY */
    *d++ = '\\';
    *d++ = 'x';
    const unsigned char *b = data;
    for (size_t i = 0; i < len; i++) {
        *d++ = hex[b[i] >> 4];
        *d++ = hex[b[i] & 15];
    }
    p->len = (size_t)(d - p->buf);
    return 0;
}

static int pg_copy_null(void *copy)
{
    struct pg_copy *p = copy;
    char *d = copy_field(p, 2);
    if (!d)
        return HK_E(NOMEM);
    d[0] = '\\';
    d[1] = 'N';
    p->len += 2;
    return 0;
}

static int copy_send(struct pg_copy *p, struct hk_err *err)
{
    if (!p->len)
        return 0;
    if (p->len > (size_t)INT32_MAX || PQputCopyData(p->c->pg, p->buf, (int)p->len) != 1)
        return pg_fail(p->c->pg, NULL, "copy", err);
    p->len = 0;
    return 0;
}

static int pg_copy_row(void *copy, struct hk_err *err)
{
    struct pg_copy *p = copy;
    if (copy_reserve(p, 1) < 0)
        return hk_store_fail(err, HK_FAULT_NOMEM, "copy", "out of memory");
    p->buf[p->len++] = '\n';
    p->col = 0;
    return p->len >= PG_COPY_FLUSH ? copy_send(p, err) : 0;
}

static int pg_copy_end(void *copy, bool ok, struct hk_err *err)
{
    struct pg_copy *p = copy;
    PGconn *pg = p->c->pg;
    int rc = ok ? copy_send(p, err) : 0;
    if (rc < 0)
        ok = false;
    if (PQputCopyEnd(pg, ok ? NULL : "abandoned by the client") != 1 && rc == 0 && ok)
        rc = pg_fail(pg, NULL, "copy", err);
    PGresult *r;
    while ((r = PQgetResult(pg)) != NULL) { /* the COPY's result, then NULL */
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0 && ok)
            rc = pg_fail(pg, r, "copy", err);
        PQclear(r);
    }
    free(p->buf);
    free(p);
    return rc;
}

static int pg_next_ids(void *conn, const char *table, size_t n, int64_t floor, int64_t *ids,
                       struct hk_err *err)
{
    (void)floor; /* a sequence never hands out a value twice */
    struct pg_conn *c = conn;
    char sql[256], count[24];
    /* The sequence is looked up once (OFFSET 0 keeps the sub-select from being flattened into
       a per-row call, which costs 4 µs an id); nextval itself is under 1 µs. */
    snprintf(sql, sizeof sql,
             "SELECT nextval(s) FROM (SELECT pg_get_serial_sequence('%s', 'id')::regclass AS s"
             " OFFSET 0) q, generate_series(1, $1::int) ORDER BY 1",
             table);
    snprintf(count, sizeof count, "%zu", n);
    const char *values[1] = {count};
    PGresult *r = PQexecParams(c->pg, sql, 1, NULL, values, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = pg_fail(c->pg, r, "next ids", err);
    else if ((size_t)PQntuples(r) != n)
        rc = hk_store_fail(err, HK_FAULT_OTHER, "next ids", "the sequence gave too few ids");
    for (size_t i = 0; rc == 0 && i < n; i++)
        ids[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
    PQclear(r);
    return rc;
}

const struct hk_store_ops hk_store_postgres_ops = {
    .backend = HK_STORE_POSTGRES,
    .name = "postgresql",
    .id_type = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    .blob_type = "BYTEA",
    /* A file import's look-ups are prepared statements whose generic plans are made from the
     * tables' size when first used, usually near empty; such a plan scans a table per look-up
     * and stays cached as the table grows (a 1M-line import: 4x slower). Every look-up the
     * importer runs has an index that answers it, so its connection plans without sequential
     * scans while in bulk mode: the plans are index look-ups whatever the tables' size.
     * Their row estimates still need statistics (without, 128 keys read as 64 % of the
     * table: a parallel bitmap scan compiled by JIT, 200 ms a look-up; and other sessions'
     * queries right after the load, by customer_id say, chose a scan per row), so
     * hk_db_bulk_grown (at the import's start and each time it doubled what it wrote)
     * analyzes a looked-up table that has no statistics yet: the numbers of distinct values
     * are kept as fractions of the rows, which stay right as the table grows, so the first
     * small analysis is enough, and autovacuum refreshes them afterwards. (Analyzing the three
     * tables at every doubling, to make the cached plans be planned again, cost 11 % of the
     * server's time at 1M lines.)
     * The bulk connection also commits without waiting for the WAL to reach the disk
     * (synchronous_commit = off; session 5): each batch's COMMIT waited for a flush of the WAL
     * the batch wrote (~0.5 s of the writer's time per 1M lines), though an import is made to
     * be run again. A crash of the server or the machine may lose the last batches committed
     * before it (never part of one: the server replays whole transactions or none), and
     * running the import again completes them as after a kill. The end of the bulk mode makes
     * every earlier write durable: after the settings are reset (a script of their own, so
     * nothing can undo them), bulk_end_sql is one transaction that writes WAL (it rewrites the
     * newest schema_version row as it is; a transaction that writes no WAL is not flushed) and
     * commits with synchronous_commit back at the server's setting, which flushes the WAL up to
     * its commit record, past all the import wrote. It needs no privilege beyond what the
     * migrations need (an earlier temporary table needed TEMP, which hardened roles lack). */
    .bulk_on_sql = "SET enable_seqscan = off; SET synchronous_commit = off",
    .bulk_off_sql = "RESET enable_seqscan; RESET synchronous_commit",
    .bulk_end_sql = "UPDATE schema_version SET applied_at = applied_at"
                    " WHERE version = (SELECT max(version) FROM schema_version)",
    .bulk_grown_sql =
        "DO $hk$ BEGIN"
        " IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stats WHERE schemaname = current_schema()"
        "  AND tablename = 'orders' AND attname = 'external_no') THEN"
        "  ANALYZE orders; END IF;"
        " IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stats WHERE schemaname = current_schema()"
        "  AND tablename = 'identities' AND attname = 'value') THEN"
        "  ANALYZE identities; END IF;"
        " IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stats WHERE schemaname = current_schema()"
        "  AND tablename = 'order_items' AND attname = 'order_id') THEN"
        "  ANALYZE order_items; END IF;"
        " END $hk$",
    .table_exists_sql = "SELECT count(*) FROM pg_catalog.pg_tables"
                        " WHERE schemaname = current_schema() AND tablename = $1",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .usable = pg_usable,
    .ping = pg_ping,
    .exec_script = pg_exec_script,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .savepoint = pg_savepoint,
    .savepoint_release = pg_savepoint_release,
    .savepoint_rollback = pg_savepoint_rollback,
    .migration_lock = pg_migration_lock,
    .migration_unlock = pg_migration_unlock,
    .load_lock = pg_load_lock,
    .load_unlock = pg_load_unlock,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .bind_int64 = pg_bind_int64,
    .bind_double = pg_bind_double,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .changes = pg_changes,
    .reset = pg_reset,
    .columns = pg_columns,
    .is_null = pg_is_null,
    .column_int64 = pg_column_int64,
    .column_double = pg_column_double,
    .column_text = pg_column_text,
    .column_blob = pg_column_blob,
    .copy_begin = pg_copy_begin,
    .copy_int64 = pg_copy_int64,
    .copy_text = pg_copy_text,
    .copy_blob = pg_copy_blob,
    .copy_null = pg_copy_null,
    .copy_row = pg_copy_row,
    .copy_end = pg_copy_end,
    .next_ids = pg_next_ids,
};
