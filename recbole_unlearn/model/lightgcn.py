"""LightGCN (He et al., SIGIR 2020) on the package's graph base."""

import torch
from recbole.model.init import xavier_uniform_initialization

from recbole_unlearn.model.base import GraphRecommender


class LightGCN(GraphRecommender):
    """Light graph convolution over the user-item graph, layers averaged:

    .. math::
        E^{(k+1)} = \\hat{A} E^{(k)}, \\qquad E = \\frac{1}{K+1} \\sum_{k=0}^{K} E^{(k)},

    with :math:`E^{(0)}` the user and item ID embeddings (``embedding_size``) and :math:`K` = ``n_layers``.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.n_layers = config["n_layers"]
        self.user_embedding = torch.nn.Embedding(self.n_users, config["embedding_size"])
        self.item_embedding = torch.nn.Embedding(self.n_items, config["embedding_size"])
        self.apply(xavier_uniform_initialization)

    def ego_embeddings(self):
        """:math:`E^{(0)}`: users then items."""
        return torch.cat([self.user_embedding.weight, self.item_embedding.weight])

    def propagated_graph(self):
        return self.norm_adj, self.n_layers

    def ego_rows(self, nodes):
        is_user = nodes < self.n_users
        users, items = nodes[is_user], nodes[~is_user] - self.n_users
        rows = torch.cat([self.user_embedding(users), self.item_embedding(items)])
        return rows[torch.cat([is_user.nonzero(), (~is_user).nonzero()]).view(-1).argsort()]

    def forward(self):
        return self.propagate(self.ego_embeddings(), self.norm_adj, self.n_layers)
