#include "ocic/crilog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- time ---------------------------------------------------------------- */

/* Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned)(y - era * 400);
        unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
        z += 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        unsigned doe = (unsigned)(z - era * 146097);
        unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        unsigned mp = (5 * doy + 2) / 153;
        *d = doy - (153 * mp + 2) / 5 + 1;
        *m = mp < 10 ? mp + 3 : mp - 9;
        *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool digits(const char *s, size_t n, int *ret)
{
        int v = 0;
        for (size_t i = 0; i < n; i++) {
                if (!is_digit(s[i]))
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return true;
}

static unsigned days_in_month(int y, int m)
{
        static const unsigned char dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return m == 2 && leap ? 29 : dim[m - 1];
}

int crilog_parse_time(const char *s, size_t len, crilog_time *ret)
{
        int Y, M, D, h, m, sec;
        if (len < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' ||
            !digits(s + 8, 2, &D) || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' ||
            !digits(s + 14, 2, &m) || s[16] != ':' || !digits(s + 17, 2, &sec))
                return -1;
        if (M < 1 || M > 12 || D < 1 || (unsigned)D > days_in_month(Y, M) || h > 23 || m > 59 || sec > 59)
                return -1;
        size_t i = 19;
        int32_t nsec = 0;
        if (s[i] == '.' || s[i] == ',') {
                size_t start = ++i;
                int nd = 0;
                for (; i < len && is_digit(s[i]); i++) {
                        if (nd < 9) {
                                nsec = nsec * 10 + (s[i] - '0');
                                nd++;
                        }
                }
                if (i == start)
                        return -1;
                for (; nd < 9; nd++)
                        nsec *= 10;
        }
        if (i >= len)
                return -1;
        int32_t offset = 0;
        if (s[i] == 'Z') {
                i++;
        } else if (s[i] == '+' || s[i] == '-') {
                int oh, om;
                if (len - i < 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || !digits(s + i + 4, 2, &om) ||
                    oh > 23 || om > 59)
                        return -1;
                offset = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
                i += 6;
        } else {
                return -1;
        }
        if (i != len)
                return -1;
        ret->sec = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + sec - offset;
        ret->nsec = nsec;
        ret->offset = offset;
        return 0;
}

size_t crilog_format_time(const crilog_time *t, char out[CRILOG_TIME_MAX])
{
        int64_t local = t->sec + t->offset;
        int64_t days = local / 86400, rem = local % 86400;
        if (rem < 0) {
                rem += 86400;
                days--;
        }
        int64_t y;
        unsigned mo, d;
        civil_from_days(days, &y, &mo, &d);
        int n = snprintf(out, CRILOG_TIME_MAX, "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, mo, d,
                         (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
        size_t len = n > 0 ? (size_t)n : 0;
        if (t->nsec > 0 && t->nsec < 1000000000) {
                char frac[16];
                snprintf(frac, sizeof(frac), ".%09d", (int)t->nsec);
                size_t fl = strlen(frac);
                while (frac[fl - 1] == '0')
                        fl--;
                frac[fl] = '\0';
                len += (size_t)snprintf(out + len, CRILOG_TIME_MAX - len, "%s", frac);
        }
        if (t->offset == 0) {
                len += (size_t)snprintf(out + len, CRILOG_TIME_MAX - len, "Z");
        } else {
                int32_t off = t->offset < 0 ? -t->offset : t->offset;
                len += (size_t)snprintf(out + len, CRILOG_TIME_MAX - len, "%c%02d:%02d",
                                        t->offset < 0 ? '-' : '+', (int)(off / 3600 % 100), (int)(off / 60 % 60));
        }
        return len;
}

int64_t crilog_time_ns(const crilog_time *t)
{
        if (t->sec > INT64_MAX / 1000000000 - 1)
                return INT64_MAX;
        if (t->sec < INT64_MIN / 1000000000 + 1)
                return INT64_MIN;
        return t->sec * 1000000000 + t->nsec;
}

/* ---- records ------------------------------------------------------------- */

