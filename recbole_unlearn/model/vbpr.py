"""VBPR (He & McAuley, AAAI 2016): matrix factorisation with a content factor from item features."""

import torch
from recbole.model.init import xavier_uniform_initialization

from recbole_unlearn.model.multimodal import MultimodalRecommender


class VBPR(MultimodalRecommender):
    """Visual BPR over every modality; no propagation (the user-item graph is built but unused):

    .. math::
        s_{ui} = \\gamma_u^\\top \\gamma_i + \\theta_u^\\top (E f_i), \\qquad
        f_i = [\\, f_{i,1} \\,\\|\\, \\dots \\,\\|\\, f_{i,M} \\,],

    with :math:`\\gamma_u, \\gamma_i, \\theta_u` learned ``embedding_size`` vectors, :math:`f_i` the concatenation of
    item :math:`i`'s rows in every modality (sorted by name, as ``feature_norm`` left them) and :math:`E` a learned
    ``embedding_size x sum(d_m)`` projection without bias, so an item whose rows are all zero has no content term.
    Trained with BPR plus ``reg_weight`` times the L2 norm of the batch's
    :math:`\\gamma_u, \\theta_u, \\gamma_i, E f_i`.

    The paper's predictor (its equation 2) also has :math:`\\alpha + \\beta_u + \\beta_i + \\beta'^\\top f_i`.
    :math:`\\alpha` and :math:`\\beta_u` cancel in every BPR difference and every ranking of a user's items; the item
    bias :math:`\\beta_i` and the content bias :math:`\\beta'^\\top f_i` do not, but are left out, as in RecBole's BPR
    (docs/multimodal.md).
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        size = config["embedding_size"]
        self.user_embedding = torch.nn.Embedding(self.n_users, size)  # gamma_u
        self.user_content_embedding = torch.nn.Embedding(self.n_users, size)  # theta_u
        self.item_embedding = torch.nn.Embedding(self.n_items, size)  # gamma_i
        self.content_projection = torch.nn.Linear(sum(self.modality_dims.values()), size, bias=False)  # E
        self.apply(xavier_uniform_initialization)

    def item_content(self, items=None):
        """:math:`E f_i` of ``items`` (all items when ``None``)."""
        feats = [self.modality_feature(m) for m in self.modalities]
        if items is not None:
            feats = [f[items] for f in feats]
        return self.content_projection(torch.cat(feats, dim=-1))

    def forward(self):
        user_e = torch.cat([self.user_embedding.weight, self.user_content_embedding.weight], dim=-1)  # all users
        item_e = torch.cat([self.item_embedding.weight, self.item_content()], dim=-1)
        return user_e, item_e

    def _user_repr(self, users):
        return torch.cat([self.user_embedding(users), self.user_content_embedding(users)], dim=-1)

    def _item_repr(self, items):
        return torch.cat([self.item_embedding(items), self.item_content(items)], dim=-1)

    def calculate_loss(self, interaction):
        # the batch's rows only: projecting every item's features per batch would dominate the cost
        self.clear_cache()
        user = interaction[self.USER_ID]
        pos_item = interaction[self.ITEM_ID]
        neg_item = interaction[self.NEG_ITEM_ID]
        u = self._user_repr(user)
        loss = self.bpr_loss((u * self._item_repr(pos_item)).sum(-1), (u * self._item_repr(neg_item)).sum(-1))
        if self.reg_weight:
            loss = loss + self.reg_weight * self.regularization(user, pos_item, neg_item)
        return loss

    def regularization(self, user, pos_item, neg_item):
        return self.emb_loss(
            self._user_repr(user), self._item_repr(pos_item), self._item_repr(neg_item), require_pow=self.require_pow
        )
