"""Validation of workloads: one bad workload per check, with the exact
message and where it points (line, and column where it means something).

Columns are 1-based; in an ``einsums: |`` block the statement text starts at
column 3, so an error at offset k of the statement is at column 3 + k.
"""

from __future__ import annotations

import pytest

import einsumx
from einsumx import EinsumxError
from einsumx.ir.values import parse_overrides

from conftest import load, parse, parse_error

# (id, workload text, message, line, column or None when not meaningful)
BAD_WORKLOADS = [
    (
        "invalid YAML",
        """\
        ranks: {K: 4
        einsums: "Y = A[k]"
        """,
        "invalid YAML: expected ',' or '}', but got ':'",
        2, 8,  # the flow mapping is still open when 'einsums:' comes
    ),
    (
        "empty file",
        "",
        "empty workload file",
        1, 1,
    ),
    (
        "workload is not a mapping",
        "- ranks\n- einsums\n",
        "the workload must be a mapping of names to values",
        1, 1,
    ),
    (
        "YAML alias that contains itself",
        "ranks: &r {K: *r}\neinsums: 'Y = 1'\n",
        "invalid YAML: nested too deeply",
        1, 1,
    ),
    (
        "YAML nested deeper than the parser's stack",
        "ranks: " + "[" * 3000 + "]" * 3000 + "\n",
        "invalid YAML: nested too deeply",
        1, 1,
    ),
    (
        "duplicate key",
        """\
        ranks: {K: 4}
        ranks: {K: 8}
        einsums: "Y = 1"
        """,
        "duplicate key 'ranks'",
        2, 1,
    ),
    (
        "unknown top-level key",
        """\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsum: "Y = A[k]"
        """,
        "unknown key 'einsum' in workload (expected one of: name, description, params, ranks, outer, bits, tensors, einsums, where, outputs)",
        3, 1,
    ),
    (
        "missing ranks",
        """\
        tensors: {A: [K]}
        einsums: "Y = A[k]"
        """,
        "missing 'ranks:' (ranks and their sizes)",
        1, 1,
    ),
    (
        "missing einsums",
        """\
        ranks: {K: 4}
        tensors: {A: [K]}
        """,
        "missing 'einsums:' (the cascade, one Einsum per line)",
        1, 1,
    ),
    (
        "empty einsums",
        """\
        ranks: {K: 4}
        einsums: |
          # nothing yet
        """,
        "'einsums:' is empty",
        2, 10,
    ),
    (
        "unknown key in a rank",
        """\
        ranks:
          K: {size: 4, iterate: true}
        einsums: "Y = 1"
        """,
        "unknown key 'iterate' in rank 'K' (expected one of: size, iterative, stop, split)",
        2, 16,
    ),
    (
        "rank name not capitalised",
        """\
        ranks: {k: 4}
        einsums: "Y = 1"
        """,
        "invalid rank name 'k': names must start with an uppercase letter and not be one of ['and', 'inf', 'where']",
        1, 9,
    ),
    (
        "unknown tensor",
        """\
        ranks: {E: 4, M: 8, P: 8}
        tensors: {Q: [E, P], K: [E, M]}
        einsums: |
          QK[m,p] = Q[e,p] * Kx[e,m]
        """,
        "unknown tensor 'Kx'",
        4, 22,  # 'Kx' is at offset 19 of the statement
    ),
    (
        "unknown index",
        """\
        ranks: {E: 4, M: 8, P: 8}
        tensors: {Q: [E, P], K: [E, M]}
        einsums: |
          QK[m,p] = Q[e,p] * K[e,n]
        """,
        "unknown index 'n': no rank named 'N'",
        4, 26,  # 'n' is at offset 23
    ),
    (
        "unknown rank in a tensor declaration",
        """\
        ranks: {E: 4, M: 8}
        tensors:
          K: [E, N]
        einsums: "Y = K[e,m]"
        """,
        "unknown rank 'N' in tensor 'K'",
        3, 10,
    ),
    (
        "wrong number of indices",
        """\
        ranks: {E: 4, M: 8, P: 8}
        tensors: {Q: [E, P], K: [E, M]}
        einsums: |
          QK[m,p] = Q[e,p] * K[m]
        """,
        "'K' has 2 ranks [E, M] but is indexed with 1",
        4, 22,
    ),
    (
        "index of rank M at a position of rank P",
        """\
        ranks: {E: 4, M: 8, P: 8}
        tensors: {Q: [E, P], K: [E, M]}
        einsums: |
          QK[m,p] = Q[e,m] * K[e,m]
        """,
        "index 'm' (rank M) used at position 2 of 'Q', which is rank P",
        4, 17,  # the 'm' of Q[e,m] is at offset 14
    ),
    (
        "output written with the wrong rank",
        """\
        ranks: {E: 4, M: 8, P: 8}
        tensors: {Q: [E, P], K: [E, M], QK: [M, P]}
        einsums: |
          QK[p,m] = Q[e,p] * K[e,m]
        """,
        "index 'p' (rank P) written at position 1 of 'QK', which is rank M",
        4, 6,
    ),
    (
        "tensor written twice",
        """\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: |
          Y = A[k]
          Y = A[k] * 2
        """,
        "tensor 'Y' is written twice: here and on line 4 ('Y = A[k]')",
        5, 3,
    ),
    (
        "cycle between Einsums",
        """\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: |
          X[k] = A[k] + Y[k]
          Y[k] = exp(X[k])
        """,
        "cycle: X (line 4) -> Y (line 5) -> X (line 4)",
        4, 3,
    ),
    (
        "recurrence on a rank that is not iterative",
        """\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: |
          Y[k] = Y[k] + A[k]
        """,
        "'Y[k]' reads 'Y', which this Einsum writes (a recurrence needs an iterative rank: declare it with 'iterative: true')",
        4, 10,
    ),
    (
        "non-integer rank size (seq=1000, chunks of 256)",
        """\
        params: {seq: 1000, chunk: 256}
        ranks:
          M: {size: seq, split: [M1, M0]}
          M1: M / M0
          M0: chunk
        tensors: {K: [M]}
        einsums: |
          BK[m1,m0] = K[m1*M0+m0]
        """,
        "rank 'M1' has non-integer size M / M0 = 125/32 (with seq=1000, chunk=256)",  # 1000/256 = 125/32
        4, 7,
    ),
    (
        "non-positive rank size (parameter)",
        """\
        params: {seq: 0}
        ranks: {M: seq}
        tensors: {K: [M]}
        einsums: "Y = K[m]"
        """,
        "rank 'M' has non-positive size seq = 0 (with seq=0)",
        2, 12,
    ),
    (
        "non-positive rank size (literal)",
        """\
        ranks:
          M: 4 - 6
        tensors: {K: [M]}
        einsums: "Y = K[m]"
        """,
        "rank 'M' has non-positive size 4 - 6 = -2",
        2, 6,
    ),
    (
        "split that does not multiply out",
        """\
        params: {seq: 1000}
        ranks:
          M: {size: seq, split: [M1, M0]}
          M1: 4
          M0: 256
        tensors: {K: [M]}
        einsums: |
          BK[m1,m0] = K[m1*M0+m0]
        """,
        "rank 'M' = 1000 is not split exactly into M1=4 x M0=256 (product 1024)",  # 4 * 256 = 1024
        3, 13,
    ),
    (
        "split into an unknown rank",
        """\
        ranks:
          M: {size: 8, split: [M1, M9]}
          M1: 2
        einsums: "Y = 1"
        """,
        "rank 'M' is split into unknown rank 'M9'",
        2, 28,
    ),
    (
        "size defined in a circle",
        """\
        params: {a: b, b: a}
        ranks: {K: a}
        einsums: "Y = 1"
        """,
        "circular definition: a -> b -> a",
        1, 10,  # at the parameter 'a'
    ),
    (
        "unknown operator",
        """\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: |
          Y[k] = softmax(A[k])
        """,
        "unknown operator 'softmax' (known: exp, log, sqrt, rsqrt, recip, max, min, abs, relu, heaviside, sigmoid, silu, softplus, tanh, gelu)",
        4, 10,
    ),
    (
        "unknown reduction",
        """\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: |
          Y = mean(k: A[k])
        """,
        "unknown reduction 'mean' (known: sum, max, min, prod)",
        4, 7,
    ),
    (
        "wrong arity: exp of two",
        """\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: |
          Y[k] = exp(A[k], A[k])
        """,
        "'exp' takes 1 argument, got 2",
        4, 10,
    ),
    (
        "wrong arity: max of one (a map, not a reduction)",
        """\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: |
          Y[k] = max(A[k])
        """,
        "'max' takes 2 arguments, got 1",
        4, 10,
    ),
    (
        "reduction not at the top",
        """\
        ranks: {K: 4, M: 4}
        tensors: {A: [K, M]}
        einsums: |
          Y[m] = 2 * max(k: A[k,m])
        """,
        "reduction 'max(...: ...)' must be the whole right-hand side; split it into its own Einsum",
        4, 14,
    ),
    (
        "index reduced but not listed",
        """\
        ranks: {K: 4, M: 4}
        tensors: {A: [K, M]}
        einsums: |
          Y = max(m: A[k,m])
        """,
        "index 'k' is reduced but not listed in max(m: ...)",
        4, 7,
    ),
    (
        "reduced index also kept in the output",
        """\
        ranks: {K: 4, M: 4}
        tensors: {A: [K, M]}
        einsums: |
          Y[m] = max(k, m: A[k,m])
        """,
        "index 'm' is reduced but also kept in the output",
        4, 17,
    ),
    (
        "reduction over an index no input uses",
        """\
        ranks: {K: 4, M: 4}
        tensors: {A: [K]}
        einsums: |
          Y = max(k, m: A[k])
        """,
        "'max' reduces over 'm', which no input uses",
        4, 14,
    ),
    (
        "reading ahead in a recurrence",
        """\
        ranks:
          K: {size: 4, iterative: true}
        tensors: {A: [K]}
        einsums: |
          R[0]   = 0
          R[k+1] = R[k+2] + A[k]
        """,
        "'R[k + 2]' reads ahead of where 'R' is written ('R[k + 1]', line 6)",
        6, 12,
    ),
    (
        "step on a rank that is not iterative",
        """\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: |
          R[0]   = 0
          R[k+1] = R[k] + A[k]
        """,
        "'k + 1' steps along rank K, which is not iterative (declare it with 'iterative: true')",
        5, 5,  # at the start of k+1 (offset 2)
    ),
    (
        "read outside a tensor",
        """\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: "Y = A[k + 1]"
        """,
        "'A[k + 1]' reads A along rank K from 1 to 4, outside 0..3 (its size)",  # k runs 0..3
        3, 15,
    ),
    (
        "unsupported filter",
        """\
        ranks: {M: 4, P: 4}
        tensors: {A: [M, P]}
        einsums: |
          Y[m,p] = A[m,p] where 2*m <= p
        """,
        "unsupported filter: each comparison must bound one index, or the difference of two (like 'm <= p' or 'p - W <= m')",
        4, 25,  # the start of the comparison, '2*m' at offset 22
    ),
    (
        "filter on an index the Einsum does not have",
        """\
        ranks: {M: 4, P: 4, Q: 4}
        tensors: {A: [M, P]}
        einsums: |
          Y[m,p] = A[m,p] where q <= m
        """,
        "filter uses 'q', which is not an index of this Einsum",
        4, 25,  # the start of the comparison
    ),
    (
        "filter without an index",
        """\
        ranks: {M: 4}
        tensors: {A: [M]}
        einsums: |
          Y[m] = A[m] where 1 <= 2
        """,
        "filter '1 <= 2' has no index",
        4, 21,  # the start of the comparison
    ),
    (
        "parameter named like an index",
        """\
        params: {m: 3}
        ranks: {M: 4}
        tensors: {A: [M]}
        einsums: "Y[m] = A[m]"
        """,
        "parameter 'm' has the name of the index of rank 'M'",
        1, 10,
    ),
    (
        "name that is both a parameter and a rank",
        """\
        params: {M: 3}
        ranks: {M: 4}
        einsums: "Y = 1"
        """,
        "'M' is both a parameter and a rank",
        2, 12,
    ),
    (
        "output that nobody writes",
        """\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: "Y = A[k]"
        outputs: [Z]
        """,
        "output 'Z' is not written by any Einsum",
        4, 11,
    ),
]


