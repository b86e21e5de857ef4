"""``neurosim report DIR``: one run's energy breakdown, per-layer table, metrics and figures.

Everything is rebuilt from the run directory's files (runs.py), so a report can be regenerated
at any time, and ``neurosim simulate --out`` writes the same report beside its CSVs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import figures, numbers
from . import html as page
from .runs import Run
from .tables import (COUNT, PERCENT, RATIO, SHARE, SIGNED, TEXT, Table, energy_table,
                     layer_table, totals)

FIGURES = "figures"


def provenance(run: Run) -> dict:
    """What was run, on what, with which software: the header of every report."""
    d = run.describe()
    acc = d["accuracy"]
    facc = d["float_accuracy"]
    sha = d["profile_sha256"]
    out = {
        "model": d["model"], "network": d["network"], "inputs": d["inputs"],
        "samples": d["samples"], "seed": d["seed"], "timesteps T": d["timesteps"],
        "levels N": ",".join(map(str, d["levels"])) if isinstance(d["levels"], list)
        else d["levels"],
        "engine": d["engine"], "residual add mode": d["add_mode"],
        "hardware profile": (f"{d['profile']} ({d['profile_path']}, sha256 {sha})"
                             if d["profile"] else "none (counts only)"),
        "accuracy (fixed point)": "n/a" if acc is None else f"{100 * acc:.2f}%",
        "accuracy (float model)": "n/a" if facc is None else f"{100 * facc:.2f}%",
        "versions": ", ".join(f"{k} {v}" for k, v in d["versions"].items()),
    }
    imported = d.get("import")
    if imported:  # what the importer assumed where the file and side-car were silent
        out["imported from"] = ", ".join(f"{k} {imported[k]}" for k in ("format", "file",
                                         "dialect", "sidecar") if imported.get(k))
        for i, note in enumerate(imported.get("notes") or [], 1):
            out[f"import note {i}"] = note
    return out


def chip_lines(run: Run) -> dict:
    """The chip-level facts of summary.json: NoC payload, silicon area, the critical core."""
    s = run.summary
    out = {}
    noc = s.get("noc") or {}
    if noc.get("payload_bits_per_event") is not None:
        text = f"{noc['payload_bits_per_event']:.1f} payload bits per event ({noc['encoding']})"
        if noc.get("routing_pj_per_event") is not None:
            text += f", {noc['routing_pj_per_event']:.3g} pJ of routing per event"
        out["NoC"] = text
    area = s.get("area") or {}
    if area.get("total_mm2") is not None:
        missing = f"; not priced: {', '.join(area['not_priced'])}" if area.get("not_priced") \
            else ""
        out["silicon area"] = (f"{area['total_mm2']:.4g} mm² on {area['cores']} cores "
                               f"({area['sram_bits'] / 8 / 1024:,.0f} KiB of SRAM{missing})")
    b = s.get("bottleneck") or {}
    if b:
        share = b.get("share_of_makespan")
        out["critical core"] = (f"core {b['core']} ({b['layer']}), bound by {b['bound']}"
                                + (f", busy or stalled {100 * share:.0f}% of the run"
                                   if share is not None else ""))
    return out


def _nb_metrics(run: Run) -> tuple[dict, dict, dict, list[str]]:
    """(neurobench, by_layer, neurosim, notes) from metrics.json, or what layers.csv allows."""
    if run.metrics is not None:
        m = run.metrics
        return (m.get("neurobench", {}), m.get("neurobench_by_layer", {}),
                m.get("neurosim", {}), list(m.get("notes", [])))
    rows = run.spiking_rows
    s = run.samples
    spiking = rows[rows.levels > 0]
    nb, by_layer = {}, {}
    if "events_prepool" in rows.columns:
        total = (spiking.neurons * spiking.timesteps * s).sum()
        nz = spiking.events_prepool.sum()
        nb["ActivationSparsity"] = (total - nz) / total if total else 0.0
        for _, r in spiking.iterrows():
            n = r.neurons * r.timesteps * s
            by_layer[r.layer] = {"activation_sparsity": (n - r.events_prepool) / n if n else 0.0}
    neurosim = {"events": rows.events_out.sum() / s,
                "synapse_visits": rows.synapse_visits.sum() / s,
                "synapse_visits_analytic": rows.synapse_visits_analytic.sum() / s,
                "potential_writes": rows.potential_writes.sum() / s}
    notes = ["No metrics.json in this run: SynapticOperations, MembraneUpdates and Footprint "
             "need `neurosim simulate --out`, which records levels; shown here is what "
             "layers.csv allows."]
    return nb, by_layer, neurosim, notes


def metrics_table(run: Run) -> Table:
    """NeuroBench's metric names (per sample) next to neurosim's graded-aware counts."""
    nb, _, ns, notes = _nb_metrics(run)
    syn = nb.get("SynapticOperations") or {}
    rows = [
        ("ActivationSparsity", nb.get("ActivationSparsity"), PERCENT,
         "events sent (after pooling)", ns.get("events"), COUNT),
        ("SynapticOperations.Effective_ACs", syn.get("Effective_ACs"), COUNT,
         "synapse visits, one accumulate each (spike inputs)", ns.get("accumulates"), COUNT),
        ("SynapticOperations.Effective_MACs", syn.get("Effective_MACs"), COUNT,
         "input-layer MACs (pixel inputs)", ns.get("input_macs"), COUNT),
        ("SynapticOperations.Dense", syn.get("Dense"), COUNT,
         "synapse visits by the paper's analytic formula (C_out·kH·kW per event)",
         ns.get("synapse_visits_analytic"), COUNT),
        ("(none)", None, COUNT, "Σ z × synapses reached (level-weighted)",
         ns.get("level_weighted_visits"), COUNT),
        ("MembraneUpdates", nb.get("MembraneUpdates"), COUNT,
         "potential writes (synaptic + per-timestep updates)", ns.get("potential_writes"), COUNT),
        ("Footprint (bytes, float32 torch model)", nb.get("Footprint"), COUNT,
         "weight + bias memory at the compiled bit widths (bytes)", ns.get("parameter_bytes"),
         COUNT),
        ("ParameterCount", nb.get("ParameterCount"), COUNT,
         "weight + bias words as compiled (BN and global pools folded)",
         (ns.get("weight_words", 0) + ns.get("bias_words", 0)) if "weight_words" in ns else None,
         COUNT),
        ("ConnectionSparsity", nb.get("ConnectionSparsity"), PERCENT, "", None, COUNT),
    ]
    frame = pd.DataFrame({"NeuroBench metric": [r[0] for r in rows],
                          "NeuroBench value": [r[1] for r in rows],
                          "neurosim (graded-aware)": [r[3] for r in rows],
                          "neurosim value": [r[4] for r in rows]})
    cells = {(i, "NeuroBench value"): PERCENT for i, r in enumerate(rows) if r[2] == PERCENT}
    return Table("NeuroBench-compatible metrics per sample, next to neurosim's counts", frame,
                 {"NeuroBench metric": TEXT, "NeuroBench value": COUNT,
                  "neurosim (graded-aware)": TEXT, "neurosim value": COUNT},
                 notes + ["NeuroBench values are computed as NeuroBench 2.x does, on this run's "
                          "activity (see neurosim/metrics.py for the mapping); the AC/MAC "
                          "test is per timestep and sample (batch_size=1)."],
                 cell_formats=cells)


def synops_table(run: Run) -> Table | None:
    """Per layer: NeuroBench's effective ops and class against neurosim's synapse visits."""
    _, by_layer, _, _ = _nb_metrics(run)
    rows = [(name, v) for name, v in by_layer.items() if "calls" in v]
    if not rows:
        return None
    frame = pd.DataFrame({
        "layer": [n for n, _ in rows],
        "NeuroBench class": [_class(v) for _, v in rows],
        "NeuroBench effective ops": [v["effective_acs"] + v["effective_macs"] for _, v in rows],
        "NeuroBench dense": [v["dense"] for _, v in rows],
        "neurosim synapse visits": [v.get("synapse_visits") for _, v in rows],
        "neurosim Σz·synapses": [v.get("level_weighted_visits") for _, v in rows],
        "activation sparsity": [v.get("activation_sparsity") for _, v in rows],
    })
    formats = {c: COUNT for c in frame.columns}
    formats.update({"layer": TEXT, "NeuroBench class": TEXT, "activation sparsity": PERCENT})
    return Table("Synaptic operations per layer and sample: NeuroBench vs neurosim", frame,
                 formats, [graded_note(run)])


def _class(v: dict) -> str:
    if v["graded_calls"] == 0:
        return "AC"
    if v["graded_calls"] == v["calls"]:
        return "MAC"
    return f"MAC in {v['graded_calls']}/{v['calls']} calls"


def graded_note(run: Run) -> str:
    """Where NeuroBench's binary AC test misreads this run's graded spikes, in one paragraph."""
    _, by_layer, _, _ = _nb_metrics(run)
    analog = run.layers["analog_input"].astype(str).str.lower() == "true" \
        if "analog_input" in run.layers.columns else pd.Series(False, index=run.layers.index)
    first = set(run.layers.layer[analog])
    graded = [n for n, v in by_layer.items() if v.get("graded_calls") and n not in first]
    if not graded:
        return ("NeuroBench's binary test agrees with neurosim here: every spike-fed layer "
                "received only values in {0, 1} (the input layer's pixels are MACs in both).")
    ops = sum(by_layer[n]["effective_macs"] for n in graded)
    visits = sum(by_layer[n].get("synapse_visits") or 0 for n in graded)
    return (f"NeuroBench's binary test misclassifies graded spikes in {len(graded)} layer(s) "
            f"({', '.join(graded[:6])}{', …' if len(graded) > 6 else ''}): a call with any value "
            f"outside {{-1, 0, 1}} (a spike worth z·θ ≠ 1, i.e. a level z ≥ 2 or θ = Vth/N ≠ 1, "
            f"or a residual sum) puts all its ops into MACs "
            f"({ops:,.0f} per sample), and a level-z spike counts once. neurosim's hardware "
            f"does one accumulate per synapse an event reaches ({visits:,.0f} synapse visits per "
            f"sample in these layers; forward-mode sums deliver one event per member stream), "
            f"and the profile's level policy prices each accumulate.")


def fidelity_text(run: Run) -> str | None:
    """The fidelity section's sentence: how far the integer network strays from the float."""
    f = run.summary.get("fidelity")
    if not f:
        return None
    events = f["events_per_sample"]
    parts = [f"On these {f['samples']} inputs, {numbers.share(f['share_differing'])} of the "
             f"neuron levels (every layer, before pooling, over samples × timesteps) differ "
             f"between the integer network and the float model (largest |Δz| "
             f"{f['max_abs_dz']}); predictions agree on {f['predictions_agree']} of "
             f"{f['samples']}; accuracy {_pct(f['accuracy'])} (fixed point) against "
             f"{_pct(f['float_accuracy'])} (float)."]
    change = events["change"]
    parts.append(f"Quantisation changes the events by "
                 f"{'n/a' if change is None else numbers.percent(change, signed=True)} "
                 f"({events['float']:,.0f} → {events['integer']:,.0f} per inference)")
    energy = f.get("energy_nj")
    if energy:
        ec = "n/a" if energy["change"] is None else numbers.percent(energy["change"], signed=True)
        parts[-1] += (f" and the energy by {ec} ({energy['float']:,.1f} → "
                      f"{energy['integer']:,.1f} nJ)")
    parts[-1] += "."
    return " ".join(parts)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def fidelity_table(run: Run) -> Table | None:
    """fidelity.csv as a report table: per neuron layer, per inference."""
    if run.fidelity is None:
        return None
    f, s = run.fidelity, run.samples
    frame = pd.DataFrame({"layer": f.layer, "levels differing": f.share_differing,
                          "max |Δz|": f.max_abs_dz, "events (float)": f.events_float / s,
                          "events (fixed point)": f.events_integer / s,
                          "Δ events": f.events_change if "events_change" in f else None})
    formats = {"layer": TEXT, "levels differing": SHARE, "max |Δz|": COUNT,
               "events (float)": COUNT, "events (fixed point)": COUNT, "Δ events": SIGNED}
    if "energy_change" in f.columns:
        frame["Δ energy"] = f.energy_change
        formats["Δ energy"] = SIGNED
    return Table("Fidelity: the integer network against the float model, per neuron layer",
                 frame, formats, ["Levels differing: share of neuron positions (before "
                                  "pooling, over samples × timesteps) whose level differs; "
                                  "events per inference; Δ: fixed point against float."])


