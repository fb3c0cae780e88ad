"""einsumx dashboard (Streamlit). Run: streamlit run app.py

For now one page: pick a shipped workload and a sequence length and read
its static analysis. Design-space sweeps and Pareto views come with the
sweep issue.
"""

from pathlib import Path

import streamlit as st

import einsumx
from einsumx.ir.values import parse_overrides
from einsumx.report.text import render

ROOT = Path(__file__).resolve().parent

st.set_page_config(page_title="einsumx", layout="wide")
st.title("einsumx: static analysis of Einsum cascades")

paths = sorted((ROOT / "workloads").glob("*.yaml"))
path = st.selectbox("workload", paths, format_func=lambda p: p.stem)
try:
    cascade = einsumx.load_workload(path)
    sets = []
    if "seq" in cascade.params:
        exp = st.select_slider("sequence length (tokens)", options=list(range(10, 21, 2)), value=10,
                               format_func=lambda e: f"{2 ** e:,}")
        sets.append(f"seq={2 ** exp}")
    analysis = einsumx.analyze(cascade, overrides=parse_overrides(sets))
except einsumx.EinsumxError as err:
    st.error(str(err))
    st.stop()

cols = st.columns(3)
cols[0].metric("passes over each rank", ", ".join(f"{r}: {n}" for r, n in analysis.passes.items() if n > 1) or "1 everywhere")
cols[1].metric("compulsory traffic (bytes)", f"{analysis.compulsory_traffic_bytes:,}")
cols[2].metric("live footprint per fiber (bytes)", f"{max(analysis.live_footprint_bytes.values(), default=0):,}")
st.code(render(analysis), language=None)
