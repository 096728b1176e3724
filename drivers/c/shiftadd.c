/* The shiftadd engine's C driver; see shiftadd.h. */
#include "shiftadd.h"

#define PROGRAM_MAGIC 0x47504153u
#define PROGRAM_VERSION 1u
#define FLAG_ZERO_FILL 1u
#define FLAG_CHAINED 4u

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static int64_t rd64(const uint8_t *p)
{
    return (int64_t)((uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32));
}

int shiftadd_init(const shiftadd_hal *hal, uint32_t geometry)
{
    if (hal->reset && hal->reset(hal->ctx) != 0)
        return SHIFTADD_E_HAL;
    if (hal->read32(hal->ctx, SHIFTADD_ID_OFFSET) != SHIFTADD_ID ||
        hal->read32(hal->ctx, SHIFTADD_GEOMETRY_OFFSET) != geometry)
        return SHIFTADD_E_IDENTITY;
    hal->write32(hal->ctx, SHIFTADD_IRQ_STATUS_OFFSET, 1u << SHIFTADD_IRQ_STATUS_DONE_SHIFT);
    hal->write32(hal->ctx, SHIFTADD_IRQ_ENABLE_OFFSET, 1u << SHIFTADD_IRQ_ENABLE_DONE_SHIFT);
    return SHIFTADD_OK;
}

static void select_port(const shiftadd_hal *hal, uint32_t sel, uint32_t lane, uint32_t addr)
{
    hal->write32(hal->ctx, SHIFTADD_BUF_SEL_OFFSET, sel);
    hal->write32(hal->ctx, SHIFTADD_BUF_LANE_OFFSET, lane);
    hal->write32(hal->ctx, SHIFTADD_BUF_ADDR_OFFSET, addr);
}

int shiftadd_write_buffer(const shiftadd_hal *hal, uint32_t sel, uint32_t lane, uint32_t addr,
                          const uint64_t *words, size_t n)
{
    if (n == 0)
        return SHIFTADD_OK;
    select_port(hal, sel, lane, addr);
    return hal->send(hal->ctx, words, n) == 0 ? SHIFTADD_OK : SHIFTADD_E_HAL;
}

int shiftadd_read_outputs(const shiftadd_hal *hal, uint32_t lane, uint32_t addr, uint64_t *words,
                          size_t n)
{
    if (n == 0)
        return SHIFTADD_OK;
    select_port(hal, SHIFTADD_BUF_SEL_SEL_OUTPUT, lane, addr);
    hal->write32(hal->ctx, SHIFTADD_STREAM_OUT_OFFSET, (uint32_t)n);
    return hal->recv(hal->ctx, words, n) == 0 ? SHIFTADD_OK : SHIFTADD_E_HAL;
}

int shiftadd_start(const shiftadd_hal *hal, const uint32_t *pairs, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        hal->write32(hal->ctx, pairs[2 * i], pairs[2 * i + 1]);
    hal->write32(hal->ctx, SHIFTADD_CTRL_OFFSET, 1u << SHIFTADD_CTRL_START_SHIFT);
    return SHIFTADD_OK;
}

int shiftadd_wait(const shiftadd_hal *hal, uint64_t timeout, uint32_t *cycles)
{
    const uint32_t done = 1u << SHIFTADD_STATUS_DONE_SHIFT;
    if (hal->wait_irq) {
        if (hal->wait_irq(hal->ctx, timeout) != 0)
            return SHIFTADD_E_TIMEOUT;
    } else {
        uint64_t k = 0;
        while (!(hal->read32(hal->ctx, SHIFTADD_STATUS_OFFSET) & done))
            if (++k > timeout)
                return SHIFTADD_E_TIMEOUT;
    }
    hal->write32(hal->ctx, SHIFTADD_IRQ_STATUS_OFFSET, 1u << SHIFTADD_IRQ_STATUS_DONE_SHIFT);
    if (cycles)
        *cycles = hal->read32(hal->ctx, SHIFTADD_CYCLES_OFFSET);
    return SHIFTADD_OK;
}

