/* libFuzzer target for the /etc/passwd and /etc/group parsing behind
 * oci_resolve_user (runtime/oci_spec.c): the files come from the image,
 * so from whoever built it.
 *
 * Input: USER '\0' PASSWD '\0' GROUP. A missing part is a missing file
 * (NULL). Each part is copied into a buffer of exactly its size, not
 * NUL-terminated (except USER, which the API takes as a C string), so any
 * read past a line or a file is a sanitizer report.
 *
 * Beyond "no crash": every line the parsers accept has a non-empty name
 * inside the line and without ':', ids below 2^32-1, members inside the
 * line; oci_resolve_user_text honours its contract (error kinds, numeric
 * ids taken as given, groups bounded and without duplicates). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/oci_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *exact_copy(const uint8_t *p, size_t len)
{
        char *c = malloc(len ? len : 1);
        if (!c)
                abort();
        if (len)
                memcpy(c, p, len);
        return c;
}

static bool inside(const char *p, size_t n, const char *base, size_t len)
{
        return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static void check_lines(const char *text, size_t len, bool group)
{
        const char *p = text, *end = text + len;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
                if (group) {
                        oci_group_entry g;
                        if (oci_group_parse_line(p, n, &g) == 0) {
                                if (g.name_len == 0 || !inside(g.name, g.name_len, p, n) ||
                                    memchr(g.name, ':', g.name_len) || g.gid == UINT32_MAX)
                                        abort();
                                if (g.members_len &&
                                    (!inside(g.members, g.members_len, p, n) ||
                                     memchr(g.members, ':', g.members_len)))
                                        abort();
                                /* The first member, when not empty, is found. */
                                const char *comma = g.members_len
                                                            ? memchr(g.members, ',', g.members_len)
                                                            : NULL;
                                size_t first = comma ? (size_t)(comma - g.members) : g.members_len;
                                if (first && !oci_group_has_member(&g, g.members, first))
                                        abort();
                        }
                } else {
                        oci_passwd_entry e;
                        if (oci_passwd_parse_line(p, n, &e) == 0) {
                                if (e.name_len == 0 || !inside(e.name, e.name_len, p, n) ||
                                    memchr(e.name, ':', e.name_len) || e.uid == UINT32_MAX ||
                                    e.gid == UINT32_MAX)
                                        abort();
                        }
                }
                p += n + 1;
        }
}

static bool all_digits(const char *s, size_t len)
{
        if (!len)
                return false;
        for (size_t i = 0; i < len; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *z1 = memchr(data, 0, size);
        size_t ulen = z1 ? (size_t)(z1 - data) : size;
        char *user = malloc(ulen + 1);
        if (!user)
                abort();
        memcpy(user, data, ulen);
        user[ulen] = '\0';

        char *passwd = NULL, *group = NULL;
        size_t plen = 0, glen = 0;
        if (z1) {
                const uint8_t *ps = z1 + 1, *end = data + size;
                const uint8_t *z2 = memchr(ps, 0, (size_t)(end - ps));
                plen = z2 ? (size_t)(z2 - ps) : (size_t)(end - ps);
                passwd = exact_copy(ps, plen);
                if (z2) {
                        glen = (size_t)(end - (z2 + 1));
                        group = exact_copy(z2 + 1, glen);
                }
        }
        if (passwd)
                check_lines(passwd, plen, false);
        if (group)
                check_lines(group, glen, true);

        uint32_t uid = 7, gid = 7, *groups = (uint32_t *)&uid;
        size_t n = 99;
        ocid_error err = OCID_ERROR_INIT;
        int r = oci_resolve_user_text(passwd, plen, group, glen, user, &uid, &gid, &groups, &n,
                                      &err);
        if (r == 0) {
                if (err.kind != OCID_OK || err.message)
                        abort();
                if (n > OCI_MAX_GROUPS || (n == 0) != (groups == NULL))
                        abort();
                for (size_t i = 0; i < n; i++)
                        for (size_t j = 0; j < i; j++)
                                if (groups[i] == groups[j])
                                        abort();
                if (uid == UINT32_MAX || gid == UINT32_MAX)
                        abort();
                const char *colon = strchr(user, ':');
                size_t upart = colon ? (size_t)(colon - user) : strlen(user);
                if (upart && all_digits(user, upart) && strtoull(user, NULL, 10) != uid)
                        abort();
                if (colon && all_digits(colon + 1, strlen(colon + 1)) &&
                    strtoull(colon + 1, NULL, 10) != gid)
                        abort();
                free(groups);
        } else {
                if (r != -1 || !err.message)
                        abort();
                if (err.kind != OCID_ERR_INVALID && err.kind != OCID_ERR_NOT_FOUND &&
                    err.kind != OCID_ERR_RESOURCE)
                        abort();
                /* Outputs untouched on failure. */
                if (uid != 7 || gid != 7 || n != 99 || groups != (uint32_t *)&uid)
                        abort();
                ocid_error_clear(&err);
        }
        free(user);
        free(passwd);
        free(group);
        return 0;
}
