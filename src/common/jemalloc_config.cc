// jemalloc's settings for the binaries that allocate with it (linked by vecsync_allocator() in
// CMakeLists.txt; sanitizer builds keep the sanitizer's allocator). jemalloc reads this symbol
// at start; MALLOC_CONF in the environment still overrides it.
//
// A sync frees large buffers in bursts (a flush's batches and insert chunks, a sync-process's
// entities). With jemalloc's defaults the freed pages stay resident for 10 s. Purging them after
// half a second, from jemalloc's own background thread, sync_bench measured a peak RSS of 198
// and 209 MB over a 100k-entity sync against 283 and 292 MB with the defaults (the same binary,
// alternating, with MALLOC_CONF setting the defaults back), and the same rate: 25,657 and
// 25,742 entities/s against 25,651 and 25,000/s.
extern "C" {
// NOLINTNEXTLINE(readability-identifier-naming): the name jemalloc looks for.
const char* malloc_conf = "background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:0";
}
