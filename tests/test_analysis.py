"""Static analysis: numbers a reader can check by hand.

BERT-Base shapes (FuseMax evaluation): B = 64, H = 12, E = F = 64, and the
shipped attention workloads default to seq = 1024 (M = P = 1024).
Useful products:  B*H = 768,  B*H*M*P = 768 * 1024 * 1024 = 805,306,368.
"""

from __future__ import annotations

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import einsumx
from einsumx.analysis.counts import band_points, bound_points

from conftest import BATCH as B, EMBED as E, HEADS as H, SEQ, analyze, einsum_result, load, parse, points

BH = B * H            # 768
BHMP = BH * SEQ * SEQ  # 805,306,368


# -- passes -------------------------------------------------------------------


@pytest.mark.parametrize("name, passes", [
    ("attention-3pass", 3),  # max, then exp+sum, then divide+AV
    ("attention-2pass", 2),  # local softmax per chunk, then the correction
    ("attention-1pass", 1),  # running max / denominator / numerator
    ("attention-causal-3pass", 3),
    ("attention-causal-1pass", 1),
    ("attention-local-3pass", 3),  # a window does not remove a pass
])
def test_passes_over_m(name, passes):
    assert analyze(name).passes["M"] == passes


@pytest.mark.parametrize("name, passes", [
    ("toy-2pass", 2),               # Y = sum_k A*B, then Z[k] = Y * A[k]
    ("toy-2pass-sum", 2),           # Z = sum_k Y * A[k] still needs all of Y
    ("toy-1pass-reassociated", 1),  # Z = Y * sum_k A[k]
    ("toy-1pass-iterative", 1),     # running RY, RZ along k
])
def test_passes_over_k(name, passes):
    assert analyze(name).passes == {"K": passes}


def test_three_pass_reasons():
    info = analyze("attention-3pass").pass_info["M"]
    assert info.reasons == [
        "pass 2: SN (line 31) reads GM[p]; GM (line 30) takes the max over m of QK, "
        "which streams in pass 1, so it is complete only after pass 1",
        "pass 3: A (line 33) reads SD[p]; SD (line 32) takes the sum over m of SN, "
        "which streams in pass 2, so it is complete only after pass 2",
    ]
    # Einsum by Einsum: QK, GM in pass 1; SN, SD in pass 2; A, AV in pass 3
    assert info.einsum_pass == {0: 1, 1: 1, 2: 2, 3: 2, 4: 3, 5: 3}


def test_toy_pass_reason_names_the_reader():
    # Y = sum_k A[k]*B[k] is complete only after pass 1; Z reads it in pass 2
    (reason,) = analyze("toy-2pass").pass_info["K"].reasons
    assert reason.startswith("pass 2: Z (line 15) reads Y")


def test_passes_of_the_other_ranks_are_one():
    assert analyze("attention-3pass").passes == {"B": 1, "H": 1, "M": 3, "P": 1, "E": 1, "F": 1}


def test_one_pass_over_m_but_two_over_each_chunk():
    # FuseMax's 1-pass cascade: SLN needs RM[m1+1], the max over the whole
    # chunk m0, so the chunk is traversed twice; M and M1 once.
    passes = analyze("attention-1pass").passes
    assert (passes["M"], passes["M1"], passes["M0"]) == (1, 1, 2)


# -- op counts (BERT, seq 1024) --------------------------------------------------


def test_three_pass_op_counts_by_class():
    an = analyze("attention-3pass")
    assert an.ops == {
        "mac": 2 * BHMP * E,  # QK and AV: B*H*M*P*E each = 51,539,607,552
        "add": 2 * BHMP,      # the subtract in exp(QK - GM) and the sum SD
        "div": BHMP,          # A = SN / SD
        "max": BHMP,          # GM = max over m
        "exp": BHMP,          # SN
    }
    assert an.ops["mac"] == 103_079_215_104
    assert an.ops["exp"] == 805_306_368


