"""How the unlearning steps are shared between processes: one process, or data-parallel over a process group.

Data-parallel, as RecBole trains: every rank walks rank 0's order of forgotten pairs and takes every
``world_size``-th pair of each batch, with its own retained pairs and negatives (a random stream per rank). Each rank's
loss is weighted by its share of the batch and the gradients are summed over the ranks in one all-reduce per step, so a
step equals one process's step on the whole batch up to the random draws. Rank 0's parameters are broadcast at
the end. :class:`OneProcess` offers the same calls doing nothing, so the trainer has one
code path.
"""

import torch
import torch.distributed as dist

from recbole_unlearn import distributed


class OneProcess:
    """A single process: its batch is the whole batch."""

    draws = None  # the global random stream

    def same_order(self, order):
        return order

    def my_share(self, idx):
        return idx

    def sum_gradients(self, parameters, loss):
        return loss

    def finish(self, model):
        pass


class DataParallel:
    """One rank of a process group (see the module docstring)."""

    def __init__(self):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.draws = torch.Generator().manual_seed(int(torch.randint(2**62, (1,))) + self.rank)

    def same_order(self, order):
        return distributed.broadcast_(order)

    def my_share(self, idx):
        return idx[self.rank :: self.world]

    def sum_gradients(self, parameters, loss):
        (total,) = distributed.sum_gradients(parameters, [loss])
        return total

    def finish(self, model):
        distributed.broadcast_parameters(model)


def processes_for(config):
    """:class:`OneProcess` for a single-process config, :class:`DataParallel` for one rank of several."""
    return OneProcess() if config["single_spec"] else DataParallel()