int crilog_parse(const char *line, size_t len, crilog_record *ret, const char **why)
{
        if (len && line[len - 1] == '\n')
                len--;
        const char *end = line + len;
        const char *sp = memchr(line, ' ', len);
        if (!sp) {
                *why = "no timestamp";
                return -1;
        }
        if (crilog_parse_time(line, (size_t)(sp - line), &ret->time) < 0) {
                *why = "bad timestamp";
                return -1;
        }
        const char *p = sp + 1;
        sp = memchr(p, ' ', (size_t)(end - p));
        if (!sp) {
                *why = "no stream";
                return -1;
        }
        if (sp - p == 6 && memcmp(p, "stdout", 6) == 0) {
                ret->stream = CRILOG_STDOUT;
        } else if (sp - p == 6 && memcmp(p, "stderr", 6) == 0) {
                ret->stream = CRILOG_STDERR;
        } else {
                *why = "unknown stream";
                return -1;
        }
        p = sp + 1;
        sp = memchr(p, ' ', (size_t)(end - p));
        const char *tag_end = sp ? sp : end;
        if (tag_end == p) {
                *why = "no tag";
                return -1;
        }
        /* Forward compatible, as the kubelet: "P:more" is still partial. */
        const char *colon = memchr(p, ':', (size_t)(tag_end - p));
        size_t first = (size_t)((colon ? colon : tag_end) - p);
        ret->partial = first == 1 && *p == 'P';
        ret->msg = sp ? sp + 1 : end;
        ret->msg_len = (size_t)(end - ret->msg);
        return 0;
}

/* ---- durations and --since -------------------------------------------------- */

static const struct {
        const char *name;
        uint64_t ns;
} units[] = {
        { "ns", 1ULL },
        { "us", 1000ULL },
        { "\xc2\xb5s", 1000ULL }, /* U+00B5 micro sign */
        { "\xce\xbcs", 1000ULL }, /* U+03BC Greek mu */
        { "ms", 1000000ULL },
        { "s", 1000000000ULL },
        { "m", 60000000000ULL },
        { "h", 3600000000000ULL },
};

int crilog_parse_duration(const char *s, int64_t *ret_ns)
{
        bool neg = false;
        if (*s == '-' || *s == '+')
                neg = *s++ == '-';
        if (strcmp(s, "0") == 0) {
                *ret_ns = 0;
                return 0;
        }
        if (!*s)
                return -1;
        uint64_t total = 0;
        while (*s) {
                uint64_t v = 0, frac = 0, scale = 1;
                bool any = false;
                for (; is_digit(*s); s++) {
                        if (v > (UINT64_MAX - 9) / 10)
                                return -1;
                        v = v * 10 + (uint64_t)(*s - '0');
                        any = true;
                }
                if (*s == '.') {
                        for (s++; is_digit(*s); s++) {
                                if (scale < 1000000000000000000ULL) {
                                        frac = frac * 10 + (uint64_t)(*s - '0');
                                        scale *= 10;
                                }
                                any = true;
                        }
                }
                if (!any)
                        return -1;
                size_t ulen = 0;
                while (s[ulen] && s[ulen] != '.' && !is_digit(s[ulen]))
                        ulen++;
                uint64_t unit = 0;
                for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                        if (strlen(units[i].name) == ulen && memcmp(units[i].name, s, ulen) == 0)
                                unit = units[i].ns;
                if (!unit)
                        return -1;
                s += ulen;
                if (v > (uint64_t)INT64_MAX / unit)
                        return -1;
                uint64_t add = v * unit + (uint64_t)((double)frac * ((double)unit / (double)scale));
                if (add > (uint64_t)INT64_MAX - total)
                        return -1;
                total += add;
        }
        *ret_ns = neg ? -(int64_t)total : (int64_t)total;
        return 0;
}

