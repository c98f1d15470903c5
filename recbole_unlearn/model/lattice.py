"""LATTICE (Zhang et al., ACM MM 2021): item-item graphs learned from modality features, over a LightGCN backbone.

Written from the paper's equations (Mining Latent Structures for Multimedia Recommendation, section 3).
"""

import torch
import torch.nn.functional as F
from recbole.model.init import xavier_uniform_initialization

from recbole_unlearn.errors import InputError
from recbole_unlearn.model.modality_graph import (
    edge_propagate,
    knn_item_graph,
    knn_neighbours,
    learned_knn_edges,
    nonzero_rows,
)
from recbole_unlearn.model.multimodal import MultimodalRecommender


class LATTICE(MultimodalRecommender):
    """Latent item-item structure learned from multimodal features, propagated beside a LightGCN user-item graph.

    **Initial graph of modality** :math:`m` (fixed by the features, rebuilt only when they change): the weighted
    ``knn_k``-nearest-neighbour graph of the cosine similarities of the raw feature rows :math:`f_{i,m}`, normalised
    (:func:`~recbole_unlearn.model.modality_graph.knn_edges` with ``weighted=True``):

    .. math::
        S_{ij} = \\frac{f_i^\\top f_j}{\\lVert f_i \\rVert \\lVert f_j \\rVert}, \\quad
        \\hat{S}_{ij} = S_{ij} \\, [j \\in \\operatorname{top-}k(S_{i\\cdot})], \\quad
        \\tilde{S}^m = D^{-1/2} \\hat{S} D^{-1/2}.

    **Learned graph of modality** :math:`m`: the same construction on the projected features
    :math:`\\tilde{f}_{i,m} = W_m f_{i,m} + b_m` (``feat_embed_dim`` wide), giving :math:`\\tilde{A}^m`. Its edge
    weights are recomputed from the projections at every forward pass and carry the gradient to :math:`W_m, b_m`
    (:func:`~recbole_unlearn.model.modality_graph.learned_knn_edges`); its neighbour sets (a top-k, no gradient) are
    picked again whenever the model enters training or evaluation mode (every epoch under RecBole's trainer) or its
    features change. (The authors' code goes further and refreshes the whole learned graph once per epoch only.) The
    two graphs are mixed with the skip weight :math:`\\lambda` (``initial_graph_weight``), the modalities with
    learned weights:

    .. math::
        A^m = \\lambda \\tilde{S}^m + (1 - \\lambda) \\tilde{A}^m, \\qquad
        A = \\sum_m \\alpha_m A^m, \\qquad \\alpha = \\operatorname{softmax}(\\omega),

    :math:`\\omega` one learned score per modality (equal weights at start).

    **Item graph convolution** of the item ID embeddings :math:`x_i` over :math:`L` = ``n_mm_layers`` layers:
    :math:`h^{(0)} = x`, :math:`h^{(l)} = A h^{(l-1)}`.

    **Collaborative part**: LightGCN over the user-item graph (``n_ui_layers`` layers, averaged, from the same ID
    embeddings), giving :math:`\\bar{e}_u, \\bar{e}_i`. Final representations and score:

    .. math::
        e_u = \\bar{e}_u, \\qquad e_i = \\bar{e}_i + \\frac{h_i^{(L)}}{\\lVert h_i^{(L)} \\rVert_2}, \\qquad
        s_{ui} = e_u^\\top e_i,

    trained with BPR plus ``reg_weight`` times the L2 norm of the batch's ID embeddings.

    **Items without features.** An item whose row of modality :math:`m` is all zero (padding, or purged by an item
    or modality request) has no edge in :math:`\\tilde{S}^m` or :math:`\\tilde{A}^m` and is no one's neighbour there
    (the projection's bias :math:`b_m` cannot bring it back: the item set comes from the raw rows). The item graph is
    thus a function of the retained rows only: :meth:`rebuild_graph` with a dataset whose rows were purged rebuilds
    :math:`\\tilde{S}^m` from them, and :math:`\\tilde{A}^m` follows at the next forward pass.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        size = config["embedding_size"]
        feat_size = config["feat_embed_dim"] or size
        self.knn_k = int(config["knn_k"])
        self.n_mm_layers = int(config["n_mm_layers"])
        self.n_ui_layers = int(config["n_ui_layers"])
        self.initial_graph_weight = float(config["initial_graph_weight"])
        if not 0.0 <= self.initial_graph_weight <= 1.0:
            raise InputError(
                f"model LATTICE: `initial_graph_weight` must be in [0, 1], got {self.initial_graph_weight}"
            )
        self.user_embedding = torch.nn.Embedding(self.n_users, size)
        self.item_embedding = torch.nn.Embedding(self.n_items, size)
        self.projections = torch.nn.ModuleList(
            torch.nn.Linear(self.modality_dims[m], feat_size) for m in self.modalities
        )
        self.apply(xavier_uniform_initialization)
        self.mixing_scores = torch.nn.Parameter(torch.zeros(len(self.modalities)))  # omega
        self.build_modality_graph()

    # --- graphs -------------------------------------------------------------------------------------------------

    def build_modality_graph(self):
        """The initial graphs :math:`\\tilde{S}^m` and the items that have each modality, from the feature buffers."""
        if not hasattr(self, "knn_k"):  # not before __init__ has read this class's settings
            return
        with torch.no_grad():
            self.has_modality = [nonzero_rows(self.modality_feature(m)) for m in self.modalities]
            for index, m in enumerate(self.modalities):  # one attribute each: the base class shares CSR attributes
                setattr(self, f"initial_graph_{index}", knn_item_graph(self.modality_feature(m), self.knn_k, True))
        self.learned_neighbours = None
        self.clear_cache()

    def initial_graph(self, index):
        """:math:`\\tilde{S}^m` of the ``index``-th modality (sorted names), a sparse CSR ``(n_items, n_items)``."""
        return getattr(self, f"initial_graph_{index}")

    def _apply(self, fn, *args, **kwargs):
        """``.to(device)`` and friends also move the derived graph tensors (plain attributes, not buffers)."""
        module = super()._apply(fn, *args, **kwargs)
        if hasattr(self, "has_modality"):
            self.has_modality = [fn(mask) for mask in self.has_modality]
            for index in range(len(self.modalities)):
                setattr(self, f"initial_graph_{index}", fn(self.initial_graph(index)))
            self.learned_neighbours = None
        return module

    def train(self, mode=True):
        self.learned_neighbours = None  # picked again at the next forward pass (once per epoch under RecBole)
        return super().train(mode)

    def learned_graphs(self):
        """``[(edge_index, edge_weight)]`` of every modality's learned graph :math:`\\tilde{A}^m`.

        The neighbour sets are picked from the current projections at the first forward pass after the model enters
        training or evaluation mode (every epoch under RecBole's trainer) or its features change; the edge weights
        are recomputed from the projections at every pass, with gradient.
        """
        projected = [proj(self.modality_feature(m)) for m, proj in zip(self.modalities, self.projections)]
        if self.learned_neighbours is None:
            self.learned_neighbours = [
                knn_neighbours(x, self.knn_k, mask)[:2] for x, mask in zip(projected, self.has_modality)
            ]
        return [learned_knn_edges(x, neighbours) for x, neighbours in zip(projected, self.learned_neighbours)]

    def item_graph_propagate(self, h):
        """:math:`A h = \\sum_m \\alpha_m (\\lambda \\tilde{S}^m h + (1 - \\lambda) \\tilde{A}^m h)`."""
        alpha = torch.softmax(self.mixing_scores, dim=0)
        lam = self.initial_graph_weight
        learned = self.learned_graphs() if lam < 1.0 else [None] * len(self.modalities)
        out = 0.0
        for index in range(len(self.modalities)):
            part = lam * (self.initial_graph(index) @ h)
            if learned[index] is not None:
                part = part + (1.0 - lam) * edge_propagate(*learned[index], h)
            out = out + alpha[index] * part
        return out

    # --- model --------------------------------------------------------------------------------------------------

    def forward(self):
        h = self.item_embedding.weight
        for _ in range(self.n_mm_layers):
            h = self.item_graph_propagate(h)
        h = F.normalize(h, dim=1)  # an item without any edge keeps h = 0
        x = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        user_e, item_e = self.propagate(x, self.norm_adj, self.n_ui_layers)
        item_e = item_e + h
        return user_e, item_e
