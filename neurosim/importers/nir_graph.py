"""A NIR graph as one flat DAG: subgraphs inlined, edges resolved, nodes in a stable order.

Nested NIRGraphs keep their inner nodes under dotted names ("G.lif"); an edge that names a
subgraph itself goes to its single Input (as a destination) or from its single Output (as a
source). The order is topological with ties broken by first appearance in the edge list, so a
graph exported by neurosim comes back in its own node order (which fixes layer and core
numbering, hence routing counts). A cycle is reported with the nodes on it.
"""

from __future__ import annotations

import heapq

from ..errors import ConversionError
from .nir_read import require_nir


def flatten_graph(graph, where: str):
    """(nodes, edges, top inputs, top outputs) of a graph with its subgraphs inlined."""
    nir = require_nir()
    nodes, edges, seen = {}, [], set()

    def resolve(g, prefix: str, name: str, role: str, field: str) -> str:
        node = g.nodes.get(name)
        if node is None and "." in name:
            head, rest = name.split(".", 1)
            if isinstance(g.nodes.get(head), nir.NIRGraph):
                return resolve(g.nodes[head], f"{prefix}{head}.", rest, role, field)
        if node is None:
            raise ConversionError(f"edge {role} {prefix + name!r} is not a node of the graph",
                                  where, field)
        if isinstance(node, nir.NIRGraph):
            end = nir.Output if role == "source" else nir.Input
            ends = [k for k, n in node.nodes.items() if isinstance(n, end)]
            if len(ends) != 1:
                raise ConversionError(f"an edge names subgraph {prefix + name!r} itself, which "
                                      f"needs exactly one {end.__name__} node, not {len(ends)}",
                                      where, field)
            return resolve(node, f"{prefix}{name}.", ends[0], role, field)
        return prefix + name

    def walk(g, prefix: str):
        for name, node in g.nodes.items():
            if isinstance(node, nir.NIRGraph):
                walk(node, f"{prefix}{name}.")
            elif prefix + name in nodes:
                raise ConversionError(f"two nodes flatten to the name {prefix + name!r}", where,
                                      prefix + name)
            else:
                nodes[prefix + name] = node
        for i, edge in enumerate(g.edges):
            field = f"{prefix}edges[{i}]"
            a = resolve(g, prefix, str(edge[0]), "source", field)
            b = resolve(g, prefix, str(edge[1]), "destination", field)
            if (a, b) in seen:
                raise ConversionError(f"duplicate edge ({a!r}, {b!r})", where, field)
            seen.add((a, b))
            edges.append((a, b))

    walk(graph, "")
    tops = {"Input": [], "Output": []}
    for name, node in graph.nodes.items():
        if type(node).__name__ in tops:
            tops[type(node).__name__].append(name)
    return nodes, edges, tops["Input"], tops["Output"]


def topological_order(names, edges, where: str) -> list[str]:
    """Kahn's algorithm, ties broken by first appearance in the edge list: an exported neurosim
    graph comes back in its own order (which fixes layer and core numbering)."""
    rank = {}
    for a, b in edges:
        rank.setdefault(a, len(rank))
        rank.setdefault(b, len(rank))
    for n in names:
        rank.setdefault(n, len(rank))
    indeg = {n: 0 for n in names}
    succ = {n: [] for n in names}
    for a, b in edges:
        indeg[b] += 1
        succ[a].append(b)
    heap = [(rank[n], n) for n in names if indeg[n] == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        _, n = heapq.heappop(heap)
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                heapq.heappush(heap, (rank[m], m))
    if len(order) < len(names):
        left = {n for n in names if n not in set(order)}
        cycle = _find_cycle(left, edges)
        raise ConversionError(f"cycle through {' -> '.join(cycle)}: recurrent connections cannot "
                              "run on neurosim's feed-forward layers", where, cycle[0])
    return order


def _find_cycle(left: set, edges) -> list[str]:
    """One cycle among the nodes Kahn's algorithm could not order."""
    succ = {n: [b for a, b in edges if a == n and b in left] for n in left}
    while True:  # drop nodes downstream of the cycle: they have no successor left
        dead = {n for n, s in succ.items() if not s}
        if not dead:
            break
        succ = {n: [m for m in s if m not in dead] for n, s in succ.items() if n not in dead}
    path, seen = [min(succ)], {}
    while path[-1] not in seen:
        seen[path[-1]] = len(path) - 1
        path.append(succ[path[-1]][0])
    return path[seen[path[-1]]:]


def reachable(start: str, edges) -> list[str]:
    succ = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    seen, stack = [], [start]
    visited = {start}
    while stack:
        n = stack.pop()
        for m in succ.get(n, ()):
            if m not in visited:
                visited.add(m)
                seen.append(m)
                stack.append(m)
    return seen
