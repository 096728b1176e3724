// Specification PEs for the formal equivalence proofs (hdl/tests/formal.rs), written by hand from
// numerics.md, not generated: what each PE's registered `term` must be for every input, with
// none of the generated design's structure (products where it shifts, exact wide arithmetic
// where it wraps). Widths: A activation bits, WB shift weight bits, D adder (and dual operand)
// bits, W multiply weight bits, TS the width of the `term` port (the tree's).

// Shift PE: term = s * x * 2^(pmax - m); the weight code holds s in bit WB-1 (1 for -1) and m
// in the low WB-1 bits, m = pmax + 1 (all ones) being the zero weight; pmax = 2^(WB-1) - 2.
module shift_pe_spec #(parameter A = 8, WB = 3, TS = 17) (
    input clock,
    input signed [A-1:0] x,
    input [WB-1:0] w,
    output reg signed [TS-1:0] term
);
    localparam PMAX = (1 << (WB - 1)) - 2;
    wire [WB-2:0] m = w[WB-2:0];
    wire [TS-1:0] scale = (m > PMAX) ? {TS{1'b0}} : ({{(TS-1){1'b0}}, 1'b1} << (PMAX - m));
    wire signed [TS-1:0] x_wide = x;
    wire signed [TS-1:0] v = x_wide * $signed(scale);
    always @(posedge clock) term <= w[WB-1] ? -v : v;
endmodule

// Adder PE: term = |x - w|, exact (at most 2^D - 1), as an unsigned value.
module adder_pe_spec #(parameter D = 8, TS = 15) (
    input clock,
    input signed [D-1:0] x,
    input signed [D-1:0] w,
    output reg [TS-1:0] term
);
    wire signed [D:0] diff = x - w;
    wire [D:0] magnitude = (diff < 0) ? -diff : diff;
    always @(posedge clock) term <= magnitude;
endmodule

// Multiply PE (the baseline): term = x * w, exact.
module mac_pe_spec #(parameter A = 8, W = 8, TS = 22) (
    input clock,
    input signed [A-1:0] x,
    input signed [W-1:0] w,
    output reg signed [TS-1:0] term
);
    wire signed [TS-1:0] product = x * w;
    always @(posedge clock) term <= product;
endmodule

// Dual-mode PE: mode 0 the shift PE on x (D bits) and the low WB bits of w, mode 1 the adder PE
// on x and w (D bits each); the mode is registered with the terms.
module dual_pe_spec #(parameter D = 8, WB = 3, TS = 17) (
    input clock,
    input mode,
    input signed [D-1:0] x,
    input [D-1:0] w,
    output signed [TS-1:0] term
);
    wire signed [TS-1:0] shift_term;
    wire [TS-1:0] adder_term;
    reg adder_mode;
    shift_pe_spec #(.A(D), .WB(WB), .TS(TS)) shift (.clock(clock), .x(x), .w(w[WB-1:0]),
                                                    .term(shift_term));
    adder_pe_spec #(.D(D), .TS(TS)) adder (.clock(clock), .x(x), .w(w), .term(adder_term));
    always @(posedge clock) adder_mode <= mode;
    assign term = adder_mode ? adder_term : shift_term;
endmodule