def fixed_point_table(run: Run) -> Table | None:
    """The quantiser's choices per layer (summary.json's quantisation)."""
    q = run.summary.get("quantisation") or {}
    if not q:
        return None
    frame = pd.DataFrame({
        "layer": list(q),
        "threshold θ_q": [v.get("threshold") if v.get("mode") == "spiking" else None
                          for v in q.values()],
        "unit (float)": [v.get("unit") for v in q.values()],
        "shifts": [",".join(map(str, v.get("shifts", []))) for v in q.values()],
        "weight fill": [v.get("weight_fill") for v in q.values()],
        "range": [v.get("range") for v in q.values()],
        "range from": [v.get("range_from", "") for v in q.values()],
        "limited by": [v.get("limited_by", "") for v in q.values()]})
    cal = (run.summary.get("settings") or {}).get("calibration")
    widths = (run.summary.get("settings") or {}).get("widths") or {}
    notes = [f"Words: weights {widths.get('weights')}, biases {widths.get('biases')}, "
             f"potentials {widths.get('potentials')} bits. θ_q: the level step in potential "
             "units; unit: the float value of one potential unit; range: what the potential "
             "word holds, in level steps θ (a readout's in float units); weight fill: the "
             "largest weight over the largest word value (docs/design.md §3.5).",
             f"Calibrated on {cal['samples']} inputs of {cal['source']}." if cal else
             "Not calibrated: readouts sized by their worst case, layers that carry state by "
             "headroom·N·θ."]
    return Table("Fixed point per layer", frame,
                 {"layer": TEXT, "threshold θ_q": COUNT, "unit (float)": RATIO, "shifts": TEXT,
                  "weight fill": RATIO, "range": RATIO, "range from": TEXT, "limited by": TEXT},
                 notes)


