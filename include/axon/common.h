/*
 * axon/common.h - export macro, version, and the few types every layer shares.
 *
 * Include <axon.h> rather than this file directly.
 */
#ifndef AXON_COMMON_H
#define AXON_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(AX_STATIC)
#define AX_EXTERN
#elif defined(__GNUC__) || defined(__clang__)
#define AX_EXTERN __attribute__((visibility("default")))
#else
#define AX_EXTERN
#endif

#define AX_VERSION_MAJOR 0
#define AX_VERSION_MINOR 1
#define AX_VERSION_PATCH 0
#define AX_VERSION_HEX \
    ((AX_VERSION_MAJOR << 16) | (AX_VERSION_MINOR << 8) | AX_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The library's version as "MAJOR.MINOR.PATCH". The string is static and
 * owned by the library. Thread-safe.
 */
AX_EXTERN const char *ax_version_string(void);

/*
 * The library's version as AX_VERSION_HEX computed when it was built, so a
 * program can compare the headers it was compiled with against the shared
 * object it runs with. Thread-safe.
 */
AX_EXTERN unsigned ax_version(void);

#ifdef __cplusplus
}
#endif

#endif
