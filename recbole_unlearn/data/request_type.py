"""The four request types (``forget_type``), as one closed set."""

from enum import Enum


class RequestType(str, Enum):
    """What a request forgets.

    - ``user``: every interaction of the given users;
    - ``interaction``: the given user-item pairs;
    - ``item``: every interaction with the given items, their feature rows, and they are never recommended again;
    - ``modality``: one modality's feature rows of the given items.

    A member is its value as a string (``RequestType.USER == "user"``, ``f"{RequestType.USER}"`` is ``user``), so
    configs, lineage records and reports keep plain strings.
    """

    USER = "user"
    INTERACTION = "interaction"
    ITEM = "item"
    MODALITY = "modality"

    def __str__(self):
        return self.value

    def __format__(self, spec):
        return format(self.value, spec)

    @property
    def purges_features(self) -> bool:
        """Item and modality requests zero feature rows of the items they name."""
        return self in (RequestType.ITEM, RequestType.MODALITY)


REQUEST_TYPES = tuple(t.value for t in RequestType)
