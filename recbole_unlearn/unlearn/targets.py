"""Where the hinge pushes a forgotten score: a target :math:`t_k` for each forgotten pair :math:`(u_k, i_k)`.

The hinge :math:`\\max(0, s_{u_k i_k} - t_k)` moves a forgotten score down to its target and no further. Both
targets are computed from the model being unlearned and the held-out *validation* pairs of the same users; neither
looks at a gold model.

- ``rank_matched``: a model that never saw a forgotten pair ranks it as it ranks held-out pairs. With
  :math:`r(u, i) = |\\{j \\notin \\mathcal{T}_u : s_{uj} > s_{ui}\\}|` the rank of item :math:`i` among the user's
  candidates (training history :math:`\\mathcal{T}_u` of the retain set excluded), each forgotten pair gets the rank
  at its own quantile of the held-out ranks (1-D quantile matching, which keeps the forgotten pairs' order):

  .. math::
      q_k = \\frac{\\operatorname{rank}(r_k) - \\tfrac12}{n_F}, \\qquad
      R_k = \\min\\{R : \\hat{F}_H(R) \\ge q_k\\}, \\qquad
      t_k = s_{u_k}^{(R_k)},

  where :math:`\\hat{F}_H` is the empirical distribution of the held-out pairs' ranks :math:`r(u, j)` and
  :math:`s_u^{(R)}` is user :math:`u`'s :math:`R`-th highest candidate score (0-based: :math:`R = 0` is the top).
  The forgotten pairs then rank like held-out ones: as many stay in a top-20 as a retrained model would keep there.
- ``rank_matched_neighbours``: the same matching among each pair's :data:`NEIGHBOURS` nearest pairs in a context
  space. A pair's context :math:`x_k` is the user's degree and the item's popularity in the
  retain set (:math:`\\log(1 + n)`) and the user's candidate-score curve: its highest and 20th-highest candidate
  scores :math:`s_u^{(0)}` and :math:`s_u^{(19)}`, each standardised over the pairs. With
  :math:`N_F(k)` / :math:`N_H(k)` the :math:`K` forgotten / held-out pairs nearest :math:`x_k` (Euclidean),

  .. math::
      q_k = \\frac{|\\{j \\in N_F(k) : r_j < r_k\\}| + \\tfrac12 |\\{j \\in N_F(k) : r_j = r_k\\}|}{K}, \\qquad
      R_k = \\min\\{R : \\hat{F}_{N_H(k)}(R) \\ge q_k\\}, \\qquad t_k = s_{u_k}^{(R_k)}

  (:math:`q_k` clipped to :math:`[\\frac{1}{2K}, 1 - \\frac{1}{2K}]`). A learned attacker reads a pair's rank with
  its user's score curve (the score at a given rank places the user), and the neighbourhoods keep it.

Without any held-out pair to match, the targets are the users' mean held-out scores (:func:`user_mean_targets`).
"""

import functools

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.neighbors import NearestNeighbors

from recbole_unlearn.data.pairs import interaction_counts
from recbole_unlearn.scoring import candidate_scores, pair_scores

NEIGHBOURS = 30  # forgotten and held-out pairs each pair's neighbourhood matching reads
CURVE_RANK = 19  # the user's curve is read at its top and at this rank (0-based)


def user_mean_targets(model, forget, heldout):
    """The mean score of each forgotten pair's user's held-out pairs (the median of those means for users without
    any): :math:`t_k = \\frac{1}{|H_{u_k}|}\\sum_{j \\in H_{u_k}} s_{u_k j}`, one per forgotten pair."""
    f_users, h_users = torch.as_tensor(forget[0]), torch.as_tensor(heldout[0])
    scores = pair_scores(model, *heldout)
    level = torch.full((model.n_users,), float("nan"))
    if len(h_users):
        sums = torch.zeros(model.n_users).index_add_(0, h_users, scores)
        counts = torch.zeros(model.n_users).index_add_(0, h_users, torch.ones_like(scores))
        level = sums / counts
    known = ~level.isnan()
    fallback = level[known].median() if known.any() else torch.tensor(0.0)
    return torch.where(known, level, fallback)[f_users]