def test_three_pass_points_per_einsum():
    an = analyze("attention-3pass")
    assert [(r.einsum.label, r.points_value) for r in an.einsums] == [
        ("QK", BHMP * E),  # b, h, m, p, e
        ("GM", BHMP),
        ("SN", BHMP),
        ("SD", BHMP),
        ("A", BHMP),
        ("AV", BHMP * E),  # b, h, f, p, m with F = 64
    ]
    assert einsum_result(an, "SN").ops_value == {"add": BHMP, "exp": BHMP}


def test_one_pass_costs_extra_exponentials_per_chunk():
    an = analyze("attention-1pass")
    m1 = SEQ // 256  # 4 chunks of M0 = 256
    # SLN: one exp per (b,h,m,p); PRM: one per (b,h,m1,p) = 768 * 4 * 1024
    assert an.ops["exp"] == BHMP + BH * m1 * SEQ == 808_452_096
    # same MACs as 3-pass: BQK and SLNV
    assert an.ops["mac"] == 2 * BHMP * E
    # SPD (b,h,m1,p) and SPNV (b,h,f,m1,p) multiply by the correction PRM
    assert an.ops["mul"] == BH * m1 * SEQ * (1 + E) == 204_472_320
    # the final division AV = RNV / RD, once per (b,h,f,p)
    assert an.ops["div"] == BH * E * SEQ == 50_331_648


def test_toy_counts():
    # K = 1024; Y = sum_k A*B is 1024 MACs, Z[k] = Y*A[k] is 1024 multiplies
    assert analyze("toy-2pass").ops == {"mac": 1024, "mul": 1024}
    # reassociated: Z = Y * X is a single multiply, X = sum_k A[k] 1024 adds
    assert analyze("toy-1pass-reassociated").ops == {"mac": 1024, "mul": 1, "add": 1024}
    # iterative: per k, RY adds A*B (1 mul, 1 add); RZ does 2 mul, 1 div, 1 add
    assert analyze("toy-1pass-iterative").ops == {"mul": 3 * 1024, "add": 2 * 1024, "div": 1024}


SMALL = """\
ranks: {M: 5, P: 3}
tensors: {A: [M, P], B: [M], X: [M, P], Y: [P]}
einsums: |
  %s
"""


@pytest.mark.parametrize("statement, ops", [
    ("Y[p] = sum(m: A[m,p] * B[m])", {"mac": 15}),        # 5*3 points, one MAC each
    ("Y[p] = A[m,p]", {"add": 15}),                        # implicit sum over m
    ("Y[p] = max(m: A[m,p])", {"max": 15}),
    ("X[m,p] = exp(A[m,p] - B[m])", {"add": 15, "exp": 15}),
    ("X[m,p] = sigmoid(A[m,p])", {"exp": 15, "add": 15, "div": 15}),  # 1 / (1 + exp(-x))
    ("X[m,p] = A[m,p] * (2 + 3)", {"mul": 15}),            # 2 + 3 is folded
    ("X[m,p] = A[m,p] where m <= 1", {}),                  # a copy: no ops
    ("Y[p] = sum(m: A[m,p] * B[m]) where m <= 1", {"mac": 6}),  # m in {0, 1}: 2*3 points
    ("Y[p] = sum(m: A[m,p] * B[m]) where m <= p", {"mac": 6}),  # (m,p) pairs: 1 + 2 + 3
])
def test_small_einsum_ops(statement, ops):
    an = einsumx.analyze(parse(SMALL % statement))
    assert an.ops == ops


def test_power_of_values_is_rejected_at_load():
    with pytest.raises(einsumx.EinsumxError) as info:
        parse(SMALL % "X[m,p] = A[m,p] ^ 2")
    assert info.value.message == (
        "'^' is not a map operator: write x * x, or exp(y * log(x)) for a general power"
    )


# -- traffic and footprint ---------------------------------------------------------


