"""Request and response bodies, each with an example that /docs shows."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from service.runtime.alignment import ALIGNMENT_METHODS, DEFAULT_ALIGNMENT_METHOD, AlignmentMethod

MAX_BEAM_SIZE = 16

_EXAMPLE_ATTENTION: Any = [
    [0.9312, 0.0411, 0.0153, 0.0124],
    [0.0201, 0.8923, 0.0652, 0.0224],
    [0.0107, 0.0555, 0.9016, 0.0322],
    [0.0149, 0.0227, 0.0631, 0.8993],
]

_EXAMPLE_MODEL: dict[str, Any] = {
    "name": "en-de",
    "version": "20250101-1a2b3c4d",
    "source_language": "en",
    "target_language": "de",
    "score_function": "additive",
    "decoder": "conditional",
    "quantization": None,
    "created_at": "2025-01-01T10:00:00Z",
    "sizes": {"parameters": 10432512, "src_vocab_size": 8000, "tgt_vocab_size": 8000, "emb_dim": 256,
              "enc_hidden": 256, "dec_hidden": 512, "attn_dim": 256, "readout_dim": 256, "bundle_bytes": 42000000},
    "decoding": {"beam_size": 4, "length_penalty": 1.0, "max_length_ratio": 2.0, "max_length_offset": 10},
    "metrics": {"test_2016_flickr": {"cased_bleu": 35.1, "comparable_bleu": 36.0}},
}  # fmt: skip


def _text_or_texts(value: object) -> object:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return value
    raise PydanticCustomError("text_type", "must be a string or a non-empty list of strings")


def usable_texts(value: str | list[str]) -> str | list[str]:
    for index, text in enumerate([value] if isinstance(value, str) else value):
        where = "" if isinstance(value, str) else f"[{index}]"
        if not text.strip():
            raise ValueError(f"text{where} is empty or only whitespace")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(
                f"text{where} holds an unpaired surrogate at character {error.start}, which is not valid Unicode"
            ) from None
    return value


def whole_number(value: object) -> object:
    """JSON Schema counts 2.0 as an integer, and so does heed; 2.5, true and "2" stay wrong."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# A character that is not whitespace as Python's str.strip() knows it (what `usable_texts` checks), spelled out:
# JSON Schema's \s is ECMA-262's, which also holds U+FEFF and lacks U+001C-U+001F and U+0085.
NOT_ONLY_WHITESPACE = r"[^\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

# What the validators accept, stated in the schema: one string, or a list of at least one
_TEXT_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": NOT_ONLY_WHITESPACE}
_TEXTS_SCHEMA: dict[str, Any] = {"anyOf": [_TEXT_SCHEMA, {"type": "array", "items": _TEXT_SCHEMA, "minItems": 1}]}
TextInput = Annotated[
    str | list[str], BeforeValidator(_text_or_texts), AfterValidator(usable_texts), WithJsonSchema(_TEXTS_SCHEMA)
]
LanguageCode = Annotated[str, Field(min_length=1, max_length=32, examples=["en"])]


ALIGNMENT_METHOD_DESCRIPTION = (
    "How word links are read from the attention (Pharaoh `alignment`): target-argmax (each target word's "
    "strongest source word), source-argmax (each source word's strongest target word), their intersection, "
    "union or grow-diag-final-and, or threshold (every link weight above 0.3). Default source-argmax, the lowest "
    "mean alignment error rate over the shipped models' caption gold sets (README: How right the alignments are)."
)


