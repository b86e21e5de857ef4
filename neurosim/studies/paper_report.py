"""reports/paper_tables.md: Tables 3/4 reproduced (``neurosim paper-tables``), the fitted
per-access energies, the ANN column, and the shipped trained VGG16 models simulated beside them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..hardware.profile import Profile
from ..outputs import atomic_file, check_file, head_of
from .paper import (CHECKED_ROWS, CONFIGS, DATASETS, ROWS, SOURCE, TABLE3_CONFIGS,
                    TABLE4_CONFIGS, Fit, Reproduction, addressing_pj_per_event, ann_rows,
                    compiled_vgg16, fifo_pj, mac_count, paper_column, paper_value, reproduce)


def _sci(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if x == 0:
        return "0"
    e = int(math.floor(math.log10(abs(x))))
    return f"{x / 10 ** e:.3g}·10^{e}" if abs(e) >= 3 else f"{x:.4g}"


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def reproduction_section(rep: Reproduction, flatten: Reproduction) -> list[str]:
    p, f = rep.profile, rep.fit
    lines = ["## Reproduction of the SNN columns", ""]
    lines += [f"Profile `{p.path}` ({p.name}, sha256 `{(p.sha256 or '')[:16]}`): E_fifo = "
              f"{fifo_pj(p):.4g} pJ, E_ACC = {p.operations.acc_pj:g} pJ, E_MAC = "
              f"{p.operations.mac_pj:g} pJ, addressing policy `{p.policies.addressing_conv}`, "
              f"bias `{p.policies.bias_reads}` from {p.memory('biases').describe()}.", ""]
    lines += ["Totals each configuration implies (per inference; events from In/Out, synapse "
              "visits R from Synaptic ops, n_out and the bias from neurosim's compiled VGG16):", ""]
    lines += _md_table(["configuration", "n_out", "events", "R", "R / event", "bias (nJ)"],
                       [[t.config.short, f"{t.neurons:,}", _sci(t.events), _sci(t.visits),
                         f"{t.visits / t.events:.0f}", f"{t.bias_nj:.4g}"] for t in rep.totals])
    lines += ["", "Fitted on the binary configurations (geometric means), then applied to all six:",
              ""]
    rows = []
    for ds in DATASETS:
        implied = [(t.config.short, paper_column(t.config)["Weights"] * 1e3 / t.visits,
                    paper_column(t.config)["Potentials"] * 1e3
                    / (2 * (t.visits + t.config.timesteps * t.neurons)))
                   for t in rep.totals if t.config.dataset == ds]
        rows.append([f"Ē_w {ds}", f"{f.weight_pj[ds]:.3f} pJ",
                     ", ".join(f"{c}: {w:.2f}" for c, w, _ in implied)])
        rows.append([f"Ē_pot {ds}", f"{f.potential_pj[ds]:.3f} pJ",
                     ", ".join(f"{c}: {q:.2f}" for c, _, q in implied)])
    per_event = {t.config.short: paper_column(t.config)["Addressing"] * 1e3
                 / (t.events * addressing_pj_per_event(p, t.config.levels)) for t in rep.totals}
    rows.append(["φ (addressed share of events)", f"{f.addressed_share:.4f}",
                 ", ".join(f"{c}: {v:.3f}" for c, v in per_event.items())])
    lines += _md_table(["parameter", "fitted value", "value each configuration implies"], rows)
    lines += ["", "Paper against neurosim, nJ per inference; error = neurosim / paper − 1. "
                  "Status: *construction* (the row's input was back-computed from the same row), "
                  "*geometry* (the profile and the VGG16 geometry, nothing per configuration), "
                  "*fitted* (binary columns: the fitted parameter was computed from them), "
                  "*predicted* (multi-level columns: nothing taken from them).", ""]
    for table in ("Table 3", "Table 4"):
        sub = rep.rows[rep.rows.table == table]
        configs = list(dict.fromkeys(sub.config))
        header = ["row"]
        for c in configs:
            header += [f"{c}: paper", "neurosim", "error"]
        body = []
        for row in ROWS:
            line = [row]
            for c in configs:
                r = sub[(sub.config == c) & (sub.row == row)].iloc[0]
                line += [_sci(r.paper), _sci(r.neurosim), f"{_pct(r.error)} ({r.status})"]
            body.append(line)
        lines += [f"### {table} ({DATASET_OF[table]})", ""]
        lines += _md_table(header, body) + [""]
    worst = rep.rows[rep.rows.row.isin(CHECKED_ROWS)].groupby("row").error.apply(
        lambda e: e.abs().max()).reindex(CHECKED_ROWS)
    lines += ["Largest |error| per row over the six configurations: " + ", ".join(
        f"{r} {100 * v:.1f}%" for r, v in worst.items()) + ".", ""]
    failures = rep.failures()
    if failures:
        lines += ["Rows outside 3%: " + "; ".join(f"{c} {r} ({_pct(e)})" for c, r, e in failures)
                  + ". Why: see *Rows that do not reach 3%* below.", ""]
    else:
        lines += ["Every row of the six SNN columns is within 3%.", ""]
    dvs_bias = flatten.rows[(flatten.rows.row == "Bias") & (flatten.rows.table == "Table 4")]
    lines += ["With the builder's plain flatten before fc1 (8192 inputs at 128×128 instead of "
              "512), the DVS bias rows would be " + ", ".join(
                  f"{r.config}: {_sci(r.neurosim)} ({_pct(r.error)})" for r in
                  dvs_bias.itertuples()) + "; every other row is unchanged.", ""]
    return lines


DATASET_OF = {"Table 3": "VGG16, CIFAR-10", "Table 4": "VGG16, CIFAR10-DVS"}


def profile_check_section(rep: Reproduction) -> list[str]:
    """The fitted effective energies beside what the profile's per-layer models give."""
    from ..energy import layer_prices

    p = rep.profile
    lines = ["## The fitted energies against the profile's per-layer SRAM models", ""]
    rows, inside = [], []
    for ds in DATASETS:
        net = compiled_vgg16(ds, rep.head)
        prices = [layer_prices(net, layer, p) for layer in net.layers]
        w = [x.weights_pj for x in prices]
        pot = [x.potentials_pj for x in prices]
        inside.append(min(pot) <= rep.fit.potential_pj[ds] <= max(pot))
        rows.append([ds, f"{rep.fit.weight_pj[ds]:.2f}", f"{min(w):.2f}–{max(w):.2f}",
                     f"{rep.fit.potential_pj[ds]:.2f}", f"{min(pot):.2f}–{max(pot):.2f}"])
    lines += _md_table(["dataset", "fitted Ē_w (pJ)", "profile E_w per layer",
                        "fitted Ē_pot (pJ)", "profile E_pot per layer"], rows)
    bank = p.memory("weights")
    direct = []
    for t in rep.totals:
        e_w = bank.access_pj(10 ** 9)  # every VGG16 layer but the first exceeds a bank
        theirs = paper_column(t.config)["Weights"]
        direct.append(f"{t.config.short} {_pct(e_w * t.visits / 1e3 / theirs - 1)}")
    lines += ["", f"Without the fit, pricing every weight read at the profile's bank energy "
                  f"({bank.access_pj(10 ** 9):.2f} pJ) gives the Weights rows: "
                  + ", ".join(direct) + ".", ""]
    if all(inside):
        lines += ["The effective potential energies lie inside the range of the per-layer model "
                  "(E(n_out) of a memory sized by each layer's neurons): some per-layer activity "
                  "produces them, and the jump from 32×32 to 128×128 follows the neuron count. "
                  "Which per-layer split of the visits produces them cannot be read from the "
                  "totals; the trained-model section below measures it.", ""]
    else:
        lines += ["An effective potential energy lies outside the range of the profile's "
                  "per-layer model: no per-layer activity can produce it with this profile.", ""]
    return lines


