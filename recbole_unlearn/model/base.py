"""Base class of the package's graph recommenders: a RecBole ``GeneralRecommender`` with a rebuildable graph.

Subclasses define :meth:`GraphRecommender.forward`, returning the final user and item representations; scores are
their dot products, and training minimises

.. math::
    \\mathcal{L} = -\\frac{1}{|B|}\\sum_{(u,i,j)\\in B} \\log\\sigma(s_{ui} - s_{uj})
    + \\lambda \\, \\Omega(u, i, j),

BPR over sampled triples plus ``reg_weight`` times :meth:`GraphRecommender.regularization`. The RecBole contract
(``calculate_loss``, ``predict``, ``full_sort_predict``) is kept as is.
"""

import copy
from contextlib import contextmanager

import torch
from recbole.model.abstract_recommender import GeneralRecommender
from recbole.model.loss import BPRLoss, EmbLoss
from recbole.utils import InputType

from recbole_unlearn.model.graph import (
    MovingRowsPropagation,
    SymmetricLGConv,
    normalized_adjacency,
)

#: :meth:`GraphRecommender.moving_rows` scores locally when the moving rows' ball holds at most this share of the
#: edges a full propagation multiplies (``n_layers`` times the graph's); past it the full graph is cheaper.
LOCAL_EDGE_SHARE = 0.5


