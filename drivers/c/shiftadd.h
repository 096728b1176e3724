/* The shiftadd engine's C driver: C99, no allocation, no operating system.
 *
 * The engine is reached through a HAL: 32-bit register reads and writes on its AXI4-Lite slave,
 * and words sent on its input stream and received from its output stream (AXI4-Stream, 64-bit
 * beats; on a Zynq, an AXI DMA). Layers are set up through the register map
 * (shiftadd_regs.h, generated from the same map as the RTL); a whole network runs from a program
 * file written by `shiftadd compile`.
 */
#ifndef SHIFTADD_H
#define SHIFTADD_H

#include <stddef.h>
#include <stdint.h>

#include "shiftadd_regs.h"

/* Results: 0 or a negative error. */
enum {
    SHIFTADD_OK = 0,
    SHIFTADD_E_IDENTITY = -1, /* ID or GEOMETRY is not the program's engine */
    SHIFTADD_E_FORMAT = -2,   /* the program file is malformed */
    SHIFTADD_E_TIMEOUT = -3,  /* a layer did not end in time */
    SHIFTADD_E_HAL = -4,      /* the HAL reported an error */
    SHIFTADD_E_SPACE = -5     /* a caller's array is too small */
};

/* What the driver needs of the system. `wait_irq` and `reset` may be NULL: the driver then polls
 * STATUS, and cannot reset the engine. `send` and `recv` return 0 on success. `recv` receives
 * exactly `n` words, the last with TLAST. */
typedef struct shiftadd_hal {
    void *ctx;
    uint32_t (*read32)(void *ctx, uint32_t offset);
    void (*write32)(void *ctx, uint32_t offset, uint32_t value);
    int (*send)(void *ctx, const uint64_t *words, size_t n);
    int (*recv)(void *ctx, uint64_t *words, size_t n);
    int (*wait_irq)(void *ctx, uint64_t timeout);
    int (*reset)(void *ctx);
} shiftadd_hal;

/* Resets the engine (when the HAL can), checks ID and GEOMETRY against `geometry`, clears and
 * enables the interrupt. */
int shiftadd_init(const shiftadd_hal *hal, uint32_t geometry);

/* Writes `n` words to buffer `sel` (SHIFTADD_BUF_SEL_SEL_*), lane `lane`, from word `addr` on. */
int shiftadd_write_buffer(const shiftadd_hal *hal, uint32_t sel, uint32_t lane, uint32_t addr,
                          const uint64_t *words, size_t n);

/* Reads `n` output words of lane `lane` from word `addr` on, sign-extended to 64 bits. */
int shiftadd_read_outputs(const shiftadd_hal *hal, uint32_t lane, uint32_t addr, uint64_t *words,
                          size_t n);

/* Writes a layer's `n` registers (offset, value pairs) and START. */
int shiftadd_start(const shiftadd_hal *hal, const uint32_t *pairs, size_t n);

/* Waits for the layer to end (the interrupt, or polling STATUS at most `timeout` times), clears
 * the interrupt, and returns CYCLES through `cycles` (may be NULL). */
int shiftadd_wait(const shiftadd_hal *hal, uint64_t timeout, uint32_t *cycles);

/* One node of a program, pointing into the program file. */
typedef struct shiftadd_node {
    uint32_t kind; /* 0 engine, 1 flatten */
    int32_t src, residual;
    uint32_t out_c, out_h, out_w;
    uint32_t flags, in_c, in_h, in_w, in_base, out_base, res_base, w_base, post_base;
    uint32_t gather_n;
    const uint8_t *gather; /* gather_n i32 */
    uint32_t writes_n;
    const uint8_t *writes; /* writes_n (offset, value) */
    uint32_t w_lanes, w_words;
    const uint8_t *weights; /* w_lanes * w_words i64 */
    uint32_t p_lanes, p_words;
    const uint8_t *post; /* M then B, p_lanes * p_words i64 each */
    size_t offset;       /* of its values in an image's workspace */
} shiftadd_node;

/* A parsed program file (`shiftadd compile`). */
typedef struct shiftadd_program {
    uint32_t id, geometry, rows, cols, in_c, in_h, in_w, classes, n_nodes, n_segments, max_values;
    const uint8_t *table;    /* in_c * 256 i32 */
    const uint8_t *segments; /* n_segments (first, end) */
    shiftadd_node *nodes;
    size_t image_words;   /* workspace values of one image */
    size_t scratch_words; /* workspace values shared by all images */
} shiftadd_program;

/* Parses `bytes` bytes at `buf` (4-byte aligned, kept alive while the program is used) into
 * `prog`, its nodes into `nodes` (room for `max_nodes`). */
int shiftadd_program_parse(const void *buf, size_t bytes, shiftadd_program *prog,
                           shiftadd_node *nodes, size_t max_nodes);

/* Workspace values `shiftadd_run_network` needs for `images` images. */
size_t shiftadd_workspace_words(const shiftadd_program *prog, size_t images);

/* Runs `n` 8-bit images (`in_c x in_h x in_w` each, consecutive) through the network, segment by
 * segment (each segment's parameters loaded once): every node's values of every image land in
 * `workspace`, the logits of image k in `logits[k * classes ..]`, its class in
 * `predictions[k]` (the lowest index of the largest logit; may be NULL). */
int shiftadd_run_network(const shiftadd_hal *hal, const shiftadd_program *prog,
                         const uint8_t *images, size_t n, int64_t *workspace, int64_t *logits,
                         uint32_t *predictions);

/* The values of node `node` of image `image` after `shiftadd_run_network`. */
const int64_t *shiftadd_node_values(const shiftadd_program *prog, const int64_t *workspace,
                                    size_t image, size_t node);

#endif /* SHIFTADD_H */
