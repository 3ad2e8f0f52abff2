// Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module does not set.
#ifndef DBBACKUP_CLINUX_SHIM_H
#define DBBACKUP_CLINUX_SHIM_H

#include <stdint.h>

extern int sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags);

/// Starts writeback of the dirty pages in [offset, offset + nbytes) of a file
/// (SYNC_FILE_RANGE_WRITE) without waiting for it; nbytes 0 means up to the end of the file.
static inline int dbb_start_writeback(int fd, int64_t offset, int64_t nbytes) {
    return sync_file_range(fd, offset, nbytes, 2 /* SYNC_FILE_RANGE_WRITE */);
}

#endif
