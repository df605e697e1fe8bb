/*
 * config.h — configuration from one table (config.def) feeding the config file, HUIKE_*
 * environment variables and command-line flags. Later sources override earlier ones:
 *   default < file (--config PATH or HUIKE_CONFIG; "key = value" lines, '#' comments)
 *   < environment < flags.
 *
 * The struct is plain data after loading; share it read-only between threads.
 */
#ifndef HK_CORE_CONFIG_H
#define HK_CORE_CONFIG_H

#include <stdint.h>

struct hk_err;

#define HK_CONFIG_STR_MAX 512

enum hk_config_type { HK_CONFIG_STRING, HK_CONFIG_INT };

struct hk_config {
#define HK_CONFIG(name, type, def, help) HK_CONFIG_FIELD_##type(name)
#define HK_CONFIG_FIELD_STRING(name)     char name[HK_CONFIG_STR_MAX];
#define HK_CONFIG_FIELD_INT(name)        int64_t name;
#include "config.def"
#undef HK_CONFIG
};

/** Metadata of one option, for help output and generic loading. */
struct hk_config_option {
    const char *name; /* "body_limit" */
    const char *env;  /* "HUIKE_BODY_LIMIT" */
    const char *flag; /* "--body-limit" */
    enum hk_config_type type;
    const char *def;
    const char *help;
};

/** The table (borrowed, static) and its length. */
const struct hk_config_option *hk_config_options(int *count);

/** Fills cfg with the defaults. */
void hk_config_defaults(struct hk_config *cfg);
/** Sets one option by name from a string ("8080"). HK_E(INVAL) for unknown names or bad values. */
int hk_config_set(struct hk_config *cfg, const char *name, const char *value, struct hk_err *err);
/** Reads a config file; errors name the line. */
int hk_config_load_file(struct hk_config *cfg, const char *path, struct hk_err *err);
/** Applies HUIKE_* variables from environ. */
int hk_config_load_env(struct hk_config *cfg, struct hk_err *err);

/**
 * Applies the flags it knows from argv (--name VALUE or --name=VALUE) and removes them, leaving
 * the rest (the command and its own arguments) in argv with *argc updated. "--config PATH" is
 * recognised too and loads that file before the environment and other flags are applied.
 * This is the whole layering: defaults, file, env, flags. Returns 0 or HK_E(INVAL).
 * Known option flags are consumed wherever they stand (until a "--"); unknown flags are left
 * for the command.
 */
int hk_config_load(struct hk_config *cfg, int *argc, char **argv, struct hk_err *err);

#endif
