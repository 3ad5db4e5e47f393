// What a heatmap shows: the API's subword matrix as it is, or merged into words.
//
// Word level follows the runtime's rule (service/runtime/alignment.py), which the API applies to make its
// Pharaoh alignment:
// - words are whitespace words, as in the API's `source_words` / `target_words`;
// - each piece belongs to one word. The API does not send which, so it is worked out here from the pieces'
//   spelling: a piece beginning with "▁" opens a new word, except that a lone "▁" (a piece with nothing but the
//   word-start mark) opens the word its next piece belongs to, and a lone "▁" at the very end belongs to the
//   last word; "<unk>" (an unknown piece, which SentencePiece detokenizes to " ⁇ ") is a word on its own.
//   For ordinary text this is exactly the runtime's offset-based rule. Where the two could disagree (characters
//   that SentencePiece treats as spaces and whitespace splitting does not, like U+200B) the number of words
//   found here differs from the API's word list, and the word view says so instead of showing a wrong matrix;
// - "</s>" belongs to no word: its row (the step that ended the translation) and its column are dropped;
// - W[j][i] = sum of A[t][s] over target pieces t of target word j and source pieces s of source word i.
//
// The heatmap colours word cells by W[j][i] divided by the number of pieces of target word j: the share of
// that word's attention, in [0, 1] like a subword cell, so one colour scale serves both views. Dividing a row
// by a constant keeps its largest cell the largest, so the alignment read from the colours is the runtime's.

export const WORD_START = "\u2581";
export const END_OF_SENTENCE = "</s>";
export const UNKNOWN = "<unk>";

function withoutEnd(tokens) {
  return tokens.length && tokens[tokens.length - 1] === END_OF_SENTENCE ? tokens.slice(0, -1) : tokens.slice();
}

/** The word index of each piece (pieces without "</s>"), and how many words there are. */
export function wordsOfPieces(pieces) {
  const wordOf = [];
  let word = -1;
  let wordHasText = false;
  let previousUnknown = false;
  for (const piece of pieces) {
    const unknown = piece === UNKNOWN;
    const opens = piece.startsWith(WORD_START) || unknown || previousUnknown;
    if (word < 0) word = 0;
    else if (opens && wordHasText) {
      word += 1;
      wordHasText = false;
    }
    wordOf.push(word);
    if (unknown || piece.replace(/^\u2581+/u, "").length > 0) wordHasText = true;
    previousUnknown = unknown;
  }
  if (word > 0 && !wordHasText) {  // trailing lone "▁" pieces opened a word that never came
    for (let k = 0; k < wordOf.length; k += 1) if (wordOf[k] === word) wordOf[k] = word - 1;
    word -= 1;
  }
  return { wordOf, count: word + 1 };
}

/** W[j][i]: attention summed over the pieces of target word j (rows) and source word i (columns). */
export function mergeIntoWords(attention, targetWordOf, targetWords, sourceWordOf, sourceWords) {
  const merged = Array.from({ length: targetWords }, () => new Array(sourceWords).fill(0));
  targetWordOf.forEach((targetWord, row) => {
    const weights = attention[row];
    sourceWordOf.forEach((sourceWord, column) => {
      merged[targetWord][sourceWord] += weights[column];
    });
  });
  return merged;
}

/** One "i-j" link per target word j to its most attended source word i (the first on a tie), as the runtime. */
export function pharaohOf(wordMatrix) {
  const links = [];
  wordMatrix.forEach((row, target) => {
    let best = -1;
    row.forEach((value, source) => {
      if (value > 0 && (best < 0 || value > row[best])) best = source;
    });
    if (best >= 0) links.push(`${best}-${target}`);
  });
  return links.join(" ");
}

/** The links of a Pharaoh line as a Set of "target,source" keys. */
export function linksOf(alignment) {
  const links = new Set();
  for (const pair of (alignment || "").trim().split(/\s+/)) {
    const match = /^(\d+)-(\d+)$/.exec(pair);
    if (match) links.add(`${match[2]},${match[1]}`);
  }
  return links;
}

function pieceLabel(piece) {
  if (piece === END_OF_SENTENCE) return { text: piece, mark: false, special: true };
  if (piece === UNKNOWN) return { text: piece, mark: false, special: true };
  if (piece.startsWith(WORD_START) && piece.length > 1) return { text: piece.slice(1), mark: true, special: false };
  if (piece === WORD_START) return { text: WORD_START, mark: false, special: true };
  return { text: piece, mark: false, special: false };
}

/**
 * The heatmap of one translation item at subword level: the API's tokens and matrix unchanged.
 * @returns {{level: string, rows: object[], columns: object[], shades: number[][], values: number[][],
 *            links: Set<string>, note: string}}
 */
export function subwordView(item) {
  const attention = item.attention || [];
  const label = (piece) => ({ ...pieceLabel(piece), full: piece, pieces: 1 });
  return {
    level: "subword",
    rows: item.target_tokens.map(label),
    columns: item.source_tokens.map(label),
    shades: attention,
    values: attention,
    links: new Set(),
    note: "",
  };
}

/** The heatmap at word level, or `{unavailable: reason}` when the pieces cannot be matched to the API's words. */
export function wordView(item) {
  const sourcePieces = withoutEnd(item.source_tokens);
  const targetPieces = withoutEnd(item.target_tokens);
  const source = wordsOfPieces(sourcePieces);
  const target = wordsOfPieces(targetPieces);
  const sourceWords = item.source_words || [];
  const targetWords = item.target_words || [];
  if (source.count !== sourceWords.length || target.count !== targetWords.length) {
    return {
      unavailable: `The word view is not available for this sentence: its ${sourcePieces.length + targetPieces.length} ` +
        "pieces could not be matched to its words (unusual spacing characters?). The subword view shows everything.",
    };
  }
  if (!targetWords.length) return { unavailable: "The translation is empty, so there are no words to show." };
  const values = mergeIntoWords(item.attention || [], target.wordOf, target.count, source.wordOf, source.count);
  const piecesPerWord = new Array(target.count).fill(0);
  for (const word of target.wordOf) piecesPerWord[word] += 1;
  const shades = values.map((row, j) => row.map((value) => Math.min(1, value / Math.max(1, piecesPerWord[j]))));
  const word = (text, pieces) => ({ text, mark: false, special: false, full: text, pieces });
  const sourcePiecesPerWord = new Array(source.count).fill(0);
  for (const index of source.wordOf) sourcePiecesPerWord[index] += 1;
  return {
    level: "word",
    rows: targetWords.map((text, j) => word(text, piecesPerWord[j])),
    columns: sourceWords.map((text, i) => word(text, sourcePiecesPerWord[i])),
    shades,
    values,
    links: linksOf(item.alignment),
    note: "",
  };
}
