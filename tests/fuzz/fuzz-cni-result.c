/* libFuzzer target for network/cni.c's cni_result_parse(): what a CNI
 * plugin prints is outside data. Only LLVMFuzzerTestOneInput is defined, so
 * the file also links into the corpus replay of the normal test run.
 *
 * Beyond "no crash": a failure is -1 with INVALID or RESOURCE and leaves
 * *ret alone; a parsed result honours the header's contract (a known
 * version, bounds, every address a CIDR of its stated family, gateways of
 * the same family, interface indexes in range, interfaces never NULL), and
 * its raw document, printed and parsed again, gives the same result. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "network/cni.h"
#include "util/strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int family_of(const char *ip)
{
        unsigned char buf[16];
        if (inet_pton(AF_INET, ip, buf) == 1)
                return 4;
        if (inet_pton(AF_INET6, ip, buf) == 1)
                return 6;
        return 0;
}

static void check_result(const cni_result *r)
{
        static const char *const versions[] = { "0.1.0", "0.2.0", "0.3.0", "0.3.1",
                                                "0.4.0", "1.0.0", "1.1.0" };
        bool known = false;
        for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
                known = known || (r->cni_version && strcmp(r->cni_version, versions[i]) == 0);
        if (!known || !r->raw || !r->interfaces || (r->n_ips && !r->ips))
                abort();
        size_t n_ifaces = strv_length(r->interfaces);
        if (r->n_ips > CNI_RESULT_MAX_IPS || n_ifaces > CNI_RESULT_MAX_INTERFACES)
                abort();
        for (size_t i = 0; i < n_ifaces; i++)
                if (!*r->interfaces[i])
                        abort();
        for (size_t i = 0; i < r->n_ips; i++) {
                const cni_ip *ip = &r->ips[i];
                if (!ip->address || (ip->family != 4 && ip->family != 6))
                        abort();
                const char *slash = strrchr(ip->address, '/');
                if (!slash || slash - ip->address >= 64)
                        abort();
                char addr[64];
                memcpy(addr, ip->address, (size_t)(slash - ip->address));
                addr[slash - ip->address] = '\0';
                if (family_of(addr) != ip->family)
                        abort();
                int prefix = atoi(slash + 1);
                if (prefix < 0 || prefix > (ip->family == 4 ? 32 : 128))
                        abort();
                if (ip->gateway && family_of(ip->gateway) != ip->family)
                        abort();
                if (ip->interface < -1 || (ip->interface >= 0 && (size_t)ip->interface >= n_ifaces))
                        abort();
        }
}

static void check_round_trip(const cni_result *r)
{
        const char *again = json_object_to_json_string_ext(r->raw, JSON_C_TO_STRING_PLAIN);
        size_t len = strlen(again);
        if (len > CNI_RESULT_MAX_SIZE)
                return; /* escaping may lengthen it past the bound */
        cni_result *r2 = NULL;
        ocid_error err = OCID_ERROR_INIT;
        if (cni_result_parse(again, len, &r2, &err) != 0)
                abort();
        if (strcmp(r2->cni_version, r->cni_version) != 0 || r2->n_ips != r->n_ips ||
            strv_length(r2->interfaces) != strv_length(r->interfaces))
                abort();
        for (size_t i = 0; i < r->n_ips; i++)
                if (strcmp(r2->ips[i].address, r->ips[i].address) != 0 ||
                    r2->ips[i].interface != r->ips[i].interface ||
                    (!r2->ips[i].gateway != !r->ips[i].gateway))
                        abort();
        cni_result_free(r2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* An exact-size copy, so reading past the end is caught. */
        char *text = malloc(size ? size : 1);
        if (!text)
                abort();
        if (size)
                memcpy(text, data, size);

        cni_result *sentinel = (cni_result *)&sentinel;
        cni_result *r = sentinel;
        ocid_error err = OCID_ERROR_INIT;
        int rc = cni_result_parse(text, size, &r, &err);
        if (rc != 0) {
                if (rc != -1 || r != sentinel || !err.message ||
                    (err.kind != OCID_ERR_INVALID && err.kind != OCID_ERR_RESOURCE))
                        abort();
                ocid_error_clear(&err);
                free(text);
                return 0;
        }
        if (err.kind != OCID_OK || err.message || !r || r == sentinel)
                abort();
        check_result(r);
        check_round_trip(r);
        cni_result_free(r);
        free(text);
        return 0;
}
