"""The folder list is the architecture: each sub-package of `daemon` says in its docstring what it
may import ("May import: storage, core."), and imports run one way, from the CLI down to core."""

import ast
import re
from pathlib import Path

import daemon

ROOT = Path(daemon.__file__).parent
_MAY_IMPORT = re.compile(r"^May import: (.+)\.$", re.MULTILINE)


def _packages() -> dict[str, set[str]]:
    """Each sub-package and the sub-packages its docstring lets it import."""
    allowed = {}
    for init in sorted(ROOT.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        found = _MAY_IMPORT.search(doc)
        assert found, f"{init.relative_to(ROOT.parent)} does not say what it may import"
        names = found.group(1)
        allowed[init.parent.name] = (
            set() if names.startswith("nothing") else {n.strip() for n in names.split(",")}
        )
    return allowed


def _imports(path: Path) -> list[tuple[int, str]]:
    """The daemon modules a file imports, wherever in it (imports inside functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("daemon.")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "daemon":
                found += [(node.lineno, f"daemon.{a.name}") for a in node.names]
            elif node.module.startswith("daemon."):
                found.append((node.lineno, node.module))
    return found


def test_every_module_lives_in_a_sub_package():
    loose = {p.name for p in ROOT.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert not loose, f"modules outside any sub-package: {sorted(loose)}"


def test_the_sub_packages_allow_imports_in_one_direction_only():
    allowed = _packages()
    assert set(allowed) >= {"cli", "service", "capture", "transcribe", "storage", "core"}
    for package, may in allowed.items():
        assert may <= set(allowed), f"{package} names packages that do not exist: {may}"
        assert package not in may

    def below(package: str, seen: tuple[str, ...] = ()) -> set[str]:
        assert package not in seen, f"imports run in a circle: {' -> '.join(seen + (package,))}"
        return set().union(*(below(p, seen + (package,)) | {p} for p in allowed[package]))

    for package in allowed:
        below(package)
    assert below("cli") == set(allowed) - {"cli"}  # the CLI is the top: it may reach everything
    assert allowed["core"] == set()


def test_every_import_follows_the_direction_its_package_allows():
    allowed = _packages()
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if len(rel.parts) == 1:  # daemon/__init__.py, daemon/__main__.py
            continue
        package = rel.parts[0]
        for line, module in _imports(path):
            target = module.split(".")[1]
            if target in allowed and target != package and target not in allowed[package]:
                wrong.append(f"daemon/{rel}:{line} imports {module}")
    assert not wrong, "imports against the direction:\n" + "\n".join(wrong)


# Listeners that face the network or other processes: only the daemon's wiring (service) and
# the CLI start them; the domain code they carry requests to never imports them back.
_TRANSPORTS = {"daemon.wearable.server": {"service", "cli"}}


def test_domain_code_does_not_import_the_transports():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        for line, module in _imports(path):
            users = _TRANSPORTS.get(module)
            if users is not None and rel.parts[0] not in users:
                wrong.append(f"daemon/{rel}:{line} imports {module}")
    assert not wrong, "domain code importing a transport:\n" + "\n".join(wrong)


def test_the_benchmarks_import_what_exists():
    """The benchmarks run rarely and no test runs them: their imports of daemon are checked here."""
    import importlib

    missing = []
    for path in sorted((ROOT.parent / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("daemon"):
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        missing.append(f"{path.name}:{node.lineno} {node.module}.{alias.name}")
    assert not missing, "benchmarks importing what does not exist: " + ", ".join(missing)