/* A cursor over the program file, bounds-checked. */
typedef struct {
    const uint8_t *p;
    size_t left;
    int bad;
} cursor;

static const uint8_t *take(cursor *c, size_t bytes)
{
    const uint8_t *at = c->p;
    if (c->bad || bytes > c->left) {
        c->bad = 1;
        return 0;
    }
    c->p += bytes;
    c->left -= bytes;
    return at;
}

static uint32_t word(cursor *c)
{
    const uint8_t *p = take(c, 4);
    return p ? rd32(p) : 0;
}

/* Takes `count` items of `size` bytes, refusing counts whose byte size overflows. */
static const uint8_t *take_n(cursor *c, uint64_t count, uint64_t size)
{
    if (count > (uint64_t)c->left / size) {
        c->bad = 1;
        return 0;
    }
    return take(c, (size_t)(count * size));
}

int shiftadd_program_parse(const void *buf, size_t bytes, shiftadd_program *prog,
                           shiftadd_node *nodes, size_t max_nodes)
{
    cursor c;
    uint32_t k;
    size_t at;
    c.p = (const uint8_t *)buf;
    c.left = bytes;
    c.bad = 0;
    if (word(&c) != PROGRAM_MAGIC || word(&c) != PROGRAM_VERSION)
        return SHIFTADD_E_FORMAT;
    prog->id = word(&c);
    prog->geometry = word(&c);
    prog->rows = word(&c);
    prog->cols = word(&c);
    prog->in_c = word(&c);
    prog->in_h = word(&c);
    prog->in_w = word(&c);
    prog->classes = word(&c);
    prog->n_nodes = word(&c);
    prog->n_segments = word(&c);
    prog->max_values = word(&c);
    if (c.bad || prog->id != SHIFTADD_ID || prog->rows == 0 || prog->cols == 0 ||
        prog->n_nodes == 0)
        return SHIFTADD_E_FORMAT;
    if (prog->n_nodes > max_nodes)
        return SHIFTADD_E_SPACE;
    prog->table = take_n(&c, (uint64_t)prog->in_c * 256, 4);
    prog->segments = take_n(&c, prog->n_segments, 8);
    prog->nodes = nodes;
    at = (size_t)prog->in_c * prog->in_h * prog->in_w;
    prog->scratch_words = 2 * (size_t)prog->max_values;
    for (k = 0; k < prog->n_nodes && !c.bad; k++) {
        shiftadd_node *n = &nodes[k];
        n->kind = word(&c);
        n->src = (int32_t)word(&c);
        n->residual = (int32_t)word(&c);
        n->out_c = word(&c);
        n->out_h = word(&c);
        n->out_w = word(&c);
        if (n->src >= (int32_t)k || n->residual >= (int32_t)k || n->kind > 1)
            return SHIFTADD_E_FORMAT;
        n->offset = at;
        at += (size_t)n->out_c * n->out_h * n->out_w;
        if (n->kind != 0)
            continue;
        n->flags = word(&c);
        n->in_c = word(&c);
        n->in_h = word(&c);
        n->in_w = word(&c);
        n->in_base = word(&c);
        n->out_base = word(&c);
        n->res_base = word(&c);
        n->w_base = word(&c);
        n->post_base = word(&c);
        n->gather_n = word(&c);
        n->gather = take_n(&c, n->gather_n, 4);
        if (2 * (size_t)n->gather_n > prog->scratch_words)
            prog->scratch_words = 2 * (size_t)n->gather_n;
        n->writes_n = word(&c);
        n->writes = take_n(&c, n->writes_n, 8);
        n->w_lanes = word(&c);
        n->w_words = word(&c);
        n->weights = take_n(&c, (uint64_t)n->w_lanes * n->w_words, 8);
        n->p_lanes = word(&c);
        n->p_words = word(&c);
        n->post = take_n(&c, 2 * (uint64_t)n->p_lanes * n->p_words, 8);
    }
    prog->image_words = at;
    for (k = 0; k < prog->n_segments && !c.bad; k++) {
        uint32_t first = rd32(prog->segments + 8 * k), end = rd32(prog->segments + 8 * k + 4);
        if (first >= end || end > prog->n_nodes)
            return SHIFTADD_E_FORMAT;
    }
    return c.bad || c.left != 0 ? SHIFTADD_E_FORMAT : SHIFTADD_OK;
}

