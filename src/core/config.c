/*
 * config.c — options from config.def, layered default < file < environment < flags.
 *
 * Design
 *   config.def is expanded three times here: into the field offsets and types (generic setters
 *   write through offsetof), into the names, defaults and help texts, and into the option count.
 *   The environment variable and flag spellings (HUIKE_BODY_LIMIT, --body-limit) are derived
 *   from the name once, under pthread_once, into a static table that is immutable afterwards;
 *   that table is what hk_config_options hands out.
 *
 *   Every value goes through one setter, which checks it (integers: hk_parse_int64, whole
 *   string, no spaces or units; strings: shorter than HK_CONFIG_STR_MAX) and names its source
 *   in the error: "huike.conf:3: port: 'abc' is not an integer", "HUIKE_PORT: …", "--port: …".
 *
 *   Config file syntax: one "key = value" per line; blank lines and lines starting with '#'
 *   are ignored; " # comment" after an unquoted value is ignored; a value may be written in
 *   double quotes (with \" and \\ escapes) to keep '#' or surrounding spaces; keys may use
 *   dashes or underscores. A UTF-8 byte-order mark and CRLF line ends are accepted.
 *
 *   Environment: an empty HUIKE_* variable counts as unset. Unknown HUIKE_* variables are left
 *   alone (the test harness uses some of its own).
 *
 * Threading: loading runs once at start-up on one thread; the loaded struct is then read-only.
 * hk_config_options may be called from any thread.
 */
#include "core/config.h"
#include "core/err.h"
#include "core/util.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPTION_COUNT = 0
#define HK_CONFIG(name, type, def, help) +1
#include "core/config.def"
#undef HK_CONFIG
};

#define SPELLING_MAX 64

struct option_field {
    const char *name;
    size_t offset;
    enum hk_config_type type;
    const char *def;
    const char *help;
};

