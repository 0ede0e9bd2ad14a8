/*
 * fuzz_wire.c - libFuzzer target for the wire codec.  Every input is a
 * frame from a hostile peer: decoding must never read out of bounds, and
 * every record it accepts must encode back to exactly the bytes it came
 * from (so the broker and the library can never disagree on a frame).
 */
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ps__reader r;
    ps__cmd c;
    ps__reader_init(&r, data, size);
    const uint8_t *start = data;
    int rc;
    while ((rc = ps__wire_next(&r, &c)) == 1) {
        size_t used = (size_t)(r.pos - start);
        ps__buf b = {0};
        if (ps__wire_put(&b, &c) < 0 || b.len != used || memcmp(b.data, start, used) != 0)
            abort(); /* a record that does not round-trip */
        if (ps__wire_size(&c) < b.len)
            abort(); /* the size estimate must be an upper bound */
        ps__buf_free(&b);
        start = r.pos;
    }
    return 0;
}