class GraphRecommender(GeneralRecommender):
    """A general recommender whose user-item graph is a function of an interaction set.

    ``norm_adj`` (:func:`~recbole_unlearn.model.graph.normalized_adjacency` of the training interactions) is built in
    ``__init__`` and again by :meth:`rebuild_graph`, whenever the interaction set changes. Full-ranking
    embeddings are cached between evaluation calls and dropped whenever the model trains or its graph changes.

    A model whose :meth:`forward` is a plain propagation of layer-0 rows says so through :meth:`propagated_graph`
    and :meth:`ego_rows`; inside :meth:`moving_rows` its :meth:`predict` then scores a batch from the change of the
    few rows that move (the same values, and the same gradients on those rows). Unlearning steps, which
    differentiate ``predict`` on a few thousand pairs, then cost what the request touches, not what the graph holds.
    """

    input_type = InputType.PAIRWISE

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.reg_weight = config["reg_weight"] or 0.0
        self.require_pow = config["require_pow"]
        self.bpr_loss = BPRLoss()
        self.emb_loss = EmbLoss()
        self.restore_user_e = None
        self.restore_item_e = None
        self.moving = None  # set inside moving_rows()
        self.conv = SymmetricLGConv()  # parameter-free: the same operator serves every layer
        self.rebuild_graph(dataset)

    def rebuild_graph(self, interactions):
        """Rebuild every graph structure from ``interactions`` (a RecBole ``Dataset`` or ``Interaction``)."""
        inter = getattr(interactions, "inter_feat", interactions)
        self.norm_adj = normalized_adjacency(
            inter[self.USER_ID], inter[self.ITEM_ID], self.n_users, self.n_items
        ).to(self.device)
        self.clear_cache()

    def __deepcopy__(self, memo):
        """A deep copy that shares sparse graph tensors (torch cannot deep-copy CSR tensors; they are never mutated
        in place, only replaced by :meth:`rebuild_graph`)."""
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            if key == "moving":  # a block of moving rows belongs to the model it was opened on
                clone.__dict__[key] = None
                continue
            shared = isinstance(value, torch.Tensor) and value.layout == torch.sparse_csr
            clone.__dict__[key] = value if shared else copy.deepcopy(value, memo)
        return clone

    def clear_cache(self):
        self.restore_user_e = None
        self.restore_item_e = None

    def train(self, mode=True):
        self.clear_cache()
        return super().train(mode)

    def forward(self):
        """Final ``(user_embeddings, item_embeddings)`` of every user and item."""
        raise NotImplementedError

    def propagate(self, x, adjacency, n_layers):
        """LightGCN propagation: :math:`\\frac{1}{K+1}\\sum_{k=0}^{K} \\hat{A}^k x`, split into users and items."""
        total = x
        for _ in range(n_layers):
            x = self.conv(x, adjacency)
            total = total + x
        return torch.split(total / (n_layers + 1), [self.n_users, self.n_items])

    def propagated_graph(self):
        """``(adjacency, n_layers)`` when :meth:`forward` is :meth:`propagate` of :meth:`ego_rows` of every node over
        ``adjacency``, so a batch may be propagated locally; ``None`` (the default) when it is anything else."""
        return

    def ego_rows(self, nodes):
        """Layer-0 representations of graph ``nodes`` (users ``0..n_users-1``, then items), for local propagation."""
        raise NotImplementedError

    @contextmanager
    def moving_rows(self, users, items):
        """A block of updates in which only the layer-0 rows of ``users`` and ``items`` change.

        Inside it, :meth:`predict` scores a batch as the output before the block plus the change the moving rows
        make (:class:`~recbole_unlearn.model.graph.MovingRowsPropagation`): exact while no other parameter changes,
        at a cost set by the moving rows and the batch, not by the graph. The caller keeps every other parameter
        fixed (an optimizer with learning rate zero elsewhere); gradients reach the moving rows only. A model that
        does not propagate plainly (:meth:`propagated_graph` is ``None``), or whose moving rows reach too much of the
        graph (:data:`LOCAL_EDGE_SHARE`), scores as usual.
        """
        graph = self.propagated_graph()
        if graph is None or self.moving is not None:
            yield self
            return
        adjacency, n_layers = graph
        users, items = (torch.as_tensor(ids, dtype=torch.long) for ids in (users, items))
        nodes = torch.cat([users, items + self.n_users]).unique()
        max_edges = LOCAL_EDGE_SHARE * n_layers * adjacency.values().numel()
        propagation = MovingRowsPropagation.build(adjacency, nodes.to(self.device), n_layers, max_edges)
        if propagation is None:
            yield self
            return
        with torch.no_grad():  # the output before the block: the cached full-ranking embeddings where there are some
            before = torch.cat(self.forward() if self.training else self._final_embeddings())
            self.moving = (propagation, before, self.ego_rows(propagation.moving).detach())
        try:
            yield self
        finally:
            self.moving = None
            self.clear_cache()

    def auxiliary_loss(self, user_e, pos_item, neg_item):
        """Extra training terms of a model on the batch's final user representations (none by default)."""
        return 0.0

    def regularization(self, user, pos_item, neg_item):
        """:math:`\\Omega`: the L2 norm of the batch's rows of ``user_embedding`` and ``item_embedding`` (the layer-0
        tables; a model with other tables overrides this)."""
        return self.emb_loss(
            self.user_embedding(user),
            self.item_embedding(pos_item),
            self.item_embedding(neg_item),
            require_pow=self.require_pow,
        )

    def calculate_loss(self, interaction):
        self.clear_cache()
        user = interaction[self.USER_ID]
        pos_item = interaction[self.ITEM_ID]
        neg_item = interaction[self.NEG_ITEM_ID]
        user_e, item_e = self.forward()
        u = user_e[user]
        pos_scores = (u * item_e[pos_item]).sum(dim=-1)
        neg_scores = (u * item_e[neg_item]).sum(dim=-1)
        loss = self.bpr_loss(pos_scores, neg_scores) + self.auxiliary_loss(u, pos_item, neg_item)
        if self.reg_weight:
            loss = loss + self.reg_weight * self.regularization(user, pos_item, neg_item)
        return loss

    def predict(self, interaction):
        users, items = interaction[self.USER_ID], interaction[self.ITEM_ID]
        local = self._local_embeddings(users, items)
        if local is not None:
            return (local[0] * local[1]).sum(dim=-1)
        user_e, item_e = self._final_embeddings()
        return (user_e[users] * item_e[items]).sum(dim=-1)

    def full_sort_predict(self, interaction):
        user_e, item_e = self._final_embeddings()
        return (user_e[interaction[self.USER_ID]] @ item_e.T).view(-1)

    def _local_embeddings(self, users, items):
        """Final representations of ``users`` and ``items`` inside :meth:`moving_rows`: the output before the block
        plus the moving rows' change; ``None`` outside such a block."""
        if self.moving is None:
            return None
        propagation, before, ego_before = self.moving
        seeds = torch.cat([users, items + self.n_users])
        final = before[seeds] + propagation.change(seeds, self.ego_rows(propagation.moving) - ego_before)
        return final[: len(users)], final[len(users) :]

    def _final_embeddings(self):
        """Cached between evaluation calls (eval mode, no gradient); computed afresh in training mode and whenever
        gradients are on, so a caller can differentiate the eval-mode scores."""
        if self.training or torch.is_grad_enabled():
            return self.forward()
        if self.restore_user_e is None or self.restore_item_e is None:
            with torch.no_grad():
                self.restore_user_e, self.restore_item_e = self.forward()
        return self.restore_user_e, self.restore_item_e
