"""Where each core's time goes, and which core bounds the run: from the event engine's cores.

The engine reports per core its busy and stall cycles (result.timing["cores"]). A core's busy
time is exactly the sum of its work at the profile's cycle costs (docs/design.md §4, "Time"),
so its counts split it by kind of work:

    synaptic_cycles     cycles_per_event × events_in (one per event and projection it feeds)
                        + cycles_per_synapse × synapse_visits
    neuron_cycles       cycles_per_neuron × update_ops (neurons × frames)
    packet_cycles       cycles_per_packet × packets (one per packet and destination)
    stall_fifo_cycles   cycles spent waiting for room in a destination FIFO (the engine's stall)
    stall_link_cycles   cycles spent waiting for its first NoC link to be free (the engine's
                        link contention, with noc.link_bits; 0 without)
    idle_cycles         makespan − busy − stalls: waiting for input
    noc_cycles          payload bits / noc.link_bits: the cycles the core's link needs to
                        carry what it sends (a bound, not part of busy; null without link_bits)

The critical core is the one with the most busy + stall cycles: in a pipeline of cores it sets
the pace of the whole run. What bounds a core is its largest share among synaptic work, neuron
updates, NoC (packet handling, or its link when that is longer), FIFO backpressure and NoC link
(waiting for a busy link). The busiest link (links.csv) is named beside it.
"""

from __future__ import annotations

from .hardware.profile import Timing

BOUNDS = ("synaptic work", "neuron updates", "NoC", "FIFO backpressure", "NoC link")


def core_cycles(row: dict, timing: Timing, makespan: float, link_bits: int | None) -> dict:
    """The cycle columns of one cores.csv row (docs/outputs.md §7)."""
    synaptic = timing.cycles_per_event * row["events_in"] + \
        timing.cycles_per_synapse * row["synapse_visits"]
    neuron = timing.cycles_per_neuron * row["update_ops"]
    packet = timing.cycles_per_packet * row["packets"]
    stall = row["stall_cycles"]
    link = row.get("stall_link_cycles", 0)
    noc = row.get("payload_bits", 0) / link_bits if link_bits else None
    shares = {"synaptic work": synaptic, "neuron updates": neuron,
              "NoC": max(packet, noc or 0.0), "FIFO backpressure": stall, "NoC link": link}
    return {"synaptic_cycles": int(synaptic), "neuron_cycles": int(neuron),
            "packet_cycles": int(packet), "stall_fifo_cycles": int(stall),
            "stall_link_cycles": int(link),
            "idle_cycles": max(0.0, float(makespan) - row["busy_cycles"] - stall - link),
            "noc_cycles": noc, "bound": max(BOUNDS, key=lambda k: shares[k])}


def annotate(rows: list[dict], timing: Timing, makespan: float,
             link_bits: int | None = None) -> list[dict]:
    """cores.csv rows with the cycle split and the bound of each core (new dicts)."""
    return [{**{k: v for k, v in row.items() if k != "stall_link_cycles"},
             **core_cycles(row, timing, makespan, link_bits)} for row in rows]


def busiest_link(links: list[dict] | None) -> dict | None:
    """The link with the most busy cycles (the first in links.csv's order on a tie)."""
    if not links:
        return None
    top = max(links, key=lambda row: row["busy_cycles"])  # max keeps the first of equals
    return {k: top[k] for k in ("from_x", "from_y", "to_x", "to_y", "busy_cycles",
                                "utilisation", "wait_cycles")}


def summary(rows: list[dict], makespan: float, links: list[dict] | None = None) -> dict | None:
    """summary.json's ``bottleneck``: the critical core, what bounds it, per layer the bound of
    its busiest core, and (with link contention: ``links``, links.csv's rows) the busiest
    link. ``rows``: annotated cores.csv rows."""
    if not rows:
        return None
    load = [row["busy_cycles"] + row["stall_cycles"] + row.get("stall_link_cycles", 0)
            for row in rows]
    top = rows[max(range(len(rows)), key=lambda i: (load[i], -i))]
    by_layer = {}
    for row, work in zip(rows, load):
        best = by_layer.get(row["layer"])
        if best is None or work > best[0]:
            by_layer[row["layer"]] = (work, row)
    return {"core": int(top["core"]), "layer": top["layer"], "bound": top["bound"],
            "busy_cycles": int(top["busy_cycles"]), "stall_cycles": int(top["stall_cycles"]),
            "makespan_cycles": float(makespan),
            "share_of_makespan": (top["busy_cycles"] + top["stall_cycles"]) / makespan
            if makespan else None,
            "cycles": {k: top[k] for k in ("synaptic_cycles", "neuron_cycles", "packet_cycles",
                                           "stall_fifo_cycles", "stall_link_cycles",
                                           "idle_cycles", "noc_cycles")},
            "by_layer": {layer: {"core": int(row["core"]), "bound": row["bound"],
                                 "load_cycles": int(work)}
                         for layer, (work, row) in by_layer.items()},
            **({"link": busiest_link(links)} if links is not None else {})}