def ann_section(profiles: list[Profile], head: str = "global_pool") -> list[str]:
    lines = ["## The ANN column", "",
             "neurosim's ANN baseline (docs/design.md §6.3: every MAC reads its input from a "
             "memory of the input feature map and its weight; each output written once; bias per "
             "the profile's policy; addressing n_in + n_out + Cout·kH·kW ACCs per conv layer, "
             "Nin·Nout per linear layer; the first layer charged in full) on neurosim's VGG16. "
             f"MACs: CIFAR-10 {mac_count('CIFAR-10', head):,}, CIFAR10-DVS "
             f"{mac_count('CIFAR10-DVS', head):,} (ratio "
             f"{mac_count('CIFAR10-DVS', head) / mac_count('CIFAR-10', head):.1f}; the tables' "
             "Synaptic ops "
             "rows imply about 9.4).", ""]
    for table, ds, configs in (("Table 3", "CIFAR-10", TABLE3_CONFIGS),
                               ("Table 4", "CIFAR10-DVS", TABLE4_CONFIGS)):
        header = ["row", "paper"]
        cols = []
        for p in profiles:
            cols.append((p.name, ann_rows(ds, p, head)))
            header += [p.name, "error"]
        body = []
        for row in ROWS:
            theirs = paper_value("ANN", table, row)
            line = [row, _sci(theirs)]
            for _, rows in cols:
                ours = rows[row]
                err = "" if not theirs else _pct(ours / theirs - 1)
                line += [_sci(ours), err]
            body.append(line)
        lines += [f"### {table} ({DATASET_OF[table]}), ANN", ""] + _md_table(header, body) + [""]
    lines += ["The gap is real and documented in docs/design.md §7.5: the public code's ANN "
              "formulas on a standard VGG16 miss the weights row by an order of magnitude with "
              "layer-sized weight memories, and a brute-force search over ~4k variants (pooling, "
              "classifier, widths, energies, memory sizing) got no closer than 28% (CIFAR) and "
              "47% (DVS) maximum error. The paper profile's banked weight memory brings the "
              "CIFAR weights row near the table; the DVS/CIFAR MAC ratio (≈16 for one VGG16 at "
              "both sizes against ≈9.4 implied) says the DVS ANN was not this network at "
              "128×128, or used other constants. neurosim does not tune the ANN to the table.",
              ""]
    return lines


