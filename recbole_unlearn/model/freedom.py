"""FREEDOM (Zhou & Shen, ACM MM 2023): a frozen multimodal item-item graph and a denoised user-item graph."""

import torch
from recbole.model.init import xavier_uniform_initialization

from recbole_unlearn.errors import InputError
from recbole_unlearn.model.graph import normalized_adjacency
from recbole_unlearn.model.modality_graph import mixed_item_graph, nonzero_rows
from recbole_unlearn.model.multimodal import MultimodalRecommender


class FREEDOM(MultimodalRecommender):
    """FREEzes the item-item graph and DenOises the user-item graph for Multimodal recommendation.

    **Item-item graph**, frozen: :math:`S = \\sum_m \\alpha_m \\tilde{S}^m`, with :math:`\\tilde{S}^m` the normalised
    ``knn_k``-nearest-neighbour graph of modality :math:`m`'s cosine similarities
    (:func:`~recbole_unlearn.model.modality_graph.mixed_item_graph`; unweighted as in the paper, weighted as in LATTICE
    with ``knn_weighted``) and :math:`\\alpha_m` from ``modality_weights`` (``{name: weight}``, or a list in sorted
    modality-name order; ``None`` = equal), normalised to sum to 1. It carries no gradient and changes only through
    :meth:`rebuild_graph`. Item ID embeddings are propagated over it for :math:`L` = ``n_mm_layers`` layers:

    .. math::
        h_i = (S^{L} \\gamma)_i .

    **User-item graph**, denoised: LightGCN over ``n_ui_layers`` layers, layers averaged,

    .. math::
        \\bar{E} = \\frac{1}{K+1}\\sum_{k=0}^{K} \\hat{A}_\\rho^{k} E^{(0)}, \\qquad
        e_u = \\bar{e}_u, \\qquad e_i = \\bar{e}_i + h_i, \\qquad s_{ui} = e_u^\\top e_i,

    where during training :math:`\\hat{A}_\\rho` is the normalised adjacency of a subgraph that keeps
    :math:`\\lfloor (1-\\rho)|\\mathcal{E}| \\rfloor` of the user-item edges (:math:`\\rho` = ``dropout``), sampled
    without replacement with probability proportional to :math:`1/\\sqrt{d_u d_i}` (degree-sensitive edge pruning:
    edges between high-degree nodes are dropped more often), redrawn whenever the model enters training mode (once per
    epoch under RecBole's trainer); evaluation uses the full graph.

    **Loss**: BPR on :math:`s_{ui}` plus ``mm_loss_weight`` (:math:`\\lambda`) times, per modality, BPR between the
    user representation and the projected features :math:`W_m f_{i,m}` of the positive and negative items (triples
    where either item has no features in that modality are skipped), plus ``reg_weight`` times the L2 norm of the
    batch's ID embeddings:

    .. math::
        \\mathcal{L} = \\mathcal{L}_{BPR}(e_u, e_i, e_j)
        + \\lambda \\sum_m \\mathcal{L}_{BPR}(e_u, W_m f_{i,m}, W_m f_{j,m}) + \\mu\\, \\Omega .

    The projections are bias-free: a bias cancels in :math:`e_u^\\top W_m (f_{i,m} - f_{j,m})`.

    **The paper's settings** and the defaults (``properties/model/FREEDOM.yaml``): ``knn_k`` 10, unweighted kNN edges,
    ``n_mm_layers`` 1 and ``n_ui_layers`` 2 as in the paper; :math:`\\lambda` (``mm_loss_weight``) 1e-4, from the
    authors' grid {0, 1e-5, 1e-4, 1e-3}; :math:`\\alpha_m` equal (the authors weigh image 0.1 against text 0.9);
    :math:`\\rho` (``dropout``) 0.5, where the authors search {0.8, 0.9} (docs/multimodal.md).
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        size = config["embedding_size"]
        self.knn_k = config["knn_k"]
        self.knn_weighted = bool(config["knn_weighted"])
        self.n_mm_layers = config["n_mm_layers"]
        self.n_ui_layers = config["n_ui_layers"]
        self.dropout = float(config["dropout"] or 0.0)
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"model FREEDOM: `dropout` must be in [0, 1), got {self.dropout}")
        self.mm_loss_weight = float(config["mm_loss_weight"] or 0.0)
        self.alphas = self._mixing_weights(config["modality_weights"])
        self.user_embedding = torch.nn.Embedding(self.n_users, size)
        self.item_embedding = torch.nn.Embedding(self.n_items, size)
        self.projections = torch.nn.ModuleList(
            torch.nn.Linear(self.modality_dims[m], size, bias=False) for m in self.modalities
        )
        self.apply(xavier_uniform_initialization)
        self.build_modality_graph()

    def _mixing_weights(self, weights):
        """:math:`\\alpha_m` per modality, summing to 1."""
        if weights is None:
            raw = {m: 1.0 for m in self.modalities}
        elif isinstance(weights, dict):
            unknown = sorted(set(weights) - set(self.modalities))
            if unknown:
                raise InputError(
                    f"model FREEDOM: `modality_weights` names {unknown}, the dataset's modalities are {self.modalities}"
                )
            raw = {m: float(weights.get(m, 0.0)) for m in self.modalities}
        else:
            weights = list(weights)
            if len(weights) != len(self.modalities):
                raise InputError(
                    f"model FREEDOM: `modality_weights` has {len(weights)} values for modalities {self.modalities}"
                )
            raw = {m: float(w) for m, w in zip(self.modalities, weights)}
        total = sum(raw.values())
        if total <= 0 or any(w < 0 for w in raw.values()):
            raise InputError(f"model FREEDOM: `modality_weights` must be non-negative with a positive sum, got {raw}")
        return {m: w / total for m, w in raw.items()}

    # --- graphs -------------------------------------------------------------------------------------------------

    def build_modality_graph(self):
        """The frozen item-item graph :math:`S` from the current feature buffers (no gradient)."""
        if not hasattr(self, "alphas"):  # not before __init__ has read this class's settings
            return
        with torch.no_grad():
            self.item_graph = mixed_item_graph(
                self.modality_features_dict(), self.knn_k, self.alphas, weighted=self.knn_weighted
            ).to(self.device)
        self.clear_cache()

    def rebuild_graph(self, interactions):
        """User-item graph and its pruning weights from ``interactions``; item graph and features too when it is a
        dataset with ``modality_features``."""
        super().rebuild_graph(interactions)
        inter = getattr(interactions, "inter_feat", interactions)
        users = torch.as_tensor(inter[self.USER_ID], dtype=torch.long)
        items = torch.as_tensor(inter[self.ITEM_ID], dtype=torch.long)
        pairs = torch.unique(users * self.n_items + items)
        users, items = pairs // self.n_items, pairs % self.n_items
        deg_u = torch.bincount(users, minlength=self.n_users).float()
        deg_i = torch.bincount(items, minlength=self.n_items).float()
        self.ui_edges = (users, items)
        self.ui_edge_keep_weight = (deg_u[users] * deg_i[items]).rsqrt()
        self.pruned_adj = None

    def prune_edges(self):
        """Normalised adjacency of a degree-sensitive sample of the user-item edges (see the class docstring).

        Weighted sampling without replacement by exponential keys (Efraimidis & Spirakis): the
        :math:`n` largest :math:`\\log(u_e) / w_e`, :math:`u_e \\sim U(0, 1)`, are a draw of :math:`n` edges where each
        next edge is picked with probability proportional to :math:`w_e` among those left.
        """
        users, items = self.ui_edges
        n_keep = int(users.numel() * (1.0 - self.dropout))
        keys = torch.rand(users.numel()).clamp_min(1e-20).log() / self.ui_edge_keep_weight
        kept = keys.topk(n_keep).indices
        return normalized_adjacency(users[kept], items[kept], self.n_users, self.n_items).to(self.device)

    def train(self, mode=True):
        if mode:
            self.pruned_adj = None  # redraw at the first training forward of this epoch
        return super().train(mode)

    def _ui_adjacency(self):
        if not self.training or self.dropout == 0.0:
            return self.norm_adj
        if self.pruned_adj is None:
            self.pruned_adj = self.prune_edges()
        return self.pruned_adj

    # --- model --------------------------------------------------------------------------------------------------

    def forward(self):
        h = self.item_embedding.weight
        for _ in range(self.n_mm_layers):
            h = self.item_graph @ h
        x = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        user_e, item_e = self.propagate(x, self._ui_adjacency(), self.n_ui_layers)
        item_e = item_e + h
        return user_e, item_e

    def auxiliary_loss(self, user_e, pos_item, neg_item):
        return self.mm_loss_weight * self.modality_loss(user_e, pos_item, neg_item) if self.mm_loss_weight else 0.0

    def modality_loss(self, u, pos_item, neg_item):
        """:math:`\\sum_m \\mathcal{L}_{BPR}(e_u, W_m f_{i,m}, W_m f_{j,m})`, each over the triples where both items
        have modality :math:`m`."""
        total = u.new_zeros(())
        for m, proj in zip(self.modalities, self.projections):
            feat = self.modality_feature(m)
            pos_f, neg_f = feat[pos_item], feat[neg_item]
            mask = nonzero_rows(pos_f) & nonzero_rows(neg_f)
            if not mask.any():
                continue
            um = u[mask]
            total = total + self.bpr_loss((um * proj(pos_f[mask])).sum(-1), (um * proj(neg_f[mask])).sum(-1))
        return total
