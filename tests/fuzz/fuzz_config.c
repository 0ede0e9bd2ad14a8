/*
 * fuzz_config.c - libFuzzer target for the configuration loader.  Every
 * input is a config file written by someone careless or hostile: loading
 * it must give a config or error lines, never a crash or a leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "brokerd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/fuzz_config.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    FILE *errs = fopen("/dev/null", "w");
    config *c = config_load(path, errs);
    config_free(&c);
    if (errs)
        fclose(errs);
    unlink(path);
    return 0;
}
