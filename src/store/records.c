/* The store's rows as blobs: fixed fields packed little-endian, each
 * ending in an FNV-1a checksum of what it describes, so that a flipped bit
 * is seen on load and the row refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "hash.h"
#include "log.h"
#include "views.h"
#include "internal.h"

void pack_job(const struct store_job *j, unsigned char m[JOB_META])
{
    memset(m, 0, JOB_META);
    m[0] = (unsigned char)j->birth;
    m[1] = (unsigned char)(j->birth >> 8);
    m[2] = (unsigned char)j->version;
    m[3] = (unsigned char)(j->version >> 8);
    m[4] = j->status;
    m[5] = (unsigned char)(j->final | j->created_ok << 1);
    for (int f = 0; f < JOB_NFILES; f++)
        put32(m + 8 + 4 * f, j->size[f]);
    put32(m + 20, j->line);
    put64(m + 24, (uint64_t)j->mtime);
    put64(m + 32, (uint64_t)j->created_us);
    put64(m + 40, j->digest);
    put32(m + 48, j->group[0]);
    put32(m + 52, j->group[1]);
    put64(m + 56, (uint64_t)j->fetched_wall_ms);
    put32(m + 64, j->seq);
    /* 68..71 spare; the checksum covers the id and the fields */
    put64(m + 72, fnv1a_more(fnv1a(j->id, j->id_len), m, 72));
}

bool unpack_job(const unsigned char *m, const void *id, size_t id_len, uint32_t seq,
                       struct store_job *j)
{
    if (get64(m + 72) != fnv1a_more(fnv1a(id, id_len), m, 72) || get32(m + 64) != seq)
        return false;
    memset(j, 0, sizeof *j);
    j->seq = seq;
    j->id = id;
    j->id_len = id_len;
    j->birth = (uint16_t)(m[0] | m[1] << 8);
    j->version = (uint16_t)(m[2] | m[3] << 8);
    j->status = m[4];
    j->final = m[5] & 1;
    j->created_ok = m[5] >> 1 & 1;
    for (int f = 0; f < JOB_NFILES; f++)
        j->size[f] = get32(m + 8 + 4 * f);
    j->line = get32(m + 20);
    j->mtime = (int64_t)get64(m + 24);
    j->created_us = (int64_t)get64(m + 32);
    j->digest = get64(m + 40);
    j->group[0] = get32(m + 48);
    j->group[1] = get32(m + 52);
    j->fetched_wall_ms = (int64_t)get64(m + 56);
    return j->status <= ST_UNKNOWN && id_len > 0 && id_len <= UINT16_MAX &&
           j->final == job_status_final(j->status) && j->line >= 3;
}

void pack_view(const struct store_view *v, uint64_t members_sum, unsigned char m[VIEW_META])
{
    memset(m, 0, VIEW_META);
    put64(m, (uint64_t)v->list->total);
    m[8] = (unsigned char)v->order;
    m[9] = v->unsure;
    put32(m + 12, (uint32_t)v->margin);
    put64(m + 16, (uint64_t)v->fetched_wall_ms);
    put64(m + 24, (uint64_t)v->full_wall_ms);
    put64(m + 32, (uint64_t)v->mtime.tv_sec);
    put32(m + 40, (uint32_t)v->mtime.tv_nsec);
    put32(m + 44, v->version);
    put64(m + 48, members_sum);
    put64(m + 56, fnv1a(m, 56));
}

void pack_members(const struct listing *l, unsigned char *out)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct member *mb = &l->m[i];
        unsigned char *p = out + 16 * i;
        put32(p, mb->seq);
        p[4] = mb->status;
        p[5] = mb->final;
        p[6] = (unsigned char)mb->birth;
        p[7] = (unsigned char)(mb->birth >> 8);
        put64(p + 8, mb->key); /* the key, or both groups (the union) */
    }
}

void pack_group(const struct store_group *g, unsigned char m[GROUP_META])
{
    memset(m, 0, GROUP_META);
    put64(m, (uint64_t)g->mtime.tv_sec);
    put32(m + 8, (uint32_t)g->mtime.tv_nsec);
    put32(m + 12, g->version);
    put64(m + 16, fnv1a_more(fnv1a(g->name, strlen(g->name)), m, 16) ^ g->view);
}

