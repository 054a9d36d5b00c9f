"""Levels as one decision for the whole column: forward-backward over the ordered bodies.

States are (body, level) over T11, T12, L1..L5, L6, S1. A path keeps some bodies (the rest are
skipped as non-vertebrae) and gives them strictly increasing levels. Its score adds each kept
body's evidence (detector class scores, S1 shape), how well centroid spacing fits the number
of levels stepped (a gap of one missing body doubles the spacing), and priors on where a film
starts and ends. One confidently wrong body therefore cannot shift the column: its neighbours
and the spacing outvote it. Both directions along the column are scored; the image-up prior
decides only when the evidence does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lumbarseg.levels import EXTENDED_LEVELS as EXT_LEVELS
from lumbarseg.postprocess.config import LabellerConfig

T11, T12, L5, L6, S1 = 0, 1, 6, 7, 8
NEG = -1e9
# Farthest centroid distance, in spacing units, at which a body can be the next one down.
NEXT_BODY_REACH = 1.6
# Nearest such distance: a detection closer than this is another outline of the same bone (S1
# drawn twice, once with the lower sacrum), not a body below it.
SAME_BODY_REACH = 0.6


@dataclass
class BodyEvidence:
    """What the assignment knows about one ordered body."""

    centroid: np.ndarray
    height: float  # extent along the column
    vertebra_prob: float  # belief that it is a vertebral body at all
    class_probs: np.ndarray | None  # (6,) L1..S1, or None for a single-class detector
    s1_llr: float  # shape evidence (log-likelihood ratio) for S1 vs lumbar, caudal = later
    s1_llr_reversed: float = 0.0  # the same with the caudal end first in the list
    span: int = 1  # 2 for a fused block holding two bodies
    outline_on_metal: bool = False  # the outline follows an implant: no taper for S1


@dataclass
class Assignment:
    """Result for bodies given cranial -> caudal."""

    positions: list[int]  # kept positions into the body list passed in
    levels: list[int]  # EXT_LEVELS index per kept body (the top level of a fused block)
    confidences: list[float]
    reversed: bool  # True when the caudal end is the first body passed in
    orientation_confidence: float
    skipped: list[int]
    unit: float = 0.0  # expected centroid spacing of adjacent bodies (px)


def _log(x: float) -> float:
    return float(np.log(max(x, 1e-12)))


def _extended_class_probs(p: np.ndarray) -> np.ndarray:
    """Detector L1..S1 probabilities spread over EXT_LEVELS: a detector without thoracic or L6
    classes calls T12 (and less so T11) "L1" and an L6 "L5", so those levels borrow that score."""
    l1, l5, s1 = p[0], p[4], p[5]
    t11, t12, l6 = 0.2 * l1 + 0.02, 0.4 * l1 + 0.02, 0.4 * l5 + 0.02
    return np.array([t11, t12, *p[:5], l6, s1])


def _emissions(body: BodyEvidence, config: LabellerConfig, reversed_: bool = False) -> np.ndarray:
    ll = np.zeros(len(EXT_LEVELS))
    if body.class_probs is not None:
        p = np.clip(np.asarray(body.class_probs, float), 0, None)
        p = p / max(p.sum(), 1e-9) * 0.96 + 0.04 / 6
        ext = _extended_class_probs(p)
        ll += config.class_score_weight * np.clip(np.log(ext * 6), -6.0, 3.0)
        # Which lumbar (or thoracic) level, as against lumbar or sacral, weighs less: a model
        # counts from the top of the film, so its ranks shift together while S1 stays S1.
        lumbar = ext[:S1] * 5 / max(float(ext[:S1].sum()), 1e-9)
        ll[:S1] -= ((config.class_score_weight - config.class_rank_weight)
                    * np.clip(np.log(lumbar), -6.0, 3.0))
    llr = body.s1_llr_reversed if reversed_ else body.s1_llr
    ll[S1] += config.shape_weight * llr
    if body.span == 2:
        # A fused block's top is T11..L4 (the block ends at L5 at the latest). A tall outline
        # may also be the sacrum: it is one bone, and a mask of S1 often runs on into S2.
        ll[L5:S1] = NEG
    return ll


def _per_level(probabilities: dict[str, float]) -> np.ndarray:
    """A prior over EXT_LEVELS from {level: probability}; unnamed levels get 1e-9."""
    return np.array([probabilities.get(lv, 1e-9) for lv in EXT_LEVELS])


# Where a column starts when the film edge cuts it at the top: the edge may fall anywhere,
# most often through the upper lumbar spine; an L6 cannot be the first body seen.
_FIRST_LEVEL_AFTER_TOP_CUT = _per_level(
    {"T11": 0.02, "T12": 0.1, "L1": 0.3, "L2": 0.3, "L3": 0.15, "L4": 0.08, "L5": 0.05,
     "S1": 0.02})
# Where a column ends when the film edge cuts it at the bottom: a low cut (through L4, L5 or
# the sacrum) is far likelier than one through the upper lumbar spine on a lumbar film.
_LAST_LEVEL_BEFORE_BOTTOM_CUT = _per_level(
    {"T11": 1e-3, "T12": 1e-3, "L1": 0.05, "L2": 0.05, "L3": 0.1, "L4": 0.25, "L5": 0.25,
     "L6": 0.01, "S1": 0.3})


def _priors(config: LabellerConfig, cut_start: bool = False,
            cut_end: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Log-priors of the first and last kept level; a film edge at an end of the column means
    the column continues beyond it, so any level may come first (or last) there."""
    if cut_start or cut_end:
        start, end = _priors(config)
        return (np.log(_FIRST_LEVEL_AFTER_TOP_CUT) if cut_start else start,
                np.log(_LAST_LEVEL_BEFORE_BOTTOM_CUT) if cut_end else end)
    top, bottom, t12 = config.top_cut_prior, config.bottom_cut_prior, config.t12_prior
    t11 = t12 / 4
    # Uncut top (weak evidence): a lumbar film starts at L1, or shows T12 (less often T11)
    # above it; a top below L1 means the detector missed bodies (``top`` share, mostly L1).
    first = _per_level({"T11": t11, "T12": t12, "L1": 1 - t12 - t11 - top, "L2": top * 0.6,
                        "L3": top * 0.2, "L4": top * 0.1, "L5": top * 0.1, "S1": top * 0.05})
    # Uncut bottom (strong evidence): a lumbar film is centred low, so the column ends at the
    # sacrum; ending higher means S1 (or more) was missed, L5 likeliest; an L6 is rarer still.
    last = _per_level({"T11": 1e-3, "T12": 1e-3, "L1": bottom * 0.1, "L2": bottom * 0.1,
                       "L3": bottom * 0.15, "L4": bottom * 0.35, "L5": bottom,
                       "L6": config.transitional_prior * 0.1, "S1": 1 - bottom})
    return np.log(first), np.log(last)


