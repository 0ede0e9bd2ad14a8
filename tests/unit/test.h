/*
 * test.h - the unit tests' whole framework: CHECK counts and reports,
 * TEST_DONE prints the summary and gives the exit status.  Output is TAP
 * ("ok N - what", "not ok N - what"), one line per check.
 */
#ifndef TEST_H
#define TEST_H

#include <stdio.h>

static int test_checks, test_failures;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        test_checks++;                                                       \
        if (cond) {                                                          \
            printf("ok %d - ", test_checks);                                 \
        } else {                                                             \
            test_failures++;                                                 \
            printf("not ok %d - %s:%d: ", test_checks, __FILE__, __LINE__);  \
        }                                                                    \
        printf(__VA_ARGS__);                                                 \
        putchar('\n');                                                       \
    } while (0)

#define TEST_DONE()                                                          \
    (printf("%d checks, %d failed\n", test_checks, test_failures),          \
     test_failures ? 1 : 0)

#endif
