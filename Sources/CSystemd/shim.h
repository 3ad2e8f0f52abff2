#ifndef DBBACKUP_CSYSTEMD_SHIM_H
#define DBBACKUP_CSYSTEMD_SHIM_H

/* No CODE_FILE/CODE_LINE from the C macros: Swift calls the plain functions. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#endif