static const struct option_field fields[OPTION_COUNT] = {
#define HK_CONFIG(name, type, def, help)                                                           \
    {#name, offsetof(struct hk_config, name), HK_CONFIG_##type, def, help},
#include "core/config.def"
#undef HK_CONFIG
};

/* Written once under pthread_once, read-only afterwards. */
static struct {
    struct hk_config_option opts[OPTION_COUNT];
    char env[OPTION_COUNT][SPELLING_MAX];
    char flag[OPTION_COUNT][SPELLING_MAX];
} option_table;
static pthread_once_t option_table_once = PTHREAD_ONCE_INIT;

static void build_option_table(void)
{
    for (int i = 0; i < OPTION_COUNT; i++) {
        const char *n = fields[i].name;
        size_t len = strlen(n);
        assert(len + 7 < SPELLING_MAX);
        char *env = option_table.env[i], *flag = option_table.flag[i];
        memcpy(env, "HUIKE_", 6);
        memcpy(flag, "--", 2);
        for (size_t k = 0; k < len; k++) {
            char c = n[k];
            env[6 + k] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
            flag[2 + k] = (char)(c == '_' ? '-' : c);
        }
        env[6 + len] = '\0';
        flag[2 + len] = '\0';
        option_table.opts[i] =
            (struct hk_config_option){n, env, flag, fields[i].type, fields[i].def, fields[i].help};
    }
}

const struct hk_config_option *hk_config_options(int *count)
{
    pthread_once(&option_table_once, build_option_table);
    if (count)
        *count = OPTION_COUNT;
    return option_table.opts;
}

/* Index of the option named name (len bytes; '-' and '_' are the same), or -1. */
static int find_option(const char *name, size_t len)
{
    for (int i = 0; i < OPTION_COUNT; i++) {
        const char *n = fields[i].name;
        if (strlen(n) != len)
            continue;
        size_t k = 0;
        while (k < len && (name[k] == n[k] || (name[k] == '-' && n[k] == '_')))
            k++;
        if (k == len)
            return i;
    }
    return -1;
}

/* Sets option i from value; `source` prefixes the error ("huike.conf:3", "--port"). */
static int set_option(struct hk_config *cfg, int i, const char *value, const char *source,
                      struct hk_err *err)
{
    const struct option_field *f = &fields[i];
    char *field = (char *)cfg + f->offset;
    size_t len = strlen(value);
    if (f->type == HK_CONFIG_INT) {
        int64_t v;
        if (hk_parse_int64(value, len, &v) != 0)
            return hk_err_setf(err, HK_E(INVAL), f->name,
                               "%s: '%.64s' is not an integer (write digits only, e.g. %s)", source,
                               value, f->def);
        if (strcmp(f->name, "import_batch") == 0 && (v < 1 || v > 1000000))
            return hk_err_setf(err, HK_E(INVAL), f->name,
                               "%s: %lld orders per transaction is out of range (1 to 1000000)",
                               source, (long long)v);
        memcpy(field, &v, sizeof(v));
        return 0;
    }
    if (strcmp(f->name, "import_pipeline") == 0 && strcmp(value, "on") != 0 &&
        strcmp(value, "off") != 0)
        return hk_err_setf(err, HK_E(INVAL), f->name, "%s: '%.64s' is neither on nor off", source,
                           value);
    if (strcmp(f->name, "db") == 0) {
        /* sqlite:PATH and sqlite://PATH (sqlite:///abs) name the file; any other scheme is a
         * mistake, not a file called "mysql:" in the working directory */
        if (strncmp(value, "sqlite:", 7) == 0) {
            value += strncmp(value, "sqlite://", 9) == 0 ? 9 : 7;
            len = strlen(value);
            if (len == 0)
                return hk_err_setf(err, HK_E(INVAL), f->name, "%s: sqlite: needs a file path",
                                   source);
        } else if (strstr(value, "://") && strncmp(value, "postgresql://", 13) != 0 &&
                   strncmp(value, "postgres://", 11) != 0) {
            return hk_err_setf(err, HK_E(INVAL), f->name,
                               "%s: '%.64s' is neither a file path nor a postgresql:// URL", source,
                               value);
        }
    }
    if (len >= HK_CONFIG_STR_MAX)
        return hk_err_setf(err, HK_E(INVAL), f->name, "%s: the value is longer than %d bytes",
                           source, HK_CONFIG_STR_MAX - 1);
    memcpy(field, value, len + 1);
    return 0;
}

void hk_config_defaults(struct hk_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (int i = 0; i < OPTION_COUNT; i++) {
        int rc = set_option(cfg, i, fields[i].def, "default", NULL);
        assert(rc == 0); /* config.def's defaults are valid */
        (void)rc;
    }
}

int hk_config_set(struct hk_config *cfg, const char *name, const char *value, struct hk_err *err)
{
    int i = find_option(name, strlen(name));
    if (i < 0)
        return hk_err_set(err, HK_E(INVAL), "unknown option '%.64s'", name);
    char source[SPELLING_MAX + 8];
    snprintf(source, sizeof(source), "option %s", fields[i].name);
    return set_option(cfg, i, value, source, err);
}

/* ---- file ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char *trim(char *s)
{
    while (is_space(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Unquotes a "…" value in place; returns NULL when the quotes are malformed. */
static char *unquote(char *v)
{
    char *w = v, *r = v + 1;
    for (; *r && *r != '"'; r++) {
        if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
            r++;
        *w++ = *r;
    }
    if (*r != '"')
        return NULL;
    r++;
    while (is_space(*r))
        r++;
    if (*r && *r != '#')
        return NULL;
    *w = '\0';
    return v;
}

static int parse_line(struct hk_config *cfg, char *line, const char *where, struct hk_err *err)
{
    char *s = trim(line);
    if (!*s || *s == '#')
        return 0;
    char *eq = strchr(s, '=');
    if (!eq)
        return hk_err_set(err, HK_E(INVAL), "%s: expected 'key = value'", where);
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    if (!*key)
        return hk_err_set(err, HK_E(INVAL), "%s: expected 'key = value' (the key is missing)",
                          where);
    int i = find_option(key, strlen(key));
    if (i < 0)
        return hk_err_set(err, HK_E(INVAL), "%s: unknown option '%.64s'", where, key);
    if (*value == '"') {
        if (!(value = unquote(value)))
            return hk_err_setf(err, HK_E(INVAL), fields[i].name,
                               "%s: %s: unterminated or malformed quoted value", where, key);
    } else {
        for (char *h = value; (h = strchr(h, '#')) != NULL; h++) {
            if (h > value && is_space(h[-1])) {
                *h = '\0';
                value = trim(value);
                break;
            }
        }
    }
    char source[600];
    snprintf(source, sizeof(source), "%s: %s", where, fields[i].name);
    return set_option(cfg, i, value, source, err);
}

int hk_config_load_file(struct hk_config *cfg, const char *path, struct hk_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return hk_err_set(err, HK_E(INVAL), "cannot read config file %.256s: %s", path,
                          strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    for (long lineno = 1; (n = getline(&line, &cap, f)) >= 0; lineno++) {
        char *s = line;
        if (lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
            s += 3;
        if (memchr(line, '\0', (size_t)n) != NULL) {
            rc = hk_err_set(err, HK_E(INVAL), "%.256s:%ld: the line contains a NUL byte", path,
                            lineno);
            break;
        }
        char where[300];
        snprintf(where, sizeof(where), "%.256s:%ld", path, lineno);
        if ((rc = parse_line(cfg, s, where, err)) != 0)
            break;
    }
    if (rc == 0 && ferror(f))
        rc = hk_err_set(err, HK_E(INVAL), "cannot read config file %.256s", path);
    free(line);
    fclose(f);
    return rc;
}

/* ---- environment ---- */

int hk_config_load_env(struct hk_config *cfg, struct hk_err *err)
{
    const struct hk_config_option *opts = hk_config_options(NULL);
    for (int i = 0; i < OPTION_COUNT; i++) {
        const char *v = getenv(opts[i].env);
        if (!v || !*v)
            continue;
        int rc = set_option(cfg, i, v, opts[i].env, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- command line ---- */

static bool is_config_flag(const char *a, const char **inline_value)
{
    if (strcmp(a, "--config") == 0) {
        *inline_value = NULL;
        return true;
    }
    if (strncmp(a, "--config=", 9) == 0) {
        *inline_value = a + 9;
        return true;
    }
    return false;
}

int hk_config_load(struct hk_config *cfg, int *argc, char **argv, struct hk_err *err)
{
    int n = *argc, rc;
    const char *path = NULL, *v;

    hk_config_defaults(cfg);

    /* The file comes first, so find --config before applying anything else. */
    for (int i = 1; i < n && strcmp(argv[i], "--") != 0; i++) {
        if (!is_config_flag(argv[i], &v))
            continue;
        if (!v && i + 1 >= n)
            return hk_err_setf(err, HK_E(INVAL), "config", "--config needs a file path");
        path = v ? v : argv[++i];
    }
    if (!path && (v = getenv("HUIKE_CONFIG")) != NULL && *v)
        path = v;
    if (path && (rc = hk_config_load_file(cfg, path, err)) != 0)
        return rc;
    if ((rc = hk_config_load_env(cfg, err)) != 0)
        return rc;

    const struct hk_config_option *opts = hk_config_options(NULL);
    int out = n > 0 ? 1 : 0;
    bool rest = false;
    for (int i = out; i < n; i++) {
        char *a = argv[i];
        if (rest || strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            rest = rest || strcmp(a, "--") == 0;
            argv[out++] = a; /* not ours: the command's, in order ("--" stays too) */
            continue;
        }
        if (is_config_flag(a, &v)) {
            i += v ? 0 : 1; /* already loaded */
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        int k = find_option(name, eq ? (size_t)(eq - name) : strlen(name));
        if (k < 0) {
            argv[out++] = a;
            continue;
        }
        if (eq) {
            v = eq + 1;
        } else if (i + 1 < n) {
            v = argv[++i];
        } else {
            return hk_err_setf(err, HK_E(INVAL), opts[k].name, "%s needs a value (%s)",
                               opts[k].flag, opts[k].help);
        }
        if ((rc = set_option(cfg, k, v, opts[k].flag, err)) != 0)
            return rc;
    }
    if (out < n)
        argv[out] = NULL;
    *argc = out;
    return 0;
}