@pytest.mark.parametrize("text, message, line, col", [c[1:] for c in BAD_WORKLOADS], ids=[c[0] for c in BAD_WORKLOADS])
def test_bad_workload(text, message, line, col):
    err = parse_error(text)
    assert err.message == message
    assert err.origin.file == "t.yaml"
    assert err.origin.line == line
    if col is not None:
        assert err.origin.col == col


def test_error_text_shows_the_line_and_a_caret():
    err = parse_error("""\
        ranks: {E: 4, M: 8, P: 8}
        tensors: {Q: [E, P], K: [E, M]}
        einsums: |
          QK[m,p] = Q[e,p] * Kx[e,m]
        """)
    assert str(err) == (
        "t.yaml:4:22: unknown tensor 'Kx'\n"
        "      QK[m,p] = Q[e,p] * Kx[e,m]\n"
        "                         ^"
    )


def test_unused_output_is_a_warning_not_an_error():
    cascade = parse("""\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: |
          X[k] = A[k] * 2
          Y[k] = A[k] + 1
        outputs: [Y]
        """)
    assert [w.message for w in cascade.warnings] == ["'X' is computed but never used (not listed in outputs:)"]
    w = cascade.warnings[0]
    assert (w.origin.line, w.origin.col) == (4, 3)
    assert str(w).startswith("t.yaml:4:3: warning: 'X' is computed but never used")
    assert cascade.outputs == ("Y",)


