/* See axi_sim.h. */
#define _POSIX_C_SOURCE 200809L
#include "axi_sim.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "axi_ports.h"

/* Cycles a handshake may wait for its ready before it counts as an error. */
#define PATIENCE 100000u

typedef void *(*new_fn)(const char *);
typedef void (*delete_fn)(void *);
typedef void (*cycles_fn)(void *, const uint64_t *, uint64_t *, uint64_t);

typedef struct {
    void *lib, *model;
    delete_fn del;
    cycles_fn cycles;
    uint64_t in[AXI_IN_WORDS];
    /* The outputs after the last clock edge: what the design shows during the next cycle. */
    uint64_t out[AXI_OUT_WORDS];
    uint64_t cycle, errors;
    char error[160];
} sim_t;

static void step(sim_t *s)
{
    s->cycles(s->model, s->in, s->out, 1);
    s->cycle++;
}

static void fail(sim_t *s, const char *what, uint32_t offset)
{
    s->errors++;
    snprintf(s->error, sizeof s->error, "%s (offset 0x%03x) at cycle %llu", what,
             (unsigned)offset, (unsigned long long)s->cycle);
}

void *axi_sim_open(const char *path, const char *vcd)
{
    sim_t *s = calloc(1, sizeof *s);
    new_fn create;
    if (!s)
        return NULL;
    s->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!s->lib) {
        free(s);
        return NULL;
    }
    *(void **)&create = dlsym(s->lib, "shiftadd_shim_new");
    *(void **)&s->del = dlsym(s->lib, "shiftadd_shim_delete");
    *(void **)&s->cycles = dlsym(s->lib, "shiftadd_shim_cycles");
    if (!create || !s->del || !s->cycles) {
        dlclose(s->lib);
        free(s);
        return NULL;
    }
    s->model = create(vcd);
    /* Idle inputs: out of reset, responses and output beats always taken. */
    s->in[AXI_IN_ARESETN] = 1;
    s->in[AXI_IN_S_AXI_BREADY] = 1;
    s->in[AXI_IN_S_AXI_RREADY] = 1;
    s->in[AXI_IN_M_AXIS_TREADY] = 1;
    axi_sim_reset(s);
    return s;
}

void axi_sim_close(void *sim)
{
    sim_t *s = sim;
    s->del(s->model);
    dlclose(s->lib);
    free(s);
}

int axi_sim_reset(void *sim)
{
    sim_t *s = sim;
    s->in[AXI_IN_ARESETN] = 0;
    step(s);
    step(s);
    s->in[AXI_IN_ARESETN] = 1;
    step(s);
    return 0;
}

void axi_sim_write32(void *sim, uint32_t offset, uint32_t value)
{
    sim_t *s = sim;
    int aw = 1, w = 1;
    unsigned k = 0;
    s->in[AXI_IN_S_AXI_AWADDR] = offset;
    s->in[AXI_IN_S_AXI_AWVALID] = 1;
    s->in[AXI_IN_S_AXI_WDATA] = value;
    s->in[AXI_IN_S_AXI_WSTRB] = 0xf;
    s->in[AXI_IN_S_AXI_WVALID] = 1;
    while (aw || w) {
        int aw_ready = s->out[AXI_OUT_S_AXI_AWREADY] & 1, w_ready = s->out[AXI_OUT_S_AXI_WREADY] & 1;
        step(s);
        if (aw && aw_ready) {
            aw = 0;
            s->in[AXI_IN_S_AXI_AWVALID] = 0;
        }
        if (w && w_ready) {
            w = 0;
            s->in[AXI_IN_S_AXI_WVALID] = 0;
        }
        if (++k > PATIENCE) {
            fail(s, "write: AWREADY or WREADY never came", offset);
            s->in[AXI_IN_S_AXI_AWVALID] = s->in[AXI_IN_S_AXI_WVALID] = 0;
            return;
        }
    }
    for (k = 0; !(s->out[AXI_OUT_S_AXI_BVALID] & 1); k++) {
        if (k > PATIENCE) {
            fail(s, "write: no BVALID", offset);
            return;
        }
        step(s);
    }
    if (s->out[AXI_OUT_S_AXI_BRESP] != 0)
        fail(s, "write: response not OKAY", offset);
    step(s); /* BREADY is high: the response is taken */
}

