/*
 * file.h - opening the files kiln reads whole (IDX, text, CSV, PNG, safetensors) so
 * that what is not a regular file is refused before any read: a FIFO with no writer
 * would block the reader forever, and a device such as /dev/zero never ends. Internal,
 * not installed.
 */
#ifndef KILN_FILE_H
#define KILN_FILE_H

#include "kiln/status.h"

/*
 * Opens path for reading without waiting for a writer (O_NONBLOCK, then cleared), and
 * refuses anything but a regular file: KILN_E_IO "'<path>': is a FIFO, not a regular
 * file (<why>)". [in] why: what the caller reads, for the message ("an IDX file is
 * read to its end"). [out] fd: an open descriptor owned by the caller (close), -1 on
 * failure.
 * Returns KILN_OK or KILN_E_IO (cannot open or stat: naming the file and errno's text).
 */
kiln_status kiln__open_regular(const char *path, const char *why, int *fd);

#endif /* KILN_FILE_H */