def test_compulsory_traffic_three_pass():
    an = analyze("attention-3pass")
    tensor = BH * SEQ * 64 * 2  # B*H*1024*64 elements of 2 bytes = 100,663,296
    assert an.compulsory_traffic_bytes == 4 * tensor == 402_653_184  # Q, K, V read; AV written
    assert sorted((t, kind, an.value(b)) for t, kind, b in an.compulsory_terms) == [
        ("AV", "write", tensor), ("K", "read", tensor), ("Q", "read", tensor), ("V", "read", tensor),
    ]


def test_compulsory_traffic_is_the_same_for_every_pass_count():
    # only Q, K, V, AV cross the boundary, whatever the cascade
    for name in ("attention-1pass", "attention-2pass", "attention-causal-3pass"):
        assert analyze(name).compulsory_traffic_bytes == 402_653_184, name


def test_toy_compulsory_traffic():
    # A, B: 1024 elements * 2 bytes each; Z[k] 2048 bytes, scalar Z 2 bytes
    assert analyze("toy-2pass").compulsory_traffic_bytes == 3 * 2048
    assert analyze("toy-2pass-sum").compulsory_traffic_bytes == 2 * 2048 + 2


def test_live_footprint_three_pass():
    an = analyze("attention-3pass")
    # one M fiber of QK (after pass 1) or of SN (after pass 2): 1024 * 2 bytes
    assert an.live_footprint_bytes["M"] == 2 * SEQ == 2048
    assert [(lt.tensor, lt.boundaries) for lt in an.footprints["M"].live] == [("QK", (1,)), ("SN", (2,))]
    # spilling instead: write QK and SN once and read each once more,
    # each B*H*M*P*2 bytes = 1,610,612,736
    assert an.spill_traffic_bytes["M"] == 2 * 2 * BHMP * 2 == 6_442_450_944


def test_live_footprint_one_pass():
    an = analyze("attention-1pass")
    assert an.live_footprint_bytes["M"] == 0           # one pass over M: nothing to keep
    assert an.live_footprint_bytes["M0"] == 256 * 2 == 512  # one chunk of BQK: M0 * 2 bytes
    assert [lt.tensor for lt in an.footprints["M0"].live] == ["BQK"]


def test_live_footprint_two_pass_over_m():
    an = analyze("attention-2pass")
    # after pass 1 over M: an M1 x M0 fiber of SLN (4 * 256 * 2 = 2048 bytes)
    # plus the M1 fibers of LM and SLD (4 * 2 bytes each) = 2064
    assert an.live_footprint_bytes["M"] == 2 * 4 * (256 + 2) == 2064


def test_toy_two_pass_footprint_is_the_input_fiber():
    an = analyze("toy-2pass")
    # A is read in pass 1 and again in pass 2: keep all 1024 elements
    assert an.live_footprint_bytes == {"K": 1024 * 2}
    assert an.spill_traffic_bytes == {"K": 1024 * 2}  # or read A once more


def test_footprint_grows_with_sequence_length_only_for_three_pass():
    for seq in (1024, 4096, 16384):
        assert analyze("attention-3pass", f"seq={seq}").live_footprint_bytes["M"] == 2 * seq
        assert analyze("attention-1pass", f"seq={seq}").live_footprint_bytes["M0"] == 512


# -- filters: causal and sliding window -------------------------------------------


def test_causal_qk_points():
    an = analyze("attention-causal-3pass")
    P = SEQ
    causal = BH * E * P * (P + 1) // 2  # pairs m <= p: 1 + 2 + ... + P = 524,800 per (b,h,e)
    dense = points(analyze("attention-3pass"), "QK")
    assert points(an, "QK") == causal == 25_794_969_600
    assert dense == BH * E * P * P
    # half the dense box plus the diagonal's half: P(P+1)/2 - P^2/2 = P/2
    assert points(an, "QK") - dense // 2 == BH * E * P // 2 == 25_165_824


def test_causal_softmax_and_av_points():
    an = analyze("attention-causal-3pass")
    tri = BH * SEQ * (SEQ + 1) // 2  # 403,046,400
    assert [points(an, x) for x in ("GM", "SN", "SD", "A")] == [tri] * 4
    assert points(an, "AV") == tri * 64
    assert an.ops["exp"] == tri