def alignment_method_field() -> Any:
    return Field(
        default=DEFAULT_ALIGNMENT_METHOD, description=ALIGNMENT_METHOD_DESCRIPTION, examples=list(ALIGNMENT_METHODS)
    )


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class TranslateRequest(_Request):
    source: LanguageCode = Field(
        description="Language code of the input, or 'auto': each text's language is detected (they must agree)."
    )
    target: LanguageCode = Field(description="Language code to translate into.")
    text: TextInput = Field(description="One text, or a list of texts translated in order.")
    format: Literal["text", "html"] = Field(
        default="text",
        description="'html': each text is HTML; its text is translated and its markup kept, inline elements "
        "placed on the words aligned to theirs. Tokens, words, attention and alignment then refer to the text "
        "content (its blocks, one per line), not the markup.",
    )
    beam_size: int | None = Field(
        default=None,
        ge=1,
        le=MAX_BEAM_SIZE,
        description="Beam width; 1 is greedy decoding. Left out: the model's default (`decoding.beam_size`). "
        "Widened to `n_best` when that is larger, since a beam of k holds k hypotheses.",
    )
    n_best: int = Field(
        default=1,
        ge=1,
        le=MAX_BEAM_SIZE,
        description="Hypotheses returned per text (the beam is widened to hold them).",
    )
    attention: bool = Field(default=True, description="Include the attention matrices in this response.")
    alignment_method: AlignmentMethod = alignment_method_field()
    max_length: int | None = Field(default=None, ge=1, description="Most target tokens per translation.")
    store: bool = Field(default=True, description="Keep the result so that it can be fetched again by its id.")
    model: str | None = Field(
        default=None, min_length=1, max_length=128, description="A bundle name, when several serve."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"source": "en", "target": "de", "text": "A man is riding a bike."},
                {"source": "en", "target": "de", "text": ["Two dogs play.", "A child eats."], "beam_size": 5,
                 "n_best": 2, "attention": False},
            ]
        }
    )  # fmt: skip

    _whole_numbers = field_validator("beam_size", "n_best", "max_length", mode="before")(whole_number)

    @property
    def texts(self) -> list[str]:
        return as_list(self.text)


class AlignRequest(_Request):
    source: LanguageCode = Field(description="Language code of the input.")
    target: LanguageCode = Field(description="Language code of the translation.")
    text: TextInput = Field(description="The source text, or a list of them.")
    translation: TextInput = Field(
        description="Its translation (a string when `text` is one), or a list with one per source text."
    )
    alignment_method: AlignmentMethod = alignment_method_field()
    store: bool = Field(default=True, description="Keep the result so that it can be fetched again by its id.")
    model: str | None = Field(
        default=None, min_length=1, max_length=128, description="A bundle name, when several serve."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"source": "en", "target": "de", "text": "A man is riding a bike.",
                 "translation": "Ein Mann fährt Fahrrad."},
            ]
        }
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_translation_per_text(self) -> AlignRequest:
        if isinstance(self.text, str) != isinstance(self.translation, str):
            raise ValueError("text and translation must both be strings or both be lists")
        if len(self.texts) != len(self.translations):
            raise ValueError(
                f"text has {len(self.texts)} items but translation has {len(self.translations)}; give one each"
            )
        return self

    @property
    def texts(self) -> list[str]:
        return as_list(self.text)

    @property
    def translations(self) -> list[str]:
        return as_list(self.translation)


class ModelRef(BaseModel):
    name: str
    version: str


class Hypothesis(BaseModel):
    text: str
    score: float


class TranslationConfidence(BaseModel):
    """How far to trust a translation (service/runtime/confidence.py)."""

    mean_log_prob: float = Field(
        le=0.0,
        description="Log-probability per target piece, </s> included, without length penalty. Near 0: every "
        "piece was an easy choice. Well below the range the model shows on text like its training data (about "
        "-0.4 on average for en-de captions, -1.6 on parliament text): distrust the translation and its alignment.",
    )
    attention_entropy: float = Field(
        ge=0.0,
        le=1.0,
        description="Mean entropy of the target pieces' attention rows over the log of the source length: 0 when "
        "each piece looked at one source piece, 1 when at all of them evenly. Higher than usual: the links are "
        "less reliable.",
    )


CONFIDENCE_DESCRIPTION = (
    "Signals for deciding when not to trust the answer: both move on text unlike the model's training data "
    "(they separate Multi30k captions from parliament text with ROC AUC 0.97-0.995). Compare them with the "
    "values the model gives on text you trust."
)


