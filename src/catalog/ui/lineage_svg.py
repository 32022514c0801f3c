"""Where the boxes and arrows of a product's lineage drawing go (pure: no I/O, no HTML).

The product sits in the middle column, what feeds it in columns to the left (one per level
up), what it feeds to the right (one per level down). The page's template draws the result
as inline SVG, so every name is escaped by Jinja like any other text and the drawing needs
no script and no inline style (the Content-Security-Policy allows neither).

Within a column, nodes are ordered by where their neighbours one column nearer the middle
sit (then by name): a cheap way to keep most arrows from crossing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import quote

from catalog.products.schemas import LineageOut

NODE_W, NODE_H = 184, 40
COLUMN_PITCH = NODE_W + 64
ROW_PITCH = NODE_H + 18
MARGIN = 8
LABEL_CHARS = 24  # what fits in a box; the full name is the box's <title>

Key = tuple[str, str]  # (type, id)


@dataclass(frozen=True)
class Box:
    type: str  # product | element
    id: str
    name: str
    label: str
    href: str
    depth: int  # levels from the product: negative upstream, positive downstream
    current: bool
    x: int
    y: int


@dataclass(frozen=True)
class Arrow:
    d: str  # the SVG path
    upstream: str
    downstream: str
    relationship: str


@dataclass(frozen=True)
class Drawing:
    width: int
    height: int
    boxes: list[Box]
    arrows: list[Arrow]
    node_width: int = NODE_W
    node_height: int = NODE_H

    def side(self, sign: int) -> list[Box]:
        """Upstream (-1) or downstream (+1) boxes, nearest first, for the text list."""
        chosen = [box for box in self.boxes if box.depth * sign > 0]
        return sorted(chosen, key=lambda box: (abs(box.depth), box.name.lower()))


def href_of(node_type: str, node_id: str) -> str:
    if node_type == "element":
        return f"/ui/registry/elements/{quote(node_id, safe='')}"
    return f"/ui/products/{quote(node_id, safe='')}"


def label_of(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"


def layout(
    product_id: str, product_name: str, upstream: LineageOut, downstream: LineageOut
) -> Drawing:
    """Place the nodes of both walks (each node once, the product at depth 0)."""
    current: Key = ("product", product_id)
    depth: dict[Key, int] = {current: 0}
    names: dict[Key, str] = {current: product_name}
    for walk, sign in ((upstream, -1), (downstream, 1)):
        for node in walk.nodes:
            key = (node.type, node.id)
            names.setdefault(key, node.name or node.id)
            if key != current and key not in depth:
                depth[key] = sign * node.depth
    links: set[tuple[Key, Key, str]] = set()
    for walk in (upstream, downstream):
        for edge in walk.edges:
            up, down = (
                (edge.upstream_type, edge.upstream_id),
                (
                    edge.downstream_type,
                    edge.downstream_id,
                ),
            )
            if up in depth and down in depth:
                links.add((up, down, edge.relationship))
    rows = _rows(depth, names, links)
    return _draw(current, depth, names, rows, links)


def _rows(
    depth: dict[Key, int], names: dict[Key, str], links: set[tuple[Key, Key, str]]
) -> dict[Key, int]:
    """Each node's row in its column, outwards from the middle."""
    neighbours: dict[Key, list[Key]] = defaultdict(list)
    for up, down, _ in links:
        neighbours[up].append(down)
        neighbours[down].append(up)
    row: dict[Key, int] = {key: 0 for key, d in depth.items() if d == 0}
    furthest = max((abs(d) for d in depth.values()), default=0)
    for distance in range(1, furthest + 1):
        for sign in (-1, 1):
            column = [key for key, d in depth.items() if d == sign * distance]
            inner = sign * (distance - 1)

            def place(key: Key, inner: int = inner) -> tuple[float, str]:
                near = [row[n] for n in neighbours[key] if depth.get(n) == inner and n in row]
                return (sum(near) / len(near) if near else float("inf"), names[key].lower())

            for index, key in enumerate(sorted(column, key=place)):
                row[key] = index
    return row


def _draw(
    current: Key,
    depth: dict[Key, int],
    names: dict[Key, str],
    rows: dict[Key, int],
    links: set[tuple[Key, Key, str]],
) -> Drawing:
    columns: dict[int, int] = defaultdict(int)  # nodes per column
    for d in depth.values():
        columns[d] += 1
    tallest = max(columns.values())
    left = min(columns)
    boxes: dict[Key, Box] = {}
    for key, d in depth.items():
        offset = (tallest - columns[d]) * ROW_PITCH // 2  # centre short columns
        boxes[key] = Box(
            type=key[0],
            id=key[1],
            name=names[key],
            label=label_of(names[key]),
            href=href_of(*key),
            depth=d,
            current=key == current,
            x=MARGIN + (d - left) * COLUMN_PITCH,
            y=MARGIN + offset + rows[key] * ROW_PITCH,
        )
    arrows = [
        Arrow(_path(boxes[up], boxes[down]), names[up], names[down], relationship)
        for up, down, relationship in sorted(links)
    ]
    ordered = sorted(boxes.values(), key=lambda box: (box.depth, box.y))
    width = MARGIN * 2 + (max(columns) - left) * COLUMN_PITCH + NODE_W
    height = MARGIN * 2 + (tallest - 1) * ROW_PITCH + NODE_H
    return Drawing(width, height, ordered, arrows)


def _path(up: Box, down: Box) -> str:
    """A curve from the right edge of the feeding box to the left edge of the fed one (or,
    within one column, out to the right and back)."""
    y1, y2 = up.y + NODE_H // 2, down.y + NODE_H // 2
    if up.x < down.x:
        x1, x2 = up.x + NODE_W, down.x
        middle = (x1 + x2) // 2
        return f"M{x1} {y1} C{middle} {y1} {middle} {y2} {x2} {y2}"
    x1 = up.x + NODE_W
    x2 = down.x + NODE_W
    bulge = max(x1, x2) + 40
    return f"M{x1} {y1} C{bulge} {y1} {bulge} {y2} {x2} {y2}"