def test_causal_one_pass_matches_causal_three_pass_macs():
    # the filter m <= p applies to m = m1*M0 + m0 in BQK and SLNV
    assert analyze("attention-causal-1pass").ops["mac"] == analyze("attention-causal-3pass").ops["mac"] == 51_589_939_200


def test_sliding_window_points_and_footprint():
    an = analyze("attention-local-3pass")  # seq 4096, window 512
    P, W = 4096, 512
    # per query p: min(p, W) + 1 keys; sum = (W+1)*P - W*(W+1)/2 = 1,969,920
    per_bhe = (W + 1) * P - W * (W + 1) // 2
    assert per_bhe == 1_969_920
    assert points(an, "QK") == BH * E * per_bhe == 96_825_507_840
    assert points(an, "GM") == BH * per_bhe
    # the live M fiber is the window, not the row: (W+1) elements of 2 bytes
    assert an.live_footprint_bytes["M"] == (W + 1) * 2 == 1026
    assert an.passes["M"] == 3


def test_sliding_window_wider_than_the_sequence_is_causal():
    # seq = 256 < window = 512: every m <= p is inside the window
    an = analyze("attention-local-3pass", "seq=256")
    assert points(an, "QK") == BH * E * 256 * 257 // 2
    assert an.live_footprint_bytes["M"] == 2 * 256


# -- overrides and presets -----------------------------------------------------------


def test_set_seq():
    an = analyze("attention-3pass", "seq=4096")
    assert (an.point.ranks["M"], an.point.ranks["P"]) == (4096, 4096)
    assert an.ops["mac"] == 2 * BH * 4096 * 4096 * E == 1_649_267_441_664  # 16x the 1K count
    assert an.ops["exp"] == BH * 4096 * 4096 == 12_884_901_888
    assert an.compulsory_traffic_bytes == 4 * BH * 4096 * 64 * 2 == 1_610_612_736
    assert an.live_footprint_bytes["M"] == 8192


def test_set_rank_sizes_together_equals_set_seq():
    by_ranks = analyze("attention-3pass", "M=4096", "P=4096")
    by_seq = analyze("attention-3pass", "seq=4096")
    assert by_ranks.point.ranks == by_seq.point.ranks
    assert by_ranks.ops == by_seq.ops
    assert by_ranks.compulsory_traffic_bytes == by_seq.compulsory_traffic_bytes
    assert by_ranks.point.params["seq"] == 1024  # the parameter itself is untouched


def test_set_one_rank_only():
    an = analyze("attention-3pass", "M=4096")  # 4K keys, 1K queries
    assert an.ops["mac"] == 2 * BH * 4096 * 1024 * E == 412_316_860_416
    assert an.live_footprint_bytes["M"] == 4096 * 2


def test_set_an_expression_of_parameters():
    an = analyze("attention-3pass", "seq=2^12")
    assert an.point.ranks["M"] == 4096


def test_set_chunk_of_one_pass():
    an = analyze("attention-1pass", "chunk=128")
    assert (an.point.ranks["M1"], an.point.ranks["M0"]) == (8, 128)  # 1024 / 128
    assert an.live_footprint_bytes["M0"] == 256  # 128 * 2 bytes
    assert an.ops["exp"] == BHMP + BH * 8 * SEQ  # SLN + PRM per chunk


def test_model_xlm():
    an = analyze("attention-3pass", model="xlm")  # E = F = 128, H = 16
    assert (an.point.ranks["E"], an.point.ranks["H"], an.point.ranks["B"]) == (128, 16, 64)
    assert an.ops["mac"] == 2 * 64 * 16 * 1024 * 1024 * 128 == 274_877_906_944
    assert an.ops["exp"] == 64 * 16 * 1024 * 1024 == 1_073_741_824
    assert an.model == "xlm"


def test_model_bert_is_the_default_shape():
    assert analyze("attention-3pass", model="bert").ops == analyze("attention-3pass").ops
    assert analyze("attention-3pass", model="BERT-Base").point.ranks["H"] == 12  # by label, any case