class SegmentItem(BaseModel):
    """One sentence of a text and its own translation (service.app.sentences)."""

    source: str = Field(description="The sentence, as it stands in the source text.")
    text: str = Field(description="Its translation, as it stands in the output text.")
    source_start: int = Field(
        description="Where the sentence starts in the text's `source` (characters, 0-based). With format html, "
        "offsets (here and below) index the text content that was translated, the blocks one per line, not the "
        "markup."
    )
    source_end: int = Field(description="Where it ends there (exclusive).")
    text_start: int = Field(description="Where its translation starts in the text's `text`.")
    text_end: int = Field(description="Where it ends there (exclusive).")
    source_word_offset: int = Field(description="Index of its first word among the text's `source_words`.")
    target_word_offset: int = Field(description="Index of its first word among the text's `target_words`.")
    score: float = Field(description="Length-normalized log-probability (higher is better).")
    source_tokens: list[str] = Field(description="Subword pieces of the sentence; the last is </s>.")
    target_tokens: list[str] = Field(description="Subword pieces of its translation; the last is </s>.")
    attention: list[list[float]] | None = Field(
        default=None, description="One row per target token, one column per source token; rows sum to 1 (4 decimals)."
    )
    alignment: str = Field(description="Pharaoh word alignment 'i-j' over this sentence's own words.")
    confidence: TranslationConfidence = Field(description=CONFIDENCE_DESCRIPTION)
    source_words: list[str]
    target_words: list[str]
    truncated: bool = Field(default=False, description="The sentence was longer than the model reads and was cut.")


class TranslationItem(BaseModel):
    source: str = Field(description="The input text as given.")
    text: str = Field(description="The best translation.")
    score: float = Field(description="Length-normalized log-probability (higher is better).")
    source_tokens: list[str] = Field(description="Subword pieces of the input; the last is </s>.")
    target_tokens: list[str] = Field(description="Subword pieces of the translation; the last is </s>.")
    attention: list[list[float]] | None = Field(
        default=None,
        description="One row per target token, one column per source token; rows sum to 1 (4 decimals). Only for a "
        "text of one sentence; a text of several has null here and each sentence's matrix in `segments` (the "
        "text-level matrix would be their block diagonal, quadratic in the text's length). Left out when attention "
        "was not asked for.",
    )
    alignment: str = Field(
        description="Pharaoh word alignment 'i-j': source word i, target word j, over the whole text's words (each "
        "segment's links offset by its word offsets)."
    )
    alignment_method: AlignmentMethod = Field(description="How `alignment` was read from the attention.")
    confidence: TranslationConfidence = Field(description=CONFIDENCE_DESCRIPTION)
    source_words: list[str]
    target_words: list[str]
    truncated: bool = Field(default=False, description="The input was longer than the model reads and was cut.")
    n_best: list[Hypothesis] | None = Field(default=None, description="Best first; only when n_best > 1.")
    segments: list[SegmentItem] = Field(
        default_factory=list,
        description="The text's sentences, in order, each translated as a row of the same batch; one for a text of "
        "one sentence (or none). Line breaks and the whitespace between sentences are kept in `text`.",
    )