def _transition(a_end: int, b: int) -> int:
    """Levels stepped from a block ending at level a_end to a body at level b (0 = invalid)."""
    if b <= a_end:
        return 0
    if b == L6:
        return 1 if a_end == L5 else 0
    steps = b - a_end
    if b == S1 and a_end <= L5:
        steps -= 1
    return steps


def _steps_table(span_j: int) -> np.ndarray:
    """Levels stepped for every (a, b) pair from a body spanning ``span_j`` levels (0 = invalid)."""
    n = len(EXT_LEVELS)
    table = np.zeros((n, n), int)
    for a in range(n):
        if a + span_j - 1 < n:
            for b in range(n):
                table[a, b] = _transition(a + span_j - 1, b)
    return table


_STEPS = {1: _steps_table(1), 2: _steps_table(2)}
_INTO_S1 = np.arange(len(EXT_LEVELS)) == S1
_INTO_L6 = np.arange(len(EXT_LEVELS)) == L6


def _transition_matrix(dist: float, unit: float, span_j: int, span_i: int,
                       config: LabellerConfig) -> np.ndarray:
    steps = _STEPS[span_j]
    valid = steps > 0
    expected = unit * (np.maximum(steps, 1) + (span_j - 1) / 2 + (span_i - 1) / 2)
    expected = expected - _INTO_S1[None, :] * unit * (1 - config.s1_step_ratio)
    ratio = max(dist, 1e-6) / expected
    spacing = np.log(ratio) ** 2 / (2 * config.spacing_sigma ** 2)
    value = (-config.gap_penalty * (steps - 1) - spacing
             + _INTO_L6[None, :] * _log(config.transitional_prior))
    return np.where(valid, value, NEG)