def test_shipped_workloads_have_no_warnings():
    for name in ("attention-1pass", "attention-2pass", "attention-3pass", "attention-causal-1pass",
                 "attention-causal-3pass", "attention-local-3pass", "toy-1pass-iterative",
                 "toy-1pass-reassociated", "toy-2pass", "toy-2pass-sum"):
        assert load(name).warnings == (), name


# -- errors at analysis time: --set and --model ---------------------------------


def test_set_of_an_unknown_name():
    cascade = load("attention-3pass")
    with pytest.raises(EinsumxError) as info:
        einsumx.analyze(cascade, overrides=parse_overrides(["sequ=4096"]))
    err = info.value
    assert err.message == "--set sequ=4096: no parameter or rank named 'sequ' (known: batch, heads, embed, seq, B, H, M, P, E, F)"
    assert err.origin.file == "--set"


def test_set_without_a_value():
    with pytest.raises(EinsumxError) as info:
        parse_overrides(["seq"])
    assert info.value.message == "--set expects NAME=VALUE, got 'seq'"


def test_set_with_a_syntax_error_points_into_the_value():
    with pytest.raises(EinsumxError) as info:
        parse_overrides(["seq=4096*"])
    err = info.value
    # 'seq=' is 4 characters: the value '4096*' is columns 5..9, its end column 10
    assert err.message == "unexpected end of text: expected an expression"
    assert (err.origin.file, err.origin.line, err.origin.col) == ("--set", 1, 10)


