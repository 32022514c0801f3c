"""The tag hierarchy as a forest, built from one list of tags and rendered without recursion.

JSON encoders recurse once per nesting level and give up a few hundred levels down (pydantic
stops at about 255), so a deep but legal hierarchy would fail as a 500. The forest is written
here with an explicit stack instead, one flat `orjson` dump per tag: any depth renders.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import orjson

from catalog.db.models import Tag
from catalog.tags.schemas import TagOut


@dataclass
class Forest:
    roots: list[TagOut] = field(default_factory=list)
    children: dict[str, list[TagOut]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.roots) + sum(len(kids) for kids in self.children.values())


def build_forest(tags: Sequence[Tag]) -> Forest:
    """Nest `tags` under their parents; a tag whose parent is not in `tags` is a root.

    Siblings keep the order of `tags`.
    """
    present = {tag.id for tag in tags}
    forest = Forest()
    for tag in tags:
        node = TagOut.model_validate(tag)
        if tag.parent_tag_id is not None and tag.parent_tag_id in present:
            forest.children.setdefault(tag.parent_tag_id, []).append(node)
        else:
            forest.roots.append(node)
    return forest


def render_tree_page(forest: Forest) -> bytes:
    """`{"items": [root, ...], "total", "limit", "offset"}`, each node with its `children`."""
    parts = [b'{"items":[']
    levels: list[Iterator[TagOut]] = [iter(forest.roots)]
    started = [False]
    while levels:
        node = next(levels[-1], None)
        if node is None:
            levels.pop()
            started.pop()
            parts.append(b"]}" if levels else b"]")
            continue
        if started[-1]:
            parts.append(b",")
        started[-1] = True
        flat = orjson.dumps(node.model_dump(mode="json"))
        parts.append(flat[:-1] + b',"children":[')
        levels.append(iter(forest.children.get(node.id, ())))
        started.append(False)
    size = forest.size
    parts.append(b',"total":%d,"limit":%d,"offset":0}' % (size, size))
    return b"".join(parts)
