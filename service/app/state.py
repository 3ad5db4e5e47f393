"""What the app holds while it runs: settings, metrics, the result store, the scheduler and the models."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.app.batching import TranslationScheduler
from service.app.errors import NotReadyError, UnknownModelError, UnsupportedLanguagePairError
from service.app.metrics import Metrics
from service.app.ratelimit import RateLimiter
from service.app.settings import Settings
from service.app.store import ResultStore
from service.runtime import Translator


@dataclass
class Readiness:
    ready: bool = False
    reason: str = "starting: the models are not loaded yet"


@dataclass
class ServingModels:
    """The bundles that loaded and answered a warm-up translation, and the ones that did not."""

    translators: dict[str, Translator]
    failures: dict[str, str] = field(default_factory=dict)

    def pairs(self) -> list[str]:
        return sorted({f"{t.source_language}-{t.target_language}" for t in self.translators.values()})

    def language_pairs(self) -> list[tuple[str, str]]:
        return sorted({(t.source_language, t.target_language) for t in self.translators.values()})

    def resolve(self, source: str, target: str, model: str | None = None) -> Translator:
        """The bundle for the pair: the one named `model`, else the one named "<source>-<target>", else the first."""
        if model is not None:
            translator = self.translators.get(model)
            if translator is None:
                raise UnknownModelError(f"no model named {model!r}; serving: {', '.join(sorted(self.translators))}")
            if (translator.source_language, translator.target_language) != (source, target):
                raise UnsupportedLanguagePairError(source, target, [f"{translator.source_language}-"
                                                                   f"{translator.target_language}"])  # fmt: skip
            return translator
        candidates = sorted(
            (t for t in self.translators.values() if (t.source_language, t.target_language) == (source, target)),
            key=lambda t: (t.name != f"{source}-{target}", t.name),
        )
        if not candidates:
            raise UnsupportedLanguagePairError(source, target, self.pairs())
        return candidates[0]


@dataclass
class AppState:
    settings: Settings
    metrics: Metrics
    readiness: Readiness = field(default_factory=Readiness)
    store: ResultStore | None = None
    scheduler: TranslationScheduler | None = None
    models: ServingModels | None = None
    rate_limiter: RateLimiter | None = None

    def serving_models(self) -> ServingModels:
        if self.models is None:
            raise NotReadyError(self.readiness.reason)
        return self.models

    def running_scheduler(self) -> TranslationScheduler:
        if self.scheduler is None:
            raise NotReadyError(self.readiness.reason)
        return self.scheduler
