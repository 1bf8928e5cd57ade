/* The error model.
 *
 * util/ functions return -errno and never log. Subsystems return a negative
 * value and describe the failure in an ocid_error passed as their last
 * argument: set once where the failure happens, wrapped with context on the
 * way up ("pull 'x': manifest unknown"). server/ maps the kind to a gRPC
 * status in exactly one table. */
#pragma once

#include <stdarg.h>

typedef enum {
        OCID_OK = 0,
        OCID_ERR_INTERNAL,      /* anything callers do not branch on */
        OCID_ERR_INVALID,       /* the request is malformed */
        OCID_ERR_NOT_FOUND,
        OCID_ERR_EXISTS,
        OCID_ERR_PRECONDITION,  /* valid request, wrong state */
        OCID_ERR_DEADLINE,
        OCID_ERR_CANCELLED,
        OCID_ERR_UNAVAILABLE,
        OCID_ERR_PERMISSION,    /* credentials missing or refused */
        OCID_ERR_RESOURCE,      /* a bound was exceeded */
        OCID_ERR_UNIMPLEMENTED,
} ocid_error_kind;

typedef struct {
        ocid_error_kind kind;
        char *message; /* owned; NULL when kind is OCID_OK */
} ocid_error;

#define OCID_ERROR_INIT { OCID_OK, NULL }

/* Record a failure; returns -1 so callers can `return ocid_error_set(...)`.
 * A second set on an error already set keeps the first (the root cause). */
int ocid_error_set(ocid_error *err, ocid_error_kind kind, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Like ocid_error_set, appending ": strerror(errnum)". errnum may be negative. */
int ocid_error_set_errno(ocid_error *err, ocid_error_kind kind, int errnum,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prefix context to an error already set: "context: old message". */
int ocid_error_wrap(ocid_error *err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Release the message and reset to OCID_OK. Accepts NULL. */
void ocid_error_clear(ocid_error *err);

const char *ocid_error_kind_name(ocid_error_kind kind);
