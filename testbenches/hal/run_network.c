/* Runs a program file through the C driver on the simulated `shiftadd_axi`.
 * Usage: run_network MODEL.so PROGRAM IMAGES N OUT
 * IMAGES holds N 8-bit images back to back; OUT receives, per image, every node's values
 * (int64, little-endian) in node order, then the N predictions (uint32). Prints the clock cycles
 * and exits 1 on any driver or protocol error. */
#include <stdio.h>
#include <stdlib.h>

#include "axi_sim.h"
#include "shiftadd.h"

static void *slurp(const char *path, size_t *bytes)
{
    FILE *f = fopen(path, "rb");
    void *buf;
    long n;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        return NULL;
    buf = malloc((size_t)n + 8);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *bytes = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    size_t prog_bytes, image_bytes, n, words, img, k;
    void *prog_buf, *images, *sim;
    shiftadd_node nodes[256];
    shiftadd_program prog;
    int64_t *workspace, *logits;
    uint32_t *predictions;
    shiftadd_hal hal;
    FILE *out;
    int r;
    if (argc != 6) {
        fprintf(stderr, "usage: run_network MODEL.so PROGRAM IMAGES N OUT\n");
        return 2;
    }
    n = (size_t)strtoul(argv[4], NULL, 10);
    prog_buf = slurp(argv[2], &prog_bytes);
    images = slurp(argv[3], &image_bytes);
    if (!prog_buf || !images) {
        fprintf(stderr, "cannot read the program or the images\n");
        return 1;
    }
    r = shiftadd_program_parse(prog_buf, prog_bytes, &prog, nodes, 256);
    if (r) {
        fprintf(stderr, "program: error %d\n", r);
        return 1;
    }
    if (image_bytes != n * prog.in_c * prog.in_h * prog.in_w) {
        fprintf(stderr, "images: %zu bytes for %zu images\n", image_bytes, n);
        return 1;
    }
    sim = axi_sim_open(argv[1], NULL);
    if (!sim) {
        fprintf(stderr, "cannot open the model %s\n", argv[1]);
        return 1;
    }
    hal.ctx = sim;
    hal.read32 = axi_sim_read32;
    hal.write32 = axi_sim_write32;
    hal.send = axi_sim_send;
    hal.recv = axi_sim_recv;
    hal.wait_irq = axi_sim_wait_irq;
    hal.reset = axi_sim_reset;
    words = shiftadd_workspace_words(&prog, n);
    workspace = calloc(words, sizeof *workspace);
    logits = calloc(n * prog.classes, sizeof *logits);
    predictions = calloc(n, sizeof *predictions);
    if (!workspace || !logits || !predictions)
        return 1;
    r = shiftadd_run_network(&hal, &prog, images, n, workspace, logits, predictions);
    printf("driver %d, %llu clock cycles, %llu protocol errors %s\n", r,
           (unsigned long long)axi_sim_cycles(sim), (unsigned long long)axi_sim_errors(sim),
           axi_sim_error(sim));
    if (r || axi_sim_errors(sim))
        return 1;
    out = fopen(argv[5], "wb");
    if (!out)
        return 1;
    for (img = 0; img < n; img++)
        for (k = 0; k < prog.n_nodes; k++) {
            const shiftadd_node *node = &prog.nodes[k];
            size_t m = (size_t)node->out_c * node->out_h * node->out_w;
            fwrite(shiftadd_node_values(&prog, workspace, img, k), sizeof(int64_t), m, out);
        }
    fwrite(predictions, sizeof *predictions, n, out);
    fclose(out);
    axi_sim_close(sim);
    return 0;
}