def failures_section(rep: Reproduction) -> list[str]:
    lines = ["## Rows that do not reach 3%", ""]
    failures = rep.failures()
    p, f = rep.profile, rep.fit
    by_config = {t.config.short: t for t in rep.totals}
    for config, row, err in failures:
        t = by_config[config]
        if row == "Addressing" and p.policies.addressing_conv == "levels":
            implied = paper_column(t.config)["Addressing"] * 1e3 / t.events
            model = addressing_pj_per_event(p, t.config.levels)
            capped = addressing_pj_per_event(p, min(t.config.levels, 8))
            others = rep.rows[(rep.rows.row == "Addressing") & (rep.rows.config != config)]
            worst = others.error.abs().max()
            capped_err = f.addressed_share * capped / implied - 1
            lines.append(
                f"- {config} {row} ({_pct(err)}): the table implies {implied:.2f} pJ of "
                f"addressing per event; the rule gives φ × (2·E_MAC + 9·N·E_ACC) = "
                f"{f.addressed_share:.3f} × {model:.2f} pJ at N = {t.config.levels}. The same "
                f"rule fits the five other columns within {100 * worst:.1f}%. A cap of the "
                f"factor at 8 would fit this one too ({_pct(capped_err)}), but no rationale is "
                "known for it, so neurosim does not use one: best fit shown. Addressing is a "
                "tiny share of the energy; this configuration's Total is off by "
                f"{_pct(self_total_effect(rep, config))}.")
        else:
            lines.append(f"- {config} {row} ({_pct(err)})")
    if not failures:
        lines.append("None.")
    fc_share = []
    for t in rep.totals:
        if t.config.dataset == "CIFAR-10":
            net = compiled_vgg16(t.config.dataset, rep.head)
            fc_inputs = sum(int(np.prod(p_.in_shape)) for layer in net.layers
                            for p_ in layer.projections if p_.kind == "linear")
            fc_share.append(f"{t.config.short}: {fc_inputs * t.config.timesteps / t.events:.1%}")
    lines += ["", f"φ, the share of In/Out events that pay conv addressing, is "
                  f"{f.addressed_share:.3f}. Two effects make it smaller than 1, and the totals "
                  "cannot separate them: events into the FC layers pay no addressing (the code "
                  "multiplies the rate, not the events, by N_out), but there are at most one per "
                  "FC input and timestep (" + ", ".join(fc_share) + " of the events on "
                  "CIFAR-10, less than 1 − φ on the multi-level columns); and the code counts "
                  "an IF layer's output before max-pooling but the next layer's input after it, "
                  "so In/Out holds more events than reach a conv layer.", ""]
    return lines