def _lse(x: np.ndarray, axis=None) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis) if axis is not None else float(out.reshape(()))


def _local_units(bodies: list[BodyEvidence], unit: float, power: float) -> np.ndarray:
    """Expected spacing of each pair of bodies (before counting the levels stepped).

    Centroid spacing is a body height plus a disc, and bodies grow caudally (T12 is smaller
    than L1, L5 the largest lumbar body), so a pair of small bodies is expected closer than
    the column's median spacing and a pair of large ones further apart. Scaling the unit by the
    pair's mean height (relative to the median, to ``power``) keeps a gap at the small top of
    the column (T12 above a missed L1) from passing for adjacent bodies."""
    size = np.array([b.height / b.span for b in bodies])
    rel = size / max(float(np.median(size)), 1e-6)
    return unit * np.clip((rel[:, None] + rel[None, :]) / 2, 0.5, 1.4) ** power


def _run(bodies: list[BodyEvidence], unit: float, config: LabellerConfig,
         cut_start: bool = False, cut_end: bool = False, reversed_: bool = False):
    """Forward-backward and Viterbi for bodies ordered cranial -> caudal."""
    n = len(bodies)
    start, end = _priors(config, cut_start, cut_end)
    is_body = np.array([np.clip(b.vertebra_prob, 1e-3, 1 - 1e-3) for b in bodies])
    # log-score of keeping body i at each level, and of skipping bodies 0..i-1 (cumulative)
    keep = np.stack([np.log(p) + _emissions(b, config, reversed_)
                     for p, b in zip(is_body, bodies, strict=False)])
    skip_prefix = np.concatenate([[0.0], np.cumsum(np.log(1 - is_body))])
    trans = {}
    local = _local_units(bodies, unit, config.local_spacing)
    for j in range(n):
        for i in range(j + 1, n):
            dist = float(np.linalg.norm(bodies[i].centroid - bodies[j].centroid))
            trans[j, i] = _transition_matrix(dist, local[j, i], bodies[j].span, bodies[i].span,
                                             config)
    alpha = np.zeros((n, len(EXT_LEVELS)))  # forward log-sums over paths ending at (i, level)
    best_path = np.zeros_like(alpha)  # Viterbi: best path score ending at (i, level)
    back: list[list[tuple[int, int] | None]] = []
    # A film that shows more of the thoracic spine has vertebrae above T11, the highest level
    # named here: the column may then start at T11 (at its own prior) below bodies left
    # unlabelled as thoracic, each costing the prior of one more visible body. A detector is
    # sure of them: skipping them as junk instead would force an L6 into the column.
    above_t11 = np.where(np.arange(len(EXT_LEVELS)) == T11, start, NEG)
    for i in range(n):
        terms = [start + skip_prefix[i]]
        if i > 0:
            terms.append(above_t11 + i * _log(config.thoracic_above_prior))
        vterms = list(terms)
        sources: list[int] = [-1] * len(terms)
        for j in range(i):
            skipped = skip_prefix[i] - skip_prefix[j + 1]
            terms.append(_lse(alpha[j][:, None] + trans[j, i], axis=0) + skipped)
            vterms.append(np.max(best_path[j][:, None] + trans[j, i], axis=0) + skipped)
            sources.append(j)
        alpha[i] = keep[i] + _lse(np.stack(terms), axis=0)
        stacked = np.stack(vterms)
        best = np.argmax(stacked, axis=0)
        best_path[i] = keep[i] + stacked[best, np.arange(len(EXT_LEVELS))]
        row = []
        for b in range(len(EXT_LEVELS)):
            j = sources[best[b]]
            row.append(None if j < 0 else (j, int(np.argmax(best_path[j] + trans[j, i][:, b]))))
        back.append(row)
    tail = np.array([skip_prefix[n] - skip_prefix[i + 1] for i in range(n)])
    # Ending the column at S1 while skipping bodies below it: nothing vertebra-like lies
    # below the sacrum in the column, so each such skip costs extra (a body below that was
    # skipped is likelier the real S1, counted wrongly), in proportion to the detector's belief
    # in it: a faint detection of S2 below the sacrum is common and says little. Only a body
    # where the next one would lie counts: a femoral head, two or more body spacings below
    # the sacrum, is no missed S1; nor is a second outline of the body called S1 itself.
    belief = np.clip(2 * is_body - 1, 0.0, 1.0)
    cents = np.array([b.centroid for b in bodies])
    dist = np.linalg.norm(cents[None, :] - cents[:, None], axis=2)
    reach = (dist <= NEXT_BODY_REACH * unit) & (dist >= SAME_BODY_REACH * unit)
    below = np.array([float((belief * reach[i])[i + 1:].sum()) for i in range(n)])
    ending = end[None, :] + tail[:, None] - config.skip_below_s1 * below[:, None] * _INTO_S1
    finals = alpha + ending
    log_z = _lse(finals)
    beta = np.zeros_like(alpha)
    for i in range(n - 1, -1, -1):
        terms = [ending[i]]
        for k in range(i + 1, n):
            skipped = skip_prefix[k] - skip_prefix[i + 1]
            terms.append(_lse(trans[i, k] + (keep[k] + beta[k])[None, :], axis=1) + skipped)
        beta[i] = _lse(np.stack(terms), axis=0)
    marginals = np.exp(np.clip(alpha + beta - log_z, -700, 0))
    best_final = best_path + ending
    i, b = np.unravel_index(int(np.argmax(best_final)), best_final.shape)
    path = []
    state: tuple[int, int] | None = (int(i), int(b))
    while state is not None:
        path.append(state)
        state = back[state[0]][state[1]]
    path.reverse()
    return log_z, path, marginals


