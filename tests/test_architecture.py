"""The house plan, checked: folders by concept, data flowing one way, no import circle, no
private name imported from another module, and only a handful of top-level modules."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "explorer"

# Lower layers first; a module may import its own layer or a lower one, never a higher one.
LAYERS = [
    ("explorer.settings", "explorer.reference", "explorer.atomic", "explorer.spec"),  # and the package itself

    ("explorer.blocks", "explorer.models", "explorer.data"),
    ("explorer.separability", "explorer.train"),
    ("explorer.runs",),
    ("explorer.importer",),
    ("explorer.analysis.inputs", "explorer.analysis.features", "explorer.analysis.cache", "explorer.analysis.evaluation"),
    ("explorer.studies",),
    ("explorer.analysis",),
    ("explorer.charts",),
    ("explorer.studies.catalog",),  # a study declared: its measures, its charts, its sentences
    ("explorer.verdict",),
    ("explorer.report",),
    ("explorer.jobs",),
    ("explorer.cli", "explorer.ui", "explorer.__main__"),
]
TOP_LEVEL = {"__init__.py", "__main__.py", "settings.py", "reference.py", "atomic.py", "spec.py", "blocks.py", "models.py"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def layer(mod: str) -> int:
    if mod == "explorer":
        return 0
    best = (-1, None)
    for i, prefixes in enumerate(LAYERS):
        for pre in prefixes:
            if (mod == pre or mod.startswith(pre + ".")) and len(pre) > best[0]:
                best = (len(pre), i)
    if best[1] is None:
        raise AssertionError(f"{mod} belongs to no layer of tests/test_architecture.py")
    return best[1]


def imports(mod: str) -> list[tuple[str, list[str], int]]:
    """(imported explorer module, names taken from it, line) for every import of ``mod``, lazy ones too."""
    path = MODULES[mod]
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("explorer"):
                continue
            names = []
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in MODULES:
                    out.append((sub, [], node.lineno))
                else:
                    names.append(a.name)
            if names:
                out.append((target, names, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("explorer")]
    return out


def test_only_a_handful_of_modules_sit_at_the_top():
    top = {p.name for p in PKG.glob("*.py")}
    assert top <= TOP_LEVEL, f"move these into the package of their concept: {sorted(top - TOP_LEVEL)}"


def test_no_import_runs_back_up():
    bad = [f"{m}:{line} imports {t}" for m in MODULES for t, _, line in imports(m)
           if t in MODULES and layer(t) > layer(m)]
    assert not bad, "\n".join(bad)


def test_no_private_name_crosses_a_module():
    bad = [f"{m}:{line} takes {n} from {t}" for m in MODULES for t, names, line in imports(m) for n in names
           if n.startswith("_") and not n.startswith("__") and t != m]
    assert not bad, "\n".join(bad)


def test_no_import_circle():
    graph = {m: {t for t, _, _ in imports(m) if t in MODULES and t != m} for m in MODULES}
    # a package's __init__ that re-exports its own modules is its public face, not a circle
    for m in graph:
        graph[m] = {t for t in graph[m] if not (MODULES[t].name == "__init__.py" and m.startswith(t + "."))}
    index, low, stack, on, circles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not circles, circles


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_a_module_does_one_thing(mod):
    lines = len(MODULES[mod].read_text().splitlines())
    assert lines <= 330, f"{mod} has {lines} lines; split it by what it does"
