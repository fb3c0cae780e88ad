"""The HTML/Markdown report and its sequence-length plot."""

from pathlib import Path

import pytest

import einsumx
from einsumx import EinsumxError
from einsumx.report.html import write_report
from einsumx.report.plots import SEQS, footprint_series

WORKLOADS = Path(__file__).resolve().parent.parent / "workloads"
THREE_PASS = str(WORKLOADS / "attention-3pass.yaml")
ONE_PASS = str(WORKLOADS / "attention-1pass.yaml")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    index = write_report([THREE_PASS, ONE_PASS], out)
    return out, index


def test_files_written(report):
    out, index = report
    assert index == out / "index.html"
    assert index.exists()
    assert (out / "report.md").exists()


def test_markdown_has_pass_reason_and_mac_total(report):
    out, _ = report
    md = (out / "report.md").read_text()
    reasons = einsumx.analyze(einsumx.load_workload(THREE_PASS)).pass_info["M"].reasons
    pass3 = next(r for r in reasons if r.startswith("pass 3:"))
    assert pass3 in md
    assert f"{2 * 64 * 12 * 1024 * 1024 * 64:,}" == "103,079,215,104"
    assert "103,079,215,104" in md


def test_png_written_linked_and_embedded(report):
    out, index = report
    png = out / "attention-3pass.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](attention-3pass.png)" in (out / "report.md").read_text()
    assert '<img alt="attention-3pass" src="data:image/png;base64,' in index.read_text()


def test_three_pass_footprint_is_two_bytes_per_token():
    an = einsumx.analyze(einsumx.load_workload(THREE_PASS))
    series = footprint_series(an, SEQS)
    assert series.seqs == [1024, 4096, 16384, 65536, 262144, 1048576]
    assert series.footprint["M"] == [2048, 8192, 32768, 131072, 524288, 2097152]
    # QK and SN spilled: each written once and read once more, 2 bytes each.
    assert series.spill["M"] == [8 * 64 * 12 * n * n for n in SEQS]
    assert series.compulsory == [4 * 2 * 64 * 12 * 64 * n for n in SEQS]


def test_invalid_seq_is_skipped():
    an = einsumx.analyze(einsumx.load_workload(ONE_PASS))
    series = footprint_series(an, [1000, 1024])  # 1000 is not a multiple of the 256-key chunk
    assert series.seqs == [1024]
    assert [n for n, _ in series.skipped] == [1000]


def test_no_seq_parameter_no_series():
    an = einsumx.analyze(einsumx.load_workload(str(WORKLOADS / "toy-2pass.yaml")))
    assert footprint_series(an) is None


def test_bad_workload_path_raises(tmp_path):
    with pytest.raises(EinsumxError, match="cannot read workload"):
        write_report([str(tmp_path / "missing.yaml")], tmp_path / "out")


def test_user_text_is_escaped(tmp_path):
    bad = tmp_path / "x.yaml"
    text = (WORKLOADS / "toy-2pass.yaml").read_text()
    bad.write_text(text.replace("description: >", "description: >\n  <script>alert(1)</script>"))
    index = write_report([str(bad)], tmp_path / "out")
    page = index.read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_no_valid_seq_no_plot(tmp_path):
    from einsumx.ir.values import parse_overrides

    overrides = parse_overrides(["seq=3000", "chunk=1000"])  # no power-of-two seq splits into 1000-key chunks
    write_report([ONE_PASS], tmp_path, overrides=overrides)
    assert not (tmp_path / "attention-1pass.png").exists()
    md = (tmp_path / "report.md").read_text()
    assert "No plot: no swept `seq` value is valid" in md
    assert "`seq=1024` skipped: rank 'M1' has non-integer size M / M0 = 128/125" in md


@pytest.mark.parametrize("n, text", [
    (10_239, "10,239 B"),           # exact below 10 KiB
    (10_240, "10.0 KiB"),
    (102_389, "100 KiB"),           # 99.99 KiB rounds to three digits
    (1_048_575, "1.00 MiB"),        # not "1024 KiB"
    (10_484_711, "10.0 MiB"),       # not "10.00 MiB"
    (3 * 2**40, "3.00 TiB"),
])
def test_human_bytes_at_unit_edges(n, text):
    from einsumx.report.text import human_bytes

    assert human_bytes(n) == text
