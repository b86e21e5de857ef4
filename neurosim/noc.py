"""NoC traffic: the bits the packets carry and the routers they cross, from the routing counts.

A packet is a header plus its events; the profile's ``noc.encoding`` says how events are coded
(docs/design.md §5, "Payload"). For a source layer with D destination cores, and for each of
its cores c with M_c output positions and H_c links to all its destinations (Σ hops):

    address_event  an event is its flat source address (a = ⌈log2 size⌉ bits of the sending
                   stream) and its level z ∈ {0..N} (⌈log2(N+1)⌉ bits):
                   payload = h·packets + (a + l)·events·D,   bit_hops = h·packet_hops + (a + l)·event_hops
    bitmap         per timestep, one bit per output position of the core, and ⌈log2 N⌉ level
                   bits per event (none for binary spikes):
                   payload = h·packets + frames·D·Σ M_c + l'·events·D
                   bit_hops = h·packet_hops + frames·Σ M_c·H_c + l'·event_hops
    run_length     an event is the run of silent positions before it (``run_bits`` = r; a run of
                   g costs ⌊g / (2^r − 1)⌋ extra words) and its level: w words of r + l bits,
                   counted from the recorded levels (positions in flat (C, H, W) order):
                   payload = h·packets + (r + l)·D·Σ w_c,   bit_hops = h·packet_hops + (r + l)·Σ w_c·H_c
    routers        a packet passes hops + 1 routers on a mesh, one crossbar otherwise
    messages       events × D: an event handed to the network once per destination core

h = ``header_bits``; frames = inputs × timesteps. Packets and their hops are the engine's
counts (counters.py), whatever the encoding, so every column here follows exactly from counts
that the event engine and the reference share.
"""

from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd

from .compiler import CompiledNetwork, default_mapping, event_max_level
from .counters import F, RunCounts
from .errors import InputError
from .hardware.profile import NoC

COLUMNS = ("payload_bits", "bit_hops", "router_traversals", "messages", "message_hops")
LINK_COLUMNS = ("from_x", "from_y", "to_x", "to_y", "busy_cycles", "packets", "bits",
                "utilisation", "wait_cycles")  # links.csv (the engine's link contention)


def address_bits(net, layer: str) -> int:
    """Bits of a source address: the flat (C, H, W) index in the layer's output stream."""
    size = int(np.prod(net.layer(layer).out_shape))
    return max(1, (size - 1).bit_length())


def level_bits(net, layer: str, encoding: str, spike_bits: int = 32) -> int:
    """Bits of an event's level field: z ∈ {0..N} (⌈log2(N+1)⌉, at most the profile's spike
    width), or z − 1 where a bitmap already says that the position fired (⌈log2 N⌉)."""
    n = int(event_max_level(net, layer))
    if encoding == "bitmap":
        return max(0, n - 1).bit_length()
    return min(max(1, n.bit_length()), spike_bits)


def event_bits(net, layer: str, noc: NoC, spike_bits: int = 32) -> int:
    """Bits one message (an event, or a run-length word) of ``layer`` adds to a packet."""
    level = level_bits(net, layer, noc.encoding, spike_bits)
    if noc.encoding == "address_event":
        return address_bits(net, layer) + level
    if noc.encoding == "run_length":
        return noc.run_bits + level
    return level


