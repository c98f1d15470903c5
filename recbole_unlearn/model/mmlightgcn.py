"""Multimodal LightGCN: LightGCN over ID embeddings beside a content factor of projected modality features."""

import torch
from recbole.model.init import xavier_uniform_initialization

from recbole_unlearn.model.multimodal import MultimodalRecommender


class MMLightGCN(MultimodalRecommender):
    """LightGCN (He et al., SIGIR 2020) over the user-item graph, each node's layer 0 an ID part and a content part,
    as VBPR splits its factors (He & McAuley, AAAI 2016):

    .. math::
        e_u^{(0)} = [\\, \\gamma_u \\,\\|\\, \\theta_u \\,], \\qquad
        e_i^{(0)} = [\\, \\gamma_i \\,\\|\\, \\textstyle\\sum_m W_m f_{i,m} \\,], \\qquad
        E^{(k+1)} = \\hat{A} E^{(k)}, \\qquad E = \\frac{1}{K+1} \\sum_{k=0}^{K} E^{(k)}, \\qquad
        s_{ui} = e_u^\\top e_i,

    with :math:`\\gamma_u, \\gamma_i` the ID embeddings and :math:`\\theta_u` the user's content taste (each
    ``embedding_size``), :math:`W_m` one learned linear projection per modality to ``embedding_size`` (no bias, so an
    all-zero feature row adds nothing) and :math:`K` = ``n_layers``. So
    :math:`s_{ui} = \\bar\\gamma_u^\\top \\bar\\gamma_i + \\bar\\theta_u^\\top \\bar c_i`: a collaborative term and a
    content term, each smoothed over the graph. Trained with BPR plus ``reg_weight`` times the L2 norm of the batch's
    layer-0 representations.

    The content part has dimensions of its own: summed into the item ID embedding instead (:math:`e_i^{(0)} =
    \\gamma_i + \\sum_m W_m f_{i,m}`), content and collaboration would share the same ``embedding_size`` dimensions
    (docs/multimodal.md).
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        size = config["embedding_size"]
        self.n_layers = config["n_layers"]
        self.user_embedding = torch.nn.Embedding(self.n_users, size)  # gamma_u
        self.user_content_embedding = torch.nn.Embedding(self.n_users, size)  # theta_u
        self.item_embedding = torch.nn.Embedding(self.n_items, size)  # gamma_i
        self.projections = torch.nn.ModuleList(
            torch.nn.Linear(self.modality_dims[m], size, bias=False) for m in self.modalities
        )
        self.apply(xavier_uniform_initialization)

    def item_content(self, items=None):
        """:math:`c_i = \\sum_m W_m f_{i,m}` of ``items`` (all items when ``None``)."""
        content = 0.0
        for m, proj in zip(self.modalities, self.projections):
            feat = self.modality_feature(m)
            content = content + proj(feat if items is None else feat[items])
        return content

    def user_ego(self, users=None):
        """:math:`e_u^{(0)}` of ``users`` (all users when ``None``)."""
        if users is None:
            return torch.cat([self.user_embedding.weight, self.user_content_embedding.weight], dim=-1)
        return torch.cat([self.user_embedding(users), self.user_content_embedding(users)], dim=-1)

    def item_ego(self, items=None):
        """:math:`e_i^{(0)}` of ``items`` (all items when ``None``)."""
        ids = self.item_embedding.weight if items is None else self.item_embedding(items)
        return torch.cat([ids, self.item_content(items)], dim=-1)

    def forward(self):
        return self.propagate(torch.cat([self.user_ego(), self.item_ego()]), self.norm_adj, self.n_layers)

    def propagated_graph(self):
        return self.norm_adj, self.n_layers

    def ego_rows(self, nodes):
        is_user = nodes < self.n_users
        rows = torch.cat([self.user_ego(nodes[is_user]), self.item_ego(nodes[~is_user] - self.n_users)])
        return rows[torch.cat([is_user.nonzero(), (~is_user).nonzero()]).view(-1).argsort()]

    def regularization(self, user, pos_item, neg_item):
        return self.emb_loss(
            self.user_ego(user), self.item_ego(pos_item), self.item_ego(neg_item), require_pow=self.require_pow
        )
