"""Answers of the graph routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from catalog.graph.model import Label, RelType


class GraphNodeOut(BaseModel):
    label: Label
    id: str
    name: str | None
    depth: int


class GraphEdgeOut(BaseModel):
    type: RelType
    source_label: Label
    source_id: str
    target_label: Label
    target_id: str


class NeighboursOut(BaseModel):
    node: GraphNodeOut
    direction: Literal["out", "in", "both"]
    nodes: list[GraphNodeOut]  # the neighbours (depth 1)
    edges: list[GraphEdgeOut]
    truncated: bool
    store: str


class PathOut(BaseModel):
    source: GraphNodeOut
    target: GraphNodeOut
    max_depth: int
    found: bool
    length: int | None  # relationships on the path
    nodes: list[GraphNodeOut]  # from source to target
    edges: list[GraphEdgeOut]  # edges[i] joins nodes[i] and nodes[i + 1], either way round
    store: str