def test_set_that_makes_a_size_non_integer():
    cascade = load("attention-1pass")
    with pytest.raises(EinsumxError) as info:
        einsumx.analyze(cascade, overrides=parse_overrides(["seq=1000"]))
    # M1 = M / M0 = 1000 / 256 = 125/32; the message lists every parameter
    assert info.value.message == (
        "rank 'M1' has non-integer size M / M0 = 125/32 (with batch=64, heads=12, embed=64, seq=1000, chunk=256)"
    )
    assert info.value.origin.line == 20


def test_unknown_model_preset():
    with pytest.raises(EinsumxError) as info:
        einsumx.analyze(load("attention-3pass"), model="gpt2")
    assert info.value.message == (
        "unknown model 'gpt2' (known: bert (BERT-Base), trxl (TrXL-wt103), t5 (T5-small (encoder)), xlm (XLM))"
    )
    assert info.value.origin.file == "--model"


def test_model_preset_that_sets_nothing_of_the_workload():
    with pytest.raises(EinsumxError) as info:
        einsumx.analyze(load("toy-2pass"), model="bert")
    assert info.value.message == (
        "model 'bert' sets none of this workload's parameters (n); it sets batch, d_model, heads, embed, ffn"
    )


# -- inputs that once escaped the checks ---------------------------------------


