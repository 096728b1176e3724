// Specification of the post-processing unit for the formal equivalence proof
// (hdl/tests/formal.rs), written by hand from numerics.md. The first cycle registers the
// operands and their exact product; the second computes the result in one word wide enough that
// every step is exact, and registers it. A synchronous reset clears every register.
//
// mode 0, post:     sat_act(relu?(floor_shr(M*v + B, s) + (residual ? r : 0)))
// mode 1, hand-off: sat_add(rne_shr(v, s))
// mode 2, round:    sat_act(floor_shr(v, s))
// mode 3, logits:   sat_OW(relu?(floor_shr(M*v + B, s)))
// `sat` flags an output that was clamped. Activation codes clamp to [-2^(ACT-1), ACT_MAX]
// (`act_max`, at most 2^(ACT-1) - 1).
//
// Widths: ACC row sum, MB `M_c`, BB `B_c`, RW residual code, OW output word, SB shift amount;
// ACT and ADD are act_bits and add_bits.
module post_spec #(parameter ACC = 21, MB = 16, BB = 24, RW = 8, OW = 38, SB = 7, ACT = 8,
                   ACT_MAX = 127, ADD = 8) (
    input clock,
    input reset,
    input signed [ACC-1:0] v,
    input signed [MB-1:0] m,
    input signed [BB-1:0] b,
    input [SB-1:0] s,
    input [1:0] mode,
    input relu,
    input residual,
    input signed [RW-1:0] r,
    output reg signed [OW-1:0] out,
    output reg sat
);
    // The product of an ACC-bit and an MB-bit code needs ACC + MB bits.
    localparam P = ACC + MB;
    // Holds M*v + B + r (P + 2 bits) and 2^s for every shift amount, so the rounding below
    // needs no special case for large shifts.
    localparam W = (P + 2 > (1 << SB) + 2) ? P + 2 : (1 << SB) + 2;
    localparam signed [W-1:0] ONE = 1;
    localparam signed [W-1:0] ACT_HI = ACT_MAX;
    localparam signed [W-1:0] ACT_LO = -(ONE <<< (ACT - 1));
    localparam signed [W-1:0] ADD_HI = (ONE <<< (ADD - 1)) - ONE;
    localparam signed [W-1:0] ADD_LO = -(ONE <<< (ADD - 1));
    localparam signed [W-1:0] OUT_HI = (ONE <<< (OW - 1)) - ONE;
    localparam signed [W-1:0] OUT_LO = -(ONE <<< (OW - 1));

    // First cycle.
    wire signed [P-1:0] product = v * m;
    reg signed [P-1:0] mv_1;
    reg signed [ACC-1:0] v_1;
    reg signed [BB-1:0] b_1;
    reg [SB-1:0] s_1;
    reg [1:0] mode_1;
    reg relu_1, residual_1;
    reg signed [RW-1:0] r_1;
    always @(posedge clock) begin
        mv_1 <= reset ? 0 : product;
        v_1 <= reset ? 0 : v;
        b_1 <= reset ? 0 : b;
        s_1 <= reset ? 0 : s;
        mode_1 <= reset ? 0 : mode;
        relu_1 <= reset ? 0 : relu;
        residual_1 <= reset ? 0 : residual;
        r_1 <= reset ? 0 : r;
    end

    // Second cycle. The value shifted: M*v + B, or v for the hand-off and the rounding.
    wire signed [W-1:0] affine = mv_1 + b_1;
    wire signed [W-1:0] x = (mode_1 == 1 || mode_1 == 2) ? v_1 : affine;
    // floor_shr: the arithmetic shift of a signed value rounds toward minus infinity.
    wire signed [W-1:0] floored = x >>> s_1;
    // rne_shr: the floor, plus one when the discarded part is more than half of 2^s, or exactly
    // half with an odd floor.
    wire signed [W-1:0] discarded = x - (floored <<< s_1);
    wire signed [W-1:0] unit = ONE <<< s_1;
    wire round_up = 2 * discarded > unit || (2 * discarded == unit && floored[0]);
    wire signed [W-1:0] rounded = (mode_1 == 1 && round_up) ? floored + ONE : floored;

    wire signed [W-1:0] joined = (mode_1 == 0 && residual_1) ? rounded + r_1 : rounded;
    wire signed [W-1:0] z = ((mode_1 == 0 || mode_1 == 3) && relu_1 && joined < 0) ? 0 : joined;

    wire signed [W-1:0] hi = mode_1 == 1 ? ADD_HI : mode_1 == 3 ? OUT_HI : ACT_HI;
    wire signed [W-1:0] lo = mode_1 == 1 ? ADD_LO : mode_1 == 3 ? OUT_LO : ACT_LO;
    wire signed [W-1:0] clamped = z > hi ? hi : z < lo ? lo : z;
    always @(posedge clock) begin
        out <= reset ? 0 : clamped[OW-1:0];
        sat <= reset ? 0 : z > hi || z < lo;
    end
endmodule
