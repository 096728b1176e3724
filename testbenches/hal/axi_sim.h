/* A HAL for the shiftadd C driver that drives the Verilator model of `shiftadd_axi` through its
 * AXI ports, one clock cycle at a time, as an AXI master and a DMA would: every handshake waits
 * for its ready, every response is checked. The model is the shim library that shiftadd-tb
 * builds (`model.so`); the port offsets come from `axi_ports.h`, written with the model. */
#ifndef AXI_SIM_H
#define AXI_SIM_H

#include <stddef.h>
#include <stdint.h>

/* Opens the model library at `path` (and a waveform at `vcd` if not NULL); NULL on failure. */
void *axi_sim_open(const char *path, const char *vcd);
void axi_sim_close(void *sim);
uint32_t axi_sim_read32(void *sim, uint32_t offset);
void axi_sim_write32(void *sim, uint32_t offset, uint32_t value);
int axi_sim_send(void *sim, const uint64_t *words, size_t n);
int axi_sim_recv(void *sim, uint64_t *words, size_t n);
int axi_sim_wait_irq(void *sim, uint64_t timeout);
int axi_sim_reset(void *sim);
/* Clock cycles run so far. */
uint64_t axi_sim_cycles(void *sim);
/* Protocol errors seen so far (a response other than OKAY, a handshake that never came); the
 * last one is described by axi_sim_error. */
uint64_t axi_sim_errors(void *sim);
const char *axi_sim_error(void *sim);

#endif /* AXI_SIM_H */