def spacing_unit(bodies: list[BodyEvidence]) -> float:
    """Expected centroid distance between adjacent bodies, robust to gaps and extra objects."""
    heights = np.array([b.height / b.span for b in bodies])
    guess = 1.3 * float(np.median(heights))
    if len(bodies) < 3:
        return guess
    cents = np.array([b.centroid for b in bodies])
    steps = np.linalg.norm(np.diff(cents, axis=0), axis=1)
    spans = np.array([(bodies[k].span + bodies[k + 1].span) / 2 for k in range(len(bodies) - 1)])
    steps = steps / spans
    good = steps[(steps > 0.75 * guess) & (steps < 1.45 * guess)]
    return float(np.median(good)) if good.size else guess


def assign_levels(bodies: list[BodyEvidence], down: np.ndarray, config: LabellerConfig,
                  edge_first: bool = False, edge_last: bool = False) -> Assignment:
    """Assign levels to bodies ordered along ``down`` (unit vector toward the image bottom).

    ``edge_first``/``edge_last``: the film ends at the first/last body (the column is cut).
    """
    n = len(bodies)
    if n == 0:
        return Assignment([], [], [], False, 1.0, [])
    unit = spacing_unit(bodies)
    axis = bodies[-1].centroid - bodies[0].centroid if n > 1 else down
    cos = float(np.dot(axis, down) / max(np.linalg.norm(axis), 1e-9)) if n > 1 else 1.0
    # image-up prior: films are usually hung head-up, so "down the image" is likely caudal
    prior_fwd = -np.logaddexp(0.0, -8.0 * cos)
    prior_rev = -np.logaddexp(0.0, 8.0 * cos)
    log_z_fwd, path_f, marg_f = _run(bodies, unit, config, edge_first, edge_last)
    log_z_rev, path_r, marg_r = _run(bodies[::-1], unit, config, edge_last, edge_first, True)
    score_f, score_r = log_z_fwd + prior_fwd, log_z_rev + prior_rev
    p_f = float(1.0 / (1.0 + np.exp(np.clip(score_r - score_f, -700, 700))))
    if p_f >= 0.5:
        path, marg, rev, p = path_f, marg_f, False, p_f
        positions = [i for i, _ in path]
    else:
        path, marg, rev, p = path_r, marg_r, True, 1 - p_f
        positions = [n - 1 - i for i, _ in path]
    levels = [b for _, b in path]
    conf = [float(marg[i, b]) * p for i, b in path]
    skipped = [k for k in range(n) if k not in positions]
    return Assignment(positions, levels, conf, rev, p, skipped, unit)
