"""What an unlearning method reads: the request's config and its typed settings, parsed once from it."""

from dataclasses import dataclass

from recbole_unlearn.config import with_request_defaults
from recbole_unlearn.unlearn.settings import UnlearnSettings


@dataclass(frozen=True)
class UnlearnContext:
    """The config of one request (its type's recipe merged in) and the :class:`UnlearnSettings` parsed from it.

    Built only by :meth:`for_request`, so the two cannot disagree: methods read unlearning settings from
    ``settings`` and use ``config`` only to build and train models (rebinding, retraining, refreshing).
    """

    config: object
    settings: UnlearnSettings

    @classmethod
    def for_request(cls, config, kind) -> "UnlearnContext":
        """The context of a ``kind`` request: the recipe ``unlearn_defaults[kind]`` fills every key the user did not
        set (in ``config``'s files, dict or command line, or by :func:`~recbole_unlearn.config.config_with`), then the
        settings are parsed (one line naming the first bad key)."""
        config = with_request_defaults(config, str(kind))
        return cls(config, UnlearnSettings.from_config(config))

    @property
    def show_progress(self) -> bool:
        return bool(self.config["show_progress"])