int crilog_parse_since(const char *s, int64_t now_ns, int64_t *ret_ns)
{
        int64_t d;
        if (crilog_parse_duration(s, &d) == 0) {
                if ((d > 0 && now_ns < INT64_MIN + d) || (d < 0 && now_ns > INT64_MAX + d))
                        return -1;
                *ret_ns = now_ns - d;
                return 0;
        }
        crilog_time t;
        if (crilog_parse_time(s, strlen(s), &t) == 0) {
                *ret_ns = crilog_time_ns(&t);
                return 0;
        }
        /* Unix seconds, maybe with a fraction. */
        const char *p = s;
        int64_t sec = 0, nsec = 0;
        if (!is_digit(*p))
                return -1;
        for (; is_digit(*p); p++) {
                if (sec > INT64_MAX / 1000000000 / 10)
                        return -1;
                sec = sec * 10 + (*p - '0');
        }
        if (*p == '.') {
                int nd = 0;
                for (p++; is_digit(*p); p++)
                        if (nd++ < 9)
                                nsec = nsec * 10 + (*p - '0');
                for (; nd < 9; nd++)
                        nsec *= 10;
        }
        if (*p)
                return -1;
        *ret_ns = sec * 1000000000 + nsec;
        return 0;
}

/* ---- joiner --------------------------------------------------------------------- */

void crilog_joiner_init(crilog_joiner *j, size_t max_line)
{
        memset(j, 0, sizeof(*j));
        j->max_line = max_line ? max_line : 1 << 20;
}

void crilog_joiner_release(crilog_joiner *j)
{
        for (int i = 0; i < 2; i++)
                free(j->pending[i].buf);
        memset(j, 0, sizeof(*j));
}

static void reset_if_emitted(crilog_pending *p)
{
        if (p->emitted) {
                p->len = 0;
                p->active = false;
                p->emitted = false;
        }
}

static void append(crilog_pending *p, const char *data, size_t n)
{
        if (p->len + n + 1 > p->alloc) {
                size_t want = p->alloc ? p->alloc : 256;
                while (want < p->len + n + 1) {
                        if (want > SIZE_MAX / 2)
                                abort();
                        want *= 2;
                }
                char *nb = realloc(p->buf, want);
                if (!nb)
                        abort();
                p->buf = nb;
                p->alloc = want;
        }
        if (n)
                memcpy(p->buf + p->len, data, n);
        p->len += n;
        p->buf[p->len] = '\0';
}

static void emit(crilog_pending *p, crilog_stream stream, bool complete, crilog_line *out)
{
        *out = (crilog_line){ .stream = stream, .time = p->first, .text = p->buf ? p->buf : "",
                              .len = p->len, .complete = complete };
        p->emitted = true;
}

bool crilog_joiner_add(crilog_joiner *j, const crilog_record *rec, crilog_line *out)
{
        if (rec->stream != CRILOG_STDOUT && rec->stream != CRILOG_STDERR)
                return false;
        crilog_pending *p = &j->pending[rec->stream];
        reset_if_emitted(p);
        if (!rec->partial && !p->active) {
                *out = (crilog_line){ .stream = rec->stream, .time = rec->time, .text = rec->msg,
                                      .len = rec->msg_len, .complete = true };
                return true;
        }
        if (!p->active) {
                p->active = true;
                p->first = rec->time;
                p->len = 0;
        }
        append(p, rec->msg, rec->msg_len);
        if (!rec->partial) {
                emit(p, rec->stream, true, out);
                return true;
        }
        if (p->len >= j->max_line) {
                emit(p, rec->stream, false, out);
                return true;
        }
        return false;
}

bool crilog_joiner_flush(crilog_joiner *j, crilog_stream stream, crilog_line *out)
{
        if (stream != CRILOG_STDOUT && stream != CRILOG_STDERR)
                return false;
        crilog_pending *p = &j->pending[stream];
        reset_if_emitted(p);
        if (!p->active)
                return false;
        emit(p, stream, false, out);
        return true;
}