size_t shiftadd_workspace_words(const shiftadd_program *prog, size_t images)
{
    return prog->scratch_words + images * prog->image_words;
}

const int64_t *shiftadd_node_values(const shiftadd_program *prog, const int64_t *workspace,
                                    size_t image, size_t node)
{
    return workspace + prog->scratch_words + image * prog->image_words +
           prog->nodes[node].offset;
}

/* Loads a node's weights and post-processing parameters, `scratch` holding one lane at a time. */
static int load_params(const shiftadd_hal *hal, const shiftadd_node *n, uint64_t *scratch,
                       size_t room)
{
    uint32_t lane, j;
    int r;
    if (n->w_words > room || n->p_words > room)
        return SHIFTADD_E_SPACE;
    for (lane = 0; lane < n->w_lanes; lane++) {
        for (j = 0; j < n->w_words; j++)
            scratch[j] = (uint64_t)rd64(n->weights + 8 * ((size_t)lane * n->w_words + j));
        r = shiftadd_write_buffer(hal, SHIFTADD_BUF_SEL_SEL_WEIGHTS, lane, n->w_base, scratch,
                                  n->w_words);
        if (r)
            return r;
    }
    for (lane = 0; lane < 2 * n->p_lanes; lane++) {
        uint32_t sel = lane < n->p_lanes ? SHIFTADD_BUF_SEL_SEL_POST_M : SHIFTADD_BUF_SEL_SEL_POST_B;
        for (j = 0; j < n->p_words; j++)
            scratch[j] = (uint64_t)rd64(n->post + 8 * ((size_t)lane * n->p_words + j));
        r = shiftadd_write_buffer(hal, sel, lane % n->p_lanes, n->post_base, scratch, n->p_words);
        if (r)
            return r;
    }
    return SHIFTADD_OK;
}

/* Writes tensor `v` (`c x plane` values) into buffer `sel` from word `base`, one stream per bank;
 * channels past `c` in the last tile as 0 when `zero_fill`. */
static int write_tensor(const shiftadd_hal *hal, const shiftadd_program *prog, uint32_t sel,
                        uint32_t base, const int64_t *v, uint32_t c, size_t plane, int zero_fill,
                        uint64_t *stream)
{
    uint32_t bank, t, tiles = (c + prog->cols - 1) / prog->cols;
    for (bank = 0; bank < prog->cols; bank++) {
        size_t n = 0, i;
        for (t = 0; t < tiles; t++) {
            uint32_t ch = t * prog->cols + bank;
            for (i = 0; i < plane; i++) {
                if (ch < c)
                    stream[n++] = (uint64_t)v[ch * plane + i];
                else if (zero_fill)
                    stream[n++] = 0;
            }
        }
        if (shiftadd_write_buffer(hal, sel, bank, base, stream, n))
            return SHIFTADD_E_HAL;
    }
    return SHIFTADD_OK;
}