def build(run: Run, out: Path) -> list[Path]:
    """Write the report of ``run`` into directory ``out``; returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    energy = energy_table(run)
    layers = layer_table(run)
    metrics = metrics_table(run)
    synops = synops_table(run)
    fidelity, fixed = fidelity_table(run), fixed_point_table(run)
    tables = [("energy_breakdown", energy), ("layer_table", layers), ("metrics", metrics),
              ("synops_by_layer", synops), ("fidelity_by_layer", fidelity),
              ("fixed_point", fixed)]
    for stem, t in tables:
        if t is not None:
            written += t.write(out, stem)
    figs = run_figures(run, out / FIGURES)
    written += [p for _, paths in figs for p in paths]
    md = markdown(run, energy, layers, metrics, synops, figs, out, fidelity, fixed)
    (out / "report.md").write_text(md)
    (out / "report.html").write_text(html_page(run, energy, layers, metrics, synops, figs,
                                               fidelity, fixed))
    written += [out / "report.md", out / "report.html"]
    return written


def run_figures(run: Run, folder: Path) -> list[tuple[str, list[Path]]]:
    """(caption, [png, svg]) for every figure this run supports."""
    figs = []
    paths = figures.energy_by_layer(run, folder / "energy_by_layer")
    if paths:
        unit = figures.layer_energy_unit(run)[1]
        figs.append((f"Energy per layer, stacked by category ({unit} per inference)", paths))
    figs.append(("Events sent per layer and inference (Figure 10 style)",
                 figures.events_by_layer([run], folder / "events_by_layer")))
    paths = figures.figure10([run], folder / "figure10")
    if paths:
        figs.append(("Residual network activity: block_i, sum_i and res_i (Figure 10 layout)",
                     paths))
    paths = figures.core_bottlenecks(run, folder / "bottlenecks")
    if paths:
        figs.append(("Where each layer's busiest core spends the run: work, stalls and idle "
                     "time; the critical core bounds throughput", paths))
    paths = figures.level_distribution(run, folder / "levels")
    if paths:
        figs.append(("Distribution of spike levels z per layer (share of events)", paths))
    return figs


def totals_text(run: Run) -> str:
    """Per-inference totals, the paper's activity measure first."""
    t = totals(run)
    return (f"Per inference: {t['events_transferred']:,.0f} events transferred (the paper's "
            f"measure, §6.4), "
            f"{t['events']:,.0f} events emitted by neuron layers, {t['synapse_visits']:,.0f} "
            f"synapse visits ({t['synapse_visits_analytic']:,.0f} by the paper's analytic "
            "formula)" + (f", {t['energy_nj']:,.1f} nJ in total." if "energy_nj" in t else "."))