def test_infinite_index_is_an_error():
    err = parse_error("""\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: "Y = A[inf]"
        """)
    assert err.message == "index 'inf' must be finite"
    assert (err.origin.line, err.origin.col) == (3, 17)


def test_non_integer_index_is_an_error():
    err = parse_error("""\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: "Y[k] = A[0.5]"
        """)
    assert err.message == "index '0.5' must be an integer expression"


def test_name_must_be_a_string():
    err = parse_error("""\
        name: [1, 2]
        ranks: {K: 4}
        einsums: "Y = 1"
        """)
    assert err.message == "'name' must be a string"
    assert err.origin.line == 1


def test_infinite_filter_bound_message_names_the_problem():
    err = parse_error("""\
        ranks: {K: 4}
        tensors: {A: [K]}
        einsums: "Y[k] = A[k] where k <= inf"
        """)
    assert err.message == "filter 'k <= inf' has an infinite bound (leave the side open instead)"


def test_global_filter_that_matches_no_einsum_is_a_warning():
    cascade = parse("""\
ranks: {M: 4, P: 4, Q: 4}
tensors: {A: [M, P]}
where: m <= q
einsums: "Y[m,p] = A[m,p]"
""")
    assert [w.message for w in cascade.warnings] == ["filter 'm <= q' applies to no Einsum (none has all its indices)"]
    assert cascade.warnings[0].origin.line == 3


def test_declared_tensor_never_used_is_a_warning():
    cascade = parse("""\
ranks: {K: 4}
tensors: {A: [K], B: [K]}
einsums: "Y = A[k]"
""")
    assert [w.message for w in cascade.warnings] == ["tensor 'B' is declared but never used"]
    assert cascade.warnings[0].origin.line == 2


@pytest.mark.parametrize("size, message", [
    ("2001-12-25", "the size of rank 'K' must be a number or an expression"),  # a YAML date, not 2001 - 12 - 25
    ("-4", "rank 'K' has non-positive size -4"),
    ("0", "rank 'K' has non-positive size 0"),
    ("'\u0661'", "unexpected character '\u0661'"),  # an Arabic-Indic digit is not a number here
])
def test_sizes_that_are_not_positive_integers(size, message):
    err = parse_error(f"ranks: {{K: {size}}}\ntensors: {{A: [K]}}\neinsums: 'Y = A[k]'\n")
    assert err.message == message
    assert err.origin.line == 1


