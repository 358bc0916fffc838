"""Joint one-to-one matching of exits to open sessions, with a confidence for every pair.

Settling the exits of a period together is a maximum-weight bipartite matching (the assignment
problem: Kuhn 1955, "The Hungarian method for the assignment problem"; solved here by
``scipy.optimize.linear_sum_assignment``, Jonker & Volgenant 1987 as modified by Crouse 2016).
Exits are the rows, open sessions the columns; a pair is *feasible* when what is known besides
appearance allows it (the session entered before the exit, the types and confident makes agree:
:func:`vehiclekit.apps.matching.compatible`) and its similarity reaches ``floor``. Every exit may
also stay unmatched, which is worth ``floor``: an exit is matched only where that raises the
total similarity. Each session and each exit is used at most once.

The *confidence* of a matched pair is how much the best total drops when that pair is forbidden:
0 when another matching is as good, large when every alternative costs. It is computed exactly for
every pair at once, as the cheapest exchange cycle through the pair's exit (:func:`_match_part`),
instead of solving the problem again once per pair. A greedy per-exit rule sees only the exit's own candidates; this measure also
sees that the other exits are somebody too.

The problem splits into independent parts (connected components of the feasible pairs: a
motorcycle never competes with a bus), each solved on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

#: Value of an infeasible pair for the solver: far below any similarity, so a feasible matching (all
#: exits unmatched is one) always beats a matching that uses it.
_FORBIDDEN = -1e6


@dataclass(frozen=True)
class Pair:
    """Exit ``exit`` matched to session ``session`` (row and column indices)."""

    exit: int
    session: int
    similarity: float
    confidence: float


def _square(values: np.ndarray, floor: float) -> np.ndarray:
    """The problem as a square matrix (-inf: not allowed): exits x (sessions, then one "unmatched"
    column per exit worth ``floor``), below them one zero-valued "nobody" row per session, which
    takes what the exits leave (an unclaimed session, an unused "unmatched" column)."""
    exits, sessions = values.shape
    n = exits + sessions
    square = np.full((n, n), -np.inf)
    square[:exits, :sessions] = values
    square[np.arange(exits), sessions + np.arange(exits)] = floor
    square[exits:, :] = 0.0
    return square


def _potentials(cost: np.ndarray) -> np.ndarray:
    """Feasible potentials ``p`` (``p[a] <= p[b] + cost[a, b]``) by Bellman-Ford from a virtual source,
    one vectorised relaxation of every row per round; the optimal matching has no negative cycle."""
    p = np.zeros(len(cost))
    for _ in range(len(cost) + 1):
        relaxed = np.minimum(p, (cost + p[None, :]).min(axis=1))
        if np.all(relaxed >= p - 1e-12):
            return p
        p = relaxed
    raise RuntimeError("negative cycle: the assignment is not optimal (report this with the similarity matrix)")


def _match_part(values: np.ndarray, floor: float) -> list[tuple[int, int, float]]:
    """(exit, session, confidence) of the best matching of one part (``values``: -inf where not allowed).

    The drop when a matched pair (i, j) is forbidden equals the cheapest exchange cycle through exit
    i that does not keep it on j: row a taking the column of row b costs ``w(a, M(a)) - w(a, M(b))``,
    made non-negative by the potentials of :func:`_potentials` (a cycle's total is unchanged by
    them), so Dijkstra finds every such cycle at once (the shortest-path view of assignment
    sensitivity; Burkard, Dell'Amico & Martello, "Assignment Problems", 2009)."""
    exits, sessions = values.shape
    square = _square(values, floor)
    _, owner_col = linear_sum_assignment(np.where(np.isfinite(square), square, _FORBIDDEN), maximize=True)
    held = square[np.arange(len(square)), owner_col]                  # each row's own value
    move = held[:, None] - square[:, owner_col]                       # row a takes row b's column
    p = _potentials(move)
    reduced = np.clip(move - p[:, None] + p[None, :], 0.0, None)    # >= 0 up to rounding; inf where not allowed
    matched = [i for i in range(exits) if owner_col[i] < sessions]
    if not matched:
        return []
    rows, cols = np.nonzero(np.isfinite(reduced))
    graph = csr_matrix((reduced[rows, cols], (cols, rows)), shape=reduced.shape)   # reversed: distances *to* i
    to_exit = dijkstra(graph, indices=matched)
    out = []
    for k, i in enumerate(matched):
        first = reduced[i].copy()
        first[i] = np.inf                                             # staying put is no alternative
        drop = float(np.min(first + to_exit[k]))
        out.append((i, int(owner_col[i]), max(drop, 0.0)))
    return out


def _components(feasible: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(exit indices, session indices) of each connected part of the feasible pairs that has an exit."""
    exits, sessions = feasible.shape
    rows, cols = np.nonzero(feasible)
    graph = coo_matrix((np.ones(len(rows)), (rows, exits + cols)), shape=(exits + sessions,) * 2)
    _, label = connected_components(graph, directed=False)
    parts = []
    for part in np.unique(label[:exits]):
        parts.append((np.flatnonzero(label[:exits] == part), np.flatnonzero(label[exits:] == part)))
    return parts


def match(similarity: np.ndarray, feasible: np.ndarray, floor: float) -> list[Pair]:
    """The matching of exits (rows of ``similarity`` [E, N]) to sessions (columns) with the highest
    total similarity, among ``feasible`` pairs whose similarity is at least ``floor``; one
    :class:`Pair` per matched exit, with its confidence (see the module docstring)."""
    similarity = np.asarray(similarity, np.float64)
    if similarity.ndim != 2 or similarity.shape != np.shape(feasible):
        raise ValueError(f"similarity {similarity.shape} and feasible {np.shape(feasible)} must be the same "
                         "[exits, sessions] shape")
    allowed = np.asarray(feasible, bool) & (similarity >= floor) & np.isfinite(similarity)
    pairs = []
    for exits, sessions in _components(allowed):
        if not len(sessions):
            continue
        values = np.where(allowed[np.ix_(exits, sessions)], similarity[np.ix_(exits, sessions)], -np.inf)
        for row, col, drop in _match_part(values, floor):
            pairs.append(Pair(int(exits[row]), int(sessions[col]), float(values[row, col]), drop))
    return sorted(pairs, key=lambda p: p.exit)
