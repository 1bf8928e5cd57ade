#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 1, 0))) static char *vformat(const char *fmt, va_list ap)
{
        char *s = NULL;
        if (vasprintf(&s, fmt, ap) < 0)
                return NULL;
        return s;
}

int ocid_error_set(ocid_error *err, ocid_error_kind kind, const char *fmt, ...)
{
        if (!err || err->kind != OCID_OK)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        err->message = vformat(fmt, ap);
        va_end(ap);
        err->kind = kind;
        return -1;
}

int ocid_error_set_errno(ocid_error *err, ocid_error_kind kind, int errnum,
                         const char *fmt, ...)
{
        if (!err || err->kind != OCID_OK)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        char *head = vformat(fmt, ap);
        va_end(ap);
        if (errnum < 0)
                errnum = -errnum;
        err->kind = kind;
        if (head && asprintf(&err->message, "%s: %s", head, strerror(errnum)) < 0)
                err->message = NULL;
        free(head);
        return -1;
}

int ocid_error_wrap(ocid_error *err, const char *fmt, ...)
{
        if (!err || err->kind == OCID_OK)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        char *head = vformat(fmt, ap);
        va_end(ap);
        char *joined = NULL;
        if (head && asprintf(&joined, "%s: %s", head,
                             err->message ? err->message : "unknown error") >= 0) {
                free(err->message);
                err->message = joined;
        }
        free(head);
        return -1;
}

void ocid_error_clear(ocid_error *err)
{
        if (!err)
                return;
        free(err->message);
        err->message = NULL;
        err->kind = OCID_OK;
}

const char *ocid_error_kind_name(ocid_error_kind kind)
{
        static const char *const names[] = {
                [OCID_OK] = "ok",
                [OCID_ERR_INTERNAL] = "internal",
                [OCID_ERR_INVALID] = "invalid argument",
                [OCID_ERR_NOT_FOUND] = "not found",
                [OCID_ERR_EXISTS] = "already exists",
                [OCID_ERR_PRECONDITION] = "failed precondition",
                [OCID_ERR_DEADLINE] = "deadline exceeded",
                [OCID_ERR_CANCELLED] = "cancelled",
                [OCID_ERR_UNAVAILABLE] = "unavailable",
                [OCID_ERR_PERMISSION] = "permission denied",
                [OCID_ERR_RESOURCE] = "resource exhausted",
                [OCID_ERR_UNIMPLEMENTED] = "unimplemented",
        };
        if ((unsigned)kind >= sizeof(names) / sizeof(names[0]))
                return "unknown";
        return names[kind];
}
