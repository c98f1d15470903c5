"""Multimodal LightGCN: LightGCN whose item layer-0 representation is enriched with projected modality features."""

import torch
from recbole.model.init import xavier_uniform_initialization

from recbole_unlearn.model.multimodal import MultimodalRecommender


class MMLightGCN(MultimodalRecommender):
    """LightGCN (He et al., SIGIR 2020) over the user-item graph, items starting from ID embedding plus features:

    .. math::
        e_u^{(0)} = \\gamma_u, \\qquad e_i^{(0)} = \\gamma_i + \\sum_m W_m f_{i,m}, \\qquad
        E^{(k+1)} = \\hat{A} E^{(k)}, \\qquad E = \\frac{1}{K+1} \\sum_{k=0}^{K} E^{(k)},

    with :math:`\\gamma` the ID embeddings (``embedding_size``), :math:`W_m` one learned linear projection per modality
    (no bias, so an all-zero feature row adds nothing) and :math:`K` = ``n_layers``. Trained with BPR plus
    ``reg_weight`` times the L2 norm of the batch's layer-0 representations.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        size = config["embedding_size"]
        self.n_layers = config["n_layers"]
        self.user_embedding = torch.nn.Embedding(self.n_users, size)
        self.item_embedding = torch.nn.Embedding(self.n_items, size)
        self.projections = torch.nn.ModuleList(
            torch.nn.Linear(self.modality_dims[m], size, bias=False) for m in self.modalities
        )
        self.apply(xavier_uniform_initialization)

    def item_ego(self, items=None):
        """:math:`e_i^{(0)}` of ``items`` (all items when ``None``)."""
        ids = self.item_embedding.weight if items is None else self.item_embedding(items)
        for m, proj in zip(self.modalities, self.projections):
            feat = self.modality_feature(m)
            ids = ids + proj(feat if items is None else feat[items])
        return ids

    def forward(self):
        return self.propagate(torch.cat([self.user_embedding.weight, self.item_ego()]), self.norm_adj, self.n_layers)

    def regularization(self, user, pos_item, neg_item):
        return self.emb_loss(
            self.user_embedding(user),
            self.item_ego(pos_item),
            self.item_ego(neg_item),
            require_pow=self.require_pow,
        )