class CandidateRows:
    """The candidate score rows (:func:`~recbole_unlearn.scoring.candidate_scores`) of some users, batch by batch, and
    their users' :func:`score_curve`. Rows that fit in ``budget`` scores are kept after a first pass, so that a second
    pass does not score again, with their ascending sort (retained history at :math:`-\\infty` first), which serves
    every rank and target of both passes; rows too large to keep are scored again and read pair by pair (sorting a
    row of 10^5 items for two pairs costs more than comparing them with it). The curves are kept whatever the
    budget."""

    def __init__(self, model, users, history, batch_users=512, budget=2**26):
        self.model, self.history, self.batch_users = model, history, batch_users
        self.users = np.unique(np.asarray(users))
        self.kept = {} if len(self.users) * model.n_items <= budget else None
        self.curves = {}

    def __iter__(self):
        """``(batch of users, their candidate scores, the same sorted ascending or None)`` triples, numpy arrays, users
        in increasing order."""
        for start in range(0, len(self.users), self.batch_users):
            batch = self.users[start : start + self.batch_users]
            scored = None if self.kept is None else self.kept.get(start)
            if scored is None:
                rows = candidate_scores(self.model, batch, self.history).cpu()
                scores = rows.numpy()
                ordered = None if self.kept is None else sorted_rows(rows)
                scored = (scores, ordered)
                top = ordered if ordered is not None else top_scores(scores, CURVE_RANK + 1)
                self.curves.setdefault(start, score_curve(top))
                if self.kept is not None:
                    self.kept[start] = scored
            yield batch, *scored

    def rows_of(self, users):
        """``(scores of a batch, their ascending sorts or None, row of each pair in it, positions of those pairs in
        users)`` for the pairs whose user (``users``, all among :attr:`users`) is in the batch, batch by batch."""
        users = np.asarray(users)
        for batch, scores, ordered in self:
            mine = np.flatnonzero(np.isin(users, batch))
            yield scores, ordered, np.searchsorted(batch, users[mine]), mine


def sorted_rows(rows) -> np.ndarray:
    """``rows`` (a tensor) sorted ascending along each row, as numpy: by torch, which sorts rows in parallel over its
    threads, or by numpy, faster in a single thread."""
    return rows.sort(dim=1).values.numpy() if torch.get_num_threads() > 1 else np.sort(rows.numpy(), axis=1)


def top_scores(scores, k) -> np.ndarray:
    """The ``k`` highest scores of each row, ascending (``torch.topk``: a selection, no sort of the row)."""
    k = min(k, scores.shape[1])
    return torch.from_numpy(scores).topk(k, dim=1).values.flip(1).numpy()


def candidate_counts(scores) -> np.ndarray:
    """Candidates per row of scores (sorted or not): the entries above the retained history's :math:`-\\infty`."""
    return np.count_nonzero(scores > -np.inf, axis=1)


def candidate_ranks(rows, pairs_):
    """:math:`r(u, i)` for each pair: how many of the user's candidate items (history excluded) score above it;
    ``rows``: the :class:`CandidateRows` of the pairs' users. One binary search in the user's sorted row per pair, or
    one comparison with the user's row where the rows are not kept."""
    users, items = (np.asarray(a) for a in pairs_)
    ranks = np.zeros(len(users), dtype=np.int64)
    for scores, ordered, row, mine in rows.rows_of(users):
        own = scores[row, items[mine]]
        if ordered is not None:
            above = [np.searchsorted(ordered[r], value, side="right") for r, value in zip(row, own)]
            ranks[mine] = ordered.shape[1] - np.asarray(above, dtype=np.int64)
        else:
            ranks[mine] = [np.count_nonzero(scores[r] > value) for r, value in zip(row, own)]
    return ranks


def users_history(history, users):
    """The ``history`` pairs of ``users`` only: what masking their rows needs, without the rest of the retain set."""
    h_users, h_items = (np.asarray(a) for a in history)
    mine = np.isin(h_users, np.unique(np.asarray(users)))
    return h_users[mine], h_items[mine]


def matched_ranks(forget_ranks, heldout_ranks) -> np.ndarray:
    """Each forgotten rank's quantile of the held-out ranks (1-D quantile matching, order kept)."""
    quantiles = (rankdata(forget_ranks) - 0.5) / len(forget_ranks)
    return np.quantile(heldout_ranks, quantiles, method="inverted_cdf").astype(np.int64)


def retain_counts(history, users, items) -> tuple:
    """``(degree, popularity)``: interactions per user and per item in ``history`` (the retain set's training pairs),
    long enough to index ``users`` and ``items``."""
    h_users, h_items = (np.asarray(a) for a in history)
    degree = interaction_counts(h_users, int(max(h_users.max(), np.max(users))) + 1)
    popularity = interaction_counts(h_items, int(max(h_items.max(), np.max(items))) + 1)
    return degree, popularity


def pooled_matching(forget_ranks, heldout_ranks, forget, heldout, history, rows) -> np.ndarray:
    """``rank_matched``: every forgotten rank matched to the pooled held-out ranks (:func:`matched_ranks`)."""
    return matched_ranks(forget_ranks, heldout_ranks)


def neighbour_matching(forget_ranks, heldout_ranks, forget, heldout, history, rows) -> np.ndarray:
    """``rank_matched_neighbours``: matching among each pair's nearest pairs in :func:`pair_contexts`
    (:func:`neighbour_matched_ranks`)."""
    users, items = (np.concatenate([np.asarray(f), np.asarray(h)]) for f, h in zip(forget, heldout))
    context = pair_contexts(rows, users, items, history)
    n_forget = len(forget_ranks)
    return neighbour_matched_ranks(forget_ranks, heldout_ranks, context[:n_forget], context[n_forget:])