uint32_t axi_sim_read32(void *sim, uint32_t offset)
{
    sim_t *s = sim;
    unsigned k;
    uint32_t data;
    s->in[AXI_IN_S_AXI_ARADDR] = offset;
    s->in[AXI_IN_S_AXI_ARVALID] = 1;
    for (k = 0;; k++) {
        int ready = s->out[AXI_OUT_S_AXI_ARREADY] & 1;
        step(s);
        if (ready)
            break;
        if (k > PATIENCE) {
            fail(s, "read: ARREADY never came", offset);
            s->in[AXI_IN_S_AXI_ARVALID] = 0;
            return 0;
        }
    }
    s->in[AXI_IN_S_AXI_ARVALID] = 0;
    for (k = 0; !(s->out[AXI_OUT_S_AXI_RVALID] & 1); k++) {
        if (k > PATIENCE) {
            fail(s, "read: no RVALID", offset);
            return 0;
        }
        step(s);
    }
    data = (uint32_t)s->out[AXI_OUT_S_AXI_RDATA];
    if (s->out[AXI_OUT_S_AXI_RRESP] != 0)
        fail(s, "read: response not OKAY", offset);
    step(s);
    return data;
}

int axi_sim_send(void *sim, const uint64_t *words, size_t n)
{
    sim_t *s = sim;
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned k;
        s->in[AXI_IN_S_AXIS_TDATA] = words[i];
        s->in[AXI_IN_S_AXIS_TVALID] = 1;
        s->in[AXI_IN_S_AXIS_TLAST] = i + 1 == n;
        for (k = 0;; k++) {
            int ready = s->out[AXI_OUT_S_AXIS_TREADY] & 1;
            step(s);
            if (ready)
                break;
            if (k > PATIENCE) {
                fail(s, "input stream: TREADY never came", 0);
                s->in[AXI_IN_S_AXIS_TVALID] = 0;
                return -1;
            }
        }
    }
    s->in[AXI_IN_S_AXIS_TVALID] = 0;
    s->in[AXI_IN_S_AXIS_TLAST] = 0;
    return 0;
}

int axi_sim_recv(void *sim, uint64_t *words, size_t n)
{
    sim_t *s = sim;
    size_t got = 0;
    unsigned idle = 0;
    while (got < n) {
        if (s->out[AXI_OUT_M_AXIS_TVALID] & 1) {
            int last = s->out[AXI_OUT_M_AXIS_TLAST] & 1;
            words[got++] = s->out[AXI_OUT_M_AXIS_TDATA];
            if (last != (got == n)) {
                fail(s, "output stream: TLAST not on the last word", 0);
                return -1;
            }
            idle = 0;
        } else if (++idle > PATIENCE) {
            fail(s, "output stream: words missing", 0);
            return -1;
        }
        step(s); /* TREADY is high: a valid beat is taken at this edge */
    }
    return 0;
}

int axi_sim_wait_irq(void *sim, uint64_t timeout)
{
    sim_t *s = sim;
    uint64_t k;
    for (k = 0; !(s->out[AXI_OUT_IRQ] & 1); k++) {
        if (k > timeout)
            return -1;
        step(s);
    }
    return 0;
}

uint64_t axi_sim_cycles(void *sim)
{
    return ((sim_t *)sim)->cycle;
}

uint64_t axi_sim_errors(void *sim)
{
    return ((sim_t *)sim)->errors;
}

const char *axi_sim_error(void *sim)
{
    return ((sim_t *)sim)->error;
}