def test_set_wins_over_model():
    an = analyze("attention-3pass", "embed=32", model="xlm")
    assert (an.point.ranks["E"], an.point.ranks["H"]) == (32, 16)


# -- the symbolic forms agree with the numbers ------------------------------------------


@pytest.mark.parametrize("seq", [256, 1024, 4096, 65536])
def test_three_pass_formulas_at_several_lengths(seq):
    base = analyze("attention-3pass")
    at = analyze("attention-3pass", f"seq={seq}")
    for r_base, r_at in zip(base.einsums, at.einsums):
        assert at.value(r_base.points) == r_at.points_value
    assert at.value(einsum_result(base, "QK").points) == BH * E * seq * seq
    assert at.value(base.footprints["M"].bytes) == 2 * seq
    assert at.value(base.compulsory) == 4 * BH * seq * 64 * 2


@pytest.mark.parametrize("seq", [256, 1000, 1024, 4096])
def test_causal_formula_at_several_lengths(seq):
    formula = einsum_result(analyze("attention-causal-3pass"), "QK").points
    at = analyze("attention-causal-3pass", f"seq={seq}")
    assert at.value(formula) == points(at, "QK") == BH * E * seq * (seq + 1) // 2


@pytest.mark.parametrize("seq, window", [(4096, 512), (2048, 512), (8192, 256), (600, 512), (300, 512)])
def test_sliding_window_formula_at_several_points(seq, window):
    formula = einsum_result(analyze("attention-local-3pass"), "QK").points
    at = analyze("attention-local-3pass", f"seq={seq}", f"window={window}")
    w = min(window, seq - 1)  # a window wider than the sequence keeps every m <= p
    assert at.value(formula) == points(at, "QK") == BH * E * ((w + 1) * seq - w * (w + 1) // 2)


def test_formula_symbols_are_ranks_and_parameters():
    cascade = load("attention-local-3pass")
    formula = einsum_result(einsumx.analyze(cascade), "QK").points
    assert {s.name for s in formula.free_symbols} == {"B", "H", "E", "M", "P", "window"}
    # substituting by hand gives the same as analyze at that point
    subs = {s: {"B": 64, "H": 12, "E": 64, "M": 1024, "P": 1024, "window": 128}[s.name] for s in formula.free_symbols}
    assert int(formula.xreplace(subs)) == BH * E * (129 * 1024 - 128 * 129 // 2)


# -- band counts -----------------------------------------------------------------------


def test_band_points_examples():
    n = sympy.Symbol("n", positive=True, integer=True)
    assert sympy.simplify(band_points(n, n, None, 0) - n * (n + 1) / 2) == 0  # causal
    assert band_points(4, 4, None, 0) == 10        # 1 + 2 + 3 + 4
    assert band_points(4, 4, 0, 0) == 4            # the diagonal
    assert band_points(4, 4, None, None) == 16     # no bound: the box
    assert band_points(3, 5, 10, None) == 0        # u - v >= 10 is impossible
    assert bound_points(10, 2, 5) == 4             # u in 2..5
    assert bound_points(10, -3, None) == 10        # clamped to the box


def _brute_band(x, y, lo, hi):
    return sum(1 for u in range(x) for v in range(y)
               if (lo is None or u - v >= lo) and (hi is None or u - v <= hi))


bounds = st.one_of(st.none(), st.integers(-40, 40))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), bounds, bounds)
def test_band_points_equals_brute_force(x, y, lo, hi):
    assert int(band_points(x, y, lo, hi)) == _brute_band(x, y, lo, hi)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), bounds, bounds)
def test_bound_points_equals_brute_force(x, lo, hi):
    expected = sum(1 for u in range(x) if (lo is None or u >= lo) and (hi is None or u <= hi))
    assert int(bound_points(x, lo, hi)) == expected


FILTERED = """\
params: {seq: 16, W: 3}
ranks: {M: seq, P: seq}
tensors: {A: [M, P]}
where:
  - m <= p
  - p - W <= m
einsums: |
  Y[m,p] = A[m,p]
  Z[m,p] = A[m,p] where m <= p, p < 10
  X[p] = A[0,p] where p >= 2
outputs: [Y, Z, X]
"""