@pytest.mark.parametrize("text, message, line, col", [
    ('ranks: {K: {size: 4, stop: k >= 5}}\ntensors: {A: [K]}\neinsums: "Y = A[k]"\n',
     "rank 'K' stops at 5 but has size 4", 1, 28),  # at the stopping bound
    ("ranks: {K: 4}\ntensors: {A: [K]}\neinsums:\n  - Y = max(k: A[k])\n",
     "each entry of 'einsums' must be a string: YAML reads 'a: b' as a mapping, so quote entries that "
     "contain ': ' (e.g. a reduction), or write them as a block ('einsums: |')", 4, 5),
    ("ranks: {K: 4}\ntensors: {A: [K]}\neinsums: >\n  Y = A[k]\n  Z = A[k]\n",
     "write 'einsums' as a literal block ('|'), which keeps one statement per line; '>' folds the lines into one",
     3, 10),
    ('ranks: {K: 4, P: 4}\ntensors: {A: [K], p: [K]}\neinsums: "Y = A[k]"\n',
     "tensor 'p' has the name of the index of rank 'P'", 2, 19),
    ('ranks: {K: 4}\ntensors: {A: [K]}\neinsums: "k = A[k]"\n',
     "cannot write 'k': it is the index of rank 'K'", 3, 11),
    ('ranks: {K: 4}\ntensors: {A: [K]}\neinsums: "Y[k,k] = A[k]"\n',
     "index 'k' appears twice in the output", 3, 15),  # the second k
    ('ranks: {M: 4, P: 4, Q: 4}\ntensors: {A: [M, P, Q]}\neinsums: "Y[m,p,q] = A[m,p,q] where m <= p, m <= q"\n',
     "unsupported filter: index 'm' is compared with both 'p' and 'q'", 3, 45),  # the second comparison
])
def test_more_bad_workloads(text, message, line, col):
    err = parse_error(text)
    assert err.message == message
    assert (err.origin.line, err.origin.col) == (line, col)


def test_disjoint_filtered_writes_are_not_written_twice():
    # H is written for p in 0..3 by one Einsum and for p in 4..15 by the other
    cascade = parse("""\
params: {seq: 16}
ranks: {M: seq, P: seq}
tensors: {A: [M, P]}
einsums: |
  H[m,p] = A[m,p] where p < 4
  H[m,p] = A[m,p] + 1 where p >= 4
""")
    assert [e.label for e in cascade.einsums] == ["H (line 5)", "H (line 6)"]
    overlapping = """\
params: {seq: 16}
ranks: {M: seq, P: seq}
tensors: {A: [M, P]}
einsums: |
  H[m,p] = A[m,p] where p < 5
  H[m,p] = A[m,p] + 1 where p >= 4
"""
    assert parse_error(overlapping).message.startswith("tensor 'H' is written twice")


def test_filters_on_a_split_index_and_its_part_are_rejected_not_dropped():
    err = parse_error("""\
params: {seq: 16}
ranks:
  M: {size: seq, split: [M1, M0]}
  M1: M / M0
  M0: 4
tensors: {A: [M]}
einsums: |
  Y[m1,m0] = A[m1*M0+m0] where m < 8, m1 < 1
""")
    assert err.message == "unsupported filter: 'm1' and 'm' both constrain rank M; filter on one of them"
    assert (err.origin.line, err.origin.col) == (8, 39)  # the second comparison, m1 < 1


def test_set_value_errors_point_into_the_value():
    cascade = parse("params: {seq: 8}\nranks: {K: seq}\ntensors: {A: [K]}\neinsums: 'Y = A[k]'\n")
    with pytest.raises(EinsumxError) as info:
        einsumx.analyze(cascade, overrides=parse_overrides(["seq=4*foo"]))
    assert info.value.message == "unknown name 'foo' in a size expression"
    assert info.value.origin.col == 7  # s=1 e=2 q=3 '='=4 '4'=5 '*'=6 'f'=7


def test_constant_output_positions_are_not_repeated_indices():
    cascade = parse("""\
ranks: {K: 4, J: 4}
tensors:
  X: [K, J]
  A: [K, J]
einsums: |
  X[0,0] = 1
  Y[k,j] = A[k,j] + X[0,0]
""")
    assert [e.label for e in cascade.einsums] == ["X", "Y"]