class TranslationResult(BaseModel):
    id: str = Field(description="Opaque id to fetch this result again.")
    model: ModelRef
    source: str
    target: str
    created_at: str
    stored: bool = Field(description="Whether the result can be fetched again by id.")
    stored_reason: str | None = Field(
        default=None,
        description="Why the result was not stored; null when it was. not_requested (store: false), "
        "store_unavailable (the store fails; /readyz says degraded), store_full, too_large (over the caller's quota).",
    )
    expires_at: str | None = Field(description="When the stored result expires; null when not stored.")
    translations: list[TranslationItem]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "mV3f1t0yXo6i2QeS9Zx7Aw",
                    "model": {"name": "en-de", "version": "20250101-1a2b3c4d"},
                    "source": "en",
                    "target": "de",
                    "created_at": "2025-01-01T12:00:00Z",
                    "stored": True,
                    "expires_at": "2025-01-02T12:00:00Z",
                    "translations": [
                        {
                            "source": "A man rides.",
                            "text": "Ein Mann fährt.",
                            "score": -0.0912,
                            "source_tokens": ["▁A", "▁man", "▁rides.", "</s>"],
                            "target_tokens": ["▁Ein", "▁Mann", "▁fährt.", "</s>"],
                            "attention": _EXAMPLE_ATTENTION,
                            "alignment": "0-0 1-1 2-2",
                            "alignment_method": "source-argmax",
                            "confidence": {"mean_log_prob": -0.1521, "attention_entropy": 0.1874},
                            "source_words": ["A", "man", "rides."],
                            "target_words": ["Ein", "Mann", "fährt."],
                            "truncated": False,
                            "segments": [
                                {
                                    "source": "A man rides.",
                                    "text": "Ein Mann fährt.",
                                    "source_start": 0,
                                    "source_end": 12,
                                    "text_start": 0,
                                    "text_end": 15,
                                    "source_word_offset": 0,
                                    "target_word_offset": 0,
                                    "score": -0.0912,
                                    "source_tokens": ["▁A", "▁man", "▁rides.", "</s>"],
                                    "target_tokens": ["▁Ein", "▁Mann", "▁fährt.", "</s>"],
                                    "attention": _EXAMPLE_ATTENTION,
                                    "alignment": "0-0 1-1 2-2",
                                    "confidence": {"mean_log_prob": -0.1521, "attention_entropy": 0.1874},
                                    "source_words": ["A", "man", "rides."],
                                    "target_words": ["Ein", "Mann", "fährt."],
                                    "truncated": False,
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )


class AlignmentView(BaseModel):
    id: str
    index: int
    source: str
    text: str
    segment: int | None = Field(default=None, description="The sentence shown, when one was asked for.")
    source_tokens: list[str]
    target_tokens: list[str]
    attention: list[list[float]] | None = Field(
        description="Null for a text of several sentences: each has its own in `segments`."
    )
    alignment: str
    alignment_method: AlignmentMethod | None = Field(
        description="How `alignment` was read from the attention; null for results stored before it was recorded."
    )
    source_words: list[str]
    target_words: list[str]
    segments: list[SegmentItem] = Field(
        default_factory=list,
        description="The text's sentences with their own matrices and alignments; empty when one segment is shown.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "mV3f1t0yXo6i2QeS9Zx7Aw",
                    "index": 0,
                    "source": "A man rides.",
                    "text": "Ein Mann fährt.",
                    "source_tokens": ["▁A", "▁man", "▁rides.", "</s>"],
                    "target_tokens": ["▁Ein", "▁Mann", "▁fährt.", "</s>"],
                    "attention": _EXAMPLE_ATTENTION,
                    "alignment": "0-0 1-1 2-2",
                    "alignment_method": "source-argmax",
                    "source_words": ["A", "man", "rides."],
                    "target_words": ["Ein", "Mann", "fährt."],
                }
            ]
        }
    )


class ModelSizes(BaseModel):
    parameters: int | None
    src_vocab_size: int | None
    tgt_vocab_size: int | None
    emb_dim: int | None
    enc_hidden: int | None
    dec_hidden: int | None
    attn_dim: int | None
    readout_dim: int | None
    bundle_bytes: int | None = Field(description="Bytes of the bundle's files.")


class ModelInfo(BaseModel):
    name: str
    version: str
    source_language: str
    target_language: str
    score_function: str | None = Field(description="Attention score: additive, dot or general.")
    decoder: str = Field(
        description="bahdanau: attention is queried with the previous decoder state; conditional: a first GRU "
        "reads the previous target word before attention is queried."
    )
    quantization: str | None
    created_at: str | None
    sizes: ModelSizes
    decoding: dict[str, Any]
    metrics: dict[str, Any]

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_MODEL]})


class UnavailableModel(BaseModel):
    name: str
    reason: str


