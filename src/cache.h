/*
 * cache.h - kiln's on-disk cache entries (OpenCL program binaries, the Vulkan pipeline
 * cache): where they live, and a checked container around each payload so that a
 * truncated, corrupt or stale file is detected and rebuilt instead of reaching a driver.
 *
 * An entry file is a 32-byte header (magic "KILNCACH", format version, key length,
 * payload length, CRC-32 of key and payload), the key, then the payload. The key is a
 * string naming everything the payload depends on (kiln's version, the device, the
 * driver's version, build options, a hash of the source); the file name carries a hash
 * of it too, so a changed configuration looks elsewhere, and the stored key guards
 * against hash collisions. Entries are written to a temporary file and renamed.
 * Nothing here is an error to the caller but running out of host memory: a bad entry
 * or an unwritable directory is a KILN_LOG_WARN line and the caller rebuilds.
 */
#ifndef KILN_CACHE_H
#define KILN_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "context_impl.h"

#define KILN__CACHE_HEADER_BYTES 32
#define KILN__CACHE_MAX_BYTES    ((size_t)1 << 30) /* larger files are not cache entries */

/* The cache directory: KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else $HOME/.cache/kiln;
 * "" when none of them is set. */
void kiln__cache_dir(char *out, size_t n);

/* The path of the entry for key: "<dir>/<sub>/<stem>-<hash of key>.kcache", or "" when
 * there is no cache directory or the path does not fit in n bytes. */
void kiln__cache_path(const char *sub, const char *stem, const char *key, char *out, size_t n);

/*
 * Reads the entry at path made for key. [out] *data: the payload (kiln__alloc'd on ctx;
 * the caller frees it with kiln__free) and *n its size, or NULL and 0 when there is no
 * entry or it is bad. A bad entry (shorter or longer than its header says, a checksum
 * mismatch, another key, another format, not a kiln cache file) gives one KILN_LOG_WARN
 * line naming what ("opencl: program cache entry"), the file and the reason, and is
 * left for kiln__cache_store to replace. [in] what, path, key: borrowed.
 * Returns KILN_OK, or KILN_E_OUT_OF_HOST_MEMORY.
 */
kiln_status kiln__cache_load(struct kiln_context *ctx, const char *what, const char *path,
                             const char *key, void **data, size_t *n);

/*
 * Writes the entry for key at path atomically (a temporary file in the same directory,
 * then rename), creating the directories it needs. A failure is reported as a
 * KILN_LOG_WARN line when *warned is false (which it then sets: one warning per
 * backend instance), else at debug level, and is not an error.
 * [in] what, path, key, data: borrowed. [in,out] warned.
 */
void kiln__cache_store(struct kiln_context *ctx, const char *what, const char *path,
                       const char *key, const void *data, size_t n, bool *warned);

#endif /* KILN_CACHE_H */
