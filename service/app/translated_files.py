"""LibreTranslate's file translation: an uploaded .txt, .srt or .vtt file translated piece by piece
(service.text.files), an .html/.htm file block by block with its markup kept (service.text.markup), or a .docx,
.pptx, .odt, .odp or .epub file paragraph by paragraph with its runs and every other part kept (service.text.office),
kept in the result store with the results' expiry, and downloaded by its URL.

A stored file's id is `file.<22 random URL-safe characters>`: heed's own result ids never hold a dot, so
/v1/translations/{id} can never read a file, nor /download_file a result. The download name is
`<random part>.<file name>`, as LibreTranslate names it; the random part is the secret that lets its holder
download the file, as in LibreTranslate, whose download route takes no key.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from service.app.detection import check_translatable
from service.app.documents import new_result_id, pack, unpack
from service.app.errors import ApiError, BadRequestError, NotFoundError, StoreUnavailableError
from service.app.service import AUTO, TranslationJob, TranslationService
from service.app.state import AppState, ServingModels
from service.app.store import CallerStore, StoreError
from service.runtime import Translation
from service.text.detect import detect
from service.text.files import BOM, FORMATS, HTML, Piece, assemble, cut, texts_to_translate
from service.text.markup import BlockTranslation, Markup, MarkupError, parse, render, split_translation
from service.text.office import OFFICE_FORMATS, OfficeDocument, OfficeFileError, OfficeFileTooLarge
from service.text.office import read as read_office
from service.text.office import write as write_office

STORE_PREFIX = "file."
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")
DOWNLOAD_NAME_PATTERN = r"^[A-Za-z0-9_-]{22}\.[A-Za-z0-9._-]+$"  # a token, a dot, a safe_name
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_SEPARATOR = b"\0"  # between the stored file's name and its bytes; a name never holds it
MEDIA_TYPES = {".txt": "text/plain; charset=utf-8", ".srt": "application/x-subrip; charset=utf-8",
               ".vtt": "text/vtt; charset=utf-8", ".html": "text/html; charset=utf-8",
               ".htm": "text/html; charset=utf-8",
               ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
               ".odt": "application/vnd.oasis.opendocument.text",
               ".odp": "application/vnd.oasis.opendocument.presentation", ".epub": "application/epub+zip"}  # fmt: skip
DETECTION_SAMPLE_CHARS = 2_000
FILE_CONCURRENCY = 8  # a file's lines or cues in flight at once: enough to fill batches, few enough to share them


class FileTooLargeError(ApiError):
    status_code = 413
    code = "payload_too_large"


@dataclass(frozen=True)
class HtmlPlan:
    """An HTML file cut into blocks; a byte-order mark is kept apart, as the parser would drop it."""

    markup: Markup
    bom: str


@dataclass(frozen=True)
class OfficePlan:
    """A .docx, .pptx, .odt, .odp or .epub file read into paragraphs (translated into it once, by translate_pieces)."""

    document: OfficeDocument


Plan = list[Piece] | HtmlPlan | OfficePlan


@dataclass(frozen=True)
class Upload:
    name: str
    extension: str
    text: str  # a text format's text; "" for the binary office formats
    content: bytes


def safe_name(filename: str) -> str:
    """The file's own name (no folders) with characters outside [A-Za-z0-9._-] replaced by "_"."""
    name = _UNSAFE_NAME_CHARACTERS.sub("_", PurePath(filename.replace("\\", "/")).name).strip("._")
    return name or "file"


def read_upload(filename: str, content: bytes) -> Upload:
    """The upload's name, format and text; 400 for a format heed cannot translate or a file that is not UTF-8."""
    if not filename:
        raise BadRequestError("Invalid request: empty file")
    extension = PurePath(filename).suffix.lower()
    if extension not in FORMATS:
        raise BadRequestError(f"Invalid request: file format not supported; supported: {', '.join(FORMATS)}")
    if not content:
        raise BadRequestError("Invalid request: empty file")
    if extension in OFFICE_FORMATS:
        return Upload(safe_name(filename), extension, "", content)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequestError(f"Invalid request: the file is not UTF-8 text ({error.reason})") from None
    return Upload(safe_name(filename), extension, text, content)


def check_size(texts: list[str], max_chars: int, max_texts: int) -> None:
    """A file must hold some text to translate, and may hold as many characters to translate as one request of
    the largest size (max_texts texts of max_chars each), and no single line or cue longer than one text may be."""
    if not texts:
        raise BadRequestError("Invalid request: the file holds no text to translate")
    total = sum(map(len, texts))
    if total > max_chars * max_texts:
        raise FileTooLargeError(
            f"Invalid request: the file has {total} characters to translate; the limit is {max_chars * max_texts}"
        )
    longest = max(texts, key=len, default="")
    if len(longest) > max_chars:
        raise BadRequestError(
            f"Invalid request: a line or cue of the file has {len(longest)} characters; the limit is {max_chars}"
        )


async def detected_source(models: ServingModels, texts: list[str], target: str) -> str:
    """The language of the file's first DETECTION_SAMPLE_CHARS characters to translate."""
    sample = " ".join(texts)[:DETECTION_SAMPLE_CHARS]
    detection = (await asyncio.to_thread(detect, sample, candidates=1))[0]
    check_translatable(models, [detection], target, "file")
    return detection.language


