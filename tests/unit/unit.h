/*
 * unit.h — shared helpers for the cmocka unit tests: cmocka's includes in the order it needs,
 * and substring assertions that print both strings when they fail.
 */
#ifndef HK_TESTS_UNIT_H
#define HK_TESTS_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_)) {                                                              \
            print_error("expected \"%s\" to contain \"%s\"\n", h_ ? h_ : "(null)", n_);            \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#define assert_not_contains(hay, needle)                                                           \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (h_ && strstr(h_, n_)) {                                                                \
            print_error("expected \"%s\" not to contain \"%s\"\n", h_, n_);                        \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#endif