def markdown(run: Run, energy, layers, metrics, synops, figs, out: Path, fidelity=None,
             fixed=None) -> str:
    lines = [f"# neurosim report: {run.name}", ""]
    lines += [f"- **{k}**: {v}" for k, v in provenance(run).items()]
    lines += ["", totals_text(run)]
    lines += [f"- **{k}**: {v}" for k, v in chip_lines(run).items()]
    lines += ["", "## Fidelity to the float model", ""]
    text = fidelity_text(run)
    lines += [text or "No float comparison in this run (`neurosim simulate --no-float`).", ""]
    if fidelity is not None:
        lines += [fidelity.to_markdown()]
    if fixed is not None:
        lines += [fixed.to_markdown()]
    lines += ["", "## Energy breakdown", ""]
    if energy is None:
        lines += ["No energy.csv: this run had no hardware profile (`neurosim simulate MODEL "
                  "--hw PROFILE`).", ""]
    else:
        lines += [energy.to_markdown()]
    lines += ["## Figures", ""]
    for caption, paths in figs:
        png = next(p for p in paths if p.suffix == ".png")
        lines += [f"![{caption}]({png.relative_to(out).as_posix()})", "", f"*{caption}*", ""]
    lines += ["## Per-layer activity and energy", "", layers.to_markdown()]
    lines += ["## NeuroBench-compatible metrics", "", metrics.to_markdown()]
    if synops is not None:
        lines += [synops.to_markdown()]
    return "\n".join(lines) + "\n"


def html_page(run: Run, energy, layers, metrics, synops, figs, fidelity=None,
              fixed=None) -> str:
    p = page.Page(f"neurosim report: {run.name}")
    head = p.section("")
    head.append(page.meta({**provenance(run), **chip_lines(run)}))
    head.append(page.paragraph(totals_text(run)))
    sec = p.section("Fidelity to the float model")
    sec.append(page.paragraph(fidelity_text(run) or "No float comparison in this run "
                              "(neurosim simulate --no-float)."))
    for t in (fidelity, fixed):
        if t is not None:
            sec.append(page.table(t))
    sec = p.section("Energy breakdown (the paper's Table 3 layout)")
    sec.append(page.table(energy) if energy is not None else page.paragraph(
        "No energy.csv: this run had no hardware profile."))
    sec = p.section("Figures")
    for caption, paths in figs:
        sec.append(page.figure(next(x for x in paths if x.suffix == ".png"), caption))
    p.section("Per-layer activity and energy").append(page.table(layers))
    sec = p.section("NeuroBench-compatible metrics")
    sec.append(page.table(metrics))
    if synops is not None:
        sec.append(page.table(synops))
    return p.render()
