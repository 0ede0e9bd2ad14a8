/*
 * fuzz_wire.c - libFuzzer target for the wire codec.  Every input is a
 * frame from a hostile peer: decoding must never read out of bounds, and
 * every record it accepts must encode back to exactly the bytes it came
 * from (so the broker and the library can never disagree on a frame).
 * A batch's payloads, walked as the broker walks them, are exactly its
 * count and fill its payload bytes, and joined one by one into a new
 * batch they encode back to the same record.
 */
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The checks of a decoded PUBLISH_BATCH c, whose record is rec[0..len). */
static void check_batch(const ps__cmd *c, const uint8_t *rec, size_t len)
{
    ps__slice rest = c->data, p;
    ps__cmd one = *c;
    ps__buf b = {0};
    size_t at = SIZE_MAX;
    uint32_t n = 0;
    while (ps__wire_batch_next(&rest, &p)) {
        one.data = p;
        if (ps__wire_batch_add(&b, &at, &one) < 0)
            abort();
        n++;
    }
    if (n != c->count || rest.len != 0)
        abort(); /* the walk disagrees with the decoder's checks */
    if (len <= PS_WIRE_BATCH_BYTES && (b.len != len || memcmp(b.data, rec, len) != 0))
        abort(); /* joined again, the payloads must make the same record */
    ps__buf_free(&b);
}

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
        if (c.cmd == PS_CMD_PUBLISH_BATCH)
            check_batch(&c, start, used);
        ps__buf_free(&b);
        start = r.pos;
    }
    return 0;
}
