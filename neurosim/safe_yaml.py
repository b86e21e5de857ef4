"""Reading YAML written by someone else: safe tags only, bounded size, no repeated keys.

``yaml.safe_load`` already refuses ``!!python/...`` tags, but it happily builds a "billion
laughs" document — nine levels of nine aliases is a few hundred bytes that expand to 387 million
nodes — which hangs whoever walks the result. Here the document is composed first (aliases stay
references, so composing is linear in the text), its expanded size is counted on the node graph
with one pass (each node's size is computed once), and only a document within the bounds is
constructed. Duplicate keys, which safe_load would silently overwrite, are refused too.

    data = safe_yaml.load_file(path, ProfileError)       # or load_text(text, where, error)
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import NeurosimError

MAX_BYTES = 16 * 1024 ** 2  # a profile, manifest or side-car is a few KiB; a VGG16 manifest 40 KiB
MAX_NODES = 1_000_000  # scalars, lists and mappings after expanding every alias
MAX_DEPTH = 64  # nesting of lists and mappings
# libyaml's parser where PyYAML was built with it (ten times faster on a model's manifest); the
# nodes it composes are the pure-Python parser's, so the checks and the constructor are shared
COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(nodes after expanding every alias, nesting depth) of a composed document, without
    expanding anything: each node's size is the sum of its children's, computed once."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in size:
            continue
        if isinstance(node, yaml.ScalarNode):
            size[key], depth[key] = 1, 0
            continue
        items = [x for pair in node.value for x in pair] if isinstance(node, yaml.MappingNode) \
            else list(node.value)
        if children_done:
            size[key] = 1 + sum(size[id(x)] for x in items)
            depth[key] = 1 + max((depth[id(x)] for x in items), default=0)
            if size[key] > MAX_NODES:  # no need to look further
                return size[key], depth[key]
            continue
        stack.append((node, True))
        stack.extend((x, False) for x in items if id(x) not in size)
    return size[id(root)], depth[id(root)]


def _duplicate_key(root: yaml.Node) -> tuple[str, int] | None:
    """(dotted path, line) of the first key given twice in one mapping; each node seen once."""
    seen_nodes: set[int] = set()
    stack = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes or isinstance(node, yaml.ScalarNode):
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            names: set = set()
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else repr(key)
                if name in names:
                    return ".".join(path + (str(name),)), key.start_mark.line + 1
                names.add(name)
                stack.append((value, path + (str(name),)))
        else:
            stack.extend((item, path + (str(i),)) for i, item in enumerate(node.value))
    return None


def _problem(err: yaml.YAMLError) -> str:
    """The parser's complaint on one line, "what (line L, column C)", without the echoed
    source that PyYAML's own text spans several lines with."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem:
        mark = err.problem_mark
        context = f"{err.context}: " if err.context else ""
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return " ".join(f"{context}{err.problem}".split()) + where
    return " ".join(str(err).split())


def load_text(text: str, where: str, error=NeurosimError):
    """The data of one YAML document, or ``error(message, where, field)`` if it is not valid
    YAML, uses an unsafe tag, repeats a key, or expands beyond MAX_NODES / MAX_DEPTH."""
    if len(text) > MAX_BYTES:
        raise error(f"is {len(text):,} characters long; a neurosim YAML file is at most "
                    f"{MAX_BYTES:,}", where)
    try:
        root = yaml.compose(text, Loader=COMPOSER)
    except yaml.YAMLError as err:
        raise error(f"not valid YAML: {_problem(err)}", where) from None
    except RecursionError:
        raise error(f"nested more than {MAX_DEPTH} levels deep", where) from None
    if root is None:
        return None
    nodes, depth = _expanded_size(root)
    if nodes > MAX_NODES:
        raise error(f"its aliases expand to more than {MAX_NODES:,} values (a YAML alias "
                    "bomb?); write the values out instead of repeating anchors", where)
    if depth > MAX_DEPTH:
        raise error(f"nested {depth} levels deep; at most {MAX_DEPTH} are allowed", where)
    duplicate = _duplicate_key(root)
    if duplicate:
        raise error(f"key given twice (line {duplicate[1]}); remove one", where, duplicate[0])
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root)
    except yaml.YAMLError as err:  # !!python/object and other unsafe or unknown tags
        raise error(f"not valid YAML: {_problem(err)}", where) from None
    except Exception as err:  # constructors fail in many ways on odd scalars (a bad timestamp)
        raise error(f"not valid YAML: cannot read a value ({type(err).__name__}: {err})",
                    where) from None
    finally:
        loader.dispose()


def load_file(path, error=NeurosimError, where: str | None = None):
    """``load_text`` of a file (UTF-8), with the file's size checked before it is read."""
    path = Path(path)
    where = where or str(path)
    try:
        if not path.is_file():  # a pipe or a device would block or never end
            raise error("is not a regular file", where)
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise error(f"is {size:,} bytes; a neurosim YAML file is at most {MAX_BYTES:,}",
                        where)
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"not UTF-8 text: {err.reason} at byte {err.start}", where) from None
    except OSError as err:
        raise error(f"cannot be read: {err.strerror or err}", where) from None
    return load_text(text, where, error)
