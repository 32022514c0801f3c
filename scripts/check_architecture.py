"""Two rules of the architecture that import-linter cannot state; `make lint` runs this.

1. No import cycle among the modules of src/catalog, nor among its top-level packages, with no
   exceptions (import-linter's contracts in .importlinter check package layers and cycles
   inside each package; this checks every module against every other, type-only imports
   included, and every package against every other).
2. SQL is built and run only in repository modules, the db package and migrations: a call to
   `select`, `text`, `insert`, `update` or `delete` imported from SQLAlchemy, or an
   `.execute(...)` in a module that imports SQLAlchemy (a Redis pipeline's is not SQL),
   anywhere else is an error, unless the file is in SQL_ALLOWED below.

Exit status 1 and one line per finding when broken. Calls are found in the syntax tree, so
`dict.update(...)` or a word in a docstring is never mistaken for SQL.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "catalog"
SQL_BUILDERS = frozenset({"select", "text", "insert", "update", "delete"})

# The modules that build or run SQL outside a repository, each with why it stays (issue 14
# moved the others' statements into repositories). SQL anywhere else is a debt: move it into
# the domain's repository.py rather than add a line here. A file here that no longer has SQL
# is reported too, so the list only shrinks.
SQL_ALLOWED = {
    # Not table access, or not a domain's:
    "server/health.py": "the database probe's SELECT 1",
    "doctor.py": "catalog doctor's read-only checks of the database it is pointed at",
    "ops/hot_queries.py": "builds the advisor's hot statements from the repositories' own",
    # Table access that is an adapter's whole implementation, not a domain's repository seam:
    "graph/sql_store.py": (
        "the `sql` adapter of the GraphStore protocol (the peer of the Cypher stores): its "
        "view walk and lineage CTE are the store's implementation, run on its own sessions"
    ),
}


def sql_allowed_by_rule(relative: str) -> bool:
    parts = relative.split("/")
    return parts[0] == "db" or parts[-1] == "repository.py" or "migrations" in parts


def sql_calls(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    builders: set[str] = set()  # local names bound to SQLAlchemy's statement builders
    modules: set[str] = set()  # local names bound to sqlalchemy (or a dialect) modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name in SQL_BUILDERS:
                    builders.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sqlalchemy"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in builders:
            found.append((node.lineno, f"{func.id}("))
        elif isinstance(func, ast.Attribute):
            if func.attr == "execute" and (builders or modules):
                found.append((node.lineno, ".execute("))
            elif (
                func.attr in SQL_BUILDERS
                and isinstance(func.value, ast.Name)
                and func.value.id in modules
            ):
                found.append((node.lineno, f"{func.value.id}.{func.attr}("))
    return found


def check_sql() -> list[str]:
    problems = []
    seen_allowed = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if sql_allowed_by_rule(relative):
            continue
        calls = sql_calls(path)
        if relative in SQL_ALLOWED:
            seen_allowed.add(relative)
            if not calls:
                problems.append(f"{relative}: no SQL left; remove it from SQL_ALLOWED")
            continue
        problems += [
            f"src/catalog/{relative}:{line}: {call} outside a repository (move it to one)"
            for line, call in calls
        ]
    problems += [
        f"{relative}: in SQL_ALLOWED but not a module of src/catalog"
        for relative in sorted(set(SQL_ALLOWED) - seen_allowed)
    ]
    return problems


def check_cycles() -> list[str]:
    graph = grimp.build_graph("catalog", include_external_packages=False)
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    problems = []
    for component in strongly_connected(imports):
        if len(component) > 1:
            members = ", ".join(sorted(component))
            problems.append(f"import cycle among {len(component)} modules: {members}")
    # The same between the top-level packages: the layers contract lets the domains (one
    # layer) import each other, and this keeps those imports one-way too.
    packages: dict[str, set[str]] = {}
    for module, imported in imports.items():
        edges = packages.setdefault(_package(module), set())
        edges.update(_package(other) for other in imported if _package(other) != _package(module))
    for component in strongly_connected(packages):
        if len(component) > 1:
            members = ", ".join(sorted(component))
            problems.append(f"import cycle among {len(component)} packages: {members}")
    return problems


def _package(module: str) -> str:
    """`catalog.products.service` -> `catalog.products`; a top-level module is its own."""
    return ".".join(module.split(".")[:2])


def strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (the import graph is deeper than Python's stack allows
    for recursion on a bad day)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def main() -> int:
    problems = check_cycles() + check_sql()
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