def test_filters_on_one_pair_combine_and_one_index_bounds_cut_the_band():
    an = einsumx.analyze(parse(FILTERED))
    points = {r.einsum.label: r.points_value for r in an.einsums}
    # Y: both workload filters, p - 3 <= m <= p: 1 + 2 + 3 + 4*13 = 58 of 256
    assert points["Y"] == 58
    # Z: the same band with p < 10: 1 + 2 + 3 + 4*7 = 34
    assert points["Z"] == 34
    # X has no m, so only its own bound applies: p in 2..15 is 14 points
    assert points["X"] == 14


def test_live_fiber_bytes_follow_density():
    # A is read in both passes; a 16-bit fiber of 1024 elements at density 1/4 is 512 bytes
    an = einsumx.analyze(parse("""\
params: {n: 1024}
ranks: {K: n}
tensors:
  A: {ranks: [K], density: 0.25}
  B: [K]
einsums: |
  Y = A[k] * B[k]
  Z[k] = Y * A[k]
outputs: [Z]
"""))
    assert an.live_footprint_bytes["K"] == 1024 * 2 // 4 == 512
    assert an.spill_traffic_bytes["K"] == 512  # one more read of A


def test_reading_a_final_running_value_inside_the_loop_is_a_second_pass():
    # RS runs over k; N divides every A[k] by the final RS[K] while still
    # iterating k, so it must wait for the whole first traversal.
    text = """\
params: {n: 8}
ranks:
  K: {size: n, iterative: true}
tensors: {A: [K]}
einsums: |
  RS[0]   = 0
  RS[k+1] = RS[k] + A[k]
  N[k]    = A[k] / RS[K]
"""
    an = einsumx.analyze(parse(text))
    assert an.passes == {"K": 2}
    assert an.pass_info["K"].reasons == [
        "pass 2: N (line 8) reads RS[K], the last value of what RS (line 7) streams in pass 1, "
        "so it is available only after pass 1"
    ]
    # Reading the running value of the same step instead keeps one pass
    one_pass = einsumx.analyze(parse(text.replace("RS[K]", "RS[k+1]")))
    assert one_pass.passes == {"K": 1}


def test_density_chain_passes_unary_minus_and_counts_a_repeated_access_once():
    text = """\
params: {n: 1000}
ranks: {K: n, J: n}
tensors:
  S: {ranks: [K], density: 0.1}
  W: [K, J]
einsums: |
  Y[j] = %s
"""
    # K*J = 10^6 MACs at density 0.1 -> 100,000 effective
    assert einsumx.analyze(parse(text % "-S[k] * W[k,j]")).ops_effective["mac"] == 100_000
    # S[k]*S[k] is nonzero where S[k] is: still 0.1, not 0.01 (2 products per point: mul + mac)
    an = einsumx.analyze(parse(text % "S[k] * S[k] * W[k,j]"))
    assert an.ops == {"mac": 1_000_000, "mul": 1_000_000}
    assert an.ops_effective == {"mac": 100_000, "mul": 100_000}


def test_one_index_bound_narrows_the_live_fiber():
    # QK is written only for m < 100, so one live M fiber is 100 x 2 bytes
    an = einsumx.analyze(parse("""\
params: {seq: 1024}
ranks: {M: seq, P: seq, E: 64}
tensors: {Q: [E, P], K: [E, M]}
where: m < 100
einsums: |
  QK[m,p] = Q[e,p] * K[e,m]
  GM[p] = max(m: QK[m,p])
  SN[m,p] = exp(QK[m,p] - GM[p])
"""))
    assert an.passes["M"] == 2
    assert an.live_footprint_bytes["M"] == 200
    assert an.spill_traffic_bytes["M"] == 2 * 100 * 1024 * 2  # write + read of 100 x 1024 elements


def test_model_is_reported_by_its_preset_key():
    assert analyze("attention-3pass", model="BERT-Base").model == "bert"
