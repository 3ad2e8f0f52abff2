// Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module does not set.
#ifndef DBBACKUP_CLINUX_SHIM_H
#define DBBACKUP_CLINUX_SHIM_H

#include <stdint.h>

extern int sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags);

/// Starts writeback of a file's dirty pages (SYNC_FILE_RANGE_WRITE) without waiting for it.
static inline int dbb_start_writeback(int fd) {
    return sync_file_range(fd, 0, 0, 2 /* SYNC_FILE_RANGE_WRITE */);
}

#endif