async def translate_pieces(
    service: TranslationService, pieces: Plan, texts: list[str], source: str, target: str
) -> bytes:
    """The file translated, each line, cue, HTML block or paragraph as a request of its own to the service (so each
    fits the per-request work budget exactly as the same text sent to /translate would), FILE_CONCURRENCY at a
    time: they share batches with each other and with other requests, without filling the queue."""
    window = asyncio.Semaphore(FILE_CONCURRENCY)

    async def translate_one(text: str) -> Translation:
        async with window:
            job = TranslationJob(texts=[text], source=source, target=target, field="file")
            return (await service.translate(job)).translations[0]

    try:
        async with asyncio.TaskGroup() as group:  # the first failure cancels the rest
            tasks = [group.create_task(translate_one(text)) for text in texts]
    except ExceptionGroup as failures:
        raise failures.exceptions[0] from None
    translations = [task.result() for task in tasks]
    if isinstance(pieces, OfficePlan):
        return await asyncio.to_thread(_office_file, pieces.document, translations)
    if isinstance(pieces, HtmlPlan):
        text = pieces.bom + await asyncio.to_thread(_html_file, pieces.markup, translations)
    else:
        text = assemble(pieces, [translation.text for translation in translations])
    return text.encode("utf-8")


async def translate_file(
    service: TranslationService, store: CallerStore, upload: Upload, source: str, target: str
) -> str:
    """The upload translated from `source` ("auto": detected on its first characters) and stored; its download
    name."""
    pieces, texts = await asyncio.to_thread(pieces_and_texts, upload)
    settings = service.state.settings
    check_size(texts, settings.max_chars, settings.max_texts)
    if source == AUTO:
        source = await detected_source(service.models, texts, target)
    translated = await translate_pieces(service, pieces, texts, source, target)
    return await store_file(service.state, store, upload.name, translated)


def _placed(texts: Sequence[str], translations: Sequence[Translation]) -> list[BlockTranslation]:
    """Each block's or paragraph's translation, its words placed against its source's spans by its alignment."""
    return [
        split_translation([text], t.text, t.source_words, t.target_words, t.alignment)[0]
        for text, t in zip(texts, translations, strict=True)
    ]


def _html_file(markup: Markup, translations: Sequence[Translation]) -> str:
    """The HTML again around its blocks' translations, each block's inline elements placed by its alignment."""
    return render(markup, _placed(markup.texts, translations))


def _office_file(document: OfficeDocument, translations: Sequence[Translation]) -> bytes:
    """The document again with each paragraph's translation placed into its runs by its alignment."""
    return write_office(document, _placed(document.texts, translations))


def pieces_and_texts(upload: Upload) -> tuple[Plan, list[str]]:
    """What is kept and what is translated, and the texts to translate; 400 (413 over a size limit) for an office
    file that cannot be read safely (service.text.office says what is checked)."""
    if upload.extension in OFFICE_FORMATS:
        try:
            document = read_office(upload.content, upload.extension)
        except OfficeFileTooLarge as error:
            raise FileTooLargeError(f"Invalid request: {error}") from None
        except OfficeFileError as error:
            raise BadRequestError(f"Invalid request: {error}") from None
        return OfficePlan(document), document.texts
    if upload.extension in HTML:
        try:
            markup = parse(upload.text.removeprefix(BOM))
        except MarkupError as error:
            raise BadRequestError(f"Invalid request: {error}") from None
        return HtmlPlan(markup, BOM if upload.text.startswith(BOM) else ""), markup.texts
    pieces = cut(upload.text, upload.extension)
    return pieces, texts_to_translate(pieces)


async def store_file(state: AppState, store: CallerStore, name: str, content: bytes) -> str:
    """Stores the translated file; its download name."""
    token = new_result_id()
    packed = await asyncio.to_thread(pack, name.encode() + _NAME_SEPARATOR + content)
    if not await store.save(STORE_PREFIX + token, packed):
        reason = store.unstored_reason or "unknown"
        if reason == "too_large":
            raise FileTooLargeError("Invalid request: the translated file is larger than the store keeps per caller")
        raise StoreUnavailableError(f"the translated file could not be stored ({reason}); try again later")
    return f"{token}.{name}"


async def load_file(state: AppState, store: CallerStore, download_name: str) -> tuple[str, bytes]:
    """(the file's name, its bytes); 400 for a name that is not a download name, 404 when unknown or expired."""
    token, _, name = download_name.partition(".")
    if not _TOKEN.match(token) or not name:
        raise BadRequestError("Invalid filename")
    try:
        packed = await store.load(STORE_PREFIX + token)
    except StoreError as error:
        state.metrics.store_errors.labels(operation="load").inc()
        raise StoreUnavailableError(f"the result store is unavailable: {error}") from None
    gone = NotFoundError(f"no file {download_name!r}: it is unknown or expired (files are kept {store.ttl_seconds} s)")
    if packed is None:
        raise gone
    stored_name, _, content = (await asyncio.to_thread(unpack, packed)).partition(_NAME_SEPARATOR)
    if stored_name.decode() != name:
        raise gone
    return name, content
