/* Indexes for opaque request ids (see helpers.h). */
#define _GNU_SOURCE
#include "../helpers.h"

/* Open addressing over a power-of-two table; ids are never removed. */
#define ID_SLOTS (2 * ID_INDEXES)
static uint64_t id_keys[ID_SLOTS];
static int id_vals[ID_SLOTS];
static uint64_t id_of_index[ID_INDEXES];
static int id_count;

static size_t id_slot(uint64_t id) {
    size_t i = (size_t)((id * 0x9E3779B97F4A7C15ull) >> 40) & (ID_SLOTS - 1);
    while (id_keys[i] != 0 && id_keys[i] != id)
        i = (i + 1) & (ID_SLOTS - 1);
    return i;
}

int id_add(uint64_t id) {
    CHECK(id > 0, "id 0");
    size_t i = id_slot(id);
    CHECK(id_keys[i] == 0, "id %llu handed out twice", (unsigned long long)id);
    CHECK(id_count + 1 < ID_INDEXES, "more than %d ids", ID_INDEXES - 1);
    id_keys[i] = id;
    id_vals[i] = ++id_count;
    id_of_index[id_count] = id;
    return id_count;
}

int id_index(uint64_t id) {
    if (id == 0)
        return 0;
    size_t i = id_slot(id);
    return id_keys[i] == id ? id_vals[i] : 0;
}

uint64_t id_at(int i) { return i > 0 && i <= id_count ? id_of_index[i] : 0; }