def self_total_effect(rep: Reproduction, config: str) -> float:
    sub = rep.rows[(rep.rows.config == config) & (rep.rows.row == "Total")]
    return float(sub.error.iloc[0])


# --- trained models ----------------------------------------------------------------------------

def find_vgg16_models(models_dir) -> list[Path]:
    from ..model.io import load_model

    found = []
    for manifest in sorted(Path(models_dir).glob("*/manifest.yaml")):
        try:
            graph = load_model(manifest.parent)
        except Exception:  # a broken model is reported by its own tools, not here
            continue
        if "vgg16" in str((graph.meta or {}).get("architecture", "")).lower():
            found.append(manifest.parent)
    return found


def trained_section(models_dir, profile_path, samples: int, engine: str, inputs=None,
                    progress=None, fitted: Fit | None = None) -> list[str]:
    """The paper's tables beside neurosim's own counts of the trained VGG16 models."""
    from ..model.io import load_model
    from ..simulate import simulate

    lines = ["## Trained VGG16 models: neurosim's own counts", ""]
    models = find_vgg16_models(models_dir) if models_dir else []
    if not models:
        return lines + [f"No trained VGG16 in `{models_dir}/` when this report was generated "
                        "(a model directory whose manifest says architecture vgg16). Rerun "
                        "`neurosim paper-tables` once one is there: this section then simulates "
                        "it on CIFAR-10 test images with the paper profile and sets its energy "
                        "table beside the paper's column of the same T and N.", ""]
    for path in models:
        graph = load_model(path)
        levels = max(n.spec.levels for n in graph.neurons() if not n.spec.barrier)
        t, n = graph.timesteps, levels
        sim = simulate(path, hw=profile_path, inputs=inputs, samples=samples, engine=engine,
                       float_reference=False, progress=progress)
        table = sim.energy.table().set_index("category")
        match = next((c for c in CONFIGS if c.dataset == "CIFAR-10" and
                      (c.timesteps, c.levels) == (t, n)), None)
        s = sim.summary()
        acc = "n/a" if s["accuracy"] is None else f"{100 * s['accuracy']:.1f}%"
        lines += [f"### `{path.name}` (T={t}, N={n}; {s['samples']} test images, {engine} engine, "
                  f"accuracy {acc}, {s['events_per_sample']:.4g} events per image)", ""]
        header = ["row", "neurosim SNN", "neurosim ANN"]
        if match:
            header += [f"paper {match.label}", "neurosim / paper"]
        body = []
        for row in ROWS:
            line = [row, _sci(table.loc[row, "SNN"]), _sci(table.loc[row, "ANN"])]
            if match:
                theirs = paper_value(match.label, match.table, row)
                line += [_sci(theirs), f"{table.loc[row, 'SNN'] / theirs:.2f}" if theirs else ""]
            body.append(line)
        lines += _md_table(header, body) + [""]
        lines += [effective_energies_line(sim, fitted), ""]
        if not match:
            lines += [f"The paper has no CIFAR-10 column at T={t}, N={n}.", ""]
    return lines


