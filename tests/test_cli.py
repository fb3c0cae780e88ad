"""The command line: ``einsumx analyze | operators | models``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from einsumx.cli import main

from conftest import ROOT, workload_path

THREE_PASS = str(workload_path("attention-3pass"))

BAD = """\
ranks: {E: 4, M: 8, P: 8}
tensors: {Q: [E, P], K: [E, M]}
einsums: |
  QK[m,p] = Q[e,p] * Kx[e,m]
"""


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_analyze_prints_the_table_and_the_pass_reasons(capsys):
    code, out, err = run(capsys, "analyze", THREE_PASS)
    assert code == 0
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"attention-3pass  ({THREE_PASS})"
    assert "parameters: batch=64 heads=12 embed=64 seq=1024" in lines
    assert "ranks:      B=64 H=12 M=1024 P=1024 E=64 F=64" in lines
    assert "  M: 3" in lines
    assert ("      pass 2: SN (line 31) reads GM[p]; GM (line 30) takes the max over m of QK, "
            "which streams in pass 1, so it is complete only after pass 1") in lines
    assert ("      pass 3: A (line 33) reads SD[p]; SD (line 32) takes the sum over m of SN, "
            "which streams in pass 2, so it is complete only after pass 2") in lines
    assert "  B, H, P, E, F: 1" in lines
    # the total MACs, 2*B*H*M*P*E, with thousands separators
    total = next(line for line in lines if line.split()[:1] == ["total"])
    assert total.split()[1] == "103,079,215,104"
    assert "Compulsory traffic: 384 MiB (402,653,184 B): Q read 96.0 MiB, K read 96.0 MiB, V read 96.0 MiB, AV write 96.0 MiB" in lines
    assert "  M: live footprint >= 2,048 B per fiber (2*M B), or 6.00 GiB extra traffic" in lines


def test_analyze_json(capsys):
    code, out, err = run(capsys, "analyze", THREE_PASS, "--json")
    assert code == 0
    data = json.loads(out)  # exactly one JSON object
    assert isinstance(data, dict)
    assert {"passes", "ops", "compulsory_traffic_bytes", "live_footprint_bytes", "einsums"} <= set(data)
    assert data["passes"] == {"B": 1, "H": 1, "M": 3, "P": 1, "E": 1, "F": 1}
    assert data["ops"] == {
        "mac": 103_079_215_104,  # 2 * 768 * 1024 * 1024 * 64
        "add": 1_610_612_736,    # 2 * 768 * 1024 * 1024
        "div": 805_306_368,
        "max": 805_306_368,
        "exp": 805_306_368,
    }
    assert all(k == k.lower() for k in data["ops"])
    assert data["compulsory_traffic_bytes"] == 402_653_184
    assert data["live_footprint_bytes"]["M"] == 2048
    assert [e["label"] for e in data["einsums"]] == ["QK", "GM", "SN", "SD", "A", "AV"]
    assert data["einsums"][0]["points"] == 51_539_607_552  # 768 * 1024 * 1024 * 64
    assert data["einsums"][0]["line"] == 29


def test_bad_workload_exits_2_with_a_compiler_style_message(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    code, out, err = run(capsys, "analyze", str(bad))
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    # 'Kx' is at offset 19 of the statement, which starts at column 3
    assert lines[0] == f"{bad}:4:22: unknown tensor 'Kx'"
    assert lines[1] == "      QK[m,p] = Q[e,p] * Kx[e,m]"
    assert lines[2] == "                         ^"


def test_missing_file_exits_2(capsys, tmp_path):
    missing = tmp_path / "nope.yaml"
    code, out, err = run(capsys, "analyze", str(missing))
    assert code == 2
    assert err.splitlines()[0] == f"{missing}: cannot read workload: No such file or directory"


def test_set_seq(capsys):
    code, out, _ = run(capsys, "analyze", THREE_PASS, "--json", "--set", "seq=4096")
    assert code == 0
    data = json.loads(out)
    assert data["params"]["seq"] == 4096
    assert data["ranks"]["M"] == data["ranks"]["P"] == 4096
    assert data["ops"]["mac"] == 2 * 768 * 4096 * 4096 * 64 == 1_649_267_441_664
    assert data["live_footprint_bytes"]["M"] == 8192  # 4096 * 2 bytes


def test_set_two_ranks_at_once(capsys):
    code, out, _ = run(capsys, "analyze", THREE_PASS, "--json", "--set", "M=4096", "P=4096")
    assert code == 0
    data = json.loads(out)
    assert (data["ranks"]["M"], data["ranks"]["P"]) == (4096, 4096)
    assert data["params"]["seq"] == 1024
    assert data["ops"]["exp"] == 768 * 4096 * 4096 == 12_884_901_888


def test_set_repeated_flag(capsys):
    code, out, _ = run(capsys, "analyze", THREE_PASS, "--json", "--set", "M=4096", "--set", "P=2048")
    assert code == 0
    data = json.loads(out)
    assert (data["ranks"]["M"], data["ranks"]["P"]) == (4096, 2048)


def test_set_unknown_name_exits_2(capsys):
    code, out, err = run(capsys, "analyze", THREE_PASS, "--set", "sequ=4096")
    assert code == 2
    assert err.splitlines()[0] == (
        "--set:1:1: --set sequ=4096: no parameter or rank named 'sequ' (known: batch, heads, embed, seq, B, H, M, P, E, F)"
    )


def test_model_bert(capsys):
    code, out, _ = run(capsys, "analyze", THREE_PASS, "--model", "bert")
    assert code == 0
    assert out.splitlines()[0] == f"attention-3pass  ({THREE_PASS})  model: bert"
    assert "parameters: batch=64 heads=12 embed=64 seq=1024" in out.splitlines()


def test_model_xlm_json(capsys):
    code, out, _ = run(capsys, "analyze", THREE_PASS, "--model", "xlm", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["model"] == "xlm"
    assert (data["ranks"]["E"], data["ranks"]["H"]) == (128, 16)
    assert data["ops"]["mac"] == 2 * 64 * 16 * 1024 * 1024 * 128


def test_unknown_model_exits_2(capsys):
    code, _, err = run(capsys, "analyze", THREE_PASS, "--model", "gpt2")
    assert code == 2
    assert err.splitlines()[0] == (
        "--model: unknown model 'gpt2' (known: bert (BERT-Base), trxl (TrXL-wt103), t5 (T5-small (encoder)), xlm (XLM))"
    )


def test_warning_goes_to_stderr(capsys, tmp_path):
    wl = tmp_path / "warn.yaml"
    wl.write_text("ranks: {K: 4}\ntensors: {A: [K]}\neinsums: |\n  X[k] = A[k]\n  Y[k] = A[k]\noutputs: [Y]\n")
    code, out, err = run(capsys, "analyze", str(wl))
    assert code == 0
    assert err.splitlines()[0] == f"{wl}:4:3: warning: 'X' is computed but never used (not listed in outputs:)"
    assert out.startswith("warn  (")


def test_operators(capsys):
    code, out, _ = run(capsys, "operators")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert rows["exp"][1:3] == ["map/1", "exp"]
    assert rows["max"][1] == "map/2"
    assert rows["*"][1:3] == ["map/2", "mul"]
    assert rows["sigmoid"][2:7] == ["exp", "+", "add", "+", "div"]
    assert rows["sum(i:"][1:4] == ["...)", "reduce", "add"]
    assert rows["max(i:"][1:4] == ["...)", "reduce", "max"]


def test_models(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert out.splitlines() == [
        "bert  BERT-Base            batch=64 d_model=768 heads=12 embed=64 ffn=3072",
        "trxl  TrXL-wt103           batch=64 d_model=1024 heads=16 embed=64 ffn=4096",
        "t5    T5-small (encoder)   batch=64 d_model=512 heads=8 embed=64 ffn=2048",
        "xlm   XLM                  batch=64 d_model=2048 heads=16 embed=128 ffn=8192",
    ]


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_console_entry_point_on_a_bad_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    proc = subprocess.run(
        [sys.executable, "-m", "einsumx.cli", "analyze", str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines()[0] == f"{bad}:4:22: unknown tensor 'Kx'"
    assert "Traceback" not in proc.stderr


def test_console_entry_point_on_a_good_file():
    proc = subprocess.run(
        [sys.executable, "-m", "einsumx.cli", "analyze", "workloads/toy-2pass.yaml", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert data["passes"] == {"K": 2}
    assert data["ops"] == {"mac": 1024, "mul": 1024}
