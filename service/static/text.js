// Cutting the typed text into the units sent to the API.
//
// Why split in the browser and send a list of texts, rather than one text: the model was trained on single
// sentences, so it translates one sentence at a time best, and an attention heatmap is only readable per
// sentence. POST /v1/translate takes a list and answers one translation per item, in order, under ONE result
// id; item i of that result is sentence i here, so the stored result and its per-index downloads
// (`/v1/translations/{id}/alignment?index=i`) line up with the sentences on the page.
//
// How: line breaks always separate; within a line, Intl.Segmenter's sentence boundaries (Unicode UAX #29, via
// ICU, in the model's source language) split further. Where a browser has no Intl.Segmenter, a line is split
// after ".", "!", "?" or "…" (with any closing quotes or brackets) that is followed by whitespace and an
// upper-case letter or a digit.

const FALLBACK_BOUNDARY = /(?<=[.!?…]+["'”’»)\]]*)\s+(?=[\p{Lu}\p{N}"'“‘«(\[])/u;

function segmenterFor(language) {
  if (typeof Intl === "undefined" || typeof Intl.Segmenter !== "function") return null;
  try {
    return new Intl.Segmenter(language || undefined, { granularity: "sentence" });
  } catch {
    return new Intl.Segmenter(undefined, { granularity: "sentence" });
  }
}

/** The sentences of `text`, trimmed, empty ones left out, in order. */
export function splitSentences(text, language) {
  const segmenter = segmenterFor(language);
  const sentences = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (!line.trim()) continue;
    const parts = segmenter
      ? Array.from(segmenter.segment(line), (part) => part.segment)
      : line.split(FALLBACK_BOUNDARY);
    for (const part of parts) {
      const sentence = part.trim();
      if (sentence) sentences.push(sentence);
    }
  }
  return sentences;
}

/** The non-empty lines of `text`, trimmed (for aligning: line n of the translation goes with line n of the source). */
export function splitLines(text) {
  return text.split(/\r\n|\r|\n/).map((line) => line.trim()).filter((line) => line.length > 0);
}
