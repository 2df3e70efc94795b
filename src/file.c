/*
 * file.c - kiln__open_regular (file.h): the one place where the readers of files
 * (IDX, text and CSV through kiln__read_file, PNG, safetensors) open what they read,
 * so that FIFOs, devices, directories and sockets are refused before the first read
 * instead of blocking or reading without end.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "status_impl.h"

static const char *file_kind(mode_t m)
{
    return S_ISFIFO(m)   ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISDIR(m)  ? "a directory"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

kiln_status kiln__open_regular(const char *path, const char *why, int *fd)
{
    struct stat st;
    *fd = -1;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        return KILN_FAIL_NATIVE(KILN_E_IO, errno, "cannot open '%s': %s", path, strerror(errno));
    }
    if (fstat(f, &st) != 0) {
        int e = errno;
        close(f);
        return KILN_FAIL_NATIVE(KILN_E_IO, e, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        return KILN_FAIL(KILN_E_IO, "'%s': is %s, not a regular file (%s)", path,
                         file_kind(st.st_mode), why);
    }
    /* Regular files ignore O_NONBLOCK; clearing it keeps the descriptor ordinary. */
    int flags = fcntl(f, F_GETFL);
    if (flags >= 0) {
        (void)fcntl(f, F_SETFL, flags & ~O_NONBLOCK);
    }
    *fd = f;
    return KILN_OK;
}