def rank_matched_targets(model, forget, heldout, history, batch_users=512, matching=pooled_matching):
    """Rank-matched targets (module docstring), the forgotten ranks matched to the held-out ones by ``matching``,
    one per forgotten pair; :func:`user_mean_targets` if there are no held-out pairs to match."""
    if len(heldout[0]) == 0:
        return user_mean_targets(model, forget, heldout)
    f_users, n_forget = np.asarray(forget[0]), len(forget[0])
    rows = CandidateRows(model, f_users, users_history(history, f_users), batch_users)  # held-out: the same users
    ranks = candidate_ranks(rows, [np.concatenate([f, h]) for f, h in zip(forget, heldout)])
    target_ranks = matching(ranks[:n_forget], ranks[n_forget:], forget, heldout, history, rows)
    return torch.from_numpy(scores_at_ranks(rows, f_users, target_ranks))


def score_curve(ordered) -> tuple:
    """``(top, level)`` per row of candidate scores sorted ascending (whole rows, or their :func:`top_scores`): the
    highest and the :data:`CURVE_RANK`-th highest (the lowest candidate's where a row has fewer), as float64 numpy
    arrays."""
    last = ordered.shape[1] - 1
    level_at = last - np.minimum(CURVE_RANK, candidate_counts(ordered) - 1)
    return ordered[:, last].astype(np.float64), ordered[np.arange(len(ordered)), level_at].astype(np.float64)


def user_curves(rows) -> tuple:
    """``(users, top, level)``: the :func:`score_curve` of each user of ``rows`` (:class:`CandidateRows`), as kept
    from their first scoring (a pass scores the batches never scored yet)."""
    if len(rows.curves) < -(-len(rows.users) // rows.batch_users):
        for _ in rows:
            pass
    curves = [rows.curves[start] for start in sorted(rows.curves)]
    top = np.concatenate([curve[0] for curve in curves]) if curves else np.zeros(0)
    level = np.concatenate([curve[1] for curve in curves]) if curves else np.zeros(0)
    return rows.users, top, level


def pair_contexts(rows, users, items, history) -> np.ndarray:
    """The ``rank_matched_neighbours`` context of each pair (module docstring), standardised over the pairs."""
    degree, popularity = retain_counts(history, users, items)
    curve_users, top, level = user_curves(rows)
    row = np.searchsorted(curve_users, users)
    context = np.stack([np.log1p(degree[users]), np.log1p(popularity[items]), top[row], level[row]], axis=1)
    return (context - context.mean(0)) / np.maximum(context.std(0), 1e-12)


def neighbour_matched_ranks(forget_ranks, heldout_ranks, forget_context, heldout_context, k=NEIGHBOURS):
    """Each forgotten rank's quantile among its nearest forgotten pairs, mapped to that quantile of its nearest
    held-out pairs' ranks (module docstring, ``rank_matched_neighbours``)."""
    k_forget, k_heldout = min(k, len(forget_ranks)), min(k, len(heldout_ranks))
    near_forget = NearestNeighbors(n_neighbors=k_forget).fit(forget_context).kneighbors(forget_context)[1]
    near_heldout = NearestNeighbors(n_neighbors=k_heldout).fit(heldout_context).kneighbors(forget_context)[1]
    around = forget_ranks[near_forget]
    below = (around < forget_ranks[:, None]).sum(1) + 0.5 * (around == forget_ranks[:, None]).sum(1)
    quantiles = np.clip(below / k_forget, 0.5 / k_forget, 1 - 0.5 / k_forget)
    pool = np.sort(heldout_ranks[near_heldout], axis=1)
    # the inverted CDF: the smallest held-out rank R with F(R) >= q is the ceil(q K)-th smallest
    at = np.clip(np.ceil(quantiles * k_heldout).astype(np.int64) - 1, 0, k_heldout - 1)
    return pool[np.arange(len(pool)), at]


def scores_at_ranks(rows, users, target_ranks) -> np.ndarray:
    """User ``users[k]``'s ``target_ranks[k]``-th highest candidate score (0-based), read from its sorted row in
    ``rows`` (their :class:`CandidateRows`), or selected from its row where the rows are not kept; a rank past the
    user's last candidate takes that one."""
    targets = np.zeros(len(users), dtype=np.float32)
    for scores, ordered, row, mine in rows.rows_of(users):
        candidates = candidate_counts(scores)[row]
        # the R-th highest of n scores (-inf below every candidate) is the (n - 1 - R)-th smallest, 0-based
        at = scores.shape[1] - 1 - np.minimum(target_ranks[mine], candidates - 1)
        if ordered is not None:
            targets[mine] = ordered[row, at]
        else:
            targets[mine] = [np.partition(scores[r], k)[k] for r, k in zip(row, at)]
    return targets


TARGET_FUNCTIONS = {
    "rank_matched": rank_matched_targets,
    "rank_matched_neighbours": functools.partial(rank_matched_targets, matching=neighbour_matching),
}