class ModelList(BaseModel):
    models: list[ModelInfo]
    unavailable: list[UnavailableModel] = Field(description="Bundles that failed to load or warm up.")

    model_config = ConfigDict(json_schema_extra={"examples": [{"models": [_EXAMPLE_MODEL], "unavailable": []}]})


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "not_ready"] = Field(
        description="degraded: translations work (200) but results are not stored; `reason` says why."
    )
    reason: str | None = Field(default=None, description="Why the service is not ready, or degraded.")
    models: list[str] = Field(description="Bundles loaded, warmed up and serving.")
    failures: dict[str, str] = Field(description="Bundles that failed, with the reason.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ready", "reason": None, "models": ["en-de"], "failures": {}},
                {
                    "status": "degraded",
                    "reason": "the result store is unavailable, so results are not stored: "
                    "Redis store unavailable: Timeout connecting to server",
                    "models": ["en-de"],
                    "failures": {},
                },
                {"status": "not_ready", "reason": "loading models from artifacts", "models": [], "failures": {}},
            ]
        }
    )


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable reason.")
    message: str = Field(description="What is wrong, for people.")
    details: list[dict[str, Any]] | None = None

    model_config = ConfigDict(extra="allow")


class ErrorBody(BaseModel):
    error: ErrorInfo
    request_id: str | None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"error": {"code": "invalid_request", "message": "text[1] is empty or only whitespace"},
                 "request_id": "5f0c2d6cbd1e4b0c9f1c7d1f7a1c2b3d"}
            ]
        }
    )  # fmt: skip


# LibreTranslate wire format ------------------------------------------------------------------------------------------


class LibreTranslateRequest(BaseModel):
    """Accepted as JSON or as form data (`application/x-www-form-urlencoded` or `multipart/form-data`)."""

    q: Annotated[str | list[str], WithJsonSchema(_TEXTS_SCHEMA)] = Field(description="Text, or a list of texts.")
    source: str = Field(description="Source language code, or 'auto': each q item's language is detected.")
    target: str = Field(description="Target language code.")
    format: Annotated[
        Literal["text", "html"],  # "" and null are read as "text" (the router does)
        WithJsonSchema({"anyOf": [{"type": "string", "enum": ["text", "html", ""]}, {"type": "null"}]}),
    ] = Field(default="text", description="'text' ('' or null), or 'html': its text is translated, its markup kept.")
    api_key: str | None = Field(
        default=None, description="The API key, when the server requires one (or send Authorization: Bearer <key>)."
    )
    alternatives: Annotated[
        int,  # a numeric string is read as its number (the router does), as LibreTranslate reads it
        WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_BEAM_SIZE - 1},
                                  {"type": "string", "pattern": f"^0*({'|'.join(map(str, range(MAX_BEAM_SIZE)))})$"}]}),
    ] = Field(default=0, ge=0, le=MAX_BEAM_SIZE - 1, description="Extra translations to return per text.")  # fmt: skip

    _whole_numbers = field_validator("alternatives", mode="before")(whole_number)

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"q": "A man is riding a bike.", "source": "en", "target": "de",
                                         "format": "text", "api_key": ""}]},
    )  # fmt: skip


class DetectedLanguage(BaseModel):
    language: str
    confidence: float


class LibreTranslateResponse(BaseModel):
    translatedText: str | list[str]  # LibreTranslate's field names
    alternatives: list[str] | list[list[str]] | None = None
    detectedLanguage: DetectedLanguage | list[DetectedLanguage] | None = None

    model_config = ConfigDict(json_schema_extra={"examples": [{"translatedText": "Ein Mann fährt Fahrrad."}]})


class LibreTranslateLanguage(BaseModel):
    code: str
    name: str
    targets: list[str]

    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "en", "name": "English", "targets": ["de"]}]})


class LibreTranslateError(BaseModel):
    error: str

    model_config = ConfigDict(json_schema_extra={"examples": [{"error": "Invalid request: missing q parameter"}]})