/* Runs engine node `k` of one image whose values start at `img`. */
static int run_node(const shiftadd_hal *hal, const shiftadd_program *prog, uint32_t k,
                    int64_t *img, int64_t *scratch)
{
    const shiftadd_node *n = &prog->nodes[k];
    const int64_t *src = n->src < 0 ? img : img + prog->nodes[n->src].offset;
    int64_t *out = img + n->offset;
    uint64_t *stream = (uint64_t *)scratch + prog->scratch_words / 2;
    size_t plane = (size_t)n->out_h * n->out_w, i;
    uint32_t bank, t;
    int r;
    if (!(n->flags & FLAG_CHAINED)) {
        const int64_t *x = src;
        if (n->gather_n) {
            for (i = 0; i < n->gather_n; i++) {
                int32_t g = (int32_t)rd32(n->gather + 4 * i);
                scratch[i] = g < 0 ? 0 : src[g];
            }
            x = scratch;
        }
        r = write_tensor(hal, prog, SHIFTADD_BUF_SEL_SEL_INPUT, n->in_base, x, n->in_c,
                         (size_t)n->in_h * n->in_w, (n->flags & FLAG_ZERO_FILL) != 0, stream);
        if (r)
            return r;
    }
    if (n->residual >= 0) {
        r = write_tensor(hal, prog, SHIFTADD_BUF_SEL_SEL_RESIDUAL, n->res_base,
                         img + prog->nodes[n->residual].offset, n->out_c, plane, 0, stream);
        if (r)
            return r;
    }
    for (i = 0; i < n->writes_n; i++) {
        hal->write32(hal->ctx, rd32(n->writes + 8 * i), rd32(n->writes + 8 * i + 4));
    }
    r = shiftadd_start(hal, 0, 0);
    if (r)
        return r;
    r = shiftadd_wait(hal, 100000000u, 0);
    if (r)
        return r;
    for (bank = 0; bank < prog->rows && bank < n->out_c; bank++) {
        uint32_t tiles = (n->out_c - bank + prog->rows - 1) / prog->rows;
        r = shiftadd_read_outputs(hal, bank, n->out_base, stream, (size_t)tiles * plane);
        if (r)
            return r;
        for (t = 0; t < tiles; t++)
            for (i = 0; i < plane; i++)
                out[(t * prog->rows + bank) * plane + i] = (int64_t)stream[t * plane + i];
    }
    return SHIFTADD_OK;
}

int shiftadd_run_network(const shiftadd_hal *hal, const shiftadd_program *prog,
                         const uint8_t *images, size_t n, int64_t *workspace, int64_t *logits,
                         uint32_t *predictions)
{
    size_t img, i, pixels = (size_t)prog->in_c * prog->in_h * prog->in_w;
    uint32_t s, k;
    int64_t *scratch = workspace;
    int r = shiftadd_init(hal, prog->geometry);
    if (r)
        return r;
    for (img = 0; img < n; img++) {
        int64_t *v = workspace + prog->scratch_words + img * prog->image_words;
        for (i = 0; i < pixels; i++) {
            size_t ch = i / ((size_t)prog->in_h * prog->in_w);
            v[i] = (int32_t)rd32(prog->table + 4 * (ch * 256 + images[img * pixels + i]));
        }
    }
    for (s = 0; s < prog->n_segments; s++) {
        uint32_t first = rd32(prog->segments + 8 * s), end = rd32(prog->segments + 8 * s + 4);
        for (k = first; k < end; k++)
            if (prog->nodes[k].kind == 0) {
                r = load_params(hal, &prog->nodes[k], (uint64_t *)scratch,
                                prog->scratch_words);
                if (r)
                    return r;
            }
        for (img = 0; img < n; img++) {
            int64_t *v = workspace + prog->scratch_words + img * prog->image_words;
            for (k = first; k < end; k++) {
                const shiftadd_node *node = &prog->nodes[k];
                if (node->kind == 1) {
                    const int64_t *src = node->src < 0 ? v : v + prog->nodes[node->src].offset;
                    size_t m = (size_t)node->out_c * node->out_h * node->out_w;
                    for (i = 0; i < m; i++)
                        v[node->offset + i] = src[i];
                    continue;
                }
                r = run_node(hal, prog, k, v, scratch);
                if (r)
                    return r;
            }
        }
    }
    for (img = 0; img < n; img++) {
        const int64_t *z = shiftadd_node_values(prog, workspace, img, prog->n_nodes - 1);
        uint32_t best = 0;
        for (k = 0; k < prog->classes; k++) {
            logits[img * prog->classes + k] = z[k];
            if (z[k] > z[best])
                best = k;
        }
        if (predictions)
            predictions[img] = best;
    }
    return SHIFTADD_OK;
}
