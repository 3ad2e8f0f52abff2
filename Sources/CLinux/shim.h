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

/// Waits until the pages of [offset, offset + nbytes) already being written out are on the
/// disk (SYNC_FILE_RANGE_WAIT_BEFORE); it starts nothing.
static inline int dbb_wait_for_writeback(int fd, int64_t offset, int64_t nbytes) {
    return sync_file_range(fd, offset, nbytes, 1 /* SYNC_FILE_RANGE_WAIT_BEFORE */);
}

extern long copy_file_range(int fd_in, int64_t *off_in, int fd_out, int64_t *off_out, unsigned long len, unsigned int flags);

/// Copies `length` bytes at `offset` of one file to the same offset of another inside the
/// kernel (copy_file_range), without passing them through user space. Returns the bytes
/// copied (0 at the end of the input), or -1 with errno set (EXDEV and others where the two
/// files' filesystems cannot do it: the caller copies through a buffer instead).
static inline long dbb_copy_range(int fd_in, int fd_out, int64_t offset, unsigned long length) {
    int64_t in = offset, out = offset;
    return copy_file_range(fd_in, &in, fd_out, &out, length, 0);
}

// Declared with `void *` rather than through <spawn.h>: that header would bring glibc's time
// types into this module, and Swift files using them would then need to import it.
extern int posix_spawn_file_actions_addchdir_np(void *actions, const char *path);

/// Makes a posix_spawn child change to `path` before it runs its program (glibc 2.29+);
/// `actions` is a posix_spawn_file_actions_t.
static inline int dbb_spawn_add_chdir(void *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

extern int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

/// Renames `from` to `to` only if `to` does not exist (renameat2 with RENAME_NOREPLACE):
/// -1 with errno EEXIST when it does, EINVAL (or ENOSYS) where the file system cannot.
static inline int dbb_rename_noreplace(const char *from, const char *to) {
    return renameat2(-100 /* AT_FDCWD */, from, -100, to, 1 /* RENAME_NOREPLACE */);
}

// Extended attributes (sys/xattr.h), declared here as that header is not in Swift's Glibc module.
extern int setxattr(const char *path, const char *name, const void *value, unsigned long size, int flags);
extern long getxattr(const char *path, const char *name, void *value, unsigned long size);

#endif
