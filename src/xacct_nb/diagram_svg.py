"""The plan's Mermaid flowchart drawn as SVG in Python (pure: Mermaid text in, SVG text out).

Why: JupyterLab renders the Mermaid block itself, but the HTML records (nbconvert) have no Mermaid
renderer — nbconvert would load mermaid.js from a CDN, and a record must read offline. So the
diagram's output also carries this SVG (`diagram.picture`), which the record shows instead. It
reads only the Mermaid that `diagram.diagram` writes: ``flowchart LR``, nodes ``ID[..]``,
``ID([..])``, ``ID[(..)]``, ``ID{{..}}``, ``ID[/../]`` with quoted labels, edge chains ``A -->|"l"|
B --> C`` and ``A -.->|"l"| B``, ``classDef`` and ``class`` lines; anything else raises
ValueError (the output then carries no SVG rather than a wrong one).

Layout: columns by longest path from the sources (left to right), nodes in a column ordered by
their predecessors' positions (fewer crossings), edges as curves with their label on a white
ground at the middle; a label ``a · b`` is drawn on two lines. A legend names the highlight colours.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field

__all__ = ["Graph", "parse", "render"]

FONT = 13
CHAR_W = 7.2          # an upper estimate of a 13 px sans-serif character's width
LINE_H = 17
PAD_X, PAD_Y = 14, 9
ROW_GAP = 30          # between the nodes of a column (≥ 2 label heights: fanned-out labels never touch)
MARGIN = 16
DEFAULT_STYLE = {"fill": "#eef2fb", "stroke": "#4a5a7a", "color": "#1f2937"}
LEGEND = {"create": "created by this plan", "update": "changed by this plan",
          "delete": "removed by this plan"}

_SHAPES = (("([", "])", "stadium"), ("[(", ")]", "cylinder"), ("{{", "}}", "hexagon"),
           ("[/", "/]", "parallelogram"), ("[", "]", "rect"))
_ID = r"[A-Za-z][A-Za-z0-9_]*"
_ARROW = re.compile(r'\s*(-->|-\.->)(?:\|("(?:[^"]*)")\|)?\s*(' + _ID + r")")


@dataclass
class Node:
    id: str
    label: str
    shape: str
    cls: str = ""


@dataclass
class Edge:
    src: str
    dst: str
    label: str
    dotted: bool


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    styles: dict[str, dict[str, str]] = field(default_factory=dict)


def _unquote(text: str) -> str:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"unquoted Mermaid label {text!r}")
    return text[1:-1].replace("#quot;", '"').replace("#lt;", "<").replace("#gt;", ">")


def parse(text: str) -> Graph:
    lines = text.strip().splitlines()
    if not lines or lines[0].strip() != "flowchart LR":
        raise ValueError("not a 'flowchart LR' diagram")
    graph = Graph()
    for raw in lines[1:]:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("classDef "):
            _, name, style = line.split(" ", 2)
            graph.styles[name] = dict(part.split(":", 1) for part in style.split(","))
        elif line.startswith("class "):
            _, ids, name = line.split(" ")
            for node_id in ids.split(","):
                graph.nodes[node_id].cls = name
        elif (node := _node(line)) is not None:
            graph.nodes.setdefault(node.id, node)
        else:
            _edges(line, graph)
    for edge in graph.edges:
        for end in (edge.src, edge.dst):
            if end not in graph.nodes:
                raise ValueError(f"edge to undeclared node {end}")
    return graph


def _node(line: str) -> Node | None:
    match = re.fullmatch(r"(" + _ID + r")(\W.*)", line)
    if not match or match[2].lstrip().startswith(("-", "|")):
        return None
    node_id, rest = match[1], match[2]
    for opening, closing, shape in _SHAPES:
        if rest.startswith(opening) and rest.endswith(closing):
            return Node(node_id, _unquote(rest[len(opening):-len(closing)]), shape)
    raise ValueError(f"unknown node shape in {line!r}")


def _edges(line: str, graph: Graph) -> None:
    match = re.match(_ID, line)
    if not match:
        raise ValueError(f"cannot read diagram line {line!r}")
    src, pos = match[0], match.end()
    while pos < len(line):
        arrow = _ARROW.match(line, pos)
        if not arrow:
            raise ValueError(f"cannot read diagram line {line!r}")
        label = _unquote(arrow[2]) if arrow[2] else ""
        graph.edges.append(Edge(src, arrow[3], label, arrow[1] == "-.->"))
        src, pos = arrow[3], arrow.end()


# --- layout -------------------------------------------------------------------------------------

WRAP = 24        # characters per line of a node label: longer parts break at spaces, then after - _ /
EDGE_WRAP = 16   # the same for edge labels, which sit between columns and widen them


def _lines(label: str, wrap: int = WRAP) -> list[str]:
    lines: list[str] = []
    for part in label.split(" · "):
        # (text, glued to the previous piece: a cut inside one long word)
        pieces = [(piece, i > 0) for word in part.split(" ") for i, piece in enumerate(_pieces(word, wrap))]
        line = pieces[0][0]
        for piece, glued in pieces[1:]:
            joined = line + piece if glued else f"{line} {piece}"
            if len(joined) > wrap:
                lines.append(line)
                line = piece
            else:
                line = joined
        lines.append(line)
    return lines


def _pieces(word: str, wrap: int) -> list[str]:
    """A word longer than `wrap` cut after each - _ / (an ARN-like name), else kept whole."""
    if len(word) <= wrap:
        return [word]
    return [p for p in re.split(r"(?<=[-_/])", word) if p]


def _text_width(text: str) -> float:
    return len(text) * CHAR_W


@dataclass
class _Box:
    x: float
    y: float  # centre
    w: float
    h: float


def _ranks(graph: Graph) -> dict[str, int]:
    rank = dict.fromkeys(graph.nodes, 0)
    for _ in range(len(graph.nodes)):  # longest path; a cycle stops after n rounds
        changed = False
        for edge in graph.edges:
            if rank[edge.dst] < rank[edge.src] + 1:
                rank[edge.dst] = rank[edge.src] + 1
                changed = True
        if not changed:
            break
    return rank


def _layout(graph: Graph) -> tuple[dict[str, _Box], float, float]:
    rank = _ranks(graph)
    columns: list[list[str]] = [[] for _ in range(max(rank.values(), default=0) + 1)]
    for node_id in graph.nodes:  # declaration order first
        columns[rank[node_id]].append(node_id)
    sizes = {}
    for node in graph.nodes.values():
        lines = _lines(node.label)
        extra = 24 if node.shape in ("hexagon", "parallelogram") else 0
        extra += 16 if node.shape == "stadium" else 0
        sizes[node.id] = (max(map(_text_width, lines)) + 2 * PAD_X + extra,
                          len(lines) * LINE_H + 2 * PAD_Y + (10 if node.shape == "cylinder" else 0))
    position: dict[str, float] = {}
    boxes: dict[str, _Box] = {}
    x: float = MARGIN
    heights = [sum(sizes[n][1] for n in col) + ROW_GAP * (len(col) - 1) for col in columns]
    total_h = max(heights, default=0)
    for index, column in enumerate(columns):
        preds = {n: [position[e.src] for e in graph.edges if e.dst == n and e.src in position] for n in column}
        column.sort(key=lambda n: (sum(preds[n]) / len(preds[n]) if preds[n] else -1.0))
        width = max((sizes[n][0] for n in column), default=0)
        y = MARGIN + (total_h - heights[index]) / 2
        for order, node_id in enumerate(column):
            w, h = sizes[node_id]
            boxes[node_id] = _Box(x + (width - w) / 2, y + h / 2, w, h)
            position[node_id] = order
            y += h + ROW_GAP
        labels = [max(map(_text_width, _lines(e.label, EDGE_WRAP))) for e in graph.edges
                  if e.src in column and e.label]
        # room for the labels; wider when labelled edges of several nodes cross there
        crossing = len({e.src for e in graph.edges if e.src in column and e.label}) > 1
        x += width + max(60.0, max(labels, default=0.0) + 40 + (30 * max(0, len(labels) - 3) if crossing else 0))
    return boxes, x - 40, total_h + 2 * MARGIN


# --- drawing ------------------------------------------------------------------------------------

def _style(graph: Graph, node: Node) -> dict[str, str]:
    return {**DEFAULT_STYLE, **graph.styles.get(node.cls, {})}


def _shape(node: Node, box: _Box, style: dict[str, str]) -> str:
    left, top, w, h = box.x, box.y - box.h / 2, box.w, box.h
    paint = (f'fill="{style["fill"]}" stroke="{style["stroke"]}" stroke-width="1.5"'
             + (f' stroke-dasharray="{style["stroke-dasharray"]}"' if "stroke-dasharray" in style else ""))
    if node.shape == "stadium":
        return f'<rect x="{left:.1f}" y="{top:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{h / 2:.1f}" {paint}/>'
    if node.shape == "rect":
        return f'<rect x="{left:.1f}" y="{top:.1f}" width="{w:.1f}" height="{h:.1f}" rx="3" {paint}/>'
    if node.shape == "hexagon":
        d = 12
        points = [(left + d, top), (left + w - d, top), (left + w, box.y), (left + w - d, top + h),
                  (left + d, top + h), (left, box.y)]
    elif node.shape == "parallelogram":
        d = 12
        points = [(left + d, top), (left + w, top), (left + w - d, top + h), (left, top + h)]
    else:  # cylinder
        e = 5
        return (f'<path d="M{left:.1f},{top + e:.1f} a{w / 2:.1f},{e} 0 0,0 {w:.1f},0 '
                f'a{w / 2:.1f},{e} 0 0,0 {-w:.1f},0 l0,{h - 2 * e:.1f} a{w / 2:.1f},{e} 0 0,0 {w:.1f},0 '
                f'l0,{-(h - 2 * e):.1f}" {paint}/>')
    return f'<polygon points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in points)}" {paint}/>'


def _text(lines: list[str], cx: float, cy: float, color: str, weight: str = "normal") -> str:
    top = cy - (len(lines) - 1) * LINE_H / 2
    spans = "".join(f'<tspan x="{cx:.1f}" y="{top + i * LINE_H:.1f}">{html.escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    return (f'<text text-anchor="middle" dominant-baseline="central" fill="{color}" '
            f'font-weight="{weight}">{spans}</text>')


def _bezier(t: float, x1: float, y1: float, mx: float, x2: float, y2: float) -> tuple[float, float]:
    """The point at `t` of the curve from (x1, y1) to (x2, y2) with control points at x = mx."""
    u = 1 - t
    return (u ** 3 * x1 + 3 * u * u * t * mx + 3 * u * t * t * mx + t ** 3 * x2,
            u ** 3 * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t ** 3 * y2)


def _ends(boxes: dict[str, _Box], edge: Edge) -> tuple[float, float, float, float, float]:
    a, b = boxes[edge.src], boxes[edge.dst]
    x1, x2 = a.x + a.w, b.x
    return x1, a.y, (x1 + x2) / 2, x2, b.y


Rect = tuple[float, float, float, float]


def _clashes(spot: tuple[float, float], width: float, half: float, taken: list[Rect],
             lines: list[Rect]) -> tuple[int, int]:
    """How many labels or nodes, then how many points of other edges, a label at `spot` covers."""
    rect = (spot[0] - width / 2, spot[1] - half, spot[0] + width / 2, spot[1] + half)
    return sum(_overlaps(rect, r) for r in taken), sum(_overlaps(rect, r) for r in lines)


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] + 2 and b[0] < a[2] + 2 and a[1] < b[3] + 2 and b[1] < a[3] + 2


def render(text: str) -> str:
    """The SVG of a Mermaid flowchart written by `diagram.diagram`."""
    graph = parse(text)
    boxes, width, height = _layout(graph)
    used = [c for c in LEGEND if any(n.cls == c for n in graph.nodes.values())]
    width = max(width, MARGIN + sum(52 + _text_width(LEGEND[c]) for c in used))
    legend_h = 30 if used else 0
    uid = "x" + hashlib.sha256(text.encode()).hexdigest()[:8]  # unique marker ids per diagram on a page
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height + legend_h:.0f}" '
           f'viewBox="0 0 {width:.0f} {height + legend_h:.0f}" font-family="Helvetica, Arial, sans-serif" '
           f'font-size="{FONT}" role="img" aria-label="grant diagram">',
           "<title>The grant: consumer principals, the role or resource policies, the tables</title>",
           f'<defs><marker id="{uid}a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#4a5a7a"/>'
           "</marker></defs>", '<rect width="100%" height="100%" fill="#ffffff"/>']
    labels: list[str] = []
    taken = [(b.x, b.y - b.h / 2, b.x + b.w, b.y + b.h / 2) for b in boxes.values()]
    curves = {id(e): [_bezier(i / 24, *_ends(boxes, e)) for i in range(25)] for e in graph.edges}
    for edge in graph.edges:
        a, b = boxes[edge.src], boxes[edge.dst]
        x1, y1, x2, y2 = a.x + a.w, a.y, b.x, b.y
        mx = (x1 + x2) / 2
        dash = ' stroke-dasharray="5 4"' if edge.dotted else ""
        out.append(f'<path d="M{x1:.1f},{y1:.1f} C{mx:.1f},{y1:.1f} {mx:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" '
                   f'fill="none" stroke="#4a5a7a" stroke-width="1.4"{dash} marker-end="url(#{uid}a)"/>')
        if edge.label:
            label_lines = _lines(edge.label, EDGE_WRAP)
            w = max(map(_text_width, label_lines)) + 10
            half = len(label_lines) * LINE_H / 2 + 1
            # the middle of the curve, else the first point along it where the label touches no
            # other label and no node (fanned-in edges would otherwise stack their labels)
            spots = [_bezier(t, x1, y1, mx, x2, y2) for t in (0.5, 0.62, 0.38, 0.74, 0.26, 0.84, 0.16)]
            lines = [(px - 1, py - 1, px + 1, py + 1) for e in graph.edges if e is not edge
                     for px, py in curves[id(e)]]
            cx, cy = min(spots, key=lambda spot: _clashes(spot, w, half, taken, lines))  # earliest of equals
            taken.append((cx - w / 2, cy - half, cx + w / 2, cy + half))
            labels.append(f'<g class="edge-label"><rect x="{cx - w / 2:.1f}" y="{cy - half:.1f}" width="{w:.1f}" '
                          f'height="{2 * half:.1f}" rx="3" fill="#ffffff" stroke="#d0d5e0"/>'
                          + _text(label_lines, cx, cy, "#1f2937") + "</g>")
    out += labels  # over every line, so no line crosses a label's text
    for node in graph.nodes.values():
        box, style = boxes[node.id], _style(graph, node)
        out.append(f'<g class="node {node.cls}" data-id="{node.id}">' + _shape(node, box, style)
                   + _text(_lines(node.label), box.x + box.w / 2, box.y + (3 if node.shape == "cylinder" else 0),
                           style["color"], "bold" if node.cls else "normal") + "</g>")
    x = MARGIN
    for cls in used:
        style = {**DEFAULT_STYLE, **graph.styles.get(cls, {})}
        dash = f' stroke-dasharray="{style["stroke-dasharray"]}"' if "stroke-dasharray" in style else ""
        out.append(f'<rect x="{x}" y="{height + 4:.0f}" width="22" height="14" fill="{style["fill"]}" '
                   f'stroke="{style["stroke"]}"{dash}/><text x="{x + 28}" y="{height + 11:.0f}" '
                   f'dominant-baseline="central" fill="#1f2937">{LEGEND[cls]}</text>')
        x += 28 + int(_text_width(LEGEND[cls])) + 24
    out.append("</svg>")
    return "\n".join(out)