def run_length_words(levels: np.ndarray, c0: int, c1: int, run_bits: int) -> int:
    """Words that code channels [c0, c1) of ``levels`` (T, B, C, ...) with run-length coding:
    one per event, plus one per 2^run_bits − 1 silent positions a run cannot span."""
    part = np.asarray(levels)[:, :, c0:c1]
    mask = part.reshape(part.shape[0] * part.shape[1], -1) != 0
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return 0
    previous = np.empty_like(cols)
    previous[0] = -1
    previous[1:] = np.where(rows[1:] == rows[:-1], cols[:-1], -1)
    gaps = cols - previous - 1
    return int(len(cols) + (gaps // (2 ** run_bits - 1)).sum())


def split_messages(levels: np.ndarray, c0: int, c1: int, value_max: int) -> int:
    """Messages that carry channels [c0, c1) of ``levels`` when one message holds a value of at
    most ``value_max``: a level-z event is ⌈z / value_max⌉ messages (z binary spikes when the
    value field is one bit)."""
    z = np.asarray(levels)[:, :, c0:c1].astype(np.int64)
    return int((-(-z // value_max)).sum())


def _core_geometry(net, layer) -> list[tuple[int, int, int, tuple[int, int]]]:
    """(core index, M_c output positions, H_c Σ hops to the destinations, channels) per core."""
    per_channel = int(np.prod(layer.out_shape[1:])) if len(layer.out_shape) == 3 else 1
    dests = net.destinations(layer.name)
    return [(c.index, c.width * per_channel, sum(net.hops(c.index, d.index) for d in dests),
             c.channels) for c in net.cores_of(layer.name)]


def _traffic(c: dict, geometry, noc: NoC, bits: int, d: int, frames: int, words: dict,
             sent: tuple[int, int]) -> dict:
    """The COLUMNS of one layer or core from its counts ``c`` (packets and their hops);
    ``sent``: (messages per destination, message hops) of its events."""
    h = noc.header_bits
    per_dest, hops = sent
    payload = h * c["packets"]
    bit_hops = h * c["packet_hops"]
    if noc.encoding in ("address_event", "bitmap"):
        payload += bits * per_dest * d
        bit_hops += bits * hops
    if noc.encoding == "bitmap":
        payload += frames * d * sum(m for _, m, _, _ in geometry)
        bit_hops += frames * sum(m * h_c for _, m, h_c, _ in geometry)
    if noc.encoding == "run_length":
        payload += bits * d * sum(words.get(i, 0) for i, _, _, _ in geometry)
        bit_hops += bits * sum(words.get(i, 0) * h_c for i, _, h_c, _ in geometry)
    routers = c["packets"] + (c["packet_hops"] if noc.topology == "mesh" else 0)
    return {"payload_bits": int(payload), "bit_hops": int(bit_hops),
            "router_traversals": int(routers), "messages": int(per_dest * d),
            "message_hops": int(hops)}


class Traffic:
    """NoC traffic of one run: per layer (``layers``) and, given the engine's per-core rows,
    per core (``cores``); every value a run total."""

    def __init__(self, layers: pd.DataFrame, cores: pd.DataFrame | None, noc: NoC,
                 bits: dict, events: int):
        self.layers = layers  # index layer, COLUMNS
        self.cores = cores  # index core, COLUMNS (event engine)
        self.noc = noc
        self.bits = bits  # layer → bits per message (an event, or a run-length word)
        self.events = events  # events sent into the NoC (by layers that have destinations)

    def summary(self, routing_pj: float | None = None) -> dict:
        """summary.json's ``noc``: the encoding, the run totals, and per event sent into the
        NoC its payload bits and (with a profile: ``routing_pj``, the run's Routing) energy."""
        totals = {k: int(self.layers[k].sum()) for k in COLUMNS}
        per = (lambda x: x / self.events if self.events else None)
        return {"encoding": self.noc.encoding, "header_bits": self.noc.header_bits,
                "link_bits": self.noc.link_bits, "bits_per_message": self.bits,
                "events": self.events, **totals,
                "payload_bits_per_event": per(totals["payload_bits"]),
                "routing_pj_per_event": None if routing_pj is None else per(routing_pj)}


def splits_events(net, layer: str, noc: NoC, spike_bits: int) -> bool:
    """Whether the layer's largest level does not fit one message's value field, so that a
    level-z event travels as several messages (split_messages)."""
    return noc.encoding == "address_event" and event_max_level(net, layer) > 2 ** spike_bits - 1


def needs_levels(net, noc: NoC, spike_bits: int = 32) -> bool:
    """Whether the traffic of ``net`` under ``noc`` is counted from the recorded levels: for
    run-length coding, and for events whose level does not fit one message's value field."""
    return noc.encoding == "run_length" or any(
        splits_events(net, l.name, noc, spike_bits) for l in net.layers if l.mode != "readout")


def level_tallies(net: CompiledNetwork, noc: NoC, spike_bits: int, levels: dict) -> dict:
    """What the traffic needs from a block's recorded ``levels`` where needs_levels says so,
    per sending core: "noc_words:CORE" (run-length words) and "noc_split:CORE" (messages of
    split events), int64 sums over the block's inputs that neurosim.shards adds up."""
    mapped = default_mapping(net)
    value_max = 2 ** spike_bits - 1
    out = {}
    for layer in mapped.layers:
        if not mapped.destinations(layer.name):
            continue
        splits = splits_events(mapped, layer.name, noc, spike_bits)
        for core in mapped.cores_of(layer.name):
            c0, c1 = core.channels
            if noc.encoding == "run_length":
                out[f"noc_words:{core.index}"] = np.array(
                    [run_length_words(levels[layer.name], c0, c1, noc.run_bits)], np.int64)
            if splits:
                out[f"noc_split:{core.index}"] = np.array(
                    [split_messages(levels[layer.name], c0, c1, value_max)], np.int64)
    return out


def traffic(net: CompiledNetwork, counts: RunCounts, noc: NoC, spike_bits: int = 32,
            tallies: dict | None = None, core_rows: list[dict] | None = None) -> Traffic:
    """The NoC traffic of a run with counts ``counts`` on ``net`` (placed as the run placed it)
    coded as ``noc`` says, with ``spike_bits`` of value per message (profile widths.spikes);
    ``tallies`` (the run's merged level_tallies) are needed where needs_levels says so;
    ``core_rows`` (the engine's cores.csv rows) add the per-core table."""
    mapped = default_mapping(net)
    frames = counts.samples * counts.timesteps
    tallies = tallies or {}
    words, split, layer_rows, bits, geometry, events = {}, {}, {}, {}, {}, 0
    for layer in mapped.layers:
        name = layer.name
        geometry[name] = _core_geometry(mapped, layer)
        bits[name] = event_bits(mapped, name, noc, spike_bits) if layer.mode != "readout" else 0
        d = len(mapped.destinations(name))
        splits = splits_events(mapped, name, noc, spike_bits)
        needed = [("noc_words", words)] * (noc.encoding == "run_length") + \
            [("noc_split", split)] * splits
        for (kind, into), (i, *_) in product(needed, geometry[name] if d else ()):
            if f"{kind}:{i}" not in tallies:
                raise InputError(f"layer {name!r}: its NoC traffic is counted from the output "
                                 "levels (run-length coding, or levels wider than "
                                 f"widths.spikes={spike_bits}), which this run's shards did "
                                 "not tally", "noc.encoding")
            into[i] = int(tallies[f"{kind}:{i}"][0])
        totals = counts.data[counts.index[name]].sum(axis=0)
        c = {k: int(totals[F[k]]) for k in ("packets", "packet_hops", "event_hops", "events_out")}
        events += c["events_out"] if d else 0
        sent = (c["events_out"], c["event_hops"]) if not splits else (
            sum(split[i] for i, *_ in geometry[name]),
            sum(split[i] * h for i, _, h, _ in geometry[name]))
        layer_rows[name] = _traffic(c, geometry[name], noc, bits[name], d, frames, words, sent)
    layers = pd.DataFrame.from_dict(layer_rows, orient="index")[list(COLUMNS)]
    cores = None
    if core_rows:
        rows = {}
        for row in core_rows:
            i, name = row["core"], row["layer"]
            geo = [g for g in geometry[name] if g[0] == i]
            sent = (split[i], split[i] * geo[0][2]) if i in split else \
                (row["events_out"], row["event_hops"])
            rows[i] = _traffic(row, geo, noc, bits[name], len(mapped.destinations(name)),
                               frames, words, sent)
        cores = pd.DataFrame.from_dict(rows, orient="index")[list(COLUMNS)]
    return Traffic(layers, cores, noc, bits, events)


CROSSBAR = (-1, -1)  # the "from" of a crossbar's destination port (links.csv leaves it empty)


def route(net, a: int, b: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The directed links a packet from core a to core b crosses, in order: XY routing on a
    mesh (x first, then y), the destination's port on a crossbar; as many as net.hops(a, b)."""
    (x, y), (xb, yb) = net.cores[a].position, net.cores[b].position
    if net.topology == "crossbar":
        return [(CROSSBAR, (xb, yb))]
    links = []
    while (x, y) != (xb, yb):
        step = (x + (xb > x) - (xb < x), y) if x != xb else (x, y + (yb > y) - (yb < y))
        links.append(((x, y), step))
        x, y = step
    return links


def packet_fields(net, layer, c0: int, c1: int, noc: NoC, spike_bits: int = 32) -> tuple:
    """How a packet of cores holding channels [c0, c1) of ``layer`` counts its payload bits, as
    the engine's link contention charges them (kernels.noc._packet_bits): header bits, the
    bitmap's bits on a frame's first packet, bits per message, and for run-length coding the
    longest run a word spans and the flat index the core's positions start at, and the
    largest value one message holds where events of the layer are split (split_messages; 0
    where they are not)."""
    plane = int(np.prod(layer.out_shape[1:])) if len(layer.out_shape) == 3 else 1
    frame = (c1 - c0) * plane if noc.encoding == "bitmap" else 0
    span = 2 ** noc.run_bits - 1 if noc.encoding == "run_length" else 0
    splits = splits_events(net, layer.name, noc, spike_bits)
    return (noc.header_bits, frame, event_bits(net, layer.name, noc, spike_bits), span,
            c0 * plane, 2 ** spike_bits - 1 if splits else 0)


def routing_pj(t: dict, noc: NoC, packet_hops: int) -> dict:
    """Routing energy (pJ) by part: links (packet, message and bit hops), routers, messages."""
    return {"links": (packet_hops * noc.energy_per_packet_hop_pj
                      + t["message_hops"] * noc.energy_per_event_hop_pj
                      + t["bit_hops"] * noc.energy_per_bit_hop_pj),
            "routers": t["router_traversals"] * noc.energy_per_router_pj,
            "messages": t["messages"] * noc.energy_per_message_pj}


def add_columns(table: pd.DataFrame, t: Traffic, key: str = "layer") -> pd.DataFrame:
    """``table`` (layers.csv or cores.csv rows) with the traffic COLUMNS (0 for sum rows)."""
    table = table.copy()
    source = t.layers if key == "layer" else t.cores
    values = source.reindex(table[key]).fillna(0).astype(np.int64)
    for column in COLUMNS:
        table[column] = values[column].to_numpy()
    return table