def effective_energies_line(sim, fitted: Fit | None = None) -> str:
    """The access-weighted per-access energies of a run, to set beside the fitted ones."""
    e = sim.energy.layers.sum()
    t = sim.counts.table()
    t = t[t.kind != "add"]
    analytic = sim.energy.profile.policies.visits == "analytic"
    reads = t["weight_reads_analytic" if analytic else "weight_reads"].sum()
    pot = (t[["potential_reads_analytic", "potential_writes_analytic"]] if analytic else
           t[["potential_reads", "potential_writes"]]).to_numpy().sum()
    if not reads or not pot:
        return "No synapse visits in this run."
    spikes = t[~t.analog_input]
    visits = spikes.synapse_visits_analytic.sum() / max(t.fifo_writes.sum(), 1)
    against = "" if fitted is None else (
        f", against the values fitted to the tables (CIFAR-10: Ē_w = "
        f"{fitted.weight_pj['CIFAR-10']:.2f}, Ē_pot = {fitted.potential_pj['CIFAR-10']:.2f} pJ)")
    return (f"Effective per-access energies of this run (input layer included): Ē_w = "
            f"{e['weights'] / reads:.2f} pJ, Ē_pot = {e['potentials'] / pot:.2f} pJ{against}; "
            f"synapse visits of spike events per event sent: {visits:.0f} (the tables imply "
            "1007-1214).")


# --- the whole report ----------------------------------------------------------------------------

TRAINED_SAMPLES = 500  # test images per trained VGG16: all of a shipped samples.npz
TITLE = "# Tables 3 and 4 of \"All in one timestep\", reproduced"
GENERATED = "; do not edit by hand"  # in the header report_text writes (and wrote before)


def report_text(profile: Profile, code_profile: Profile | None = None, models_dir=None,
                samples: int = TRAINED_SAMPLES, engine: str = "reference", inputs=None,
                command: str = "neurosim paper-tables") -> str:
    rep = reproduce(profile, "global_pool")
    flatten = reproduce(profile, "flatten")
    lines = [TITLE, "",
             f"Generated by `{command}` ({__name__}){GENERATED}. Paper: {SOURCE}. Method and "
             "sources: docs/design.md (\"Reproducing Tables 3 and 4\").", "",
             "What is reproduced, and how circular it is: the "
             "In/Out and Synaptic ops rows are matched **by construction** (the events and the "
             "synapse visits are back-computed from them); the Bias rows follow from the VGG16 "
             "geometry and the profile (a fitted 8-bit, per-channel bias memory) with nothing "
             "per configuration; the Weights, Potentials and Addressing rows use three effective "
             "parameters **fitted** on the binary columns and are **predictions** in the "
             "multi-level columns. The real test is neurosim's own counts on trained models, in "
             "the last section.", "",
             "Geometry: neurosim's VGG16 (13 conv 3×3 + BN + IF, max-pool after conv 2, 4, 7, 10, "
             "13, then FC 512 → 512 → 10). For CIFAR10-DVS (128×128×2) the last max-pool is "
             "made global (8×8 → 1×1), so fc1 takes 512 inputs as on CIFAR-10: the tables' "
             "bias row does not change with resolution, which the builder's flatten of 4×4×512 = "
             "8192 inputs into fc1 would break (shown below). n_out is the same either way.", ""]
    lines += reproduction_section(rep, flatten)
    lines += profile_check_section(rep)
    lines += failures_section(rep)
    lines += ann_section([profile] + ([code_profile] if code_profile else []), rep.head)
    lines += trained_section(models_dir, profile.path, samples, engine, inputs, fitted=rep.fit)
    return "\n".join(lines).rstrip() + "\n"


def check_report_path(path, force: bool = False) -> None:
    """Refuse an existing file that paper-tables did not write (its header says so), unless
    ``force``: call it before the work, so that a refusal costs nothing."""
    check_file(path, lambda p: head_of(p).startswith(TITLE) and GENERATED in head_of(p), force,
               "report")


def write_report(path, text: str, force: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (a temporary file renamed into place); see
    ``check_report_path`` for what it refuses to overwrite."""
    check_report_path(path, force)
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return Path(path)
